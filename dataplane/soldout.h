/*
 * The cached SOLD_OUT of a sale as an epoch word: even = not known sold out, odd = sold out.
 * Units can come back to a sold-out sale with holds (a released order's unit, leased again), so
 * the flag must be cleared, without the lost update of a plain flag (a worker that saw the sale
 * empty stores 1 after the control path cleared it: the new units hidden for good).
 *
 * - A worker loads the word (acquire) before it tries to take a unit; if the take finds the sale
 *   sold out, it marks the word with a CAS from the even value it loaded to that value + 1. If
 *   the control path bumped the word in between, the CAS fails: no stale mark.
 * - The control path adds the units first, then bumps the word (atomic RMW, release) to the next
 *   even value above it. A worker whose load sees the bump (acquire) also sees the units in its
 *   take; one whose load came before the bump fails its CAS.
 */
#ifndef FS_SOLDOUT_H
#define FS_SOLDOUT_H

#include <stdbool.h>
#include <stdint.h>

/** Load the word before a take. acquire: pairs with fs_soldout_clear()'s release. Thread safe. */
static inline uint32_t fs_soldout_load(const uint32_t *ep)
{
	return __atomic_load_n(ep, __ATOMIC_ACQUIRE);
}

/** True if the value loaded says sold out. Pure. */
static inline bool fs_soldout_is(uint32_t seen)
{
	return (seen & 1u) != 0;
}

/**
 * Mark sold out, from the value @p seen loaded before the failed take. No-op if @p seen is odd
 * or the word changed since (units came back meanwhile). relaxed: the CAS's atomicity alone
 * decides (it fails if a bump came after @p seen); the mark orders nothing else. Thread safe.
 * @return true if this call marked it.
 */
static inline bool fs_soldout_mark(uint32_t *ep, uint32_t seen)
{
	if (fs_soldout_is(seen))
		return false;
	return __atomic_compare_exchange_n(
		ep, &seen, seen + 1u, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/**
 * Clear after units were added (control path, after the adds): the word goes to the next even
 * value above it (odd v: v + 1; even v: v + 2, so a worker's CAS from v fails). acq_rel RMW:
 * release orders the adds before it (see the top); acquire is not needed but harmless.
 * Thread safe against workers; one control-path writer.
 */
static inline void fs_soldout_clear(uint32_t *ep)
{
	uint32_t v = __atomic_load_n(ep, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(
		ep, &v, (v | 1u) + 1u, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
}

/** Mark sold out unconditionally (recovery, before workers run). */
static inline void fs_soldout_set(uint32_t *ep)
{
	__atomic_fetch_or(ep, 1u, __ATOMIC_RELAXED);
}

#endif
