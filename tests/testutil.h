/* Helpers shared by the Criterion unit tests. */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include <stdio.h>

#include <criterion/criterion.h>

#include "rmtree.h"

/** VmRSS of this process in KiB (Linux /proc/self/status), -1 if absent. */
static inline long fs_test_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

#endif
