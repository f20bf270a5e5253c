/* flashsale-dp's log type "flashsale.dp" (log.h). */
#include <errno.h>

#include "log.h"

int fs_logtype_dp;

int fs_log_init(void)
{
	int t = rte_log_register_type_and_pick_level("flashsale.dp", RTE_LOG_INFO);

	if (t < 0)
		return -ENOSPC;
	fs_logtype_dp = t;
	return 0;
}
