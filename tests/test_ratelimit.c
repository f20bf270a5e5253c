/* Unit tests of ratelimit.c: bucket maths, retry_after_ms, eviction, memory bounded under a flood.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "ratelimit.h"
#include "testutil.h"

#define T0 1798000000000ll /* unix ms */

static struct fs_ratelimit rl;

static void setup(void)
{
	cr_assert_eq(fs_ratelimit_init(&rl, 42), 0);
}

static void teardown(void)
{
	fs_ratelimit_fini(&rl);
}

TestSuite(ratelimit, .init = setup, .fini = teardown, .timeout = 120);

static uint32_t ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

Test(ratelimit, burst_then_limited)
{
	uint32_t a = ip("10.0.0.1");

	/* 10/s, burst 5: five at once, the sixth waits 100 ms (one claim per 100 ms) */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0), 0, "claim %d", i);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0), 100);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0 + 40), 60);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0 + 99), 1);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0 + 100), 0);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 10, 5, T0 + 100), 100);
}

Test(ratelimit, retry_after_is_ceil)
{
	uint32_t a = ip("10.0.0.2");

	/* 3/s, burst 1: one claim every 333.3 ms; the wait is rounded up, never down */
	cr_assert_eq(fs_ratelimit_take(&rl, a, 7, 3, 1, T0), 0);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 7, 3, 1, T0), 334);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 7, 3, 1, T0 + 333), 1);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 7, 3, 1, T0 + 334), 0);
	/* a fast rate: 1 ms at most */
	cr_assert_eq(fs_ratelimit_take(&rl, a, 8, 1000000, 1, T0), 0);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 8, 1000000, 1, T0), 1);
}

Test(ratelimit, refill_caps_at_burst)
{
	uint32_t a = ip("10.0.0.3");
	int ok = 0;

	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 100, 4, T0), 0);
	/* an hour later: still only the burst */
	for (int i = 0; i < 10; i++)
		ok += fs_ratelimit_take(&rl, a, 1, 100, 4, T0 + 3600000) == 0;
	cr_assert_eq(ok, 4);
}

Test(ratelimit, steady_rate_never_limited)
{
	uint32_t a = ip("10.0.0.4");

	/* exactly at the rate (50/s = one per 20 ms), burst 1: 10,000 claims, none limited */
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 50, 1, T0 + 20ll * i), 0, "claim %d", i);
}

Test(ratelimit, per_source_and_per_sale)
{
	uint32_t a = ip("10.0.0.5"), b = ip("10.0.0.6");

	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 1, 1, T0), 0);
	cr_assert_gt(fs_ratelimit_take(&rl, a, 1, 1, 1, T0), 0);
	cr_assert_eq(fs_ratelimit_take(&rl, b, 1, 1, 1, T0), 0, "another source");
	cr_assert_eq(fs_ratelimit_take(&rl, a, 2, 1, 1, T0), 0, "another sale");
	/* off: rate 0, or an unknown source */
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(fs_ratelimit_take(&rl, a, 3, 0, 1, T0), 0);
		cr_assert_eq(fs_ratelimit_take(&rl, 0, 3, 1, 1, T0), 0);
	}
}

Test(ratelimit, eviction_gives_a_full_bucket)
{
	uint32_t a = ip("10.0.0.7"), other = 0;
	uint32_t slot = fs_ratelimit_slot(&rl, a, 1);

	/* find another source with the same slot */
	for (uint32_t x = 1; x != 0 && other == 0; x++)
		if (x != a && fs_ratelimit_slot(&rl, x, 1) == slot)
			other = x;
	cr_assert_neq(other, 0);
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 1, 1, T0), 0);
	cr_assert_gt(fs_ratelimit_take(&rl, a, 1, 1, 1, T0), 0);
	cr_assert_eq(fs_ratelimit_take(&rl, other, 1, 1, 1, T0), 0);
	cr_assert_eq(rl.evictions, 1);
	/* a was evicted: it starts again with a full bucket, never limited by the newcomer */
	cr_assert_eq(fs_ratelimit_take(&rl, a, 1, 1, 1, T0), 0);
}

Test(ratelimit, seeds_differ)
{
	struct fs_ratelimit r2;
	unsigned same = 0;

	cr_assert_eq(fs_ratelimit_init(&r2, 0), 0);
	for (uint32_t x = 1; x <= 1000; x++)
		same += fs_ratelimit_slot(&rl, x, 1) == fs_ratelimit_slot(&r2, x, 1);
	fs_ratelimit_fini(&r2);
	cr_assert_lt(same, 20, "a random seed maps sources elsewhere (%u of 1000 equal)", same);
}

/*
 * 10 million spoofed sources (each sending a burst of 2) interleaved with an honest source that
 * claims at exactly its rate: the table stays the same 64 Ki entries, resident memory does not
 * grow, and the honest source is never limited.
 */
Test(ratelimit, flood_of_10m_sources)
{
	const uint32_t rate = 100, burst = 2; /* per source */
	const struct fs_rl_entry *tab = rl.tab;
	uint32_t honest = ip("192.0.2.1");
	long rss0 = fs_test_rss_kib(), rss1;
	int64_t now = T0;
	unsigned limited = 0, flood_limited = 0, used = 0;

	for (uint32_t i = 0; i < 10000000u; i++) {
		uint32_t src = htonl(0x0a000000u + 1 + i); /* 10.0.0.1 .. */

		flood_limited += fs_ratelimit_take(&rl, src, 5, rate, burst, now) != 0;
		flood_limited += fs_ratelimit_take(&rl, src, 5, rate, burst, now) != 0;
		if (i % 10000 == 0) {
			/* 10 ms per 10,000 flood sources: the honest source claims once per 10 ms
			 */
			now += 10;
			limited += fs_ratelimit_take(&rl, honest, 5, rate, burst, now) != 0;
		}
	}
	rss1 = fs_test_rss_kib();
	for (uint32_t i = 0; i < FS_RL_ENTRIES; i++)
		used += tab[i].ip != 0;
	cr_assert_eq(rl.tab, tab, "the table never moves");
	cr_assert_leq(used, FS_RL_ENTRIES);
	cr_assert_eq(limited, 0, "honest source limited %u times", limited);
	cr_assert_eq(flood_limited, 0, "a burst of 2 from a fresh source is admitted");
	cr_assert_gt(rl.evictions, 10000000u - FS_RL_ENTRIES);
	cr_assert_lt(rss1 - rss0, 256, "RSS grew by %ld KiB", rss1 - rss0);
}
