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
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "daemon_int.h"
#include "dpctl.h"
#include "leaseplan.h"
#include "logtime.h"
#include "monotonic.h"
#include "nodes.h"
#include "out.h"
#include "redis.h"
#include "timeparse.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* --json: log lines as JSON objects on stdout. Set before the first line by the one thread. */
static bool log_json;

/* The daemon's line @p msg as a JSON object; "sale N: ..." gives the object a sale field. */
static void log_json_line(const struct timespec *ts, const char *msg)
{
	unsigned long long sale;
	int n = 0;

	if (sscanf(msg, "sale %llu: %n", &sale, &n) != 1 || n == 0 || sale > UINT32_MAX)
		sale = (unsigned long long)-1;
	fs_out_log_json((int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000,
		sale == (unsigned long long)-1 ? -1 : (int64_t)sale, msg);
}

void fs_daemon_log(const char *fmt, ...)
{
	static int journald = -1; /* stderr is journald's: it dates the lines (logtime.h) */
	char when[FS_LOGTIME_LEN + 1] = "", line[1024];
	struct timespec ts;
	va_list ap;

	if (log_json) {
		clock_gettime(CLOCK_REALTIME, &ts);
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_json_line(&ts, line);
		return;
	}
	if (journald < 0)
		journald = fs_logtime_journald(STDERR_FILENO);
	if (!journald)
		fs_logtime_format(when, sizeof(when));
	fprintf(stderr, "%sflashctl daemon: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool fs_daemon_cond_due(const struct cond *c, int64_t now)
{
	return !c->on || now >= c->next_ms;
}

void fs_daemon_cond_fail(struct cond *c, int64_t now, unsigned base_ms, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!c->on) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		fs_daemon_log("%s", line);
		*c = (struct cond){.on = true, .since_ms = now, .backoff_ms = base_ms};
	}
	c->fails++;
	c->next_ms = now + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > FS_DAEMON_BACKOFF_MAX_MS ? FS_DAEMON_BACKOFF_MAX_MS
								     : c->backoff_ms * 2;
}

void fs_daemon_cond_ok(struct cond *c, int64_t now, const char *what)
{
	if (!c->on)
		return;
	fs_daemon_log("%s after %.1f s (%u failed attempt%s)", what,
		(double)(now - c->since_ms) / 1000.0, c->fails, c->fails == 1 ? "" : "s");
	*c = (struct cond){0};
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

void fs_daemon_sale_err(struct sale_mem *m, const char *what, const char *text)
{
	char line[FS_SALE_ERR_LEN];

	snprintf(line, sizeof(line), "%s: %s", what, text);
	if (strcmp(line, m->last_err) == 0)
		return;
	snprintf(m->last_err, sizeof(m->last_err), "%s", line);
	fs_daemon_log("sale %" PRIu32 ": %s", m->sale_id, line);
}

/* The dataplane failed at the socket level: drop the connection, retry after the back-off. */
static void dp_lost(struct daemon *d)
{
	fs_daemon_cond_fail(&d->dp_c, fs_monotonic_ms(), d->conf->interval_ms,
		"dataplane unreachable: %s (retrying with back-off up to %u ms; logged again when "
		"it answers)",
		d->dp.errstr, FS_DAEMON_BACKOFF_MAX_MS);
	fs_dpctl_close(&d->dp);
	d->dp_node_ok = false;
}

bool fs_daemon_dp_usable(const struct daemon *d)
{
	return d->dp.fd >= 0 && d->dp_node_ok;
}

/* Run one dataplane command; on success *out is the reply dict (caller puts it). */
static int dp_vcmd(struct daemon *d, struct json_object **out, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static int dp_vcmd(struct daemon *d, struct json_object **out, const char *fmt, va_list ap)
{
	char cmd[512];
	int rc;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	rc = fs_dpctl_cmd(&d->dp, cmd, out);
	if (rc < 0 && rc != -EREMOTEIO)
		dp_lost(d);
	return rc;
}

int fs_daemon_dp_cmd(struct daemon *d, struct json_object **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = dp_vcmd(d, out, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A command that changes sale @p m on the dataplane and replies with its new status dict. A
 * refusal is logged once (@p what: the error text) and *@p st kept; otherwise *@p st is put and
 * replaced by the reply (NULL after a socket error). Returns fs_daemon_dp_cmd's result: 0 when
 * done.
 */
static int dp_sale_cmd(struct daemon *d, struct sale_mem *m, const char *what,
	struct json_object **st, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int dp_sale_cmd(struct daemon *d, struct sale_mem *m, const char *what,
	struct json_object **st, const char *fmt, ...)
{
	struct json_object *rep = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = dp_vcmd(d, &rep, fmt, ap);
	va_end(ap);
	if (rc == -EREMOTEIO) {
		fs_daemon_sale_err(m, what, d->dp.errstr);
		return rc;
	}
	json_object_put(*st);
	*st = rc < 0 ? NULL : rep;
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
		fs_daemon_sale_err(m, "publish event", d->redis.errstr);
		return;
	}
	m->events |= mask; /* a flushed hash reads as 0: never forget what was published */
	if (rc == 1)
		fs_daemon_log(
			"sale %" PRIu32 ": published %s", m->sale_id, fs_redis_event_name(ev));
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
	const char *dp_id = fs_dpctl_get_str(st, "key_id");
	char hex[33], want[17], prev[17] = "";
	long long key_set = 0;
	int64_t grace = 0, now = fs_time_now_ms();

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
	if (dp_sale_cmd(d, m, "dataplane key", &st, "/flashsale/sale/key,%" PRIu32 ",%s,%" PRId64,
		    s->sale_id, hex, grace) != 0)
		return st;
	if (key_set)
		fs_daemon_log("sale %" PRIu32
			      ": token key rotated on the dataplane (old key valid %" PRId64
			      " ms more)",
			s->sale_id, grace);
	else
		fs_daemon_log("sale %" PRIu32 ": token key set on the dataplane", s->sale_id);
	return st;
}

/*
 * Define sale @p s on the dataplane (its status said it has none). A refusal (too large, a
 * different sale of that id, too many sales) is logged once per error text and not tried again
 * for FS_DAEMON_CREATE_RETRY_MS unless the dataplane connection is made anew (a restarted
 * dataplane). Returns the status dict (a new reference) or NULL.
 */
static struct json_object *dp_create(
	struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s)
{
	struct json_object *st = NULL;
	char hex[33] = "", limits[48] = "", hold[24] = "";
	int64_t now = fs_monotonic_ms();
	int rc;

	if (m->create_retry_ms != 0 && m->create_dp_gen == d->dp_gen && now < m->create_retry_ms)
		return NULL;
	if (s->has_key)
		sodium_bin2hex(hex, sizeof(hex), s->key, sizeof(s->key));
	if (s->has_rl && s->rl_rate == 0)
		snprintf(limits, sizeof(limits), ",rate=0");
	else if (s->has_rl)
		snprintf(limits, sizeof(limits), ",rate=%" PRIu32 ",burst=%" PRIu32, s->rl_rate,
			s->rl_burst);
	if (s->hold_ms > 0)
		snprintf(hold, sizeof(hold), ",hold=%" PRIu32, s->hold_ms);
	rc = fs_daemon_dp_cmd(d, &st,
		"/flashsale/sale/create,%" PRIu32 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%s%s%s%s%s",
		s->sale_id, s->stock, s->start_ms, s->end_ms, s->admission, hex[0] ? "," : "", hex,
		limits, hold);
	if (rc == -EREMOTEIO) {
		char what[80];

		snprintf(what, sizeof(what), "dataplane refused to create it (tried again in %u s)",
			FS_DAEMON_CREATE_RETRY_MS / 1000);
		fs_daemon_sale_err(m, what, d->dp.errstr);
		m->create_retry_ms = now + FS_DAEMON_CREATE_RETRY_MS;
		m->create_dp_gen = d->dp_gen;
		return NULL;
	}
	if (rc < 0)
		return NULL;
	m->create_retry_ms = 0;
	fs_daemon_log("sale %" PRIu32 ": created on the dataplane (stock %" PRIu64
		      ", %s, hold %" PRIu32 " ms)",
		s->sale_id, s->stock, s->admission, s->hold_ms);
	return st;
}

/*
 * Give the dataplane the units Redis leased to this node that it does not have yet (and the
 * final flag once the pool is empty; units that come back later, on a sale with holds, are
 * leased after a final lease too, with returned=R: R units came back, so the dataplane may hold
 * up to total + R). Returns the status dict to use from now on (@p st is consumed) or NULL on a
 * socket error.
 */
static struct json_object *dp_sync_lease(struct daemon *d, struct sale_mem *m,
	const struct fs_redis_lease *lease, struct json_object *st)
{
	long long dp_leased = 0, dp_final = 0;
	uint32_t id = m->sale_id;

	fs_dpctl_get_i64(st, "leased", &dp_leased);
	fs_dpctl_get_i64(st, "final", &dp_final);
	if (lease->leased > (uint64_t)dp_leased ||
		(lease->pool_empty && !dp_final && lease->leased == (uint64_t)dp_leased)) {
		uint64_t units = lease->leased - (uint64_t)dp_leased;
		int fin = lease->pool_empty ? 1 : 0;
		char back[40] = "";

		if (lease->returned > 0) /* a named parameter: today's dataplanes know 3 only */
			snprintf(back, sizeof(back), ",returned=%" PRIu64, lease->returned);
		if (dp_sale_cmd(d, m, "dataplane lease", &st,
			    "/flashsale/sale/lease,%" PRIu32 ",%" PRIu64 ",%d%s", id, units, fin,
			    back) == 0)
			fs_daemon_log("sale %" PRIu32 ": leased %" PRIu64
				      " units to the dataplane (final %d%s)",
				id, units, fin, back);
		return st;
	}
	if (lease->leased < (uint64_t)dp_leased) {
		char text[96];
		snprintf(text, sizeof(text),
			"dataplane has %lld units leased, Redis lease key %" PRIu64, dp_leased,
			lease->leased);
		fs_daemon_sale_err(m, "lease mismatch", text);
	}
	return st;
}

/* The operator's stop, once, to the dataplane. Returns the status to use (as dp_sync_lease). */
static struct json_object *dp_sync_stop(
	struct daemon *d, struct sale_mem *m, struct json_object *st)
{
	const char *dp_state = fs_dpctl_get_str(st, "state");

	if (dp_state != NULL && strcmp(dp_state, "stopped") == 0)
		return st;
	if (dp_sale_cmd(d, m, "dataplane stop", &st, "/flashsale/sale/stop,%" PRIu32, m->sale_id) ==
		0)
		fs_daemon_log("sale %" PRIu32 ": stopped on the dataplane", m->sale_id);
	return st;
}

/*
 * Bring the dataplane in line with Redis for one sale. Returns the dataplane's status dict (a new
 * reference) or NULL if the dataplane is down or refused.
 */
static struct json_object *dp_sync(struct daemon *d, struct sale_mem *m,
	const struct fs_redis_sale *s, struct fs_redis_lease *lease)
{
	struct json_object *st = NULL;
	int rc;

	rc = fs_daemon_dp_cmd(d, &st, "/flashsale/sale/status,%" PRIu32, s->sale_id);
	if (rc == -EREMOTEIO)
		st = dp_create(d, m, s); /* not on the dataplane yet: define it */
	if (st == NULL)
		return NULL;
	/* a give-back the pool has not got yet goes first: its units are not leased again */
	if (fs_daemon_giveback_settle(d, m, st, lease))
		st = dp_sync_lease(d, m, lease, st);
	if (st != NULL && s->has_key && strcmp(s->admission, "token") == 0)
		st = dp_sync_key(d, m, s, st);
	if (st != NULL && strcmp(s->state, "stopped") == 0)
		st = dp_sync_stop(d, m, st);
	return st;
}

/*
 * Sale @p id is gone from Redis and its tombstone fs:{N}:deleted says it was deleted at
 * @p deleted_ms: delete it from the dataplane too (instead of rebuilding it). "no sale N" means it
 * is already gone. A refusal is logged once per error text and tried again next tick.
 */
static void dp_delete(struct daemon *d, struct sale_mem *m, int64_t deleted_ms)
{
	struct json_object *rep = NULL;
	int rc;

	rc = fs_daemon_dp_cmd(d, &rep, "/flashsale/sale/delete,%" PRIu32, m->sale_id);
	if (rc == -EREMOTEIO && strstr(d->dp.errstr, "no sale") == NULL) {
		fs_daemon_sale_err(m, "deleted in Redis, dataplane delete", d->dp.errstr);
		return;
	}
	json_object_put(rep);
	if (rc == 0 || rc == -EREMOTEIO)
		fs_daemon_log("sale %" PRIu32
			      ": deleted from the dataplane%s (deleted in Redis at %" PRId64 ")",
			m->sale_id, rc == 0 ? "" : " (it was gone already)", deleted_ms);
}

/* The dataplane's status of a sale, as a definition for fs_redis_sale_rebuild. */
static int def_from_status(struct json_object *st, struct fs_redis_sale *def, long long *leased,
	long long *fin, long long *sold)
{
	long long total = 0, start = 0, end = 0, rate_own = 0, rate = 0, burst = 0, hold = 0;
	const char *adm = fs_dpctl_get_str(st, "admission");

	if (fs_dpctl_get_i64(st, "total", &total) < 0 || total <= 0 ||
		fs_dpctl_get_i64(st, "start_ms", &start) < 0 ||
		fs_dpctl_get_i64(st, "end_ms", &end) < 0 ||
		fs_dpctl_get_i64(st, "leased", leased) < 0 || *leased < 0 ||
		fs_dpctl_get_i64(st, "final", fin) < 0 || fs_dpctl_get_i64(st, "sold", sold) < 0 ||
		*sold < 0 || adm == NULL || (strcmp(adm, "open") != 0 && strcmp(adm, "token") != 0))
		return -EPROTO;
	def->stock = (uint64_t)total;
	def->start_ms = start;
	def->end_ms = end;
	snprintf(def->admission, sizeof(def->admission), "%s", adm);
	if (fs_dpctl_get_i64(st, "rate_own", &rate_own) == 0 && rate_own == 1 &&
		fs_dpctl_get_i64(st, "rate_limit", &rate) == 0 &&
		fs_dpctl_get_i64(st, "rate_burst", &burst) == 0 && rate >= 0 && burst >= 0) {
		def->has_rl = true;
		def->rl_rate = (uint32_t)rate;
		def->rl_burst = (uint32_t)burst;
	}
	/* absent on a dataplane without holds: 0 */
	if (fs_dpctl_get_i64(st, "hold_ms", &hold) == 0 && hold > 0 && hold <= FS_REDIS_HOLD_MAX_MS)
		def->hold_ms = (uint32_t)hold;
	return 0;
}

/*
 * The pool of sale @p m is missing: write it (restock.lua) if every node that ever held a lease
 * of the sale has its lease key again, else say once that it waits for them.
 */
static void rebuild_pool(struct daemon *d, struct sale_mem *m)
{
	struct fs_redis_restock rs;

	if (fs_redis_restock(&d->redis, m->sale_id, d->conf->node_id, &rs) < 0) {
		fs_daemon_sale_err(m, "redis restock", d->redis.errstr);
		return;
	}
	if (rs.written)
		fs_daemon_log("sale %" PRIu32
			      ": pool rebuilt: every node that held a lease reported "
			      "(stock + %" PRIu64 " returned - the leases)",
			m->sale_id, rs.returned);
	else if (rs.pending > 0 && !m->pending_logged)
		fs_daemon_log("sale %" PRIu32 ": pool not rebuilt yet: %" PRIu64
			      " node(s) that held a lease have not reported (this node sells what "
			      "it holds, RETRY when empty)",
			m->sale_id, rs.pending);
	m->pending_logged = rs.pending > 0;
}

static void log_rebuilt(uint32_t id, unsigned rebuilt, const struct fs_redis_sale *def,
	long long leased, long long sold, uint32_t events)
{
	if (rebuilt == 0)
		return;
	fs_daemon_log(
		"sale %" PRIu32 ": rebuilt in Redis from the dataplane (%s%s%s%s): stock %" PRIu64
		", lease %lld, sold %lld, state %s, events 0x%" PRIx32 "%s, hold %" PRIu32 " ms",
		id, rebuilt & 1 ? "hash " : "", rebuilt & 2 ? "fs:sales " : "",
		rebuilt & 4 ? "pool " : "", rebuilt & 8 ? "lease" : "", def->stock, leased, sold,
		def->state, events, def->has_key ? ", token key" : "", def->hold_ms);
}

/*
 * Redis lost sale @p id (not in fs:sales, its hash or its pool gone) and the dataplane has it:
 * rebuild its keys from the dataplane's status (definition, this node's lease, sold) and from
 * memory (token key, stop, events already published, so none is published twice), with the
 * nodes PostgreSQL knows to have held a lease of it (--pg); then its pool once every such node
 * reported (rebuild_pool). Missing keys only. A sale deleted in Redis (tombstone) is deleted from
 * the dataplane instead.
 */
static void rebuild_sale(struct daemon *d, uint32_t id)
{
	struct fs_redis_sale def = {.sale_id = id};
	struct fs_redis_lessee *others = NULL;
	size_t n_others = 0;
	struct json_object *st = NULL;
	long long leased = 0, fin = 0, sold = -1, given = 0;
	const char *state;
	struct sale_mem *m;
	unsigned rebuilt = 0;
	int64_t dead_ms = 0;
	int rc;

	m = mem_get(d, id);
	if (m == NULL)
		return;
	rc = fs_redis_sale_deleted(&d->redis, id, &dead_ms);
	if (rc != 0) {
		if (rc > 0)
			dp_delete(d, m, dead_ms);
		return;
	}
	if (fs_daemon_lessees(d, id, &others, &n_others) < 0) {
		fs_daemon_sale_err(
			m, "rebuild", "waits for PostgreSQL (the nodes that held a lease)");
		return;
	}
	rc = fs_daemon_dp_cmd(d, &st, "/flashsale/sale/status,%" PRIu32, id);
	if (rc == -EREMOTEIO)
		fs_daemon_sale_err(
			m, "redis lost the sale and the dataplane has none", d->dp.errstr);
	if (rc < 0)
		goto out;
	if (def_from_status(st, &def, &leased, &fin, &sold) < 0) {
		fs_daemon_sale_err(m, "rebuild", "dataplane status incomplete");
		goto out;
	}
	state = fs_dpctl_get_str(st, "state");
	m->stopped = m->stopped || (state != NULL && strcmp(state, "stopped") == 0);
	snprintf(def.state, sizeof(def.state), "%s",
		fs_redis_state_name(fs_redis_state_at(fs_time_now_ms(), def.start_ms, def.end_ms,
			def.stock, (uint64_t)sold, m->stopped)));
	def.events_published = m->events;
	if (m->has_key) {
		memcpy(def.key, m->key, sizeof(def.key));
		def.has_key = true;
	} else if (strcmp(def.admission, "token") == 0) {
		fs_daemon_sale_err(
			m, "rebuild", "token key never seen by this daemon: rebuilt without it");
	}
	fs_dpctl_get_i64(st, "giveback_seq", &given); /* its leased is net of them */
	rc = fs_redis_sale_rebuild(&d->redis, &def, d->conf->node_id, (uint64_t)leased, fin != 0,
		(uint64_t)sold, given > 0 ? (uint64_t)given : 0, others, n_others, &rebuilt);
	if (rc == -ESTALE) {
		dp_delete(d, m, fs_time_now_ms()); /* deleted between the check and the rebuild */
		goto out;
	}
	if (rc < 0) {
		fs_daemon_sale_err(m, "redis rebuild", d->redis.errstr);
		goto out;
	}
	log_rebuilt(id, rebuilt, &def, leased, sold, m->events);
	rebuild_pool(d, m);
	if (def.hold_ms > 0)
		fs_holds_rebuilt(m); /* the returns the lost Redis held are given again */
	m->last_sold = (uint64_t)sold;
out:
	free(others);
	json_object_put(st);
}

/*
 * Publish the dataplane's sold count when it changed, when a key it writes is missing (sold,
 * remaining) or every FS_DAEMON_REPUBLISH_MS.
 * Returns the cluster-wide sold count (Redis's when nothing was published), or -1 on an error.
 */
static int64_t publish_totals(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	long long sold, bool final)
{
	bool missing = !s->has_sold || !s->has_remaining;
	int64_t now = fs_monotonic_ms();
	uint64_t total;
	bool pool_set = false;
	int rc;

	if ((uint64_t)sold == m->last_sold && !missing &&
		now - m->totals_ms < FS_DAEMON_REPUBLISH_MS)
		return s->sold;
	rc = fs_redis_publish_totals(
		&d->redis, m->sale_id, d->conf->node_id, (uint64_t)sold, final, &total, &pool_set);
	if (rc < 0) {
		fs_daemon_sale_err(m, "redis totals", d->redis.errstr);
		return -1;
	}
	if (missing)
		fs_daemon_log("sale %" PRIu32 ": republished missing keys:%s%s", m->sale_id,
			s->has_sold ? "" : " sold", s->has_remaining ? "" : " remaining");
	if ((uint64_t)sold != m->last_sold)
		fs_daemon_log("sale %" PRIu32 ": node %u sold %lld, all nodes %" PRIu64
			      ", remaining %" PRId64,
			m->sale_id, d->conf->node_id, sold, total,
			(int64_t)s->stock - (int64_t)total);
	m->last_sold = (uint64_t)sold;
	m->totals_ms = now;
	return (int64_t)total;
}

/* Keep fs:{N}:sale's state current (never over the operator's stop). */
static void publish_state(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	int64_t now, int64_t total)
{
	enum fs_redis_state st;
	const char *name;
	int rc;

	/* on a sale with holds the units that came back are sold too before it is sold out */
	st = fs_redis_state_at(now, s->start_ms, s->end_ms, s->stock + s->returned,
		(uint64_t)(total > s->sold ? total : s->sold), m->stopped);
	name = fs_redis_state_name(st);
	if (st == FS_RS_STOPPED || strcmp(s->state, name) == 0)
		return;
	rc = fs_redis_sale_set_state(&d->redis, m->sale_id, st);
	if (rc < 0)
		fs_daemon_sale_err(m, "redis state", d->redis.errstr);
	else if (rc == 1)
		fs_daemon_log("sale %" PRIu32 ": state %s -> %s", m->sale_id, s->state, name);
}

/* Read sale @p id from Redis and remember what a rebuild would need. */
static int read_sale(struct daemon *d, struct sale_mem *m, struct fs_redis_sale *s)
{
	int rc = fs_redis_sale_get(&d->redis, m->sale_id, s);

	if (rc < 0)
		return rc;
	m->events |= s->events_published;
	m->stopped = m->stopped || strcmp(s->state, "stopped") == 0;
	if (s->has_key) {
		memcpy(m->key, s->key, sizeof(m->key));
		m->has_key = true;
	}
	return 0;
}

/* Live daemons of the registry (at least this one), read at most every second. */
static unsigned live_nodes(struct daemon *d)
{
	struct fs_node_info *v = NULL;
	int64_t now = fs_monotonic_ms();
	size_t n = 0;
	unsigned live = 0;

	if (d->live_nodes > 0 && now - d->live_nodes_ms < 1000)
		return d->live_nodes;
	if (fs_nodes_list(&d->redis, &v, &n) == 0)
		for (size_t i = 0; i < n; i++)
			live += v[i].alive_pttl >= 0 ? 1 : 0;
	free(v);
	d->live_nodes = live > 0 ? live : 1;
	d->live_nodes_ms = now;
	return d->live_nodes;
}

/* The dataplane's RETRY answers to claims of sale @p m since the last status (retry_new). */
static void note_retries(struct sale_mem *m, struct json_object *st)
{
	long long retry = 0;

	if (fs_dpctl_get_i64(st, "claim_retry", &retry) < 0 || retry < 0)
		return;
	m->retry_new = (uint64_t)retry > m->dp_retry; /* a restarted dataplane counts anew */
	m->dp_retry = (uint64_t)retry;
}

/*
 * Whether the node has buyers for sale @p s: before the opening, a crowd beyond its lease; once
 * open, a sell rate or RETRY answers since the last tick. An idle node that gave its units back
 * and asks for a chunk does not mark itself starved (that would take units from busy nodes).
 */
static bool lease_demand(const struct sale_mem *m, const struct fs_redis_sale *s, int64_t now)
{
	if (now < s->start_ms)
		return m->waiting > m->leased;
	return m->rate >= 1.0 || m->retry_new;
}

/*
 * Before sale @p s opens: the node's lease up to fs_lease_opening (the crowd its dataplane
 * answered NOT_STARTED, at least a share of the stock, at most the stock / live nodes or
 * --lease-max), so the opening's burst sells from the node instead of answering RETRY.
 */
static uint64_t lease_opening(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s)
{
	unsigned nodes = live_nodes(d);
	uint64_t max = d->conf->lease_max > 0 ? d->conf->lease_max : s->stock / nodes;
	uint64_t target = fs_lease_opening(s->stock, nodes, m->waiting, d->conf->lease_min, max);

	m->opening = target;
	if (m->leased >= target)
		return 0;
	m->chunk = target; /* a node that runs dry at the opening doubles from there */
	return target - m->leased;
}

/*
 * Units to lease to this node now: a chunk sized to its sell rate when its unsold units (its
 * lease - the dataplane's sold) fall below half a chunk (leaseplan.h); 0 while the dataplane is
 * not usable (units leased to a node that cannot sell them would be stranded) and before this
 * process has read the node's lease once (a restarted daemon's node may hold units already).
 */
static uint64_t lease_want(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s)
{
	uint64_t max = d->conf->lease_max;
	uint64_t chunk, want, ahead;
	int64_t now = fs_time_now_ms();
	bool dry;

	if (!fs_daemon_dp_usable(d) || !m->lease_known || !m->dp_seen || m->stopped ||
		now >= s->end_ms)
		return 0; /* nothing is sold after the end: what is left goes back (giveback) */
	if (now < s->start_ms) /* the crowd waiting, up to a node's share */
		return lease_opening(d, m, s);
	if (m->starved > 0 && !lease_demand(m, s, now))
		return 0; /* an idle node leaves the units to the starved ones */
	if (max == 0)
		max = s->stock / FS_LEASE_MAX_STOCK_DIV;
	dry = m->leased > 0 && m->dp_sold >= m->leased;
	if (m->chunk == 0 && m->leased == 0) /* no rate yet: a share of the stock */
		chunk = fs_lease_first(s->stock, live_nodes(d), d->conf->lease_min, max);
	else
		chunk = fs_lease_chunk(m->rate, m->chunk, dry, d->conf->lease_min, max);
	ahead = fs_lease_ahead(m->rate, d->conf->interval_ms, d->lease_rtt_ms);
	want = fs_lease_want_ahead(
		m->leased, m->dp_sold, chunk, s->pool > 0 ? (uint64_t)s->pool : 0, ahead);
	if (want > 0)
		m->chunk = want;
	return want;
}

/* The dataplane's sold count of sale @p m at monotonic @p mono: its sell rate. */
static void note_sold(struct sale_mem *m, uint64_t sold, int64_t mono)
{
	/* a restarted dataplane counts from its journal: no sample across that */
	if (m->dp_seen && sold >= m->dp_sold)
		m->rate = fs_lease_rate(m->rate, sold - m->dp_sold, mono - m->rate_ms);
	m->dp_sold = sold;
	m->rate_ms = mono;
	m->dp_seen = true;
}

/* One sale, one tick. Returns a negative errno if Redis failed at the connection level. */
static int sync_sale(struct daemon *d, uint32_t id, int64_t now)
{
	struct fs_redis_lease lease;
	struct fs_redis_sale s;
	struct json_object *st = NULL;
	struct sale_mem *m;
	long long sold = 0, sold_out = 0, fin = 0, dp_leased = 0;
	int64_t total = -1, t0;
	uint64_t want;
	int rc;

	m = mem_get(d, id);
	if (m == NULL)
		return -ENOMEM;
	rc = read_sale(d, m, &s);
	if (rc == -ENOENT && fs_daemon_dp_usable(d)) {
		/* In fs:sales but the hash is gone: rebuild it if the dataplane has the sale. */
		rebuild_sale(d, id);
		return fs_redis_usable(&d->redis) ? 0 : -EIO;
	}
	if (rc < 0) {
		if (fs_redis_usable(&d->redis))
			fs_daemon_sale_err(m, "redis", d->redis.errstr);
		return fs_redis_usable(&d->redis) ? 0 : rc;
	}

	/* Redis lost the pool: this node's lease key and the lessees again, then the pool once
	 * every node that held a lease reported (nothing is leased meanwhile). */
	if (!s.has_pool && fs_daemon_dp_usable(d))
		rebuild_sale(d, id);
	if (s.hold_ms > 0)
		fs_holds_returns(d, m, &s); /* returned units are leased below, in this tick */
	/* A chunk when the node runs low (0: the call only reads this node's lease and whether
	 * the pool is empty, which the dataplane sync needs); a first lease only once PostgreSQL
	 * knows this node holds one (--pg). */
	want = lease_want(d, m, &s);
	if (want > 0 && !fs_daemon_lease_noted(d, m))
		want = 0;
	t0 = fs_monotonic_ms();
	rc = fs_redis_lease_marked(&d->redis, id, d->conf->node_id, want, now,
		now - FS_DAEMON_STARVED_MS, lease_demand(m, &s, now), &lease);
	if (rc == -ENOENT)
		return 0; /* flushed since the read above: rebuilt next tick */
	if (rc < 0) {
		fs_daemon_sale_err(m, "redis lease", d->redis.errstr);
		return fs_redis_usable(&d->redis) ? 0 : rc;
	}
	m->lease_known = true;
	m->leased = lease.leased;
	m->starved = lease.starved;
	if (lease.taken > 0)
		m->pg_note_ms = 0; /* node_leases gets the new total at once (not throttled) */
	if (lease.taken > 0)
		fs_daemon_log("sale %" PRIu32 ": leased %" PRIu64 " units from the pool to node %u "
			      "(chunk %" PRIu64 ", rate %.0f/s, node total %" PRIu64
			      ", pool empty %d)",
			id, lease.taken, d->conf->node_id, want, m->rate, lease.leased,
			lease.pool_empty);

	if (fs_daemon_dp_usable(d))
		st = dp_sync(d, m, &s, &lease);
	if (lease.taken > 0 && st != NULL) /* a lease's round trip: Redis, then the dataplane */
		d->lease_rtt_ms = 0.5 * d->lease_rtt_ms + 0.5 * (double)(fs_monotonic_ms() - t0);
	if (st != NULL) {
		long long waiting = 0;

		if (fs_dpctl_get_i64(st, "claim_not_started", &waiting) == 0 && waiting >= 0)
			m->waiting = (uint64_t)waiting;
		note_retries(m, st);
		/* sold_out from the same status as sold, and only once that sold is in Redis. */
		fs_dpctl_get_i64(st, "sold_out", &sold_out);
		fs_dpctl_get_i64(st, "final", &fin);
		if (fs_dpctl_get_i64(st, "sold", &sold) == 0 && sold >= 0) {
			note_sold(m, (uint64_t)sold, fs_monotonic_ms());
			total = publish_totals(d, m, &s, sold, fin == 1);
			if (fs_dpctl_get_i64(st, "leased", &dp_leased) == 0 && dp_leased >= 0)
				fs_daemon_lease_note(d, m, (uint64_t)dp_leased, (uint64_t)sold);
		}
		if (total < 0)
			sold_out = 0;
		/* the dataplane has the sale: its releases and hold state */
		if (s.hold_ms > 0)
			fs_holds_after_sync(d, m, &s, (uint64_t)(total > s.sold ? total : s.sold));
		fs_daemon_giveback(d, m, &s, &lease, st);
		if (fs_daemon_dp_usable(d))
			fs_daemon_retry_hint(d, m, &s, &lease);
		json_object_put(st);
		m->last_err[0] = '\0';
	}
	publish_state(d, m, &s, now, total);
	if (now >= s.start_ms && now < s.end_ms && !m->stopped)
		publish_event(d, m, FS_EV_STARTED);
	if (sold_out == 1)
		publish_event(d, m, FS_EV_SOLD_OUT);
	if (now >= s.end_ms || m->stopped)
		publish_event(d, m, FS_EV_ENDED);
	return fs_redis_usable(&d->redis) ? 0 : -EIO;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Sales the dataplane has and fs:sales (@p ids, sorted) lacks: Redis lost them (rebuild), or they
 * were deleted (delete them from the dataplane).
 */
static void rebuild_missing(struct daemon *d, const uint32_t *ids, size_t n)
{
	struct json_object *lst = NULL, *arr;
	size_t len;

	if (fs_daemon_dp_cmd(d, &lst, "/flashsale/sale/list") < 0)
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

/* Connect to Redis when not connected and an attempt is due. Returns true when connected. */
static bool redis_ready(struct daemon *d, int64_t now)
{
	int rc;

	if (fs_redis_usable(&d->redis))
		return true;
	if (!fs_daemon_cond_due(&d->redis_c, now))
		return false;
	d->redis.password = d->conf->redis_password;
	rc = fs_redis_connect(&d->redis, d->conf->redis_url, d->conf->redis_timeout_ms);
	if (rc < 0) {
		fs_daemon_cond_fail(&d->redis_c, now, d->conf->interval_ms,
			"redis unreachable: %s (retrying with back-off up to %u ms; logged again "
			"when it answers)",
			d->redis.errstr, FS_DAEMON_BACKOFF_MAX_MS);
		return false;
	}
	if (!d->redis_seen)
		fs_daemon_log("redis connected (%s)", d->redis_url);
	d->redis_seen = true;
	return true; /* the condition ends with the first command answered (a stopped Redis
		      * still accepts connections): see tick() */
}

/*
 * Whether the connected dataplane is this node (/flashsale/stats node_id). A dataplane of another
 * node is refused: logged once, nothing synced or published for it, checked again every tick.
 */
static bool dp_check_node(struct daemon *d, int64_t now)
{
	struct json_object *st = NULL;
	long long node = -1;
	int rc;

	rc = fs_daemon_dp_cmd(d, &st, "/flashsale/stats");
	if (rc < 0)
		return false;
	fs_dpctl_get_i64(st, "node_id", &node);
	json_object_put(st);
	if (node != (long long)d->conf->node_id) {
		fs_daemon_cond_fail(&d->node_c, now, d->conf->interval_ms,
			"dataplane %s is node %lld, this daemon node %u: refused (nothing synced "
			"or "
			"published for it; checked every tick)",
			d->conf->dp_socket, node, d->conf->node_id);
		d->node_c.next_ms = now; /* every tick, not backed off */
		return false;
	}
	fs_daemon_cond_ok(&d->node_c, now, "dataplane node id matches again");
	return true;
}

/* Connect to the dataplane when not connected and an attempt is due, and check its node id. */
static void dp_ready(struct daemon *d, int64_t now)
{
	if (d->dp.fd < 0) {
		if (!fs_daemon_cond_due(&d->dp_c, now))
			return;
		if (fs_dpctl_connect(&d->dp, d->conf->dp_socket, d->conf->dp_timeout_ms) < 0) {
			dp_lost(d);
			return;
		}
		d->dp_gen++;
		d->dp_node_ok = false;
		if (!d->dp_c.on && d->dp_gen == 1)
			fs_daemon_log("dataplane connected (%s)", d->conf->dp_socket);
		fs_daemon_cond_ok(&d->dp_c, now, "dataplane answers again");
	}
	if (!d->dp_node_ok)
		d->dp_node_ok = dp_check_node(d, now);
}

/* One pass; true when every sale of Redis was synced to a usable dataplane of this node. */
static bool tick(struct daemon *d)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	int64_t now = fs_time_now_ms(), mono = fs_monotonic_ms();
	bool synced = false;
	int rc;

	fs_holds_tick(d); /* PostgreSQL only: the sweep runs whatever Redis does */
	if (!redis_ready(d, mono))
		return false;
	if (!fs_daemon_node_tick(d, mono))
		goto out; /* another daemon has the node id, or Redis failed */
	dp_ready(d, mono);
	if (d->node_c.on)
		goto out; /* another node's dataplane: nothing synced or published */
	rc = fs_redis_sale_list(&d->redis, &ids, &n);
	if (rc < 0) {
		if (fs_redis_usable(&d->redis))
			fs_daemon_log("%s", d->redis.errstr);
		goto out;
	}
	fs_daemon_cond_ok(&d->redis_c, fs_monotonic_ms(), "redis answers again");
	for (size_t i = 0; i < n && !stop_requested; i++) {
		rc = sync_sale(d, ids[i], now);
		if (rc < 0)
			goto out;
	}
	if (fs_daemon_dp_usable(d)) {
		rebuild_missing(d, ids, n);
		synced = !stop_requested && fs_daemon_dp_usable(d);
	}
out:
	if (!fs_redis_usable(&d->redis)) {
		fs_daemon_cond_fail(&d->redis_c, fs_monotonic_ms(), d->conf->interval_ms,
			"redis connection lost: %s (reconnecting with back-off up to %u ms; logged "
			"again when it answers)",
			d->redis.errstr, FS_DAEMON_BACKOFF_MAX_MS);
		fs_redis_close(&d->redis);
	}
	free(ids);
	return synced;
}

int fs_daemon_run(const struct fs_daemon_conf *conf)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct daemon d = {.conf = conf};
	struct timespec next, now;
	char lease_max[32] = "stock/4";
	bool up, ready = false;
	int rc;

	if (conf->lease_max > 0)
		snprintf(lease_max, sizeof(lease_max), "%" PRIu64, conf->lease_max);
	if (sodium_init() < 0)
		return -EIO;
	fs_dpctl_init(&d.dp);
	fs_redis_url_mask(conf->redis_url, d.redis_url, sizeof(d.redis_url));
	log_json = conf->json;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Quiet: a daemon refused for a held node id prints one line only (flashctl's). */
	d.redis.password = conf->redis_password;
	up = fs_redis_connect(&d.redis, conf->redis_url, conf->redis_timeout_ms) == 0;
	rc = fs_daemon_node_start(&d, up);
	if (rc < 0) {
		fs_redis_close(&d.redis);
		return rc;
	}
	fs_daemon_log(
		"started: node %u, interval %u ms, timeouts Redis %d ms, dataplane %d ms, redis "
		"%s, dataplane %s, holds %s, lease chunks %" PRIu64 "..%s",
		conf->node_id, conf->interval_ms, conf->redis_timeout_ms, conf->dp_timeout_ms,
		d.redis_url, conf->dp_socket,
		conf->pg_url != NULL ? "serviced (--pg)" : "not serviced (no --pg)",
		conf->lease_min, lease_max);
	if (up) {
		fs_daemon_log("redis connected (%s)", d.redis_url);
		d.redis_seen = true;
	}

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop_requested) {
		/* systemd's Type=notify: ready once Redis's sales are on the dataplane (sd_notify
		 * is a no-op without $NOTIFY_SOCKET) */
		if (tick(&d) && !ready) {
			ready = true;
			fs_daemon_log("ready: synced with redis and the dataplane");
			sd_notify(0, "READY=1\nSTATUS=synced");
		}
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
	fs_daemon_log("stopping on signal");
	sd_notify(0, "STOPPING=1");
	fs_daemon_node_stop(&d);
	fs_redis_close(&d.redis);
	fs_dpctl_close(&d.dp);
	fs_holds_free(&d);
	free(d.mem);
	return 0;
}
