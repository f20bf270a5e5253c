/* flashgen's reply-latency histogram: HDR-like buckets in ns, quantiles for the report. */
#ifndef FG_HISTOGRAM_H
#define FG_HISTOGRAM_H

#include <stdint.h>

/* Exact below 2^11 ns, then 1024 sub-buckets per power of two: relative error < 1/1024. */
#define FG_HIST_SUB_BITS 10
#define FG_HIST_EXACT (1u << (FG_HIST_SUB_BITS + 1))
#define FG_HIST_MAX_EXP 40 /* values clamp at 2^51 ns */
#define FG_HIST_SIZE (FG_HIST_EXACT + FG_HIST_MAX_EXP * (1u << FG_HIST_SUB_BITS))

/* Latencies seen. Writer: run.c (fg_hist_add, one per reply); report.c reads. */
struct fg_hist {
	uint64_t *count; /* FG_HIST_SIZE buckets */
	uint64_t max_ns; /* largest value added */
};

/** Allocate the zeroed buckets (about 340 KiB). 0 or -ENOMEM. */
int fg_hist_init(struct fg_hist *h);

/** Free the buckets; @p h may be zeroed or freed already. */
void fg_hist_free(struct fg_hist *h);

/** Bucket of @p ns: the value itself below FG_HIST_EXACT, then by power of two and sub-bucket. */
static inline uint32_t fg_hist_index(uint64_t ns)
{
	unsigned msb, shift;

	if (ns < FG_HIST_EXACT)
		return (uint32_t)ns;
	msb = 63 - (unsigned)__builtin_clzll(ns);
	shift = msb - FG_HIST_SUB_BITS;
	if (shift > FG_HIST_MAX_EXP)
		return FG_HIST_SIZE - 1;
	return FG_HIST_EXACT + (shift - 1) * (1u << FG_HIST_SUB_BITS) +
	       (uint32_t)((ns >> shift) - (1u << FG_HIST_SUB_BITS));
}

/** Count one latency of @p ns. No allocation, no syscall (the reply path). */
static inline void fg_hist_add(struct fg_hist *h, uint64_t ns)
{
	h->count[fg_hist_index(ns)]++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/** Number of values added. */
uint64_t fg_hist_total(const struct fg_hist *h);

/**
 * Value at quantile @p q (0..1] in ns: the lowest value of the bucket that holds the
 * ceil(q x @p total)-th value, at most max_ns; 0 if @p total is 0.
 */
uint64_t fg_hist_quantile(const struct fg_hist *h, uint64_t total, double q);

#endif
