/* FCP/1 codec and admission token (docs/PROTOCOL.md): big-endian fields, no EAL. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "cksum.h"
#include "fcp.h"

static inline uint16_t fs_fcp_ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t fs_fcp_ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t fs_fcp_ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void fs_fcp_st16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fs_fcp_st32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fs_fcp_st64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

enum fs_fcp_err fs_fcp_parse(const uint8_t *buf, size_t len, struct fs_fcp_req *req)
{
	uint16_t flags;

	if (len != FS_FCP_LEN)
		return FS_FCP_ERR_LEN;
	if (fs_fcp_ld16(buf) != FS_FCP_MAGIC)
		return FS_FCP_ERR_MAGIC;
	if (buf[2] != FS_FCP_VERSION)
		return FS_FCP_ERR_VERSION;
	if (buf[3] != FS_FCP_CLAIM && buf[3] != FS_FCP_SALE_STATUS)
		return FS_FCP_ERR_TYPE;
	flags = fs_fcp_ld16(buf + 22);
	if (flags != 0)
		return FS_FCP_ERR_FLAGS;

	req->type = buf[3];
	req->sale_id = fs_fcp_ld32(buf + 4);
	req->user_id = fs_fcp_ld64(buf + 8);
	req->token_expiry = fs_fcp_ld32(buf + 16);
	req->node_id = fs_fcp_ld16(buf + 20);
	req->flags = flags;
	memcpy(req->token, buf + 24, FS_FCP_TOKEN_LEN);
	req->request_id = fs_fcp_ld64(buf + 40);
	return FS_FCP_OK;
}

/* The 16 bytes every message starts with: magic, version, type, sale_id, user_id. */
static inline void fs_fcp_put_head(uint8_t *out, uint8_t type, uint32_t sale_id, uint64_t user_id)
{
	fs_fcp_st16(out, FS_FCP_MAGIC);
	out[2] = FS_FCP_VERSION;
	out[3] = type;
	fs_fcp_st32(out + 4, sale_id);
	fs_fcp_st64(out + 8, user_id);
}

void fs_fcp_encode_req(const struct fs_fcp_req *req, uint8_t out[FS_FCP_LEN])
{
	fs_fcp_put_head(out, req->type, req->sale_id, req->user_id);
	fs_fcp_st32(out + 16, req->token_expiry);
	fs_fcp_st16(out + 20, req->node_id);
	fs_fcp_st16(out + 22, req->flags);
	memcpy(out + 24, req->token, FS_FCP_TOKEN_LEN);
	fs_fcp_st64(out + 40, req->request_id);
}

void fs_fcp_encode_reply(const struct fs_fcp_reply *rep, uint8_t out[FS_FCP_LEN])
{
	fs_fcp_put_head(out, rep->type, rep->sale_id, rep->user_id);
	out[16] = rep->status;
	out[17] = 0;
	fs_fcp_st16(out + 18, rep->node_id);
	fs_fcp_st32(out + 20, rep->retry_after_ms);
	fs_fcp_st64(out + 24, rep->order_id);
	fs_fcp_st32(out + 32, rep->remaining);
	fs_fcp_st32(out + 36, rep->hold_left_ms);
	fs_fcp_st64(out + 40, rep->request_id);
}

uint16_t fs_fcp_reply_sum(const struct fs_fcp_reply *rep)
{
	/*
	 * The encoded fields as big-endian 16-bit words, added as numbers: a 32-bit field adds as
	 * one number (hi * 65536 + lo = hi + lo modulo 0xffff, which is all the folded sum keeps).
	 * Byte offsets as in fs_fcp_encode_reply: every field starts at an even offset but type
	 * (odd: the low byte of the word at 2) and status (even: the high byte of the word at 16).
	 */
	uint64_t s = (uint64_t)FS_FCP_MAGIC + ((uint32_t)FS_FCP_VERSION << 8 | rep->type) +
		     rep->sale_id + (rep->user_id >> 32) + (uint32_t)rep->user_id +
		     ((uint32_t)rep->status << 8) + rep->node_id + rep->retry_after_ms +
		     (rep->order_id >> 32) + (uint32_t)rep->order_id + rep->remaining +
		     rep->hold_left_ms + (rep->request_id >> 32) + (uint32_t)rep->request_id;

	/* a big-endian word sum; host-order words sum to its byte swap (RFC 1071 2(B)) */
	return be16toh(fs_cksum_fold(s));
}

int fs_fcp_decode_reply(const uint8_t *buf, size_t len, struct fs_fcp_reply *rep)
{
	if (len != FS_FCP_LEN || fs_fcp_ld16(buf) != FS_FCP_MAGIC || buf[2] != FS_FCP_VERSION)
		return -EINVAL;
	if (buf[3] != FS_FCP_CLAIM_RESULT && buf[3] != FS_FCP_SALE_STATUS_RESULT)
		return -EINVAL;
	if (buf[16] >= FS_ST__COUNT)
		return -EINVAL;

	rep->type = buf[3];
	rep->sale_id = fs_fcp_ld32(buf + 4);
	rep->user_id = fs_fcp_ld64(buf + 8);
	rep->status = buf[16];
	rep->node_id = fs_fcp_ld16(buf + 18);
	rep->retry_after_ms = fs_fcp_ld32(buf + 20);
	rep->order_id = fs_fcp_ld64(buf + 24);
	rep->remaining = fs_fcp_ld32(buf + 32);
	rep->hold_left_ms = fs_fcp_ld32(buf + 36);
	rep->request_id = fs_fcp_ld64(buf + 40);
	return 0;
}

/*
 * crypto_shorthash_siphashx24 and sodium_memcmp need no sodium_init(); it is still called once
 * (its documented contract for any libsodium use). The flag read is relaxed: sodium_init() is
 * itself thread safe and idempotent, so a race only calls it twice.
 */
static int fs_fcp_sodium_ready;

static inline void fs_fcp_sodium_once(void)
{
	if (__builtin_expect(!__atomic_load_n(&fs_fcp_sodium_ready, __ATOMIC_RELAXED), 0)) {
		if (sodium_init() >= 0)
			__atomic_store_n(&fs_fcp_sodium_ready, 1, __ATOMIC_RELAXED);
	}
}

_Static_assert(crypto_shorthash_siphashx24_BYTES == FS_FCP_TOKEN_LEN, "token is 128 bits");
_Static_assert(crypto_shorthash_siphashx24_KEYBYTES == FS_FCP_TOKEN_LEN, "key is 128 bits");
_Static_assert(crypto_verify_16_BYTES == FS_FCP_TOKEN_LEN, "crypto_verify_16 compares a token");

void fs_fcp_token(const uint8_t key[FS_FCP_TOKEN_LEN], const uint8_t req[FS_FCP_LEN],
	uint8_t out[FS_FCP_TOKEN_LEN])
{
	fs_fcp_sodium_once();
	crypto_shorthash_siphashx24(out, req + FS_FCP_TOKEN_MSG_OFF, FS_FCP_TOKEN_MSG_LEN, key);
}

bool fs_fcp_token_verify(const uint8_t key[FS_FCP_TOKEN_LEN], const uint8_t req[FS_FCP_LEN])
{
	uint8_t want[FS_FCP_TOKEN_LEN];

	fs_fcp_token(key, req, want);
	/* constant time as sodium_memcmp, which goes byte by byte through a volatile (bench_claim:
	 * it cost more than the SipHash); crypto_verify_16 is libsodium's compare for 16-byte MACs */
	return crypto_verify_16(want, req + 24) == 0;
}

static const char *const fs_fcp_status_names[FS_ST__COUNT] = {
#define FS_X(v, n, s) [v] = s,
	FS_FCP_STATUSES(FS_X)
#undef FS_X
};

const char *fs_fcp_status_name(unsigned status)
{
	if (status >= FS_ST__COUNT)
		return "INVALID";
	return fs_fcp_status_names[status];
}

int fs_fcp_status_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (unsigned i = 0; i < FS_ST__COUNT; i++)
		if (strcmp(name, fs_fcp_status_names[i]) == 0)
			return (int)i;
	return -1;
}
