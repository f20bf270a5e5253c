/* flashsale-dp's strtok(): libc's, with its position kept per thread (strtok.c says why). */
#ifndef FS_STRTOK_H
#define FS_STRTOK_H

#include <stdbool.h>

/**
 * Is the strtok() that DPDK's telemetry library calls strtok.c's (fs_interposed)? The program
 * must export it (meson: -Wl,--export-dynamic-symbol=strtok); without it two telemetry clients
 * can swap their commands' parameters. Start-up only.
 * @return true if in effect.
 */
bool fs_strtok_interposed(void);

#endif
