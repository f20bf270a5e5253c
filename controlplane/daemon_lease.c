/* flashctl daemon: the node's leases in PostgreSQL's node_leases (daemon_int.h, --pg only). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "daemon_int.h"
#include "monotonic.h"
#include "pgleases.h"

/* Nodes of one sale read from node_leases at most (node ids are 16 bits; 4096 is plenty). */
#define LESSEES_MAX 4096

/* Write this node's row of sale @p m; true when written. */
static bool note(struct daemon *d, struct sale_mem *m, uint64_t leased, uint64_t sold)
{
	int rc = fs_pgleases_note(d->pg, m->sale_id, (uint16_t)d->conf->node_id, leased, sold);

	if (rc == -EPERM) {
		fs_daemon_sale_err(
			m, "node_leases", "this node was forgotten (flashctl node forget)");
		return false;
	}
	if (rc < 0) {
		fs_daemon_pg_failed(d);
		return false;
	}
	fs_daemon_pg_answered(d);
	m->pg_noted = true;
	m->pg_leased = leased;
	m->pg_sold = sold;
	m->pg_note_ms = fs_monotonic_ms();
	return true;
}

bool fs_daemon_lease_noted(struct daemon *d, struct sale_mem *m)
{
	if (d->conf->pg_url == NULL || m->pg_noted)
		return true;
	if (!fs_daemon_pg_ready(d))
		return false;
	return note(d, m, m->leased, m->dp_sold);
}

void fs_daemon_lease_note(struct daemon *d, struct sale_mem *m, uint64_t leased, uint64_t sold)
{
	if (d->conf->pg_url == NULL || !m->pg_noted ||
		(leased == m->pg_leased && sold == m->pg_sold) ||
		fs_monotonic_ms() - m->pg_note_ms < FS_DAEMON_LEASE_NOTE_MS ||
		!fs_daemon_pg_ready(d))
		return;
	note(d, m, leased, sold);
}

int fs_daemon_lessees(struct daemon *d, uint32_t sale, struct fs_redis_lessee **out, size_t *n)
{
	struct fs_pgleases_row *rows;
	int got;

	*out = NULL;
	*n = 0;
	if (d->conf->pg_url == NULL)
		return 0;
	if (!fs_daemon_pg_ready(d))
		return -EAGAIN;
	rows = calloc(LESSEES_MAX, sizeof(*rows));
	*out = calloc(LESSEES_MAX, sizeof(**out));
	if (rows == NULL || *out == NULL) {
		free(rows);
		free(*out);
		*out = NULL;
		return -EAGAIN;
	}
	got = fs_pgleases_sale(d->pg, sale, rows, LESSEES_MAX);
	if (got < 0)
		fs_daemon_pg_failed(d);
	else
		fs_daemon_pg_answered(d);
	for (int i = 0; i < got && i < LESSEES_MAX; i++) {
		if (rows[i].node_id == d->conf->node_id)
			continue; /* this node reports its dataplane's own totals */
		(*out)[(*n)++] = (struct fs_redis_lessee){.node = rows[i].node_id,
			.forgotten = rows[i].forgotten,
			.sold = rows[i].sold};
	}
	free(rows);
	return got < 0 ? -EAGAIN : 0;
}
