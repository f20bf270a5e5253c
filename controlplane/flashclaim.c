/*
 * flashclaim: one FCP/1 claim or status request over a kernel UDP socket, through libfcp (its
 * blocking claim: resends, and with --wait the waits the replies ask for). Exit code per outcome.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "libfcp.h"
#include "parse.h"
#include "version.h"

static const char usage_text[] =
	"usage: flashclaim --server IP --sale N --user U [--port 7777] [--type claim|status]\n"
	"                  [--token HEX32 --expiry S] [--token-key HEX32] [--node K]\n"
	"                  [--request-id R] [--timeout-ms 300] [--retries 5]\n"
	"                  [--wait [--max-wait-ms 10000]] [--json]\n"
	"  --request-id R: decimal, or 0x and 1..16 hex digits (default random)\n"
	"  --wait: wait out NOT_STARTED and RETRY / RATE_LIMITED as the replies ask (backing "
	"off),\n"
	"          within --max-wait-ms of the start; --json: the outcome as one JSON object\n"
	"exit: 0 WON, ALREADY_WON or ACTIVE; 1 error; 2 bad usage; 3 SOLD_OUT; 4 NOT_STARTED;\n"
	"      5 ENDED; 6 UNKNOWN_SALE; 7 BAD_TOKEN; 8 RATE_LIMITED; 9 RETRY (given up);\n"
	"      10 RELEASED; 11 no reply; 12 a reserved status (11..255)\n";

/* Exit codes beyond 0 (a win, or ACTIVE), 1 (an error) and 2 (FS_EXIT_USAGE). */
enum {
	EXIT_NO_REPLY = 11,
	EXIT_RESERVED = 12,
};
/* The exit code of each status: outcome codes 3..10 follow the status order. */
static const int status_exit[FCP_STATUS_COUNT] = {
	[FCP_WON] = 0,
	[FCP_ALREADY_WON] = 0,
	[FCP_SOLD_OUT] = 3,
	[FCP_NOT_STARTED] = 4,
	[FCP_ENDED] = 5,
	[FCP_UNKNOWN_SALE] = 6,
	[FCP_BAD_TOKEN] = 7,
	[FCP_RATE_LIMITED] = 8,
	[FCP_RETRY] = 9,
	[FCP_ACTIVE] = 0,
	[FCP_RELEASED] = 10,
};

/* Usage error: one line on stderr, returns exit code 2. */
#define usage_err(...) fs_cli_err("flashclaim", FS_EXIT_USAGE, __VA_ARGS__)
/* Runtime error: one line on stderr, returns exit code 1. */
#define fail(...) fs_cli_err("flashclaim", 1, __VA_ARGS__)

/* The numeric options: indexes of num_opts[] and of claim_opts' num[] and given[]. */
enum { N_EXPIRY, N_MAX_WAIT, N_NODE, N_PORT, N_RETRIES, N_SALE, N_TIMEOUT, N_USER, N_NUMS };
#define NUM_VAL 256 /* getopt's val of numeric option i: NUM_VAL + i (above every char) */

/* The other options (but --help): indexes of claim_opts' str[]. */
enum { S_JSON, S_REQUEST_ID, S_SERVER, S_TOKEN, S_TOKEN_KEY, S_TYPE, S_WAIT, N_STRS };
#define STR_VAL (NUM_VAL + N_NUMS) /* getopt's val of option i of str[]: STR_VAL + i */

/* Their ranges, and what follows "bad --NAME 'VALUE'" in the usage error. */
static const struct num_opt {
	uint64_t min, max;
	const char *hint;
} num_opts[N_NUMS] = {
	[N_EXPIRY] = {0, UINT32_MAX, " (unix seconds)"},
	[N_MAX_WAIT] = {1, 3600000, " (1..3600000 ms)"},
	[N_NODE] = {0, UINT16_MAX, " (0..65535)"},
	[N_PORT] = {1, UINT16_MAX, ""},
	[N_RETRIES] = {0, 1000, " (0..1000)"},
	[N_SALE] = {0, UINT32_MAX, ""},
	[N_TIMEOUT] = {1, 600000, " (1..600000)"},
	[N_USER] = {0, UINT64_MAX, ""},
};

/* What the command line asks for. */
struct claim_opts {
	const char *str[N_STRS]; /* the other options' values (NULL: not given; "": a flag given) */
	uint64_t num[N_NUMS];	 /* the numeric options (defaults: port, timeout, retries, wait) */
	bool given[N_NUMS];	 /* ... given on the command line */
	struct fcp_request req;	 /* the request as sent (--type at once, the rest by check_args) */
	struct sockaddr_in dst;	 /* --server, --port */
};

/*
 * One option @p c of getopt_long (not a numeric one, maybe its '?') with value @p arg: 0, or the
 * usage error's exit code; --help: the usage on stdout, exit 0.
 */
static int set_opt(struct claim_opts *o, int c, const char *arg, char **argv)
{
	if (c == 'h') {
		fputs(usage_text, stdout);
		exit(0);
	}
	if (c < STR_VAL && optopt != 0) /* getopt's '?' */
		return usage_err("option '%s' needs a value", argv[optind - 1]);
	if (c < STR_VAL)
		return usage_err("unknown option '%s'", argv[optind - 1]);
	o->str[c - STR_VAL] = arg != NULL ? arg : "";
	if (c != STR_VAL + S_TYPE)
		return 0;
	if (strcmp(arg, "claim") == 0)
		o->req.type = FCP_CLAIM;
	else if (strcmp(arg, "status") == 0)
		o->req.type = FCP_SALE_STATUS;
	else
		return usage_err("--type must be claim or status");
	return 0;
}

/* The options into @p o (--help: the usage on stdout, exit 0): 0, or the usage error's code. */
static int parse_args(int argc, char **argv, struct claim_opts *o)
{
	static const struct option lo[] = {
		{"expiry", required_argument, NULL, NUM_VAL + N_EXPIRY},
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, STR_VAL + S_JSON},
		{"max-wait-ms", required_argument, NULL, NUM_VAL + N_MAX_WAIT},
		{"node", required_argument, NULL, NUM_VAL + N_NODE},
		{"port", required_argument, NULL, NUM_VAL + N_PORT},
		{"request-id", required_argument, NULL, STR_VAL + S_REQUEST_ID},
		{"retries", required_argument, NULL, NUM_VAL + N_RETRIES},
		{"sale", required_argument, NULL, NUM_VAL + N_SALE},
		{"server", required_argument, NULL, STR_VAL + S_SERVER},
		{"timeout-ms", required_argument, NULL, NUM_VAL + N_TIMEOUT},
		{"token", required_argument, NULL, STR_VAL + S_TOKEN},
		{"token-key", required_argument, NULL, STR_VAL + S_TOKEN_KEY},
		{"type", required_argument, NULL, STR_VAL + S_TYPE},
		{"user", required_argument, NULL, NUM_VAL + N_USER},
		{"wait", no_argument, NULL, STR_VAL + S_WAIT},
		{NULL, 0, NULL, 0},
	};
	int c, i, idx, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		i = c - NUM_VAL;
		if (i < 0 || i >= N_NUMS) {
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

/* The token options into @p req (after its other fields): 0, or the usage error's code. */
static int set_token(const struct claim_opts *o, struct fcp_request *req)
{
	const char *token = o->str[S_TOKEN], *token_key = o->str[S_TOKEN_KEY];
	uint8_t key[FCP_TOKEN_LEN];

	if (token != NULL && token_key != NULL)
		return usage_err("give --token or --token-key, not both");
	if (token != NULL && !o->given[N_EXPIRY])
		return usage_err("--token needs --expiry");
	if (token != NULL && fs_parse_hex(token, req->token, sizeof(req->token)) < 0)
		return usage_err("bad --token (32 hex digits)");
	if (token_key != NULL) {
		if (fs_parse_hex(token_key, key, sizeof(key)) < 0)
			return usage_err("bad --token-key (32 hex digits)");
		if (!o->given[N_EXPIRY])
			req->token_expiry = (uint32_t)(time(NULL) + 3600);
		fcp_request_sign(req, key);
	}
	return 0;
}

/*
 * The rules between options and the request from them (a random request id unless given): 0,
 * or the exit code (2: usage, 1: getrandom failed).
 */
static int check_args(struct claim_opts *o)
{
	const char *server = o->str[S_SERVER], *rid = o->str[S_REQUEST_ID];
	struct fcp_request *req = &o->req;
	uint8_t type = req->type;
	int rc;

	if (server == NULL || !o->given[N_SALE] || (!o->given[N_USER] && type == FCP_CLAIM))
		return usage_err("needs --server, --sale and --user");
	if (inet_pton(AF_INET, server, &o->dst.sin_addr) != 1)
		return usage_err("bad --server '%s' (IPv4 address)", server);
	if (o->given[N_MAX_WAIT] && o->str[S_WAIT] == NULL)
		return usage_err("--max-wait-ms needs --wait");
	if (rid != NULL && fs_parse_id64(rid, &req->request_id) < 0)
		return usage_err(
			"bad --request-id '%s' (decimal, or 0x and 1..16 hex digits)", rid);
	o->dst.sin_port = htons((uint16_t)o->num[N_PORT]);
	if (rid == NULL) {
		rc = fcp_request_init(req, type, (uint32_t)o->num[N_SALE], o->num[N_USER]);
		if (rc < 0)
			return fail("getrandom: %s", strerror(-rc));
	}
	req->sale_id = (uint32_t)o->num[N_SALE];
	req->user_id = o->num[N_USER];
	req->node_id = (uint16_t)o->num[N_NODE];
	req->token_expiry = (uint32_t)o->num[N_EXPIRY];
	return set_token(o, req);
}

/* The exit code of reply @p rep. */
static int reply_exit(const struct fcp_reply *rep)
{
	return rep->status < FCP_STATUS_COUNT ? status_exit[rep->status] : EXIT_RESERVED;
}

/* The outcome as one JSON object on stdout (@p rep NULL: no reply). 0, or 1 (not written). */
static int print_json(const struct claim_opts *o, const struct fcp_reply *rep,
	const struct fcp_claim_stats *st, int code)
{
	json_object *j = json_object_new_object();
	char hex[19];
	int rc;

	json_object_object_add(j, "status",
		json_object_new_string(rep ? fcp_status_name(rep->status) : "NO_REPLY"));
	if (rep != NULL) {
		snprintf(hex, sizeof(hex), "0x%016" PRIx64, rep->order_id);
		json_object_object_add(j, "status_code", json_object_new_int(rep->status));
		json_object_object_add(j, "order_id", json_object_new_uint64(rep->order_id));
		json_object_object_add(j, "order_hex", json_object_new_string(hex));
		json_object_object_add(j, "remaining", json_object_new_int64(rep->remaining));
		json_object_object_add(
			j, "retry_after_ms", json_object_new_int64(rep->retry_after_ms));
		json_object_object_add(j, "hold_left_ms", json_object_new_int64(rep->hold_left_ms));
		json_object_object_add(j, "node_id", json_object_new_int(rep->node_id));
	}
	json_object_object_add(j, "sale_id", json_object_new_int64(o->req.sale_id));
	json_object_object_add(j, "user_id", json_object_new_uint64(o->req.user_id));
	json_object_object_add(j, "request_id", json_object_new_uint64(o->req.request_id));
	json_object_object_add(j, "sent", json_object_new_int64(st->sent));
	json_object_object_add(j, "replies", json_object_new_int64(st->replies));
	json_object_object_add(j, "lost", json_object_new_int64(st->lost));
	json_object_object_add(j, "elapsed_ms", json_object_new_uint64(st->elapsed_ms));
	json_object_object_add(j, "exit", json_object_new_int(code));
	rc = puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)) < 0 ? 1 : 0;
	json_object_put(j);
	return rc;
}

/* Claim through libfcp and print the outcome: the exit code (usage text). */
static int claim(const struct claim_opts *o)
{
	const char *server = o->str[S_SERVER];
	bool wait = o->str[S_WAIT] != NULL, json = o->str[S_JSON] != NULL;
	struct fcp_claim_stats st;
	struct fcp_reply rep;
	struct fcp_opts fo;
	int rc, code;

	fcp_opts_init(&fo);
	fo.timeout_ms = (uint32_t)o->num[N_TIMEOUT];
	fo.retries = (uint32_t)o->num[N_RETRIES];
	fo.flags = wait ? FCP_WAIT_NOT_STARTED | FCP_WAIT_RETRY : 0;
	/* without --wait the retries alone bound the call */
	fo.max_wait_ms = wait ? (uint32_t)o->num[N_MAX_WAIT] : UINT32_MAX;
	rc = fcp_claim(&o->dst, &o->req, &fo, &rep, &st);
	if (rc < 0 && rc != -ETIMEDOUT)
		return fail("claim to %s: %s", server, strerror(-rc));
	if (rc == -ETIMEDOUT) {
		fs_cli_err("flashclaim", EXIT_NO_REPLY, "no reply from %s after %" PRIu32 " tries",
			server, st.sent);
		return json && print_json(o, NULL, &st, EXIT_NO_REPLY) ? 1 : EXIT_NO_REPLY;
	}
	code = reply_exit(&rep);
	if (json)
		return print_json(o, &rep, &st, code) ? 1 : code;
	printf("status=%s order_id=%" PRIu64 " remaining=%" PRIu32 " retry_after_ms=%" PRIu32
	       " hold_left_ms=%" PRIu32 " request_id=%" PRIu64 " node_id=%u\n",
		fcp_status_name(rep.status), rep.order_id, rep.remaining, rep.retry_after_ms,
		rep.hold_left_ms, rep.request_id, (unsigned)rep.node_id);
	return fflush(stdout) == 0 ? code : 1;
}

int main(int argc, char **argv)
{
	struct claim_opts o = {
		.num = {[N_PORT] = FCP_PORT,
			[N_TIMEOUT] = 300,
			[N_RETRIES] = 5,
			[N_MAX_WAIT] = 10000},
		.req = {.type = FCP_CLAIM},
		.dst = {.sin_family = AF_INET},
	};
	int rc;

	if (fs_version_asked(argc, argv)) {
		fs_version_print("flashclaim");
		return 0;
	}
	rc = parse_args(argc, argv, &o);
	if (rc == 0)
		rc = check_args(&o);
	if (rc != 0)
		return rc;
	return claim(&o);
}
