/* Dataplane clock: CLOCK_REALTIME, interpolated between anchors with the TSC. */
#ifndef FS_CLOCK_H
#define FS_CLOCK_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_cycles.h>

/*
 * CLOCK_REALTIME is the clock; the TSC only interpolates. The main lcore takes an anchor (a TSC
 * value and the CLOCK_REALTIME of the same instant) every FS_CLOCK_ANCHOR_MS and publishes the
 * line through it: unix ns = ns0 + (tsc - tsc0) * mult. Workers read the line once per burst.
 * DPDK's TSC frequency can be ~2000 ppm off (2.1 GHz reported, 2.096 GHz measured here: 1.9 ms
 * lost per second), so the rate (mult) is measured from the anchors themselves and smoothed.
 * Between anchors the error is the rate's error times the time since the anchor (ppm x 10 ms:
 * ns) plus the anchor read's own (the gap of two TSC reads around clock_gettime: ~100 ns). At an
 * anchor the line can move back by what it had gained: a reader that must never see time go
 * back passes its results through fs_clock_mono(). A step of the system clock (NTP step,
 * date -s) is followed at the next anchor.
 */

#define FS_CLOCK_ANCHOR_MS 10 /**< the main lcore re-anchors this often (at most 100 ms apart) */
/**
 * An anchor interval in which the system clock moved more than this beyond what the TSC at the
 * estimated rate explains holds a step of the system clock; and fs_clock_mono() lets time go
 * back by this much or more (a step back), never by less.
 */
#define FS_CLOCK_STEP_NS 1000000
/** The first rate measurement spans this much (it replaces DPDK's nominal frequency). */
#define FS_CLOCK_RATE_FIRST_NS 100000000
/** Later measurements span this much and move the estimate by 1/FS_CLOCK_RATE_GAIN of the gap. */
#define FS_CLOCK_RATE_SPAN_NS 1000000000
#define FS_CLOCK_RATE_GAIN 4

/** One published line: unix ns at TSC value t = ns0 + (t - tsc0) * mult / 2^32 (signed). */
struct fs_clock_line {
	uint64_t tsc0;
	uint64_t ns0;
	uint64_t mult; /**< ns per TSC tick, 32.32 fixed point */
	uint64_t pad;
};

/**
 * The clock: a published line (written by one thread, the anchoring one, read by any) and the
 * writer's own estimate state. Published with a seqlock latch (two copies of the line: readers
 * always find one that is not being written, so they never wait for the writer; Linux's
 * seqcount_latch, used by its NMI-safe ktime_get_mono_fast_ns()).
 */
struct fs_clock {
	/* writer: wo (fs_clock_setup/fs_clock_anchor); readers: ro (fs_clock_at). */
	alignas(64) uint64_t seq; /**< +2 per anchor; readers use line[seq & 1] */
	struct fs_clock_line line[2];
	/* writer only */
	alignas(64) uint64_t rate; /**< ns per tick, 32.32: the estimate (nominal until measured) */
	uint64_t nominal;	   /**< ns per tick, 32.32, from the nominal frequency */
	uint64_t last_tsc;	   /**< the previous anchor */
	uint64_t last_ns;
	uint64_t base_tsc; /**< start of the current rate measurement */
	uint64_t base_ns;
	bool rate_measured;	/**< rate comes from anchors, not from the nominal frequency */
	int64_t last_offset_ns; /**< system clock minus the old line at the last anchor */
	uint64_t anchors;	/**< anchors taken */
	uint64_t steps;		/**< of which held a step of the system clock */
};

/**
 * Start @p c at the anchor (@p tsc, @p real_ns) with the nominal TSC frequency @p hz (ticks per
 * second) as its rate. Before any reader. Not thread safe.
 * @return 0, or -EINVAL if @p hz is 0.
 */
int fs_clock_setup(struct fs_clock *c, uint64_t hz, uint64_t tsc, uint64_t real_ns);

/**
 * Take the anchor (@p tsc, @p real_ns): the system clock read @p real_ns at TSC value @p tsc,
 * and publish the line through it at the estimated rate. Pure arithmetic; one writer (the main
 * lcore), concurrent readers fine.
 * - Step: over the interval since the previous anchor the system clock moved more than
 *   FS_CLOCK_STEP_NS beyond what the TSC at the estimated rate explains (an NTP step, date -s;
 *   while the rate is still the nominal one, 0.5% of the interval more is allowed): the
 *   interval is taken out of the rate measurement, so the step never reaches the estimate.
 *   Returns 1.
 * - Else the rate is measured over the span since the base, once that reaches
 *   FS_CLOCK_RATE_FIRST_NS (the first time: replaces the nominal rate) or FS_CLOCK_RATE_SPAN_NS
 *   (then: exponential smoothing, gain 1/FS_CLOCK_RATE_GAIN, so that read jitter of J ns moves
 *   it by about J/(4 s) and an NTP slew is followed within seconds); a measure more than 10%
 *   from the nominal rate is refused and the span starts again. Returns 0.
 * @return 0, 1 (a step followed), or -EINVAL (ignored: @p tsc not after the previous anchor's).
 */
int fs_clock_anchor(struct fs_clock *c, uint64_t tsc, uint64_t real_ns);

/**
 * Publish @p l as the line of @p c (seqlock latch: seq odd sends readers to line[1] while line[0]
 * is rewritten, seq even to line[0] while line[1] is). fs_clock_anchor() ends with it. One writer;
 * concurrent readers fine.
 */
void fs_clock_publish(struct fs_clock *c, const struct fs_clock_line *l);

/** Unix ns on @p l at TSC value @p tsc (before tsc0 too). Pure; thread safe. */
static inline uint64_t fs_clock_line_at(const struct fs_clock_line *l, uint64_t tsc)
{
	int64_t d = (int64_t)(tsc - l->tsc0);

	return l->ns0 + (uint64_t)(int64_t)(((__int128)d * (__int128)l->mult) >> 32);
}

/**
 * Unix ns at TSC value @p tsc on the latest line of @p c: one acquire load of seq, the line's
 * three words, a re-check of seq (retried only if an anchor was published meanwhile: the writer
 * never blocks readers), a multiply. Any thread, lock-free, no syscall: for the hot path.
 * Memory order (Boehm, "Can seqlocks get along with programming language memory models?", 2012):
 * the acquire load of seq pairs with the writer's release store of it, so the copy it names is
 * complete; the acquire fence before the re-check pairs with the writer's release fences, so a
 * word of a copy being rewritten implies the re-check sees seq moved.
 */
static inline uint64_t fs_clock_at(const struct fs_clock *c, uint64_t tsc)
{
	struct fs_clock_line l;
	uint64_t seq;

	do {
		const struct fs_clock_line *p;

		seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		p = &c->line[seq & 1];
		l.tsc0 = __atomic_load_n(&p->tsc0, __ATOMIC_RELAXED);
		l.ns0 = __atomic_load_n(&p->ns0, __ATOMIC_RELAXED);
		l.mult = __atomic_load_n(&p->mult, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq);
	return fs_clock_line_at(&l, tsc);
}

/**
 * One reader's clock that never goes back: @p now (from fs_clock_at()) unless it is below the
 * reader's previous result @p last by less than FS_CLOCK_STEP_NS (the line moved back at an
 * anchor by what it had gained: the rate's error over one interval, ns to us), then @p last;
 * a larger fall is a step of the system clock back, followed. Pure.
 */
static inline uint64_t fs_clock_mono(uint64_t now, uint64_t last)
{
	return now < last && last - now < FS_CLOCK_STEP_NS ? last : now;
}

/** The dataplane's clock: anchored by the main lcore (fs_clock_init, fs_clock_sync). */
extern struct fs_clock fs_clock_dp;

/**
 * Set fs_clock_dp up: the first anchor (fs_clock_read()) and @p tsc_hz as the first rate: the
 * EAL's rte_get_tsc_hz() (passed in, so that this file calls no librte_* function and fs_core
 * needs DPDK's headers only). Call once after rte_eal_init(), before the workers start. Not
 * thread safe.
 * @return 0, or -errno (-ENODEV if @p tsc_hz is 0: the TSC frequency is unknown; clock_gettime's).
 */
int fs_clock_init(uint64_t tsc_hz);

/**
 * Read an anchor: CLOCK_REALTIME between two rte_rdtsc_precise() reads, the pair with the
 * smallest gap of a few tries, *tsc its midpoint. vDSO, no syscall on kvm-clock/tsc.
 * @return 0 or -errno (clock_gettime's).
 */
int fs_clock_read(uint64_t *tsc, uint64_t *real_ns);

/**
 * Re-anchor fs_clock_dp now (fs_clock_read(), then fs_clock_anchor()). The main lcore only,
 * every FS_CLOCK_ANCHOR_MS.
 * @return what fs_clock_anchor() returns (1: the system clock stepped, by about
 *         fs_clock_dp.last_offset_ns), or clock_gettime's -errno.
 */
int fs_clock_sync(void);

/** Unix time in ns at TSC value @p tsc (fs_clock_at() on fs_clock_dp). Thread safe. */
static inline uint64_t fs_clock_now_ns(uint64_t tsc)
{
	return fs_clock_at(&fs_clock_dp, tsc);
}

/** Unix time in ms at TSC value @p tsc (see fs_clock_now_ns()). Thread safe. */
static inline int64_t fs_clock_now_ms(uint64_t tsc)
{
	return (int64_t)(fs_clock_now_ns(tsc) / 1000000u);
}

/** Unix time in ms now (one rte_rdtsc()). Thread safe. */
static inline int64_t fs_clock_ms(void)
{
	return fs_clock_now_ms(rte_rdtsc());
}

/** CLOCK_MONOTONIC in ms (durations such as uptime: steps of the system clock do not move it). */
int64_t fs_clock_mono_ms(void);

#endif
