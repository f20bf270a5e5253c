/* flashgen's answer to the dataplane going away (gen/README.md "When the dataplane goes away"). */
#ifndef FG_RECONNECT_H
#define FG_RECONNECT_H

#include <stdint.h>

#include "gen.h"

/**
 * The link went down (the memif server left; DPDK 22.11's memif client never reconnects by
 * itself): put the claims in flight back in the queue (fg_requeue_all), wait for the EAL
 * interrupt thread to finish its disconnect, then restart the port every 100 ms until it
 * connects and, unless --dst-mac, the dataplane answers ARP again. One line to stderr when it
 * starts and one when it is back; st.reconnects++.
 * @return 0, -EINTR on fg_stop, -ETIMEDOUT at TSC @p deadline.
 */
int fg_reconnect(struct fg_ctx *g, uint64_t deadline);

#endif
