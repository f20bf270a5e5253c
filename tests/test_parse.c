/* Unit tests of parse.c: strict decimals (signed, unsigned), hex, ids: bounds, overflow, junk. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

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

Test(parse, i64_accepts_signed_decimal_in_range)
{
	int64_t v = 7;

	cr_assert_eq(fs_parse_i64("0", -5, 5, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(fs_parse_i64("-5", -5, 5, &v), 0);
	cr_assert_eq(v, -5);
	cr_assert_eq(fs_parse_i64("-0", -5, 5, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(fs_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	cr_assert_eq(v, INT64_MIN);
	cr_assert_eq(fs_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	cr_assert_eq(v, INT64_MAX);
	cr_assert_eq(fs_parse_i64("010", 0, 100, &v), 0);
	cr_assert_eq(v, 10, "decimal, not octal");
}

Test(parse, i64_rejects_junk_range_and_overflow)
{
	const char *bad[] = {NULL, "", "-", "--1", " 1", "+1", "1x", "0x10", "1 ", "- 1",
		"9223372036854775808", "-9223372036854775809"};
	int64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(
			fs_parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), -EINVAL, "input %zu", i);
	cr_assert_eq(fs_parse_i64("6", -5, 5, &v), -EINVAL);
	cr_assert_eq(fs_parse_i64("-6", -5, 5, &v), -EINVAL);
	cr_assert_eq(v, 42, "untouched on error");
}

Test(parse, hex_decodes_exactly_2n_digits_either_case)
{
	const uint8_t want[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
		0xbc, 0xde, 0xf0, 0xab, 0xff};
	uint8_t key[16], one;

	cr_assert_eq(fs_parse_hex("000102030405060708090abcdef0abff", key, sizeof(key)), 0);
	cr_assert_arr_eq(key, want, sizeof(want));
	cr_assert_eq(fs_parse_hex("000102030405060708090ABCDEF0ABFF", key, sizeof(key)), 0);
	cr_assert_arr_eq(key, want, sizeof(want));
	cr_assert_eq(fs_parse_hex("7f", &one, 1), 0);
	cr_assert_eq(one, 0x7f);
	cr_assert_eq(fs_parse_hex("", &one, 0), 0, "zero bytes: the empty string");
}

Test(parse, hex_rejects_length_junk_and_leaves_output)
{
	const char *bad[] = {
		NULL,
		"",
		"000102030405060708090a0b0c0d0e0",   /* 31 digits */
		"000102030405060708090a0b0c0d0e0f0", /* 33 digits */
		"000102030405060708090a0b0c0d0e0g",  /* not hex at the end */
		"g00102030405060708090a0b0c0d0e0f",  /* not hex first */
		" 00102030405060708090a0b0c0d0e0f",
		"000102030405060708090a0b0c0d0e0 ",
		"0x0102030405060708090a0b0c0d0e0f",
		"00010203040506:708090a0b0c0d0e0f",
	};
	uint8_t key[16], before[16];

	memset(key, 0x5a, sizeof(key));
	memcpy(before, key, sizeof(key));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(fs_parse_hex(bad[i], key, sizeof(key)), -EINVAL, "input %zu", i);
		cr_assert_arr_eq(key, before, sizeof(key), "input %zu changed the output", i);
	}
}

Test(parse, id64_takes_decimal_and_0x_hex)
{
	const struct {
		const char *s;
		uint64_t want;
	} ok[] = {
		{"0", 0},
		{"18446744073709551615", UINT64_MAX},
		{"0x0", 0},
		{"0x1", 1},
		{"0XfF", 255},
		{"0x0001000000000001", 0x0001000000000001ull},
		{"0xffffffffffffffff", UINT64_MAX},
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 7;
		cr_assert_eq(fs_parse_id64(ok[i].s, &v), 0, "'%s'", ok[i].s);
		cr_assert_eq(v, ok[i].want, "'%s' gave %" PRIu64, ok[i].s, v);
	}
}

Test(parse, id64_rejects_junk_and_leaves_output)
{
	const char *bad[] = {
		NULL,
		"",
		"0x",
		"0x10000000000000000",
		"18446744073709551616",
		"-1",
		"+1",
		" 1",
		"0x 1",
		"0xg",
		"x10",
		"1x10",
		"0x1 ",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(fs_parse_id64(bad[i], &v), -EINVAL, "input %zu", i);
		cr_assert_eq(v, 42, "input %zu changed the output", i);
	}
}
