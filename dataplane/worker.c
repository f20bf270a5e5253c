/* Worker lcores: RX burst, classify, answer ARP/ICMP/FCP in place, one TX burst per queue. */
#include <sched.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "claim.h"
#include "clock.h"
#include "fcp.h"
#include "frame.h"
#include "log.h"
#include "pending.h"
#include "unmap_guard.h"
#include "verify.h"
#include "worker.h"

/* main: wo (release, once, at shutdown), workers: ro (acquire, every loop turn) */
static bool worker_stop;

/* FCP parse errors to their drop reasons */
static const enum fs_drop fcp_drop[] = {
	[FS_FCP_OK] = FS_DROP_NONE,
	[FS_FCP_ERR_LEN] = FS_DROP_FCP_LEN,
	[FS_FCP_ERR_MAGIC] = FS_DROP_FCP_MAGIC,
	[FS_FCP_ERR_VERSION] = FS_DROP_FCP_VERSION,
	[FS_FCP_ERR_TYPE] = FS_DROP_FCP_TYPE,
	[FS_FCP_ERR_FLAGS] = FS_DROP_FCP_FLAGS,
};
_Static_assert(RTE_DIM(fcp_drop) == FS_FCP_ERR_FLAGS + 1, "a drop reason per FCP parse error");

/* Counters of one loop turn, added to the worker's fs_lcore_stats once. */
struct turn_cnt {
	uint64_t cnt[FS_CNT__COUNT];
	uint64_t drop[FS_DROP__COUNT];
};

void fs_worker_assign(
	struct fs_worker *w, unsigned index, const struct fs_port *ports, unsigned n_ports)
{
	unsigned i;

	FS_VERIFY(n_ports <= FS_MAX_PORTS); /* fs_port_setup_all serves no more */
	w->n_rxq = 0;
	for (i = 0; i < n_ports; i++) {
		if (index >= ports[i].nb_queues)
			continue;
		w->rxq[w->n_rxq].port_id = ports[i].port_id;
		w->rxq[w->n_rxq].queue_id = (uint16_t)index;
		w->rxq[w->n_rxq].cfg = &ports[i].cfg;
		w->n_rxq++;
	}
}

void fs_worker_request_stop(void)
{
	__atomic_store_n(&worker_stop, true, __ATOMIC_RELEASE);
}

static inline void count_drop(struct turn_cnt *tc, enum fs_drop d)
{
	tc->drop[d]++;
	tc->cnt[FS_CNT_DROPS]++;
}

/* What the first pass over a burst learned about one received frame. */
struct rx_meta {
	enum fs_frame_kind kind;
	struct fs_frame_info info; /**< info.drop set when kind is FS_FRAME_DROP */
	struct fs_fcp_req req;     /**< FS_FRAME_FCP: the parsed request */
	struct fs_sale *sale;      /**< FS_FRAME_FCP: its sale, NULL if unknown */
};

/*
 * First pass, one frame: classify and parse it, look its sale up once (the second pass claims
 * against that pointer: a deleted sale is freed only after every worker has ended the loop turn
 * it was in, fs_unmap_guard_synchronize); for a claim, prefetch the
 * winner-table slot the second pass will probe (the table is larger than the cache: each probe
 * is otherwise a miss).
 */
static inline void rx_classify(const struct fs_worker *w, const struct fs_frame_cfg *cfg,
	struct rte_mbuf *m, struct rx_meta *rm)
{
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	enum fs_fcp_err err;

	if (unlikely(m->data_len != m->pkt_len)) {
		/* a chained mbuf: the headers are not contiguous; we never build such replies */
		rm->kind = FS_FRAME_DROP;
		rm->info.drop = FS_DROP_TRUNCATED;
		return;
	}
	rm->kind = fs_frame_classify(cfg, data, m->data_len, &rm->info);
	if (rm->kind != FS_FRAME_FCP)
		return;
	err = fs_fcp_parse(data + rm->info.payload_off, FS_FCP_LEN, &rm->req);
	if (unlikely(err != FS_FCP_OK)) {
		rm->kind = FS_FRAME_DROP;
		rm->info.drop = fcp_drop[err];
		return;
	}
	rm->sale = fs_sale_lookup(w->table, rm->req.sale_id);
	if (likely(rm->sale != NULL && rm->req.type == FS_FCP_CLAIM))
		fs_winners_prefetch(rm->sale->winners, rm->req.user_id);
}

/*
 * Second pass, one frame: turn it into its reply in place. Returns true if @p m is to be sent,
 * false if it was dropped (and freed here). *won: the order id if the reply is a WON (its IPv4
 * header at *l3_off), else left as it was.
 */
static inline bool handle_pkt(struct fs_worker *w, const struct fs_frame_cfg *cfg,
	struct rte_mbuf *m, struct rx_meta *rm, struct turn_cnt *tc, uint64_t *won, uint16_t *l3_off)
{
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len;

	switch (rm->kind) {
	case FS_FRAME_FCP: {
		struct fs_fcp_reply rep;

		/* the IPv4 source address (network byte order) keys the per-source rate limit */
		memcpy(&w->env.src_ip, data + rm->info.l3_off + 12, sizeof(w->env.src_ip));
		fs_claim_sale(w->table, rm->sale, &w->env, &rm->req, data + rm->info.payload_off,
			&rep);
		len = fs_frame_fcp_answer(cfg, data, &rm->info, &rep);
		if (rep.status == FS_ST_WON) {
			*won = rep.order_id;
			*l3_off = rm->info.l3_off;
		}
		break;
	}
	case FS_FRAME_ARP:
		len = fs_frame_arp_reply(cfg, data, &rm->info);
		tc->cnt[FS_CNT_ARP_REPLIES]++;
		break;
	case FS_FRAME_ICMP:
		len = fs_frame_icmp_reply(cfg, data, m->data_len, &rm->info);
		tc->cnt[FS_CNT_ICMP_REPLIES]++;
		break;
	case FS_FRAME_DROP:
	default:
		count_drop(tc, rm->info.drop);
		rte_pktmbuf_free(m);
		return false;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return true;
}

/* The WON replies of one burst, for the group commit. */
struct burst_won {
	uint16_t n;
	uint16_t tx[FS_BURST]; /* each one's index in the burst's tx[] */
	uint16_t l3[FS_BURST]; /* its IPv4 header's offset */
	uint64_t seq[FS_BURST]; /* the journal seq of its ORDER record */
};

/*
 * Group commit (--journal-sync fsync): the burst's WONs leave tx[] for the worker's ring of held
 * replies (pending.h), to go out once their records are durable (held_flush). The ring has room:
 * env.won_full refused every WON of a burst that might not fit.
 */
static inline void won_hold(struct fs_worker *w, uint8_t q, struct rte_mbuf **tx, uint16_t *nb_tx,
	const struct burst_won *won)
{
	uint16_t i, kept = 0;

	for (i = 0; i < won->n; i++) {
		FS_VERIFY(fs_pending_push(w->held, tx[won->tx[i]], won->seq[i], won->l3[i], q) == 0);
		tx[won->tx[i]] = NULL;
	}
	for (i = 0; i < *nb_tx; i++)
		if (tx[i] != NULL)
			tx[kept++] = tx[i];
	*nb_tx = kept;
}

/* Send @p n replies taken from the ring, each on the TX queue of its rxq. */
static void held_send(struct fs_worker *w, const struct fs_pending_ent *e, uint32_t n,
	struct turn_cnt *tc)
{
	struct rte_mbuf *tx[FS_BURST];
	unsigned q;

	for (q = 0; q < w->n_rxq; q++) {
		uint16_t nb = 0, sent;
		uint32_t i;

		for (i = 0; i < n; i++)
			if (e[i].q == q)
				tx[nb++] = e[i].m;
		if (nb == 0)
			continue;
		sent = rte_eth_tx_burst(w->rxq[q].port_id, w->rxq[q].queue_id, tx, nb);
		tc->cnt[FS_CNT_TX_PKTS] += sent;
		if (unlikely(sent < nb)) {
			tc->cnt[FS_CNT_TX_DROPPED] += (uint64_t)(nb - sent);
			rte_pktmbuf_free_bulk(&tx[sent], nb - sent);
		}
	}
}

/*
 * The group sync failed (fs_journal_group_writer returned @p rc): no held WON leaves as a WON.
 * Each becomes a RETRY (FS_RETRY_JOURNAL_MS, fs_frame_won_to_retry), counted as a journal error:
 * the order stays in the journal and the winner table, not durable, and the client's retries get
 * RETRY until a sync covers it (fs_journal_durable), then ALREADY_WON. A WON that cannot be
 * rewritten (never seen: we built it) is dropped, counted as tx_dropped, not sent. The journal
 * refuses new orders (fs_journal_ready) until the group-commit thread has written the records
 * anew and synced them. Logged once per episode. Off the claim path.
 */
static void __rte_cold __rte_noinline held_failed(struct fs_worker *w, int rc, struct turn_cnt *tc)
{
	struct fs_pending_ent e[FS_BURST];
	uint32_t n, i;

	if (!w->journal_failing) {
		w->journal_failing = true;
		FS_LOG(ERR,
			"journal %u: sync failed (%s): WON replies are sent as RETRY until it "
			"works again",
			w->env.worker, strerror(-rc));
		tc->cnt[FS_CNT_JOURNAL_ERRORS]++; /* the failure counts once even with no WON held */
	}
	while ((n = fs_pending_pop_all(w->held, e, FS_BURST)) != 0) {
		uint32_t kept = 0;

		for (i = 0; i < n; i++) {
			struct rte_mbuf *m = e[i].m;

			if (fs_frame_won_to_retry(rte_pktmbuf_mtod(m, uint8_t *), m->data_len,
				    e[i].l3, FS_RETRY_JOURNAL_MS) == 0) {
				e[kept++] = e[i];
				continue;
			}
			rte_pktmbuf_free(m);
			tc->cnt[FS_CNT_TX_DROPPED]++;
		}
		/* counted WON when answered (maybe in an earlier turn): the sum stays right, as
		 * stats_add adds modulo 2^64 */
		tc->cnt[FS_CNT_ST_WON] -= n;
		tc->cnt[FS_CNT_ST_RETRY] += kept;
		tc->cnt[FS_CNT_JOURNAL_ERRORS] += n;
		held_send(w, e, kept, tc);
	}
}

/*
 * Prefetch the held replies after the first @p from that may leave too (FS_BURST of them): their
 * mbufs were built milliseconds ago, out of every cache by now (16384 held are 37 MiB), and the
 * TX burst reads each one's header and copies its frame. The frame is assumed where an mbuf of a
 * pool without private area has it (a hint: a wrong guess costs a useless load).
 */
static inline void held_prefetch(struct fs_worker *w, uint32_t from, uint64_t durable)
{
	const struct fs_pending_ent *e;
	uint32_t i;

	for (i = from; i < from + FS_BURST; i++) {
		const char *m;

		e = fs_pending_peek_durable(w->held, i, durable);
		if (e == NULL)
			break;
		m = (const char *)e->m;
		rte_prefetch0(m);
		rte_prefetch0(m + RTE_CACHE_LINE_SIZE);
		rte_prefetch0(m + sizeof(struct rte_mbuf) + RTE_PKTMBUF_HEADROOM);
	}
}

/*
 * Send the held WONs whose records are durable at @p durable, oldest first, in runs of one TX
 * queue (FS_BURST at most). A TX burst that takes less than it was given ends it: the rest stay
 * held for the next turn, in order, so a TX ring the peer drains slower than a group commit
 * frees its WONs (16384 at once) drops none. Returns the replies sent.
 */
static inline uint32_t held_send_durable(struct fs_worker *w, uint64_t durable, struct turn_cnt *tc)
{
	const struct fs_pending_ent *e = fs_pending_peek_durable(w->held, 0, durable);
	struct rte_mbuf *tx[FS_BURST];
	uint32_t total = 0;
	uint64_t tsc;

	if (e == NULL)
		return 0; /* nothing durable yet (most turns): no clock read */
	/* the sends are the claims' work too: busy, like a burst's answers */
	tsc = rte_rdtsc();
	do {
		const struct fs_rxq *rq = &w->rxq[e->q];
		uint8_t q = e->q;
		uint16_t nb = 0, sent;

		do
			tx[nb++] = e->m;
		while (nb < FS_BURST && (e = fs_pending_peek_durable(w->held, nb, durable)) != NULL &&
			e->q == q);
		held_prefetch(w, nb, durable);
		sent = rte_eth_tx_burst(rq->port_id, rq->queue_id, tx, nb);
		fs_pending_drop(w->held, sent);
		tc->cnt[FS_CNT_TX_PKTS] += sent;
		total += sent;
		if (sent < nb)
			break; /* the TX ring is full: the rest next turn */
	} while ((e = fs_pending_peek_durable(w->held, 0, durable)) != NULL);
	tc->cnt[FS_CNT_BUSY_CYCLES] += rte_rdtsc() - tsc;
	return total;
}

/*
 * Once per loop turn in fsync mode: publish what the journal appended to the group-commit
 * thread, send the held WONs whose records it made durable (held_send_durable), or, if its sync
 * failed, turn them all into RETRY. Returns the replies it sent (0: idle).
 */
static inline uint32_t held_flush(struct fs_worker *w, struct turn_cnt *tc)
{
	uint32_t total;
	uint64_t durable;
	int rc = fs_journal_group_writer(w->journal, &durable);

	if (unlikely(rc != 0)) {
		total = fs_pending_count(w->held);
		held_failed(w, rc, tc);
		return total;
	}
	return held_send_durable(w, durable, tc);
}

/*
 * Answer the burst's @p nb_rx frames (classified in @p meta) into @p tx, in arrival order; in
 * fsync mode the WONs are noted in @p won for the group commit (won->n stays 0 otherwise).
 * Returns how many replies are in @p tx.
 */
static inline uint16_t burst_answer(struct fs_worker *w, const struct fs_rxq *q,
	struct rte_mbuf **pkts, struct rx_meta *meta, uint16_t nb_rx, struct rte_mbuf **tx,
	struct burst_won *won, struct turn_cnt *tc)
{
	uint16_t i, nb_tx = 0;

	won->n = 0;
	for (i = 0; i < nb_rx; i++) {
		uint64_t order = 0;
		uint16_t l3 = 0;

		if (!handle_pkt(w, q->cfg, pkts[i], &meta[i], tc, &order, &l3))
			continue;
		if (order != 0 && w->held != NULL) { /* only fsync mode holds WONs back */
			won->l3[won->n] = l3;
			won->seq[won->n] = FS_ORDER_SEQ(order);
			won->tx[won->n++] = nb_tx;
		}
		tx[nb_tx++] = pkts[i];
	}
	return nb_tx;
}

/* Poll one (port, queue): one RX burst, its replies in one TX burst. Returns mbufs received. */
static inline uint16_t poll_rxq(struct fs_worker *w, const struct fs_rxq *q, struct turn_cnt *tc)
{
	struct rte_mbuf *pkts[FS_BURST];
	struct rte_mbuf *tx[FS_BURST];
	struct rx_meta meta[FS_BURST];
	struct burst_won won;
	uint16_t nb_rx, nb_tx, sent, i;
	uint64_t tsc;

	nb_rx = rte_eth_rx_burst(q->port_id, q->queue_id, pkts, FS_BURST);
	if (nb_rx == 0)
		return 0;
	tc->cnt[FS_CNT_RX_PKTS] += nb_rx;
	tc->cnt[FS_CNT_RX_BURSTS]++;
	/* fsync mode: no claim of this burst wins unless its WON fits in the ring */
	if (w->held != NULL)
		w->env.won_full = fs_pending_room(w->held) < nb_rx;

	/* one clock read per burst: every claim of the burst sees the same instant; never earlier
	 * than the last burst's (but for a step of the system clock back) */
	tsc = rte_rdtsc();
	w->env.now_ns = fs_clock_mono(fs_clock_now_ns(tsc), w->env.now_ns);
	w->env.now_ms = (int64_t)(w->env.now_ns / 1000000u);
	w->env.rem_sale = NULL; /* `remaining` is read from the slices once per burst and sale */

	/* Pass 1: classify and parse, frame data prefetched ahead, winner slots prefetched. */
	for (i = 0; i < nb_rx && i < FS_PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < nb_rx; i++) {
		if (i + FS_PREFETCH_AHEAD < nb_rx)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + FS_PREFETCH_AHEAD], void *));
		rx_classify(w, q->cfg, pkts[i], &meta[i]);
	}
	/* Pass 2: claim and reply in arrival order. */
	nb_tx = burst_answer(w, q, pkts, meta, nb_rx, tx, &won, tc);

	/* Group commit (--journal-sync fsync): the burst's WONs wait in the ring until their
	 * records are durable (held_flush); every other reply leaves now. */
	if (w->held != NULL && won.n != 0)
		won_hold(w, (uint8_t)(q - w->rxq), tx, &nb_tx, &won);
	if (nb_tx != 0) {
		sent = rte_eth_tx_burst(q->port_id, q->queue_id, tx, nb_tx);
		tc->cnt[FS_CNT_TX_PKTS] += sent;
		if (unlikely(sent < nb_tx)) {
			tc->cnt[FS_CNT_TX_DROPPED] += (uint64_t)(nb_tx - sent);
			rte_pktmbuf_free_bulk(&tx[sent], nb_tx - sent);
		}
	}
	tc->cnt[FS_CNT_BUSY_CYCLES] += rte_rdtsc() - tsc;
	return nb_rx;
}

/*
 * Add one turn's counters: owner-only stores, relaxed, inside a seqlock (seq odd meanwhile; the
 * C11 form of Boehm, "Can seqlocks get along with programming language memory models?", 2012):
 * a reader sees every counter of a turn or none, so rx_pkts never runs ahead of the drop or TX
 * counters of the same frames (malformed.sh read such a torn sum once). Once per loop turn.
 */
static void stats_add(struct fs_lcore_stats *st, const struct turn_cnt *tc)
{
	uint64_t seq = st->seq;
	unsigned i;

	__atomic_store_n(&st->seq, seq + 1, __ATOMIC_RELAXED);
	/* release fence: the odd seq is visible before any counter store below */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < FS_CNT__COUNT; i++)
		if (tc->cnt[i] != 0)
			__atomic_store_n(&st->cnt[i], st->cnt[i] + tc->cnt[i], __ATOMIC_RELAXED);
	for (i = 0; i < FS_DROP__COUNT; i++)
		if (tc->drop[i] != 0)
			__atomic_store_n(&st->drop[i], st->drop[i] + tc->drop[i], __ATOMIC_RELAXED);
	/* release: the counters are visible before the even seq */
	__atomic_store_n(&st->seq, seq + 2, __ATOMIC_RELEASE);
}

/*
 * Log, once per episode, that this worker's journal refuses orders (claim.c answers RETRY and
 * counts a journal error when fs_journal_append fails, e.g. -ENOSPC: the next segment cannot be
 * created), and once when orders are recorded again. Off the per-packet path: once per turn
 * that had a journal error or a WON.
 */
static void journal_health(struct fs_worker *w, const struct turn_cnt *tc)
{
	if (tc->cnt[FS_CNT_JOURNAL_ERRORS] != 0) {
		if (!w->journal_failing) {
			w->journal_failing = true;
			FS_LOG(ERR,
				"journal %u cannot record orders (segment %s): claims are "
				"answered RETRY until it can",
				w->env.worker,
				w->journal_fsync ? "roll-over or sync failed"
						 : "roll-over failed: state directory full?");
		}
	} else if (tc->cnt[FS_CNT_ST_WON] != 0 && w->journal_failing) {
		w->journal_failing = false;
		FS_LOG(NOTICE, "journal %u records orders again", w->env.worker);
	}
}

/*
 * At stop: the held WONs are freed unsent (their clients ask again and, once the records are
 * durable, hear ALREADY_WON, from this process or the next after recovery).
 */
static void held_drop(struct fs_worker *w, struct turn_cnt *tc)
{
	struct fs_pending_ent e[FS_BURST];
	uint32_t n, i;

	while ((n = fs_pending_pop_all(w->held, e, FS_BURST)) != 0)
		for (i = 0; i < n; i++) {
			rte_pktmbuf_free(e[i].m);
			tc->cnt[FS_CNT_TX_DROPPED]++;
		}
	stats_add(&w->stats, tc);
	memset(tc, 0, sizeof(*tc));
}

int fs_worker_main(void *arg)
{
	struct fs_worker *w = arg;
	unsigned qid = w->env.worker;
	struct turn_cnt tc;
	unsigned i;

	FS_LOG(INFO, "worker %u on lcore %u polls %u queue(s)", w->env.worker, rte_lcore_id(),
		w->n_rxq);
	/* a reader of the unmap guard (unmap_guard.h), online: quiescent at each loop turn */
	fs_unmap_guard_register(qid, true);
	/* fs_claim counts reply statuses through env.cnt: into this turn's local counters */
	w->env.cnt = tc.cnt;
	memset(&tc, 0, sizeof(tc));
	while (!__atomic_load_n(&worker_stop, __ATOMIC_ACQUIRE)) {
		uint32_t got = 0;

		/* between turns no burst is in progress and no sale pointer is held: memory a PMD
		 * unmaps, and a deleted sale, may go now */
		fs_unmap_guard_quiescent(qid);
		/* the durable WONs first: the TX rings are theirs before the new bursts' answers */
		if (w->held != NULL)
			got += held_flush(w, &tc);
		for (i = 0; i < w->n_rxq; i++)
			got += poll_rxq(w, &w->rxq[i], &tc);
		if (got == 0) {
			/* idle with WONs waiting for the disk: let the threads the sync needs run
			 * (the group-commit thread, the file system's and block layer's kernel
			 * workers), which a spinning lcore would hold off for a whole time slice */
			if (w->held != NULL && fs_pending_count(w->held) != 0)
				sched_yield();
			else
				rte_pause();
			continue;
		}
		if (unlikely(tc.cnt[FS_CNT_JOURNAL_ERRORS] != 0 || w->journal_failing))
			journal_health(w, &tc);
		stats_add(&w->stats, &tc);
		memset(&tc, 0, sizeof(tc));
	}
	if (w->held != NULL)
		held_drop(w, &tc);
	fs_unmap_guard_unregister(qid);
	w->env.cnt = w->stats.cnt;
	FS_LOG(INFO, "worker %u stopped", w->env.worker);
	return 0;
}

void fs_worker_stats_sum(const struct fs_worker *workers, unsigned n, struct fs_lcore_stats *out)
{
	unsigned w, i;

	memset(out, 0, sizeof(*out));
	for (w = 0; w < n; w++) {
		const struct fs_lcore_stats *st = &workers[w].stats;
		struct fs_lcore_stats snap;
		uint64_t s0, s1;

		/* a whole turn's counters or none (stats_add's seqlock); a turn is short */
		do {
			s0 = __atomic_load_n(&st->seq, __ATOMIC_ACQUIRE);
			for (i = 0; i < FS_CNT__COUNT; i++)
				snap.cnt[i] = __atomic_load_n(&st->cnt[i], __ATOMIC_RELAXED);
			for (i = 0; i < FS_DROP__COUNT; i++)
				snap.drop[i] = __atomic_load_n(&st->drop[i], __ATOMIC_RELAXED);
			/* acquire fence: the loads above complete before seq is read again */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s1 = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
		} while ((s0 & 1) != 0 || s0 != s1);
		for (i = 0; i < FS_CNT__COUNT; i++)
			out->cnt[i] += snap.cnt[i];
		for (i = 0; i < FS_DROP__COUNT; i++)
			out->drop[i] += snap.drop[i];
	}
}
