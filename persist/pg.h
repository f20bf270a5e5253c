/* flashsale-persist's PostgreSQL side: connect, schema, checkpoints, one transaction per batch. */
#ifndef FS_PG_H
#define FS_PG_H

#include <stdint.h>

#include "batch.h"
#include "journal.h"

/*
 * libpq only in persist/pg*.c (STYLE.md). One struct fs_pg per thread: nothing here is thread safe.
 * Every function that fails leaves a one-line reason in fs_pg_error(); the caller then drops the
 * connection with fs_pg_disconnect() (or reconnects straight away with fs_pg_connect()) and
 * re-reads its checkpoints from PostgreSQL: after an error a transaction may or may not have
 * committed, only the checkpoint row says which.
 */

struct fs_pg;

/**
 * Allocate a handle for connection URL @p url (any libpq connection string or URI); does not
 * connect yet.
 * @return the handle, or NULL with errno (ENOMEM).
 */
struct fs_pg *fs_pg_new(const char *url);

/** Close the connection, if any, and free @p pg. NULL is a no-op. */
void fs_pg_free(struct fs_pg *pg);

/**
 * Connect (or reconnect: PQreset of an existing connection, else PQconnectdb), silence server
 * notices and create the session's temp table `orders_in` (ON COMMIT DELETE ROWS). Blocks for
 * at most libpq's connect_timeout.
 * @return 0, or -ECONNREFUSED (cannot connect) / -EIO (session set-up failed).
 */
int fs_pg_connect(struct fs_pg *pg);

/** Drop the connection (the next fs_pg_connect() connects afresh). */
void fs_pg_disconnect(struct fs_pg *pg);

/** Apply the embedded persist/schema.sql (idempotent). @return 0 or -EIO. */
int fs_pg_apply_schema(struct fs_pg *pg);

/**
 * Load the checkpoints of node @p node_id's state directory @p instance (fs_journal_instance):
 * @p seq[j] = seq of the last committed record of journal j, 0 if none. @p seq has
 * FS_JOURNAL_MAX entries.
 * @return 0 or -EIO.
 */
int fs_pg_load_checkpoints(struct fs_pg *pg, uint16_t node_id, uint64_t instance,
	uint64_t seq[FS_JOURNAL_MAX]);

/**
 * Write batch @p b of node @p node_id in ONE transaction: BEGIN and set the checkpoint of
 * (node_id, instance, b->journal) to b->last_seq (one query); run its sale statements in journal
 * order; when none of its orders' sales has holds (asked with the BEGIN when the batch has no
 * sale statement), COPY the order rows (binary format, batch.h) straight into orders (status
 * 'sold') under a savepoint, with one NOTIFY flashsale_orders per sale and node (one query);
 * else, or when that COPY meets a key already there, COPY them into orders_in and INSERT them
 * into orders (de-duplicated within the batch, ON CONFLICT DO NOTHING against rows already
 * there; status 'held' with hold_until = won_at + sales.hold_ms when the sale has holds, else
 * 'sold'), notifying the rows inserted; COMMIT (a query of its own). An empty batch is a no-op.
 * The caller makes sure that the sales row (and its HOLD) of every order is committed first
 * (flashsale-persist: the control journal is drained after a worker batch is read and before it
 * is written).
 * @return 0 when committed; -EIO otherwise (the transaction may or may not have committed if
 *         the connection broke during COMMIT: reload the checkpoints).
 */
int fs_pg_write_batch(struct fs_pg *pg, uint16_t node_id, uint64_t instance,
	const struct fs_batch *b);

/** Rows the last successful fs_pg_write_batch() inserted into orders (duplicates excluded). */
uint64_t fs_pg_last_inserted(const struct fs_pg *pg);

/** One-line reason of the last failure ("" if none). */
const char *fs_pg_error(const struct fs_pg *pg);

#endif
