/*
 * flashctl daemon: a node's unsold units back to the pool (give-backs) and RETRY's
 * retry_after_ms while the node waits for a lease (daemon_int.h).
 *
 * A give-back is two steps, each idempotent: the dataplane takes the units back
 * (/flashsale/sale/giveback, seq = its last + 1, journaled there), then giveback.lua lowers this
 * node's lease key and raises the pool by them, once per seq. Whatever is lost in between (a
 * reply, the daemon), the dataplane's status keeps its last seq and units, and the next tick
 * gives them to the pool (fs_daemon_giveback_settle) before anything else is leased to the
 * dataplane: Redis's lease key is never lowered twice, nor the dataplane's lease raised again
 * for units that went to the pool.
 */
#include <errno.h>
#include <inttypes.h>

#include "daemon_int.h"
#include "leaseplan.h"
#include "monotonic.h"
#include "timeparse.h"

/*
 * Give-back @p seq's @p units (taken by the dataplane) to the pool and note it done; false
 * (logged) when Redis did not answer: settled next tick, before any lease. *@p after: the
 * node's lease key then; *@p applied: this call applied it (not a repeat).
 */
static bool giveback_to_pool(struct daemon *d, struct sale_mem *m, uint64_t seq, uint64_t units,
	uint64_t *after, bool *applied)
{
	int rc = 0;

	*applied = false;
	if (units > 0) {
		rc = fs_redis_giveback(&d->redis, m->sale_id, d->conf->node_id, seq, units, after);
		if (rc < 0) {
			fs_daemon_sale_err(m, "redis giveback", d->redis.errstr);
			return false;
		}
		m->leased = *after;
		*applied = rc == 1;
	}
	m->gb_done = seq;
	m->gb_known = true;
	return true;
}

bool fs_daemon_giveback_settle(
	struct daemon *d, struct sale_mem *m, struct json_object *st, struct fs_redis_lease *lease)
{
	long long seq = 0, units = 0;
	uint64_t after = 0;
	bool applied;

	if (fs_dpctl_get_i64(st, "giveback_seq", &seq) < 0 || seq <= 0 ||
		(m->gb_known && (uint64_t)seq <= m->gb_done))
		return true;
	fs_dpctl_get_i64(st, "giveback_units", &units);
	if (!giveback_to_pool(d, m, (uint64_t)seq, units > 0 ? (uint64_t)units : 0, &after,
		    &applied))
		return false; /* the dataplane's lease waits: its key still counts them */
	if (units > 0)
		lease->leased = after;
	if (applied)
		fs_daemon_log("sale %" PRIu32 ": give-back %lld: %lld units to the pool "
			      "(node %u lease %" PRIu64 ")",
			m->sale_id, seq, units, d->conf->node_id, after);
	return true;
}

/* Why fs_lease_giveback gave units back, for the log. */
static const char *gb_reason(const struct fs_lease_gb *gb)
{
	if (gb->over || gb->now_ms >= gb->end_ms)
		return "the sale is over";
	if (gb->now_ms >= gb->end_ms - FS_LEASE_END_MS)
		return "the end is near";
	if (gb->starved > 0)
		return "another node is starved";
	return "its rate fell";
}

/* Ask the dataplane for @p units back (seq @p seq), then give what it took to the pool. */
static void giveback_run(struct daemon *d, struct sale_mem *m, uint64_t units, uint64_t seq,
	const struct fs_lease_gb *gb)
{
	struct json_object *rep = NULL;
	long long given = -1;
	uint64_t after = 0;
	bool applied;
	int rc;

	rc = fs_daemon_dp_cmd(d, &rep, "/flashsale/sale/giveback,%" PRIu32 ",%" PRIu64 ",%" PRIu64,
		m->sale_id, units, seq);
	if (rc == -EREMOTEIO)
		fs_daemon_sale_err(m, "dataplane giveback", d->dp.errstr);
	if (rc == 0)
		fs_dpctl_get_i64(rep, "given", &given);
	json_object_put(rep);
	m->gb_ms = fs_monotonic_ms();
	if (given < 0 || !giveback_to_pool(d, m, seq, (uint64_t)given, &after, &applied))
		return; /* settled next tick from the dataplane's status, before any lease */
	fs_daemon_log("sale %" PRIu32 ": gave back %lld units to the pool (asked %" PRIu64
		      ": %s; unsold %" PRIu64 ", rate %.0f/s, %u starved; give-back %" PRIu64
		      ", node lease %" PRIu64 ")",
		m->sale_id, given, units, gb_reason(gb), gb->unsold, gb->rate, gb->starved, seq,
		m->leased);
}

void fs_daemon_giveback(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	const struct fs_redis_lease *lease, struct json_object *st)
{
	long long leased = 0, sold = 0, seq = 0;
	struct fs_lease_gb gb;
	uint64_t units;

	if (lease->taken > 0 || lease->pool_missing || !fs_daemon_dp_usable(d) ||
		fs_dpctl_get_i64(st, "leased", &leased) < 0 ||
		fs_dpctl_get_i64(st, "sold", &sold) < 0 ||
		fs_dpctl_get_i64(st, "giveback_seq", &seq) < 0 || seq < 0 ||
		(seq > 0 && !(m->gb_known && m->gb_done >= (uint64_t)seq)))
		return; /* a give-back not yet in Redis: fs_daemon_giveback_settle first */
	gb = (struct fs_lease_gb){.unsold = leased > sold ? (uint64_t)(leased - sold) : 0,
		.rate = m->rate,
		.min = d->conf->lease_min,
		.opening = m->opening,
		.now_ms = fs_time_now_ms(),
		.start_ms = s->start_ms,
		.end_ms = s->end_ms,
		.over = m->stopped,
		.starved = lease->starved};
	units = fs_lease_giveback(&gb);
	if (units == 0)
		return;
	/* a daemon that came back knows no rate yet: its node may have buyers (not before the
	 * end: what is left then goes back at once) */
	if (!gb.over && gb.now_ms < gb.end_ms &&
		fs_monotonic_ms() - m->seen_ms < FS_LEASE_GB_SETTLE_MS)
		return;
	/* for its rate: at most every FS_DAEMON_GB_PERIOD_MS (a starved node, the end: at once) */
	if (gb.starved == 0 && !gb.over && gb.now_ms < gb.end_ms - FS_LEASE_END_MS &&
		fs_monotonic_ms() - m->gb_ms < FS_DAEMON_GB_PERIOD_MS)
		return;
	giveback_run(d, m, units, (uint64_t)seq + 1, &gb);
}

void fs_daemon_retry_hint(struct daemon *d, struct sale_mem *m, const struct fs_redis_sale *s,
	const struct fs_redis_lease *lease)
{
	struct json_object *rep = NULL;
	double rtt = d->lease_rtt_ms > 1 ? d->lease_rtt_ms : 1;
	int64_t pool = s->pool - (int64_t)lease->taken;
	uint32_t ms;

	if (lease->pool_empty)
		ms = 0; /* final: the dataplane answers RETRY only for units in transit */
	else if (lease->pool_missing)
		ms = 2 * d->conf->interval_ms; /* waits for the other nodes' reports */
	else if (pool > 0)
		ms = d->conf->interval_ms + (uint32_t)(rtt + 0.5); /* this daemon's next lease */
	else /* another node gives back at its next tick, this one leases at its next */
		ms = 2 * (d->conf->interval_ms + (uint32_t)(rtt + 0.5));
	if (ms > FS_DAEMON_RETRY_MAX_MS)
		ms = FS_DAEMON_RETRY_MAX_MS;
	if (m->retry_known && m->retry_ms == ms && m->retry_gen == d->dp_gen)
		return;
	if (fs_daemon_dp_cmd(
		    d, &rep, "/flashsale/sale/retry,%" PRIu32 ",%" PRIu32, m->sale_id, ms) == 0) {
		m->retry_known = true;
		m->retry_ms = ms;
		m->retry_gen = d->dp_gen;
	}
	json_object_put(rep);
}
