/* The group-commit thread: makes the worker journals durable in groups (--journal-sync=fsync). */
#ifndef FS_GCOMMIT_H
#define FS_GCOMMIT_H

#include "journal.h"

/**
 * Idle pause of the group-commit thread, µs: when a round found nothing to sync it sleeps this
 * long (timer slack 1 µs) before the next.
 */
#define FS_GCOMMIT_IDLE_US 100u

/**
 * The group interval, µs (--group-interval-us): a round that synced starts the next no sooner
 * than this after its own start, so a group is what the workers appended during at least one
 * interval (or the sync, when that takes longer). Fewer, larger syncs leave the CPUs more time:
 * each sync costs the thread two system calls and the block layer a write and a cache flush,
 * each with its interrupt (on a virtual machine, exits to the host). Measured on the
 * development machine (scripts/bench.sh's fsync scenario, 2 vCPUs, virtio disk, fdatasync
 * p50 ~150-270 µs): 500 µs against back-to-back rounds, WONs/s at full load median +25% over
 * 5 alternating runs, WON p50 at 1-1.9 M claims/s about +250 µs. A WON waits at most the interval in
 * progress, plus its own sync (and the idle pause when the thread was idle).
 */
#define FS_GCOMMIT_INTERVAL_US 500u
#define FS_GCOMMIT_INTERVAL_US_MAX 100000u /**< 100 ms: the largest --group-interval-us */

/**
 * Start the thread over @p n journals (@p journals, each fs_journal_set_group, kept by the caller
 * until fs_gcommit_stop): rounds of fs_journal_group_sync() over every journal, a round that
 * synced at most every @p interval_us µs (0: back to back; at most FS_GCOMMIT_INTERVAL_US_MAX).
 * It runs where the caller runs (it inherits its CPU affinity: flashsale-dp's main lcore, which
 * sleeps otherwise). Start-up only, one thread per process.
 * @return 0, or -errno (pthread_create), -EINVAL for an interval above the maximum.
 */
int fs_gcommit_start(struct fs_journal *const *journals, unsigned n, unsigned interval_us);

/**
 * Stop the thread (after its current round and pause: at most the interval, or 100 µs idle,
 * after the round's start) and join it; then, with the writers stopped, the
 * last records of each journal are synced by the caller: fs_journal_group_writer() then
 * fs_journal_group_sync(). A no-op if it was not started.
 */
void fs_gcommit_stop(void);

#endif
