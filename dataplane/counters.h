/* Dataplane counters: one X-macro makes the enum and the telemetry names (VPP error-counter style). */
#ifndef FS_COUNTERS_H
#define FS_COUNTERS_H

#include <stdint.h>

/**
 * Drop reasons: every frame that gets no reply is counted under exactly one of these.
 * PROTOCOL.md "What gets no reply" lists the rules; the extra ones (truncated frames, stacked VLAN
 * tags, other IP protocols, ICMP that is not an echo request) are the same rules at L2/L3.
 */
#define FS_DROP_REASONS(X)                                                                        \
	X(TRUNCATED, "drop_truncated")             /* frame too short for a header it claims */ \
	X(NOT_IPV4_OR_ARP, "drop_not_ipv4_or_arp") /* other ethertypes */                       \
	X(VLAN_STACKED, "drop_vlan_stacked")       /* more than one 802.1Q/802.1ad tag */       \
	X(ARP_NOT_FOR_US, "drop_arp_not_for_us")   /* not a request, or not for our address */ \
	X(DST_MAC, "drop_dst_mac")                 /* IPv4 to a MAC not the port's */           \
	X(DST_IP, "drop_dst_ip")                   /* IPv4 to an address not the node's */      \
	X(IP_VERSION, "drop_ip_version")                                                        \
	X(IP_IHL, "drop_ip_ihl")                                                                \
	X(IP_CKSUM, "drop_ip_cksum")                                                            \
	X(IP_TOTLEN, "drop_ip_totlen")   /* total length beyond the frame or below the header */ \
	X(IP_FRAGMENT, "drop_ip_fragment")                                                      \
	X(IP_PROTO, "drop_ip_proto")     /* neither UDP nor ICMP */                             \
	X(ICMP, "drop_icmp")             /* ICMP that is not a well-formed echo request */      \
	X(UDP_LEN, "drop_udp_len")                                                              \
	X(UDP_CKSUM, "drop_udp_cksum")                                                          \
	X(UDP_PORT, "drop_udp_port")                                                            \
	X(SRC_UNANSWERABLE, "drop_src_unanswerable") /* bcast, mcast, 0.0.0.0, our own address */ \
	X(FCP_LEN, "drop_fcp_len")                                                              \
	X(FCP_MAGIC, "drop_fcp_magic")                                                          \
	X(FCP_VERSION, "drop_fcp_version")                                                      \
	X(FCP_TYPE, "drop_fcp_type")                                                            \
	X(FCP_FLAGS, "drop_fcp_flags")

enum fs_drop {
	FS_DROP_NONE = 0,
#define FS_X(e, s) FS_DROP_##e,
	FS_DROP_REASONS(FS_X)
#undef FS_X
	FS_DROP__COUNT
};

/** Every per-lcore counter; statuses are counted per reply sent (claim and status replies). */
#define FS_COUNTERS(X)                                                                            \
	X(RX_PKTS, "rx_pkts")                                                                      \
	X(TX_PKTS, "tx_pkts")                                                                      \
	X(TX_DROPPED, "tx_dropped") /* replies not sent (TX refused them; sync_failed), freed */   \
	X(ARP_REPLIES, "arp_replies")                                                              \
	X(ICMP_REPLIES, "icmp_replies")                                                            \
	X(CLAIMS, "claims")                                                                        \
	X(STATUS_REQS, "status_requests")                                                          \
	X(ST_WON, "won")                                                                           \
	X(ST_ALREADY_WON, "already_won")                                                           \
	X(ST_SOLD_OUT, "sold_out")                                                                 \
	X(ST_NOT_STARTED, "not_started")                                                           \
	X(ST_ENDED, "ended")                                                                       \
	X(ST_UNKNOWN_SALE, "unknown_sale")                                                         \
	X(ST_BAD_TOKEN, "bad_token")                                                               \
	X(ST_RATE_LIMITED, "rate_limited")                                                         \
	X(ST_RETRY, "retry")                                                                       \
	X(ST_ACTIVE, "active")                                                                     \
	X(ST_RELEASED, "released")                                                                 \
	X(JOURNAL_ERRORS, "journal_errors") /* WON refused because the journal write failed */  \
	X(WINNERS_FULL, "winners_full")     /* WON refused because the winner table was full */ \
	X(WON_HELD_FULL, "won_held_full")   /* WON refused: the WONs awaiting a sync fill the ring */ \
	X(DROPS, "drops")                   /* sum of every drop reason */                    \
	X(BUSY_CYCLES, "busy_cycles")       /* TSC: RX burst return to TX return, bursts > 0; sends of held WONs */ \
	X(RX_BURSTS, "rx_bursts")           /* RX bursts with frames (rx_pkts / rx_bursts) */

enum fs_counter {
#define FS_X(e, s) FS_CNT_##e,
	FS_COUNTERS(FS_X)
#undef FS_X
	FS_CNT__COUNT
};

/** Per-lcore statistics: written only by the owning lcore, read (relaxed) by telemetry. */
struct fs_lcore_stats {
	uint64_t seq; /**< odd while the owner adds a turn's counters (a seqlock for readers) */
	uint64_t cnt[FS_CNT__COUNT];
	uint64_t drop[FS_DROP__COUNT];
} __attribute__((aligned(64)));

/** Telemetry name of a drop reason (e.g. "drop_ip_cksum"); NULL for FS_DROP_NONE/out of range. */
const char *fs_drop_name(enum fs_drop d);
/** Telemetry name of a counter (e.g. "rx_pkts"). */
const char *fs_counter_name(enum fs_counter c);

#endif
