/*
 * The journal sync-latency histogram (--journal-sync fsync): how long each group sync (pwrite
 * and fdatasync of one journal) took, in log-linear buckets, for telemetry and the metrics.
 */
#ifndef FS_SYNCHIST_H
#define FS_SYNCHIST_H

#include <stdint.h>

/*
 * Buckets: 0 is [0, 16 µs); then for octave o = 0 .. 13 (16 µs x 2^o) four of a quarter octave
 * each: bucket 1 + 4o + s is [16 x 2^o x (4 + s) / 4, 16 x 2^o x (5 + s) / 4) µs (relative
 * width at most 1/4); the last (57) is [262.144 ms, inf). The layout of HdrHistogram with two
 * sub-bucket bits (github.com/HdrHistogram), coarse enough for a few lines of telemetry.
 */
#define FS_SYNC_HIST_N 58u
#define FS_SYNC_HIST_MIN_US 16u
#define FS_SYNC_HIST_OCTAVES 14u

/** Bucket of a sync that took @p ns nanoseconds. Pure. */
static inline uint32_t fs_sync_hist_index(uint64_t ns)
{
	uint64_t us = ns / 1000u;
	unsigned msb, o;

	if (us < FS_SYNC_HIST_MIN_US)
		return 0;
	msb = 63u - (unsigned)__builtin_clzll(us);
	o = msb - 4u; /* FS_SYNC_HIST_MIN_US is 2^4 */
	if (o >= FS_SYNC_HIST_OCTAVES)
		return FS_SYNC_HIST_N - 1;
	return 1u + 4u * o + (uint32_t)((us >> (msb - 2u)) & 3u);
}

/**
 * Upper bound of bucket @p i in µs (exclusive: every value of the bucket is below it);
 * UINT64_MAX for the last bucket. Pure.
 */
static inline uint64_t fs_sync_hist_upper_us(uint32_t i)
{
	uint32_t o, s;

	if (i == 0)
		return FS_SYNC_HIST_MIN_US;
	if (i >= FS_SYNC_HIST_N - 1)
		return UINT64_MAX;
	o = (i - 1u) / 4u;
	s = (i - 1u) % 4u;
	return ((uint64_t)FS_SYNC_HIST_MIN_US << o) * (5u + s) / 4u;
}

#endif
