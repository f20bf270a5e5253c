/* Time arguments of flashctl: "now", relative offsets, unix milliseconds, durations (pure). */
#include <errno.h>
#include <stdbool.h>
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

/* "N" and a unit ms, s, m or h (digits first, nothing after the unit) into ms. */
static int parse_amount(const char *s, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{"ms", 1},
		{"s", 1000},
		{"m", 60 * 1000},
		{"h", 3600 * 1000},
	};
	const char *end;
	int64_t n;
	int rc;

	rc = parse_digits(s, &end, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return -ERANGE;
		*ms = n * units[i].ms;
		return 0;
	}
	return -EINVAL;
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
		if (*end != '\0')
			return -EINVAL;
		*out_ms = n;
		return 0;
	}
	rc = parse_amount(s + 1, &n);
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
	rc = s != NULL ? parse_amount(s, &n) : -EINVAL; /* "" too: no digit */
	if (rc < 0)
		return rc;
	if (n > max_ms)
		return -ERANGE;
	*out_ms = n;
	return 0;
}

int64_t fs_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
