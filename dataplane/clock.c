/* Dataplane clock: anchors of (TSC, CLOCK_REALTIME), the rate estimate, the published line. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "clock.h"

#define FS_CLOCK_TRIES 3
/* A measured rate further than 1/FS_CLOCK_RATE_TOL from the nominal one is refused. */
#define FS_CLOCK_RATE_TOL 10
/*
 * Until the rate is measured, the interval's time over this (0.5%) is what the nominal rate can
 * be off by: not a step (the first anchor may come seconds after the start, at 2000 ppm off).
 */
#define FS_CLOCK_NOMINAL_ERR 200

struct fs_clock fs_clock_dp;

/* The writer's line (both copies equal once published). */
static inline const struct fs_clock_line *clock_cur(const struct fs_clock *c)
{
	return &c->line[0];
}

static void line_store(struct fs_clock_line *dst, const struct fs_clock_line *src)
{
	__atomic_store_n(&dst->tsc0, src->tsc0, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->ns0, src->ns0, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->mult, src->mult, __ATOMIC_RELAXED);
}

/*
 * Release stores of seq: the copy they send readers to is complete before them; release fences
 * after them: a reader that sees a word of the copy being rewritten sees seq moved on its
 * re-check (fs_clock_at()).
 */
void fs_clock_publish(struct fs_clock *c, const struct fs_clock_line *l)
{
	uint64_t s = c->seq;

	__atomic_store_n(&c->seq, s + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	line_store(&c->line[0], l);
	__atomic_store_n(&c->seq, s + 2, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	line_store(&c->line[1], l);
}

int fs_clock_setup(struct fs_clock *c, uint64_t hz, uint64_t tsc, uint64_t real_ns)
{
	struct fs_clock_line l;

	if (hz == 0)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->rate = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
	c->nominal = c->rate;
	c->last_tsc = c->base_tsc = tsc;
	c->last_ns = c->base_ns = real_ns;
	l = (struct fs_clock_line){.tsc0 = tsc, .ns0 = real_ns, .mult = c->rate};
	line_store(&c->line[0], &l);
	line_store(&c->line[1], &l);
	return 0;
}

/* ns that @p ticks TSC ticks last at @p rate (32.32 ns per tick). */
static inline uint64_t ticks_ns(uint64_t ticks, uint64_t rate)
{
	return (uint64_t)(((unsigned __int128)ticks * rate) >> 32);
}

/*
 * The rate estimate after the anchor (@p tsc, @p real_ns): measured once the span from the base
 * is long enough; a measure far from the nominal rate (a step the interval check missed) is
 * refused and the measurement starts again.
 */
static void clock_rate_update(struct fs_clock *c, uint64_t tsc, uint64_t real_ns)
{
	int64_t span = (int64_t)(real_ns - c->base_ns);
	uint64_t meas;

	if (span < (c->rate_measured ? FS_CLOCK_RATE_SPAN_NS : FS_CLOCK_RATE_FIRST_NS))
		return;
	meas = (uint64_t)(((unsigned __int128)(uint64_t)span << 32) / (tsc - c->base_tsc));
	c->base_tsc = tsc;
	c->base_ns = real_ns;
	if (meas > c->nominal + c->nominal / FS_CLOCK_RATE_TOL ||
		meas < c->nominal - c->nominal / FS_CLOCK_RATE_TOL)
		return;
	if (!c->rate_measured)
		c->rate = meas;
	else
		c->rate = (uint64_t)((int64_t)c->rate +
				     ((int64_t)meas - (int64_t)c->rate) / FS_CLOCK_RATE_GAIN);
	c->rate_measured = true;
}

int fs_clock_anchor(struct fs_clock *c, uint64_t tsc, uint64_t real_ns)
{
	uint64_t dtsc = tsc - c->last_tsc;
	struct fs_clock_line l;
	int64_t dns, jump, limit;
	bool step;

	if ((int64_t)dtsc <= 0)
		return -EINVAL;
	/* what the system clock did over the interval that the TSC at our rate cannot explain */
	dns = (int64_t)(real_ns - c->last_ns);
	jump = dns - (int64_t)ticks_ns(dtsc, c->rate);
	limit = FS_CLOCK_STEP_NS + (c->rate_measured || dns < 0 ? 0 : dns / FS_CLOCK_NOMINAL_ERR);
	step = jump > limit || jump < -limit;
	if (step) {
		/* the interval holding the step leaves the rate measurement */
		c->base_tsc += dtsc;
		c->base_ns += real_ns - c->last_ns;
		c->steps++;
	} else {
		clock_rate_update(c, tsc, real_ns);
	}
	c->last_offset_ns = (int64_t)(real_ns - fs_clock_line_at(clock_cur(c), tsc));
	c->last_tsc = tsc;
	c->last_ns = real_ns;
	c->anchors++;
	l = (struct fs_clock_line){.tsc0 = tsc, .ns0 = real_ns, .mult = c->rate};
	fs_clock_publish(c, &l);
	return step ? 1 : 0;
}

int fs_clock_read(uint64_t *tsc, uint64_t *real_ns)
{
	uint64_t best_gap = UINT64_MAX;
	struct timespec ts;
	int i;

	for (i = 0; i < FS_CLOCK_TRIES; i++) {
		uint64_t t1 = rte_rdtsc_precise();

		if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
			return -errno;
		uint64_t t2 = rte_rdtsc_precise();

		if (t2 - t1 < best_gap) {
			best_gap = t2 - t1;
			*tsc = t1 + (t2 - t1) / 2;
			*real_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	}
	return 0;
}

int fs_clock_init(uint64_t tsc_hz)
{
	uint64_t tsc, ns;
	int rc;

	if (tsc_hz == 0)
		return -ENODEV;
	rc = fs_clock_read(&tsc, &ns);
	if (rc != 0)
		return rc;
	return fs_clock_setup(&fs_clock_dp, tsc_hz, tsc, ns);
}

int fs_clock_sync(void)
{
	uint64_t tsc, ns;
	int rc = fs_clock_read(&tsc, &ns);

	if (rc != 0)
		return rc;
	return fs_clock_anchor(&fs_clock_dp, tsc, ns);
}

int64_t fs_clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
