/* Unit tests of raw-frame classification and in-place replies: every drop reason, every reply. */
#define ALLOW_EXPERIMENTAL_API 1 /* rte_ipv4_udptcp_cksum_verify */

#include <stddef.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "counters.h"
#include "fcp.h"
#include "frame.h"

/* RTE_IPV4 shifts an int: undefined for a first octet of 128 and up. */
#define IPV4(a, b, c, d)                                                                           \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define OUR_IP IPV4(10, 0, 0, 1)
#define PEER_IP IPV4(10, 0, 0, 2)
#define PEER_PORT 40000
#define TCI 0x0123
#define BUF 256

static const struct fs_frame_cfg cfg = {
	.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
	.ip = RTE_BE32(OUR_IP),
	.udp_port = 7777,
};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const struct fs_frame_cfg peer_cfg = {
	.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02},
	.ip = RTE_BE32(PEER_IP),
	.udp_port = PEER_PORT,
};

/* PROTOCOL.md test vector 1: a valid CLAIM payload. */
static const uint8_t claim[FS_FCP_LEN] = {0x46, 0x43, 0x01, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe9, 0x6b, 0x36, 0xec, 0x80, 0x00, 0x00, 0x00, 0x00,
	0xe5, 0xf4, 0x64, 0xad, 0xbc, 0xd4, 0x10, 0xd8, 0xfb, 0xa8, 0x7e, 0xb6, 0xa9, 0x24, 0xe6,
	0x3b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

/* ---- frame builders ---- */

static struct rte_ipv4_hdr *ip_at(uint8_t *f, uint32_t l3)
{
	return (struct rte_ipv4_hdr *)(f + l3);
}

static uint32_t ihl_bytes(uint8_t *f, uint32_t l3)
{
	return (f[l3] & 0x0f) * 4u;
}

static struct rte_udp_hdr *udp_at(uint8_t *f, uint32_t l3)
{
	return (struct rte_udp_hdr *)(f + l3 + ihl_bytes(f, l3));
}

static void ipfix(uint8_t *f, uint32_t l3)
{
	struct rte_ipv4_hdr *ip = ip_at(f, l3);

	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

/* UDP checksum over the IP payload (DPDK helper: length from the IP total length). */
static void udpfix(uint8_t *f, uint32_t l3)
{
	struct rte_udp_hdr *udp = udp_at(f, l3);

	if (ip_at(f, l3)->next_proto_id != IPPROTO_UDP)
		return;
	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip_at(f, l3), udp);
}

static uint32_t make_fcp(uint8_t *f, uint16_t vlan)
{
	memset(f, 0, BUF);
	return fs_frame_build_request(f, peer_mac, cfg.mac, vlan, rte_cpu_to_be_32(PEER_IP), cfg.ip,
		PEER_PORT, cfg.udp_port, claim);
}

/* Insert @p words 4-byte words of NOP options after the 20-byte IPv4 header. */
static uint32_t add_options(uint8_t *f, uint32_t len, uint32_t l3, unsigned words)
{
	struct rte_ipv4_hdr *ip = ip_at(f, l3);
	uint32_t l4 = l3 + 20, add = 4 * words;

	memmove(f + l4 + add, f + l4, len - l4);
	memset(f + l4, RTE_IPV4_HDR_OPT_NOP, add);
	ip->version_ihl = (uint8_t)(0x40 | (5 + words));
	ip->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(ip->total_length) + add);
	ipfix(f, l3);
	udpfix(f, l3);
	return len + add;
}

static uint32_t make_l2(uint8_t *f, const uint8_t *dst, uint16_t vlan, uint16_t type)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;

	memset(f, 0, BUF);
	memcpy(&eth->dst_addr, dst, 6);
	memcpy(&eth->src_addr, peer_mac, 6);
	if (vlan == 0) {
		eth->ether_type = rte_cpu_to_be_16(type);
		return 14;
	}
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
	f[14] = (uint8_t)(vlan >> 8);
	f[15] = (uint8_t)vlan;
	f[16] = (uint8_t)(type >> 8);
	f[17] = (uint8_t)type;
	return 18;
}

static uint32_t make_arp(uint8_t *f, uint16_t vlan, uint16_t op, uint32_t tip)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint32_t l3 = make_l2(f, bcast, vlan, RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(f + l3);

	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	memcpy(&arp->arp_data.arp_sha, peer_mac, 6);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(PEER_IP);
	memset(&arp->arp_data.arp_tha, 0, 6);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return l3 + 28;
}

/* ICMP echo request (type as given) carrying @p data_len bytes of pattern data. */
static uint32_t make_icmp(uint8_t *f, uint16_t vlan, uint8_t type, uint32_t data_len)
{
	uint32_t l3 = make_l2(f, cfg.mac, vlan, RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = ip_at(f, l3);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);

	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(20 + 8 + data_len);
	ip->packet_id = rte_cpu_to_be_16(0x1234);
	ip->time_to_live = 17;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(PEER_IP);
	ip->dst_addr = cfg.ip;
	ipfix(f, l3);
	icmp->icmp_type = type;
	icmp->icmp_code = 0;
	icmp->icmp_ident = rte_cpu_to_be_16(0xabcd);
	icmp->icmp_seq_nb = rte_cpu_to_be_16(3);
	for (uint32_t i = 0; i < data_len; i++)
		((uint8_t *)(icmp + 1))[i] = (uint8_t)(i * 7 + 1);
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, 8 + data_len);
	return l3 + 20 + 8 + data_len;
}

/* Resize the UDP payload of an untagged FCP frame to @p n bytes (fixing lengths, checksums). */
static uint32_t resize_payload(uint8_t *f, uint32_t n)
{
	ip_at(f, 14)->total_length = rte_cpu_to_be_16(20 + 8 + n);
	udp_at(f, 14)->dgram_len = rte_cpu_to_be_16(8 + n);
	ipfix(f, 14);
	udpfix(f, 14);
	return 14 + 20 + 8 + n;
}

/* Classify a copy of exactly @p len bytes (so ASan sees any read past the end). */
static enum fs_frame_kind classify_exact(
	const uint8_t *f, uint32_t len, struct fs_frame_info *info, const struct fs_frame_cfg *c)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum fs_frame_kind k;

	cr_assert_not_null(copy);
	memcpy(copy, f, len);
	k = fs_frame_classify(c, copy, len, info);
	free(copy);
	return k;
}

/* The worker's path: classify, then the FCP header rules, as one drop reason. */
_Static_assert(FS_DROP_FCP_MAGIC - FS_DROP_FCP_LEN == FS_FCP_ERR_MAGIC - FS_FCP_ERR_LEN, "order");
_Static_assert(FS_DROP_FCP_FLAGS - FS_DROP_FCP_LEN == FS_FCP_ERR_FLAGS - FS_FCP_ERR_LEN, "order");

static enum fs_frame_kind pipeline(const uint8_t *f, uint32_t len, enum fs_drop *drop)
{
	struct fs_frame_info info;
	struct fs_fcp_req req;
	enum fs_frame_kind k = classify_exact(f, len, &info, &cfg);
	enum fs_fcp_err err;

	*drop = k == FS_FRAME_DROP ? info.drop : FS_DROP_NONE;
	if (k != FS_FRAME_FCP)
		return k;
	cr_assert_eq(info.l4_len, 8 + FS_FCP_LEN);
	cr_assert_leq(info.payload_off + FS_FCP_LEN, len);
	err = fs_fcp_parse(f + info.payload_off, info.l4_len - 8, &req);
	if (err != FS_FCP_OK) {
		*drop = (enum fs_drop)(FS_DROP_FCP_LEN + (err - FS_FCP_ERR_LEN));
		return FS_FRAME_DROP;
	}
	return k;
}

/* ---- the table: one mutation of a valid frame per row ---- */

enum mut {
	M_VALID,
	M_VALID_VLAN,
	M_VALID_OPTIONS,
	M_VALID_PADDING,
	M_VALID_UDP_CKSUM_ZERO,
	M_VALID_UDP_SHORTER_THAN_IP,
	M_VALID_DF_CLEAR,
	M_VALID_ARP,
	M_VALID_ARP_VLAN,
	M_VALID_ARP_PROBE,
	M_VALID_ICMP,
	M_VALID_ICMP_OPTIONS,
	M_TRUNC_ETH,
	M_TRUNC_VLAN,
	M_TRUNC_IP,
	M_TRUNC_IP_OPTIONS,
	M_TRUNC_ARP,
	M_TRUNC_UDP_HDR,
	M_ETHERTYPE_IPV6,
	M_ETHERTYPE_LLDP,
	M_VLAN_STACKED_8100,
	M_VLAN_QINQ_88A8,
	M_VLAN_QINQ_INNER,
	M_ARP_REPLY,
	M_ARP_OTHER_IP,
	M_ARP_WRONG_DST_MAC,
	M_ARP_BAD_HW,
	M_ARP_SRC_MAC_BCAST,
	M_DST_MAC,
	M_DST_MAC_BCAST,
	M_DST_IP,
	M_IP_VERSION6,
	M_IP_IHL4,
	M_IP_IHL0,
	M_IP_CKSUM,
	M_IP_CKSUM_OPTIONS,
	M_IP_TOTLEN_BEYOND,
	M_IP_TOTLEN_BELOW_HDR,
	M_IP_MF,
	M_IP_OFFSET,
	M_IP_PROTO_TCP,
	M_ICMP_ECHO_REPLY,
	M_ICMP_CODE,
	M_ICMP_CKSUM,
	M_ICMP_SHORT,
	M_UDP_LEN7,
	M_UDP_LEN_BEYOND,
	M_UDP_CKSUM,
	M_UDP_PORT,
	M_PAYLOAD47,
	M_PAYLOAD49,
	M_SRC_BCAST,
	M_SRC_MCAST_LOW,
	M_SRC_MCAST_HIGH,
	M_SRC_ZERO,
	M_SRC_SELF,
	M_SRC_MAC_MCAST,
	M_SRC_MAC_BCAST,
	M_SRC_PORT_ZERO,
	M_ICMP_SRC_BCAST,
	M_FCP_MAGIC,
	M_FCP_VERSION,
	M_FCP_TYPE,
	M_FCP_FLAGS,
};

struct frame_case {
	char name[32]; /* inline: Criterion copies parameters into a fresh process */
	enum mut mut;
	enum fs_frame_kind kind;
	enum fs_drop drop;
};

/* clang-format off */
#define OK(m, k) {#m, m, k, FS_DROP_NONE}
#define DROP(m, d) {#m, m, FS_FRAME_DROP, FS_DROP_##d}
/* clang-format on */

static struct frame_case frame_cases[] = {
	OK(M_VALID, FS_FRAME_FCP),
	OK(M_VALID_VLAN, FS_FRAME_FCP),
	OK(M_VALID_OPTIONS, FS_FRAME_FCP),
	OK(M_VALID_PADDING, FS_FRAME_FCP),
	OK(M_VALID_UDP_CKSUM_ZERO, FS_FRAME_FCP),
	OK(M_VALID_UDP_SHORTER_THAN_IP, FS_FRAME_FCP),
	OK(M_VALID_DF_CLEAR, FS_FRAME_FCP),
	OK(M_VALID_ARP, FS_FRAME_ARP),
	OK(M_VALID_ARP_VLAN, FS_FRAME_ARP),
	OK(M_VALID_ARP_PROBE, FS_FRAME_ARP),
	OK(M_VALID_ICMP, FS_FRAME_ICMP),
	OK(M_VALID_ICMP_OPTIONS, FS_FRAME_ICMP),
	DROP(M_TRUNC_ETH, TRUNCATED),
	DROP(M_TRUNC_VLAN, TRUNCATED),
	DROP(M_TRUNC_IP, TRUNCATED),
	DROP(M_TRUNC_IP_OPTIONS, TRUNCATED),
	DROP(M_TRUNC_ARP, TRUNCATED),
	DROP(M_TRUNC_UDP_HDR, TRUNCATED),
	DROP(M_ETHERTYPE_IPV6, NOT_IPV4_OR_ARP),
	DROP(M_ETHERTYPE_LLDP, NOT_IPV4_OR_ARP),
	DROP(M_VLAN_STACKED_8100, VLAN_STACKED),
	DROP(M_VLAN_QINQ_88A8, VLAN_STACKED),
	DROP(M_VLAN_QINQ_INNER, VLAN_STACKED),
	DROP(M_ARP_REPLY, ARP_NOT_FOR_US),
	DROP(M_ARP_OTHER_IP, ARP_NOT_FOR_US),
	DROP(M_ARP_WRONG_DST_MAC, ARP_NOT_FOR_US),
	DROP(M_ARP_BAD_HW, ARP_NOT_FOR_US),
	DROP(M_ARP_SRC_MAC_BCAST, SRC_UNANSWERABLE),
	DROP(M_DST_MAC, DST_MAC),
	DROP(M_DST_MAC_BCAST, DST_MAC),
	DROP(M_DST_IP, DST_IP),
	DROP(M_IP_VERSION6, IP_VERSION),
	DROP(M_IP_IHL4, IP_IHL),
	DROP(M_IP_IHL0, IP_IHL),
	DROP(M_IP_CKSUM, IP_CKSUM),
	DROP(M_IP_CKSUM_OPTIONS, IP_CKSUM),
	DROP(M_IP_TOTLEN_BEYOND, IP_TOTLEN),
	DROP(M_IP_TOTLEN_BELOW_HDR, IP_TOTLEN),
	DROP(M_IP_MF, IP_FRAGMENT),
	DROP(M_IP_OFFSET, IP_FRAGMENT),
	DROP(M_IP_PROTO_TCP, IP_PROTO),
	DROP(M_ICMP_ECHO_REPLY, ICMP),
	DROP(M_ICMP_CODE, ICMP),
	DROP(M_ICMP_CKSUM, ICMP),
	DROP(M_ICMP_SHORT, ICMP),
	DROP(M_UDP_LEN7, UDP_LEN),
	DROP(M_UDP_LEN_BEYOND, UDP_LEN),
	DROP(M_UDP_CKSUM, UDP_CKSUM),
	DROP(M_UDP_PORT, UDP_PORT),
	DROP(M_PAYLOAD47, FCP_LEN),
	DROP(M_PAYLOAD49, FCP_LEN),
	DROP(M_SRC_BCAST, SRC_UNANSWERABLE),
	DROP(M_SRC_MCAST_LOW, SRC_UNANSWERABLE),
	DROP(M_SRC_MCAST_HIGH, SRC_UNANSWERABLE),
	DROP(M_SRC_ZERO, SRC_UNANSWERABLE),
	DROP(M_SRC_SELF, SRC_UNANSWERABLE),
	DROP(M_SRC_MAC_MCAST, SRC_UNANSWERABLE),
	DROP(M_SRC_MAC_BCAST, SRC_UNANSWERABLE),
	DROP(M_SRC_PORT_ZERO, SRC_UNANSWERABLE), /* was answered, to port 0 */
	DROP(M_ICMP_SRC_BCAST, SRC_UNANSWERABLE),
	DROP(M_FCP_MAGIC, FCP_MAGIC),
	DROP(M_FCP_VERSION, FCP_VERSION),
	DROP(M_FCP_TYPE, FCP_TYPE),
	DROP(M_FCP_FLAGS, FCP_FLAGS),
};

#define NCASES (sizeof(frame_cases) / sizeof(frame_cases[0]))

/*
 * The mutations that write one big-endian value into a valid FCP frame (untagged, or tagged
 * with TCI): where, how wide, what, and which checksums are made right again after it.
 */
enum fix { FIX_NONE = 0, FIX_IP = 1, FIX_UDP = 2, FIX_BOTH = 3 };
struct poke {
	enum mut mut;
	uint16_t vlan;
	uint8_t off; /* from the frame's first byte */
	uint8_t width;
	uint32_t val;
	enum fix fix;
};

/* Where a row writes: each names a field's offset and width, two of the row's initialisers. */
/* clang-format off */
#define ETHERTYPE 12, 2 /* the EtherType, or a tagged frame's TPID */
#define INNER_ETHERTYPE 16, 2 /* a tagged frame's EtherType */
#define SRC_MAC0 6, 1 /* the source MAC's first byte */
#define AT(type, base, field) (base) + offsetof(type, field), sizeof(((type *)0)->field)
#define IP(field) AT(struct rte_ipv4_hdr, 14, field)
#define UDP(field) AT(struct rte_udp_hdr, 14 + 20, field)
#define FCP(off) 14 + 20 + 8 + (off), 1 /* one byte of the claim */
/* clang-format on */

static const struct poke pokes[] = {
	{M_ETHERTYPE_IPV6, 0, ETHERTYPE, 0x86dd, FIX_NONE},
	{M_ETHERTYPE_LLDP, 0, ETHERTYPE, 0x88cc, FIX_NONE},
	{M_VLAN_STACKED_8100, TCI, INNER_ETHERTYPE, 0x8100, FIX_NONE},
	{M_VLAN_QINQ_88A8, TCI, ETHERTYPE, 0x88a8, FIX_NONE},
	{M_VLAN_QINQ_INNER, TCI, INNER_ETHERTYPE, 0x88a8, FIX_NONE},
	{M_DST_IP, 0, IP(dst_addr), IPV4(10, 0, 0, 3), FIX_BOTH},
	{M_IP_VERSION6, 0, IP(version_ihl), 0x65, FIX_IP},
	{M_IP_IHL4, 0, IP(version_ihl), 0x44, FIX_NONE},
	{M_IP_IHL0, 0, IP(version_ihl), 0x40, FIX_NONE},
	{M_IP_TOTLEN_BEYOND, 0, IP(total_length), 77, FIX_IP},
	{M_IP_TOTLEN_BELOW_HDR, 0, IP(total_length), 19, FIX_IP},
	{M_IP_MF, 0, IP(fragment_offset), RTE_IPV4_HDR_MF_FLAG, FIX_IP},
	{M_IP_OFFSET, 0, IP(fragment_offset), 1, FIX_IP},
	{M_IP_PROTO_TCP, 0, IP(next_proto_id), IPPROTO_TCP, FIX_IP},
	{M_UDP_PORT, 0, UDP(dst_port), 7778, FIX_UDP},
	{M_SRC_BCAST, 0, IP(src_addr), IPV4(255, 255, 255, 255), FIX_BOTH},
	{M_SRC_MCAST_LOW, 0, IP(src_addr), IPV4(224, 0, 0, 1), FIX_BOTH},
	{M_SRC_MCAST_HIGH, 0, IP(src_addr), IPV4(239, 255, 255, 255), FIX_BOTH},
	{M_SRC_ZERO, 0, IP(src_addr), 0, FIX_BOTH},
	{M_SRC_SELF, 0, IP(src_addr), OUR_IP, FIX_BOTH},
	{M_SRC_MAC_MCAST, 0, SRC_MAC0, 0x01, FIX_NONE},
	{M_SRC_PORT_ZERO, 0, UDP(src_port), 0, FIX_UDP},
	{M_FCP_MAGIC, 0, FCP(0), 0x00, FIX_UDP},
	{M_FCP_VERSION, 0, FCP(2), 2, FIX_UDP},
	{M_FCP_TYPE, 0, FCP(3), 0x81, FIX_UDP},
	{M_FCP_FLAGS, 0, FCP(23), 1, FIX_UDP},
};

/* The frame of @p p's mutation into @p f; returns its length. */
static uint32_t build_poke(const struct poke *p, uint8_t *f)
{
	uint32_t len = make_fcp(f, p->vlan);

	for (unsigned i = 0; i < p->width; i++)
		f[p->off + i] = (uint8_t)(p->val >> (8 * (p->width - 1 - i)));
	if (p->fix & FIX_IP)
		ipfix(f, 14);
	if (p->fix & FIX_UDP)
		udpfix(f, 14);
	return len;
}

/* Build the frame of @p m into @p f; returns its length. */
static uint32_t build(enum mut m, uint8_t *f)
{
	uint32_t len = make_fcp(f, 0);
	struct rte_ipv4_hdr *ip = ip_at(f, 14);
	struct rte_udp_hdr *udp = udp_at(f, 14);

	switch (m) {
	case M_VALID:
		return len;
	case M_VALID_VLAN:
		return make_fcp(f, TCI);
	case M_VALID_OPTIONS:
		return add_options(f, len, 14, 10);
	case M_VALID_PADDING:
		return len + 10;
	case M_VALID_UDP_CKSUM_ZERO:
		udp->dgram_cksum = 0;
		return len;
	case M_VALID_UDP_SHORTER_THAN_IP:
		/* 4 bytes after the datagram inside the IP packet: the UDP length rules. */
		ip->total_length = rte_cpu_to_be_16(76 + 4);
		ipfix(f, 14);
		return len + 4;
	case M_VALID_DF_CLEAR:
		ip->fragment_offset = 0;
		ipfix(f, 14);
		return len;
	case M_VALID_ARP:
		return make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
	case M_VALID_ARP_VLAN:
		return make_arp(f, TCI, RTE_ARP_OP_REQUEST, OUR_IP);
	case M_VALID_ARP_PROBE:
		len = make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
		((struct rte_arp_hdr *)(f + 14))->arp_data.arp_sip = 0;
		return len;
	case M_VALID_ICMP:
		return make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
	case M_VALID_ICMP_OPTIONS:
		len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
		return add_options(f, len, 14, 3);
	case M_TRUNC_ETH:
		return 13;
	case M_TRUNC_VLAN:
		make_fcp(f, TCI);
		return 17;
	case M_TRUNC_IP:
		return 14 + 19;
	case M_TRUNC_IP_OPTIONS:
		len = add_options(f, len, 14, 10);
		return 14 + 20 + 39;
	case M_TRUNC_ARP:
		make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
		return 14 + 27;
	case M_TRUNC_UDP_HDR:
		ip->total_length = rte_cpu_to_be_16(20 + 7);
		ipfix(f, 14);
		return 14 + 20 + 7;
	case M_ARP_REPLY:
		return make_arp(f, 0, RTE_ARP_OP_REPLY, OUR_IP);
	case M_ARP_OTHER_IP:
		return make_arp(f, 0, RTE_ARP_OP_REQUEST, IPV4(10, 0, 0, 9));
	case M_ARP_WRONG_DST_MAC:
		len = make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
		memcpy(f, peer_mac, 6);
		return len;
	case M_ARP_BAD_HW:
		len = make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
		f[14 + 4] = 8; /* hlen */
		return len;
	case M_ARP_SRC_MAC_BCAST:
		len = make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);
		memset(f + 14 + 8, 0xff, 6); /* sha */
		return len;
	case M_DST_MAC:
		f[5] ^= 0x10;
		return len;
	case M_DST_MAC_BCAST:
		memset(f, 0xff, 6);
		return len;
	case M_IP_CKSUM:
		ip->hdr_checksum ^= 0x0100;
		return len;
	case M_IP_CKSUM_OPTIONS:
		len = add_options(f, len, 14, 4);
		f[14 + 20 + 5] = 0x44; /* an option byte changes, the checksum does not */
		return len;
	case M_ICMP_ECHO_REPLY:
		return make_icmp(f, 0, RTE_IP_ICMP_ECHO_REPLY, 56);
	case M_ICMP_CODE:
		len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
		f[14 + 20 + 1] = 1;
		f[14 + 20 + 2] = 0;
		f[14 + 20 + 3] = 0;
		*(uint16_t *)(f + 14 + 22) = (uint16_t)~rte_raw_cksum(f + 34, 64);
		return len;
	case M_ICMP_CKSUM:
		len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
		f[len - 1] ^= 0x01;
		return len;
	case M_ICMP_SHORT:
		/* a 4-byte ICMP message: type and code right, no room for id and sequence */
		len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 0);
		ip->total_length = rte_cpu_to_be_16(24);
		ipfix(f, 14);
		f[14 + 22] = 0;
		f[14 + 23] = 0;
		*(uint16_t *)(f + 14 + 22) = (uint16_t)~rte_raw_cksum(f + 34, 4);
		return 14 + 24;
	case M_UDP_LEN7:
		udp->dgram_len = rte_cpu_to_be_16(7);
		udp->dgram_cksum = 0;
		return len;
	case M_UDP_LEN_BEYOND:
		udp->dgram_len = rte_cpu_to_be_16(57);
		udp->dgram_cksum = 0;
		return len;
	case M_UDP_CKSUM:
		udp->dgram_cksum ^= 0x0040;
		if (udp->dgram_cksum == 0)
			udp->dgram_cksum = 0x0040;
		return len;
	case M_PAYLOAD47:
		return resize_payload(f, 47);
	case M_PAYLOAD49:
		return resize_payload(f, 49);
	case M_SRC_MAC_BCAST:
		memset(f + 6, 0xff, 6);
		return len;
	case M_ICMP_SRC_BCAST:
		len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 8);
		ip->src_addr = rte_cpu_to_be_32(IPV4(255, 255, 255, 255));
		ipfix(f, 14);
		return len;
	default: /* a row of pokes[] */
		for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++)
			if (pokes[i].mut == m)
				return build_poke(&pokes[i], f);
		break;
	}
	cr_assert_fail("unknown mutation %d", m);
	return 0;
}

ParameterizedTestParameters(frame, classify)
{
	return cr_make_param_array(struct frame_case, frame_cases, NCASES);
}

ParameterizedTest(struct frame_case *c, frame, classify)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	uint32_t len = build(c->mut, f);
	enum fs_drop drop;
	enum fs_frame_kind k = pipeline(f, len, &drop);

	cr_expect_eq(k, c->kind, "%s: kind %d, want %d", c->name, k, c->kind);
	cr_expect_eq(drop, c->drop, "%s: drop %s, want %s", c->name,
		drop ? fs_drop_name(drop) : "none", c->drop ? fs_drop_name(c->drop) : "none");
}

Test(frame, every_drop_reason_has_a_case)
{
	for (int d = FS_DROP_NONE + 1; d < FS_DROP__COUNT; d++) {
		bool seen = false;

		for (size_t i = 0; i < NCASES; i++)
			seen |= frame_cases[i].drop == (enum fs_drop)d;
		cr_expect(seen, "no case for %s", fs_drop_name(d));
	}
}

Test(frame, info_offsets)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;
	uint32_t len;

	len = make_fcp(f, 0);
	cr_assert_eq(len, 90);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	cr_expect_eq(info.drop, FS_DROP_NONE);
	cr_expect_eq(info.l3_off, 14);
	cr_expect_eq(info.l4_off, 34);
	cr_expect_eq(info.payload_off, 42);
	cr_expect_eq(info.l4_len, 56);
	cr_expect_arr_eq(f + info.payload_off, claim, FS_FCP_LEN);

	len = make_fcp(f, TCI);
	cr_assert_eq(len, 94);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	cr_expect_eq(info.l3_off, 18);
	cr_expect_eq(info.l4_off, 38);
	cr_expect_eq(info.payload_off, 46);

	len = add_options(f, make_fcp(f, 0), 14, 10);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	cr_expect_eq(info.l4_off, 74);
	cr_expect_eq(info.payload_off, 82);
	cr_expect_arr_eq(f + info.payload_off, claim, FS_FCP_LEN);

	len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_ICMP);
	cr_expect_eq(info.l4_off, 34);
	cr_expect_eq(info.l4_len, 64);
}

/* Every prefix of a valid frame is dropped and nothing past it is read (run under ASan). */
Test(frame, truncated_at_every_offset)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	static const enum mut valid[] = {M_VALID, M_VALID_VLAN, M_VALID_OPTIONS, M_VALID_ARP,
		M_VALID_ARP_VLAN, M_VALID_ICMP, M_VALID_ICMP_OPTIONS};

	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		uint32_t full = build(valid[v], f);
		struct fs_frame_info info;

		for (uint32_t len = 0; len < full; len++) {
			enum fs_frame_kind k = classify_exact(f, len, &info, &cfg);

			cr_expect_eq(k, FS_FRAME_DROP, "mut %d len %u", valid[v], len);
			cr_expect(info.drop == FS_DROP_TRUNCATED || info.drop == FS_DROP_IP_TOTLEN,
				"mut %d len %u: %s", valid[v], len, fs_drop_name(info.drop));
		}
		cr_expect_neq(
			classify_exact(f, full, &info, &cfg), FS_FRAME_DROP, "mut %d", valid[v]);
	}
}

/* Every single-byte corruption of a valid frame: still no read past the end, never a crash. */
Test(frame, byte_flips_stay_in_bounds)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	uint32_t len = add_options(f, make_fcp(f, TCI), 18, 2);
	struct fs_frame_info info;

	for (uint32_t i = 0; i < len; i++) {
		static const uint8_t vals[] = {0x00, 0xff, 0x45, 0x4f, 0x81, 0x08};

		for (size_t j = 0; j < sizeof(vals); j++) {
			uint8_t save = f[i];
			enum fs_frame_kind k;

			f[i] = vals[j];
			k = classify_exact(f, len, &info, &cfg);
			if (k == FS_FRAME_DROP)
				cr_expect(info.drop > FS_DROP_NONE && info.drop < FS_DROP__COUNT);
			f[i] = save;
		}
	}
}

/* ---- replies ---- */

static void check_fcp_reply(uint8_t *f, uint32_t rlen, uint32_t l3, const uint8_t *reply)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = ip_at(f, l3);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(f + l3 + 20);
	struct fs_frame_info info;

	cr_expect_eq(rlen, l3 + 20 + 8 + 48);
	cr_expect_arr_eq(&eth->dst_addr, peer_mac, 6);
	cr_expect_arr_eq(&eth->src_addr, cfg.mac, 6);
	cr_expect_eq(ip->version_ihl, 0x45);
	cr_expect_eq(rte_be_to_cpu_16(ip->total_length), 76);
	cr_expect_eq(ip->packet_id, 0);
	cr_expect_eq(rte_be_to_cpu_16(ip->fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	cr_expect_eq(ip->time_to_live, 64);
	cr_expect_eq(ip->next_proto_id, IPPROTO_UDP);
	cr_expect_eq(ip->src_addr, cfg.ip);
	cr_expect_eq(ip->dst_addr, rte_cpu_to_be_32(PEER_IP));
	cr_expect_eq(rte_raw_cksum(ip, 20), 0xffff, "IP checksum");
	cr_expect_eq(rte_be_to_cpu_16(udp->src_port), cfg.udp_port);
	cr_expect_eq(rte_be_to_cpu_16(udp->dst_port), PEER_PORT);
	cr_expect_eq(rte_be_to_cpu_16(udp->dgram_len), 56);
	cr_expect_neq(udp->dgram_cksum, 0);
	cr_expect_eq(rte_ipv4_udptcp_cksum_verify(ip, udp), 0, "UDP checksum");
	cr_expect_arr_eq(udp + 1, reply, FS_FCP_LEN);
	/* The peer, seen from its side, accepts the reply as a well-formed datagram to its port. */
	cr_expect_eq(classify_exact(f, rlen, &info, &peer_cfg), FS_FRAME_FCP);
}

static void make_reply_payload(uint8_t out[FS_FCP_LEN])
{
	struct fs_fcp_reply rep = {
		.type = FS_FCP_CLAIM_RESULT,
		.sale_id = 42,
		.user_id = 1001,
		.status = FS_ST_WON,
		.node_id = 1,
		.order_id = 0x100000001ull,
		.remaining = 99,
		.request_id = 0x0102030405060708ull,
	};

	fs_fcp_encode_reply(&rep, out);
}

Test(frame, fcp_reply_plain)
{
	uint8_t f[BUF] __attribute__((aligned(8))), reply[FS_FCP_LEN];
	struct fs_frame_info info;
	uint32_t len = make_fcp(f, 0);

	make_reply_payload(reply);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	check_fcp_reply(f, fs_frame_fcp_reply(&cfg, f, &info, reply), 14, reply);
	cr_expect_eq(f[12], 0x08);
	cr_expect_eq(f[13], 0x00);
}

Test(frame, fcp_reply_keeps_vlan)
{
	uint8_t f[BUF] __attribute__((aligned(8))), reply[FS_FCP_LEN];
	struct fs_frame_info info;
	uint32_t len = make_fcp(f, TCI);

	make_reply_payload(reply);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	check_fcp_reply(f, fs_frame_fcp_reply(&cfg, f, &info, reply), 18, reply);
	cr_expect_eq(f[12], 0x81);
	cr_expect_eq(f[13], 0x00);
	cr_expect_eq(f[14], TCI >> 8);
	cr_expect_eq(f[15], TCI & 0xff);
	cr_expect_eq(f[16], 0x08);
	cr_expect_eq(f[17], 0x00);
}

/* IHL 6..15 with a valid checksum is accepted; the reply has IHL 5 and correct checksums. */
Test(frame, fcp_reply_strips_options)
{
	for (unsigned words = 1; words <= 10; words++) {
		for (int vlan = 0; vlan < 2; vlan++) {
			uint8_t f[BUF] __attribute__((aligned(8))), reply[FS_FCP_LEN];
			uint32_t l3 = vlan ? 18 : 14;
			struct fs_frame_info info;
			uint32_t len = add_options(f, make_fcp(f, vlan ? TCI : 0), l3, words);
			uint32_t rlen;

			make_reply_payload(reply);
			cr_assert_eq(classify_exact(f, len, &info, &cfg), FS_FRAME_FCP, "IHL %u",
				5 + words);
			cr_expect_eq(info.l4_off, l3 + 20 + 4 * words);
			rlen = fs_frame_fcp_reply(&cfg, f, &info, reply);
			cr_expect_leq(rlen, len);
			check_fcp_reply(f, rlen, l3, reply);
		}
	}
}

/*
 * The claim path's variants (payload sum from the reply's fields, checksums from values; and
 * fs_frame_fcp_answer, encoding in place) build the same frame byte for byte, for any TOS (kept)
 * and reply values.
 */
Test(frame, fcp_reply_sum_variant_same_frame)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 2000; i++) {
		uint8_t a[BUF] __attribute__((aligned(8))), b[BUF] __attribute__((aligned(8)));
		uint8_t c[BUF] __attribute__((aligned(8)));
		uint8_t reply[FS_FCP_LEN];
		struct fs_frame_info ia, ib, ic;
		struct fs_fcp_reply rep;
		uint32_t len = make_fcp(a, i % 2 ? TCI : 0), l3 = i % 2 ? 18 : 14, ra, rb, rc;
		struct rte_ipv4_hdr *ip = ip_at(a, l3);

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ip->type_of_service = (uint8_t)x;
		ipfix(a, l3);
		rep = (struct fs_fcp_reply){.type = FS_FCP_CLAIM_RESULT,
			.sale_id = (uint32_t)x,
			.user_id = x * 3,
			.status = (uint8_t)(x % FS_ST__COUNT),
			.node_id = (uint16_t)(x >> 16),
			.retry_after_ms = (uint32_t)(x >> 20),
			.order_id = ~x,
			.remaining = (uint32_t)(x >> 32),
			.request_id = x ^ 0x5555};
		fs_fcp_encode_reply(&rep, reply);
		memcpy(b, a, len);
		cr_assert_eq(classify_exact(a, len, &ia, &cfg), FS_FRAME_FCP, "round %d", i);
		cr_assert_eq(classify_exact(b, len, &ib, &cfg), FS_FRAME_FCP, "round %d", i);
		memcpy(c, a, len);
		cr_assert_eq(classify_exact(c, len, &ic, &cfg), FS_FRAME_FCP, "round %d", i);
		ra = fs_frame_fcp_reply(&cfg, a, &ia, reply);
		rb = fs_frame_fcp_reply_sum(&cfg, b, &ib, reply, fs_fcp_reply_sum(&rep));
		rc = fs_frame_fcp_answer(&cfg, c, &ic, &rep); /* encoded in place */
		cr_assert_eq(ra, rb);
		cr_assert_eq(ra, rc);
		cr_assert_arr_eq(a, b, ra, "round %d", i);
		cr_assert_arr_eq(a, c, ra, "round %d: fs_frame_fcp_answer", i);
		cr_assert_eq(ip_at(b, l3)->type_of_service, (uint8_t)x, "TOS kept");
		check_fcp_reply(b, rb, l3, reply);
	}
}

/* fs_frame_fcp_answer with IP options (the reply moves down): the generic path's frame. */
Test(frame, fcp_answer_strips_options)
{
	for (unsigned words = 1; words <= 10; words++) {
		uint8_t a[BUF] __attribute__((aligned(8))), b[BUF] __attribute__((aligned(8)));
		uint8_t reply[FS_FCP_LEN];
		struct fs_fcp_reply rep;
		struct fs_frame_info ia, ib;
		uint32_t len = add_options(a, make_fcp(a, 0), 14, words), ra, rb;

		make_reply_payload(reply);
		cr_assert_eq(fs_fcp_decode_reply(reply, FS_FCP_LEN, &rep), 0);
		memcpy(b, a, len);
		cr_assert_eq(classify_exact(a, len, &ia, &cfg), FS_FRAME_FCP);
		cr_assert_eq(classify_exact(b, len, &ib, &cfg), FS_FRAME_FCP);
		ra = fs_frame_fcp_reply(&cfg, a, &ia, reply);
		rb = fs_frame_fcp_answer(&cfg, b, &ib, &rep);
		cr_assert_eq(ra, rb);
		cr_assert_arr_eq(a, b, ra, "IHL %u", 5 + words);
		check_fcp_reply(b, rb, 14, reply);
	}
}

/* The reply may be written from the request's own payload bytes (aliasing is allowed). */
Test(frame, fcp_reply_from_payload_in_place)
{
	uint8_t f[BUF] __attribute__((aligned(8))), want[FS_FCP_LEN];
	struct fs_frame_info info;
	uint32_t len = add_options(f, make_fcp(f, 0), 14, 7);

	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	memcpy(want, f + info.payload_off, FS_FCP_LEN);
	check_fcp_reply(f, fs_frame_fcp_reply(&cfg, f, &info, f + info.payload_off), 14, want);
}

/* A WON reply as the worker builds it: the request (VLAN @p vlan, @p opt option words) answered. */
static uint32_t make_won_reply(uint8_t *f, uint16_t vlan, unsigned opt, uint32_t *l3)
{
	uint8_t reply[FS_FCP_LEN];
	struct fs_fcp_reply rep;
	struct fs_frame_info info;
	uint32_t len = make_fcp(f, vlan);

	len = add_options(f, len, vlan ? 18 : 14, opt);
	make_reply_payload(reply);
	cr_assert_eq(fs_fcp_decode_reply(reply, FS_FCP_LEN, &rep), 0);
	cr_assert_eq(classify_exact(f, len, &info, &cfg), FS_FRAME_FCP);
	*l3 = info.l3_off;
	return fs_frame_fcp_answer(&cfg, f, &info, &rep);
}

/* The failed group commit's rewrite: WON becomes RETRY, no order id, checksums right. */
Test(frame, won_to_retry)
{
	for (unsigned v = 0; v < 2; v++) {
		for (unsigned opt = 0; opt <= 3; opt += 3) {
			uint8_t f[BUF] __attribute__((aligned(8))), want[FS_FCP_LEN];
			struct fs_fcp_reply rep;
			uint32_t l3, len = make_won_reply(f, v ? TCI : 0, opt, &l3);

			cr_assert_eq(fs_frame_won_to_retry(f, len, l3, 100), 0);
			make_reply_payload(want);
			cr_assert_eq(fs_fcp_decode_reply(want, FS_FCP_LEN, &rep), 0);
			rep.status = FS_ST_RETRY;
			rep.retry_after_ms = 100;
			rep.order_id = 0;
			fs_fcp_encode_reply(&rep, want);
			check_fcp_reply(f, len, l3, want);
		}
	}
}

/* Anything but such a WON is refused and left as it was: the worker then does not send it. */
Test(frame, won_to_retry_refuses_other_frames)
{
	for (unsigned c = 0; c < 6; c++) {
		uint8_t f[BUF] __attribute__((aligned(8))), before[BUF];
		uint32_t l3, len = make_won_reply(f, 0, 0, &l3);
		uint8_t *payload = f + l3 + 20 + 8;

		switch (c) {
		case 0: /* another status */
			payload[16] = FS_ST_SOLD_OUT;
			break;
		case 1: /* not an FCP reply: bad magic */
			payload[0] ^= 0xff;
			break;
		case 2: /* a status reply */
			payload[3] = FS_FCP_SALE_STATUS_RESULT;
			break;
		case 3: /* IP options: the UDP header is not where a reply of ours has it */
			f[l3] = 0x46;
			break;
		case 4: /* not UDP */
			f[l3 + 9] = IPPROTO_TCP;
			break;
		default: /* shorter than a reply */
			len -= 1;
			break;
		}
		memcpy(before, f, sizeof(before));
		cr_assert_eq(fs_frame_won_to_retry(f, len, l3, 100), -EINVAL, "case %u", c);
		cr_assert_arr_eq(f, before, sizeof(before), "case %u: frame changed", c);
	}
}

/* RFC 768: a computed UDP checksum of zero goes on the wire as 0xffff, and is accepted. */
Test(frame, udp_cksum_zero_sent_as_ffff)
{
	uint8_t f[BUF] __attribute__((aligned(8))), reply[FS_FCP_LEN];
	struct fs_frame_info info;
	struct rte_udp_hdr *udp;
	uint32_t len = make_fcp(f, 0);
	uint16_t c;

	make_reply_payload(reply);
	reply[46] = reply[47] = 0;
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	fs_frame_fcp_reply(&cfg, f, &info, reply);
	udp = (struct rte_udp_hdr *)(f + 34);
	c = udp->dgram_cksum;
	/* Adding the complement of the sum to the data makes the sum 0xffff, the checksum 0. */
	memcpy(reply + 46, &c, 2);

	len = make_fcp(f, 0);
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
	fs_frame_fcp_reply(&cfg, f, &info, reply);
	cr_expect_eq(udp->dgram_cksum, 0xffff);
	check_fcp_reply(f, 90, 14, reply);

	/* The same on the request side: fs_frame_build_request, then classify. */
	len = fs_frame_build_request(f, peer_mac, cfg.mac, 0, rte_cpu_to_be_32(PEER_IP), cfg.ip,
		PEER_PORT, cfg.udp_port, reply);
	udp->dgram_cksum = 0;
	c = rte_ipv4_udptcp_cksum(ip_at(f, 14), udp);
	cr_assert_neq(c, 0);
	cr_expect_eq(classify_exact(f, len, &info, &cfg), FS_FRAME_FCP);
}

Test(frame, build_request_layout)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct rte_ipv4_hdr *ip = ip_at(f, 18);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint32_t len = make_fcp(f, TCI);

	cr_expect_eq(len, 94);
	cr_expect_arr_eq(f, cfg.mac, 6);
	cr_expect_arr_eq(f + 6, peer_mac, 6);
	cr_expect_eq(ip->version_ihl, 0x45);
	cr_expect_eq(rte_be_to_cpu_16(ip->total_length), 76);
	cr_expect_eq(ip->next_proto_id, IPPROTO_UDP);
	cr_expect_eq(rte_raw_cksum(ip, 20), 0xffff);
	cr_expect_eq(rte_be_to_cpu_16(udp->src_port), PEER_PORT);
	cr_expect_eq(rte_be_to_cpu_16(udp->dst_port), 7777);
	cr_expect_eq(rte_be_to_cpu_16(udp->dgram_len), 56);
	cr_expect_eq(rte_ipv4_udptcp_cksum_verify(ip, udp), 0);
	cr_expect_arr_eq(udp + 1, claim, FS_FCP_LEN);
}

static void check_arp_reply(uint8_t *f, uint32_t rlen, uint32_t l3)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(f + l3);

	cr_expect_eq(rlen, l3 + 28);
	cr_expect_arr_eq(&eth->dst_addr, peer_mac, 6);
	cr_expect_arr_eq(&eth->src_addr, cfg.mac, 6);
	cr_expect_eq(rte_be_to_cpu_16(arp->arp_hardware), RTE_ARP_HRD_ETHER);
	cr_expect_eq(rte_be_to_cpu_16(arp->arp_protocol), RTE_ETHER_TYPE_IPV4);
	cr_expect_eq(arp->arp_hlen, 6);
	cr_expect_eq(arp->arp_plen, 4);
	cr_expect_eq(rte_be_to_cpu_16(arp->arp_opcode), RTE_ARP_OP_REPLY);
	cr_expect_arr_eq(&arp->arp_data.arp_sha, cfg.mac, 6);
	cr_expect_eq(arp->arp_data.arp_sip, cfg.ip);
	cr_expect_arr_eq(&arp->arp_data.arp_tha, peer_mac, 6);
	cr_expect_eq(arp->arp_data.arp_tip, rte_cpu_to_be_32(PEER_IP));
}

Test(frame, arp_reply)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;
	uint32_t len = make_arp(f, 0, RTE_ARP_OP_REQUEST, OUR_IP);

	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_ARP);
	cr_expect_eq(info.l3_off, 14);
	check_arp_reply(f, fs_frame_arp_reply(&cfg, f, &info), 14);
	cr_expect_eq(f[12], 0x08);
	cr_expect_eq(f[13], 0x06);
}

Test(frame, arp_reply_vlan_unicast_request)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;
	uint32_t len = make_arp(f, TCI, RTE_ARP_OP_REQUEST, OUR_IP);

	memcpy(f, cfg.mac, 6); /* unicast refresh (RFC 1122 2.3.2.1) */
	cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_ARP);
	cr_expect_eq(info.l3_off, 18);
	check_arp_reply(f, fs_frame_arp_reply(&cfg, f, &info), 18);
	cr_expect_eq(f[12], 0x81);
	cr_expect_eq(f[14], TCI >> 8);
	cr_expect_eq(f[15], TCI & 0xff);
	cr_expect_eq(f[16], 0x08);
	cr_expect_eq(f[17], 0x06);
}

static void check_icmp_reply(
	uint8_t *f, uint32_t rlen, uint32_t l3, const uint8_t *data, uint32_t data_len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = ip_at(f, l3);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);

	cr_expect_eq(rlen, l3 + 20 + 8 + data_len);
	cr_expect_arr_eq(&eth->dst_addr, peer_mac, 6);
	cr_expect_arr_eq(&eth->src_addr, cfg.mac, 6);
	cr_expect_eq(ip->version_ihl, 0x45);
	cr_expect_eq(rte_be_to_cpu_16(ip->total_length), 28 + data_len);
	cr_expect_eq(ip->next_proto_id, IPPROTO_ICMP);
	cr_expect_eq(ip->src_addr, cfg.ip);
	cr_expect_eq(ip->dst_addr, rte_cpu_to_be_32(PEER_IP));
	cr_expect_eq(rte_raw_cksum(ip, 20), 0xffff, "IP checksum");
	cr_expect_eq(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	cr_expect_eq(icmp->icmp_code, 0);
	cr_expect_eq(rte_be_to_cpu_16(icmp->icmp_ident), 0xabcd);
	cr_expect_eq(rte_be_to_cpu_16(icmp->icmp_seq_nb), 3);
	cr_expect_eq(rte_raw_cksum(icmp, 8 + data_len), 0xffff, "ICMP checksum");
	cr_expect_arr_eq(icmp + 1, data, data_len);
}

Test(frame, icmp_echo_reply)
{
	for (unsigned words = 0; words <= 10; words += 5) {
		for (int vlan = 0; vlan < 2; vlan++) {
			uint8_t f[BUF] __attribute__((aligned(8))), data[56];
			uint32_t l3 = vlan ? 18 : 14;
			struct fs_frame_info info;
			uint32_t len = make_icmp(f, vlan ? TCI : 0, RTE_IP_ICMP_ECHO_REQUEST, 56);
			uint32_t rlen;

			memcpy(data, f + l3 + 28, sizeof(data));
			if (words)
				len = add_options(f, len, l3, words);
			/* 6 bytes of Ethernet padding: not part of the echo */
			cr_assert_eq(classify_exact(f, len + 6, &info, &cfg), FS_FRAME_ICMP,
				"words %u vlan %d", words, vlan);
			rlen = fs_frame_icmp_reply(&cfg, f, len + 6, &info);
			cr_expect_leq(rlen, len);
			check_icmp_reply(f, rlen, l3, data, sizeof(data));
		}
	}
}

/* fs_frame_build_request's checksums verify with DPDK's own functions, VLAN or not. */
Test(frame, build_request_checksums_verify_with_rte)
{
	for (int vlan = 0; vlan < 2; vlan++) {
		uint8_t f[BUF] __attribute__((aligned(8)));
		uint32_t l3 = vlan ? 18 : 14;
		uint32_t len = make_fcp(f, vlan ? TCI : 0);
		struct rte_ipv4_hdr *ip = ip_at(f, l3);

		cr_expect_eq(len, l3 + 76);
		cr_expect_eq(rte_raw_cksum(ip, 20), 0xffff, "IP checksum");
		cr_expect_eq(rte_ipv4_udptcp_cksum_verify(ip, udp_at(f, l3)), 0, "UDP checksum");
		cr_expect_eq(ip->type_of_service, 0);
	}
}

/* ---- a client's receive side: fs_frame_classify_reply ---- */

/* fs_frame_classify_reply on a copy of exactly @p len bytes (ASan sees any read past the end). */
static enum fs_frame_kind classify_reply_exact(
	const uint8_t *f, uint32_t len, struct fs_frame_info *info)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum fs_frame_kind k;

	cr_assert_not_null(copy);
	memcpy(copy, f, len);
	k = fs_frame_classify_reply(copy, len, info);
	free(copy);
	return k;
}

/* The dataplane's replies (as fs_frame_fcp_answer makes them), tagged or not: offsets found. */
Test(frame, classify_reply_finds_the_reply_payload)
{
	for (int vlan = 0; vlan < 2; vlan++) {
		uint8_t f[BUF] __attribute__((aligned(8))), reply[FS_FCP_LEN];
		uint32_t l3 = vlan ? 18 : 14, len = make_fcp(f, vlan ? TCI : 0), rlen;
		struct fs_frame_info info;
		struct fs_fcp_reply rep;

		make_reply_payload(reply);
		cr_assert_eq(fs_fcp_decode_reply(reply, FS_FCP_LEN, &rep), 0);
		cr_assert_eq(fs_frame_classify(&cfg, f, len, &info), FS_FRAME_FCP);
		rlen = fs_frame_fcp_answer(&cfg, f, &info, &rep);
		/* 8 bytes of Ethernet padding after it */
		cr_assert_eq(
			classify_reply_exact(f, rlen + 8, &info), FS_FRAME_FCP, "vlan %d", vlan);
		cr_expect_eq(info.drop, FS_DROP_NONE);
		cr_expect_eq(info.l3_off, l3);
		cr_expect_eq(info.l4_off, l3 + 20);
		cr_expect_eq(info.l4_len, 56);
		cr_expect_eq(info.payload_off, l3 + 28);
		cr_expect_arr_eq(f + info.payload_off, reply, FS_FCP_LEN);
	}
}

/* IP options are skipped; addresses, ports and checksums are not the client's business. */
Test(frame, classify_reply_skips_options_checks_no_address)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;
	uint32_t len = add_options(f, make_fcp(f, 0), 14, 10);

	cr_assert_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_FCP);
	cr_expect_eq(info.l4_off, 74);
	cr_expect_eq(info.payload_off, 82);
	cr_expect_arr_eq(f + info.payload_off, claim, FS_FCP_LEN);

	len = make_fcp(f, 0);
	f[0] ^= 0x01;			      /* another (a multicast) MAC */
	ip_at(f, 14)->dst_addr ^= 0xffffffff; /* another address, IP checksum now wrong */
	udp_at(f, 14)->dgram_cksum ^= 0x1234; /* wrong UDP checksum */
	udp_at(f, 14)->dst_port = 0;
	ip_at(f, 14)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	cr_assert_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_FCP);
	cr_expect_eq(info.payload_off, 42);
}

/* Any ARP frame, request or reply, tagged or not, with only l3_off set. */
Test(frame, classify_reply_arp)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;

	cr_assert_eq(fs_frame_classify_reply(f, make_arp(f, 0, RTE_ARP_OP_REPLY, PEER_IP), &info),
		FS_FRAME_ARP);
	cr_expect_eq(info.l3_off, 14);
	cr_assert_eq(fs_frame_classify_reply(f, make_arp(f, TCI, RTE_ARP_OP_REQUEST, 1), &info),
		FS_FRAME_ARP);
	cr_expect_eq(info.l3_off, 18);
	cr_expect_eq(info.payload_off, 0);
	/* the ARP header is the caller's to check: the Ethernet header alone says ARP */
	cr_expect_eq(classify_reply_exact(f, 18, &info), FS_FRAME_ARP);
}

/* Everything that is not IPv4/UDP with a 48-byte payload, nor ARP, is dropped, with a reason. */
Test(frame, classify_reply_drops)
{
	uint8_t f[BUF] __attribute__((aligned(8)));
	struct fs_frame_info info;
	uint32_t len;

	len = make_l2(f, cfg.mac, 0, 0x86dd);
	cr_expect_eq(fs_frame_classify_reply(f, len + 60, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_NOT_IPV4_OR_ARP);

	len = make_fcp(f, TCI);
	f[16] = 0x81; /* a second tag */
	f[17] = 0x00;
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_VLAN_STACKED);

	len = make_icmp(f, 0, RTE_IP_ICMP_ECHO_REPLY, 56);
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_IP_PROTO);

	len = make_fcp(f, 0);
	ip_at(f, 14)->version_ihl = 0x65;
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_IP_VERSION);
	ip_at(f, 14)->version_ihl = 0x44;
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_IP_IHL);
	ip_at(f, 14)->version_ihl = 0x45;
	ip_at(f, 14)->total_length = rte_cpu_to_be_16(77); /* one byte past the frame */
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_IP_TOTLEN);
	ip_at(f, 14)->total_length = rte_cpu_to_be_16(27); /* no room for the UDP header */
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_IP_TOTLEN);

	for (uint32_t n = 46; n <= 50; n++) {
		if (n == FS_FCP_LEN)
			continue;
		len = resize_payload(f, n);
		cr_expect_eq(
			fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP, "payload %u", n);
		cr_expect_eq(info.drop, FS_DROP_FCP_LEN);
	}
	/* UDP length 56 but an IP total length that ends inside the payload */
	len = make_fcp(f, 0);
	ip_at(f, 14)->total_length = rte_cpu_to_be_16(75);
	cr_expect_eq(fs_frame_classify_reply(f, len, &info), FS_FRAME_DROP);
	cr_expect_eq(info.drop, FS_DROP_FCP_LEN);
}

/* Every prefix of a reply frame is dropped as truncated, and nothing past it is read. */
Test(frame, classify_reply_truncated_at_every_offset)
{
	for (int vlan = 0; vlan < 2; vlan++) {
		uint8_t f[BUF] __attribute__((aligned(8)));
		uint32_t full = add_options(f, make_fcp(f, vlan ? TCI : 0), vlan ? 18 : 14, 2);
		struct fs_frame_info info;

		for (uint32_t len = 0; len < full; len++) {
			cr_expect_eq(
				classify_reply_exact(f, len, &info), FS_FRAME_DROP, "len %u", len);
			cr_expect(info.drop == FS_DROP_TRUNCATED || info.drop == FS_DROP_IP_TOTLEN,
				"len %u: %s", len, fs_drop_name(info.drop));
		}
		cr_expect_eq(classify_reply_exact(f, full, &info), FS_FRAME_FCP);
	}
}
