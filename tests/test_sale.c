/*
 * Unit tests of sale.c: the journaled control operations, sale deletion (table, RCU, recovery).
 * Built with AddressSanitizer (tests/meson.build): a reader that touched a freed sale fails.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rte_rcu_qsbr.h>

#include "claim.h"
#include "journal.h"
#include "sale.h"
#include "testutil.h"

#define NODE 3
#define N_WORKERS 2

static char tmpdir[64];
static struct fs_sale_table tab;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/coreb-sale-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	fs_sale_table_init(&tab, N_WORKERS);
}

static void teardown(void)
{
	fs_sale_table_fini(&tab);
	fs_test_rmtree(tmpdir);
}

TestSuite(sale, .init = setup, .fini = teardown);

/* Records of the control journal of tmpdir, into @p out (at most @p max). */
static int ctl_records(struct fs_jrec *out, unsigned max)
{
	struct fs_journal_reader *r = fs_journal_reader_open(tmpdir, FS_JOURNAL_CONTROL, 1);
	int n;

	cr_assert_not_null(r);
	n = fs_journal_read(r, out, max);
	fs_journal_reader_close(r);
	cr_assert_geq(n, 0);
	return n;
}

/*
 * Nothing is journaled for a sale that is not created: a stock above FS_SALE_MAX_STOCK is
 * refused (-E2BIG) before any record is written (before: the SALE record was written, then the
 * winner table could not be allocated, and the daemon's retries wrote one more each tick).
 */
Test(sale, refused_create_writes_no_record)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_sale_def def = {
		.sale_id = 7, .stock = 4294967295ull, .start_ms = 0, .end_ms = 10};
	struct fs_jrec rec[4];

	cr_assert_not_null(ctl);
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), -E2BIG);
	def.stock = FS_SALE_MAX_STOCK + 1ull;
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), -E2BIG);
	def.stock = 10;
	def.end_ms = 0; /* window ends before it starts */
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), -EINVAL);
	cr_assert_eq(ctl_records(rec, 4), 0, "records written for sales that do not exist");
	cr_assert_null(fs_sale_lookup(&tab, 7));
	/* the limit itself is accepted (its table is address space, faulted in as used) */
	def.stock = FS_SALE_MAX_STOCK;
	def.end_ms = 10;
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), 0);
	cr_assert_eq(ctl_records(rec, 4), 1);
	cr_assert_eq(rec[0].type, FS_JREC_SALE);
	cr_assert_eq(rec[0].body.sale.stock, FS_SALE_MAX_STOCK);
	fs_journal_close(ctl);
}

/* Fill the control journal's segment and block the next one: appends fail as on a full disk. */
static struct fs_journal *ctl_full(char *blocker, size_t len)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_jrec rec;

	cr_assert_not_null(ctl);
	for (uint64_t i = 1; i <= FS_JOURNAL_SEG_RECS; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = FS_JREC_LEASE;
		rec.sale_id = 99999;
		cr_assert_eq(fs_journal_append(ctl, &rec), 0);
	}
	snprintf(blocker, len, "%s/journal-%03u-000001.fsj", tmpdir, FS_JOURNAL_CONTROL);
	cr_assert_eq(mkdir(blocker, 0700), 0);
	return ctl;
}

/* A sale whose SALE record cannot be written does not exist, and can be created later. */
Test(sale, journal_failure_leaves_no_sale)
{
	struct fs_sale_def def = {.sale_id = 8, .stock = 1000, .start_ms = 0, .end_ms = 10};
	char blocker[128];
	struct fs_journal *ctl = ctl_full(blocker, sizeof(blocker));
	int rc;

	rc = fs_sale_ctl_create(&tab, ctl, NODE, &def);
	cr_assert_lt(rc, 0);
	cr_assert_neq(rc, -EEXIST);
	cr_assert_null(fs_sale_lookup(&tab, 8));
	cr_assert_eq(tab.n, 0);
	cr_assert_eq(rmdir(blocker), 0);
	usleep(60 * 1000); /* the journal retries a failed roll-over after 50 ms */
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), 0);
	cr_assert_not_null(fs_sale_lookup(&tab, 8));
	fs_journal_close(ctl);
}

/* ---- deletion ---- */

/* Define sale @p id (stock @p stock, window [0, 1000)) with all its units leased. */
static void define(struct fs_journal *ctl, uint32_t id, uint64_t stock)
{
	struct fs_sale_def def = {.sale_id = id, .stock = stock, .start_ms = 0, .end_ms = 1000};

	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), 0, "define %u", id);
	cr_assert_eq(fs_sale_ctl_lease(&tab, ctl, NODE, id, stock, true), 0);
}

/* Sell every unit of sale @p id (worker 0 commits them). */
static void sell_all(uint32_t id)
{
	struct fs_sale *s = fs_sale_lookup(&tab, id);

	while (fs_stock_take(&s->stock, 0) == FS_TAKE_OK)
		fs_stock_commit(&s->stock, 0);
	cr_assert(fs_stock_sold_out(&s->stock));
}

/* Only a sale that is over goes; a deleted id is refused for good, and journaled. */
Test(sale, delete_rules)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_sale_def def = {.sale_id = 5, .stock = 10, .start_ms = 0, .end_ms = 1000};
	struct fs_jrec rec[8];
	int n;

	cr_assert_not_null(ctl);
	define(ctl, 5, 10);
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 6, 10), -ENOENT);
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 5, -1), -EBUSY, "pending");
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 5, 10), -EBUSY, "active");
	n = ctl_records(rec, 8);
	cr_assert_eq(n, 2, "SALE and LEASE only");
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 5, 1000), 0, "ended");
	cr_assert_null(fs_sale_lookup(&tab, 5));
	cr_assert_eq(tab.n, 0);
	cr_assert(fs_sale_was_deleted(&tab, 5));
	cr_assert_eq(ctl_records(rec, 8), 3);
	cr_assert_eq(rec[2].type, FS_JREC_DELETE);
	cr_assert_eq(rec[2].sale_id, 5);
	cr_assert_eq(rec[2].node_id, NODE);
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 5, 1000), 0, "again: a no-op");
	cr_assert_eq(ctl_records(rec, 8), 3, "not journaled twice");
	cr_assert_eq(fs_sale_ctl_create(&tab, ctl, NODE, &def), -EIDRM);
	cr_assert_null(fs_sale_lookup(&tab, 5));
	cr_assert_eq(ctl_records(rec, 8), 3);
	/* stopped, and sold out */
	define(ctl, 7, 1);
	cr_assert_eq(fs_sale_ctl_stop(&tab, ctl, NODE, 7), 0);
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 7, 10), 0, "stopped");
	define(ctl, 8, 1);
	sell_all(8);
	cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, 8, 10), 0, "sold out");
	fs_journal_close(ctl);
}

/* Ids whose probes start at one slot (the table's hash, sale.c: Fibonacci hashing of 11 bits). */
static unsigned same_home_ids(uint32_t *ids, unsigned n)
{
	uint32_t home = (7u * 0x9e3779b1u) >> 21;
	unsigned k = 0;

	for (uint32_t id = 7; k < n; id++)
		if (((id * 0x9e3779b1u) >> 21) == home)
			ids[k++] = id;
	return home;
}

/*
 * A delete in the middle of a probe chain leaves the sales behind it findable (a lookup stops at
 * the first empty slot, so the slot cannot simply be emptied), and a new sale reuses the space.
 */
Test(sale, delete_keeps_probe_chains)
{
	uint32_t ids[6];
	unsigned home = same_home_ids(ids, 6);

	for (unsigned i = 0; i < 5; i++)
		define(NULL, ids[i], 3);
	for (unsigned i = 0; i < 5; i++) /* the set-up: one chain from home on */
		cr_assert_eq(tab.slots->slot[(home + i) % FS_SALE_SLOTS]->sale_id, ids[i]);
	cr_assert_eq(fs_sale_ctl_stop(&tab, NULL, NODE, ids[1]), 0);
	cr_assert_eq(fs_sale_ctl_delete(&tab, NULL, NODE, ids[1], 10), 0);
	cr_assert_null(fs_sale_lookup(&tab, ids[1]));
	for (unsigned i = 0; i < 5; i++)
		if (i != 1)
			cr_assert_not_null(fs_sale_lookup(&tab, ids[i]), "sale %u of the chain", i);
	define(NULL, ids[5], 3);
	cr_assert_not_null(fs_sale_lookup(&tab, ids[5]));
	cr_assert_eq(tab.n, 5);
}

/* FS_MAX_SALES counts live sales: three times as many come and go; the list shows the live. */
Test(sale, live_sales_cap_and_reuse, .timeout = 120)
{
	struct fs_sale_def def = {.stock = 1, .start_ms = 0, .end_ms = 1000};
	uint32_t list[8];

	for (uint32_t round = 0; round < 3; round++) {
		uint32_t base = 100000 * (round + 1);

		for (uint32_t i = 0; i < FS_MAX_SALES; i++)
			define(NULL, base + i, 1);
		def.sale_id = base + FS_MAX_SALES;
		cr_assert_eq(fs_sale_ctl_create(&tab, NULL, NODE, &def), -ENOSPC);
		cr_assert_eq(fs_sale_list(&tab, list, 8), 8);
		cr_assert_eq(list[0], base);
		cr_assert_eq(list[7], base + 7);
		for (uint32_t i = 0; i < FS_MAX_SALES; i++) {
			cr_assert_eq(fs_sale_ctl_stop(&tab, NULL, NODE, base + i), 0);
			cr_assert_eq(fs_sale_ctl_delete(&tab, NULL, NODE, base + i, 10), 0);
		}
		cr_assert_eq(tab.n, 0);
		cr_assert_eq(fs_sale_list(&tab, list, 8), 0);
	}
	cr_assert_eq(tab.deleted.n, 3 * FS_MAX_SALES);
	for (uint32_t i = 0; i < FS_MAX_SALES; i += 97)
		cr_assert(fs_sale_was_deleted(&tab, 200000 + i));
	cr_assert_not(fs_sale_was_deleted(&tab, 200000 + FS_MAX_SALES));
}

/* A restart rebuilds only the sales not deleted; the orders of deleted ones are skipped. */
Test(sale, recover_skips_deleted, .timeout = 120)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_journal *j0 = fs_journal_open(tmpdir, 0);
	struct fs_sale_def def = {.stock = 2, .start_ms = 0, .end_ms = 1000};
	static struct fs_sale_table t2;
	struct fs_recovery out;
	uint32_t list[FS_MAX_SALES];
	unsigned kept = 0, deleted = 0;
	struct fs_jrec rec;
	uint64_t order;

	cr_assert_not_null(ctl);
	cr_assert_not_null(j0);
	/* 1,200 sales, one order each; every sale but each 10th deleted once it is stopped */
	for (uint32_t id = 1; id <= 1200; id++) {
		define(ctl, id, 2);
		memset(&rec, 0, sizeof(rec));
		rec.type = FS_JREC_ORDER;
		rec.sale_id = id;
		rec.body.order.order_id = FS_ORDER_ID(NODE, 0, fs_journal_next_seq(j0));
		rec.body.order.user_id = 1000 + id;
		cr_assert_eq(fs_journal_append(j0, &rec), 0);
		if (id % 10 == 0) {
			kept++;
			continue;
		}
		cr_assert_eq(fs_sale_ctl_stop(&tab, ctl, NODE, id), 0);
		cr_assert_eq(fs_sale_ctl_delete(&tab, ctl, NODE, id, 10), 0);
		deleted++;
	}
	fs_journal_close(ctl);
	fs_journal_close(j0);

	fs_sale_table_init(&t2, N_WORKERS);
	cr_assert_eq(fs_sale_recover(&t2, tmpdir, &out), 0);
	cr_assert_eq(out.sales, kept, "sales rebuilt: %lu", (unsigned long)out.sales);
	cr_assert_eq(out.deleted, deleted);
	cr_assert_eq(out.deleted_orders, deleted);
	cr_assert_eq(out.orders, kept);
	cr_assert_eq(out.skipped, 0);
	cr_assert_eq(t2.n, kept);
	cr_assert_eq(fs_sale_list(&t2, list, FS_MAX_SALES), kept);
	for (unsigned i = 0; i < kept; i++) {
		struct fs_sale *s = fs_sale_lookup(&t2, list[i]);

		cr_assert_eq(list[i] % 10, 0);
		cr_assert_eq(fs_stock_sold(&s->stock), 1);
		cr_assert_eq(fs_winners_find(s->winners, 1000 + list[i], &order), FS_WIN_FOUND);
	}
	def.sale_id = 11;
	cr_assert_eq(
		fs_sale_ctl_create(&t2, NULL, NODE, &def), -EIDRM, "deleted before the restart");
	fs_sale_table_fini(&t2);
}

/* ---- lock-free lookups while sales are deleted (RCU with DPDK's QSBR, as the workers) */

#define RD_THREADS 2
#define RD_PERMANENT 16u /* sales 1..16 are never deleted */
#define RD_BASE 1000u	 /* sales from here come and go */
#define RD_RANGE 512u	 /* ids looked up: RD_BASE .. RD_BASE + RD_RANGE - 1 (mod) */

static struct rte_rcu_qsbr *rd_qsbr;
static volatile int rd_stop;

struct rd_reader {
	unsigned id;
	uint64_t lookups, found, missing_permanent, bad;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The table's grace period: every reader has reported a quiescent state since (as
 * fs_worker_synchronize: sleep between checks, the readers may need this CPU). */
static void rd_synchronize(void)
{
	uint64_t t = rte_rcu_qsbr_start(rd_qsbr);
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000};

	while (rte_rcu_qsbr_check(rd_qsbr, t, false) == 0)
		nanosleep(&ts, NULL);
}

/* A sale's stock is a function of its id: a reader checks what it reads against it. */
static uint64_t rd_stock(uint32_t id)
{
	return id % 7 + 1;
}

/* Like a worker: look sales up and read them for a "loop turn", then a quiescent state. */
static void *rd_run(void *arg)
{
	struct rd_reader *r = arg;
	uint32_t x = 2463534242u + r->id;

	rte_rcu_qsbr_thread_register(rd_qsbr, r->id);
	rte_rcu_qsbr_thread_online(rd_qsbr, r->id);
	while (!rd_stop) {
		for (unsigned k = 0; k < 64; k++) {
			uint32_t id;
			struct fs_sale *s;

			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			id = k % 8 == 0 ? 1 + x % RD_PERMANENT : RD_BASE + x % RD_RANGE;
			s = fs_sale_lookup(&tab, id);
			r->lookups++;
			if (s == NULL) {
				r->missing_permanent += id <= RD_PERMANENT;
				continue;
			}
			r->found++;
			/* reads of the sale and its winner table: freed memory fails under ASan */
			if (s->sale_id != id || s->total != rd_stock(id) ||
				fs_winners_capacity(s->winners) < 64)
				r->bad++;
		}
		rte_rcu_qsbr_quiescent(rd_qsbr, r->id);
	}
	rte_rcu_qsbr_thread_offline(rd_qsbr, r->id);
	rte_rcu_qsbr_thread_unregister(rd_qsbr, r->id);
	return NULL;
}

/*
 * Readers look sales up without locks while the control path creates, stops and deletes others
 * (each delete republishes the slot array and frees the sale after a grace period): a reader
 * never misses a sale that stays, never reads a freed sale (ASan), never sees a mixed-up one.
 */
Test(sale, lookups_during_deletes, .timeout = 120)
{
	size_t sz = rte_rcu_qsbr_get_memsize(RD_THREADS);
	struct rd_reader r[RD_THREADS];
	pthread_t th[RD_THREADS];
	uint32_t next = RD_BASE, oldest = RD_BASE;
	unsigned deletes = 0;
	double t0;

	rd_qsbr = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	cr_assert_not_null(rd_qsbr);
	cr_assert_eq(rte_rcu_qsbr_init(rd_qsbr, RD_THREADS), 0);
	tab.synchronize = rd_synchronize;
	for (uint32_t id = 1; id <= RD_PERMANENT; id++) {
		define(NULL, id, rd_stock(id));
	}
	rd_stop = 0;
	for (unsigned i = 0; i < RD_THREADS; i++) {
		r[i] = (struct rd_reader){.id = i};
		cr_assert_eq(pthread_create(&th[i], NULL, rd_run, &r[i]), 0);
	}
	/*
	 * ~200 sales live at any time in the range, each created, stopped and deleted in turn,
	 * for 3 s or 2000 deletes (a grace period waits for every reader to be scheduled: on a
	 * loaded machine with two CPUs that takes milliseconds).
	 */
	t0 = now_s();
	while (deletes < 2000 && now_s() - t0 < 3.0) {
		if (next - oldest < 200) {
			define(NULL, next, rd_stock(next));
			next++;
			continue;
		}
		cr_assert_eq(fs_sale_ctl_stop(&tab, NULL, NODE, oldest), 0);
		cr_assert_eq(fs_sale_ctl_delete(&tab, NULL, NODE, oldest, 10), 0);
		oldest++;
		deletes++;
	}
	rd_stop = 1;
	cr_assert_geq(deletes, 50, "only %u deletes in 3 s", deletes);
	fprintf(stderr, "# %u deletes in %.2f s\n", deletes, now_s() - t0);
	for (unsigned i = 0; i < RD_THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(r[i].bad, 0, "reader %u read a wrong sale %lu times", i,
			(unsigned long)r[i].bad);
		cr_assert_eq(r[i].missing_permanent, 0, "reader %u missed a permanent sale", i);
		cr_assert_gt(r[i].found, 100, "reader %u found %lu", i, (unsigned long)r[i].found);
		fprintf(stderr, "# reader %u: %lu lookups, %lu found\n", i,
			(unsigned long)r[i].lookups, (unsigned long)r[i].found);
	}
	tab.synchronize = NULL;
	free(rd_qsbr);
}

/*
 * A give-back is journaled (GIVEBACK, its seq and units) and replayed by recovery: the units
 * left the node for good, a restart does not bring them back; the last seq again is a repeat
 * (nothing more taken), any other seq is refused.
 */
Test(sale, giveback_journaled_and_recovered, .timeout = 120)
{
	struct fs_journal *ctl = fs_journal_open(tmpdir, FS_JOURNAL_CONTROL);
	struct fs_journal *j0 = fs_journal_open(tmpdir, 0);
	static struct fs_sale_table t2;
	struct fs_recovery out;
	struct fs_jrec recs[8], rec = {0};
	struct fs_sale *s;
	uint64_t given = 0;
	int n;

	cr_assert_not_null(ctl);
	cr_assert_not_null(j0);
	define(ctl, 21, 100);
	s = fs_sale_lookup(&tab, 21);
	cr_assert_eq(fs_stock_take(&s->stock, 0), FS_TAKE_OK); /* one sold, journaled */
	fs_stock_commit(&s->stock, 0);
	rec.type = FS_JREC_ORDER;
	rec.sale_id = 21;
	rec.body.order.order_id = FS_ORDER_ID(NODE, 0, fs_journal_next_seq(j0));
	rec.body.order.user_id = 5;
	cr_assert_eq(fs_journal_append(j0, &rec), 0);
	cr_assert_eq(fs_sale_ctl_giveback(&tab, ctl, NODE, 21, 60, 2, &given), -ERANGE);
	cr_assert_eq(fs_sale_ctl_giveback(&tab, ctl, NODE, 21, 60, 1, &given), 0);
	cr_assert_eq(given, 60);
	cr_assert_eq(fs_sale_ctl_giveback(&tab, ctl, NODE, 21, 60, 1, &given), 0); /* repeat */
	cr_assert_eq(given, 60);
	cr_assert_eq(s->stock.leased, 40);
	cr_assert_eq(s->stock.final, 0);
	cr_assert_eq(fs_sale_ctl_giveback(&tab, ctl, NODE, 21, 1000, 2, &given), 0);
	cr_assert_eq(given, 39); /* all it had unsold */
	cr_assert_eq(fs_stock_take(&s->stock, 1), FS_TAKE_RETRY);
	n = ctl_records(recs, 8);
	cr_assert_eq(n, 4); /* SALE, LEASE, 2 GIVEBACK */
	cr_assert_eq(recs[2].type, FS_JREC_GIVEBACK);
	cr_assert_eq(recs[2].body.giveback.units, 60);
	cr_assert_eq(recs[2].body.giveback.seq, 1);
	cr_assert_eq(recs[3].body.giveback.units, 39);
	fs_journal_close(ctl);
	fs_journal_close(j0);

	fs_sale_table_init(&t2, N_WORKERS);
	cr_assert_eq(fs_sale_recover(&t2, tmpdir, &out), 0);
	s = fs_sale_lookup(&t2, 21);
	cr_assert_not_null(s);
	cr_assert_eq(s->stock.leased, 1);
	cr_assert_eq(fs_stock_sold(&s->stock), 1);
	cr_assert_eq(fs_stock_remaining(&s->stock), 0);
	cr_assert_eq(s->gb_seq, 2);
	cr_assert_eq(s->gb_units, 39);
	cr_assert_eq(fs_stock_take(&s->stock, 0), FS_TAKE_RETRY); /* not resurrected */
	cr_assert_not(fs_stock_sold_out(&s->stock));
	fs_sale_table_fini(&t2);
}
