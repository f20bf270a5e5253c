/* The payment race of issue 11: payments sent within ±1 ms of hold_until while sweepers run. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "pgorders.h"

/*
 * holds_pg URL race SALE INFILE OUTDIR [PAYERS 8] [SWEEPERS 3] [BATCH 100] [SEED]
 *
 * INFILE: one held order per line, "ORDER_ID HOLD_UNTIL_US" (the bigint order id, unix µs by
 * PostgreSQL's clock). Each order gets one payment, sent at hold_until + a uniform offset in
 * [-1000, +1000] µs by PostgreSQL's clock (each payer calibrates its offset from CLOCK_REALTIME
 * with the round trip of least delay), by PAYERS threads with a connection each (order i goes
 * to payer i % PAYERS), while SWEEPERS threads run flashsale.expire_due(BATCH) in a loop (a
 * 1 ms pause when nothing was due) and one more thread LISTENs on flashsale_outcomes. After
 * the last deadline the sweepers stop and one final sweep runs until nothing is due.
 *
 * OUTDIR/answers.tsv: ORDER_ID SEND_US ANSWER per payment (SEND_US: when it was sent, by
 * PostgreSQL's clock); OUTDIR/outcomes.tsv: ORDER_ID STATUS per outcome notification of SALE.
 * stdout: key=value lines (orders, answers by name, sent_before / sent_after the deadline,
 * outside_1ms, fire-time lateness p50/p99/max, clock_err_us, swept per sweeper, final_sweep,
 * outcomes, elapsed_ms). Exit 0 when it ran (the checks are the caller's), 1 on an error.
 */

#define RACE_MAX_THREADS 64

struct race_order {
	int64_t order_id;
	int64_t hold_until_us;
	int64_t target_us; /* when to send, PostgreSQL's clock */
	int64_t send_us;   /* when it was sent, PostgreSQL's clock */
	int answer;	   /* enum fs_pgorders_result, -1: none */
};

struct race {
	const char *url;
	uint32_t sale;
	struct race_order *o;
	size_t n;
	unsigned payers, sweepers, batch;
	atomic_int stop_sweep; /* main: 1 after the last deadline; sweepers read */
	atomic_int stop_listen;
	atomic_int errors;
	uint64_t swept[RACE_MAX_THREADS];
	int64_t clock_err_us[RACE_MAX_THREADS];
	int64_t (*outcomes)[2]; /* order id, status index (listener) */
	size_t n_outcomes;
};

struct race_arg {
	struct race *r;
	unsigned idx;
};

static int64_t race_local_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void race_sleep_until(int64_t local_us)
{
	struct timespec ts = {.tv_sec = local_us / 1000000, .tv_nsec = (local_us % 1000000) * 1000};

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void race_error(struct race *r, struct fs_pgorders *c, const char *what)
{
	fprintf(stderr, "holds_pg race: %s: %s\n", what, fs_pgorders_error(c));
	atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
}

/*
 * PostgreSQL's clock minus CLOCK_REALTIME, from the round trip of least delay of 50 (NTP's
 * minimum-delay filter); *err_us = half that round trip, the bound of the estimate's error.
 */
static int race_calibrate(struct fs_pgorders *c, int64_t *offset_us, int64_t *err_us)
{
	int64_t best = INT64_MAX, t0, t1, db;
	int i;

	for (i = 0; i < 50; i++) {
		t0 = race_local_us();
		if (fs_pgorders_now_us(c, &db) < 0)
			return -1;
		t1 = race_local_us();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*offset_us = db - (t0 + t1) / 2;
		}
	}
	*err_us = (best + 1) / 2;
	return 0;
}

static void *race_payer(void *arg)
{
	struct race_arg *a = arg;
	struct race *r = a->r;
	struct fs_pgorders *c = fs_pgorders_new(r->url, 10000);
	enum fs_pgorders_result res;
	int64_t offset;
	size_t i;

	if (c == NULL || race_calibrate(c, &offset, &r->clock_err_us[a->idx]) < 0) {
		if (c != NULL)
			race_error(r, c, "calibrate");
		fs_pgorders_free(c);
		return NULL;
	}
	/* orders idx, idx + payers, ...: sorted by target already (see race_assign) */
	for (i = a->idx; i < r->n; i += r->payers) {
		struct race_order *o = &r->o[i];

		race_sleep_until(o->target_us - offset);
		o->send_us = race_local_us() + offset;
		if (fs_pgorders_pay(c, r->sale, (uint64_t)o->order_id, &res) < 0)
			race_error(r, c, "pay");
		else
			o->answer = (int)res;
	}
	fs_pgorders_free(c);
	return NULL;
}

static void *race_sweeper(void *arg)
{
	struct race_arg *a = arg;
	struct race *r = a->r;
	struct fs_pgorders *c = fs_pgorders_new(r->url, 10000);
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
	int n;

	while (c != NULL && !atomic_load_explicit(&r->stop_sweep, memory_order_relaxed)) {
		n = fs_pgorders_expire_due(c, r->batch);
		if (n < 0) {
			race_error(r, c, "expire_due");
			nanosleep(&pause, NULL);
		} else if (n == 0) {
			nanosleep(&pause, NULL);
		}
		r->swept[a->idx] += n > 0 ? (uint64_t)n : 0;
	}
	fs_pgorders_free(c);
	return NULL;
}

/* A number after "KEY" : in a json_build_object payload; a string value's first letter. */
static int64_t race_json_num(const char *p, const char *key)
{
	const char *k = strstr(p, key);

	k = k != NULL ? strchr(k + strlen(key), ':') : NULL;
	return k != NULL ? strtoll(k + 1, NULL, 10) : INT64_MIN;
}

static void *race_listener(void *arg)
{
	struct race *r = arg;
	struct fs_pgorders *c = fs_pgorders_new(r->url, 10000);
	char ch[64], payload[512];
	int n;

	if (c == NULL || fs_pgorders_listen(c, "flashsale_outcomes") < 0) {
		if (c != NULL)
			race_error(r, c, "listen");
		fs_pgorders_free(c);
		atomic_store(&r->stop_listen, 2); /* tells main the listener failed */
		return NULL;
	}
	atomic_store(&r->stop_listen, -1); /* listening */
	while (atomic_load(&r->stop_listen) <= 0) {
		n = fs_pgorders_notification(c, 50, ch, sizeof(ch), payload, sizeof(payload));
		if (n < 0) {
			race_error(r, c, "notification");
			break;
		}
		if (n == 0 || race_json_num(payload, "\"sale\"") != r->sale ||
			r->n_outcomes >= 2 * r->n)
			continue;
		const char *st = strstr(payload, "\"status\"");
		st = st != NULL ? strchr(st + 8, '"') : NULL;
		r->outcomes[r->n_outcomes][0] = race_json_num(payload, "\"order\"");
		r->outcomes[r->n_outcomes][1] = st == NULL ? -1 : st[1] == 'p' ? 0 : 1;
		r->n_outcomes++;
	}
	fs_pgorders_free(c);
	return NULL;
}

static int race_cmp_target(const void *a, const void *b)
{
	const struct race_order *x = a, *y = b;

	return (x->target_us > y->target_us) - (x->target_us < y->target_us);
}

/* xorshift64* (Vigna 2016): the test's random offsets, reproducible from the seed. */
static uint64_t race_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Read INFILE, give every order its send time, sort by it. @return 0 or -1. */
static int race_load(struct race *r, const char *path, uint64_t seed)
{
	FILE *f = fopen(path, "r");
	long long id, until;
	size_t cap = 1024;

	if (f == NULL) {
		fprintf(stderr, "holds_pg race: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r->o = malloc(cap * sizeof(*r->o));
	while (r->o != NULL && fscanf(f, "%lld %lld", &id, &until) == 2) {
		if (r->n == cap) {
			struct race_order *m = realloc(r->o, 2 * cap * sizeof(*r->o));

			if (m == NULL)
				break;
			r->o = m;
			cap *= 2;
		}
		r->o[r->n++] = (struct race_order){.order_id = id,
			.hold_until_us = until,
			.target_us = until + (int64_t)(race_rand(&seed) % 2001) - 1000,
			.answer = -1};
	}
	fclose(f);
	if (r->o == NULL || r->n == 0) {
		fprintf(stderr, "holds_pg race: no orders in %s\n", path);
		return -1;
	}
	qsort(r->o, r->n, sizeof(*r->o), race_cmp_target);
	return 0;
}

static int race_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The key=value report and the two files. */
static int race_report(struct race *r, const char *outdir, int64_t elapsed_ms, int final)
{
	uint64_t answers[FS_PGORDERS_RESULTS] = {0}, before = 0, outside = 0, none = 0, total = 0;
	int64_t *late = calloc(r->n, sizeof(*late)), err = 0;
	char path[4096];
	FILE *fa, *fo;
	size_t i;

	snprintf(path, sizeof(path), "%s/answers.tsv", outdir);
	fa = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/outcomes.tsv", outdir);
	fo = fopen(path, "w");
	if (late == NULL || fa == NULL || fo == NULL) {
		fprintf(stderr, "holds_pg race: cannot write to %s\n", outdir);
		return 1;
	}
	for (i = 0; i < r->n; i++) {
		const struct race_order *o = &r->o[i];

		fprintf(fa, "%" PRId64 "\t%" PRId64 "\t%s\n", o->order_id, o->send_us,
			o->answer >= 0 ? fs_pgorders_result_name(o->answer) : "none");
		if (o->answer >= 0)
			answers[o->answer]++;
		else
			none++;
		before += o->send_us < o->hold_until_us;
		outside += llabs(o->send_us - o->hold_until_us) > 1000;
		late[i] = o->send_us - o->target_us;
	}
	for (i = 0; i < r->n_outcomes; i++)
		fprintf(fo, "%" PRId64 "\t%s\n", r->outcomes[i][0],
			r->outcomes[i][1] == 0	 ? "paid"
			: r->outcomes[i][1] == 1 ? "expired"
						 : "?");
	fclose(fa);
	fclose(fo);
	qsort(late, r->n, sizeof(*late), race_cmp_i64);
	for (i = 0; i < RACE_MAX_THREADS; i++)
		err = r->clock_err_us[i] > err ? r->clock_err_us[i] : err;
	printf("orders=%zu\npayers=%u\nsweepers=%u\nbatch=%u\n", r->n, r->payers, r->sweepers,
		r->batch);
	for (i = 0; i < FS_PGORDERS_RESULTS; i++)
		printf("answer_%s=%" PRIu64 "\n", fs_pgorders_result_name(i), answers[i]);
	printf("answer_none=%" PRIu64 "\nsent_before=%" PRIu64 "\nsent_after=%" PRIu64
	       "\noutside_1ms=%" PRIu64 "\n",
		none, before, (uint64_t)r->n - before, outside);
	printf("fire_late_p50_us=%" PRId64 "\nfire_late_p99_us=%" PRId64
	       "\nfire_late_max_us=%" PRId64 "\nclock_err_us=%" PRId64 "\n",
		late[r->n / 2], late[r->n * 99 / 100], late[r->n - 1], err);
	for (i = 0; i < r->sweepers; i++) {
		printf("swept_%zu=%" PRIu64 "\n", i, r->swept[i]);
		total += r->swept[i];
	}
	printf("swept=%" PRIu64 "\nfinal_sweep=%d\noutcomes=%zu\nerrors=%d\nelapsed_ms=%" PRId64
	       "\n",
		total, final, r->n_outcomes, atomic_load(&r->errors), elapsed_ms);
	free(late);
	return 0;
}

/* Start @p n threads of @p fn; @return how many started. */
static unsigned race_start(
	pthread_t *t, struct race_arg *a, struct race *r, unsigned n, void *(*fn)(void *))
{
	unsigned i;

	for (i = 0; i < n; i++) {
		a[i] = (struct race_arg){.r = r, .idx = i};
		if (pthread_create(&t[i], NULL, fn, &a[i]) != 0)
			break;
	}
	return i;
}

static void race_join(pthread_t *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* After the last deadline: stop the sweepers, sweep what is left. @return rows, or -1. */
static int race_finish(struct race *r, struct fs_pgorders *c, pthread_t *sw, unsigned n_sw)
{
	int64_t offset, err, last = 0;
	int n, total = 0;
	size_t i;

	for (i = 0; i < r->n; i++)
		last = r->o[i].hold_until_us > last ? r->o[i].hold_until_us : last;
	if (race_calibrate(c, &offset, &err) < 0)
		return -1;
	race_sleep_until(last + 20000 - offset);
	atomic_store_explicit(&r->stop_sweep, 1, memory_order_relaxed);
	race_join(sw, n_sw);
	do {
		n = fs_pgorders_expire_due(c, r->batch);
		total += n > 0 ? n : 0;
	} while (n > 0);
	return n < 0 ? -1 : total;
}

static unsigned race_arg_u(int argc, char **argv, int i, unsigned def, unsigned max)
{
	uint64_t v;

	if (i >= argc)
		return def;
	if (fs_parse_u64(argv[i], 1, max, &v) < 0) {
		fprintf(stderr, "holds_pg race: bad number %s (1..%u)\n", argv[i], max);
		exit(2);
	}
	return (unsigned)v;
}

int fs_holds_race(const char *url, int argc, char **argv)
{
	static struct race r;
	pthread_t pay[RACE_MAX_THREADS], sw[RACE_MAX_THREADS], lis;
	struct race_arg pa[RACE_MAX_THREADS], sa[RACE_MAX_THREADS];
	struct fs_pgorders *c;
	unsigned np = 0, ns = 0;
	int64_t t0 = race_local_us();
	int final = -1, i;

	if (argc < 3 || argc > 7) {
		fprintf(stderr, "usage: holds_pg URL race SALE INFILE OUTDIR [PAYERS] [SWEEPERS] "
				"[BATCH] [SEED]\n");
		return 2;
	}
	r.url = url;
	r.sale = race_arg_u(argc, argv, 0, 0, UINT32_MAX);
	r.payers = race_arg_u(argc, argv, 3, 8, RACE_MAX_THREADS);
	r.sweepers = race_arg_u(argc, argv, 4, 3, RACE_MAX_THREADS);
	r.batch = race_arg_u(argc, argv, 5, 100, 1000000);
	c = fs_pgorders_new(url, 10000);
	if (c == NULL || race_load(&r, argv[1], race_arg_u(argc, argv, 6, 1, UINT32_MAX)) < 0)
		return 1;
	r.outcomes = calloc(2 * r.n, sizeof(*r.outcomes));
	if (r.outcomes == NULL || pthread_create(&lis, NULL, race_listener, &r) != 0)
		return 1;
	for (i = 0; i < 1000 && atomic_load(&r.stop_listen) == 0; i++)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	if (atomic_load(&r.stop_listen) == -1) {
		ns = race_start(sw, sa, &r, r.sweepers, race_sweeper);
		np = race_start(pay, pa, &r, r.payers, race_payer);
		race_join(pay, np);
		final = race_finish(&r, c, sw, ns);
		/* every outcome of the sale announced (or 10 s) */
		for (i = 0; i < 200 && r.n_outcomes < r.n; i++)
			nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	}
	atomic_store(&r.stop_listen, 1);
	pthread_join(lis, NULL);
	fs_pgorders_free(c);
	if (np != r.payers || ns != r.sweepers || final < 0) {
		fprintf(stderr,
			"holds_pg race: did not run (threads %u/%u %u/%u, final sweep %d)\n", np,
			r.payers, ns, r.sweepers, final);
		return 1;
	}
	return race_report(&r, argv[2], (race_local_us() - t0) / 1000, final);
}
