/* flashctl daemon's insides, shared by daemon.c (sales, Redis, dataplane) and holds.c (holds). */
#ifndef FS_DAEMON_INT_H
#define FS_DAEMON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon.h"
#include "dpctl.h"
#include "redis.h"

struct fs_pgorders;
struct fs_pgorders_return;

/* A per-sale error line: what failed (a short literal) and the error text (dpctl errstr). */
#define FS_SALE_ERR_LEN (FS_DPCTL_ERRSTR_LEN + 64)

/*
 * What the daemon remembers of a sale with holds between ticks (holds.c writes it all; one
 * thread).
 */
struct hold_mem {
	bool pushed;	       /**< a hold state was pushed on dataplane connection push_gen */
	unsigned push_gen;     /**< ... */
	bool open;	       /**< the last OPEN pushed */
	int64_t next_ms;       /**< the last NEXT_MS pushed */
	int64_t push_ms;       /**< monotonic ms of the last push */
	int64_t check_ms;      /**< monotonic ms of the next returns check (0: at once) */
	bool resync;	       /**< giving PostgreSQL's applied returns to Redis again */
	int64_t resync_from;   /**< ... from this order id (the bigint) on */
	uint64_t resync_given; /**< ... units given again so far */
	char err[4][FS_SALE_ERR_LEN]; /**< last error logged of each step (holds.c) */
};

/*
 * What the daemon remembers of a sale between ticks: to log state changes once, and what the
 * dataplane cannot give back when Redis loses the sale (flush, restart without persistence):
 * the token key, the operator's stop and the events already published.
 */
struct sale_mem {
	uint32_t sale_id;
	uint32_t events;    /**< events known published (only ever gains bits) */
	uint64_t last_sold; /**< last sold count published, UINT64_MAX before the first */
	int64_t totals_ms;  /**< monotonic ms of the last totals published */
	bool has_key;	    /**< key holds the token key seen in Redis */
	uint8_t key[16];
	bool stopped;		 /**< Redis said "stopped" once */
	int64_t create_retry_ms; /**< refused create: not tried again before (monotonic ms) */
	unsigned create_dp_gen;	 /**< ... on the same dataplane connection */
	char last_err[FS_SALE_ERR_LEN]; /**< last error logged for this sale */
	struct hold_mem holds;		/**< a sale with holds: holds.c's */
	/* chunked leases (leaseplan.h) */
	bool lease_known; /**< leased was read from Redis by this process */
	uint64_t leased;  /**< this node's lease key after the last lease call */
	uint64_t chunk;	  /**< the last chunk asked for (0 before the first) */
	bool dp_seen;	  /**< dp_sold holds a dataplane count */
	uint64_t dp_sold; /**< the dataplane's sold count at the last status */
	int64_t rate_ms;  /**< monotonic ms of that status */
	double rate;	  /**< sell rate, units/s (fs_lease_rate) */
	/* the node's lease in PostgreSQL (daemon_lease.c; --pg only) */
	bool pg_noted;	     /**< node_leases has this node's row of the sale */
	uint64_t pg_leased;  /**< leased in that row, as last written */
	uint64_t pg_sold;    /**< sold in that row, as last written */
	int64_t pg_note_ms;  /**< monotonic ms of the last write */
	bool pending_logged; /**< "pool pending" was logged (until the pool is back) */
	/* give-backs and the RETRY hint (daemon_giveback.c) */
	uint64_t waiting;  /**< the dataplane's NOT_STARTED answers to claims (the crowd) */
	uint64_t dp_retry; /**< the dataplane's RETRY answers to claims at the last status */
	bool retry_new;	   /**< ... more than at the status before */
	unsigned starved;  /**< other nodes starved at the last lease call (fs:{N}:starved) */
	uint64_t opening;  /**< the node's lease before the opening (fs_lease_opening) */
	bool gb_known;	   /**< gb_done holds a give-back seq known to be in Redis */
	uint64_t gb_done;  /**< ... the dataplane's last give-back given to the pool */
	int64_t gb_ms;	   /**< monotonic ms of the last give-back asked for */
	bool retry_known;  /**< retry_ms was pushed on dataplane connection retry_gen */
	uint32_t retry_ms; /**< ... the retry_after_ms pushed */
	unsigned retry_gen;
};

/*
 * A condition logged once when it starts and once when it ends (with its duration), and the
 * back-off of the attempts to end it.
 */
struct cond {
	bool on;
	int64_t since_ms;    /**< monotonic ms it started */
	unsigned fails;	     /**< attempts failed since */
	unsigned backoff_ms; /**< wait before the next attempt */
	int64_t next_ms;     /**< monotonic ms of the next attempt */
};

/* The daemon's state: one thread writes it all. */
struct daemon {
	const struct fs_daemon_conf *conf;
	struct fs_redis redis;
	struct fs_dpctl dp;
	char redis_url[256];	   /**< the URL as printed: password masked */
	struct cond redis_c, dp_c; /**< Redis / the dataplane unreachable */
	struct cond node_c;	   /**< the dataplane is another node */
	bool redis_seen;	   /**< connected once (the first connect is logged) */
	bool dp_node_ok;	   /**< the node id of this dataplane connection was checked */
	unsigned dp_gen;	   /**< dataplane connections made */
	struct sale_mem *mem;
	size_t n_mem, cap_mem;
	struct fs_pgorders *pg;		 /**< holds.c's PostgreSQL handle (NULL without --pg) */
	struct fs_pgorders_return *rows; /**< holds.c's, FS_DAEMON_HOLDS_BATCH rows */
	uint64_t *ids;			 /**< holds.c's, FS_DAEMON_HOLDS_BATCH order ids */
	struct cond pg_c;		 /**< PostgreSQL unreachable */
	bool pg_seen;			 /**< a statement answered once (the first is logged) */
	bool nopg_logged;		 /**< "sale N has holds and no --pg" was logged */
	char token[33];			 /**< this instance's hold of fs:node:{NODE}:alive */
	unsigned alive_ttl_ms;		 /**< the TTL of that key */
	int64_t started_ms;		 /**< unix ms the daemon started */
	struct cond alive_c;		 /**< another instance holds the node id */
	bool reg_err;			 /**< a registry error reply was logged */
	unsigned live_nodes;		 /**< live daemons of the registry (first chunks) */
	int64_t live_nodes_ms;		 /**< monotonic ms they were counted */
	double lease_rtt_ms;		 /**< a lease's round trip (Redis, dataplane), mean */
};

/**
 * One log line on stderr: the ISO 8601 UTC time (not under journald, which dates lines itself:
 * logtime.h), "flashctl daemon: " and the message; with --json (conf json) instead one JSON
 * object on stdout (fs_out_log_json: ts_ms, time, msg, and sale when the message starts
 * "sale N: "; a message is cut at 1023 bytes). One thread.
 */
void fs_daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** True when an attempt to end condition @p c is due (always when it is off). */
bool fs_daemon_cond_due(const struct cond *c, int64_t now);

/**
 * An attempt failed: the first failure starts the condition and is logged (@p fmt); the next
 * attempt is @p base_ms later, doubling per failure up to FS_DAEMON_BACKOFF_MAX_MS.
 */
void fs_daemon_cond_fail(struct cond *c, int64_t now, unsigned base_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** An attempt succeeded: if the condition was on, log its end (@p what) and duration. */
void fs_daemon_cond_ok(struct cond *c, int64_t now, const char *what);

/** Log a per-sale error once until it changes or clears (@p what: a short literal). */
void fs_daemon_sale_err(struct sale_mem *m, const char *what, const char *text);

/** Whether the dataplane is connected and is this node (so it may be synced). */
bool fs_daemon_dp_usable(const struct daemon *d);

/**
 * Run one dataplane command (printf-style); on success *@p out is the reply (the caller puts it).
 * A socket error drops the connection (retried with back-off).
 * @return 0, -EREMOTEIO (the dataplane's error text in d->dp.errstr), or a socket error.
 */
int fs_daemon_dp_cmd(struct daemon *d, struct json_object **out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- daemon_node.c: the node id held in Redis ---- */

/**
 * Start: this instance's token and liveness TTL; with @p redis_up, claim fs:node:{NODE}:alive,
 * waiting up to its TTL for the key of a dead daemon to expire.
 * Logs nothing (the caller prints the refusal). With --pg, PostgreSQL's forgotten_nodes is asked
 * too (a node forgotten there is marked again in Redis).
 * @return 0, -EBUSY when another instance refreshes the key (a live daemon), or -EPERM when the
 *         node was forgotten (flashctl node forget).
 */
int fs_daemon_node_start(struct daemon *d, bool redis_up);

/**
 * Each tick (Redis connected): refresh the liveness key and the report line in fs:nodes.
 * @return false when the tick must not sync (another instance holds the key: logged once, or
 *         the connection failed); true after an error reply (logged once: the registry is left
 *         out, the sales synced).
 */
bool fs_daemon_node_tick(struct daemon *d, int64_t mono);

/** Stop: delete the liveness key if it is this instance's. */
void fs_daemon_node_stop(struct daemon *d);

/* ---- daemon_lease.c: the node's leases in PostgreSQL (--pg) ---- */

/**
 * Before this node's first lease of sale @p m: its node_leases row (written once per process),
 * so that the node is known to hold a lease even after Redis loses its data.
 * @return true when a lease may be taken (written now or before, or no --pg), false when not
 *         (PostgreSQL failing or in back-off: logged by the PostgreSQL condition).
 */
bool fs_daemon_lease_noted(struct daemon *d, struct sale_mem *m);

/**
 * The dataplane's totals of sale @p m (@p leased, @p sold) into node_leases when they changed,
 * at most every FS_DAEMON_LEASE_NOTE_MS (only once the row exists; no --pg: nothing).
 */
void fs_daemon_lease_note(struct daemon *d, struct sale_mem *m, uint64_t leased, uint64_t sold);

/**
 * The other nodes that ever held a lease of sale @p sale (node_leases), for a rebuild.
 * @param out  malloc'ed (caller frees; NULL when none). Without --pg: none, 0.
 * @return 0, or -EAGAIN when PostgreSQL cannot be asked now (no rebuild then: the pool waits).
 */
int fs_daemon_lessees(struct daemon *d, uint32_t sale, struct fs_redis_lessee **out, size_t *n);

/** PostgreSQL helpers shared by holds.c and daemon_lease.c (d->pg made by fs_holds_tick). */
bool fs_daemon_pg_ready(struct daemon *d);
void fs_daemon_pg_failed(struct daemon *d);
void fs_daemon_pg_answered(struct daemon *d);

/* ---- daemon_giveback.c: units back to the pool, RETRY's hint ---- */

/**
 * Before the dataplane's lease is synced: the dataplane's last give-back (status giveback_seq,
 * giveback_units from @p st) given to the pool (giveback.lua, once per seq) unless this process
 * knows it is; then @p lease->leased is the lease key after it.
 * @return true when the dataplane's lease may be synced, false when that give-back could not be
 *         given now (logged once): the lease key still counts its units.
 */
bool fs_daemon_giveback_settle(
	struct daemon *d, struct sale_mem *m, struct json_object *st, struct fs_redis_lease *lease);

/**
 * After the sync of sale @p s (@p st its status): give units back when fs_lease_giveback says
 * so (another node starved, the rate fell, the end near or passed), never in a tick that
 * leased nor while a give-back is not in Redis yet.
 */
void fs_daemon_giveback(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	const struct fs_redis_lease *lease, struct json_object *st);

/**
 * RETRY's retry_after_ms while the node waits for a lease, pushed when it changes
 * (/flashsale/sale/retry): the interval and a lease's round trip while the pool has units,
 * twice that when another node must give units back first.
 */
void fs_daemon_retry_hint(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	const struct fs_redis_lease *lease);

/* ---- holds.c: sales with holds (nothing happens without --pg but one log line) ---- */

/** Start of a tick: the PostgreSQL handle (created at the first call), the sweep of due holds. */
void fs_holds_tick(struct daemon *d);

/**
 * Sale @p s (with holds) before it is leased: its missing pool rewritten, the returns of
 * PostgreSQL applied to its pool (and marked), those Redis lost given again, a periodic check
 * that Redis holds every applied return.
 */
void fs_holds_returns(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s);

/**
 * Sale @p s (with holds) after its dataplane sync: this node's releases, then the hold state
 * pushed when it changed (or every FS_DAEMON_HOLDS_REPUSH_MS). @p sold: the cluster-wide sold
 * count, the freshest known.
 */
void fs_holds_after_sync(
	struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s, uint64_t sold);

/** Sale @p m was rebuilt in Redis: check its returns at once (given again if Redis lost them). */
void fs_holds_rebuilt(struct sale_mem *m);

/** Free the PostgreSQL handle. */
void fs_holds_free(struct daemon *d);

#endif
