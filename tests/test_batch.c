/* Unit tests of persist/batch.c: timestamps, COPY rows, sale statements, batch bookkeeping. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "batch.h"

/* A record of type @p type, sequence @p seq, sale @p sale, every other byte 0. */
static struct fs_jrec rec_of(uint64_t seq, uint8_t type, uint32_t sale)
{
	struct fs_jrec r;

	memset(&r, 0, sizeof(r));
	r.seq = seq;
	r.type = type;
	r.sale_id = sale;
	return r;
}

/* A batch of @p cap orders, reset for journal @p journal. */
static void batch_start(struct fs_batch *b, unsigned cap, unsigned journal)
{
	cr_assert_eq(fs_batch_init(b, cap), 0);
	fs_batch_reset(b, journal);
}

/* A batch's bookkeeping, for expect_counts(): a count left out of the literal is 0. */
struct counts {
	unsigned records;
	uint64_t first, last; /* seq */
	unsigned orders, stmts;
};

/* @p b's records, first and last seq, orders and statements are @p c's; COPY rows if orders. */
static void expect_counts(const struct fs_batch *b, struct counts c)
{
	cr_assert_eq(b->records, c.records, "records %u, want %u", b->records, c.records);
	cr_assert_eq(b->first_seq, c.first, "first_seq");
	cr_assert_eq(b->last_seq, c.last, "last_seq");
	cr_assert_eq(b->orders, c.orders, "orders %u, want %u", b->orders, c.orders);
	cr_assert_eq(b->n_stmts, c.stmts, "statements %u, want %u", b->n_stmts, c.stmts);
	cr_assert_eq(b->copy_len == 0, c.orders == 0, "COPY tuples %zu bytes", b->copy_len);
}

/* fs_batch_add() of a copy of @p r. */
static int add(struct fs_batch *b, struct fs_jrec r)
{
	return fs_batch_add(b, &r);
}

/* @p r again as a record of @p type at @p seq, added: the batch must take it. */
static void add_as(struct fs_batch *b, struct fs_jrec *r, uint64_t seq, uint8_t type)
{
	r->seq = seq;
	r->type = type;
	cr_assert_eq(fs_batch_add(b, r), 0, "record %llu, type %u", (unsigned long long)seq, type);
}

static struct fs_jrec order_rec(
	uint64_t seq, uint32_t sale, uint64_t order, uint64_t user, uint16_t node, uint64_t time_ns)
{
	struct fs_jrec r = rec_of(seq, FS_JREC_ORDER, sale);

	r.node_id = node;
	r.time_ns = time_ns;
	r.body.order.order_id = order;
	r.body.order.user_id = user;
	return r;
}

/* Expected strings are arrays, not pointers: Criterion runs each case in a fresh process. */
struct ns_case {
	uint64_t ns;
	char want[FS_BATCH_TIME_MAX];
};

ParameterizedTestParameters(batch, time_ns)
{
	static struct ns_case cases[] = {
		{0, "1970-01-01T00:00:00.000000Z"},
		{1, "1970-01-01T00:00:00.000000Z"}, /* truncated, not rounded */
		{999, "1970-01-01T00:00:00.000000Z"},
		{1000, "1970-01-01T00:00:00.000001Z"},
		{1798761600123456789ull, "2027-01-01T00:00:00.123456Z"},
		{951782400000000000ull, "2000-02-29T00:00:00.000000Z"}, /* leap day */
		{UINT64_MAX, "2554-07-21T23:34:33.709551Z"},
	};
	return cr_make_param_array(struct ns_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct ns_case *c, batch, time_ns)
{
	char buf[FS_BATCH_TIME_MAX];
	int n = fs_batch_time_ns(c->ns, buf, sizeof(buf));

	cr_assert_eq(n, (int)strlen(c->want));
	cr_assert_str_eq(buf, c->want);
}

struct ms_case {
	int64_t ms;
	char want[FS_BATCH_TIME_MAX];
};

ParameterizedTestParameters(batch, time_ms)
{
	static struct ms_case cases[] = {
		{0, "1970-01-01T00:00:00.000000Z"},
		{1798761600123ll, "2027-01-01T00:00:00.123000Z"},
		{-1, "1969-12-31T23:59:59.999000Z"},
		{-1000, "1969-12-31T23:59:59.000000Z"},
		{-62135596800000ll, "0001-01-01T00:00:00.000000Z"},
		{-62135596800001ll, "-infinity"},
		{253402300799999ll, "9999-12-31T23:59:59.999000Z"},
		{253402300800000ll, "infinity"},
		{INT64_MAX, "infinity"},
		{INT64_MIN, "-infinity"},
	};
	return cr_make_param_array(struct ms_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct ms_case *c, batch, time_ms)
{
	char buf[FS_BATCH_TIME_MAX];
	int n = fs_batch_time_ms(c->ms, buf, sizeof(buf));

	cr_assert_eq(n, (int)strlen(c->want), "ms %lld", (long long)c->ms);
	cr_assert_str_eq(buf, c->want);
}

Test(batch, time_too_small_buffer)
{
	char buf[10];

	cr_assert_eq(fs_batch_time_ns(0, buf, sizeof(buf)), -ENOSPC);
	cr_assert_eq(fs_batch_time_ms(INT64_MAX, buf, 5), -ENOSPC);
}

/* @p len bytes of @p got equal @p want (a C string literal of the expected bytes). */
#define expect_bytes(got, len, want)                                                               \
	do {                                                                                       \
		cr_assert_eq((size_t)(len), sizeof(want) - 1, "%zu bytes, want %zu",               \
			(size_t)(len), sizeof(want) - 1);                                          \
		cr_assert(memcmp((got), (want), sizeof(want) - 1) == 0, "bytes differ");           \
	} while (0)

/* The binary COPY tuple: 5 fields; bigint 42, bigint 7, numeric 1001 (one base-10000 digit),
 * int 3, timestamptz 2027-01-01T00:00:00.123456Z = 852076800123456 us after 2000-01-01. */
#define ROW_42                                                                                     \
	"\x00\x05"                                                                                 \
	"\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x2a"                                         \
	"\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x07"                                         \
	"\x00\x00\x00\x0a\x00\x01\x00\x00\x00\x00\x00\x00\x03\xe9"                                 \
	"\x00\x00\x00\x04\x00\x00\x00\x03"                                                         \
	"\x00\x00\x00\x08\x00\x03\x06\xf5\x96\xfe\x22\x40"

Test(batch, order_row)
{
	struct fs_jrec r = order_rec(1, 42, 7, 1001, 3, 1798761600123456789ull);
	char buf[FS_BATCH_ROW_MAX];
	int n = fs_batch_order_row(&r, buf, sizeof(buf));

	expect_bytes(buf, n, ROW_42);
}

Test(batch, order_row_u64_extremes)
{
	/* order id: the int64 of the same bits (-1); user id: 1844 6744 0737 0955 1615 (weight 4);
	 * won_at: u64 ns = 2554-07-21T23:34:33.709551Z = 17500059273709551 us after 2000 */
	struct fs_jrec r = order_rec(1, UINT32_MAX, UINT64_MAX, UINT64_MAX, UINT16_MAX, UINT64_MAX);
	char buf[FS_BATCH_ROW_MAX];
	int n = fs_batch_order_row(&r, buf, sizeof(buf));

	expect_bytes(buf, n,
		"\x00\x05"
		"\x00\x00\x00\x08\x00\x00\x00\x00\xff\xff\xff\xff"
		"\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff"
		"\x00\x00\x00\x12\x00\x05\x00\x04\x00\x00\x00\x00"
		"\x07\x34\x1a\x58\x02\xe1\x03\xbb\x06\x4f"
		"\x00\x00\x00\x04\x00\x00\xff\xff"
		"\x00\x00\x00\x08\x00\x3e\x2c\x36\x10\x8e\xc7\xef");
	/* before 2000: a negative timestamptz (1970-01-01 = -946684800000000 us) */
	r = order_rec(1, 42, 5, 6, 1, 0);
	n = fs_batch_order_row(&r, buf, sizeof(buf));
	cr_assert_eq(n, 60);
	cr_assert(memcmp(buf + 48, "\x00\x00\x00\x08\xff\xfc\xa2\xfe\xc4\xc8\x20\x00", 12) == 0);
}

/* numeric's send format: ndigits, weight, sign, dscale, base-10000 digits (no trailing 0). */
struct num_case {
	uint64_t v;
	size_t len;
	char want[18];
};

ParameterizedTestParameters(batch, numeric_u64)
{
	static struct num_case c[] = {
		{0, 8, "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{1, 10, "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01"},
		{9999, 10, "\x00\x01\x00\x00\x00\x00\x00\x00\x27\x0f"},
		{10000, 10, "\x00\x01\x00\x01\x00\x00\x00\x00\x00\x01"},
		{10001, 12, "\x00\x02\x00\x01\x00\x00\x00\x00\x00\x01\x00\x01"},
		{100000000, 10, "\x00\x01\x00\x02\x00\x00\x00\x00\x00\x01"},
		{10000000000000000ull, 10, "\x00\x01\x00\x04\x00\x00\x00\x00\x00\x01"},
		{UINT64_MAX, 18,
			"\x00\x05\x00\x04\x00\x00\x00\x00\x07\x34\x1a\x58\x02\xe1\x03\xbb\x06\x4f"},
	};
	return cr_make_param_array(struct num_case, c, sizeof(c) / sizeof(c[0]));
}

ParameterizedTest(struct num_case *c, batch, numeric_u64)
{
	char buf[18];

	cr_assert_eq(fs_batch_numeric_u64(c->v, buf, sizeof(buf)), (int)c->len, "%llu",
		(unsigned long long)c->v);
	cr_assert(memcmp(buf, c->want, c->len) == 0, "%llu", (unsigned long long)c->v);
	cr_assert_eq(fs_batch_numeric_u64(c->v, buf, c->len - 1), -ENOSPC);
}

Test(batch, order_row_rejects_other_types)
{
	struct fs_jrec r = order_rec(1, 1, 1, 1, 1, 0);
	char buf[FS_BATCH_ROW_MAX];

	r.type = FS_JREC_SALE;
	cr_assert_eq(fs_batch_order_row(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FS_JREC_ORDER;
	cr_assert_eq(fs_batch_order_row(&r, buf, 8), -ENOSPC);
}

Test(batch, init_rejects_zero)
{
	struct fs_batch b;

	cr_assert_eq(fs_batch_init(&b, 0), -EINVAL);
	fs_batch_fini(&b);
}

Test(batch, orders_and_control)
{
	struct fs_batch b;
	struct fs_jrec r;
	unsigned i;

	batch_start(&b, 8, 255);

	r = rec_of(10, FS_JREC_SALE, 42);
	r.body.sale.stock = 1000;
	r.body.sale.start_ms = 1798761600000ll;
	r.body.sale.end_ms = 1798761660500ll;
	r.body.sale.admission = 1;
	cr_assert_eq(fs_batch_add(&b, &r), 0);

	add_as(&b, &r, 11, FS_JREC_LEASE);
	add_as(&b, &r, 12, FS_JREC_KEY);
	r.time_ns = 1798761630000000000ull;
	add_as(&b, &r, 13, FS_JREC_STOP);
	cr_assert_eq(add(&b, order_rec(14, 42, 5, 6, 1, 0)), 0);
	/* The same order again: kept here, the INSERT de-duplicates it. */
	cr_assert_eq(add(&b, order_rec(15, 42, 5, 6, 1, 0)), 0);

	cr_assert_eq(b.journal, 255);
	expect_counts(&b,
		(struct counts){.records = 6, .first = 10, .last = 15, .orders = 2, .stmts = 2});

	cr_assert_eq(b.stmts[0].kind, FS_BATCH_SALE_UPSERT);
	cr_assert_eq(b.stmts[0].nparams, 5);
	cr_assert_str_eq(b.stmts[0].param[0], "42");
	cr_assert_str_eq(b.stmts[0].param[1], "1000");
	cr_assert_str_eq(b.stmts[0].param[2], "2027-01-01T00:00:00.000000Z");
	cr_assert_str_eq(b.stmts[0].param[3], "2027-01-01T00:01:00.500000Z");
	cr_assert_str_eq(b.stmts[0].param[4], "token");

	cr_assert_eq(b.stmts[1].kind, FS_BATCH_SALE_STOP);
	cr_assert_eq(b.stmts[1].nparams, 2);
	cr_assert_str_eq(b.stmts[1].param[0], "42");
	cr_assert_str_eq(b.stmts[1].param[1], "2027-01-01T00:00:30.000000Z");

	/* the same tuple twice; 1970-01-01T00:00:00Z is -946684800000000 us from 2000 */
	cr_assert_eq(b.copy_len, 2 * 60);
	cr_assert(memcmp(b.copy, b.copy + 60, 60) == 0);
	cr_assert(memcmp(b.copy + 48, "\x00\x00\x00\x08\xff\xfc\xa2\xfe\xc4\xc8\x20\x00", 12) == 0);

	for (i = 0; i < FS_BATCH_STMT_KINDS; i++)
		cr_assert_not_null(fs_batch_stmt_sql(i));
	cr_assert_null(fs_batch_stmt_sql(FS_BATCH_STMT_KINDS));

	fs_batch_reset(&b, 3);
	expect_counts(&b, (struct counts){0});
	cr_assert_eq(b.journal, 3);
	fs_batch_fini(&b);
}

/* A DELETE record writes nothing: the deleted sale keeps its rows; the checkpoint moves. */
Test(batch, delete_keeps_rows)
{
	struct fs_batch b;

	batch_start(&b, 8, 255);
	cr_assert_eq(add(&b, rec_of(20, FS_JREC_STOP, 42)), 0);
	cr_assert_eq(add(&b, rec_of(21, FS_JREC_DELETE, 42)), 0);
	expect_counts(&b, (struct counts){.records = 2, .first = 20, .last = 21, .stmts = 1});
	cr_assert_eq(b.stmts[0].kind, FS_BATCH_SALE_STOP, "the stop only");
	fs_batch_fini(&b);
}

Test(batch, seq_gap_and_full)
{
	struct fs_batch b;

	batch_start(&b, 2, 0);
	cr_assert_eq(add(&b, order_rec(5, 1, 1, 1, 1, 0)), 0);
	cr_assert_eq(add(&b, order_rec(7, 1, 2, 2, 1, 0)), -EINVAL, "gap in seq");
	cr_assert_eq(add(&b, order_rec(5, 1, 2, 2, 1, 0)), -EINVAL, "seq repeated");
	expect_counts(&b, (struct counts){.records = 1, .first = 5, .last = 5, .orders = 1});
	cr_assert_eq(add(&b, order_rec(6, 1, 2, 2, 1, 0)), 0);
	cr_assert_eq(add(&b, order_rec(7, 1, 3, 3, 1, 0)), -ENOSPC);
	expect_counts(&b, (struct counts){.records = 2, .first = 5, .last = 6, .orders = 2});
	fs_batch_fini(&b);
}

Test(batch, full_of_longest_rows)
{
	enum { CAP = 1000 };
	struct fs_batch b;
	unsigned i;

	batch_start(&b, CAP, 0);
	for (i = 0; i < CAP; i++) {
		struct fs_jrec r = order_rec(
			i + 1, UINT32_MAX, 1ull << 63, UINT64_MAX, UINT16_MAX, UINT64_MAX);

		cr_assert_eq(fs_batch_add(&b, &r), 0);
	}
	expect_counts(&b, (struct counts){.records = CAP, .first = 1, .last = CAP, .orders = CAP});
	cr_assert_eq(b.copy_len, (size_t)CAP * 68, "the longest tuple is 68 bytes");
	cr_assert_leq(b.copy_len, (size_t)CAP * FS_BATCH_ROW_MAX);
	fs_batch_fini(&b);
}

Test(batch, hold_and_release)
{
	struct fs_batch b;
	struct fs_jrec r;

	batch_start(&b, 8, 255);
	r = rec_of(1, FS_JREC_HOLD, 42);
	r.body.hold.hold_ms = FS_BATCH_HOLD_MS_MAX;
	cr_assert_eq(fs_batch_add(&b, &r), 0);
	expect_counts(&b, (struct counts){.records = 1, .first = 1, .last = 1, .stmts = 1});
	cr_assert_eq(b.stmts[0].kind, FS_BATCH_SALE_HOLD);
	cr_assert_eq(b.stmts[0].nparams, 2);
	cr_assert_str_eq(b.stmts[0].param[0], "42");
	cr_assert_str_eq(b.stmts[0].param[1], "604800000");
	cr_assert_not_null(strstr(fs_batch_stmt_sql(FS_BATCH_SALE_HOLD), "hold_ms = $2"));
	cr_assert_str_eq(fs_batch_stmt_name(FS_BATCH_SALE_HOLD), "sale hold");
	cr_assert_str_eq(fs_batch_stmt_name(FS_BATCH_STMT_KINDS), "statement");

	/* Longer than the schema allows: refused, nothing added (PostgreSQL would fail it). */
	r.seq = 2;
	r.body.hold.hold_ms = FS_BATCH_HOLD_MS_MAX + 1;
	cr_assert_eq(fs_batch_add(&b, &r), -EINVAL);
	expect_counts(&b, (struct counts){.records = 1, .first = 1, .last = 1, .stmts = 1});

	/* RELEASE: nothing for PostgreSQL but the checkpoint. */
	r.body.release.order_id = 7;
	r.body.release.user_id = 8;
	add_as(&b, &r, 2, FS_JREC_RELEASE);
	expect_counts(&b, (struct counts){.records = 2, .first = 1, .last = 2, .stmts = 1});
	fs_batch_fini(&b);
}

/* Orders are counted per (sale, node) pair, first seen first; a ninth pair marks groups_over. */
Test(batch, groups)
{
	struct fs_batch b;
	struct fs_jrec r;
	uint64_t seq = 1;
	unsigned i;

	batch_start(&b, 64, 0);
	for (i = 0; i < 3; i++) {
		r = order_rec(seq++, 7, 100 + i, 100 + i, 1, 0);
		cr_assert_eq(fs_batch_add(&b, &r), 0);
	}
	r = order_rec(seq++, 7, 200, 200, 2, 0);
	cr_assert_eq(fs_batch_add(&b, &r), 0);
	r = order_rec(seq++, 7, 300, 300, 1, 0);
	cr_assert_eq(fs_batch_add(&b, &r), 0);
	cr_assert_eq(b.n_groups, 2);
	cr_assert_not(b.groups_over);
	cr_assert_eq(b.groups[0].sale_id, 7);
	cr_assert_eq(b.groups[0].node_id, 1);
	cr_assert_eq(b.groups[0].orders, 4);
	cr_assert_eq(b.groups[1].node_id, 2);
	cr_assert_eq(b.groups[1].orders, 1);
	for (i = 0; i < FS_BATCH_GROUPS - 2; i++) {
		r = order_rec(seq++, 8 + i, 400 + i, 400 + i, 1, 0);
		cr_assert_eq(fs_batch_add(&b, &r), 0);
	}
	cr_assert_eq(b.n_groups, FS_BATCH_GROUPS);
	cr_assert_not(b.groups_over);
	r = order_rec(seq++, 99, 500, 500, 1, 0);
	cr_assert_eq(fs_batch_add(&b, &r), 0);
	cr_assert(b.groups_over);
	cr_assert_eq(b.orders, 5 + FS_BATCH_GROUPS - 2 + 1);
	fs_batch_reset(&b, 0);
	cr_assert_eq(b.n_groups, 0);
	cr_assert_not(b.groups_over);
	fs_batch_fini(&b);
}
