/*
 * flashgen's reply-latency histogram: HdrHistogram's bucket layout in ns, quantiles for the
 * report, the non-empty buckets and HdrHistogram's percentile distribution text (.hgrm) for export.
 */
#ifndef FG_HISTOGRAM_H
#define FG_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

/*
 * The layout of an HdrHistogram with a lowest discernible value of 1 ns and 3 significant digits
 * (HdrHistogram's sub_bucket_count 2048): exact (1 ns buckets) below 2^11 ns, then from 2^k to
 * 2^(k+1) - 1 ns (k = 11 .. 50) 1024 buckets of 2^(k-10) ns each: relative error < 1/1024.
 * HdrHistogram's "bucket" b covers [0, 2048) for b = 0 and [2^(10+b), 2^(11+b)) above.
 */
#define FG_HIST_SUB_BITS 10
#define FG_HIST_EXACT (1u << (FG_HIST_SUB_BITS + 1)) /* sub-buckets per HdrHistogram bucket */
#define FG_HIST_MAX_EXP 40			     /* values clamp at 2^51 ns */
#define FG_HIST_SIZE (FG_HIST_EXACT + FG_HIST_MAX_EXP * (1u << FG_HIST_SUB_BITS))
#define FG_HIST_BUCKETS (FG_HIST_MAX_EXP + 1) /* HdrHistogram's bucket_count for this range */

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

/** Lowest value in ns of bucket @p idx (< FG_HIST_SIZE). */
uint64_t fg_hist_lowest(uint32_t idx);

/**
 * Highest value in ns of bucket @p idx (< FG_HIST_SIZE): every value from fg_hist_lowest(idx) to
 * this one counts in it (HdrHistogram's highestEquivalentValue).
 */
uint64_t fg_hist_highest(uint32_t idx);

/** First non-empty bucket at or after @p idx, or FG_HIST_SIZE if none. */
uint32_t fg_hist_next(const struct fg_hist *h, uint32_t idx);

/**
 * Write the percentile distribution in HdrHistogram's text format (its
 * outputPercentileDistribution with 5 percentile ticks per half distance, the ".hgrm" files its
 * plotter and HistogramLogProcessor read): a header line, one line per percentile step "Value
 * Percentile TotalCount 1/(1-Percentile)" (Value: the highest value of the bucket reached,
 * divided by @p ratio, 3 decimals; Percentile 0..1), the last at percentile 1, then the
 * "#[Mean ...]", "#[Max ...]" and "#[Buckets ...]" lines. @p ratio 1000 gives microseconds.
 * Algorithm: HdrHistogram's PercentileIterator (github.com/HdrHistogram/HdrHistogram, Java).
 * @return 0, or -EIO if writing to @p f failed (ferror). Not on the hot path (loops over the
 * FG_HIST_SIZE buckets).
 */
int fg_hist_write_hgrm(const struct fg_hist *h, FILE *f, double ratio);

#endif
