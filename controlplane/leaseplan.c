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
	uint64_t unsold = sold >= leased ? 0 : leased - sold;

	if (unsold >= (chunk + 1) / 2)
		return 0;
	return pool < 2 * chunk && pool > chunk ? pool : chunk;
}

uint64_t fs_lease_first(uint64_t stock, unsigned nodes, uint64_t min, uint64_t max)
{
	uint64_t c = stock / ((uint64_t)FS_LEASE_FIRST_STOCK_DIV * (nodes > 0 ? nodes : 1));

	if (max < min)
		max = min;
	return c < min ? min : c > max ? max : c;
}
