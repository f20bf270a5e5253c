/* flashctl daemon's sales with holds: sweep, returns to the pool, releases, the hold state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "monotonic.h"
#include "parse.h"
#include "pgorders.h"
#include "timeparse.h"

/* The steps whose errors are logged once each until they change (hold_mem's err). */
enum hold_step { STEP_RETURNS, STEP_RELEASE, STEP_PUSH, STEP_CHECK };

/* Log step @p st's error once until it changes or the step succeeds (hold_err_clear). */
static void hold_err(struct sale_mem *m, enum hold_step st, const char *what, const char *text)
{
	char line[FS_SALE_ERR_LEN];

	snprintf(line, sizeof(line), "%s: %s", what, text);
	if (strcmp(line, m->holds.err[st]) == 0)
		return;
	snprintf(m->holds.err[st], sizeof(m->holds.err[st]), "%s", line);
	fs_daemon_log("sale %" PRIu32 ": %s", m->sale_id, line);
}

static void hold_err_clear(struct sale_mem *m, enum hold_step st)
{
	m->holds.err[st][0] = '\0';
}

/* ---------------------------------------------------------------- PostgreSQL */

/* Whether PostgreSQL may be asked now: --pg given and not in a back-off. */
bool fs_daemon_pg_ready(struct daemon *d)
{
	return d->pg != NULL && fs_daemon_cond_due(&d->pg_c, fs_monotonic_ms());
}

/* A statement failed: the condition starts (logged once), nothing more is asked until due. */
void fs_daemon_pg_failed(struct daemon *d)
{
	fs_daemon_cond_fail(&d->pg_c, fs_monotonic_ms(), d->conf->interval_ms,
		"postgresql failing: %s (holds wait; retrying with back-off up to %u ms; logged "
		"again when it answers)",
		fs_pgorders_error(d->pg), FS_DAEMON_BACKOFF_MAX_MS);
}

/* A statement answered: the condition ends (logged once), and the first answer is logged. */
void fs_daemon_pg_answered(struct daemon *d)
{
	if (!d->pg_seen)
		fs_daemon_log("postgresql answers: holds are serviced");
	d->pg_seen = true;
	fs_daemon_cond_ok(&d->pg_c, fs_monotonic_ms(), "postgresql answers again");
}

void fs_holds_tick(struct daemon *d)
{
	unsigned calls;
	long total = 0;
	int n = 0;

	if (d->conf->pg_url == NULL)
		return;
	if (d->pg == NULL) {
		d->rows = calloc(FS_DAEMON_HOLDS_BATCH, sizeof(*d->rows));
		d->ids = calloc(FS_DAEMON_HOLDS_BATCH, sizeof(*d->ids));
		d->pg = d->rows != NULL && d->ids != NULL
				? fs_pgorders_new(d->conf->pg_url, (unsigned)d->conf->pg_timeout_ms)
				: NULL;
		if (d->pg == NULL) {
			fs_holds_free(d); /* out of memory: tried again next tick */
			return;
		}
	}
	if (!fs_daemon_pg_ready(d))
		return;
	/* the due holds, FS_DAEMON_HOLDS_BATCH at a time, until fewer are due or the budget */
	for (calls = 0; calls < FS_DAEMON_SWEEP_CALLS; calls++) {
		n = fs_pgorders_expire_due(d->pg, FS_DAEMON_HOLDS_BATCH);
		if (n < 0)
			break;
		total += n;
		if (n < (int)FS_DAEMON_HOLDS_BATCH)
			break;
	}
	if (n < 0) {
		fs_daemon_pg_failed(d);
	} else {
		fs_daemon_pg_answered(d);
	}
	if (total > 0)
		fs_daemon_log("expired %ld due holds (sweep)", total);
}

void fs_holds_free(struct daemon *d)
{
	fs_pgorders_free(d->pg);
	d->pg = NULL;
	free(d->rows);
	d->rows = NULL;
	free(d->ids);
	d->ids = NULL;
}

/* ---------------------------------------------------------------- returns to the pool */

/*
 * Test knob: FS_TEST_RETURN_MARK_DELAY_MS=N makes the daemon wait N ms between giving units
 * back to Redis and marking their rows applied (one log line first), so that a test can kill it
 * there. 0 (unset): no wait.
 */
static unsigned mark_delay_ms(void)
{
	static int read_ = 0;
	static unsigned ms;
	uint64_t v;

	if (!read_) {
		read_ = 1;
		if (fs_parse_u64(getenv("FS_TEST_RETURN_MARK_DELAY_MS"), 0, 600000, &v) == 0)
			ms = (unsigned)v;
	}
	return ms;
}

/* The order ids of @p r (@p n rows) into @p ids. */
static void order_ids(const struct fs_pgorders_return *r, int n, uint64_t *ids)
{
	for (int i = 0; i < n; i++)
		ids[i] = r[i].order_id;
}

/*
 * The returns of sale @p m not applied yet: their units back in the pool (return.lua, once per
 * order however often it runs), then their rows marked applied. A crash between the two runs the
 * script again for them: a no-op.
 */
static void apply_returns(struct daemon *d, struct sale_mem *m)
{
	struct fs_pgorders_return *r = d->rows;
	uint64_t *ids = d->ids;
	unsigned delay = mark_delay_ms();
	int n, now, marked;

	n = fs_pgorders_sale_unapplied(d->pg, m->sale_id, r, FS_DAEMON_HOLDS_BATCH);
	if (n <= 0) {
		if (n < 0)
			fs_daemon_pg_failed(d);
		return;
	}
	order_ids(r, n, ids);
	now = fs_redis_return(&d->redis, m->sale_id, ids, (size_t)n);
	if (now < 0) {
		hold_err(m, STEP_RETURNS, "returns wait", d->redis.errstr);
		return; /* nothing marked: tried again next tick */
	}
	hold_err_clear(m, STEP_RETURNS);
	if (delay > 0) {
		fs_daemon_log("sale %" PRIu32
			      ": test: %d returns in Redis, marking them applied in "
			      "%u ms",
			m->sale_id, n, delay);
		nanosleep(&(struct timespec){.tv_sec = delay / 1000,
				  .tv_nsec = (long)(delay % 1000) * 1000000L},
			NULL);
	}
	marked = fs_pgorders_returns_applied(d->pg, r, (unsigned)n);
	if (marked < 0) {
		fs_daemon_pg_failed(d);
		return;
	}
	fs_daemon_log("sale %" PRIu32 ": %d units back in the pool (returns of %d released orders, "
		      "%d marked applied)",
		m->sale_id, now, n, marked);
}

/* One page of the returns Redis lost: given again (return.lua adds those the set lacks). */
static void resync_page(struct daemon *d, struct sale_mem *m)
{
	struct fs_pgorders_return *r = d->rows;
	uint64_t *ids = d->ids;
	struct hold_mem *h = &m->holds;
	int n, now = 0;

	n = fs_pgorders_sale_applied(d->pg, m->sale_id, h->resync_from, r, FS_DAEMON_HOLDS_BATCH);
	if (n < 0) {
		fs_daemon_pg_failed(d);
		return;
	}
	if (n > 0) {
		order_ids(r, n, ids);
		now = fs_redis_return(&d->redis, m->sale_id, ids, (size_t)n);
		if (now < 0) {
			hold_err(m, STEP_RETURNS, "returns lost with Redis wait", d->redis.errstr);
			return;
		}
		h->resync_given += (uint64_t)now;
	}
	if (n == (int)FS_DAEMON_HOLDS_BATCH && (int64_t)r[n - 1].order_id != INT64_MAX) {
		h->resync_from = (int64_t)r[n - 1].order_id + 1;
		return;
	}
	h->resync = false;
	fs_daemon_log("sale %" PRIu32 ": %" PRIu64 " returns that Redis had lost given to it again",
		m->sale_id, h->resync_given);
}

/*
 * Every FS_DAEMON_RETURNS_CHECK_MS (or at once after a rebuild): does Redis hold every return
 * PostgreSQL says it applied? Read in this order (the count, then the set), a return applied
 * and marked in between is in both, so fewer members than applied rows means Redis lost some:
 * they are given again, provided the sale's keys agree with each other (a set evicted alone,
 * with its pool kept, would be counted twice: logged, not repaired).
 */
static void check_returns(struct daemon *d, struct sale_mem *m)
{
	struct hold_mem *h = &m->holds;
	struct fs_redis_restock rs;
	uint64_t rows, applied;
	char text[160];
	int rc;

	rc = fs_pgorders_sale_returns(d->pg, m->sale_id, &rows, &applied);
	if (rc < 0) {
		fs_daemon_pg_failed(d);
		return;
	}
	if (fs_redis_restock(&d->redis, m->sale_id, d->conf->node_id, &rs) < 0)
		return; /* Redis down or the sale gone: next tick */
	h->check_ms = fs_monotonic_ms() + FS_DAEMON_RETURNS_CHECK_MS;
	if (applied <= rs.returned) {
		hold_err_clear(m, STEP_CHECK);
		return;
	}
	if (!rs.consistent) {
		snprintf(text, sizeof(text),
			"Redis has %" PRIu64 " returns, PostgreSQL %" PRIu64
			" applied, and pool + leases != stock + returned (a key evicted alone?): "
			"not repaired",
			rs.returned, applied);
		hold_err(m, STEP_CHECK, "returns", text);
		return;
	}
	fs_daemon_log("sale %" PRIu32 ": Redis has %" PRIu64 " returns, PostgreSQL %" PRIu64
		      " applied: giving them again",
		m->sale_id, rs.returned, applied);
	h->resync = true;
	h->resync_from = INT64_MIN;
	h->resync_given = 0;
}

/* Rewrite the pool of a sale with holds that Redis lost (restock.lua), then check at once. */
static void restock(struct daemon *d, struct sale_mem *m)
{
	struct fs_redis_restock rs;

	if (fs_redis_restock(&d->redis, m->sale_id, d->conf->node_id, &rs) < 0) {
		hold_err(m, STEP_CHECK, "restock", d->redis.errstr);
		return;
	}
	if (rs.written)
		fs_daemon_log("sale %" PRIu32 ": pool missing: rewritten as stock + %" PRIu64
			      " returned - leases",
			m->sale_id, rs.returned);
	m->holds.check_ms = 0;
}

void fs_holds_rebuilt(struct sale_mem *m)
{
	m->holds.check_ms = 0;
}

void fs_holds_returns(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s)
{
	if (!s->has_pool)
		restock(d, m);
	if (d->conf->pg_url == NULL) {
		if (!d->nopg_logged)
			fs_daemon_log(
				"sale %" PRIu32 " has holds (%" PRIu32 " ms) and this daemon has "
				"no --pg: holds are not serviced (no sweep, returns, releases "
				"or hold state)",
				s->sale_id, s->hold_ms);
		d->nopg_logged = true;
		return;
	}
	if (d->pg != NULL && fs_daemon_pg_ready(d))
		apply_returns(d, m);
	if (d->pg != NULL && fs_daemon_pg_ready(d) && fs_redis_usable(&d->redis) &&
		(m->holds.check_ms == 0 || fs_monotonic_ms() >= m->holds.check_ms))
		check_returns(d, m);
	if (d->pg != NULL && fs_daemon_pg_ready(d) && fs_redis_usable(&d->redis) && m->holds.resync)
		resync_page(d, m);
}

/* ---------------------------------------------------------------- the dataplane */

/*
 * Tell the dataplane the orders of this node that were released (cancelled or expired: their
 * users' claims then get RELEASED), then mark them released_on_node. An answer with "already
 * released" counts as told; another refusal stops the batch (logged once).
 */
static void releases(struct daemon *d, struct sale_mem *m)
{
	struct fs_pgorders_return *r = d->rows;
	struct json_object *rep;
	int n, done = 0, rc = 0, marked;

	n = fs_pgorders_sale_unreleased(
		d->pg, m->sale_id, (uint16_t)d->conf->node_id, r, FS_DAEMON_HOLDS_BATCH);
	if (n < 0)
		fs_daemon_pg_failed(d);
	for (int i = 0; i < n; i++, done++) {
		rep = NULL;
		rc = fs_daemon_dp_cmd(d, &rep,
			"/flashsale/sale/release,%" PRIu32 ",%" PRIu64 ",%" PRIu64, m->sale_id,
			r[i].user_id, r[i].order_id);
		json_object_put(rep);
		if (rc == -EREMOTEIO && strstr(d->dp.errstr, "already released") != NULL)
			rc = 0;
		if (rc != 0)
			break;
	}
	if (rc == -EREMOTEIO)
		hold_err(m, STEP_RELEASE, "dataplane release", d->dp.errstr);
	else if (rc == 0)
		hold_err_clear(m, STEP_RELEASE);
	if (done == 0)
		return;
	marked = fs_pgorders_returns_released(d->pg, (uint16_t)d->conf->node_id, r, (unsigned)done);
	if (marked < 0) {
		fs_daemon_pg_failed(d); /* told, not marked: told again later ("already released") */
		return;
	}
	fs_daemon_log("sale %" PRIu32 ": %d released orders told to the dataplane (%d marked)",
		m->sale_id, done, marked);
}

/*
 * Push the sale's hold state (/flashsale/sale/holds,SALE,OPEN,NEXT_MS) when it changed, on a
 * new dataplane connection, or every FS_DAEMON_HOLDS_REPUSH_MS. OPEN changing is logged.
 */
static void push_holds(
	struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s, uint64_t sold)
{
	struct hold_mem *h = &m->holds;
	struct fs_pgorders_hold st;
	struct json_object *rep = NULL;
	int64_t now = fs_monotonic_ms();
	bool due = !h->pushed || h->push_gen != d->dp_gen ||
		   now - h->push_ms >= FS_DAEMON_HOLDS_REPUSH_MS;
	int rc;

	/* Over and closed: nothing can reopen it (no new order), so only the periodic push. */
	if (!due && !h->open && fs_time_now_ms() >= s->end_ms)
		return;
	rc = fs_pgorders_hold_state(d->pg, m->sale_id, sold, &st);
	if (rc < 0) {
		fs_daemon_pg_failed(d);
		return;
	}
	if (!due && st.open == h->open && st.next_ms == h->next_ms)
		return;
	rc = fs_daemon_dp_cmd(d, &rep, "/flashsale/sale/holds,%" PRIu32 ",%d,%" PRId64, m->sale_id,
		st.open ? 1 : 0, st.next_ms);
	json_object_put(rep);
	if (rc == -EREMOTEIO)
		hold_err(m, STEP_PUSH, "dataplane hold state", d->dp.errstr);
	if (rc != 0)
		return;
	hold_err_clear(m, STEP_PUSH);
	if (!h->pushed || st.open != h->open)
		fs_daemon_log("sale %" PRIu32 ": hold state %s (held %d, returns to apply %d, "
			      "next hold ends at %" PRId64 ")",
			m->sale_id, st.open ? "open: units may come back" : "closed: final",
			st.held, st.unapplied, st.next_ms);
	h->pushed = true;
	h->push_gen = d->dp_gen;
	h->open = st.open;
	h->next_ms = st.next_ms;
	h->push_ms = now;
}

void fs_holds_after_sync(
	struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s, uint64_t sold)
{
	if (d->pg == NULL || !fs_daemon_pg_ready(d) || !fs_daemon_dp_usable(d))
		return;
	releases(d, m);
	if (fs_daemon_pg_ready(d) && fs_daemon_dp_usable(d))
		push_holds(d, m, s, sold);
}
