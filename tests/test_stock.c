/* Unit tests of stock.c: never oversell under contention, stealing, put, recover. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <criterion/criterion.h>

#include "stock.h"

#define N_THREADS 8
#define STOCK 1000
#define ATTEMPTS_PER_ROUND 1000000
#define ROUNDS 100

struct taker {
	struct fs_stock *s;
	unsigned w;
	unsigned attempts;
	pthread_barrier_t *start;
	unsigned ok;   /* takes that were committed */
	unsigned puts; /* takes that were put back */
};

static void *taker_run(void *arg)
{
	struct taker *tk = arg;

	pthread_barrier_wait(tk->start);
	for (unsigned i = 0; i < tk->attempts; i++) {
		if (fs_stock_take(tk->s, tk->w) != FS_TAKE_OK)
			continue;
		/* Every 7th unit goes back first: put must return it for someone to sell. */
		if ((i % 7) == 3) {
			fs_stock_put(tk->s, tk->w);
			tk->puts++;
			continue;
		}
		fs_stock_commit(tk->s, tk->w);
		tk->ok++;
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(stock, never_oversell_8_threads_100_rounds, .timeout = 300)
{
	struct fs_stock *s = aligned_alloc(64, sizeof(*s));
	pthread_t th[N_THREADS];
	struct taker tk[N_THREADS];
	pthread_barrier_t start;
	double t0 = now_s();

	cr_assert_not_null(s);
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned total = 0;

		fs_stock_init(s, N_THREADS, STOCK, 0);
		fs_stock_lease(s, STOCK, true);
		pthread_barrier_init(&start, NULL, N_THREADS);
		for (unsigned i = 0; i < N_THREADS; i++) {
			tk[i] = (struct taker){.s = s,
				.w = i,
				.start = &start,
				.attempts = ATTEMPTS_PER_ROUND / N_THREADS};
			cr_assert_eq(pthread_create(&th[i], NULL, taker_run, &tk[i]), 0);
		}
		for (unsigned i = 0; i < N_THREADS; i++) {
			pthread_join(th[i], NULL);
			total += tk[i].ok;
		}
		pthread_barrier_destroy(&start);
		cr_assert_eq(fs_stock_sold(s), STOCK, "round %u: sold %lu", r,
			(unsigned long)fs_stock_sold(s));
		cr_assert_eq(total, STOCK, "round %u: %u units committed", r, total);
		cr_assert(fs_stock_sold_out(s));
		cr_assert_eq(fs_stock_remaining(s), 0);
		for (unsigned i = 0; i < N_THREADS; i++)
			cr_assert_eq(
				fs_stock_take(s, i), FS_TAKE_SOLD_OUT, "round %u worker %u", r, i);
	}
	fprintf(stderr, "# never_oversell: %u rounds x %u attempts: %.2f s\n", ROUNDS,
		ATTEMPTS_PER_ROUND, now_s() - t0);
	free(s);
}

Test(stock, init_picks_chunk)
{
	struct fs_stock s;

	fs_stock_init(&s, 4, 100000, 0);
	cr_assert_eq(s.chunk, 256);
	fs_stock_init(&s, 4, 10, 0);
	cr_assert_eq(s.chunk, 1);
	fs_stock_init(&s, 4, 320, 0);
	cr_assert_eq(s.chunk, 10);
	fs_stock_init(&s, 4, 320, 7);
	cr_assert_eq(s.chunk, 7);
	cr_assert_eq(s.n_workers, 4);
}

Test(stock, steal_from_idle_slice)
{
	struct fs_stock s;
	unsigned sold = 0;

	/* Every unit sits in worker 0's slice; worker 0 has no traffic. */
	fs_stock_init(&s, 3, 50, 0);
	fs_stock_lease(&s, 50, true);
	s.slices[0].units = s.node_pool;
	s.node_pool = 0;
	for (unsigned i = 0; i < 200; i++) {
		unsigned w = 1 + (i & 1);

		if (fs_stock_take(&s, w) == FS_TAKE_OK) {
			fs_stock_commit(&s, w);
			sold++;
		}
	}
	cr_assert_eq(sold, 50);
	cr_assert_eq(s.slices[0].units, 0);
	cr_assert_eq(fs_stock_sold(&s), 50);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_SOLD_OUT);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_SOLD_OUT);
}

Test(stock, refill_keeps_rest_in_own_slice)
{
	struct fs_stock s;

	fs_stock_init(&s, 2, 1000, 16);
	fs_stock_lease(&s, 1000, true);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_OK);
	cr_assert_eq(s.node_pool, 1000 - 16);
	cr_assert_eq(s.slices[1].units, 15);
	cr_assert_eq(s.slices[0].units, 0);
}

Test(stock, put_returns_units)
{
	struct fs_stock s;

	fs_stock_init(&s, 2, 2, 0);
	fs_stock_lease(&s, 2, true);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_OK);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_OK);
	/* Both units in hand, none sold: not sold out, units in transit. */
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_RETRY);
	cr_assert_not(fs_stock_sold_out(&s));
	fs_stock_put(&s, 1);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_OK); /* stolen from slice 1 */
	fs_stock_commit(&s, 0);
	fs_stock_commit(&s, 1);
	cr_assert_eq(fs_stock_sold(&s), 2);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_SOLD_OUT);
}

Test(stock, retry_until_final_lease)
{
	struct fs_stock s;

	fs_stock_init(&s, 2, 10, 0);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_RETRY); /* nothing leased yet */
	fs_stock_lease(&s, 1, false);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_OK);
	fs_stock_commit(&s, 0);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_RETRY); /* more may come */
	cr_assert_eq(fs_stock_remaining(&s), 0);
	fs_stock_lease(&s, 0, true);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_SOLD_OUT);
	cr_assert(fs_stock_sold_out(&s));
}

Test(stock, recover_moves_pool_to_sold)
{
	struct fs_stock s;

	fs_stock_init(&s, 2, 10, 0);
	fs_stock_lease(&s, 10, true);
	cr_assert_eq(fs_stock_recover(&s, 11), -ERANGE);
	cr_assert_eq(fs_stock_sold(&s), 0);
	cr_assert_eq(fs_stock_recover(&s, 7), 0);
	cr_assert_eq(fs_stock_sold(&s), 7);
	cr_assert_eq(fs_stock_remaining(&s), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(fs_stock_take(&s, i & 1), FS_TAKE_OK);
		fs_stock_commit(&s, i & 1);
	}
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_SOLD_OUT);
	cr_assert_eq(fs_stock_sold(&s), 10);
}

/*
 * A give-back takes the node pool first, then the slices, never a unit in a worker's hand; the
 * lease is no longer final after it, so the node answers RETRY (not SOLD_OUT) once it sold what
 * it kept, until a final lease again.
 */
Test(stock, giveback_takes_free_units_only)
{
	struct fs_stock s;

	fs_stock_init(&s, 2, 100, 10);
	fs_stock_lease(&s, 100, true);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_OK); /* one in hand, 9 in slice 0 */
	cr_assert_eq(s.slices[0].units, 9);
	cr_assert_eq(fs_stock_reclaim(&s, 95), 95); /* the pool's 90, then 5 of slice 0 */
	cr_assert_eq(s.node_pool, 0);
	cr_assert_eq(s.slices[0].units, 4);
	fs_stock_unlease(&s, 95);
	cr_assert_eq(s.leased, 5);
	cr_assert_eq(s.final, 0);
	cr_assert_eq(fs_stock_reclaim(&s, 1000), 4); /* never the unit in hand */
	fs_stock_unreclaim(&s, 1);		     /* a failed give-back puts back */
	fs_stock_unlease(&s, 3);
	cr_assert_eq(s.leased, 2);
	fs_stock_commit(&s, 0);
	cr_assert_eq(fs_stock_take(&s, 1), FS_TAKE_OK);
	fs_stock_commit(&s, 1);
	cr_assert_eq(fs_stock_sold(&s), 2);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_RETRY); /* the pool has the rest */
	cr_assert_not(fs_stock_sold_out(&s));
	fs_stock_lease(&s, 0, true);
	cr_assert_eq(fs_stock_take(&s, 0), FS_TAKE_SOLD_OUT);
}

struct gb_ctl {
	struct fs_stock *s;
	volatile int *stop;
	uint64_t given; /* units given back and not leased again */
	unsigned rounds;
};

/* The control path: give back up to 7 units, lease them again (final), over and over. */
static void *gb_run(void *arg)
{
	struct gb_ctl *c = arg;

	while (!__atomic_load_n(c->stop, __ATOMIC_RELAXED)) {
		uint64_t n = fs_stock_reclaim(c->s, 7);

		fs_stock_unlease(c->s, n);
		if ((c->rounds++ & 3) != 3) /* every 4th give-back stays given */
			fs_stock_lease(c->s, n, true);
		else
			c->given += n;
	}
	return NULL;
}

struct gb_taker {
	struct fs_stock *s;
	unsigned w;
	unsigned ok;
	unsigned bad_sold_out; /* SOLD_OUT while a unit was left on the node */
};

static void *gb_take_run(void *arg)
{
	struct gb_taker *t = arg;

	for (unsigned i = 0; i < 200000; i++) {
		enum fs_take r = fs_stock_take(t->s, t->w);

		if (r == FS_TAKE_OK) {
			fs_stock_commit(t->s, t->w);
			t->ok++;
		} else if (r == FS_TAKE_SOLD_OUT &&
			   fs_stock_sold(t->s) < __atomic_load_n(&t->s->leased, __ATOMIC_ACQUIRE) &&
			   __atomic_load_n(&t->s->final, __ATOMIC_ACQUIRE)) {
			t->bad_sold_out++;
		}
	}
	return NULL;
}

/*
 * Give-backs and leases racing four takers: every unit is sold once or given back (sold + given
 * + what the node still holds = the units leased), and no worker sells more than leased.
 */
Test(stock, giveback_races_takers, .timeout = 120)
{
	struct fs_stock *s = aligned_alloc(64, sizeof(*s));
	struct gb_taker tk[4];
	pthread_t th[4], cth;
	volatile int stop = 0;
	struct gb_ctl c = {.s = s, .stop = &stop};
	uint64_t ok = 0, held;

	cr_assert_not_null(s);
	fs_stock_init(s, 4, 20000, 8);
	fs_stock_lease(s, 20000, true);
	cr_assert_eq(pthread_create(&cth, NULL, gb_run, &c), 0);
	for (unsigned i = 0; i < 4; i++) {
		tk[i] = (struct gb_taker){.s = s, .w = i};
		cr_assert_eq(pthread_create(&th[i], NULL, gb_take_run, &tk[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += tk[i].ok;
		cr_assert_eq(tk[i].bad_sold_out, 0, "worker %u: SOLD_OUT with units left", i);
	}
	stop = 1;
	pthread_join(cth, NULL);
	held = s->node_pool;
	for (unsigned i = 0; i < 4; i++)
		held += s->slices[i].units;
	cr_assert_eq(fs_stock_sold(s), ok);
	cr_assert_eq(s->leased, 20000 - c.given, "leased %lu given %lu", (unsigned long)s->leased,
		(unsigned long)c.given);
	cr_assert_eq(ok + held, s->leased, "sold %lu + held %lu != leased %lu", (unsigned long)ok,
		(unsigned long)held, (unsigned long)s->leased);
	fprintf(stderr, "# giveback_races_takers: %u give-backs, %lu given, %lu sold\n", c.rounds,
		(unsigned long)c.given, (unsigned long)ok);
	free(s);
}
