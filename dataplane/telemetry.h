/* Telemetry commands under /flashsale/: statistics and the sale control operations. */
#ifndef FS_TELEMETRY_H
#define FS_TELEMETRY_H

#include <stdint.h>

#include "journal.h"
#include "sale.h"
#include "worker.h"

/** What the commands read and change; owned by main, must outlive the telemetry threads. */
struct fs_telemetry_ctx {
	struct fs_sale_table *table;	 /**< changed only under the telemetry mutex */
	struct fs_journal *ctl;		 /**< the control journal (FS_JOURNAL_CONTROL) */
	const struct fs_worker *workers; /**< summed by /flashsale/stats */
	unsigned n_workers;
	uint16_t node_id;
	bool journal_fsync; /**< msync the control journal after each control operation */
	unsigned group_interval_us; /**< --group-interval-us (fsync), for /flashsale/journal/syncs */
	int64_t start_ms;   /**< CLOCK_MONOTONIC ms at start-up (fs_clock_mono_ms), for uptime_ms */
	struct fs_journal *const *journals; /**< every worker's journal (n_workers), for
					     *   /flashsale/journals (fs_journal_heads) */
	uint64_t instance; /**< the state directory's identity (fs_journal_instance), 0: unknown */
};

/**
 * Register every /flashsale/ command of HACKING.md with rte_telemetry_register_cmd(). The
 * callbacks run on DPDK's telemetry threads (one per client); control operations are serialised
 * by one mutex. Call once after rte_eal_init(); @p ctx is copied.
 * @return 0 or -errno from the registration.
 */
int fs_telemetry_init(const struct fs_telemetry_ctx *ctx);

/**
 * Refuse control operations from now on (they answer {"error": "shutting down"}) and wait for
 * one in progress, so main can close the control journal. Thread safe.
 */
void fs_telemetry_shutdown(void);

#endif
