/* rm -r of a test's temporary directory, for the unit tests (testutil.h) and the fuzz target. */
#ifndef FS_TEST_RMTREE_H
#define FS_TEST_RMTREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int fs_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/** rm -r @p dir (a test's temporary directory); errors are ignored. */
static inline void fs_test_rmtree(const char *dir)
{
	nftw(dir, fs_test_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
