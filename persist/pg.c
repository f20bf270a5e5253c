/* flashsale-persist's PostgreSQL side: connect, schema, checkpoints, one transaction per batch. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg.h"
#include "pgconn.h"
#include "schema_sql.h"

#define FS_PG_COPY_CHUNK (1u << 20) /* bytes per PQputCopyData call */

struct fs_pg {
	PGconn *conn;
	char *url;
	uint64_t inserted;
	char err[256];
};

static const char fs_pg_temp_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS orders_in (LIKE orders INCLUDING DEFAULTS) "
	"ON COMMIT DELETE ROWS";

static const char fs_pg_copy_sql[] = "COPY orders_in (" FS_BATCH_COPY_COLUMNS ") FROM STDIN";

/*
 * The direct path (fs_pg_direct): the batch's rows COPYed straight into orders, under a
 * savepoint: status takes its default 'sold' and hold_until stays NULL, which is the staging
 * INSERT's row for a sale without holds (or without a sales row), so it is taken only when no
 * sale of the batch has hold_ms > 0 (read in the transaction after the batch's sale statements,
 * as the staging INSERT's join reads it). A key already there (a re-read after a crash, the same
 * order twice in the journal) fails the COPY with unique_violation: back to the savepoint and the
 * staging path, whose ON CONFLICT DO NOTHING skips it. Either way each order is written once.
 */
static const char fs_pg_direct_sql[] = "COPY orders (" FS_BATCH_COPY_COLUMNS ") FROM STDIN";
static const char fs_pg_holds_sql[] =
	"SELECT count(*) FROM sales WHERE sale_id = ANY($1::bigint[]) AND hold_ms > 0";
/* the staging INSERT's notification text, for one group */
static const char fs_pg_notify_sql[] =
	"SELECT pg_notify('flashsale_orders', json_build_object('sale', $1::bigint, "
	"'node', $2::int, 'orders', $3::bigint)::text)";
#define FS_PG_UNIQUE_VIOLATION "23505"

/*
 * DISTINCT ON: the same order twice in one batch (a journal re-read) must not fail the batch.
 * The sale's hold_ms decides the row: held until won_at + hold_ms, or sold (final) without holds
 * or without a sales row. The rows inserted (not those already there) are counted per sale and
 * node and announced on flashsale_orders (delivered at COMMIT): one notification per batch and
 * sale, never one per row.
 */
static const char fs_pg_insert_sql[] =
	"WITH ins AS ("
	"INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until) "
	"SELECT DISTINCT ON (i.sale_id, i.order_id) "
	"i.sale_id, i.order_id, i.user_id, i.node_id, i.won_at, "
	"CASE WHEN s.hold_ms > 0 THEN 'held' ELSE 'sold' END, "
	"CASE WHEN s.hold_ms > 0 THEN i.won_at + s.hold_ms * interval '1 millisecond' END "
	"FROM orders_in i LEFT JOIN sales s ON s.sale_id = i.sale_id "
	"ORDER BY i.sale_id, i.order_id "
	"ON CONFLICT DO NOTHING RETURNING sale_id, node_id) "
	"SELECT count(*), pg_notify('flashsale_orders', json_build_object('sale', sale_id, "
	"'node', node_id, 'orders', count(*))::text) "
	"FROM ins GROUP BY sale_id, node_id";

static const char fs_pg_checkpoint_sql[] =
	"INSERT INTO persist_checkpoints (node_id, instance, journal, seq, updated_at) "
	"VALUES ($1::int, $4::bigint, $2::int, $3::bigint, now()) "
	"ON CONFLICT (node_id, instance, journal) DO UPDATE SET seq = EXCLUDED.seq, "
	"updated_at = EXCLUDED.updated_at";

static const char fs_pg_load_sql[] =
	"SELECT journal, seq FROM persist_checkpoints WHERE node_id = $1::int AND instance = $2::bigint";

/* Record a one-line error: @p what, then libpq's message with newlines folded. */
static void fs_pg_fail(struct fs_pg *pg, const char *what, const char *detail)
{
	fs_pgconn_error(pg->err, sizeof(pg->err), what, detail);
}

struct fs_pg *fs_pg_new(const char *url)
{
	char *copy;
	struct fs_pg *pg = fs_pgconn_alloc(sizeof(*pg), url, &copy);

	if (pg != NULL)
		pg->url = copy;
	return pg;
}

void fs_pg_free(struct fs_pg *pg)
{
	if (pg != NULL)
		fs_pgconn_free(pg, pg->conn, pg->url);
}

void fs_pg_disconnect(struct fs_pg *pg)
{
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->conn = NULL;
}

int fs_pg_connect(struct fs_pg *pg)
{
	pg->err[0] = '\0';
	if (pg->conn != NULL) {
		PQreset(pg->conn);
	} else {
		pg->conn = fs_pgconn_open(pg->url, "flashsale-persist", 10);
		if (pg->conn == NULL) {
			fs_pg_fail(pg, "connect", "out of memory");
			return -ENOMEM;
		}
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		fs_pg_fail(pg, "connect", PQerrorMessage(pg->conn));
		fs_pg_disconnect(pg);
		return -ECONNREFUSED;
	}
	return 0;
}

/* Run @p sql (no parameters when @p n is 0) and expect @p want; the result is cleared. */
static int fs_pg_exec(struct fs_pg *pg, ExecStatusType want, const char *sql, int n,
	const char *const *params, const char *what)
{
	PGresult *res;
	int rc = 0;

	if (pg->conn == NULL) {
		fs_pg_fail(pg, what, "not connected");
		return -EIO;
	}
	if (n == 0)
		res = PQexec(pg->conn, sql);
	else
		res = PQexecParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != want) {
		fs_pg_fail(pg, what,
			fs_pgconn_message(pg->conn, res));
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

int fs_pg_apply_schema(struct fs_pg *pg)
{
	return fs_pg_exec(pg, PGRES_COMMAND_OK, fs_schema_sql, 0, NULL, "schema");
}

int fs_pg_load_checkpoints(struct fs_pg *pg, uint16_t node_id, uint64_t instance,
	uint64_t seq[FS_JOURNAL_MAX])
{
	char node[8], inst[24];
	const char *params[2] = {node, inst};
	PGresult *res;
	int i, rc = 0;

	memset(seq, 0, FS_JOURNAL_MAX * sizeof(seq[0]));
	if (pg->conn == NULL) {
		fs_pg_fail(pg, "checkpoints", "not connected");
		return -EIO;
	}
	snprintf(node, sizeof(node), "%u", (unsigned)node_id);
	/* the u64 as the bigint of the same bits, like order ids */
	snprintf(inst, sizeof(inst), "%" PRId64, (int64_t)instance);
	res = PQexecParams(pg->conn, fs_pg_load_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fs_pg_fail(pg, "checkpoints",
			fs_pgconn_message(pg->conn, res));
		rc = -EIO;
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		long journal = strtol(PQgetvalue(res, i, 0), NULL, 10);
		long long s = strtoll(PQgetvalue(res, i, 1), NULL, 10);

		/* Rows for journals we do not know, or negative seqs, are ignored. */
		if (journal >= 0 && journal < (long)FS_JOURNAL_MAX && s > 0)
			seq[journal] = (uint64_t)s;
	}
out:
	PQclear(res);
	return rc;
}

/*
 * COPY the batch's rows with @p sql (COPY ... FROM STDIN). @return 0, -EEXIST when the COPY
 * failed with unique_violation (the transaction is then aborted: roll back to a savepoint), or
 * -EIO.
 */
static int fs_pg_copy(struct fs_pg *pg, const char *sql, const struct fs_batch *b)
{
	PGresult *res;
	size_t off = 0;
	int rc = 0;

	res = PQexec(pg->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fs_pg_fail(pg, "copy",
			fs_pgconn_message(pg->conn, res));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);

	while (off < b->copy_len) {
		size_t n = b->copy_len - off;

		if (n > FS_PG_COPY_CHUNK)
			n = FS_PG_COPY_CHUNK;
		if (PQputCopyData(pg->conn, b->copy + off, (int)n) != 1) {
			fs_pg_fail(pg, "copy data", PQerrorMessage(pg->conn));
			rc = -EIO;
			break;
		}
		off += n;
	}
	/* End the COPY even after a failed send, so the connection leaves COPY_IN state. */
	if (PQputCopyEnd(pg->conn, rc == 0 ? NULL : "flashsale-persist: send failed") != 1) {
		if (rc == 0)
			fs_pg_fail(pg, "copy end", PQerrorMessage(pg->conn));
		rc = -EIO;
	}
	/*
	 * Collect every result until NULL; the first must be COMMAND_OK. A COPY_IN result means
	 * the copy end was never sent: PQgetResult would return it forever, so stop (the caller
	 * resets the connection).
	 */
	while ((res = PQgetResult(pg->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st != PGRES_COMMAND_OK && rc == 0) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			fs_pg_fail(pg, "copy",
				st == PGRES_COPY_IN ? "copy end not sent"
						    : PQresultErrorMessage(res));
			rc = state != NULL && strcmp(state, FS_PG_UNIQUE_VIOLATION) == 0 ? -EEXIST
											   : -EIO;
		}
		PQclear(res);
		if (st == PGRES_COPY_IN)
			break;
	}
	return rc;
}

/* INSERT orders_in into orders; counts the rows actually inserted (one result row per sale). */
static int fs_pg_insert(struct fs_pg *pg)
{
	PGresult *res = PQexec(pg->conn, fs_pg_insert_sql);
	int i, rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fs_pg_fail(pg, "insert",
			fs_pgconn_message(pg->conn, res));
		rc = -EIO;
	} else {
		for (i = 0; i < PQntuples(res); i++)
			pg->inserted += strtoull(PQgetvalue(res, i, 0), NULL, 10);
	}
	PQclear(res);
	return rc;
}

/* Does any sale of @p b's groups have holds? @return 1, 0, or -EIO. */
static int fs_pg_holds(struct fs_pg *pg, const struct fs_batch *b)
{
	char ids[FS_BATCH_GROUPS * 12 + 3];
	const char *params[1] = {ids};
	size_t off = 0;
	PGresult *res;
	unsigned i;
	int rc;

	ids[off++] = '{';
	for (i = 0; i < b->n_groups; i++)
		off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%s%" PRIu32, i > 0 ? "," : "",
			b->groups[i].sale_id);
	snprintf(ids + off, sizeof(ids) - off, "}");
	res = PQexecParams(pg->conn, fs_pg_holds_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fs_pg_fail(pg, "holds", fs_pgconn_message(pg->conn, res));
		rc = -EIO;
	} else {
		rc = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	}
	PQclear(res);
	return rc;
}

/* One notification per group of @p b, as the staging INSERT sends them. */
static int fs_pg_notify(struct fs_pg *pg, const struct fs_batch *b)
{
	char sale[16], node[8], n[16];
	const char *params[3] = {sale, node, n};
	unsigned i;
	int rc = 0;

	for (i = 0; i < b->n_groups && rc == 0; i++) {
		snprintf(sale, sizeof(sale), "%" PRIu32, b->groups[i].sale_id);
		snprintf(node, sizeof(node), "%u", (unsigned)b->groups[i].node_id);
		snprintf(n, sizeof(n), "%u", b->groups[i].orders);
		rc = fs_pg_exec(pg, PGRES_TUPLES_OK, fs_pg_notify_sql, 3, params, "notify");
	}
	return rc;
}

/*
 * The direct path (see fs_pg_direct_sql). @return 0 with every order inserted; -EAGAIN: take the
 * staging path (a sale with holds, too many groups, a key already there); -EIO.
 */
static int fs_pg_direct(struct fs_pg *pg, const struct fs_batch *b)
{
	int rc;

	if (b->groups_over)
		return -EAGAIN;
	rc = fs_pg_holds(pg, b);
	if (rc != 0)
		return rc < 0 ? rc : -EAGAIN;
	rc = fs_pg_exec(pg, PGRES_COMMAND_OK, "SAVEPOINT fs_direct", 0, NULL, "savepoint");
	if (rc == 0)
		rc = fs_pg_copy(pg, fs_pg_direct_sql, b);
	if (rc == -EEXIST) {
		rc = fs_pg_exec(pg, PGRES_COMMAND_OK, "ROLLBACK TO SAVEPOINT fs_direct", 0, NULL,
			"rollback to savepoint");
		if (rc == 0)
			pg->err[0] = '\0';
		return rc < 0 ? rc : -EAGAIN;
	}
	if (rc == 0)
		rc = fs_pg_notify(pg, b);
	if (rc == 0)
		pg->inserted = b->orders;
	return rc;
}

/* The batch's orders into orders: the direct path, else through orders_in. */
static int fs_pg_orders(struct fs_pg *pg, const struct fs_batch *b)
{
	int rc = fs_pg_direct(pg, b);

	if (rc != -EAGAIN)
		return rc;
	rc = fs_pg_exec(pg, PGRES_COMMAND_OK, fs_pg_temp_sql, 0, NULL, "temp table");
	if (rc == 0)
		rc = fs_pg_copy(pg, fs_pg_copy_sql, b);
	if (rc == 0)
		rc = fs_pg_insert(pg);
	return rc < 0 ? -EIO : 0;
}

int fs_pg_write_batch(struct fs_pg *pg, uint16_t node_id, uint64_t instance,
	const struct fs_batch *b)
{
	char node[8], journal[8], seq[24], inst[24];
	const char *ckpt[4] = {node, journal, seq, inst};
	unsigned i;
	int rc;

	pg->inserted = 0;
	pg->err[0] = '\0';
	if (b->records == 0)
		return 0;

	rc = fs_pg_exec(pg, PGRES_COMMAND_OK, "BEGIN", 0, NULL, "begin");
	if (rc < 0)
		return rc;
	/* Sale statements first: orders of the same transaction see the sale's hold_ms. */
	for (i = 0; i < b->n_stmts; i++) {
		const struct fs_batch_stmt *st = &b->stmts[i];
		const char *params[FS_BATCH_PARAMS];
		unsigned k;

		for (k = 0; k < st->nparams; k++)
			params[k] = st->param[k];
		rc = fs_pg_exec(pg, PGRES_COMMAND_OK, fs_batch_stmt_sql(st->kind), st->nparams,
			params, fs_batch_stmt_name(st->kind));
		if (rc < 0)
			goto fail;
	}
	if (b->orders > 0) {
		rc = fs_pg_orders(pg, b);
		if (rc < 0)
			goto fail;
	}
	snprintf(node, sizeof(node), "%u", (unsigned)node_id);
	snprintf(journal, sizeof(journal), "%u", b->journal);
	snprintf(seq, sizeof(seq), "%" PRIu64, b->last_seq);
	snprintf(inst, sizeof(inst), "%" PRId64, (int64_t)instance);
	rc = fs_pg_exec(pg, PGRES_COMMAND_OK, fs_pg_checkpoint_sql, 4, ckpt, "checkpoint");
	if (rc < 0)
		goto fail;
	/* A broken connection here leaves the outcome unknown: the caller reloads checkpoints. */
	return fs_pg_exec(pg, PGRES_COMMAND_OK, "COMMIT", 0, NULL, "commit");

fail:
	/* Best effort: the caller resets the connection anyway, which aborts the transaction. */
	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
		PGresult *res = PQexec(pg->conn, "ROLLBACK");

		PQclear(res);
	}
	pg->inserted = 0;
	return rc;
}

uint64_t fs_pg_last_inserted(const struct fs_pg *pg)
{
	return pg->inserted;
}

const char *fs_pg_error(const struct fs_pg *pg)
{
	return pg->err;
}
