/*
 * The workaround for DPDK 22.11's memif unmap race, in flashsale-dp and flashgen alike: munmap()
 * interposed, waiting for the polling lcores' RCU (DPDK's QSBR).
 *
 * Upstream code it works around (DPDK v22.11; Debian's 22.11.x the same):
 * drivers/net/memif/memif_socket.c, memif_disconnect(): run on the EAL interrupt thread (from
 * memif_intr_handler(), when the peer's control channel closes), it clears
 * ETH_MEMIF_FLAG_CONNECTED in pmd->flags, then calls memif_free_regions()
 * (drivers/net/memif/rte_eth_memif.c), which munmap()s every shared region, rings included. It
 * does not synchronise with an lcore inside eth_memif_rx()/eth_memif_tx() (rte_eth_memif.c),
 * which test the flag once, on entry, then use the rings: that lcore faults. Seen as SIGSEGV of
 * flashsale-dp when flashgen ended its run, and of flashgen in 5 of 30 SIGKILLs of the dataplane
 * under a max-rate flood (0 in 60 with this guard and flashgen's wait for the interrupt thread
 * before a port restart, dataplane/gen/README.md).
 *
 * The guard: the threads that poll ports are QSBR readers (unmap_guard.h). munmap() below,
 * called by any thread that is not a reader, first waits until every online reader has passed a
 * quiescent state: the burst in progress ends, and the next one sees the flag cleared and touches
 * nothing. A reader's own munmap() (flashsale-dp's workers unmap their journal segments) goes
 * straight to the kernel. flashsale-dp's sale deletion waits for the same grace period
 * (fs_unmap_guard_synchronize): its workers hold sale pointers only within a loop turn.
 *
 * Nothing of this is in effect unless the DPDK libraries' munmap() is this one: the program must
 * export it (meson: -Wl,--export-dynamic-symbol=munmap), and fs_unmap_guard_init() checks that it
 * does (fs_interposed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_common.h>

#include "interpose.h"
#include "unmap_guard.h"

/* fs_unmap_guard_synchronize: how long it sleeps between checks of the readers' states */
#define FS_UNMAP_GUARD_POLL_NS 10000

/* init: wo (release, once, before readers run); every thread: ro (acquire in munmap) */
struct rte_rcu_qsbr *fs_unmap_guard_v;
/* true on a reader's thread once it registered */
static __thread bool guard_reader;

int fs_unmap_guard_init(unsigned n_readers)
{
	struct rte_rcu_qsbr *v;
	size_t sz;

	if (!fs_interposed("munmap", (const void *)munmap))
		return -ENOSYS;
	if (n_readers == 0 || n_readers > RTE_MAX_LCORE)
		return -EINVAL;
	sz = RTE_ALIGN_CEIL(rte_rcu_qsbr_get_memsize(n_readers), RTE_CACHE_LINE_SIZE);
	/* libc heap, not rte_malloc: munmap() reads it during rte_eal_cleanup() and at exit,
	 * after the hugepage memory is gone; kept for the life of the process. */
	v = aligned_alloc(RTE_CACHE_LINE_SIZE, sz);
	if (v == NULL)
		return -ENOMEM;
	memset(v, 0, sz);
	if (rte_rcu_qsbr_init(v, n_readers) != 0) {
		free(v);
		return -EINVAL;
	}
	/* release: a thread that sees the pointer sees an initialised variable */
	__atomic_store_n(&fs_unmap_guard_v, v, __ATOMIC_RELEASE);
	return 0;
}

void fs_unmap_guard_register(unsigned id, bool online)
{
	struct rte_rcu_qsbr *v = __atomic_load_n(&fs_unmap_guard_v, __ATOMIC_ACQUIRE);

	if (v == NULL)
		return;
	guard_reader = true;
	rte_rcu_qsbr_thread_register(v, id);
	if (online)
		rte_rcu_qsbr_thread_online(v, id);
}

void fs_unmap_guard_unregister(unsigned id)
{
	struct rte_rcu_qsbr *v = __atomic_load_n(&fs_unmap_guard_v, __ATOMIC_ACQUIRE);

	if (v == NULL)
		return;
	rte_rcu_qsbr_thread_offline(v, id);
	rte_rcu_qsbr_thread_unregister(v, id);
}

void fs_unmap_guard_synchronize(void)
{
	struct rte_rcu_qsbr *v = __atomic_load_n(&fs_unmap_guard_v, __ATOMIC_ACQUIRE);
	struct timespec ts = {.tv_sec = 0, .tv_nsec = FS_UNMAP_GUARD_POLL_NS};
	uint64_t t;

	if (v == NULL || guard_reader)
		return;
	/* rte_rcu_qsbr_start's token increment (release) orders the caller's unpublishing
	 * stores before it; a reader that reports the new token has seen them (acquire). */
	t = rte_rcu_qsbr_start(v);
	/* a sleep, not a spin, between checks: a reader may need this CPU to end its turn */
	while (rte_rcu_qsbr_check(v, t, false) == 0)
		nanosleep(&ts, NULL);
}

/*
 * munmap() of the whole process: this definition interposes libc's for the shared DPDK
 * libraries and PMDs (see the top). A thread that is not a reader first waits until every online
 * reader has ended the loop turn or burst it was in.
 */
int munmap(void *addr, size_t len)
{
	struct rte_rcu_qsbr *v = __atomic_load_n(&fs_unmap_guard_v, __ATOMIC_ACQUIRE);

	if (v != NULL && !guard_reader) {
		/* full barrier: the PMD's flag store is visible before we wait for the readers */
		rte_smp_mb();
		rte_rcu_qsbr_synchronize(v, RTE_QSBR_THRID_INVALID);
	}
	return (int)syscall(SYS_munmap, addr, len);
}
