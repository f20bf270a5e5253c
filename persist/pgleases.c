/* The nodes' leases of each sale in PostgreSQL: node_leases and forgotten_nodes (pgleases.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "pgleases.h"
#include "pgorders_int.h"

int fs_pgleases_note(
	struct fs_pgorders *c, uint32_t sale, uint16_t node, uint64_t leased, uint64_t sold)
{
	char s[16], n[8], l[24], d[24];
	const char *params[4] = {s, n, l, d};
	PGresult *res;
	int rc;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	snprintf(n, sizeof(n), "%u", node);
	snprintf(l, sizeof(l), "%" PRIu64, leased);
	snprintf(d, sizeof(d), "%" PRIu64, sold);
	/* the row of a forgotten node is not touched: no row comes back */
	res = fs_pgorders_exec(c, "node lease",
		"INSERT INTO node_leases AS l (sale_id, node_id, leased, sold) "
		"SELECT $1, $2, $3, $4 WHERE NOT EXISTS "
		"(SELECT 1 FROM forgotten_nodes WHERE node_id = $2) "
		"ON CONFLICT (sale_id, node_id) DO UPDATE SET leased = EXCLUDED.leased, "
		"sold = GREATEST(l.sold, EXCLUDED.sold), reported_at = now() "
		"WHERE l.forgotten_at IS NULL RETURNING 1",
		4, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	rc = PQntuples(res) == 1 ? 0 : fs_pgorders_fail(c, -EPERM, "node lease", "node forgotten");
	PQclear(res);
	return rc;
}

/* Rows (sale, node, leased, sold, forgotten) of @p res into @p out. @return the count or -EPROTO.
 */
static int rows_of(struct fs_pgorders *c, PGresult *res, struct fs_pgleases_row *out, int max)
{
	int n = PQntuples(res);
	uint64_t v[4];

	if (PQnfields(res) != 5)
		return fs_pgorders_fail(c, -EPROTO, "node leases", "unexpected reply");
	for (int i = 0; i < n && i < max; i++) {
		for (int j = 0; j < 4; j++)
			if (fs_parse_u64(PQgetvalue(res, i, j), 0, UINT64_MAX, &v[j]) < 0)
				return fs_pgorders_fail(c, -EPROTO, "node leases", "malformed row");
		if (v[0] > UINT32_MAX || v[1] > UINT16_MAX)
			return fs_pgorders_fail(c, -EPROTO, "node leases", "id out of range");
		out[i] = (struct fs_pgleases_row){.sale_id = (uint32_t)v[0],
			.node_id = (uint16_t)v[1],
			.leased = v[2],
			.sold = v[3],
			.forgotten = strcmp(PQgetvalue(res, i, 4), "t") == 0};
	}
	return n;
}

/* Run @p sql (@p n parameters), its rows into @p out. @return the row count or -errno. */
static int rows_query(struct fs_pgorders *c, const char *what, const char *sql, int n,
	const char *const *params, struct fs_pgleases_row *out, int max)
{
	PGresult *res;
	int rc;

	res = fs_pgorders_exec(c, what, sql, n, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	rc = rows_of(c, res, out, max);
	PQclear(res);
	return rc;
}

int fs_pgleases_sale(struct fs_pgorders *c, uint32_t sale, struct fs_pgleases_row *out, int max)
{
	char s[16];
	const char *params[1] = {s};

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	return rows_query(c, "node leases",
		"SELECT sale_id, node_id, leased, sold, forgotten_at IS NOT NULL FROM node_leases "
		"WHERE sale_id = $1 ORDER BY node_id",
		1, params, out, max);
}

const char fs_pgleases_nodes_sql[] =
	"SELECT coalesce(l.node_id, o.node_id), l.node_id IS NOT NULL, coalesce(l.leased, 0), "
	"coalesce(l.sold, 0), coalesce(o.n, 0), coalesce(o.foreign_ids, 0), "
	"coalesce((extract(epoch FROM l.reported_at) * 1000)::bigint, 0), "
	"l.forgotten_at IS NOT NULL "
	"FROM (SELECT * FROM node_leases WHERE sale_id = $1) l FULL JOIN "
	"(SELECT node_id, count(*) AS n, "
	"count(*) FILTER (WHERE ((order_id >> 48) & 65535) <> node_id AND "
	"((order_id >> 48) & 65535) IN (SELECT node_id FROM orders WHERE sale_id = $1 UNION "
	"SELECT node_id FROM node_leases WHERE sale_id = $1)) AS foreign_ids "
	"FROM orders WHERE sale_id = $1 GROUP BY node_id) o ON o.node_id = l.node_id ORDER BY 1";

int fs_pgleases_node_parse(const struct pg_result *res, int row, struct fs_pgleases_node *out)
{
	const PGresult *r = res;
	uint64_t v[5], id;
	int64_t ms;

	if (PQnfields(r) != 8 || fs_parse_u64(PQgetvalue(r, row, 0), 0, UINT16_MAX, &id) < 0 ||
		fs_parse_i64(PQgetvalue(r, row, 6), 0, INT64_MAX, &ms) < 0)
		return -EPROTO;
	for (int j = 0; j < 4; j++)
		if (fs_parse_u64(PQgetvalue(r, row, 2 + j), 0, UINT64_MAX, &v[j]) < 0)
			return -EPROTO;
	*out = (struct fs_pgleases_node){.node_id = (uint16_t)id,
		.has_row = strcmp(PQgetvalue(r, row, 1), "t") == 0,
		.leased = v[0],
		.sold = v[1],
		.orders = v[2],
		.foreign_ids = v[3],
		.reported_ms = ms,
		.forgotten = strcmp(PQgetvalue(r, row, 7), "t") == 0};
	return 0;
}

int fs_pgleases_nodes(struct fs_pgorders *c, uint32_t sale, struct fs_pgleases_node *out, int max)
{
	char s[16];
	const char *params[1] = {s};
	PGresult *res;
	int rc, n;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	res = fs_pgorders_exec(
		c, "node totals", fs_pgleases_nodes_sql, 1, params, PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	n = PQntuples(res);
	for (int i = 0; i < n && i < max; i++)
		if (fs_pgleases_node_parse(res, i, &out[i]) < 0) {
			PQclear(res);
			return fs_pgorders_fail(c, -EPROTO, "node totals", "malformed row");
		}
	PQclear(res);
	return n;
}

int fs_pgleases_forget(struct fs_pgorders *c, uint16_t node, struct fs_pgleases_row *out, int max)
{
	char n[8];
	const char *params[1] = {n};

	snprintf(n, sizeof(n), "%u", node);
	/* the CTE's update is not visible to the statement's own SELECT: rows forgotten now come
	 * from its RETURNING, rows forgotten earlier from the table */
	return rows_query(c, "node forget",
		"WITH f AS (INSERT INTO forgotten_nodes (node_id) VALUES ($1) ON CONFLICT DO "
		"NOTHING), "
		"u AS (UPDATE node_leases l SET forgotten_at = now(), sold = GREATEST(l.sold, "
		"(SELECT count(*) FROM orders o WHERE o.sale_id = l.sale_id AND o.node_id = "
		"l.node_id)) "
		"WHERE l.node_id = $1 AND l.forgotten_at IS NULL "
		"RETURNING l.sale_id, l.node_id, l.leased, l.sold) "
		"SELECT sale_id, node_id, leased, sold, true FROM u UNION ALL "
		"SELECT sale_id, node_id, leased, sold, true FROM node_leases "
		"WHERE node_id = $1 AND forgotten_at IS NOT NULL ORDER BY 1",
		1, params, out, max);
}

int fs_pgleases_final(struct fs_pgorders *c, uint32_t sale, uint16_t node, uint64_t sold)
{
	char s[16], n[8], d[24];
	const char *params[3] = {s, n, d};
	PGresult *res;
	int rc;

	snprintf(s, sizeof(s), "%" PRIu32, sale);
	snprintf(n, sizeof(n), "%u", node);
	snprintf(d, sizeof(d), "%" PRIu64, sold);
	res = fs_pgorders_exec(c, "node final",
		"UPDATE node_leases SET sold = GREATEST(sold, $3) WHERE sale_id = $1 AND node_id = "
		"$2",
		3, params, PGRES_COMMAND_OK, &rc);
	PQclear(res);
	return res == NULL ? rc : 0;
}

int fs_pgleases_forgotten(struct fs_pgorders *c, uint16_t node)
{
	char n[8];
	const char *params[1] = {n};
	PGresult *res;
	int rc;

	snprintf(n, sizeof(n), "%u", node);
	res = fs_pgorders_exec(c, "forgotten",
		"SELECT count(*) FROM forgotten_nodes WHERE node_id = $1", 1, params,
		PGRES_TUPLES_OK, &rc);
	if (res == NULL)
		return rc;
	rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0 ? 1 : 0;
	PQclear(res);
	return rc;
}
