/* Time arguments of flashctl: "now", "+5s", "+500ms", "+2m", "+1h", unix ms; durations "10m". */
#ifndef FS_TIMEPARSE_H
#define FS_TIMEPARSE_H

#include <stdint.h>

/**
 * Parse a time argument into unix milliseconds. Pure: the current time is an input.
 * Accepted: "now"; "+N" followed by a unit "ms", "s", "m" or "h" (relative to @p now_ms);
 * a plain decimal number of unix milliseconds. No spaces, no sign other than the leading '+'.
 * @param s       the argument, NUL-terminated.
 * @param now_ms  the current time, unix ms.
 * @param out_ms  set on success only.
 * @return 0, -EINVAL if @p s does not parse, -ERANGE if the result does not fit in int64_t.
 *         Thread safe.
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

/** The wall clock (CLOCK_REALTIME) in unix milliseconds. Thread safe. */
int64_t fs_time_now_ms(void);

#endif
