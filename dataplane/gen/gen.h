/* flashgen: the state every part of the generator shares (options, users, queues, counters). */
#ifndef FG_GEN_H
#define FG_GEN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fcp.h"
#include "histogram.h"

/*
 * Threads: one. The main thread is flashgen's only lcore and runs everything below (set-up, the
 * loop, the report); the EAL interrupt thread runs the memif PMD's callbacks (and through them
 * unmap_guard.c's munmap()) and reconnect.c's alarm, which touch none of it. "Writer" below
 * names the file whose functions change a field; every other file only reads it.
 */

#define FG_BURST 32	       /* frames per rx/tx burst and per pending batch */
#define FG_PORT_ID 0	       /* the one port: --vdev net_memif0,role=client,... */
#define FG_GUARD_READER 0      /* the lcore's reader id for the unmap guard (unmap_guard.h) */
#define FG_USERS_PER_IP 50000u /* default source scheme: users per source address */
#define FG_RETRY_CAP_MS 1000u  /* longest retry_after_ms honoured */
#define FG_WHEEL_SLOTS 1024u   /* > FG_RETRY_CAP_MS: a delayed resend never wraps the wheel */
#define FG_REQID_CLAIM_BITS 24 /* request_id = user index << 24 | claim number */
#define FG_NONE UINT32_MAX     /* end of a wheel slot's list */

enum fg_user_state {
	FG_READY = 0, /* in the ready queue */
	FG_PEND,      /* built, waiting for the port to take it */
	FG_OUT,	      /* request in flight */
	FG_WAIT,      /* in the wheel, resend after retry_after_ms */
	FG_DONE,      /* every claim has its final answer */
};

/* One user's claims. Writers: run.c (send, answer), schedule.c (state, next). */
struct fg_user {
	uint64_t send_tsc;    /* TSC of the last transmission of the current request */
	uint32_t claims_done; /* claims with a final answer */
	uint32_t next;	      /* wheel slot list link */
	uint8_t state;	      /* enum fg_user_state */
	uint8_t holds;	      /* this user holds an order (a WON, or an ALREADY_WON first seen) */
	uint8_t kind;	      /* enum fg_mix_kind of the current request */
};

/* --mix: what one claim is. */
enum fg_mix_kind {
	FG_MIX_NORMAL = 0,
	FG_MIX_REPEAT,	  /* sent as one of the --mix-winners users: expects ALREADY_WON */
	FG_MIX_BADTOKEN,  /* token with one bit flipped: expects BAD_TOKEN */
	FG_MIX_MALFORMED, /* broken UDP checksum or wrong magic: no reply expected, never resent */
	FG_MIX__COUNT,
};

/*
 * The command line (HACKING.md "flashgen"). Writer: options.c (fg_parse_args), before EAL
 * starts; read-only afterwards, except dst_mac, which net.c's ARP (fg_arp_resolve) sets.
 */
struct fg_opts {
	uint32_t dst_ip; /* network byte order */
	uint32_t src_ip; /* host byte order, per-user offset added */
	uint32_t sale;
	uint64_t users;
	uint32_t claims;
	uint64_t user_base;
	uint16_t port;
	uint64_t rate;
	uint32_t window;
	uint32_t timeout_ms;
	uint32_t max_seconds;
	bool have_key;
	uint8_t key[FS_FCP_TOKEN_LEN];
	uint32_t token_expiry;
	uint16_t node;
	const char *won_file;
	uint16_t vlan;
	bool progress;
	bool have_dst_mac;
	struct rte_ether_addr dst_mac; /* --dst-mac, or learnt by ARP (net.c) */
	bool echo;
	uint32_t src_ips;   /* 0: one address per FG_USERS_PER_IP users; N: base + user % N */
	bool no_reply;	    /* flood: send every claim once, track nothing, window ignored */
	uint64_t line_rate; /* --line-rate: frames/s presented whatever the port takes (lossy) */
	uint32_t mix_pct[FG_MIX__COUNT]; /* --mix: percent of claims of each kind (NORMAL unused) */
	uint64_t mix_winner_base;	 /* --mix-winners U,N: repeat claims by users U .. U+N-1 */
	uint64_t mix_winners;
	bool json;	      /* --json: the report as one JSON document, progress as JSON lines */
	const char *json_out; /* --json=FILE: the JSON document into FILE, key=value on stdout */
	const char *hist_out; /* --hist-out: the latency histogram as HdrHistogram text */
	const char *pcap_out; /* --pcap-out: every claim frame sent, as a pcap */
	const char *pcap_in;  /* --pcap-in: the claims are this pcap's (replay.c) */
	bool sale_given;      /* --sale was given (with --pcap-in: the claims' sale id) */
};

/* Timeout FIFO entry: lazily deleted, stale when the user has sent again or got its answer. */
struct fg_tmo {
	uint64_t tsc;
	uint32_t user;
};

/*
 * The report's counters. Writers: run.c (sending, answers), schedule.c (lost, requeued),
 * reconnect.c (reconnects); report.c prints them.
 */
struct fg_stats {
	uint64_t sent;
	uint64_t replies;
	uint64_t lost;
	uint64_t unparsed;
	uint64_t stale;
	uint64_t tx_refused;
	uint64_t line_dropped; /* --line-rate: frames due while the port's ring was full */
	uint64_t status[FS_ST__COUNT];
	uint64_t finished;		  /* claims with a final answer */
	uint64_t winners;		  /* users known to hold an order: won-file lines */
	uint64_t reconnects;		  /* port restarts after the link went down */
	uint64_t requeued;		  /* claims in flight when the link went down, sent again */
	uint64_t mix_sent[FG_MIX__COUNT]; /* --mix: claims taken by the port, by kind */
	uint64_t pcap_out_frames;	  /* --pcap-out: frames written (capture.c) */
	/* --pcap-in (replay.c): claim frames read (distinct request_ids), claim frames repeating
	 * an earlier request_id, other frames sent as they are, frames not sent (cut short by the
	 * capture, too long, or refused by the port) */
	uint64_t pcap_in_claims, pcap_in_repeats, pcap_in_other, pcap_in_skipped;
};

struct fg_capture;
struct fg_replay;

/* The generator. One, in main.c; every function takes it as @p g. */
struct fg_ctx {
	struct fg_opts o;
	/* main.c and net.c (fg_port_init), at set-up; read-only afterwards */
	struct rte_mempool *pool;
	struct rte_ether_addr src_mac;
	uint64_t hz;
	double ns_per_tsc;
	uint64_t t0, tsc_per_ms; /* t0: TSC at the start of the run (main.c) */
	/* per-user state, users entries (one with --no-reply); writers: run.c, schedule.c */
	struct fg_user *users;
	/* ready deque of user indices, capacity users + 1; writer: schedule.c/.h */
	uint32_t *ready;
	uint64_t rcap, rhead, rlen;
	/* timeout FIFO ring, grows by doubling; writer: schedule.c */
	struct fg_tmo *tmo;
	uint64_t tcap, thead, tlen;
	/* wheel of delayed resends, 1 ms per slot; writer: schedule.c */
	uint32_t wheel[FG_WHEEL_SLOTS];
	uint64_t wheel_ms; /* next slot to drain, ms since t0 */
	/* claims in flight (run.c sends and answers, schedule.c times out and requeues) */
	uint64_t outstanding;
	uint64_t users_done; /* writer: run.c */
	/* TSCs of the first and last send and the last reply; writer: run.c */
	uint64_t first_send, last_send, last_reply;
	/* TSC of the first reply other than NOT_STARTED (the sale open), and the replies before
	 * it; writer: run.c */
	uint64_t open_tsc, open_replies;
	/* the previous --progress line: its TSC, sent and replies (rates); writer: report.c */
	uint64_t prog_tsc, prog_sent, prog_replies;
	uint64_t link_ms; /* ms since t0 of the last link check; writer: run.c */
	/* --no-reply: claims numbered 0 .. users * claims - 1, user = n % users; writer: run.c
	 * (and schedule.c, which takes back the built ones on a disconnect) */
	uint64_t flood_next, flood_total;
	/* --line-rate: frames presented (sent + line_dropped) since line_t0, and when it last
	 * ran; writer: run.c */
	uint64_t line_offered, line_t0, line_last;
	struct fg_hist lat; /* reply latency; writer: run.c */
	/* built frames the port has not taken yet; their users are FG_PEND; writers: run.c,
	 * schedule.c (fg_requeue_all frees them) */
	struct rte_mbuf *pend[FG_BURST];
	uint32_t pend_who[FG_BURST];
	uint16_t npend;
	bool port_started;	/* writers: net.c, reconnect.c */
	FILE *won;		/* --won-file, open during the run (main.c); run.c writes lines */
	FILE *hist;		/* --hist-out, open from set-up to the report (main.c) */
	FILE *json;		/* --json=FILE, open from set-up to the report (main.c) */
	struct fg_capture *cap; /* --pcap-out writer (capture.c), NULL without */
	struct fg_replay *rp;	/* --pcap-in claims (replay.c), NULL without */
	struct fg_stats st;
};

/*
 * Set by SIGINT/SIGTERM (main.c's handler) or by run.c when it cannot go on; every wait and loop
 * ends soon after. Any thread, any time: a sig_atomic_t written once, read with volatile.
 */
extern volatile sig_atomic_t fg_stop;

/*
 * The signal (SIGINT, SIGTERM) that stopped the run, 0 if none: the report says interrupted=1
 * and flashgen exits 128 + its number. Written once by main.c's handler, read with volatile.
 */
extern volatile sig_atomic_t fg_signal;

/** request_id of user index @p u's claim number @p claim_no (what the reply carries back). */
static inline uint64_t fg_request_id(uint32_t u, uint32_t claim_no)
{
	return (uint64_t)u << FG_REQID_CLAIM_BITS | claim_no;
}

#endif
