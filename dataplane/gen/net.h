/* flashgen's port: set-up, link state, ARP for the dataplane's MAC, guarded bursts. */
#ifndef FG_NET_H
#define FG_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "gen.h"
#include "unmap_guard.h"

#define FG_ARP_GIVEUP_MS 5000 /* fg_arp_resolve gives up after this long */

/**
 * One burst on the port, guarded: the lcore is online for the unmap guard (unmap_guard.h) while
 * inside it, so another thread's munmap() of the memif rings waits for it to end. Receive up to
 * @p n frames into @p m, or with @p tx offer @p n frames from @p m (the port takes the first
 * ones, the rest stay the caller's).
 * @return how many frames came or went. Lcore only; @p tx constant at every call, so inlined
 * without a branch.
 */
static inline uint16_t fg_burst(bool tx, struct rte_mbuf **m, uint16_t n)
{
	uint16_t done;

	fs_unmap_guard_enter(FG_GUARD_READER);
	done = tx ? rte_eth_tx_burst(FG_PORT_ID, 0, m, n) : rte_eth_rx_burst(FG_PORT_ID, 0, m, n);
	fs_unmap_guard_leave(FG_GUARD_READER);
	return done;
}

#define fg_rx_burst(m, n) fg_burst(false, (m), (n)) /* receive: fg_burst */
#define fg_tx_burst(m, n) fg_burst(true, (m), (n))  /* send: fg_burst */

/**
 * Configure port FG_PORT_ID (one RX and one TX queue from g->pool), start it (port_started),
 * read its MAC into g->src_mac and wait up to 5 s for the link. 0, -ENOLINK if the port does not
 * start (net_memif client: no server socket) or the link stays down, or a DPDK -errno.
 */
int fg_port_init(struct fg_ctx *g);

/** Is the port's link up (net_memif: connected to the server)? */
bool fg_link_up(void);

/**
 * Learn the dataplane's MAC into g->o.dst_mac: ARP for --dst-ip every 100 ms. 0, -ETIMEDOUT
 * after FG_ARP_GIVEUP_MS or at TSC @p deadline, -ENOLINK if the link goes down, -EINTR on fg_stop.
 */
int fg_arp_resolve(struct fg_ctx *g, uint64_t deadline);

#endif
