/* Dataplane clock: unix time from the TSC, calibrated once against CLOCK_REALTIME. */
#ifndef FS_CLOCK_H
#define FS_CLOCK_H

#include <stdint.h>

#include <rte_cycles.h>

/** Calibration, written once by fs_clock_init() before workers run; read-only afterwards. */
struct fs_clock {
	uint64_t tsc0; /**< TSC at the calibration instant */
	uint64_t ns0;  /**< unix ns at the calibration instant */
	uint64_t hz;   /**< TSC ticks per second (rte_get_tsc_hz) */
	uint64_t mult; /**< ns per tick in 32.32 fixed point: (1e9 << 32) / hz */
};

extern struct fs_clock fs_clock_cal;

/**
 * Calibrate: read CLOCK_REALTIME between two rte_rdtsc() reads (best of a few tries, the pair
 * with the smallest gap wins) and take rte_get_tsc_hz(). Call once after rte_eal_init(), before
 * the workers start. Not thread safe.
 * @return 0, or -errno (-ENODEV if the TSC frequency is unknown, clock_gettime's errno).
 */
int fs_clock_init(void);

/**
 * Unix time in ns at TSC value @p tsc (a value read after fs_clock_init()). Pure arithmetic, no
 * syscall: ns0 + (tsc - tsc0) * mult >> 32 in 128 bits. Drifts with the TSC (no NTP slewing
 * after calibration). Thread safe.
 */
static inline uint64_t fs_clock_now_ns(uint64_t tsc)
{
	uint64_t d = tsc - fs_clock_cal.tsc0;

	return fs_clock_cal.ns0 + (uint64_t)(((unsigned __int128)d * fs_clock_cal.mult) >> 32);
}

/** Unix time in ms at TSC value @p tsc (see fs_clock_now_ns()). Thread safe. */
static inline int64_t fs_clock_now_ms(uint64_t tsc)
{
	return (int64_t)(fs_clock_now_ns(tsc) / 1000000u);
}

/** Unix time in ms now (one rte_rdtsc()). Thread safe. */
static inline int64_t fs_clock_ms(void)
{
	return fs_clock_now_ms(rte_rdtsc());
}

#endif
