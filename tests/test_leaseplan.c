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

/*
 * A case of fs_lease_giveback: the node's state (--lease-min 64) and the units it gives back.
 * Times in unix ms.
 */
struct gb_case {
	uint64_t unsold;
	double rate;
	uint64_t opening;
	int64_t now_ms, start_ms, end_ms;
	unsigned starved;
	bool over;
	uint64_t back;
};

/* Each of the @p n cases of @p c gives back what it says. */
static void expect_givebacks(const struct gb_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fs_lease_gb gb = {.unsold = c[i].unsold,
			.rate = c[i].rate,
			.min = 64,
			.opening = c[i].opening,
			.now_ms = c[i].now_ms,
			.start_ms = c[i].start_ms,
			.end_ms = c[i].end_ms,
			.over = c[i].over,
			.starved = c[i].starved};

		cr_expect_eq(fs_lease_giveback(&gb), c[i].back, "case %zu", i);
	}
}

Test(leaseplan, gives_back_what_it_does_not_need)
{
	/* opened at 50000, ends at 1000000 */
	static const struct gb_case c[] = {
		/* open, 10000/s: keeps 1500 (150 ms); 5000 < 4 x 3000: no give-back for its rate */
		{5000, 10000, 0, 100000, 50000, 1000000, 0, false, 0},
		/* another node starves: all above 1500 */
		{5000, 10000, 0, 100000, 50000, 1000000, 1, false, 3500},
		/* the rate fell: 5000 > 4 x 64, it keeps max(2 x 15, 64) */
		{5000, 100, 0, 100000, 50000, 1000000, 0, false, 5000 - 64},
		/* just opened: not for the rate */
		{5000, 100, 0, 50000 + FS_LEASE_GB_SETTLE_MS - 1, 50000, 1000000, 0, false, 0},
		/* an idle node gives everything to a starved one */
		{5000, 0, 0, 50000 + FS_LEASE_GB_SETTLE_MS - 1, 50000, 1000000, 2, false, 5000},
		/* 500 ms left at 1000/s: keeps 2 x 500 */
		{5000, 1000, 0, 1000000 - 500, 50000, 1000000, 0, false, 4000},
		/* over: everything */
		{5000, 1000, 0, 1000000, 50000, 1000000, 0, false, 5000},
		/* stopped */
		{5000, 1000, 0, 100000, 50000, 1000000, 0, true, 5000},
	};

	expect_givebacks(c, sizeof(c) / sizeof(c[0]));
}

Test(leaseplan, before_the_opening_only_a_starved_node_gets_units_back)
{
	/* opens at 5000 with 5000 units to keep, now 1000 */
	static const struct gb_case c[] = {
		{8000, 0, 5000, 1000, 5000, 100000, 0, false, 0},
		{8000, 0, 5000, 1000, 5000, 100000, 1, false, 3000},
		{4000, 0, 5000, 1000, 5000, 100000, 1, false, 0},
	};

	expect_givebacks(c, sizeof(c) / sizeof(c[0]));
}

/*
 * A node whose rate decays towards 0 (halved each idle tick, never 0) keeps no unit: before, it
 * kept ceil(rate x 150 ms) = 1 unit for good while another node starved (giveback.sh: 3999 of
 * 4000 sold, the busy node's claims RETRY until they gave up).
 */
Test(leaseplan, a_decayed_rate_keeps_no_unit)
{
	static const struct gb_case c[] = {
		{1, 1e-30, 0, 100000, 50000, 1000000, 1, false, 1},
		/* 0.75 units in 150 ms: it keeps one */
		{1, 5, 0, 100000, 50000, 1000000, 1, false, 0},
	};

	expect_givebacks(c, sizeof(c) / sizeof(c[0]));
}
