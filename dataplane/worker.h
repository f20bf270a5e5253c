/* Worker lcores: the RX/claim/TX burst loop, per-worker state, the stop flag. */
#ifndef FS_WORKER_H
#define FS_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "claim.h"
#include "counters.h"
#include "journal.h"
#include "pending.h"
#include "port.h"
#include "sale.h"

#define FS_BURST 32u	    /**< RX burst size */
#define FS_PREFETCH_AHEAD 3 /**< mbufs whose data is prefetched ahead of the one processed */

/** One (port, queue) pair a worker polls; the TX queue has the same index. */
struct fs_rxq {
	uint16_t port_id;
	uint16_t queue_id;
	const struct fs_frame_cfg *cfg; /**< the port's addresses (fs_port.cfg) */
};

/**
 * State of one worker lcore, indexed by worker index (0..n_workers-1, which is also the slice
 * and journal index). Written by its worker only, except where a field says otherwise.
 */
struct fs_worker {
	struct fs_lcore_stats stats; /**< dp: wo (relaxed, once per loop turn), telemetry: ro */
	struct fs_claim_env env;     /**< dp only, set up by main before launch */
	const struct fs_sale_table *table;
	struct fs_journal *journal; /**< this worker's journal (also env.journal) */
	bool journal_fsync;	    /**< --journal-sync fsync: WONs leave once durable */
	/** fsync mode: the WON replies waiting for the group commit (pending.h), dp only (set up
	 *  by main before launch); NULL otherwise */
	struct fs_pending *held;
	bool journal_failing;	    /**< dp only: journal errors logged, not yet recovered */
	unsigned lcore_id;
	unsigned n_rxq;
	struct fs_rxq rxq[FS_MAX_PORTS];
} __rte_cache_aligned;

/**
 * Fill @p w's poll list: queue @p index of every port that has that many queues.
 * Start-up only.
 */
void fs_worker_assign(
	struct fs_worker *w, unsigned index, const struct fs_port *ports, unsigned n_ports);

/**
 * Ask every worker to stop after its current burst (release store). Async-signal-unsafe
 * callers are fine too: it is one atomic store. Thread safe.
 */
void fs_worker_request_stop(void);

/**
 * The worker loop, for rte_eal_remote_launch() with a struct fs_worker *: RX burst, classify,
 * answer ARP/ICMP/FCP in place, one TX burst per (port, queue), counters added once per loop turn,
 * until fs_worker_request_stop(). The worker is reader env.worker of the unmap guard
 * (unmap_guard.h): quiescent at the top of each loop turn, where it holds no ring or sale
 * pointer. In fsync mode (held set) each WON reply waits in held until the group-commit thread
 * (gcommit.h) made its record durable; every other reply leaves with its burst. No allocation,
 * lock or log on the hot path; syscalls only for a journal segment roll-over the helper did not
 * prepare.
 * @return 0.
 */
int fs_worker_main(void *arg);

/**
 * Sum every worker's counters into @p out: per worker a whole loop turn's counters or none
 * (a seqlock with the worker's stats_add, retried while it writes). Any thread; exact once workers
 * are stopped.
 */
void fs_worker_stats_sum(const struct fs_worker *workers, unsigned n, struct fs_lcore_stats *out);

#endif
