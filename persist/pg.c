/* flashsale-persist's PostgreSQL side: connect, schema, checkpoints, one transaction per batch. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
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

static const char fs_pg_copy_sql[] =
	"COPY orders_in (" FS_BATCH_COPY_COLUMNS ") FROM STDIN (FORMAT binary)";

/*
 * The direct path (fs_pg_direct): the batch's rows COPYed straight into orders, under a
 * savepoint: status takes its default 'sold' and hold_until stays NULL, which is the staging
 * INSERT's row for a sale without holds (or without a sales row), so it is taken only when no
 * sale of the batch has hold_ms > 0 (read in the transaction after the batch's sale statements,
 * as the staging INSERT's join reads it). A key already there (a re-read after a crash, the same
 * order twice in the journal) fails the COPY with unique_violation: back to the savepoint and the
 * staging path, whose ON CONFLICT DO NOTHING skips it. Either way each order is written once.
 *
 * Round trips: the statements of a batch go in as few simple queries as they can (one PQexec of
 * several statements separated by ';', all in the transaction BEGIN opened; their values are
 * integers formatted here, never text from outside): BEGIN with the checkpoint and the holds
 * check; the savepoint, the notifications and the COPY; COMMIT alone. The checkpoint row is
 * written first but commits with the rows, as before: only the order inside the transaction
 * changed. The notifications are sent inside the savepoint, so that a COPY rolled back to it
 * takes them back with it (the staging INSERT sends its own).
 */
static const char fs_pg_direct_sql[] =
	"COPY orders (" FS_BATCH_COPY_COLUMNS ") FROM STDIN (FORMAT binary)";
/* the sales of the batch's groups follow, then ")" */
static const char fs_pg_holds_sql[] =
	"SELECT count(*) FROM sales WHERE hold_ms > 0 AND sale_id IN (";
/* the staging INSERT's notification text, for one group: sale, node, orders */
static const char fs_pg_notify_fmt[] =
	"SELECT pg_notify('flashsale_orders', json_build_object('sale', %" PRIu32 "::bigint, "
	"'node', %u::int, 'orders', %u::bigint)::text); ";
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

/* node_id, instance (the u64 as the bigint of the same bits), journal, seq */
static const char fs_pg_checkpoint_fmt[] =
	"INSERT INTO persist_checkpoints (node_id, instance, journal, seq, updated_at) "
	"VALUES (%u, %" PRId64 ", %u, %" PRIu64 ", now()) "
	"ON CONFLICT (node_id, instance, journal) DO UPDATE SET seq = EXCLUDED.seq, "
	"updated_at = EXCLUDED.updated_at";

#define FS_PG_SQL_MAX 2048u /* the longest query built here: 8 notifications and a COPY */

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

	/* binary COPY: the header, the batch's tuples (batch.h), the trailer */
	if (PQputCopyData(pg->conn, fs_batch_copy_header, FS_BATCH_COPY_HEADER_LEN) != 1)
		rc = -EIO;
	while (rc == 0 && off < b->copy_len) {
		size_t n = b->copy_len - off;

		if (n > FS_PG_COPY_CHUNK)
			n = FS_PG_COPY_CHUNK;
		if (PQputCopyData(pg->conn, b->copy + off, (int)n) != 1)
			rc = -EIO;
		off += n;
	}
	if (rc == 0 &&
		PQputCopyData(pg->conn, fs_batch_copy_trailer, FS_BATCH_COPY_TRAILER_LEN) != 1)
		rc = -EIO;
	if (rc < 0)
		fs_pg_fail(pg, "copy data", PQerrorMessage(pg->conn));
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

/* Append printf output to query @p sql (FS_PG_SQL_MAX bytes) at *@p off. @return 0, -ENOSPC. */
static int fs_pg_sql_add(char *sql, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fs_pg_sql_add(char *sql, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= FS_PG_SQL_MAX)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(sql + *off, FS_PG_SQL_MAX - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= FS_PG_SQL_MAX - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

/* The holds check of @p b's groups (fs_pg_holds_sql), appended to @p sql. */
static int fs_pg_holds_add(char *sql, size_t *off, const struct fs_batch *b)
{
	unsigned i;
	int rc = fs_pg_sql_add(sql, off, "%s", fs_pg_holds_sql);

	for (i = 0; i < b->n_groups && rc == 0; i++)
		rc = fs_pg_sql_add(sql, off, "%s%" PRIu32, i > 0 ? ", " : "", b->groups[i].sale_id);
	return rc == 0 ? fs_pg_sql_add(sql, off, ")") : rc;
}

/*
 * Run @p sql (one or several statements, holds check last when @p holds is not NULL: its answer
 * into *@p holds, 1 or 0). @p sql_rc: the query's building (< 0: it did not fit, nothing is
 * sent). @return 0 or -EIO.
 */
static int fs_pg_exec_holds(struct fs_pg *pg, const char *sql, int sql_rc, int *holds,
	const char *what)
{
	PGresult *res;
	int rc = 0;

	if (sql_rc < 0) {
		fs_pg_fail(pg, what, "query too long");
		return -EIO;
	}
	if (holds == NULL)
		return fs_pg_exec(pg, PGRES_COMMAND_OK, sql, 0, NULL, what);
	res = PQexec(pg->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fs_pg_fail(pg, what, fs_pgconn_message(pg->conn, res));
		rc = -EIO;
	} else {
		*holds = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	}
	PQclear(res);
	return rc;
}

/*
 * BEGIN, the checkpoint of @p b, and when @p b has orders (of at most FS_BATCH_GROUPS pairs)
 * but no sale statement (these must run before it), the holds check: *@p holds 1 or 0; else
 * *@p holds stays -1 (not asked). @return 0 or -EIO.
 */
static int fs_pg_begin(struct fs_pg *pg, uint16_t node_id, uint64_t instance,
	const struct fs_batch *b, int *holds)
{
	char sql[FS_PG_SQL_MAX];
	size_t off = 0;
	bool ask = b->orders > 0 && b->n_stmts == 0 && !b->groups_over;
	int rc = fs_pg_sql_add(sql, &off, "BEGIN; ");

	if (rc == 0)
		rc = fs_pg_sql_add(sql, &off, fs_pg_checkpoint_fmt, (unsigned)node_id,
			(int64_t)instance, b->journal, b->last_seq);
	if (rc == 0 && ask)
		rc = fs_pg_sql_add(sql, &off, "; ");
	if (rc == 0 && ask)
		rc = fs_pg_holds_add(sql, &off, b);
	*holds = -1;
	return fs_pg_exec_holds(pg, sql, rc, ask ? holds : NULL, "begin");
}

/*
 * The direct path (see fs_pg_direct_sql); @p holds: the holds check's answer, or -1 (ask it
 * here). @return 0 with every order inserted; -EAGAIN: take the staging path (a sale with holds,
 * too many groups, a key already there); -EIO.
 */
static int fs_pg_direct(struct fs_pg *pg, const struct fs_batch *b, int holds)
{
	char sql[FS_PG_SQL_MAX];
	size_t off = 0;
	unsigned i;
	int rc = 0;

	if (b->groups_over)
		return -EAGAIN;
	if (holds < 0) {
		rc = fs_pg_holds_add(sql, &off, b);
		rc = fs_pg_exec_holds(pg, sql, rc, &holds, "holds");
		if (rc < 0)
			return rc;
	}
	if (holds)
		return -EAGAIN;
	off = 0;
	rc = fs_pg_sql_add(sql, &off, "SAVEPOINT fs_direct; ");
	for (i = 0; i < b->n_groups && rc == 0; i++)
		rc = fs_pg_sql_add(sql, &off, fs_pg_notify_fmt, b->groups[i].sale_id,
			(unsigned)b->groups[i].node_id, b->groups[i].orders);
	if (rc == 0)
		rc = fs_pg_sql_add(sql, &off, "%s", fs_pg_direct_sql);
	if (rc < 0) {
		fs_pg_fail(pg, "copy", "query too long");
		return -EIO;
	}
	rc = fs_pg_copy(pg, sql, b);
	if (rc == -EEXIST) {
		rc = fs_pg_exec(pg, PGRES_COMMAND_OK, "ROLLBACK TO SAVEPOINT fs_direct", 0, NULL,
			"rollback to savepoint");
		if (rc == 0)
			pg->err[0] = '\0';
		return rc < 0 ? rc : -EAGAIN;
	}
	if (rc == 0)
		pg->inserted = b->orders;
	return rc;
}

/* The batch's orders into orders: the direct path, else through orders_in. */
static int fs_pg_orders(struct fs_pg *pg, const struct fs_batch *b, int holds)
{
	int rc = fs_pg_direct(pg, b, holds);

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
	unsigned i;
	int holds, rc;

	pg->inserted = 0;
	pg->err[0] = '\0';
	if (b->records == 0)
		return 0;
	if (pg->conn == NULL) {
		fs_pg_fail(pg, "begin", "not connected");
		return -EIO;
	}
	rc = fs_pg_begin(pg, node_id, instance, b, &holds);
	if (rc < 0)
		goto fail;
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
		rc = fs_pg_orders(pg, b, holds);
		if (rc < 0)
			goto fail;
	}
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
