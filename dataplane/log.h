/* flashsale-dp's log type: one registered DPDK log type for every file of the dataplane. */
#ifndef FS_LOG_H
#define FS_LOG_H

#include <rte_log.h>

/** Log type "flashsale.dp", registered by fs_log_init() (0, DPDK's EAL type, before that). */
extern int fs_logtype_dp;

/**
 * One line "flashsale.dp: TEXT" at DPDK log level RTE_LOG_<level> (ERR, WARNING, NOTICE, INFO,
 * DEBUG), through rte_log(): DPDK's log stream, shown when the level is at or below the type's
 * (INFO by default, EAL's --log-level=flashsale.dp:LEVEL changes it). Any thread; not on the
 * claim path (rte_log formats and writes: a syscall).
 */
#define FS_LOG(level, fmt, ...)                                                                    \
	rte_log(RTE_LOG_##level, fs_logtype_dp, "flashsale.dp: " fmt "\n", ##__VA_ARGS__)

/**
 * Register the log type "flashsale.dp" at level INFO (or the level --log-level gave it).
 * Once, after rte_eal_init(), before the other threads start.
 * @return 0, or -ENOSPC if DPDK has no room for another log type.
 */
int fs_log_init(void);

#endif
