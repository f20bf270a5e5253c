/* flashgen's guard against DPDK 22.11 memif unmapping the rings under a burst (memif_guard.c). */
#ifndef FG_MEMIF_GUARD_H
#define FG_MEMIF_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_atomic.h>

/**
 * Burst sequence count: odd while the lcore is inside rte_eth_rx_burst/tx_burst.
 * Writer: the lcore (fg_burst_enter/leave); readers: other threads in munmap() (memif_guard.c).
 */
extern uint64_t fg_burst_seq;

/** true on the thread that runs the lcore loop (the main thread), set before EAL init. */
extern __thread bool fg_on_lcore;

/** Before a burst on the lcore: the count goes odd. Lcore only; no syscall, no lock. */
static inline void fg_burst_enter(void)
{
	__atomic_store_n(&fg_burst_seq, __atomic_load_n(&fg_burst_seq, __ATOMIC_RELAXED) + 1,
		__ATOMIC_RELAXED);
	/* full barrier: the odd count is visible before the PMD's flag is read (store-load) */
	rte_smp_mb();
}

/** After the burst: the count goes even; release: the burst's ring accesses come before it. */
static inline void fg_burst_leave(void)
{
	__atomic_store_n(&fg_burst_seq, __atomic_load_n(&fg_burst_seq, __ATOMIC_RELAXED) + 1,
		__ATOMIC_RELEASE);
}

#endif
