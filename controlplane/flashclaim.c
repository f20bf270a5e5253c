/* flashclaim: one FCP/1 claim or status request over a kernel UDP socket, with retries. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "fcp.h"
#include "monotonic.h"
#include "parse.h"

static const char usage_text[] =
	"usage: flashclaim --server IP --sale N --user U [--port 7777] [--type claim|status]\n"
	"                  [--token HEX32 --expiry S] [--token-key HEX32] [--node K]\n"
	"                  [--request-id R] [--timeout-ms 300] [--retries 5]\n";

/* Usage error: one line on stderr, returns exit code 2. */
#define usage_err(...) fs_cli_err("flashclaim", FS_EXIT_USAGE, __VA_ARGS__)
/* Runtime error: one line on stderr, returns exit code 1. */
#define fail(...) fs_cli_err("flashclaim", 1, __VA_ARGS__)

/* The numeric options: indexes of num_opts[] and of claim_opts' num[] and given[]. */
enum { N_EXPIRY, N_NODE, N_PORT, N_REQUEST_ID, N_RETRIES, N_SALE, N_TIMEOUT, N_USER, N_NUMS };
#define NUM_VAL 256 /* getopt's val of numeric option i: NUM_VAL + i (above every char) */

/* Their ranges, and what follows "bad --NAME 'VALUE'" in the usage error. */
static const struct num_opt {
	uint64_t min, max;
	const char *hint;
} num_opts[N_NUMS] = {
	[N_EXPIRY] = {0, UINT32_MAX, " (unix seconds)"},
	[N_NODE] = {0, UINT16_MAX, " (0..65535)"},
	[N_PORT] = {1, UINT16_MAX, ""},
	[N_REQUEST_ID] = {0, UINT64_MAX, ""},
	[N_RETRIES] = {0, 1000, " (0..1000)"},
	[N_SALE] = {0, UINT32_MAX, ""},
	[N_TIMEOUT] = {1, 600000, " (1..600000)"},
	[N_USER] = {0, UINT64_MAX, ""},
};

/* What the command line asks for. */
struct claim_opts {
	const char *server, *token, *token_key;
	uint64_t num[N_NUMS];	/* the numeric options (defaults: port, timeout, retries) */
	bool given[N_NUMS];	/* ... given on the command line */
	struct fs_fcp_req req;	/* the request as sent (--type at once, the rest by check_args) */
	struct sockaddr_in dst; /* --server, --port */
	uint8_t key[16];	/* --token-key */
};

/* One option @p c (not a numeric one) with value @p arg: 0, or the usage error's exit code. */
static int set_opt(struct claim_opts *o, int c, const char *arg, char **argv)
{
	switch (c) {
	case 'h':
		fputs(usage_text, stdout);
		exit(0);
	case 'S':
		o->server = arg;
		return 0;
	case 'T':
		o->token = arg;
		return 0;
	case 'K':
		o->token_key = arg;
		return 0;
	case 'y':
		if (strcmp(arg, "claim") == 0)
			o->req.type = FS_FCP_CLAIM;
		else if (strcmp(arg, "status") == 0)
			o->req.type = FS_FCP_SALE_STATUS;
		else
			return usage_err("--type must be claim or status");
		return 0;
	default: /* getopt's '?' */
		if (optopt != 0)
			return usage_err("option '%s' needs a value", argv[optind - 1]);
		return usage_err("unknown option '%s'", argv[optind - 1]);
	}
}

/* The options into @p o (--help: the usage on stdout, exit 0): 0, or the usage error's code. */
static int parse_args(int argc, char **argv, struct claim_opts *o)
{
	static const struct option lo[] = {
		{"expiry", required_argument, NULL, NUM_VAL + N_EXPIRY},
		{"help", no_argument, NULL, 'h'},
		{"node", required_argument, NULL, NUM_VAL + N_NODE},
		{"port", required_argument, NULL, NUM_VAL + N_PORT},
		{"request-id", required_argument, NULL, NUM_VAL + N_REQUEST_ID},
		{"retries", required_argument, NULL, NUM_VAL + N_RETRIES},
		{"sale", required_argument, NULL, NUM_VAL + N_SALE},
		{"server", required_argument, NULL, 'S'},
		{"timeout-ms", required_argument, NULL, NUM_VAL + N_TIMEOUT},
		{"token", required_argument, NULL, 'T'},
		{"token-key", required_argument, NULL, 'K'},
		{"type", required_argument, NULL, 'y'},
		{"user", required_argument, NULL, NUM_VAL + N_USER},
		{NULL, 0, NULL, 0},
	};
	int c, i, idx, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		i = c - NUM_VAL;
		if (i < 0) {
			rc = set_opt(o, c, optarg, argv);
			if (rc != 0)
				return rc;
			continue;
		}
		if (fs_parse_u64(optarg, num_opts[i].min, num_opts[i].max, &o->num[i]) < 0)
			return usage_err("bad --%s '%s'%s", lo[idx].name, optarg, num_opts[i].hint);
		o->given[i] = true;
	}
	if (optind < argc)
		return usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

/*
 * The rules between options, the request from the numbers, the keys decoded and a random
 * request id unless given: 0, or the exit code (2: usage, 1: libsodium or getrandom failed).
 */
static int check_args(struct claim_opts *o)
{
	struct fs_fcp_req *req = &o->req;

	if (o->server == NULL || !o->given[N_SALE] ||
		(!o->given[N_USER] && req->type == FS_FCP_CLAIM))
		return usage_err("needs --server, --sale and --user");
	if (inet_pton(AF_INET, o->server, &o->dst.sin_addr) != 1)
		return usage_err("bad --server '%s' (IPv4 address)", o->server);
	if (o->token != NULL && o->token_key != NULL)
		return usage_err("give --token or --token-key, not both");
	if (o->token != NULL && !o->given[N_EXPIRY])
		return usage_err("--token needs --expiry");
	if (sodium_init() < 0)
		return fail("libsodium init failed");
	o->dst.sin_port = htons((uint16_t)o->num[N_PORT]);
	req->sale_id = (uint32_t)o->num[N_SALE];
	req->user_id = o->num[N_USER];
	req->node_id = (uint16_t)o->num[N_NODE];
	req->token_expiry = (uint32_t)o->num[N_EXPIRY];
	req->request_id = o->num[N_REQUEST_ID];
	if (o->token != NULL && fs_parse_hex(o->token, req->token, sizeof(req->token)) < 0)
		return usage_err("bad --token (32 hex digits)");
	if (o->token_key != NULL) {
		if (fs_parse_hex(o->token_key, o->key, sizeof(o->key)) < 0)
			return usage_err("bad --token-key (32 hex digits)");
		if (!o->given[N_EXPIRY])
			req->token_expiry = (uint32_t)(time(NULL) + 3600);
	}
	if (!o->given[N_REQUEST_ID] && getrandom(&req->request_id, sizeof(req->request_id), 0) !=
					       (ssize_t)sizeof(req->request_id))
		return fail("getrandom: %s", strerror(errno));
	return 0;
}

/*
 * Wait up to @p timeout_ms for the reply to @p req on connected socket @p fd and print it.
 * Returns 1 when printed, 0 on the timeout.
 */
static int await_reply(int fd, const struct fs_fcp_req *req, uint64_t timeout_ms)
{
	int64_t deadline = fs_monotonic_ms() + (int64_t)timeout_ms;
	struct fs_fcp_reply rep;
	uint8_t buf[512];

	for (;;) {
		int64_t left = deadline - fs_monotonic_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue; /* timeout (loop ends on the deadline) or EINTR */
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			continue; /* e.g. ECONNREFUSED from an ICMP port unreachable */
		if (fs_fcp_decode_reply(buf, (size_t)n, &rep) < 0 ||
			rep.request_id != req->request_id)
			continue; /* not the reply to this request */
		printf("status=%s order_id=%" PRIu64 " remaining=%" PRIu32
		       " retry_after_ms=%" PRIu32 " hold_left_ms=%" PRIu32 " request_id=%" PRIu64
		       " node_id=%u\n",
			fs_fcp_status_name(rep.status), rep.order_id, rep.remaining,
			rep.retry_after_ms, rep.hold_left_ms, rep.request_id, (unsigned)rep.node_id);
		return 1;
	}
}

/* Send @p wire up to 1 + retries times until its reply comes: 0 (printed) or 1 (an error). */
static int exchange(const struct claim_opts *o, const uint8_t wire[FS_FCP_LEN])
{
	int fd, rc = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket: %s", strerror(errno));
	/* connect() so the kernel drops datagrams from other sources. */
	if (connect(fd, (const struct sockaddr *)&o->dst, sizeof(o->dst)) < 0) {
		fail("connect %s: %s", o->server, strerror(errno));
		goto out;
	}
	for (uint64_t attempt = 0; attempt <= o->num[N_RETRIES]; attempt++) {
		if (send(fd, wire, FS_FCP_LEN, 0) < 0 && errno != ECONNREFUSED) {
			fail("send: %s", strerror(errno));
			goto out;
		}
		if (await_reply(fd, &o->req, o->num[N_TIMEOUT])) {
			rc = 0;
			goto out;
		}
	}
	fail("no reply from %s after %" PRIu64 " tries", o->server, o->num[N_RETRIES] + 1);
out:
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct claim_opts o = {
		.num = {[N_PORT] = FS_FCP_PORT, [N_TIMEOUT] = 300, [N_RETRIES] = 5},
		.req = {.type = FS_FCP_CLAIM},
		.dst = {.sin_family = AF_INET},
	};
	uint8_t wire[FS_FCP_LEN];
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc == 0)
		rc = check_args(&o);
	if (rc != 0)
		return rc;
	fs_fcp_encode_req(&o.req, wire);
	if (o.token_key != NULL) {
		/* The token covers bytes [4, 24) of the encoded request; it sits at [24, 40). */
		fs_fcp_token(o.key, wire, o.req.token);
		fs_fcp_encode_req(&o.req, wire);
	}
	return exchange(&o, wire);
}
