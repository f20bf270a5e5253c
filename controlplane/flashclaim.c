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

/* What the command line asks for. */
struct claim_opts {
	const char *server, *token, *token_key;
	struct fs_fcp_req req;	/* the request as sent, token and request_id included */
	struct sockaddr_in dst; /* --server, --port */
	uint8_t key[16];	/* --token-key */
	bool have_sale, have_user, have_expiry, have_rid;
	uint64_t timeout_ms, retries;
};

/* The numeric options: range, and what follows "bad --NAME 'VALUE'" in the usage error. */
static const struct num_opt {
	int c;
	const char *name;
	uint64_t min, max;
	const char *hint;
} num_opts[] = {
	{'n', "node", 0, UINT16_MAX, " (0..65535)"},
	{'p', "port", 1, UINT16_MAX, ""},
	{'r', "request-id", 0, UINT64_MAX, ""},
	{'R', "retries", 0, 1000, " (0..1000)"},
	{'s', "sale", 0, UINT32_MAX, ""},
	{'t', "timeout-ms", 1, 600000, " (1..600000)"},
	{'u', "user", 0, UINT64_MAX, ""},
	{'x', "expiry", 0, UINT32_MAX, " (unix seconds)"},
};

static const struct num_opt *num_opt(int c)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++)
		if (num_opts[i].c == c)
			return &num_opts[i];
	return NULL;
}

/* One option @p c with value @p arg into @p o: 0, or the usage error's exit code. */
static int set_opt(struct claim_opts *o, int c, const char *arg)
{
	const struct num_opt *n = num_opt(c);
	uint64_t v = 0;

	if (n != NULL && fs_parse_u64(arg, n->min, n->max, &v) < 0)
		return usage_err("bad --%s '%s'%s", n->name, arg, n->hint);
	switch (c) {
	case 'S':
		o->server = arg;
		break;
	case 's':
		o->req.sale_id = (uint32_t)v;
		o->have_sale = true;
		break;
	case 'u':
		o->req.user_id = v;
		o->have_user = true;
		break;
	case 'p':
		o->dst.sin_port = htons((uint16_t)v);
		break;
	case 'y':
		if (strcmp(arg, "claim") == 0)
			o->req.type = FS_FCP_CLAIM;
		else if (strcmp(arg, "status") == 0)
			o->req.type = FS_FCP_SALE_STATUS;
		else
			return usage_err("--type must be claim or status");
		break;
	case 'T':
		o->token = arg;
		break;
	case 'K':
		o->token_key = arg;
		break;
	case 'x':
		o->req.token_expiry = (uint32_t)v;
		o->have_expiry = true;
		break;
	case 'n':
		o->req.node_id = (uint16_t)v;
		break;
	case 'r':
		o->req.request_id = v;
		o->have_rid = true;
		break;
	case 't':
		o->timeout_ms = v;
		break;
	case 'R':
		o->retries = v;
		break;
	}
	return 0;
}

/* The options into @p o (--help: the usage on stdout, exit 0): 0, or the usage error's code. */
static int parse_args(int argc, char **argv, struct claim_opts *o)
{
	static const struct option lo[] = {
		{"expiry", required_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{"node", required_argument, NULL, 'n'},
		{"port", required_argument, NULL, 'p'},
		{"request-id", required_argument, NULL, 'r'},
		{"retries", required_argument, NULL, 'R'},
		{"sale", required_argument, NULL, 's'},
		{"server", required_argument, NULL, 'S'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"token", required_argument, NULL, 'T'},
		{"token-key", required_argument, NULL, 'K'},
		{"type", required_argument, NULL, 'y'},
		{"user", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == '?' || c == ':') {
			if (optopt != 0)
				return usage_err("option '%s' needs a value", argv[optind - 1]);
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
		rc = set_opt(o, c, optarg);
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

/*
 * The rules between options, the keys decoded and a random request id unless given: 0, or the
 * exit code (2: usage, 1: libsodium or getrandom failed).
 */
static int check_args(struct claim_opts *o)
{
	struct fs_fcp_req *req = &o->req;

	if (o->server == NULL || !o->have_sale || (!o->have_user && req->type == FS_FCP_CLAIM))
		return usage_err("needs --server, --sale and --user");
	if (inet_pton(AF_INET, o->server, &o->dst.sin_addr) != 1)
		return usage_err("bad --server '%s' (IPv4 address)", o->server);
	if (o->token != NULL && o->token_key != NULL)
		return usage_err("give --token or --token-key, not both");
	if (o->token != NULL && !o->have_expiry)
		return usage_err("--token needs --expiry");
	if (sodium_init() < 0)
		return fail("libsodium init failed");
	if (o->token != NULL && fs_parse_hex(o->token, req->token, sizeof(req->token)) < 0)
		return usage_err("bad --token (32 hex digits)");
	if (o->token_key != NULL) {
		if (fs_parse_hex(o->token_key, o->key, sizeof(o->key)) < 0)
			return usage_err("bad --token-key (32 hex digits)");
		if (!o->have_expiry)
			req->token_expiry = (uint32_t)(time(NULL) + 3600);
	}
	if (!o->have_rid && getrandom(&req->request_id, sizeof(req->request_id), 0) !=
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
		       " retry_after_ms=%" PRIu32 " request_id=%" PRIu64 " node_id=%u\n",
			fs_fcp_status_name(rep.status), rep.order_id, rep.remaining,
			rep.retry_after_ms, rep.request_id, (unsigned)rep.node_id);
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
	for (uint64_t attempt = 0; attempt <= o->retries; attempt++) {
		if (send(fd, wire, FS_FCP_LEN, 0) < 0 && errno != ECONNREFUSED) {
			fail("send: %s", strerror(errno));
			goto out;
		}
		if (await_reply(fd, &o->req, o->timeout_ms)) {
			rc = 0;
			goto out;
		}
	}
	fail("no reply from %s after %" PRIu64 " tries", o->server, o->retries + 1);
out:
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct claim_opts o = {
		.req = {.type = FS_FCP_CLAIM},
		.dst = {.sin_family = AF_INET, .sin_port = htons(FS_FCP_PORT)},
		.timeout_ms = 300,
		.retries = 5,
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
