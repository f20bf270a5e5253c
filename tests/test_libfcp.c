/*
 * Unit tests of libfcp (client/libfcp.h): requests encoded as PROTOCOL.md's test vector, every
 * status of a reply decoded (RELEASED and the reserved ones too), malformed replies refused,
 * replies matched to their request, the backoff schedule, and the blocking claim's waits and
 * resends against a responder thread on loopback (a kernel UDP socket, no dataplane).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "libfcp.h"

/* A reply's 48 bytes written field by field, big-endian, as PROTOCOL.md's table lays them out. */
static void put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void reply_bytes(uint8_t b[FCP_LEN], uint8_t type, uint8_t status)
{
	memset(b, 0, FCP_LEN);
	b[0] = 0x46, b[1] = 0x43, b[2] = 1, b[3] = type;
	put(b + 4, 0x01020304u, 4);	      /* sale_id */
	put(b + 8, 0x1112131415161718ull, 8); /* user_id */
	b[16] = status;
	put(b + 18, 0x2122u, 2);	       /* node_id */
	put(b + 20, 0x31323334u, 4);	       /* retry_after_ms */
	put(b + 24, 0x4142434445464748ull, 8); /* order_id */
	put(b + 32, 0x51525354u, 4);	       /* remaining */
	put(b + 36, 0x61626364u, 4);	       /* hold_left_ms */
	put(b + 40, 0x7172737475767778ull, 8); /* request_id */
}

Test(libfcp, every_status_decoded_with_every_field)
{
	static const char *const names[] = {"WON", "ALREADY_WON", "SOLD_OUT", "NOT_STARTED",
		"ENDED", "UNKNOWN_SALE", "BAD_TOKEN", "RATE_LIMITED", "RETRY", "ACTIVE",
		"RELEASED"};
	uint8_t b[FCP_LEN];
	struct fcp_reply r;

	cr_assert_eq(sizeof(names) / sizeof(names[0]), FCP_STATUS_COUNT);
	for (unsigned st = 0; st <= 255; st++) {
		reply_bytes(b, st % 2 ? FCP_CLAIM_RESULT : FCP_STATUS_RESULT, (uint8_t)st);
		memset(&r, 0xee, sizeof(r));
		cr_assert_eq(fcp_reply_decode(b, sizeof(b), &r), 0, "status %u refused", st);
		cr_assert_eq(r.status, st);
		cr_assert_eq(r.type, st % 2 ? FCP_CLAIM_RESULT : FCP_STATUS_RESULT);
		cr_assert_eq(r.sale_id, 0x01020304u);
		cr_assert_eq(r.user_id, 0x1112131415161718ull);
		cr_assert_eq(r.node_id, 0x2122u);
		cr_assert_eq(r.retry_after_ms, 0x31323334u);
		cr_assert_eq(r.order_id, 0x4142434445464748ull);
		cr_assert_eq(r.remaining, 0x51525354u);
		cr_assert_eq(r.hold_left_ms, 0x61626364u, "hold_left_ms of status %u", st);
		cr_assert_eq(r.request_id, 0x7172737475767778ull);
		cr_assert_str_eq(
			fcp_status_name(st), st < FCP_STATUS_COUNT ? names[st] : "RESERVED");
	}
	cr_assert_str_eq(fcp_status_name(256), "INVALID");
}

Test(libfcp, reserved_byte_ignored)
{
	uint8_t b[FCP_LEN];
	struct fcp_reply r;

	reply_bytes(b, FCP_CLAIM_RESULT, FCP_RELEASED);
	b[17] = 0xff;
	cr_assert_eq(fcp_reply_decode(b, sizeof(b), &r), 0);
	cr_assert_eq(r.status, FCP_RELEASED);
	cr_assert(fcp_reply_final(&r));
}

Test(libfcp, malformed_replies_refused_and_reply_untouched)
{
	static const size_t lens[] = {0, 1, 47, 49, 64, 512};
	static const uint8_t types[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0xff};
	uint8_t b[512], good[FCP_LEN];
	struct fcp_reply r, before;

	memset(&r, 0x5a, sizeof(r));
	before = r;
	reply_bytes(good, FCP_CLAIM_RESULT, FCP_WON);
	memset(b, 0, sizeof(b));
	memcpy(b, good, FCP_LEN);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		cr_assert_eq(fcp_reply_decode(b, lens[i], &r), -EINVAL, "length %zu", lens[i]);
	for (unsigned off = 0; off < 3; off++) { /* magic and version, each byte */
		for (unsigned v = 0; v <= 255; v++) {
			if (v == good[off])
				continue;
			memcpy(b, good, FCP_LEN);
			b[off] = (uint8_t)v;
			cr_assert_eq(
				fcp_reply_decode(b, FCP_LEN, &r), -EINVAL, "byte %u = %u", off, v);
		}
	}
	for (size_t i = 0; i < sizeof(types); i++) {
		memcpy(b, good, FCP_LEN);
		b[3] = types[i];
		cr_assert_eq(fcp_reply_decode(b, FCP_LEN, &r), -EINVAL, "type 0x%02x", types[i]);
	}
	cr_assert_arr_eq(&r, &before, sizeof(r), "a refused reply changed the output");
}

static uint8_t unhex1(char c)
{
	return (uint8_t)(c <= '9' ? c - '0' : c - 'a' + 10);
}

/* PROTOCOL.md's first test vector, built with fcp_request_sign and fcp_request_encode. */
Test(libfcp, request_is_the_protocols_test_vector)
{
	static const char want_hex[] = "464301010000002a00000000000003e96b36ec8000000000e5f464adbc"
				       "d410d8fba87eb6a924e63b0102030405060708";
	uint8_t key[FCP_TOKEN_LEN], out[FCP_LEN], want[FCP_LEN];
	struct fcp_request q;

	for (unsigned i = 0; i < FCP_TOKEN_LEN; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < FCP_LEN; i++)
		want[i] = (uint8_t)(unhex1(want_hex[2 * i]) << 4 | unhex1(want_hex[2 * i + 1]));
	cr_assert_eq(fcp_request_init(&q, FCP_CLAIM, 42, 1001), 0);
	q.token_expiry = 1798761600;
	q.request_id = 0x0102030405060708ull;
	fcp_request_sign(&q, key);
	cr_assert_eq(fcp_request_encode(&q, out), 0);
	cr_assert_arr_eq(out, want, FCP_LEN);
}

Test(libfcp, request_init_and_encode_refuse_other_types)
{
	struct fcp_request a, b;
	uint8_t out[FCP_LEN];

	cr_assert_eq(fcp_request_init(&a, FCP_CLAIM_RESULT, 1, 1), -EINVAL);
	cr_assert_eq(fcp_request_init(&a, FCP_SALE_STATUS, 7, 9), 0);
	cr_assert_eq(fcp_request_init(&b, FCP_SALE_STATUS, 7, 9), 0);
	cr_assert_neq(a.request_id, b.request_id, "two random request ids alike");
	cr_assert_eq(fcp_request_encode(&a, out), 0);
	cr_assert_eq(out[3], FCP_SALE_STATUS);
	a.type = 0x03;
	memset(out, 0xaa, sizeof(out));
	cr_assert_eq(fcp_request_encode(&a, out), -EINVAL);
	cr_assert_eq(out[0], 0xaa, "written although refused");
}

Test(libfcp, reply_answers_only_its_request)
{
	struct fcp_request q = {.type = FCP_CLAIM, .sale_id = 5, .user_id = 6, .request_id = 7};
	struct fcp_reply r = {
		.type = FCP_CLAIM_RESULT, .sale_id = 5, .user_id = 6, .request_id = 7};
	struct fcp_reply x;

	cr_assert(fcp_reply_answers(&q, &r));
	x = r, x.request_id = 8;
	cr_assert_not(fcp_reply_answers(&q, &x));
	x = r, x.sale_id = 4;
	cr_assert_not(fcp_reply_answers(&q, &x));
	x = r, x.user_id = 0;
	cr_assert_not(fcp_reply_answers(&q, &x));
	x = r, x.type = FCP_STATUS_RESULT;
	cr_assert_not(fcp_reply_answers(&q, &x));
	q.type = FCP_SALE_STATUS;
	cr_assert(fcp_reply_answers(&q, &x));
}

Test(libfcp, final_unless_the_reply_asks_to_wait)
{
	struct fcp_reply r = {0};

	for (unsigned st = 0; st <= 255; st++) {
		r.status = (uint8_t)st;
		cr_assert_eq(fcp_reply_final(&r),
			!(st == FCP_NOT_STARTED || st == FCP_RETRY || st == FCP_RATE_LIMITED),
			"status %u", st);
	}
	r.status = FCP_SOLD_OUT;
	r.retry_after_ms = 500; /* holds open: final for the claim, the app may ask again */
	cr_assert(fcp_reply_final(&r));
}

Test(libfcp, backoff_schedule_doubles_to_the_cap_with_equal_jitter)
{
	struct fcp_opts o;
	/* defaults: base 50, cap 2000: b = 50, 100, 200, 400, 800, 1600, 2000, 2000 ... */
	static const uint32_t b[] = {50, 100, 200, 400, 800, 1600, 2000, 2000, 2000};

	fcp_opts_init(&o);
	cr_assert_eq(o.backoff_base_ms, 50);
	cr_assert_eq(o.backoff_max_ms, 2000);
	for (uint32_t n = 0; n < sizeof(b) / sizeof(b[0]); n++) {
		uint32_t half = (b[n] + 1) / 2;

		cr_assert_eq(fcp_backoff_ms(&o, n, 0), half, "n %u lowest", n);
		cr_assert_eq(fcp_backoff_ms(&o, n, b[n] - half), b[n], "n %u highest", n);
		cr_assert_eq(fcp_backoff_ms(&o, n, b[n] - half + 1), half, "n %u wraps", n);
		for (uint64_t s = 1, rnd; s < 1000; s++) {
			rnd = s * 0x9e3779b97f4a7c15ull;
			cr_assert(fcp_backoff_ms(&o, n, rnd) >= half &&
					  fcp_backoff_ms(&o, n, rnd) <= b[n],
				"n %u rnd %lu", n, rnd);
		}
	}
	cr_assert_eq(fcp_backoff_ms(&o, UINT32_MAX, UINT64_MAX), 1000 + UINT64_MAX % 1001);
	o.backoff_base_ms = 3, o.backoff_max_ms = UINT32_MAX;
	cr_assert_eq(fcp_backoff_ms(&o, 40, 0), (UINT32_MAX / 2) + 1, "capped without overflow");
	o.backoff_base_ms = 0, o.backoff_max_ms = 0;
	cr_assert_eq(fcp_backoff_ms(&o, 3, 12345), 0);
}

/* ---- the blocking claim against a responder on loopback ---- */

/* The responder: answers the first @p n requests with statuses @p st (retry_after_ms @p ra). */
struct responder {
	int fd;
	struct sockaddr_in addr;
	unsigned n;
	uint8_t st[4];
	uint32_t ra[4];
	unsigned got;	   /* requests received (the thread writes, read after join) */
	uint64_t at_ms[4]; /* when each came, CLOCK_MONOTONIC ms */
	pthread_t thread;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *respond(void *arg)
{
	struct responder *s = arg;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint8_t b[FCP_LEN];
	struct timeval tv = {.tv_sec = 3};

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (s->got < 4 &&
		recvfrom(s->fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl) == FCP_LEN) {
		unsigned i = s->got++;

		s->at_ms[i] = now_ms();
		if (i >= s->n)
			continue; /* lost */
		b[3] |= 0x80;
		b[16] = s->st[i];
		b[17] = 0;
		put(b + 18, 1, 2);
		put(b + 20, s->ra[i], 4);
		put(b + 24, s->st[i] == FCP_WON ? 99 : 0, 8);
		memset(b + 32, 0, 8);
		sendto(s->fd, b, FCP_LEN, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void responder_start(struct responder *s)
{
	socklen_t l = sizeof(s->addr);

	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s->fd, 0);
	s->addr = (struct sockaddr_in){.sin_family = AF_INET};
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)), 0);
	cr_assert_eq(getsockname(s->fd, (struct sockaddr *)&s->addr, &l), 0);
	cr_assert_eq(pthread_create(&s->thread, NULL, respond, s), 0);
}

static void responder_stop(struct responder *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/*
 * fcp_claim of a CLAIM (sale 3, user 4) against responder @p s (started and stopped here) with
 * the default options changed by @p tune: its return value, the reply and stats in @p r, @p st.
 */
static int claim_against(struct responder *s, void (*tune)(struct fcp_opts *), struct fcp_reply *r,
	struct fcp_claim_stats *st)
{
	struct fcp_request q;
	struct fcp_opts o;
	int rc;

	responder_start(s);
	fcp_opts_init(&o);
	if (tune != NULL)
		tune(&o);
	cr_assert_eq(fcp_request_init(&q, FCP_CLAIM, 3, 4), 0);
	rc = fcp_claim(&s->addr, &q, &o, r, st);
	responder_stop(s);
	return rc;
}

Test(libfcp, claim_waits_retry_after_ms_then_wins)
{
	struct responder s = {.n = 2, .st = {FCP_RETRY, FCP_WON}, .ra = {150, 0}};
	struct fcp_claim_stats st;
	struct fcp_reply r;

	cr_assert_eq(claim_against(&s, NULL, &r, &st), 0);
	cr_assert_eq(r.status, FCP_WON);
	cr_assert_eq(r.order_id, 99);
	cr_assert_eq(st.sent, 2);
	cr_assert_eq(st.replies, 2);
	cr_assert_eq(s.got, 2);
	/* max(retry_after_ms 150, backoff 25..50) */
	cr_assert_geq(s.at_ms[1] - s.at_ms[0], 150, "resent after %lu ms", s.at_ms[1] - s.at_ms[0]);
}

static void no_waits(struct fcp_opts *o)
{
	o->flags = 0;
}

Test(libfcp, claim_without_wait_flags_returns_the_retry)
{
	struct responder s = {.n = 1, .st = {FCP_RATE_LIMITED}, .ra = {400}};
	struct fcp_claim_stats st;
	struct fcp_reply r;

	cr_assert_eq(claim_against(&s, no_waits, &r, &st), 0);
	cr_assert_eq(r.status, FCP_RATE_LIMITED);
	cr_assert_eq(r.retry_after_ms, 400);
	cr_assert_eq(st.sent, 1);
}

static void short_timeout(struct fcp_opts *o)
{
	o->timeout_ms = 30, o->retries = 2;
}

Test(libfcp, claim_resends_lost_requests_then_gives_up)
{
	struct responder s = {.n = 0};
	struct fcp_claim_stats st;
	struct fcp_reply r;
	uint64_t t0 = now_ms();

	cr_assert_eq(claim_against(&s, short_timeout, &r, &st), -ETIMEDOUT);
	cr_assert_eq(st.sent, 3);
	cr_assert_eq(st.lost, 3);
	cr_assert_eq(s.got, 3);
	/* 3 timeouts of 30 ms and the backoffs 25..50 and 50..100 between them */
	cr_assert_geq(now_ms() - t0, 3 * 30 + 25 + 50);
	cr_assert_geq(s.at_ms[1] - s.at_ms[0], 30 + 25);
	cr_assert_geq(s.at_ms[2] - s.at_ms[1], 30 + 50);
}

static void one_second(struct fcp_opts *o)
{
	o->max_wait_ms = 1000;
}

Test(libfcp, claim_gives_up_a_wait_beyond_max_wait)
{
	struct responder s = {.n = 1, .st = {FCP_NOT_STARTED}, .ra = {5000}};
	struct fcp_claim_stats st;
	struct fcp_reply r;

	cr_assert_eq(claim_against(&s, one_second, &r, &st), 0);
	cr_assert_eq(r.status, FCP_NOT_STARTED);
	cr_assert_eq(st.sent, 1);
	cr_assert_lt(
		st.elapsed_ms, 1000, "waited %lu ms for a wait it cannot finish", st.elapsed_ms);
}
