/* Unit tests of monotonic.h: CLOCK_MONOTONIC in ms, never backwards, tracks a sleep. */
#include <stdint.h>
#include <time.h>

#include <criterion/criterion.h>

#include "monotonic.h"

Test(monotonic, never_goes_back)
{
	int64_t prev = fs_monotonic_ms();

	cr_assert_gt(prev, 0);
	for (int i = 0; i < 100000; i++) {
		int64_t now = fs_monotonic_ms();

		cr_assert_geq(now, prev, "read %d", i);
		prev = now;
	}
}

/* A 50 ms sleep shows as 49..1000 ms (truncation costs at most 1 ms; a loaded, shared machine
 * may oversleep a lot). */
Test(monotonic, counts_milliseconds, .timeout = 10)
{
	struct timespec d = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
	int64_t t0 = fs_monotonic_ms(), dt;

	cr_assert_eq(clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL), 0);
	dt = fs_monotonic_ms() - t0;
	cr_assert_geq(dt, 49);
	cr_assert_lt(dt, 1000);
}

/* The same clock as clock_gettime(CLOCK_MONOTONIC), in ms. */
Test(monotonic, is_clock_monotonic_in_ms)
{
	struct timespec ts;
	int64_t before, ms, after;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ms = fs_monotonic_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	cr_assert_geq(ms, before);
	cr_assert_leq(ms, after);
}
