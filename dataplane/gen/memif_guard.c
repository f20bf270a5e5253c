/*
 * flashgen's munmap() interposition: the workaround for DPDK 22.11's memif unmap race.
 *
 * Upstream code it works around (DPDK v22.11, and Debian's 22.11.11 the same):
 * drivers/net/memif/memif_socket.c, memif_disconnect(): run on the EAL interrupt thread (from
 * memif_intr_handler(), when the peer's control channel closes), it clears
 * ETH_MEMIF_FLAG_CONNECTED in pmd->flags, then calls memif_free_regions()
 * (drivers/net/memif/rte_eth_memif.c), which munmap()s every shared region, rings included. It
 * does not synchronise with an lcore inside eth_memif_rx()/eth_memif_tx() (rte_eth_memif.c),
 * which test the flag once, on entry, then use the rings: that lcore faults (gen/README.md:
 * SIGSEGV in 5 of 30 SIGKILLs of the dataplane under a max-rate flashgen; 0 in 60 with this
 * guard and the wait for the interrupt thread before a port restart).
 *
 * flashgen's one lcore brackets every burst with a sequence count (odd inside a burst,
 * memif_guard.h); munmap() below, called by any other thread, first waits for the burst in
 * progress to end. The next burst sees the flag cleared and touches nothing. flashsale-dp guards
 * the same race with QSBR (dataplane/worker.c); issue 10 will make the two one file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_pause.h>

#include "memif_guard.h"

uint64_t fg_burst_seq;
__thread bool fg_on_lcore;

/*
 * munmap() of the whole process (this definition interposes libc's for the shared DPDK libraries
 * and PMDs): a thread other than the lcore's waits until the lcore is out of the burst it is in.
 */
int munmap(void *addr, size_t len)
{
	if (!fg_on_lcore) {
		uint64_t seq;

		/* full barrier: the PMD's flag store is visible before we read the count */
		rte_smp_mb();
		seq = __atomic_load_n(&fg_burst_seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			while (__atomic_load_n(&fg_burst_seq, __ATOMIC_ACQUIRE) == seq)
				rte_pause();
	}
	return (int)syscall(SYS_munmap, addr, len);
}
