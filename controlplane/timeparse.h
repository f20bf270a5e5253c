/*
 * Time arguments of flashctl: "now", "+5s", "+500ms", "+2m", "+1h", "+1d", unix ms, ISO 8601 UTC;
 * durations "10m"; unix times formatted as ISO 8601 UTC.
 */
#ifndef FS_TIMEPARSE_H
#define FS_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parse a time argument into unix milliseconds. Pure: the current time is an input.
 * Accepted: "now"; "+N" followed by a unit "ms", "s", "m", "h" or "d" (relative to @p now_ms);
 * a plain decimal number of unix milliseconds; an ISO 8601 date and time with its offset,
 * "YYYY-MM-DDTHH:MM:SS" then an optional fraction ".F" (1 to 9 digits, truncated to ms), then
 * "Z", "+HH:MM", "-HH:MM", "+HHMM" or "-HHMM" (no offset: refused, local time is ambiguous);
 * the date must exist (leap years), seconds 00..59 (no leap second: unix time has none).
 * No spaces, no sign other than the leading '+'.
 * @param s       the argument, NUL-terminated.
 * @param now_ms  the current time, unix ms.
 * @param out_ms  set on success only.
 * @return 0, -EINVAL if @p s does not parse, -ERANGE if the result does not fit in int64_t
 *         or is before 1970 (an ISO time). Thread safe.
 */
int fs_time_parse(const char *s, int64_t now_ms, int64_t *out_ms);

/**
 * Parse a duration into milliseconds. Pure. Accepted: "0", or a decimal number followed by a
 * unit "ms", "s", "m" or "h" ("1500ms", "30s", "10m", "2h"; "0s" too). No spaces, no sign.
 * @param s       the argument, NUL-terminated.
 * @param max_ms  the largest duration accepted.
 * @param out_ms  set on success only.
 * @return 0, -EINVAL if @p s does not parse (a number without its unit), -ERANGE if above
 *         @p max_ms or overflowing. Thread safe.
 */
int fs_duration_parse(const char *s, int64_t max_ms, int64_t *out_ms);

/**
 * Format unix time @p t as ISO 8601 UTC: "YYYY-MM-DDTHH:MM:SSZ" (@p per_s 1: @p t in seconds),
 * "...SS.mmmZ" (1000: ms) or "...SS.uuuuuuZ" (1000000: µs). Pure, thread safe; a time before
 * 1970 (negative) is formatted too.
 * @param buf  receives the NUL-terminated text (FS_TIME_ISO_LEN bytes are always enough).
 * @return 0, -EINVAL for another @p per_s, -ERANGE if the year is outside 0000..9999,
 *         -ENOSPC if @p len is too small (then @p buf holds a truncated text).
 */
int fs_time_format(int64_t t, int64_t per_s, char *buf, size_t len);

/** Room for any text of fs_time_format, NUL included ("9999-12-31T23:59:59.999999Z"). */
#define FS_TIME_ISO_LEN 28

/** The wall clock (CLOCK_REALTIME) in unix milliseconds. Thread safe. */
int64_t fs_time_now_ms(void);

#endif
