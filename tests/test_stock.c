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
