/*
 * flashctl sale status: each node's part in the sale, as Redis (lease keys, node_sold, the node
 * registry) and PostgreSQL (node_leases, orders) hold it (flashctl.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flashctl.h"
#include "nodes.h"
#include "pgleases.h"

/* Nodes of one sale read from node_leases and orders at most (node ids are 16 bits). */
#define PG_NODES_MAX 4096

/* Node @p node's entry of the registry @p reg (sorted by id), or NULL. */
static const struct fs_node_info *registry_of(
	const struct fs_node_info *reg, size_t n, unsigned node)
{
	for (size_t i = 0; i < n; i++)
		if (reg[i].node == node)
			return &reg[i];
	return NULL;
}

/* One node's line: its lease key, sold count, unsold units and its daemon's last report. */
static void node_line(
	const struct fs_node_sale *v, const struct fs_node_info *reg, struct fs_out *out)
{
	const char *rep = reg != NULL ? strstr(reg->info, "report_ms=") : NULL;
	int64_t report_ms = rep != NULL ? strtoll(rep + strlen("report_ms="), NULL, 10) : 0;
	int64_t sold = v->sold < 0 ? 0 : v->sold;
	struct fs_out_rec rec;

	fs_out_rec_init(&rec, out);
	fs_out_rec_i64(&rec, "node", v->node);
	fs_out_rec_i64(&rec, "leased", v->leased);
	fs_out_rec_i64(&rec, "sold", sold);
	fs_out_rec_i64(&rec, "unsold", v->leased < 0 ? -1 : v->leased - sold);
	fs_out_rec_time(&rec, "report_ms", "report", report_ms, 1000, true);
	fs_out_rec_bool(&rec, "alive", reg != NULL && reg->alive_pttl >= 0);
	fs_out_rec_bool(&rec, "forgotten", v->forgotten);
	fs_out_rec_end(out, "nodes", &rec);
}

int fs_ctl_sale_nodes(struct fs_redis *r, uint32_t sale, struct fs_out *out)
{
	struct fs_node_info *reg = NULL;
	struct fs_node_sale *v = NULL;
	size_t n = 0, nreg = 0;
	int rc;

	rc = fs_nodes_sale_all(r, sale, &v, &n);
	if (rc < 0)
		return rc;
	/* a Redis user without the registry's keys (an ACL) still sees the sale's figures */
	rc = fs_nodes_list(r, &reg, &nreg);
	if (rc == -EREMOTEIO)
		rc = 0;
	if (rc == 0) {
		fs_out_list(out, "nodes");
		for (size_t i = 0; i < n; i++)
			node_line(&v[i], registry_of(reg, nreg, v[i].node), out);
	}
	free(reg);
	free(v);
	return rc;
}

int fs_ctl_sale_pg_nodes(struct fs_pgorders *c, uint32_t sale, struct fs_out *out)
{
	struct fs_pgleases_node *v = calloc(PG_NODES_MAX, sizeof(*v));
	struct fs_out_rec rec;
	int n;

	if (v == NULL)
		return -ENOMEM;
	n = fs_pgleases_nodes(c, sale, v, PG_NODES_MAX);
	fs_out_list(out, "pg_nodes");
	for (int i = 0; i < n && i < PG_NODES_MAX; i++) {
		fs_out_rec_init(&rec, out);
		fs_out_rec_i64(&rec, "pg_node", v[i].node_id);
		fs_out_rec_i64(&rec, "pg_leased", (int64_t)v[i].leased);
		fs_out_rec_i64(&rec, "pg_sold", (int64_t)v[i].sold);
		fs_out_rec_i64(&rec, "pg_orders", (int64_t)v[i].orders);
		fs_out_rec_time(
			&rec, "pg_reported_ms", "pg_reported", v[i].reported_ms, 1000, true);
		fs_out_rec_bool(&rec, "pg_forgotten", v[i].forgotten);
		fs_out_rec_end(out, "pg_nodes", &rec);
	}
	free(v);
	return n < 0 ? n : 0;
}
