/* The order lifecycle for the control plane: pay, cancel, look up, sweep, returns, hold state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include <libpq-fe.h>

#include "parse.h"
#include "pgconn.h"
#include "pgorders.h"
#include "pgorders_int.h"

#define FS_PGORDERS_TIMEOUT_MS 5000u

struct fs_pgorders {
	PGconn *conn;
	char *url;
	unsigned timeout_ms;
	char err[256];
};

static const char *const fs_pgorders_results[FS_PGORDERS_RESULTS] = {
	[FS_PGORDERS_PAID] = "paid",
	[FS_PGORDERS_ALREADY_PAID] = "already_paid",
	[FS_PGORDERS_CANCELLED] = "cancelled",
	[FS_PGORDERS_ALREADY_CANCELLED] = "already_cancelled",
	[FS_PGORDERS_EXPIRED] = "expired",
	[FS_PGORDERS_NOT_HELD] = "not_held",
	[FS_PGORDERS_UNKNOWN] = "unknown",
};

static const char *const fs_pgorders_statuses[FS_PGORDERS_STATUSES] = {
	[FS_PGORDERS_ST_HELD] = "held",
	[FS_PGORDERS_ST_PAID] = "paid",
	[FS_PGORDERS_ST_CANCELLED] = "cancelled",
	[FS_PGORDERS_ST_EXPIRED] = "expired",
	[FS_PGORDERS_ST_SOLD] = "sold",
};

/* The columns of an order row, times as integer unix microseconds. */
#define FS_PGORDERS_ORDER_COLS                                                                     \
	"sale_id, order_id, user_id::text, node_id, status, "                                      \
	"(extract(epoch FROM won_at) * 1000000)::bigint, "                                         \
	"(extract(epoch FROM hold_until) * 1000000)::bigint, "                                     \
	"(extract(epoch FROM settled_at) * 1000000)::bigint"

static const char fs_pgorders_show_sql[] =
	"SELECT " FS_PGORDERS_ORDER_COLS " FROM flashsale.order($1::bigint, $2::bigint)";
static const char fs_pgorders_show_user_sql[] =
	"SELECT " FS_PGORDERS_ORDER_COLS " FROM flashsale.order_by_user($1::bigint, $2::numeric)";

#define FS_PGORDERS_RETURN_COLS "sale_id, order_id, user_id::text, node_id, reason"
/* The rows of stock_returns WHERE @p where, ORDER BY @p order, at most $1 of them. */
#define FS_PGORDERS_RETURNS_SQL(where, order)                                                      \
	"SELECT " FS_PGORDERS_RETURN_COLS " FROM stock_returns WHERE " where " ORDER BY " order    \
	" LIMIT $1::int"

static const char fs_pgorders_unapplied_sql[] =
	FS_PGORDERS_RETURNS_SQL("NOT applied", "returned_at");
static const char fs_pgorders_unreleased_sql[] =
	FS_PGORDERS_RETURNS_SQL("node_id = $2::int AND NOT released_on_node", "returned_at");
/* One sale's queues: a row a daemon cannot handle yet (its sale gone from Redis or from the
 * dataplane) then stays out of the way of every other sale's rows. */
static const char fs_pgorders_sale_unapplied_sql[] =
	FS_PGORDERS_RETURNS_SQL("sale_id = $2::bigint AND NOT applied", "returned_at");
static const char fs_pgorders_sale_unreleased_sql[] = FS_PGORDERS_RETURNS_SQL(
	"node_id = $3::int AND sale_id = $2::bigint AND NOT released_on_node", "returned_at");
/* Applied rows in key order from a bigint order id on (the primary key's range). */
static const char fs_pgorders_sale_applied_sql[] = FS_PGORDERS_RETURNS_SQL(
	"sale_id = $2::bigint AND order_id >= $3::bigint AND applied", "order_id");
static const char fs_pgorders_sale_returns_sql[] =
	"SELECT count(*), count(*) FILTER (WHERE applied) FROM stock_returns "
	"WHERE sale_id = $1::bigint";
/*
 * The marks find each row by its key: "IS NOT TRUE" (the columns are NOT NULL: the same rows as
 * NOT ...) does not imply the partial indexes' predicates, so the planner cannot pick them and
 * scan the whole queue for each key when statistics are stale (see orders_held in schema.sql).
 */
static const char fs_pgorders_applied_sql[] =
	"UPDATE stock_returns r SET applied = true, applied_at = clock_timestamp() "
	"FROM unnest($1::bigint[], $2::bigint[]) AS k(sale_id, order_id) "
	"WHERE r.sale_id = k.sale_id AND r.order_id = k.order_id AND r.applied IS NOT TRUE";
static const char fs_pgorders_released_sql[] =
	"UPDATE stock_returns r SET released_on_node = true, released_at = clock_timestamp() "
	"FROM unnest($1::bigint[], $2::bigint[]) AS k(sale_id, order_id) "
	"WHERE r.sale_id = k.sale_id AND r.order_id = k.order_id AND r.node_id = $3::int "
	"AND r.released_on_node IS NOT TRUE";

/*
 * One snapshot. The orders are counted only when nothing is held or unapplied: a CASE branch's
 * subquery runs only when the branch is taken.
 */
static const char fs_pgorders_hold_sql[] =
	"WITH h AS (SELECT min(hold_until) AS next FROM orders "
	"WHERE sale_id = $1::bigint AND status = 'held'), "
	"r AS (SELECT EXISTS (SELECT 1 FROM stock_returns "
	"WHERE sale_id = $1::bigint AND NOT applied) AS unapplied) "
	"SELECT ceil(extract(epoch FROM h.next) * 1000)::bigint, r.unapplied, "
	"CASE WHEN h.next IS NULL AND NOT r.unapplied "
	"THEN (SELECT count(*) FROM orders WHERE sale_id = $1::bigint) END "
	"FROM h, r";

static const char fs_pgorders_counts_sql[] =
	"SELECT o.n, o.held, o.paid, o.cancelled, o.expired, o.sold, r.n, r.applied, r.released "
	"FROM (SELECT count(*) AS n, "
	"count(*) FILTER (WHERE status = 'held') AS held, "
	"count(*) FILTER (WHERE status = 'paid') AS paid, "
	"count(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
	"count(*) FILTER (WHERE status = 'expired') AS expired, "
	"count(*) FILTER (WHERE status = 'sold') AS sold "
	"FROM orders WHERE sale_id = $1::bigint) o, "
	"(SELECT count(*) AS n, count(*) FILTER (WHERE applied) AS applied, "
	"count(*) FILTER (WHERE released_on_node) AS released "
	"FROM stock_returns WHERE sale_id = $1::bigint) r";

/* ---------------------------------------------------------------- pure helpers */

const char *fs_pgorders_result_name(enum fs_pgorders_result r)
{
	return (unsigned)r < FS_PGORDERS_RESULTS ? fs_pgorders_results[r] : NULL;
}

/* The index of @p s in @p names (@p n of them), or -EPROTO. */
static int fs_pgorders_find(const char *const *names, unsigned n, const char *s)
{
	unsigned i;

	for (i = 0; s != NULL && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -EPROTO;
}

int fs_pgorders_result_parse(const char *s, enum fs_pgorders_result *r)
{
	int i = fs_pgorders_find(fs_pgorders_results, FS_PGORDERS_RESULTS, s);

	if (i < 0)
		return i;
	*r = (enum fs_pgorders_result)i;
	return 0;
}

const char *fs_pgorders_status_name(enum fs_pgorders_status s)
{
	return (unsigned)s < FS_PGORDERS_STATUSES ? fs_pgorders_statuses[s] : NULL;
}

int fs_pgorders_status_parse(const char *s, enum fs_pgorders_status *st)
{
	int i = fs_pgorders_find(fs_pgorders_statuses, FS_PGORDERS_STATUSES, s);

	if (i < 0)
		return i;
	*st = (enum fs_pgorders_status)i;
	return 0;
}

/* A signed decimal int64 (bigint text), whole string. */
static int fs_pgorders_i64(const char *s, int64_t *v)
{
	char *end;
	long long x;

	if (s == NULL || *s == '\0')
		return -EPROTO;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EPROTO;
	*v = (int64_t)x;
	return 0;
}

/* A time field: NULL or empty is 0. */
static int fs_pgorders_time(const char *s, int64_t *us)
{
	if (s == NULL || *s == '\0') {
		*us = 0;
		return 0;
	}
	return fs_pgorders_i64(s, us);
}

int fs_pgorders_order_parse(const char *const f[8], struct fs_pgorders_order *o)
{
	enum fs_pgorders_status st;
	uint64_t sale, user, node;
	int64_t order;

	memset(o, 0, sizeof(*o));
	if (f[0] == NULL || fs_parse_u64(f[0], 0, UINT32_MAX, &sale) < 0 ||
		fs_pgorders_i64(f[1], &order) < 0 || f[2] == NULL ||
		fs_parse_u64(f[2], 0, UINT64_MAX, &user) < 0 || f[3] == NULL ||
		fs_parse_u64(f[3], 0, UINT16_MAX, &node) < 0 ||
		fs_pgorders_status_parse(f[4], &st) < 0 ||
		fs_pgorders_time(f[5], &o->won_at_us) < 0 ||
		fs_pgorders_time(f[6], &o->hold_until_us) < 0 ||
		fs_pgorders_time(f[7], &o->settled_at_us) < 0)
		return -EPROTO;
	o->sale_id = (uint32_t)sale;
	o->order_id = (uint64_t)order; /* the bigint's bits are the u64 (schema.sql) */
	o->user_id = user;
	o->node_id = (uint16_t)node;
	o->status = (uint8_t)st;
	return 0;
}

int fs_pgorders_keys(
	const struct fs_pgorders_return *r, unsigned n, char *sales, char *orders, size_t len)
{
	size_t ls = 0, lo = 0;
	unsigned i;
	int a, b;

	if (len < 3)
		return -ENOSPC;
	sales[ls++] = '{';
	orders[lo++] = '{';
	for (i = 0; i < n; i++) {
		const char *sep = i > 0 ? "," : "";

		a = snprintf(sales + ls, len - ls, "%s%" PRIu32, sep, r[i].sale_id);
		b = snprintf(orders + lo, len - lo, "%s%" PRId64, sep, (int64_t)r[i].order_id);
		if (a < 0 || b < 0 || (size_t)a >= len - ls || (size_t)b >= len - lo)
			return -ENOSPC;
		ls += (size_t)a;
		lo += (size_t)b;
	}
	if (ls + 2 > len || lo + 2 > len)
		return -ENOSPC;
	memcpy(sales + ls, "}", 2);
	memcpy(orders + lo, "}", 2);
	return 0;
}

/* ---------------------------------------------------------------- connection */

struct fs_pgorders *fs_pgorders_new(const char *url, unsigned timeout_ms)
{
	char *copy;
	struct fs_pgorders *c = fs_pgconn_alloc(sizeof(*c), url, &copy);

	if (c == NULL)
		return NULL;
	c->url = copy;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : FS_PGORDERS_TIMEOUT_MS;
	return c;
}

static void fs_pgorders_disconnect(struct fs_pgorders *c)
{
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
}

void fs_pgorders_free(struct fs_pgorders *c)
{
	if (c != NULL)
		fs_pgconn_free(c, c->conn, c->url);
}

const char *fs_pgorders_error(const struct fs_pgorders *c)
{
	return c->err;
}

int fs_pgorders_fail(struct fs_pgorders *c, int rc, const char *what, const char *detail)
{
	fs_pgconn_error(c->err, sizeof(c->err), what, detail);
	return rc;
}

/* Connect unless connected, with the statement timeout set. @return 0 or -errno. */
static int fs_pgorders_connect(struct fs_pgorders *c)
{
	char sql[64];
	PGresult *res;
	int rc = 0;

	if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	fs_pgorders_disconnect(c);
	c->conn = fs_pgconn_open(c->url, "flashctl", (int)((c->timeout_ms + 999) / 1000));
	if (c->conn == NULL)
		return fs_pgorders_fail(c, -ENOMEM, "connect", "out of memory");
	if (PQstatus(c->conn) != CONNECTION_OK) {
		rc = fs_pgorders_fail(c, -ECONNREFUSED, "connect", PQerrorMessage(c->conn));
		fs_pgorders_disconnect(c);
		return rc;
	}
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u", c->timeout_ms);
	res = PQexec(c->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = fs_pgorders_fail(c, -EIO, "connect", fs_pgconn_message(c->conn, res));
		fs_pgorders_disconnect(c);
	}
	PQclear(res);
	return rc;
}

PGresult *fs_pgorders_exec(struct fs_pgorders *c, const char *what, const char *sql, int n,
	const char *const *params, ExecStatusType want, int *rc)
{
	PGresult *res;
	const char *state;

	c->err[0] = '\0';
	*rc = fs_pgorders_connect(c);
	if (*rc < 0)
		return NULL;
	res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == want)
		return res;
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* 57014 query_canceled: the statement_timeout fired */
	*rc = state != NULL && strcmp(state, "57014") == 0 ? -ETIMEDOUT : -EIO;
	fs_pgorders_fail(c, *rc, what, fs_pgconn_message(c->conn, res));
	PQclear(res);
	if (PQstatus(c->conn) != CONNECTION_OK)
		fs_pgorders_disconnect(c);
	return NULL;
}

/* Run @p sql expecting one row of one non-NULL column; its text into @p out (@p len bytes). */
static int fs_pgorders_value(struct fs_pgorders *c, const char *what, const char *sql, int n,
	const char *const *params, char *out, size_t len)
{
	PGresult *res;
	int rc;

	res = fs_pgorders_exec(c, what, sql, n, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0) ||
		(size_t)PQgetlength(res, 0, 0) >= len)
		rc = fs_pgorders_fail(c, -EPROTO, what, "unexpected reply");
	else
		snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------- orders */

/* pay or cancel: @p sql calls the SQL function with $1 sale, $2 order id; the answer parsed. */
static int fs_pgorders_settle(struct fs_pgorders *c, const char *what, const char *sql,
	uint32_t sale, uint64_t order_id, enum fs_pgorders_result *res)
{
	char s[16], o[24], ans[32];
	const char *params[2] = {s, o};
	int rc;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	snprintf(o, sizeof(o), "%" PRId64, (int64_t)order_id);
	rc = fs_pgorders_value(c, what, sql, 2, params, ans, sizeof(ans));
	if (rc == 0 && fs_pgorders_result_parse(ans, res) < 0)
		rc = fs_pgorders_fail(c, -EPROTO, what, "unknown answer");
	return rc;
}

int fs_pgorders_pay(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, enum fs_pgorders_result *res)
{
	return fs_pgorders_settle(
		c, "pay", "SELECT flashsale.pay($1::bigint, $2::bigint)", sale, order_id, res);
}

int fs_pgorders_cancel(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, enum fs_pgorders_result *res)
{
	return fs_pgorders_settle(c, "cancel", "SELECT flashsale.cancel($1::bigint, $2::bigint)",
		sale, order_id, res);
}

/* flashsale.order or order_by_user with key @p key (already text). */
static int fs_pgorders_lookup(struct fs_pgorders *c, const char *sql, uint32_t sale,
	const char *key, struct fs_pgorders_order *o)
{
	char s[16];
	const char *params[2] = {s, key};
	const char *f[8];
	PGresult *res;
	int i, rc;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	res = fs_pgorders_exec(c, "show", sql, 2, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) == 0) {
		rc = fs_pgorders_fail(c, -ENOENT, "show", "no such order");
	} else if (PQnfields(res) != 8) {
		rc = fs_pgorders_fail(c, -EPROTO, "show", "unexpected reply");
	} else {
		for (i = 0; i < 8; i++)
			f[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
		if (fs_pgorders_order_parse(f, o) < 0)
			rc = fs_pgorders_fail(c, -EPROTO, "show", "malformed order row");
	}
	PQclear(res);
	return rc;
}

int fs_pgorders_show(
	struct fs_pgorders *c, uint32_t sale, uint64_t order_id, struct fs_pgorders_order *o)
{
	char key[24];

	snprintf(key, sizeof(key), "%" PRId64, (int64_t)order_id);
	return fs_pgorders_lookup(c, fs_pgorders_show_sql, sale, key, o);
}

int fs_pgorders_show_user(
	struct fs_pgorders *c, uint32_t sale, uint64_t user_id, struct fs_pgorders_order *o)
{
	char key[24];

	snprintf(key, sizeof(key), "%" PRIu64, user_id);
	return fs_pgorders_lookup(c, fs_pgorders_show_user_sql, sale, key, o);
}

int fs_pgorders_expire_due(struct fs_pgorders *c, unsigned batch)
{
	char b[16], ans[16];
	const char *params[1] = {b};
	uint64_t n;
	int rc;

	if (batch == 0 || batch > INT32_MAX)
		return fs_pgorders_fail(c, -EINVAL, "expire", "batch must be 1..2147483647");
	snprintf(b, sizeof(b), "%u", batch);
	rc = fs_pgorders_value(
		c, "expire", "SELECT flashsale.expire_due($1::int)", 1, params, ans, sizeof(ans));
	if (rc < 0)
		return rc;
	if (fs_parse_u64(ans, 0, batch, &n) < 0)
		return fs_pgorders_fail(c, -EPROTO, "expire", "malformed count");
	return (int)n;
}

/* ---------------------------------------------------------------- stock returns */

/* Fill @p out from the rows of @p res (FS_PGORDERS_RETURN_COLS). @return rows, or -EPROTO. */
static int fs_pgorders_return_rows(
	struct fs_pgorders *c, const PGresult *res, struct fs_pgorders_return *out, unsigned max)
{
	int i, n = PQntuples(res);
	uint64_t sale, user, node;
	int64_t order;

	if (n > (int)max || (n > 0 && PQnfields(res) != 5))
		return fs_pgorders_fail(c, -EPROTO, "returns", "unexpected reply");
	for (i = 0; i < n; i++) {
		const char *reason = PQgetvalue(res, i, 4);

		if (fs_parse_u64(PQgetvalue(res, i, 0), 0, UINT32_MAX, &sale) < 0 ||
			fs_pgorders_i64(PQgetvalue(res, i, 1), &order) < 0 ||
			fs_parse_u64(PQgetvalue(res, i, 2), 0, UINT64_MAX, &user) < 0 ||
			fs_parse_u64(PQgetvalue(res, i, 3), 0, UINT16_MAX, &node) < 0 ||
			(strcmp(reason, "cancelled") != 0 && strcmp(reason, "expired") != 0))
			return fs_pgorders_fail(c, -EPROTO, "returns", "malformed row");
		out[i] = (struct fs_pgorders_return){.sale_id = (uint32_t)sale,
			.node_id = (uint16_t)node,
			.cancelled = reason[0] == 'c',
			.order_id = (uint64_t)order,
			.user_id = user};
	}
	return n;
}

/* Up to @p max rows of @p sql: $1 the limit, then the @p n texts of @p args ($2, $3, ...). */
static int fs_pgorders_returns(struct fs_pgorders *c, const char *sql, int n,
	const char *const *args, struct fs_pgorders_return *out, unsigned max)
{
	char lim[16];
	const char *params[4] = {lim};
	PGresult *res;
	int i, rc;

	if (max == 0 || max > INT32_MAX)
		return fs_pgorders_fail(c, -EINVAL, "returns", "max must be 1..2147483647");
	snprintf(lim, sizeof(lim), "%u", max);
	for (i = 0; i < n && i < 3; i++)
		params[1 + i] = args[i];
	res = fs_pgorders_exec(c, "returns", sql, 1 + i, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	rc = fs_pgorders_return_rows(c, res, out, max);
	PQclear(res);
	return rc;
}

int fs_pgorders_returns_unapplied(
	struct fs_pgorders *c, struct fs_pgorders_return *out, unsigned max)
{
	return fs_pgorders_returns(c, fs_pgorders_unapplied_sql, 0, NULL, out, max);
}

int fs_pgorders_returns_unreleased(
	struct fs_pgorders *c, uint16_t node_id, struct fs_pgorders_return *out, unsigned max)
{
	char node[8];
	const char *args[1] = {node};

	snprintf(node, sizeof(node), "%u", (unsigned)node_id);
	return fs_pgorders_returns(c, fs_pgorders_unreleased_sql, 1, args, out, max);
}

/* Up to @p max rows of one sale's @p sql: $2 the sale, $3 @p arg when not NULL. */
static int fs_pgorders_sale_rows(struct fs_pgorders *c, const char *sql, uint32_t sale,
	const char *arg, struct fs_pgorders_return *out, unsigned max)
{
	char s[16];
	const char *args[2] = {s, arg};

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	return fs_pgorders_returns(c, sql, arg != NULL ? 2 : 1, args, out, max);
}

int fs_pgorders_sale_unapplied(
	struct fs_pgorders *c, uint32_t sale, struct fs_pgorders_return *out, unsigned max)
{
	return fs_pgorders_sale_rows(c, fs_pgorders_sale_unapplied_sql, sale, NULL, out, max);
}

int fs_pgorders_sale_unreleased(struct fs_pgorders *c, uint32_t sale, uint16_t node_id,
	struct fs_pgorders_return *out, unsigned max)
{
	char node[8];

	snprintf(node, sizeof(node), "%u", (unsigned)node_id);
	return fs_pgorders_sale_rows(c, fs_pgorders_sale_unreleased_sql, sale, node, out, max);
}

int fs_pgorders_sale_applied(struct fs_pgorders *c, uint32_t sale, int64_t from,
	struct fs_pgorders_return *out, unsigned max)
{
	char f[24];

	snprintf(f, sizeof(f), "%" PRId64, from);
	return fs_pgorders_sale_rows(c, fs_pgorders_sale_applied_sql, sale, f, out, max);
}

int fs_pgorders_sale_returns(
	struct fs_pgorders *c, uint32_t sale, uint64_t *rows, uint64_t *applied)
{
	char s[16];
	const char *params[1] = {s};
	PGresult *res;
	int rc;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	res = fs_pgorders_exec(
		c, "returns", fs_pgorders_sale_returns_sql, 1, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) != 2 ||
		fs_parse_u64(PQgetvalue(res, 0, 0), 0, UINT64_MAX, rows) < 0 ||
		fs_parse_u64(PQgetvalue(res, 0, 1), 0, UINT64_MAX, applied) < 0)
		rc = fs_pgorders_fail(c, -EPROTO, "returns", "unexpected reply");
	PQclear(res);
	return rc;
}

/* Mark the keys of @p r with @p sql ($1 sales, $2 orders, $3 the node if not NULL). */
static int fs_pgorders_mark(struct fs_pgorders *c, const char *sql, const char *node,
	const struct fs_pgorders_return *r, unsigned n)
{
	size_t len = (size_t)n * FS_PGORDERS_KEY_TEXT + 3;
	const char *params[3];
	char *sales, *orders;
	PGresult *res = NULL;
	int rc;

	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return fs_pgorders_fail(c, -EINVAL, "mark", "too many rows");
	sales = malloc(len);
	orders = malloc(len);
	if (sales == NULL || orders == NULL) {
		rc = fs_pgorders_fail(c, -ENOMEM, "mark", "out of memory");
		goto out;
	}
	rc = fs_pgorders_keys(r, n, sales, orders, len);
	if (rc < 0)
		goto out;
	params[0] = sales;
	params[1] = orders;
	params[2] = node;
	res = fs_pgorders_exec(c, "mark", sql, node != NULL ? 3 : 2, params, PGRES_COMMAND_OK, &rc);
	if (res != NULL)
		rc = (int)strtol(PQcmdTuples(res), NULL, 10);
out:
	PQclear(res);
	free(sales);
	free(orders);
	return rc;
}

int fs_pgorders_returns_applied(
	struct fs_pgorders *c, const struct fs_pgorders_return *r, unsigned n)
{
	return fs_pgorders_mark(c, fs_pgorders_applied_sql, NULL, r, n);
}

int fs_pgorders_returns_released(
	struct fs_pgorders *c, uint16_t node_id, const struct fs_pgorders_return *r, unsigned n)
{
	char node[8];

	snprintf(node, sizeof(node), "%u", (unsigned)node_id);
	return fs_pgorders_mark(c, fs_pgorders_released_sql, node, r, n);
}

/* ---------------------------------------------------------------- per sale */

int fs_pgorders_hold_state(
	struct fs_pgorders *c, uint32_t sale, uint64_t sold, struct fs_pgorders_hold *h)
{
	char s[16];
	const char *params[1] = {s};
	PGresult *res;
	int64_t next = 0;
	uint64_t orders = 0;
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(s, sizeof(s), "%" PRIu32, sale);
	res = fs_pgorders_exec(
		c, "hold state", fs_pgorders_hold_sql, 1, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) != 3 ||
		(!PQgetisnull(res, 0, 0) && fs_pgorders_i64(PQgetvalue(res, 0, 0), &next) < 0) ||
		(!PQgetisnull(res, 0, 2) &&
			fs_parse_u64(PQgetvalue(res, 0, 2), 0, UINT64_MAX, &orders) < 0)) {
		rc = fs_pgorders_fail(c, -EPROTO, "hold state", "unexpected reply");
	} else {
		h->held = !PQgetisnull(res, 0, 0);
		h->next_ms = h->held ? next : 0;
		h->unapplied = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		h->orders = orders;
		h->open = h->held || h->unapplied || orders < sold;
	}
	PQclear(res);
	return rc;
}

int fs_pgorders_counts(struct fs_pgorders *c, uint32_t sale, struct fs_pgorders_counts *k)
{
	uint64_t *dst[9] = {&k->orders, &k->by_status[FS_PGORDERS_ST_HELD],
		&k->by_status[FS_PGORDERS_ST_PAID], &k->by_status[FS_PGORDERS_ST_CANCELLED],
		&k->by_status[FS_PGORDERS_ST_EXPIRED], &k->by_status[FS_PGORDERS_ST_SOLD],
		&k->returned, &k->applied, &k->released};
	char s[16];
	const char *params[1] = {s};
	PGresult *res;
	int i, rc;

	memset(k, 0, sizeof(*k));
	snprintf(s, sizeof(s), "%" PRIu32, sale);
	res = fs_pgorders_exec(
		c, "counts", fs_pgorders_counts_sql, 1, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) != 9)
		rc = fs_pgorders_fail(c, -EPROTO, "counts", "unexpected reply");
	for (i = 0; rc == 0 && i < 9; i++)
		if (fs_parse_u64(PQgetvalue(res, 0, i), 0, UINT64_MAX, dst[i]) < 0)
			rc = fs_pgorders_fail(c, -EPROTO, "counts", "malformed count");
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------- clock, notifications */

int fs_pgorders_now_us(struct fs_pgorders *c, int64_t *us)
{
	char ans[32];
	int rc;

	rc = fs_pgorders_value(c, "clock",
		"SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint", 0, NULL, ans,
		sizeof(ans));
	if (rc == 0 && fs_pgorders_i64(ans, us) < 0)
		rc = fs_pgorders_fail(c, -EPROTO, "clock", "malformed time");
	return rc;
}

int fs_pgorders_listen(struct fs_pgorders *c, const char *channel)
{
	char sql[96];
	PGresult *res;
	size_t i, n = strlen(channel);
	int rc;

	if (n == 0 || n > 63)
		return fs_pgorders_fail(c, -EINVAL, "listen", "channel name of 1..63 characters");
	for (i = 0; i < n; i++) {
		char ch = channel[i];

		if (!(ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9')))
			return fs_pgorders_fail(c, -EINVAL, "listen", "channel: [A-Za-z0-9_] only");
	}
	/* quoted: LISTEN takes an identifier, not a parameter */
	snprintf(sql, sizeof(sql), "LISTEN \"%s\"", channel);
	res = fs_pgorders_exec(c, "listen", sql, 0, NULL, PGRES_COMMAND_OK, &rc);
	PQclear(res);
	return rc;
}

/* The next notification already received, if any, copied out. @return 1 or 0. */
static int fs_pgorders_take(
	struct fs_pgorders *c, char *channel, size_t clen, char *payload, size_t plen)
{
	PGnotify *nt = PQnotifies(c->conn);

	if (nt == NULL)
		return 0;
	snprintf(channel, clen, "%s", nt->relname);
	snprintf(payload, plen, "%s", nt->extra);
	PQfreemem(nt);
	return 1;
}

int fs_pgorders_notification(struct fs_pgorders *c, int timeout_ms, char *channel, size_t clen,
	char *payload, size_t plen)
{
	struct pollfd pfd;
	int n;

	c->err[0] = '\0';
	if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK)
		return fs_pgorders_fail(c, -EIO, "notification", "not connected (LISTEN first)");
	if (fs_pgorders_take(c, channel, clen, payload, plen))
		return 1;
	pfd = (struct pollfd){.fd = PQsocket(c->conn), .events = POLLIN};
	n = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 0);
	if (n < 0 && errno != EINTR)
		return fs_pgorders_fail(c, -errno, "notification", strerror(errno));
	if (n > 0 && !PQconsumeInput(c->conn)) {
		n = fs_pgorders_fail(c, -EIO, "notification", PQerrorMessage(c->conn));
		fs_pgorders_disconnect(c);
		return n;
	}
	return fs_pgorders_take(c, channel, clen, payload, plen);
}
