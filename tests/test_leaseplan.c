/* Unit tests of leaseplan.c: the sell rate, the chunk size and when to lease. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "leaseplan.h"

Test(leaseplan, rate_is_a_mean_of_units_per_second)
{
	cr_expect_float_eq(fs_lease_rate(0, 100, 100), 500.0, 1e-9); /* 1000/s halved in */
	cr_expect_float_eq(fs_lease_rate(500, 100, 100), 750.0, 1e-9);
	cr_expect_float_eq(fs_lease_rate(750, 0, 100), 375.0, 1e-9);
	cr_expect_float_eq(fs_lease_rate(42, 10, 0), 42.0, 1e-9); /* no time: unchanged */
}

Test(leaseplan, chunk_covers_the_horizon_within_bounds)
{
	/* 10000 units/s for 150 ms */
	cr_expect_eq(fs_lease_chunk(10000, 0, 0, 64, 5000), 1500);
	cr_expect_eq(fs_lease_chunk(0, 0, 0, 64, 5000), 64);	 /* no rate yet: min */
	cr_expect_eq(fs_lease_chunk(1e9, 0, 0, 64, 5000), 5000); /* capped */
	cr_expect_eq(fs_lease_chunk(1e9, 0, 0, 64, 10), 64);	 /* max below min: min */
}

Test(leaseplan, a_node_that_ran_dry_doubles_its_chunk)
{
	cr_expect_eq(fs_lease_chunk(0, 64, 1, 64, 5000), 128);
	cr_expect_eq(fs_lease_chunk(100000, 64, 1, 64, 5000), 15000 > 5000 ? 5000 : 15000);
	cr_expect_eq(fs_lease_chunk(0, 4000, 1, 64, 5000), 5000);
	cr_expect_eq(fs_lease_chunk(0, 64, 0, 64, 5000), 64); /* not dry: rate only */
}

Test(leaseplan, leases_when_below_half_a_chunk)
{
	cr_expect_eq(fs_lease_want(0, 0, 64, 1000), 64);     /* nothing yet */
	cr_expect_eq(fs_lease_want(100, 100, 64, 1000), 64); /* dry */
	cr_expect_eq(fs_lease_want(100, 69, 64, 1000), 64);  /* 31 unsold < 32 */
	cr_expect_eq(fs_lease_want(100, 68, 64, 1000), 0);   /* 32 unsold: enough for now */
	cr_expect_eq(fs_lease_want(100, 0, 64, 1000), 0);
	cr_expect_eq(fs_lease_want(10, 20, 64, 1000), 64); /* sold above leased (stale): dry */
}

Test(leaseplan, no_remainder_below_a_chunk_is_left_in_the_pool)
{
	cr_expect_eq(fs_lease_want(0, 0, 64, 100), 100); /* 36 would be left: take all */
	cr_expect_eq(fs_lease_want(0, 0, 64, 128), 64);	 /* a whole chunk stays */
	cr_expect_eq(fs_lease_want(0, 0, 64, 127), 127);
	cr_expect_eq(fs_lease_want(0, 0, 64, 3), 64);	  /* the lease takes the 3 there are */
	cr_expect_eq(fs_lease_want(100, 68, 64, 100), 0); /* not due: nothing */
}

Test(leaseplan, the_first_chunk_is_a_share_of_the_stock_per_live_node)
{
	cr_expect_eq(fs_lease_first(20000, 1, 64, 5000), 5000); /* stock / 4 */
	cr_expect_eq(fs_lease_first(20000, 2, 64, 5000), 2500);
	cr_expect_eq(fs_lease_first(20000, 0, 64, 5000), 5000);	   /* no node counted: one */
	cr_expect_eq(fs_lease_first(20000, 1, 64, 1000), 1000);	   /* capped */
	cr_expect_eq(fs_lease_first(100, 3, 64, 5000), 64);	   /* small: the smallest */
	cr_expect_eq(fs_lease_first(100000, 1, 40000, 10), 40000); /* max below min: min */
}
