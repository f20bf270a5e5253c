/*
 * bench_journal: the cost of each journal append as a worker sees it, with the main lcore's
 * 5 ms journal upkeep (fs_journal_tend) on another thread as flashsale-dp runs it. A benchmark to
 * run by hand, not a test: it prints figures and asserts nothing about them.
 *
 * bench_journal [--records N] [--dir DIR] [--sync-every K] [--writer-cpu C] [--helper-cpu C]
 *   --records N      appends (default 1,000,000: 3.8 segments of 262,144 records)
 *   --dir DIR        where journal 0 is written (default: a fresh directory under /tmp,
 *                    removed at the end; a given DIR must not hold journal 0 yet)
 *   --sync-every K   fs_journal_sync() after every K appends, as the group commit of
 *                    --journal-sync=fsync does after each burst (default 0: never, the default
 *                    mode), timed apart
 *   --writer-cpu C, --helper-cpu C   pin the writer and the helper (default 1 and 0, as
 *                    flashsale-dp's --lcores 0@0,1@1; -1: not pinned)
 * Each record is fs_journal_ready() then fs_journal_append(), as fs_claim() does, timed with
 * the TSC (rate measured against CLOCK_MONOTONIC over the run). Output, key=value:
 * records mean_ns p50_ns p99_ns p999_ns worst_ns worst_seq over_10us over_100us over_1ms,
 * rolls roll_mean_ns roll_worst_ns (the records that began a segment: the roll-over's cost),
 * syncs sync_mean_us sync_worst_us (with --sync-every), elapsed_s, rolls_ahead rolls_made
 * (roll-overs onto a segment the helper made, and made by the writer: fs_journal_rolls),
 * writer_faults (page faults the writer took, RUSAGE_THREAD), eagain (fs_journal_ready() calls
 * that answered -EAGAIN: the helper was still making the segment the writer needed; each is
 * a RETRY to a claim; the record is timed until it went in).
 * Exit 0, 1 on a journal error, 2 on bad usage.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

#define HELPER_MS 5		       /* flashsale-dp's FS_PREFAULT_MS */
#define HELPER_BEHIND_US 100 /* flashsale-dp's FS_PREFAULT_BEHIND_US */
#define HELPER_BYTES ((size_t)4 << 20) /* flashsale-dp's FS_PREFAULT_BYTES */

struct bench {
	uint64_t records;
	unsigned sync_every;
	int writer_cpu, helper_cpu;
	char dir[256];
	bool own_dir;
	uint64_t eagain; /**< fs_journal_ready() calls that answered -EAGAIN */
	struct fs_journal *j;
	atomic_bool stop;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		fprintf(stderr, "bench_journal: cannot pin to CPU %d (not pinned)\n", cpu);
}

/* The main lcore's part: every HELPER_MS, the journal's upkeep (flashsale-dp's main loop). */
static void *helper_run(void *arg)
{
	struct bench *b = arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = HELPER_MS * 1000 * 1000};

	pin(b->helper_cpu);
	while (!atomic_load(&b->stop)) {
		/* pages left over: the next turn soon, as flashsale-dp's */
		ts.tv_nsec = (fs_journal_tend(b->j, HELPER_BYTES) ? HELPER_BEHIND_US * 1000
								  : HELPER_MS * 1000 * 1000);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void usage_exit(const char *why)
{
	fprintf(stderr,
		"bench_journal: %s\nusage: bench_journal [--records N] [--dir DIR] "
		"[--sync-every K] [--writer-cpu C] [--helper-cpu C]\n",
		why);
	exit(2);
}

static long long num_arg(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
		usage_exit("bad number");
	return v;
}

static void parse(int argc, char **argv, struct bench *b)
{
	b->records = 1000000;
	b->writer_cpu = 1;
	b->helper_cpu = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage_exit("an option without its value");
		if (strcmp(argv[i], "--records") == 0)
			b->records = (uint64_t)num_arg(argv[++i], 1, 100000000);
		else if (strcmp(argv[i], "--sync-every") == 0)
			b->sync_every = (unsigned)num_arg(argv[++i], 0, 1000000);
		else if (strcmp(argv[i], "--writer-cpu") == 0)
			b->writer_cpu = (int)num_arg(argv[++i], -1, 1023);
		else if (strcmp(argv[i], "--helper-cpu") == 0)
			b->helper_cpu = (int)num_arg(argv[++i], -1, 1023);
		else if (strcmp(argv[i], "--dir") == 0)
			snprintf(b->dir, sizeof(b->dir), "%s", argv[++i]);
		else
			usage_exit("unknown option");
	}
	if (b->dir[0] == '\0') {
		strcpy(b->dir, "/tmp/bench-journal-XXXXXX");
		if (mkdtemp(b->dir) == NULL) {
			perror("bench_journal: mkdtemp");
			exit(1);
		}
		b->own_dir = true;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The records, each timed: TSC cycles into lat[]; the syncs timed apart. */
static int run(struct bench *b, uint32_t *lat, uint64_t *sync_ns, uint64_t *sync_worst)
{
	struct fs_jrec rec;

	memset(&rec, 0, sizeof(rec));
	rec.type = FS_JREC_ORDER;
	rec.sale_id = 1;
	for (uint64_t i = 0; i < b->records; i++) {
		uint64_t t0 = __builtin_ia32_rdtsc(), t1;
		int rc;

		/* -EAGAIN: the helper is making the next segment; a claim would get RETRY */
		while ((rc = fs_journal_ready(b->j)) == -EAGAIN)
			b->eagain++;

		rec.body.order.user_id = i;
		rec.body.order.order_id = i + 1;
		if (rc == 0)
			rc = fs_journal_append(b->j, &rec);
		t1 = __builtin_ia32_rdtsc();
		if (rc != 0) {
			fprintf(stderr, "bench_journal: record %lu: %s\n", (unsigned long)i,
				strerror(-rc));
			return 1;
		}
		lat[i] = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
		if (b->sync_every != 0 && (i + 1) % b->sync_every == 0) {
			uint64_t s0 = mono_ns(), s;

			rc = fs_journal_sync(b->j);
			s = mono_ns() - s0;
			*sync_ns += s;
			if (s > *sync_worst)
				*sync_worst = s;
			if (rc != 0) {
				fprintf(stderr, "bench_journal: sync: %s\n", strerror(-rc));
				return 1;
			}
		}
	}
	return 0;
}

static void report(const struct bench *b, uint32_t *lat, double ns_per_cycle, uint64_t sync_ns,
	uint64_t sync_worst, double elapsed_s)
{
	uint64_t sum = 0, worst = 0, worst_seq = 0, over[3] = {0}, rolls = 0, roll_sum = 0;
	uint64_t roll_worst = 0, n = b->records;

	for (uint64_t i = 0; i < n; i++) {
		double ns = lat[i] * ns_per_cycle;

		if (i > 0 && i % FS_JOURNAL_SEG_RECS == 0) { /* the first record of a segment */
			rolls++;
			roll_sum += lat[i];
			if (lat[i] > roll_worst)
				roll_worst = lat[i];
		}

		sum += lat[i];
		if (lat[i] > worst) {
			worst = lat[i];
			worst_seq = i + 1;
		}
		over[0] += ns > 10e3;
		over[1] += ns > 100e3;
		over[2] += ns > 1e6;
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	printf("records=%lu\nmean_ns=%.1f\np50_ns=%.0f\np99_ns=%.0f\np999_ns=%.0f\n"
	       "worst_ns=%.0f\nworst_seq=%lu\nover_10us=%lu\nover_100us=%lu\nover_1ms=%lu\n",
		(unsigned long)n, (double)sum / n * ns_per_cycle, lat[n / 2] * ns_per_cycle,
		lat[n * 99 / 100] * ns_per_cycle, lat[n * 999 / 1000] * ns_per_cycle,
		worst * ns_per_cycle, (unsigned long)worst_seq, (unsigned long)over[0],
		(unsigned long)over[1], (unsigned long)over[2]);
	if (rolls != 0)
		printf("rolls=%lu\nroll_mean_ns=%.0f\nroll_worst_ns=%.0f\n", (unsigned long)rolls,
			(double)roll_sum / rolls * ns_per_cycle, roll_worst * ns_per_cycle);
	if (b->sync_every != 0)
		printf("syncs=%lu\nsync_mean_us=%.1f\nsync_worst_us=%.1f\n",
			(unsigned long)(n / b->sync_every),
			(double)sync_ns / 1e3 / (double)(n / b->sync_every), sync_worst / 1e3);
	printf("elapsed_s=%.3f\n", elapsed_s);
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t sync_ns = 0, sync_worst = 0, m0, m1, c0, c1;
	struct rusage ru0, ru1;
	pthread_t helper;
	uint32_t *lat;
	int rc;

	parse(argc, argv, &b);
	lat = malloc(b.records * sizeof(*lat));
	b.j = fs_journal_open(b.dir, 0);
	if (lat == NULL || b.j == NULL) {
		fprintf(stderr, "bench_journal: %s: %s\n", b.dir, strerror(errno));
		return 1;
	}
	if (fs_journal_next_seq(b.j) != 1)
		usage_exit("--dir already holds journal 0");
	fs_journal_set_fsync(b.j, b.sync_every != 0);
	fs_journal_set_tended(b.j, true);
	pin(b.writer_cpu);
	if (pthread_create(&helper, NULL, helper_run, &b) != 0) {
		fprintf(stderr, "bench_journal: cannot start the helper thread\n");
		return 1;
	}
	getrusage(RUSAGE_THREAD, &ru0);
	m0 = mono_ns();
	c0 = __builtin_ia32_rdtsc();
	rc = run(&b, lat, &sync_ns, &sync_worst);
	c1 = __builtin_ia32_rdtsc();
	m1 = mono_ns();
	getrusage(RUSAGE_THREAD, &ru1);
	atomic_store(&b.stop, true);
	pthread_join(helper, NULL);
	if (rc == 0) {
		uint64_t ahead, made;

		report(&b, lat, (double)(m1 - m0) / (double)(c1 - c0), sync_ns, sync_worst,
			(m1 - m0) / 1e9);
		fs_journal_rolls(b.j, &ahead, &made);
		printf("eagain=%lu\n", (unsigned long)b.eagain);
		printf("rolls_ahead=%lu\nrolls_made=%lu\nwriter_faults=%ld\n", (unsigned long)ahead,
			(unsigned long)made,
			ru1.ru_minflt - ru0.ru_minflt + ru1.ru_majflt - ru0.ru_majflt);
	}
	fs_journal_close(b.j);
	free(lat);
	if (b.own_dir)
		nftw(b.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
