/* flashctl daemon: keeps this node's dataplane loaded with the sales in Redis, publishes totals. */
#ifndef FS_DAEMON_H
#define FS_DAEMON_H

/** What the daemon needs from flashctl's global options. */
struct fs_daemon_conf {
	const char *redis_url; /**< redis://host[:port][/db] */
	const char *dp_socket; /**< telemetry socket path of the dataplane */
	unsigned node_id;      /**< this node (lease key fs:{N}:lease:{NODE}, node_sold field) */
	unsigned interval_ms;  /**< tick period, > 0 */
	int timeout_ms;	       /**< Redis and dataplane I/O timeout */
};

/**
 * Run the daemon loop until SIGTERM or SIGINT. Every tick: for each sale of fs:sales, lease the
 * pool to this node, make sure the dataplane has the sale (create, lease, key, stop), publish
 * sold/remaining from the dataplane's sold count, and publish started/sold_out/ended once each.
 * Redis or the dataplane being down is logged and retried on the next tick. One line per action
 * on stderr.
 * @return 0 when stopped by a signal, a negative errno if it could not start.
 */
int fs_daemon_run(const struct fs_daemon_conf *conf);

#endif
