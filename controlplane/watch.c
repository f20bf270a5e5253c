/*
 * `flashctl watch`: a live view of one node, read every interval through scrape.h: per sale its
 * state, units and replies per second by status, the node's drops per second and persist's lag.
 * Redrawn in place on a terminal, one key=value line per sale and interval otherwise; with --json
 * one JSON object per line instead (json-c), on a terminal too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "counters.h"
#include "fcp.h"
#include "flashctl.h"
#include "monotonic.h"
#include "scrape.h"

/* Two reads and the time between them: rates are their differences per second. */
struct watch_view {
	const struct fs_metrics_scrape *cur;
	const struct fs_metrics_scrape *prev; /* NULL: the first read, no rates yet */
	int64_t dt_ms;
	bool tty;
	bool json;     /* --json: JSON lines */
	char when[32]; /* ISO 8601 UTC of the read */
};

/* Counter @p key of @p o, 0 when absent. */
static uint64_t val(struct json_object *o, const char *key)
{
	uint64_t v = 0;

	fs_metrics_json_u64(o, key, &v);
	return v;
}

/* The previous read's status dict of @p sale, or NULL. */
static struct json_object *prev_sale(const struct watch_view *w, uint64_t sale)
{
	for (size_t i = 0; w->prev != NULL && i < w->prev->n_sales; i++)
		if (val(w->prev->sales[i], "sale_id") == sale)
			return w->prev->sales[i];
	return NULL;
}

/* (cur - prev) of @p key per second, or -1 when there is no previous read. */
static double rate(const struct watch_view *w, struct json_object *cur, struct json_object *prev,
	const char *key)
{
	uint64_t a = val(cur, key), b = val(prev, key);

	if (prev == NULL || w->dt_ms <= 0)
		return -1;
	return a < b ? 0 : (double)(a - b) * 1000.0 / (double)w->dt_ms; /* a restart: 0 */
}

/* Σ drop reasons per second of the node, -1 without a previous read. */
static double drops_rate(const struct watch_view *w)
{
	return w->prev == NULL || w->prev->stats == NULL
		       ? -1
		       : rate(w, w->cur->stats, w->prev->stats, "drops");
}

/* Records the journals hold that persist has not written (Σ over journals), -1 if unknown. */
static int64_t persist_lag(const struct fs_metrics_scrape *s)
{
	int64_t lag = 0;

	if (!s->pg_ok || s->journals == NULL)
		return -1;
	json_object_object_foreach(s->journals, k, o)
	{
		uint64_t j, written;
		const struct fs_pgmetrics_ckpt *c = NULL;

		(void)k;
		if (!json_object_is_type(o, json_type_object) ||
			fs_metrics_json_u64(o, "journal", &j) != 0 ||
			fs_metrics_json_u64(o, "written", &written) != 0)
			continue;
		for (size_t i = 0; i < s->n_ckpt; i++)
			if (s->ckpt[i].journal == j)
				c = &s->ckpt[i];
		lag += (int64_t)(written - (c != NULL ? c->seq : 0));
	}
	return lag;
}

/* A rate as text: "-" before the second read. */
static const char *fmt_rate(char *buf, size_t n, double r)
{
	if (r < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", r);
	return buf;
}

/* The statuses shown per sale, in this order (the others are in "other"). */
static const unsigned shown[] = {FS_ST_WON, FS_ST_ALREADY_WON, FS_ST_SOLD_OUT, FS_ST_RETRY,
	FS_ST_RATE_LIMITED, FS_ST_NOT_STARTED};
#define N_SHOWN (sizeof(shown) / sizeof(shown[0]))

/* claim_NAME of status @p st. */
static const char *claim_key(char *buf, size_t n, unsigned st)
{
	snprintf(buf, n, "claim_%s", fs_counter_name((enum fs_counter)(FS_CNT_ST_WON + st)));
	return buf;
}

/* A rate as JSON: null before the second read. */
static struct json_object *json_rate(double r)
{
	return r < 0 ? NULL : json_object_new_double(r);
}

/* @p j as one line of stdout, then freed. */
static void json_line(struct json_object *j)
{
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
}

/* One sale as a JSON line (--json): the fields of line_sale, rates null before the second read. */
static void json_sale(const struct watch_view *w, struct json_object *o)
{
	struct json_object *p = prev_sale(w, val(o, "sale_id")), *m, *j = json_object_new_object();
	char key[64], name[80];

	json_object_object_add(j, "time", json_object_new_string(w->when));
	json_object_object_add(j, "node", json_object_new_int64(w->cur->node_id));
	json_object_object_add(j, "sale", json_object_new_int64((int64_t)val(o, "sale_id")));
	json_object_object_add(j, "state", json_object_new_string(
		json_object_object_get_ex(o, "state", &m) ? json_object_get_string(m) : "?"));
	json_object_object_add(j, "sold", json_object_new_int64((int64_t)val(o, "sold")));
	json_object_object_add(j, "remaining", json_object_new_int64((int64_t)val(o, "remaining")));
	json_object_object_add(j, "claims", json_object_new_int64((int64_t)val(o, "claims")));
	json_object_object_add(j, "claims_per_s", json_rate(rate(w, o, p, "claims")));
	for (unsigned i = 0; i < N_SHOWN; i++) {
		claim_key(key, sizeof(key), shown[i]);
		snprintf(name, sizeof(name), "%s_per_s", key + strlen("claim_"));
		json_object_object_add(j, name, json_rate(rate(w, o, p, key)));
	}
	json_line(j);
}

/* The node's JSON line (--json): the fields of line_node, persist_lag null without --pg. */
static void json_node(const struct watch_view *w)
{
	struct json_object *j = json_object_new_object();
	int64_t lag = persist_lag(w->cur);

	json_object_object_add(j, "time", json_object_new_string(w->when));
	json_object_object_add(j, "node", json_object_new_int64(w->cur->node_id));
	json_object_object_add(j, "up", json_object_new_boolean(w->cur->stats != NULL));
	json_object_object_add(j, "sales", json_object_new_int64((int64_t)w->cur->n_sales));
	json_object_object_add(j, "drops_per_s", json_rate(drops_rate(w)));
	json_object_object_add(j, "persist_lag", lag < 0 ? NULL : json_object_new_int64(lag));
	json_line(j);
}

/* One sale as a key=value line (not a terminal). */
static void line_sale(const struct watch_view *w, struct json_object *o)
{
	struct json_object *p = prev_sale(w, val(o, "sale_id")), *m;
	char r[32], key[64];

	printf("time=%s node=%u sale=%" PRIu64 " state=%s sold=%" PRIu64 " remaining=%" PRIu64
	       " claims=%" PRIu64 " claims_per_s=%s",
		w->when, w->cur->node_id, val(o, "sale_id"),
		json_object_object_get_ex(o, "state", &m) ? json_object_get_string(m) : "?",
		val(o, "sold"), val(o, "remaining"), val(o, "claims"),
		fmt_rate(r, sizeof(r), rate(w, o, p, "claims")));
	for (unsigned i = 0; i < N_SHOWN; i++) {
		claim_key(key, sizeof(key), shown[i]);
		printf(" %s_per_s=%s", key + strlen("claim_"),
			fmt_rate(r, sizeof(r), rate(w, o, p, key)));
	}
	printf("\n");
}

/* The node's line (not a terminal). */
static void line_node(const struct watch_view *w)
{
	char r[32];
	int64_t lag = persist_lag(w->cur);

	printf("time=%s node=%u up=%d sales=%zu drops_per_s=%s persist_lag=", w->when,
		w->cur->node_id, w->cur->stats != NULL, w->cur->n_sales,
		fmt_rate(r, sizeof(r), drops_rate(w)));
	if (lag < 0)
		printf("-\n");
	else
		printf("%" PRId64 "\n", lag);
}

/* The whole screen, redrawn in place (a terminal). */
static void screen(const struct watch_view *w)
{
	char r[N_SHOWN + 2][32], key[64];
	int64_t lag = persist_lag(w->cur);

	if (lag < 0)
		snprintf(r[1], sizeof(r[1]), "- (no --pg)");
	else
		snprintf(r[1], sizeof(r[1]), "%" PRId64, lag);
	printf("\033[H\033[J"); /* cursor home, clear to the end */
	printf("flashsale node %u  %s  %s  drops/s %s  persist lag %s\n\n", w->cur->node_id,
		w->when, w->cur->stats != NULL ? "up" : "DATAPLANE NOT ANSWERING",
		fmt_rate(r[0], sizeof(r[0]), drops_rate(w)), r[1]);
	printf("%-10s %-9s %9s %9s %10s %9s %11s %11s %9s %12s %12s\n", "SALE", "STATE", "SOLD",
		"REMAINING", "CLAIMS/s", "WON/s", "ALREADY/s", "SOLD_OUT/s", "RETRY/s",
		"RATE_LIM/s", "NOT_START/s");
	for (size_t i = 0; i < w->cur->n_sales; i++) {
		struct json_object *o = w->cur->sales[i], *p = prev_sale(w, val(o, "sale_id")), *m;

		fmt_rate(r[0], sizeof(r[0]), rate(w, o, p, "claims"));
		for (unsigned k = 0; k < N_SHOWN; k++)
			fmt_rate(r[k + 1], sizeof(r[k + 1]),
				rate(w, o, p, claim_key(key, sizeof(key), shown[k])));
		printf("%-10" PRIu64 " %-9s %9" PRIu64 " %9" PRIu64
		       " %10s %9s %11s %11s %9s %12s %12s\n",
			val(o, "sale_id"),
			json_object_object_get_ex(o, "state", &m) ? json_object_get_string(m) : "?",
			val(o, "sold"), val(o, "remaining"), r[0], r[1], r[2], r[3], r[4], r[5],
			r[6]);
	}
	fflush(stdout);
}

static void show(struct watch_view *w)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(w->when, sizeof(w->when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (w->json) {
		json_node(w);
		for (size_t i = 0; i < w->cur->n_sales; i++)
			json_sale(w, w->cur->sales[i]);
	} else if (w->tty) {
		screen(w);
		return;
	} else {
		line_node(w);
		for (size_t i = 0; i < w->cur->n_sales; i++)
			line_sale(w, w->cur->sales[i]);
	}
	fflush(stdout);
}

/* Read and show @p count times (0: until killed), @p interval_ms apart. @return up reads. */
static unsigned watch_loop(struct fs_scrape_src *x, uint32_t sale, uint64_t interval_ms,
	uint64_t count, bool tty, bool json)
{
	struct fs_metrics_scrape s[2];
	int64_t at[2] = {0, 0};
	unsigned up = 0, cur = 0;
	uint64_t n;

	memset(s, 0, sizeof(s));
	for (n = 0; count == 0 || n < count; n++, cur ^= 1) {
		struct watch_view w = {.cur = &s[cur], .tty = tty, .json = json};

		if (n > 0)
			usleep((useconds_t)(interval_ms * 1000));
		fs_scrape_release(&s[cur]);
		up += fs_scrape_read(x, sale, &s[cur]) == 0;
		at[cur] = fs_monotonic_ms();
		if (n > 0 && s[cur ^ 1].stats != NULL) {
			w.prev = &s[cur ^ 1];
			w.dt_ms = at[cur] - at[cur ^ 1];
		}
		show(&w);
	}
	fs_scrape_release(&s[0]);
	fs_scrape_release(&s[1]);
	return up;
}

int fs_ctl_watch(const char *dp_socket, unsigned node_id, int argc, char **argv)
{
	enum { SALE = 1, INTERVAL, COUNT, PG, JSON, N_OPTS };
	static const char spec[] = "sale= interval-ms= count= pg= json";
	static struct fs_scrape_src x; /* its checkpoints are large */
	const char *o[N_OPTS];
	uint64_t interval = 1000, count = 0;
	const struct fs_ctl_num num[] = {
		{INTERVAL, "interval-ms", 100, 3600000, &interval},
		{COUNT, "count", 1, UINT32_MAX, &count},
		FS_CTL_NUM_END,
	};
	uint32_t sale = 0;
	unsigned up;
	int rc;

	rc = fs_ctl_parse_nums(argc, argv, "", spec, o, N_OPTS, num);
	if (rc == 0 && o[SALE] != NULL)
		rc = fs_ctl_parse_sale(o[SALE], &sale);
	if (rc != 0)
		return rc;
	if (o[PG] != NULL && *o[PG] == '\0')
		return usage_err("bad --pg ''");
	if (dp_socket == NULL)
		return usage_err("watch needs --dp PREFIX or --dp-socket PATH");
	fs_scrape_src_init(&x, dp_socket, o[PG], node_id, 2000);
	up = watch_loop(&x, sale, interval, count, isatty(STDOUT_FILENO) == 1, o[JSON] != NULL);
	fs_scrape_src_close(&x);
	return up > 0 ? 0 : fail("watch: the dataplane did not answer");
}
