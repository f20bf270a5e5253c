/*
 * Unit tests of timeparse.c: now, relative offsets, unix ms, ISO 8601 times, durations, what is
 * refused, and ISO 8601 formatting.
 */
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
		{"+90s", NOW + 90000},
		{"+10m", NOW + 600000},
		{"+1d", NOW + 86400000},
		{"+2d", NOW + 2 * 86400000LL},
		{"0", 0},
		/* ISO 8601: NOW is 2027-01-01T00:00:00Z */
		{"2027-01-01T00:00:00Z", NOW},
		{"2026-12-24T12:00:00Z", 1798113600000LL},
		{"2026-12-24T12:00:00.5Z", 1798113600500LL},
		{"2026-12-24T12:00:00.123Z", 1798113600123LL},
		{"2026-12-24T12:00:00.123999999Z", 1798113600123LL},
		{"2026-12-24T13:00:00+01:00", 1798113600000LL},
		{"2026-12-24T07:30:00-0430", 1798113600000LL},
		{"2026-12-24T12:00:00.250+00:00", 1798113600250LL},
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T01:00:00+01:00", 0},
		{"2024-02-29T00:00:00Z", 1709164800000LL},
		{"2000-02-29T23:59:59Z", 951868799000LL},
		{"9999-12-31T23:59:59.999Z", 253402300799999LL},
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
		{"+106751991167301d", -ERANGE},
		{"+1D", -EINVAL},
		{"+1w", -EINVAL},
		{"2026-12-24T12:00:00", -EINVAL},
		{"2026-12-24 12:00:00Z", -EINVAL},
		{"2026-12-24t12:00:00Z", -EINVAL},
		{"2026-12-24T12:00Z", -EINVAL},
		{"2026-12-24", -EINVAL},
		{"2026-12-24T12:00:00.Z", -EINVAL},
		{"2026-12-24T12:00:00.1234567890Z", -EINVAL},
		{"2026-12-24T12:00:00ZZ", -EINVAL},
		{"2026-12-24T12:00:00+1", -EINVAL},
		{"2026-12-24T12:00:00+24:00", -EINVAL},
		{"2026-12-24T12:00:00+01:60", -EINVAL},
		{"2026-12-24T12:00:00+01:00x", -EINVAL},
		{"2026-13-01T00:00:00Z", -EINVAL},
		{"2026-00-01T00:00:00Z", -EINVAL},
		{"2026-02-29T00:00:00Z", -EINVAL},
		{"1900-02-29T00:00:00Z", -EINVAL},
		{"2026-04-31T00:00:00Z", -EINVAL},
		{"2026-12-00T00:00:00Z", -EINVAL},
		{"2026-12-24T24:00:00Z", -EINVAL},
		{"2026-12-24T12:60:00Z", -EINVAL},
		{"2026-12-24T12:00:60Z", -EINVAL},
		{"26-12-24T12:00:00Z", -EINVAL},
		{"+2026-12-24T12:00:00Z", -EINVAL},
		{"1969-12-31T23:59:59Z", -ERANGE},
		{"1970-01-01T00:00:00+00:01", -ERANGE},
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

/* ISO 8601 UTC output: seconds, milliseconds or microseconds, and parsed back to the same time. */
struct fmt {
	int64_t t;
	int64_t per_s;
	char want[32]; /* inline, as struct good */
};

ParameterizedTestParameters(timeformat, cases)
{
	static struct fmt cases[] = {
		{0, 1000, "1970-01-01T00:00:00.000Z"},
		{1798113600000LL, 1000, "2026-12-24T12:00:00.000Z"},
		{1798113600123LL, 1000, "2026-12-24T12:00:00.123Z"},
		{1798113600LL, 1, "2026-12-24T12:00:00Z"},
		{1798113600000001LL, 1000000, "2026-12-24T12:00:00.000001Z"},
		{1709164800000LL, 1000, "2024-02-29T00:00:00.000Z"},
		{951868799999LL, 1000, "2000-02-29T23:59:59.999Z"},
		{253402300799999LL, 1000, "9999-12-31T23:59:59.999Z"},
		{-1, 1000, "1969-12-31T23:59:59.999Z"},
		{-86400, 1, "1969-12-31T00:00:00Z"},
	};
	return cr_make_param_array(struct fmt, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct fmt *c, timeformat, cases)
{
	char buf[FS_TIME_ISO_LEN];
	int64_t back = -1;

	cr_assert_eq(fs_time_format(c->t, c->per_s, buf, sizeof(buf)), 0, "%" PRId64, c->t);
	cr_assert_str_eq(buf, c->want, "%" PRId64 " per %" PRId64, c->t, c->per_s);
	if (c->per_s == 1000 && c->t >= 0) {
		cr_assert_eq(fs_time_parse(buf, NOW, &back), 0, "'%s' not parsed back", buf);
		cr_assert_eq(back, c->t, "'%s' parsed back as %" PRId64, buf, back);
	}
}

Test(timeformat, refuses)
{
	char buf[FS_TIME_ISO_LEN], small[10];

	cr_assert_eq(fs_time_format(253402300800000LL, 1000, buf, sizeof(buf)), -ERANGE);
	cr_assert_eq(fs_time_format(INT64_MAX, 1000, buf, sizeof(buf)), -ERANGE);
	cr_assert_eq(fs_time_format(INT64_MIN, 1, buf, sizeof(buf)), -ERANGE);
	cr_assert_eq(fs_time_format(0, 10, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(fs_time_format(0, 1000, small, sizeof(small)), -ENOSPC);
}

/* Every ms of a few days around leap days and year ends, stepped by a prime: format, parse back. */
Test(timeformat, round_trip)
{
	static const int64_t starts[] = {951782400000LL, 1709078400000LL, 1798675200000LL};
	char buf[FS_TIME_ISO_LEN];
	int64_t back;

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		for (int64_t t = starts[i]; t < starts[i] + 3 * 86400000LL; t += 999983) {
			cr_assert_eq(fs_time_format(t, 1000, buf, sizeof(buf)), 0);
			cr_assert_eq(fs_time_parse(buf, NOW, &back), 0, "'%s'", buf);
			cr_assert_eq(back, t, "'%s' gave %" PRId64 ", want %" PRId64, buf, back, t);
		}
}
