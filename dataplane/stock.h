/* Stock of one sale on this node: node pool and per-worker slices with stealing (DESIGN.md "Stock"). */
#ifndef FS_STOCK_H
#define FS_STOCK_H

#include <stdbool.h>
#include <stdint.h>

#define FS_MAX_WORKERS 32 /**< worker lcores per dataplane */

/**
 * The slices for @p n workers: 1 for 0, FS_MAX_WORKERS for more than FS_MAX_WORKERS, else @p n
 * (fs_stock_init and fs_sale_table_init take any count). Pure.
 */
static inline unsigned fs_stock_workers(unsigned n)
{
	return n == 0 ? 1 : n > FS_MAX_WORKERS ? FS_MAX_WORKERS : n;
}

/** One worker's slice of a sale. */
struct fs_slice {
	uint64_t units; /**< units ready to sell; owner and stealers take with CAS (atomic) */
	uint64_t sold;  /**< units sold by this worker since start: owner: wo (release), others: ro */
} __attribute__((aligned(64)));

/**
 * Units move leased -> node_pool -> a slice -> taken (in hand) -> sold (committed) or back to a
 * slice (put). sold_base + sum(slice.sold) counts committed sales, including those recovered from
 * the journals. The sale is sold out when the lease is final and every leased unit is sold.
 */
struct fs_stock {
	/* read by every claim (take, remaining, sold out), written by the control path only */
	uint64_t leased;    /**< units leased to this node in total; cp: wo (atomic add), dp: ro */
	uint64_t sold_base; /**< sold before this process started (journals); set before workers run */
	uint32_t chunk;     /**< refill size from node_pool to a slice */
	uint32_t n_workers; /**< slices in use, <= FS_MAX_WORKERS */
	/**
	 * Sequence count of (leased, final), a seqlock: odd while a lease or a give-back writes
	 * them, so a worker deciding SOLD_OUT reads both from one instant (a give-back lowers
	 * leased, a lease raises it: no single order of two loads is right for both). cp: wo,
	 * dp: ro (acquire, then an acquire fence before the re-load).
	 */
	uint32_t gen;
	uint8_t final;      /**< 1: the pool was empty at the last lease (no more can come but
			     *   units released on a sale with holds); 0 after a give-back (units
			     *   went back to the pool); cp: wo, dp: ro (under gen) */
	/**
	 * Units not yet in any slice; atomic (CAS) by every worker that refills its slice and by
	 * the control path's leases. On a cache line of its own: its writes do not invalidate the
	 * line above in every other worker's cache.
	 */
	uint64_t node_pool __attribute__((aligned(64)));
	struct fs_slice slices[FS_MAX_WORKERS];
};

enum fs_take {
	FS_TAKE_OK = 0,   /**< one unit is in the caller's hand: commit or put it */
	FS_TAKE_RETRY,    /**< nothing at hand now, but units are leased and unsold or may come */
	FS_TAKE_SOLD_OUT, /**< lease final and every leased unit sold: final */
};

/**
 * Initialise with no units. @p chunk 0 picks clamp(stock / (8 * n_workers), 1, 256).
 * Not thread safe: before publication.
 */
void fs_stock_init(struct fs_stock *s, unsigned n_workers, uint64_t stock, uint32_t chunk);

/**
 * Add @p units to the lease and the node pool; @p final: the pool was empty at this lease (a
 * later lease of units that came back stores it again, 0 or 1). Control path.
 */
void fs_stock_lease(struct fs_stock *s, uint64_t units, bool final);

/**
 * Take up to @p units that no worker holds back from the node (a give-back): the node pool
 * first, then the workers' slices, each with the CAS the workers' refills and steals use, so a
 * worker's claim never waits on it (a worker that finds nothing meanwhile sees units in transit
 * and answers RETRY). Units in a worker's hand (taken, not yet committed or put) are never
 * taken. The units are then in the caller's hand: fs_stock_unlease() them, or
 * fs_stock_unreclaim() them when the give-back fails. Control path (one writer).
 * @return the units taken, <= @p units.
 */
uint64_t fs_stock_reclaim(struct fs_stock *s, uint64_t units);

/** Put back @p units reclaimed and not given back (to the node pool). Control path. */
void fs_stock_unreclaim(struct fs_stock *s, uint64_t units);

/**
 * Give back @p units reclaimed (fs_stock_reclaim): leased lowered by them and final cleared
 * (the pool has units again), as one write of the seqlock gen; 0 units change nothing. Control
 * path (recovery too).
 */
void fs_stock_unlease(struct fs_stock *s, uint64_t units);

/**
 * Account @p sold units recovered from the journals: moved from the node pool to sold_base.
 * Call after the lease that covers them and before workers run. Returns -ERANGE (and changes
 * nothing) if the node pool holds fewer than @p sold units.
 */
int fs_stock_recover(struct fs_stock *s, uint64_t sold);

/**
 * Take one unit for worker @p w: its own slice, else a chunk from the node pool, else steal from
 * the other slices (one unit each, round robin). Spins a bounded number of times while units are
 * in transit before answering FS_TAKE_RETRY. Lock-free; thread safe for distinct @p w.
 */
enum fs_take fs_stock_take(struct fs_stock *s, unsigned w);

/** Commit a taken unit as sold by worker @p w (owner-only store, release order). */
void fs_stock_commit(struct fs_stock *s, unsigned w);

/** Give back a taken unit that was not sold (to @p w's slice). */
void fs_stock_put(struct fs_stock *s, unsigned w);

/** Units committed as sold, all workers (relaxed sum; exact once workers are quiet). */
uint64_t fs_stock_sold(const struct fs_stock *s);

/** Units leased and not yet sold (leased - sold, never negative). */
uint64_t fs_stock_remaining(const struct fs_stock *s);

/** True when the lease is final and sold == leased. */
bool fs_stock_sold_out(const struct fs_stock *s);

#endif
