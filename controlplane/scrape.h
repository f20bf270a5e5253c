/* One read of a node for `flashctl metrics` and `flashctl watch`: the dataplane over its
 * telemetry socket, persist's checkpoints from PostgreSQL. */
#ifndef FS_SCRAPE_H
#define FS_SCRAPE_H

#include <stdint.h>

#include "dpctl.h"
#include "metrics.h"
#include "pgmetrics.h"

#define FS_SCRAPE_MAX_CKPT 256 /**< checkpoints kept per read (journals 0..255) */

/** Where a read comes from, and the connection kept between reads. One thread at a time. */
struct fs_scrape_src {
	const char *dp_socket; /**< the dataplane's telemetry socket */
	const char *pg_url;    /**< NULL: no checkpoints */
	unsigned node_id;      /**< the node label until the dataplane says its own */
	int timeout_ms; /**< each telemetry read, and the PostgreSQL connect (rounded up to s) */
	struct fs_dpctl dp; /**< kept open between reads, reconnected after an error */
	bool syncs; /**< read /flashsale/journal/syncs too (false after init: flashctl watch) */
	struct fs_pgmetrics_ckpt ckpt[FS_SCRAPE_MAX_CKPT]; /**< the last read's checkpoints */
};

/** Set up @p x (nothing is connected yet); the strings must outlive it. */
void fs_scrape_src_init(struct fs_scrape_src *x, const char *dp_socket, const char *pg_url,
	unsigned node_id, int timeout_ms);

/**
 * Read the node into @p s (struct fs_metrics_scrape: /flashsale/stats, the status of every live
 * sale, or of @p only_sale alone when not 0, /flashsale/journals, with x->syncs and fsync the
 * /flashsale/journal/syncs of each worker journal, and with a pg_url the
 * checkpoints of the dataplane's node and instance; scrape_ms how long it took). A failed
 * PostgreSQL read leaves pg_ok false and one line on stderr. Release @p s with
 * fs_scrape_release().
 * @return 0, or -EREMOTEIO when the dataplane did not answer (s->stats NULL).
 */
int fs_scrape_read(struct fs_scrape_src *x, uint32_t only_sale, struct fs_metrics_scrape *s);

/** Free what fs_scrape_read() put in @p s. */
void fs_scrape_release(struct fs_metrics_scrape *s);

/** Close the dataplane connection. */
void fs_scrape_src_close(struct fs_scrape_src *x);

#endif
