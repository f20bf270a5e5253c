/* FCP/1 codec: the Flash Claim Protocol wire format (docs/PROTOCOL.md), pure C, no EAL. */
#ifndef FS_FCP_H
#define FS_FCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_FCP_MAGIC 0x4643u /**< "FC" big-endian, bytes 0-1 */
#define FS_FCP_VERSION 1u
#define FS_FCP_LEN 48u /**< request and reply payload size in bytes, exactly */
#define FS_FCP_PORT 7777u /**< default server UDP port */
#define FS_FCP_TOKEN_LEN 16u
#define FS_FCP_TOKEN_MSG_OFF 4u /**< token MAC covers request bytes [4, 24) */
#define FS_FCP_TOKEN_MSG_LEN 20u

enum fs_fcp_type {
	FS_FCP_CLAIM = 0x01,
	FS_FCP_SALE_STATUS = 0x02,
	FS_FCP_CLAIM_RESULT = 0x81,
	FS_FCP_SALE_STATUS_RESULT = 0x82,
};

/** Status codes, X-macro: value, enum name, wire name. */
#define FS_FCP_STATUSES(X)                                                                        \
	X(0, WON, "WON")                                                                          \
	X(1, ALREADY_WON, "ALREADY_WON")                                                          \
	X(2, SOLD_OUT, "SOLD_OUT")                                                                \
	X(3, NOT_STARTED, "NOT_STARTED")                                                          \
	X(4, ENDED, "ENDED")                                                                      \
	X(5, UNKNOWN_SALE, "UNKNOWN_SALE")                                                        \
	X(6, BAD_TOKEN, "BAD_TOKEN")                                                              \
	X(7, RATE_LIMITED, "RATE_LIMITED")                                                        \
	X(8, RETRY, "RETRY")                                                                      \
	X(9, ACTIVE, "ACTIVE")                                                                    \
	X(10, RELEASED, "RELEASED")

enum fs_fcp_status {
#define FS_X(v, n, s) FS_ST_##n = v,
	FS_FCP_STATUSES(FS_X)
#undef FS_X
	FS_ST__COUNT
};

/** Parse results that are not 0: the FCP-level drop rules of PROTOCOL.md. */
enum fs_fcp_err {
	FS_FCP_OK = 0,
	FS_FCP_ERR_LEN,     /**< payload is not exactly 48 bytes */
	FS_FCP_ERR_MAGIC,   /**< bytes 0-1 are not "FC" */
	FS_FCP_ERR_VERSION, /**< version is not 1 */
	FS_FCP_ERR_TYPE,    /**< type is neither CLAIM nor SALE_STATUS */
	FS_FCP_ERR_FLAGS,   /**< flags are not zero */
};

/** A decoded request, host byte order. */
struct fs_fcp_req {
	uint8_t type;
	uint32_t sale_id;
	uint64_t user_id;
	uint32_t token_expiry; /**< unix seconds */
	uint16_t node_id;
	uint16_t flags;
	uint8_t token[FS_FCP_TOKEN_LEN];
	uint64_t request_id;
};

/** A reply, host byte order. Reserved bytes are always encoded as zero. */
struct fs_fcp_reply {
	uint8_t type;
	uint32_t sale_id;
	uint64_t user_id;
	uint8_t status;
	uint16_t node_id;
	uint32_t retry_after_ms;
	uint64_t order_id;
	uint32_t remaining;
	uint32_t hold_left_ms; /**< WON, ALREADY_WON on a sale with holds (revision 2); else 0 */
	uint64_t request_id;
};

/**
 * Decode and validate a request payload.
 * @param buf  payload bytes (the UDP payload), @p len bytes long.
 * @param req  filled on success only.
 * @return FS_FCP_OK, or the fs_fcp_err naming the first rule broken (checked in the order
 *         length, magic, version, type, flags). Thread safe, no allocation.
 */
enum fs_fcp_err fs_fcp_parse(const uint8_t *buf, size_t len, struct fs_fcp_req *req);

/** Encode a request into exactly 48 bytes (reserved and flags as given). Thread safe. */
void fs_fcp_encode_req(const struct fs_fcp_req *req, uint8_t out[FS_FCP_LEN]);

/** Encode a reply into exactly 48 bytes, reserved bytes zero. Thread safe. */
void fs_fcp_encode_reply(const struct fs_fcp_reply *rep, uint8_t out[FS_FCP_LEN]);

/**
 * The 16-bit one's complement sum (RFC 1071) of the 48 bytes fs_fcp_encode_reply() writes for
 * @p rep, computed from the fields: the reply's UDP checksum then needs no read-back of bytes
 * just stored (a load over several recent narrower stores cannot be store-forwarded and waits
 * for them to retire: the largest cost of building a reply, seen with perf annotate).
 * @return what fs_cksum_fold(fs_cksum_add(out, 48, 0)) gives on this host for the encoded bytes
 *         (host-order words), 0..0xffff. Thread safe, pure.
 */
uint16_t fs_fcp_reply_sum(const struct fs_fcp_reply *rep);

/**
 * Decode a reply (clients: flashclaim, flashgen, tests).
 * @return 0, or -EINVAL if @p len is not 48, the magic/version is wrong, the type is not a
 *         result type, or the status is not one of fcp.h's (11 or above: reserved).
 */
int fs_fcp_decode_reply(const uint8_t *buf, size_t len, struct fs_fcp_reply *rep);

/**
 * Compute the admission token of an encoded request: SipHash-2-4 with 128-bit output
 * (libsodium crypto_shorthash_siphashx24) keyed with @p key over request bytes [4, 24).
 * Thread safe. Source: PROTOCOL.md "Admission token"; SipHash, Aumasson & Bernstein 2012.
 */
void fs_fcp_token(const uint8_t key[FS_FCP_TOKEN_LEN], const uint8_t req[FS_FCP_LEN],
	uint8_t out[FS_FCP_TOKEN_LEN]);

/**
 * Verify the token at request bytes [24, 40) in constant time (sodium_memcmp).
 * Checks the MAC only: expiry and node binding are the caller's (fs_claim).
 * @return true if it verifies.
 */
bool fs_fcp_token_verify(const uint8_t key[FS_FCP_TOKEN_LEN], const uint8_t req[FS_FCP_LEN]);

/** Wire name of a status ("WON", ...), or "INVALID" for values >= FS_ST__COUNT. */
const char *fs_fcp_status_name(unsigned status);

/** Parse a status name as printed by fs_fcp_status_name(); -1 if unknown. */
int fs_fcp_status_from_name(const char *name);

#endif
