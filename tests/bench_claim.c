/*
 * bench_claim: the cost of fs_claim() without EAL, packets or a generator: claims answered one
 * after another on one thread, timed as a whole with the TSC. A benchmark to run by hand, not a
 * test: it prints figures and asserts nothing about them (but that each claim got the answer
 * its kind is for).
 *
 * bench_claim [--claims N] [--rounds R] [--kind K] [--cpu C]
 *   --claims N   claims per kind and round (default 1,000,000), users 1..N, each once
 *   --rounds R   the kinds one after another R times (default 3), each on a fresh sale and
 *                journal; the best round of each kind is printed
 *   --kind K     only kind K (below; default: all)
 *   --cpu C      pin to CPU C (default: not pinned), and the helper below to the other CPUs
 * The journal is tended as flashsale-dp's main lcore tends it (fs_journal_tend every 5 ms on a
 * helper thread: next segment made and pages faulted in and written once ahead of the writer),
 * with --cpu on the other CPUs, as the main lcore has a core of its own: on the same CPU its
 * work (tens of thousands of cycles per 4 KiB page on a VM, journal.c's journal_touch) would be
 * timed as the claims'.
 * Kinds: verify (fs_fcp_token_verify alone: one SipHash-2-4 over the 20 signed bytes and the
 * constant-time compare), win (an open sale with stock N: every claim a new user winning: winner
 * insert, stock take, ORDER record), token (the same on a token sale: admission too), soldout
 * (a sold-out sale: the cached flag and the winner lookup). The journal is made under $TMPDIR
 * (default /tmp: TMPDIR=/dev/shm leaves the disk out). Claims go in bursts of 32 as the worker
 * takes them: sales looked up and winner slots prefetched first, then answered. Output, one line
 * per kind, key=value: kind ns_per_claim cycles_per_claim (TSC) best of R. Exit 0, 1 on a setup
 * error or a wrong answer, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "claim.h"
#include "parse.h"
#include "loop.h"
#include "rmtree.h"

#define NODE 1
#define NOW_MS 1798000000000ll
#define BURST 32 /* flashsale-dp's RX burst */

enum kind { K_VERIFY, K_WIN, K_TOKEN, K_SOLDOUT, K_KINDS };
static const char *const kind_names[K_KINDS] = {"verify", "win", "token", "soldout"};
static const uint8_t bench_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

struct run {
	uint64_t n;
	struct fs_fcp_req *req; /* n requests, users 1..n */
	uint8_t (*raw)[48];	/* their wire bytes, signed with bench_key */
};

#define HELPER_MS 5		       /* flashsale-dp's FS_PREFAULT_MS */
#define HELPER_BEHIND_US 100 /* flashsale-dp's FS_PREFAULT_BEHIND_US */
#define HELPER_BYTES ((size_t)4 << 20) /* flashsale-dp's FS_PREFAULT_BYTES */

/* --cpu: the helper's CPUs (all but that one); helper_pinned false without --cpu */
static cpu_set_t helper_cpus;
static bool helper_pinned;

/* The main lcore's journal upkeep (fs_journal_tend) of journal @p arg, every HELPER_MS: a turn
 * of the helper thread that runs beside a round. */
static void helper_step(void *arg, unsigned long turn)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = HELPER_MS * 1000 * 1000};

	(void)turn;
	if (fs_journal_tend(arg, HELPER_BYTES))
		ts.tv_nsec = HELPER_BEHIND_US * 1000; /* pages left over: soon, as flashsale-dp */
	nanosleep(&ts, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_claim: %s\n", what);
	exit(1);
}

static void usage_exit(const char *why)
{
	fprintf(stderr,
		"bench_claim: %s\nusage: bench_claim [--claims N] [--rounds R] [--kind K] [--cpu "
		"C]\n",
		why);
	exit(2);
}

/* A number in [@p min, @p max] (fs_parse_u64: decimal or 0x hex), else the usage. */
static uint64_t num_arg(const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (s == NULL || fs_parse_u64(s, min, max, &v) < 0)
		usage_exit("bad number");
	return v;
}

static unsigned kind_of(const char *s)
{
	unsigned k;

	for (k = 0; s != NULL && k < K_KINDS; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	usage_exit("--kind verify|win|token|soldout");
	return K_KINDS;
}

/* The requests, signed: built once, outside the timed loops. */
static void run_init(struct run *r, uint64_t n)
{
	uint64_t i;

	r->n = n;
	r->req = calloc(n, sizeof(*r->req));
	r->raw = calloc(n, sizeof(*r->raw));
	if (r->req == NULL || r->raw == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		r->req[i] = (struct fs_fcp_req){.type = FS_FCP_CLAIM,
			.sale_id = 1,
			.user_id = i + 1,
			.request_id = i + 1,
			.token_expiry = (uint32_t)(NOW_MS / 1000 + 3600)};
		fs_fcp_encode_req(&r->req[i], r->raw[i]);
		fs_fcp_token(bench_key, r->raw[i], r->raw[i] + 24);
	}
}

/* A sale of @p stock units, all leased: open, or token with bench_key. */
static struct fs_sale *sale_new(struct fs_sale_table *t, uint64_t stock, bool token)
{
	struct fs_sale_def def = {.sale_id = 1,
		.stock = stock,
		.start_ms = NOW_MS - 1000,
		.end_ms = NOW_MS + 3600000,
		.admission = token ? FS_ADM_TOKEN : FS_ADM_OPEN,
		.has_key = token};

	memcpy(def.key, bench_key, sizeof(def.key));
	if (fs_sale_ctl_create(t, NULL, NODE, &def) < 0 ||
		fs_sale_ctl_lease(t, NULL, NODE, 1, stock, true) < 0)
		die("cannot create the sale");
	return fs_sale_lookup(t, 1);
}

/* Every request through fs_claim; @return TSC cycles, *ns the wall time. */
static uint64_t claims(struct fs_sale_table *t, struct fs_journal *j, const struct run *r,
	uint8_t want, uint64_t *ns)
{
	uint64_t cnt[FS_CNT__COUNT] = {0};
	struct fs_claim_env env = {.node_id = NODE,
		.journal = j,
		.now_ms = NOW_MS,
		.now_ns = (uint64_t)NOW_MS * 1000000ull,
		.cnt = cnt};
	struct fs_fcp_reply rep;
	uint64_t i, c0, t0;

	t0 = mono_ns();
	c0 = rte_rdtsc();
	for (i = 0; i < r->n; i += BURST) {
		struct fs_sale *s[BURST];
		uint64_t k, m = r->n - i < BURST ? r->n - i : BURST;

		/* as the worker: the sale looked up and the winner slot prefetched burst-wide */
		for (k = 0; k < m; k++) {
			s[k] = fs_sale_lookup(t, r->req[i + k].sale_id);
			fs_winners_prefetch(s[k]->winners, r->req[i + k].user_id);
		}
		for (k = 0; k < m; k++) {
			fs_claim_sale(t, s[k], &env, &r->req[i + k], r->raw[i + k], &rep);
			if (rep.status != want)
				die("unexpected answer");
		}
	}
	c0 = rte_rdtsc() - c0;
	*ns = mono_ns() - t0;
	return c0;
}

/* One round of kind @p k. @return TSC cycles, *ns the wall time. */
static uint64_t round_of(enum kind k, const struct run *r, uint64_t *ns)
{
	char dir[512];
	struct fs_sale_table t;
	struct fs_journal *j;
	struct fs_test_loop hp = {.step = helper_step};
	volatile unsigned ok = 0;
	uint64_t i, c;

	if (k == K_VERIFY) {
		uint64_t t0 = mono_ns();

		c = rte_rdtsc();
		for (i = 0; i < r->n; i++)
			ok += fs_fcp_token_verify(bench_key, r->raw[i]);
		c = rte_rdtsc() - c;
		*ns = mono_ns() - t0;
		if (ok != r->n)
			die("a token did not verify");
		return c;
	}
	snprintf(dir, sizeof(dir), "%s/bench_claim.XXXXXX",
		getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	fs_sale_table_init(&t, 1);
	j = fs_journal_open(dir, 0);
	if (j == NULL)
		die("cannot open the journal");
	fs_journal_set_tended(j, true);
	fs_journal_tend(j, HELPER_BYTES);
	hp.arg = j;
	if (fs_test_loop_start(&hp) != 0)
		die("cannot start the helper thread");
	if (helper_pinned && pthread_setaffinity_np(hp.th, sizeof(helper_cpus), &helper_cpus) != 0)
		fprintf(stderr, "bench_claim: cannot move the helper off the claims' CPU\n");
	if (k == K_SOLDOUT) {
		struct fs_fcp_reply rep;
		uint64_t cnt[FS_CNT__COUNT] = {0};
		struct fs_fcp_req first = {.type = FS_FCP_CLAIM, .sale_id = 1, .user_id = 0};
		struct fs_claim_env env = {.node_id = NODE,
			.journal = j,
			.now_ms = NOW_MS,
			.now_ns = (uint64_t)NOW_MS * 1000000ull,
			.cnt = cnt};
		uint8_t raw[48] = {0};

		sale_new(&t, 1, false);
		fs_claim(&t, &env, &first, raw, &rep); /* user 0 takes the one unit */
		c = claims(&t, j, r, FS_ST_SOLD_OUT, ns);
	} else {
		sale_new(&t, r->n, k == K_TOKEN);
		c = claims(&t, j, r, FS_ST_WON, ns);
	}
	fs_test_loop_stop(&hp);
	fs_journal_close(j);
	fs_sale_table_fini(&t);
	fs_test_rmtree(dir);
	return c;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, best_ns[K_KINDS], best_c[K_KINDS];
	unsigned rounds = 3, i, k, only = K_KINDS;
	int cpu = -1, a;
	struct run r;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--claims") == 0)
			n = (uint64_t)num_arg(argv[++a], 1, 100000000);
		else if (strcmp(argv[a], "--rounds") == 0)
			rounds = (unsigned)num_arg(argv[++a], 1, 1000);
		else if (strcmp(argv[a], "--kind") == 0)
			only = kind_of(argv[++a]);
		else if (strcmp(argv[a], "--cpu") == 0)
			cpu = (int)num_arg(argv[++a], 0, 1023);
		else
			usage_exit("unknown option");
	}
	if (cpu >= 0) {
		cpu_set_t set;
		int rc = pthread_getaffinity_np(pthread_self(), sizeof(helper_cpus), &helper_cpus);

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		CPU_CLR(cpu, &helper_cpus);
		helper_pinned = rc == 0 && CPU_COUNT(&helper_cpus) > 0;
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			fprintf(stderr, "bench_claim: cannot pin to CPU %d (not pinned)\n", cpu);
	}
	run_init(&r, n);
	for (k = 0; k < K_KINDS; k++)
		best_ns[k] = best_c[k] = UINT64_MAX;
	for (i = 0; i < rounds; i++) {
		for (k = 0; k < K_KINDS; k++) {
			uint64_t ns, c;

			if (only != K_KINDS && k != only)
				continue;
			c = round_of((enum kind)k, &r, &ns);

			if (ns < best_ns[k]) {
				best_ns[k] = ns;
				best_c[k] = c;
			}
		}
	}
	for (k = 0; k < K_KINDS; k++)
		if (only == K_KINDS || k == only)
			printf("kind=%s claims=%" PRIu64
			       " ns_per_claim=%.1f cycles_per_claim=%.0f rounds=%u\n",
				kind_names[k], n, (double)best_ns[k] / (double)n,
				(double)best_c[k] / (double)n, rounds);
	free(r.req);
	free(r.raw);
	return 0;
}
