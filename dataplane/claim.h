/* One FCP request to its reply: window, admission, winner table, stock, journal (DESIGN.md "One claim"). */
#ifndef FS_CLAIM_H
#define FS_CLAIM_H

#include <stdint.h>

#include "counters.h"
#include "fcp.h"
#include "journal.h"
#include "ratelimit.h"
#include "sale.h"

/** Order ids: node id (16 bits) | worker index (8 bits) | journal seq (40 bits). Never 0. */
#define FS_ORDER_ID(node, worker, seq)                                                            \
	(((uint64_t)(node) << 48) | ((uint64_t)(worker) << 40) | ((uint64_t)(seq) & ((1ull << 40) - 1)))
#define FS_ORDER_NODE(order) ((uint16_t)((order) >> 48))	     /**< node of an order id */
#define FS_ORDER_WORKER(order) ((uint8_t)((order) >> 40))	     /**< its worker (journal) */
#define FS_ORDER_SEQ(order) ((uint64_t)(order) & ((1ull << 40) - 1)) /**< its journal seq */

#define FS_RETRY_TRANSIT_MS 1u /**< retry_after_ms while units are in transit between slices */
#define FS_RETRY_JOURNAL_MS 100u /**< retry_after_ms when the journal cannot record an order */
#define FS_RETRY_LEASE_MS 20u  /**< retry_after_ms when this node waits for a lease (default) */
/** Largest retry_after_ms the daemon may set for the wait for a lease (/flashsale/sale/retry) */
#define FS_LEASE_RETRY_MAX_MS 60000u
/** retry_after_ms when the WONs waiting for the group commit fill the worker's ring (a few
 *  group commits: the device's fdatasync time is about 1 ms) */
#define FS_RETRY_DURABLE_MS 5u

/** Per-worker context of fs_claim(); owned by one worker lcore. */
struct fs_claim_env {
	uint16_t node_id;
	uint8_t worker;             /**< 0..n_workers-1: slice, journal and sale counter index */
	struct fs_journal *journal; /**< this worker's journal */
	int64_t now_ms;             /**< unix ms, from the TSC clock, refreshed once per burst */
	uint64_t now_ns;            /**< unix ns, same instant */
	uint64_t *cnt;              /**< this worker's fs_lcore_stats.cnt */
	struct fs_ratelimit *rl;    /**< this worker's per-source limiter; NULL: no limits */
	uint32_t src_ip;            /**< the request's IPv4 source, network byte order, set by the
				     *   caller before each fs_claim(); 0: unknown, not limited */
	/**
	 * The reply's `remaining` sums every worker's slice (lines the other workers write on each
	 * sale: a cache miss each). It is computed once for @p rem_sale and kept in @p rem, less
	 * this env's own WONs, until the caller sets rem_sale to NULL (the worker: at each burst),
	 * so within a burst other workers' sales are not seen ("units this node still knows to be
	 * unsold", PROTOCOL.md). A zeroed env starts empty.
	 */
	const struct fs_sale *rem_sale;
	uint32_t rem;
	/**
	 * Every worker's journal by worker index (n_journals of them; NULL entries allowed), read
	 * only through fs_journal_durable(): an order of this node is answered ALREADY_WON only
	 * once its record is durable, else RETRY. NULL: every order counts as durable.
	 */
	struct fs_journal *const *journals;
	unsigned n_journals;
	/**
	 * true: no claim may win now (RETRY, FS_RETRY_DURABLE_MS, counted as won_held_full),
	 * checked before a unit or a winner slot is taken: the worker's ring of WON replies waiting
	 * for the group commit (pending.h) has no room for this burst. Set by the worker per burst.
	 */
	bool won_full;
};

/**
 * Answer one parsed request (CLAIM or SALE_STATUS). Steps for a CLAIM: sale lookup
 * (UNKNOWN_SALE), window (ENDED, NOT_STARTED), admission (BAD_TOKEN: current key, or the
 * previous one during its grace period; then RATE_LIMITED: the bucket of (env->src_ip, sale) in
 * env->rl, with the sale's limits or the table's defaults), winner lookup
 * (ALREADY_WON; on a sale with holds with hold_left_ms, or RELEASED with the released order id),
 * cached sold-out flag (SOLD_OUT; on a sale with holds retry_after_ms from the pushed hold state,
 * hold.h), the journal's state (RETRY if it cannot append:
 * fs_journal_ready, before a unit or a winner slot is taken), take a unit (SOLD_OUT / RETRY),
 * reserve the user, append the order to the journal (failure: unit and reservation given back,
 * RETRY), publish the order id (with its win time on a sale with holds), commit the unit: WON
 * (hold_left_ms = the sale's hold_ms). The journal record exists before this
 * returns WON. ALREADY_WON is answered only for an order whose record is durable
 * (env->journals): one recorded but not yet synced (fsync mode) gets RETRY (FS_RETRY_JOURNAL_MS).
 * A SALE_STATUS of a known sale takes from the same bucket (RATE_LIMITED) before its answer.
 * Counts the reply's status in env->cnt, and in the sale's counters of worker env->worker
 * (fs_sale_count: env->worker < the table's n_workers). No allocation, lock or syscall (but the rare journal
 * segment roll-over).
 * @param raw  the 48 request bytes as received (the token MAC covers them).
 * @param rep  filled completely (type, ids, status, node_id, ...), ready to encode.
 */
void fs_claim(const struct fs_sale_table *t, struct fs_claim_env *env, const struct fs_fcp_req *req,
	const uint8_t raw[48], struct fs_fcp_reply *rep);

/**
 * fs_claim() for a request whose sale the caller has already looked up with fs_sale_lookup()
 * (the worker does it in its first pass over a burst, to prefetch the winner slot): @p s NULL
 * answers UNKNOWN_SALE. Same order of steps, same guarantees, same thread safety as fs_claim().
 */
void fs_claim_sale(const struct fs_sale_table *t, struct fs_sale *s, struct fs_claim_env *env,
	const struct fs_fcp_req *req, const uint8_t raw[48], struct fs_fcp_reply *rep);

#endif
