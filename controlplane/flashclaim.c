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

int main(int argc, char **argv)
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
	const char *server = NULL, *token = NULL, *token_key = NULL;
	struct fs_fcp_req req = {.type = FS_FCP_CLAIM};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(FS_FCP_PORT)};
	uint8_t wire[FS_FCP_LEN], buf[512], key[16];
	bool have_sale = false, have_user = false, have_expiry = false, have_rid = false;
	uint64_t v, timeout_ms = 300, retries = 5;
	struct fs_fcp_reply rep;
	int c, fd, rc = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'S':
			server = optarg;
			break;
		case 's':
			if (fs_parse_u64(optarg, 0, UINT32_MAX, &v) < 0)
				return usage_err("bad --sale '%s'", optarg);
			req.sale_id = (uint32_t)v;
			have_sale = true;
			break;
		case 'u':
			if (fs_parse_u64(optarg, 0, UINT64_MAX, &v) < 0)
				return usage_err("bad --user '%s'", optarg);
			req.user_id = v;
			have_user = true;
			break;
		case 'p':
			if (fs_parse_u64(optarg, 0, UINT16_MAX, &v) < 0 || v == 0)
				return usage_err("bad --port '%s'", optarg);
			dst.sin_port = htons((uint16_t)v);
			break;
		case 'y':
			if (strcmp(optarg, "claim") == 0)
				req.type = FS_FCP_CLAIM;
			else if (strcmp(optarg, "status") == 0)
				req.type = FS_FCP_SALE_STATUS;
			else
				return usage_err("--type must be claim or status");
			break;
		case 'T':
			token = optarg;
			break;
		case 'K':
			token_key = optarg;
			break;
		case 'x':
			if (fs_parse_u64(optarg, 0, UINT32_MAX, &v) < 0)
				return usage_err("bad --expiry '%s' (unix seconds)", optarg);
			req.token_expiry = (uint32_t)v;
			have_expiry = true;
			break;
		case 'n':
			if (fs_parse_u64(optarg, 0, UINT16_MAX, &v) < 0)
				return usage_err("bad --node '%s' (0..65535)", optarg);
			req.node_id = (uint16_t)v;
			break;
		case 'r':
			if (fs_parse_u64(optarg, 0, UINT64_MAX, &v) < 0)
				return usage_err("bad --request-id '%s'", optarg);
			req.request_id = v;
			have_rid = true;
			break;
		case 't':
			if (fs_parse_u64(optarg, 0, 600000, &v) < 0 || v == 0)
				return usage_err("bad --timeout-ms '%s' (1..600000)", optarg);
			timeout_ms = v;
			break;
		case 'R':
			if (fs_parse_u64(optarg, 0, 1000, &v) < 0)
				return usage_err("bad --retries '%s' (0..1000)", optarg);
			retries = v;
			break;
		default:
			if (optopt != 0)
				return usage_err("option '%s' needs a value", argv[optind - 1]);
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_err("unexpected argument '%s'", argv[optind]);
	if (server == NULL || !have_sale || (!have_user && req.type == FS_FCP_CLAIM))
		return usage_err("needs --server, --sale and --user");
	if (inet_pton(AF_INET, server, &dst.sin_addr) != 1)
		return usage_err("bad --server '%s' (IPv4 address)", server);
	if (token != NULL && token_key != NULL)
		return usage_err("give --token or --token-key, not both");
	if (token != NULL && !have_expiry)
		return usage_err("--token needs --expiry");
	if (sodium_init() < 0) {
		fprintf(stderr, "flashclaim: libsodium init failed\n");
		return 1;
	}
	if (token != NULL && fs_parse_hex(token, req.token, sizeof(req.token)) < 0)
		return usage_err("bad --token (32 hex digits)");
	if (token_key != NULL) {
		if (fs_parse_hex(token_key, key, sizeof(key)) < 0)
			return usage_err("bad --token-key (32 hex digits)");
		if (!have_expiry)
			req.token_expiry = (uint32_t)(time(NULL) + 3600);
	}
	if (!have_rid && getrandom(&req.request_id, sizeof(req.request_id), 0) !=
				 (ssize_t)sizeof(req.request_id)) {
		fprintf(stderr, "flashclaim: getrandom: %s\n", strerror(errno));
		return 1;
	}
	fs_fcp_encode_req(&req, wire);
	if (token_key != NULL) {
		/* The token covers bytes [4, 24) of the encoded request; it sits at [24, 40). */
		fs_fcp_token(key, wire, req.token);
		fs_fcp_encode_req(&req, wire);
	}

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "flashclaim: socket: %s\n", strerror(errno));
		return 1;
	}
	/* connect() so the kernel drops datagrams from other sources. */
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		fprintf(stderr, "flashclaim: connect %s: %s\n", server, strerror(errno));
		goto out;
	}
	for (uint64_t attempt = 0; attempt <= retries; attempt++) {
		int64_t deadline;

		if (send(fd, wire, sizeof(wire), 0) < 0 && errno != ECONNREFUSED) {
			fprintf(stderr, "flashclaim: send: %s\n", strerror(errno));
			goto out;
		}
		deadline = fs_monotonic_ms() + (int64_t)timeout_ms;
		for (;;) {
			int64_t left = deadline - fs_monotonic_ms();
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			ssize_t n;

			if (left <= 0)
				break;
			if (poll(&pfd, 1, (int)left) <= 0)
				continue; /* timeout (loop ends on the deadline) or EINTR */
			n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0)
				continue; /* e.g. ECONNREFUSED from an ICMP port unreachable */
			if (fs_fcp_decode_reply(buf, (size_t)n, &rep) < 0 ||
				rep.request_id != req.request_id)
				continue; /* not the reply to this request */
			printf("status=%s order_id=%" PRIu64 " remaining=%" PRIu32
			       " retry_after_ms=%" PRIu32 " request_id=%" PRIu64 " node_id=%u\n",
				fs_fcp_status_name(rep.status), rep.order_id, rep.remaining,
				rep.retry_after_ms, rep.request_id, (unsigned)rep.node_id);
			rc = 0;
			goto out;
		}
	}
	fprintf(stderr, "flashclaim: no reply from %s after %" PRIu64 " tries\n", server,
		retries + 1);
out:
	close(fd);
	return rc;
}
