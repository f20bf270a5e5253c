/* The nodes' leases of each sale in PostgreSQL (node_leases, forgotten_nodes of schema.sql). */
#ifndef FS_PGLEASES_H
#define FS_PGLEASES_H

#include <stdbool.h>
#include <stdint.h>

#include "pgorders.h"

/*
 * Calls on a struct fs_pgorders handle (pgorders.h: one per thread, connects at the first call,
 * the same -errno values and fs_pgorders_error()). Every call is one statement, safe to repeat.
 */

/** One row of node_leases. */
struct fs_pgleases_row {
	uint32_t sale_id;
	uint16_t node_id;
	uint64_t leased; /**< the node's dataplane's leased total at its last report */
	uint64_t sold;	 /**< its sold total then (after a forget: the final count, see below) */
	bool forgotten;	 /**< released by fs_pgleases_forget */
};

/**
 * Record that node @p node holds @p leased units of sale @p sale and sold @p sold of them
 * (upsert; sold never goes down). flashctl daemon calls it before its node's first lease of a
 * sale (so the node is known to hold a lease even if Redis loses its data) and as the node's
 * totals change.
 * @return 0; -EPERM when the node was forgotten (nothing written); pgorders.h's errors.
 */
int fs_pgleases_note(
	struct fs_pgorders *c, uint32_t sale, uint16_t node, uint64_t leased, uint64_t sold);

/**
 * The rows of sale @p sale (at most @p max into @p out), in node order.
 * @return the number of rows (more than @p max: only @p max written), or -errno.
 */
int fs_pgleases_sale(struct fs_pgorders *c, uint32_t sale, struct fs_pgleases_row *out, int max);

/** One node's part in a sale as PostgreSQL knows it (node_leases and orders; fs_pgleases_nodes). */
struct fs_pgleases_node {
	uint16_t node_id;
	bool has_row;	 /**< a node_leases row (else only orders rows: leased, sold 0) */
	uint64_t leased; /**< node_leases.leased: its dataplane's leased total at its last report */
	uint64_t sold;	 /**< node_leases.sold then (a forgotten node: its final count) */
	uint64_t orders; /**< its orders rows of the sale (orders.node_id) */
	uint64_t foreign_ids; /**< ... of them whose order id (bits 48..63) names another node of
				 the sale (one with orders or a node_leases row): ids that
				 could be that node's */
	int64_t reported_ms;  /**< node_leases.reported_at, unix ms; 0: no row */
	bool forgotten;	      /**< node_leases.forgotten_at is set (flashctl node forget) */
};

/**
 * The per-node query of sale $1 (one parameter, the sale id): one row per node that has a
 * node_leases row or an orders row of the sale, in node order, with the columns of struct
 * fs_pgleases_node in its order (fs_pgleases_node_parse reads a row). Shared with pgaudit.c,
 * which runs it inside its snapshot.
 */
extern const char fs_pgleases_nodes_sql[];

struct pg_result;

/**
 * Row @p row of a result of fs_pgleases_nodes_sql into @p out.
 * @return 0, or -EPROTO (a column count or value that is not the query's).
 */
int fs_pgleases_node_parse(const struct pg_result *res, int row, struct fs_pgleases_node *out);

/**
 * Every node's part in sale @p sale (fs_pgleases_nodes_sql): at most @p max rows into @p out.
 * @return the number of rows (more than @p max: only @p max written), or -errno.
 */
int fs_pgleases_nodes(struct fs_pgorders *c, uint32_t sale, struct fs_pgleases_node *out, int max);

/**
 * Forget node @p node for good (flashctl node forget): add it to forgotten_nodes and mark its
 * rows forgotten, each with sold raised to its orders rows of that sale (the WON records its
 * persist wrote) when those are more. Returns every row of the node, forgotten now or earlier
 * (a repeated call returns the same rows: the caller's Redis step is idempotent).
 * @return the number of rows (at most @p max written), or -errno.
 */
int fs_pgleases_forget(struct fs_pgorders *c, uint16_t node, struct fs_pgleases_row *out, int max);

/**
 * Raise the final sold count of forgotten node @p node in sale @p sale to @p sold (when Redis
 * knew a higher one than PostgreSQL: a later rebuild must count that many).
 * @return 0 or -errno.
 */
int fs_pgleases_final(struct fs_pgorders *c, uint32_t sale, uint16_t node, uint64_t sold);

/** @return 1 when node @p node was forgotten, 0 when not, or -errno. */
int fs_pgleases_forgotten(struct fs_pgorders *c, uint16_t node);

#endif
