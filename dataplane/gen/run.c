/* flashgen's run (run.h): the TX + RX loop, and what each reply does to its claim. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "capture.h"
#include "fcp.h"
#include "frame.h"
#include "net.h"
#include "reconnect.h"
#include "replay.h"
#include "report.h"
#include "request.h"
#include "run.h"
#include "schedule.h"

#define FG_PROGRESS_MS 200 /* --progress: one line this often */

/* User @p u's current claim has its final answer: its next claim is due, or it is done. */
static void fg_claim_final(struct fg_ctx *g, uint32_t u)
{
	struct fg_user *us = &g->users[u];

	us->claims_done++;
	g->st.finished++;
	if (us->claims_done >= g->o.claims) {
		us->state = FG_DONE;
		g->users_done++;
	} else {
		fg_ready_push_back(g, u);
	}
}

/*
 * Fill the pending burst with up to @p room more due claims (the ready queue's, or with
 * --no-reply the next numbers), then offer at most @p can_send of it to the port. Frames the port
 * refuses stay pending (built once) for the next turn; a claim counts as sent, and its timer
 * starts, only when the port took it. Returns how many it took.
 */
static uint16_t fg_tx(struct fg_ctx *g, uint64_t room, uint64_t can_send, uint64_t now)
{
	uint64_t due = g->o.no_reply ? g->flood_total - g->flood_next : g->rlen;
	uint16_t add = (uint16_t)RTE_MIN(RTE_MIN(room, due), (uint64_t)(FG_BURST - g->npend));
	uint16_t offer, sent, unanswered = 0;

	if (add > 0 && rte_pktmbuf_alloc_bulk(g->pool, g->pend + g->npend, add) == 0) {
		for (uint16_t i = 0; i < add; i++) {
			uint32_t u;

			if (g->o.no_reply) {
				u = (uint32_t)(g->flood_next % g->o.users);
				fg_build(g, g->pend[g->npend + i], u,
					(uint32_t)(g->flood_next / g->o.users), FG_MIX_NORMAL);
				g->flood_next++;
				continue;
			}
			u = fg_ready_pop(g);
			g->pend_who[g->npend + i] = u;
			g->users[u].state = FG_PEND;
			g->users[u].kind = fg_mix_kind(g, u, g->users[u].claims_done);
			fg_build(g, g->pend[g->npend + i], u, g->users[u].claims_done,
				g->users[u].kind);
		}
		g->npend += add;
	}
	offer = (uint16_t)RTE_MIN((uint64_t)g->npend, can_send);
	if (offer == 0)
		return 0;
	if (unlikely(g->cap != NULL))
		fg_capture_hold(g->pend, offer); /* --pcap-out: readable after the port took them */
	sent = fg_tx_burst(g->pend, offer);
	if (unlikely(g->cap != NULL))
		fg_capture_sent(g, g->pend, offer, sent, now);
	for (uint16_t i = 0; i < sent && !g->o.no_reply; i++) {
		uint32_t u = g->pend_who[i];

		g->st.mix_sent[g->users[u].kind]++;
		if (g->users[u].kind == FG_MIX_MALFORMED) {
			/* no reply will come: final once sent, not in flight, never resent */
			unanswered++;
			fg_claim_final(g, u);
			continue;
		}
		g->users[u].state = FG_OUT;
		g->users[u].send_tsc = now;
		if (fg_tmo_push(g, u, now) != 0) {
			/* no memory for the timer: the claim would never be resent; stop cleanly */
			fprintf(stderr, "flashgen: out of memory for timeouts, stopping\n");
			fg_stop = 1;
		}
	}
	if (!g->o.no_reply)
		g->outstanding += sent - unanswered;
	g->st.sent += sent;
	g->st.tx_refused += offer - sent;
	if (sent > 0 && g->first_send == 0)
		g->first_send = now;
	if (sent > 0)
		g->last_send = now;
	if (sent > 0 && sent < g->npend) {
		memmove(g->pend, g->pend + sent, (g->npend - sent) * sizeof(g->pend[0]));
		memmove(g->pend_who, g->pend_who + sent,
			(g->npend - sent) * sizeof(g->pend_who[0]));
	}
	g->npend -= sent;
	return sent;
}

/* User @p user_id holds order @p order_id: winners + 1, and its --won-file line. */
static void fg_won(struct fg_ctx *g, uint64_t user_id, uint64_t order_id)
{
	g->st.winners++;
	if (g->won != NULL)
		fprintf(g->won, "%" PRIu64 " %" PRIu64 "\n", user_id, order_id);
}

/*
 * The reply in frame @p m: decode it into @p rep (*decoded false when it does not decode; with
 * --echo the request's user_id and request_id are taken from where a reply has them), and find
 * its user index, *idx. false, counted unparsed or stale, when it is not an answer to one of
 * our users.
 */
static bool fg_rx_parse(struct fg_ctx *g, struct rte_mbuf *m, struct fs_fcp_reply *rep,
	bool *decoded, uint64_t *idx)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *), *p;
	struct fs_frame_info info;

	switch (fs_frame_classify_reply(f, rte_pktmbuf_data_len(m), &info)) {
	case FS_FRAME_FCP:
		break;
	case FS_FRAME_ARP:
		return false; /* ARP (a late answer to ours): not counted as unparsed */
	default:
		g->st.unparsed++;
		return false;
	}
	p = f + info.payload_off;
	*decoded = fs_fcp_decode_reply(p, FS_FCP_LEN, rep) == 0;
	if (!*decoded) {
		g->st.unparsed++;
		if (!g->o.echo)
			return false;
		/* echo mode: a reflected request; user_id and request_id sit where a reply has them
		 */
		memset(rep, 0, sizeof(*rep));
		rep->user_id = rte_be_to_cpu_64(*(const unaligned_uint64_t *)(p + 8));
		rep->request_id = rte_be_to_cpu_64(*(const unaligned_uint64_t *)(p + 40));
	}
	*idx = rep->user_id - g->o.user_base;
	if (g->o.mix_winners != 0) /* a repeat's reply carries a winner's user id */
		*idx = rep->request_id >> FG_REQID_CLAIM_BITS;
	if (unlikely(g->rp != NULL)) /* --pcap-in: the file's request_ids */
		*idx = fg_replay_lookup(g->rp, rep->request_id);
	if ((g->o.mix_winners == 0 && g->rp == NULL && rep->user_id < g->o.user_base) ||
		*idx >= g->o.users) {
		g->st.stale++;
		return false;
	}
	return true;
}

/* A decoded answer to user index @p u's claim in flight: final, or resent after retry_after_ms. */
static void fg_rx_status(
	struct fg_ctx *g, uint32_t u, const struct fs_fcp_reply *rep, uint64_t now_ms)
{
	struct fg_user *us = &g->users[u];
	/* --pcap-in: a user's claims are several indices; the first one holds its order */
	struct fg_user *holder =
		unlikely(g->rp != NULL) ? &g->users[fg_replay_owner(g->rp, u)] : us;

	g->st.status[rep->status]++;
	switch (rep->status) {
	case FS_ST_NOT_STARTED:
	case FS_ST_RETRY:
	case FS_ST_RATE_LIMITED: {
		uint32_t d = RTE_MIN(rep->retry_after_ms, FG_RETRY_CAP_MS);

		fg_wheel_add(g, u, now_ms, d == 0 ? 1 : d);
		return;
	}
	case FS_ST_WON:
	case FS_ST_ALREADY_WON:
		/*
		 * A user's order is known from its WON, or from an ALREADY_WON when the WON reply
		 * was lost and the resend (same request_id) was answered ALREADY_WON.
		 */
		if (!holder->holds && us->kind != FG_MIX_REPEAT) {
			holder->holds = 1;
			fg_won(g, rep->user_id, rep->order_id);
		}
		break;
	default:
		break;
	}
	fg_claim_final(g, u);
}

/*
 * A reply with status @p status (@p decoded false: it did not decode) comes at TSC @p now: the
 * first that is not NOT_STARTED marks the sale open (claims_per_s is counted from it).
 */
static inline void fg_note_open(struct fg_ctx *g, bool decoded, uint8_t status, uint64_t now)
{
	if (unlikely(g->open_tsc == 0) && !(decoded && status == FS_ST_NOT_STARTED)) {
		g->open_tsc = now;
		g->open_replies = g->st.replies;
	}
}

/* The request_id user index @p u's claim in flight carries. */
static inline uint64_t fg_claim_rid(const struct fg_ctx *g, uint32_t u)
{
	if (unlikely(g->rp != NULL))
		return fg_replay_rid(g->rp, u);
	return fg_request_id(u, g->users[u].claims_done);
}

/* One received frame at TSC @p now (@p now_ms since t0): count it, and act on its claim. */
static void fg_rx_one(struct fg_ctx *g, struct rte_mbuf *m, uint64_t now, uint64_t now_ms)
{
	struct fs_fcp_reply rep;
	struct fg_user *us;
	bool decoded;
	uint64_t idx;

	if (!fg_rx_parse(g, m, &rep, &decoded, &idx))
		return;
	if (g->o.no_reply) {
		/* flood: nothing tracked, no latency; a WON is written as it comes */
		fg_note_open(g, decoded, rep.status, now);
		g->st.replies++;
		g->last_reply = now;
		if (decoded) {
			g->st.status[rep.status]++;
			if (rep.status == FS_ST_WON)
				fg_won(g, rep.user_id, rep.order_id);
		}
		return;
	}
	us = &g->users[idx];
	if (us->state != FG_OUT || rep.request_id != fg_claim_rid(g, (uint32_t)idx)) {
		g->st.stale++;
		return;
	}
	fg_note_open(g, decoded, rep.status, now);
	fg_hist_add(&g->lat, (uint64_t)((double)(now - us->send_tsc) * g->ns_per_tsc));
	g->st.replies++;
	g->last_reply = now;
	g->outstanding--;
	if (decoded)
		fg_rx_status(g, (uint32_t)idx, &rep, now_ms);
	else
		fg_claim_final(g, (uint32_t)idx);
}

/*
 * --line-rate: the line presents line_rate frames/s since line_t0 whatever the port does. Offer
 * the frames due since the last turn, a burst at a time, while the port takes whole bursts; once
 * it refuses (its ring is full), every frame still due this turn is dropped and counted, as a NIC
 * drops what arrives on a full RX ring. The dropped frames are not built (nobody would see them):
 * their claim numbers are skipped. Refused frames stay pending and go first next turn.
 */
static void fg_line_tx(struct fg_ctx *g, uint64_t now)
{
	uint64_t presented, due;

	if (g->line_t0 == 0)
		g->line_t0 = now;
	presented = (uint64_t)((unsigned __int128)(now - g->line_t0) * g->o.line_rate / g->hz);
	due = presented - g->line_offered;
	g->line_last = now;
	while (due > 0) {
		uint16_t want = (uint16_t)RTE_MIN(due, (uint64_t)FG_BURST);
		uint16_t sent = fg_tx(g, want, want, now);
		uint64_t left, drop;

		g->line_offered += sent;
		due -= sent;
		if (sent == want)
			continue;
		/* ring full, or every claim built: the rest of this turn's frames are lost */
		left = g->flood_total - g->flood_next;
		drop = RTE_MIN(due, left);
		g->flood_next += drop;
		g->st.line_dropped += drop;
		g->line_offered += due;
		break;
	}
}

/* Is the run over? Every claim final, or with --no-reply every claim sent --timeout-ms ago. */
static bool fg_done(const struct fg_ctx *g, uint64_t now)
{
	if (!g->o.no_reply)
		return g->users_done >= g->o.users;
	return g->flood_next == g->flood_total && g->npend == 0 &&
	       now - g->last_send >= (uint64_t)g->o.timeout_ms * g->tsc_per_ms;
}

/* --rate: a token bucket in units of 1/hz claims (tokens * hz <= burst * hz). */
struct fg_bucket {
	uint64_t tokens, max, last_fill;
};

static void fg_bucket_init(const struct fg_ctx *g, struct fg_bucket *b)
{
	b->tokens = 0;
	b->max = 0;
	b->last_fill = g->t0;
	if (g->o.rate != 0) {
		/* up to 10 ms of sends at once: absorbs scheduling hiccups of a shared CPU */
		uint64_t burst = RTE_MAX(g->o.rate / 100, (uint64_t)FG_BURST);

		b->max = burst * g->hz;
		b->tokens = (uint64_t)FG_BURST * g->hz;
	}
}

/* Fill the bucket up to TSC @p now; returns how many claims it allows now (--rate set). */
static inline uint64_t fg_bucket_fill(const struct fg_ctx *g, struct fg_bucket *b, uint64_t now)
{
	/* rate * dt fits 64 bits: rate < 2^32, dt bounded by b->max below */
	uint64_t dt = now - b->last_fill;

	b->last_fill = now;
	if (dt > b->max / g->o.rate + 1)
		b->tokens = b->max;
	else
		b->tokens = RTE_MIN(b->tokens + dt * g->o.rate, b->max);
	return b->tokens / g->hz;
}

void fg_run(struct fg_ctx *g)
{
	uint64_t deadline = g->t0 + (uint64_t)g->o.max_seconds * g->hz;
	uint64_t next_progress = g->t0 + FG_PROGRESS_MS * g->tsc_per_ms;
	struct rte_mbuf *rx[FG_BURST];
	struct fg_bucket bucket;

	fg_bucket_init(g, &bucket);
	while (!fg_stop) {
		uint64_t now = rte_rdtsc();
		uint64_t now_ms = (now - g->t0) / g->tsc_per_ms;
		uint64_t busy, room, can_send;
		uint16_t n;

		if (fg_done(g, now) || now >= deadline)
			break;
		/* once a millisecond: has the link gone down (memif server gone)? */
		if (now_ms != g->link_ms) {
			g->link_ms = now_ms;
			if (!fg_link_up()) {
				if (fg_reconnect(g, deadline) != 0)
					break;
				continue;
			}
		}
		/* drain first: a delayed resend added below lands within the next 1000 slots */
		if (g->wheel_ms <= now_ms)
			fg_wheel_drain(g, now_ms);
		n = fg_rx_burst(rx, FG_BURST);
		for (uint16_t i = 0; i < n; i++)
			fg_rx_one(g, rx[i], now, now_ms);
		if (n > 0)
			rte_pktmbuf_free_bulk(rx, n);
		fg_tmo_check(g, now);

		if (g->o.no_reply) {
			room = FG_BURST; /* no window */
		} else {
			busy = g->outstanding + g->npend;
			room = busy < g->o.window ? g->o.window - busy : 0;
		}
		can_send = FG_BURST;
		if (g->o.rate != 0)
			can_send = RTE_MIN(can_send, fg_bucket_fill(g, &bucket, now));
		if (g->o.line_rate != 0) {
			if (g->flood_next < g->flood_total || g->npend > 0)
				fg_line_tx(g, now);
		} else if (room > 0 || g->npend > 0) {
			uint16_t s = fg_tx(g, room, can_send, now);

			if (g->o.rate != 0)
				bucket.tokens -= (uint64_t)s * g->hz;
		}
		if (now >= next_progress) {
			if (g->o.progress)
				fg_progress(g, now);
			next_progress += FG_PROGRESS_MS * g->tsc_per_ms;
			if (next_progress < now)
				next_progress = now + FG_PROGRESS_MS * g->tsc_per_ms;
		}
	}
}
