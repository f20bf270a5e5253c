/* Unit tests of synchist.h: the buckets of the journal sync-latency histogram. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "synchist.h"

/* Every value falls in the bucket whose [lower, upper) µs holds it, lower being the previous
 * bucket's upper bound: the buckets tile [0, inf) with no gap and no overlap. */
Test(synchist, each_value_lies_in_its_bucket)
{
	for (uint64_t us = 0; us < 300000; us += us < 2048 ? 1 : 7) {
		uint32_t i = fs_sync_hist_index(us * 1000 + 999);
		uint64_t lo = i == 0 ? 0 : fs_sync_hist_upper_us(i - 1);

		cr_assert_lt(i, FS_SYNC_HIST_N);
		cr_assert(lo <= us && us < fs_sync_hist_upper_us(i),
			"%lu us in bucket %u [%lu, %lu)", (unsigned long)us, i, (unsigned long)lo,
			(unsigned long)fs_sync_hist_upper_us(i));
		cr_assert_eq(fs_sync_hist_index(us * 1000), i, "the ns below a µs change nothing");
	}
}

/* The layout the header documents: [0, 16), then quarter octaves from 16 µs, the last open. */
Test(synchist, documented_bounds)
{
	cr_assert_eq(fs_sync_hist_upper_us(0), 16);
	cr_assert_eq(fs_sync_hist_upper_us(1), 20);
	cr_assert_eq(fs_sync_hist_upper_us(4), 32);
	cr_assert_eq(fs_sync_hist_upper_us(5), 40);
	cr_assert_eq(fs_sync_hist_upper_us(FS_SYNC_HIST_N - 2), 262144);
	cr_assert_eq(fs_sync_hist_upper_us(FS_SYNC_HIST_N - 1), UINT64_MAX);
	cr_assert_eq(fs_sync_hist_index(0), 0);
	cr_assert_eq(fs_sync_hist_index(15999), 0);
	cr_assert_eq(fs_sync_hist_index(16000), 1);
	cr_assert_eq(fs_sync_hist_index(262143999), FS_SYNC_HIST_N - 2);
	cr_assert_eq(fs_sync_hist_index(262144000), FS_SYNC_HIST_N - 1);
	cr_assert_eq(fs_sync_hist_index(UINT64_MAX), FS_SYNC_HIST_N - 1);
}

/* Bounds grow strictly and each bucket is at most a quarter of its lower bound wide. */
Test(synchist, bounds_increase_by_at_most_a_quarter)
{
	for (uint32_t i = 2; i < FS_SYNC_HIST_N - 1; i++) {
		uint64_t lo = fs_sync_hist_upper_us(i - 1), hi = fs_sync_hist_upper_us(i);

		cr_assert_gt(hi, lo);
		cr_assert_leq((hi - lo) * 4, lo, "bucket %u: [%lu, %lu)", i, (unsigned long)lo,
			(unsigned long)hi);
	}
}
