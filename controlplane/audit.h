/* flashctl audit: compare a sale's journals, dataplane, PostgreSQL and Redis; report any drift. */
#ifndef FS_AUDIT_H
#define FS_AUDIT_H

#include <stdbool.h>

#include <stdint.h>

/** What to compare. Each source is optional except Redis (always read). */
struct fs_audit_conf {
	uint32_t sale_id;
	const char *redis_url;	    /**< see fs_redis_parse_url */
	const char *redis_password; /**< AUTH password (file or $REDIS_PASSWORD), or NULL */
	const char *dp_socket;	    /**< dataplane telemetry socket, or NULL */
	const char *state_dir;	    /**< the dataplane's journals, or NULL */
	const char *pg_url;	    /**< libpq URL, or NULL */
	const char *won_file;	    /**< flashgen's `user_id order_id` lines, or NULL */
	unsigned wait_s;	    /**< how long drift that can still settle may take to settle */
	int timeout_ms;		    /**< per-source I/O timeout */
	bool json;		    /**< one JSON object instead of the lines (fs_out) */
};

/**
 * Read every source of @p conf, print `key=value` lines of what each holds and one
 * `drift: ...` line per problem on stdout (with @c json one object: the same keys, and the drift
 * texts in the array `drift`). Drift that lagging writers can still close (rows not
 * yet in PostgreSQL, a sold count not yet in Redis, a Redis that lost the sale and is being
 * rebuilt, a source unreachable) is re-checked every 250 ms for up to wait_s seconds; drift no
 * writer will ever close (an extra row, a user twice, sold above stock, a stock that differs) is
 * reported at once.
 * @return 0 (no drift), 1 (drift), or a negative errno if the audit itself could not run
 *         (-ENOMEM).
 */
int fs_audit_run(const struct fs_audit_conf *conf);

#endif
