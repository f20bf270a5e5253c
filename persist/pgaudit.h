/* flashctl audit's PostgreSQL side: one sale's order rows and its sales row (libpq only here). */
#ifndef FS_PGAUDIT_H
#define FS_PGAUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One row of orders, as the dataplane numbered it. */
struct fs_pgaudit_order {
	uint64_t order_id; /**< the u64 order id (orders.order_id holds its bits as a bigint) */
	uint64_t user_id;
};

/** What PostgreSQL holds of one sale. */
struct fs_pgaudit_sale {
	bool has_sale;			 /**< a row in sales */
	uint64_t stock;			 /**< sales.stock, when has_sale */
	struct fs_pgaudit_order *orders; /**< malloc'd, n_orders rows, in no particular order */
	size_t n_orders;
};

/**
 * Connect to @p url (any libpq connection string or URI; connect_timeout @p timeout_s seconds),
 * read the sales row and every orders row of @p sale_id in one read-only transaction (one
 * snapshot), and disconnect.
 * @param out  filled on success; release with fs_pgaudit_free().
 * @param err  one line of text on failure (@p errlen bytes).
 * @return 0, -ECONNREFUSED (cannot connect), -EIO (a query failed), -EPROTO (a malformed value),
 *         or -ENOMEM. Thread safe (no shared state).
 */
int fs_pgaudit_read(const char *url, uint32_t sale_id, int timeout_s, struct fs_pgaudit_sale *out,
	char *err, size_t errlen);

/** Free the rows of @p s and zero it. NULL is a no-op. */
void fs_pgaudit_free(struct fs_pgaudit_sale *s);

#endif
