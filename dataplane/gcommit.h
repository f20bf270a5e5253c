/* The group-commit thread: makes the worker journals durable in groups (--journal-sync=fsync). */
#ifndef FS_GCOMMIT_H
#define FS_GCOMMIT_H

#include "journal.h"

/**
 * Idle pause of the group-commit thread, µs: when a round found nothing to sync it sleeps this
 * long (timer slack 1 µs) before the next; a round that synced starts the next at once, so a
 * group is whatever the workers appended during the previous sync (about the device's fdatasync
 * time). A WON waits at most this pause, plus the sync in progress, plus its own sync.
 */
#define FS_GCOMMIT_IDLE_US 100u

/**
 * Start the thread over @p n journals (@p journals, each fs_journal_set_group, kept by the caller
 * until fs_gcommit_stop): rounds of fs_journal_group_sync() over every journal. It runs where
 * the caller runs (it inherits its CPU affinity: flashsale-dp's main lcore, which sleeps
 * otherwise). Start-up only, one thread per process.
 * @return 0, or -errno (pthread_create).
 */
int fs_gcommit_start(struct fs_journal *const *journals, unsigned n);

/**
 * Stop the thread (after its current round) and join it; then, with the writers stopped, the
 * last records of each journal are synced by the caller: fs_journal_group_writer() then
 * fs_journal_group_sync(). A no-op if it was not started.
 */
void fs_gcommit_stop(void);

#endif
