/* Unit tests of clock.c: the anchor arithmetic against a simulated TSC and system clock. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "clock.h"

#define NOMINAL_HZ 2100000000ull	/* what DPDK reports here */
#define EPOCH_NS 1798000000000000000ull /* unix ns at simulated time 0 */
#define US 1000ll
#define MS 1000000ll
#define SEC 1000000000ll
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

/*
 * A TSC running at NOMINAL_HZ * (1 + ppm), a system clock (steps, slews) and the clock under
 * test anchored from them as the main lcore does, read as a worker does (fs_clock_at() once per
 * burst through fs_clock_mono()).
 */
struct sim {
	struct fs_clock c;
	double ticks_per_ns; /* the TSC's true rate */
	uint64_t tsc_start;
	int64_t t;	 /* true ns since EPOCH_NS */
	double sys_off;	 /* system clock minus true time, ns (steps, slews) */
	double sys_slew; /* the system clock's rate minus 1 (an NTP slew) */
	int64_t jitter;	 /* anchor reads of the system clock off by up to +- this, ns */
	uint64_t rng;
	bool unseen_step; /* a step the clock has not anchored since: reads not judged */
	/* results */
	int64_t max_err; /* |reader's clock - system clock| over judged reads, ns */
	uint64_t reads;
	uint64_t last; /* the reader's last result */
	bool have_last;
	uint64_t backwards; /* results below the one before (but across a step followed) */
	int64_t max_fall;   /* the most the line fell below the reader's last result, ns */
	int steps_seen;
};

static uint64_t sim_rand(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* uniform in [-r, r] */
static int64_t sim_uniform(struct sim *s, int64_t r)
{
	return r == 0 ? 0 : (int64_t)(sim_rand(s) % (uint64_t)(2 * r + 1)) - r;
}

static uint64_t sim_tsc(const struct sim *s, int64_t t)
{
	return s->tsc_start + (uint64_t)((double)t * s->ticks_per_ns);
}

static uint64_t sim_sys(const struct sim *s)
{
	return EPOCH_NS + (uint64_t)s->t + (uint64_t)(int64_t)s->sys_off;
}

static void sim_init(struct sim *s, double ppm, int64_t jitter, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->ticks_per_ns = (double)NOMINAL_HZ * (1 + ppm * 1e-6) / 1e9;
	s->tsc_start = 1000000000000ull;
	s->jitter = jitter;
	s->rng = seed;
	cr_assert_eq(fs_clock_setup(&s->c, NOMINAL_HZ, sim_tsc(s, 0), sim_sys(s)), 0);
}

static void sim_advance(struct sim *s, int64_t dt)
{
	s->t += dt;
	s->sys_off += (double)dt * s->sys_slew;
}

/* A worker's read now: fs_clock_at() through fs_clock_mono(), judged against the system clock. */
static void sim_read(struct sim *s)
{
	uint64_t raw = fs_clock_at(&s->c, sim_tsc(s, s->t));
	uint64_t v = s->have_last ? fs_clock_mono(raw, s->last) : raw;
	int64_t err = (int64_t)(v - sim_sys(s));

	if (!s->unseen_step) {
		err = err < 0 ? -err : err;
		if (err > s->max_err)
			s->max_err = err;
	}
	if (s->have_last && raw < s->last && (int64_t)(s->last - raw) > s->max_fall)
		s->max_fall = (int64_t)(s->last - raw);
	if (s->have_last && v < s->last)
		s->backwards++;
	s->last = v;
	s->have_last = true;
	s->reads++;
}

/*
 * The main lcore's anchor: reads TSC and system clock (the latter off by the jitter), a reader
 * just before the publication (old line) and just after. Returns fs_clock_anchor()'s result.
 */
static int sim_anchor(struct sim *s)
{
	uint64_t tsc = sim_tsc(s, s->t);
	uint64_t real = sim_sys(s) + (uint64_t)sim_uniform(s, s->jitter);
	int rc;

	sim_advance(s, 500);
	sim_read(s);
	rc = fs_clock_anchor(&s->c, tsc, real);
	cr_assert_geq(rc, 0);
	if (rc == 1) {
		s->steps_seen++;
		s->have_last = false; /* a step back is followed back */
	}
	s->unseen_step = false;
	sim_advance(s, 500);
	sim_read(s);
	return rc;
}

/* Run for @p duration: anchors every @p period (+- @p pjit), @p reads reads between anchors. */
static void sim_run(struct sim *s, int64_t duration, int64_t period, int64_t pjit, int reads)
{
	int64_t end = s->t + duration;

	while (s->t < end) {
		int64_t p = period + sim_uniform(s, pjit);

		for (int i = 0; i < reads; i++) {
			sim_advance(s, p / reads);
			sim_read(s);
		}
		sim_anchor(s);
	}
}

/* Rate estimate minus the TSC's true rate, in ppm. */
static double sim_rate_ppm(const struct sim *s)
{
	double ns_per_tick = (double)s->c.rate / 4294967296.0;

	return (ns_per_tick * s->ticks_per_ns - 1) * 1e6;
}

/* What the old clock (nominal rate, calibrated once at time 0) would say now, minus the truth. */
static double sim_nominal_err_ms(const struct sim *s)
{
	struct fs_clock_line l = {.tsc0 = sim_tsc(s, 0),
		.ns0 = EPOCH_NS,
		.mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / NOMINAL_HZ)};

	return (double)(int64_t)(fs_clock_line_at(&l, sim_tsc(s, s->t)) - sim_sys(s)) / 1e6;
}

static void sim_report(const struct sim *s, const char *name)
{
	fprintf(stderr,
		"%s: %.1f h, %llu reads, max error %.1f us, rate %+.2f ppm, line fell back %.1f us "
		"at "
		"most (held), steps %d; the nominal-rate clock would be off %.1f ms\n",
		name, (double)s->t / HOUR, (unsigned long long)s->reads, (double)s->max_err / US,
		sim_rate_ppm(s), (double)s->max_fall / US, s->steps_seen, sim_nominal_err_ms(s));
}

static void assert_tracks(const struct sim *s)
{
	cr_assert_lt(s->max_err, 1 * MS, "max error %lld ns", (long long)s->max_err);
	cr_assert_eq(
		s->backwards, 0, "time went back %llu times", (unsigned long long)s->backwards);
}

TestSuite(clock, .timeout = 120);

/* ppm off, 20 us jitter, anchors every 100 ms for 3 hours: under 1 ms, under 100 us after 1 s. */
static void drift_case(double ppm, uint64_t seed)
{
	struct sim s;
	int64_t startup;

	sim_init(&s, ppm, 20 * US, seed);
	sim_run(&s, SEC, 100 * MS, 0, 8);
	startup = s.max_err; /* the first 100 ms at the nominal rate: 200 us */
	s.max_err = 0;
	sim_run(&s, 3 * HOUR, 100 * MS, 0, 8);
	sim_report(&s, ppm > 0 ? "+2000 ppm" : "-2000 ppm");
	assert_tracks(&s);
	cr_assert_lt(startup, 1 * MS, "first second: error %lld ns", (long long)startup);
	cr_assert_lt(s.max_err, 100 * US, "rate measured: error %lld ns", (long long)s.max_err);
	cr_assert_lt(fabs(sim_rate_ppm(&s)), 50.0, "rate %+.1f ppm", sim_rate_ppm(&s));
	/* the clock the dataplane had: calibrated once at the nominal rate, 21.6 s off by now */
	cr_assert_gt(fabs(sim_nominal_err_ms(&s)), 20000.0);
	cr_assert_eq(s.steps_seen, 0);
}

Test(clock, tsc_2000ppm_fast_three_hours)
{
	drift_case(+2000, 1);
}

Test(clock, tsc_2000ppm_slow_three_hours)
{
	drift_case(-2000, 2);
}

Test(clock, anchors_every_10ms_as_the_dataplane)
{
	struct sim s;

	/* FS_CLOCK_ANCHOR_MS, and reads 1 us off (10x what fs_clock_read gets here) */
	sim_init(&s, +2000, 1 * US, 9);
	sim_run(&s, 10 * MIN, FS_CLOCK_ANCHOR_MS * MS, 0, 2);
	sim_report(&s, "10 ms anchors");
	assert_tracks(&s);
	cr_assert_lt(s.max_err, 25 * US, "error %lld ns", (long long)s.max_err);
}

Test(clock, irregular_and_late_anchors)
{
	struct sim s;

	/* anchors 5..95 ms apart, reads 50 us off, and every 5 minutes the main lcore stalls 2 s */
	sim_init(&s, -1900, 50 * US, 3);
	for (int i = 0; i < 12; i++) {
		sim_run(&s, 5 * MIN, 50 * MS, 45 * MS, 4);
		sim_anchor(&s);
		for (int k = 0; k < 20; k++) {
			sim_advance(&s, 100 * MS);
			sim_read(&s);
		}
	}
	sim_report(&s, "irregular");
	assert_tracks(&s);
	cr_assert_eq(s.steps_seen, 0);
}

Test(clock, first_rate_measured_in_a_tenth_of_a_second)
{
	struct sim s;

	sim_init(&s, +2000, 0, 4);
	cr_assert_gt(fabs(sim_rate_ppm(&s)), 1900.0);
	sim_run(&s, 150 * MS, 10 * MS, 0, 2);
	cr_assert(s.c.rate_measured);
	cr_assert_lt(fabs(sim_rate_ppm(&s)), 1.0, "rate %+.3f ppm", sim_rate_ppm(&s));
}

Test(clock, late_first_anchor_is_not_a_step)
{
	struct sim s;

	/* start-up takes 3 s before the main loop anchors: 6 ms of nominal-rate drift */
	sim_init(&s, -2000, 0, 10);
	sim_advance(&s, 3 * SEC);
	cr_assert_eq(sim_anchor(&s), 0);
	cr_assert(s.c.rate_measured);
	cr_assert_lt(fabs(sim_rate_ppm(&s)), 1.0, "rate %+.3f ppm", sim_rate_ppm(&s));
	/* but a step of 20 ms in the next 100 ms is one */
	sim_advance(&s, 100 * MS);
	s.sys_off += 20 * MS;
	s.unseen_step = true;
	cr_assert_eq(sim_anchor(&s), 1);
}

/* A step of @p delta ns after 10 minutes, then 10 more: followed at the next anchor. */
static void step_case(double ppm, int64_t delta, uint64_t seed)
{
	struct sim s;
	double before;

	sim_init(&s, ppm, 20 * US, seed);
	sim_run(&s, 10 * MIN, 100 * MS, 0, 8);
	before = sim_rate_ppm(&s);
	sim_advance(&s, 30 * MS);
	s.sys_off += (double)delta; /* date -s, or an NTP step */
	s.unseen_step = true;
	sim_read(&s); /* still the old time: nothing anchored since */
	cr_assert_eq(sim_anchor(&s), 1, "the anchor after the step reports it");
	cr_assert_lt(llabs((int64_t)(fs_clock_at(&s.c, sim_tsc(&s, s.t)) - sim_sys(&s))), 1 * MS,
		"followed at once");
	cr_assert_eq(s.c.steps, 1);
	sim_run(&s, 10 * MIN, 100 * MS, 0, 8);
	sim_report(&s, delta > 0 ? "step forward" : "step back");
	assert_tracks(&s);
	cr_assert_eq(s.steps_seen, 1);
	/* the interval holding the step never reached the rate estimate */
	cr_assert_lt(fabs(sim_rate_ppm(&s)), 50.0, "rate %+.1f ppm (before %+.1f)",
		sim_rate_ppm(&s), before);
}

Test(clock, step_forward_followed)
{
	step_case(+2000, 5 * SEC, 5);
}

Test(clock, step_back_followed)
{
	step_case(-2000, -3 * SEC, 6);
}

Test(clock, small_step_back_held_never_backwards)
{
	struct sim s;

	sim_init(&s, +2000, 0, 7);
	sim_run(&s, MIN, 100 * MS, 0, 8);
	s.sys_off -= 500 * US; /* under FS_CLOCK_STEP_NS: the reader's time stops until caught up */
	sim_run(&s, MIN, 100 * MS, 0, 8);
	sim_report(&s, "step back 0.5 ms");
	assert_tracks(&s);
	cr_assert_eq(s.steps_seen, 0);
	cr_assert_geq(s.max_fall, 490 * US, "the line did fall back");
	cr_assert_lt(llabs((int64_t)(fs_clock_at(&s.c, sim_tsc(&s, s.t)) - sim_sys(&s))), 10 * US);
}

Test(clock, mono_holds_small_falls_follows_steps)
{
	cr_assert_eq(fs_clock_mono(1000, 900), 1000);
	cr_assert_eq(fs_clock_mono(1000, 1000), 1000);
	cr_assert_eq(fs_clock_mono(1000, 1200), 1200, "a fall of 200 ns is held");
	cr_assert_eq(fs_clock_mono(EPOCH_NS, EPOCH_NS + FS_CLOCK_STEP_NS - 1),
		EPOCH_NS + FS_CLOCK_STEP_NS - 1);
	cr_assert_eq(fs_clock_mono(EPOCH_NS, EPOCH_NS + FS_CLOCK_STEP_NS), EPOCH_NS,
		"a step back is followed");
}

Test(clock, ntp_slew_followed)
{
	struct sim s;

	sim_init(&s, +2000, 20 * US, 8);
	sim_run(&s, MIN, 100 * MS, 0, 8);
	s.sys_slew = 500e-6; /* ntpd's largest slew */
	sim_run(&s, 10 * MIN, 100 * MS, 0, 8);
	s.sys_slew = -500e-6;
	sim_run(&s, 10 * MIN, 100 * MS, 0, 8);
	sim_report(&s, "ntp slew");
	assert_tracks(&s);
	cr_assert_eq(s.steps_seen, 0);
}

Test(clock, bad_input_refused)
{
	struct fs_clock c;
	uint64_t v;

	cr_assert_eq(fs_clock_setup(&c, 0, 1, 1), -EINVAL);
	cr_assert_eq(fs_clock_setup(&c, NOMINAL_HZ, 1000, EPOCH_NS), 0);
	v = fs_clock_at(&c, 1000 + NOMINAL_HZ);
	cr_assert_eq(v, EPOCH_NS + SEC - 1, "one second at the nominal rate (rounded down)");
	cr_assert_eq(fs_clock_anchor(&c, 1000, EPOCH_NS), -EINVAL, "same TSC as before");
	cr_assert_eq(fs_clock_anchor(&c, 999, EPOCH_NS), -EINVAL, "TSC went back");
	cr_assert_eq(fs_clock_at(&c, 1000 + NOMINAL_HZ), v, "nothing changed");
	cr_assert_eq(fs_clock_at(&c, 0), EPOCH_NS - 477, "before tsc0: signed (1000 ticks back)");
}

/* Latch: a reader never mixes the words of two lines. Every line gives K at TSC 0. */
#define LATCH_K 123456789ull
static volatile bool latch_stop;

static struct fs_clock_line latch_line(uint64_t k)
{
	uint64_t m = 1 + k % 3; /* whole ns per tick */

	return (struct fs_clock_line){
		.tsc0 = k * 1000 + 1, .ns0 = LATCH_K + (k * 1000 + 1) * m, .mult = m << 32};
}

static void *latch_writer(void *arg)
{
	struct fs_clock *c = arg;

	for (uint64_t k = 1; !__atomic_load_n(&latch_stop, __ATOMIC_RELAXED); k++) {
		struct fs_clock_line l = latch_line(k);

		fs_clock_publish(c, &l);
	}
	return NULL;
}

Test(clock, latch_reader_never_sees_a_torn_line)
{
	static struct fs_clock c;
	struct fs_clock_line l = latch_line(0);
	uint64_t bad = 0, n = 0, seq0;
	pthread_t w;

	memset(&c, 0, sizeof(c));
	fs_clock_publish(&c, &l);
	seq0 = c.seq;
	latch_stop = false;
	cr_assert_eq(pthread_create(&w, NULL, latch_writer, &c), 0);
	/* at least 1 M reads and 100,000 publications (at most 50 M reads: a busy machine) */
	for (n = 0; n < 50000000 &&
		    (n < 1000000 || __atomic_load_n(&c.seq, __ATOMIC_RELAXED) < seq0 + 200000);
		n++)
		if (fs_clock_at(&c, 0) != LATCH_K)
			bad++;
	__atomic_store_n(&latch_stop, true, __ATOMIC_RELAXED);
	pthread_join(w, NULL);
	fprintf(stderr, "latch: %llu reads during %llu publications, %llu torn\n",
		(unsigned long long)n, (unsigned long long)(c.seq - seq0) / 2,
		(unsigned long long)bad);
	cr_assert_eq(bad, 0);
	cr_assert_gt(c.seq - seq0, 2000, "the writer ran during the reads");
}
