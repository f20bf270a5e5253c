/* flashgen's --pcap-in: the claims of a pcap file, replayed (gen/README.md "--pcap-in"). */
#ifndef FG_REPLAY_H
#define FG_REPLAY_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "gen.h"

/**
 * Read --pcap-in (g->o.pcap_in) into g->rp, before EAL. A claim frame is Ethernet (at most one
 * 802.1Q tag) / IPv4 / UDP with a 48-byte payload that is a valid FCP CLAIM request; each distinct
 * request_id is one claim (user index = its rank in the file), a later frame with the same
 * request_id is a repeat (not sent again). With --sale the claims' sale id is replaced; with
 * --token-key their token_expiry becomes --token-expiry and the token is made anew. Every other
 * frame is kept to be sent as it is (fg_replay_send_other). Sets g->o.users (the claims),
 * g->o.claims (1) and st.pcap_in_*.
 * @return 0, or -1 after one line to stderr (file unreadable, not Ethernet, no claim, memory).
 */
int fg_replay_load(struct fg_ctx *g);

/** Free g->rp (NULL afterwards); nothing if it is NULL. */
void fg_replay_free(struct fg_ctx *g);

/** Claim index of @p request_id, or UINT64_MAX if no claim of the file has it. */
uint64_t fg_replay_lookup(const struct fg_replay *rp, uint64_t request_id);

/** request_id of claim @p u (< g->o.users). */
uint64_t fg_replay_rid(const struct fg_replay *rp, uint32_t u);

/**
 * The claim index whose user holds claim @p u's user's order: the first claim of the file by the
 * same user_id (so a user with several claims is one winner, as with --claims K).
 */
uint32_t fg_replay_owner(const struct fg_replay *rp, uint32_t u);

/**
 * Write claim @p u's request frame into @p m: its payload as read (after --sale / --token-key),
 * from the frame's own source address and UDP port, to --dst-ip, --port, the dataplane's MAC,
 * with --vlan. No allocation, no syscall.
 */
void fg_replay_build(struct fg_ctx *g, struct rte_mbuf *m, uint32_t u);

/**
 * Send the file's other frames, in file order, each as it is (the port gets up to 1 s per frame):
 * st.pcap_in_other counts those sent, st.pcap_in_skipped those the port refused. Lcore only,
 * after ARP, before the run.
 */
void fg_replay_send_other(struct fg_ctx *g);

#endif
