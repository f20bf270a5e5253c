/* libFuzzer target: one raw frame through the worker's receive path to its reply, checked. */
#define ALLOW_EXPERIMENTAL_API 1 /* rte_ipv4_udptcp_cksum_verify */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "../claimenv.h"
#include "../rmtree.h"
#include "claim.h"
#include "counters.h"
#include "fcp.h"
#include "frame.h"
#include "journal.h"
#include "ratelimit.h"
#include "sale.h"

/*
 * Input: one flags byte, then the frame. The flags only repair checksums before the frame is
 * handled (so mutations reach the layers behind them) and pick the worker; what runs on the
 * frame is exactly handle_pkt() of dataplane/worker.c. tests/fuzz/make_corpus.py writes seeds
 * in this layout with the same addresses and sales.
 */
#define FZ_FIX_IP 0x01u	  /* recompute the IPv4 header checksum */
#define FZ_FIX_L4 0x02u	  /* recompute the UDP (or ICMP) checksum */
#define FZ_ZERO_UDP 0x04u /* UDP checksum 0 (absent) */
#define FZ_WORKER1 0x08u  /* handled by worker 1 instead of 0 */
#define FZ_TIME 0x30u	  /* the instant: FZ_NOW_MS, a start, an end, the token vectors' expiry */

#define FZ_NODE 3
#define FZ_WORKERS 2
#define FZ_NOW_MS 1798000000000ll    /* before the PROTOCOL.md token vectors' expiry */
#define FZ_EXPIRY_MS 1798761600000ll /* the vectors' token_expiry, in ms */
#define FZ_HOUR_MS 3600000ll
#define FZ_RESET_EVERY 4096u	   /* runs between two fresh sale tables */
#define FZ_JOURNAL_MAX_SEQ 100000u /* a fresh journal after this many orders */

/* Sales (make_corpus.py names the same ids). */
enum {
	FZ_SALE_OPEN = 1,     /* open, in its window, stock FZ_STOCK */
	FZ_SALE_TOKEN = 42,   /* token, key 00..0f (PROTOCOL.md vectors), stock FZ_STOCK */
	FZ_SALE_PENDING = 3,  /* open, starts in an hour */
	FZ_SALE_STOPPED = 4,  /* open, stopped by the operator */
	FZ_SALE_NO_LEASE = 5, /* open, in its window, nothing leased yet: RETRY */
};
#define FZ_STOCK 3u

static const struct fs_frame_cfg fz_cfg = {
	.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02},
	.ip = RTE_BE32(0x0a000002), /* 10.0.0.2 */
	.udp_port = FS_FCP_PORT,
};
/* the token sale's previous key (the vectors'), valid until FZ_PREV_UNTIL_MS, and its current */
static const uint8_t fz_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t fz_key2[16] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
	0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
#define FZ_PREV_UNTIL_MS (FZ_NOW_MS + FZ_HOUR_MS)
/* per-source limits: the table's default, and the token sale's own (tight) */
#define FZ_RL_RATE 1000u
#define FZ_RL_BURST 16u
#define FZ_RL_TOKEN_RATE 1u
#define FZ_RL_TOKEN_BURST 2u

static char fz_dir[256];
static struct fs_sale_table fz_table;
static struct fs_journal *fz_journal[FZ_WORKERS];
static struct fs_ratelimit fz_rl[FZ_WORKERS];
static uint64_t fz_cnt[FZ_WORKERS][FS_CNT__COUNT];
static uint64_t fz_runs;
static uint64_t fz_table_runs; /* runs since the table was made: the clock moves 1 ms a run */
static const uint32_t fz_sales[] = {
	FZ_SALE_OPEN, FZ_SALE_TOKEN, FZ_SALE_PENDING, FZ_SALE_STOPPED, FZ_SALE_NO_LEASE};
#define FZ_N_SALES (sizeof(fz_sales) / sizeof(fz_sales[0]))
static uint64_t fz_won[FZ_N_SALES]; /* WON replies per sale since the table was made */

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_rx: invariant broken: %s (%s:%d)\n", #cond,          \
				__FILE__, __LINE__);                                               \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void fz_die(const char *what, int err)
{
	fprintf(stderr, "fuzz_rx: %s: %s\n", what, strerror(err));
	abort();
}

static void fz_cleanup(void)
{
	uint64_t sum[FS_CNT__COUNT] = {0};

	for (unsigned w = 0; w < FZ_WORKERS; w++)
		for (unsigned i = 0; i < FS_CNT__COUNT; i++)
			sum[i] += fz_cnt[w][i];
	fprintf(stderr, "fuzz_rx: runs=%llu", (unsigned long long)fz_runs);
	for (unsigned i = FS_CNT_CLAIMS; i < FS_CNT_DROPS; i++)
		fprintf(stderr, " %s=%llu", fs_counter_name((enum fs_counter)i),
			(unsigned long long)sum[i]);
	fprintf(stderr, "\n");
	for (unsigned w = 0; w < FZ_WORKERS; w++) {
		fs_journal_close(fz_journal[w]);
		fz_journal[w] = NULL;
	}
	fs_sale_table_fini(&fz_table);
	for (unsigned w = 0; w < FZ_WORKERS; w++)
		fs_ratelimit_fini(&fz_rl[w]);
	if (fz_dir[0] != '\0')
		fs_test_rmtree(fz_dir);
}

/* Fresh journals (their files removed) in fz_dir. */
static void fz_journals_open(void)
{
	for (unsigned w = 0; w < FZ_WORKERS; w++) {
		fs_journal_close(fz_journal[w]);
		fz_journal[w] = NULL;
	}
	fs_test_rmtree(fz_dir);
	if (mkdir(fz_dir, 0700) != 0 && errno != EEXIST)
		fz_die(fz_dir, errno);
	for (unsigned w = 0; w < FZ_WORKERS; w++) {
		fz_journal[w] = fs_journal_open(fz_dir, w);
		if (fz_journal[w] == NULL)
			fz_die("fs_journal_open", errno);
	}
}

static void fz_define(uint32_t id, uint8_t adm, int64_t start, int64_t end, uint64_t lease)
{
	struct fs_sale_def def = {
		.sale_id = id,
		.stock = FZ_STOCK,
		.start_ms = start,
		.end_ms = end,
		.admission = adm,
		.has_key = adm == FS_ADM_TOKEN,
	};
	int rc;

	memcpy(def.key, fz_key, sizeof(fz_key));
	if (id == FZ_SALE_TOKEN) {
		def.rl_set = true;
		def.rl_rate = FZ_RL_TOKEN_RATE;
		def.rl_burst = FZ_RL_TOKEN_BURST;
	} else if (id == FZ_SALE_NO_LEASE) {
		def.rl_set = true; /* its own limit: none */
	}
	rc = fs_sale_ctl_create(&fz_table, NULL, FZ_NODE, &def);
	if (rc != 0)
		fz_die("fs_sale_ctl_create", -rc);
	if (lease != 0 && (rc = fs_sale_ctl_lease(&fz_table, NULL, FZ_NODE, id, lease, true)) != 0)
		fz_die("fs_sale_ctl_lease", -rc);
}

/* A fresh sale table: every sale kind the claim path distinguishes. */
static void fz_table_make(void)
{
	int rc;

	fs_sale_table_fini(&fz_table);
	fs_sale_table_init(&fz_table, FZ_WORKERS);
	fz_table.rl_rate = FZ_RL_RATE;
	fz_table.rl_burst = FZ_RL_BURST;
	for (unsigned w = 0; w < FZ_WORKERS; w++) {
		fs_ratelimit_fini(&fz_rl[w]);
		if ((rc = fs_ratelimit_init(&fz_rl[w], 1 + w)) != 0)
			fz_die("fs_ratelimit_init", -rc);
	}
	/* the token sale runs past the vectors' expiry, so the expiry instant is inside it */
	fz_define(FZ_SALE_OPEN, FS_ADM_OPEN, FZ_NOW_MS - 1000, FZ_NOW_MS + FZ_HOUR_MS, FZ_STOCK);
	fz_define(
		FZ_SALE_TOKEN, FS_ADM_TOKEN, FZ_NOW_MS - 1000, FZ_EXPIRY_MS + FZ_HOUR_MS, FZ_STOCK);
	fz_define(FZ_SALE_PENDING, FS_ADM_OPEN, FZ_NOW_MS + FZ_HOUR_MS, FZ_NOW_MS + 2 * FZ_HOUR_MS,
		FZ_STOCK);
	fz_define(FZ_SALE_STOPPED, FS_ADM_OPEN, FZ_NOW_MS - 1000, FZ_NOW_MS + FZ_HOUR_MS, FZ_STOCK);
	if ((rc = fs_sale_ctl_stop(&fz_table, NULL, FZ_NODE, FZ_SALE_STOPPED)) != 0)
		fz_die("fs_sale_ctl_stop", -rc);
	/* key rotation: the vectors' key stays valid as the previous one for a while */
	rc = fs_sale_ctl_set_key(
		&fz_table, NULL, FZ_NODE, FZ_SALE_TOKEN, fz_key2, FZ_PREV_UNTIL_MS);
	if (rc != 0)
		fz_die("fs_sale_ctl_set_key", -rc);
	fz_define(FZ_SALE_NO_LEASE, FS_ADM_OPEN, FZ_NOW_MS - 1000, FZ_NOW_MS + FZ_HOUR_MS, 0);
	memset(fz_won, 0, sizeof(fz_won));
	fz_table_runs = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("FS_FUZZ_DIR"); /* scripts remove it even after a crash */

	(void)argc;
	(void)argv;
	snprintf(fz_dir, sizeof(fz_dir), "%s/fs-fuzz-rx.%d", base != NULL ? base : "/tmp",
		(int)getpid());
	fs_sale_table_init(&fz_table, FZ_WORKERS);
	fz_journals_open();
	fz_table_make();
	atexit(fz_cleanup);
	return 0;
}

/* ---- checksum repair of the input (bounds checked; never part of the path under test) ---- */

static void fz_repair(uint8_t *f, size_t len, unsigned flags)
{
	size_t l3 = 14, ihl, tot;
	struct rte_ipv4_hdr *ip;

	if (len < 14)
		return;
	if (f[12] == 0x81 && f[13] == 0x00)
		l3 = 18;
	if (len < l3 + 20 || f[l3 - 2] != 0x08 || f[l3 - 1] != 0x00)
		return;
	ip = (struct rte_ipv4_hdr *)(f + l3);
	ihl = (size_t)(f[l3] & 0x0f) * 4;
	if (ihl < 20 || len < l3 + ihl)
		return;
	tot = rte_be_to_cpu_16(ip->total_length);
	if ((flags & (FZ_FIX_L4 | FZ_ZERO_UDP)) && tot >= ihl + 8 && l3 + tot <= len) {
		uint8_t *l4 = f + l3 + ihl;
		size_t l4_len = tot - ihl;

		if (ip->next_proto_id == IPPROTO_UDP) {
			struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;
			size_t ulen = rte_be_to_cpu_16(udp->dgram_len);

			udp->dgram_cksum = 0;
			if ((flags & FZ_FIX_L4) && ulen >= 8 && ulen <= l4_len) {
				/* RFC 768 over the UDP length, as the receiver checks it */
				struct {
					rte_be32_t src, dst;
					uint8_t zero, proto;
					rte_be16_t len;
				} __rte_packed psd = {
					ip->src_addr, ip->dst_addr, 0, IPPROTO_UDP, udp->dgram_len};
				uint32_t sum = __rte_raw_cksum(&psd, sizeof(psd), 0);
				uint16_t c;

				sum = __rte_raw_cksum(l4, ulen, sum);
				c = (uint16_t)~__rte_raw_cksum_reduce(sum);
				udp->dgram_cksum = c == 0 ? 0xffff : c;
			}
		} else if (ip->next_proto_id == IPPROTO_ICMP && (flags & FZ_FIX_L4)) {
			l4[2] = l4[3] = 0;
			uint16_t c = (uint16_t)~rte_raw_cksum(l4, l4_len);

			memcpy(l4 + 2, &c, 2);
		}
	}
	if (flags & FZ_FIX_IP) {
		ip->hdr_checksum = 0;
		ip->hdr_checksum = (uint16_t)~rte_raw_cksum(ip, ihl);
	}
}

/* ---- invariants of a reply ---- */

static void fz_check_ipv4(const uint8_t *f, uint32_t rlen, uint32_t l3, uint8_t proto)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(f + l3);

	FZ_CHECK(rlen >= l3 + 20);
	FZ_CHECK(ip->version_ihl == 0x45);
	FZ_CHECK(ip->next_proto_id == proto);
	FZ_CHECK(rte_be_to_cpu_16(ip->total_length) == rlen - l3);
	FZ_CHECK(rte_raw_cksum(ip, 20) == 0xffff);
	FZ_CHECK(ip->src_addr == fz_cfg.ip);
}

/* The reply as its addressee sees it: a valid FCP/1 reply to the request, checksums right. */
static void fz_check_fcp_reply(const uint8_t *f, uint32_t rlen, const struct fs_frame_info *info,
	const struct fs_fcp_req *req, const struct fs_fcp_reply *rep)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(f + info->l3_off);
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
	struct fs_frame_cfg peer;
	struct fs_frame_info pinfo;
	struct fs_fcp_reply back;

	FZ_CHECK(rlen == (uint32_t)info->l3_off + 20 + 8 + FS_FCP_LEN);
	fz_check_ipv4(f, rlen, info->l3_off, IPPROTO_UDP);
	FZ_CHECK(rte_be_to_cpu_16(udp->dgram_len) == 8 + FS_FCP_LEN);
	FZ_CHECK(udp->dgram_cksum != 0);
	FZ_CHECK(rte_ipv4_udptcp_cksum_verify(ip, udp) == 0);
	FZ_CHECK(rte_be_to_cpu_16(udp->src_port) == fz_cfg.udp_port);
	FZ_CHECK(udp->dst_port != 0); /* a source that cannot be answered got an answer */

	/* The peer classifies it as an FCP datagram for itself and decodes the same reply. */
	memcpy(peer.mac, f, 6);
	peer.ip = ip->dst_addr;
	peer.udp_port = rte_be_to_cpu_16(udp->dst_port);
	FZ_CHECK(fs_frame_classify(&peer, f, rlen, &pinfo) == FS_FRAME_FCP);
	FZ_CHECK(pinfo.l3_off == info->l3_off && pinfo.payload_off == info->l3_off + 28);
	FZ_CHECK(fs_fcp_decode_reply(f + pinfo.payload_off, FS_FCP_LEN, &back) == 0);
	FZ_CHECK(back.request_id == req->request_id && back.sale_id == req->sale_id);
	FZ_CHECK(back.user_id == req->user_id && back.status == rep->status);
	FZ_CHECK(back.type ==
		 (req->type == FS_FCP_CLAIM ? FS_FCP_CLAIM_RESULT : FS_FCP_SALE_STATUS_RESULT));
	FZ_CHECK(back.node_id == FZ_NODE);
}

/* What the claim path must have answered, from the sale's state before the request. */
static void fz_check_status(const struct fs_fcp_req *req, const uint8_t raw[48],
	const struct fs_fcp_reply *rep, int64_t now, uint32_t src_ip, bool had_winner,
	uint64_t had_order)
{
	const struct fs_sale *s = fs_sale_lookup(&fz_table, req->sale_id);
	bool claim = req->type == FS_FCP_CLAIM;
	uint8_t st = rep->status;
	uint32_t rate, burst;

	if (s == NULL) {
		FZ_CHECK(st == FS_ST_UNKNOWN_SALE && rep->remaining == 0);
		return;
	}
	FZ_CHECK(st != FS_ST_UNKNOWN_SALE);
	FZ_CHECK(claim ? st != FS_ST_ACTIVE
		       : (st == FS_ST_ACTIVE || st == FS_ST_SOLD_OUT || st == FS_ST_NOT_STARTED ||
				 st == FS_ST_ENDED || st == FS_ST_RATE_LIMITED));
	/* per-source limits: only where one applies, with a wait */
	fs_sale_limits(&fz_table, s, &rate, &burst);
	if (st == FS_ST_RATE_LIMITED) {
		FZ_CHECK(rate != 0 && src_ip != 0 && rep->retry_after_ms >= 1);
		return;
	}
	/* the window: start inclusive, end exclusive, a stop ends it */
	if (s->stopped || now >= s->end_ms)
		FZ_CHECK(st == FS_ST_ENDED);
	else if (now < s->start_ms)
		FZ_CHECK(st == FS_ST_NOT_STARTED &&
			 rep->retry_after_ms == (uint32_t)(s->start_ms - now));
	else
		FZ_CHECK(st != FS_ST_ENDED && st != FS_ST_NOT_STARTED);
	FZ_CHECK(rep->remaining == (st == FS_ST_SOLD_OUT ? 0 : fs_stock_remaining(&s->stock)));
	if (!claim)
		return;
	/* admission: a unit or an order only with a token that verifies (the current key, or the
	 * previous one before its deadline), in time, for this node */
	if (s->admission == FS_ADM_TOKEN && (st == FS_ST_WON || st == FS_ST_ALREADY_WON))
		FZ_CHECK((fs_fcp_token_verify(fz_key2, raw) ||
				 (fs_fcp_token_verify(fz_key, raw) && now <= FZ_PREV_UNTIL_MS)) &&
			 (int64_t)req->token_expiry >= now / 1000 &&
			 (req->node_id == 0 || req->node_id == FZ_NODE));
	/* one unit per user: a winner gets its first order back, a new user never does */
	if (had_winner && st != FS_ST_ENDED && st != FS_ST_NOT_STARTED && st != FS_ST_BAD_TOKEN)
		FZ_CHECK(st == FS_ST_ALREADY_WON && rep->order_id == had_order);
	if (!had_winner)
		FZ_CHECK(st != FS_ST_ALREADY_WON);
	if (st == FS_ST_WON || st == FS_ST_ALREADY_WON)
		FZ_CHECK(rep->order_id != 0);
}

/* Never oversold; every unit sold is a WON that was answered. */
static void fz_check_stock(void)
{
	for (unsigned i = 0; i < FZ_N_SALES; i++) {
		const struct fs_sale *s = fs_sale_lookup(&fz_table, fz_sales[i]);

		FZ_CHECK(s != NULL);
		FZ_CHECK(fs_stock_sold(&s->stock) <= s->total);
		FZ_CHECK(fs_stock_sold(&s->stock) <= s->stock.leased);
		FZ_CHECK(fs_stock_sold(&s->stock) == fz_won[i]);
		FZ_CHECK(fs_winners_count(s->winners) == fz_won[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags, w;
	uint8_t *f;
	uint32_t len, rlen = 0;
	struct fs_frame_info info;
	struct fs_claim_env env;
	int64_t now;

	if (size < 1 || size - 1 > UINT16_MAX)
		return -1;
	flags = data[0];
	w = (flags & FZ_WORKER1) ? 1 : 0;
	len = (uint32_t)(size - 1);
	/* exactly len bytes on the heap: ASan reports any read or write past the frame */
	f = malloc(len ? len : 1);
	if (f == NULL)
		return 0;
	memcpy(f, data + 1, len);
	fz_repair(f, len, flags);

	/* state carries over between runs (sold out, already won), renewed now and then */
	if (++fz_runs % FZ_RESET_EVERY == 0) {
		if (fs_journal_next_seq(fz_journal[0]) > FZ_JOURNAL_MAX_SEQ ||
			fs_journal_next_seq(fz_journal[1]) > FZ_JOURNAL_MAX_SEQ)
			fz_journals_open();
		fz_table_make();
	}
	switch (flags & FZ_TIME) {
	case 0x10:
		now = FZ_NOW_MS + FZ_HOUR_MS; /* the pending sale's start, the open sales' end */
		break;
	case 0x20:
		now = FZ_NOW_MS + FZ_HOUR_MS - 1;
		break;
	case 0x30:
		now = FZ_EXPIRY_MS + 999; /* the vectors' expiry second: still valid */
		break;
	default:
		now = FZ_NOW_MS + (int64_t)fz_table_runs; /* buckets refill */
		break;
	}
	fz_table_runs++;
	env = fs_test_claim_env(FZ_NODE, w, fz_journal, FZ_WORKERS, fz_cnt[w], now);
	env.rl = &fz_rl[w];

	/* dataplane/worker.c handle_pkt() */
	switch (fs_frame_classify(&fz_cfg, f, len, &info)) {
	case FS_FRAME_FCP: {
		const uint8_t *payload = f + info.payload_off;
		struct fs_fcp_req req;
		struct fs_fcp_reply rep;
		uint64_t seq0 = fs_journal_next_seq(env.journal);
		const struct fs_sale *s;
		uint64_t had_order = 0;
		bool had_winner = false;
		uint8_t raw[FS_FCP_LEN];
		enum fs_fcp_err err;

		FZ_CHECK(info.payload_off + FS_FCP_LEN <= len);
		err = fs_fcp_parse(payload, FS_FCP_LEN, &req);
		if (err != FS_FCP_OK)
			break;
		memcpy(raw, payload, sizeof(raw)); /* the reply overwrites the frame */
		/* the IPv4 source address (network byte order) keys the per-source rate limit */
		memcpy(&env.src_ip, f + info.l3_off + 12, sizeof(env.src_ip));
		s = fs_sale_lookup(&fz_table, req.sale_id);
		if (s != NULL)
			had_winner = fs_winners_find(s->winners, req.user_id, &had_order) ==
				     FS_WIN_FOUND;
		fs_claim(&fz_table, &env, &req, payload, &rep);
		fz_check_status(&req, raw, &rep, now, env.src_ip, had_winner, had_order);
		rlen = fs_frame_fcp_answer(&fz_cfg, f, &info, &rep);
		FZ_CHECK(rlen <= len);
		fz_check_fcp_reply(f, rlen, &info, &req, &rep);
		if (rep.status == FS_ST_WON) {
			/* the order is in the journal before the WON: exactly one record */
			FZ_CHECK(fs_journal_next_seq(env.journal) == seq0 + 1);
			FZ_CHECK(rep.order_id == FS_ORDER_ID(FZ_NODE, w, seq0));
			FZ_CHECK(req.type == FS_FCP_CLAIM);
			FZ_CHECK(req.sale_id != FZ_SALE_STOPPED && req.sale_id != FZ_SALE_NO_LEASE);
			for (unsigned i = 0; i < FZ_N_SALES; i++)
				fz_won[i] += fz_sales[i] == req.sale_id;
		} else {
			FZ_CHECK(fs_journal_next_seq(env.journal) == seq0);
			FZ_CHECK(rep.order_id == 0 || rep.status == FS_ST_ALREADY_WON);
		}
		FZ_CHECK(rep.status < FS_ST__COUNT);
		break;
	}
	case FS_FRAME_ARP:
		rlen = fs_frame_arp_reply(&fz_cfg, f, &info);
		FZ_CHECK(rlen <= len && rlen == (uint32_t)info.l3_off + 28);
		FZ_CHECK(memcmp(f + 6, fz_cfg.mac, 6) == 0);
		FZ_CHECK(f[info.l3_off + 7] == 2); /* opcode reply */
		break;
	case FS_FRAME_ICMP:
		rlen = fs_frame_icmp_reply(&fz_cfg, f, len, &info);
		FZ_CHECK(rlen <= len);
		fz_check_ipv4(f, rlen, info.l3_off, IPPROTO_ICMP);
		FZ_CHECK(f[info.l3_off + 20] == 0); /* echo reply */
		FZ_CHECK(rte_raw_cksum(f + info.l3_off + 20, rlen - info.l3_off - 20) == 0xffff);
		break;
	case FS_FRAME_DROP:
		FZ_CHECK(info.drop > FS_DROP_NONE && info.drop < FS_DROP__COUNT);
		break;
	default:
		FZ_CHECK(!"unknown frame kind");
	}
	fz_check_stock();
	free(f);
	return 0;
}
