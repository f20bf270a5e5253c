/* flashgen's port: set-up, link state, ARP for the dataplane's MAC, guarded bursts. */
#ifndef FG_NET_H
#define FG_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "gen.h"
#include "memif_guard.h"

#define FG_ARP_GIVEUP_MS 5000 /* fg_arp_resolve gives up after this long */

/** Receive up to @p n frames from the port; the burst is guarded (memif_guard.h). Lcore only. */
static inline uint16_t fg_rx_burst(struct rte_mbuf **rx, uint16_t n)
{
	uint16_t got;

	fg_burst_enter();
	got = rte_eth_rx_burst(FG_PORT_ID, 0, rx, n);
	fg_burst_leave();
	return got;
}

/** Offer @p n frames to the port; returns how many it took (the rest stay the caller's). */
static inline uint16_t fg_tx_burst(struct rte_mbuf **tx, uint16_t n)
{
	uint16_t sent;

	fg_burst_enter();
	sent = rte_eth_tx_burst(FG_PORT_ID, 0, tx, n);
	fg_burst_leave();
	return sent;
}

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
