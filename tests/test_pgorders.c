/* Unit tests of persist/pgorders.c's pure helpers: answer and status names, order rows, keys. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pgorders.h"

/*
 * The names of enum TYPE's COUNT values are WANT[] in order: NAME gives each, PARSE reads each
 * back to its value, NAME(COUNT) is NULL.
 */
#define NAMES_ROUND_TRIP(TYPE, COUNT, NAME, PARSE, WANT)                                           \
	do {                                                                                       \
		TYPE v_;                                                                           \
		cr_assert_eq(sizeof(WANT) / sizeof((WANT)[0]), COUNT);                             \
		for (unsigned i_ = 0; i_ < (COUNT); i_++) {                                         \
			cr_assert_str_eq(NAME((TYPE)i_), (WANT)[i_]);                               \
			cr_assert_eq(PARSE((WANT)[i_], &v_), 0);                                     \
			cr_assert_eq((unsigned)v_, i_);                                            \
		}                                                                                  \
		cr_assert_null(NAME(COUNT));                                                       \
	} while (0)

Test(pgorders, result_names_round_trip)
{
	static const char *const want[] = {"paid", "already_paid", "cancelled", "already_cancelled",
		"expired", "not_held", "unknown"};
	enum fs_pgorders_result r;

	NAMES_ROUND_TRIP(enum fs_pgorders_result, FS_PGORDERS_RESULTS, fs_pgorders_result_name,
		fs_pgorders_result_parse, want);
	cr_assert_eq(fs_pgorders_result_parse("Paid", &r), -EPROTO);
	cr_assert_eq(fs_pgorders_result_parse("paid ", &r), -EPROTO);
	cr_assert_eq(fs_pgorders_result_parse("", &r), -EPROTO);
	cr_assert_eq(fs_pgorders_result_parse(NULL, &r), -EPROTO);
}

Test(pgorders, status_names_round_trip)
{
	static const char *const want[] = {"held", "paid", "cancelled", "expired", "sold"};
	enum fs_pgorders_status st;

	NAMES_ROUND_TRIP(enum fs_pgorders_status, FS_PGORDERS_STATUSES, fs_pgorders_status_name,
		fs_pgorders_status_parse, want);
	cr_assert_eq(fs_pgorders_status_parse("already_paid", &st), -EPROTO);
}

Test(pgorders, order_row)
{
	/* order id: the bigint of the u64 2^63 + 5; user id: the largest u64; hold, no settle. */
	const char *f[8] = {"4294967295", "-9223372036854775803", "18446744073709551615", "65535",
		"held", "1798761600123456", "1798761610123456", NULL};
	struct fs_pgorders_order o;

	cr_assert_eq(fs_pgorders_order_parse(f, &o), 0);
	cr_assert_eq(o.sale_id, UINT32_MAX);
	cr_assert_eq(o.order_id, (1ull << 63) + 5);
	cr_assert_eq(o.user_id, UINT64_MAX);
	cr_assert_eq(o.node_id, UINT16_MAX);
	cr_assert_eq(o.status, FS_PGORDERS_ST_HELD);
	cr_assert_eq(o.won_at_us, 1798761600123456ll);
	cr_assert_eq(o.hold_until_us, 1798761610123456ll);
	cr_assert_eq(o.settled_at_us, 0);

	f[4] = "sold";
	f[6] = "";
	cr_assert_eq(fs_pgorders_order_parse(f, &o), 0);
	cr_assert_eq(o.status, FS_PGORDERS_ST_SOLD);
	cr_assert_eq(o.hold_until_us, 0);
}

Test(pgorders, order_row_malformed)
{
	static const struct {
		int field;
		const char *value;
	} bad[] = {
		{0, "4294967296"},	     /* sale id past u32 */
		{0, NULL},		     /* NULL sale id */
		{1, "9223372036854775808"},  /* past the bigint */
		{1, ""},		     /* empty order id */
		{2, "-1"},		     /* negative user */
		{2, "18446744073709551616"}, /* past u64 */
		{3, "65536"},		     /* node past u16 */
		{4, "refunded"},	     /* unknown status */
		{5, "12.5"},		     /* time not an integer */
	};
	struct fs_pgorders_order o;
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f[8] = {"7", "5", "42", "1", "paid", "1", "2", "3"};

		f[bad[i].field] = bad[i].value;
		cr_assert_eq(fs_pgorders_order_parse(f, &o), -EPROTO, "case %u", i);
	}
}

Test(pgorders, keys)
{
	struct fs_pgorders_return r[3] = {
		{.sale_id = 7, .order_id = 1},
		{.sale_id = UINT32_MAX, .order_id = UINT64_MAX},
		{.sale_id = 0, .order_id = 1ull << 63},
	};
	char s[3 * FS_PGORDERS_KEY_TEXT + 3], o[3 * FS_PGORDERS_KEY_TEXT + 3];

	cr_assert_eq(fs_pgorders_keys(r, 3, s, o, sizeof(s)), 0);
	cr_assert_str_eq(s, "{7,4294967295,0}");
	cr_assert_str_eq(o, "{1,-1,-9223372036854775808}");
	cr_assert_eq(fs_pgorders_keys(r, 0, s, o, sizeof(s)), 0);
	cr_assert_str_eq(s, "{}");
	cr_assert_str_eq(o, "{}");
	cr_assert_eq(fs_pgorders_keys(r, 3, s, o, 20), -ENOSPC);
	cr_assert_eq(fs_pgorders_keys(r, 1, s, o, 2), -ENOSPC);
}

Test(pgorders, keys_fit_the_documented_size)
{
	enum { N = 100 };
	struct fs_pgorders_return r[N];
	char s[N * FS_PGORDERS_KEY_TEXT + 3], o[N * FS_PGORDERS_KEY_TEXT + 3];
	unsigned i;

	for (i = 0; i < N; i++)
		r[i] = (struct fs_pgorders_return){.sale_id = UINT32_MAX, .order_id = 1ull << 63};
	cr_assert_eq(fs_pgorders_keys(r, N, s, o, sizeof(s)), 0);
	cr_assert_eq(strlen(o), 2 + N * 20 + (N - 1));
}
