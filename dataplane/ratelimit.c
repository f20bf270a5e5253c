/* Per-source rate limits: a fixed, direct-mapped table of token buckets per worker. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mix.h"
#include "ratelimit.h"

int fs_ratelimit_init(struct fs_ratelimit *rl, uint64_t seed)
{
	uint64_t k[2];

	memset(rl, 0, sizeof(*rl));
	if (seed == 0) {
		if (sodium_init() < 0)
			return -EIO;
		randombytes_buf(k, sizeof(k));
	} else {
		/* two splitmix64 outputs (mix.h): two well-mixed words from a seed */
		k[0] = fs_splitmix64_next(&seed);
		k[1] = fs_splitmix64_next(&seed);
	}
	rl->mul = k[0] | 1u;
	rl->add = k[1];
	rl->tab = aligned_alloc(64, FS_RL_ENTRIES * sizeof(*rl->tab));
	if (rl->tab == NULL)
		return -ENOMEM;
	/* writes every page now: the table's memory is resident from the start and never grows */
	memset(rl->tab, 0, FS_RL_ENTRIES * sizeof(*rl->tab));
	return 0;
}

void fs_ratelimit_fini(struct fs_ratelimit *rl)
{
	free(rl->tab);
	rl->tab = NULL;
}

uint32_t fs_ratelimit_slot(const struct fs_ratelimit *rl, uint32_t ip, uint32_t sale_id)
{
	uint64_t key = (uint64_t)sale_id << 32 | ip;

	return (uint32_t)((key * rl->mul + rl->add) >> (64 - FS_RL_BITS));
}

uint32_t fs_ratelimit_take(struct fs_ratelimit *rl, uint32_t ip, uint32_t sale_id, uint32_t rate,
	uint32_t burst, int64_t now_ms)
{
	struct fs_rl_entry *e;
	uint32_t now32 = (uint32_t)now_ms, cap, deficit;

	if (rate == 0 || ip == 0 || rl->tab == NULL)
		return 0;
	if (rate > FS_RL_RATE_MAX)
		rate = FS_RL_RATE_MAX;
	if (burst == 0)
		burst = 1;
	if (burst > FS_RL_BURST_MAX)
		burst = FS_RL_BURST_MAX;
	cap = burst * FS_RL_MILLI;
	e = &rl->tab[fs_ratelimit_slot(rl, ip, sale_id)];

	if (e->ip != ip || e->sale_id != sale_id) {
		/* a newcomer: takes the slot over with a full bucket, less this claim */
		if (e->ip != 0)
			rl->evictions++;
		e->ip = ip;
		e->sale_id = sale_id;
		e->milli = cap - FS_RL_MILLI;
		e->last_ms = now32;
		return 0;
	}
	{
		/* wraps every 49.7 days; a negative gap is an entry idle for more than 24.8 days */
		int32_t gap = (int32_t)(now32 - e->last_ms);
		uint64_t m;

		if (gap < 0)
			m = cap;
		else
			m = (uint64_t)e->milli + (uint64_t)(uint32_t)gap * rate;
		e->milli = m > cap ? cap : (uint32_t)m;
		e->last_ms = now32;
	}
	if (e->milli > cap)
		e->milli = cap; /* the limits of this sale were lowered since */
	if (e->milli >= FS_RL_MILLI) {
		e->milli -= FS_RL_MILLI;
		return 0;
	}
	/* rate thousandths come back per ms: ceil(deficit / rate) ms until one whole claim */
	deficit = FS_RL_MILLI - e->milli;
	return (deficit + rate - 1) / rate;
}
