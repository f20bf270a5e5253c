/* flashctl audit's PostgreSQL side: a sale's sales row, order rows and returns (libpq only here).
 */
#ifndef FS_PGAUDIT_H
#define FS_PGAUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgleases.h"

/** One row of orders, as the dataplane numbered it. */
struct fs_pgaudit_order {
	uint64_t order_id; /**< the u64 order id (orders.order_id holds its bits as a bigint) */
	uint64_t user_id;
	uint16_t node_id; /**< orders.node_id (0 in the audit's other sources' pairs) */
};

/** A sale's orders by status and its stock_returns rows, with what would break their rules. */
struct fs_pgaudit_holds {
	uint64_t held, paid, cancelled, expired, sold; /**< orders rows by status */
	uint64_t returns;			       /**< stock_returns rows */
	uint64_t applied;			       /**< ... of them applied to Redis */
	uint64_t released;	   /**< ... of them told to their node's dataplane */
	uint64_t returns_wrong;	   /**< ... whose order is missing or not in the row's reason */
	uint64_t released_missing; /**< expired or cancelled orders without their row */
	uint64_t paid_late;	   /**< paid orders with settled_at >= hold_until */
	uint64_t unsettled;	   /**< paid/cancelled/expired orders without settled_at */
};

/** What PostgreSQL holds of one sale. */
struct fs_pgaudit_sale {
	bool has_sale;			 /**< a row in sales */
	uint64_t stock;			 /**< sales.stock, when has_sale */
	uint32_t hold_ms;		 /**< sales.hold_ms, when has_sale (0: no holds) */
	struct fs_pgaudit_order *orders; /**< malloc'd, n_orders rows, in no particular order */
	size_t n_orders;
	struct fs_pgaudit_holds holds;	/**< from the same snapshot as the rows */
	struct fs_pgleases_node *nodes; /**< malloc'd: each node's part (fs_pgleases_nodes_sql) */
	size_t n_nodes;
};

/**
 * Connect to @p url (any libpq connection string or URI; connect_timeout @p timeout_s seconds),
 * read the sales row, every orders row of @p sale_id, the counts of its orders by status and of
 * its stock_returns rows, and each node's part (node_leases and orders by node) in one read-only
 * transaction (one snapshot), and disconnect.
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
