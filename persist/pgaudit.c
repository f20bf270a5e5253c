/* flashctl audit's PostgreSQL reads: a sale's order rows, sales row and returns, one snapshot. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "parse.h"
#include "pgaudit.h"

static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strlen(err); /* libpq messages end with a newline: one line only */
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
		err[--n] = '\0';
	return rc;
}

/* One statement with the sale id as $1; NULL (error text set) unless it returned tuples/ok. */
static PGresult *exec1(
	PGconn *c, const char *sql, const char *id, ExecStatusType want, char *err, size_t errlen)
{
	const char *params[1] = {id};
	PGresult *res;

	res = PQexecParams(c, sql, id ? 1 : 0, NULL, id ? params : NULL, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != want) {
		set_err(err, errlen, -EIO, "postgresql: %s", PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* orders.order_id is the u64's bits as a bigint (persist/schema.sql). */
static int parse_order_id(const char *s, uint64_t *v)
{
	int64_t x;

	if (fs_parse_i64(s, INT64_MIN, INT64_MAX, &x) < 0)
		return -EPROTO;
	*v = (uint64_t)x;
	return 0;
}

/* The sales row of the sale ($1 = @p id), if any, into @p out. 0, -EIO or -EPROTO. */
static int read_sale_row(
	PGconn *c, const char *id, struct fs_pgaudit_sale *out, char *err, size_t errlen)
{
	PGresult *res;
	int rc = 0;

	uint64_t hold;

	res = exec1(c, "SELECT stock, hold_ms FROM sales WHERE sale_id = $1", id, PGRES_TUPLES_OK,
		err, errlen);
	if (res == NULL)
		return -EIO;
	if (PQntuples(res) == 1) {
		if (fs_parse_u64(PQgetvalue(res, 0, 0), 0, UINT64_MAX, &out->stock) < 0 ||
			fs_parse_u64(PQgetvalue(res, 0, 1), 0, UINT32_MAX, &hold) < 0)
			rc = set_err(err, errlen, -EPROTO, "postgresql: sales row malformed");
		out->has_sale = rc == 0;
		out->hold_ms = (uint32_t)hold;
	}
	PQclear(res);
	return rc;
}

/* A row reader of read_rows: row @p i of @p res into element @p i of @p rows. 0 or -EPROTO. */
typedef int (*row_fn)(const PGresult *res, int i, void *rows);

/*
 * The rows of @p sql ($1 = @p id), each read by @p parse into a calloc'd array of @p size-byte
 * elements: *@p rows (kept when a row is malformed, for the caller to free), *@p n its count
 * (set on success only). @p noun names the rows in the out of memory error, @p row a row in
 * the malformed one. 0, -EIO, -EPROTO or -ENOMEM.
 */
static int read_rows(PGconn *c, const char *sql, const char *id, size_t size, row_fn parse,
	void **rows, size_t *n, const char *noun, const char *row, char *err, size_t errlen)
{
	PGresult *res;
	int rc = 0, k;

	res = exec1(c, sql, id, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		return -EIO;
	k = PQntuples(res);
	if (k > 0 && (*rows = calloc((size_t)k, size)) == NULL)
		rc = set_err(err, errlen, -ENOMEM, "out of memory for %d %s", k, noun);
	for (int i = 0; i < k && rc == 0; i++)
		if (parse(res, i, *rows) < 0)
			rc = set_err(err, errlen, -EPROTO, "postgresql: %s %d malformed", row, i);
	if (rc == 0)
		*n = (size_t)k;
	PQclear(res);
	return rc;
}

/* Row @p i of read_orders' statement into ((struct fs_pgaudit_order *)@p rows)[i]. */
static int order_row(const PGresult *res, int i, void *rows)
{
	struct fs_pgaudit_order *o = (struct fs_pgaudit_order *)rows + i;
	uint64_t node = 0;

	if (parse_order_id(PQgetvalue(res, i, 0), &o->order_id) < 0 ||
		fs_parse_u64(PQgetvalue(res, i, 1), 0, UINT64_MAX, &o->user_id) < 0 ||
		fs_parse_u64(PQgetvalue(res, i, 2), 0, UINT16_MAX, &node) < 0)
		return -EPROTO;
	o->node_id = (uint16_t)node;
	return 0;
}

/* The orders rows of the sale ($1 = @p id) into @p out. 0, -EIO, -EPROTO or -ENOMEM. */
static int read_orders(
	PGconn *c, const char *id, struct fs_pgaudit_sale *out, char *err, size_t errlen)
{
	void *rows = NULL;
	int rc;

	rc = read_rows(c, "SELECT order_id, user_id::text, node_id FROM orders WHERE sale_id = $1",
		id, sizeof(*out->orders), order_row, &rows, &out->n_orders, "rows", "orders row",
		err, errlen);
	out->orders = rows;
	return rc;
}

/*
 * The orders by status (and those breaking the rules of outcomes) and the stock_returns rows of
 * the sale ($1 = @p id): one row of counts.
 */
static const char holds_sql[] =
	"SELECT o.held, o.paid, o.cancelled, o.expired, o.sold, o.paid_late, o.unsettled, "
	"o.released_missing, r.n, r.applied, r.released, r.wrong FROM "
	"(SELECT count(*) FILTER (WHERE status = 'held') AS held, "
	"count(*) FILTER (WHERE status = 'paid') AS paid, "
	"count(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
	"count(*) FILTER (WHERE status = 'expired') AS expired, "
	"count(*) FILTER (WHERE status = 'sold') AS sold, "
	"count(*) FILTER (WHERE status = 'paid' AND settled_at >= hold_until) AS paid_late, "
	"count(*) FILTER (WHERE status IN ('paid', 'cancelled', 'expired') AND settled_at IS NULL) "
	"AS unsettled, "
	"count(*) FILTER (WHERE status IN ('cancelled', 'expired') AND NOT EXISTS (SELECT 1 FROM "
	"stock_returns x WHERE x.sale_id = orders.sale_id AND x.order_id = orders.order_id)) "
	"AS released_missing FROM orders WHERE sale_id = $1) o, "
	"(SELECT count(*) AS n, count(*) FILTER (WHERE r.applied) AS applied, "
	"count(*) FILTER (WHERE r.released_on_node) AS released, "
	"count(*) FILTER (WHERE o.status IS DISTINCT FROM r.reason) AS wrong "
	"FROM stock_returns r LEFT JOIN orders o ON o.sale_id = r.sale_id "
	"AND o.order_id = r.order_id WHERE r.sale_id = $1) r";

/* The counts of holds_sql into @p out->holds. 0, -EIO or -EPROTO. */
static int read_holds(
	PGconn *c, const char *id, struct fs_pgaudit_sale *out, char *err, size_t errlen)
{
	struct fs_pgaudit_holds *h = &out->holds;
	uint64_t *dst[12] = {&h->held, &h->paid, &h->cancelled, &h->expired, &h->sold,
		&h->paid_late, &h->unsettled, &h->released_missing, &h->returns, &h->applied,
		&h->released, &h->returns_wrong};
	PGresult *res;
	int rc = 0;

	res = exec1(c, holds_sql, id, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		return -EIO;
	if (PQntuples(res) != 1 || PQnfields(res) != 12)
		rc = set_err(err, errlen, -EPROTO, "postgresql: unexpected counts of holds");
	for (int i = 0; rc == 0 && i < 12; i++)
		if (fs_parse_u64(PQgetvalue(res, 0, i), 0, UINT64_MAX, dst[i]) < 0)
			rc = set_err(err, errlen, -EPROTO, "postgresql: count of holds malformed");
	PQclear(res);
	return rc;
}

/* Row @p i of fs_pgleases_nodes_sql into ((struct fs_pgleases_node *)@p rows)[i]. */
static int node_row(const PGresult *res, int i, void *rows)
{
	return fs_pgleases_node_parse(res, i, (struct fs_pgleases_node *)rows + i);
}

/* Each node's part in the sale ($1 = @p id): fs_pgleases_nodes_sql. 0, -EIO, -EPROTO or -ENOMEM. */
static int read_nodes(
	PGconn *c, const char *id, struct fs_pgaudit_sale *out, char *err, size_t errlen)
{
	void *rows = NULL;
	int rc;

	rc = read_rows(c, fs_pgleases_nodes_sql, id, sizeof(*out->nodes), node_row, &rows,
		&out->n_nodes, "nodes", "node totals row", err, errlen);
	out->nodes = rows;
	return rc;
}

/* One statement without parameters that returns no rows (BEGIN, COMMIT). 0 or -EIO. */
static int exec0(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *res = exec1(c, sql, NULL, PGRES_COMMAND_OK, err, errlen);

	if (res == NULL)
		return -EIO;
	PQclear(res);
	return 0;
}

/*
 * Every read of the sale ($1 = @p id) in one read-only transaction, so that they see one
 * snapshot: a figure more is one read_* more here. 0 or a negative errno (err set).
 */
static int read_snapshot(
	PGconn *c, const char *id, struct fs_pgaudit_sale *out, char *err, size_t errlen)
{
	int rc = exec0(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);

	if (rc == 0)
		rc = read_sale_row(c, id, out, err, errlen);
	if (rc == 0)
		rc = read_orders(c, id, out, err, errlen);
	if (rc == 0)
		rc = read_holds(c, id, out, err, errlen);
	if (rc == 0)
		rc = read_nodes(c, id, out, err, errlen);
	if (rc == 0)
		rc = exec0(c, "COMMIT", err, errlen);
	return rc;
}

int fs_pgaudit_read(const char *url, uint32_t sale_id, int timeout_s, struct fs_pgaudit_sale *out,
	char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	char tmo[16], id[16];
	const char *vals[] = {url, tmo, NULL};
	PGconn *c;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	snprintf(tmo, sizeof(tmo), "%d", timeout_s > 0 ? timeout_s : 5);
	snprintf(id, sizeof(id), "%" PRIu32, sale_id);
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL)
		return set_err(err, errlen, -ENOMEM, "postgresql: out of memory");
	if (PQstatus(c) != CONNECTION_OK)
		rc = set_err(err, errlen, -ECONNREFUSED, "postgresql: %s", PQerrorMessage(c));
	else
		rc = read_snapshot(c, id, out, err, errlen);
	PQfinish(c);
	if (rc < 0)
		fs_pgaudit_free(out);
	return rc;
}

void fs_pgaudit_free(struct fs_pgaudit_sale *s)
{
	if (s == NULL)
		return;
	free(s->orders);
	free(s->nodes);
	memset(s, 0, sizeof(*s));
}
