/* Redis access of the control plane: sale definitions, the cluster stock pool, totals, events. */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_REDIS_URL_DEFAULT "redis://127.0.0.1:6379"
/** The URL forms fs_redis_parse_url takes, for usage and error lines. */
#define FS_REDIS_URL_FORMS                                                                         \
	"redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix://[[USER]:PASSWORD@]/PATH[?db=DB]"
/** Why rediss:// is refused (one line). */
#define FS_REDIS_NO_TLS                                                                            \
	"rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS; reach a TLS "      \
	"Redis through a local tunnel (e.g. stunnel) with redis:// or unix://"
#define FS_REDIS_ERRSTR_LEN 200

/** Bits of the sale hash field `events_published`: events already PUBLISHed on fs:{N}:events. */
enum fs_redis_event {
	FS_EV_STARTED = 1u << 0,
	FS_EV_SOLD_OUT = 1u << 1,
	FS_EV_ENDED = 1u << 2,
};

struct fs_rcl; /* rcluster.h */

/**
 * A connection. Errors are kept here, hiredis-style: after a failed call @c err is a negative
 * errno (-ECONNREFUSED, -EIO, -ETIMEDOUT, -EPROTO, -ENOMEM, -EXDEV CROSSSLOT, ...) and @c errstr
 * one line of text. One thread at a time.
 */
struct fs_redis {
	void *ctx; /**< redisContext, opaque so only redis.c and rcluster.c include hiredis */
	/**
	 * Written by fs_redis_connect: when the URL's server is a Redis Cluster node (CLUSTER INFO
	 * answers), a cluster client (rcluster.h) seeded with that URL, through which every
	 * command goes (ctx is then NULL); NULL for a plain Redis.
	 */
	struct fs_rcl *cl;
	/** Set by the caller: this node only, no cluster client (rcluster.c's own connections). */
	bool single;
	/**
	 * Password for AUTH, set by the caller before fs_redis_connect (from a password file or
	 * $REDIS_PASSWORD); NULL: the URL's, if any. Not copied, never printed.
	 */
	const char *password;
	int err;
	char errstr[FS_REDIS_ERRSTR_LEN]; /**< never holds a password */
};

/** A parsed Redis URL (fs_redis_parse_url). */
struct fs_redis_url {
	bool is_unix;	/**< unix:// (path), else redis:// (host, port) */
	char host[256]; /**< TCP host name or address */
	int port;	/**< TCP port, default 6379 */
	char path[108]; /**< unix socket path (sun_path's size) */
	int db;		/**< database to SELECT, default 0 */
	char user[128]; /**< ACL user, "" for the default user (AUTH PASSWORD) */
	bool has_pass;	/**< the URL holds a password (possibly empty) */
	char pass[256]; /**< the URL's password, percent-decoded */
};

/** A sale as Redis holds it (fs:{N}:sale hash and its counters). */
struct fs_redis_sale {
	uint32_t sale_id;
	uint64_t stock;
	int64_t start_ms, end_ms; /**< unix ms, start inclusive, end exclusive */
	char admission[8];	  /**< "open" or "token" */
	/** created, active, sold_out, ended (kept current by the daemon) or stopped (operator) */
	char state[16];
	bool has_key;
	uint8_t key[16];			/**< token key, when has_key */
	int64_t pool;				/**< fs:{N}:pool (0 when absent) */
	int64_t sold;				/**< fs:{N}:sold (0 when absent) */
	int64_t remaining;			/**< fs:{N}:remaining (0 when absent) */
	bool has_pool, has_sold, has_remaining; /**< those keys exist */
	uint32_t events_published;		/**< enum fs_redis_event bits */
	bool has_rl;	      /**< rate_limit/rate_burst fields set (else the node's defaults) */
	uint32_t rl_rate;     /**< claims/s per source, 0 = not limited */
	uint32_t rl_burst;    /**< bucket size in claims */
	bool has_prev_key;    /**< prev_token_key set (by sale rekey) */
	uint8_t prev_key[16]; /**< the key before the last rekey */
	int64_t prev_key_until_ms; /**< unix ms until which prev_key stays valid */
	/** ms a won order is held for payment (field hold_ms; absent: 0, no holds; at most
	 * FS_REDIS_HOLD_MAX_MS) */
	uint32_t hold_ms;
	/** members of fs:{N}:returned (units back in the pool); read only when hold_ms > 0 */
	uint64_t returned;
};

/** The longest hold time of a sale: 7 days in ms (sales.hold_ms's CHECK in persist/schema.sql). */
#define FS_REDIS_HOLD_MAX_MS 604800000u

/** Result of one lease. */
struct fs_redis_lease {
	uint64_t taken;	   /**< units moved from the pool to the node by this call */
	uint64_t leased;   /**< fs:{N}:lease:{NODE} after the call: all units this node ever got */
	bool pool_empty;   /**< the pool is 0 after the call and no other node has unsold units */
	uint64_t returned; /**< members of fs:{N}:returned: units that came back to the pool */
	bool pool_missing; /**< no pool (Redis lost it; rebuilt once every lessee reported): not
			    *   empty, nothing taken */
	unsigned starved;  /**< fs_redis_lease_marked: other nodes that marked themselves starved
			    *   (wanted units, the pool ran short) since its @p since_ms */
};

/** A node that held a lease of a sale, as PostgreSQL knows it (fs_redis_sale_rebuild). */
struct fs_redis_lessee {
	unsigned node;
	bool forgotten; /**< released by flashctl node forget */
	uint64_t sold;	/**< when forgotten: its final sold count (its lease from then on) */
};

/**
 * Parse a Redis URL (hiredis 0.14 has no URL parser): `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`
 * or `unix://[[USER]:PASSWORD@]/PATH[?db=DB]`; USER and PASSWORD may be percent-encoded.
 * @param u  out: the parts (port 6379 and db 0 when not given).
 * @return 0, -EPROTONOSUPPORT for rediss:// (no TLS in hiredis 0.14: FS_REDIS_NO_TLS), or
 *         -EINVAL. Thread safe.
 */
int fs_redis_parse_url(const char *url, struct fs_redis_url *u);

/**
 * Copy @p url into @p out (@p n bytes, truncated, NUL-terminated) with its password, if any,
 * replaced by "***": what every log and error line prints of a URL. Thread safe.
 * @return the length of the masked URL (as snprintf).
 */
size_t fs_redis_url_mask(const char *url, char *out, size_t n);

/**
 * Connect to @p url (see fs_redis_parse_url) with @p timeout_ms for the connect and for every
 * command, AUTH (as the URL's user, with r->password if set, else the URL's password), then
 * SELECT the database if not 0. With db 0 and !r->single, CLUSTER INFO tells a Redis Cluster
 * node (then r->cl: every later call goes to the master of its keys' slot, following MOVED and
 * ASK, and survives a failover; see rcluster.h) from a plain Redis (an error reply). On failure
 * the context is left closed.
 * @return 0 or a negative errno (also in r->err, text in r->errstr): -EINVAL bad URL,
 *         -EPROTONOSUPPORT rediss://, -EACCES AUTH refused or a user without a password,
 *         -ECONNREFUSED, -ETIMEDOUT, ...
 */
int fs_redis_connect(struct fs_redis *r, const char *url, int timeout_ms);

/**
 * Read a Redis password from the first line of file @p path (without its line end) into @p out
 * (@p n bytes). The file must be a regular file that neither its group nor others can read or
 * write (mode 0600 or 0400), as a secret at rest must be.
 * @return 0, -EPERM if group or others have access, -EINVAL if empty, too long or not a regular
 *         file, or the errno of open/read (negative).
 */
int fs_redis_password_file(const char *path, char *out, size_t n);

/** Close the connection (idempotent). Keeps err/errstr. */
void fs_redis_close(struct fs_redis *r);

/**
 * True if connected and the connection has seen no I/O or protocol error (so still usable); a
 * cluster client is always usable (it reconnects to the nodes itself).
 */
bool fs_redis_usable(const struct fs_redis *r);

struct redisReply; /* hiredis's */

/** Bytes of a sale key built by fs_redis_sale_key(), its NUL included. */
#define FS_REDIS_KEYLEN 64

/**
 * Sale @p sale_id's key `fs:{ID}:WHAT` (HACKING.md, Redis keys: the hash tag keeps every key of a
 * sale in one Redis Cluster slot) into @p out (FS_REDIS_KEYLEN bytes). Thread safe.
 */
void fs_redis_sale_key(char out[FS_REDIS_KEYLEN], uint32_t sale_id, const char *what);

/**
 * fs_redis_command() whose reply must be an array of @p n integers, into v[0..n-1]; @p what
 * names the command in the error. @return 0, -EPROTO (another reply: r->errstr says so), or as
 * fs_redis_command(). One thread at a time per @p r.
 */
int fs_redis_command_ints(
	struct fs_redis *r, size_t n, long long *v, const char *what, int argc, const char **argv);

/**
 * Run one command (an argv of NUL-terminated strings) for the files of fs_ctl that speak Redis
 * beyond this one (nodes.c); on a cluster it goes to the master of EVAL's first key, else of the
 * first argument. One thread at a time per @p r.
 * @param out  on success the reply (free it with freeReplyObject); an error reply is freed here.
 * @return 0, -EREMOTEIO (an error reply: text in r->errstr) or a connection error.
 */
int fs_redis_command(struct fs_redis *r, struct redisReply **out, int argc, const char **argv);

/**
 * Create a sale atomically (Lua): fails if fs:{N}:sale or the tombstone fs:{N}:deleted exists
 * (sale ids are never reused); sets the hash (state "created",
 * events_published 0, token_key if @p def->has_key, rate_limit and rate_burst if
 * @p def->has_rl, hold_ms if @p def->hold_ms > 0), pool = stock, sold = 0, remaining = stock,
 * and adds N to fs:sales. Counter fields of @p def are ignored.
 * @return 0, -EEXIST if the sale exists or was deleted (errstr says which), or a negative errno
 *         on a Redis error.
 */
int fs_redis_sale_create(struct fs_redis *r, const struct fs_redis_sale *def);

/**
 * Read a sale (hash, pool, sold, remaining; on a sale with holds also the members of
 * fs:{N}:returned).
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
 * never leaving the pool below zero, INCRBYs fs:{N}:lease:{NODE} by what it took and adds
 * @p node to fs:{N}:lessees when it took units. Conserves pool + sum of leases = stock + members
 * of fs:{N}:returned (returned in @p out). Leases nothing if the sale hash is gone, nor from a
 * missing pool (out->pool_missing; not empty: fs_redis_restock rebuilds it). out->pool_empty
 * only when the pool is empty and no other lessee has unsold units (lease above node_sold).
 * @return 0, -ENOENT if fs:{N}:sale does not exist (Redis lost it), or a negative errno on a
 *         Redis error.
 */
int fs_redis_lease(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t want,
	struct fs_redis_lease *out);

/**
 * fs_redis_lease with the starved marks (fs:{N}:starved, a hash NODE -> unix ms): when the node
 * has buyers (@p demand: it sells, or answered RETRY since its last call) and wanted units
 * (@p want > 0) and got fewer, it is marked starved at @p now_ms, else its mark is
 * cleared; out->starved counts the other nodes marked since @p since_ms (unix ms, the daemons'
 * clocks), so a node that holds more than it needs gives units back. @p now_ms < 0: exactly
 * fs_redis_lease (no marks, out->starved 0). Same returns.
 */
int fs_redis_lease_marked(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t want,
	int64_t now_ms, int64_t since_ms, bool demand, struct fs_redis_lease *out);

/**
 * Units @p node took back from its dataplane (/flashsale/sale/giveback, seq @p seq) go to the
 * pool (Lua giveback.lua, atomic): fs:{N}:lease:{NODE} - @p units and fs:{N}:pool + @p units,
 * once per (node, seq) (fs:{N}:given[NODE] keeps the last seq applied): a second call with a
 * seq applied before changes nothing, so the daemon may run it again whenever it does not know
 * the first run's outcome. A missing pool is left to fs_redis_restock (which counts the lowered
 * lease).
 * @param lease  out (may be NULL): the node's lease key after the call.
 * @return 1 applied now, 0 applied before, -ENOENT (no sale hash), -EAGAIN (no lease key of the
 *         node: Redis lost it; fs_redis_sale_rebuild writes it net of the give-back, with its
 *         seq), -ERANGE (the lease key holds fewer units: nothing changed), or a Redis error.
 */
int fs_redis_giveback(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t seq,
	uint64_t units, uint64_t *lease);

/**
 * Publish this node's sold count (Lua, atomic): fs:{N}:node_sold[NODE] = max(its value, @p sold)
 * (a count read earlier, by a second daemon of the node, never lowers it), then
 * fs:{N}:sold = sum over nodes and fs:{N}:remaining = stock + members of fs:{N}:returned - that
 * sum (both rewritten, so keys evicted one at a time come back). A missing pool is left to
 * fs_redis_restock (@p final is unused). Writes nothing if the sale hash is gone (no stock to
 * subtract from).
 * @param total  out (may be NULL): the cluster-wide sold count.
 * @param pool_set  out (may be NULL): always false (kept for callers).
 * @return 0, -ENOENT if fs:{N}:sale does not exist, or a negative errno on a Redis error.
 */
int fs_redis_publish_totals(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t sold,
	bool final, uint64_t *total, bool *pool_set);

/** The states of fs:{N}:sale's state field (fs_redis_state_name). */
enum fs_redis_state {
	FS_RS_CREATED,	/**< defined, not yet open (before start_ms) */
	FS_RS_ACTIVE,	/**< open: start_ms <= now < end_ms, units left */
	FS_RS_SOLD_OUT, /**< every unit sold (fs:{N}:sold >= stock) before the end */
	FS_RS_ENDED,	/**< end_ms passed */
	FS_RS_STOPPED,	/**< stopped by the operator (flashctl sale stop): final */
};

/** The state's name as Redis holds it ("created", ...), NULL if unknown. Thread safe. */
const char *fs_redis_state_name(enum fs_redis_state st);

/**
 * The state a sale is in at @p now_ms (unix ms): stopped if @p stopped, else ended once
 * @p end_ms has passed, else sold_out once @p sold (all nodes) reaches @p stock, else active
 * from @p start_ms, else created. Pure, thread safe.
 */
enum fs_redis_state fs_redis_state_at(int64_t now_ms, int64_t start_ms, int64_t end_ms,
	uint64_t stock, uint64_t sold, bool stopped);

/**
 * Move the sale's state forward to @p st (Lua, atomic): created -> active -> sold_out -> ended,
 * never back (two daemons with slightly different clocks do not make it flap), and never over
 * "stopped" (an operator's stop stands). @p st must not be FS_RS_STOPPED (fs_redis_sale_stop).
 * @return 1 if written, 0 if not (already there or further, stopped, or no such sale), or a
 *         negative errno on a Redis error.
 */
int fs_redis_sale_set_state(struct fs_redis *r, uint32_t sale_id, enum fs_redis_state st);

/** Result of fs_redis_sale_delete. */
struct fs_redis_delete {
	int64_t deleted_ms; /**< the tombstone's time: now, or the earlier delete's */
	bool already;	    /**< the sale had been deleted before (nothing changed) */
};

/**
 * Delete a sale that is over (Lua, atomic): only if its state is ended, stopped or sold_out, or
 * @p now_ms >= end_ms, or fs:{N}:sold >= stock. Removes every fs:{N}:* key (the hash, pool, sold,
 * remaining, node_sold, every node's lease, found with SCAN) and N from fs:sales, and sets the
 * tombstone fs:{N}:deleted = @p now_ms (unix ms), which makes every daemon delete the sale from
 * its dataplane and sale create refuse the id. Lease keys written between the SCAN and the
 * delete are removed by a second SCAN.
 * @return 0 (see @p out), -ENOENT if there is no such sale, -EBUSY if it is not over, or a
 *         negative errno on a Redis error.
 */
int fs_redis_sale_delete(
	struct fs_redis *r, uint32_t sale_id, int64_t now_ms, struct fs_redis_delete *out);

/**
 * Whether sale @p sale_id was deleted (the tombstone fs:{N}:deleted exists).
 * @param ms  out (may be NULL): the tombstone's unix ms.
 * @return 1 deleted, 0 not, or a negative errno on a Redis error.
 */
int fs_redis_sale_deleted(struct fs_redis *r, uint32_t sale_id, int64_t *ms);

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
 * - the hash's hold_ms if def->hold_ms > 0;
 * - fs:{N}:lease:{NODE} = @p leased (the dataplane's), taken from the pool when the pool exists;
 *   a missing pool is not written (fs_redis_restock writes it once every lessee reported);
 * - @p node and the @p n_others nodes of @p others (PostgreSQL's node_leases of the sale) join
 *   fs:{N}:lessees; a forgotten one's missing lease key becomes its final sold count;
 * - node_sold[NODE] = max(its value, @p sold), then fs:{N}:sold = sum and remaining = stock - sum;
 * - when the lease key is written: fs:{N}:given[NODE] raised to @p given_seq (the dataplane's
 *   last give-back, which @p leased is net of), so fs_redis_giveback does not apply it again.
 * Counter fields of @p def are ignored. Nothing is written for a deleted sale (tombstone).
 * @param final  unused (kept for callers).
 * @param rebuilt  out (may be NULL): bits of what was missing: 1 hash, 2 fs:sales member,
 *                 4 pool (existing, lowered by this node's missing lease), 8 lease.
 * @return 0, -ESTALE if the sale was deleted (fs:{N}:deleted exists: remove it from the
 *         dataplane instead), or a negative errno on a Redis error.
 */
int fs_redis_sale_rebuild(struct fs_redis *r, const struct fs_redis_sale *def, unsigned node,
	uint64_t leased, bool final, uint64_t sold, uint64_t given_seq,
	const struct fs_redis_lessee *others, size_t n_others, unsigned *rebuilt);

/**
 * Give released orders' units back to sale @p sale_id's pool (Lua return.lua, atomic), each
 * order exactly once: SADD each of the @p n order ids (u64) to fs:{N}:returned and INCR
 * fs:{N}:pool for each one SADD added. Running it again for an order changes nothing.
 * @return units returned now (0..n: the others had been already), -ENOENT (nothing changed)
 *         if the sale hash or its pool is missing (rebuild them first), -EINVAL if @p n is 0 or
 *         above 4096, or a negative errno on a Redis error.
 */
int fs_redis_return(struct fs_redis *r, uint32_t sale_id, const uint64_t *order_ids, size_t n);

/** Result of fs_redis_restock. */
struct fs_redis_restock {
	bool written;	   /**< the pool was missing and was written */
	bool consistent;   /**< pool + every lease = stock + members of fs:{N}:returned, after */
	uint64_t returned; /**< members of fs:{N}:returned */
	uint64_t pending;  /**< lessees (fs:{N}:lessees) without a lease key: pool not written */
};

/**
 * Rewrite the missing pool of sale @p sale_id (Lua restock.lua, atomic) once every member of
 * fs:{N}:lessees has its lease key (out->pending counts those without: nothing written): pool
 * = stock + members of fs:{N}:returned - the sum of the leases (the lessees', plus any found
 * with SCAN and @p node's), on a sale with holds below 0 when the nodes hold units of returns
 * the set lost (given again with fs_redis_return, each adding its unit), else at least 0; a
 * pool that exists is kept. Also says whether the sale's
 * keys hold the invariant pool + leases = stock + returned (false: a key was evicted on its own).
 * @return 0, -ENOENT if the sale hash is gone, or a negative errno on a Redis error.
 */
int fs_redis_restock(
	struct fs_redis *r, uint32_t sale_id, unsigned node, struct fs_redis_restock *out);

/** What flashctl audit reads of one sale in Redis (absent keys read as 0 with has_* false). */
struct fs_redis_audit {
	bool in_sales;	   /**< N is a member of fs:sales */
	bool has_hash;	   /**< fs:{N}:sale exists */
	uint64_t stock;	   /**< the hash's stock */
	uint32_t hold_ms;  /**< the hash's hold_ms (0: no holds) */
	uint64_t returned; /**< members of fs:{N}:returned */
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
