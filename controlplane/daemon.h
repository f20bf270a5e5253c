/* flashctl daemon: keeps this node's dataplane loaded with the sales in Redis, publishes totals. */
#ifndef FS_DAEMON_H
#define FS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#define FS_DAEMON_TIMEOUT_MS 2000u     /**< default Redis and dataplane I/O timeouts */
#define FS_DAEMON_BACKOFF_MAX_MS 5000u /**< reconnect attempts at most this far apart */
/** A sale the dataplane refused to create is tried again after this (or a reconnect). */
#define FS_DAEMON_CREATE_RETRY_MS 60000u
/** Totals are republished at least this often, even unchanged (evicted node_sold). */
#define FS_DAEMON_REPUBLISH_MS 10000u
/** A node's totals are written into PostgreSQL's node_leases at most this often (--pg) */
#define FS_DAEMON_LEASE_NOTE_MS 500u
/** A sale's hold state is pushed to the dataplane at least this often, even unchanged. */
#define FS_DAEMON_HOLDS_REPUSH_MS 2000u
/** Redis's returns of a sale with holds are checked against PostgreSQL's this often. */
#define FS_DAEMON_RETURNS_CHECK_MS 10000u
/** Rows of each kind of holds work per sale and tick (returns, releases), and per sweep call. */
#define FS_DAEMON_HOLDS_BATCH 1000u
/** Sweep calls per tick at most (each expires up to FS_DAEMON_HOLDS_BATCH due holds). */
#define FS_DAEMON_SWEEP_CALLS 8u
/** A node gives units back for its rate (leaseplan.h) at most this often (ms) */
#define FS_DAEMON_GB_PERIOD_MS 1000
/** Another node's starved mark counts this long (ms; fs:{N}:starved) */
#define FS_DAEMON_STARVED_MS 1000
/** The most retry_after_ms the daemon asks RETRY to carry (/flashsale/sale/retry) */
#define FS_DAEMON_RETRY_MAX_MS 60000u
/** The node's liveness key fs:node:{NODE}:alive lives this many intervals (at least ..._MIN). */
#define FS_DAEMON_ALIVE_INTERVALS 4u
#define FS_DAEMON_ALIVE_MIN_MS 500u /**< ... */
/** Exit code of a daemon refused: another live daemon holds its node id, or it was forgotten. */
#define FS_DAEMON_EXIT_NODE_HELD 3

/** What the daemon needs from flashctl's global options. */
struct fs_daemon_conf {
	const char *redis_url;	    /**< see fs_redis_parse_url */
	const char *redis_password; /**< AUTH password from a file or $REDIS_PASSWORD, or NULL */
	const char *dp_socket;	    /**< telemetry socket path of the dataplane */
	unsigned node_id;     /**< this node (lease key fs:{N}:lease:{NODE}, node_sold field) */
	unsigned interval_ms; /**< tick period, > 0 */
	int redis_timeout_ms; /**< Redis connect and command timeout, > 0 */
	int dp_timeout_ms;    /**< dataplane connect and command timeout, > 0 */
	/** PostgreSQL (libpq URL) to service sales with holds from, or NULL: holds not serviced */
	const char *pg_url;
	int pg_timeout_ms; /**< PostgreSQL connect (rounded up to s) and statement timeout, > 0 */
	/** log lines as JSON objects on stdout (fs_out_log_json), one a line, not text on stderr */
	bool json;
	uint64_t lease_min; /**< smallest chunk leased (units, > 0): leaseplan.h */
	uint64_t lease_max; /**< largest chunk; 0: the sale's stock / FS_LEASE_MAX_STOCK_DIV */
};

/**
 * Run the daemon loop until SIGTERM or SIGINT. Every tick: with @c pg_url, expire the holds
 * that are due (flashsale.expire_due, bounded per tick); check that the dataplane is node
 * @c node_id (else nothing is synced or published for it); for each sale of fs:sales: on a sale
 * with holds (and @c pg_url) give the units of its stock_returns rows back to its pool
 * (return.lua, idempotent, then marked applied), lease a chunk of the pool to this node when its
 * unsold units fall below half a chunk (chunks sized to its sell rate, leaseplan.h), make sure the
 * dataplane has the sale (create, lease, key, stop), publish sold/remaining from the dataplane's
 * sold count (and keys found missing), keep the sale's state current, and publish
 * started/sold_out/ended once each; on a sale with holds tell the dataplane the orders of this
 * node that were released and push its hold state. Sales the dataplane has and Redis lost
 * are rebuilt (with the returns PostgreSQL says Redis had), deleted ones (tombstone) are
 * deleted from the dataplane. Redis, the dataplane or PostgreSQL being down is retried with
 * back-off (interval doubling up to FS_DAEMON_BACKOFF_MAX_MS). One line per action on stderr (with
 * @c json one JSON object a line on stdout instead); a
 * condition (Redis, dataplane or PostgreSQL unreachable, wrong node id) is logged once when it
 * starts and once when it ends, with its duration.
 * The daemon holds its node id in Redis (fs:node:{NODE}:alive, refreshed every tick, and its
 * report line in fs:nodes); it refuses to start while another live daemon holds it.
 * @return 0 when stopped by a signal, -EBUSY if another live daemon holds the node id, -EPERM
 *         if the node was forgotten (flashctl node forget; nothing logged: the caller prints one
 *         line), a negative errno if it could not start.
 */
int fs_daemon_run(const struct fs_daemon_conf *conf);

#endif
