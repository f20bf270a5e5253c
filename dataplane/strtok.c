/* strtok() for the whole flashsale-dp process, with its position kept per thread. */
#include <string.h>

#include "interpose.h"
#include "strtok.h"

/*
 * DPDK's telemetry (lib/telemetry/telemetry.c, client_handler, 22.11 as later releases) splits
 * each command into its name and parameters with strtok(buffer, ",") and strtok(NULL, "\0"), on a
 * thread per connected client. glibc's strtok keeps its position in one static pointer for the
 * whole process, so when two clients' commands are split at the same instant one command can get
 * the other's parameters, or none: seen as a /flashsale/sale/status answering "usage" while
 * another connection rekeyed (sale_delete.sh, 2 of 8 runs); a stop or a delete could as well act
 * on the sale id another client sent (the daemon and an operator's flashctl run side by side).
 * This definition interposes libc's for the shared DPDK libraries, as unmap_guard.c's munmap():
 * the same semantics (strtok_r), the position in a thread-local pointer. main() checks at start
 * that it is in effect (fs_strtok_interposed).
 */
char *strtok(char *str, const char *delim)
{
	static __thread char *pos;

	return strtok_r(str, delim, &pos);
}

bool fs_strtok_interposed(void)
{
	return fs_interposed("strtok", (const void *)strtok);
}
