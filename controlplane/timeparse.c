/*
 * Time arguments of flashctl: "now", relative offsets, unix milliseconds, ISO 8601 UTC times and
 * durations, and unix times formatted as ISO 8601 UTC (pure).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeparse.h"

/* Parse a run of decimal digits (at least one) into *v; *end points past them. */
static int parse_digits(const char *s, const char **end, int64_t *v)
{
	int64_t acc = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (acc > (INT64_MAX - (*p - '0')) / 10)
			return -ERANGE;
		acc = acc * 10 + (*p - '0');
	}
	*end = p;
	*v = acc;
	return 0;
}

/*
 * "N" and a unit ms, s, m or h, or d when @p days (digits first, nothing after the unit) into ms.
 */
static int parse_amount(const char *s, bool days, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{"ms", 1},
		{"s", 1000},
		{"m", 60 * 1000},
		{"h", 3600 * 1000},
		{"d", 24 * 3600 * 1000},
	};
	size_t n_units = sizeof(units) / sizeof(units[0]) - (days ? 0 : 1);
	const char *end;
	int64_t n;
	int rc;

	rc = parse_digits(s, &end, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return -ERANGE;
		*ms = n * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

/*
 * Days since 1970-01-01 of the proleptic Gregorian date @p y-@p m-@p d, and back: Howard
 * Hinnant's days_from_civil / civil_from_days ("chrono-Compatible Low-Level Date Algorithms",
 * howardhinnant.github.io/date_algorithms.html), exact for every int64 day count used here.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly @p n digits at *@p p into *@p v (*@p p moved past them): 0 or -EINVAL. */
static int fixed_digits(const char **p, int n, unsigned *v)
{
	unsigned acc = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -EINVAL;
		acc = acc * 10 + (unsigned)(**p - '0');
	}
	*v = acc;
	return 0;
}

/* Fraction digits after '.' (1 to 9) at *@p p into milliseconds (truncated). 0 or -EINVAL. */
static int parse_fraction(const char **p, int64_t *ms)
{
	int n = 0;
	unsigned digit;

	*ms = 0;
	if (**p != '.')
		return 0;
	for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, n++) {
		digit = (unsigned)(**p - '0');
		if (n < 3)
			*ms = *ms * 10 + digit;
	}
	if (n == 0 || n > 9)
		return -EINVAL;
	for (; n < 3; n++)
		*ms *= 10;
	return 0;
}

/* "Z", or "+HH:MM" / "-HH:MM" / "+HHMM" (at most 23:59) at @p p, the whole rest: its ms east. */
static int parse_offset(const char *p, int64_t *off_ms)
{
	unsigned hh, mm;
	int sign;

	if (strcmp(p, "Z") == 0) {
		*off_ms = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	if (fixed_digits(&p, 2, &hh) < 0)
		return -EINVAL;
	if (*p == ':')
		p++;
	if (fixed_digits(&p, 2, &mm) < 0 || *p != '\0' || hh > 23 || mm > 59)
		return -EINVAL;
	*off_ms = sign * (int64_t)(hh * 60 + mm) * 60000;
	return 0;
}

/* YYYY-MM-DDTHH:MM:SS[.F](Z|+HH:MM|-HH:MM|+HHMM|-HHMM), year 1970..9999, into unix ms. */
static int parse_iso(const char *s, int64_t *out_ms)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y, mo, d, h, mi, se;
	int64_t frac, off, ms;
	const char *p = s;

	if (fixed_digits(&p, 4, &y) < 0 || *p++ != '-' || fixed_digits(&p, 2, &mo) < 0 ||
		*p++ != '-' || fixed_digits(&p, 2, &d) < 0 || *p++ != 'T' ||
		fixed_digits(&p, 2, &h) < 0 || *p++ != ':' || fixed_digits(&p, 2, &mi) < 0 ||
		*p++ != ':' || fixed_digits(&p, 2, &se) < 0 || parse_fraction(&p, &frac) < 0 ||
		parse_offset(p, &off) < 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return -EINVAL;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -EINVAL;
	ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + se * 1000 + frac - off;
	if (ms < 0)
		return -ERANGE;
	*out_ms = ms;
	return 0;
}

int fs_time_parse(const char *s, int64_t now_ms, int64_t *out_ms)
{
	const char *end;
	int64_t n;
	int rc;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*out_ms = now_ms;
		return 0;
	}
	if (*s != '+') {
		rc = parse_digits(s, &end, &n);
		if (rc < 0)
			return rc;
		if (*end == '-' && end - s == 4)
			return parse_iso(s, out_ms);
		if (*end != '\0')
			return -EINVAL;
		*out_ms = n;
		return 0;
	}
	rc = parse_amount(s + 1, true, &n);
	if (rc < 0)
		return rc;
	if (now_ms > 0 && n > INT64_MAX - now_ms)
		return -ERANGE;
	*out_ms = now_ms + n;
	return 0;
}

int fs_duration_parse(const char *s, int64_t max_ms, int64_t *out_ms)
{
	int64_t n;
	int rc;

	if (s != NULL && strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	rc = s != NULL ? parse_amount(s, false, &n) : -EINVAL; /* "" too: no digit */
	if (rc < 0)
		return rc;
	if (n > max_ms)
		return -ERANGE;
	*out_ms = n;
	return 0;
}

int fs_time_format(int64_t t, int64_t per_s, char *buf, size_t len)
{
	int64_t secs, sub, days, y;
	unsigned m, d, sod;
	int digits, n;

	if (per_s != 1 && per_s != 1000 && per_s != 1000000)
		return -EINVAL;
	digits = per_s == 1 ? 0 : per_s == 1000 ? 3 : 6;
	secs = t / per_s - (t % per_s < 0);
	sub = t - secs * per_s;
	days = secs / 86400 - (secs % 86400 < 0);
	sod = (unsigned)(secs - days * 86400);
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;
	n = snprintf(buf, len, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u", y, m, d, sod / 3600,
		sod / 60 % 60, sod % 60);
	if (n > 0 && digits > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ".%0*" PRId64, digits, sub);
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "Z");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int64_t fs_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
