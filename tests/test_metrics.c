/* Unit tests of expo.c and metrics.c: the text format, escaping, and every family's samples. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "metrics.h"

static struct fs_expo e;

static void setup(void)
{
	fs_expo_init(&e);
}

static void teardown(void)
{
	fs_expo_free(&e);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* True if @p text holds @p line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return false;
}

/* The text's rule: one TYPE line per family, every sample right after its own family's lines. */
static void assert_families_whole(const char *text)
{
	char fam[128] = "", seen[64][128];
	unsigned n_seen = 0;
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[512];

		cr_assert_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		if (strncmp(line, "# TYPE ", 7) == 0) {
			sscanf(line + 7, "%127s", fam);
			for (unsigned i = 0; i < n_seen; i++)
				cr_assert_str_neq(seen[i], fam, "family %s written twice", fam);
			cr_assert_lt(n_seen, 64);
			strcpy(seen[n_seen++], fam);
		} else if (line[0] != '#') {
			size_t f = strlen(fam);

			const char *rest = line + f;

			/* a histogram's samples are NAME_bucket, NAME_sum and NAME_count */
			if (f > 0 && strncmp(line, fam, f) == 0 && strncmp(rest, "_bucket", 7) == 0)
				rest += 7;
			else if (f > 0 && strncmp(line, fam, f) == 0 && strncmp(rest, "_count", 6) == 0)
				rest += 6;
			else if (f > 0 && strncmp(line, fam, f) == 0 && strncmp(rest, "_sum", 4) == 0)
				rest += 4;
			cr_assert(f > 0 && strncmp(line, fam, f) == 0 && (*rest == '{' || *rest == ' '),
				"sample '%s' outside its family (%s)", line, fam);
		}
		p += len + (nl != NULL);
	}
}

Test(metrics, label_values_escaped_and_ms_as_seconds)
{
	const char *lab[] = {"a", "x\"y\\z\nw", "b", "", NULL};
	char v[FS_EXPO_VALUE_LEN];

	fs_expo_family(&e, "m_total", "counter", "help with \\ and\nnewline");
	fs_expo_sample(&e, "m_total", lab, fs_expo_u64(v, 18446744073709551615ull));
	fs_expo_sample(&e, "m_total", NULL, fs_expo_ms(v, 1500));
	cr_assert_eq(e.err, 0);
	cr_assert_str_eq(e.buf, "# HELP m_total help with \\\\ and\\nnewline\n"
				"# TYPE m_total counter\n"
				"m_total{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 18446744073709551615\n"
				"m_total 1.500\n");
	cr_assert_str_eq(fs_expo_ms(v, -2), "-0.002");
	cr_assert_str_eq(fs_expo_ms(v, 1798000000123), "1798000000.123");
	cr_assert_str_eq(fs_expo_i64(v, -3), "-3");
}

Test(metrics, dataplane_down_is_up_0_only)
{
	struct fs_metrics_scrape s = {.node_id = 9, .scrape_ms = 2};

	cr_assert_eq(fs_metrics_write(&e, &s), 0);
	cr_assert(has_line(e.buf, "flashsale_up{node=\"9\"} 0"));
	cr_assert(has_line(e.buf, "flashsale_scrape_duration_seconds{node=\"9\"} 0.002"));
	cr_assert_null(strstr(e.buf, "flashsale_sale_"));
	cr_assert_null(strstr(e.buf, "flashsale_persist_"));
}

static const char stats_json[] =
	"{\"rx_pkts\": 100, \"tx_pkts\": 90, \"claims\": 80, \"status_requests\": 3, "
	"\"won\": 5, \"sold_out\": 70, \"unknown_sale\": 1, \"drop_ip_cksum\": 4, "
	"\"drop_fcp_magic\": 6, \"uptime_ms\": 61500, \"node_id\": 7, \"busy_cycles\": 123}";
static const char sale_json[] =
	"{\"sale_id\": 42, \"total\": 10, \"leased\": 10, \"sold\": 5, \"remaining\": 5, "
	"\"start_ms\": 1798000000000, \"end_ms\": 1798000060500, \"state\": \"active\", "
	"\"sold_out\": 0, \"winners_used\": 5, \"hold_ms\": 0, \"claims\": 79, "
	"\"status_requests\": 3, \"claim_won\": 5, \"claim_sold_out\": 70, \"claim_retry\": 4, "
	"\"claim_active\": 0, \"status_active\": 3, \"status_won\": 0}";
static const char sale2_json[] = "{\"sale_id\": 43, \"state\": \"ended\", \"claims\": 0, "
				 "\"claim_won\": 0, \"released\": 2}";
static const char journals_json[] =
	"{\"node_id\": 7, \"instance\": \"00000000000000ff\", \"fsync\": 0, "
	"\"0\": {\"journal\": 0, \"written\": 10, \"durable\": 10}, "
	"\"1\": {\"journal\": 1, \"written\": 4, \"durable\": 3}, "
	"\"255\": {\"journal\": 255, \"written\": 8, \"durable\": 8}}";

Test(metrics, a_node_with_sales_journals_and_checkpoints)
{
	struct json_object *sales[2] = {
		json_tokener_parse(sale_json), json_tokener_parse(sale2_json)};
	struct fs_pgmetrics_ckpt ck[2] = {{0, 7, 1798000001250}, {255, 8, 1798000002000}};
	struct fs_metrics_scrape s = {.node_id = 7,
		.stats = json_tokener_parse(stats_json),
		.journals = json_tokener_parse(journals_json),
		.sales = sales,
		.n_sales = 2,
		.pg_given = true,
		.pg_ok = true,
		.ckpt = ck,
		.n_ckpt = 2};

	cr_assert_eq(fs_metrics_write(&e, &s), 0);
	assert_families_whole(e.buf);
	cr_assert(has_line(e.buf, "flashsale_up{node=\"7\"} 1"));
	cr_assert(has_line(e.buf, "flashsale_received_packets_total{node=\"7\"} 100"));
	cr_assert(has_line(e.buf, "flashsale_uptime_seconds{node=\"7\"} 61.500"));
	cr_assert(has_line(e.buf, "flashsale_replies_total{node=\"7\",status=\"UNKNOWN_SALE\"} 1"));
	cr_assert(has_line(
		e.buf, "flashsale_dropped_packets_total{node=\"7\",reason=\"ip_cksum\"} 4"));
	cr_assert(has_line(
		e.buf, "flashsale_dropped_packets_total{node=\"7\",reason=\"fcp_magic\"} 6"));
	/* per sale */
	cr_assert(has_line(e.buf, "flashsale_sale_stock_units{node=\"7\",sale=\"42\"} 10"));
	cr_assert(has_line(e.buf, "flashsale_sale_claims_total{node=\"7\",sale=\"42\"} 79"));
	cr_assert(has_line(e.buf, "flashsale_sale_end_timestamp_seconds{node=\"7\",sale=\"42\"} "
				  "1798000060.500"));
	cr_assert(has_line(e.buf,
		"flashsale_sale_claim_replies_total{node=\"7\",sale=\"42\",status=\"WON\"} 5"));
	cr_assert(has_line(e.buf,
		"flashsale_sale_claim_replies_total{node=\"7\",sale=\"42\",status=\"RETRY\"} 4"));
	cr_assert(has_line(e.buf,
		"flashsale_sale_status_replies_total{node=\"7\",sale=\"42\",status=\"ACTIVE\"} 3"));
	/* a status a CLAIM never gets, and one a SALE_STATUS never gets, are not series */
	cr_assert_null(
		strstr(e.buf, "claim_replies_total{node=\"7\",sale=\"42\",status=\"ACTIVE\"}"));
	cr_assert_null(
		strstr(e.buf, "status_replies_total{node=\"7\",sale=\"42\",status=\"WON\"}"));
	cr_assert(
		has_line(e.buf, "flashsale_sale_state{node=\"7\",sale=\"42\",state=\"active\"} 1"));
	cr_assert(
		has_line(e.buf, "flashsale_sale_state{node=\"7\",sale=\"42\",state=\"ended\"} 0"));
	cr_assert(
		has_line(e.buf, "flashsale_sale_state{node=\"7\",sale=\"43\",state=\"ended\"} 1"));
	cr_assert(has_line(e.buf, "flashsale_sale_released_orders{node=\"7\",sale=\"43\"} 2"));
	cr_assert_null(strstr(e.buf, "flashsale_sale_released_orders{node=\"7\",sale=\"42\"}"));
	/* journals and persist */
	cr_assert(has_line(e.buf, "flashsale_journal_written_seq{node=\"7\",journal=\"1\"} 4"));
	cr_assert(has_line(e.buf, "flashsale_journal_durable_seq{node=\"7\",journal=\"1\"} 3"));
	cr_assert(has_line(e.buf, "flashsale_persist_checkpoint_seq{node=\"7\",journal=\"0\"} 7"));
	cr_assert(has_line(e.buf, "flashsale_persist_lag_records{node=\"7\",journal=\"0\"} 3"));
	cr_assert(has_line(e.buf, "flashsale_persist_lag_records{node=\"7\",journal=\"1\"} 4"));
	cr_assert(has_line(e.buf, "flashsale_persist_lag_records{node=\"7\",journal=\"255\"} 0"));
	cr_assert(has_line(e.buf, "flashsale_persist_checkpoint_timestamp_seconds{node=\"7\","
				  "journal=\"0\"} 1798000001.250"));
	cr_assert(has_line(e.buf, "flashsale_persist_up{node=\"7\"} 1"));
	cr_assert_null(strstr(e.buf, "flashsale_journal_sync_seconds"), "no syncs read: no histogram");
	for (int i = 0; i < 2; i++)
		json_object_put(sales[i]);
	json_object_put(s.stats);
	json_object_put(s.journals);
}

Test(metrics, postgresql_failing_is_persist_up_0_without_lag)
{
	struct fs_metrics_scrape s = {.node_id = 7,
		.stats = json_tokener_parse(stats_json),
		.journals = json_tokener_parse(journals_json),
		.pg_given = true};

	cr_assert_eq(fs_metrics_write(&e, &s), 0);
	assert_families_whole(e.buf);
	cr_assert(has_line(e.buf, "flashsale_persist_up{node=\"7\"} 0"));
	cr_assert_null(strstr(e.buf, "flashsale_persist_lag_records"));
	cr_assert(has_line(e.buf, "flashsale_journal_written_seq{node=\"7\",journal=\"255\"} 8"));
	json_object_put(s.stats);
	json_object_put(s.journals);
}

/* Three buckets where the dataplane sends 58 (the layout does not matter here): cumulative. */
static const char syncs_json[] =
	"{\"journal\": 1, \"fsync\": 1, \"group_interval_us\": 500, \"syncs\": 5, "
	"\"sync_ns_sum\": 1500000, \"le_us\": [256, 320, 0], \"count\": [1, 3, 1]}";

/* In fsync mode: each worker journal's sync latency as a Prometheus histogram (cumulative
 * buckets, le in seconds, +Inf = count), its sum in seconds, and the group interval. */
Test(metrics, fsync_sync_latency_histogram)
{
	struct json_object *syncs[1] = {json_tokener_parse(syncs_json)};
	struct fs_metrics_scrape s = {.node_id = 7,
		.stats = json_tokener_parse(stats_json),
		.journals = json_tokener_parse(journals_json),
		.syncs = syncs,
		.n_syncs = 1};

	cr_assert_eq(fs_metrics_write(&e, &s), 0);
	assert_families_whole(e.buf);
	cr_assert(has_line(e.buf, "# TYPE flashsale_journal_sync_seconds histogram"));
	cr_assert(has_line(e.buf, "flashsale_journal_sync_seconds_bucket{node=\"7\",journal=\"1\","
				  "le=\"0.000256000\"} 1"));
	cr_assert(has_line(e.buf, "flashsale_journal_sync_seconds_bucket{node=\"7\",journal=\"1\","
				  "le=\"0.000320000\"} 4"));
	cr_assert(has_line(e.buf, "flashsale_journal_sync_seconds_bucket{node=\"7\",journal=\"1\","
				  "le=\"+Inf\"} 5"));
	cr_assert(has_line(
		e.buf, "flashsale_journal_sync_seconds_sum{node=\"7\",journal=\"1\"} 0.001500000"));
	cr_assert(has_line(e.buf, "flashsale_journal_sync_seconds_count{node=\"7\",journal=\"1\"} 5"));
	cr_assert(has_line(e.buf, "flashsale_group_interval_seconds{node=\"7\"} 0.000500000"));
	json_object_put(syncs[0]);
	json_object_put(s.stats);
	json_object_put(s.journals);
}

/* A reply whose bounds do not match its counts (shorter, or without the open last bucket) gives
 * no series for that journal: two +Inf buckets, or none, would make the whole scrape refused. */
Test(metrics, sync_histogram_with_bad_bounds_is_left_out)
{
	static const char *bad[] = {
		"{\"journal\": 0, \"syncs\": 2, \"sync_ns_sum\": 9, \"le_us\": [256], "
		"\"count\": [1, 1]}",
		"{\"journal\": 0, \"syncs\": 2, \"sync_ns_sum\": 9, \"le_us\": [256, 320], "
		"\"count\": [1, 1]}",
		"{\"journal\": 0, \"syncs\": 2, \"sync_ns_sum\": 9, \"le_us\": [320, 256, 0], "
		"\"count\": [1, 1, 0]}",
	};

	for (unsigned k = 0; k < 3; k++) {
		struct json_object *syncs[2] = {
			json_tokener_parse(bad[k]), json_tokener_parse(syncs_json)};
		struct fs_metrics_scrape s = {.node_id = 7,
			.stats = json_tokener_parse(stats_json),
			.syncs = syncs,
			.n_syncs = 2};

		fs_expo_free(&e);
		fs_expo_init(&e);
		cr_assert_eq(fs_metrics_write(&e, &s), 0);
		assert_families_whole(e.buf);
		cr_assert_null(strstr(e.buf, "sync_seconds_bucket{node=\"7\",journal=\"0\""),
			"reply %u: %s", k, e.buf);
		cr_assert(has_line(e.buf, "flashsale_journal_sync_seconds_count{node=\"7\",journal=\"1\"} 5"),
			"the good journal still there");
		for (unsigned i = 0; i < 2; i++)
			json_object_put(syncs[i]);
		json_object_put(s.stats);
	}
}
