/* Batch building: journal records to binary COPY tuples (orders) and statements (sales). */
#ifndef FS_BATCH_H
#define FS_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/*
 * Pure code: no libpq, no I/O, so the unit tests need no PostgreSQL. pg.c sends what is built here.
 *
 * An ORDER record becomes one binary-format COPY tuple for
 *   COPY orders_in (sale_id, order_id, user_id, node_id, won_at) FROM STDIN (FORMAT binary)
 * (PostgreSQL's documented binary COPY format, "COPY ... File Formats": int16 field count, then
 * per field an int32 length and the type's send format, all big endian): sale_id bigint, order_id
 * bigint (the int64 with the same bits as the u64, see schema.sql), user_id numeric(20,0) (the
 * u64 in base-10000 digits), node_id int, won_at timestamptz (microseconds since
 * 2000-01-01T00:00:00Z, truncated from the record's ns). No text to format on this side, none to
 * parse on the server's: the bench's persist scenario measured the text rows' snprintf/gmtime_r
 * at ~75% of persist's own CPU.
 *
 * A SALE record becomes an upsert of `sales` (hold_ms left as it is: 0 for a new row), a HOLD
 * record an update of the sale's hold_ms, a STOP record an update moving ends_at to the stop time
 * if earlier. LEASE, KEY, RELEASE and DELETE records (and unknown types) carry nothing for
 * PostgreSQL (a RELEASE's outcome is already there: the flashsale.* function that released the
 * order wrote it; a deleted sale keeps its `sales` and `orders` rows, and the dataplane never
 * creates its id again): they only advance the checkpoint.
 */

#define FS_BATCH_ROW_MAX 128u  /**< bytes of one COPY tuple (the longest is 68) */
#define FS_BATCH_TIME_MAX 40u  /**< bytes of a formatted timestamp, NUL included */
#define FS_BATCH_PARAMS 5u     /**< parameters of the widest statement */
#define FS_BATCH_PARAM_LEN 48u /**< bytes per parameter, NUL included */
/** Longest hold a HOLD record may carry: 7 days in ms (sales.hold_ms's CHECK in schema.sql). */
#define FS_BATCH_HOLD_MS_MAX 604800000u

/** Column list of the COPY tuples, in order. */
#define FS_BATCH_COPY_COLUMNS "sale_id, order_id, user_id, node_id, won_at"

/** Bytes of the binary COPY header: signature, flags 0, header extension length 0. */
#define FS_BATCH_COPY_HEADER_LEN 19u
/** Bytes of the binary COPY trailer: a field count of -1. */
#define FS_BATCH_COPY_TRAILER_LEN 2u
/** The header every binary COPY's data starts with (sent before the batch's tuples). */
extern const char fs_batch_copy_header[FS_BATCH_COPY_HEADER_LEN];
/** The trailer every binary COPY's data ends with (sent after the batch's tuples). */
extern const char fs_batch_copy_trailer[FS_BATCH_COPY_TRAILER_LEN];

enum fs_batch_stmt_kind {
	/** $1 sale_id, $2 stock, $3 starts_at, $4 ends_at, $5 admission */
	FS_BATCH_SALE_UPSERT = 0,
	/** $1 sale_id, $2 stopped_at */
	FS_BATCH_SALE_STOP = 1,
	/** $1 sale_id, $2 hold_ms */
	FS_BATCH_SALE_HOLD = 2,
	FS_BATCH_STMT_KINDS
};

/** One parameterized statement, parameters in text format. */
struct fs_batch_stmt {
	uint8_t kind; /**< enum fs_batch_stmt_kind */
	uint8_t nparams;
	char param[FS_BATCH_PARAMS][FS_BATCH_PARAM_LEN];
};

/** Distinct (sale, node) pairs a batch's orders are counted by (more: groups_over). */
#define FS_BATCH_GROUPS 8u

/** The orders of one batch with one (sale_id, node_id): one NOTIFY, one hold_ms to look up. */
struct fs_batch_group {
	uint32_t sale_id;
	uint16_t node_id;
	unsigned orders; /**< ORDER records of the batch with this pair */
};

/** Records first_seq..last_seq of one journal, to be written in one transaction. */
struct fs_batch {
	unsigned journal;   /**< journal index the records came from */
	unsigned records;   /**< records added (all types) */
	unsigned cap;	    /**< records it can hold */
	uint64_t first_seq; /**< seq of the first record added (0 while empty) */
	uint64_t last_seq;  /**< seq of the last record added: the checkpoint after commit */
	char *copy;	    /**< binary COPY tuples of the ORDER records (no header, no trailer) */
	size_t copy_len;    /**< bytes in copy */
	unsigned orders;    /**< tuples in copy */
	struct fs_batch_stmt *stmts; /**< SALE/STOP/HOLD statements, in journal order */
	unsigned n_stmts;
	struct fs_batch_group groups[FS_BATCH_GROUPS]; /**< the orders' pairs, first seen first */
	unsigned n_groups;
	bool groups_over; /**< the orders have more than FS_BATCH_GROUPS pairs: groups incomplete */
};

/**
 * Allocate buffers for up to @p cap records (cap * FS_BATCH_ROW_MAX bytes of tuples and cap
 * statements). Not thread safe per batch.
 * @return 0, -EINVAL (cap 0), or -ENOMEM.
 */
int fs_batch_init(struct fs_batch *b, unsigned cap);

/** Free the buffers; the batch can be initialised again. NULL-safe members. */
void fs_batch_fini(struct fs_batch *b);

/** Empty @p b and bind it to journal @p journal. */
void fs_batch_reset(struct fs_batch *b, unsigned journal);

/**
 * Add record @p rec (already validated by the journal reader) to @p b. An ORDER record is also
 * counted in its (sale_id, node_id) group (groups_over once a ninth pair shows up).
 * @return 0; -ENOSPC when @p b holds cap records; -EINVAL when rec->seq does not follow the
 *         last one added (records of one batch must be consecutive), a field cannot be
 *         formatted, or a HOLD record's hold_ms exceeds FS_BATCH_HOLD_MS_MAX (PostgreSQL would
 *         refuse the batch). Nothing is added on error.
 */
int fs_batch_add(struct fs_batch *b, const struct fs_jrec *rec);

/**
 * Format unix time @p time_ns (nanoseconds) as UTC ISO 8601 with microseconds
 * (`2026-11-29T09:14:39.123456Z`, truncated, not rounded) into @p buf.
 * @return characters written (without NUL), or -ENOSPC if @p len is too small.
 */
int fs_batch_time_ns(uint64_t time_ns, char *buf, size_t len);

/**
 * Format unix time @p ms (milliseconds, may be negative) as UTC ISO 8601 with microseconds.
 * Times outside years 1..9999 become `-infinity` / `infinity` (PostgreSQL accepts both).
 * @return characters written (without NUL), or -ENOSPC.
 */
int fs_batch_time_ms(int64_t ms, char *buf, size_t len);

/**
 * Encode the binary COPY tuple of ORDER record @p rec into @p buf (see the top of this file).
 * @return bytes written, -EINVAL if @p rec is not an ORDER, or -ENOSPC if @p len is too small.
 */
int fs_batch_order_row(const struct fs_jrec *rec, char *buf, size_t len);

/**
 * Encode @p v as the binary (send) format of a numeric with scale 0 into @p buf: int16 digit
 * count, int16 weight, int16 sign (0: positive), int16 display scale (0), then the base-10000
 * digits, most significant first, trailing zero digits left out (numeric's own form: 0 has no
 * digit, 10000 is the digit 1 of weight 1).
 * @return bytes written (8 + 2 per digit, at most 18), or -ENOSPC if @p len is too small.
 */
int fs_batch_numeric_u64(uint64_t v, char *buf, size_t len);

/** SQL text of statement kind @p kind (uses $1..$n), or NULL for an unknown kind. */
const char *fs_batch_stmt_sql(unsigned kind);

/** Short name of statement kind @p kind for error messages ("sale upsert"), or "statement". */
const char *fs_batch_stmt_name(unsigned kind);

#endif
