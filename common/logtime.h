/*
 * Dated log lines: every line a program logs starts with its ISO 8601 UTC time
 * ("2026-12-24T12:00:00.123Z "), unless the stream goes to journald, which dates each line itself.
 */
#ifndef FS_COMMON_LOGTIME_H
#define FS_COMMON_LOGTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** Length of a timestamp prefix "YYYY-MM-DDTHH:MM:SS.mmmZ " with its space, without the NUL. */
#define FS_LOGTIME_LEN 25

/**
 * Whether file descriptor @p fd is connected to journald: $JOURNAL_STREAM (set by systemd for a
 * service whose stdout/stderr is the journal, "DEVICE:INODE") names @p fd's device and inode
 * (systemd.exec(5), "JOURNAL_STREAM"). Thread safe (getenv, fstat).
 */
bool fs_logtime_journald(int fd);

/**
 * Write "YYYY-MM-DDTHH:MM:SS.mmmZ " (CLOCK_REALTIME, UTC) into @p buf of @p size bytes (at least
 * FS_LOGTIME_LEN + 1). Returns the length written (FS_LOGTIME_LEN), or 0 when @p size is too
 * small. Thread safe.
 */
size_t fs_logtime_format(char *buf, size_t size);

/**
 * A line-buffered stream that writes to @p fd, each line prefixed with fs_logtime_format()'s
 * timestamp; without the prefix when fs_logtime_journald(@p fd). The stream owns no descriptor
 * (fclose leaves @p fd open). Returns NULL with errno set on failure. Writes are serialised by
 * stdio's stream lock; a line written in several calls gets one prefix.
 */
FILE *fs_logtime_open(int fd);

/**
 * Replace stderr by fs_logtime_open(2) (a daemon's logs: flashsale-persist, flashctl daemon).
 * Returns 0 or -errno (stderr unchanged). Call once, before other threads write to stderr.
 */
int fs_logtime_stderr(void);

#endif
