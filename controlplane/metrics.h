/* flashsale's metrics of one node: what a scrape read, written as `flashsale_*` families. */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "expo.h"
#include "pgmetrics.h"

/**
 * What one scrape read. The json objects are the dataplane's telemetry replies (dpctl.h), NULL
 * when not read; nothing here is owned by fs_metrics_write().
 */
struct fs_metrics_scrape {
	unsigned node_id;	   /**< the node label: the dataplane's node_id, else --node-id */
	struct json_object *stats; /**< /flashsale/stats; NULL: the dataplane did not answer */
	struct json_object *journals; /**< /flashsale/journals, or NULL */
	/** /flashsale/journal/syncs of each worker journal (--journal-sync fsync only) */
	struct json_object **syncs;
	size_t n_syncs;
	struct json_object **sales;   /**< /flashsale/sale/status of each sale read */
	size_t n_sales;
	bool pg_given;			      /**< --pg: persist's checkpoints were asked for */
	bool pg_ok;			      /**< ... and read */
	const struct fs_pgmetrics_ckpt *ckpt; /**< the checkpoints read (pg_ok) */
	size_t n_ckpt;
	int64_t scrape_ms; /**< how long the reads took (ms) */
};

/**
 * Write every family of @p s into @p e (HACKING.md "Metrics" lists them): flashsale_up, the
 * node's counters (replies by status, drops by reason, packets), per sale its units, state,
 * window and replies by status, per journal its written and durable seq (and in fsync mode
 * its group syncs' latency histogram), and with --pg persist's
 * checkpoints and lag (written - checkpoint) per journal. Families are written whole (all their
 * samples together), the labels node, sale, status, reason, journal, state. Pure (no I/O);
 * thread safe for distinct @p e.
 * @return 0, or -ENOMEM (e->err).
 */
int fs_metrics_write(struct fs_expo *e, const struct fs_metrics_scrape *s);

/**
 * Unsigned integer member @p key of dict @p o (json-c int, as the dataplane sends u64).
 * @return 0, or -ENOENT when absent, not an integer or negative.
 */
int fs_metrics_json_u64(struct json_object *o, const char *key, uint64_t *v);

#endif
