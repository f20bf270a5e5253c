/* Sale table: the sales this node serves, looked up lock-free by workers, changed by the control path. */
#ifndef FS_SALE_H
#define FS_SALE_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "stock.h"
#include "winners.h"

#define FS_MAX_SALES 1024u     /**< sales per node */
#define FS_SALE_SLOTS 2048u    /**< open-addressing slots (power of two, 2x FS_MAX_SALES) */

enum fs_admission { FS_ADM_OPEN = 0, FS_ADM_TOKEN = 1 };

/** What a sale is answering right now (also the telemetry "state" string). */
enum fs_sale_state {
	FS_SALE_PENDING = 0, /**< before start */
	FS_SALE_ACTIVE,      /**< in its window with stock */
	FS_SALE_SOLD_OUT,    /**< in its window, sold out */
	FS_SALE_ENDED,       /**< end time passed */
	FS_SALE_STOPPED,     /**< stopped by the operator */
};

/**
 * One sale. Fields set at creation are read-only once the sale is published in the table; the
 * ones that change say who writes them. Sales are never freed while the process runs (a stopped
 * sale stays, answering ENDED), so workers need no RCU grace period to read them.
 */
struct fs_sale {
	uint32_t sale_id;
	uint8_t admission;   /**< enum fs_admission */
	uint8_t stopped;     /**< cp: wo, dp: ro (relaxed) */
	uint8_t sold_out;    /**< cached SOLD_OUT, set once by whichever side sees it: atomic */
	uint8_t key_set;     /**< token key known; cp: wo (release), dp: ro (acquire) */
	int64_t start_ms;    /**< unix ms, inclusive */
	int64_t end_ms;      /**< unix ms, exclusive */
	uint64_t total;      /**< the sale's whole stock (all nodes) */
	uint8_t key[16];     /**< token key; cp: wo before key_set */
	struct fs_winners *winners;
	struct fs_stock stock;
};

/** The table: sale pointers by hashed sale_id, published with release stores. */
struct fs_sale_table {
	struct fs_sale *slot[FS_SALE_SLOTS]; /**< cp: wo (release), dp: ro (acquire) */
	uint32_t n;                          /**< cp only */
	uint32_t n_workers;                  /**< slices per sale */
};

/** Zero the table for @p n_workers workers (1..FS_MAX_WORKERS). Not thread safe. */
void fs_sale_table_init(struct fs_sale_table *t, unsigned n_workers);

/** Free every sale. Not thread safe: workers stopped. */
void fs_sale_table_fini(struct fs_sale_table *t);

/** Find a sale; NULL if absent. Wait-free, thread safe against one concurrent writer. */
struct fs_sale *fs_sale_lookup(const struct fs_sale_table *t, uint32_t sale_id);

/** Parameters of a new sale. */
struct fs_sale_def {
	uint32_t sale_id;
	uint64_t stock; /**< whole stock, > 0, <= 2^32-1 */
	int64_t start_ms, end_ms; /**< unix ms, start < end */
	uint8_t admission;
	bool has_key;
	uint8_t key[16];
};

/**
 * Create and publish a sale with no units leased yet. Control path; one writer at a time.
 * @return the sale, or NULL with errno: EEXIST (sale_id taken), EINVAL (bad fields),
 *         ENOSPC (FS_MAX_SALES reached), ENOMEM.
 */
struct fs_sale *fs_sale_create(struct fs_sale_table *t, const struct fs_sale_def *def);

/** Set (or replace) the token key. Control path. */
void fs_sale_set_key(struct fs_sale *s, const uint8_t key[16]);

/** Stop the sale: claims get ENDED from now on. Control path. */
void fs_sale_stop(struct fs_sale *s);

/** State at unix ms @p now_ms. Thread safe. */
enum fs_sale_state fs_sale_state(const struct fs_sale *s, int64_t now_ms);

/** Name of a state ("pending", "active", "sold_out", "ended", "stopped"). */
const char *fs_sale_state_name(enum fs_sale_state st);

/**
 * Control operations that are journaled in the control journal (FS_JOURNAL_CONTROL) before they
 * take effect, so a restarted dataplane replays them. @p ctl may be NULL (tests without a state
 * directory). One writer at a time (the control path holds a mutex).
 * @return 0 or -errno (-EEXIST, -EINVAL, -ENOENT for an unknown sale, -ENOSPC, journal errors).
 */
int fs_sale_define(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	const struct fs_sale_def *def);
int fs_sale_lease(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, bool final);
int fs_sale_halt(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id);
int fs_sale_rekey(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, const uint8_t key[16]);

/** What fs_sale_recover() found. */
struct fs_recovery {
	uint64_t sales;   /**< sales defined again from the control journal */
	uint64_t orders;  /**< order records applied (winners and sold counts) */
	uint64_t skipped; /**< order records for unknown sales or duplicate users (counted, ignored) */
	unsigned journals; /**< worker journals read */
};

/**
 * Rebuild the table from the journals of @p dir at start-up, before workers run: replay the
 * control journal (sales, leases, keys, stops), then every worker journal's ORDER records:
 * each winner is inserted with its order id and counted sold (fs_stock_recover). Torn last
 * records are ignored. Not thread safe.
 * @return 0 or -errno; @p out filled.
 */
int fs_sale_recover(struct fs_sale_table *t, const char *dir, struct fs_recovery *out);

#endif
