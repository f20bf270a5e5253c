/* Unit tests of the FCP/1 codec and admission token against PROTOCOL.md and its test vectors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "counters.h"
#include "cksum.h"
#include "fcp.h"

static const uint8_t key[FS_FCP_TOKEN_LEN] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

struct vector {
	const char *hex;
	uint32_t sale_id;
	uint64_t user_id;
	uint32_t expiry;
	uint16_t node_id;
	uint64_t request_id;
};

/* PROTOCOL.md "Test vectors", copied verbatim. */
static const struct vector vectors[] = {
	{"464301010000002a00000000000003e96b36ec8000000000e5f464adbcd410d8fba87eb6a924e63b"
	 "0102030405060708",
		42, 1001, 1798761600u, 0, 0x0102030405060708ull},
	{"464301010000002a00000000000003ea6b36ec800003000029cb10add8d1dd099944c505b2c053c6"
	 "0000000000000007",
		42, 1002, 1798761600u, 3, 7},
	{"4643010100000007ffffffffffffffffffffffffffff000031b35e5130e0d5465fe207222797f198"
	 "0000000000000001",
		7, UINT64_MAX, UINT32_MAX, 65535, 1},
};

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	cr_assert_eq(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

Test(fcp, vectors_decode_and_verify)
{
	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		const struct vector *tv = &vectors[v];
		uint8_t buf[FS_FCP_LEN], tok[FS_FCP_TOKEN_LEN], again[FS_FCP_LEN];
		struct fs_fcp_req req;

		unhex(tv->hex, buf, sizeof(buf));
		cr_assert_eq(fs_fcp_parse(buf, sizeof(buf), &req), FS_FCP_OK, "vector %zu", v);
		cr_expect_eq(req.type, FS_FCP_CLAIM);
		cr_expect_eq(req.sale_id, tv->sale_id, "vector %zu", v);
		cr_expect_eq(req.user_id, tv->user_id, "vector %zu", v);
		cr_expect_eq(req.token_expiry, tv->expiry, "vector %zu", v);
		cr_expect_eq(req.node_id, tv->node_id, "vector %zu", v);
		cr_expect_eq(req.flags, 0);
		cr_expect_eq(req.request_id, tv->request_id, "vector %zu", v);
		cr_expect_arr_eq(req.token, buf + 24, FS_FCP_TOKEN_LEN);

		fs_fcp_token(key, buf, tok);
		cr_expect_arr_eq(tok, buf + 24, FS_FCP_TOKEN_LEN, "vector %zu token", v);
		cr_expect(fs_fcp_token_verify(key, buf), "vector %zu", v);

		fs_fcp_encode_req(&req, again);
		cr_expect_arr_eq(again, buf, FS_FCP_LEN, "vector %zu re-encode", v);
	}
}

Test(fcp, vectors_any_flipped_bit_fails)
{
	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		uint8_t buf[FS_FCP_LEN];

		unhex(vectors[v].hex, buf, sizeof(buf));
		for (unsigned byte = 4; byte < 40; byte++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				buf[byte] ^= (uint8_t)(1u << bit);
				cr_expect_not(fs_fcp_token_verify(key, buf),
					"vector %zu byte %u bit %u", v, byte, bit);
				buf[byte] ^= (uint8_t)(1u << bit);
			}
		}
		cr_expect(fs_fcp_token_verify(key, buf));
	}
}

Test(fcp, wrong_key_fails)
{
	uint8_t buf[FS_FCP_LEN], k2[FS_FCP_TOKEN_LEN];

	unhex(vectors[0].hex, buf, sizeof(buf));
	memcpy(k2, key, sizeof(k2));
	k2[15] ^= 1;
	cr_expect_not(fs_fcp_token_verify(k2, buf));
}

Test(fcp, token_ignores_request_id_and_header)
{
	uint8_t buf[FS_FCP_LEN];

	unhex(vectors[1].hex, buf, sizeof(buf));
	buf[40] ^= 0xff;
	buf[47] ^= 0x01;
	buf[3] = FS_FCP_SALE_STATUS;
	cr_expect(fs_fcp_token_verify(key, buf));
}

Test(fcp, request_round_trip)
{
	struct fs_fcp_req in = {
		.type = FS_FCP_SALE_STATUS,
		.sale_id = 0xdeadbeef,
		.user_id = 0x0123456789abcdefull,
		.token_expiry = 0x80000001u,
		.node_id = 0xbeef,
		.flags = 0,
		.request_id = 0xfedcba9876543210ull,
	};
	struct fs_fcp_req out;
	uint8_t buf[FS_FCP_LEN];

	for (unsigned i = 0; i < FS_FCP_TOKEN_LEN; i++)
		in.token[i] = (uint8_t)(0xa0 + i);
	fs_fcp_encode_req(&in, buf);
	cr_expect_eq(buf[0], 0x46);
	cr_expect_eq(buf[1], 0x43);
	cr_expect_eq(buf[2], 1);
	cr_expect_eq(buf[3], 2);
	cr_expect_eq(buf[4], 0xde);
	cr_expect_eq(buf[7], 0xef);
	cr_expect_eq(buf[8], 0x01);
	cr_expect_eq(buf[15], 0xef);
	cr_expect_eq(buf[16], 0x80);
	cr_expect_eq(buf[19], 0x01);
	cr_expect_eq(buf[20], 0xbe);
	cr_expect_eq(buf[21], 0xef);
	cr_expect_eq(buf[40], 0xfe);
	cr_expect_eq(buf[47], 0x10);
	cr_assert_eq(fs_fcp_parse(buf, sizeof(buf), &out), FS_FCP_OK);
	cr_expect_eq(out.type, in.type);
	cr_expect_eq(out.sale_id, in.sale_id);
	cr_expect_eq(out.user_id, in.user_id);
	cr_expect_eq(out.token_expiry, in.token_expiry);
	cr_expect_eq(out.node_id, in.node_id);
	cr_expect_eq(out.flags, 0);
	cr_expect_arr_eq(out.token, in.token, FS_FCP_TOKEN_LEN);
	cr_expect_eq(out.request_id, in.request_id);
}

Test(fcp, reply_round_trip_and_layout)
{
	struct fs_fcp_reply in = {
		.type = FS_FCP_CLAIM_RESULT,
		.sale_id = 42,
		.user_id = 0x1122334455667788ull,
		.status = FS_ST_ALREADY_WON,
		.node_id = 0x0102,
		.retry_after_ms = 0xa1a2a3a4u,
		.order_id = 0xb1b2b3b4b5b6b7b8ull,
		.remaining = 0xc1c2c3c4u,
		.hold_left_ms = 0xe1e2e3e4u,
		.request_id = 0xd1d2d3d4d5d6d7d8ull,
	};
	static const uint8_t want[FS_FCP_LEN] = {0x46, 0x43, 0x01, 0x81, 0x00, 0x00, 0x00, 0x2a,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x01, 0x00, 0x01, 0x02, 0xa1, 0xa2,
		0xa3, 0xa4, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xc1, 0xc2, 0xc3, 0xc4,
		0xe1, 0xe2, 0xe3, 0xe4, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
	struct fs_fcp_reply out;
	uint8_t buf[FS_FCP_LEN];

	memset(buf, 0xee, sizeof(buf));
	fs_fcp_encode_reply(&in, buf);
	cr_expect_arr_eq(buf, want, FS_FCP_LEN);
	memset(&out, 0, sizeof(out));
	cr_assert_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.type, in.type);
	cr_expect_eq(out.sale_id, in.sale_id);
	cr_expect_eq(out.user_id, in.user_id);
	cr_expect_eq(out.status, in.status);
	cr_expect_eq(out.node_id, in.node_id);
	cr_expect_eq(out.retry_after_ms, in.retry_after_ms);
	cr_expect_eq(out.order_id, in.order_id);
	cr_expect_eq(out.remaining, in.remaining);
	cr_expect_eq(out.hold_left_ms, in.hold_left_ms);
	cr_expect_eq(out.request_id, in.request_id);

	in.type = FS_FCP_SALE_STATUS_RESULT;
	in.status = FS_ST_ACTIVE;
	fs_fcp_encode_reply(&in, buf);
	cr_assert_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.type, FS_FCP_SALE_STATUS_RESULT);
	cr_expect_eq(out.status, FS_ST_ACTIVE);
}

Test(fcp, decode_reply_rejects)
{
	struct fs_fcp_reply in = {.type = FS_FCP_CLAIM_RESULT, .status = FS_ST_WON};
	struct fs_fcp_reply out;
	uint8_t good[FS_FCP_LEN], buf[FS_FCP_LEN];

	fs_fcp_encode_reply(&in, good);
	cr_expect_eq(fs_fcp_decode_reply(good, 47, &out), -EINVAL);
	cr_expect_eq(fs_fcp_decode_reply(good, 49, &out), -EINVAL);
	memcpy(buf, good, sizeof(buf));
	buf[0] = 0x47;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), -EINVAL);
	memcpy(buf, good, sizeof(buf));
	buf[2] = 2;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), -EINVAL);
	memcpy(buf, good, sizeof(buf));
	buf[3] = FS_FCP_CLAIM;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), -EINVAL);
	memcpy(buf, good, sizeof(buf));
	buf[16] = FS_ST__COUNT;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), -EINVAL);
	buf[16] = FS_ST__COUNT - 1;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), 0);
}

/* Revision 2: RELEASED (10) is a status clients decode (flashclaim, flashgen); 11 on are not. */
Test(fcp, decode_reply_accepts_released)
{
	struct fs_fcp_reply in = {.type = FS_FCP_CLAIM_RESULT, .sale_id = 7, .user_id = 9,
		.status = 10, .order_id = 0x1234, .hold_left_ms = 0};
	struct fs_fcp_reply out;
	uint8_t buf[FS_FCP_LEN];

	fs_fcp_encode_reply(&in, buf);
	cr_assert_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), 0, "status 10 decodes");
	cr_expect_eq(out.status, FS_ST_RELEASED);
	cr_expect_eq(out.order_id, 0x1234);
	buf[16] = 11;
	cr_expect_eq(fs_fcp_decode_reply(buf, sizeof(buf), &out), -EINVAL, "11 is reserved");
}

/* One case per FCP-level drop rule: byte to change, new value (or a length), expected error. */
struct parse_case {
	char name[32]; /* inline: Criterion copies parameters into a fresh process */
	size_t len;
	int byte; /**< -1: none */
	uint8_t value;
	enum fs_fcp_err want;
};

static struct parse_case parse_cases[] = {
	{"len47", 47, -1, 0, FS_FCP_ERR_LEN},
	{"len49", 49, -1, 0, FS_FCP_ERR_LEN},
	{"len0", 0, -1, 0, FS_FCP_ERR_LEN},
	{"magic0", 48, 0, 0x47, FS_FCP_ERR_MAGIC},
	{"magic1", 48, 1, 0x44, FS_FCP_ERR_MAGIC},
	{"version0", 48, 2, 0, FS_FCP_ERR_VERSION},
	{"version2", 48, 2, 2, FS_FCP_ERR_VERSION},
	{"type0", 48, 3, 0, FS_FCP_ERR_TYPE},
	{"type3", 48, 3, 3, FS_FCP_ERR_TYPE},
	{"type81", 48, 3, 0x81, FS_FCP_ERR_TYPE},
	{"flags_hi", 48, 22, 0x80, FS_FCP_ERR_FLAGS},
	{"flags_lo", 48, 23, 0x01, FS_FCP_ERR_FLAGS},
	{"claim_ok", 48, 3, FS_FCP_CLAIM, FS_FCP_OK},
	{"status_ok", 48, 3, FS_FCP_SALE_STATUS, FS_FCP_OK},
};

ParameterizedTestParameters(fcp, parse_rules)
{
	return cr_make_param_array(
		struct parse_case, parse_cases, sizeof(parse_cases) / sizeof(parse_cases[0]));
}

ParameterizedTest(struct parse_case *c, fcp, parse_rules)
{
	uint8_t buf[64];
	struct fs_fcp_req req;

	memset(buf, 0, sizeof(buf));
	unhex(vectors[0].hex, buf, FS_FCP_LEN);
	if (c->byte >= 0)
		buf[c->byte] = c->value;
	memset(&req, 0x5a, sizeof(req));
	cr_expect_eq(fs_fcp_parse(buf, c->len, &req), c->want, "case %s", c->name);
	if (c->want != FS_FCP_OK)
		cr_expect_eq(req.sale_id, 0x5a5a5a5au, "case %s: req written on failure", c->name);
}

Test(fcp, parse_error_order)
{
	uint8_t buf[FS_FCP_LEN];
	struct fs_fcp_req req;

	memset(buf, 0xff, sizeof(buf));
	cr_expect_eq(fs_fcp_parse(buf, 47, &req), FS_FCP_ERR_LEN);
	cr_expect_eq(fs_fcp_parse(buf, 48, &req), FS_FCP_ERR_MAGIC);
	buf[0] = 0x46;
	buf[1] = 0x43;
	cr_expect_eq(fs_fcp_parse(buf, 48, &req), FS_FCP_ERR_VERSION);
	buf[2] = 1;
	cr_expect_eq(fs_fcp_parse(buf, 48, &req), FS_FCP_ERR_TYPE);
	buf[3] = 1;
	cr_expect_eq(fs_fcp_parse(buf, 48, &req), FS_FCP_ERR_FLAGS);
	buf[22] = buf[23] = 0;
	cr_expect_eq(fs_fcp_parse(buf, 48, &req), FS_FCP_OK);
}

Test(fcp, status_names)
{
	static const char *const names[] = {"WON", "ALREADY_WON", "SOLD_OUT", "NOT_STARTED",
		"ENDED", "UNKNOWN_SALE", "BAD_TOKEN", "RATE_LIMITED", "RETRY", "ACTIVE", "RELEASED"};

	cr_assert_eq(FS_ST__COUNT, 11);
	for (unsigned i = 0; i < FS_ST__COUNT; i++) {
		cr_expect_str_eq(fs_fcp_status_name(i), names[i]);
		cr_expect_eq(fs_fcp_status_from_name(names[i]), (int)i);
	}
	cr_expect_str_eq(fs_fcp_status_name(11), "INVALID");
	cr_expect_str_eq(fs_fcp_status_name(255), "INVALID");
	cr_expect_str_eq(fs_fcp_status_name(UINT32_MAX), "INVALID");
	cr_expect_eq(fs_fcp_status_from_name("INVALID"), -1);
	cr_expect_eq(fs_fcp_status_from_name("won"), -1);
	cr_expect_eq(fs_fcp_status_from_name(""), -1);
	cr_expect_eq(fs_fcp_status_from_name(NULL), -1);
}

Test(counters, names)
{
	cr_expect_null(fs_drop_name(FS_DROP_NONE));
	cr_expect_null(fs_drop_name(FS_DROP__COUNT));
	cr_expect_str_eq(fs_drop_name(FS_DROP_TRUNCATED), "drop_truncated");
	cr_expect_str_eq(fs_drop_name(FS_DROP_IP_CKSUM), "drop_ip_cksum");
	cr_expect_str_eq(fs_drop_name(FS_DROP_FCP_FLAGS), "drop_fcp_flags");
	for (int d = FS_DROP_NONE + 1; d < FS_DROP__COUNT; d++) {
		cr_assert_not_null(fs_drop_name(d));
		cr_expect_eq(strncmp(fs_drop_name(d), "drop_", 5), 0);
	}
	cr_expect_str_eq(fs_counter_name(FS_CNT_RX_PKTS), "rx_pkts");
	cr_expect_str_eq(fs_counter_name(FS_CNT_DROPS), "drops");
	cr_expect_null(fs_counter_name(FS_CNT__COUNT));
	for (int c = 0; c < FS_CNT__COUNT; c++)
		cr_expect_not_null(fs_counter_name(c));
}

/* The reply's sum from its fields equals the sum of its encoded bytes (cksum.h), any values. */
Test(fcp, reply_sum_equals_sum_of_encoded_bytes)
{
	uint64_t x = 0x243f6a8885a308d3ull;

	for (int i = 0; i < 20000; i++) {
		struct fs_fcp_reply rep;
		uint8_t buf[FS_FCP_LEN];
		uint64_t r[6];

		for (int k = 0; k < 6; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r[k] = i < 2 ? (i == 0 ? 0 : UINT64_MAX) : x;
		}
		rep = (struct fs_fcp_reply){
			.type = (uint8_t)r[0],
			.sale_id = (uint32_t)(r[0] >> 8),
			.user_id = r[1],
			.status = (uint8_t)(r[0] >> 40),
			.node_id = (uint16_t)(r[0] >> 48),
			.retry_after_ms = (uint32_t)r[2],
			.order_id = r[3],
			.remaining = (uint32_t)(r[2] >> 32),
			.hold_left_ms = (uint32_t)r[5],
			.request_id = r[4],
		};
		fs_fcp_encode_reply(&rep, buf);
		cr_assert_eq(fs_fcp_reply_sum(&rep), fs_cksum_fold(fs_cksum_add(buf, FS_FCP_LEN, 0)),
			"round %d", i);
	}
}
