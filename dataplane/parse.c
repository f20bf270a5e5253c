/* Strict number and hex parsing shared by the dataplane, flashgen, flashctl, flashclaim and
 * persist. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "parse.h"

int fs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int fs_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = s != NULL && *s == '-';
	uint64_t mag;
	int64_t v;

	/* the magnitude, strictly: a second sign, a space or nothing after '-' are refused */
	if (fs_parse_u64(neg ? s + 1 : s, 0, neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &mag) != 0)
		return -EINVAL;
	/* -mag in two's complement: 2^63 gives INT64_MIN */
	v = neg ? (int64_t)(~mag + 1) : (int64_t)mag;
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int fs_parse_hex(const char *s, uint8_t *out, size_t n)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	size_t got = 0;

	/* checked first, so that a bad string leaves @p out as it was */
	if (s == NULL || strlen(s) != 2 * n || strspn(s, digits) != 2 * n)
		return -EINVAL;
	if (sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) != 0 || got != n)
		return -EINVAL;
	return 0;
}

int fs_parse_id64(const char *s, uint64_t *out)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;
	char hex[17];
	size_t n;

	if (s == NULL)
		return -EINVAL;
	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return fs_parse_u64(s, 0, UINT64_MAX, out);
	n = strlen(s + 2);
	if (n == 0 || n > 16)
		return -EINVAL;
	/* left-padded to 16 digits, then big-endian bytes */
	memset(hex, '0', 16 - n);
	memcpy(hex + 16 - n, s + 2, n + 1);
	if (fs_parse_hex(hex, b, 8) < 0)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	*out = v;
	return 0;
}
