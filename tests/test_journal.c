/* Unit tests of journal.c and recovery: round trip, torn records, reopen, restart rebuilds winners.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "claim.h"
#include "journal.h"
#include "synchist.h"
#include "sale.h"
#include "testutil.h"

static char tmpdir[64];

static void mk_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/coreb-journal-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	fs_test_rmtree(tmpdir);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void order_rec(struct fs_jrec *rec, uint64_t i)
{
	memset(rec, 0, sizeof(*rec));
	rec->sale_id = 9;
	rec->node_id = 3;
	rec->type = FS_JREC_ORDER;
	rec->time_ns = 1700000000000000000ull + i;
	rec->body.order.order_id = 1000000 + i;
	rec->body.order.user_id = i * 7;
	rec->body.order.request_id = i ^ 0x5555;
}

static void append_n(struct fs_journal *j, uint64_t first, uint64_t n)
{
	struct fs_jrec rec;

	for (uint64_t i = first; i < first + n; i++) {
		order_rec(&rec, i);
		cr_assert_eq(fs_journal_append(j, &rec), 0);
		cr_assert_eq(rec.seq, i);
	}
}

/* Read everything from @p from_seq and check it is records from..to-1 as append_n wrote them. */
static uint64_t read_check(unsigned index, uint64_t from_seq)
{
	struct fs_journal_reader *r = fs_journal_reader_open(tmpdir, index, from_seq);
	static struct fs_jrec buf[4096];
	uint64_t seq = from_seq;
	int n;

	cr_assert_not_null(r);
	while ((n = fs_journal_read(r, buf, 4096)) > 0) {
		for (int k = 0; k < n; k++, seq++) {
			struct fs_jrec want;

			order_rec(&want, seq);
			cr_assert_eq(buf[k].seq, seq);
			cr_assert_eq(buf[k].magic, FS_JREC_MAGIC);
			cr_assert_eq(buf[k].journal, index);
			cr_assert_eq(buf[k].body.order.order_id, want.body.order.order_id);
			cr_assert_eq(buf[k].body.order.user_id, want.body.order.user_id);
			cr_assert_eq(buf[k].body.order.request_id, want.body.order.request_id);
			cr_assert_eq(buf[k].time_ns, want.time_ns);
			cr_assert(fs_jrec_valid(&buf[k], seq));
		}
	}
	cr_assert_geq(n, 0);
	cr_assert_eq(fs_journal_reader_pos(r), seq);
	fs_journal_reader_close(r);
	return seq;
}

TestSuite(journal, .init = mk_tmpdir, .fini = rm_tmpdir);

Test(journal, seal_and_valid)
{
	struct fs_jrec rec;

	order_rec(&rec, 5);
	rec.seq = 5;
	fs_jrec_seal(&rec);
	cr_assert(fs_jrec_valid(&rec, 5));
	cr_assert(fs_jrec_valid(&rec, 0));
	cr_assert_not(fs_jrec_valid(&rec, 6));
	for (unsigned b = 8; b < 64; b++) {
		((uint8_t *)&rec)[b] ^= 0x10;
		cr_assert_not(fs_jrec_valid(&rec, 5), "flip in byte %u undetected", b);
		((uint8_t *)&rec)[b] ^= 0x10;
	}
	rec.magic = 0;
	cr_assert_not(fs_jrec_valid(&rec, 5));
}

Test(journal, round_trip_across_segment_boundary, .timeout = 120)
{
	const uint64_t n = 300000; /* > FS_JOURNAL_SEG_RECS: two segments */
	struct fs_journal *j = fs_journal_open(tmpdir, 4);
	unsigned idx[8];
	char path[128];
	double t0 = now_s();

	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_next_seq(j), 1);
	append_n(j, 1, n);
	cr_assert_eq(fs_journal_next_seq(j), n + 1);
	cr_assert_eq(fs_journal_sync(j), 0);
	/* Readable while the writer is open, and after it closed. */
	cr_assert_eq(read_check(4, 1), n + 1);
	fs_journal_close(j);
	cr_assert_eq(read_check(4, 1), n + 1);
	cr_assert_eq(read_check(4, FS_JOURNAL_SEG_RECS - 1), n + 1); /* start in segment 0 */
	cr_assert_eq(read_check(4, FS_JOURNAL_SEG_RECS + 10), n + 1);
	snprintf(path, sizeof(path), "%s/journal-004-000001.fsj", tmpdir);
	cr_assert_eq(access(path, F_OK), 0, "second segment file exists");
	cr_assert_eq(fs_journal_list(tmpdir, idx, 8), 1);
	cr_assert_eq(idx[0], 4);
	fprintf(stderr, "# round_trip: %lu records over 2 segments, written and read 4x: %.2f s\n",
		(unsigned long)n, now_s() - t0);
}

Test(journal, reader_follows_live_writer)
{
	struct fs_journal_reader *r = fs_journal_reader_open(tmpdir, 0, 1);
	struct fs_jrec buf[16];
	struct fs_journal *j;

	cr_assert_not_null(r);
	cr_assert_eq(fs_journal_read(r, buf, 16), 0, "no segment yet: nothing, no error");
	j = fs_journal_open(tmpdir, 0);
	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_read(r, buf, 16), 0);
	append_n(j, 1, 5);
	cr_assert_eq(fs_journal_read(r, buf, 16), 5);
	cr_assert_eq(buf[4].seq, 5);
	cr_assert_eq(fs_journal_read(r, buf, 16), 0);
	append_n(j, 6, 3);
	cr_assert_eq(fs_journal_read(r, buf, 2), 2);
	cr_assert_eq(fs_journal_read(r, buf, 16), 1);
	cr_assert_eq(buf[0].seq, 8);
	cr_assert_eq(fs_journal_reader_pos(r), 9);
	fs_journal_reader_close(r);
	fs_journal_close(j);
}

Test(journal, reopen_continues_seq)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 1);

	append_n(j, 1, 5);
	fs_journal_close(j);
	j = fs_journal_open(tmpdir, 1);
	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_next_seq(j), 6);
	append_n(j, 6, 5);
	fs_journal_close(j);
	cr_assert_eq(read_check(1, 1), 11);
}

/* Overwrite @p len bytes at @p off of record @p seq (1-based) of journal 2, segment 0. */
static void tear(uint64_t seq, unsigned off, unsigned len)
{
	char path[128];
	uint8_t junk[64];
	int fd;

	memset(junk, 0xa5, sizeof(junk));
	snprintf(path, sizeof(path), "%s/journal-002-000000.fsj", tmpdir);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, junk, len, (off_t)((seq - 1) * 64 + off)), (ssize_t)len);
	close(fd);
}

Test(journal, torn_last_record_ignored_then_overwritten)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 2);

	append_n(j, 1, 10);
	fs_journal_close(j);
	/* A crash mid-write: part of the last record's body is garbage. */
	tear(10, 30, 12);
	cr_assert_eq(read_check(2, 1), 10, "reader stops before the torn record 10");
	j = fs_journal_open(tmpdir, 2);
	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_next_seq(j), 10, "writer positions on the torn record");
	append_n(j, 10, 3);
	fs_journal_close(j);
	cr_assert_eq(read_check(2, 1), 13, "the torn record was overwritten");

	/* A torn magic word (the last store of an append) is the same story. */
	tear(13, 0, 4);
	cr_assert_eq(read_check(2, 1), 13);
	j = fs_journal_open(tmpdir, 2);
	cr_assert_eq(fs_journal_next_seq(j), 13);
	append_n(j, 13, 1);
	fs_journal_close(j);
	cr_assert_eq(read_check(2, 1), 14);
}

Test(journal, stale_records_after_a_hole_are_cleared)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 2);

	/* Pages flushed out of order before a power loss (no fsync): record 5 is lost, 6..10
	 * survived with valid seqs. The journal ends at 4; the writer restarts at 5 and must not
	 * let a reader glue the old 6..10 behind its new 5. */
	append_n(j, 1, 10);
	fs_journal_close(j);
	tear(5, 0, 4);
	cr_assert_eq(read_check(2, 1), 5);
	j = fs_journal_open(tmpdir, 2);
	cr_assert_eq(fs_journal_next_seq(j), 5);
	append_n(j, 5, 1);
	cr_assert_eq(read_check(2, 1), 6, "old record 6 is not read after the new 5");
	append_n(j, 6, 2);
	fs_journal_close(j);
	cr_assert_eq(read_check(2, 1), 8);
}

Test(journal, stale_segment_after_a_hole_is_cleared_at_open, .timeout = 120)
{
	const uint64_t seg = FS_JOURNAL_SEG_RECS;
	struct fs_journal *j = fs_journal_open(tmpdir, 2);
	uint64_t end;

	/* A power loss without fsync lost record 10 of segment 0, while segment 1's first page
	 * (records seg+1 ..) reached the disk: valid records with the seqs that follow segment 0.
	 * The writer restarts at 10 and fills segment 0 again; a reader that reaches the end of
	 * segment 0 before the writer's next append must not read the old seg+1 .. as new. */
	append_n(j, 1, seg + 5);
	fs_journal_close(j);
	tear(10, 0, 4);
	j = fs_journal_open(tmpdir, 2);
	cr_assert_eq(fs_journal_next_seq(j), 10);
	append_n(j, 10, seg - 9); /* segment 0 full again; no roll-over yet */
	end = read_check(2, 1);
	cr_assert_eq(end, seg + 1, "no record of the old segment 1 is read (read up to seq %lu)",
		(unsigned long)end - 1);
	append_n(j, seg + 1, 2);
	cr_assert_eq(read_check(2, seg - 5), seg + 3);
	fs_journal_close(j);
}

/*
 * Records as flashsale-dp's journal wrote them before issue 10 (main at 1a96e60, CRC32C from
 * DPDK's rte_hash_crc; made with that build's persist_jwrite), byte for byte.
 */
/* journal 255: SALE 7 (500 units), LEASE 500, HOLD 600000 ms, STOP, RELEASE order 123 user 456 */
static const char *const old_control[] = {
	"46534a318b044c55010000000000000007000000030002ff4f4c33da374bed18"
	"f4010000000000000068e5cf8b010000c08feecf8b0100000000000000000000",
	"46534a31e773f57e020000000000000007000000030004ffa09e8ddd374bed18"
	"f401000000000000000000000000000000000000000000000000000000000000",
	"46534a314af98ca9030000000000000007000000030007ff3a4775e1374bed18"
	"c027090000000000000000000000000000000000000000000000000000000000",
	"46534a31e43bc5d7040000000000000007000000030003ffa6efa2e4374bed18"
	"0000000000000000000000000000000000000000000000000000000000000000",
	"46534a31763fe6ba050000000000000007000000030008ffb2cc35e8374bed18"
	"7b00000000000000c80100000000000000000000000000000000000000000000",
};
/* journal 2: three ORDERs of sale 7, users 1000..1002 */
static const char *const old_orders[] = {
	"46534a31e893de910100000000000000070000000300010241684bea374bed18"
	"e803000000020080e80300000000000000000000000000000000000000000000",
	"46534a31cac8d42902000000000000000700000003000102c6ea4bea374bed18"
	"e903000000020080e90300000000000001000000000000000000000000000000",
	"46534a3114c7c6720300000000000000070000000300010216eb4bea374bed18"
	"ea03000000020080ea0300000000000002000000000000000000000000000000",
};

/* Write @p n hex records as segment 0 of journal @p index, a full-size file as the writer makes. */
static void write_old(unsigned index, const char *const *hex, unsigned n, struct fs_jrec *recs)
{
	char path[128];
	int fd;

	for (unsigned i = 0; i < n; i++)
		for (unsigned b = 0; b < 64; b++)
			cr_assert_eq(sscanf(hex[i] + 2 * b, "%2hhx", (uint8_t *)&recs[i] + b), 1);
	snprintf(path, sizeof(path), "%s/journal-%03u-000000.fsj", tmpdir, index);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, recs, n * sizeof(*recs), 0), (ssize_t)(n * sizeof(*recs)));
	cr_assert_eq(ftruncate(fd, (off_t)FS_JOURNAL_SEG_RECS * 64), 0);
	close(fd);
}

/* Read journal @p index from seq 1: @p recs byte for byte, then @p more records. */
static void read_same(unsigned index, const struct fs_jrec *recs, unsigned n, unsigned more)
{
	struct fs_journal_reader *r = fs_journal_reader_open(tmpdir, index, 1);
	struct fs_jrec got[8];

	cr_assert_not_null(r);
	cr_assert_eq(fs_journal_read(r, got, 8), (int)(n + more));
	cr_assert_arr_eq(got, recs, n * sizeof(*recs));
	fs_journal_reader_close(r);
}

Test(journal, old_journals_read_by_this_build)
{
	static const uint8_t types[5] = {
		FS_JREC_SALE, FS_JREC_LEASE, FS_JREC_HOLD, FS_JREC_STOP, FS_JREC_RELEASE};
	struct fs_jrec ctl[5], ord[3], copy;
	struct fs_journal *j;

	write_old(FS_JOURNAL_CONTROL, old_control, 5, ctl);
	write_old(2, old_orders, 3, ord);
	for (unsigned i = 0; i < 5; i++) {
		cr_assert(fs_jrec_valid(&ctl[i], i + 1), "old control record %u", i + 1);
		cr_assert_eq(ctl[i].type, types[i]);
		cr_assert_eq(ctl[i].journal, FS_JOURNAL_CONTROL);
		copy = ctl[i];
		copy.crc = 0;
		fs_jrec_seal(&copy);
		cr_assert_arr_eq(
			&copy, &ctl[i], 64, "record %u sealed again: the same 64 bytes", i);
	}
	cr_assert_eq(ctl[0].body.sale.stock, 500);
	cr_assert_eq(ctl[4].body.release.user_id, 456);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert(fs_jrec_valid(&ord[i], i + 1), "old order record %u", i + 1);
		cr_assert_eq(ord[i].journal, 2);
		cr_assert_eq(ord[i].body.order.user_id, 1000 + i);
	}
	read_same(FS_JOURNAL_CONTROL, ctl, 5, 0);
	read_same(2, ord, 3, 0);
	/* the writer goes on after them */
	j = fs_journal_open(tmpdir, 2);
	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_next_seq(j), 4);
	append_n(j, 4, 2);
	fs_journal_close(j);
	read_same(2, ord, 3, 2);
}

Test(journal, list_parses_file_names)
{
	const char *names[] = {"journal-000-000000.fsj", "journal-255-000000.fsj",
		"journal-003-000001.fsj", "journal-3-0.fsj", "journal-004-000000.fsjx",
		"journal-005-000000.tmp", "notes.txt", "journal-256-000000.fsj"};
	unsigned idx[8];
	char path[128];

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		fclose(fopen(path, "w"));
	}
	cr_assert_eq(fs_journal_list(tmpdir, idx, 8), 3);
	cr_assert_eq(idx[0], 0);
	cr_assert_eq(idx[1], 3);
	cr_assert_eq(idx[2], 255);
	cr_assert_eq(fs_journal_list(tmpdir, idx, 2), 2);
	cr_assert_eq(fs_journal_list("/nonexistent-coreb", idx, 8), -ENOENT);
}

/* ---- restart rebuilds the same winners ---- */

#define R_WORKERS 4
#define R_STOCK 500
#define R_USERS 3000
#define R_SALE 77

static struct fs_sale_table tab;
static struct fs_sale_table tab2;

struct claimer {
	unsigned w;
	struct fs_journal *j;
	pthread_barrier_t *start;
	uint64_t cnt[FS_CNT__COUNT];
	uint64_t won_user[R_STOCK + 1];
	uint64_t won_order[R_STOCK + 1];
	unsigned n_won;
	unsigned bad;
};

static void *claimer_run(void *arg)
{
	struct claimer *c = arg;
	struct timespec ts;
	struct fs_claim_env env = {
		.node_id = 3, .worker = (uint8_t)c->w, .journal = c->j, .cnt = c->cnt};
	uint8_t raw[48] = {0};

	clock_gettime(CLOCK_REALTIME, &ts);
	env.now_ms = ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
	env.now_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	pthread_barrier_wait(c->start);
	/* Every worker goes through all users, from its own starting point, so users meet
	 * each other on several workers (ALREADY_WON) and the stock runs out. */
	for (unsigned k = 0; k < R_USERS; k++) {
		struct fs_fcp_req req = {.type = FS_FCP_CLAIM,
			.sale_id = R_SALE,
			.user_id = 1 + (k + c->w * 997) % R_USERS,
			.request_id = k};
		struct fs_fcp_reply rep;

		do
			fs_claim(&tab, &env, &req, raw, &rep);
		while (rep.status == FS_ST_RETRY);
		if (rep.status == FS_ST_WON) {
			if (c->n_won > R_STOCK) {
				c->bad++;
				continue;
			}
			c->won_user[c->n_won] = req.user_id;
			c->won_order[c->n_won++] = rep.order_id;
		} else if (rep.status != FS_ST_ALREADY_WON && rep.status != FS_ST_SOLD_OUT) {
			c->bad++;
		}
	}
	return NULL;
}

Test(journal, restart_rebuilds_same_winners, .timeout = 120)
{
	static struct claimer c[R_WORKERS];
	const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	const uint8_t key2[16] = {0xff};
	struct fs_sale_def def = {
		.sale_id = R_SALE, .stock = R_STOCK, .start_ms = 0, .end_ms = INT64_MAX};
	struct fs_sale_def def2 = {.sale_id = 78,
		.stock = 10,
		.start_ms = 5,
		.end_ms = 50,
		.admission = FS_ADM_TOKEN,
		.has_key = true};
	pthread_t th[R_WORKERS];
	pthread_barrier_t start;
	struct fs_recovery rec;
	struct fs_journal *ctl;
	struct fs_sale *s, *s2;
	unsigned won = 0;
	double t0 = now_s();

	memcpy(def2.key, key, 16);
	fs_sale_table_init(&tab, R_WORKERS);
	ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	cr_assert_not_null(ctl);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, 3, &def), 0);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, 3, &def), -EEXIST);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, 3, R_SALE, 200, false), 0);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, 3, R_SALE, 301, true), -EINVAL, "beyond stock");
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, 3, R_SALE, 300, true), 0);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, 3, &def2), 0);
	cr_assert_eq(fs_sale_ctl_set_key(&tab, ctl, 3, 78, key2, 0), 0);
	cr_assert_eq(fs_sale_ctl_stop(&tab, ctl, 3, 78), 0);
	cr_assert_eq(fs_sale_ctl_stop(&tab, ctl, 3, 79), -ENOENT);
	fs_journal_close(ctl);

	pthread_barrier_init(&start, NULL, R_WORKERS);
	for (unsigned i = 0; i < R_WORKERS; i++) {
		c[i].w = i;
		c[i].start = &start;
		c[i].j = fs_journal_open(tmpdir, i);
		cr_assert_not_null(c[i].j);
		cr_assert_eq(pthread_create(&th[i], NULL, claimer_run, &c[i]), 0);
	}
	for (unsigned i = 0; i < R_WORKERS; i++) {
		pthread_join(th[i], NULL);
		fs_journal_close(c[i].j);
		cr_assert_eq(c[i].bad, 0);
		won += c[i].n_won;
	}
	pthread_barrier_destroy(&start);
	s = fs_sale_lookup(&tab, R_SALE);
	cr_assert_eq(won, R_STOCK);
	cr_assert_eq(fs_stock_sold(&s->stock), R_STOCK);

	/* Restart: a fresh table from the journals alone. */
	fs_sale_table_init(&tab2, R_WORKERS);
	cr_assert_eq(fs_sale_recover(&tab2, tmpdir, &rec), 0);
	cr_assert_eq(rec.sales, 2);
	cr_assert_eq(rec.orders, R_STOCK);
	cr_assert_eq(rec.skipped, 0);
	cr_assert_eq(rec.journals, R_WORKERS);
	s2 = fs_sale_lookup(&tab2, R_SALE);
	cr_assert_not_null(s2);
	cr_assert_eq(fs_stock_sold(&s2->stock), R_STOCK);
	cr_assert_eq(s2->stock.leased, R_STOCK);
	cr_assert(s2->stock.final);
	cr_assert(fs_stock_sold_out(&s2->stock));
	cr_assert_eq(fs_winners_count(s2->winners), R_STOCK);
	for (unsigned i = 0; i < R_WORKERS; i++) {
		for (unsigned k = 0; k < c[i].n_won; k++) {
			uint64_t o1 = 0, o2 = 0;

			cr_assert_eq(
				fs_winners_find(s->winners, c[i].won_user[k], &o1), FS_WIN_FOUND);
			cr_assert_eq(
				fs_winners_find(s2->winners, c[i].won_user[k], &o2), FS_WIN_FOUND);
			cr_assert_eq(o1, c[i].won_order[k]);
			cr_assert_eq(o2, c[i].won_order[k]);
		}
	}
	for (uint64_t u = 1; u <= R_USERS; u++) {
		uint64_t o1, o2;

		cr_assert_eq(
			fs_winners_find(s->winners, u, &o1), fs_winners_find(s2->winners, u, &o2));
	}
	/* The control journal replayed the second sale's key and stop. */
	s2 = fs_sale_lookup(&tab2, 78);
	cr_assert_not_null(s2);
	cr_assert_eq(s2->admission, FS_ADM_TOKEN);
	cr_assert(s2->key_set);
	cr_assert_arr_eq(s2->key, key2, 16);
	cr_assert(s2->stopped);
	cr_assert_eq(s2->start_ms, 5);
	cr_assert_eq(s2->end_ms, 50);
	cr_assert_eq(s2->total, 10);
	fs_sale_table_fini(&tab);
	fs_sale_table_fini(&tab2);
	fprintf(stderr, "# restart_rebuilds: %u workers x %u users, stock %u, recover: %.2f s\n",
		R_WORKERS, R_USERS, R_STOCK, now_s() - t0);
}

Test(journal, recover_skips_unknown_sales_and_duplicates)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 0);
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_sale_def def = {.sale_id = 9, .stock = 10, .start_ms = 0, .end_ms = 100};
	struct fs_recovery rec;
	struct fs_jrec r;
	struct fs_sale *s;

	fs_sale_table_init(&tab, 2);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, 3, &def), 0);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, 3, 9, 10, true), 0);
	fs_journal_close(ctl);
	fs_sale_table_fini(&tab);
	append_n(j, 1, 3); /* sale 9: users 7, 14, 21 */
	order_rec(&r, 1);  /* user 7 again: a duplicate */
	fs_journal_append(j, &r);
	order_rec(&r, 5);
	r.sale_id = 1234; /* no such sale */
	fs_journal_append(j, &r);
	fs_journal_close(j);

	fs_sale_table_init(&tab2, 2);
	cr_assert_eq(fs_sale_recover(&tab2, tmpdir, &rec), 0);
	cr_assert_eq(rec.orders, 3);
	cr_assert_eq(rec.skipped, 2);
	s = fs_sale_lookup(&tab2, 9);
	cr_assert_eq(fs_stock_sold(&s->stock), 3);
	cr_assert_eq(fs_stock_remaining(&s->stock), 7);
	fs_sale_table_fini(&tab2);
}

Test(journal, instance_made_once_per_directory)
{
	char other[64] = "/tmp/coreb-journal-XXXXXX";
	char path[128];
	uint64_t a = 0, b = 0, c = 0;
	FILE *f;

	cr_assert_eq(fs_journal_instance(tmpdir, &a), 0);
	cr_assert_neq(a, 0);
	cr_assert_eq(fs_journal_instance(tmpdir, &b), 0);
	cr_assert_eq(a, b, "the same directory keeps its id");
	cr_assert_not_null(mkdtemp(other));
	cr_assert_eq(fs_journal_instance(other, &c), 0);
	cr_assert_neq(a, c, "a directory made anew gets a new id");
	snprintf(path, sizeof(path), "%s/instance", other);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("not hex\n", f);
	fclose(f);
	cr_assert_eq(
		fs_journal_instance(other, &c), -EIO, "a malformed id is an error, not replaced");
	unlink(path);
	rmdir(other);
}

/* ---- segments made ahead by a helper (fs_journal_set_tended, fs_journal_tend) ---- */

#define SEG ((uint64_t)FS_JOURNAL_SEG_RECS)
#define TEND_BYTES ((size_t)1 << 20)

/* munmap() of this process, interposed: counts the calls made by a thread marked writer. */
static __thread bool in_writer;
static unsigned writer_munmaps;

int munmap(void *addr, size_t len)
{
	if (in_writer)
		__atomic_fetch_add(&writer_munmaps, 1, __ATOMIC_RELAXED);
	return (int)syscall(SYS_munmap, addr, len);
}

static void seg_file(char *path, size_t len, unsigned index, uint64_t seg)
{
	snprintf(path, len, "%s/journal-%03u-%06lu.fsj", tmpdir, index, (unsigned long)seg);
}

/* Size of segment @p seg of journal @p index (-1: no file); *zero: it holds only zero bytes. */
static long long seg_size(unsigned index, uint64_t seg, bool *zero)
{
	static char buf[1 << 16];
	char path[128];
	struct stat st;
	ssize_t n;
	int fd;

	seg_file(path, sizeof(path), index, seg);
	if (stat(path, &st) != 0)
		return -1;
	cr_assert_eq(st.st_mode & 0777, 0600, "%s is 0600", path);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	*zero = true;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n && *zero; i++)
			*zero = buf[i] == 0;
	close(fd);
	return (long long)st.st_size;
}

/* A tended journal @p index, appended up to @p n records with the helper's upkeep after every
 * 4096; returns it open. */
static struct fs_journal *tended_to(unsigned index, uint64_t n)
{
	struct fs_journal *j = fs_journal_open(tmpdir, index);

	cr_assert_not_null(j);
	fs_journal_set_tended(j, true);
	for (uint64_t done = fs_journal_next_seq(j) - 1; done < n;) {
		uint64_t k = n - done < 4096 ? n - done : 4096;

		append_n(j, done + 1, k);
		done += k;
		fs_journal_tend(j, TEND_BYTES);
	}
	return j;
}

/* Run @p fn in a child that then dies of SIGKILL, leaving its files as a crash would. */
static void crash_after(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fn();
		raise(SIGKILL);
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was killed");
}

/* append_n as the writer: its munmap() calls are counted */
static void writer_append(struct fs_journal *j, uint64_t first, uint64_t n)
{
	in_writer = true;
	append_n(j, first, n);
	in_writer = false;
}

/* The writer's roll-overs so far: @p ahead onto segments made ahead, @p made by itself. */
static void rolls_are(const struct fs_journal *j, uint64_t ahead, uint64_t made)
{
	uint64_t a, m;

	fs_journal_rolls(j, &a, &m);
	cr_assert_eq(a, ahead, "%lu roll-overs onto segments made ahead, want %lu",
		(unsigned long)a, (unsigned long)ahead);
	cr_assert_eq(m, made, "%lu segments made by the writer, want %lu", (unsigned long)m,
		(unsigned long)made);
}

/* Segment @p seg of journal @p index was made ahead and never written: full size, zeros. */
static void made_ahead_empty(unsigned index, uint64_t seg)
{
	bool zero;

	cr_assert_eq(seg_size(index, seg, &zero), (long long)(SEG * 64), "made ahead, full size");
	cr_assert(zero, "never written");
}

/* crash_after(@p fn), which leaves segment @p seg of journal @p index made ahead, empty. */
static void crash_leaving_empty(void (*fn)(void), unsigned index, uint64_t seg)
{
	crash_after(fn);
	made_ahead_empty(index, seg);
}

/* Segment @p seg of journal @p index as a crash while it was allocated leaves it: 4 KiB. */
static void short_segment(unsigned index, uint64_t seg)
{
	char path[128];
	int fd;

	seg_file(path, sizeof(path), index, seg);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
}

Test(journal, tended_roll_takes_the_segment_made_ahead, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 5);
	bool zero;

	fs_journal_set_tended(j, true);
	append_n(j, 1, FS_JOURNAL_PREPARE_AT - 1);
	fs_journal_tend(j, TEND_BYTES);
	cr_assert_eq(seg_size(5, 1, &zero), -1, "not made before FS_JOURNAL_PREPARE_AT records");
	append_n(j, FS_JOURNAL_PREPARE_AT, 1);
	fs_journal_tend(j, TEND_BYTES);
	cr_assert_eq(seg_size(5, 1, &zero), (long long)(SEG * 64), "made ahead at full size");
	cr_assert(zero, "and empty");
	writer_append(j, FS_JOURNAL_PREPARE_AT + 1, SEG - FS_JOURNAL_PREPARE_AT + 10);
	rolls_are(j, 1, 0); /* the roll-over took the segment made ahead */
	cr_assert_eq(writer_munmaps, 0, "the writer unmapped nothing");
	cr_assert_eq(read_check(5, 1), SEG + 11);
	fs_journal_close(j);
	cr_assert_eq(seg_size(5, 2, &zero), -1, "no segment 2 yet: 10 records into segment 1");
	cr_assert_eq(read_check(5, 1), SEG + 11);
}

Test(journal, tended_writer_makes_the_segment_when_none_is_ready, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 6);
	struct fs_jrec rec;

	/* nobody tends it: each roll-over makes its segment on the writer, and the segments it
	 * lets go wait in the helper's slot */
	fs_journal_set_tended(j, true);
	writer_append(j, 1, 3 * SEG);
	rolls_are(j, 0, 2);
	/* segment 0, let go at the second roll-over, still waits for the helper to unmap it */
	in_writer = true;
	cr_assert_eq(fs_journal_ready(j), -EAGAIN, "the third roll-over waits for the helper");
	order_rec(&rec, 3 * SEG + 1);
	cr_assert_eq(fs_journal_append(j, &rec), -EAGAIN, "nothing appended");
	in_writer = false;
	fs_journal_tend(j, TEND_BYTES); /* unmaps segment 0, makes segment 3 */
	writer_append(j, 3 * SEG + 1, 3);
	rolls_are(j, 1, 2);
	cr_assert_eq(writer_munmaps, 0, "the writer of a tended journal unmaps nothing");
	fs_journal_close(j);
	cr_assert_eq(read_check(6, 1), 3 * SEG + 4);
}

/* madvise() of this process, interposed: the pages of each MADV_POPULATE_WRITE (the helper's
 * prefault), their sum and the most in one call. */
static uint64_t populated_pages, populated_max;

int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_POPULATE_WRITE) {
		populated_pages += len / 4096;
		if (len / 4096 > populated_max)
			populated_max = len / 4096;
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* fs_journal_tend until it has nothing left to prepare: the calls that said there was more. */
static unsigned tend_until_done(struct fs_journal *j)
{
	unsigned more = 0;

	while (fs_journal_tend(j, TEND_BYTES))
		cr_assert_lt(++more, 1000, "a tend that never finishes");
	return more;
}

/* Append @p n records from @p first to tended journal @p j (index @p index) over its roll-over
 * onto the segment made ahead, whose head the helper prepared; then one tend prepares only the
 * @p pages the window gained, and the journal reads back whole. Closes @p j. */
static void roll_onto_prepared(
	struct fs_journal *j, unsigned index, uint64_t first, uint64_t n, uint64_t pages)
{
	append_n(j, first, n);
	rolls_are(j, 1, 0);
	populated_pages = 0;
	cr_assert_not(fs_journal_tend(j, TEND_BYTES));
	cr_assert_eq(populated_pages, pages, "the head prepared before the roll-over is not again");
	fs_journal_close(j);
	cr_assert_eq(read_check(index, 1), first + n);
}

/* The helper's prefault (journal_prepare): each page once, at most 32 a call (a 4 MiB populate
 * of pages already in, every 5 ms, took 1.5-10 ms on the VM), then the next segment's head. */
Test(journal, tend_prepares_each_page_once_a_few_at_a_time, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 7);

	fs_journal_set_tended(j, true);
	append_n(j, 1, 10 * 64); /* ten pages of records */
	populated_pages = populated_max = 0;
	/* the next 1 MiB from page 10: 256 pages, 32 a call, the eighth call takes the last */
	cr_assert_eq(tend_until_done(j), 8);
	cr_assert_eq(populated_pages, 256);
	cr_assert_eq(populated_max, 32, "at most 32 pages in one call");
	cr_assert_not(fs_journal_tend(j, TEND_BYTES), "nothing left");
	cr_assert_eq(populated_pages, 256, "no page twice");
	append_n(j, 10 * 64 + 1, 64); /* one page more: one new page in the window */
	cr_assert_not(fs_journal_tend(j, TEND_BYTES));
	cr_assert_eq(populated_pages, 257);
	/* 2 pages before the end, no tend on the way: the segment made ahead (next_prepare), then
	 * the last 2 pages of this one and the first 254 of the next */
	append_n(j, 11 * 64 + 1, SEG - 128 - 11 * 64);
	populated_pages = populated_max = 0;
	cr_assert_eq(tend_until_done(j), 8);
	cr_assert_eq(populated_pages, 256);
	cr_assert_eq(populated_max, 32);
	/* over the roll-over onto it: 100 records in, only the 4 pages the window gained */
	roll_onto_prepared(j, 7, SEG - 127, 128 + 100, 4);
}

/* A writer at the very end of its segment (full, not rolled over yet): the helper still makes
 * the next segment and prepares its head, so the roll-over's first writes find it ready. */
Test(journal, tend_prepares_the_next_head_for_a_writer_at_the_end, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 8);

	fs_journal_set_tended(j, true);
	append_n(j, 1, SEG); /* position SEG: the next append rolls over */
	populated_pages = 0;
	cr_assert_eq(tend_until_done(j), 8, "the next segment's first 1 MiB, 32 pages a call");
	cr_assert_eq(populated_pages, 256);
	roll_onto_prepared(j, 8, SEG + 1, 1, 1); /* one record in: the page the window gained */
}

Test(journal, untended_writer_makes_and_unmaps_its_segments, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 6);

	writer_append(j, 1, 2 * SEG + 1);
	rolls_are(j, 0, 2);
	cr_assert_eq(writer_munmaps, 1, "segment 0, let go at the second roll-over");
	fs_journal_close(j);
	cr_assert_eq(read_check(6, 1), 2 * SEG + 2);
}

/* Read journal @p index from @p from_seq: records up to @p end - 1 as append_n wrote them, then
 * nothing more, twice (a reader waiting at the end stays there, with no error). */
static void read_exactly(unsigned index, uint64_t from_seq, uint64_t end)
{
	struct fs_journal_reader *r;
	struct fs_jrec buf[4];

	cr_assert_eq(read_check(index, from_seq), end, "records %lu.. end before %lu",
		(unsigned long)from_seq, (unsigned long)end);
	r = fs_journal_reader_open(tmpdir, index, end);
	cr_assert_not_null(r);
	cr_assert_eq(fs_journal_read(r, buf, 4), 0, "no record at seq %lu", (unsigned long)end);
	cr_assert_eq(fs_journal_read(r, buf, 4), 0);
	fs_journal_reader_close(r);
}

static void writes_past_half_a_segment(void)
{
	struct fs_journal *j = tended_to(7, FS_JOURNAL_PREPARE_AT + 10);

	append_n(j, FS_JOURNAL_PREPARE_AT + 11, 5); /* segment 1 is made ahead, never written */
}

Test(journal, crash_with_an_empty_segment_made_ahead, .timeout = 120)
{
	const uint64_t n = FS_JOURNAL_PREPARE_AT + 15;
	struct fs_journal *j;
	unsigned idx[4];

	crash_leaving_empty(writes_past_half_a_segment, 7, 1);
	cr_assert_eq(fs_journal_list(tmpdir, idx, 4), 1);
	cr_assert_eq(idx[0], 7);
	/* readers: every record, no gap, nothing after (from the start, from the middle) */
	read_exactly(7, 1, n + 1);
	read_exactly(7, FS_JOURNAL_PREPARE_AT, n + 1);
	/* the writer resumes in segment 0 at the right seq, and rolls onto the file later */
	j = tended_to(7, SEG + 3);
	cr_assert_eq(read_check(7, 1), SEG + 4);
	fs_journal_close(j);
	j = fs_journal_open(tmpdir, 7);
	cr_assert_eq(fs_journal_next_seq(j), SEG + 4, "restart after it: the right seq");
	fs_journal_close(j);
	read_exactly(7, 1, SEG + 4);
}

static void fills_a_segment(void)
{
	tended_to(8, SEG); /* segment 0 full, segment 1 made ahead */
}

Test(journal, crash_with_a_segment_made_ahead_after_a_full_one, .timeout = 120)
{
	struct fs_journal *j;
	bool zero;

	crash_leaving_empty(fills_a_segment, 8, 1);
	read_exactly(8, 1, SEG + 1);
	read_exactly(8, SEG + 1, SEG + 1); /* a reader at the start of the empty segment */
	j = fs_journal_open(tmpdir, 8);
	cr_assert_eq(fs_journal_next_seq(j), SEG + 1, "resumes at the first record of segment 1");
	append_n(j, SEG + 1, 3);
	fs_journal_close(j);
	cr_assert_eq(seg_size(8, 2, &zero), -1, "the records went to segment 1, no roll-over");
	read_exactly(8, 1, SEG + 4);
}

static void writes_into_the_segment_made_ahead(void)
{
	tended_to(9, SEG + FS_JOURNAL_PREPARE_AT + 7); /* 0 full, 1 partial, 2 made ahead */
}

Test(journal, crash_with_a_segment_made_ahead_after_a_partial_one, .timeout = 120)
{
	const uint64_t n = SEG + FS_JOURNAL_PREPARE_AT + 7;
	struct fs_journal *j;

	crash_leaving_empty(writes_into_the_segment_made_ahead, 9, 2);
	read_exactly(9, 1, n + 1);
	read_exactly(9, SEG - 2, n + 1);
	j = tended_to(9, 2 * SEG + 5);
	fs_journal_close(j);
	read_exactly(9, 1, 2 * SEG + 6);
}

Test(journal, crash_while_a_segment_was_allocated, .timeout = 120)
{
	struct fs_journal *j;
	bool zero;

	/* segment 0 partly written, segment 1 created but only 4 KiB allocated */
	j = fs_journal_open(tmpdir, 10);
	append_n(j, 1, 10);
	fs_journal_close(j);
	short_segment(10, 1);
	read_exactly(10, 1, 11);
	read_exactly(10, SEG + 1, SEG + 1); /* not there yet: no error, no SIGBUS */
	j = fs_journal_open(tmpdir, 10);
	cr_assert_eq(fs_journal_next_seq(j), 11);
	cr_assert_eq(seg_size(10, 1, &zero), 4096, "left as it is: nothing was written to it");
	append_n(j, 11, SEG);
	cr_assert_eq(seg_size(10, 1, &zero), (long long)(SEG * 64), "allocated at the roll-over");
	fs_journal_close(j);
	read_exactly(10, 1, SEG + 11);

	/* the same after a full segment: the writer continues in it, allocated first */
	j = fs_journal_open(tmpdir, 14);
	append_n(j, 1, SEG);
	fs_journal_close(j);
	short_segment(14, 1);
	read_exactly(14, 1, SEG + 1);
	j = fs_journal_open(tmpdir, 14);
	cr_assert_eq(fs_journal_next_seq(j), SEG + 1);
	cr_assert_eq(seg_size(14, 1, &zero), (long long)(SEG * 64));
	append_n(j, SEG + 1, 2);
	fs_journal_close(j);
	read_exactly(14, 1, SEG + 3);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

Test(journal, tended_failure_to_make_a_segment_then_recovery, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 11);
	char path[128];
	struct fs_jrec rec;

	/* segment 1 cannot be created (a directory holds its name: as a full disk, every try
	 * fails), so the helper fails and the writer returns its error at the end of segment 0,
	 * without a try of its own */
	seg_file(path, sizeof(path), 11, 1);
	cr_assert_eq(mkdir(path, 0700), 0);
	fs_journal_set_tended(j, true);
	append_n(j, 1, SEG);
	fs_journal_tend(j, TEND_BYTES);
	cr_assert_eq(fs_journal_ready(j), -EISDIR);
	order_rec(&rec, SEG + 1);
	cr_assert_eq(fs_journal_append(j, &rec), -EISDIR, "nothing appended");
	rolls_are(j, 0, 0); /* the writer did not try */
	/* the cause goes away: the helper's next try after FS_JOURNAL_RETRY_MS makes it, and the
	 * writer takes it at once */
	cr_assert_eq(rmdir(path), 0);
	fs_journal_tend(j, TEND_BYTES);
	cr_assert_eq(fs_journal_ready(j), -EISDIR, "not tried again before the retry time");
	sleep_ms(FS_JOURNAL_RETRY_MS + 20);
	fs_journal_tend(j, TEND_BYTES);
	cr_assert_eq(fs_journal_ready(j), 0);
	append_n(j, SEG + 1, 2);
	rolls_are(j, 1, 0);
	fs_journal_close(j);
	read_exactly(11, 1, SEG + 3);
}

Test(journal, untended_failure_to_make_a_segment_is_retried_every_50_ms, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 12);
	char path[128];

	seg_file(path, sizeof(path), 12, 1);
	cr_assert_eq(mkdir(path, 0700), 0);
	append_n(j, 1, SEG);
	cr_assert_eq(fs_journal_ready(j), -EISDIR);
	cr_assert_eq(rmdir(path), 0);
	cr_assert_eq(fs_journal_ready(j), -EISDIR, "no new try before FS_JOURNAL_RETRY_MS");
	sleep_ms(FS_JOURNAL_RETRY_MS + 20);
	cr_assert_eq(fs_journal_ready(j), 0);
	append_n(j, SEG + 1, 2);
	fs_journal_close(j);
	read_exactly(12, 1, SEG + 3);
}

/* A writer, its helper and a reader at once, as flashsale-dp and flashsale-persist run them. */
struct live {
	struct fs_journal *j;
	uint64_t n;
	unsigned sync_every;
	bool done; /* writer: wo (release) at its end; others: ro (acquire) */
	uint64_t read_to;
	unsigned bad;
};

static void *live_writer(void *arg)
{
	struct live *l = arg;
	struct fs_jrec rec;

	in_writer = true;
	for (uint64_t i = 1; i <= l->n; i++) {
		int rc;

		order_rec(&rec, i);
		/* -EAGAIN: the helper is making the segment (a claim would get RETRY) */
		while ((rc = fs_journal_ready(l->j)) == -EAGAIN)
			sched_yield();
		if (rc != 0 || fs_journal_append(l->j, &rec) != 0 || rec.seq != i)
			l->bad++;
		if (l->sync_every != 0 && i % l->sync_every == 0 && fs_journal_sync(l->j) != 0)
			l->bad++;
	}
	__atomic_store_n(&l->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *live_helper(void *arg)
{
	struct live *l = arg;

	while (!__atomic_load_n(&l->done, __ATOMIC_ACQUIRE)) {
		fs_journal_tend(l->j, TEND_BYTES);
		sleep_ms(1);
	}
	return NULL;
}

static void *live_reader(void *arg)
{
	struct live *l = arg;
	struct fs_journal_reader *r = fs_journal_reader_open(tmpdir, 13, 1);
	static struct fs_jrec buf[1024];
	uint64_t seq = 1;

	for (;;) {
		bool done = __atomic_load_n(&l->done, __ATOMIC_ACQUIRE);
		int n = fs_journal_read(r, buf, 1024);

		for (int k = 0; k < n; k++, seq++)
			if (buf[k].seq != seq || buf[k].body.order.user_id != seq * 7)
				l->bad++;
		if (n < 0 || (n == 0 && done))
			break;
	}
	l->read_to = seq - 1;
	fs_journal_reader_close(r);
	return NULL;
}

static void live_run(uint64_t n, bool fsync, unsigned sync_every)
{
	struct live l = {.n = n, .sync_every = sync_every};
	pthread_t th[3];
	uint64_t ahead, made;

	l.j = fs_journal_open(tmpdir, 13);
	cr_assert_not_null(l.j);
	fs_journal_set_fsync(l.j, fsync);
	fs_journal_set_tended(l.j, true);
	cr_assert_eq(pthread_create(&th[0], NULL, live_helper, &l), 0);
	cr_assert_eq(pthread_create(&th[1], NULL, live_reader, &l), 0);
	cr_assert_eq(pthread_create(&th[2], NULL, live_writer, &l), 0);
	for (int i = 2; i >= 0; i--)
		pthread_join(th[i], NULL);
	fs_journal_rolls(l.j, &ahead, &made);
	cr_log_info("%lu records, fsync %d: %lu roll-overs onto segments made ahead, %lu made by "
		    "the writer",
		(unsigned long)n, fsync, (unsigned long)ahead, (unsigned long)made);
	cr_assert_eq(l.bad, 0);
	cr_assert_eq(l.read_to, n, "the reader read every record, in order, no gap");
	cr_assert_eq(ahead + made, (n - 1) / SEG);
	cr_assert_eq(writer_munmaps, 0, "the writer unmapped nothing");
	fs_journal_close(l.j);
	read_exactly(13, 1, n + 1);
}

Test(journal, tended_writer_helper_and_reader_at_once, .timeout = 300)
{
	live_run(4 * SEG + 1000, false, 0);
}

Test(journal, tended_writer_helper_and_reader_at_once_fsync, .timeout = 300)
{
	live_run(2 * SEG + 1000, true, 4096);
}

Test(journal, recovery_with_a_segment_made_ahead, .timeout = 120)
{
	const uint64_t n = FS_JOURNAL_PREPARE_AT + 100;
	struct fs_sale_def def = {.sale_id = 9, .stock = n, .start_ms = 0, .end_ms = 100};
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_journal *j;
	struct fs_recovery rec;
	struct fs_sale *s;

	fs_sale_table_init(&tab, 1);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, 3, &def), 0);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, 3, 9, n, true), 0);
	fs_journal_close(ctl);
	fs_sale_table_fini(&tab);
	j = tended_to(0, n); /* n orders of sale 9, distinct users; segment 1 made ahead */
	fs_journal_close(j); /* leaves segment 1 as a crash would */
	made_ahead_empty(0, 1);
	fs_sale_table_init(&tab2, 1);
	cr_assert_eq(fs_sale_recover(&tab2, tmpdir, &rec), 0);
	cr_assert_eq(rec.orders, n);
	cr_assert_eq(rec.skipped, 0);
	s = fs_sale_lookup(&tab2, 9);
	cr_assert_eq(fs_stock_sold(&s->stock), n);
	fs_sale_table_fini(&tab2);
}

/*
 * Group commit: the thread syncs only what the writer published, the durable position moves
 * only after its sync, and a range across a roll-over (the writer's old segment let go) is
 * synced through the thread's own mappings; the writer sees the position it published.
 */
Test(journal, group_commit_publishes_only_what_the_writer_handed_over, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 6);
	uint64_t durable = 0, n = FS_JOURNAL_SEG_RECS + 100;

	cr_assert_not_null(j);
	fs_journal_set_group(j, true);
	cr_assert_eq(fs_journal_group_sync(j), 0, "nothing appended: nothing to do");
	append_n(j, 1, 10);
	cr_assert_eq(fs_journal_group_sync(j), 0, "appended, not handed over yet");
	cr_assert_not(fs_journal_durable(j, 1));
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(durable, 0);
	cr_assert_eq(fs_journal_group_sync(j), 1);
	cr_assert(fs_journal_durable(j, 10));
	cr_assert_not(fs_journal_durable(j, 11));
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(durable, 10);
	/* across the end of segment 0: the writer rolls over (untended: it unmaps segment 0) */
	append_n(j, 11, n - 10);
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(fs_journal_group_sync(j), 1);
	cr_assert(fs_journal_durable(j, n));
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(durable, n);
	cr_assert_eq(fs_journal_ready(j), 0, "a healthy group commit leaves the journal ready");
	fs_journal_close(j);
	cr_assert_eq(read_check(6, 1), n + 1);
}

/* The sync histogram counts each successful group sync once, in the bucket of its duration, and
 * nothing for a round with nothing to sync; a journal never synced has an empty one. */
Test(journal, group_sync_histogram_counts_each_sync)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 7);
	uint64_t counts[FS_SYNC_HIST_N], sum_ns = 1, total = 0, durable;
	unsigned i;

	cr_assert_not_null(j);
	fs_journal_set_group(j, true);
	fs_journal_sync_hist(j, counts, &sum_ns);
	for (i = 0; i < FS_SYNC_HIST_N; i++)
		total += counts[i];
	cr_assert_eq(total, 0);
	cr_assert_eq(sum_ns, 0);
	for (uint64_t k = 0; k < 3; k++) {
		append_n(j, 1 + 5 * k, 5);
		cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
		cr_assert_eq(fs_journal_group_sync(j), 1);
		cr_assert_eq(fs_journal_group_sync(j), 0, "nothing new: no sync, no count");
	}
	fs_journal_sync_hist(j, counts, &sum_ns);
	total = 0;
	for (i = 0; i < FS_SYNC_HIST_N; i++)
		total += counts[i];
	cr_assert_eq(total, 3, "three syncs, %" PRIu64 " counted", total);
	cr_assert_gt(sum_ns, 0, "each sync took some time (a write and an fdatasync)");
	/* each sync lies in its bucket: [lower, upper) µs, lower the previous bucket's upper */
	uint64_t lo = 0, hi = 0;
	for (i = 0; i < FS_SYNC_HIST_N; i++) {
		lo += counts[i] * (i == 0 ? 0 : fs_sync_hist_upper_us(i - 1) * 1000u);
		/* the last bucket has no upper bound (a sync of 262 ms or more on a slow disk) */
		hi = counts[i] != 0 && i == FS_SYNC_HIST_N - 1
			     ? UINT64_MAX
			     : hi + counts[i] * fs_sync_hist_upper_us(i) * 1000u;
	}
	cr_assert(lo <= sum_ns && sum_ns < hi,
		"buckets say [%" PRIu64 ", %" PRIu64 ") ns, sum %" PRIu64, lo, hi, sum_ns);
	fs_journal_close(j);
}

/*
 * Group commit: the writer's records reach the file only through the thread (its buffers are not
 * the file's mapping), so a reader sees them once a group sync wrote them; a roll-over onto the
 * buffer of a segment not yet durable waits (-EAGAIN, nothing written) and goes on once it is.
 */
Test(journal, group_commit_files_see_written_records_and_buffers_wait, .timeout = 120)
{
	struct fs_journal *j = fs_journal_open(tmpdir, 7);
	uint64_t durable = 0, n = 2 * (uint64_t)FS_JOURNAL_SEG_RECS;
	struct fs_jrec rec;

	cr_assert_not_null(j);
	cr_assert_eq(fs_journal_set_group(j, true), 0);
	append_n(j, 1, 10);
	cr_assert_eq(read_check(7, 1), 1, "appended, not written by the thread: not in the file");
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(fs_journal_group_sync(j), 1);
	cr_assert_eq(read_check(7, 1), 11, "written and synced: in the file");
	/* segments 0 and 1 filled with no sync of segment 0's rest: segment 2 needs buffer 0 */
	append_n(j, 11, n - 10);
	order_rec(&rec, n + 1);
	cr_assert_eq(fs_journal_ready(j), -EAGAIN, "buffer 0 holds records not durable");
	cr_assert_eq(fs_journal_append(j, &rec), -EAGAIN);
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(fs_journal_group_sync(j), 1);
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(durable, n);
	cr_assert_eq(fs_journal_ready(j), 0, "segment 1 durable: buffer 0 is free again");
	append_n(j, n + 1, 5);
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(fs_journal_group_sync(j), 1);
	fs_journal_close(j);
	cr_assert_eq(read_check(7, 1), n + 6);
}

/*
 * A disk that fails writes (as tests/fault/sync_fail.sh makes one): ext4 (4 KiB blocks, no fs
 * journal) on a loop device whose backing file is sparse on a small tmpfs; filling the tmpfs
 * makes every write to a block never written before fail (ENOSPC). The loop device takes
 * requests of one 4 KiB page only: it completes a short write as a success (lo_complete_rq
 * retries short reads only), so a request over a block written before and then new ones would
 * report success and lose the new ones (measured: 12 KiB from a written block, fdatasync 0 with
 * the tmpfs full, the last 8 KiB zeros after a remount). Root, losetup and mkfs.ext4 needed, else
 * the test is skipped. Everything under tmpdir; faildisk_fini undoes it all.
 */
static char fd_loop[64];
static struct fs_journal *fd_journal; /**< closed by faildisk_fini if a test stopped early */

static int shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shf(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void faildisk_init(void)
{
	char cmd[PATH_MAX + 64];
	FILE *f;

	mk_tmpdir();
	if (geteuid() != 0 || shf("command -v losetup mkfs.ext4 >/dev/null") != 0 ||
		access("/dev/loop-control", F_OK) != 0)
		return; /* skipped by faildisk_need() */
	cr_assert_eq(shf("mkdir -p %s/outer %s/ext && mount -t tmpfs -o size=24m fs-jfail %s/outer"
			 " && truncate -s 128M %s/outer/backing",
			     tmpdir, tmpdir, tmpdir, tmpdir),
		0);
	snprintf(cmd, sizeof(cmd), "losetup --find --show --direct-io=off %s/outer/backing", tmpdir);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(fd_loop, sizeof(fd_loop), f));
	pclose(f);
	fd_loop[strcspn(fd_loop, "\n")] = '\0';
	cr_assert_eq(shf("echo 4 >/sys/block/%s/queue/max_sectors_kb && "
			 "mkfs.ext4 -q -F -b 4096 -O ^has_journal -E "
			 "lazy_itable_init=0,lazy_journal_init=0,nodiscard %s && "
			 "mount -o errors=continue %s %s/ext && mkdir %s/ext/state",
			     fd_loop + strlen("/dev/"), fd_loop, fd_loop, tmpdir, tmpdir),
		0);
}

static void faildisk_need(void)
{
	if (fd_loop[0] == '\0')
		cr_skip_test("needs root, losetup, mkfs.ext4 and loop devices");
}

/* The tmpfs under the loop device full (@p full) or not. */
static void faildisk_fill(bool full)
{
	if (full)
		shf("dd if=/dev/zero of=%s/outer/filler bs=64k status=none 2>/dev/null;"
		    "dd if=/dev/zero of=%s/outer/filler2 bs=4k status=none 2>/dev/null",
			tmpdir, tmpdir);
	else
		shf("rm -f %s/outer/filler %s/outer/filler2", tmpdir, tmpdir);
}

/* A power cut: the ext4 unmounted (its page cache dropped) and mounted again. */
static void faildisk_cut(void)
{
	cr_assert_eq(shf("umount %s/ext && mount -o errors=continue %s %s/ext", tmpdir, fd_loop,
			     tmpdir),
		0);
}

static void faildisk_fini(void)
{
	fs_journal_close(fd_journal); /* its mappings would keep the ext4 busy */
	fd_journal = NULL;
	if (fd_loop[0] != '\0')
		shf("umount %s/ext; losetup -d %s; umount %s/outer", tmpdir, fd_loop, tmpdir);
	fd_loop[0] = '\0';
	rm_tmpdir();
}

TestSuite(journal_faildisk, .init = faildisk_init, .fini = faildisk_fini);

/* Records of journal @p index in @p dir read from seq 1 (recovery's view: up to the first
 * invalid one), each checked to be append_n's. */
static uint64_t read_count(const char *dir, unsigned index)
{
	struct fs_journal_reader *r = fs_journal_reader_open(dir, index, 1);
	static struct fs_jrec buf[4096];
	uint64_t seq = 1;
	int n;

	cr_assert_not_null(r);
	while ((n = fs_journal_read(r, buf, 4096)) > 0)
		for (int k = 0; k < n; k++, seq++) {
			struct fs_jrec want;

			order_rec(&want, seq);
			cr_assert_eq(buf[k].body.order.order_id, want.body.order.order_id);
		}
	cr_assert_geq(n, 0);
	fs_journal_reader_close(r);
	return seq - 1;
}

/* Hand what the writer appended to the group commit and sync it; the sync's result. */
static int group_round(struct fs_journal *j)
{
	uint64_t durable;

	(void)fs_journal_group_writer(j, &durable);
	return fs_journal_group_sync(j);
}

/*
 * The group commit's repair after a failed sync, with the writer @p ahead records past the
 * durable position (a worker holding thousands of WONs: more than 256 KiB of records): while
 * the disk still fails, no repair may report success; once it works, every record up to the
 * written end is on disk after a power cut, none missing, no hole. (sync_fail.sh with 16384 WONs
 * held per worker once saw a repair succeed 50 ms after the failure, the disk full, and 128
 * records at a 256 KiB multiple lost: the loop device's short writes, above.)
 */
static void group_repair_ahead(uint64_t ahead)
{
	char dir[PATH_MAX];
	struct fs_journal *j;
	uint64_t durable = 0, first = 1000, n = first + ahead;
	int rc = 0;

	faildisk_need();
	snprintf(dir, sizeof(dir), "%s/ext/state", tmpdir);
	j = fd_journal = fs_journal_open(dir, 0);
	cr_assert_not_null(j);
	fs_journal_set_group(j, true);
	append_n(j, 1, first);
	cr_assert_eq(group_round(j), 1, "a healthy disk: synced");
	faildisk_fill(true);
	append_n(j, first + 1, ahead);
	cr_assert_lt(group_round(j), 0, "the disk fails: the sync fails");
	cr_assert_lt(fs_journal_group_writer(j, &durable), 0, "the writer is told and stops");
	cr_assert_neq(fs_journal_ready(j), 0);
	for (int t = 0; t < 4; t++) {
		usleep((FS_JOURNAL_RETRY_MS + 10) * 1000);
		rc = fs_journal_group_sync(j);
		cr_assert_lt(rc, 0, "try %d: a repair with the disk still full returned %d", t, rc);
	}
	faildisk_fill(false);
	for (int t = 0; t < 20 && rc != 1; t++) {
		usleep((FS_JOURNAL_RETRY_MS + 10) * 1000);
		rc = fs_journal_group_sync(j);
	}
	cr_assert_eq(rc, 1, "the disk works again: the repair succeeds");
	cr_assert_eq(fs_journal_group_writer(j, &durable), 0);
	cr_assert_eq(durable, n);
	fs_journal_close(j);
	fd_journal = NULL;
	faildisk_cut();
	cr_assert_eq(read_count(dir, 0), n, "every record up to the written end is on disk");
}

Test(journal_faildisk, group_repair_near_the_durable_position, .timeout = 120)
{
	group_repair_ahead(100);
}

Test(journal_faildisk, group_repair_far_past_the_durable_position, .timeout = 120)
{
	group_repair_ahead(20000);
}
