/* flashgen's command line (options.h): usage, parsing, the checks between options. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_ether.h>

#include "fcp.h"
#include "options.h"
#include "parse.h"

void fg_usage(FILE *f)
{
	fprintf(f,
		"usage: flashgen [EAL options] -- --dst-ip A --src-ip A --sale ID --users N\n"
		"         [--claims K] [--user-base U] [--port 7777] [--rate R] [--window W]\n"
		"         [--timeout-ms 200] [--max-seconds S] [--token-key HEX32 [--token-expiry "
		"S]]\n"
		"         [--node K] [--won-file FILE] [--vlan TCI] [--progress]\n"
		"         [--dst-mac MAC] [--echo] [--src-ips N] [--no-reply [--line-rate R]]\n"
		"         [--mix repeat=P,badtoken=P,malformed=P --mix-winners U,N]\n"
		"         [--json[=FILE]] [--hist-out FILE] [--pcap-out FILE]\n"
		"       flashgen [EAL options] -- --pcap-in FILE --dst-ip A --src-ip A [--sale ID] "
		"...\n"
		"  --dst-mac MAC  skip ARP and send to MAC\n"
		"  --echo         count any returned frame carrying an outstanding request as its\n"
		"                 reply (measures the link with a reflector such as testpmd "
		"macswap)\n"
		"  --src-ips N    user u sends from --src-ip + u %% N, UDP port\n"
		"                 10000 + (u / N) %% 50000 (default: --src-ip + u / 50000, port\n"
		"                 10000 + u %% 50000); the N addresses must not pass "
		"255.255.255.255\n"
		"  --no-reply     flood: send each of users x claims claims once at --rate (0: as\n"
		"                 fast as the port takes them); no window, no resend, no per-user\n"
		"                 state; replies counted by status; ends --timeout-ms after the\n"
		"                 last send\n"
		"  --line-rate R  with --no-reply, not with --rate (R: 1..10^10): a lossy line\n"
		"                 presenting R frames/s whatever the port takes; frames due while\n"
		"                 its ring is full are dropped and counted (line_dropped,\n"
		"                 offered_per_s), as a NIC drops on a full RX ring\n"
		"  --mix ...      P%% of claims (chosen by a hash of user and claim number) are\n"
		"                 repeats by a winner (user id from --mix-winners U,N: U..U+N-1),\n"
		"                 bad tokens (needs --token-key) or malformed frames (broken UDP\n"
		"                 checksum or wrong magic; sent once, no reply expected)\n"
		"  --json         the report as one JSON document on stdout (same fields, plus\n"
		"                 latency_histogram and latency_percentiles); --progress lines\n"
		"                 as JSON objects. --json=FILE: key=value on stdout as usual and\n"
		"                 the JSON document into FILE too\n"
		"  --hist-out F   the latency histogram as HdrHistogram's percentile\n"
		"                 distribution (.hgrm text, values in microseconds) into F\n"
		"  --pcap-out F   every claim frame the port takes, in order, with its time,\n"
		"                 into the pcap file F\n"
		"  --pcap-in F    the claims are the FCP claim frames of the pcap file F (each\n"
		"                 request_id once, from its own source address and port; --sale\n"
		"                 replaces their sale id, --token-key signs them anew); its\n"
		"                 other frames are sent first, as they are. Not with --users,\n"
		"                 --claims, --user-base, --src-ips, --no-reply, --echo, --mix\n"
		"exit: 0 ran, 1 set-up failed, 2 bad usage, 128+N stopped by signal N (130: "
		"SIGINT,\n"
		"      143: SIGTERM; the report covers what was done until then)\n");
}

static int fg_parse_ip(const char *s, uint32_t *net)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*net = a.s_addr;
	return 0;
}

/* The options (fg_optdefs); getopt_long returns FG_OPT_VAL + the index. */
enum fg_opt {
	FG_OPT_DST_IP,
	FG_OPT_SRC_IP,
	FG_OPT_SALE,
	FG_OPT_USERS,
	FG_OPT_CLAIMS,
	FG_OPT_USER_BASE,
	FG_OPT_PORT,
	FG_OPT_RATE,
	FG_OPT_WINDOW,
	FG_OPT_TIMEOUT,
	FG_OPT_MAX_SECONDS,
	FG_OPT_TOKEN_KEY,
	FG_OPT_TOKEN_EXPIRY,
	FG_OPT_NODE,
	FG_OPT_WON_FILE,
	FG_OPT_VLAN,
	FG_OPT_PROGRESS,
	FG_OPT_DST_MAC,
	FG_OPT_ECHO,
	FG_OPT_SRC_IPS,
	FG_OPT_NO_REPLY,
	FG_OPT_LINE_RATE,
	FG_OPT_MIX,
	FG_OPT_MIX_WINNERS,
	FG_OPT_JSON,
	FG_OPT_HIST_OUT,
	FG_OPT_PCAP_OUT,
	FG_OPT_PCAP_IN,
	FG_OPT_HELP,
	FG_OPT__COUNT,
};

#define FG_OPT_VAL 256 /* getopt_long's value of option 0: above every short option */

enum fg_opt_kind {
	FG_KIND_NUM,   /* a decimal in [min, max] stored in the field at off (size bytes) */
	FG_KIND_FLAG,  /* no value: the bool at off becomes true */
	FG_KIND_OTHER, /* its own parser, in fg_set_other */
	FG_KIND_HELP,  /* no value: fg_parse_args prints the usage */
};

struct fg_optdef {
	const char *name;
	uint8_t kind; /* enum fg_opt_kind */
	uint8_t size; /* FG_KIND_NUM: 2, 4 or 8 */
	uint16_t off; /* FG_KIND_NUM, FG_KIND_FLAG: offsetof the field in struct fg_opts */
	uint64_t min, max;
};

/* clang-format off */
#define FG_FIELD(f) .off = offsetof(struct fg_opts, f), .size = sizeof(((struct fg_opts *)0)->f)
#define FG_NUM(n, f, lo, hi) {.name = n, .kind = FG_KIND_NUM, FG_FIELD(f), .min = lo, .max = hi}
#define FG_FLAG(n, f) {.name = n, .kind = FG_KIND_FLAG, FG_FIELD(f)}
#define FG_OTHER(n) {.name = n, .kind = FG_KIND_OTHER}
/* clang-format on */

static const struct fg_optdef fg_optdefs[FG_OPT__COUNT] = {
	[FG_OPT_DST_IP] = FG_OTHER("dst-ip"),
	[FG_OPT_SRC_IP] = FG_OTHER("src-ip"),
	[FG_OPT_SALE] = FG_NUM("sale", sale, 0, UINT32_MAX),
	[FG_OPT_USERS] = FG_NUM("users", users, 1, UINT32_MAX - 1),
	[FG_OPT_CLAIMS] = FG_NUM("claims", claims, 1, (1u << FG_REQID_CLAIM_BITS) - 1),
	[FG_OPT_USER_BASE] = FG_NUM("user-base", user_base, 0, UINT64_MAX),
	[FG_OPT_PORT] = FG_NUM("port", port, 1, UINT16_MAX),
	[FG_OPT_RATE] = FG_NUM("rate", rate, 0, UINT32_MAX),
	[FG_OPT_WINDOW] = FG_NUM("window", window, 1, UINT32_MAX - 1),
	[FG_OPT_TIMEOUT] = FG_NUM("timeout-ms", timeout_ms, 1, 3600000),
	[FG_OPT_MAX_SECONDS] = FG_NUM("max-seconds", max_seconds, 1, 86400),
	[FG_OPT_TOKEN_KEY] = FG_OTHER("token-key"),
	[FG_OPT_TOKEN_EXPIRY] = FG_NUM("token-expiry", token_expiry, 0, UINT32_MAX),
	[FG_OPT_NODE] = FG_NUM("node", node, 0, UINT16_MAX),
	[FG_OPT_WON_FILE] = FG_OTHER("won-file"),
	[FG_OPT_VLAN] = FG_OTHER("vlan"),
	[FG_OPT_PROGRESS] = FG_FLAG("progress", progress),
	[FG_OPT_DST_MAC] = FG_OTHER("dst-mac"),
	[FG_OPT_ECHO] = FG_FLAG("echo", echo),
	[FG_OPT_SRC_IPS] = FG_NUM("src-ips", src_ips, 1, UINT32_MAX),
	[FG_OPT_NO_REPLY] = FG_FLAG("no-reply", no_reply),
	/* 10^10 frames/s: above any port; rate * tsc delta fits in 128 bits */
	[FG_OPT_LINE_RATE] = FG_NUM("line-rate", line_rate, 1, 10000000000ull),
	[FG_OPT_MIX] = FG_OTHER("mix"),
	[FG_OPT_MIX_WINNERS] = FG_OTHER("mix-winners"),
	[FG_OPT_JSON] = FG_OTHER("json"), /* optional value: --json or --json=FILE */
	[FG_OPT_HIST_OUT] = FG_OTHER("hist-out"),
	[FG_OPT_PCAP_OUT] = FG_OTHER("pcap-out"),
	[FG_OPT_PCAP_IN] = FG_OTHER("pcap-in"),
	[FG_OPT_HELP] = {.name = "help", .kind = FG_KIND_HELP},
};

/* Parse --mix "repeat=P,badtoken=P,malformed=P" (any subset, any order) into @p o; 0 or -EINVAL. */
static int fg_parse_mix(const char *s, struct fg_opts *o)
{
	static const char *const keys[FG_MIX__COUNT] = {
		[FG_MIX_REPEAT] = "repeat",
		[FG_MIX_BADTOKEN] = "badtoken",
		[FG_MIX_MALFORMED] = "malformed",
	};
	char buf[128], *save = NULL, *tok;
	uint32_t sum = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;
		int k;

		if (eq == NULL)
			return -EINVAL;
		*eq = '\0';
		for (k = FG_MIX_REPEAT; k < FG_MIX__COUNT; k++)
			if (strcmp(tok, keys[k]) == 0)
				break;
		if (k == FG_MIX__COUNT || fs_parse_u64(eq + 1, 0, 100, &v) != 0)
			return -EINVAL;
		o->mix_pct[k] = (uint32_t)v;
	}
	for (int k = FG_MIX_REPEAT; k < FG_MIX__COUNT; k++)
		sum += o->mix_pct[k];
	return sum <= 100 ? 0 : -EINVAL;
}

/* Parse --mix-winners "U,N" (users U .. U+N-1, N >= 1, within 64 bits) into @p o; 0 or -EINVAL. */
static int fg_parse_winners(const char *s, struct fg_opts *o)
{
	const char *comma = strchr(s, ',');
	char base[32];

	if (comma == NULL || (size_t)(comma - s) >= sizeof(base))
		return -EINVAL;
	memcpy(base, s, (size_t)(comma - s));
	base[comma - s] = '\0';
	if (fs_parse_u64(base, 0, UINT64_MAX, &o->mix_winner_base) != 0 ||
		fs_parse_u64(comma + 1, 1, UINT32_MAX, &o->mix_winners) != 0 ||
		o->mix_winner_base > UINT64_MAX - (o->mix_winners - 1))
		return -EINVAL;
	return 0;
}

/* One line "flashgen: WHY" to stderr; returns -EINVAL. */
static int fg_bad(const char *why)
{
	fprintf(stderr, "flashgen: %s\n", why);
	return -EINVAL;
}

/* An option of kind FG_KIND_OTHER with value @p arg; 0 or -EINVAL. */
static int fg_set_other(struct fg_opts *o, enum fg_opt opt, const char *arg)
{
	uint32_t ip = 0;
	uint64_t v;
	int rc;

	switch (opt) {
	case FG_OPT_DST_IP:
		return fg_parse_ip(arg, &o->dst_ip);
	case FG_OPT_SRC_IP:
		rc = fg_parse_ip(arg, &ip);
		o->src_ip = ntohl(ip);
		return rc;
	case FG_OPT_TOKEN_KEY:
		o->have_key = true;
		return fs_parse_hex(arg, o->key, sizeof(o->key));
	case FG_OPT_WON_FILE:
		o->won_file = arg;
		return 0;
	case FG_OPT_JSON:
		o->json = arg == NULL;
		o->json_out = arg;
		return arg == NULL || arg[0] != '\0' ? 0 : -EINVAL;
	case FG_OPT_HIST_OUT:
		o->hist_out = arg;
		return 0;
	case FG_OPT_PCAP_OUT:
		o->pcap_out = arg;
		return 0;
	case FG_OPT_PCAP_IN:
		o->pcap_in = arg;
		return 0;
	case FG_OPT_VLAN:
		rc = fs_parse_u64(arg, 1, 0xffff, &v);
		if (rc == 0 && (v & 0xfff) == 0)
			rc = -EINVAL; /* VLAN id 0 would be sent as untagged */
		o->vlan = (uint16_t)v;
		return rc;
	case FG_OPT_DST_MAC:
		o->have_dst_mac = true;
		return rte_ether_unformat_addr(arg, &o->dst_mac) == 0 ? 0 : -EINVAL;
	case FG_OPT_MIX:
		return fg_parse_mix(arg, o);
	case FG_OPT_MIX_WINNERS:
		return fg_parse_winners(arg, o);
	default:
		return -EINVAL; /* not an FG_KIND_OTHER option: cannot happen */
	}
}

/* Option @p opt with value @p arg (NULL for a flag) into @p o; 0 or -EINVAL. */
static int fg_set(struct fg_opts *o, enum fg_opt opt, const char *arg)
{
	const struct fg_optdef *d = &fg_optdefs[opt];
	uint8_t *field = (uint8_t *)o + d->off;
	uint64_t v = 0;
	int rc;

	switch (d->kind) {
	case FG_KIND_FLAG:
		*(bool *)field = true;
		return 0;
	case FG_KIND_NUM:
		rc = fs_parse_u64(arg, d->min, d->max, &v);
		if (d->size == sizeof(uint16_t))
			*(uint16_t *)field = (uint16_t)v;
		else if (d->size == sizeof(uint32_t))
			*(uint32_t *)field = (uint32_t)v;
		else
			*(uint64_t *)field = v;
		return rc;
	default:
		return fg_set_other(o, opt, arg);
	}
}

/* The options every run needs: --dst-ip, --src-ip, and --sale and --users unless --pcap-in. */
static int fg_check_required(struct fg_opts *o, const bool seen[FG_OPT__COUNT])
{
	static const enum fg_opt not_replay[] = {FG_OPT_USERS, FG_OPT_CLAIMS, FG_OPT_USER_BASE,
		FG_OPT_SRC_IPS, FG_OPT_NO_REPLY, FG_OPT_ECHO, FG_OPT_MIX, FG_OPT_MIX_WINNERS};

	if (!seen[FG_OPT_DST_IP] || !seen[FG_OPT_SRC_IP] || /* --src-ip: ARP's, with --pcap-in */
		(o->pcap_in == NULL && (!seen[FG_OPT_SALE] || !seen[FG_OPT_USERS]))) {
		fprintf(stderr, "flashgen: %s required\n",
			o->pcap_in != NULL ? "--dst-ip and --src-ip are"
					   : "--dst-ip, --src-ip, --sale and --users are");
		fg_usage(stderr);
		return -EINVAL;
	}
	for (size_t i = 0; o->pcap_in != NULL && i < sizeof(not_replay) / sizeof(*not_replay); i++)
		if (seen[not_replay[i]]) {
			fprintf(stderr, "flashgen: --%s does not go with --pcap-in\n",
				fg_optdefs[not_replay[i]].name);
			return -EINVAL;
		}
	o->sale_given = seen[FG_OPT_SALE];
	return 0;
}

/* The checks between options (after all are read), and the defaults that depend on others. */
static int fg_check(struct fg_opts *o, const bool seen[FG_OPT__COUNT])
{
	uint32_t mixed = o->mix_pct[FG_MIX_REPEAT] + o->mix_pct[FG_MIX_BADTOKEN] +
			 o->mix_pct[FG_MIX_MALFORMED];

	if (fg_check_required(o, seen) != 0)
		return -EINVAL;
	if (seen[FG_OPT_TOKEN_EXPIRY] && !o->have_key)
		return fg_bad("--token-expiry needs --token-key");
	/* --pcap-in: the users are the file's claims, counted once it is read */
	if (o->pcap_in == NULL && o->user_base > UINT64_MAX - (o->users - 1))
		return fg_bad("--user-base + --users overflows 64 bits");
	if (o->src_ips != 0 && (uint64_t)o->src_ip + (o->src_ips - 1) > UINT32_MAX)
		return fg_bad("--src-ip + --src-ips passes 255.255.255.255");
	if (o->pcap_in == NULL && o->src_ips == 0 &&
		(uint64_t)o->src_ip + (o->users - 1) / FG_USERS_PER_IP > UINT32_MAX) {
		fprintf(stderr, "flashgen: too many users for --src-ip (one address per %u)\n",
			FG_USERS_PER_IP);
		return -EINVAL;
	}
	if (o->mix_pct[FG_MIX_REPEAT] != 0 && o->mix_winners == 0)
		return fg_bad("--mix repeat=P needs --mix-winners U,N");
	if (o->mix_pct[FG_MIX_BADTOKEN] != 0 && !o->have_key)
		return fg_bad("--mix badtoken=P needs --token-key");
	if ((o->no_reply || o->echo) && mixed != 0)
		return fg_bad("--mix does not go with --no-reply or --echo");
	if (o->line_rate != 0 && (!o->no_reply || o->rate != 0))
		return fg_bad("--line-rate needs --no-reply and no --rate");
	if (o->have_key && !seen[FG_OPT_TOKEN_EXPIRY])
		o->token_expiry = (uint32_t)(time(NULL) + 3600);
	return 0;
}

int fg_parse_args(int argc, char **argv, struct fg_opts *o)
{
	struct option lo[FG_OPT__COUNT + 1];
	bool seen[FG_OPT__COUNT] = {false};
	int c;

	memset(o, 0, sizeof(*o));
	o->claims = 1;
	o->user_base = 1;
	o->port = FS_FCP_PORT;
	o->window = 4096;
	o->timeout_ms = 200;
	o->max_seconds = 60;
	for (int i = 0; i < FG_OPT__COUNT; i++) {
		bool flag =
			fg_optdefs[i].kind == FG_KIND_FLAG || fg_optdefs[i].kind == FG_KIND_HELP;

		int has = flag ? no_argument : required_argument;

		lo[i] = (struct option){fg_optdefs[i].name,
			i == FG_OPT_JSON ? optional_argument : has, NULL, FG_OPT_VAL + i};
	}
	lo[FG_OPT__COUNT] = (struct option){NULL, 0, NULL, 0};

	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == FG_OPT_VAL + FG_OPT_HELP) {
			fg_usage(stdout);
			return 1;
		}
		if (c < FG_OPT_VAL || c >= FG_OPT_VAL + FG_OPT__COUNT) {
			fg_usage(stderr); /* getopt said why */
			return -EINVAL;
		}
		seen[c - FG_OPT_VAL] = true;
		if (fg_set(o, (enum fg_opt)(c - FG_OPT_VAL), optarg) != 0) {
			fprintf(stderr, "flashgen: bad value for --%s: '%s'\n",
				fg_optdefs[c - FG_OPT_VAL].name, optarg);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "flashgen: unexpected argument '%s'\n", argv[optind]);
		fg_usage(stderr);
		return -EINVAL;
	}
	return fg_check(o, seen);
}
