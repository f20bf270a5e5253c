/* Unit tests of timeparse.c: now, relative offsets, unix ms, durations, and what is refused. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "timeparse.h"

#define NOW 1798761600000LL

struct good {
	char in[32]; /* inline: Criterion copies params to another process (no pointers) */
	int64_t want;
};

ParameterizedTestParameters(timeparse, accepts)
{
	static struct good cases[] = {
		{"now", NOW},
		{"+0s", NOW},
		{"+5s", NOW + 5000},
		{"+500ms", NOW + 500},
		{"+2m", NOW + 120000},
		{"+1h", NOW + 3600000},
		{"0", 0},
		{"1798761600123", 1798761600123LL},
		{"9223372036854775807", INT64_MAX},
	};
	return cr_make_param_array(struct good, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good *c, timeparse, accepts)
{
	int64_t out = -1;

	cr_assert_eq(fs_time_parse(c->in, NOW, &out), 0, "'%s' refused", c->in);
	cr_assert_eq(out, c->want, "'%s' gave %lld, want %lld", c->in, (long long)out,
		(long long)c->want);
}

struct bad {
	char in[32]; /* inline: Criterion copies params to another process (no pointers) */
	int err;
};

ParameterizedTestParameters(timeparse, refuses)
{
	static struct bad cases[] = {
		{"", -EINVAL},
		{"Now", -EINVAL},
		{"now+1s", -EINVAL},
		{"+", -EINVAL},
		{"+s", -EINVAL},
		{"+5", -EINVAL},
		{"+5x", -EINVAL},
		{"+5 s", -EINVAL},
		{"+5S", -EINVAL},
		{"+-5s", -EINVAL},
		{"-5s", -EINVAL},
		{"-1", -EINVAL},
		{" 1", -EINVAL},
		{"1 ", -EINVAL},
		{"12ab", -EINVAL},
		{"5s", -EINVAL},
		{"1.5", -EINVAL},
		{"9223372036854775808", -ERANGE},
		{"+9223372036854775807ms", -ERANGE},
		{"+9223372036854775s", -ERANGE},
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, timeparse, refuses)
{
	int64_t out = 12345;

	cr_assert_eq(
		fs_time_parse(c->in, NOW, &out), c->err, "'%s' not refused as expected", c->in);
	cr_assert_eq(out, 12345, "'%s' changed the output on failure", c->in);
}

Test(timeparse, null_refused)
{
	int64_t out;

	cr_assert_eq(fs_time_parse(NULL, NOW, &out), -EINVAL);
}

Test(timeparse, now_is_wall_clock)
{
	int64_t a = fs_time_now_ms();

	/* After 2020-01-01 and before 2100-01-01, in milliseconds. */
	cr_assert_gt(a, 1577836800000LL);
	cr_assert_lt(a, 4102444800000LL);
}

/* Durations (sale create --hold): a number and its unit, or 0, at most a given maximum. */
#define WEEK_MS (7LL * 24 * 3600 * 1000)

struct dur {
	char in[32]; /* inline, as struct good */
	int err;
	int64_t ms;
};

ParameterizedTestParameters(duration, cases)
{
	static struct dur cases[] = {
		{"0", 0, 0},
		{"0s", 0, 0},
		{"1500ms", 0, 1500},
		{"30s", 0, 30000},
		{"10m", 0, 600000},
		{"2h", 0, 7200000},
		{"168h", 0, WEEK_MS},
		{"604800000ms", 0, WEEK_MS},
		{"604800001ms", -ERANGE, 0},
		{"169h", -ERANGE, 0},
		{"9223372036854775807h", -ERANGE, 0},
		{"99999999999999999999ms", -ERANGE, 0},
		{"500", -EINVAL, 0},
		{"", -EINVAL, 0},
		{"+5s", -EINVAL, 0},
		{"-5s", -EINVAL, 0},
		{"5 s", -EINVAL, 0},
		{"5S", -EINVAL, 0},
		{"5d", -EINVAL, 0},
		{"1.5s", -EINVAL, 0},
		{"s", -EINVAL, 0},
		{"now", -EINVAL, 0},
	};
	return cr_make_param_array(struct dur, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct dur *c, duration, cases)
{
	int64_t out = 12345;

	cr_assert_eq(fs_duration_parse(c->in, WEEK_MS, &out), c->err, "'%s'", c->in);
	cr_assert_eq(out, c->err == 0 ? c->ms : 12345, "'%s' gave %" PRId64, c->in, out);
}

Test(duration, null_refused)
{
	int64_t out;

	cr_assert_eq(fs_duration_parse(NULL, WEEK_MS, &out), -EINVAL);
}
