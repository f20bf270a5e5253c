/* Dataplane counter names for telemetry, generated from the X-macros of counters.h. */
#include <stddef.h>

#include "counters.h"

static const char *const fs_drop_names[FS_DROP__COUNT] = {[FS_DROP_NONE] = NULL,
#define FS_X(e, s) [FS_DROP_##e] = s,
	FS_DROP_REASONS(FS_X)
#undef FS_X
};

static const char *const fs_counter_names[FS_CNT__COUNT] = {
#define FS_X(e, s) [FS_CNT_##e] = s,
	FS_COUNTERS(FS_X)
#undef FS_X
};

const char *fs_drop_name(enum fs_drop d)
{
	if ((unsigned)d >= FS_DROP__COUNT)
		return NULL;
	return fs_drop_names[d];
}

const char *fs_counter_name(enum fs_counter c)
{
	if ((unsigned)c >= FS_CNT__COUNT)
		return NULL;
	return fs_counter_names[c];
}
