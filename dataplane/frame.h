/* L2/L3/L4 frame handling on raw bytes: classify a received frame and turn it into its reply in place. */
#ifndef FS_FRAME_H
#define FS_FRAME_H

#include <stdint.h>

#include "counters.h"

/** What the node answers as; all in network byte order except @c udp_port. */
struct fs_frame_cfg {
	uint8_t mac[6];    /**< the receiving port's MAC */
	uint32_t ip;       /**< the node's IPv4 address, network byte order */
	uint16_t udp_port; /**< claim port, host byte order (default 7777) */
};

enum fs_frame_kind {
	FS_FRAME_DROP = 0, /**< drop, reason in fs_frame_info.drop */
	FS_FRAME_ARP,      /**< ARP request for our address: answer with fs_frame_arp_reply() */
	FS_FRAME_ICMP,     /**< ICMP echo request to us: answer with fs_frame_icmp_reply() */
	FS_FRAME_FCP,      /**< UDP to the claim port with a 48-byte payload at payload_off */
};

/** Offsets found by fs_frame_classify(), in bytes from the frame start. */
struct fs_frame_info {
	enum fs_drop drop;    /**< reason when kind is FS_FRAME_DROP */
	uint16_t l3_off;      /**< IPv4 or ARP header (14, or 18 with one VLAN tag) */
	uint16_t l4_off;      /**< UDP/ICMP header (l3_off + IHL*4) */
	uint16_t payload_off; /**< FCP payload (l4_off + 8) */
	uint16_t l4_len;      /**< UDP length field, or ICMP bytes (IP total length - IHL*4) */
};

/**
 * Classify a received Ethernet frame against every drop rule of PROTOCOL.md "What gets no
 * reply", reading no byte beyond @p len. Accepts at most one 802.1Q tag (0x8100); two tags
 * (0x88a8 or 0x8100 followed by another) are dropped. IPv4 options are skipped. A UDP checksum
 * of zero is accepted; a non-zero one must verify. The FCP header itself is not checked here
 * (fs_fcp_parse does it), only that the UDP payload is exactly 48 bytes.
 * @param frame  frame bytes starting at the destination MAC (not modified).
 * @param len    frame length in bytes (mbuf data_len); trailing Ethernet padding is allowed.
 * @return the kind; @p info is filled (info->drop set for FS_FRAME_DROP). Thread safe.
 */
enum fs_frame_kind fs_frame_classify(const struct fs_frame_cfg *cfg, const uint8_t *frame,
	uint32_t len, struct fs_frame_info *info);

/**
 * Classify a frame received by a client (flashgen: the dataplane's replies, the peer's ARP), with
 * the same Ethernet/802.1Q rules as fs_frame_classify() but none of the receiver's: no address,
 * port, checksum or fragment check (a client matches replies by request_id, and reads the UDP
 * checksum of its own frames), reading no byte beyond @p len.
 * @param frame frame bytes starting at the destination MAC (not modified).
 * @param len   frame length in bytes; trailing Ethernet padding is allowed.
 * @return FS_FRAME_FCP for IPv4 (any IHL, options skipped) carrying UDP with a 48-byte payload
 * (UDP length 56, inside the IP total length, which is inside the frame): @p info has l3_off,
 * l4_off, l4_len (56) and payload_off; FS_FRAME_ARP for any ARP frame (only l3_off set: the
 * ARP header is not read, the caller checks its length); FS_FRAME_DROP otherwise (info->drop
 * says why: FS_DROP_FCP_LEN for UDP of another length). Thread safe.
 */
enum fs_frame_kind fs_frame_classify_reply(
	const uint8_t *frame, uint32_t len, struct fs_frame_info *info);

/**
 * Turn an ARP request classified FS_FRAME_ARP into the ARP reply, in place.
 * @return the reply's length in bytes (same as the request's, VLAN tag kept).
 */
uint32_t fs_frame_arp_reply(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info);

/**
 * Turn an ICMP echo request classified FS_FRAME_ICMP into the echo reply, in place: MACs and
 * addresses swapped, type 0, IP options removed, checksums recomputed.
 * @return the reply's length in bytes (never more than the request's).
 */
uint32_t fs_frame_icmp_reply(const struct fs_frame_cfg *cfg, uint8_t *frame, uint32_t len,
	const struct fs_frame_info *info);

/**
 * Turn a frame classified FS_FRAME_FCP into its reply, in place: the 48-byte reply payload
 * @p reply is written, MACs, addresses and ports swapped, the VLAN tag kept, IP options removed
 * (IHL 5, the UDP header and payload moved down), TTL 64, IP id 0, DF set, IPv4 and UDP
 * checksums computed (cksum.h: the values rte_ipv4_cksum and rte_ipv4_udptcp_cksum give).
 * @p reply may be anywhere, the request's payload included; when it is already at the reply's
 * payload offset (l3_off + 28: a request without IP options, encoded in place) it is not copied.
 * @return the reply frame length in bytes (l3_off + 20 + 8 + 48), never more than the request.
 */
uint32_t fs_frame_fcp_reply(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const uint8_t reply[48]);

/**
 * fs_frame_fcp_reply() with the payload's sum given: @p reply_sum is fs_fcp_reply_sum() of the
 * reply @p reply encodes (or fs_cksum_fold(fs_cksum_add(reply, 48, 0))). Both checksums are then
 * computed from values, with no read-back of the bytes just written. The claim path's variant.
 * @return as fs_frame_fcp_reply(); the frame is byte for byte the same.
 */
uint32_t fs_frame_fcp_reply_sum(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const uint8_t reply[48], uint16_t reply_sum);

struct fs_fcp_reply;

/**
 * Answer a frame classified FS_FRAME_FCP with @p rep, in place: the claim path's reply step
 * (dataplane/worker.c, and the fuzz target the same way). Without IP options the reply is
 * encoded straight over the request payload (the request must not be read any more), with
 * options into a copy that moves down; checksums from the values (fs_fcp_reply_sum,
 * fs_frame_fcp_reply_sum). @return the reply frame length, as fs_frame_fcp_reply().
 */
uint32_t fs_frame_fcp_answer(const struct fs_frame_cfg *cfg, uint8_t *frame,
	const struct fs_frame_info *info, const struct fs_fcp_reply *rep);

/**
 * Turn a WON reply that fs_frame_fcp_answer() built into a RETRY, in place: status RETRY,
 * retry_after_ms @p retry_ms, order id 0, the rest of the payload as it was, UDP checksum
 * recomputed (rte_ipv4_udptcp_cksum; the IPv4 header is unchanged). The worker's group commit
 * does it to every WON of a burst whose journal sync failed (worker.c).
 * @param frame    the reply frame, @p len bytes.
 * @param l3_off   its IPv4 header's offset (fs_frame_info.l3_off of the request).
 * @return 0, or -EINVAL, the frame unchanged, when it is not such a reply (too short, IHL not 5,
 *         not UDP, a payload that does not decode as a CLAIM_RESULT with status WON): the caller
 *         must not send it, since it could promise an order that is not durable.
 */
int fs_frame_won_to_retry(uint8_t *frame, uint32_t len, uint32_t l3_off, uint32_t retry_ms);

/**
 * Build a complete FCP request frame (Ethernet, optional VLAN, IPv4 IHL 5, UDP with checksum),
 * for flashgen and tests. @p vlan_tci 0 means untagged.
 * @param src_ip, dst_ip network byte order; @p src_port, @p dst_port host byte order.
 * @return the frame length in bytes (90 untagged, 94 tagged); @p out needs 94 bytes.
 */
uint32_t fs_frame_build_request(uint8_t *out, const uint8_t src_mac[6], const uint8_t dst_mac[6],
	uint16_t vlan_tci, uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
	const uint8_t payload[48]);

#endif
