/* flashgen's reply-latency histogram (histogram.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "histogram.h"

#define FG_HGRM_TICKS 5 /* percentile ticks per half distance (HdrHistogram's tools' default) */

int fg_hist_init(struct fg_hist *h)
{
	h->count = calloc(FG_HIST_SIZE, sizeof(*h->count));
	h->max_ns = 0;
	return h->count != NULL ? 0 : -ENOMEM;
}

void fg_hist_free(struct fg_hist *h)
{
	free(h->count);
	h->count = NULL;
}

uint64_t fg_hist_lowest(uint32_t idx)
{
	uint32_t shift, sub;

	if (idx < FG_HIST_EXACT)
		return idx;
	shift = (idx - FG_HIST_EXACT) / (1u << FG_HIST_SUB_BITS) + 1;
	sub = (idx - FG_HIST_EXACT) % (1u << FG_HIST_SUB_BITS);
	return ((uint64_t)sub + (1u << FG_HIST_SUB_BITS)) << shift;
}

/* Width of bucket @p idx in ns. */
static uint64_t fg_hist_width(uint32_t idx)
{
	if (idx < FG_HIST_EXACT)
		return 1;
	return (uint64_t)1 << ((idx - FG_HIST_EXACT) / (1u << FG_HIST_SUB_BITS) + 1);
}

uint64_t fg_hist_highest(uint32_t idx)
{
	return fg_hist_lowest(idx) + fg_hist_width(idx) - 1;
}

uint32_t fg_hist_next(const struct fg_hist *h, uint32_t idx)
{
	while (idx < FG_HIST_SIZE && h->count[idx] == 0)
		idx++;
	return idx;
}

uint64_t fg_hist_total(const struct fg_hist *h)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < FG_HIST_SIZE; i++)
		total += h->count[i];
	return total;
}

uint64_t fg_hist_quantile(const struct fg_hist *h, uint64_t total, double q)
{
	uint64_t want, seen = 0;

	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (want == 0)
		want = 1;
	for (uint32_t i = 0; i < FG_HIST_SIZE; i++) {
		seen += h->count[i];
		if (seen >= want) {
			uint64_t v = fg_hist_lowest(i);

			return v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns;
}

/*
 * The next percentile level after @p level (0..100): HdrHistogram's PercentileIterator keeps
 * FG_HGRM_TICKS equal steps in each half of the distance left to 100%.
 */
static double fg_hgrm_next_level(double level)
{
	double halves = floor(log(100.0 / (100.0 - level)) / log(2.0));

	return level + 100.0 / ((double)FG_HGRM_TICKS * pow(2.0, halves + 1.0));
}

/* Mean and standard deviation in ns, each bucket counted at its middle (HdrHistogram's). */
static void fg_hist_moments(const struct fg_hist *h, uint64_t total, double *mean, double *sd)
{
	double sum = 0, dev = 0;

	*mean = *sd = 0;
	if (total == 0)
		return;
	for (uint32_t i = fg_hist_next(h, 0); i < FG_HIST_SIZE; i = fg_hist_next(h, i + 1))
		sum += (double)(fg_hist_lowest(i) + fg_hist_width(i) / 2) * (double)h->count[i];
	*mean = sum / (double)total;
	for (uint32_t i = fg_hist_next(h, 0); i < FG_HIST_SIZE; i = fg_hist_next(h, i + 1)) {
		double d = (double)(fg_hist_lowest(i) + fg_hist_width(i) / 2) - *mean;

		dev += d * d * (double)h->count[i];
	}
	*sd = sqrt(dev / (double)total);
}

int fg_hist_write_hgrm(const struct fg_hist *h, FILE *f, double ratio)
{
	uint64_t total = fg_hist_total(h), seen = 0;
	uint32_t last = FG_HIST_SIZE;
	double level = 0, mean, sd;

	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	for (uint32_t i = fg_hist_next(h, 0); i < FG_HIST_SIZE && seen < total;
		i = fg_hist_next(h, i + 1)) {
		seen += h->count[i];
		last = i;
		/* every level this bucket reaches; the one that reaches the total is the last */
		while (100.0 * (double)seen / (double)total >= level) {
			fprintf(f, "%12.3f %2.12f %10lu %14.2f\n",
				(double)fg_hist_highest(i) / ratio, level / 100.0,
				(unsigned long)seen, 1.0 / (1.0 - level / 100.0));
			if (seen == total)
				break;
			level = fg_hgrm_next_level(level);
		}
	}
	if (last < FG_HIST_SIZE)
		fprintf(f, "%12.3f %2.12f %10lu\n", (double)fg_hist_highest(last) / ratio, 1.0,
			(unsigned long)total);
	fg_hist_moments(h, total, &mean, &sd);
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / ratio, sd / ratio);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12lu]\n",
		total == 0 ? 0.0 : (double)fg_hist_highest(fg_hist_index(h->max_ns)) / ratio,
		(unsigned long)total);
	fprintf(f, "#[Buckets = %12u, SubBuckets     = %12u]\n", FG_HIST_BUCKETS, FG_HIST_EXACT);
	return ferror(f) ? -EIO : 0;
}
