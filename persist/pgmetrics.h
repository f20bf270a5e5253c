/* The metrics' PostgreSQL side: persist's checkpoints of one dataplane (libpq only here). */
#ifndef FS_PGMETRICS_H
#define FS_PGMETRICS_H

#include <stddef.h>
#include <stdint.h>

/** One row of persist_checkpoints. */
struct fs_pgmetrics_ckpt {
	unsigned journal;   /**< journal index (255: the control journal) */
	uint64_t seq;	    /**< the last seq persist committed into PostgreSQL */
	int64_t updated_ms; /**< updated_at, unix ms */
};

/**
 * Connect to @p url (connect_timeout @p timeout_s seconds, as application "flashctl metrics"),
 * read the checkpoints of node @p node_id's journals of state directory @p instance
 * (persist_checkpoints: the u64 as the bigint of the same bits), and disconnect. A database
 * where persist never ran (no table yet) has none: 0 rows.
 * @param out  at most @p max rows, in journal order.
 * @param err  one line of text on failure (@p errlen bytes).
 * @return the number of rows, or -ECONNREFUSED (cannot connect), -EIO (the query failed).
 *         Thread safe (no shared state).
 */
int fs_pgmetrics_checkpoints(const char *url, int timeout_s, unsigned node_id, uint64_t instance,
	struct fs_pgmetrics_ckpt *out, size_t max, char *err, size_t errlen);

#endif
