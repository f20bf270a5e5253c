/* Raw Ethernet frames: classify against PROTOCOL.md's drop rules and build replies in place. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "cksum.h"
#include "fcp.h"
#include "frame.h"

#define FS_FRAME_IPV4_MIN_HDR ((uint32_t)sizeof(struct rte_ipv4_hdr))
#define FS_FRAME_UDP_HDR ((uint32_t)sizeof(struct rte_udp_hdr))
#define FS_FRAME_ICMP_HDR ((uint32_t)sizeof(struct rte_icmp_hdr))
#define FS_FRAME_TTL 64

_Static_assert(sizeof(struct rte_ether_hdr) == 14, "Ethernet header");
_Static_assert(sizeof(struct rte_vlan_hdr) == 4, "802.1Q tag");
_Static_assert(sizeof(struct rte_arp_hdr) == 28, "ARP for IPv4 over Ethernet");
_Static_assert(sizeof(struct rte_ipv4_hdr) == 20, "IPv4 header");
_Static_assert(sizeof(struct rte_udp_hdr) == 8, "UDP header");
_Static_assert(sizeof(struct rte_icmp_hdr) == 8, "ICMP echo header");

static inline enum fs_frame_kind fs_frame_drop(struct fs_frame_info *info, enum fs_drop why)
{
	info->drop = why;
	return FS_FRAME_DROP;
}

/* Sources that cannot be answered: 0.0.0.0, 255.255.255.255, 224.0.0.0/4, our own address. */
static inline bool fs_frame_ip_unanswerable(uint32_t ip_be, uint32_t self_be)
{
	uint32_t ip = rte_be_to_cpu_32(ip_be);

	return ip == 0 || ip == UINT32_MAX || (ip & 0xf0000000u) == 0xe0000000u || ip_be == self_be;
}

/* An IPv4 packet whose reply (unicast to its source MAC and address) cannot be delivered. */
static inline bool fs_frame_ipv4_src_unanswerable(
	const struct fs_frame_cfg *cfg, const uint8_t *frame, const struct rte_ipv4_hdr *ip)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;

	return rte_is_multicast_ether_addr(&eth->src_addr) ||
	       fs_frame_ip_unanswerable(ip->src_addr, cfg->ip);
}

/*
 * Partial one's complement sum of the RFC 768 pseudo-header (source, destination, zero,
 * protocol 17, UDP length) in host-order words, as fs_cksum_add() sums the datagram.
 */
static inline uint64_t fs_frame_udp_psd_sum(const struct rte_ipv4_hdr *ip, uint16_t udp_len)
{
	return (uint64_t)ip->src_addr + ip->dst_addr + rte_cpu_to_be_16(IPPROTO_UDP) +
	       rte_cpu_to_be_16(udp_len);
}

/* RFC 768 checksum over the UDP datagram as its length field gives it, pseudo-header included. */
static inline bool fs_frame_udp_cksum_ok(
	const struct rte_ipv4_hdr *ip, const uint8_t *udp, uint16_t udp_len)
{
	uint64_t sum = fs_frame_udp_psd_sum(ip, udp_len);

	/* a claim's datagram (the only size answered): a constant length, unrolled */
	if (likely(udp_len == FS_FRAME_UDP_HDR + FS_FCP_LEN))
		sum = fs_cksum_add(udp, FS_FRAME_UDP_HDR + FS_FCP_LEN, sum);
	else
		sum = fs_cksum_add(udp, udp_len, sum);
	return fs_cksum_fold(sum) == 0xffff;
}

static enum fs_frame_kind fs_frame_classify_arp(const struct fs_frame_cfg *cfg,
	const uint8_t *frame, uint32_t len, struct fs_frame_info *info)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;
	const struct rte_arp_hdr *arp;

	if (len < (uint32_t)info->l3_off + sizeof(*arp))
		return fs_frame_drop(info, FS_DROP_TRUNCATED);
	arp = (const struct rte_arp_hdr *)(frame + info->l3_off);

	if (!rte_is_broadcast_ether_addr(&eth->dst_addr) &&
		memcmp(&eth->dst_addr, cfg->mac, RTE_ETHER_ADDR_LEN) != 0)
		return fs_frame_drop(info, FS_DROP_ARP_NOT_FOR_US);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
		arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
		arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != sizeof(uint32_t) ||
		arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
		arp->arp_data.arp_tip != cfg->ip)
		return fs_frame_drop(info, FS_DROP_ARP_NOT_FOR_US);
	/*
	 * The reply is unicast to the sender's hardware address. A sender IP of 0.0.0.0 is an
	 * RFC 5227 probe and is answered; the other unanswerable sender addresses are not.
	 */
	if (rte_is_multicast_ether_addr(&eth->src_addr) ||
		rte_is_multicast_ether_addr(&arp->arp_data.arp_sha) ||
		(arp->arp_data.arp_sip != 0 &&
			fs_frame_ip_unanswerable(arp->arp_data.arp_sip, cfg->ip)))
		return fs_frame_drop(info, FS_DROP_SRC_UNANSWERABLE);
	return FS_FRAME_ARP;
}

static enum fs_frame_kind fs_frame_classify_icmp(const struct fs_frame_cfg *cfg,
	const uint8_t *frame, const struct rte_ipv4_hdr *ip, struct fs_frame_info *info)
{
	const struct rte_icmp_hdr *icmp;

	/* l4_len bytes are inside the frame: the total length was checked against it. */
	if (info->l4_len < FS_FRAME_ICMP_HDR)
		return fs_frame_drop(info, FS_DROP_ICMP);
	icmp = (const struct rte_icmp_hdr *)(frame + info->l4_off);
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0)
		return fs_frame_drop(info, FS_DROP_ICMP);
	if (rte_raw_cksum(icmp, info->l4_len) != 0xffff)
		return fs_frame_drop(info, FS_DROP_ICMP);
	if (fs_frame_ipv4_src_unanswerable(cfg, frame, ip))
		return fs_frame_drop(info, FS_DROP_SRC_UNANSWERABLE);
	return FS_FRAME_ICMP;
}

static enum fs_frame_kind fs_frame_classify_udp(const struct fs_frame_cfg *cfg,
	const uint8_t *frame, const struct rte_ipv4_hdr *ip, struct fs_frame_info *info)
{
	const struct rte_udp_hdr *udp;
	uint16_t udp_len;

	/* The IP payload (l4_len bytes, all inside the frame) must hold the UDP header. */
	if (info->l4_len < FS_FRAME_UDP_HDR)
		return fs_frame_drop(info, FS_DROP_TRUNCATED);
	udp = (const struct rte_udp_hdr *)(frame + info->l4_off);
	udp_len = rte_be_to_cpu_16(udp->dgram_len);
	if (udp_len < FS_FRAME_UDP_HDR || udp_len > info->l4_len)
		return fs_frame_drop(info, FS_DROP_UDP_LEN);
	info->l4_len = udp_len;
	info->payload_off = info->l4_off + FS_FRAME_UDP_HDR;
	if (udp->dgram_cksum != 0 && !fs_frame_udp_cksum_ok(ip, (const uint8_t *)udp, udp_len))
		return fs_frame_drop(info, FS_DROP_UDP_CKSUM);
	if (udp->dst_port != rte_cpu_to_be_16(cfg->udp_port))
		return fs_frame_drop(info, FS_DROP_UDP_PORT);
	if (udp_len != FS_FRAME_UDP_HDR + FS_FCP_LEN)
		return fs_frame_drop(info, FS_DROP_FCP_LEN);
	/* Source port 0 means "no reply expected" (RFC 768): a reply to it cannot be delivered. */
	if (fs_frame_ipv4_src_unanswerable(cfg, frame, ip) || udp->src_port == 0)
		return fs_frame_drop(info, FS_DROP_SRC_UNANSWERABLE);
	return FS_FRAME_FCP;
}

static enum fs_frame_kind fs_frame_classify_ipv4(const struct fs_frame_cfg *cfg,
	const uint8_t *frame, uint32_t len, struct fs_frame_info *info)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;
	const struct rte_ipv4_hdr *ip;
	uint32_t hdr_len, tot_len;
	uint16_t frag;

	if (len < (uint32_t)info->l3_off + FS_FRAME_IPV4_MIN_HDR)
		return fs_frame_drop(info, FS_DROP_TRUNCATED);
	ip = (const struct rte_ipv4_hdr *)(frame + info->l3_off);

	/* PROTOCOL.md order: destination MAC and address, then the header rules. */
	if (memcmp(&eth->dst_addr, cfg->mac, RTE_ETHER_ADDR_LEN) != 0)
		return fs_frame_drop(info, FS_DROP_DST_MAC);
	if (ip->dst_addr != cfg->ip)
		return fs_frame_drop(info, FS_DROP_DST_IP);
	if ((ip->version_ihl >> 4) != 4)
		return fs_frame_drop(info, FS_DROP_IP_VERSION);
	hdr_len = rte_ipv4_hdr_len(ip);
	if (hdr_len < FS_FRAME_IPV4_MIN_HDR)
		return fs_frame_drop(info, FS_DROP_IP_IHL);
	if (len < info->l3_off + hdr_len)
		return fs_frame_drop(info, FS_DROP_TRUNCATED);
	/* RFC 1071: the one's complement sum of a correct header, options included, is 0xffff. */
	if (fs_cksum_fold(fs_cksum_add(ip, hdr_len, 0)) != 0xffff)
		return fs_frame_drop(info, FS_DROP_IP_CKSUM);
	tot_len = rte_be_to_cpu_16(ip->total_length);
	if (tot_len > len - info->l3_off || tot_len < hdr_len)
		return fs_frame_drop(info, FS_DROP_IP_TOTLEN);
	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if (frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return fs_frame_drop(info, FS_DROP_IP_FRAGMENT);

	/* From here on every read stays below l3_off + tot_len <= len. */
	info->l4_off = (uint16_t)(info->l3_off + hdr_len);
	info->l4_len = (uint16_t)(tot_len - hdr_len);
	switch (ip->next_proto_id) {
	case IPPROTO_UDP:
		return fs_frame_classify_udp(cfg, frame, ip, info);
	case IPPROTO_ICMP:
		return fs_frame_classify_icmp(cfg, frame, ip, info);
	default:
		return fs_frame_drop(info, FS_DROP_IP_PROTO);
	}
}

/* fs_frame_l2's drop: @p why in @p info, no ethertype. */
static inline uint16_t fs_frame_l2_drop(struct fs_frame_info *info, enum fs_drop why)
{
	info->drop = why;
	return 0;
}

/*
 * Zero @p info, then Ethernet and at most one 802.1Q tag: sets info->l3_off (14 or 18).
 * @return the ethertype behind the tag, RTE_ETHER_TYPE_IPV4 or RTE_ETHER_TYPE_ARP; or 0, the
 *         frame dropped (info->drop: too short, stacked tags, another ethertype).
 */
static inline uint16_t fs_frame_l2(const uint8_t *frame, uint32_t len, struct fs_frame_info *info)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;
	uint16_t t;

	memset(info, 0, sizeof(*info));
	if (len < sizeof(*eth))
		return fs_frame_l2_drop(info, FS_DROP_TRUNCATED);
	info->l3_off = sizeof(*eth);
	t = rte_be_to_cpu_16(eth->ether_type);
	if (t == RTE_ETHER_TYPE_QINQ || t == RTE_ETHER_TYPE_QINQ1)
		return fs_frame_l2_drop(info, FS_DROP_VLAN_STACKED);
	if (t == RTE_ETHER_TYPE_VLAN) {
		const struct rte_vlan_hdr *vlan;

		if (len < sizeof(*eth) + sizeof(*vlan))
			return fs_frame_l2_drop(info, FS_DROP_TRUNCATED);
		vlan = (const struct rte_vlan_hdr *)(eth + 1);
		t = rte_be_to_cpu_16(vlan->eth_proto);
		if (t == RTE_ETHER_TYPE_VLAN || t == RTE_ETHER_TYPE_QINQ ||
			t == RTE_ETHER_TYPE_QINQ1)
			return fs_frame_l2_drop(info, FS_DROP_VLAN_STACKED);
		info->l3_off += sizeof(*vlan);
	}
	if (t != RTE_ETHER_TYPE_IPV4 && t != RTE_ETHER_TYPE_ARP)
		return fs_frame_l2_drop(info, FS_DROP_NOT_IPV4_OR_ARP);
	return t;
}

enum fs_frame_kind fs_frame_classify(const struct fs_frame_cfg *cfg, const uint8_t *frame,
	uint32_t len, struct fs_frame_info *info)
{
	switch (fs_frame_l2(frame, len, info)) {
	case RTE_ETHER_TYPE_IPV4:
		return fs_frame_classify_ipv4(cfg, frame, len, info);
	case RTE_ETHER_TYPE_ARP:
		return fs_frame_classify_arp(cfg, frame, len, info);
	default:
		return FS_FRAME_DROP; /* info->drop says why */
	}
}

enum fs_frame_kind fs_frame_classify_reply(
	const uint8_t *frame, uint32_t len, struct fs_frame_info *info)
{
	const struct rte_ipv4_hdr *ip;
	const struct rte_udp_hdr *udp;
	uint32_t hdr_len, tot_len;
	uint16_t type = fs_frame_l2(frame, len, info);

	if (type != RTE_ETHER_TYPE_IPV4)
		return type == RTE_ETHER_TYPE_ARP ? FS_FRAME_ARP : FS_FRAME_DROP;
	if (len < (uint32_t)info->l3_off + FS_FRAME_IPV4_MIN_HDR)
		return fs_frame_drop(info, FS_DROP_TRUNCATED);
	ip = (const struct rte_ipv4_hdr *)(frame + info->l3_off);
	if ((ip->version_ihl >> 4) != 4)
		return fs_frame_drop(info, FS_DROP_IP_VERSION);
	hdr_len = rte_ipv4_hdr_len(ip);
	if (hdr_len < FS_FRAME_IPV4_MIN_HDR)
		return fs_frame_drop(info, FS_DROP_IP_IHL);
	if (ip->next_proto_id != IPPROTO_UDP)
		return fs_frame_drop(info, FS_DROP_IP_PROTO);
	tot_len = rte_be_to_cpu_16(ip->total_length);
	if (tot_len > len - info->l3_off || tot_len < hdr_len + FS_FRAME_UDP_HDR)
		return fs_frame_drop(info, FS_DROP_IP_TOTLEN);
	/* the UDP header is inside the frame: l3_off + hdr_len + 8 <= l3_off + tot_len <= len */
	info->l4_off = (uint16_t)(info->l3_off + hdr_len);
	udp = (const struct rte_udp_hdr *)(frame + info->l4_off);
	info->l4_len = rte_be_to_cpu_16(udp->dgram_len);
	if (info->l4_len != FS_FRAME_UDP_HDR + FS_FCP_LEN ||
		tot_len < hdr_len + FS_FRAME_UDP_HDR + FS_FCP_LEN)
		return fs_frame_drop(info, FS_DROP_FCP_LEN);
	info->payload_off = (uint16_t)(info->l4_off + FS_FRAME_UDP_HDR);
	return FS_FRAME_FCP;
}

uint32_t fs_frame_arp_reply(
	const struct fs_frame_cfg *cfg, uint8_t *frame, const struct fs_frame_info *info)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(frame + info->l3_off);
	struct rte_arp_ipv4 *d = &arp->arp_data;

	rte_ether_addr_copy(&d->arp_sha, &eth->dst_addr);
	memcpy(&eth->src_addr, cfg->mac, RTE_ETHER_ADDR_LEN);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	d->arp_tha = d->arp_sha;
	d->arp_tip = d->arp_sip;
	memcpy(&d->arp_sha, cfg->mac, RTE_ETHER_ADDR_LEN);
	d->arp_sip = cfg->ip;
	/* The ARP body's end: trailing padding of the request is not sent back. */
	return (uint32_t)info->l3_off + sizeof(*arp);
}

uint32_t fs_frame_icmp_reply(const struct fs_frame_cfg *cfg, uint8_t *frame, uint32_t len,
	const struct fs_frame_info *info)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + info->l3_off);
	uint16_t new_l4_off = info->l3_off + FS_FRAME_IPV4_MIN_HDR;
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(frame + new_l4_off);
	uint32_t peer = ip->src_addr;

	(void)len; /* the reply ends with the IP datagram; Ethernet padding is not echoed */
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	memcpy(&eth->src_addr, cfg->mac, RTE_ETHER_ADDR_LEN);

	/* Options removed: the ICMP message moves down to right after a 20-byte header. */
	if (info->l4_off != new_l4_off)
		memmove(frame + new_l4_off, frame + info->l4_off, info->l4_len);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(FS_FRAME_IPV4_MIN_HDR + info->l4_len);
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = FS_FRAME_TTL;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = cfg->ip;
	ip->dst_addr = peer;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_code = 0;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, info->l4_len);
	return (uint32_t)new_l4_off + info->l4_len;
}

/*
 * Write the IPv4 header (IHL 5, @p tos, total length 76, id 0, DF, TTL 64, UDP) and the UDP
 * header (length 56) in front of a 48-byte payload whose sum is @p payload_sum (host-order
 * words, as fs_cksum_fold(fs_cksum_add(payload, 48, 0))). Addresses and ports in network order.
 * Both checksums come from these values, as big-endian 16-bit words added as numbers (a 32-bit
 * address adds as one: 65536 = 1 modulo 0xffff) and folded once: no read-back of the bytes just
 * stored (a load over several recent narrower stores is not store-forwarded: it waits for them
 * to retire, the largest cost of building a reply in perf annotate). UDP: RFC 768 pseudo-header
 * (addresses, 17, length), header (ports, length, checksum 0) and the payload's sum byte-swapped
 * to big-endian words (RFC 1071 2(B)); a computed 0 is sent as 0xffff (0 means "no checksum").
 */
static inline void fs_frame_ipv4_udp(struct rte_ipv4_hdr *ip, uint8_t tos, uint32_t src,
	uint32_t dst, uint16_t sport, uint16_t dport, uint16_t payload_sum)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint64_t addrs = (uint64_t)rte_be_to_cpu_32(src) + rte_be_to_cpu_32(dst), sum;
	uint16_t c;

	udp->src_port = sport;
	udp->dst_port = dport;
	udp->dgram_len = rte_cpu_to_be_16(FS_FRAME_UDP_HDR + FS_FCP_LEN);
	ip->version_ihl = 0x45;
	ip->type_of_service = tos;
	ip->total_length = rte_cpu_to_be_16(FS_FRAME_IPV4_MIN_HDR + FS_FRAME_UDP_HDR + FS_FCP_LEN);
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = FS_FRAME_TTL;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = src;
	ip->dst_addr = dst;

	sum = (0x4500u | tos) + (FS_FRAME_IPV4_MIN_HDR + FS_FRAME_UDP_HDR + FS_FCP_LEN) +
	      RTE_IPV4_HDR_DF_FLAG + ((uint32_t)FS_FRAME_TTL << 8 | IPPROTO_UDP) + addrs;
	ip->hdr_checksum = rte_cpu_to_be_16((uint16_t)~fs_cksum_fold(sum));
	sum = addrs + IPPROTO_UDP + 2 * (FS_FRAME_UDP_HDR + FS_FCP_LEN) + rte_be_to_cpu_16(sport) +
	      rte_be_to_cpu_16(dport) + rte_be_to_cpu_16(payload_sum);
	c = (uint16_t)~fs_cksum_fold(sum);
	udp->dgram_cksum = rte_cpu_to_be_16(c == 0 ? 0xffff : c);
}

uint32_t fs_frame_fcp_reply(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const uint8_t reply[48])
{
	/* summed before the reply moves (it may be the request payload) */
	return fs_frame_fcp_reply_sum(
		cfg, frame, info, reply, fs_cksum_fold(fs_cksum_add(reply, FS_FCP_LEN, 0)));
}

uint32_t fs_frame_fcp_reply_sum(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const uint8_t reply[48], uint16_t reply_sum)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + info->l3_off);
	uint16_t new_l4_off = info->l3_off + FS_FRAME_IPV4_MIN_HDR;
	const struct rte_udp_hdr *req_udp = (const struct rte_udp_hdr *)(frame + info->l4_off);
	uint32_t peer = ip->src_addr;
	uint16_t peer_port = req_udp->src_port;
	uint16_t our_port = req_udp->dst_port;

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	memcpy(&eth->src_addr, cfg->mac, RTE_ETHER_ADDR_LEN);

	/* @p reply may already be in place (encoded over the request payload, no IP options), or
	 * be the request payload, which moves down with the options: memmove. */
	if (reply != frame + new_l4_off + FS_FRAME_UDP_HDR)
		memmove(frame + new_l4_off + FS_FRAME_UDP_HDR, reply, FS_FCP_LEN);
	/* the TOS byte is kept */
	fs_frame_ipv4_udp(ip, ip->type_of_service, cfg->ip, peer, our_port, peer_port, reply_sum);
	return (uint32_t)new_l4_off + FS_FRAME_UDP_HDR + FS_FCP_LEN;
}

uint32_t fs_frame_fcp_answer(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const struct fs_fcp_reply *rep)
{
	uint8_t out[FS_FCP_LEN];
	uint8_t *enc = likely(info->payload_off == info->l3_off + FS_FRAME_IPV4_MIN_HDR +
						     FS_FRAME_UDP_HDR)
			       ? frame + info->payload_off
			       : out;

	fs_fcp_encode_reply(rep, enc);
	return fs_frame_fcp_reply_sum(cfg, frame, info, enc, fs_fcp_reply_sum(rep));
}

int fs_frame_won_to_retry(uint8_t *frame, uint32_t len, uint32_t l3_off, uint32_t retry_ms)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + l3_off);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *payload = (uint8_t *)(udp + 1);
	struct fs_fcp_reply rep;

	if ((uint64_t)l3_off + FS_FRAME_IPV4_MIN_HDR + FS_FRAME_UDP_HDR + FS_FCP_LEN > len ||
		ip->version_ihl != 0x45 || ip->next_proto_id != IPPROTO_UDP)
		return -EINVAL;
	if (fs_fcp_decode_reply(payload, FS_FCP_LEN, &rep) != 0 ||
		rep.type != FS_FCP_CLAIM_RESULT || rep.status != FS_ST_WON)
		return -EINVAL;
	rep.status = FS_ST_RETRY;
	rep.retry_after_ms = retry_ms;
	rep.order_id = 0;
	fs_fcp_encode_reply(&rep, payload);
	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	return 0;
}

uint32_t fs_frame_build_request(uint8_t *out, const uint8_t src_mac[6], const uint8_t dst_mac[6],
	uint16_t vlan_tci, uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
	const uint8_t payload[48])
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)out;
	uint32_t off = sizeof(*eth);
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	memcpy(&eth->dst_addr, dst_mac, RTE_ETHER_ADDR_LEN);
	memcpy(&eth->src_addr, src_mac, RTE_ETHER_ADDR_LEN);
	if (vlan_tci != 0) {
		struct rte_vlan_hdr *vlan = (struct rte_vlan_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		vlan->vlan_tci = rte_cpu_to_be_16(vlan_tci);
		vlan->eth_proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		off += sizeof(*vlan);
	} else {
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	}

	ip = (struct rte_ipv4_hdr *)(out + off);
	udp = (struct rte_udp_hdr *)(ip + 1);
	memcpy(udp + 1, payload, FS_FCP_LEN);
	fs_frame_ipv4_udp(ip, 0, src_ip, dst_ip, rte_cpu_to_be_16(src_port),
		rte_cpu_to_be_16(dst_port), fs_cksum_fold(fs_cksum_add(payload, FS_FCP_LEN, 0)));
	return off + FS_FRAME_IPV4_MIN_HDR + FS_FRAME_UDP_HDR + FS_FCP_LEN;
}
