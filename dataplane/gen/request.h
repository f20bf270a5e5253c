/* flashgen's claims on the wire: what each claim is (--mix) and its request frame. */
#ifndef FG_REQUEST_H
#define FG_REQUEST_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "gen.h"
#include "mix.h"

/**
 * --mix: the kind (enum fg_mix_kind) of user index @p u's claim number @p claim_no, from a hash
 * of its request_id, so the same every time it is built (a resend is the same kind).
 */
static inline uint8_t fg_mix_kind(const struct fg_ctx *g, uint32_t u, uint32_t claim_no)
{
	uint32_t h = (uint32_t)(fs_mix64(fg_request_id(u, claim_no) + 1) % 100), lim = 0;

	for (uint8_t k = FG_MIX_REPEAT; k < FG_MIX__COUNT; k++) {
		lim += g->o.mix_pct[k];
		if (h < lim)
			return k;
	}
	return FG_MIX_NORMAL;
}

/**
 * Write the request frame of user index @p u's claim number @p claim_no, of kind @p kind, into
 * @p m (data_len and pkt_len set): the user's source address and port (gen/README.md "Source
 * addresses"), its token if --token-key, and the --mix corruption; with --pcap-in the file's claim
 * number @p u (fg_replay_build). No allocation, no syscall.
 */
void fg_build(struct fg_ctx *g, struct rte_mbuf *m, uint32_t u, uint32_t claim_no, uint8_t kind);

#endif
