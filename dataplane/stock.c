/* Stock of one sale on this node: node pool, per-worker slices, stealing; lock-free. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_pause.h>

#include "stock.h"

/* node_pool alone on its line: the read-mostly fields before it, the slices after it */
_Static_assert(offsetof(struct fs_stock, node_pool) % 64 == 0, "node_pool starts a line");
_Static_assert(offsetof(struct fs_stock, slices) - offsetof(struct fs_stock, node_pool) == 64,
	"node_pool's line holds nothing else");

/* Rounds of (own slice, node pool, steal) while units are in transit before answering RETRY. */
#define FS_STOCK_SPIN_ROUNDS 64u

/*
 * Memory orders. The unit counters (node_pool, slice.units) carry no other data: a unit is only a
 * number, and conservation (never two takers for one unit) comes from the atomicity of each
 * read-modify-write, which holds under any order. So every CAS/add on them is relaxed.
 * sold is published with release by its owner so that a reader that acquires it also sees what
 * the owner wrote before committing (the journal record, the published winner entry).
 * leased is added with release before final is stored with release; a reader that acquires
 * final == 1 then sees the complete leased total, so "final && sold == leased" is never
 * true early (sold only grows and never exceeds leased).
 */

void fs_stock_init(struct fs_stock *s, unsigned n_workers, uint64_t stock, uint32_t chunk)
{
	memset(s, 0, sizeof(*s));
	n_workers = fs_stock_workers(n_workers);
	s->n_workers = n_workers;
	if (chunk == 0) {
		uint64_t c = stock / (8ull * n_workers);
		if (c < 1)
			c = 1;
		if (c > 256)
			c = 256;
		chunk = (uint32_t)c;
	}
	s->chunk = chunk;
}

void fs_stock_lease(struct fs_stock *s, uint64_t units, bool final)
{
	/* release: ordered before the node_pool add and the final store below (see top). */
	__atomic_fetch_add(&s->leased, units, __ATOMIC_RELEASE);
	/* relaxed: a unit counter (see top). */
	__atomic_fetch_add(&s->node_pool, units, __ATOMIC_RELAXED);
	/* release: whoever acquires final sees every lease added before it. A lease after a
	 * final one (units that came back, sales with holds) may store 0: the pool had more. */
	if (final || __atomic_load_n(&s->final, __ATOMIC_RELAXED))
		__atomic_store_n(&s->final, final ? 1 : 0, __ATOMIC_RELEASE);
}

int fs_stock_recover(struct fs_stock *s, uint64_t sold)
{
	/* Before workers run: plain accesses would do; relaxed atomics keep the fields atomic. */
	uint64_t pool = __atomic_load_n(&s->node_pool, __ATOMIC_RELAXED);

	if (pool < sold)
		return -ERANGE;
	__atomic_store_n(&s->node_pool, pool - sold, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sold_base, s->sold_base + sold, __ATOMIC_RELAXED);
	return 0;
}

/* Take one unit from @p ctr if it holds any. */
static inline bool stock_take_one(uint64_t *ctr)
{
	/* relaxed: a unit counter; the CAS alone makes the decrement exclusive. */
	uint64_t v = __atomic_load_n(ctr, __ATOMIC_RELAXED);

	while (v != 0) {
		if (__atomic_compare_exchange_n(
			    ctr, &v, v - 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/* Move up to chunk units from the node pool: one into the caller's hand, the rest to slice w. */
static inline bool stock_refill(struct fs_stock *s, unsigned w)
{
	/* relaxed: unit counters (see top). */
	uint64_t p = __atomic_load_n(&s->node_pool, __ATOMIC_RELAXED);

	while (p != 0) {
		uint64_t n = p < s->chunk ? p : s->chunk;

		if (__atomic_compare_exchange_n(
			    &s->node_pool, &p, p - n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			if (n > 1)
				__atomic_fetch_add(&s->slices[w].units, n - 1, __ATOMIC_RELAXED);
			return true;
		}
	}
	return false;
}

uint64_t fs_stock_sold(const struct fs_stock *s)
{
	/* acquire: pairs with the owners' release stores in fs_stock_commit(). */
	uint64_t sold = __atomic_load_n(&s->sold_base, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < s->n_workers; i++)
		sold += __atomic_load_n(&s->slices[i].sold, __ATOMIC_ACQUIRE);
	return sold;
}

bool fs_stock_sold_out(const struct fs_stock *s)
{
	/* acquire: pairs with the release store of final; leased is complete after it. */
	if (!__atomic_load_n(&s->final, __ATOMIC_ACQUIRE))
		return false;
	return fs_stock_sold(s) >= __atomic_load_n(&s->leased, __ATOMIC_RELAXED);
}

uint64_t fs_stock_remaining(const struct fs_stock *s)
{
	/* relaxed: a statistic; a stale leased only makes it smaller (saturated at 0). */
	uint64_t leased = __atomic_load_n(&s->leased, __ATOMIC_RELAXED);
	uint64_t sold = fs_stock_sold(s);

	return sold >= leased ? 0 : leased - sold;
}

enum fs_take fs_stock_take(struct fs_stock *s, unsigned w)
{
	unsigned n = s->n_workers;

	for (unsigned round = 0; round < FS_STOCK_SPIN_ROUNDS; round++) {
		if (stock_take_one(&s->slices[w].units))
			return FS_TAKE_OK;
		if (stock_refill(s, w))
			return FS_TAKE_OK;
		for (unsigned i = 1; i < n; i++) {
			unsigned v = w + i;

			if (v >= n)
				v -= n;
			if (stock_take_one(&s->slices[v].units))
				return FS_TAKE_OK;
		}
		/* acquire: see fs_stock_sold_out(). */
		bool final = __atomic_load_n(&s->final, __ATOMIC_ACQUIRE);
		uint64_t leased = __atomic_load_n(&s->leased, __ATOMIC_RELAXED);

		if (fs_stock_sold(s) >= leased)
			/* Nothing in transit: every leased unit is sold. */
			return final ? FS_TAKE_SOLD_OUT : FS_TAKE_RETRY;
		/* Units are in other workers' hands (taken, not committed) or moving: wait. */
		rte_pause();
	}
	return FS_TAKE_RETRY;
}

void fs_stock_commit(struct fs_stock *s, unsigned w)
{
	struct fs_slice *sl = &s->slices[w];

	/* Only the owner writes sold: a plain read of our own value, then a release store so
	 * readers that acquire it see everything this worker wrote before the commit. */
	__atomic_store_n(
		&sl->sold, __atomic_load_n(&sl->sold, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

void fs_stock_put(struct fs_stock *s, unsigned w)
{
	/* relaxed: a unit counter (see top). */
	__atomic_fetch_add(&s->slices[w].units, 1, __ATOMIC_RELAXED);
}
