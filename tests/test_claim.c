/* Unit tests of claim.c: every status path of fs_claim, and one unit per user across workers. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "claim.h"
#include "claimenv.h"
#include "loop.h"
#include "testutil.h"

#define NODE 3
#define N_WORKERS 8
#define NOW_MS 1798000000000ll /* before the PROTOCOL.md vectors' expiry 1798761600 s */

static char tmpdir[64];
static struct fs_sale_table tab;
static struct fs_journal *jr[N_WORKERS];
static uint64_t cnt[N_WORKERS][FS_CNT__COUNT];
static int64_t tok_now; /* token_claim()'s clock */

static void setup(void)
{
	strcpy(tmpdir, "/tmp/coreb-claim-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	fs_sale_table_init(&tab, N_WORKERS);
	memset(cnt, 0, sizeof(cnt));
	tok_now = NOW_MS;
	for (unsigned i = 0; i < N_WORKERS; i++) {
		jr[i] = fs_journal_open(tmpdir, i);
		cr_assert_not_null(jr[i]);
	}
}

static void teardown(void)
{
	for (unsigned i = 0; i < N_WORKERS; i++)
		fs_journal_close(jr[i]);
	fs_sale_table_fini(&tab);
	fs_test_rmtree(tmpdir);
}

TestSuite(claim, .init = setup, .fini = teardown);

static struct fs_claim_env env_of(unsigned w, int64_t now_ms)
{
	return fs_test_claim_env(NODE, w, jr, N_WORKERS, cnt[w], now_ms);
}

/* Sale @p def created with @p leased of its units leased (final). */
static struct fs_sale *open_def(const struct fs_sale_def *def, uint64_t leased)
{
	cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, def), 0);
	cr_assert_eq(fs_sale_ctl_lease(&tab, NULL, NODE, def->sale_id, leased, true), 0);
	return fs_sale_lookup(&tab, def->sale_id);
}

/* An open sale of @p stock units, all leased (final), in its window around NOW_MS. */
static struct fs_sale *open_sale(uint32_t id, uint64_t stock)
{
	struct fs_sale_def def = {
		.sale_id = id, .stock = stock, .start_ms = NOW_MS - 1000, .end_ms = NOW_MS + 60000};

	return open_def(&def, stock);
}

/* Run one request through fs_claim; @p raw NULL means 48 zero bytes (open sales). */
static struct fs_fcp_reply do_req(
	unsigned w, int64_t now_ms, uint8_t type, uint32_t sale, uint64_t user, uint64_t request_id)
{
	struct fs_claim_env env = env_of(w, now_ms);
	struct fs_fcp_req req = {
		.type = type, .sale_id = sale, .user_id = user, .request_id = request_id};
	uint8_t raw[48] = {0};
	struct fs_fcp_reply rep;

	memset(&rep, 0xee, sizeof(rep)); /* fs_claim must fill every field */
	fs_claim(&tab, &env, &req, raw, &rep);
	cr_assert_eq(rep.sale_id, sale);
	cr_assert_eq(rep.user_id, user);
	cr_assert_eq(rep.request_id, request_id);
	cr_assert_eq(rep.node_id, NODE);
	cr_assert_eq(
		rep.type, type == FS_FCP_CLAIM ? FS_FCP_CLAIM_RESULT : FS_FCP_SALE_STATUS_RESULT);
	return rep;
}

static struct fs_fcp_reply claim(
	unsigned w, int64_t now_ms, uint32_t sale, uint64_t user, uint64_t request_id)
{
	return do_req(w, now_ms, FS_FCP_CLAIM, sale, user, request_id);
}

static struct fs_fcp_reply status(int64_t now_ms, uint32_t sale)
{
	return do_req(0, now_ms, FS_FCP_SALE_STATUS, sale, 0, 99);
}

Test(claim, unknown_sale)
{
	struct fs_fcp_reply rep;

	open_sale(1, 10);
	rep = claim(0, NOW_MS, 2, 5, 6);
	cr_assert_eq(rep.status, FS_ST_UNKNOWN_SALE);
	cr_assert_eq(rep.order_id, 0);
	cr_assert_eq(rep.remaining, 0);
	cr_assert_eq(rep.retry_after_ms, 0);
	cr_assert_eq(status(NOW_MS, 2).status, FS_ST_UNKNOWN_SALE);
	cr_assert_eq(cnt[0][FS_CNT_CLAIMS], 1);
	cr_assert_eq(cnt[0][FS_CNT_STATUS_REQS], 1);
	cr_assert_eq(cnt[0][FS_CNT_ST_UNKNOWN_SALE], 2);
}

Test(claim, not_started_with_retry_after)
{
	struct fs_sale *s = open_sale(1, 10);
	struct fs_fcp_reply rep;

	rep = claim(0, s->start_ms - 1500, 1, 5, 6);
	cr_assert_eq(rep.status, FS_ST_NOT_STARTED);
	cr_assert_eq(rep.retry_after_ms, 1500);
	cr_assert_eq(rep.remaining, 10);
	/* Saturates at 2^32-1 ms. */
	rep = claim(0, s->start_ms - (1ll << 40), 1, 5, 6);
	cr_assert_eq(rep.status, FS_ST_NOT_STARTED);
	cr_assert_eq(rep.retry_after_ms, UINT32_MAX);
	/* The start instant is inclusive. */
	rep = claim(0, s->start_ms, 1, 5, 6);
	cr_assert_eq(rep.status, FS_ST_WON);
	cr_assert_eq(cnt[0][FS_CNT_ST_NOT_STARTED], 2);
	cr_assert_eq(cnt[0][FS_CNT_ST_WON], 1);
}

Test(claim, ended_by_time)
{
	struct fs_sale *s = open_sale(1, 10);

	cr_assert_eq(claim(0, s->end_ms, 1, 5, 6).status, FS_ST_ENDED);
	cr_assert_eq(claim(0, s->end_ms + 100000, 1, 5, 6).status, FS_ST_ENDED);
	cr_assert_eq(claim(0, s->end_ms - 1, 1, 5, 6).status, FS_ST_WON);
	cr_assert_eq(cnt[0][FS_CNT_ST_ENDED], 2);
}

Test(claim, ended_by_stop)
{
	open_sale(1, 10);
	cr_assert_eq(claim(0, NOW_MS, 1, 5, 6).status, FS_ST_WON);
	cr_assert_eq(fs_sale_ctl_stop(&tab, NULL, NODE, 1), 0);
	cr_assert_eq(claim(0, NOW_MS, 1, 6, 7).status, FS_ST_ENDED);
	cr_assert_eq(claim(0, NOW_MS, 1, 5, 8).status, FS_ST_ENDED, "even for the winner");
}

Test(claim, won_then_already_won_same_order)
{
	struct fs_journal_reader *r;
	struct fs_fcp_reply rep, rep2;
	struct fs_jrec rec[4];

	open_sale(1, 10);
	rep = claim(2, NOW_MS, 1, 555, 1);
	cr_assert_eq(rep.status, FS_ST_WON);
	cr_assert_eq(
		rep.order_id, FS_ORDER_ID(NODE, 2, 1), "order id %lx", (unsigned long)rep.order_id);
	cr_assert_eq(rep.remaining, 9);
	cr_assert_eq(rep.retry_after_ms, 0);
	/* A second request_id, on the same and on another worker. */
	rep2 = claim(2, NOW_MS, 1, 555, 2);
	cr_assert_eq(rep2.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep2.order_id, rep.order_id);
	cr_assert_eq(rep2.request_id, 2);
	rep2 = claim(5, NOW_MS, 1, 555, 3);
	cr_assert_eq(rep2.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep2.order_id, rep.order_id);
	cr_assert_eq(rep2.remaining, 9);
	/* The journal holds exactly the one order, written before the WON. */
	r = fs_journal_reader_open(tmpdir, 2, 1);
	cr_assert_eq(fs_journal_read(r, rec, 4), 1);
	fs_journal_reader_close(r);
	cr_assert_eq(rec[0].type, FS_JREC_ORDER);
	cr_assert_eq(rec[0].sale_id, 1);
	cr_assert_eq(rec[0].node_id, NODE);
	cr_assert_eq(rec[0].journal, 2);
	cr_assert_eq(rec[0].time_ns, (uint64_t)NOW_MS * 1000000ull);
	cr_assert_eq(rec[0].body.order.order_id, rep.order_id);
	cr_assert_eq(rec[0].body.order.user_id, 555);
	cr_assert_eq(rec[0].body.order.request_id, 1);
	r = fs_journal_reader_open(tmpdir, 5, 1);
	cr_assert_eq(fs_journal_read(r, rec, 4), 0);
	fs_journal_reader_close(r);
	cr_assert_eq(cnt[2][FS_CNT_ST_WON], 1);
	cr_assert_eq(cnt[2][FS_CNT_ST_ALREADY_WON], 1);
	cr_assert_eq(cnt[5][FS_CNT_ST_ALREADY_WON], 1);
}

Test(claim, sold_out_after_stock)
{
	struct fs_sale *s = open_sale(1, 5);
	struct fs_fcp_reply rep;
	uint64_t first = 0;

	for (uint64_t u = 1; u <= 5; u++) {
		rep = claim(u % N_WORKERS, NOW_MS, 1, u, u);
		cr_assert_eq(rep.status, FS_ST_WON);
		cr_assert_eq(rep.remaining, 5 - u);
		if (u == 1)
			first = rep.order_id;
	}
	cr_assert_not(fs_soldout_is(s->sold_out));
	rep = claim(0, NOW_MS, 1, 6, 6);
	cr_assert_eq(rep.status, FS_ST_SOLD_OUT);
	cr_assert_eq(rep.remaining, 0);
	cr_assert_eq(rep.order_id, 0);
	cr_assert_eq(rep.retry_after_ms, 0, "a sale without holds: SOLD_OUT is final");
	cr_assert_eq(rep.hold_left_ms, 0);
	cr_assert(fs_soldout_is(s->sold_out), "the cached flag is set");
	cr_assert_eq(claim(3, NOW_MS, 1, 7, 7).status, FS_ST_SOLD_OUT);
	/* A winner still hears about its order. */
	rep = claim(4, NOW_MS, 1, 1, 8);
	cr_assert_eq(rep.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep.order_id, first);
	cr_assert_eq(fs_stock_sold(&s->stock), 5);
	cr_assert_eq(fs_winners_count(s->winners), 5);
}

Test(claim, retry_while_waiting_for_lease)
{
	struct fs_sale_def def = {.sale_id = 1, .stock = 10, .start_ms = 0, .end_ms = INT64_MAX};
	struct fs_fcp_reply rep;

	cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, &def), 0);
	rep = claim(0, NOW_MS, 1, 1, 1);
	cr_assert_eq(rep.status, FS_ST_RETRY, "no lease yet");
	cr_assert_eq(rep.retry_after_ms, FS_RETRY_LEASE_MS);
	cr_assert_eq(fs_sale_ctl_lease(&tab, NULL, NODE, 1, 1, false), 0);
	cr_assert_eq(claim(0, NOW_MS, 1, 1, 2).status, FS_ST_WON);
	rep = claim(1, NOW_MS, 1, 2, 3);
	cr_assert_eq(rep.status, FS_ST_RETRY, "lease used up, more may come");
	cr_assert_eq(rep.retry_after_ms, FS_RETRY_LEASE_MS);
	cr_assert_eq(fs_sale_ctl_lease(&tab, NULL, NODE, 1, 0, true), 0);
	cr_assert_eq(claim(1, NOW_MS, 1, 2, 4).status, FS_ST_SOLD_OUT);
	cr_assert_eq(cnt[0][FS_CNT_ST_RETRY] + cnt[1][FS_CNT_ST_RETRY], 2);
}

Test(claim, journal_failure_gives_everything_back)
{
	struct fs_sale *s = open_sale(1, 3);
	struct fs_claim_env env = env_of(0, NOW_MS);
	struct fs_fcp_req req = {.type = FS_FCP_CLAIM, .sale_id = 1, .user_id = 9};
	struct fs_fcp_reply rep;
	uint8_t raw[48] = {0};
	uint64_t order;

	env.journal = NULL; /* the journal cannot record */
	fs_claim(&tab, &env, &req, raw, &rep);
	cr_assert_eq(rep.status, FS_ST_RETRY);
	cr_assert_eq(rep.retry_after_ms, FS_RETRY_JOURNAL_MS);
	cr_assert_eq(rep.order_id, 0);
	cr_assert_eq(rep.remaining, 3);
	cr_assert_eq(cnt[0][FS_CNT_JOURNAL_ERRORS], 1);
	cr_assert_eq(fs_winners_find(s->winners, 9, &order), FS_WIN_ABSENT);
	/* The unit and the user are free again. */
	for (uint64_t u = 9; u < 12; u++)
		cr_assert_eq(claim(0, NOW_MS, 1, u, u).status, FS_ST_WON);
	cr_assert_eq(claim(0, NOW_MS, 1, 12, 12).status, FS_ST_SOLD_OUT);
}

Test(claim, winners_full_is_retry)
{
	struct fs_sale *s = open_sale(1, 1);
	uint64_t cap = fs_winners_capacity(s->winners);
	struct fs_winner_entry *e;
	struct fs_fcp_reply rep;
	uint64_t order;

	/* Released entries (an append that failed after the journal said it could) stay: fill
	 * every slot with them. */
	for (uint64_t u = 1; u <= cap; u++) {
		cr_assert_eq(fs_winners_reserve(s->winners, 0, u, &e, &order), FS_WIN_RESERVED);
		fs_winners_release(e);
	}
	rep = claim(0, NOW_MS, 1, cap + 1, 1);
	cr_assert_eq(rep.status, FS_ST_RETRY);
	cr_assert_eq(cnt[0][FS_CNT_WINNERS_FULL], 1);
	cr_assert_eq(fs_stock_remaining(&s->stock), 1, "the unit went back");
	cr_assert_eq(claim(0, NOW_MS, 1, 5, 2).status, FS_ST_WON, "a released user wins");
}

/* ---- token sales ---- */

static const uint8_t KEY[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void token_sale(uint32_t id, bool has_key)
{
	struct fs_sale_def def = {.sale_id = id,
		.stock = 10,
		.start_ms = 0,
		.end_ms = INT64_MAX,
		.admission = FS_ADM_TOKEN,
		.has_key = has_key};

	memcpy(def.key, KEY, 16);
	open_def(&def, 10);
}

/* Encode a token CLAIM by hand (PROTOCOL.md, big-endian) with a SipHash-2-4-128 token computed
 * here with libsodium, independent of fcp.c; run it through fs_claim. */
static struct fs_fcp_reply token_claim(uint32_t sale, uint64_t user, uint32_t expiry, uint16_t node,
	const uint8_t key[16], bool corrupt)
{
	struct fs_claim_env env = env_of(1, tok_now);
	struct fs_fcp_req req = {.type = FS_FCP_CLAIM,
		.sale_id = sale,
		.user_id = user,
		.token_expiry = expiry,
		.node_id = node,
		.request_id = 1};
	struct fs_fcp_reply rep;
	uint8_t raw[48] = {0x46, 0x43, 1, FS_FCP_CLAIM};

	for (int i = 0; i < 4; i++)
		raw[4 + i] = (uint8_t)(sale >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		raw[8 + i] = (uint8_t)(user >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		raw[16 + i] = (uint8_t)(expiry >> (24 - 8 * i));
	raw[20] = (uint8_t)(node >> 8);
	raw[21] = (uint8_t)node;
	raw[47] = 1;
	cr_assert_eq(sodium_init() >= 0, true);
	crypto_shorthash_siphashx24(raw + 24, raw + 4, 20, key);
	if (corrupt)
		raw[30] ^= 1;
	memcpy(req.token, raw + 24, 16);
	fs_claim(&tab, &env, &req, raw, &rep);
	return rep;
}

Test(claim, token_ok_on_any_node_and_ours)
{
	token_sale(42, true);
	cr_assert_eq(token_claim(42, 1001, 1798761600, 0, KEY, false).status, FS_ST_WON);
	cr_assert_eq(token_claim(42, 1002, 1798761600, NODE, KEY, false).status, FS_ST_WON);
	cr_assert_eq(token_claim(42, 1002, 1798761600, NODE, KEY, false).status, FS_ST_ALREADY_WON);
	/* Expiry is in seconds; the token is good up to and including its second. */
	cr_assert_eq(token_claim(42, 1003, NOW_MS / 1000, 0, KEY, false).status, FS_ST_WON);
}

Test(claim, token_protocol_vector_wins)
{
	/* PROTOCOL.md test vector 1: sale 42, user 1001, expiry 1798761600, node 0. */
	static const char *hex = "464301010000002a00000000000003e96b36ec8000000000e5f464adbcd410d8f"
				 "ba87eb6a924e63b0102030405060708";
	struct fs_claim_env env = env_of(0, NOW_MS);
	struct fs_fcp_req req = {.type = FS_FCP_CLAIM,
		.sale_id = 42,
		.user_id = 1001,
		.token_expiry = 1798761600,
		.request_id = 0x0102030405060708ull};
	struct fs_fcp_reply rep;
	uint8_t raw[48];

	for (int i = 0; i < 48; i++)
		sscanf(hex + 2 * i, "%2hhx", &raw[i]);
	memcpy(req.token, raw + 24, 16);
	token_sale(42, true);
	fs_claim(&tab, &env, &req, raw, &rep);
	cr_assert_eq(rep.status, FS_ST_WON);
}

Test(claim, bad_token_wrong_mac_expired_other_node)
{
	uint8_t other_key[16] = {9};

	token_sale(42, true);
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, true).status, FS_ST_BAD_TOKEN,
		"corrupted MAC");
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, other_key, false).status, FS_ST_BAD_TOKEN,
		"another key");
	cr_assert_eq(token_claim(42, 1, NOW_MS / 1000 - 1, 0, KEY, false).status, FS_ST_BAD_TOKEN,
		"expired");
	cr_assert_eq(token_claim(42, 1, 1798761600, NODE + 1, KEY, false).status, FS_ST_BAD_TOKEN,
		"bound to another node");
	cr_assert_eq(cnt[1][FS_CNT_ST_BAD_TOKEN], 4);
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, false).status, FS_ST_WON);
	/* An open sale ignores the token fields. */
	open_sale(43, 1);
	cr_assert_eq(token_claim(43, 1, 1, 999, other_key, true).status, FS_ST_WON);
}

Test(claim, token_key_not_set_is_retry)
{
	token_sale(42, false);
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, false).status, FS_ST_RETRY);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY, 0), 0);
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, false).status, FS_ST_WON);
}

Test(claim, sale_status_answers)
{
	struct fs_sale *s = open_sale(1, 2);
	struct fs_fcp_reply rep;

	rep = status(s->start_ms - 250, 1);
	cr_assert_eq(rep.status, FS_ST_NOT_STARTED);
	cr_assert_eq(rep.retry_after_ms, 250);
	rep = status(NOW_MS, 1);
	cr_assert_eq(rep.status, FS_ST_ACTIVE);
	cr_assert_eq(rep.remaining, 2);
	cr_assert_eq(rep.order_id, 0);
	cr_assert_eq(claim(0, NOW_MS, 1, 1, 1).status, FS_ST_WON);
	cr_assert_eq(status(NOW_MS, 1).remaining, 1);
	cr_assert_eq(claim(1, NOW_MS, 1, 2, 2).status, FS_ST_WON);
	rep = status(NOW_MS, 1);
	cr_assert_eq(rep.status, FS_ST_SOLD_OUT, "sold out even before any claim saw it");
	cr_assert_eq(rep.remaining, 0);
	cr_assert_eq(status(s->end_ms, 1).status, FS_ST_ENDED);
	open_sale(2, 5);
	cr_assert_eq(fs_sale_ctl_stop(&tab, NULL, NODE, 2), 0);
	cr_assert_eq(status(NOW_MS, 2).status, FS_ST_ENDED);
	cr_assert_eq(cnt[0][FS_CNT_STATUS_REQS], 6);
	cr_assert_eq(cnt[0][FS_CNT_ST_ACTIVE], 2);
}

/* ---- one per user across workers ---- */

#define RACE_USERS 300

struct racer {
	unsigned w;
	uint64_t user;
	pthread_barrier_t *start;
	struct fs_fcp_reply rep;
	unsigned retries;
};

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	struct fs_claim_env env = env_of(r->w, NOW_MS);
	struct fs_fcp_req req = {
		.type = FS_FCP_CLAIM, .sale_id = 1, .user_id = r->user, .request_id = r->w};
	uint8_t raw[48] = {0};

	pthread_barrier_wait(r->start);
	for (unsigned i = 0; i < 1000000; i++) {
		fs_claim(&tab, &env, &req, raw, &r->rep);
		if (r->rep.status != FS_ST_RETRY)
			break;
		r->retries++;
		sched_yield(); /* a client waits retry_after_ms; yielding is enough here */
	}
	return NULL;
}

Test(claim, one_per_user_across_workers, .timeout = 120)
{
	struct racer r[N_WORKERS];
	pthread_t th[N_WORKERS];
	pthread_barrier_t start;
	static uint64_t records[RACE_USERS + 1];
	struct fs_jrec buf[64];
	unsigned total_records = 0, retries = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	open_sale(1, 100000);
	pthread_barrier_init(&start, NULL, N_WORKERS);
	for (uint64_t user = 1; user <= RACE_USERS; user++) {
		unsigned won = 0;
		uint64_t order = 0;

		for (unsigned i = 0; i < N_WORKERS; i++) {
			r[i] = (struct racer){.w = i, .user = user, .start = &start};
			cr_assert_eq(pthread_create(&th[i], NULL, racer_run, &r[i]), 0);
		}
		for (unsigned i = 0; i < N_WORKERS; i++) {
			pthread_join(th[i], NULL);
			retries += r[i].retries;
			if (r[i].rep.status == FS_ST_WON) {
				won++;
				order = r[i].rep.order_id;
			} else {
				cr_assert_eq(r[i].rep.status, FS_ST_ALREADY_WON,
					"user %lu worker %u: %s", (unsigned long)user, i,
					fs_fcp_status_name(r[i].rep.status));
			}
		}
		cr_assert_eq(won, 1, "user %lu won %u times", (unsigned long)user, won);
		for (unsigned i = 0; i < N_WORKERS; i++)
			cr_assert_eq(r[i].rep.order_id, order);
	}
	pthread_barrier_destroy(&start);
	/* Exactly one journal record per user, over all workers' journals. */
	for (unsigned i = 0; i < N_WORKERS; i++) {
		struct fs_journal_reader *rd = fs_journal_reader_open(tmpdir, i, 1);
		int n;

		while ((n = fs_journal_read(rd, buf, 64)) > 0) {
			for (int k = 0; k < n; k++) {
				cr_assert_leq(buf[k].body.order.user_id, RACE_USERS);
				records[buf[k].body.order.user_id]++;
				total_records++;
			}
		}
		fs_journal_reader_close(rd);
	}
	cr_assert_eq(total_records, RACE_USERS);
	for (uint64_t user = 1; user <= RACE_USERS; user++)
		cr_assert_eq(records[user], 1, "user %lu has %lu records", (unsigned long)user,
			(unsigned long)records[user]);
	cr_assert_eq(fs_stock_sold(&fs_sale_lookup(&tab, 1)->stock), RACE_USERS);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "# one_per_user_across_workers: %u users x %u workers: %.2f s, %u RETRY\n",
		RACE_USERS, N_WORKERS, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		retries);
}

/* ---- per-source rate limits ---- */

static struct fs_ratelimit lim;

/* Sale @p id of @p stock units from @p start_ms to NOW_MS + 60 s, its own per-source limit
 * (@p rate claims/s, @p burst; rate 0: none). */
static struct fs_sale_def rl_def(
	uint32_t id, uint64_t stock, int64_t start_ms, uint32_t rate, uint32_t burst)
{
	return (struct fs_sale_def){.sale_id = id,
		.stock = stock,
		.start_ms = start_ms,
		.end_ms = NOW_MS + 60000,
		.rl_set = true,
		.rl_rate = rate,
		.rl_burst = burst};
}

/* One request from source @p src (dotted quad's last byte: 10.1.1.SRC) through the limiter. */
static struct fs_fcp_reply limited_req(
	uint8_t type, int64_t now_ms, uint32_t sale, uint64_t user, uint8_t src)
{
	struct fs_claim_env env = env_of(0, now_ms);
	struct fs_fcp_req req = {.type = type, .sale_id = sale, .user_id = user, .request_id = 1};
	uint8_t raw[48] = {0}, a[4] = {10, 1, 1, src};
	struct fs_fcp_reply rep;

	env.rl = &lim;
	memcpy(&env.src_ip, a, 4);
	fs_claim(&tab, &env, &req, raw, &rep);
	return rep;
}

Test(claim, rate_limited_per_source)
{
	struct fs_sale_def def = rl_def(70, 100, NOW_MS - 1000, 2, 3);
	struct fs_fcp_reply rep;

	cr_assert_eq(fs_ratelimit_init(&lim, 7), 0);
	open_def(&def, 100);
	for (uint64_t u = 1; u <= 3; u++)
		cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 70, u, 1).status, FS_ST_WON);
	rep = limited_req(FS_FCP_CLAIM, NOW_MS, 70, 4, 1);
	cr_assert_eq(rep.status, FS_ST_RATE_LIMITED);
	cr_assert_eq(rep.retry_after_ms, 500, "2/s: one claim back after 500 ms");
	cr_assert_eq(rep.order_id, 0);
	cr_assert_eq(cnt[0][FS_CNT_ST_RATE_LIMITED], 1);
	/* a status request takes from the same bucket */
	rep = limited_req(FS_FCP_SALE_STATUS, NOW_MS + 100, 70, 0, 1);
	cr_assert_eq(rep.status, FS_ST_RATE_LIMITED);
	cr_assert_eq(rep.retry_after_ms, 400);
	/* another source is not limited */
	cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 70, 5, 2).status, FS_ST_WON);
	cr_assert_eq(limited_req(FS_FCP_SALE_STATUS, NOW_MS, 70, 0, 2).status, FS_ST_ACTIVE);
	/* after the wait, the first source is admitted again, once */
	cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS + 500, 70, 4, 1).status, FS_ST_WON);
	cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS + 500, 70, 6, 1).status, FS_ST_RATE_LIMITED);
	/* no limiter (env.rl NULL): never limited */
	cr_assert_eq(claim(0, NOW_MS, 70, 7, 1).status, FS_ST_WON);
	fs_ratelimit_fini(&lim);
}

Test(claim, rate_limit_node_default_and_sale_override)
{
	struct fs_sale_def own_off = rl_def(72, 100, NOW_MS - 1000, 0, 0);
	struct fs_sale_def bad = own_off;

	cr_assert_eq(fs_ratelimit_init(&lim, 0), 0);
	tab.rl_rate = 1;
	tab.rl_burst = 1;
	open_sale(71, 100); /* node default: 1/s, burst 1 */
	cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 71, 1, 9).status, FS_ST_WON);
	cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 71, 2, 9).retry_after_ms, 1000);
	/* a sale that turns limits off for itself */
	open_def(&own_off, 100);
	for (uint64_t u = 1; u <= 10; u++)
		cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 72, u, 9).status, FS_ST_WON);
	/* a rate with no burst, or beyond the maxima, is refused */
	bad.sale_id = 73;
	bad.rl_rate = 5;
	cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, &bad), -EINVAL);
	bad.rl_burst = FS_RL_BURST_MAX + 1;
	cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, &bad), -EINVAL);
	fs_ratelimit_fini(&lim);
}

Test(claim, rate_limit_before_window_checks_not)
{
	struct fs_sale_def def = rl_def(74, 5, NOW_MS + 1000, 1, 1);

	cr_assert_eq(fs_ratelimit_init(&lim, 0), 0);
	cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, &def), 0);
	/* NOT_STARTED answers cost nothing and take nothing from the bucket (DESIGN.md order) */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(limited_req(FS_FCP_CLAIM, NOW_MS, 74, 1, 3).status, FS_ST_NOT_STARTED);
	fs_ratelimit_fini(&lim);
}

/* ---- key rotation ---- */

static const uint8_t KEY2[16] = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t KEY3[16] = {0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

Test(claim, rekey_grace_window)
{
	token_sale(42, true);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY2, NOW_MS + 1000), 0);
	/* during the grace period both keys verify */
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, false).status, FS_ST_WON);
	cr_assert_eq(token_claim(42, 2, 1798761600, 0, KEY2, false).status, FS_ST_WON);
	cr_assert_eq(token_claim(42, 3, 1798761600, 0, KEY3, false).status, FS_ST_BAD_TOKEN);
	tok_now = NOW_MS + 999;
	cr_assert_eq(token_claim(42, 4, 1798761600, 0, KEY, false).status, FS_ST_WON);
	/* from the deadline on, the old key is refused */
	tok_now = NOW_MS + 1000;
	cr_assert_eq(token_claim(42, 5, 1798761600, 0, KEY, false).status, FS_ST_BAD_TOKEN);
	cr_assert_eq(token_claim(42, 6, 1798761600, 0, KEY2, false).status, FS_ST_WON);
	/* pushing the current key again changes nothing */
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY2, NOW_MS + 99999), 0);
	cr_assert_eq(token_claim(42, 7, 1798761600, 0, KEY, false).status, FS_ST_BAD_TOKEN);
	/* a rekey without grace refuses the old key at once */
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY3, 0), 0);
	cr_assert_eq(token_claim(42, 8, 1798761600, 0, KEY2, false).status, FS_ST_BAD_TOKEN);
	cr_assert_eq(token_claim(42, 9, 1798761600, 0, KEY3, false).status, FS_ST_WON);
}

Test(claim, rekey_twice_only_last_two_keys)
{
	token_sale(42, true);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY2, NOW_MS + 5000), 0);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, NULL, NODE, 42, KEY3, NOW_MS + 5000), 0);
	cr_assert_eq(token_claim(42, 1, 1798761600, 0, KEY, false).status, FS_ST_BAD_TOKEN);
	cr_assert_eq(token_claim(42, 2, 1798761600, 0, KEY2, false).status, FS_ST_WON);
	cr_assert_eq(token_claim(42, 3, 1798761600, 0, KEY3, false).status, FS_ST_WON);
	cr_assert_eq(fs_sale_prev_until(fs_sale_lookup(&tab, 42)), NOW_MS + 5000);
}

Test(claim, rekey_grace_survives_recovery)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_sale_def def = {.sale_id = 44,
		.stock = 10,
		.start_ms = 0,
		.end_ms = INT64_MAX,
		.admission = FS_ADM_TOKEN,
		.has_key = true,
		.rl_set = true,
		.rl_rate = 9,
		.rl_burst = 4};
	struct fs_sale_table t2;
	struct fs_recovery rec;
	const struct fs_sale *s;

	cr_assert_not_null(ctl);
	memcpy(def.key, KEY, 16);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), 0);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, ctl, NODE, 44, KEY2, NOW_MS + 700), 0);
	fs_journal_close(ctl);
	fs_sale_table_init(&t2, N_WORKERS);
	cr_assert_eq(fs_sale_recover(&t2, tmpdir, &rec), 0);
	s = fs_sale_lookup(&t2, 44);
	cr_assert_not_null(s);
	cr_assert_eq(s->rl_set, 1);
	cr_assert_eq(s->rl_rate, 9);
	cr_assert_eq(s->rl_burst, 4);
	cr_assert_arr_eq(s->key, KEY2, 16);
	cr_assert_eq(fs_sale_prev_until(s), NOW_MS + 700);
	fs_sale_table_fini(&t2);
}

/* Turn @p turn of the rekeying thread on sale @p arg. */
static void rekey_step(void *arg, unsigned long turn)
{
	/* alternate KEY2 and KEY with an endless grace: KEY is always current or previous */
	fs_sale_set_key(arg, turn % 2 ? KEY : KEY2, INT64_MAX);
}

Test(claim, rekey_never_tears_a_key, .timeout = 60)
{
	struct fs_test_loop r = {.step = rekey_step};
	uint8_t raw[48] = {0x46, 0x43, 1, FS_FCP_CLAIM, 0, 0, 0, 42};
	struct fs_sale *s;
	unsigned bad = 0;

	token_sale(42, true);
	s = fs_sale_lookup(&tab, 42);
	r.arg = s;
	crypto_shorthash_siphashx24(raw + 24, raw + 4, 20, KEY);
	cr_assert_eq(fs_test_loop_start(&r), 0);
	for (int i = 0; i < 2000000; i++)
		bad += fs_sale_token_check(s, raw, NOW_MS) <= 0;
	fs_test_loop_stop(&r);
	cr_assert_eq(bad, 0, "%u of 2M checks refused a valid key during %lu rekeys", bad, r.turns);
	cr_assert_gt(r.turns, 100);
}

/* One request through fs_claim with the caller's env (a burst: the env lives across requests). */
static struct fs_fcp_reply claim_env(struct fs_claim_env *env, uint32_t sale, uint64_t user)
{
	struct fs_fcp_req req = {
		.type = FS_FCP_CLAIM, .sale_id = sale, .user_id = user, .request_id = user};
	uint8_t raw[48] = {0};
	struct fs_fcp_reply rep;

	fs_claim(&tab, env, &req, raw, &rep);
	return rep;
}

/*
 * `remaining` is read from the slices once per sale per burst (env->rem_sale), less the env's
 * own WONs: exact for one worker; another worker's sales show once the burst ends.
 */
Test(claim, remaining_once_per_burst)
{
	struct fs_claim_env a = env_of(0, NOW_MS), b = env_of(1, NOW_MS);
	struct fs_sale *s = open_sale(1, 10);

	open_sale(2, 100);
	for (uint64_t u = 1; u <= 4; u++) {
		struct fs_fcp_reply rep = claim_env(&a, 1, u);

		cr_assert_eq(rep.status, FS_ST_WON);
		cr_assert_eq(rep.remaining, 10 - u, "own WON %lu", (unsigned long)u);
		cr_assert_eq(a.rem_sale, s, "memo kept for the sale");
	}
	cr_assert_eq(claim_env(&b, 1, 100).remaining, 5, "worker 1 reads the slices: 5 left");
	cr_assert_eq(claim_env(&a, 1, 1).status, FS_ST_ALREADY_WON);
	cr_assert_eq(claim_env(&a, 1, 1).remaining, 6, "within a burst worker 0 still knows 6");
	cr_assert_eq(claim_env(&a, 2, 1).remaining, 99, "another sale: read anew");
	cr_assert_eq(a.rem_sale, fs_sale_lookup(&tab, 2));
	a.rem_sale = NULL; /* the worker's next burst */
	cr_assert_eq(claim_env(&a, 1, 1).remaining, 5, "next burst: worker 1's sale seen");
	for (uint64_t u = 5; u <= 9; u++)
		cr_assert_eq(claim_env(&a, 1, u).remaining, 9 - u);
	cr_assert_eq(claim_env(&a, 1, 10).status, FS_ST_SOLD_OUT);
	cr_assert_eq(claim_env(&a, 1, 10).remaining, 0, "sold out: 0 whatever the memo");
}

/* ---- durability and journal outages ---- */

/*
 * --journal-sync=fsync: an order is WON once its record is synced (worker.c's group commit). A
 * second claim of its user before that (another worker, or a retry after the sync failed) must
 * not see ALREADY_WON for an order that is not on disk: RETRY until the journal's durable
 * position passes it, on every path that answers ALREADY_WON (lookup, reserve, sold out).
 */
Test(claim, already_won_only_once_durable)
{
	struct fs_fcp_reply rep, rep2;
	uint64_t order;

	open_sale(1, 2);
	fs_journal_set_fsync(jr[2], true);
	rep = claim(2, NOW_MS, 1, 555, 1);
	cr_assert_eq(rep.status, FS_ST_WON);
	order = rep.order_id;
	/* not synced yet: the durable position lags the record */
	rep2 = claim(5, NOW_MS, 1, 555, 2);
	cr_assert_eq(rep2.status, FS_ST_RETRY, "status %s before the sync",
		fs_fcp_status_name(rep2.status));
	cr_assert_eq(rep2.retry_after_ms, FS_RETRY_JOURNAL_MS);
	cr_assert_eq(rep2.order_id, 0);
	cr_assert_eq(claim(2, NOW_MS, 1, 555, 3).status, FS_ST_RETRY, "its own worker too");
	/* the last unit to another user, then the sold-out path */
	cr_assert_eq(claim(3, NOW_MS, 1, 556, 4).status, FS_ST_WON);
	cr_assert_eq(claim(4, NOW_MS, 1, 557, 5).status, FS_ST_SOLD_OUT);
	cr_assert_eq(claim(5, NOW_MS, 1, 555, 6).status, FS_ST_RETRY, "sold out, not durable");
	cr_assert_eq(fs_journal_sync(jr[2]), 0);
	rep2 = claim(5, NOW_MS, 1, 555, 7);
	cr_assert_eq(rep2.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep2.order_id, order);
	/* journal 3 was never put in fsync mode: what it appended counts as durable */
	cr_assert_eq(claim(0, NOW_MS, 1, 556, 8).status, FS_ST_ALREADY_WON);
}

/* Fill journal @p w's first segment and make the next one impossible to create (a directory
 * where the segment file goes): the next append fails as on a full disk. */
static void journal_outage(unsigned w, char *blocker, size_t len)
{
	struct fs_jrec rec;

	for (uint64_t i = fs_journal_next_seq(jr[w]); i <= FS_JOURNAL_SEG_RECS; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = FS_JREC_ORDER;
		rec.sale_id = 999;
		cr_assert_eq(fs_journal_append(jr[w], &rec), 0);
	}
	snprintf(blocker, len, "%s/journal-%03u-000001.fsj", tmpdir, w);
	cr_assert_eq(mkdir(blocker, 0700), 0);
}

/*
 * A journal outage must not fill the winner table: each claim of a new user while the journal
 * cannot append is answered RETRY before it takes a unit or a slot. When the space is back, new
 * users win at once (before: every user of the outage had left a released slot behind, the
 * table was full and every claim scanned it to answer RETRY until a restart).
 */
Test(claim, journal_outage_never_grows_the_table)
{
	struct fs_sale *s = open_sale(1, 1); /* 128 slots */
	uint64_t cap = fs_winners_capacity(s->winners);
	char blocker[128];
	struct fs_fcp_reply rep;

	journal_outage(0, blocker, sizeof(blocker));
	for (uint64_t u = 1; u <= 4 * cap; u++) {
		rep = claim(0, NOW_MS, 1, u, u);
		cr_assert_eq(rep.status, FS_ST_RETRY);
		cr_assert_eq(rep.retry_after_ms, FS_RETRY_JOURNAL_MS);
	}
	cr_assert_eq(cnt[0][FS_CNT_WINNERS_FULL], 0, "the table filled up during the outage");
	cr_assert_eq(fs_winners_used(s->winners), 0, "slots taken during the outage");
	cr_assert_eq(cnt[0][FS_CNT_JOURNAL_ERRORS], 4 * cap, "each RETRY counted");
	cr_assert_eq(fs_stock_remaining(&s->stock), 1);
	/* the disk has space again */
	cr_assert_eq(rmdir(blocker), 0);
	usleep(60 * 1000); /* past the journal's retry back-off */
	rep = claim(0, NOW_MS, 1, 10 * cap, 1);
	cr_assert_eq(rep.status, FS_ST_WON, "a new user after the outage: %s",
		fs_fcp_status_name(rep.status));
}

/* ---- sales with holds (PROTOCOL.md revision 2) */

#define HOLD_MS 10000u

/* A sale with holds of @p stock units, @p leased of them leased (final), started 1 s before
 * NOW_MS. */
static struct fs_sale *hold_sale_leased(uint32_t id, uint64_t stock, uint64_t leased)
{
	struct fs_sale_def def = {.sale_id = id,
		.stock = stock,
		.start_ms = NOW_MS - 1000,
		.end_ms = NOW_MS + 600000,
		.hold_ms = HOLD_MS};

	return open_def(&def, leased);
}

/* A sale with holds of @p stock units, all leased (final), started 1 s before NOW_MS. */
static struct fs_sale *hold_sale(uint32_t id, uint64_t stock)
{
	return hold_sale_leased(id, stock, stock);
}

Test(claim, no_holds_replies_carry_no_hold_fields)
{
	struct fs_sale *s = open_sale(40, 3);
	struct fs_fcp_reply rep = claim(0, NOW_MS, 40, 1, 1);

	cr_assert_eq(s->hold_ms, 0);
	cr_assert_not(fs_winners_holds(s->winners), "no won_ms allocated without holds");
	cr_assert_eq(rep.status, FS_ST_WON);
	cr_assert_eq(rep.hold_left_ms, 0);
	rep = claim(1, NOW_MS + 5000, 40, 1, 2);
	cr_assert_eq(rep.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep.hold_left_ms, 0);
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 40, 1, rep.order_id), -EINVAL,
		"no release on a sale without holds");
}

Test(claim, hold_left_ms_on_won_and_already_won)
{
	struct fs_fcp_reply rep;
	uint64_t order;

	hold_sale(41, 3);
	rep = claim(0, NOW_MS, 41, 7, 1);
	cr_assert_eq(rep.status, FS_ST_WON);
	cr_assert_eq(rep.hold_left_ms, HOLD_MS, "WON: the whole hold");
	order = rep.order_id;
	rep = claim(3, NOW_MS + 2500, 41, 7, 2);
	cr_assert_eq(rep.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep.order_id, order);
	cr_assert_eq(rep.hold_left_ms, HOLD_MS - 2500);
	rep = claim(3, NOW_MS + HOLD_MS, 41, 7, 3);
	cr_assert_eq(rep.status, FS_ST_ALREADY_WON);
	cr_assert_eq(rep.hold_left_ms, 0, "0 from the instant the hold runs out");
	rep = claim(3, NOW_MS + 3 * HOLD_MS, 41, 7, 4);
	cr_assert_eq(rep.hold_left_ms, 0, "and after it");
}

Test(claim, released_user_gets_released)
{
	struct fs_sale *s = hold_sale(42, 3);
	struct fs_fcp_reply rep = claim(0, NOW_MS, 42, 9, 1);
	uint64_t order = rep.order_id;

	cr_assert_eq(rep.status, FS_ST_WON);
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 42, 9, order + 1), -ESRCH, "other order");
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 42, 10, order), -ESRCH, "other user");
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 43, 9, order), -ENOENT, "unknown sale");
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 42, 9, order), 0);
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 42, 9, order), -EALREADY, "idempotent");
	cr_assert_eq(fs_winners_released(s->winners), 1);
	memset(cnt, 0, sizeof(cnt));
	rep = claim(2, NOW_MS + 100, 42, 9, 2);
	cr_assert_eq(rep.status, FS_ST_RELEASED);
	cr_assert_eq(rep.order_id, order, "RELEASED names the released order");
	cr_assert_eq(rep.hold_left_ms, 0);
	cr_assert_eq(rep.remaining, 2);
	cr_assert_eq(cnt[2][FS_CNT_ST_RELEASED], 1, "counted as released");
	/* the released user never gets a unit again: the entry stays theirs */
	cr_assert_eq(claim(5, NOW_MS + 200, 42, 9, 3).status, FS_ST_RELEASED);
	cr_assert_eq(fs_stock_sold(&s->stock), 1);
	cr_assert_eq(claim(5, NOW_MS + 200, 42, 11, 4).status, FS_ST_WON, "others still win");
}

Test(claim, sold_out_retry_after_follows_the_hold_state)
{
	struct fs_sale *s = hold_sale(44, 1);
	struct fs_fcp_reply rep;

	cr_assert_eq(claim(0, NOW_MS, 44, 1, 1).status, FS_ST_WON);
	rep = claim(0, NOW_MS, 44, 2, 2);
	cr_assert_eq(rep.status, FS_ST_SOLD_OUT);
	cr_assert_eq(rep.retry_after_ms, FS_HOLD_RETRY_MIN_MS, "open, no deadline known: 500");
	cr_assert_eq(status(NOW_MS, 44).retry_after_ms, FS_HOLD_RETRY_MIN_MS, "SALE_STATUS too");
	fs_sale_holds_set(s, true, NOW_MS + 3000);
	cr_assert_eq(claim(1, NOW_MS, 44, 2, 3).retry_after_ms, 3000, "until the next expiry");
	cr_assert_eq(status(NOW_MS, 44).retry_after_ms, 3000);
	fs_sale_holds_set(s, true, NOW_MS + 100);
	cr_assert_eq(claim(1, NOW_MS, 44, 2, 4).retry_after_ms, FS_HOLD_RETRY_MIN_MS, "at least");
	fs_sale_holds_set(s, true, NOW_MS + 10 * (int64_t)HOLD_MS);
	cr_assert_eq(claim(1, NOW_MS, 44, 2, 5).retry_after_ms, HOLD_MS, "at most the hold");
	fs_sale_holds_set(s, false, 0);
	rep = claim(1, NOW_MS, 44, 2, 6);
	cr_assert_eq(rep.status, FS_ST_SOLD_OUT);
	cr_assert_eq(rep.retry_after_ms, 0, "closed: final");
	cr_assert_eq(status(NOW_MS, 44).retry_after_ms, 0);
}

Test(claim, returned_units_are_sold_again)
{
	struct fs_sale *s = hold_sale(45, 2);
	uint64_t o1 = claim(0, NOW_MS, 45, 1, 1).order_id;

	cr_assert_eq(claim(1, NOW_MS, 45, 2, 2).status, FS_ST_WON);
	cr_assert_eq(claim(2, NOW_MS, 45, 3, 3).status, FS_ST_SOLD_OUT);
	cr_assert(fs_soldout_is(s->sold_out));
	cr_assert_eq(fs_sale_ctl_lease(&tab, NULL, NODE, 45, 1, true), -EINVAL,
		"after a final lease only with units returned");
	cr_assert_eq(fs_sale_ctl_release(&tab, NULL, NODE, 45, 1, o1), 0);
	cr_assert_eq(fs_sale_ctl_lease_returned(&tab, NULL, NODE, 45, 2, true, 1), -EINVAL,
		"leased at most total + returned");
	cr_assert_eq(fs_sale_ctl_lease_returned(&tab, NULL, NODE, 45, 1, true, 1), 0);
	cr_assert_not(fs_soldout_is(s->sold_out), "the lease cleared the cached SOLD_OUT");
	cr_assert_eq(claim(3, NOW_MS, 45, 3, 4).status, FS_ST_WON, "the unit is sold again");
	cr_assert_eq(claim(3, NOW_MS, 45, 1, 5).status, FS_ST_RELEASED);
	cr_assert_eq(claim(4, NOW_MS, 45, 4, 6).status, FS_ST_SOLD_OUT);
	cr_assert_eq(__atomic_load_n(&s->stock.leased, __ATOMIC_RELAXED), 3);
	cr_assert_eq(fs_stock_sold(&s->stock), 3);
	open_sale(46, 1);
	cr_assert_eq(fs_sale_ctl_lease_returned(&tab, NULL, NODE, 46, 1, true, 1), -EINVAL,
		"a sale without holds gets nothing back");
}

/* The worker side of units_that_come_back_are_never_hidden: claims until @p n WON. */
struct race_arg {
	uint64_t n, won, sold_out; /* worker only until joined */
};

static void *race_worker(void *p)
{
	struct race_arg *a = p;
	uint64_t user = 1000;

	/* bounded: a hidden unit (the cached flag stuck odd) ends it with won < n */
	for (uint64_t i = 0; i < 50000000 && a->won < a->n; i++) {
		struct fs_claim_env env = env_of(0, NOW_MS);
		struct fs_fcp_req req = {.type = FS_FCP_CLAIM, .sale_id = 47, .user_id = user};
		uint8_t raw[48] = {0};
		struct fs_fcp_reply rep;

		fs_claim(&tab, &env, &req, raw, &rep);
		if (rep.status == FS_ST_WON) {
			a->won++;
			user++;
		} else if (rep.status == FS_ST_SOLD_OUT) {
			a->sold_out++;
		}
	}
	return NULL;
}

/*
 * A worker claiming a sold-out sale while the control path leases returned units one at a time:
 * every unit that comes back is sold (the worker's mark from a stale epoch fails), never hidden
 * behind a cached SOLD_OUT stored after the lease cleared it (the lost update of a plain flag).
 * A stress test: its window is a few instructions wide, and a plain flag passed it in 5 of 5
 * runs; the interleavings that hide a unit are made in order by test_hold (soldout: a_late_mark_*).
 */
Test(claim, units_that_come_back_are_never_hidden, .timeout = 120)
{
	/* 1 unit of 1100 leased; 2000 come back: the winner table has room for 2 x 1100 */
	struct fs_sale *s = hold_sale_leased(47, 1100, 1);
	struct race_arg a = {.n = 2001};
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, race_worker, &a), 0);
	for (uint64_t r = 1; r <= 2000; r++) {
		int rc = fs_sale_ctl_lease_returned(&tab, NULL, NODE, 47, 1, true, r);

		cr_assert_eq(rc, 0, "lease %lu: %d", (unsigned long)r, rc);
		if (r % 4 == 0)
			sched_yield(); /* let the worker meet SOLD_OUT between some of the leases */
	}
	pthread_join(th, NULL);
	cr_assert_eq(a.won, 2001, "every returned unit sold: %lu of 2001 (a unit hidden)",
		(unsigned long)a.won);
	cr_assert_eq(fs_stock_sold(&s->stock), 2001);
}

/* Recovery rebuilds a sale with holds: its hold time, when each order was won, the releases
 * (RELEASE records re-applied after the orders) and the leases of returned units. */
Test(claim, holds_survive_recovery)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_sale_def def = {.sale_id = 48,
		.stock = 2,
		.start_ms = NOW_MS - 1000,
		.end_ms = NOW_MS + 600000,
		.hold_ms = HOLD_MS};
	struct fs_sale_table t2;
	struct fs_recovery rec;
	struct fs_sale *s;
	uint64_t o1, o2, o3, order;
	uint32_t won;

	cr_assert_not_null(ctl);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), 0);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, NODE, 48, 2, true), 0);
	o1 = claim(0, NOW_MS, 48, 1, 1).order_id;
	o2 = claim(1, NOW_MS + 2000, 48, 2, 2).order_id;
	cr_assert_eq(fs_sale_ctl_release(&tab, ctl, NODE, 48, 1, o1), 0);
	cr_assert_eq(fs_sale_ctl_lease_returned(&tab, ctl, NODE, 48, 1, true, 1), 0);
	o3 = claim(2, NOW_MS + 3000, 48, 3, 3).order_id;
	cr_assert_neq(o3, 0);
	fs_journal_close(ctl);

	fs_sale_table_init(&t2, N_WORKERS);
	cr_assert_eq(fs_sale_recover(&t2, tmpdir, &rec), 0);
	s = fs_sale_lookup(&t2, 48);
	cr_assert_not_null(s);
	cr_assert_eq(s->hold_ms, HOLD_MS, "the HOLD record");
	cr_assert_eq(rec.orders, 3);
	cr_assert_eq(rec.released, 1);
	cr_assert_eq(fs_winners_find_won(s->winners, 1, &order, &won), FS_WIN_FOUND);
	cr_assert_eq(order, o1);
	cr_assert_eq(won, FS_WON_RELEASED, "the release re-applied");
	cr_assert_eq(fs_winners_find_won(s->winners, 2, &order, &won), FS_WIN_FOUND);
	cr_assert_eq(order, o2);
	cr_assert_eq(won, 3000, "won 3 s after the start, from the record's time");
	cr_assert_eq(__atomic_load_n(&s->stock.leased, __ATOMIC_RELAXED), 3, "lease after final");
	cr_assert_eq(s->returned, 1);
	cr_assert_eq(fs_stock_sold(&s->stock), 3);
	cr_assert(fs_soldout_is(s->sold_out));
	cr_assert_eq(fs_sale_ctl_release(&t2, NULL, NODE, 48, 1, o1), -EALREADY);
	fs_sale_table_fini(&t2);
}

/* Every reply of a sale is counted once under its worker, kind and status; other sales apart. */
Test(claim, per_sale_counters_by_worker_kind_and_status)
{
	struct fs_sale *s = open_sale(1, 2);
	struct fs_sale *other = open_sale(2, 5);
	struct fs_sale_counters c, o;

	cr_assert_eq(claim(0, NOW_MS, 1, 10, 1).status, FS_ST_WON);
	cr_assert_eq(claim(3, NOW_MS, 1, 11, 2).status, FS_ST_WON);
	cr_assert_eq(claim(3, NOW_MS, 1, 10, 3).status, FS_ST_ALREADY_WON);
	cr_assert_eq(claim(7, NOW_MS, 1, 12, 4).status, FS_ST_SOLD_OUT);
	cr_assert_eq(claim(7, NOW_MS, 1, 13, 5).status, FS_ST_SOLD_OUT);
	cr_assert_eq(claim(1, s->start_ms - 10, 1, 14, 6).status, FS_ST_NOT_STARTED);
	cr_assert_eq(claim(1, s->end_ms, 1, 15, 7).status, FS_ST_ENDED);
	cr_assert_eq(status(NOW_MS, 1).status, FS_ST_SOLD_OUT);
	cr_assert_eq(status(s->end_ms, 1).status, FS_ST_ENDED);
	cr_assert_eq(claim(2, NOW_MS, 2, 10, 8).status, FS_ST_WON);
	cr_assert_eq(claim(9 % N_WORKERS, NOW_MS, 3, 10, 9).status, FS_ST_UNKNOWN_SALE);

	fs_sale_counters_sum(s, &c);
	cr_assert_eq(c.claims, 7);
	cr_assert_eq(c.status_requests, 2);
	cr_assert_eq(c.claim[FS_ST_WON], 2);
	cr_assert_eq(c.claim[FS_ST_ALREADY_WON], 1);
	cr_assert_eq(c.claim[FS_ST_SOLD_OUT], 2);
	cr_assert_eq(c.claim[FS_ST_NOT_STARTED], 1);
	cr_assert_eq(c.claim[FS_ST_ENDED], 1);
	cr_assert_eq(c.status[FS_ST_SOLD_OUT], 1);
	cr_assert_eq(c.status[FS_ST_ENDED], 1);
	/* each worker's own slots */
	cr_assert_eq(s->wcnt[3].reply[0][FS_ST_WON], 1);
	cr_assert_eq(s->wcnt[3].reply[0][FS_ST_ALREADY_WON], 1);
	cr_assert_eq(s->wcnt[7].reply[0][FS_ST_SOLD_OUT], 2);
	cr_assert_eq(s->wcnt[0].reply[1][FS_ST_ENDED], 1);
	fs_sale_counters_sum(other, &o);
	cr_assert_eq(o.claims, 1);
	cr_assert_eq(o.claim[FS_ST_WON], 1);
	cr_assert_eq(o.status_requests, 0);
	/* the node-wide counters still count every reply */
	cr_assert_eq(cnt[7][FS_CNT_ST_SOLD_OUT], 2);
}

/* One worker's 5000 claims on sale 1 by its own users (per_sale_counters_exact_...). */
static void *ctr_run(void *p)
{
	unsigned w = (unsigned)(uintptr_t)p;
	struct fs_claim_env env = env_of(w, NOW_MS);
	uint8_t raw[48] = {0};
	struct fs_fcp_reply rep;

	for (uint64_t i = 0; i < 5000; i++) {
		struct fs_fcp_req req = {.type = FS_FCP_CLAIM,
			.sale_id = 1,
			.user_id = 1 + w * 5000 + i,
			.request_id = i};

		env.rem_sale = NULL; /* as the worker does at each burst */
		fs_claim(&tab, &env, &req, raw, &rep);
	}
	return NULL;
}

/* Many claims from every worker at once: the per-sale sums are exact (one writer per slot). */
Test(claim, per_sale_counters_exact_under_concurrency, .timeout = 60)
{
	struct fs_sale *s = open_sale(1, 1000);
	struct fs_sale_counters c;
	pthread_t th[N_WORKERS];

	for (unsigned w = 0; w < N_WORKERS; w++)
		cr_assert_eq(pthread_create(&th[w], NULL, ctr_run, (void *)(uintptr_t)w), 0);
	for (unsigned w = 0; w < N_WORKERS; w++)
		pthread_join(th[w], NULL);
	fs_sale_counters_sum(s, &c);
	cr_assert_eq(c.claims, N_WORKERS * 5000);
	cr_assert_eq(c.claim[FS_ST_WON], 1000);
	cr_assert_eq(c.claim[FS_ST_WON] + c.claim[FS_ST_SOLD_OUT] + c.claim[FS_ST_RETRY], c.claims);
	cr_assert_eq(fs_stock_sold(&s->stock), 1000);
}
