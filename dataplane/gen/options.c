/* flashgen's command line (options.h): usage, parsing, the checks between options. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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
		"                 checksum or wrong magic; sent once, no reply expected)\n");
}

static int fg_parse_ip(const char *s, uint32_t *net)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*net = a.s_addr;
	return 0;
}

enum {
	OPT_DST_IP = 256,
	OPT_SRC_IP,
	OPT_SALE,
	OPT_USERS,
	OPT_CLAIMS,
	OPT_USER_BASE,
	OPT_PORT,
	OPT_RATE,
	OPT_WINDOW,
	OPT_TIMEOUT,
	OPT_MAX_SECONDS,
	OPT_TOKEN_KEY,
	OPT_TOKEN_EXPIRY,
	OPT_NODE,
	OPT_WON_FILE,
	OPT_VLAN,
	OPT_PROGRESS,
	OPT_DST_MAC,
	OPT_ECHO,
	OPT_SRC_IPS,
	OPT_NO_REPLY,
	OPT_LINE_RATE,
	OPT_MIX,
	OPT_MIX_WINNERS,
	OPT_HELP,
};

static const struct option fg_longopts[] = {
	{"dst-ip", required_argument, NULL, OPT_DST_IP},
	{"src-ip", required_argument, NULL, OPT_SRC_IP},
	{"sale", required_argument, NULL, OPT_SALE},
	{"users", required_argument, NULL, OPT_USERS},
	{"claims", required_argument, NULL, OPT_CLAIMS},
	{"user-base", required_argument, NULL, OPT_USER_BASE},
	{"port", required_argument, NULL, OPT_PORT},
	{"rate", required_argument, NULL, OPT_RATE},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	{"max-seconds", required_argument, NULL, OPT_MAX_SECONDS},
	{"token-key", required_argument, NULL, OPT_TOKEN_KEY},
	{"token-expiry", required_argument, NULL, OPT_TOKEN_EXPIRY},
	{"node", required_argument, NULL, OPT_NODE},
	{"won-file", required_argument, NULL, OPT_WON_FILE},
	{"vlan", required_argument, NULL, OPT_VLAN},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"dst-mac", required_argument, NULL, OPT_DST_MAC},
	{"echo", no_argument, NULL, OPT_ECHO},
	{"src-ips", required_argument, NULL, OPT_SRC_IPS},
	{"no-reply", no_argument, NULL, OPT_NO_REPLY},
	{"line-rate", required_argument, NULL, OPT_LINE_RATE},
	{"mix", required_argument, NULL, OPT_MIX},
	{"mix-winners", required_argument, NULL, OPT_MIX_WINNERS},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
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

int fg_parse_args(int argc, char **argv, struct fg_opts *o)
{
	bool have_dst = false, have_src = false, have_sale = false, have_users = false;
	bool have_expiry = false;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->claims = 1;
	o->user_base = 1;
	o->port = FS_FCP_PORT;
	o->window = 4096;
	o->timeout_ms = 200;
	o->max_seconds = 60;

	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", fg_longopts, NULL)) != -1) {
		int rc = 0;
		uint32_t ip = 0;

		switch (c) {
		case OPT_DST_IP:
			rc = fg_parse_ip(optarg, &o->dst_ip);
			have_dst = true;
			break;
		case OPT_SRC_IP:
			rc = fg_parse_ip(optarg, &ip);
			o->src_ip = ntohl(ip);
			have_src = true;
			break;
		case OPT_SALE:
			rc = fs_parse_u64(optarg, 0, UINT32_MAX, &v);
			o->sale = (uint32_t)v;
			have_sale = true;
			break;
		case OPT_USERS:
			rc = fs_parse_u64(optarg, 1, UINT32_MAX - 1, &v);
			o->users = v;
			have_users = true;
			break;
		case OPT_CLAIMS:
			rc = fs_parse_u64(optarg, 1, (1u << FG_REQID_CLAIM_BITS) - 1, &v);
			o->claims = (uint32_t)v;
			break;
		case OPT_USER_BASE:
			rc = fs_parse_u64(optarg, 0, UINT64_MAX, &v);
			o->user_base = v;
			break;
		case OPT_PORT:
			rc = fs_parse_u64(optarg, 1, UINT16_MAX, &v);
			o->port = (uint16_t)v;
			break;
		case OPT_RATE:
			rc = fs_parse_u64(optarg, 0, UINT32_MAX, &v);
			o->rate = v;
			break;
		case OPT_LINE_RATE:
			/* 10^10 frames/s: above any port; rate * tsc delta fits in 128 bits */
			rc = fs_parse_u64(optarg, 1, 10000000000ull, &v);
			o->line_rate = v;
			break;
		case OPT_WINDOW:
			rc = fs_parse_u64(optarg, 1, UINT32_MAX - 1, &v);
			o->window = (uint32_t)v;
			break;
		case OPT_TIMEOUT:
			rc = fs_parse_u64(optarg, 1, 3600000, &v);
			o->timeout_ms = (uint32_t)v;
			break;
		case OPT_MAX_SECONDS:
			rc = fs_parse_u64(optarg, 1, 86400, &v);
			o->max_seconds = (uint32_t)v;
			break;
		case OPT_TOKEN_KEY:
			rc = fs_parse_hex(optarg, o->key, sizeof(o->key));
			o->have_key = true;
			break;
		case OPT_TOKEN_EXPIRY:
			rc = fs_parse_u64(optarg, 0, UINT32_MAX, &v);
			o->token_expiry = (uint32_t)v;
			have_expiry = true;
			break;
		case OPT_NODE:
			rc = fs_parse_u64(optarg, 0, UINT16_MAX, &v);
			o->node = (uint16_t)v;
			break;
		case OPT_WON_FILE:
			o->won_file = optarg;
			break;
		case OPT_VLAN:
			rc = fs_parse_u64(optarg, 1, 0xffff, &v);
			if (rc == 0 && (v & 0xfff) == 0)
				rc = -EINVAL; /* VLAN id 0 would be sent as untagged */
			o->vlan = (uint16_t)v;
			break;
		case OPT_PROGRESS:
			o->progress = true;
			break;
		case OPT_DST_MAC:
			rc = rte_ether_unformat_addr(optarg, &o->dst_mac) == 0 ? 0 : -EINVAL;
			o->have_dst_mac = true;
			break;
		case OPT_ECHO:
			o->echo = true;
			break;
		case OPT_SRC_IPS:
			rc = fs_parse_u64(optarg, 1, UINT32_MAX, &v);
			o->src_ips = (uint32_t)v;
			break;
		case OPT_NO_REPLY:
			o->no_reply = true;
			break;
		case OPT_MIX:
			rc = fg_parse_mix(optarg, o);
			break;
		case OPT_MIX_WINNERS:
			rc = fg_parse_winners(optarg, o);
			break;
		case OPT_HELP:
			fg_usage(stdout);
			return 1;
		default:
			fg_usage(stderr);
			return -EINVAL;
		}
		if (rc != 0) {
			fprintf(stderr, "flashgen: bad value for --%s: '%s'\n",
				fg_longopts[c - OPT_DST_IP].name, optarg);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "flashgen: unexpected argument '%s'\n", argv[optind]);
		fg_usage(stderr);
		return -EINVAL;
	}
	if (!have_dst || !have_src || !have_sale || !have_users) {
		fprintf(stderr, "flashgen: --dst-ip, --src-ip, --sale and --users are required\n");
		fg_usage(stderr);
		return -EINVAL;
	}
	if (have_expiry && !o->have_key) {
		fprintf(stderr, "flashgen: --token-expiry needs --token-key\n");
		return -EINVAL;
	}
	if (o->user_base > UINT64_MAX - (o->users - 1)) {
		fprintf(stderr, "flashgen: --user-base + --users overflows 64 bits\n");
		return -EINVAL;
	}
	if (o->src_ips != 0 && (uint64_t)o->src_ip + (o->src_ips - 1) > UINT32_MAX) {
		fprintf(stderr, "flashgen: --src-ip + --src-ips passes 255.255.255.255\n");
		return -EINVAL;
	}
	if (o->src_ips == 0 &&
		(uint64_t)o->src_ip + (o->users - 1) / FG_USERS_PER_IP > UINT32_MAX) {
		fprintf(stderr, "flashgen: too many users for --src-ip (one address per %u)\n",
			FG_USERS_PER_IP);
		return -EINVAL;
	}
	if (o->mix_pct[FG_MIX_REPEAT] != 0 && o->mix_winners == 0) {
		fprintf(stderr, "flashgen: --mix repeat=P needs --mix-winners U,N\n");
		return -EINVAL;
	}
	if (o->mix_pct[FG_MIX_BADTOKEN] != 0 && !o->have_key) {
		fprintf(stderr, "flashgen: --mix badtoken=P needs --token-key\n");
		return -EINVAL;
	}
	if ((o->no_reply || o->echo) && o->mix_pct[FG_MIX_REPEAT] + o->mix_pct[FG_MIX_BADTOKEN] +
							o->mix_pct[FG_MIX_MALFORMED] !=
						0) {
		fprintf(stderr, "flashgen: --mix does not go with --no-reply or --echo\n");
		return -EINVAL;
	}
	if (o->line_rate != 0 && (!o->no_reply || o->rate != 0)) {
		fprintf(stderr, "flashgen: --line-rate needs --no-reply and no --rate\n");
		return -EINVAL;
	}
	if (o->have_key && !have_expiry)
		o->token_expiry = (uint32_t)(time(NULL) + 3600);
	return 0;
}
