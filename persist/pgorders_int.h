/* pgorders.c's statement runner, shared with pgleases.c (same handle, same error rules). */
#ifndef FS_PGORDERS_INT_H
#define FS_PGORDERS_INT_H

#include <libpq-fe.h>

#include "pgorders.h"

/**
 * Run @p sql with @p n text parameters on @p c (connecting first if needed); expect @p want.
 * Not thread safe (one handle per thread).
 * @return the result (the caller clears it), or NULL with the handle's error set and *@p rc the
 *         -errno of pgorders.h (-ECONNREFUSED, -ETIMEDOUT, -EIO). A broken connection is dropped.
 */
PGresult *fs_pgorders_exec(struct fs_pgorders *c, const char *what, const char *sql, int n,
	const char *const *params, ExecStatusType want, int *rc);

/** Set the handle's error to "WHAT: DETAIL" (one line) and return @p rc. */
int fs_pgorders_fail(struct fs_pgorders *c, int rc, const char *what, const char *detail);

#endif
