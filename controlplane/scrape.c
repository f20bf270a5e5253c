/* One read of a node: the dataplane over its telemetry socket, persist's checkpoints. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "monotonic.h"
#include "parse.h"
#include "scrape.h"

void fs_scrape_src_init(struct fs_scrape_src *x, const char *dp_socket, const char *pg_url,
	unsigned node_id, int timeout_ms)
{
	memset(x, 0, sizeof(*x));
	x->dp_socket = dp_socket;
	x->pg_url = pg_url;
	x->node_id = node_id;
	x->timeout_ms = timeout_ms;
	fs_dpctl_init(&x->dp);
}

void fs_scrape_src_close(struct fs_scrape_src *x)
{
	fs_dpctl_close(&x->dp);
}

/* One command's reply, or NULL (after a socket error the connection is closed: next time anew). */
static struct json_object *dp_get(struct fs_scrape_src *x, const char *cmd)
{
	struct json_object *o = NULL;

	if (x->dp.fd < 0 && fs_dpctl_connect(&x->dp, x->dp_socket, x->timeout_ms) < 0)
		return NULL;
	if (fs_dpctl_cmd(&x->dp, cmd, &o) < 0)
		return NULL;
	return o;
}

/* The status dict of sale @p id appended to @p out (a sale deleted meanwhile is left out). */
static void read_sale(struct fs_scrape_src *x, int64_t id, struct json_object **out, size_t *n)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "/flashsale/sale/status,%" PRId64, id);
	if ((out[*n] = dp_get(x, cmd)) != NULL)
		(*n)++;
}

/* The status dicts of every live sale, or of @p only alone, into a new array (*n of them). */
static struct json_object **read_sales(struct fs_scrape_src *x, uint32_t only, size_t *n)
{
	struct json_object *list = NULL, *ids, **out = NULL;
	size_t i, len;

	*n = 0;
	if (only != 0) {
		out = calloc(1, sizeof(*out));
		if (out != NULL)
			read_sale(x, only, out, n);
		return out;
	}
	list = dp_get(x, "/flashsale/sale/list");
	if (list == NULL || !json_object_object_get_ex(list, "sales", &ids) ||
		!json_object_is_type(ids, json_type_array))
		goto done;
	len = json_object_array_length(ids);
	out = calloc(len + 1, sizeof(*out));
	for (i = 0; out != NULL && i < len; i++)
		read_sale(x, json_object_get_int64(json_object_array_get_idx(ids, i)), out, n);
done:
	json_object_put(list);
	return out;
}

/* With --journal-sync fsync: /flashsale/journal/syncs of every worker journal /flashsale/journals
 * named into s->syncs (n_syncs). */
static void read_syncs(struct fs_scrape_src *x, struct fs_metrics_scrape *s)
{
	uint64_t fsync = 0, j;
	char cmd[64];
	size_t n = 0;

	if (!x->syncs || s->journals == NULL ||
		fs_metrics_json_u64(s->journals, "fsync", &fsync) != 0 ||
		fsync == 0)
		return;
	s->syncs = calloc((size_t)json_object_object_length(s->journals), sizeof(*s->syncs));
	if (s->syncs == NULL)
		return;
	json_object_object_foreach(s->journals, k, o)
	{
		(void)k;
		if (!json_object_is_type(o, json_type_object) ||
			fs_metrics_json_u64(o, "journal", &j) != 0 || j >= FS_JOURNAL_CONTROL)
			continue; /* the control journal is synced by its writer, not the group */
		snprintf(cmd, sizeof(cmd), "/flashsale/journal/syncs,%" PRIu64, j);
		if ((s->syncs[n] = dp_get(x, cmd)) != NULL)
			n++;
	}
	s->n_syncs = n;
}

/* Persist's checkpoints of the dataplane's instance into x->ckpt; sets pg_ok and n_ckpt. */
static void read_checkpoints(struct fs_scrape_src *x, struct fs_metrics_scrape *s)
{
	struct json_object *m;
	uint8_t raw[8];
	uint64_t inst = 0;
	char err[256];
	int n;

	s->pg_given = x->pg_url != NULL;
	if (x->pg_url == NULL || s->journals == NULL ||
		!json_object_object_get_ex(s->journals, "instance", &m) ||
		fs_parse_hex(json_object_get_string(m), raw, sizeof(raw)) != 0)
		return;
	for (unsigned i = 0; i < sizeof(raw); i++) /* 16 hex digits, most significant first */
		inst = inst << 8 | raw[i];
	n = fs_pgmetrics_checkpoints(x->pg_url, (x->timeout_ms + 999) / 1000, s->node_id, inst,
		x->ckpt, FS_SCRAPE_MAX_CKPT, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "flashctl: %s\n", err);
		return;
	}
	s->pg_ok = true;
	s->ckpt = x->ckpt;
	s->n_ckpt = (size_t)n;
}

int fs_scrape_read(struct fs_scrape_src *x, uint32_t only_sale, struct fs_metrics_scrape *s)
{
	int64_t t0 = fs_monotonic_ms();
	uint64_t node;

	memset(s, 0, sizeof(*s));
	s->node_id = x->node_id;
	s->stats = dp_get(x, "/flashsale/stats");
	if (s->stats != NULL) {
		if (fs_metrics_json_u64(s->stats, "node_id", &node) == 0)
			s->node_id = (unsigned)node;
		s->sales = read_sales(x, only_sale, &s->n_sales);
		s->journals = dp_get(x, "/flashsale/journals");
		read_syncs(x, s);
	}
	read_checkpoints(x, s);
	s->scrape_ms = fs_monotonic_ms() - t0;
	return s->stats != NULL ? 0 : -EREMOTEIO;
}

void fs_scrape_release(struct fs_metrics_scrape *s)
{
	for (size_t i = 0; i < s->n_sales; i++)
		json_object_put(s->sales[i]);
	free(s->sales);
	for (size_t i = 0; i < s->n_syncs; i++)
		json_object_put(s->syncs[i]);
	free(s->syncs);
	json_object_put(s->journals);
	json_object_put(s->stats);
	memset(s, 0, sizeof(*s));
}
