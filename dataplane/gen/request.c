/* flashgen's claim request frames (request.h). */
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "fcp.h"
#include "frame.h"
#include "replay.h"
#include "request.h"

#define FG_SRC_PORT_BASE 10000u /* UDP source ports 10000 .. 10000 + FG_USERS_PER_IP - 1 */

void fg_build(struct fg_ctx *g, struct rte_mbuf *m, uint32_t u, uint32_t claim_no, uint8_t kind)
{
	uint64_t rid = fg_request_id(u, claim_no);
	struct fs_fcp_req req = {
		.type = FS_FCP_CLAIM,
		.sale_id = g->o.sale,
		.user_id = kind == FG_MIX_REPEAT
				   ? g->o.mix_winner_base + fs_mix64(rid) % g->o.mix_winners
				   : g->o.user_base + u,
		.token_expiry = g->o.have_key ? g->o.token_expiry : 0,
		.node_id = g->o.node,
		.request_id = rid,
	};
	uint8_t payload[FS_FCP_LEN];
	uint32_t len, ip;
	uint16_t sport;

	if (unlikely(g->rp != NULL)) {
		fg_replay_build(g, m, u); /* --pcap-in: the file's claim */
		return;
	}
	if (g->o.src_ips != 0) {
		ip = g->o.src_ip + u % g->o.src_ips;
		sport = (uint16_t)(FG_SRC_PORT_BASE + (u / g->o.src_ips) % FG_USERS_PER_IP);
	} else {
		ip = g->o.src_ip + u / FG_USERS_PER_IP;
		sport = (uint16_t)(FG_SRC_PORT_BASE + u % FG_USERS_PER_IP);
	}
	fs_fcp_encode_req(&req, payload);
	if (g->o.have_key)
		fs_fcp_token(g->o.key, payload, payload + 24);
	if (kind == FG_MIX_BADTOKEN)
		payload[24] ^= 0x01;
	/* malformed: half wrong magic (a valid UDP datagram), half a broken UDP checksum */
	if (kind == FG_MIX_MALFORMED && (rid & 1) == 0)
		payload[0] ^= 0xff;
	len = fs_frame_build_request(rte_pktmbuf_mtod(m, uint8_t *), g->src_mac.addr_bytes,
		g->o.dst_mac.addr_bytes, g->o.vlan, rte_cpu_to_be_32(ip), g->o.dst_ip, sport,
		g->o.port, payload);
	m->data_len = m->pkt_len = len;
	if (kind == FG_MIX_MALFORMED && (rid & 1) != 0) {
		uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
		struct fs_frame_info info;
		unaligned_uint16_t *ck;

		/* our own frame (FS_FRAME_FCP): the UDP checksum sits just before the payload */
		(void)fs_frame_classify_reply(f, len, &info);
		ck = (unaligned_uint16_t *)(f + info.payload_off - 2);

		/* nonzero (0 means "no checksum") and unlike the right one */
		*ck = *ck == rte_cpu_to_be_16(0x1234) ? rte_cpu_to_be_16(0x4321)
						      : rte_cpu_to_be_16(0x1234);
	}
}
