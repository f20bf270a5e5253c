/* The state directory: made owner-only (0700, files 0600), refused when others can write it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"

#define FS_STATEDIR_MODE 0700
#define FS_STATEFILE_MODE 0600

int fs_statedir_make(const char *dir)
{
	char buf[4096];
	size_t i, len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, i == len ? FS_STATEDIR_MODE : 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = dir[i];
	}
	return 0;
}

/* Refuse @p st (of @p dir) unless it is a directory of ours that only we can write. */
static int statedir_check(const char *dir, const struct stat *st, char *why, size_t len)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(why, len, "state dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, len,
			"state dir %s belongs to uid %u, not to this user (uid %u): refused (it "
			"holds the token keys)",
			dir, (unsigned)st->st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len,
			"state dir %s is writable by %s (mode %04o): refused (chmod 0700 it, or "
			"use another directory)",
			dir, st->st_mode & S_IWOTH ? "others" : "its group",
			(unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Every regular file of the open directory @p dfd (of @p dir) to FS_STATEFILE_MODE. */
static int statedir_fix_files(int dfd, const char *dir, char *why, size_t len)
{
	struct dirent *e;
	struct stat st;
	int rc = 0, fd = dup(dfd);
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(why, len, "cannot list state dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			!S_ISREG(st.st_mode) || (st.st_mode & 07777) == FS_STATEFILE_MODE)
			continue;
		if (fchmodat(dfd, e->d_name, FS_STATEFILE_MODE, 0) != 0) {
			rc = -errno;
			snprintf(why, len, "cannot make %s/%s owner-only (chmod 0600): %s", dir,
				e->d_name, strerror(-rc));
		}
	}
	closedir(d);
	return rc;
}

int fs_statedir_secure(const char *dir, char *why, size_t len)
{
	struct stat st;
	int rc, dfd;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(why, len, "cannot open state dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (fstat(dfd, &st) != 0) {
		rc = -errno;
		snprintf(why, len, "cannot stat state dir %s: %s", dir, strerror(-rc));
		goto out;
	}
	rc = statedir_check(dir, &st, why, len);
	if (rc != 0)
		goto out;
	if ((st.st_mode & 07777) != FS_STATEDIR_MODE && fchmod(dfd, FS_STATEDIR_MODE) != 0) {
		rc = -errno;
		snprintf(why, len, "cannot make state dir %s owner-only (chmod 0700): %s", dir,
			strerror(-rc));
		goto out;
	}
	rc = statedir_fix_files(dfd, dir, why, len);
out:
	close(dfd);
	return rc;
}
