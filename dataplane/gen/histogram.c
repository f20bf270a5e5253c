/* flashgen's reply-latency histogram (histogram.h). */
#include <errno.h>
#include <stdlib.h>

#include "histogram.h"

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

/* Lowest value of a bucket, in ns. */
static uint64_t fg_hist_value(uint32_t idx)
{
	uint32_t shift, sub;

	if (idx < FG_HIST_EXACT)
		return idx;
	shift = (idx - FG_HIST_EXACT) / (1u << FG_HIST_SUB_BITS) + 1;
	sub = (idx - FG_HIST_EXACT) % (1u << FG_HIST_SUB_BITS);
	return ((uint64_t)sub + (1u << FG_HIST_SUB_BITS)) << shift;
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
			uint64_t v = fg_hist_value(i);

			return v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns;
}
