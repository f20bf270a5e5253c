/* The state directory: made owner-only, refused when others can write it. */
#ifndef FS_STATEDIR_H
#define FS_STATEDIR_H

#include <stddef.h>

/*
 * The state directory holds the journals (the control journal carries every token key in clear:
 * whoever reads it can mint tokens) and the `instance` file. flashsale-dp and flashsale-persist
 * both open it through these two functions: it is 0700 and every file in it 0600.
 */

/**
 * Create @p dir and its missing parents, like mkdir -p: parents 0755, @p dir itself 0700 (an
 * existing @p dir is left as it is for fs_statedir_secure()). Not for the hot path.
 * @return 0 or -errno (-ENAMETOOLONG beyond 4095 bytes).
 */
int fs_statedir_make(const char *dir);

/**
 * Check @p dir and make it owner-only, before its files are opened. Refused, with nothing
 * changed: not a directory, not owned by the effective user, or writable by group or others
 * (whoever can write it can replace a journal or the instance file). Else the directory is made
 * 0700 and every regular file in it 0600 when their modes differ (symbolic links and other
 * entries are left alone). Not thread safe with other writers of its modes; not for the hot path.
 * @param why  on failure: one line saying what and why (names @p dir), at most @p len bytes.
 * @return 0; -EPERM when refused; or -errno of a failed system call (open, fstat, fchmod, ...).
 */
int fs_statedir_secure(const char *dir, char *why, size_t len);

#endif
