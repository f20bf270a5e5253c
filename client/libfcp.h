/*
 * libfcp: a client of FCP/1 revision 2, the Flash Claim Protocol of flashsale (docs/PROTOCOL.md):
 * build a CLAIM or SALE_STATUS request (with its admission token), decode and check a reply,
 * and a blocking claim over a kernel UDP socket that resends lost requests and waits as the
 * replies ask. Plain C11 and the C library's socket types only.
 *
 * Build against the installed library: cc app.c $(pkg-config --cflags --libs fcp)
 */
#ifndef LIBFCP_H
#define LIBFCP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FCP_LEN 48u	  /**< request and reply payload size in bytes, exactly */
#define FCP_PORT 7777u	  /**< the servers' default UDP port */
#define FCP_TOKEN_LEN 16u /**< admission token and sale key size in bytes */

/** Message types (request byte 3). */
enum fcp_type {
	FCP_CLAIM = 0x01,	  /**< claim one unit of a sale */
	FCP_SALE_STATUS = 0x02,	  /**< ask how a sale stands */
	FCP_CLAIM_RESULT = 0x81,  /**< the answer to FCP_CLAIM */
	FCP_STATUS_RESULT = 0x82, /**< the answer to FCP_SALE_STATUS */
};

/** Reply status codes (reply byte 16); values 11 and above are reserved. */
enum fcp_status {
	FCP_WON = 0,	      /**< the claim got a unit: order_id is the new order */
	FCP_ALREADY_WON = 1,  /**< the user has an order in this sale: order_id is it */
	FCP_SOLD_OUT = 2,     /**< no unit left; final when retry_after_ms is 0 */
	FCP_NOT_STARTED = 3,  /**< the sale opens in retry_after_ms */
	FCP_ENDED = 4,	      /**< the sale ended or was stopped */
	FCP_UNKNOWN_SALE = 5, /**< the node has no such sale */
	FCP_BAD_TOKEN = 6,    /**< token missing, wrong, expired or for another node */
	FCP_RATE_LIMITED = 7, /**< this source sent too much: wait retry_after_ms */
	FCP_RETRY = 8,	      /**< no unit on this node now: wait retry_after_ms */
	FCP_ACTIVE = 9,	      /**< SALE_STATUS only: the sale is open and has units */
	FCP_RELEASED = 10,    /**< revision 2: the user's order was released; order_id is it */
	FCP_STATUS_COUNT = 11 /**< statuses this library knows: 0 .. FCP_STATUS_COUNT - 1 */
};

/** A request, host byte order. Zero it (or use fcp_request_init) before filling it. */
struct fcp_request {
	uint8_t type;		      /**< FCP_CLAIM or FCP_SALE_STATUS */
	uint32_t sale_id;	      /**< the sale */
	uint64_t user_id;	      /**< the user claiming */
	uint32_t token_expiry;	      /**< unix seconds: the token's last valid second */
	uint16_t node_id;	      /**< the node the token binds the user to; 0: none */
	uint8_t token[FCP_TOKEN_LEN]; /**< admission token; all zero on open sales */
	uint64_t request_id;	      /**< echoed by the reply; the same on every resend */
};

/** A decoded reply, host byte order. */
struct fcp_reply {
	uint8_t type;		 /**< FCP_CLAIM_RESULT or FCP_STATUS_RESULT */
	uint32_t sale_id;	 /**< the request's */
	uint64_t user_id;	 /**< the request's */
	uint8_t status;		 /**< enum fcp_status (any value 0..255: see fcp_reply_decode) */
	uint16_t node_id;	 /**< the node that answered */
	uint32_t retry_after_ms; /**< ms to wait before asking again (by status, PROTOCOL.md) */
	uint64_t order_id;	 /**< with WON, ALREADY_WON and RELEASED; else 0 */
	uint32_t remaining;	 /**< units the node knows unsold, capped at 2^32-1 */
	uint32_t hold_left_ms;	 /**< revision 2: ms until the order's hold runs out; 0: none */
	uint64_t request_id;	 /**< the request's */
};

/**
 * Fill @p req for a request of @p type (FCP_CLAIM or FCP_SALE_STATUS) of @p sale_id by
 * @p user_id: other fields zero (an open sale's request), request_id random (getrandom(2)).
 * @return 0; -EINVAL if @p type is neither request type; -errno of getrandom (then @p req holds
 *         request_id 0). Thread safe.
 */
int fcp_request_init(struct fcp_request *req, uint8_t type, uint32_t sale_id, uint64_t user_id);

/**
 * Put into @p req->token the admission token of a token sale keyed with @p key (16 bytes):
 * SipHash-2-4 with a 128-bit output over request bytes 4..23 (sale_id, user_id, token_expiry,
 * node_id, flags as encoded), PROTOCOL.md "Admission token". Set those fields first. Meant for
 * the holder of the sale's key (a merchant's back end, tests); a client normally receives its
 * token and copies it into @p req->token. Thread safe (libsodium, initialised on first use).
 */
void fcp_request_sign(struct fcp_request *req, const uint8_t key[FCP_TOKEN_LEN]);

/**
 * Encode @p req into exactly FCP_LEN (48) bytes at @p out, big-endian, flags and reserved zero.
 * @return 0, or -EINVAL if @p req->type is not a request type (nothing written). Thread safe.
 */
int fcp_request_encode(const struct fcp_request *req, uint8_t out[FCP_LEN]);

/**
 * Decode a reply payload of @p len bytes at @p buf (a UDP datagram's payload) into @p rep.
 * Refused (-EINVAL, @p rep untouched): a length other than 48, a magic other than "FC", a
 * version other than 1, a type other than FCP_CLAIM_RESULT / FCP_STATUS_RESULT. Accepted as
 * PROTOCOL.md recommends: reserved byte 17 whatever it holds, and any status, a reserved one
 * (11 and above) included: treat it as a final "no" (fcp_reply_final() says so).
 * @return 0 or -EINVAL. Thread safe, pure.
 */
int fcp_reply_decode(const uint8_t *buf, size_t len, struct fcp_reply *rep);

/**
 * Whether @p rep answers @p req: the same request_id, sale_id and user_id (SALE_STATUS: user_id
 * too, the server copies it), and the result type of the request's type. A reply that does not
 * is someone else's or a forgery: drop it. Thread safe, pure.
 */
bool fcp_reply_answers(const struct fcp_request *req, const struct fcp_reply *rep);

/**
 * Whether @p rep is the last word for its request: false for NOT_STARTED, RETRY and
 * RATE_LIMITED (ask again after retry_after_ms), true for every other status, reserved ones
 * included. A SOLD_OUT whose retry_after_ms is above 0 is final here too (units held by others
 * may come back: asking again after retry_after_ms is the application's choice). Pure.
 */
bool fcp_reply_final(const struct fcp_reply *rep);

/**
 * The wire name of @p status ("WON", ..., "RELEASED"), "RESERVED" for 11..255, "INVALID" above
 * 255. Static storage, thread safe.
 */
const char *fcp_status_name(unsigned status);

/** How fcp_claim() sends, waits and gives up. Defaults: fcp_opts_init(). */
struct fcp_opts {
	uint32_t timeout_ms; /**< wait for a reply to a send, 1..600000 ms (default 300) */
	uint32_t retries;    /**< resends after sends that got no reply, in a row (default 5) */
	uint32_t backoff_base_ms; /**< first backoff step, ms, >= 1 (default 50) */
	uint32_t backoff_max_ms;  /**< backoff cap, ms, >= base (default 2000) */
	uint32_t max_wait_ms;	  /**< the whole call's bound, ms, >= 1 (default 10000) */
	unsigned flags;		  /**< FCP_WAIT_* (default both) */
};
#define FCP_WAIT_NOT_STARTED 1u /**< wait out NOT_STARTED (retry_after_ms), then ask again */
#define FCP_WAIT_RETRY 2u	/**< wait out RETRY and RATE_LIMITED, backing off, then again */

/** What one fcp_claim() call did. */
struct fcp_claim_stats {
	uint32_t sent;	     /**< datagrams sent (all with the same request_id) */
	uint32_t replies;    /**< replies that answered the request */
	uint32_t lost;	     /**< sends that got no reply within timeout_ms */
	uint64_t elapsed_ms; /**< the call's duration, monotonic ms */
};

/** @p o filled with the defaults above. Thread safe. */
void fcp_opts_init(struct fcp_opts *o);

/**
 * The backoff before the next try after @p n tries in a row that were lost or answered RETRY /
 * RATE_LIMITED (n = 0: the first): exponential backoff with "equal jitter" (M. Brooker,
 * "Exponential Backoff And Jitter", AWS Architecture Blog, 2015): b = min(backoff_max_ms,
 * backoff_base_ms * 2^n), the result in [b/2 rounded up, b], chosen by @p rnd (a uniformly
 * random 64-bit value: rnd % (b - ceil(b/2) + 1) is added to ceil(b/2)). The jitter spreads
 * clients that a loss or a RETRY hit together; half of b is always waited, so the load still
 * halves with each round. fcp_claim() waits max(this, retry_after_ms) after RETRY /
 * RATE_LIMITED (the server's figure is never cut short) and this after a lost send.
 * @return ms, 0 only when backoff_max_ms is 0. Pure, thread safe; no overflow for any @p n.
 */
uint32_t fcp_backoff_ms(const struct fcp_opts *o, uint32_t n, uint64_t rnd);

/**
 * A blocking claim (or status request) of @p req to @p server over a new kernel UDP socket
 * (connected, so datagrams from other sources are dropped by the kernel; closed on return).
 * Policy, bounded by @p o->max_wait_ms from the call (every wait and timeout is cut at it):
 * - send, wait up to timeout_ms for a reply that answers @p req (fcp_reply_answers; others and
 *   malformed datagrams are dropped);
 * - no reply: after fcp_backoff_ms(lost in a row - 1) send again, the same bytes (the same
 *   request_id: the node answers a repeated claim ALREADY_WON with the first order), at most
 *   @p o->retries times in a row; a reply to an earlier send that arrives later is taken;
 * - NOT_STARTED with FCP_WAIT_NOT_STARTED: wait retry_after_ms (at least 1 ms), ask again;
 * - RETRY or RATE_LIMITED with FCP_WAIT_RETRY: wait max(retry_after_ms, fcp_backoff_ms(such
 *   replies in a row - 1)), ask again;
 * - any other reply, or one of those without its flag, or a wait that would pass max_wait_ms:
 *   returned as it is (a RETRY returned so means "given up").
 * @param rep the last reply, when 0 is returned. @param stats NULL or filled (also on error).
 * @return 0 (a reply in @p rep), -ETIMEDOUT (no reply at all: retries or max_wait_ms spent),
 *         -EINVAL (bad @p req type or @p o), or -errno of socket/connect/send (ECONNREFUSED,
 *         an ICMP port unreachable, counts as a lost send). Thread safe: no shared state.
 */
int fcp_claim(const struct sockaddr_in *server, const struct fcp_request *req,
	const struct fcp_opts *o, struct fcp_reply *rep, struct fcp_claim_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
