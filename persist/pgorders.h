/* The order lifecycle for the control plane: pay, cancel, look up, sweep, returns, hold state. */
#ifndef FS_PGORDERS_H
#define FS_PGORDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Thin wrappers over the flashsale.* functions and the stock_returns queries of persist/schema.sql
 * (libpq only in persist/pg*.c). One struct fs_pgorders per thread: nothing here is thread safe.
 * Each call connects first if it has no connection (or a broken one), runs one statement (its
 * own transaction) and returns 0 or a count, or -errno with a one-line reason in
 * fs_pgorders_error():
 *   -ECONNREFUSED  cannot connect (the next call tries again);
 *   -ETIMEDOUT     the statement ran longer than the handle's timeout and was cancelled;
 *   -EIO           the statement failed (the connection is dropped if it broke: a write whose
 *                  answer was lost may or may not have committed; every call here is safe to
 *                  repeat: pay answers already_paid, cancel already_cancelled, marks are no-ops);
 *   -EPROTO        the server answered something this code does not understand;
 *   -EINVAL        bad arguments (nothing sent); -ENOMEM.
 * Order ids are the dataplane's u64 (stored as the bigint of the same bits), user ids u64,
 * times unix microseconds (0: none).
 */

/** Answers of flashsale.pay and flashsale.cancel (the text values, in this order). */
enum fs_pgorders_result {
	FS_PGORDERS_PAID = 0,	       /**< "paid": paid now */
	FS_PGORDERS_ALREADY_PAID,      /**< "already_paid" */
	FS_PGORDERS_CANCELLED,	       /**< "cancelled": cancelled now (cancel), or earlier (pay) */
	FS_PGORDERS_ALREADY_CANCELLED, /**< "already_cancelled" (cancel only) */
	FS_PGORDERS_EXPIRED,	       /**< "expired": the hold ran out, swept or not */
	FS_PGORDERS_NOT_HELD,	       /**< "not_held": an order of a sale without holds */
	FS_PGORDERS_UNKNOWN,	       /**< "unknown": no such order */
	FS_PGORDERS_RESULTS
};

/** orders.status values. */
enum fs_pgorders_status {
	FS_PGORDERS_ST_HELD = 0,  /**< "held" */
	FS_PGORDERS_ST_PAID,	  /**< "paid" */
	FS_PGORDERS_ST_CANCELLED, /**< "cancelled" */
	FS_PGORDERS_ST_EXPIRED,	  /**< "expired" */
	FS_PGORDERS_ST_SOLD,	  /**< "sold": a sale without holds, final when won */
	FS_PGORDERS_STATUSES
};

/** One row of orders (flashsale.order / flashsale.order_by_user). */
struct fs_pgorders_order {
	uint32_t sale_id;
	uint16_t node_id;
	uint8_t status; /**< enum fs_pgorders_status */
	uint64_t order_id;
	uint64_t user_id;
	int64_t won_at_us;
	int64_t hold_until_us; /**< 0: the sale has no holds */
	int64_t settled_at_us; /**< 0: not settled (held, or sold) */
};

/** One row of stock_returns. */
struct fs_pgorders_return {
	uint32_t sale_id;
	uint16_t node_id; /**< the node that sold the order */
	bool cancelled;	  /**< reason: cancelled (true) or expired (false) */
	uint64_t order_id;
	uint64_t user_id;
};

/** What the dataplane needs of a sale with holds (/flashsale/sale/holds,SALE,OPEN,NEXT_MS). */
struct fs_pgorders_hold {
	bool open;	/**< units of the sale may still come back (see fs_pgorders_hold_state) */
	bool held;	/**< some order is held */
	bool unapplied; /**< some stock_returns row is not applied to Redis yet */
	/** orders rows of the sale; counted only when neither held nor unapplied (else 0) */
	uint64_t orders;
	/** unix ms (rounded up) of the earliest hold_until of a held order; 0: none held */
	int64_t next_ms;
};

/** The sale's orders by status and its returns (`flashctl sale status`). */
struct fs_pgorders_counts {
	uint64_t orders; /**< all rows */
	uint64_t by_status[FS_PGORDERS_STATUSES];
	uint64_t returned; /**< stock_returns rows (= cancelled + expired) */
	uint64_t applied;  /**< of them back in the Redis pool */
	uint64_t released; /**< of them told to their node's dataplane */
};

struct fs_pgorders;

/**
 * A handle for @p url (any libpq connection string or URI); connects at the first call.
 * @p timeout_ms bounds the connect (rounded up to seconds, at least 1) and every statement
 * (statement_timeout); 0 means 5000.
 * @return the handle, or NULL with errno ENOMEM.
 */
struct fs_pgorders *fs_pgorders_new(const char *url, unsigned timeout_ms);

/** Close the connection, if any, and free @p c. NULL is a no-op. */
void fs_pgorders_free(struct fs_pgorders *c);

/** One-line reason of the last failure ("" after a success). */
const char *fs_pgorders_error(const struct fs_pgorders *c);

/**
 * flashsale.pay(@p sale, @p order_id): pay a held order, refused from hold_until on.
 * @param res  the answer (FS_PGORDERS_PAID .. FS_PGORDERS_UNKNOWN; never ALREADY_CANCELLED).
 * @return 0 (whatever the answer), or -errno (see the top of this file).
 */
int fs_pgorders_pay(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, enum fs_pgorders_result *res);

/**
 * flashsale.cancel(@p sale, @p order_id): cancel a held order before its hold_until; its
 * stock_returns row is inserted by the same statement.
 * @param res  the answer (never ALREADY_PAID).
 * @return 0, or -errno.
 */
int fs_pgorders_cancel(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, enum fs_pgorders_result *res);

/** The order @p order_id of @p sale into @p o. @return 0, -ENOENT (no such order), or -errno. */
int fs_pgorders_show(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, struct fs_pgorders_order *o);

/** The order of user @p user_id in @p sale into @p o. @return 0, -ENOENT, or -errno. */
int fs_pgorders_show_user(
	struct fs_pgorders *c, uint32_t sale, uint64_t user_id, struct fs_pgorders_order *o);

/**
 * flashsale.expire_due(@p batch): expire up to @p batch (1..INT32_MAX) due holds of all sales,
 * earliest first, with their stock_returns rows, in one transaction. Safe with several sweepers
 * (FOR UPDATE SKIP LOCKED: a row another sweeper or a payment holds is left to it).
 * @return rows expired (fewer than @p batch: none was left due, but for rows others held), or
 *         -errno (-EINVAL for batch 0 or too large).
 */
int fs_pgorders_expire_due(struct fs_pgorders *c, unsigned batch);

/**
 * Up to @p max stock_returns rows not applied to Redis yet, of every sale, oldest first, into
 * @p out. Returns are applied at least once: run the Redis script (idempotent by order id) for
 * each, then fs_pgorders_returns_applied().
 * @return rows written to @p out (0..max), or -errno.
 */
int fs_pgorders_returns_unapplied(
	struct fs_pgorders *c, struct fs_pgorders_return *out, unsigned max);

/**
 * Mark @p n rows (sale_id, order_id of @p r) applied (applied_at = now) where not yet.
 * @return rows marked now (rows already marked or unknown are not counted), or -errno.
 */
int fs_pgorders_returns_applied(
	struct fs_pgorders *c, const struct fs_pgorders_return *r, unsigned n);

/**
 * Up to @p max stock_returns rows of orders sold by node @p node_id that its dataplane has not
 * been told of (released_on_node false), oldest first, into @p out.
 * @return rows written (0..max), or -errno.
 */
int fs_pgorders_returns_unreleased(
	struct fs_pgorders *c, uint16_t node_id, struct fs_pgorders_return *out, unsigned max);

/**
 * Mark @p n rows of @p r released on node @p node_id (released_at = now) where not yet; rows
 * of other nodes are left alone.
 * @return rows marked now, or -errno.
 */
int fs_pgorders_returns_released(
	struct fs_pgorders *c, uint16_t node_id, const struct fs_pgorders_return *r, unsigned n);

/**
 * Up to @p max stock_returns rows of sale @p sale not applied to Redis yet, oldest first, into
 * @p out: fs_pgorders_returns_unapplied() for one sale, so that rows a caller cannot apply yet
 * (their sale gone from Redis) never hold up another sale's.
 * @return rows written (0..max), or -errno.
 */
int fs_pgorders_sale_unapplied(
	struct fs_pgorders *c, uint32_t sale, struct fs_pgorders_return *out, unsigned max);

/**
 * Up to @p max stock_returns rows of sale @p sale, sold by node @p node_id, that its dataplane
 * has not been told of, oldest first, into @p out (fs_pgorders_returns_unreleased() for one sale).
 * @return rows written (0..max), or -errno.
 */
int fs_pgorders_sale_unreleased(struct fs_pgorders *c, uint32_t sale, uint16_t node_id,
	struct fs_pgorders_return *out, unsigned max);

/**
 * Up to @p max stock_returns rows of sale @p sale already applied to Redis, in order id order
 * (as the bigints: ids >= 2^63 first) from the bigint @p from on (inclusive), into @p out: a
 * page of the returns a Redis that lost the sale must be given again. Next page: from the last
 * row's (int64_t)order_id + 1 (none after INT64_MAX); fewer than @p max rows: the last page.
 * @return rows written (0..max), or -errno.
 */
int fs_pgorders_sale_applied(struct fs_pgorders *c, uint32_t sale, int64_t from,
	struct fs_pgorders_return *out, unsigned max);

/**
 * The stock_returns rows of sale @p sale: how many (@p rows) and how many of them applied to
 * Redis (@p applied), one snapshot (the sale's range of the primary key).
 * @return 0, or -errno.
 */
int fs_pgorders_sale_returns(
	struct fs_pgorders *c, uint32_t sale, uint64_t *rows, uint64_t *applied);

/**
 * The hold state of @p sale, one snapshot: OPEN while units may still come back: an order is
 * held, a return is not applied to Redis yet, or PostgreSQL has fewer orders rows than @p sold
 * (Redis fs:{N}:sold: orders not persisted yet may still be cancelled or expire). The orders
 * are counted (a scan of the sale's rows) only when nothing is held or unapplied, which is rare
 * while the sale runs; a caller that sees OPEN 0 may stop asking (nothing can reopen it).
 * @return 0 and @p h filled, or -errno.
 */
int fs_pgorders_hold_state(
	struct fs_pgorders *c, uint32_t sale, uint64_t sold, struct fs_pgorders_hold *h);

/**
 * Counts of @p sale's orders by status and of its stock_returns rows, one snapshot (scans the
 * sale's rows: for operators, not for every tick).
 * @return 0 and @p k filled, or -errno.
 */
int fs_pgorders_counts(struct fs_pgorders *c, uint32_t sale, struct fs_pgorders_counts *k);

/**
 * PostgreSQL's clock_timestamp() (the clock the flashsale.* functions judge holds by) into
 * @p us, unix microseconds. @return 0, or -errno.
 */
int fs_pgorders_now_us(struct fs_pgorders *c, int64_t *us);

/**
 * LISTEN on @p channel (letters, digits and '_' only, at most 63 characters; e.g.
 * "flashsale_outcomes", "flashsale_orders"), then read notifications with
 * fs_pgorders_notification(). A connection lost and made again (by any call) listens to
 * nothing: after an error, LISTEN again.
 * @return 0, -EINVAL (bad channel name), or -errno.
 */
int fs_pgorders_listen(struct fs_pgorders *c, const char *channel);

/**
 * Wait up to @p timeout_ms (0: do not wait) for a notification on a channel this handle
 * listens on; its channel and payload are copied into @p channel and @p payload (@p clen and
 * @p plen bytes, truncated, NUL terminated).
 * @return 1 (one notification), 0 (none in time), or -errno (-EIO: the connection broke; it is
 *         dropped, the next call connects anew and listens to nothing).
 */
int fs_pgorders_notification(struct fs_pgorders *c, int timeout_ms, char *channel, size_t clen,
	char *payload, size_t plen);

/* ---- pure helpers (no connection), exposed for the unit tests and for callers' output ---- */

/** Text of @p r ("paid", "already_paid", ...), or NULL when out of range. */
const char *fs_pgorders_result_name(enum fs_pgorders_result r);

/** The result named @p s into @p r. @return 0, or -EPROTO for any other text (or NULL). */
int fs_pgorders_result_parse(const char *s, enum fs_pgorders_result *r);

/** Text of @p s ("held", ...), or NULL when out of range. */
const char *fs_pgorders_status_name(enum fs_pgorders_status s);

/** The status named @p s into @p st. @return 0, or -EPROTO. */
int fs_pgorders_status_parse(const char *s, enum fs_pgorders_status *st);

/**
 * Fill @p o from the 8 text fields of a row (sale_id, order_id as the signed bigint, user_id,
 * node_id, status, won_at, hold_until, settled_at; times as integer unix microseconds; a NULL
 * or empty time is 0). @return 0, or -EPROTO when a field is malformed or out of range.
 */
int fs_pgorders_order_parse(const char *const f[8], struct fs_pgorders_order *o);

/**
 * Write the PostgreSQL array literals of the keys of @p r (@p n rows) into @p sales
 * ("{1,2}") and @p orders ("{-9223372036854775807,5}": the bigints of the u64 ids), each
 * @p len bytes (FS_PGORDERS_KEY_TEXT * n + 3 suffice).
 * @return 0, or -ENOSPC.
 */
int fs_pgorders_keys(
	const struct fs_pgorders_return *r, unsigned n, char *sales, char *orders, size_t len);

/** Bytes of one key in an array literal, comma included (the longest bigint is 20 characters). */
#define FS_PGORDERS_KEY_TEXT 21u

#endif
