/* The metrics' PostgreSQL side: persist's checkpoints of one dataplane, read on each scrape. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "pgmetrics.h"

static const char ckpt_sql[] =
	"SELECT journal, seq, (extract(epoch FROM updated_at) * 1000)::bigint "
	"FROM persist_checkpoints WHERE node_id = $1::int AND instance = $2::bigint "
	"ORDER BY journal";

/* Rows of @p res into @p out (at most @p max). */
static int ckpt_rows(PGresult *res, struct fs_pgmetrics_ckpt *out, size_t max)
{
	int i, n = 0;

	for (i = 0; i < PQntuples(res) && (size_t)n < max; i++) {
		long long j = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		long long s = strtoll(PQgetvalue(res, i, 1), NULL, 10);

		if (j < 0 || j > 255 || s < 0)
			continue; /* not a journal of ours */
		out[n].journal = (unsigned)j;
		out[n].seq = (uint64_t)s;
		out[n].updated_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		n++;
	}
	return n;
}

int fs_pgmetrics_checkpoints(const char *url, int timeout_s, unsigned node_id, uint64_t instance,
	struct fs_pgmetrics_ckpt *out, size_t max, char *err, size_t errlen)
{
	char node[16], inst[24];
	const char *params[2] = {node, inst};
	PGconn *c = fs_pgconn_open(url, "flashctl metrics", timeout_s);
	PGresult *res;
	int rc;

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		fs_pgconn_error(err, errlen, "postgresql", c != NULL ? PQerrorMessage(c) : NULL);
		PQfinish(c);
		return -ECONNREFUSED;
	}
	snprintf(node, sizeof(node), "%u", node_id);
	/* the u64 as the bigint of the same bits, as persist writes it */
	snprintf(inst, sizeof(inst), "%" PRId64, (int64_t)instance);
	res = PQexecParams(c, ckpt_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		rc = ckpt_rows(res, out, max);
	} else if (strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "", "42P01") == 0) {
		rc = 0; /* undefined_table: persist has not run against this database yet */
	} else {
		fs_pgconn_error(err, errlen, "checkpoints", fs_pgconn_message(c, res));
		rc = -EIO;
	}
	PQclear(res);
	PQfinish(c);
	return rc;
}
