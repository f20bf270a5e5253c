/* flashctl daemon: per tick, lease Redis stock to this node, sync the dataplane, publish totals. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "dpctl.h"
#include "redis.h"
#include "timeparse.h"

/* A per-sale error line: what failed (a short literal) and the error text (dpctl errstr). */
#define FS_SALE_ERR_LEN (FS_DPCTL_ERRSTR_LEN + 64)

/*
 * What the daemon remembers of a sale between ticks: to log state changes once, and what the
 * dataplane cannot give back when Redis loses the sale (flush, restart without persistence):
 * the token key, the operator's stop and the events already published.
 */
struct sale_mem {
	uint32_t sale_id;
	uint32_t events;    /**< events known published (only ever gains bits) */
	uint64_t last_sold; /**< last sold count published, UINT64_MAX before the first */
	bool has_key;	    /**< key holds the token key seen in Redis */
	uint8_t key[16];
	bool stopped;			    /**< Redis said "stopped" once */
	char last_err[FS_SALE_ERR_LEN]; /**< last error logged for this sale */
};

struct daemon {
	const struct fs_daemon_conf *conf;
	struct fs_redis redis;
	struct fs_dpctl dp;
	bool redis_down, dp_down; /* last known state, to log transitions only */
	struct sale_mem *mem;
	size_t n_mem, cap_mem;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logf_(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "flashctl daemon %s.%03ld: ", when, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct sale_mem *mem_get(struct daemon *d, uint32_t sale_id)
{
	struct sale_mem *m;

	for (size_t i = 0; i < d->n_mem; i++)
		if (d->mem[i].sale_id == sale_id)
			return &d->mem[i];
	if (d->n_mem == d->cap_mem) {
		size_t cap = d->cap_mem ? 2 * d->cap_mem : 16;
		m = realloc(d->mem, cap * sizeof(*m));
		if (m == NULL)
			return NULL;
		d->mem = m;
		d->cap_mem = cap;
	}
	m = &d->mem[d->n_mem++];
	memset(m, 0, sizeof(*m));
	m->sale_id = sale_id;
	m->last_sold = UINT64_MAX;
	return m;
}

/* Log a per-sale error once until it changes or clears. */
static void sale_err(struct sale_mem *m, const char *what, const char *text)
{
	char line[FS_SALE_ERR_LEN];

	snprintf(line, sizeof(line), "%s: %s", what, text);
	if (strcmp(line, m->last_err) == 0)
		return;
	snprintf(m->last_err, sizeof(m->last_err), "%s", line);
	logf_("sale %" PRIu32 ": %s", m->sale_id, line);
}

/* The dataplane failed at the socket level: drop the connection, retry next tick. */
static void dp_lost(struct daemon *d)
{
	if (!d->dp_down)
		logf_("dataplane unreachable: %s (retrying every tick)", d->dp.errstr);
	d->dp_down = true;
	fs_dpctl_close(&d->dp);
}

/* Run one dataplane command; on success *out is the reply dict (caller puts it). */
static int dp_cmd(struct daemon *d, struct json_object **out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int dp_cmd(struct daemon *d, struct json_object **out, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = fs_dpctl_cmd(&d->dp, cmd, out);
	if (rc < 0 && rc != -EREMOTEIO)
		dp_lost(d);
	return rc;
}

static void publish_event(struct daemon *d, struct sale_mem *m, enum fs_redis_event ev)
{
	uint32_t mask;
	int rc;

	if (m->events & ev)
		return;
	rc = fs_redis_publish_event(&d->redis, m->sale_id, ev, &mask);
	if (rc < 0) {
		sale_err(m, "publish event", d->redis.errstr);
		return;
	}
	m->events |= mask; /* a flushed hash reads as 0: never forget what was published */
	if (rc == 1)
		logf_("sale %" PRIu32 ": published %s", m->sale_id, fs_redis_event_name(ev));
}

/* Key id as the dataplane's status shows it (key_id): hex of BLAKE2b-64 of the key. */
static void key_id(const uint8_t key[16], char out[17])
{
	uint8_t h[8];

	crypto_generichash(h, sizeof(h), key, 16, NULL, 0);
	sodium_bin2hex(out, 17, h, sizeof(h));
}

/*
 * Token key: push Redis's token_key when the dataplane has no key or another one (a rekey).
 * The dataplane's key stays valid until Redis's prev_key_until_ms if it is Redis's
 * prev_token_key (the key the rekey replaced); any other key is replaced at once. Returns the
 * status dict to use from now on (a new reference; @p st is consumed) or NULL on a socket error.
 */
static struct json_object *dp_sync_key(
	struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s, struct json_object *st)
{
	struct json_object *rep;
	const char *dp_id = fs_dpctl_get_str(st, "key_id");
	char hex[33], want[17], prev[17] = "";
	long long key_set = 0;
	int64_t grace = 0, now = fs_time_now_ms();
	int rc;

	fs_dpctl_get_i64(st, "key_set", &key_set);
	key_id(s->key, want);
	if (key_set && dp_id != NULL && strcmp(dp_id, want) == 0)
		return st;
	if (s->has_prev_key)
		key_id(s->prev_key, prev);
	if (key_set && dp_id != NULL && s->has_prev_key && strcmp(dp_id, prev) == 0 &&
		s->prev_key_until_ms > now)
		grace = s->prev_key_until_ms - now;
	sodium_bin2hex(hex, sizeof(hex), s->key, sizeof(s->key));
	rc = dp_cmd(d, &rep, "/flashsale/sale/key,%" PRIu32 ",%s,%" PRId64, s->sale_id, hex, grace);
	if (rc == -EREMOTEIO) {
		sale_err(m, "dataplane key", d->dp.errstr);
		return st;
	}
	json_object_put(st);
	if (rc < 0)
		return NULL;
	if (key_set)
		logf_("sale %" PRIu32 ": token key rotated on the dataplane (old key valid %" PRId64
		      " ms more)",
			s->sale_id, grace);
	else
		logf_("sale %" PRIu32 ": token key set on the dataplane", s->sale_id);
	return rep;
}

/*
 * Bring the dataplane in line with Redis for one sale. Returns the dataplane's status dict (a new
 * reference) or NULL if the dataplane is down or refused.
 */
static struct json_object *dp_sync(struct daemon *d, struct sale_mem *m,
	const struct fs_redis_sale *s, const struct fs_redis_lease *lease)
{
	struct json_object *st = NULL, *rep;
	long long dp_leased = 0, dp_final = 0;
	const char *dp_state;
	char hex[33] = "", limits[48] = "";
	uint32_t id = s->sale_id;
	int rc;

	rc = dp_cmd(d, &st, "/flashsale/sale/status,%" PRIu32, id);
	if (rc == -EREMOTEIO) {
		/* Not on the dataplane yet (or it refused): define it. */
		if (s->has_key)
			sodium_bin2hex(hex, sizeof(hex), s->key, sizeof(s->key));
		if (s->has_rl && s->rl_rate == 0)
			snprintf(limits, sizeof(limits), ",rate=0");
		else if (s->has_rl)
			snprintf(limits, sizeof(limits), ",rate=%" PRIu32 ",burst=%" PRIu32,
				s->rl_rate, s->rl_burst);
		rc = dp_cmd(d, &st,
			"/flashsale/sale/create,%" PRIu32 ",%" PRIu64 ",%" PRId64 ",%" PRId64
			",%s%s%s%s",
			id, s->stock, s->start_ms, s->end_ms, s->admission, hex[0] ? "," : "", hex,
			limits);
		if (rc == -EREMOTEIO) {
			sale_err(m, "dataplane create", d->dp.errstr);
			return NULL;
		}
		if (rc < 0)
			return NULL;
		logf_("sale %" PRIu32 ": created on the dataplane (stock %" PRIu64 ", %s)", id,
			s->stock, s->admission);
	} else if (rc < 0) {
		return NULL;
	}

	fs_dpctl_get_i64(st, "leased", &dp_leased);
	fs_dpctl_get_i64(st, "final", &dp_final);
	if (lease->leased > (uint64_t)dp_leased ||
		(lease->pool_empty && !dp_final && lease->leased == (uint64_t)dp_leased)) {
		uint64_t units = lease->leased - (uint64_t)dp_leased;
		int fin = lease->pool_empty ? 1 : 0;

		rc = dp_cmd(d, &rep, "/flashsale/sale/lease,%" PRIu32 ",%" PRIu64 ",%d", id, units,
			fin);
		if (rc == -EREMOTEIO) {
			sale_err(m, "dataplane lease", d->dp.errstr);
		} else if (rc == 0) {
			logf_("sale %" PRIu32 ": leased %" PRIu64
			      " units to the dataplane (final %d)",
				id, units, fin);
			json_object_put(st);
			st = rep;
		} else {
			goto fail;
		}
	} else if (lease->leased < (uint64_t)dp_leased) {
		char text[96];
		snprintf(text, sizeof(text),
			"dataplane has %lld units leased, Redis lease key %" PRIu64, dp_leased,
			lease->leased);
		sale_err(m, "lease mismatch", text);
	}

	if (s->has_key && strcmp(s->admission, "token") == 0) {
		st = dp_sync_key(d, m, s, st);
		if (st == NULL)
			return NULL;
	}

	dp_state = fs_dpctl_get_str(st, "state");
	if (strcmp(s->state, "stopped") == 0 && (dp_state == NULL || strcmp(dp_state, "stopped"))) {
		rc = dp_cmd(d, &rep, "/flashsale/sale/stop,%" PRIu32, id);
		if (rc == -EREMOTEIO) {
			sale_err(m, "dataplane stop", d->dp.errstr);
		} else if (rc == 0) {
			logf_("sale %" PRIu32 ": stopped on the dataplane", id);
			json_object_put(st);
			st = rep;
		} else {
			goto fail;
		}
	}
	return st;
fail:
	json_object_put(st);
	return NULL;
}

/*
 * Redis lost sale @p id (not in fs:sales, or its hash gone) and the dataplane has it: rebuild its
 * keys from the dataplane's status (definition, this node's lease, sold) and from memory (token
 * key, stop, events already published, so none is published twice). Missing keys only.
 */
static void rebuild_sale(struct daemon *d, uint32_t id)
{
	struct fs_redis_sale def = {.sale_id = id};
	struct json_object *st = NULL;
	long long total = 0, start = 0, end = 0, leased = 0, fin = 0, sold = -1;
	long long rate_own = 0, rate = 0, burst = 0;
	const char *adm, *state;
	struct sale_mem *m;
	unsigned rebuilt = 0;
	int rc;

	m = mem_get(d, id);
	if (m == NULL)
		return;
	rc = dp_cmd(d, &st, "/flashsale/sale/status,%" PRIu32, id);
	if (rc == -EREMOTEIO) {
		sale_err(m, "redis lost the sale and the dataplane has none", d->dp.errstr);
		return;
	}
	if (rc < 0)
		return;
	adm = fs_dpctl_get_str(st, "admission");
	state = fs_dpctl_get_str(st, "state");
	if (fs_dpctl_get_i64(st, "total", &total) < 0 || total <= 0 ||
		fs_dpctl_get_i64(st, "start_ms", &start) < 0 ||
		fs_dpctl_get_i64(st, "end_ms", &end) < 0 ||
		fs_dpctl_get_i64(st, "leased", &leased) < 0 || leased < 0 ||
		fs_dpctl_get_i64(st, "final", &fin) < 0 ||
		fs_dpctl_get_i64(st, "sold", &sold) < 0 || sold < 0 || adm == NULL ||
		(strcmp(adm, "open") != 0 && strcmp(adm, "token") != 0)) {
		sale_err(m, "rebuild", "dataplane status incomplete");
		goto out;
	}
	def.stock = (uint64_t)total;
	def.start_ms = start;
	def.end_ms = end;
	snprintf(def.admission, sizeof(def.admission), "%s", adm);
	snprintf(def.state, sizeof(def.state), "%s",
		m->stopped || (state != NULL && strcmp(state, "stopped") == 0) ? "stopped"
									       : "created");
	def.events_published = m->events;
	if (fs_dpctl_get_i64(st, "rate_own", &rate_own) == 0 && rate_own == 1 &&
		fs_dpctl_get_i64(st, "rate_limit", &rate) == 0 &&
		fs_dpctl_get_i64(st, "rate_burst", &burst) == 0 && rate >= 0 && burst >= 0) {
		def.has_rl = true;
		def.rl_rate = (uint32_t)rate;
		def.rl_burst = (uint32_t)burst;
	}
	if (m->has_key) {
		memcpy(def.key, m->key, sizeof(def.key));
		def.has_key = true;
	} else if (strcmp(adm, "token") == 0) {
		sale_err(m, "rebuild", "token key never seen by this daemon: rebuilt without it");
	}
	rc = fs_redis_sale_rebuild(&d->redis, &def, d->conf->node_id, (uint64_t)leased, fin != 0,
		(uint64_t)sold, &rebuilt);
	if (rc < 0) {
		sale_err(m, "redis rebuild", d->redis.errstr);
		goto out;
	}
	if (rebuilt != 0)
		logf_("sale %" PRIu32
		      ": rebuilt in Redis from the dataplane (%s%s%s%s): stock %lld, "
		      "lease %lld%s, sold %lld, events 0x%" PRIx32 "%s",
			id, rebuilt & 1 ? "hash " : "", rebuilt & 2 ? "fs:sales " : "",
			rebuilt & 4 ? "pool " : "", rebuilt & 8 ? "lease" : "", total, leased,
			fin ? " (final)" : "", sold, m->events, def.has_key ? ", token key" : "");
	m->last_sold = (uint64_t)sold;
out:
	json_object_put(st);
}

/* One sale, one tick. Returns a negative errno if Redis failed at the connection level. */
static int sync_sale(struct daemon *d, uint32_t id, int64_t now)
{
	struct fs_redis_lease lease;
	struct fs_redis_sale s;
	struct json_object *st = NULL;
	struct sale_mem *m;
	long long sold = 0, sold_out = 0;
	bool stopped;
	int rc;

	m = mem_get(d, id);
	if (m == NULL)
		return -ENOMEM;
	rc = fs_redis_sale_get(&d->redis, id, &s);
	if (rc == -ENOENT && !d->dp_down) {
		/* In fs:sales but the hash is gone: rebuild it if the dataplane has the sale. */
		rebuild_sale(d, id);
		return fs_redis_usable(&d->redis) ? 0 : -EIO;
	}
	if (rc < 0) {
		if (fs_redis_usable(&d->redis))
			sale_err(m, "redis", d->redis.errstr);
		return fs_redis_usable(&d->redis) ? 0 : rc;
	}
	m->events |= s.events_published;
	stopped = strcmp(s.state, "stopped") == 0;
	m->stopped = m->stopped || stopped;
	if (s.has_key) {
		memcpy(m->key, s.key, sizeof(m->key));
		m->has_key = true;
	}

	/* Single node: lease the whole pool (want = stock, which the pool never exceeds). */
	rc = fs_redis_lease(&d->redis, id, d->conf->node_id, s.stock, &lease);
	if (rc == -ENOENT)
		return 0; /* flushed since the read above: rebuilt next tick */
	if (rc < 0) {
		sale_err(m, "redis lease", d->redis.errstr);
		return fs_redis_usable(&d->redis) ? 0 : rc;
	}
	if (lease.taken > 0)
		logf_("sale %" PRIu32 ": leased %" PRIu64 " units from the pool to node %u "
		      "(node total %" PRIu64 ", pool empty %d)",
			id, lease.taken, d->conf->node_id, lease.leased, lease.pool_empty);

	if (!d->dp_down)
		st = dp_sync(d, m, &s, &lease);
	if (st != NULL) {
		/* sold_out from the same status as sold, and only once that sold is in Redis. */
		fs_dpctl_get_i64(st, "sold_out", &sold_out);
		if (fs_dpctl_get_i64(st, "sold", &sold) == 0 && sold >= 0 &&
			(uint64_t)sold != m->last_sold) {
			uint64_t total;
			rc = fs_redis_publish_totals(
				&d->redis, id, d->conf->node_id, (uint64_t)sold, &total);
			if (rc < 0) {
				sale_err(m, "redis totals", d->redis.errstr);
				sold_out = 0;
			} else {
				logf_("sale %" PRIu32 ": node %u sold %lld, all nodes %" PRIu64
				      ", remaining %" PRId64,
					id, d->conf->node_id, sold, total,
					(int64_t)s.stock - (int64_t)total);
				m->last_sold = (uint64_t)sold;
			}
		}
		json_object_put(st);
		m->last_err[0] = '\0';
	}

	if (now >= s.start_ms && now < s.end_ms && !stopped)
		publish_event(d, m, FS_EV_STARTED);
	if (sold_out == 1)
		publish_event(d, m, FS_EV_SOLD_OUT);
	if (now >= s.end_ms || stopped)
		publish_event(d, m, FS_EV_ENDED);
	return fs_redis_usable(&d->redis) ? 0 : -EIO;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Sales the dataplane has and fs:sales (@p ids, sorted) lacks: Redis lost them; rebuild. */
static void rebuild_missing(struct daemon *d, const uint32_t *ids, size_t n)
{
	struct json_object *lst = NULL, *arr;
	size_t len;

	if (dp_cmd(d, &lst, "/flashsale/sale/list") < 0)
		return;
	if (json_object_object_get_ex(lst, "sales", &arr) &&
		json_object_is_type(arr, json_type_array)) {
		len = json_object_array_length(arr);
		for (size_t i = 0; i < len && !stop_requested; i++) {
			int64_t v = json_object_get_int64(json_object_array_get_idx(arr, i));
			uint32_t id = (uint32_t)v;

			if (v < 0 || v > UINT32_MAX ||
				(n > 0 && bsearch(&id, ids, n, sizeof(*ids), cmp_u32) != NULL))
				continue;
			rebuild_sale(d, id);
			if (!fs_redis_usable(&d->redis) || d->dp.fd < 0)
				break;
		}
	}
	json_object_put(lst);
}

static void tick(struct daemon *d)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	int64_t now = fs_time_now_ms();
	int rc;

	if (!fs_redis_usable(&d->redis)) {
		rc = fs_redis_connect(&d->redis, d->conf->redis_url, d->conf->timeout_ms);
		if (rc < 0) {
			if (!d->redis_down)
				logf_("redis unreachable: %s (retrying every tick)",
					d->redis.errstr);
			d->redis_down = true;
			return;
		}
		logf_("redis connected (%s)", d->conf->redis_url);
		d->redis_down = false;
	}
	if (d->dp.fd < 0) {
		rc = fs_dpctl_connect(&d->dp, d->conf->dp_socket, d->conf->timeout_ms);
		if (rc < 0) {
			dp_lost(d);
		} else {
			logf_("dataplane connected (%s)", d->conf->dp_socket);
			d->dp_down = false;
		}
	}
	rc = fs_redis_sale_list(&d->redis, &ids, &n);
	if (rc < 0) {
		logf_("%s", d->redis.errstr);
		goto out;
	}
	for (size_t i = 0; i < n && !stop_requested; i++) {
		rc = sync_sale(d, ids[i], now);
		if (rc < 0)
			goto out;
	}
	if (!d->dp_down && d->dp.fd >= 0)
		rebuild_missing(d, ids, n);
out:
	if (!fs_redis_usable(&d->redis)) {
		logf_("redis connection lost: %s (reconnecting next tick)", d->redis.errstr);
		fs_redis_close(&d->redis);
		d->redis_down = true;
	}
	free(ids);
}

int fs_daemon_run(const struct fs_daemon_conf *conf)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct daemon d = {.conf = conf};
	struct timespec next, now;

	if (sodium_init() < 0)
		return -EIO;
	fs_dpctl_init(&d.dp);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	logf_("started: node %u, interval %u ms, dataplane %s", conf->node_id, conf->interval_ms,
		conf->dp_socket);

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop_requested) {
		tick(&d);
		next.tv_nsec += (long)(conf->interval_ms % 1000) * 1000000L;
		next.tv_sec += conf->interval_ms / 1000 + next.tv_nsec / 1000000000L;
		next.tv_nsec %= 1000000000L;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec ||
			(now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
			next = now; /* overran: do not try to catch up */
		while (!stop_requested &&
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	logf_("stopping on signal");
	fs_redis_close(&d.redis);
	fs_dpctl_close(&d.dp);
	free(d.mem);
	return 0;
}
