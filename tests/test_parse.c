/* Unit tests of parse.c: strict unsigned decimals, bounds, overflow, junk. */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "parse.h"

Test(parse, accepts_decimal_in_range)
{
	uint64_t v = 7;

	cr_assert_eq(fs_parse_u64("0", 0, 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(fs_parse_u64("10", 0, 10, &v), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(fs_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(fs_parse_u64("010", 0, 100, &v), 0);
	cr_assert_eq(v, 10, "decimal, not octal");
}

Test(parse, rejects_junk_range_and_overflow)
{
	const char *bad[] = {
		NULL, "", " 1", "-1", "+1", "1x", "0x10", "1 ", "18446744073709551616"};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(fs_parse_u64(bad[i], 0, UINT64_MAX, &v), -EINVAL, "input %zu", i);
	cr_assert_eq(fs_parse_u64("11", 0, 10, &v), -EINVAL);
	cr_assert_eq(fs_parse_u64("0", 1, 10, &v), -EINVAL);
	cr_assert_eq(v, 42, "untouched on error");
}
