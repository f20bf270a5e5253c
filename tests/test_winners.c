/* Unit tests of winners.c: one entry per user under contention, release, the key-0 user, FULL. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include <criterion/criterion.h>

#include "testutil.h"
#include "winners.h"

#define N_THREADS 8

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct racer {
	struct fs_winners *w;
	uint64_t user;
	pthread_barrier_t *start;
	unsigned writer;   /* its fs_winners_reserve writer index */
	enum fs_win first; /* what reserve answered */
	uint64_t order;	   /* the order this thread ends up seeing */
	unsigned pending;  /* PENDING answers before the order showed */
	unsigned bad;	   /* answers that should not happen (asserted by the main thread) */
};

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	struct fs_winner_entry *e;
	uint64_t order = 0;

	pthread_barrier_wait(r->start);
	r->first = fs_winners_reserve(r->w, r->writer, r->user, &e, &order);
	if (r->first == FS_WIN_RESERVED) {
		order = 1000 + r->user; /* the order id: any value but 0 and RELEASED */
		sched_yield();		/* hold the reservation a moment: others must see PENDING */
		fs_winners_publish(e, order);
	}
	/* PENDING resolves once the reserver publishes: retry (bounded) like a client would. */
	for (unsigned i = 0; r->first == FS_WIN_PENDING && i < 100000000; i++) {
		enum fs_win st = fs_winners_find(r->w, r->user, &order);

		if (st == FS_WIN_FOUND)
			break;
		if (st != FS_WIN_PENDING) {
			r->bad++;
			break;
		}
		r->pending++;
		sched_yield();
	}
	r->order = order;
	return NULL;
}

Test(winners, one_per_user_8_threads, .timeout = 120)
{
	struct fs_winners *w = fs_winners_create(4096);
	pthread_t th[N_THREADS];
	struct racer r[N_THREADS];
	pthread_barrier_t start;
	unsigned pending_seen = 0;
	double t0 = now_s();

	cr_assert_not_null(w);
	pthread_barrier_init(&start, NULL, N_THREADS);
	for (uint64_t user = 1; user <= 2000; user++) {
		unsigned reserved = 0;

		for (unsigned i = 0; i < N_THREADS; i++) {
			r[i] = (struct racer){.w = w, .user = user, .start = &start, .writer = i};
			cr_assert_eq(pthread_create(&th[i], NULL, racer_run, &r[i]), 0);
		}
		for (unsigned i = 0; i < N_THREADS; i++) {
			pthread_join(th[i], NULL);
			cr_assert(r[i].first == FS_WIN_RESERVED || r[i].first == FS_WIN_FOUND ||
					  r[i].first == FS_WIN_PENDING,
				"user %lu thread %u: %d", (unsigned long)user, i, r[i].first);
			cr_assert_eq(r[i].bad, 0);
			reserved += r[i].first == FS_WIN_RESERVED;
			pending_seen += r[i].first == FS_WIN_PENDING;
			cr_assert_eq(r[i].order, 1000 + user, "user %lu thread %u saw order %lu",
				(unsigned long)user, i, (unsigned long)r[i].order);
		}
		cr_assert_eq(
			reserved, 1, "user %lu reserved %u times", (unsigned long)user, reserved);
	}
	pthread_barrier_destroy(&start);
	cr_assert_eq(fs_winners_count(w), 2000);
	fprintf(stderr, "# one_per_user: 2000 users x 8 threads: %.2f s, %u PENDING answers\n",
		now_s() - t0, pending_seen);
	fs_winners_free(w);
}

struct filler {
	struct fs_winners *w;
	uint64_t first, n;
	unsigned writer; /* its fs_winners_reserve writer index */
	unsigned bad;	 /* reserve answers other than RESERVED */
};

static void *filler_run(void *arg)
{
	struct filler *f = arg;
	struct fs_winner_entry *e;
	uint64_t order;

	for (uint64_t u = f->first; u < f->first + f->n; u++) {
		if (fs_winners_reserve(f->w, f->writer, u, &e, &order) != FS_WIN_RESERVED) {
			f->bad++;
			continue;
		}
		fs_winners_publish(e, u * 3 + 1);
	}
	return NULL;
}

Test(winners, many_users_from_8_threads)
{
	const uint64_t per = 25000, stock = N_THREADS * per;
	struct fs_winners *w = fs_winners_create(stock);
	struct filler f[N_THREADS];
	pthread_t th[N_THREADS];
	uint64_t order;

	cr_assert_not_null(w);
	for (unsigned i = 0; i < N_THREADS; i++) {
		f[i] = (struct filler){.w = w, .first = 1 + i * per, .n = per, .writer = i};
		cr_assert_eq(pthread_create(&th[i], NULL, filler_run, &f[i]), 0);
	}
	for (unsigned i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(f[i].bad, 0);
	}
	cr_assert_eq(fs_winners_count(w), stock);
	cr_assert_eq(fs_winners_used(w), stock, "slots taken, summed over the writers");
	for (uint64_t u = 1; u <= stock; u++) {
		cr_assert_eq(fs_winners_find(w, u, &order), FS_WIN_FOUND);
		cr_assert_eq(order, u * 3 + 1);
	}
	for (uint64_t u = stock + 1; u <= stock + 1000; u++)
		cr_assert_eq(fs_winners_find(w, u, &order), FS_WIN_ABSENT);
	fs_winners_free(w);
}

/*
 * User @p user of the empty table @p w through its whole life: reserved (others see PENDING),
 * released (absent again, its entry reused by the next reserve), published as order @p order_id
 * (FOUND, and a reserve answers FOUND with the order).
 */
static void reserve_release_publish(struct fs_winners *w, uint64_t user, uint64_t order_id)
{
	struct fs_winner_entry *e, *e2;
	uint64_t order = 0;

	cr_assert_eq(fs_winners_find(w, user, &order), FS_WIN_ABSENT);
	cr_assert_eq(fs_winners_reserve(w, 0, user, &e, &order), FS_WIN_RESERVED);
	/* Reserved, not yet published: others see PENDING. */
	cr_assert_eq(fs_winners_find(w, user, &order), FS_WIN_PENDING);
	cr_assert_eq(fs_winners_reserve(w, 0, user, &e2, &order), FS_WIN_PENDING);
	fs_winners_release(e);
	cr_assert_eq(fs_winners_find(w, user, &order), FS_WIN_ABSENT);
	cr_assert_eq(fs_winners_count(w), 0);
	cr_assert_eq(fs_winners_reserve(w, 0, user, &e2, &order), FS_WIN_RESERVED);
	cr_assert_eq(e2, e, "the released entry is reused, not a second one");
	fs_winners_publish(e2, order_id);
	cr_assert_eq(fs_winners_find(w, user, &order), FS_WIN_FOUND);
	cr_assert_eq(order, order_id);
	cr_assert_eq(fs_winners_reserve(w, 0, user, &e2, &order), FS_WIN_FOUND);
	cr_assert_eq(order, order_id);
	cr_assert_eq(fs_winners_count(w), 1);
}

Test(winners, release_then_reserve_again)
{
	struct fs_winners *w = fs_winners_create(10);

	reserve_release_publish(w, 42, 77);
	fs_winners_free(w);
}

/*
 * The key-0 user: the splitmix64 finalizer is z ^= z >> s; z *= odd, three times over; each step
 * maps 0 to 0 and is a bijection, so user 0 is the one and only user whose key is 0 (found by
 * reading the mix, no search needed). It must work like any other user, in its dedicated entry.
 */
Test(winners, key_zero_user_is_user_0)
{
	struct fs_winners *w = fs_winners_create(0);
	struct fs_winner_entry *e;
	uint64_t order = 0;

	reserve_release_publish(w, 0, 5);
	/* It takes no slot: all 64 slots still fill with other users. */
	for (uint64_t u = 1; u <= 64; u++) {
		cr_assert_eq(fs_winners_reserve(w, 0, u, &e, &order), FS_WIN_RESERVED, "user %lu",
			(unsigned long)u);
		fs_winners_publish(e, 100 + u);
	}
	cr_assert_eq(fs_winners_count(w), 65);
	fs_winners_free(w);
}

Test(winners, capacity_sized_by_stock)
{
	const uint64_t stock[] = {0, 1, 32, 33, 1000, 1000000};
	const uint64_t cap[] = {64, 128, 128, 256, 4096, 2097152};

	for (unsigned i = 0; i < sizeof(stock) / sizeof(stock[0]); i++) {
		struct fs_winners *w = fs_winners_create(stock[i]);

		cr_assert_not_null(w);
		cr_assert_eq(fs_winners_capacity(w), cap[i], "stock %lu: capacity %lu",
			(unsigned long)stock[i], (unsigned long)fs_winners_capacity(w));
		cr_assert_geq(fs_winners_capacity(w), 2 * stock[i] + 64);
		fs_winners_free(w);
	}
}

Test(winners, full_after_capacity_entries)
{
	struct fs_winners *w = fs_winners_create(0); /* 64 slots */
	struct fs_winner_entry *e, *ent[65];
	uint64_t order;

	for (uint64_t u = 1; u <= 64; u++)
		cr_assert_eq(fs_winners_reserve(w, 0, u, &ent[u], &order), FS_WIN_RESERVED);
	cr_assert_eq(fs_winners_reserve(w, 0, 65, &e, &order), FS_WIN_FULL);
	cr_assert_eq(fs_winners_find(w, 65, &order), FS_WIN_ABSENT);
	cr_assert_eq(fs_winners_used(w), 64);
	/* Users already in still answer, whatever slot their probe ended in. */
	for (uint64_t u = 1; u <= 64; u++)
		cr_assert_eq(fs_winners_find(w, u, &order), FS_WIN_PENDING);
	cr_assert_eq(fs_winners_reserve(w, 0, 7, &e, &order), FS_WIN_PENDING);
	/* A released slot is not emptied: it stays its user's, so FULL remains for others. */
	cr_assert_eq(fs_winners_find(w, 7, &order), FS_WIN_PENDING);
	fs_winners_release(ent[7]);
	cr_assert_eq(fs_winners_reserve(w, 0, 65, &e, &order), FS_WIN_FULL);
	cr_assert_eq(fs_winners_reserve(w, 0, 7, &e, &order), FS_WIN_RESERVED);
	cr_assert_eq(e, ent[7]);
	cr_assert_eq(fs_winners_used(w), 64, "a released slot taken again is no new slot");
	cr_assert_eq(fs_winners_reserve(w, 3, 0, &e, &order), FS_WIN_RESERVED); /* dedicated */
	cr_assert_eq(fs_winners_used(w), 65);
	fs_winners_free(w);
}

/*
 * Tables up to 128 MiB are resident from creation, while all such tables stay within 1 GiB;
 * past the budget, and above 128 MiB, a table costs memory only as it is used.
 */
Test(winners, prefault_size_and_budget)
{
	/* 2 * stock + 64 <= 2^23 slots of 16 bytes: exactly 128 MiB */
	const uint64_t stock = ((1ull << 23) - 64) / 2;
	struct fs_winners *w[9], *big;
	long r0, r1;

	for (int i = 0; i < 8; i++) {
		r0 = fs_test_rss_kib();
		w[i] = fs_winners_create(stock);
		r1 = fs_test_rss_kib();
		cr_assert_not_null(w[i]);
		cr_assert_eq(fs_winners_capacity(w[i]), 1ull << 23);
		cr_assert_geq(r1 - r0, 120 * 1024, "table %d: +%ld KiB, want it resident", i, r1 - r0);
	}
	r0 = fs_test_rss_kib();
	w[8] = fs_winners_create(stock);
	r1 = fs_test_rss_kib();
	cr_assert_not_null(w[8]);
	cr_assert_lt(r1 - r0, 16 * 1024, "9th table past the 1 GiB budget: +%ld KiB", r1 - r0);
	fs_winners_free(w[0]);
	r0 = fs_test_rss_kib();
	big = fs_winners_create(stock + 1); /* 256 MiB: never faulted in at creation */
	r1 = fs_test_rss_kib();
	cr_assert_not_null(big);
	cr_assert_lt(r1 - r0, 16 * 1024, "256 MiB table: +%ld KiB", r1 - r0);
	/* the budget freed by w[0] is used again */
	r0 = fs_test_rss_kib();
	w[0] = fs_winners_create(stock);
	r1 = fs_test_rss_kib();
	cr_assert_geq(r1 - r0, 120 * 1024, "after a free: +%ld KiB", r1 - r0);
	for (int i = 0; i < 9; i++)
		fs_winners_free(w[i]);
	fs_winners_free(big);
}

/* The inverse of winners.c's key mix (splitmix64 finalizer): the user whose key is @p k. */
static uint64_t user_of_key(uint64_t k)
{
	uint64_t inv1 = 0xbf58476d1ce4e5b9ull, inv2 = 0x94d049bb133111ebull;
	uint64_t a = 0xbf58476d1ce4e5b9ull, b = 0x94d049bb133111ebull;

	/* multiplicative inverses mod 2^64 by Newton's iteration x = x(2 - ax) */
	for (int i = 0; i < 6; i++) {
		inv1 *= 2 - a * inv1;
		inv2 *= 2 - b * inv2;
	}
	k ^= k >> 31 ^ k >> 62;
	k *= inv2;
	k ^= k >> 27 ^ k >> 54;
	k *= inv1;
	k ^= k >> 30 ^ k >> 60;
	return k;
}

/*
 * A probe never runs past FS_WINNERS_PROBE_MAX slots: users whose probes all start at one slot
 * fill that many slots, the next one gets FULL (and find gives up as far), while users starting
 * elsewhere still get in. Before: the probe ran over the whole table.
 */
Test(winners, probe_bound)
{
	struct fs_winners *w = fs_winners_create(2000); /* 4096 slots */
	const uint64_t home = 1000;
	struct fs_winner_entry *e;
	uint64_t order, u;

	cr_assert_gt(fs_winners_capacity(w), 2 * FS_WINNERS_PROBE_MAX);
	for (uint64_t i = 1; i <= FS_WINNERS_PROBE_MAX; i++) {
		u = user_of_key(i << 32 | home);
		cr_assert_eq(fs_winners_reserve(w, 0, u, &e, &order), FS_WIN_RESERVED, "user %lu",
			(unsigned long)i);
		fs_winners_publish(e, i);
	}
	u = user_of_key((FS_WINNERS_PROBE_MAX + 1ull) << 32 | home);
	cr_assert_eq(fs_winners_reserve(w, 0, u, &e, &order), FS_WIN_FULL);
	cr_assert_eq(fs_winners_find(w, u, &order), FS_WIN_ABSENT);
	/* the last user in the run is found, FS_WINNERS_PROBE_MAX slots from its start */
	cr_assert_eq(fs_winners_find(
			     w, user_of_key((uint64_t)FS_WINNERS_PROBE_MAX << 32 | home), &order),
		FS_WIN_FOUND);
	cr_assert_eq(order, FS_WINNERS_PROBE_MAX);
	/* a user whose probe starts past the run */
	u = user_of_key(1ull << 32 | (home + FS_WINNERS_PROBE_MAX + 10));
	cr_assert_eq(fs_winners_reserve(w, 0, u, &e, &order), FS_WIN_RESERVED);
	fs_winners_free(w);
}
