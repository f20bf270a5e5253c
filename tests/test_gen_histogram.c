/*
 * Unit tests of flashgen's latency histogram (dataplane/gen/histogram.h): HdrHistogram's bucket
 * layout at 3 significant digits, the quantiles of the report, and the .hgrm text against the
 * output of a real HdrHistogram (hdr-histogram-js 3.0.1, a port of the Java library, recording
 * the same values: tests/data/hgrm_values.txt gives tests/data/hgrm_hdrhistogram_js.hgrm with
 * outputPercentileDistribution(5, 1000), histogram 1 .. 2^51 - 1, 3 digits).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "histogram.h"

static struct fg_hist h;

static void setup(void)
{
	cr_assert_eq(fg_hist_init(&h), 0);
}

static void teardown(void)
{
	fg_hist_free(&h);
}

/* The path of tests/data/NAME (FS_TESTDATA, set by meson) in @p buf. */
static const char *data_path(char *buf, size_t len, const char *name)
{
	const char *dir = getenv("FS_TESTDATA");

	cr_assert_not_null(dir, "FS_TESTDATA is not set (run through meson test)");
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Exact to 2047 ns, then 1024 buckets per power of two whose bounds touch: no gap, no overlap. */
Test(gen_histogram, layout_is_hdrhistograms_at_three_digits, .init = setup, .fini = teardown)
{
	cr_assert_eq(fg_hist_index(2047), 2047);
	cr_assert_eq(fg_hist_lowest(2047), 2047);
	cr_assert_eq(fg_hist_highest(2047), 2047);
	cr_assert_eq(fg_hist_lowest(fg_hist_index(2048)), 2048);
	cr_assert_eq(fg_hist_highest(fg_hist_index(2048)), 2049, "2 ns wide from 2^11");
	cr_assert_eq(fg_hist_highest(fg_hist_index(4095)), 4095);
	cr_assert_eq(fg_hist_highest(fg_hist_index(4096)), 4099, "4 ns wide from 2^12");
	for (uint32_t i = 1; i < FG_HIST_SIZE; i++) {
		cr_assert_eq(fg_hist_lowest(i), fg_hist_highest(i - 1) + 1, "bucket %u", i);
		cr_assert_eq(fg_hist_index(fg_hist_lowest(i)), i, "bucket %u", i);
		cr_assert_eq(fg_hist_index(fg_hist_highest(i)), i, "bucket %u", i);
		/* relative width below 1/1024 of the lowest value: 3 significant digits */
		cr_assert_leq((fg_hist_highest(i) - fg_hist_lowest(i)) * 1024, fg_hist_lowest(i));
	}
	cr_assert_eq(fg_hist_highest(FG_HIST_SIZE - 1), (1ull << 51) - 1);
}

/* The report's quantile: the lowest value of the bucket holding rank ceil(q n), at most the max. */
Test(gen_histogram, quantile_is_lowest_value_of_the_ranked_bucket, .init = setup, .fini = teardown)
{
	for (uint64_t v = 1; v <= 100; v++)
		fg_hist_add(&h, v * 1000); /* 1 .. 100 us */
	cr_assert_eq(fg_hist_total(&h), 100);
	cr_assert_eq(fg_hist_quantile(&h, 100, 0.5), fg_hist_lowest(fg_hist_index(50000)));
	cr_assert_eq(fg_hist_quantile(&h, 100, 0.99), fg_hist_lowest(fg_hist_index(99000)));
	cr_assert_eq(fg_hist_quantile(&h, 100, 1.0), fg_hist_lowest(fg_hist_index(100000)));
	cr_assert_eq(h.max_ns, 100000);
	cr_assert_eq(fg_hist_next(&h, 0), fg_hist_index(1000));
	cr_assert_eq(fg_hist_next(&h, fg_hist_index(100000) + 1), FG_HIST_SIZE);
}

/*
 * The .hgrm text equals HdrHistogram's for the same values, line for line, but the "#[Max" line:
 * the JavaScript port prints the raw maximum (123456.789) where the Java library and
 * HdrHistogram_c print its bucket's highest equivalent value (getMaxValue), as flashgen does.
 */
Test(gen_histogram, hgrm_matches_hdrhistogram, .init = setup, .fini = teardown)
{
	char path[4096], mine[256], ref[256];
	unsigned long long v;
	FILE *vals = fopen(data_path(path, sizeof(path), "hgrm_values.txt"), "r");
	FILE *exp = fopen(data_path(path, sizeof(path), "hgrm_hdrhistogram_js.hgrm"), "r");
	FILE *out = tmpfile();
	unsigned line = 0;

	cr_assert(vals != NULL && exp != NULL && out != NULL);
	while (fscanf(vals, "%llu", &v) == 1)
		fg_hist_add(&h, v);
	cr_assert_eq(fg_hist_total(&h), 3007);
	cr_assert_eq(fg_hist_write_hgrm(&h, out, 1000.0), 0);
	rewind(out);
	while (fgets(ref, sizeof(ref), exp) != NULL) {
		line++;
		cr_assert_not_null(fgets(mine, sizeof(mine), out), "line %u missing", line);
		if (strncmp(ref, "#[Max", 5) == 0)
			cr_assert_str_eq(
				mine, "#[Max     =   123469.823, Total count    =         3007]\n");
		else
			cr_assert_str_eq(mine, ref, "line %u", line);
	}
	cr_assert_null(fgets(mine, sizeof(mine), out), "more lines than HdrHistogram's");
	cr_assert_eq(line, 66);
	fclose(vals);
	fclose(exp);
	fclose(out);
}

/* No value: the header and the footer, no percentile line. */
Test(gen_histogram, hgrm_of_nothing, .init = setup, .fini = teardown)
{
	char buf[4096];
	FILE *out = tmpfile();
	size_t n;

	cr_assert_eq(fg_hist_write_hgrm(&h, out, 1000.0), 0);
	rewind(out);
	n = fread(buf, 1, sizeof(buf) - 1, out);
	buf[n] = '\0';
	cr_assert_str_eq(buf, "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"
			      "#[Mean    =        0.000, StdDeviation   =        0.000]\n"
			      "#[Max     =        0.000, Total count    =            0]\n"
			      "#[Buckets =           41, SubBuckets     =         2048]\n");
	fclose(out);
}
