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
 * leased and final are written together under the seqlock gen (stock_write_begin/end): a lease
 * raises leased and may set final, a give-back lowers leased and clears final. A worker takes
 * both from one instant (stock_snapshot) before it answers SOLD_OUT on "final && sold >=
 * leased", so neither a lease (final read new, leased old) nor a give-back (leased read new,
 * final old) makes it say SOLD_OUT while units are left or may come (sold only grows and never
 * exceeds leased).
 */

/* Seqlock writer (one: the control path): gen odd, then the writes. relaxed store + release
 * fence: no write below moves above the odd value (Boehm, "Can seqlocks get along with
 * programming language memory models?", MSPC 2012). */
static inline void stock_write_begin(struct fs_stock *s)
{
	__atomic_store_n(&s->gen, __atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* gen even again; release: the writes above are visible to whoever acquires it. */
static inline void stock_write_end(struct fs_stock *s)
{
	__atomic_store_n(&s->gen, __atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

/*
 * final and leased from one instant: false while a write is under way or when one came between
 * the loads (the caller tries again). acquire load of gen, relaxed data loads, acquire fence,
 * relaxed re-load (Boehm, as above).
 */
static inline bool stock_snapshot(const struct fs_stock *s, bool *final, uint64_t *leased)
{
	uint32_t g = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);

	if (g & 1u)
		return false;
	*final = __atomic_load_n(&s->final, __ATOMIC_RELAXED) != 0;
	*leased = __atomic_load_n(&s->leased, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&s->gen, __ATOMIC_RELAXED) == g;
}

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
	stock_write_begin(s);
	/* relaxed: under gen (see top); leased before the units, so a taker never sees more
	 * units than leased */
	__atomic_fetch_add(&s->leased, units, __ATOMIC_RELAXED);
	/* relaxed: a unit counter (see top). */
	__atomic_fetch_add(&s->node_pool, units, __ATOMIC_RELAXED);
	/* A lease after a final one (units that came back, sales with holds) may store 0: the
	 * pool had more. */
	if (final || __atomic_load_n(&s->final, __ATOMIC_RELAXED))
		__atomic_store_n(&s->final, final ? 1 : 0, __ATOMIC_RELAXED);
	stock_write_end(s);
}

/* Take up to @p want units from @p ctr (one CAS loop); the units taken. */
static uint64_t stock_take_up_to(uint64_t *ctr, uint64_t want)
{
	/* relaxed: a unit counter; the CAS alone makes the decrement exclusive (see top). */
	uint64_t v = __atomic_load_n(ctr, __ATOMIC_RELAXED);

	while (v != 0 && want != 0) {
		uint64_t n = v < want ? v : want;

		if (__atomic_compare_exchange_n(
			    ctr, &v, v - n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return n;
	}
	return 0;
}

uint64_t fs_stock_reclaim(struct fs_stock *s, uint64_t units)
{
	uint64_t got = stock_take_up_to(&s->node_pool, units);

	for (unsigned w = 0; w < s->n_workers && got < units; w++)
		got += stock_take_up_to(&s->slices[w].units, units - got);
	return got;
}

void fs_stock_unreclaim(struct fs_stock *s, uint64_t units)
{
	/* relaxed: a unit counter (see top). */
	__atomic_fetch_add(&s->node_pool, units, __ATOMIC_RELAXED);
}

void fs_stock_unlease(struct fs_stock *s, uint64_t units)
{
	if (units == 0)
		return; /* nothing went to the pool: a final lease stays final */
	stock_write_begin(s);
	/* relaxed: under gen (see top); the units left the pool and slices before: leased never
	 * falls below the units sold and in hand */
	__atomic_fetch_sub(&s->leased, units, __ATOMIC_RELAXED);
	__atomic_store_n(&s->final, 0, __ATOMIC_RELAXED);
	stock_write_end(s);
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
	uint64_t leased;
	bool final;

	while (!stock_snapshot(s, &final, &leased))
		rte_pause(); /* a write of the control path, a few ns */
	return final && fs_stock_sold(s) >= leased;
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
		uint64_t leased;
		bool final;

		if (!stock_snapshot(s, &final, &leased)) {
			rte_pause(); /* a lease or give-back is being written */
			continue;
		}
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
