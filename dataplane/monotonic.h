/* Milliseconds of the monotonic clock, for deadlines and intervals outside the claim path. */
#ifndef FS_MONOTONIC_H
#define FS_MONOTONIC_H

#include <stdint.h>
#include <time.h>

/**
 * CLOCK_MONOTONIC in milliseconds (truncated), since an unspecified start (the boot, on Linux):
 * never goes back, not changed by setting the wall clock; does not count suspend. For timeouts,
 * deadlines and elapsed times; not the claim path's clock (a vDSO call, tens of ns: the
 * dataplane uses the TSC, clock.h), and not a time of day (timeparse.h, clock.h).
 * @return the clock in ms; 0 in the impossible case that clock_gettime fails (it cannot for
 * CLOCK_MONOTONIC with a valid pointer). Thread safe.
 */
static inline int64_t fs_monotonic_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
