/* Telemetry commands under /flashsale/: statistics, sale status and the control operations. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_telemetry.h>
#include <sodium.h>

#include "claim.h"
#include "clock.h"
#include "counters.h"
#include "log.h"
#include "parse.h"
#include "port.h"
#include "ratelimit.h"
#include "sale.h"
#include "stock.h"
#include "synchist.h"
#include "telemetry.h"
#include "verify.h"
#include "worker.h"

/*
 * The most parameters a command takes, so split_params can hold every one of them; more is a usage
 * error. The longest is /flashsale/sale/create: 5 fixed (ID,STOCK,START_MS,END_MS,open|token) and
 * 4 optional (KEYHEX32,rate=R,burst=B,hold=MS), all 9 of which the daemon sends for a token sale
 * with a rate limit and a hold. The others: lease 4, key 3, release 3, holds 3, giveback 3,
 * retry 2; status, counters,
 * stop, delete 1.
 */
#define TEL_CREATE_FIXED 5
#define TEL_CREATE_OPTIONAL 4
#define TEL_MAX_PARAMS 9
_Static_assert(TEL_MAX_PARAMS == TEL_CREATE_FIXED + TEL_CREATE_OPTIONAL,
	"TEL_MAX_PARAMS is the parameter count of the longest /flashsale/sale/create");
#define TEL_PARAMS_LEN 256

static struct fs_telemetry_ctx tel;
/* serialises the control operations (sale table and control journal writers) and `closing` */
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static bool closing; /* under tel_lock */

/* {"error": msg} */
static int reply_error(struct rte_tel_data *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int reply_error(struct rte_tel_data *d, const char *fmt, ...)
{
	char msg[RTE_TEL_MAX_STRING_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "error", msg);
	return 0;
}

/* Split a copy of @p params at commas into @p f (at most TEL_MAX_PARAMS). Returns the count. */
static int split_params(const char *params, char *buf, char **f)
{
	int n = 0;
	char *save = NULL, *tok;

	if (params == NULL)
		return 0;
	if (snprintf(buf, TEL_PARAMS_LEN, "%s", params) >= TEL_PARAMS_LEN)
		return -1;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (n == TEL_MAX_PARAMS)
			return -1;
		while (*tok == ' ')
			tok++;
		f[n++] = tok;
	}
	return n;
}

/*
 * A number parameter for fs_parse_u64/fs_parse_i64: @p f without the spaces after it, copied
 * into @p num (TEL_PARAMS_LEN bytes), as split_params dropped those before it ("7 " reads as 7,
 * as the commands have always read numbers). NULL (which those refuse) if anything follows.
 */
static const char *param_num(const char *f, char *num)
{
	size_t n = strcspn(f, " ");

	if (n >= TEL_PARAMS_LEN || f[n + strspn(f + n, " ")] != '\0')
		return NULL;
	memcpy(num, f, n);
	num[n] = '\0';
	return num;
}

/* A decimal parameter in [@p min, @p max]: 0 or -EINVAL. */
static int param_u64(const char *f, uint64_t min, uint64_t max, uint64_t *out)
{
	char num[TEL_PARAMS_LEN];

	return fs_parse_u64(param_num(f, num), min, max, out);
}

/* A signed decimal parameter, any int64_t: 0 or -EINVAL. */
static int param_i64(const char *f, int64_t *out)
{
	char num[TEL_PARAMS_LEN];

	return fs_parse_i64(param_num(f, num), INT64_MIN, INT64_MAX, out);
}

static int parse_sale_id(const char *s, uint32_t *id)
{
	uint64_t v = 0;
	int ret = param_u64(s, 0, UINT32_MAX, &v);

	if (ret == 0)
		*id = (uint32_t)v;
	return ret;
}

/* The bounds of a decimal parameter, for parse_id_params. */
struct param_range {
	uint64_t min;
	uint64_t max;
};

/*
 * Parameters "ID[,N...]": a sale id into @p id, then exactly @p n decimals, the i-th in
 * @p range[i] into @p num[i]. 0, or -EINVAL (a wrong count or a bad field: a usage error).
 */
static int parse_id_params(const char *params, uint32_t *id, unsigned n,
	const struct param_range *range, uint64_t *num)
{
	char buf[TEL_PARAMS_LEN];
	char *f[TEL_MAX_PARAMS];
	unsigned i;

	if (split_params(params, buf, f) != (int)n + 1 || parse_sale_id(f[0], id) != 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (param_u64(f[i + 1], range[i].min, range[i].max, &num[i]) != 0)
			return -EINVAL;
	return 0;
}

/* Key id: 16 hex digits of BLAKE2b-64 of the key, so the daemon can compare keys unseen. */
static void key_fp(const uint8_t key[16], char out[17])
{
	uint8_t h[8];

	crypto_generichash(h, sizeof(h), key, 16, NULL, 0);
	sodium_bin2hex(out, 17, h, sizeof(h));
}

/* A telemetry key: @p pfx and the status's counter name ("claim_" "won"). */
static const char *reply_key(char *buf, size_t n, const char *pfx, unsigned st)
{
	snprintf(buf, n, "%s%s", pfx, fs_counter_name((enum fs_counter)(FS_CNT_ST_WON + st)));
	return buf;
}

/*
 * @p s's replies (fs_sale_counters_sum) into dict @p d: claims, status_requests, then claim_NAME
 * and status_NAME per status (counters.h's names; UNKNOWN_SALE is never a sale's).
 */
static void counters_add(struct rte_tel_data *d, const struct fs_sale *s)
{
	struct fs_sale_counters c;
	char key[64];
	unsigned st;

	fs_sale_counters_sum(s, &c);
	rte_tel_data_add_dict_u64(d, "claims", c.claims);
	rte_tel_data_add_dict_u64(d, "status_requests", c.status_requests);
	for (st = 0; st < FS_ST__COUNT; st++) {
		if (st == FS_ST_UNKNOWN_SALE)
			continue;
		rte_tel_data_add_dict_u64(d, reply_key(key, sizeof(key), "claim_", st), c.claim[st]);
		rte_tel_data_add_dict_u64(
			d, reply_key(key, sizeof(key), "status_", st), c.status[st]);
	}
}

/* The status dict of @p s (HACKING.md). Under tel_lock: rekeys and deletes wait for it. */
static void status_dict(struct rte_tel_data *d, const struct fs_sale *s)
{
	int64_t now = fs_clock_ms();
	bool sold_out =
		fs_soldout_is(fs_soldout_load(&s->sold_out)) || fs_stock_sold_out(&s->stock);

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "sale_id", s->sale_id);
	rte_tel_data_add_dict_u64(d, "total", s->total);
	rte_tel_data_add_dict_u64(d, "leased", __atomic_load_n(&s->stock.leased, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "final", __atomic_load_n(&s->stock.final, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "sold", fs_stock_sold(&s->stock));
	rte_tel_data_add_dict_u64(d, "remaining", fs_stock_remaining(&s->stock));
	rte_tel_data_add_dict_u64(d, "start_ms", (uint64_t)s->start_ms);
	rte_tel_data_add_dict_u64(d, "end_ms", (uint64_t)s->end_ms);
	rte_tel_data_add_dict_string(
		d, "admission", s->admission == FS_ADM_TOKEN ? "token" : "open");
	rte_tel_data_add_dict_string(d, "state", fs_sale_state_name(fs_sale_state(s, now)));
	rte_tel_data_add_dict_u64(d, "sold_out", sold_out ? 1 : 0);
	rte_tel_data_add_dict_u64(d, "winners_used", fs_winners_used(s->winners));
	rte_tel_data_add_dict_u64(d, "key_set", __atomic_load_n(&s->key_set, __ATOMIC_ACQUIRE));
	if (s->key_set) {
		char fp[17];

		key_fp(s->key, fp);
		rte_tel_data_add_dict_string(d, "key_id", fp);
		rte_tel_data_add_dict_u64(d, "prev_key_until_ms", (uint64_t)fs_sale_prev_until(s));
	}
	{
		uint32_t rate, burst;

		fs_sale_limits(tel.table, s, &rate, &burst);
		rte_tel_data_add_dict_u64(d, "rate_limit", rate);
		rte_tel_data_add_dict_u64(d, "rate_burst", burst);
		rte_tel_data_add_dict_u64(d, "rate_own", s->rl_set);
	}
	rte_tel_data_add_dict_u64(d, "giveback_seq", s->gb_seq);
	rte_tel_data_add_dict_u64(d, "giveback_units", s->gb_units);
	rte_tel_data_add_dict_u64(d, "given_back", s->given);
	/* relaxed: the pushed hint (struct fs_sale) */
	rte_tel_data_add_dict_u64(
		d, "lease_retry_ms", __atomic_load_n(&s->lease_retry_ms, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "hold_ms", s->hold_ms);
	if (s->hold_ms > 0) {
		/* relaxed: the pushed hint (struct fs_sale) */
		rte_tel_data_add_dict_u64(
			d, "holds_open", __atomic_load_n(&s->holds_open, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(d, "holds_next_ms",
			(uint64_t)__atomic_load_n(&s->holds_next_ms, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(d, "returned", s->returned);
		rte_tel_data_add_dict_u64(d, "released", fs_winners_released(s->winners));
	}
	counters_add(d, s);
}

/* Reply for a control operation's result @p ret on sale @p id (tel_lock held). */
static int control_reply(struct rte_tel_data *d, int ret, uint32_t id)
{
	const struct fs_sale *s;

	if (tel.journal_fsync && ret == 0 && tel.ctl != NULL)
		ret = fs_journal_sync(tel.ctl);
	switch (ret) {
	case 0:
		break;
	case -EEXIST:
		return reply_error(d, "sale %" PRIu32 " exists", id);
	case -EIDRM:
		return reply_error(d, "sale %" PRIu32 " was deleted", id);
	case -ENOENT:
		if (fs_sale_was_deleted(tel.table, id))
			return reply_error(d, "sale %" PRIu32 " was deleted", id);
		return reply_error(d, "unknown sale %" PRIu32, id);
	case -EINVAL:
		return reply_error(d, "invalid parameters for sale %" PRIu32, id);
	case -EALREADY:
		return reply_error(d, "sale %" PRIu32 ": order already released", id);
	case -ESRCH:
		return reply_error(d, "sale %" PRIu32 ": the user holds no such order here", id);
	case -E2BIG:
		return reply_error(d,
			"sale %" PRIu32 ": stock above the limit of %u units per sale", id,
			FS_SALE_MAX_STOCK);
	case -ENOSPC:
		if (tel.table->n >= FS_MAX_SALES)
			return reply_error(d,
				"sale %" PRIu32 ": this node holds %u live sales, the most it can: "
				"delete ended ones",
				id, FS_MAX_SALES);
		return reply_error(d, "sale %" PRIu32 ": %s", id, strerror(-ret));
	default:
		return reply_error(d, "sale %" PRIu32 ": %s", id, strerror(-ret));
	}
	s = fs_sale_lookup(tel.table, id);
	FS_VERIFY(s != NULL); /* the operation succeeded under tel_lock: the sale is there */
	status_dict(d, s);
	return 0;
}

/* Take tel_lock unless shutting down; returns false (reply set) when refused. */
static bool control_begin(struct rte_tel_data *d)
{
	pthread_mutex_lock(&tel_lock);
	if (!closing)
		return true;
	pthread_mutex_unlock(&tel_lock);
	reply_error(d, "shutting down");
	return false;
}

/* mbufs out of every port's pool (lcore caches count as free). */
static uint64_t mbuf_in_use(void)
{
	static struct fs_port_stats st[FS_MAX_PORTS]; /* under lock */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint64_t sum = 0;
	unsigned i, n;

	pthread_mutex_lock(&lock);
	n = fs_port_stats_read(st, FS_MAX_PORTS);
	for (i = 0; i < n; i++)
		sum += st[i].pool_in_use;
	pthread_mutex_unlock(&lock);
	return sum;
}

static int cmd_stats(
	const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	struct fs_lcore_stats sum;
	uint32_t sales;
	int i;

	fs_worker_stats_sum(tel.workers, tel.n_workers, &sum);
	pthread_mutex_lock(&tel_lock);
	sales = tel.table->n;
	pthread_mutex_unlock(&tel_lock);

	rte_tel_data_start_dict(d);
	for (i = 0; i < FS_CNT__COUNT; i++)
		rte_tel_data_add_dict_u64(d, fs_counter_name((enum fs_counter)i), sum.cnt[i]);
	for (i = FS_DROP_NONE + 1; i < FS_DROP__COUNT; i++)
		rte_tel_data_add_dict_u64(d, fs_drop_name((enum fs_drop)i), sum.drop[i]);
	rte_tel_data_add_dict_u64(d, "node_id", tel.node_id);
	rte_tel_data_add_dict_u64(d, "workers", tel.n_workers);
	rte_tel_data_add_dict_u64(d, "sales", sales);
	rte_tel_data_add_dict_u64(d, "uptime_ms", (uint64_t)(fs_clock_mono_ms() - tel.start_ms));
	rte_tel_data_add_dict_u64(d, "mbuf_in_use", mbuf_in_use());
	/* the TSC now and its rate: busy_cycles read against elapsed cycles */
	rte_tel_data_add_dict_u64(d, "tsc", rte_rdtsc());
	rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());
	return 0;
}

/* One dict per port, under its name: ethdev counters and its pool's occupancy. */
static int cmd_ports(
	const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	static struct fs_port_stats st[FS_MAX_PORTS]; /* under ports_lock */
	static pthread_mutex_t ports_lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned i, n;

	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&ports_lock);
	n = fs_port_stats_read(st, FS_MAX_PORTS);
	for (i = 0; i < n; i++) {
		struct rte_tel_data *p = rte_tel_data_alloc();

		if (p == NULL)
			break;
		rte_tel_data_start_dict(p);
		rte_tel_data_add_dict_string(p, "name", st[i].name);
		rte_tel_data_add_dict_u64(p, "port_id", st[i].port_id);
		rte_tel_data_add_dict_u64(p, "stats_ok", st[i].stats_ret == 0);
		rte_tel_data_add_dict_u64(p, "rx_pkts", st[i].eth.ipackets);
		rte_tel_data_add_dict_u64(p, "tx_pkts", st[i].eth.opackets);
		rte_tel_data_add_dict_u64(p, "imissed", st[i].eth.imissed);
		rte_tel_data_add_dict_u64(p, "ierrors", st[i].eth.ierrors);
		rte_tel_data_add_dict_u64(p, "rx_nombuf", st[i].eth.rx_nombuf);
		rte_tel_data_add_dict_u64(p, "oerrors", st[i].eth.oerrors);
		rte_tel_data_add_dict_u64(p, "mempool_in_use", st[i].pool_in_use);
		rte_tel_data_add_dict_u64(p, "mempool_size", st[i].pool_size);
		if (rte_tel_data_add_dict_container(d, st[i].name, p, 0) != 0)
			rte_tel_data_free(p);
	}
	pthread_mutex_unlock(&ports_lock);
	return 0;
}

static int cmd_sale_list(
	const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	static uint32_t ids[FS_MAX_SALES]; /* under tel_lock */
	struct rte_tel_data *arr = rte_tel_data_alloc();
	unsigned i, n;

	if (arr == NULL)
		return reply_error(d, "out of memory");
	rte_tel_data_start_array(arr, RTE_TEL_U64_VAL);
	pthread_mutex_lock(&tel_lock);
	n = fs_sale_list(tel.table, ids, FS_MAX_SALES); /* the live sales, ascending */
	/* a telemetry array holds RTE_TEL_MAX_ARRAY_ENTRIES values: the lowest ids are listed */
	for (i = 0; i < n && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++)
		rte_tel_data_add_array_u64(arr, ids[i]);
	pthread_mutex_unlock(&tel_lock);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_container(d, "sales", arr, 0);
	return 0;
}

/*
 * A read-only command on sale ID (parameters "ID"): @p fill writes its dict, under the control
 * lock (a rekey rewrites the key a status reads, a delete frees the sale); @p usage names the
 * command in the usage error.
 */
static int sale_read_cmd(const char *params, struct rte_tel_data *d, const char *usage,
	void (*fill)(struct rte_tel_data *d, const struct fs_sale *s))
{
	const struct fs_sale *s;
	uint32_t id;

	if (parse_id_params(params, &id, 0, NULL, NULL) != 0)
		return reply_error(d, "usage: %s,ID", usage);
	pthread_mutex_lock(&tel_lock);
	s = fs_sale_lookup(tel.table, id);
	if (s == NULL && fs_sale_was_deleted(tel.table, id))
		reply_error(d, "sale %" PRIu32 " was deleted", id);
	else if (s == NULL)
		reply_error(d, "unknown sale %" PRIu32, id);
	else
		fill(d, s);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

static int cmd_sale_status(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	return sale_read_cmd(params, d, "/flashsale/sale/status", status_dict);
}

/* A sale's replies by status (counters_add), with its sale_id. */
static void counters_dict(struct rte_tel_data *d, const struct fs_sale *s)
{
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "sale_id", s->sale_id);
	counters_add(d, s);
}

static int cmd_sale_counters(
	const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	return sale_read_cmd(params, d, "/flashsale/sale/counters", counters_dict);
}

/* One journal's heads as a dict under its index ("0", ..., "255" for the control journal). */
static void journal_add(struct rte_tel_data *d, const struct fs_journal *j, unsigned index)
{
	struct rte_tel_data *o = rte_tel_data_alloc();
	uint64_t written, durable;
	char name[8];

	if (o == NULL)
		return;
	fs_journal_heads(j, &written, &durable);
	rte_tel_data_start_dict(o);
	rte_tel_data_add_dict_u64(o, "journal", index);
	rte_tel_data_add_dict_u64(o, "written", written);
	rte_tel_data_add_dict_u64(o, "durable", durable);
	snprintf(name, sizeof(name), "%u", index);
	if (rte_tel_data_add_dict_container(d, name, o, 0) != 0)
		rte_tel_data_free(o);
}

/* Every journal's written and durable seq, and the state directory's instance. */
static int cmd_journals(
	const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	char inst[17];
	unsigned w;

	snprintf(inst, sizeof(inst), "%016" PRIx64, tel.instance);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node_id", tel.node_id);
	rte_tel_data_add_dict_string(d, "instance", inst);
	rte_tel_data_add_dict_u64(d, "fsync", tel.journal_fsync);
	for (w = 0; w < tel.n_workers && tel.journals != NULL; w++)
		if (tel.journals[w] != NULL)
			journal_add(d, tel.journals[w], w);
	/* the control journal's writer is the control path: its heads under tel_lock, until
	 * main closes it (closing) */
	pthread_mutex_lock(&tel_lock);
	if (!closing && tel.ctl != NULL)
		journal_add(d, tel.ctl, FS_JOURNAL_CONTROL);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* One array of @p n u64 values (@p v) under @p name in @p d. */
static void add_u64_array(struct rte_tel_data *d, const char *name, const uint64_t *v, unsigned n)
{
	struct rte_tel_data *a = rte_tel_data_alloc();

	if (a == NULL)
		return;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (unsigned i = 0; i < n; i++)
		rte_tel_data_add_array_u64(a, v[i]);
	if (rte_tel_data_add_dict_container(d, name, a, 0) != 0)
		rte_tel_data_free(a);
}

/*
 * A worker journal's group syncs (--journal-sync fsync): the group interval, how many syncs
 * succeeded, their total time and their histogram (synchist.h: "le_us" each bucket's exclusive
 * upper bound in µs, the last 0 for none; "count" the syncs in it).
 */
static int cmd_journal_syncs(
	const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	uint64_t counts[FS_SYNC_HIST_N], le[FS_SYNC_HIST_N], sum_ns, n = 0, idx;

	if (params == NULL || fs_parse_u64(params, 0, FS_JOURNAL_CONTROL - 1, &idx) != 0 ||
		idx >= tel.n_workers || tel.journals == NULL || tel.journals[idx] == NULL)
		return reply_error(d, "usage: /flashsale/journal/syncs,N (a worker journal, 0..%u)",
			tel.n_workers > 0 ? tel.n_workers - 1 : 0);
	fs_journal_sync_hist(tel.journals[idx], counts, &sum_ns);
	for (unsigned i = 0; i < FS_SYNC_HIST_N; i++) {
		n += counts[i];
		le[i] = i + 1 < FS_SYNC_HIST_N ? fs_sync_hist_upper_us(i) : 0;
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "journal", idx);
	rte_tel_data_add_dict_u64(d, "fsync", tel.journal_fsync);
	rte_tel_data_add_dict_u64(d, "group_interval_us", tel.group_interval_us);
	rte_tel_data_add_dict_u64(d, "syncs", n);
	rte_tel_data_add_dict_u64(d, "sync_ns_sum", sum_ns);
	add_u64_array(d, "le_us", le, FS_SYNC_HIST_N);
	add_u64_array(d, "count", counts, FS_SYNC_HIST_N);
	return 0;
}

/* Same definition as @p def: the idempotent re-create of the daemon. */
static bool same_def(const struct fs_sale *s, const struct fs_sale_def *def)
{
	if (s->total != def->stock || s->start_ms != def->start_ms || s->end_ms != def->end_ms ||
		s->hold_ms != def->hold_ms ||
		s->admission != def->admission || s->rl_set != def->rl_set ||
		(def->rl_set && (s->rl_rate != def->rl_rate || s->rl_burst != def->rl_burst)))
		return false;
	if (def->has_key && __atomic_load_n(&s->key_set, __ATOMIC_ACQUIRE) &&
		memcmp(s->key, def->key, sizeof(def->key)) != 0)
		return false;
	return true;
}

/* An optional create parameter: rate=R, burst=B or hold=MS. 0, 1 if not one of these, -EINVAL. */
static int parse_limit(const char *f, struct fs_sale_def *def)
{
	uint64_t v;

	if (strncmp(f, "hold=", 5) == 0) {
		if (param_u64(f + 5, 0, FS_HOLD_MAX_MS, &v) != 0)
			return -EINVAL;
		def->hold_ms = (uint32_t)v;
		return 0;
	}
	if (strncmp(f, "rate=", 5) == 0) {
		if (param_u64(f + 5, 0, FS_RL_RATE_MAX, &v) != 0)
			return -EINVAL;
		def->rl_rate = (uint32_t)v;
	} else if (strncmp(f, "burst=", 6) == 0) {
		if (param_u64(f + 6, 1, FS_RL_BURST_MAX, &v) != 0)
			return -EINVAL;
		def->rl_burst = (uint32_t)v;
	} else {
		return 1;
	}
	def->rl_set = true;
	return 0;
}

static int cmd_sale_create(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	static const char usage[] = "usage: /flashsale/sale/create,ID,STOCK,START_MS,END_MS,"
				    "open|token[,KEYHEX32][,rate=R][,burst=B][,hold=MS]";
	char buf[TEL_PARAMS_LEN];
	char *f[TEL_MAX_PARAMS];
	struct fs_sale_def def;
	const struct fs_sale *s;
	int n = split_params(params, buf, f);
	int ret;

	memset(&def, 0, sizeof(def));
	if (n < TEL_CREATE_FIXED) /* -1: more than TEL_MAX_PARAMS */
		return reply_error(d, "%s", usage);
	if (parse_sale_id(f[0], &def.sale_id) != 0 ||
		param_u64(f[1], 0, UINT64_MAX, &def.stock) != 0 ||
		param_i64(f[2], &def.start_ms) != 0 || param_i64(f[3], &def.end_ms) != 0)
		return reply_error(d, "%s", usage);
	if (strcmp(f[4], "open") == 0)
		def.admission = FS_ADM_OPEN;
	else if (strcmp(f[4], "token") == 0)
		def.admission = FS_ADM_TOKEN;
	else
		return reply_error(d, "%s", usage);
	for (int i = TEL_CREATE_FIXED; i < n; i++) {
		ret = parse_limit(f[i], &def);
		if (ret < 0)
			return reply_error(d, "bad %s: rate=0..%u, burst=1..%u, hold=0..%u", f[i],
				FS_RL_RATE_MAX, FS_RL_BURST_MAX, FS_HOLD_MAX_MS);
		if (ret == 0)
			continue;
		if (i != TEL_CREATE_FIXED || fs_parse_hex(f[5], def.key, sizeof(def.key)) != 0)
			return reply_error(d, "bad key: 32 hex digits expected");
		def.has_key = true;
	}
	if (def.rl_set && def.rl_burst == 0 && def.rl_rate != 0)
		def.rl_burst = def.rl_rate > FS_RL_BURST_MAX ? FS_RL_BURST_MAX : def.rl_rate;

	if (!control_begin(d))
		return 0;
	s = fs_sale_lookup(tel.table, def.sale_id);
	if (s != NULL) {
		if (!same_def(s, &def))
			ret = -EEXIST;
		else if (def.has_key && !__atomic_load_n(&s->key_set, __ATOMIC_ACQUIRE))
			ret = fs_sale_ctl_set_key(
				tel.table, tel.ctl, tel.node_id, def.sale_id, def.key, 0);
		else
			ret = 0;
	} else {
		ret = fs_sale_ctl_create(tel.table, tel.ctl, tel.node_id, &def);
		if (ret == 0)
			FS_LOG(INFO,
				"sale %" PRIu32 " created: stock %" PRIu64 " window [%" PRId64
				", %" PRId64 ") %s, rate limit %s%u/s burst %u, hold %" PRIu32
				" ms",
				def.sale_id, def.stock, def.start_ms, def.end_ms, f[4],
				def.rl_set ? "" : "(node default) ",
				def.rl_set ? def.rl_rate : tel.table->rl_rate,
				def.rl_set ? def.rl_burst : tel.table->rl_burst, def.hold_ms);
	}
	control_reply(d, ret, def.sale_id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

static int cmd_sale_lease(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	char buf[TEL_PARAMS_LEN];
	char *f[TEL_MAX_PARAMS];
	uint64_t units, final, returned = 0;
	uint32_t id;
	int n = split_params(params, buf, f);

	if ((n != 3 && n != 4) || parse_sale_id(f[0], &id) != 0 ||
		param_u64(f[1], 0, UINT32_MAX, &units) != 0 || param_u64(f[2], 0, 1, &final) != 0 ||
		(n == 4 && (strncmp(f[3], "returned=", 9) != 0 ||
				   param_u64(f[3] + 9, 0, UINT32_MAX, &returned) != 0)))
		return reply_error(d, "usage: /flashsale/sale/lease,ID,UNITS,FINAL(0/1)[,returned=R]");
	if (!control_begin(d))
		return 0;
	control_reply(d,
		fs_sale_ctl_lease_returned(
			tel.table, tel.ctl, tel.node_id, id, units, final != 0, returned),
		id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

static int cmd_sale_key(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	char buf[TEL_PARAMS_LEN];
	char *f[TEL_MAX_PARAMS];
	uint64_t grace = FS_SALE_GRACE_MS;
	uint8_t key[16];
	uint32_t id;
	int n = split_params(params, buf, f);

	if ((n != 2 && n != 3) || parse_sale_id(f[0], &id) != 0 ||
		fs_parse_hex(f[1], key, sizeof(key)) != 0 ||
		(n == 3 && param_u64(f[2], 0, 7ull * 24 * 3600 * 1000, &grace) != 0))
		return reply_error(d, "usage: /flashsale/sale/key,ID,KEYHEX32[,GRACE_MS]");
	if (!control_begin(d))
		return 0;
	/* the key it replaces stays valid for GRACE_MS more (0: refused at once) */
	control_reply(d,
		fs_sale_ctl_set_key(tel.table, tel.ctl, tel.node_id, id, key,
			grace == 0 ? 0 : fs_clock_ms() + (int64_t)grace),
		id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

static int cmd_sale_stop(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	uint32_t id;

	if (parse_id_params(params, &id, 0, NULL, NULL) != 0)
		return reply_error(d, "usage: /flashsale/sale/stop,ID");
	if (!control_begin(d))
		return 0;
	control_reply(d, fs_sale_ctl_stop(tel.table, tel.ctl, tel.node_id, id), id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* {"sale_id": ID, "deleted": 1}, or an error: only a stopped, ended or sold-out sale goes. */
static int cmd_sale_delete(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	const struct fs_sale *s;
	int64_t now = fs_clock_ms();
	uint32_t id;
	int ret;

	if (parse_id_params(params, &id, 0, NULL, NULL) != 0)
		return reply_error(d, "usage: /flashsale/sale/delete,ID");
	if (!control_begin(d))
		return 0;
	s = fs_sale_lookup(tel.table, id);
	ret = fs_sale_ctl_delete(tel.table, tel.ctl, tel.node_id, id, now);
	if (tel.journal_fsync && ret == 0 && tel.ctl != NULL)
		ret = fs_journal_sync(tel.ctl);
	if (ret == 0) {
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_u64(d, "sale_id", id);
		rte_tel_data_add_dict_u64(d, "deleted", 1);
		if (s != NULL)
			FS_LOG(INFO, "sale %" PRIu32 " deleted", id);
	} else if (ret == -ENOENT) {
		reply_error(d, "no sale %" PRIu32, id);
	} else if (ret == -EBUSY) {
		reply_error(d, "sale %" PRIu32 " is %s: stop it first", id,
			fs_sale_state_name(fs_sale_state(s, now)));
	} else {
		reply_error(d, "sale %" PRIu32 ": %s", id, strerror(-ret));
	}
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* Release an order (hold expired or cancelled): its user's claims get RELEASED from now on. */
static int cmd_sale_release(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	static const struct param_range range[] = {{0, UINT64_MAX}, {1, UINT64_MAX}};
	uint64_t v[RTE_DIM(range)], user, order;
	uint32_t id;
	int ret;

	if (parse_id_params(params, &id, RTE_DIM(range), range, v) != 0)
		return reply_error(d, "usage: /flashsale/sale/release,ID,USER,ORDER");
	user = v[0];
	order = v[1];
	if (!control_begin(d))
		return 0;
	ret = fs_sale_ctl_release(tel.table, tel.ctl, tel.node_id, id, user, order);
	if (ret == 0)
		FS_LOG(INFO, "sale %" PRIu32 ": order %" PRIu64 " of user %" PRIu64 " released", id,
			order, user);
	control_reply(d, ret, id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/*
 * Give back up to UNITS unsold units of the sale to the pool (fs_sale_ctl_giveback): the status
 * dict and "given", the units this give-back SEQ took (a repeat of the last SEQ: the same).
 */
static int cmd_sale_giveback(
	const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	/* UNITS, SEQ */
	static const struct param_range range[] = {{0, UINT32_MAX}, {1, UINT64_MAX}};
	uint64_t v[RTE_DIM(range)], given = 0;
	const struct fs_sale *s;
	uint32_t id;
	int ret;

	if (parse_id_params(params, &id, RTE_DIM(range), range, v) != 0)
		return reply_error(d, "usage: /flashsale/sale/giveback,ID,UNITS,SEQ");
	if (!control_begin(d))
		return 0;
	ret = fs_sale_ctl_giveback(tel.table, tel.ctl, tel.node_id, id, v[0], v[1], &given);
	s = fs_sale_lookup(tel.table, id);
	if (ret == -ERANGE) {
		reply_error(d,
			"sale %" PRIu32 ": give-back %" PRIu64 " out of order (the last is %" PRIu64
			")",
			id, v[1], s->gb_seq);
	} else {
		control_reply(d, ret, id);
		if (ret == 0)
			rte_tel_data_add_dict_u64(d, "given", given);
	}
	if (ret == 0 && s->gb_seq == v[1] && given > 0)
		FS_LOG(INFO,
			"sale %" PRIu32 ": give-back %" PRIu64 ": %" PRIu64 " units (%" PRIu64
			" asked) back to the pool",
			id, v[1], given, v[0]);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* RETRY's retry_after_ms while the node waits for a lease, pushed by the daemon (not journaled). */
static int cmd_sale_retry(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	static const struct param_range range[] = {{0, FS_LEASE_RETRY_MAX_MS}};
	uint64_t ms;
	struct fs_sale *s;
	uint32_t id;

	if (parse_id_params(params, &id, RTE_DIM(range), range, &ms) != 0)
		return reply_error(d, "usage: /flashsale/sale/retry,ID,MS (0..%u, 0: default %u)",
			FS_LEASE_RETRY_MAX_MS, FS_RETRY_LEASE_MS);
	if (!control_begin(d))
		return 0;
	s = fs_sale_lookup(tel.table, id);
	if (s != NULL)
		fs_sale_lease_retry_set(s, (uint32_t)ms);
	control_reply(d, s == NULL ? -ENOENT : 0, id);
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

/* The hold state the daemon pushes each tick (not journaled). */
static int cmd_sale_holds(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	/* OPEN (0/1), NEXT_MS */
	static const struct param_range range[] = {{0, 1}, {0, INT64_MAX}};
	uint64_t v[RTE_DIM(range)];
	struct fs_sale *s;
	uint32_t id;

	if (parse_id_params(params, &id, RTE_DIM(range), range, v) != 0)
		return reply_error(d, "usage: /flashsale/sale/holds,ID,OPEN(0/1),NEXT_MS");
	if (!control_begin(d))
		return 0;
	s = fs_sale_lookup(tel.table, id);
	if (s != NULL && s->hold_ms == 0) {
		reply_error(d, "sale %" PRIu32 " has no holds", id);
	} else {
		if (s != NULL)
			fs_sale_holds_set(s, v[0] != 0, (int64_t)v[1]);
		control_reply(d, s == NULL ? -ENOENT : 0, id);
	}
	pthread_mutex_unlock(&tel_lock);
	return 0;
}

int fs_telemetry_init(const struct fs_telemetry_ctx *ctx)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{"/flashsale/stats", cmd_stats, "Counters summed over workers. No parameters"},
		{"/flashsale/sale/list", cmd_sale_list, "Sale ids. No parameters"},
		{"/flashsale/ports", cmd_ports,
			"Per port: ethdev counters, mbuf pool in use and size. No parameters"},
		{"/flashsale/sale/status", cmd_sale_status, "Sale status. Parameters: ID"},
		{"/flashsale/sale/counters", cmd_sale_counters,
			"A sale's replies by status, summed over workers. Parameters: ID"},
		{"/flashsale/journals", cmd_journals,
			"Every journal's written and durable seq, the state directory's instance. "
			"No parameters"},
		{"/flashsale/journal/syncs", cmd_journal_syncs,
			"A worker journal's group syncs: interval, count, time, histogram. "
			"Parameters: N"},
		{"/flashsale/sale/create", cmd_sale_create,
			"Create a sale. Parameters: "
			"ID,STOCK,START_MS,END_MS,open|token[,KEYHEX32][,rate=R][,burst=B][,hold="
			"MS]"},
		{"/flashsale/sale/lease", cmd_sale_lease,
			"Lease units to this node (R: units that came back, in all). "
			"Parameters: ID,UNITS,FINAL(0/1)[,returned=R]"},
		{"/flashsale/sale/release", cmd_sale_release,
			"Release an order: its user gets RELEASED. Parameters: ID,USER,ORDER"},
		{"/flashsale/sale/holds", cmd_sale_holds,
			"Hold state: units may come back (OPEN 0/1), next expiry (unix ms, 0 "
			"unknown). "
			"Parameters: ID,OPEN,NEXT_MS"},
		{"/flashsale/sale/giveback", cmd_sale_giveback,
			"Give back up to UNITS unsold units (SEQ: last + 1). Parameters: "
			"ID,UNITS,SEQ"},
		{"/flashsale/sale/retry", cmd_sale_retry,
			"RETRY's retry_after_ms while waiting for a lease. Parameters: ID,MS"},
		{"/flashsale/sale/key", cmd_sale_key,
			"Set the token key, the old one valid GRACE_MS more (default 60000). "
			"Parameters: ID,KEYHEX32[,GRACE_MS]"},
		{"/flashsale/sale/stop", cmd_sale_stop, "Stop a sale. Parameters: ID"},
		{"/flashsale/sale/delete", cmd_sale_delete,
			"Delete a stopped, ended or sold-out sale for good. Parameters: ID"},
	};
	unsigned i;
	int ret;

	tel = *ctx;
	for (i = 0; i < RTE_DIM(cmds); i++) {
		ret = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);
		if (ret != 0)
			return ret;
	}
	return 0;
}

void fs_telemetry_shutdown(void)
{
	pthread_mutex_lock(&tel_lock);
	closing = true;
	pthread_mutex_unlock(&tel_lock);
}
