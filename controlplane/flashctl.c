/* flashctl: the operators' CLI (sales in Redis, the dataplane's view, tokens) and its daemon. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "conf.h"
#include "ctlconf.h"
#include "daemon.h"
#include "dpctl.h"
#include "fcp.h"
#include "flashctl.h"
#include "leaseplan.h"
#include "nodes.h"
#include "parse.h"
#include "pgleases.h"
#include "redis.h"
#include "sale.h"
#include "timeparse.h"
#include "version.h"

#define IO_TIMEOUT_MS 2000
/* Sales of one node that `node forget` releases at most (one run; run it again for more). */
#define FORGET_SALES_MAX 65536
/* What a time argument may be (fs_time_parse), for error lines. */
#define TIME_FORMS "unix ms, now, +90s, +500ms, +10m, +2h, +1d, 2026-12-24T12:00:00Z"

static const char usage_text[] =
	"usage: flashctl [--config FILE] [--redis URL] [--redis-password-file FILE]\n"
	"                [--dp PREFIX | --dp-socket PATH] [--node-id N] COMMAND ...\n"
	"  sale create --sale N --stock S --start T --end T [--admission open|token]\n"
	"              [--rate-limit R [--rate-burst B]] [--start-in-past] [--hold DURATION]\n"
	"              (S at most 100000000; R claims/s per source, 0 = none; DURATION: how\n"
	"              long a won order waits for its payment, 1500ms, 30s, 10m, 2h, at most "
	"168h;\n"
	"              0 or absent: no holds, a won order is final)\n"
	"  sale rekey --sale N [--grace-s 60]   (new token key; the old one valid S more seconds)\n"
	"  sale status --sale N [--pg URL]   (--pg: orders by status, returns, re-sold)\n"
	"  sale stop --sale N\n"
	"  sale delete --sale N   (an ended, stopped or sold-out sale; its id is never reused)\n"
	"  sale list\n"
	"  token --sale N --user U [--expiry UNIX_S|T] [--node K]\n"
	"  stats\n"
	"  node list   (nodes of fs:nodes: alive, last report, rate; lease and sold per sale)\n"
	"  node forget --node N [--pg URL]   (a node gone for good: its unsold leased units back\n"
	"              to each sale's pool, once, from its last totals in PostgreSQL; its daemon\n"
	"              refused from then on; refused while its daemon is alive)\n"
	"  daemon [--interval-ms 100] [--redis-timeout-ms 2000] [--dp-timeout-ms 2000]\n"
	"         [--lease-min 64] [--lease-max 0]   (chunks leased to this node: ~150 ms of its\n"
	"         sell rate within [min, max]; max 0: the sale's stock / 4; exit 3: another live\n"
	"         daemon holds --node-id)\n"
	"         [--pg URL [--pg-timeout-ms 2000]]   (--pg: holds serviced: sweep, returns to\n"
	"         the pool, releases and hold state pushed to the dataplane)\n"
	"  order pay|cancel|show --sale N (--order ID | --user U) [--pg URL]\n"
	"    (ID: decimal or 0x hex; exit 0: paid / cancelled / found, 3 already_paid,\n"
	"    4 already_cancelled, 5 paid, 6 cancelled, 7 expired, 8 not_held, 9 unknown)\n"
	"  sweep [--batch 1000] [--until-empty] [--pg URL]   (expire the holds that are due)\n"
	"  audit --sale N [--state-dir DIR] [--pg URL] [--won-file FILE] [--wait-s 10]\n"
	"  metrics [--listen 127.0.0.1:9108] [--pg URL] [--once] [--timeout-ms 2000]\n"
	"          (Prometheus metrics of the dataplane, and persist's checkpoints with --pg)\n"
	"  watch [--sale N] [--interval-ms 1000] [--count N] [--pg URL]   (live view)\n"
	"    (exit 0: consistent, 1: drift, one 'drift: ...' line each)\n"
	"Every command: --help (its usage and options), --json (one JSON object; daemon: one per\n"
	"log line).\n"
	"T: unix ms, now, +90s, +500ms, +10m, +2h, +1d, or ISO 8601 such as 2026-12-24T12:00:00Z\n"
	"(fraction and offset optional). --pg (a libpq URL) defaults to $PG_URL for order and\n"
	"sweep. --redis defaults to $REDIS_URL or " FS_REDIS_URL_DEFAULT
	"\nURL: " FS_REDIS_URL_FORMS "\n"
	"The Redis password: --redis-password-file FILE (mode 0600), else $REDIS_PASSWORD, else "
	"the\n"
	"config file's redis-password, else the URL's (hidden from ps once read).\n"
	"--config FILE (before the command; default $" FS_CONF_ENV ", else " FS_CONF_DEFAULT "):\n"
	"its [ctl] section's keys are the global and daemon options; the command line overrides "
	"them.\n"
	"--version: the version.\n";

struct globals {
	const char *redis_url;
	const char *redis_password; /* from the file or $REDIS_PASSWORD; NULL: the URL's */
	char password_buf[256];
	const char *dp_prefix;
	const char *dp_socket;
	char dp_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned node_id;
};

int fs_ctl_opt_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	if (s != NULL && fs_parse_u64(s, min, max, v) < 0)
		return usage_err("bad --%s '%s' (%" PRIu64 "..%" PRIu64 ")", name, s, min, max);
	return 0;
}

int fs_ctl_parse_nums(int argc, char **argv, const char *group, const char *spec, const char **val,
	int n, const struct fs_ctl_num *num)
{
	int rc = fs_ctl_parse_opts(argc, argv, group, spec, val, n);

	for (; rc == 0 && num->name != NULL; num++)
		rc = fs_ctl_opt_u64(num->name, val[num->opt], num->min, num->max, num->v);
	return rc;
}

int fs_ctl_parse_sale(const char *s, uint32_t *id)
{
	uint64_t v = 0;
	int rc = fs_ctl_opt_u64("sale", s, 0, UINT32_MAX, &v);

	*id = (uint32_t)v;
	return rc;
}

/* --key HEX32 when given, else a random key: 0, or the usage error's exit code. */
static int key_or_random(const char *hex, uint8_t key[16])
{
	if (hex == NULL) {
		randombytes_buf(key, 16);
		return 0;
	}
	if (fs_parse_hex(hex, key, 16) < 0)
		return usage_err("bad --key (32 hex digits)");
	return 0;
}

static int redis_open(const struct globals *g, struct fs_redis *r)
{
	memset(r, 0, sizeof(*r));
	r->password = g->redis_password;
	if (fs_redis_connect(r, g->redis_url, IO_TIMEOUT_MS) < 0)
		return fail("%s", r->errstr);
	return 0;
}

/* After one fs_redis_* call on @p r: closes it; 0, or the runtime error's exit code when @p rc < 0.
 */
static int redis_done(struct fs_redis *r, int rc)
{
	fs_redis_close(r);
	return rc < 0 ? fail("%s", r->errstr) : 0;
}

static bool have_dp(const struct globals *g)
{
	return g->dp_socket != NULL;
}

static int dp_open(const struct globals *g, struct fs_dpctl *d)
{
	fs_dpctl_init(d);
	return fs_dpctl_connect(d, g->dp_socket, IO_TIMEOUT_MS);
}

/*
 * Print a sale into @p out: its definition (times also in ISO 8601); with @p state also its state
 * and counters (between the admission and the limits) and the previous key's deadline (last).
 */
static void print_sale(const struct fs_redis_sale *s, bool state, struct fs_out *out)
{
	char hex[33];

	fs_out_u64(out, "sale", s->sale_id);
	fs_out_u64(out, "stock", s->stock);
	fs_out_time(out, "start_ms", "start", s->start_ms, 1000, false);
	fs_out_time(out, "end_ms", "end", s->end_ms, 1000, false);
	fs_out_str(out, "admission", s->admission);
	fs_out_u64(out, "hold_ms", s->hold_ms);
	if (state) {
		fs_out_str(out, "state", s->state);
		fs_out_i64(out, "pool", s->pool);
		fs_out_i64(out, "sold", s->sold);
		fs_out_i64(out, "remaining", s->remaining);
		fs_out_u64(out, "events_published", s->events_published);
		if (s->hold_ms > 0)
			fs_out_u64(out, "returned", s->returned);
	}
	if (s->has_rl) {
		fs_out_u64(out, "rate_limit", s->rl_rate);
		fs_out_u64(out, "rate_burst", s->rl_burst);
	}
	if (s->has_key) {
		sodium_bin2hex(hex, sizeof(hex), s->key, sizeof(s->key));
		fs_out_str(out, "token_key", hex);
	}
	if (state && s->has_prev_key)
		fs_out_time(out, "prev_key_until_ms", "prev_key_until", s->prev_key_until_ms, 1000,
			true);
}

/*
 * Send one telemetry command to the dataplane and print its reply dict into @p out (fs_out_dict
 * with @p prefix). Returns 0, or the runtime error's exit code; @p note follows the error text.
 */
static int dp_show(const struct globals *g, const char *cmd, const char *prefix, const char *note,
	struct fs_out *out)
{
	struct json_object *st;
	struct fs_dpctl d;
	int rc;

	if (dp_open(g, &d) < 0)
		return fail("%s%s", d.errstr, note);
	rc = fs_dpctl_cmd(&d, cmd, &st);
	fs_dpctl_close(&d);
	if (rc < 0)
		return fail("%s%s", d.errstr, note);
	fs_out_dict(out, prefix, st);
	json_object_put(st);
	return 0;
}

/* getopt_long's val for --help, which every sub-command has: above any index of val[]. */
#define HELP_VAL 256
/* At most this many words in an option spec (fs_ctl_parse_opts). */
#define SPEC_MAX 24

/*
 * The struct option list of option spec @p spec into @p lo (names pointing into @p buf, a copy of
 * the spec): word i (from 0) has val i + 1, then --help (HELP_VAL). Returns the number of words;
 * aborts when the spec does not fit, a programming error.
 */
static int spec_options(const char *spec, char buf[256], struct option lo[SPEC_MAX + 2])
{
	char *save = NULL, *w;
	int k = 0;

	if (snprintf(buf, 256, "%s", spec) >= 256)
		abort();
	for (w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		size_t len = strlen(w);
		bool arg = w[len - 1] == '=';

		if (k == SPEC_MAX)
			abort();
		if (arg)
			w[len - 1] = '\0';
		lo[k] = (struct option){w, arg ? required_argument : no_argument, NULL, k + 1};
		k++;
	}
	lo[k] = (struct option){"help", no_argument, NULL, HELP_VAL};
	lo[k + 1] = (struct option){NULL, 0, NULL, 0};
	return k;
}

int fs_ctl_parse_opts(
	int argc, char **argv, const char *group, const char *spec, const char **val, int n)
{
	struct option lo[SPEC_MAX + 2];
	char buf[256];
	bool help = false;
	int c;

	if (spec_options(spec, buf, lo) >= n)
		abort(); /* val[] too short for the spec: a programming error */
	for (int i = 0; i < n; i++)
		val[i] = NULL;
	for (optind = 1, opterr = 0; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		if (c == HELP_VAL) {
			help = true;
			continue;
		}
		if (c >= 1 && c < n && c != '?') {
			val[c] = optarg != NULL ? optarg : ""; /* "": a flag without value, given */
			continue;
		}
		if (optopt == 0 && optind > 0 && argv[optind - 1] != NULL)
			return usage_err("%s: unknown option '%s'", argv[0], argv[optind - 1]);
		return usage_err("%s: option '%s' needs a value", argv[0], argv[optind - 1]);
	}
	if (optind < argc)
		return usage_err("%s%s: unexpected argument '%s'", group, argv[0], argv[optind]);
	if (help) {
		fs_ctl_help(group, argv[0]);
		exit(0);
	}
	return 0;
}

/*
 * A sub-command whose only option is --json (and --help): the output *@p out (JSON when given).
 * 0, or the usage error's exit code.
 */
static int parse_json_only(int argc, char **argv, const char *group, struct fs_out *out)
{
	const char *o[2];
	int rc = fs_ctl_parse_opts(argc, argv, group, "json", o, 2);

	fs_out_init(out, o[1] != NULL);
	return rc;
}

/* parse_json_only, then Redis opened: 0, or the exit code. */
static int json_and_redis(const struct globals *g, int argc, char **argv, const char *group,
	struct fs_redis *r, struct fs_out *out)
{
	int rc = parse_json_only(argc, argv, group, out);

	if (rc != 0)
		return rc;
	return redis_open(g, r) != 0 ? EXIT_FAILURE : 0;
}

/*
 * --start and --end of sale create into @p def: the end after the start and not passed, the start
 * not in the past unless @p past_ok (--start-in-past). 0, or the usage error's exit code.
 */
static int parse_window(
	const char *start, const char *end, bool past_ok, int64_t now, struct fs_redis_sale *def)
{
	if (fs_time_parse(start, now, &def->start_ms) < 0)
		return usage_err("bad --start '%s' (%s)", start, TIME_FORMS);
	if (fs_time_parse(end, now, &def->end_ms) < 0)
		return usage_err("bad --end '%s' (%s)", end, TIME_FORMS);
	if (def->end_ms <= def->start_ms)
		return usage_err("--end must be after --start");
	if (def->end_ms <= now)
		return usage_err("--end %s: the window has ended already", end);
	if (def->start_ms < now && !past_ok)
		return usage_err("--start %s is %" PRId64
				 " ms in the past (--start-in-past to open "
				 "the sale at once)",
			start, now - def->start_ms);
	return 0;
}

/*
 * --rate-limit R [--rate-burst B] of sale create into @p def (the burst defaults to R, at most
 * 65535): 0, or the usage error's exit code.
 */
static int parse_limits(const char *rate, const char *burst, struct fs_redis_sale *def)
{
	uint64_t r, b;
	int rc;

	if (burst != NULL && rate == NULL)
		return usage_err("--rate-burst needs --rate-limit");
	if (rate == NULL)
		return 0;
	/* limits of flashsale-dp (dataplane/ratelimit.h) */
	if (fs_parse_u64(rate, 0, 1000000, &r) < 0)
		return usage_err("bad --rate-limit '%s' (0..1000000 claims/s)", rate);
	b = r > 65535 ? 65535 : r;
	rc = fs_ctl_opt_u64("rate-burst", burst, 1, 65535, &b);
	if (rc != 0)
		return rc;
	def->has_rl = true;
	def->rl_rate = (uint32_t)r;
	def->rl_burst = (uint32_t)b;
	return 0;
}

/* --hold DURATION of sale create into @p def (0: no holds): 0, or the usage error's exit code. */
static int parse_hold(const char *s, struct fs_redis_sale *def)
{
	int64_t ms = 0;
	int rc;

	if (s == NULL)
		return 0;
	rc = fs_duration_parse(s, FS_REDIS_HOLD_MAX_MS, &ms);
	if (rc == -ERANGE)
		return usage_err("--hold %s: a hold lasts at most 7 days (168h)", s);
	if (rc < 0)
		return usage_err(
			"bad --hold '%s' (0, or a number and its unit: 1500ms, 30s, 10m, 2h)", s);
	def->hold_ms = (uint32_t)ms;
	return 0;
}

static int cmd_sale_create(const struct globals *g, int argc, char **argv)
{
	enum { SALE = 1, STOCK, START, END, ADMISSION, KEY, RATE, BURST, PAST, HOLD, JSON, N_OPTS };
	/* --key: hidden, a fixed token key, for tests */
	static const char spec[] =
		"sale= stock= start= end= admission= key= rate-limit= rate-burst= "
		"start-in-past hold= json";
	const char *o[N_OPTS];
	struct fs_redis_sale def = {0};
	struct fs_redis r;
	struct fs_out out;
	int64_t now = fs_time_now_ms();
	int rc;

	rc = fs_ctl_parse_opts(argc, argv, "sale ", spec, o, N_OPTS);
	if (rc != 0)
		return rc;
	const char *sale = o[SALE], *stock = o[STOCK], *start = o[START], *end = o[END];
	const char *key = o[KEY], *rate = o[RATE], *burst = o[BURST];

	snprintf(def.admission, sizeof(def.admission), "%s", o[ADMISSION] ? o[ADMISSION] : "open");
	if (strcmp(def.admission, "open") != 0 && strcmp(def.admission, "token") != 0)
		return usage_err("--admission must be open or token, not '%s'", o[ADMISSION]);
	rc = parse_limits(rate, burst, &def);
	if (rc == 0)
		rc = parse_hold(o[HOLD], &def);
	if (rc != 0)
		return rc;
	if (!sale || !stock || !start || !end)
		return usage_err("sale create needs --sale, --stock, --start and --end");
	rc = fs_ctl_parse_sale(sale, &def.sale_id);
	if (rc != 0)
		return rc;
	if (fs_parse_u64(stock, 1, UINT64_MAX, &def.stock) < 0)
		return usage_err("bad --stock '%s' (1..%u)", stock, FS_SALE_MAX_STOCK);
	if (def.stock > FS_SALE_MAX_STOCK)
		return usage_err("--stock %s: a node holds at most %u units of a sale", stock,
			FS_SALE_MAX_STOCK);
	rc = parse_window(start, end, o[PAST] != NULL, now, &def);
	if (rc != 0)
		return rc;
	if (key != NULL && strcmp(def.admission, "token") != 0)
		return usage_err("--key needs --admission token");
	if (strcmp(def.admission, "token") == 0) {
		rc = key_or_random(key, def.key);
		if (rc != 0)
			return rc;
		def.has_key = true;
	}
	if (redis_open(g, &r) != 0)
		return EXIT_FAILURE;
	rc = redis_done(&r, fs_redis_sale_create(&r, &def));
	if (rc != 0)
		return rc;
	fs_out_init(&out, o[JSON] != NULL);
	print_sale(&def, false, &out);
	return fs_out_end(&out, 0);
}

/*
 * sale rekey: a new random token key in Redis (the old one kept as prev_token_key, valid until
 * now + grace), pushed to the dataplane at once when --dp is given (else the daemon does it).
 */
static int cmd_sale_rekey(const struct globals *g, int argc, char **argv)
{
	enum { SALE = 1, GRACE, KEY, JSON, N_OPTS };
	static const char spec[] = "sale= grace-s= key= json"; /* --key: hidden, a fixed new key */
	const char *o[N_OPTS];
	uint64_t grace_s = 60;
	uint32_t id;
	uint8_t k[16];
	char hex[33], cmd[128];
	int64_t until;
	struct fs_redis r;
	struct fs_out out;
	int rc;

	rc = fs_ctl_parse_opts(argc, argv, "sale ", spec, o, N_OPTS);
	if (rc != 0)
		return rc;
	rc = fs_ctl_opt_u64("grace-s", o[GRACE], 0, 7 * 24 * 3600, &grace_s);
	if (rc != 0)
		return rc;
	if (o[SALE] == NULL)
		return usage_err("sale rekey needs --sale N");
	rc = fs_ctl_parse_sale(o[SALE], &id);
	if (rc == 0)
		rc = key_or_random(o[KEY], k);
	if (rc != 0)
		return rc;
	until = grace_s == 0 ? 0 : fs_time_now_ms() + (int64_t)grace_s * 1000;
	if (redis_open(g, &r) != 0)
		return EXIT_FAILURE;
	rc = redis_done(&r, fs_redis_sale_rekey(&r, id, k, until));
	if (rc != 0)
		return rc;
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	fs_out_init(&out, o[JSON] != NULL);
	fs_out_u64(&out, "sale", id);
	fs_out_str(&out, "token_key", hex);
	fs_out_time(&out, "prev_key_until_ms", "prev_key_until", until, 1000, true);
	if (!have_dp(g))
		return fs_out_end(&out, 0);
	snprintf(cmd, sizeof(cmd), "/flashsale/sale/key,%" PRIu32 ",%s,%" PRIu64, id, hex,
		grace_s * 1000);
	return fs_out_end(&out, dp_show(g, cmd, "dp_", " (the daemon pushes the key)", &out));
}

/*
 * --sale N [--json] of status, stop and delete into *@p id and the output *@p out; with @p pg not
 * NULL (status) also [--pg URL] into *pg (NULL when not given). 0, or the usage error's code.
 */
static int parse_sale_only(int argc, char **argv, uint32_t *id, const char **pg, struct fs_out *out)
{
	enum { SALE = 1, JSON, PG, N_OPTS };
	/* --pg: status only */
	static const char spec[] = "sale= json pg=", spec_sale[] = "sale= json";
	const char *o[N_OPTS];
	int rc;

	rc = fs_ctl_parse_opts(argc, argv, "sale ", pg != NULL ? spec : spec_sale, o, N_OPTS);
	if (rc != 0)
		return rc;
	const char *sale = o[SALE];

	if (sale == NULL)
		return usage_err("sale %s needs --sale N", argv[0]);
	if (pg != NULL && o[PG] != NULL && *o[PG] == '\0')
		return usage_err("bad --pg ''");
	if (pg != NULL)
		*pg = o[PG];
	fs_out_init(out, o[JSON] != NULL);
	return fs_ctl_parse_sale(sale, id);
}

/*
 * --sale N of status (and --pg into *@p pg), stop and delete, then Redis opened: 0, or the exit
 * code.
 */
static int sale_and_redis(const struct globals *g, int argc, char **argv, uint32_t *id,
	struct fs_redis *r, const char **pg, struct fs_out *out)
{
	int rc = parse_sale_only(argc, argv, id, pg, out);

	if (rc != 0)
		return rc;
	return redis_open(g, r) != 0 ? EXIT_FAILURE : 0;
}

/* The dataplane's status of sale @p id as dp_ lines (an error on stderr leaves them out). */
static void dp_status_lines(const struct globals *g, uint32_t id, struct fs_out *out)
{
	struct json_object *st;
	struct fs_dpctl d;
	char cmd[64];
	int rc;

	if (dp_open(g, &d) < 0) {
		fflush(stdout);
		fprintf(stderr, "flashctl: %s (dataplane view left out)\n", d.errstr);
		return;
	}
	snprintf(cmd, sizeof(cmd), "/flashsale/sale/status,%" PRIu32, id);
	rc = fs_dpctl_cmd(&d, cmd, &st);
	fs_dpctl_close(&d);
	if (rc == -EREMOTEIO) {
		fs_out_str(out, "dp_error", d.errstr);
	} else if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "flashctl: %s (dataplane view left out)\n", d.errstr);
	} else {
		fs_out_dict(out, "dp_", st);
		json_object_put(st);
	}
}

/* sale status: Redis's view, then the dataplane's (--dp), then PostgreSQL's (--pg). */
static int cmd_sale_status(const struct globals *g, int argc, char **argv)
{
	struct fs_redis_sale s;
	struct fs_redis r;
	struct fs_out out;
	const char *pg = NULL;
	uint32_t id;
	int rc;

	rc = sale_and_redis(g, argc, argv, &id, &r, &pg, &out);
	if (rc != 0)
		return rc;
	rc = fs_redis_sale_get(&r, id, &s);
	if (rc == -ENOENT && fs_redis_sale_deleted(&r, id, &s.end_ms) == 1) {
		char iso[FS_TIME_ISO_LEN] = "";

		fs_redis_close(&r);
		fs_time_format(s.end_ms, 1000, iso, sizeof(iso));
		return fail("sale %" PRIu32 " was deleted at %" PRId64 " (unix ms, %s)", id,
			s.end_ms, iso);
	}
	if (rc < 0)
		return redis_done(&r, rc);
	print_sale(&s, true, &out);
	rc = redis_done(&r, fs_ctl_sale_nodes(&r, id, &out));
	if (rc != 0)
		return fs_out_end(&out, rc);
	if (have_dp(g))
		dp_status_lines(g, id, &out);
	return fs_out_end(&out, pg != NULL ? fs_ctl_sale_pg_status(pg, id, s.stock, &out) : 0);
}

static int cmd_sale_stop(const struct globals *g, int argc, char **argv)
{
	struct fs_redis r;
	struct fs_out out;
	char cmd[64];
	uint32_t id;
	int rc;

	rc = sale_and_redis(g, argc, argv, &id, &r, NULL, &out);
	if (rc != 0)
		return rc;
	rc = redis_done(&r, fs_redis_sale_stop(&r, id));
	if (rc != 0)
		return rc;
	fs_out_u64(&out, "sale", id);
	fs_out_str(&out, "state", "stopped");
	if (!have_dp(g))
		return fs_out_end(
			&out, 0); /* the daemon stops it on the dataplane within one interval */
	snprintf(cmd, sizeof(cmd), "/flashsale/sale/stop,%" PRIu32, id);
	return fs_out_end(&out, dp_show(g, cmd, "dp_", "", &out));
}

/* The one-line refusal of deleting sale @p id that is not over (state and numbers from Redis). */
static int delete_refused(struct fs_redis *r, uint32_t id)
{
	struct fs_redis_sale s;
	int64_t now = fs_time_now_ms();

	if (fs_redis_sale_get(r, id, &s) < 0)
		return redis_done(r, -1);
	fs_redis_close(r);
	return fail("sale %" PRIu32 " is %s (ends in %" PRId64 " s, sold %" PRId64 " of %" PRIu64
		    "): only an ended, stopped or sold-out sale can be deleted",
		id, s.state, (s.end_ms - now + 999) / 1000, s.sold, s.stock);
}

/* sale delete --dp: sale @p id deleted from that dataplane at once. 0 or the exit code. */
static int dp_delete(const struct globals *g, uint32_t id, struct fs_out *out)
{
	struct json_object *rep;
	struct fs_dpctl d;
	char cmd[64];
	int rc;

	if (dp_open(g, &d) < 0)
		return fail("%s (the daemon deletes it from the dataplane)", d.errstr);
	snprintf(cmd, sizeof(cmd), "/flashsale/sale/delete,%" PRIu32, id);
	rc = fs_dpctl_cmd(&d, cmd, &rep);
	fs_dpctl_close(&d);
	if (rc == -EREMOTEIO && strstr(d.errstr, "no sale") != NULL) {
		fs_out_u64(out, "dp_deleted", 0); /* not on that dataplane (any more) */
		return 0;
	}
	if (rc < 0)
		return fail("%s (the daemon deletes it from the dataplane)", d.errstr);
	fs_out_dict(out, "dp_", rep);
	json_object_put(rep);
	return 0;
}

/*
 * sale delete: remove an ended, stopped or sold-out sale's Redis keys, leaving the tombstone
 * fs:{N}:deleted (every daemon then deletes it from its dataplane; the id is never reused); with
 * --dp also from that dataplane at once. PostgreSQL rows are kept.
 */
static int cmd_sale_delete(const struct globals *g, int argc, char **argv)
{
	struct fs_redis_delete del;
	struct fs_redis r;
	struct fs_out out;
	uint32_t id;
	int rc;

	rc = sale_and_redis(g, argc, argv, &id, &r, NULL, &out);
	if (rc != 0)
		return rc;
	rc = fs_redis_sale_delete(&r, id, fs_time_now_ms(), &del);
	if (rc == -EBUSY)
		return delete_refused(&r, id);
	rc = redis_done(&r, rc);
	if (rc != 0)
		return rc;
	fs_out_u64(&out, "sale", id);
	fs_out_time(&out, "deleted_ms", "deleted", del.deleted_ms, 1000, false);
	fs_out_bool(&out, "already", del.already);
	if (!have_dp(g))
		return fs_out_end(&out, 0); /* every node's daemon deletes it from its dataplane */
	return fs_out_end(&out, dp_delete(g, id, &out));
}

static int cmd_sale_list(const struct globals *g, int argc, char **argv)
{
	struct fs_redis r;
	struct fs_out out;
	uint32_t *ids;
	size_t n;
	int rc = json_and_redis(g, argc, argv, "sale ", &r, &out);

	if (rc == 0)
		rc = redis_done(&r, fs_redis_sale_list(&r, &ids, &n));
	if (rc != 0)
		return rc;
	fs_out_u64(&out, "count", n);
	fs_out_list(&out, "sales");
	for (size_t i = 0; i < n; i++)
		fs_out_item_u64(&out, "sale", "sales", ids[i]);
	free(ids);
	return fs_out_end(&out, 0);
}

/*
 * One node of `node list`: its report line (JSON: an element of "nodes"), then its lease and
 * sold count of each sale (JSON: elements of "leases").
 */
static int node_print(struct fs_redis *r, const struct fs_node_info *v, const uint32_t *ids,
	size_t n, int64_t now, struct fs_out *out)
{
	const char *rep = strstr(v->info, "report_ms=");
	long long report_ms = rep != NULL ? strtoll(rep + 10, NULL, 10) : 0;
	char line[512];
	int rc;

	snprintf(line, sizeof(line), "node=%u alive=%d report_age_ms=%lld %s", v->node,
		v->alive_pttl >= 0 ? 1 : 0, report_ms > 0 ? (long long)now - report_ms : -1,
		v->info);
	fs_out_record(out, "nodes", line);
	for (size_t i = 0; i < n; i++) {
		int64_t leased, sold;

		rc = fs_nodes_sale(r, ids[i], v->node, &leased, &sold);
		if (rc < 0)
			return rc;
		if (leased < 0 && sold < 0)
			continue; /* the node has no part in this sale */
		snprintf(line, sizeof(line),
			"node=%u sale=%" PRIu32 " leased=%" PRId64 " sold=%" PRId64, v->node,
			ids[i], leased < 0 ? 0 : leased, sold < 0 ? 0 : sold);
		fs_out_record(out, "leases", line);
	}
	return 0;
}

/* Whether node @p node's daemon is alive (fs:node:{NODE}:alive exists): 1, 0, or -errno. */
static int node_alive(struct fs_redis *r, unsigned node)
{
	char key[48];
	struct redisReply *rep;
	int rc;

	snprintf(key, sizeof(key), "fs:node:{%u}:alive", node);
	const char *argv[] = {"EXISTS", key};
	rc = fs_redis_command(r, &rep, 2, argv);
	if (rc < 0)
		return rc;
	rc = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ? 1 : 0;
	freeReplyObject(rep);
	return rc;
}

/* Each sale of node @p node (PostgreSQL's rows @p rows) released in Redis, one line each.
 * @return 0, a Redis -errno, or exit code 1 after a PostgreSQL error line. */
static int forget_sales(struct fs_redis *r, struct fs_pgorders *pg, unsigned node,
	const struct fs_pgleases_row *rows, int n, struct fs_out *out)
{
	struct fs_node_forget f;
	char line[160];
	int rc;

	for (int i = 0; i < n; i++) {
		rc = fs_nodes_forget_sale(r, rows[i].sale_id, node, rows[i].sold, &f);
		if (rc < 0)
			return rc;
		/* Redis knew more sold than PostgreSQL: a later rebuild must use that count too */
		if (f.sold > rows[i].sold &&
			(rc = fs_pgleases_final(pg, rows[i].sale_id, (uint16_t)node, f.sold)) < 0)
			return fs_ctl_pg_fail(pg, rc);
		snprintf(line, sizeof(line),
			"sale=%" PRIu32 " node=%u leased=%" PRIu64 " sold=%" PRIu64 " back=%" PRId64
			" already=%d",
			rows[i].sale_id, node, rows[i].leased, f.sold, f.back, !f.done_now);
		fs_out_record(out, "released", line);
	}
	return 0;
}

/* node forget's steps once both stores are open (closes @p r). @return the exit code. */
static int forget_run(struct fs_redis *r, struct fs_pgorders *pg, unsigned node,
	struct fs_pgleases_row *rows, struct fs_out *out)
{
	int n = 0, rc = node_alive(r, node);
	char line[64];

	if (rc == 1) {
		fs_redis_close(r);
		return fail(
			"node %u has a live daemon (fs:node:{%u}:alive): stop it first; nothing "
			"changed",
			node, node);
	}
	if (rc == 0) {
		n = fs_pgleases_forget(pg, (uint16_t)node, rows, FORGET_SALES_MAX);
		if (n < 0) {
			fs_redis_close(r);
			return fs_ctl_pg_fail(pg, n);
		}
		rc = fs_nodes_forget_mark(r, node, fs_time_now_ms());
	}
	if (rc == 0) {
		snprintf(line, sizeof(line), "node=%u forgotten=1 sales=%d", node, n);
		fs_out_record(out, NULL, line);
		fs_out_list(out, "released");
		rc = forget_sales(
			r, pg, node, rows, n < FORGET_SALES_MAX ? n : FORGET_SALES_MAX, out);
		if (rc > 0) {
			fs_redis_close(r);
			return rc;
		}
	}
	return redis_done(r, rc);
}

/*
 * flashctl node forget --node N [--pg URL]: release a node gone for good, from its last totals in
 * PostgreSQL: refused while its daemon is alive; marks it forgotten (PostgreSQL, then Redis), then
 * gives each sale's unsold units back to its pool (once: a second run changes nothing).
 */
static int node_forget(const struct globals *g, int argc, char **argv)
{
	enum { NODE = 1, PG, JSON, N_OPTS };
	static const char spec[] = "node= pg= json";
	struct fs_pgleases_row *rows;
	struct fs_pgorders *pg;
	const char *o[N_OPTS];
	struct fs_redis r;
	struct fs_out out;
	uint64_t node = 0;
	int rc;

	rc = fs_ctl_parse_opts(argc, argv, "node ", spec, o, N_OPTS);
	if (rc == 0 && o[NODE] == NULL)
		rc = usage_err("node forget needs --node N");
	if (rc == 0)
		rc = fs_ctl_opt_u64("node", o[NODE], 1, UINT16_MAX, &node);
	if (rc != 0 || (pg = fs_ctl_pg_open(o[PG], "node forget", &rc)) == NULL)
		return rc;
	fs_out_init(&out, o[JSON] != NULL);
	rows = calloc(FORGET_SALES_MAX, sizeof(*rows));
	if (rows == NULL)
		rc = fail("out of memory");
	else if (redis_open(g, &r) != 0)
		rc = EXIT_FAILURE;
	else
		rc = forget_run(&r, pg, (unsigned)node, rows, &out);
	fs_pgorders_free(pg);
	free(rows);
	return fs_out_end(&out, rc);
}

/* flashctl node list: the nodes of fs:nodes, their liveness, rate, and part of each sale. */
static int node_list(const struct globals *g, int argc, char **argv)
{
	struct fs_node_info *v = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, ns = 0;
	struct fs_redis r;
	struct fs_out out;
	int rc = json_and_redis(g, argc, argv, "node ", &r, &out);

	if (rc != 0)
		return rc;
	rc = fs_nodes_list(&r, &v, &n);
	if (rc == 0)
		rc = fs_redis_sale_list(&r, &ids, &ns);
	if (rc == 0) {
		fs_out_u64(&out, "count", n);
		fs_out_list(&out, "nodes");
		fs_out_list(&out, "leases");
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = node_print(&r, &v[i], ids, ns, fs_time_now_ms(), &out);
	free(v);
	free(ids);
	return fs_out_end(&out, redis_done(&r, rc));
}

/* A sub-command: its name and what runs it (argv[0] is its name). */
struct ctl_cmd {
	const char *name;
	int (*run)(const struct globals *g, int argc, char **argv);
};

/* Command @p name of table @p t (ended by a NULL name), or NULL. */
static const struct ctl_cmd *cmd_find(const struct ctl_cmd *t, const char *name)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* The names of table @p t as "a, b or c" into @p buf (@p len bytes). */
static const char *cmd_names(const struct ctl_cmd *t, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; t[i].name != NULL && at < len; i++) {
		const char *sep = t[i + 1].name == NULL ? " or " : ", ";

		at += (size_t)snprintf(buf + at, len - at, "%s%s", i == 0 ? "" : sep, t[i].name);
	}
	return buf;
}

/*
 * Sub-command argv[1] of command group @p group ("sale ", "node ") from table @p t; argv[1]
 * --help alone: the help of every sub-command. An unknown one is a usage error, naming it when
 * @p name_unknown (else saying which there are, as when none is given). The exit code.
 */
static int cmd_group(const char *group, const struct ctl_cmd *t, bool name_unknown,
	const struct globals *g, int argc, char **argv)
{
	const struct ctl_cmd *c = argc >= 2 ? cmd_find(t, argv[1]) : NULL;
	char names[128];

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fs_ctl_help(group, "");
		return 0;
	}
	if (c != NULL)
		return c->run(g, argc - 1, argv + 1);
	if (argc >= 2 && name_unknown)
		return usage_err("unknown %ssub-command '%s'", group, argv[1]);
	return usage_err("%sneeds a sub-command: %s", group, cmd_names(t, names, sizeof(names)));
}

/* flashctl node list|forget. */
static int cmd_node(const struct globals *g, int argc, char **argv)
{
	static const struct ctl_cmd node_cmds[] = {
		{"list", node_list},
		{"forget", node_forget},
		{NULL, NULL},
	};

	return cmd_group("node ", node_cmds, false, g, argc, argv);
}

static int cmd_sale(const struct globals *g, int argc, char **argv)
{
	static const struct ctl_cmd sale_cmds[] = {
		{"create", cmd_sale_create},
		{"rekey", cmd_sale_rekey},
		{"status", cmd_sale_status},
		{"stop", cmd_sale_stop},
		{"delete", cmd_sale_delete},
		{"list", cmd_sale_list},
		{NULL, NULL},
	};

	return cmd_group("sale ", sale_cmds, true, g, argc, argv);
}

/*
 * --expiry of token: unix seconds, or a time as fs_time_parse takes it but unix ms (+1h, now, ISO
 * 8601; rounded up to a second). 0 or exit code.
 */
static int parse_expiry(const char *s, int64_t now, uint32_t *expiry)
{
	int64_t ms = -1;
	uint64_t v;

	if (fs_parse_u64(s, 0, UINT32_MAX, &v) == 0) {
		*expiry = (uint32_t)v;
		return 0;
	}
	/* digits alone are seconds (above): ms only from now, +N or ISO 8601 */
	if ((s[0] == '+' || strcmp(s, "now") == 0 || strchr(s, 'T') != NULL) &&
		fs_time_parse(s, now, &ms) == 0 && ms < ((int64_t)UINT32_MAX + 1) * 1000) {
		*expiry = (uint32_t)((ms + 999) / 1000);
		return 0;
	}
	return usage_err("bad --expiry '%s' (unix seconds, now, +N[ms|s|m|h|d] or ISO 8601 such as "
			 "2026-12-24T12:00:00Z, before 2106)",
		s);
}

/* Sale @p id's token key from Redis into @p key, and its end: 0, or the runtime error's code. */
static int sale_token_key(const struct globals *g, uint32_t id, uint8_t key[16], int64_t *end_ms)
{
	struct fs_redis_sale s;
	struct fs_redis r;
	int rc;

	if (redis_open(g, &r) != 0)
		return EXIT_FAILURE;
	rc = redis_done(&r, fs_redis_sale_get(&r, id, &s));
	if (rc != 0)
		return rc;
	if (!s.has_key)
		return fail("sale %" PRIu32 " has admission %s and no token key", id, s.admission);
	memcpy(key, s.key, 16);
	*end_ms = s.end_ms;
	return 0;
}

static int cmd_token(const struct globals *g, int argc, char **argv)
{
	enum { SALE = 1, USER, EXPIRY, NODE, KEY, JSON, N_OPTS };
	static const char spec[] =
		"sale= user= expiry= node= key= json"; /* --key: hidden, no Redis */
	const char *o[N_OPTS];
	struct fs_fcp_req req = {.type = FS_FCP_CLAIM};
	uint8_t k[16], wire[FS_FCP_LEN], tok[FS_FCP_TOKEN_LEN];
	int64_t now = fs_time_now_ms(), end_ms = 0;
	char hex[33];
	struct fs_out out;
	uint64_t v = 0;
	int c;

	c = fs_ctl_parse_opts(argc, argv, "", spec, o, N_OPTS);
	if (c != 0)
		return c;
	const char *sale = o[SALE], *user = o[USER], *expiry = o[EXPIRY], *node = o[NODE];
	const char *key = o[KEY];

	if (!sale || !user)
		return usage_err("token needs --sale and --user");
	c = fs_ctl_parse_sale(sale, &req.sale_id);
	if (c != 0)
		return c;
	if (fs_parse_u64(user, 0, UINT64_MAX, &req.user_id) < 0)
		return usage_err("bad --user '%s'", user);
	c = fs_ctl_opt_u64("node", node, 0, UINT16_MAX, &v);
	if (c == 0 && expiry != NULL)
		c = parse_expiry(expiry, now, &req.token_expiry);
	if (c != 0)
		return c;
	req.node_id = (uint16_t)v;
	if (key != NULL) {
		if (fs_parse_hex(key, k, 16) < 0)
			return usage_err("bad --key (32 hex digits)");
		if (expiry == NULL)
			req.token_expiry = (uint32_t)(now / 1000 + 3600);
	} else {
		c = sale_token_key(g, req.sale_id, k, &end_ms);
		if (c != 0)
			return c;
		if (expiry == NULL) /* valid for the whole sale */
			req.token_expiry = (uint32_t)((end_ms + 999) / 1000);
	}
	fs_fcp_encode_req(&req, wire);
	fs_fcp_token(k, wire, tok);
	sodium_bin2hex(hex, sizeof(hex), tok, sizeof(tok));
	fs_out_init(&out, o[JSON] != NULL);
	fs_out_u64(&out, "sale", req.sale_id);
	fs_out_u64(&out, "user", req.user_id);
	fs_out_time(&out, "expiry", "expiry_at", req.token_expiry, 1, false);
	fs_out_u64(&out, "node", req.node_id);
	fs_out_str(&out, "token", hex);
	return fs_out_end(&out, 0);
}

static int cmd_stats(const struct globals *g, int argc, char **argv)
{
	struct fs_out out;
	int rc = parse_json_only(argc, argv, "", &out);

	if (rc != 0)
		return rc;
	if (!have_dp(g))
		return usage_err("stats needs --dp PREFIX or --dp-socket PATH");
	return fs_out_end(&out, dp_show(g, "/flashsale/stats", "", "", &out));
}

static int cmd_daemon(const struct globals *g, int argc, char **argv)
{
	enum { INTERVAL = 1, REDIS_TO, DP_TO, PG, PG_TO, LMIN, LMAX, JSON, N_OPTS };
	static const char spec[] =
		"interval-ms= redis-timeout-ms= dp-timeout-ms= pg= pg-timeout-ms= "
		"lease-min= lease-max= json";
	struct fs_daemon_conf conf = {
		.redis_url = g->redis_url,
		.redis_password = g->redis_password,
		.dp_socket = g->dp_socket,
		.node_id = g->node_id,
	};
	const char *o[N_OPTS];
	uint64_t interval = 100, redis_to = FS_DAEMON_TIMEOUT_MS, dp_to = FS_DAEMON_TIMEOUT_MS;
	uint64_t pg_to = FS_DAEMON_TIMEOUT_MS, lmin = FS_LEASE_MIN_DEFAULT, lmax = 0;
	const struct fs_ctl_num num[] = {
		{INTERVAL, "interval-ms", 1, 3600 * 1000, &interval},
		{LMIN, "lease-min", 1, FS_SALE_MAX_STOCK, &lmin},
		{LMAX, "lease-max", 0, FS_SALE_MAX_STOCK, &lmax},
		{REDIS_TO, "redis-timeout-ms", 10, 600000, &redis_to},
		{DP_TO, "dp-timeout-ms", 10, 600000, &dp_to},
		{PG_TO, "pg-timeout-ms", 10, 600000, &pg_to},
		FS_CTL_NUM_END,
	};
	int rc;

	rc = fs_ctl_parse_nums(argc, argv, "", spec, o, N_OPTS, num);
	if (rc == 0 && lmax != 0 && lmax < lmin)
		rc = usage_err("--lease-max %" PRIu64 " is below --lease-min %" PRIu64, lmax, lmin);
	if (rc != 0)
		return rc;
	if (o[PG] != NULL && *o[PG] == '\0')
		return usage_err("bad --pg ''");
	conf.pg_url = o[PG];
	conf.json = o[JSON] != NULL;
	conf.interval_ms = (unsigned)interval;
	conf.redis_timeout_ms = (int)redis_to;
	conf.dp_timeout_ms = (int)dp_to;
	conf.pg_timeout_ms = (int)pg_to;
	conf.lease_min = lmin;
	conf.lease_max = lmax;
	if (!have_dp(g))
		return usage_err("daemon needs --dp PREFIX or --dp-socket PATH");
	rc = fs_daemon_run(&conf);
	if (rc == -EBUSY || rc == -EPERM) { /* held by a live daemon, or forgotten */
		bool held = rc == -EBUSY;

		fprintf(stderr, "flashctl: node %u %s%u%s: refused\n", conf.node_id,
			held ? "is held by another live daemon (fs:node:{"
			     : "was forgotten (flashctl node forget; fs:node:{",
			conf.node_id,
			held ? "}:alive refreshed)"
			     : "}:forgotten or PostgreSQL's forgotten_nodes)");
		return FS_DAEMON_EXIT_NODE_HELD;
	}
	if (rc < 0)
		return fail("daemon could not start");
	return 0;
}

static int cmd_audit(const struct globals *g, int argc, char **argv)
{
	enum { SALE = 1, STATE_DIR, PG, WON_FILE, WAIT, JSON, N_OPTS };
	static const char spec[] = "sale= state-dir= pg= won-file= wait-s= json";
	struct fs_audit_conf conf = {
		.redis_url = g->redis_url,
		.redis_password = g->redis_password,
		.dp_socket = g->dp_socket,
		.timeout_ms = IO_TIMEOUT_MS,
	};
	const char *o[N_OPTS];
	uint64_t wait_s = 10;
	const struct fs_ctl_num num[] = {{WAIT, "wait-s", 0, 3600, &wait_s}, FS_CTL_NUM_END};
	int rc;

	rc = fs_ctl_parse_nums(argc, argv, "", spec, o, N_OPTS, num);
	if (rc != 0)
		return rc;
	conf.state_dir = o[STATE_DIR];
	conf.pg_url = o[PG];
	conf.won_file = o[WON_FILE];
	conf.wait_s = (unsigned)wait_s;
	conf.json = o[JSON] != NULL;
	if (o[SALE] == NULL)
		return usage_err("audit needs --sale N");
	rc = fs_ctl_parse_sale(o[SALE], &conf.sale_id);
	if (rc != 0)
		return rc;
	if (conf.state_dir != NULL && *conf.state_dir == '\0')
		return usage_err("bad --state-dir ''");
	if (conf.pg_url != NULL && *conf.pg_url == '\0')
		return usage_err("bad --pg ''");
	if (conf.won_file != NULL && conf.pg_url == NULL && conf.state_dir == NULL)
		return usage_err("--won-file needs --pg or --state-dir to check it against");
	rc = fs_audit_run(&conf);
	if (rc < 0)
		return fail("audit: %s", strerror(-rc));
	return rc;
}

/* Value of a global option given as "--opt VALUE" or "--opt=VALUE"; NULL if @p a is not it. */
static const char *global_val(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/*
 * A password in a --redis URL given on the command line: keep a copy for ourselves and overwrite
 * it with 'x' in argv, as mysql's client does, so ps and /proc/PID/cmdline do not show it (from
 * then on: a ps in the first instant after exec may still see it; a password file does not).
 * Returns the URL to use (@p arg itself when it holds no password).
 */
static const char *hide_url_password(char *arg)
{
	struct fs_redis_url u;
	char *copy, *p, *end, *at = NULL, *colon;
	int rc = fs_redis_parse_url(arg, &u);

	sodium_memzero(u.pass, sizeof(u.pass));
	if (rc < 0 || !u.has_pass)
		return arg;
	copy = strdup(arg);
	if (copy == NULL)
		return arg;
	p = strstr(arg, "://") + 3;
	end = p + strcspn(p, "/");
	for (char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon != NULL)
		memset(colon + 1, 'x', (size_t)(at - colon - 1));
	return copy;
}

/* The global options before the command; *i is the command's index. 0 or the exit code. */
static int parse_globals(int argc, char **argv, struct globals *g, const char **pwfile, int *i)
{
	bool missing = false;
	const char *v;
	uint64_t n;

	for (*i = 1; *i < argc && argv[*i][0] == '-'; (*i)++) {
		if (strcmp(argv[*i], "-h") == 0 || strcmp(argv[*i], "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if ((v = global_val(argc, argv, i, "--redis", &missing)) != NULL) {
			g->redis_url = hide_url_password((char *)v);
		} else if ((v = global_val(argc, argv, i, "--redis-password-file", &missing))) {
			*pwfile = v;
		} else if ((v = global_val(argc, argv, i, "--dp-socket", &missing)) != NULL) {
			g->dp_socket = v;
		} else if ((v = global_val(argc, argv, i, "--dp", &missing)) != NULL) {
			g->dp_prefix = v;
		} else if ((v = global_val(argc, argv, i, "--node-id", &missing)) != NULL) {
			n = g->node_id;
			if (fs_ctl_opt_u64("node-id", v, 1, UINT16_MAX, &n) != 0)
				return FS_EXIT_USAGE;
			g->node_id = (unsigned)n;
		} else if (missing) {
			return usage_err("option '%s' needs a value", argv[*i]);
		} else {
			return usage_err("unknown option '%s'", argv[*i]);
		}
	}
	if (*i >= argc)
		return usage_err("no command given");
	return 0;
}

/* The Redis URL checked and the password read (file, else $REDIS_PASSWORD). 0 or exit code. */
static int redis_globals(struct globals *g, const char *pwfile)
{
	struct fs_redis_url u;
	char masked[512];
	const char *env = getenv("REDIS_PASSWORD");
	int rc;

	rc = fs_redis_parse_url(g->redis_url, &u);
	sodium_memzero(u.pass, sizeof(u.pass));
	if (rc == -EPROTONOSUPPORT)
		return usage_err("%s", FS_REDIS_NO_TLS);
	fs_redis_url_mask(g->redis_url, masked, sizeof(masked));
	if (rc < 0)
		return usage_err("bad Redis URL '%s' (%s)", masked, FS_REDIS_URL_FORMS);
	if (pwfile != NULL) {
		rc = fs_redis_password_file(pwfile, g->password_buf, sizeof(g->password_buf));
		if (rc == -EPERM)
			return fail(
				"--redis-password-file %s: group or others may read it (chmod 600 "
				"it)",
				pwfile);
		if (rc == -EINVAL)
			return fail(
				"--redis-password-file %s: not a file holding one password line "
				"(at most %zu bytes)",
				pwfile, sizeof(g->password_buf) - 2);
		if (rc < 0)
			return fail("--redis-password-file %s: %s", pwfile, strerror(-rc));
		g->redis_password = g->password_buf;
	} else if (env != NULL && *env != '\0') {
		g->redis_password = env;
	} /* else the config file's redis-password (main), else the URL's */
	return 0;
}

/* --dp / --dp-socket into g->dp_socket. 0 or exit code. */
static int dp_globals(struct globals *g)
{
	if (g->dp_prefix != NULL && g->dp_socket != NULL)
		return usage_err("give --dp or --dp-socket, not both");
	if (g->dp_prefix != NULL) {
		if (*g->dp_prefix == '\0' || strchr(g->dp_prefix, '/') != NULL)
			return usage_err("bad --dp '%s'", g->dp_prefix);
		if (fs_dpctl_path(g->dp_prefix, g->dp_path, sizeof(g->dp_path)) < 0)
			return usage_err("--dp '%s': socket path too long", g->dp_prefix);
		g->dp_socket = g->dp_path;
	}
	return 0;
}

/* The commands of other files, called as a struct ctl_cmd. */
static int cmd_order(const struct globals *g, int argc, char **argv)
{
	(void)g;
	return fs_ctl_order(argc, argv);
}

static int cmd_sweep(const struct globals *g, int argc, char **argv)
{
	(void)g;
	return fs_ctl_sweep(argc, argv);
}

static int cmd_metrics(const struct globals *g, int argc, char **argv)
{
	return fs_ctl_metrics(g->dp_socket, g->node_id, argc, argv);
}

static int cmd_watch(const struct globals *g, int argc, char **argv)
{
	return fs_ctl_watch(g->dp_socket, g->node_id, argc, argv);
}

/* The commands (after the global options). */
static const struct ctl_cmd cmds[] = {
	{"sale", cmd_sale},
	{"token", cmd_token},
	{"stats", cmd_stats},
	{"daemon", cmd_daemon},
	{"audit", cmd_audit},
	{"node", cmd_node},
	{"order", cmd_order},
	{"sweep", cmd_sweep},
	{"metrics", cmd_metrics},
	{"watch", cmd_watch},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	static struct globals g = {.node_id = 1};
	const struct ctl_cmd *cmd;
	const char *pwfile = NULL;
	char err[512];
	int i, rc;

	if (fs_version_asked(argc, argv)) {
		fs_version_print("flashctl");
		return 0;
	}
	/* the config file's [ctl] keys as options before the command line's (ctlconf.h) */
	if (fs_ctl_config(&argc, &argv, &g.redis_password, err, sizeof(err)) != 0)
		return usage_err("%s", err);
	g.redis_url = getenv("REDIS_URL");
	if (g.redis_url == NULL || *g.redis_url == '\0')
		g.redis_url = FS_REDIS_URL_DEFAULT;
	rc = parse_globals(argc, argv, &g, &pwfile, &i);
	if (rc == 0)
		rc = dp_globals(&g);
	if (rc == 0)
		rc = redis_globals(&g, pwfile);
	if (rc != 0)
		return rc;
	if (sodium_init() < 0)
		return fail("libsodium init failed");
	setvbuf(stdout, NULL, _IOLBF, 0);

	argc -= i;
	argv += i;
	cmd = cmd_find(cmds, argv[0]);
	if (cmd == NULL)
		return usage_err("unknown command '%s'", argv[0]);
	return cmd->run(&g, argc, argv);
}
