/* The polling lcores' RCU (DPDK QSBR) and the munmap() that waits for it: memif unmap race. */
#ifndef FS_UNMAP_GUARD_H
#define FS_UNMAP_GUARD_H

#include <stdbool.h>

#include <rte_rcu_qsbr.h>

/*
 * Readers are the threads that poll ports (flashsale-dp's workers, flashgen's lcore), each with
 * its own id 0..n_readers-1. A reader is either always online and reports a quiescent state once
 * per loop turn (fs_unmap_guard_quiescent: flashsale-dp), or offline but inside each burst
 * (fs_unmap_guard_enter/leave: flashgen, whose lcore also waits for other threads between bursts).
 * unmap_guard.c says why and what it works around.
 */

/** The QSBR variable; NULL before fs_unmap_guard_init(). Written once, before readers run. */
extern struct rte_rcu_qsbr *fs_unmap_guard_v;

/**
 * Set up the guard for @p n_readers readers: a QSBR variable on the libc heap (munmap() reads it
 * up to the process's end, after DPDK's memory is gone), after checking that munmap() is this
 * file's for the DPDK libraries (fs_interposed). Once, after rte_eal_init(), before any reader
 * registers. From then on every munmap() made by a thread that is not a reader waits until each
 * online reader has passed a quiescent state (rte_rcu_qsbr_synchronize: it spins).
 * @return 0; -ENOSYS if munmap() is not interposed (the program does not export it: nothing
 *         would be guarded); -EINVAL (@p n_readers 0 or above RTE_MAX_LCORE); -ENOMEM.
 */
int fs_unmap_guard_init(unsigned n_readers);

/**
 * Make the calling thread reader @p id (0..n_readers-1): registered, online if @p online
 * (a per-turn reader) else offline until fs_unmap_guard_enter(). Its own munmap() calls do not
 * wait from now on (a reader waiting for readers could wait for itself). A no-op before
 * fs_unmap_guard_init(). The reader's thread only, before it polls.
 */
void fs_unmap_guard_register(unsigned id, bool online);

/** The end of reader @p id: offline and unregistered. Its own thread, once it polls no more. */
void fs_unmap_guard_unregister(unsigned id);

/**
 * Reader @p id holds no pointer into a port's rings, nor into what fs_unmap_guard_synchronize()
 * protects: a quiescent state (flashsale-dp: the top of each loop turn). Two loads and at most
 * one store, no barrier beyond their acquire/release (rte_rcu_qsbr_quiescent). Hot path.
 */
static inline void fs_unmap_guard_quiescent(unsigned id)
{
	struct rte_rcu_qsbr *v = fs_unmap_guard_v; /* set before readers ran: a plain load */

	if (v != NULL)
		rte_rcu_qsbr_quiescent(v, id);
}

/**
 * Reader @p id goes online before a burst (rte_rcu_qsbr_thread_online: a store and a full
 * barrier, so the unmapping thread's flag store is visible to the burst or the burst is waited
 * for). Hot path.
 */
static inline void fs_unmap_guard_enter(unsigned id)
{
	struct rte_rcu_qsbr *v = fs_unmap_guard_v;

	if (v != NULL)
		rte_rcu_qsbr_thread_online(v, id);
}

/** Reader @p id goes offline after the burst (a release store: the burst's accesses first). */
static inline void fs_unmap_guard_leave(unsigned id)
{
	struct rte_rcu_qsbr *v = fs_unmap_guard_v;

	if (v != NULL)
		rte_rcu_qsbr_thread_offline(v, id);
}

/**
 * Wait for a grace period: returns once every online reader has passed a quiescent state after
 * the call began, so none still holds a pointer it read before the call (flashsale-dp: a sale
 * and the slot array it was found in, struct fs_sale_table.synchronize). Sleeps 10 us between
 * checks (a reader may need this CPU to end its turn): about one loop turn of the slowest reader.
 * Any thread but a reader; a no-op before fs_unmap_guard_init() and on a reader (which would
 * wait for itself).
 */
void fs_unmap_guard_synchronize(void);

#endif
