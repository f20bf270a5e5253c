/*
 * flashgen's output (report.h). The report and the progress line are lists of fields (name, kind,
 * value) printed as key=value or as JSON (json-c), so both forms always carry the same figures.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "fcp.h"
#include "histogram.h"
#include "report.h"

#define FG_MAX_FIELDS 64

enum fg_kind {
	FG_U64,	 /* an integer */
	FG_BOOL, /* 0/1 in key=value, false/true in JSON */
	FG_DEC0, /* a decimal printed with 0, 1 or 6 digits after the point */
	FG_DEC1,
	FG_DEC6,
};

struct fg_field {
	const char *name;
	uint8_t kind; /* enum fg_kind */
	uint64_t u;   /* FG_U64, FG_BOOL */
	double d;     /* FG_DEC* */
};

struct fg_fields {
	struct fg_field f[FG_MAX_FIELDS];
	unsigned n;
};

static void fg_u(struct fg_fields *fs, const char *name, uint64_t v)
{
	fs->f[fs->n++] = (struct fg_field){.name = name, .kind = FG_U64, .u = v};
}

static void fg_b(struct fg_fields *fs, const char *name, bool v)
{
	fs->f[fs->n++] = (struct fg_field){.name = name, .kind = FG_BOOL, .u = v};
}

static void fg_d(struct fg_fields *fs, const char *name, uint8_t kind, double v)
{
	fs->f[fs->n++] = (struct fg_field){.name = name, .kind = kind, .d = v};
}

/* The value of @p f as the report prints it, into @p buf (32 bytes). */
static const char *fg_fmt(const struct fg_field *f, char *buf)
{
	static const char *const dec[] = {
		[FG_DEC0] = "%.0f", [FG_DEC1] = "%.1f", [FG_DEC6] = "%.6f"};

	if (f->kind == FG_U64 || f->kind == FG_BOOL)
		snprintf(buf, 32, "%" PRIu64, f->u);
	else
		snprintf(buf, 32, dec[f->kind], f->d);
	return buf;
}

/* Status @p s's name in lower case ("already_won"), the report's key for its count. */
static const char *fg_status_key(unsigned s)
{
	static char keys[FS_ST__COUNT][24];

	if (keys[s][0] == '\0') {
		const char *n = fs_fcp_status_name(s);

		for (size_t k = 0; n[k] != '\0' && k < sizeof(keys[s]) - 1; k++)
			keys[s][k] = (char)tolower((unsigned char)n[k]);
	}
	return keys[s];
}

static double fg_seconds(const struct fg_ctx *g, uint64_t tsc)
{
	return (double)tsc / (double)g->hz;
}

/* @p n per second over @p tsc TSC ticks, 0 when no time passed. */
static double fg_per_s(const struct fg_ctx *g, uint64_t n, uint64_t tsc)
{
	return tsc > 0 ? (double)n / fg_seconds(g, tsc) : 0.0;
}

/* Print @p fs as key=value to @p f, each between @p before and @p after. */
static void fg_print_kv(FILE *f, const struct fg_fields *fs, const char *before, const char *after)
{
	char buf[32];

	for (unsigned i = 0; i < fs->n; i++)
		fprintf(f, "%s%s=%s%s", before, fs->f[i].name, fg_fmt(&fs->f[i], buf), after);
}

/* @p fs as a new JSON object (numbers as the key=value form writes them), NULL without memory. */
static struct json_object *fg_json_fields(const struct fg_fields *fs)
{
	struct json_object *o = json_object_new_object();
	char buf[32];

	for (unsigned i = 0; o != NULL && i < fs->n; i++) {
		const struct fg_field *f = &fs->f[i];
		struct json_object *v;

		if (f->kind == FG_U64)
			v = json_object_new_uint64(f->u);
		else if (f->kind == FG_BOOL)
			v = json_object_new_boolean(f->u != 0);
		else
			v = json_object_new_double_s(f->d, fg_fmt(f, buf));
		if (v == NULL || json_object_object_add(o, f->name, v) != 0) {
			json_object_put(v);
			json_object_put(o);
			o = NULL;
		}
	}
	return o;
}

void fg_progress(struct fg_ctx *g, uint64_t now)
{
	struct fg_fields fs = {.n = 0};
	uint64_t dt = now - (g->prog_tsc != 0 ? g->prog_tsc : g->t0);

	fg_u(&fs, "elapsed_ms", (now - g->t0) / g->tsc_per_ms);
	fg_u(&fs, "sent", g->st.sent);
	fg_u(&fs, "replies", g->st.replies);
	fg_d(&fs, "sent_per_s", FG_DEC0, fg_per_s(g, g->st.sent - g->prog_sent, dt));
	fg_d(&fs, "replies_per_s", FG_DEC0, fg_per_s(g, g->st.replies - g->prog_replies, dt));
	/* won last: scripts read it with a greedy ".*won=", which already_won= would also match */
	for (unsigned s = 0; s < FS_ST__COUNT; s++)
		if (s != FS_ST_WON)
			fg_u(&fs, fg_status_key(s), g->st.status[s]);
	fg_u(&fs, "won", g->st.status[FS_ST_WON]);
	g->prog_tsc = now;
	g->prog_sent = g->st.sent;
	g->prog_replies = g->st.replies;
	if (g->o.json) {
		struct json_object *o = fg_json_fields(&fs);

		if (o != NULL)
			fprintf(stderr, "%s\n",
				json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	fputs("progress", stderr);
	fg_print_kv(stderr, &fs, " ", "");
	fputc('\n', stderr);
}

/* Throughput and latency: the report's first lines. */
static void fg_fields_rates(const struct fg_ctx *g, struct fg_fields *fs)
{
	static const double q[4] = {0.5, 0.9, 0.99, 0.999};
	static const char *const qn[4] = {"p50_us", "p90_us", "p99_us", "p999_us"};
	uint64_t total = fg_hist_total(&g->lat);
	uint64_t span = g->first_send != 0 && g->last_reply > g->first_send
				? g->last_reply - g->first_send
				: 0;
	uint64_t open =
		g->open_tsc != 0 && g->last_reply > g->open_tsc ? g->last_reply - g->open_tsc : 0;

	fg_u(fs, "sent", g->st.sent);
	fg_u(fs, "replies", g->st.replies);
	fg_u(fs, "lost", g->st.lost);
	/* from the first reply other than NOT_STARTED: the wait for the sale to open left out */
	fg_d(fs, "claims_per_s", FG_DEC0, fg_per_s(g, g->st.replies - g->open_replies, open));
	fg_d(fs, "sends_per_s", FG_DEC0,
		g->last_send > g->first_send ? fg_per_s(g, g->st.sent, g->last_send - g->first_send)
					     : 0.0);
	for (int i = 0; i < 4; i++)
		fg_d(fs, qn[i], FG_DEC1, (double)fg_hist_quantile(&g->lat, total, q[i]) / 1000.0);
	fg_d(fs, "max_us", FG_DEC1, (double)g->lat.max_ns / 1000.0);
	fg_d(fs, "elapsed_s", FG_DEC6, fg_seconds(g, span));
	fg_d(fs, "claims_per_s_all", FG_DEC0, fg_per_s(g, g->st.replies, span));
	fg_d(fs, "open_s", FG_DEC6, fg_seconds(g, open));
}

/* Every field of the report, in the key=value order. */
static void fg_fields_report(const struct fg_ctx *g, struct fg_fields *fs)
{
	const struct fg_stats *st = &g->st;

	fg_fields_rates(g, fs);
	for (unsigned s = 0; s < FS_ST__COUNT; s++)
		fg_u(fs, fg_status_key(s), st->status[s]);
	fg_u(fs, "claims", g->o.users * g->o.claims);
	fg_u(fs, "reconnects", st->reconnects);
	fg_u(fs, "requeued", st->requeued);
	fg_u(fs, "finished", st->finished);
	fg_u(fs, "winners", st->winners);
	fg_u(fs, "unparsed", st->unparsed);
	fg_u(fs, "stale", st->stale);
	fg_u(fs, "tx_refused", st->tx_refused);
	fg_u(fs, "line_dropped", st->line_dropped);
	fg_d(fs, "offered_per_s", FG_DEC0,
		g->line_last > g->line_t0
			? fg_per_s(g, st->sent + st->line_dropped, g->line_last - g->line_t0)
			: 0.0);
	fg_u(fs, "mix_repeat", st->mix_sent[FG_MIX_REPEAT]);
	fg_u(fs, "mix_badtoken", st->mix_sent[FG_MIX_BADTOKEN]);
	fg_u(fs, "mix_malformed", st->mix_sent[FG_MIX_MALFORMED]);
	fg_u(fs, "pcap_out_frames", st->pcap_out_frames);
	fg_u(fs, "pcap_in_claims", st->pcap_in_claims);
	fg_u(fs, "pcap_in_repeats", st->pcap_in_repeats);
	fg_u(fs, "pcap_in_other", st->pcap_in_other);
	fg_u(fs, "pcap_in_skipped", st->pcap_in_skipped);
	fg_b(fs, "interrupted", fg_signal != 0);
	fg_b(fs, "complete",
		g->o.no_reply ? g->flood_next == g->flood_total : g->users_done == g->o.users);
}

/* Append [a, b] to array @p arr (taking a and b, which may be NULL); false without memory. */
static bool fg_json_pair(struct json_object *arr, struct json_object *a, struct json_object *b)
{
	struct json_object *p = json_object_new_array_ext(2);

	if (p != NULL && a != NULL && json_object_array_add(p, a) == 0) {
		a = NULL;
		if (b != NULL && json_object_array_add(p, b) == 0) {
			b = NULL;
			if (json_object_array_add(arr, p) == 0)
				return true;
		}
	}
	json_object_put(a);
	json_object_put(b);
	json_object_put(p);
	return false;
}

/*
 * latency_histogram: [highest value in ns, count] of every non-empty bucket (histogram.h's
 * layout); latency_percentiles: [percentile, value in ns] as the pNN_us fields compute them (the
 * lowest value of the bucket holding that rank, at most the max), 100 being the max.
 */
static bool fg_json_latency(const struct fg_ctx *g, struct json_object *o)
{
	static const double pct[] = {50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100};
	struct json_object *hist = json_object_new_array(), *pc = json_object_new_array();
	const struct fg_hist *h = &g->lat;
	uint64_t total = fg_hist_total(h);
	bool ok = hist != NULL && pc != NULL;

	for (uint32_t i = fg_hist_next(h, 0); ok && i < FG_HIST_SIZE; i = fg_hist_next(h, i + 1))
		ok = fg_json_pair(hist, json_object_new_uint64(fg_hist_highest(i)),
			json_object_new_uint64(h->count[i]));
	for (size_t i = 0; ok && i < sizeof(pct) / sizeof(pct[0]); i++) {
		uint64_t v = pct[i] == 100 ? h->max_ns : fg_hist_quantile(h, total, pct[i] / 100);
		char p[16];

		snprintf(p, sizeof(p), "%g", pct[i]);
		ok = fg_json_pair(
			pc, json_object_new_double_s(pct[i], p), json_object_new_uint64(v));
	}
	if (ok && json_object_object_add(o, "latency_histogram", hist) == 0)
		hist = NULL;
	else
		ok = false;
	if (ok && json_object_object_add(o, "latency_percentiles", pc) == 0)
		pc = NULL;
	else
		ok = false;
	json_object_put(hist);
	json_object_put(pc);
	return ok;
}

int fg_report(struct fg_ctx *g)
{
	struct fg_fields fs = {.n = 0};
	struct json_object *o;
	const char *text;

	fg_fields_report(g, &fs);
	if (!g->o.json)
		fg_print_kv(stdout, &fs, "", "\n");
	fflush(stdout);
	if (!g->o.json && g->json == NULL)
		return 0;
	o = fg_json_fields(&fs);
	if (o == NULL || !fg_json_latency(g, o)) {
		json_object_put(o);
		fprintf(stderr, "flashgen: out of memory for the JSON report\n");
		return -ENOMEM;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	fprintf(g->o.json ? stdout : g->json, "%s\n", text);
	json_object_put(o);
	fflush(stdout);
	return 0;
}
