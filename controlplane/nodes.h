/* The node registry in Redis: which daemon holds a node id, what each node last reported. */
#ifndef FS_NODES_H
#define FS_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

/** The registry hash: field = node id, value = the node's report line (fs_nodes_report). */
#define FS_NODES_KEY "fs:nodes"
#define FS_NODES_INFO_LEN 256 /**< a report line, NUL included */

/** One node of the registry (fs_nodes_list). */
struct fs_node_info {
	unsigned node;
	char info[FS_NODES_INFO_LEN]; /**< its last report: "host=H pid=P started_ms=T ..." */
	int64_t alive_pttl; /**< ms left of fs:node:{NODE}:alive, -2 absent (no live daemon) */
};

/**
 * Claim, refresh or release node @p node's liveness key fs:node:{NODE}:alive (Lua alive.lua,
 * atomic, one key) for the daemon instance @p token.
 * @param ttl_ms   the key's TTL when claimed or refreshed.
 * @param release  delete the key if it is ours instead.
 * @param pttl     out (may be NULL): when another instance holds the key, its ms left.
 * @return 1 (ours: claimed, refreshed or released), 0 (another instance holds it: nothing
 *         changed), -EPERM (a claim of a node forgotten with fs_nodes_forget_mark: refused for
 *         good, the reason in r->errstr), or a negative errno (Redis).
 */
int fs_nodes_alive(struct fs_redis *r, unsigned node, const char *token, unsigned ttl_ms,
	bool release, int64_t *pttl);

/**
 * Write node @p node's report line @p info into FS_NODES_KEY (HSET; a plain command, outside any
 * sale's slot).
 * @return 0 or a negative errno.
 */
int fs_nodes_report(struct fs_redis *r, unsigned node, const char *info);

/**
 * Every node of FS_NODES_KEY, sorted by id, with the PTTL of its liveness key.
 * @param out  a malloc'ed array (caller frees), NULL when empty.
 * @return 0 or a negative errno.
 */
int fs_nodes_list(struct fs_redis *r, struct fs_node_info **out, size_t *n);

/**
 * Node @p node's lease (fs:{S}:lease:{NODE}) and sold count (fs:{S}:node_sold field) of sale
 * @p sale_id; -1 for a key or field that is absent.
 * @return 0 or a negative errno.
 */
int fs_nodes_sale(
	struct fs_redis *r, uint32_t sale_id, unsigned node, int64_t *leased, int64_t *sold);

/** One node's part in a sale (fs_nodes_sale_all). */
struct fs_node_sale {
	unsigned node;
	int64_t leased; /**< its lease key fs:{S}:lease:{NODE}: units leased in all; -1 absent */
	int64_t sold;	/**< its fs:{S}:node_sold field: the sold count it last published; -1 absent
			 */
	bool lessee;	/**< a member of fs:{S}:lessees (it took a lease) */
	bool forgotten; /**< a member of fs:{S}:forgotten (node forget released it) */
};

/**
 * Every node with a part in sale @p sale_id: the members of fs:{S}:lessees and fs:{S}:forgotten
 * and the fields of fs:{S}:node_sold, sorted by id, each with its lease key and sold count (one
 * SMEMBERS, HGETALL, SMEMBERS, then a GET per node; not atomic).
 * @param out  a malloc'ed array (caller frees), NULL when no node has a part.
 * @return 0, -EPROTO (a field or member that is no node id, a value that is no integer),
 *         -ENOMEM or a negative errno (Redis).
 */
int fs_nodes_sale_all(struct fs_redis *r, uint32_t sale_id, struct fs_node_sale **out, size_t *n);

/**
 * Mark node @p node forgotten for good: fs:node:{NODE}:forgotten = @p now_ms (kept if set), so
 * fs_nodes_alive refuses its daemons from then on.
 * @return 0 or a negative errno.
 */
int fs_nodes_forget_mark(struct fs_redis *r, unsigned node, int64_t now_ms);

/** Result of fs_nodes_forget_sale. */
struct fs_node_forget {
	bool done_now; /**< released now (false: it had been, nothing changed) */
	int64_t back;  /**< units back in the pool now; -1: no pool (counted when it is rebuilt) */
	uint64_t sold; /**< the node's lease from now on: max(@p sold, its node_sold field) */
};

/**
 * Release forgotten node @p node from sale @p sale_id (Lua forget.lua, atomic, the sale's slot),
 * once (fs:{S}:forgotten remembers it): its unsold units (lease - sold) back to the pool, its
 * lease key set to its sold count (@p sold: PostgreSQL's final count, raised to its node_sold).
 * @return 0 or a negative errno.
 */
int fs_nodes_forget_sale(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t sold,
	struct fs_node_forget *out);

#endif
