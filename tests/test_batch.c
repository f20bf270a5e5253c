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
	cr_assert_eq(b->copy_len == 0, c.orders == 0, "COPY text %zu bytes", b->copy_len);
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

Test(batch, order_row)
{
	struct fs_jrec r = order_rec(1, 42, 7, 1001, 3, 1798761600123456789ull);
	char buf[FS_BATCH_ROW_MAX];
	const char *want = "42\t7\t1001\t3\t2027-01-01T00:00:00.123456Z\n";

	cr_assert_eq(fs_batch_order_row(&r, buf, sizeof(buf)), (int)strlen(want));
	cr_assert_str_eq(buf, want);
}

Test(batch, order_row_u64_extremes)
{
	/* order id: the int64 of the same bits; user id: the u64 in decimal. */
	struct fs_jrec r = order_rec(1, UINT32_MAX, UINT64_MAX, UINT64_MAX, UINT16_MAX, UINT64_MAX);
	char buf[FS_BATCH_ROW_MAX];
	const char *want =
		"4294967295\t-1\t18446744073709551615\t65535\t2554-07-21T23:34:33.709551Z\n";

	cr_assert_eq(fs_batch_order_row(&r, buf, sizeof(buf)), (int)strlen(want));
	cr_assert_str_eq(buf, want);
	r.body.order.order_id = 1ull << 63;
	cr_assert_gt(fs_batch_order_row(&r, buf, sizeof(buf)), 0);
	cr_assert(strstr(buf, "\t-9223372036854775808\t") != NULL, "%s", buf);
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

	{
		const char *row = "42\t5\t6\t1\t1970-01-01T00:00:00.000000Z\n";
		size_t len = strlen(row);

		cr_assert_eq(b.copy_len, 2 * len);
		cr_assert(memcmp(b.copy, row, len) == 0);
		cr_assert(memcmp(b.copy + len, row, len) == 0);
	}

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
	cr_assert_leq(b.copy_len, (size_t)CAP * FS_BATCH_ROW_MAX);
	cr_assert_eq(b.copy[b.copy_len - 1], '\n');
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
