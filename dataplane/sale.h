/*
 * Sale table: the sales this node serves, looked up lock-free by workers, changed by the control
 * path.
 *
 * Two kinds of functions change a sale, named apart:
 * - plain ones, fs_sale_<verb> (fs_sale_create, fs_sale_set_key, fs_sale_stop; fs_stock_lease for
 *   a lease): the change in memory only, nothing journaled. Recovery replays the journals with
 *   them; tests use them.
 * - control operations, fs_sale_ctl_<verb> (create, lease, set_key, stop, delete): what the
 *   control path (telemetry.c) calls. Each checks its arguments, writes its record to the control
 *   journal, then makes the plain change, so that a restarted dataplane replays it; @p ctl NULL
 *   journals nothing (tests without a state directory).
 */
#ifndef FS_SALE_H
#define FS_SALE_H

#include <stdbool.h>
#include <stdint.h>

#include "hold.h"
#include "journal.h"
#include "soldout.h"
#include "stock.h"
#include "winners.h"

#define FS_MAX_SALES 1024u  /**< live sales per node (deleted ones do not count) */
#define FS_SALE_SLOTS 2048u /**< slots of a slot array (power of two, 2x FS_MAX_SALES) */
/**
 * Largest stock of one sale, in units. Each node sizes the sale's winner table by the whole stock
 * (16 bytes x the power of two >= 2 x stock + 64: 4 GiB of address space at this limit, faulted in
 * as used), so `flashctl sale create` refuses more, and so does the dataplane.
 */
#define FS_SALE_MAX_STOCK 100000000u

enum fs_admission { FS_ADM_OPEN = 0, FS_ADM_TOKEN = 1 };

/** What a sale is answering right now (also the telemetry "state" string). */
enum fs_sale_state {
	FS_SALE_PENDING = 0, /**< before start */
	FS_SALE_ACTIVE,      /**< in its window with stock */
	FS_SALE_SOLD_OUT,    /**< in its window, sold out */
	FS_SALE_ENDED,       /**< end time passed */
	FS_SALE_STOPPED,     /**< stopped by the operator */
};

#define FS_SALE_KEY_SLOTS 3u      /**< token key slots: current, previous, and one being written */
#define FS_SALE_GRACE_MS 60000    /**< default time the previous key stays valid after a rekey */

/* fs_sale.key_state: which slots hold the current and previous keys, and a generation. */
#define FS_KEYST_CUR(st) ((st) & 3u)
#define FS_KEYST_PREV(st) (((st) >> 2) & 3u)
#define FS_KEYST_HAS_CUR 0x10u  /**< a key is set */
#define FS_KEYST_HAS_PREV 0x20u /**< a previous key is valid until its slot's prev_until_ms */
#define FS_KEYST_GEN_ONE 0x100u /**< generation counter in bits 8..31 */

#define FS_SALE_ST_SLOTS 16u /**< counter slots per reply kind: every status of fcp.h (< 16) */

/**
 * One worker's replies for one sale: [0] replies to CLAIMs, [1] replies to SALE_STATUS
 * requests, by status (fcp.h's values). Its worker: wo (relaxed load and store, no atomic RMW:
 * one writer), readers: ro (relaxed; fs_sale_counters_sum). 256 bytes, a worker's own lines:
 * the claim row's common statuses (WON, ALREADY_WON, SOLD_OUT) share its first line.
 */
struct fs_sale_wcnt {
	uint64_t reply[2][FS_SALE_ST_SLOTS];
} __attribute__((aligned(64)));

/** A sale's replies summed over its workers (fs_sale_counters_sum). */
struct fs_sale_counters {
	uint64_t claims;			 /**< CLAIMs answered: the sum of claim[] */
	uint64_t status_requests;		 /**< SALE_STATUS requests answered: sum of status[] */
	uint64_t claim[FS_SALE_ST_SLOTS];	 /**< replies to CLAIMs by status */
	uint64_t status[FS_SALE_ST_SLOTS];	 /**< replies to SALE_STATUS requests by status */
};

/** One token key slot. */
struct fs_sale_key {
	uint8_t key[16];
	int64_t prev_until_ms; /**< unix ms until which this key is accepted as the previous key */
};

/**
 * One sale. Fields set at creation are read-only once the sale is published in the table; the
 * ones that change say who writes them. A sale is freed only by fs_sale_ctl_delete(), after an RCU
 * grace period (fs_sale_table.synchronize): a worker may use a sale it looked up until its next
 * quiescent state (the end of its loop turn).
 */
struct fs_sale {
	uint32_t sale_id;
	uint8_t admission;   /**< enum fs_admission */
	uint8_t stopped;     /**< cp: wo, dp: ro (relaxed) */
	uint8_t key_set;     /**< token key known; cp: wo (release), dp: ro (acquire) */
	/** cached SOLD_OUT as an epoch word (soldout.h): odd = sold out. Workers mark it (CAS),
	 *  the control path clears it after a lease (RMW); recovery sets it */
	uint32_t sold_out;
	uint32_t hold_ms;    /**< hold time of its orders (ms, <= FS_HOLD_MAX_MS), 0: no holds;
			      *   set before publication (recovery: before workers run) */
	int64_t start_ms;    /**< unix ms, inclusive */
	int64_t end_ms;      /**< unix ms, exclusive */
	uint64_t total;      /**< the sale's whole stock (all nodes) */
	uint8_t rl_set;      /**< rl_rate/rl_burst are this sale's own (else the table's defaults) */
	uint32_t rl_rate;    /**< claims/s per source, 0 = not limited (when rl_set) */
	uint32_t rl_burst;   /**< bucket size in claims (when rl_set) */
	uint8_t key[16];     /**< the current token key, cp only (workers read keys[]); after the
			      *   fields every claim reads, which fit on the first cache line */
	/**
	 * Token keys, read by workers like a seqlock: load key_state (acquire), verify with the
	 * slots it names, then re-load it (after an acquire fence) and start again if it changed.
	 * The control path writes only the slot key_state names neither as current nor previous,
	 * then publishes it (release): a claim never uses a half-written key. Rekey takes one
	 * telemetry round trip (ms), far longer than a claim (ns), so retries are rare.
	 */
	uint32_t key_state;  /**< FS_KEYST_*; cp: wo (release), dp: ro (acquire) */
	struct fs_sale_key keys[FS_SALE_KEY_SLOTS]; /**< cp: wo (unpublished slot only) */
	/**
	 * Hold state pushed by the control plane (/flashsale/sale/holds; not journaled): units
	 * may still come back (holds_open 1, the default) and unix ms of the earliest hold that
	 * runs out (0: unknown). cp: wo (relaxed), dp: ro (relaxed): a retry hint; a claim that
	 * reads one field of a push and the other of the next answers a hint as good.
	 */
	uint8_t holds_open;
	int64_t holds_next_ms;
	uint64_t returned; /**< units that came back (the lease's returned=R, the largest); cp only */
	/* give-backs (fs_sale_ctl_giveback); cp only (recovery: the last GIVEBACK record) */
	uint64_t gb_seq;   /**< the last give-back's seq (0: none yet) */
	uint64_t gb_units; /**< ... the units it took */
	uint64_t given;    /**< units given back in all (this process: since its recovery) */
	/**
	 * RETRY's retry_after_ms while this node waits for a lease (its units sold, the lease
	 * not final): the daemon's expected time to its next lease (/flashsale/sale/retry; not
	 * journaled), 0: FS_RETRY_LEASE_MS. cp: wo (relaxed), dp: ro (relaxed): a hint.
	 */
	uint32_t lease_retry_ms;
	struct fs_winners *winners;
	struct fs_stock stock;
	/** replies by status, one struct per worker (stock.n_workers of them, allocated with the
	 *  sale; zero at creation and after a restart: counters of this process's life) */
	struct fs_sale_wcnt wcnt[];
};

/** Sale pointers by hashed sale id: open addressing, linear probing, half full at most. */
struct fs_sale_slots {
	struct fs_sale *slot[FS_SALE_SLOTS]; /**< cp: wo (release), dp: ro (acquire) */
};

/** Sale ids deleted on this node: an open-addressing set that grows. Control path only. */
struct fs_sale_ids {
	uint64_t *v;  /**< id + 1 per slot, 0 = empty */
	uint32_t cap; /**< slots, a power of two (0: nothing allocated yet) */
	uint32_t n;   /**< ids held */
};

/**
 * The sale table. Workers find sales in the published slot array without locks. The control
 * path (one writer at a time) inserts a new sale into that array in place: a release store
 * into an empty slot, which a concurrent lookup sees or not, both fine. A delete cannot empty a
 * slot under a lookup (that would cut the probe chains behind it), so it fills the other array
 * with every sale but the deleted one, publishes it (release), and waits for a grace period
 * (@p synchronize: every worker has passed a quiescent state, so none still reads the old
 * array or the deleted sale) before it frees the sale. The arrays swap roles at each delete;
 * the unpublished one has had no reader since the grace period of the delete that replaced it.
 */
struct fs_sale_table {
	struct fs_sale_slots *slots; /**< the published array, one of arr; cp: wo (release),
				      *   dp: ro (acquire) */
	uint32_t n;		     /**< live sales; cp only */
	uint32_t n_workers;	     /**< slices per sale */
	uint32_t rl_rate;  /**< default claims/s per source (--rate-limit), 0 = off; set at start */
	uint32_t rl_burst; /**< default bucket size in claims (--rate-burst); set at start */
	/**
	 * Waits until every reader (worker) has passed a quiescent state since the call began
	 * (an RCU grace period; the dataplane: fs_unmap_guard_synchronize). NULL: no reader runs
	 * concurrently with the control path (recovery, tests). Set before sales are deleted.
	 */
	void (*synchronize)(void);
	struct fs_sale_ids deleted; /**< sales deleted here (never created again); cp only */
	struct fs_sale_slots arr[2];
};

/** Zero the table for @p n_workers workers (1..FS_MAX_WORKERS). Not thread safe. */
void fs_sale_table_init(struct fs_sale_table *t, unsigned n_workers);

/** Free every sale and the deleted set. Not thread safe: workers stopped. */
void fs_sale_table_fini(struct fs_sale_table *t);

/**
 * Find a live sale; NULL if absent (or deleted). Wait-free: one load of the published array,
 * then its probe (acquire loads). Thread safe against one concurrent writer; a worker may use
 * the sale until its next quiescent state (see struct fs_sale_table).
 */
struct fs_sale *fs_sale_lookup(const struct fs_sale_table *t, uint32_t sale_id);

/** True if @p sale_id was deleted on this node (it can never be created again). Control path. */
bool fs_sale_was_deleted(const struct fs_sale_table *t, uint32_t sale_id);

/** The live sales' ids, ascending, at most @p max into @p ids. @return the count. Control path. */
unsigned fs_sale_list(const struct fs_sale_table *t, uint32_t *ids, unsigned max);

/** Parameters of a new sale. */
struct fs_sale_def {
	uint32_t sale_id;
	uint64_t stock;		  /**< whole stock, 1..FS_SALE_MAX_STOCK */
	int64_t start_ms, end_ms; /**< unix ms, start < end */
	uint8_t admission;
	bool has_key;
	uint8_t key[16];
	bool rl_set;       /**< this sale has its own limits (else the node's defaults apply) */
	uint32_t rl_rate;  /**< claims/s per source, 0..FS_RL_RATE_MAX, 0 = not limited */
	uint32_t rl_burst; /**< claims, 1..FS_RL_BURST_MAX (0 with rate 0) */
	uint32_t hold_ms;  /**< hold time of its orders in ms, 0..FS_HOLD_MAX_MS, 0 = no holds */
};

/**
 * Create and publish a sale with no units leased yet, journaling nothing (recovery, tests; the
 * journaled one is fs_sale_ctl_create). Control path; one writer at a time.
 * @return the sale, or NULL with errno: EEXIST (sale_id taken), EIDRM (sale_id deleted on this
 *         node), EINVAL (bad fields), E2BIG (stock above FS_SALE_MAX_STOCK), ENOSPC
 *         (FS_MAX_SALES live sales), ENOMEM.
 */
struct fs_sale *fs_sale_create(struct fs_sale_table *t, const struct fs_sale_def *def);

/**
 * Set or replace the token key, keeping the current one valid until @p prev_until_ms (unix ms;
 * 0 or past: refused at once), journaling nothing (the journaled one is fs_sale_ctl_set_key).
 * Setting the key that is already current changes nothing. Writes an unused key slot, then
 * publishes it with a release store (struct fs_sale). Control path, one writer at a time.
 */
void fs_sale_set_key(struct fs_sale *s, const uint8_t key[16], int64_t prev_until_ms);

/**
 * Check the token of request @p raw (48 bytes as received) against the sale's keys at
 * @p now_ms: the current key, then, only if that fails and the grace period runs, the previous
 * one; both MACs compared in constant time (fs_fcp_token_verify). Cost: one SipHash for a good
 * token, two for a bad one during a grace period. Wait-free for workers (a retry if a rekey
 * publishes mid-check). Thread safe against one control-path writer.
 * @return 1 current key, 2 previous key (grace), 0 does not verify, -EAGAIN no key set yet.
 */
int fs_sale_token_check(const struct fs_sale *s, const uint8_t raw[48], int64_t now_ms);

/** Previous key's deadline (unix ms), 0 if there is none. Control path. */
int64_t fs_sale_prev_until(const struct fs_sale *s);

/**
 * The per-source limit that applies to @p s: its own, else the table's defaults.
 * @param rate, burst  out: claims/s (0 = none) and bucket size. Thread safe.
 */
static inline void fs_sale_limits(const struct fs_sale_table *t, const struct fs_sale *s,
	uint32_t *rate, uint32_t *burst)
{
	if (s->rl_set) {
		*rate = s->rl_rate;
		*burst = s->rl_burst;
	} else {
		*rate = t->rl_rate;
		*burst = t->rl_burst;
	}
}

/**
 * Count one reply of status @p status (fcp.h, < FS_SALE_ST_SLOTS) to a CLAIM (@p status_req
 * false) or a SALE_STATUS request of sale @p s, answered by worker @p worker (< the table's
 * n_workers). One increment of the worker's own line: a relaxed load and store (no lock prefix;
 * the worker is the only writer, so no increment is lost). Hot path.
 */
static inline void fs_sale_count(struct fs_sale *s, unsigned worker, bool status_req,
	unsigned status)
{
	uint64_t *c = &s->wcnt[worker].reply[status_req][status & (FS_SALE_ST_SLOTS - 1)];

	/* relaxed: a statistic; readers sum whatever each line holds (fs_sale_counters_sum) */
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/**
 * Sum @p s's reply counters over its workers into @p out (relaxed loads: each counter as some
 * worker last stored it; exact once workers are quiet). Any thread that may read @p s (the
 * control path, or a worker within its turn).
 */
void fs_sale_counters_sum(const struct fs_sale *s, struct fs_sale_counters *out);

/** Stop the sale: claims get ENDED from now on; nothing journaled (fs_sale_ctl_stop). cp only. */
void fs_sale_stop(struct fs_sale *s);

/** State at unix ms @p now_ms. Thread safe. */
enum fs_sale_state fs_sale_state(const struct fs_sale *s, int64_t now_ms);

/** Name of a state ("pending", "active", "sold_out", "ended", "stopped"). */
const char *fs_sale_state_name(enum fs_sale_state st);

/**
 * The control operations (see the top): each is journaled in the control journal
 * (FS_JOURNAL_CONTROL, records of node @p node_id) before it takes effect, so a restarted
 * dataplane replays it. @p ctl may be NULL (tests without a state directory). One writer at a
 * time (the control path holds a mutex).
 * @return 0 or -errno (-EEXIST, -EIDRM, -EINVAL, -E2BIG, -ENOENT for an unknown sale, -ENOSPC,
 *         journal errors).
 *
 * fs_sale_ctl_create() journals only a sale that exists: it checks and builds the sale (winner
 * table included) unpublished, then writes the SALE record (and a KEY record for a key), then
 * publishes it. A refused definition or a failed SALE record leaves nothing behind, neither a
 * record nor a sale. If only the KEY record fails, the sale is published without its key, as
 * the journal has it, and the error returned (a repeated create or a new key sets the key).
 */
int fs_sale_ctl_create(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	const struct fs_sale_def *def);
/** Lease @p units more to this node (@p final: the last lease); never beyond the sale's stock. */
int fs_sale_ctl_lease(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, bool final);
/**
 * fs_sale_ctl_lease() on a sale with holds whose released units come back: @p returned units
 * came back to the sale in all (the largest value given counts), so leased may reach total +
 * returned, and a lease after a final one is accepted (@p final then says the pool was empty at
 * this lease). Clears the cached SOLD_OUT after adding the units (soldout.h). @p returned > 0 on
 * a sale without holds: -EINVAL.
 */
int fs_sale_ctl_lease_returned(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, bool final, uint64_t returned);
/**
 * Release order @p order of user @p user (its hold expired or it was cancelled): the RELEASE
 * record, then the winner entry marked (fs_winners_release_order): the user's later claims get
 * RELEASED. @return 0, -EALREADY (released before: nothing journaled), -ENOENT (unknown sale),
 * -EINVAL (a sale without holds), -ESRCH (the user holds no such order here), journal errors.
 */
int fs_sale_ctl_release(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t user, uint64_t order);
/**
 * Give back up to @p units unsold units of sale @p sale_id from this node to the pool: taken
 * from the node pool, then the workers' slices (fs_stock_reclaim: the workers' own CAS, no
 * lock), the GIVEBACK record (its seq and the units taken) journaled and synced (a give-back
 * must never be undone by a restart: Redis's pool gets the units), then leased lowered and the
 * lease no longer final (fs_stock_unlease). @p seq must be the sale's last give-back seq + 1;
 * the last seq again is a repeat (the daemon lost the reply): nothing taken, *@p given = the
 * units that give-back took. A failed append puts the units back (nothing changed); a failed
 * sync after it is returned with the give-back made (as a restart would replay it).
 * @return 0, -ENOENT (unknown sale), -ERANGE (@p seq neither the last nor the next), journal
 *         errors.
 */
int fs_sale_ctl_giveback(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, uint64_t seq, uint64_t *given);
/**
 * A GIVEBACK record replayed (recovery, before workers run): the units leave the node pool and
 * the lease, the sale's last seq is @p seq. Journals nothing.
 */
void fs_sale_giveback_replay(struct fs_sale *s, uint64_t units, uint64_t seq);
/** RETRY's retry_after_ms while this node waits for a lease (0: the default). Control path. */
void fs_sale_lease_retry_set(struct fs_sale *s, uint32_t ms);
/**
 * Set the hold state the control plane pushes (not journaled: pushed again each tick; after a
 * restart the default is open with no deadline). @p next_ms unix ms, 0 unknown. Control path.
 */
void fs_sale_holds_set(struct fs_sale *s, bool open, int64_t next_ms);
/** Stop the sale (STOP record, then fs_sale_stop). */
int fs_sale_ctl_stop(
	struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id, uint32_t sale_id);
/**
 * Set the token key, the current one valid until @p prev_until_ms (0: refused at once): the KEY
 * record (with the deadline), then fs_sale_set_key. The current key again journals nothing.
 */
int fs_sale_ctl_set_key(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, const uint8_t key[16], int64_t prev_until_ms);

/**
 * Delete sale @p sale_id for good: only a sale that is over at unix ms @p now_ms (stopped,
 * ended or sold out; fs_sale_state). The DELETE record is journaled first; then the sale is
 * unpublished (struct fs_sale_table), the id remembered (a create of it answers -EIDRM, so its
 * order ids and database rows never mix with another sale's), the table waits for a grace
 * period (t->synchronize) and frees the sale and its winner table. Deleting a sale deleted
 * before is a no-op (0). FS_MAX_SALES counts live sales only. One writer at a time; workers
 * may look sales up meanwhile.
 * @return 0, -ENOENT (no such sale), -EBUSY (pending or active: stop it first), -ENOMEM,
 *         or the journal's error (nothing changed).
 */
int fs_sale_ctl_delete(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, int64_t now_ms);

/** What fs_sale_recover() found. */
struct fs_recovery {
	uint64_t sales;   /**< sales defined again from the control journal */
	uint64_t orders;  /**< order records applied (winners and sold counts) */
	uint64_t skipped; /**< order records for unknown sales or duplicate users (counted, ignored) */
	uint64_t deleted; /**< sales deleted (DELETE records): not rebuilt */
	uint64_t deleted_orders; /**< order records of deleted sales (skipped, counted here) */
	uint64_t released; /**< RELEASE records applied */
	unsigned journals; /**< worker journals read */
};

/**
 * Rebuild the table from the journals of @p dir at start-up, before workers run: read the
 * control journal's DELETE records first (those sales are never built, their ids stay
 * deleted), then replay it (sales, leases, keys, stops), then every worker journal's ORDER
 * records: each winner is inserted with its order id and counted sold (fs_stock_recover);
 * orders of deleted sales are skipped. Torn last records are ignored. Not thread safe.
 * @return 0 or -errno; @p out filled.
 */
int fs_sale_recover(struct fs_sale_table *t, const char *dir, struct fs_recovery *out);

#endif
