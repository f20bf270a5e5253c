/* flashgen's port (net.h): set-up, link state, ARP. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "frame.h"
#include "net.h"
#include "port.h"

#define FG_NB_DESC 1024 /* RX and TX ring size asked for (the PMD may adjust it) */
#define FG_ARP_RETRY_MS 100
#define FG_LINK_WAIT_MS 5000

int fg_port_init(struct fg_ctx *g)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_eth_link link;
	uint16_t nrx = FG_NB_DESC, ntx = FG_NB_DESC;
	unsigned socket = fs_port_socket(FG_PORT_ID);
	uint64_t start;
	int rc;

	rc = rte_eth_dev_info_get(FG_PORT_ID, &info);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_configure(FG_PORT_ID, 1, 1, &conf);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(FG_PORT_ID, &nrx, &ntx);
	if (rc != 0)
		return rc;
	rc = rte_eth_rx_queue_setup(FG_PORT_ID, 0, nrx, socket, NULL, g->pool);
	if (rc != 0)
		return rc;
	rc = rte_eth_tx_queue_setup(FG_PORT_ID, 0, ntx, socket, NULL);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_start(FG_PORT_ID);
	if (rc != 0)
		return -ENOLINK; /* net_memif client: the server socket is not there */
	g->port_started = true;
	rte_eth_promiscuous_enable(FG_PORT_ID);
	rc = rte_eth_macaddr_get(FG_PORT_ID, &g->src_mac);
	if (rc != 0)
		return rc;
	start = rte_rdtsc();
	do {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(FG_PORT_ID, &link);
		if (link.link_status == RTE_ETH_LINK_UP)
			return 0;
		rte_delay_us_sleep(10000);
	} while (!fg_stop && rte_rdtsc() - start < FG_LINK_WAIT_MS * g->tsc_per_ms);
	return -ENOLINK;
}

static uint16_t fg_eth_hdr(
	const struct fg_ctx *g, uint8_t *f, const struct rte_ether_addr *dst, uint16_t etype)
{
	uint16_t off = RTE_ETHER_HDR_LEN;

	memcpy(f, dst->addr_bytes, RTE_ETHER_ADDR_LEN);
	memcpy(f + 6, g->src_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	if (g->o.vlan != 0) {
		*(rte_be16_t *)(f + 12) = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		*(rte_be16_t *)(f + 14) = rte_cpu_to_be_16(g->o.vlan);
		*(rte_be16_t *)(f + 16) = rte_cpu_to_be_16(etype);
		off += 4;
	} else {
		*(rte_be16_t *)(f + 12) = rte_cpu_to_be_16(etype);
	}
	return off;
}

static int fg_send_arp(struct fg_ctx *g)
{
	struct rte_ether_addr bcast = {.addr_bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	struct rte_arp_hdr *arp;
	uint8_t *f;
	uint16_t off;

	if (m == NULL)
		return -ENOMEM;
	f = rte_pktmbuf_mtod(m, uint8_t *);
	off = fg_eth_hdr(g, f, &bcast, RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(f + off);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = g->src_mac;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(g->o.src_ip);
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = g->o.dst_ip;
	m->data_len = m->pkt_len = RTE_MAX((uint32_t)(off + sizeof(*arp)), 60u);
	if (fg_tx_burst(&m, 1) != 1) {
		rte_pktmbuf_free(m);
		return -EAGAIN;
	}
	return 0;
}

/* Is @p m the ARP reply for --dst-ip? Then store the sender's MAC. */
static bool fg_is_arp_reply(struct fg_ctx *g, struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	const struct rte_arp_hdr *arp;
	struct fs_frame_info info;

	if (fs_frame_classify_reply(f, len, &info) != FS_FRAME_ARP ||
		len < info.l3_off + sizeof(*arp))
		return false;
	arp = (const struct rte_arp_hdr *)(f + info.l3_off);
	if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REPLY) ||
		arp->arp_data.arp_sip != g->o.dst_ip)
		return false;
	g->o.dst_mac = arp->arp_data.arp_sha;
	return true;
}

bool fg_link_up(void)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	return rte_eth_link_get_nowait(FG_PORT_ID, &link) == 0 &&
	       link.link_status == RTE_ETH_LINK_UP;
}

int fg_arp_resolve(struct fg_ctx *g, uint64_t deadline)
{
	uint64_t start = rte_rdtsc(), last = 0;
	struct rte_mbuf *rx[FG_BURST];

	while (!fg_stop) {
		uint64_t now = rte_rdtsc();
		uint16_t n;
		bool found = false;

		if (now - start > FG_ARP_GIVEUP_MS * g->tsc_per_ms || now >= deadline)
			return -ETIMEDOUT;
		if (!fg_link_up())
			return -ENOLINK;
		if (last == 0 || now - last > FG_ARP_RETRY_MS * g->tsc_per_ms) {
			fg_send_arp(g);
			last = now;
		}
		n = fg_rx_burst(rx, FG_BURST);
		for (uint16_t i = 0; i < n; i++) {
			if (!found && fg_is_arp_reply(g, rx[i]))
				found = true;
			rte_pktmbuf_free(rx[i]);
		}
		if (found)
			return 0;
		rte_delay_us_sleep(100);
	}
	return -EINTR;
}
