/* Chunk sizes of flashctl daemon's leases (leaseplan.h). Pure. */
#include "leaseplan.h"

double fs_lease_rate(double rate, uint64_t sold, int64_t dt_ms)
{
	if (dt_ms <= 0)
		return rate;
	return 0.5 * rate + 0.5 * ((double)sold * 1000.0 / (double)dt_ms);
}

uint64_t fs_lease_chunk(double rate, uint64_t last_chunk, int ran_dry, uint64_t min, uint64_t max)
{
	double want = rate * FS_LEASE_HORIZON_MS / 1000.0;
	uint64_t c;

	if (max < min)
		max = min;
	c = want >= (double)max ? max : (uint64_t)(want + 0.5);
	if (ran_dry && last_chunk > 0 && c < 2 * last_chunk)
		c = 2 * last_chunk;
	if (c < min)
		c = min;
	return c > max ? max : c;
}

uint64_t fs_lease_want(uint64_t leased, uint64_t sold, uint64_t chunk, uint64_t pool)
{
	return fs_lease_want_ahead(leased, sold, chunk, pool, 0);
}

uint64_t fs_lease_want_ahead(
	uint64_t leased, uint64_t sold, uint64_t chunk, uint64_t pool, uint64_t ahead)
{
	uint64_t unsold = sold >= leased ? 0 : leased - sold;

	if (unsold >= (chunk + 1) / 2 && unsold >= ahead)
		return 0;
	return pool < 2 * chunk && pool > chunk ? pool : chunk;
}

/* @p u rounded up, 0 for u <= 0 (no libm). */
static uint64_t ceil_u64(double u)
{
	uint64_t n;

	if (u <= 0)
		return 0;
	if (u >= 1.8e19)
		return UINT64_MAX;
	n = (uint64_t)u;
	return (double)n < u ? n + 1 : n;
}

uint64_t fs_lease_ahead(double rate, unsigned interval_ms, double rtt_ms)
{
	return ceil_u64(rate * ((double)interval_ms + rtt_ms) / 1000.0 * FS_LEASE_AHEAD_NUM /
			FS_LEASE_AHEAD_DEN);
}

uint64_t fs_lease_opening(
	uint64_t stock, unsigned nodes, uint64_t waiting, uint64_t min, uint64_t max)
{
	uint64_t c = fs_lease_first(stock, nodes, min, max);

	if (max < min)
		max = min;
	if (waiting > c)
		c = waiting > max ? max : waiting;
	return c;
}

/*
 * Units the node sells in @p ms at @p rate, to the nearest (halves down): a rate that decays
 * towards 0 (fs_lease_rate halves it each idle tick, never reaching 0) keeps no unit back.
 */
static uint64_t units_in(double rate, int64_t ms)
{
	return ceil_u64(rate * (double)ms / 1000.0 - 0.5);
}

uint64_t fs_lease_giveback(const struct fs_lease_gb *gb)
{
	uint64_t keep, far;
	int64_t left = gb->end_ms - gb->now_ms;

	if (gb->over || left <= 0)
		return gb->unsold;
	if (gb->now_ms < gb->start_ms)
		return gb->starved > 0 && gb->unsold > gb->opening ? gb->unsold - gb->opening : 0;
	keep = units_in(gb->rate, FS_LEASE_HORIZON_MS);
	if (left < FS_LEASE_END_MS) {
		keep = 2 * units_in(gb->rate, left); /* what it can sell before the end, x 2 */
		return gb->unsold > keep ? gb->unsold - keep : 0;
	}
	if (gb->starved > 0)
		return gb->unsold > keep ? gb->unsold - keep : 0;
	if (gb->now_ms - gb->start_ms < FS_LEASE_GB_SETTLE_MS)
		return 0;
	keep = 2 * keep > gb->min ? 2 * keep : gb->min;
	far = FS_LEASE_GB_FAR * keep;
	return gb->unsold > far ? gb->unsold - keep : 0;
}

uint64_t fs_lease_first(uint64_t stock, unsigned nodes, uint64_t min, uint64_t max)
{
	uint64_t c = stock / ((uint64_t)FS_LEASE_FIRST_STOCK_DIV * (nodes > 0 ? nodes : 1));

	if (max < min)
		max = min;
	return c < min ? min : c > max ? max : c;
}
