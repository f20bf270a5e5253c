/* Redis access of the control plane: sale definitions, the cluster stock pool, totals, events. */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_REDIS_URL_DEFAULT "redis://127.0.0.1:6379"
#define FS_REDIS_ERRSTR_LEN 160

/** Bits of the sale hash field `events_published`: events already PUBLISHed on fs:{N}:events. */
enum fs_redis_event {
	FS_EV_STARTED = 1u << 0,
	FS_EV_SOLD_OUT = 1u << 1,
	FS_EV_ENDED = 1u << 2,
};

/**
 * A connection. Errors are kept here, hiredis-style: after a failed call @c err is a negative
 * errno (-ECONNREFUSED, -EIO, -ETIMEDOUT, -EPROTO, -ENOMEM, ...) and @c errstr one line of text.
 * One thread at a time.
 */
struct fs_redis {
	void *ctx; /**< redisContext, opaque so only redis.c includes hiredis */
	int err;
	char errstr[FS_REDIS_ERRSTR_LEN];
};

/** A sale as Redis holds it (fs:{N}:sale hash and its counters). */
struct fs_redis_sale {
	uint32_t sale_id;
	uint64_t stock;
	int64_t start_ms, end_ms; /**< unix ms, start inclusive, end exclusive */
	char admission[8];	  /**< "open" or "token" */
	char state[16];		  /**< "created" or "stopped" (operator intent) */
	bool has_key;
	uint8_t key[16];	   /**< token key, when has_key */
	int64_t pool;		   /**< fs:{N}:pool */
	int64_t sold;		   /**< fs:{N}:sold */
	int64_t remaining;	   /**< fs:{N}:remaining */
	uint32_t events_published; /**< enum fs_redis_event bits */
	bool has_rl;	      /**< rate_limit/rate_burst fields set (else the node's defaults) */
	uint32_t rl_rate;     /**< claims/s per source, 0 = not limited */
	uint32_t rl_burst;    /**< bucket size in claims */
	bool has_prev_key;    /**< prev_token_key set (by sale rekey) */
	uint8_t prev_key[16]; /**< the key before the last rekey */
	int64_t prev_key_until_ms; /**< unix ms until which prev_key stays valid */
};

/** Result of one lease. */
struct fs_redis_lease {
	uint64_t taken;	 /**< units moved from the pool to the node by this call */
	uint64_t leased; /**< fs:{N}:lease:{NODE} after the call: all units this node ever got */
	bool pool_empty; /**< the pool is 0 after the call */
};

/**
 * Parse a URL `redis://host[:port][/db]` (hiredis 0.14 has no URL parser).
 * @param host  out, @p hostlen bytes. @param port, @param db  out (defaults 6379 and 0).
 * @return 0 or -EINVAL. Thread safe.
 */
int fs_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db);

/**
 * Connect to @p url (see fs_redis_parse_url) with @p timeout_ms for the connect and for every
 * command, then SELECT the database if not 0. On failure the context is left closed.
 * @return 0 or a negative errno (also in r->err, text in r->errstr).
 */
int fs_redis_connect(struct fs_redis *r, const char *url, int timeout_ms);

/** Close the connection (idempotent). Keeps err/errstr. */
void fs_redis_close(struct fs_redis *r);

/** True if connected and the connection has seen no I/O or protocol error (so still usable). */
bool fs_redis_usable(const struct fs_redis *r);

/**
 * Create a sale atomically (Lua): fails if fs:{N}:sale exists; sets the hash (state "created",
 * events_published 0, token_key if @p def->has_key, rate_limit and rate_burst if
 * @p def->has_rl), pool = stock, sold = 0, remaining = stock,
 * and adds N to fs:sales. Counter fields of @p def are ignored.
 * @return 0, -EEXIST if the sale exists, or a negative errno on a Redis error.
 */
int fs_redis_sale_create(struct fs_redis *r, const struct fs_redis_sale *def);

/**
 * Read a sale (hash, pool, sold, remaining).
 * @return 0, -ENOENT if fs:{N}:sale does not exist, -EPROTO if a field is malformed, or a
 *         negative errno on a Redis error.
 */
int fs_redis_sale_get(struct fs_redis *r, uint32_t sale_id, struct fs_redis_sale *out);

/**
 * Rotate a token sale's key (Lua, atomic): prev_token_key = the old token_key,
 * prev_key_until_ms = @p prev_until_ms, token_key = @p key.
 * @return 0, -ENOENT if the sale does not exist, -EINVAL if its admission is not token, or a
 *         negative errno on a Redis error.
 */
int fs_redis_sale_rekey(
	struct fs_redis *r, uint32_t sale_id, const uint8_t key[16], int64_t prev_until_ms);

/**
 * Set the sale's state field to "stopped" if the sale exists (Lua, atomic).
 * @return 0, -ENOENT, or a negative errno on a Redis error.
 */
int fs_redis_sale_stop(struct fs_redis *r, uint32_t sale_id);

/**
 * The members of fs:sales, sorted ascending.
 * @param ids  out: malloc'd array the caller frees (NULL when empty). @param n  out: its length.
 * @return 0, -EPROTO if a member is not a sale id, -ENOMEM, or a negative errno on a Redis error.
 */
int fs_redis_sale_list(struct fs_redis *r, uint32_t **ids, size_t *n);

/**
 * Lease up to @p want units from fs:{N}:pool to @p node (Lua, atomic): takes min(want, pool),
 * never leaving the pool below zero, and INCRBYs fs:{N}:lease:{NODE} by what it took.
 * Conserves stock = pool + sum of leases. Leases nothing if the sale hash is gone.
 * @return 0, -ENOENT if fs:{N}:sale does not exist (Redis lost it), or a negative errno on a
 *         Redis error.
 */
int fs_redis_lease(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t want,
	struct fs_redis_lease *out);

/**
 * Publish this node's sold count (Lua, atomic): HSET fs:{N}:node_sold NODE sold, then
 * fs:{N}:sold = sum over nodes and fs:{N}:remaining = stock - that sum. Writes nothing if the
 * sale hash is gone (no stock to subtract from).
 * @param total  out (may be NULL): the cluster-wide sold count.
 * @return 0, -ENOENT if fs:{N}:sale does not exist, or a negative errno on a Redis error.
 */
int fs_redis_publish_totals(
	struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t sold, uint64_t *total);

/**
 * Publish one event on fs:{N}:events once per sale (Lua, atomic): if the bit of @p ev is not
 * yet in the hash's events_published, set it and PUBLISH the event name.
 * @param mask  out (may be NULL): events_published after the call.
 * @return 1 if published now, 0 if it had been already, or a negative errno on a Redis error.
 */
int fs_redis_publish_event(
	struct fs_redis *r, uint32_t sale_id, enum fs_redis_event ev, uint32_t *mask);

/**
 * Rebuild what Redis lost of a sale (after FLUSHALL or a restart without persistence) from the
 * dataplane's authoritative state (Lua, atomic; only missing keys are written, so it is safe to
 * run twice or from two daemons):
 * - the hash from @p def (stock = the dataplane's total, start_ms, end_ms, admission, state,
 *   events_published, token_key if def->has_key, rate_limit/rate_burst if def->has_rl), and N
 *   in fs:sales;
 * - fs:{N}:lease:{NODE} = @p leased (the dataplane's), taken from the pool when the pool exists;
 *   a missing pool becomes 0 if @p final (the pool was empty when the final lease was given),
 *   else stock - leased (never below 0);
 * - node_sold[NODE] = max(its value, @p sold), then fs:{N}:sold = sum and remaining = stock - sum.
 * Counter fields of @p def are ignored.
 * @param rebuilt  out (may be NULL): bits of what was missing: 1 hash, 2 fs:sales member,
 *                 4 pool, 8 lease.
 * @return 0 or a negative errno on a Redis error.
 */
int fs_redis_sale_rebuild(struct fs_redis *r, const struct fs_redis_sale *def, unsigned node,
	uint64_t leased, bool final, uint64_t sold, unsigned *rebuilt);

/** What flashctl audit reads of one sale in Redis (absent keys read as 0 with has_* false). */
struct fs_redis_audit {
	bool in_sales;	/**< N is a member of fs:sales */
	bool has_hash;	/**< fs:{N}:sale exists */
	uint64_t stock; /**< the hash's stock */
	bool has_pool, has_sold, has_remaining;
	int64_t pool, sold, remaining;
	uint64_t leases;   /**< sum of fs:{N}:lease:* over every node */
	unsigned n_leases; /**< how many lease keys */
	int64_t node_sold; /**< sum of the fs:{N}:node_sold hash */
};

/**
 * Read a sale's keys for an audit: membership, stock, counters, the sum of every node's lease
 * (SCAN MATCH fs:{N}:lease:*, never KEYS), the sum of node_sold. Not atomic: run it on a settled
 * sale.
 * @return 0, -EPROTO if a value is malformed, or a negative errno on a Redis error.
 */
int fs_redis_audit_read(struct fs_redis *r, uint32_t sale_id, struct fs_redis_audit *out);

/** Channel name of an event: "started", "sold_out", "ended" (NULL if unknown). Thread safe. */
const char *fs_redis_event_name(enum fs_redis_event ev);

#endif
