/* Unit tests of hold.h (hold arithmetic of revision 2) and soldout.h (the cached SOLD_OUT word). */
#include <stdint.h>

#include <criterion/criterion.h>

#include "hold.h"
#include "soldout.h"

#define START 1798000000000ll

Test(hold, won_ms_is_ms_since_the_start_clamped)
{
	cr_assert_eq(fs_hold_won_ms(START, START), 0);
	cr_assert_eq(fs_hold_won_ms(START + 1234, START), 1234);
	cr_assert_eq(fs_hold_won_ms(START - 5, START), 0, "never negative");
	cr_assert_eq(fs_hold_won_ms(START + (int64_t)UINT32_MAX + 7, START), FS_WON_RELEASED - 1,
		"never the released mark");
}

Test(hold, left_ms_counts_down_to_zero_and_saturates)
{
	cr_assert_eq(fs_hold_left_ms(START, 1000, 60000, START + 1000), 60000, "at the win");
	cr_assert_eq(fs_hold_left_ms(START, 1000, 60000, START + 31000), 30000);
	cr_assert_eq(fs_hold_left_ms(START, 1000, 60000, START + 60999), 1);
	cr_assert_eq(fs_hold_left_ms(START, 1000, 60000, START + 61000), 0, "0 at the instant");
	cr_assert_eq(fs_hold_left_ms(START, 1000, 60000, START + 99999999), 0, "and after");
	cr_assert_eq(fs_hold_left_ms(START, FS_WON_RELEASED - 1, FS_HOLD_MAX_MS, START),
		UINT32_MAX, "saturated to 32 bits");
	cr_assert_eq(fs_hold_left_ms(START, 0, 1000, START - 5000), 6000, "a clock step back");
}

Test(hold, retry_ms_of_sold_out)
{
	int64_t now = START + 10000;

	cr_assert_eq(fs_hold_retry_ms(0, true, now + 5000, now), 0, "no holds: final");
	cr_assert_eq(fs_hold_retry_ms(60000, false, now + 5000, now), 0, "closed: final");
	cr_assert_eq(fs_hold_retry_ms(60000, true, 0, now), FS_HOLD_RETRY_MIN_MS, "no deadline");
	cr_assert_eq(fs_hold_retry_ms(60000, true, now + 5000, now), 5000, "until the deadline");
	cr_assert_eq(fs_hold_retry_ms(60000, true, now + 10, now), FS_HOLD_RETRY_MIN_MS, "floor");
	cr_assert_eq(fs_hold_retry_ms(60000, true, now - 10000, now), FS_HOLD_RETRY_MIN_MS,
		"deadline passed, the sweep not yet");
	cr_assert_eq(fs_hold_retry_ms(60000, true, now + 3600000, now), 60000, "cap: the hold");
	cr_assert_eq(fs_hold_retry_ms(200, true, 0, now), 200, "cap below the floor");
	cr_assert_eq(fs_hold_retry_ms(1, true, now + 9, now), 1, "> 0 while open");
}

Test(soldout, mark_then_clear_then_mark_again)
{
	uint32_t w = 0, e;

	e = fs_soldout_load(&w);
	cr_assert_not(fs_soldout_is(e));
	cr_assert(fs_soldout_mark(&w, e));
	cr_assert(fs_soldout_is(fs_soldout_load(&w)));
	cr_assert_not(fs_soldout_mark(&w, fs_soldout_load(&w)), "already marked");
	fs_soldout_clear(&w);
	e = fs_soldout_load(&w);
	cr_assert_not(fs_soldout_is(e), "units came back");
	cr_assert(fs_soldout_mark(&w, e), "sold out again, from the new epoch");
	cr_assert(fs_soldout_is(fs_soldout_load(&w)));
}

/*
 * The lost update: a worker loads the word (not sold out), its take finds nothing, then the
 * control path adds units and clears, then the worker marks: the mark must fail, or the new
 * units hide behind a cached SOLD_OUT for good.
 */
Test(soldout, a_late_mark_from_before_the_clear_fails)
{
	uint32_t w = 0;
	uint32_t seen = fs_soldout_load(&w); /* worker, before its take */

	/* worker's take: sold out. control: units added, then: */
	fs_soldout_clear(&w);
	cr_assert_not(fs_soldout_mark(&w, seen), "a mark from the old epoch fails");
	cr_assert_not(fs_soldout_is(fs_soldout_load(&w)), "the new units are not hidden");
}

/* Same, with the word already marked by another worker when the units come back. */
Test(soldout, a_late_mark_after_a_clear_of_a_marked_word_fails)
{
	uint32_t w = 0;
	uint32_t a = fs_soldout_load(&w), b = fs_soldout_load(&w); /* two workers */

	cr_assert(fs_soldout_mark(&w, a));
	fs_soldout_clear(&w); /* odd 1 -> even 2 */
	cr_assert_not(fs_soldout_mark(&w, b), "b's stale even value 0 no longer matches");
	cr_assert_not(fs_soldout_is(fs_soldout_load(&w)));
	fs_soldout_clear(&w); /* even 2 -> 4: a worker that loaded 2 cannot mark */
	cr_assert_not(fs_soldout_mark(&w, 2));
	cr_assert_eq(fs_soldout_load(&w), 4);
}
