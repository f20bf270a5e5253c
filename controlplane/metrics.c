/* flashsale's metrics of a node: the dataplane's and persist's figures as flashsale_* families. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "fcp.h"
#include "metrics.h"

/* How a telemetry value becomes a sample: as it is, or milliseconds as seconds. */
enum conv { AS_IS, MS_AS_S };

/* A family read from one key of a telemetry dict. */
struct fam {
	const char *key;  /* the telemetry key */
	const char *name; /* the metric */
	const char *type; /* "counter" or "gauge" */
	const char *help;
	enum conv conv;
};

/* /flashsale/stats: counters.h's node-wide counters (but the statuses and drops: labelled). */
static const struct fam node_fams[] = {
	{"rx_pkts", "flashsale_received_packets_total", "counter",
		"Frames the workers received (every port).", AS_IS},
	{"tx_pkts", "flashsale_sent_packets_total", "counter", "Frames the workers sent.", AS_IS},
	{"tx_dropped", "flashsale_tx_dropped_packets_total", "counter",
		"Replies not sent (TX refused them, or a failed journal sync), freed.", AS_IS},
	{"arp_replies", "flashsale_arp_replies_total", "counter", "ARP replies sent.", AS_IS},
	{"icmp_replies", "flashsale_icmp_replies_total", "counter", "ICMP echo replies sent.",
		AS_IS},
	{"claims", "flashsale_claims_total", "counter",
		"CLAIM requests answered, every sale (unknown ones too).", AS_IS},
	{"status_requests", "flashsale_status_requests_total", "counter",
		"SALE_STATUS requests answered, every sale.", AS_IS},
	{"journal_errors", "flashsale_journal_errors_total", "counter",
		"WONs refused (answered RETRY) because the journal could not record.", AS_IS},
	{"winners_full", "flashsale_winners_full_total", "counter",
		"WONs refused (answered RETRY) because a winner table was full.", AS_IS},
	{"busy_cycles", "flashsale_busy_cycles_total", "counter",
		"TSC cycles from a non-empty RX burst's return to its TX burst's return, all "
		"workers.",
		AS_IS},
	{"uptime_ms", "flashsale_uptime_seconds", "gauge", "Time since the dataplane started.",
		MS_AS_S},
	{"workers", "flashsale_workers", "gauge", "Worker lcores.", AS_IS},
	{"sales", "flashsale_sales", "gauge", "Live sales on the node.", AS_IS},
	{"mbuf_in_use", "flashsale_mbufs_in_use", "gauge",
		"mbufs out of the ports' pools (lcore caches count as free).", AS_IS},
};

/* /flashsale/sale/status: one sample per sale. */
static const struct fam sale_fams[] = {
	{"total", "flashsale_sale_stock_units", "gauge", "The sale's whole stock (all nodes).",
		AS_IS},
	{"leased", "flashsale_sale_leased_units", "gauge", "Units leased to this node.", AS_IS},
	{"sold", "flashsale_sale_sold_units", "gauge", "Units this node sold (WONs recorded).",
		AS_IS},
	{"remaining", "flashsale_sale_remaining_units", "gauge",
		"Units leased to this node and not sold.", AS_IS},
	{"sold_out", "flashsale_sale_sold_out", "gauge", "1 once the sale is sold out here.",
		AS_IS},
	{"winners_used", "flashsale_sale_winner_slots_used", "gauge",
		"Winner-table slots taken (winners, pending and released).", AS_IS},
	{"released", "flashsale_sale_released_orders", "gauge",
		"Orders released here (a sale with holds).", AS_IS},
	{"start_ms", "flashsale_sale_start_timestamp_seconds", "gauge", "When the sale opens.",
		MS_AS_S},
	{"end_ms", "flashsale_sale_end_timestamp_seconds", "gauge", "When the sale ends.", MS_AS_S},
	{"hold_ms", "flashsale_sale_hold_seconds", "gauge",
		"How long a won order is held for its payment (0: no holds).", MS_AS_S},
	{"claims", "flashsale_sale_claims_total", "counter",
		"CLAIM requests of the sale answered (since the dataplane started).", AS_IS},
	{"status_requests", "flashsale_sale_status_requests_total", "counter",
		"SALE_STATUS requests of the sale answered (since the dataplane started).", AS_IS},
};

/* The statuses a CLAIM can get for a known sale (claim.c; not UNKNOWN_SALE, not ACTIVE). */
#define CLAIM_STATUSES                                                                             \
	((1u << FS_ST_WON) | (1u << FS_ST_ALREADY_WON) | (1u << FS_ST_SOLD_OUT) |                  \
		(1u << FS_ST_NOT_STARTED) | (1u << FS_ST_ENDED) | (1u << FS_ST_BAD_TOKEN) |        \
		(1u << FS_ST_RATE_LIMITED) | (1u << FS_ST_RETRY) | (1u << FS_ST_RELEASED))
/* ... and a SALE_STATUS request (claim_status, claim_limit). */
#define STATUS_STATUSES                                                                            \
	((1u << FS_ST_NOT_STARTED) | (1u << FS_ST_ACTIVE) | (1u << FS_ST_SOLD_OUT) |               \
		(1u << FS_ST_ENDED) | (1u << FS_ST_RATE_LIMITED))

/* The states of sale.h (fs_sale_state_name), one 0/1 sample each. */
static const char *const sale_states[] = {"pending", "active", "sold_out", "ended", "stopped"};

int fs_metrics_json_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *m;

	if (o == NULL || !json_object_object_get_ex(o, key, &m) ||
		!json_object_is_type(m, json_type_int))
		return -ENOENT;
	if (json_object_get_int64(m) < 0 && json_object_get_uint64(m) <= INT64_MAX)
		return -ENOENT;
	*v = json_object_get_uint64(m);
	return 0;
}

/* A sample of family @p f from @p o's key, if there; 1 if written. */
static int fam_sample(
	struct fs_expo *e, const struct fam *f, struct json_object *o, const char *const *labels)
{
	char val[FS_EXPO_VALUE_LEN];
	uint64_t v;

	if (fs_metrics_json_u64(o, f->key, &v) != 0)
		return 0;
	fs_expo_sample(e, f->name, labels,
		f->conv == MS_AS_S ? fs_expo_ms(val, (int64_t)v) : fs_expo_u64(val, v));
	return 1;
}

static void write_up(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	const char *lab[] = {"node", node, NULL};
	char val[FS_EXPO_VALUE_LEN];

	fs_expo_family(e, "flashsale_up", "gauge",
		"1 if the dataplane answered this scrape over its telemetry socket.");
	fs_expo_sample(e, "flashsale_up", lab, s->stats != NULL ? "1" : "0");
	fs_expo_family(e, "flashsale_scrape_duration_seconds", "gauge",
		"How long this scrape took to read the dataplane (and PostgreSQL).");
	fs_expo_sample(e, "flashsale_scrape_duration_seconds", lab, fs_expo_ms(val, s->scrape_ms));
}

/* The node's replies by status and drops by reason (labelled families of /flashsale/stats). */
static void write_node_labelled(struct fs_expo *e, struct json_object *st, const char *node)
{
	char val[FS_EXPO_VALUE_LEN];
	uint64_t v;

	fs_expo_family(e, "flashsale_replies_total", "counter",
		"Replies sent by status, every sale and request type.");
	for (unsigned i = 0; i < FS_ST__COUNT; i++) {
		const char *lab[] = {"node", node, "status", fs_fcp_status_name(i), NULL};

		if (fs_metrics_json_u64(st, fs_counter_name(FS_CNT_ST_WON + i), &v) == 0)
			fs_expo_sample(e, "flashsale_replies_total", lab, fs_expo_u64(val, v));
	}
	fs_expo_family(e, "flashsale_dropped_packets_total", "counter",
		"Frames dropped without a reply, by reason (PROTOCOL.md: what gets no reply).");
	for (unsigned d = FS_DROP_NONE + 1; d < FS_DROP__COUNT; d++) {
		const char *name = fs_drop_name((enum fs_drop)d);
		const char *lab[] = {"node", node, "reason", name + strlen("drop_"), NULL};

		if (fs_metrics_json_u64(st, name, &v) == 0)
			fs_expo_sample(
				e, "flashsale_dropped_packets_total", lab, fs_expo_u64(val, v));
	}
}

static void write_node(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	const char *lab[] = {"node", node, NULL};

	if (s->stats == NULL)
		return;
	for (size_t i = 0; i < sizeof(node_fams) / sizeof(node_fams[0]); i++) {
		fs_expo_family(e, node_fams[i].name, node_fams[i].type, node_fams[i].help);
		fam_sample(e, &node_fams[i], s->stats, lab);
	}
	write_node_labelled(e, s->stats, node);
}

/* The sale id of status dict @p o as a label value into @p id; false if it has none. */
static bool sale_label(struct json_object *o, char id[FS_EXPO_VALUE_LEN])
{
	uint64_t v;

	if (fs_metrics_json_u64(o, "sale_id", &v) != 0)
		return false;
	fs_expo_u64(id, v);
	return true;
}

/* Families with one sample per sale (and status), each written whole. */
static void write_sales(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	char id[FS_EXPO_VALUE_LEN];

	for (size_t f = 0; f < sizeof(sale_fams) / sizeof(sale_fams[0]); f++) {
		fs_expo_family(e, sale_fams[f].name, sale_fams[f].type, sale_fams[f].help);
		for (size_t i = 0; i < s->n_sales; i++) {
			const char *lab[] = {"node", node, "sale", id, NULL};

			if (sale_label(s->sales[i], id))
				fam_sample(e, &sale_fams[f], s->sales[i], lab);
		}
	}
	fs_expo_family(e, "flashsale_sale_state", "gauge",
		"1 for the state the sale is in (pending, active, sold_out, ended, stopped).");
	for (size_t i = 0; i < s->n_sales; i++) {
		struct json_object *m;
		const char *cur = NULL;

		if (!sale_label(s->sales[i], id))
			continue;
		if (json_object_object_get_ex(s->sales[i], "state", &m))
			cur = json_object_get_string(m);
		for (size_t k = 0; k < sizeof(sale_states) / sizeof(sale_states[0]); k++) {
			const char *lab[] = {
				"node", node, "sale", id, "state", sale_states[k], NULL};

			fs_expo_sample(e, "flashsale_sale_state", lab,
				cur != NULL && strcmp(cur, sale_states[k]) == 0 ? "1" : "0");
		}
	}
}

/*
 * flashsale_sale_<kind>_replies_total{status}: the status dict's "<pfx>NAME" counters of the
 * statuses in @p mask.
 */
static void write_sale_replies(struct fs_expo *e, const struct fs_metrics_scrape *s,
	const char *node, const char *name, const char *help, const char *pfx, unsigned mask)
{
	char id[FS_EXPO_VALUE_LEN], key[64], val[FS_EXPO_VALUE_LEN];
	uint64_t v;

	fs_expo_family(e, name, "counter", help);
	for (size_t i = 0; i < s->n_sales; i++) {
		if (!sale_label(s->sales[i], id))
			continue;
		for (unsigned st = 0; st < FS_ST__COUNT; st++) {
			const char *lab[] = {
				"node", node, "sale", id, "status", fs_fcp_status_name(st), NULL};

			if (!(mask & (1u << st)))
				continue;
			snprintf(key, sizeof(key), "%s%s", pfx,
				fs_counter_name((enum fs_counter)(FS_CNT_ST_WON + st)));
			if (fs_metrics_json_u64(s->sales[i], key, &v) == 0)
				fs_expo_sample(e, name, lab, fs_expo_u64(val, v));
		}
	}
}

/* The checkpoint of @p journal, or NULL. */
static const struct fs_pgmetrics_ckpt *ckpt_of(const struct fs_metrics_scrape *s, unsigned journal)
{
	for (size_t i = 0; i < s->n_ckpt; i++)
		if (s->ckpt[i].journal == journal)
			return &s->ckpt[i];
	return NULL;
}

/*
 * One family over the journals of /flashsale/journals: @p what 0 written seq, 1 durable seq,
 * 2 persist's lag (written - its checkpoint: records not yet in PostgreSQL).
 */
static void write_journal_fam(struct fs_expo *e, const struct fs_metrics_scrape *s,
	const char *node, const char *name, const char *help, int what)
{
	char jid[FS_EXPO_VALUE_LEN], val[FS_EXPO_VALUE_LEN];

	fs_expo_family(e, name, "gauge", help);
	json_object_object_foreach(s->journals, k, o)
	{
		const char *lab[] = {"node", node, "journal", jid, NULL};
		const struct fs_pgmetrics_ckpt *c;
		uint64_t j, written, durable;

		(void)k;
		if (!json_object_is_type(o, json_type_object) ||
			fs_metrics_json_u64(o, "journal", &j) != 0 ||
			fs_metrics_json_u64(o, "written", &written) != 0 ||
			fs_metrics_json_u64(o, "durable", &durable) != 0)
			continue;
		fs_expo_u64(jid, j);
		if (what == 0) {
			fs_expo_sample(e, name, lab, fs_expo_u64(val, written));
		} else if (what == 1) {
			fs_expo_sample(e, name, lab, fs_expo_u64(val, durable));
		} else {
			c = ckpt_of(s, (unsigned)j);
			fs_expo_sample(e, name, lab,
				fs_expo_i64(val, (int64_t)(written - (c != NULL ? c->seq : 0))));
		}
	}
}

static void write_journals(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	if (s->journals == NULL)
		return;
	write_journal_fam(e, s, node, "flashsale_journal_written_seq",
		"Seq of the last record the journal holds (0: none).", 0);
	write_journal_fam(e, s, node, "flashsale_journal_durable_seq",
		"Seq of the last record that is durable (--journal-sync fsync: synced; else the "
		"last written).",
		1);
	if (s->pg_given && s->pg_ok)
		write_journal_fam(e, s, node, "flashsale_persist_lag_records",
			"Records the journal holds that persist has not yet written into "
			"PostgreSQL.",
			2);
}

/* Integer @p i of json array @p a (unsigned, as the dataplane sends u64). */
static uint64_t arr_u64(struct json_object *a, size_t i)
{
	return (uint64_t)json_object_get_int64(json_object_array_get_idx(a, i));
}

/* Json array member @p key of @p o, or NULL. */
static struct json_object *json_array(struct json_object *o, const char *key)
{
	struct json_object *a;

	return json_object_object_get_ex(o, key, &a) && json_object_is_type(a, json_type_array)
		       ? a
		       : NULL;
}

/* One worker journal's group syncs (a /flashsale/journal/syncs reply) as histogram samples:
 * a cumulative NAME_bucket per bucket (le from le_us, "+Inf" for the last), NAME_sum, _count. */
static void write_sync_hist(
	struct fs_expo *e, struct json_object *o, const char *node, const char *name)
{
	char jid[FS_EXPO_VALUE_LEN], le[FS_EXPO_VALUE_LEN], val[FS_EXPO_VALUE_LEN], nm[96];
	const char *lab[] = {"node", node, "journal", jid, "le", le, NULL};
	struct json_object *cnt = json_array(o, "count"), *les = json_array(o, "le_us");
	uint64_t j, sum_ns, acc = 0;
	size_t i, len = cnt != NULL ? json_object_array_length(cnt) : 0;

	if (fs_metrics_json_u64(o, "journal", &j) != 0 ||
		fs_metrics_json_u64(o, "sync_ns_sum", &sum_ns) != 0 || len == 0 || les == NULL ||
		json_object_array_length(les) != len)
		return;
	/* bounds rising, the last 0 (+Inf): else no series of this journal at all (two +Inf
	 * buckets, or none, would make the scraper refuse the whole text) */
	for (i = 0; i < len; i++)
		if (i + 1 == len ? arr_u64(les, i) != 0
				 : arr_u64(les, i) <= (i == 0 ? 0 : arr_u64(les, i - 1)))
			return;
	fs_expo_u64(jid, j);
	snprintf(nm, sizeof(nm), "%s_bucket", name);
	for (i = 0; i < len; i++) {
		acc += arr_u64(cnt, i);
		if (i + 1 == len)
			snprintf(le, sizeof(le), "+Inf");
		else
			fs_expo_ns(le, arr_u64(les, i) * 1000u);
		fs_expo_sample(e, nm, lab, fs_expo_u64(val, acc));
	}
	lab[4] = NULL; /* _sum and _count: node and journal */
	snprintf(nm, sizeof(nm), "%s_sum", name);
	fs_expo_sample(e, nm, lab, fs_expo_ns(val, sum_ns));
	snprintf(nm, sizeof(nm), "%s_count", name); /* the +Inf bucket's, as Prometheus wants */
	fs_expo_sample(e, nm, lab, fs_expo_u64(val, acc));
}

static void write_syncs(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	static const char name[] = "flashsale_journal_sync_seconds";
	const char *lab[] = {"node", node, NULL};
	char val[FS_EXPO_VALUE_LEN];
	uint64_t us;

	if (s->n_syncs == 0)
		return;
	fs_expo_family(e, name, "histogram",
		"How long the group commit's syncs of the journal took (pwrite and fdatasync, "
		"--journal-sync fsync).");
	for (size_t i = 0; i < s->n_syncs; i++)
		write_sync_hist(e, s->syncs[i], node, name);
	if (fs_metrics_json_u64(s->syncs[0], "group_interval_us", &us) != 0)
		return;
	fs_expo_family(e, "flashsale_group_interval_seconds", "gauge",
		"The group commit's interval (--group-interval-us): at most one sync per journal "
		"in it.");
	fs_expo_sample(e, "flashsale_group_interval_seconds", lab, fs_expo_ns(val, us * 1000u));
}

/* One family over persist's checkpoints: their seq, or (@p when) their updated_at. */
static void write_ckpt_fam(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node,
	const char *name, const char *help, bool when)
{
	char jid[FS_EXPO_VALUE_LEN], val[FS_EXPO_VALUE_LEN];

	fs_expo_family(e, name, "gauge", help);
	for (size_t i = 0; i < s->n_ckpt; i++) {
		const char *jl[] = {
			"node", node, "journal", fs_expo_u64(jid, s->ckpt[i].journal), NULL};

		fs_expo_sample(e, name, jl,
			when ? fs_expo_ms(val, s->ckpt[i].updated_ms)
			     : fs_expo_u64(val, s->ckpt[i].seq));
	}
}

static void write_persist(struct fs_expo *e, const struct fs_metrics_scrape *s, const char *node)
{
	const char *lab[] = {"node", node, NULL};

	if (!s->pg_given)
		return;
	fs_expo_family(e, "flashsale_persist_up", "gauge",
		"1 if persist's checkpoints were read from PostgreSQL in this scrape.");
	fs_expo_sample(e, "flashsale_persist_up", lab, s->pg_ok ? "1" : "0");
	if (!s->pg_ok)
		return;
	write_ckpt_fam(e, s, node, "flashsale_persist_checkpoint_seq",
		"Seq of the last record of the journal persist committed into PostgreSQL.", false);
	write_ckpt_fam(e, s, node, "flashsale_persist_checkpoint_timestamp_seconds",
		"When persist last committed a batch of the journal.", true);
}

int fs_metrics_write(struct fs_expo *e, const struct fs_metrics_scrape *s)
{
	char node[FS_EXPO_VALUE_LEN];

	fs_expo_u64(node, s->node_id);
	write_up(e, s, node);
	write_node(e, s, node);
	if (s->n_sales > 0) {
		write_sales(e, s, node);
		write_sale_replies(e, s, node, "flashsale_sale_claim_replies_total",
			"Replies to the sale's CLAIMs by status.", "claim_", CLAIM_STATUSES);
		write_sale_replies(e, s, node, "flashsale_sale_status_replies_total",
			"Replies to the sale's SALE_STATUS requests by status.", "status_",
			STATUS_STATUSES);
	}
	write_journals(e, s, node);
	write_syncs(e, s, node);
	write_persist(e, s, node);
	return e->err;
}
