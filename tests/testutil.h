/* Helpers shared by the Criterion unit tests. */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>

#include <criterion/criterion.h>

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

static inline int fs_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/** rm -r @p dir (a test's temporary directory). */
static inline void fs_test_rmtree(const char *dir)
{
	nftw(dir, fs_test_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
