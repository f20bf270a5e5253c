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

Test(leaseplan, leases_ahead_of_the_next_tick)
{
	/* 10000/s, ticks of 100 ms and 2 ms round trips: 1275 units until a lease arrives */
	cr_expect_eq(fs_lease_ahead(10000, 100, 2), 1275);
	cr_expect_eq(fs_lease_ahead(0, 100, 2), 0);
	/* a chunk of 1500 with 1000 unsold is not due by half a chunk, but is by the tick */
	cr_expect_eq(fs_lease_want_ahead(2000, 1000, 1500, 100000, 1275), 1500);
	cr_expect_eq(fs_lease_want_ahead(2000, 1000, 1500, 100000, 999), 0);
	cr_expect_eq(fs_lease_want_ahead(2000, 1000, 1500, 100000, 0),
		fs_lease_want(2000, 1000, 1500, 100000));
}

Test(leaseplan, the_opening_lease_covers_the_crowd_up_to_a_node_share)
{
	/* 40000 waiting, 20000 units, one node: all of it; two nodes: half each at most */
	cr_expect_eq(fs_lease_opening(20000, 1, 40000, 64, 20000), 20000);
	cr_expect_eq(fs_lease_opening(20000, 2, 40000, 64, 10000), 10000);
	cr_expect_eq(fs_lease_opening(20000, 1, 3000, 64, 20000), 5000); /* the share is more */
	cr_expect_eq(fs_lease_opening(20000, 1, 7000, 64, 20000), 7000);
	cr_expect_eq(fs_lease_opening(20000, 1, 0, 64, 20000), fs_lease_first(20000, 1, 64, 20000));
	cr_expect_eq(fs_lease_opening(2000, 2, 9000, 500, 500), 500); /* --lease-max 500 */
}

Test(leaseplan, gives_back_what_it_does_not_need)
{
	struct fs_lease_gb gb = {.unsold = 5000, .rate = 10000, .min = 64, .now_ms = 100000,
		.start_ms = 50000, .end_ms = 1000000};

	/* open, 10000/s: it keeps 1500 (150 ms); 5000 < 4 x 3000: no give-back for its rate */
	cr_expect_eq(fs_lease_giveback(&gb), 0);
	gb.starved = 1; /* another node starves: all above 1500 */
	cr_expect_eq(fs_lease_giveback(&gb), 3500);
	gb.starved = 0;
	gb.rate = 100; /* the rate fell: 5000 > 4 x 64, it keeps max(2 x 15, 64) */
	cr_expect_eq(fs_lease_giveback(&gb), 5000 - 64);
	gb.now_ms = gb.start_ms + FS_LEASE_GB_SETTLE_MS - 1; /* just opened: not for the rate */
	cr_expect_eq(fs_lease_giveback(&gb), 0);
	gb.rate = 0;
	gb.starved = 2; /* an idle node gives everything to a starved one */
	cr_expect_eq(fs_lease_giveback(&gb), 5000);
	gb.now_ms = gb.end_ms - 500; /* 500 ms left at 1000/s: keeps 2 x 500 */
	gb.starved = 0;
	gb.rate = 1000;
	cr_expect_eq(fs_lease_giveback(&gb), 4000);
	gb.now_ms = gb.end_ms; /* over: everything */
	cr_expect_eq(fs_lease_giveback(&gb), 5000);
	gb.now_ms = 100000;
	gb.over = true; /* stopped */
	cr_expect_eq(fs_lease_giveback(&gb), 5000);
}

Test(leaseplan, before_the_opening_only_a_starved_node_gets_units_back)
{
	struct fs_lease_gb gb = {.unsold = 8000, .rate = 0, .min = 64, .opening = 5000,
		.now_ms = 1000, .start_ms = 5000, .end_ms = 100000};

	cr_expect_eq(fs_lease_giveback(&gb), 0);
	gb.starved = 1;
	cr_expect_eq(fs_lease_giveback(&gb), 3000);
	gb.unsold = 4000;
	cr_expect_eq(fs_lease_giveback(&gb), 0);
}

/*
 * A node whose rate decays towards 0 (halved each idle tick, never 0) keeps no unit: before, it
 * kept ceil(rate x 150 ms) = 1 unit for good while another node starved (giveback.sh: 3999 of
 * 4000 sold, the busy node's claims RETRY until they gave up).
 */
Test(leaseplan, a_decayed_rate_keeps_no_unit)
{
	struct fs_lease_gb gb = {.unsold = 1, .rate = 1e-30, .min = 64, .now_ms = 100000,
		.start_ms = 50000, .end_ms = 1000000, .starved = 1};

	cr_expect_eq(fs_lease_giveback(&gb), 1);
	gb.rate = 5; /* 0.75 units in 150 ms: it keeps one */
	cr_expect_eq(fs_lease_giveback(&gb), 0);
}
