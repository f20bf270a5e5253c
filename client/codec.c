/*
 * libfcp's requests and replies: the dataplane's own codec (dataplane/fcp.c, fs_fcp_*) behind the
 * public types of libfcp.h, so the library and the server encode and decode the same way.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "fcp.h"
#include "libfcp.h"

_Static_assert(FCP_LEN == FS_FCP_LEN, "payload size");
_Static_assert(FCP_TOKEN_LEN == FS_FCP_TOKEN_LEN, "token size");
_Static_assert(
	(int)FCP_CLAIM == (int)FS_FCP_CLAIM && (int)FCP_SALE_STATUS == (int)FS_FCP_SALE_STATUS,
	"types");
_Static_assert((int)FCP_CLAIM_RESULT == (int)FS_FCP_CLAIM_RESULT &&
		       (int)FCP_STATUS_RESULT == (int)FS_FCP_SALE_STATUS_RESULT,
	"result types");
#define FCP_X(v, n, s) _Static_assert((int)FCP_##n == (int)FS_ST_##n, "status " s);
FS_FCP_STATUSES(FCP_X)
#undef FCP_X
_Static_assert((int)FCP_STATUS_COUNT == (int)FS_ST__COUNT, "libfcp knows the codec's statuses");

int fcp_request_init(struct fcp_request *req, uint8_t type, uint32_t sale_id, uint64_t user_id)
{
	if (type != FCP_CLAIM && type != FCP_SALE_STATUS)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	req->type = type;
	req->sale_id = sale_id;
	req->user_id = user_id;
	if (getrandom(&req->request_id, sizeof(req->request_id), 0) !=
		(ssize_t)sizeof(req->request_id)) {
		req->request_id = 0;
		return -errno;
	}
	return 0;
}

/* @p req's 48 bytes as they go on the wire (flags zero), by the dataplane's codec. */
static void fcp_wire(const struct fcp_request *req, uint8_t out[FS_FCP_LEN])
{
	struct fs_fcp_req q = {.type = req->type,
		.sale_id = req->sale_id,
		.user_id = req->user_id,
		.token_expiry = req->token_expiry,
		.node_id = req->node_id,
		.request_id = req->request_id};

	memcpy(q.token, req->token, sizeof(q.token));
	fs_fcp_encode_req(&q, out);
}

void fcp_request_sign(struct fcp_request *req, const uint8_t key[FCP_TOKEN_LEN])
{
	uint8_t wire[FS_FCP_LEN];

	fcp_wire(req, wire);
	fs_fcp_token(key, wire, req->token);
}

int fcp_request_encode(const struct fcp_request *req, uint8_t out[FCP_LEN])
{
	if (req->type != FCP_CLAIM && req->type != FCP_SALE_STATUS)
		return -EINVAL;
	fcp_wire(req, out);
	return 0;
}

int fcp_reply_decode(const uint8_t *buf, size_t len, struct fcp_reply *rep)
{
	uint8_t known[FS_FCP_LEN];
	struct fs_fcp_reply r;

	if (len != FS_FCP_LEN)
		return -EINVAL;
	/*
	 * fs_fcp_decode_reply refuses the statuses it does not know (the server's view); a client
	 * takes them as a final "no" (PROTOCOL.md, "Compatibility"): the rest is checked with the
	 * status byte set to a known one, the status is then the byte received.
	 */
	memcpy(known, buf, sizeof(known));
	known[16] = FS_ST_WON;
	if (fs_fcp_decode_reply(known, sizeof(known), &r) < 0)
		return -EINVAL;
	rep->type = r.type;
	rep->sale_id = r.sale_id;
	rep->user_id = r.user_id;
	rep->status = buf[16];
	rep->node_id = r.node_id;
	rep->retry_after_ms = r.retry_after_ms;
	rep->order_id = r.order_id;
	rep->remaining = r.remaining;
	rep->hold_left_ms = r.hold_left_ms;
	rep->request_id = r.request_id;
	return 0;
}

bool fcp_reply_answers(const struct fcp_request *req, const struct fcp_reply *rep)
{
	return rep->request_id == req->request_id && rep->sale_id == req->sale_id &&
	       rep->user_id == req->user_id && rep->type == (req->type | 0x80);
}

bool fcp_reply_final(const struct fcp_reply *rep)
{
	return rep->status != FCP_NOT_STARTED && rep->status != FCP_RETRY &&
	       rep->status != FCP_RATE_LIMITED;
}

const char *fcp_status_name(unsigned status)
{
	if (status < FS_ST__COUNT)
		return fs_fcp_status_name(status);
	return status <= 255 ? "RESERVED" : "INVALID";
}
