/* Dataplane clock: calibrate the TSC against CLOCK_REALTIME once; reads are pure arithmetic. */
#include <errno.h>
#include <time.h>

#include <rte_cycles.h>

#include "clock.h"

#define FS_CLOCK_TRIES 5

struct fs_clock fs_clock_cal;

int fs_clock_init(void)
{
	uint64_t hz = rte_get_tsc_hz();
	uint64_t best_gap = UINT64_MAX;
	struct timespec ts;
	int i;

	if (hz == 0)
		return -ENODEV;
	for (i = 0; i < FS_CLOCK_TRIES; i++) {
		uint64_t t1 = rte_rdtsc_precise();

		if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
			return -errno;
		uint64_t t2 = rte_rdtsc_precise();

		if (t2 - t1 < best_gap) {
			best_gap = t2 - t1;
			fs_clock_cal.tsc0 = t1 + (t2 - t1) / 2;
			fs_clock_cal.ns0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	}
	fs_clock_cal.hz = hz;
	fs_clock_cal.mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
	return 0;
}
