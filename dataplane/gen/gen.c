/* flashgen: DPDK generator of FCP claims for performance runs (HACKING.md, gen/README.md). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_udp.h>
#include <sodium.h>

#include "fcp.h"
#include "frame.h"
#include "memif_guard.h"
#include "mix.h"
#include "parse.h"

#define FG_EXIT_SETUP 1
#define FG_EXIT_USAGE 2

#define FG_BURST 32
#define FG_NB_DESC 1024
#define FG_NB_MBUF 16383
#define FG_MBUF_CACHE 256
#define FG_PORT_ID 0
#define FG_SRC_PORT_BASE 10000u
#define FG_USERS_PER_IP 50000u
#define FG_ARP_RETRY_MS 100
#define FG_ARP_GIVEUP_MS 5000
#define FG_LINK_WAIT_MS 5000
#define FG_RECONNECT_LINK_MS 1000 /* after a port restart, wait this long for the link */
#define FG_RECONNECT_RETRY_MS 100 /* between port restarts while the server is away */
#define FG_PROGRESS_MS 200
#define FG_RETRY_CAP_MS 1000u
#define FG_WHEEL_SLOTS 1024u /* > FG_RETRY_CAP_MS: a delayed resend never wraps the wheel */
#define FG_REQID_CLAIM_BITS 24

/* Latency histogram in ns, HDR-like: exact below 2^11, then 1024 sub-buckets per power of two. */
#define FG_HIST_SUB_BITS 10
#define FG_HIST_EXACT (1u << (FG_HIST_SUB_BITS + 1))
#define FG_HIST_MAX_EXP 40 /* values clamp at 2^51 ns */
#define FG_HIST_SIZE (FG_HIST_EXACT + FG_HIST_MAX_EXP * (1u << FG_HIST_SUB_BITS))

#define FG_NONE UINT32_MAX

enum fg_user_state {
	FG_READY = 0, /* in the ready queue */
	FG_PEND,      /* built, waiting for the port to take it */
	FG_OUT,	      /* request in flight */
	FG_WAIT,      /* in the wheel, resend after retry_after_ms */
	FG_DONE,      /* every claim has its final answer */
};

struct fg_user {
	uint64_t send_tsc;    /* TSC of the last transmission of the current request */
	uint32_t claims_done; /* claims with a final answer */
	uint32_t next;	      /* wheel slot list link */
	uint8_t state;	      /* enum fg_user_state */
	uint8_t holds;	      /* this user holds an order (a WON, or an ALREADY_WON first seen) */
	uint8_t kind;	      /* enum fg_mix_kind of the current request */
};

/* --mix: what one claim is. */
enum fg_mix_kind {
	FG_MIX_NORMAL = 0,
	FG_MIX_REPEAT,	  /* sent as one of the --mix-winners users: expects ALREADY_WON */
	FG_MIX_BADTOKEN,  /* token with one bit flipped: expects BAD_TOKEN */
	FG_MIX_MALFORMED, /* broken UDP checksum or wrong magic: no reply expected, never resent */
	FG_MIX__COUNT,
};

struct fg_opts {
	uint32_t dst_ip; /* network byte order */
	uint32_t src_ip; /* host byte order, per-user offset added */
	uint32_t sale;
	uint64_t users;
	uint32_t claims;
	uint64_t user_base;
	uint16_t port;
	uint64_t rate;
	uint32_t window;
	uint32_t timeout_ms;
	uint32_t max_seconds;
	bool have_key;
	uint8_t key[FS_FCP_TOKEN_LEN];
	uint32_t token_expiry;
	uint16_t node;
	const char *won_file;
	uint16_t vlan;
	bool progress;
	bool have_dst_mac;
	struct rte_ether_addr dst_mac;
	bool echo;
	uint32_t src_ips; /* 0: one address per FG_USERS_PER_IP users; N: base + user % N */
	bool no_reply;	  /* flood: send every claim once, track nothing, window ignored */
	uint64_t line_rate; /* --line-rate: frames/s presented whatever the port takes (lossy) */
	uint32_t mix_pct[FG_MIX__COUNT]; /* --mix: percent of claims of each kind (NORMAL unused) */
	uint64_t mix_winner_base;	 /* --mix-winners U,N: repeat claims by users U .. U+N-1 */
	uint64_t mix_winners;
};

/* Timeout FIFO entry: lazily deleted, stale when the user has sent again or got its answer. */
struct fg_tmo {
	uint64_t tsc;
	uint32_t user;
};

struct fg_stats {
	uint64_t sent;
	uint64_t replies;
	uint64_t lost;
	uint64_t unparsed;
	uint64_t stale;
	uint64_t tx_refused;
	uint64_t line_dropped; /* --line-rate: frames due while the port's ring was full */
	uint64_t status[FS_ST__COUNT];
	uint64_t finished;   /* claims with a final answer */
	uint64_t winners;    /* users known to hold an order: won-file lines */
	uint64_t reconnects; /* port restarts after the link went down */
	uint64_t requeued;   /* claims in flight when the link went down, sent again */
	uint64_t mix_sent[FG_MIX__COUNT]; /* --mix: claims taken by the port, by kind */
};

struct fg_ctx {
	struct fg_opts o;
	struct rte_mempool *pool;
	struct rte_ether_addr src_mac;
	struct fg_user *users;
	uint64_t hz;
	double ns_per_tsc;
	/* ready deque of user indices, capacity users + 1 */
	uint32_t *ready;
	uint64_t rcap, rhead, rlen;
	/* timeout FIFO ring, grows by doubling */
	struct fg_tmo *tmo;
	uint64_t tcap, thead, tlen;
	/* wheel of delayed resends, 1 ms per slot */
	uint32_t wheel[FG_WHEEL_SLOTS];
	uint64_t wheel_ms; /* next slot to drain, ms since t0 */
	uint64_t t0, tsc_per_ms;
	uint64_t outstanding;
	uint64_t users_done;
	uint64_t first_send, last_send, last_reply;
	uint64_t link_ms; /* ms since t0 of the last link check */
	/* --no-reply: claims numbered 0 .. users * claims - 1, user = n % users */
	uint64_t flood_next, flood_total;
	/* --line-rate: frames presented (sent + line_dropped) since line_t0, and when it last ran */
	uint64_t line_offered, line_t0, line_last;
	uint64_t *hist;
	uint64_t lat_max_ns;
	/* built frames the port has not taken yet; their users are FG_PEND */
	struct rte_mbuf *pend[FG_BURST];
	uint32_t pend_who[FG_BURST];
	uint16_t npend;
	bool port_started;
	FILE *won;
	struct fg_stats st;
};

static volatile sig_atomic_t fg_stop;

static void fg_on_signal(int sig)
{
	(void)sig;
	fg_stop = 1;
}

/* Every burst is bracketed by fg_burst_enter/leave: see memif_guard.c. */
static inline uint16_t fg_rx_burst(struct rte_mbuf **rx, uint16_t n)
{
	uint16_t got;

	fg_burst_enter();
	got = rte_eth_rx_burst(FG_PORT_ID, 0, rx, n);
	fg_burst_leave();
	return got;
}

static inline uint16_t fg_tx_burst(struct rte_mbuf **tx, uint16_t n)
{
	uint16_t sent;

	fg_burst_enter();
	sent = rte_eth_tx_burst(FG_PORT_ID, 0, tx, n);
	fg_burst_leave();
	return sent;
}

static void fg_usage(FILE *f)
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

/* Parse the application's options; 0, 1 for --help, or -EINVAL after printing why. */
static int fg_parse_args(int argc, char **argv, struct fg_opts *o)
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
	if ((o->no_reply || o->echo) &&
		o->mix_pct[FG_MIX_REPEAT] + o->mix_pct[FG_MIX_BADTOKEN] + o->mix_pct[FG_MIX_MALFORMED] != 0) {
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

/* ---- ready deque ---- */

static inline void fg_ready_push_back(struct fg_ctx *g, uint32_t u)
{
	g->ready[(g->rhead + g->rlen) % g->rcap] = u;
	g->rlen++;
	g->users[u].state = FG_READY;
}

static inline void fg_ready_push_front(struct fg_ctx *g, uint32_t u)
{
	g->rhead = (g->rhead + g->rcap - 1) % g->rcap;
	g->ready[g->rhead] = u;
	g->rlen++;
	g->users[u].state = FG_READY;
}

static inline uint32_t fg_ready_pop(struct fg_ctx *g)
{
	uint32_t u = g->ready[g->rhead];

	g->rhead = (g->rhead + 1) % g->rcap;
	g->rlen--;
	return u;
}

/* ---- timeout FIFO ---- */

static int fg_tmo_push(struct fg_ctx *g, uint32_t u, uint64_t tsc)
{
	if (g->tlen == g->tcap) {
		uint64_t ncap = g->tcap * 2;
		struct fg_tmo *n = malloc(ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		for (uint64_t i = 0; i < g->tlen; i++)
			n[i] = g->tmo[(g->thead + i) & (g->tcap - 1)];
		free(g->tmo);
		g->tmo = n;
		g->tcap = ncap;
		g->thead = 0;
	}
	g->tmo[(g->thead + g->tlen) & (g->tcap - 1)] = (struct fg_tmo){.tsc = tsc, .user = u};
	g->tlen++;
	return 0;
}

/* Resend, at the front of the ready queue, every request older than --timeout-ms. */
static void fg_tmo_check(struct fg_ctx *g, uint64_t now)
{
	uint64_t limit = (uint64_t)g->o.timeout_ms * g->tsc_per_ms;

	while (g->tlen > 0) {
		struct fg_tmo *t = &g->tmo[g->thead];
		struct fg_user *us = &g->users[t->user];
		bool live = us->state == FG_OUT && us->send_tsc == t->tsc;

		if (live && now - t->tsc < limit)
			break;
		if (live) {
			g->outstanding--;
			g->st.lost++;
			fg_ready_push_front(g, t->user);
		}
		g->thead = (g->thead + 1) & (g->tcap - 1);
		g->tlen--;
	}
}

/* ---- wheel of delayed resends ---- */

static void fg_wheel_add(struct fg_ctx *g, uint32_t u, uint64_t now_ms, uint32_t delay_ms)
{
	uint32_t slot = (uint32_t)((now_ms + delay_ms) % FG_WHEEL_SLOTS);

	g->users[u].state = FG_WAIT;
	g->users[u].next = g->wheel[slot];
	g->wheel[slot] = u;
}

static void fg_wheel_drain(struct fg_ctx *g, uint64_t now_ms)
{
	for (; g->wheel_ms <= now_ms; g->wheel_ms++) {
		uint32_t slot = (uint32_t)(g->wheel_ms % FG_WHEEL_SLOTS);
		uint32_t u = g->wheel[slot];

		g->wheel[slot] = FG_NONE;
		while (u != FG_NONE) {
			uint32_t next = g->users[u].next;

			fg_ready_push_back(g, u);
			u = next;
		}
	}
}

/* ---- latency histogram ---- */

static inline uint32_t fg_hist_index(uint64_t ns)
{
	unsigned msb, shift;

	if (ns < FG_HIST_EXACT)
		return (uint32_t)ns;
	msb = 63 - (unsigned)__builtin_clzll(ns);
	shift = msb - FG_HIST_SUB_BITS;
	if (shift > FG_HIST_MAX_EXP)
		return FG_HIST_SIZE - 1;
	return FG_HIST_EXACT + (shift - 1) * (1u << FG_HIST_SUB_BITS) +
	       (uint32_t)((ns >> shift) - (1u << FG_HIST_SUB_BITS));
}

/* Lowest value of a bucket, in ns. */
static uint64_t fg_hist_value(uint32_t idx)
{
	uint32_t shift, sub;

	if (idx < FG_HIST_EXACT)
		return idx;
	shift = (idx - FG_HIST_EXACT) / (1u << FG_HIST_SUB_BITS) + 1;
	sub = (idx - FG_HIST_EXACT) % (1u << FG_HIST_SUB_BITS);
	return ((uint64_t)sub + (1u << FG_HIST_SUB_BITS)) << shift;
}

/* Value at quantile @p q (0..1] in ns, 0 if empty. */
static uint64_t fg_hist_quantile(const struct fg_ctx *g, uint64_t total, double q)
{
	uint64_t want, seen = 0;

	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (want == 0)
		want = 1;
	for (uint32_t i = 0; i < FG_HIST_SIZE; i++) {
		seen += g->hist[i];
		if (seen >= want) {
			uint64_t v = fg_hist_value(i);

			return v > g->lat_max_ns ? g->lat_max_ns : v;
		}
	}
	return g->lat_max_ns;
}

/* ---- frames ---- */

static uint16_t fg_eth_hdr(
	const struct fg_ctx *g, uint8_t *f, const struct rte_ether_addr *dst, uint16_t etype)
{
	uint16_t off = RTE_ETHER_HDR_LEN;

	memcpy(f, dst->addr_bytes, RTE_ETHER_ADDR_LEN);
	memcpy(f + 6, g->src_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	if (g->o.vlan != 0) {
		*(rte_be16_t *)(f + 12) = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		*(rte_be16_t *)(f + 14) = rte_cpu_to_be_16(g->o.vlan);
		*(rte_be16_t *)(f + 16) = rte_cpu_to_be_16(etype);
		off += 4;
	} else {
		*(rte_be16_t *)(f + 12) = rte_cpu_to_be_16(etype);
	}
	return off;
}

static int fg_send_arp(struct fg_ctx *g)
{
	struct rte_ether_addr bcast = {.addr_bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	struct rte_arp_hdr *arp;
	uint8_t *f;
	uint16_t off;

	if (m == NULL)
		return -ENOMEM;
	f = rte_pktmbuf_mtod(m, uint8_t *);
	off = fg_eth_hdr(g, f, &bcast, RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(f + off);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = g->src_mac;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(g->o.src_ip);
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = g->o.dst_ip;
	m->data_len = m->pkt_len = RTE_MAX((uint32_t)(off + sizeof(*arp)), 60u);
	if (fg_tx_burst(&m, 1) != 1) {
		rte_pktmbuf_free(m);
		return -EAGAIN;
	}
	return 0;
}

/* Is @p m the ARP reply for --dst-ip? Then store the sender's MAC. */
static bool fg_is_arp_reply(struct fg_ctx *g, struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	const struct rte_arp_hdr *arp;
	struct fs_frame_info info;

	if (fs_frame_classify_reply(f, len, &info) != FS_FRAME_ARP ||
		len < info.l3_off + sizeof(*arp))
		return false;
	arp = (const struct rte_arp_hdr *)(f + info.l3_off);
	if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REPLY) ||
		arp->arp_data.arp_sip != g->o.dst_ip)
		return false;
	g->o.dst_mac = arp->arp_data.arp_sha;
	return true;
}

static bool fg_link_up(void)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	return rte_eth_link_get_nowait(FG_PORT_ID, &link) == 0 &&
	       link.link_status == RTE_ETH_LINK_UP;
}

/*
 * Learn the dataplane's MAC: ARP every 100 ms. 0, -ETIMEDOUT after 5 s or at TSC @p deadline,
 * -ENOLINK if the link goes down, -EINTR on a signal.
 */
static int fg_arp_resolve(struct fg_ctx *g, uint64_t deadline)
{
	uint64_t start = rte_rdtsc(), last = 0;
	struct rte_mbuf *rx[FG_BURST];

	while (!fg_stop) {
		uint64_t now = rte_rdtsc();
		uint16_t n;
		bool found = false;

		if (now - start > FG_ARP_GIVEUP_MS * g->tsc_per_ms || now >= deadline)
			return -ETIMEDOUT;
		if (!fg_link_up())
			return -ENOLINK;
		if (last == 0 || now - last > FG_ARP_RETRY_MS * g->tsc_per_ms) {
			fg_send_arp(g);
			last = now;
		}
		n = fg_rx_burst(rx, FG_BURST);
		for (uint16_t i = 0; i < n; i++) {
			if (!found && fg_is_arp_reply(g, rx[i]))
				found = true;
			rte_pktmbuf_free(rx[i]);
		}
		if (found)
			return 0;
		rte_delay_us_sleep(100);
	}
	return -EINTR;
}

/* ---- claims ---- */

static inline uint64_t fg_request_id(uint32_t u, uint32_t claim_no)
{
	return (uint64_t)u << FG_REQID_CLAIM_BITS | claim_no;
}

/* --mix: the kind of user @p u's claim @p claim_no (the same every time it is built). */
static inline uint8_t fg_mix_kind(const struct fg_ctx *g, uint32_t u, uint32_t claim_no)
{
	uint32_t h = (uint32_t)(fs_mix64(fg_request_id(u, claim_no) + 1) % 100), lim = 0;

	for (uint8_t k = FG_MIX_REPEAT; k < FG_MIX__COUNT; k++) {
		lim += g->o.mix_pct[k];
		if (h < lim)
			return k;
	}
	return FG_MIX_NORMAL;
}

/* Write the request frame of user @p u's claim number @p claim_no, of kind @p kind, into @p m. */
static void fg_build(struct fg_ctx *g, struct rte_mbuf *m, uint32_t u, uint32_t claim_no,
	uint8_t kind)
{
	uint64_t rid = fg_request_id(u, claim_no);
	struct fs_fcp_req req = {
		.type = FS_FCP_CLAIM,
		.sale_id = g->o.sale,
		.user_id = kind == FG_MIX_REPEAT
				   ? g->o.mix_winner_base + fs_mix64(rid) % g->o.mix_winners
				   : g->o.user_base + u,
		.token_expiry = g->o.have_key ? g->o.token_expiry : 0,
		.node_id = g->o.node,
		.request_id = rid,
	};
	uint8_t payload[FS_FCP_LEN];
	uint32_t len, ip;
	uint16_t sport;

	if (g->o.src_ips != 0) {
		ip = g->o.src_ip + u % g->o.src_ips;
		sport = (uint16_t)(FG_SRC_PORT_BASE + (u / g->o.src_ips) % FG_USERS_PER_IP);
	} else {
		ip = g->o.src_ip + u / FG_USERS_PER_IP;
		sport = (uint16_t)(FG_SRC_PORT_BASE + u % FG_USERS_PER_IP);
	}
	fs_fcp_encode_req(&req, payload);
	if (g->o.have_key)
		fs_fcp_token(g->o.key, payload, payload + 24);
	if (kind == FG_MIX_BADTOKEN)
		payload[24] ^= 0x01;
	/* malformed: half wrong magic (a valid UDP datagram), half a broken UDP checksum */
	if (kind == FG_MIX_MALFORMED && (rid & 1) == 0)
		payload[0] ^= 0xff;
	len = fs_frame_build_request(rte_pktmbuf_mtod(m, uint8_t *), g->src_mac.addr_bytes,
		g->o.dst_mac.addr_bytes, g->o.vlan, rte_cpu_to_be_32(ip), g->o.dst_ip, sport,
		g->o.port, payload);
	m->data_len = m->pkt_len = len;
	if (kind == FG_MIX_MALFORMED && (rid & 1) != 0) {
		uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
		struct fs_frame_info info;
		unaligned_uint16_t *ck;

		/* our own frame (FS_FRAME_FCP): the UDP checksum sits just before the payload */
		(void)fs_frame_classify_reply(f, len, &info);
		ck = (unaligned_uint16_t *)(f + info.payload_off - 2);

		/* nonzero (0 means "no checksum") and unlike the right one */
		*ck = *ck == rte_cpu_to_be_16(0x1234) ? rte_cpu_to_be_16(0x4321)
						      : rte_cpu_to_be_16(0x1234);
	}
}

static void fg_claim_final(struct fg_ctx *g, uint32_t u);

/*
 * Fill the pending burst with up to @p room more due claims (the ready queue's, or with
 * --no-reply the next numbers), then offer at most @p can_send of it to the port. Frames the port
 * refuses stay pending (built once) for the next turn; a claim counts as sent, and its timer
 * starts, only when the port took it. Returns how many it took.
 */
static uint16_t fg_tx(struct fg_ctx *g, uint64_t room, uint64_t can_send, uint64_t now)
{
	uint64_t due = g->o.no_reply ? g->flood_total - g->flood_next : g->rlen;
	uint16_t add = (uint16_t)RTE_MIN(RTE_MIN(room, due), (uint64_t)(FG_BURST - g->npend));
	uint16_t offer, sent, unanswered = 0;

	if (add > 0 && rte_pktmbuf_alloc_bulk(g->pool, g->pend + g->npend, add) == 0) {
		for (uint16_t i = 0; i < add; i++) {
			uint32_t u;

			if (g->o.no_reply) {
				u = (uint32_t)(g->flood_next % g->o.users);
				fg_build(g, g->pend[g->npend + i], u,
					(uint32_t)(g->flood_next / g->o.users), FG_MIX_NORMAL);
				g->flood_next++;
				continue;
			}
			u = fg_ready_pop(g);
			g->pend_who[g->npend + i] = u;
			g->users[u].state = FG_PEND;
			g->users[u].kind = fg_mix_kind(g, u, g->users[u].claims_done);
			fg_build(g, g->pend[g->npend + i], u, g->users[u].claims_done,
				g->users[u].kind);
		}
		g->npend += add;
	}
	offer = (uint16_t)RTE_MIN((uint64_t)g->npend, can_send);
	if (offer == 0)
		return 0;
	sent = fg_tx_burst(g->pend, offer);
	for (uint16_t i = 0; i < sent && !g->o.no_reply; i++) {
		uint32_t u = g->pend_who[i];

		g->st.mix_sent[g->users[u].kind]++;
		if (g->users[u].kind == FG_MIX_MALFORMED) {
			/* no reply will come: final once sent, not in flight, never resent */
			unanswered++;
			fg_claim_final(g, u);
			continue;
		}
		g->users[u].state = FG_OUT;
		g->users[u].send_tsc = now;
		if (fg_tmo_push(g, u, now) != 0) {
			/* no memory for the timer: the claim would never be resent; stop cleanly */
			fprintf(stderr, "flashgen: out of memory for timeouts, stopping\n");
			fg_stop = 1;
		}
	}
	if (!g->o.no_reply)
		g->outstanding += sent - unanswered;
	g->st.sent += sent;
	g->st.tx_refused += offer - sent;
	if (sent > 0 && g->first_send == 0)
		g->first_send = now;
	if (sent > 0)
		g->last_send = now;
	if (sent > 0 && sent < g->npend) {
		memmove(g->pend, g->pend + sent, (g->npend - sent) * sizeof(g->pend[0]));
		memmove(g->pend_who, g->pend_who + sent,
			(g->npend - sent) * sizeof(g->pend_who[0]));
	}
	g->npend -= sent;
	return sent;
}

static void fg_claim_final(struct fg_ctx *g, uint32_t u)
{
	struct fg_user *us = &g->users[u];

	us->claims_done++;
	g->st.finished++;
	if (us->claims_done >= g->o.claims) {
		us->state = FG_DONE;
		g->users_done++;
	} else {
		fg_ready_push_back(g, u);
	}
}

static void fg_rx_one(struct fg_ctx *g, struct rte_mbuf *m, uint64_t now, uint64_t now_ms)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	struct fs_fcp_reply rep;
	struct fs_frame_info info;
	const uint8_t *p;
	uint64_t user_id, request_id, idx, ns;
	struct fg_user *us;
	bool decoded;

	switch (fs_frame_classify_reply(f, rte_pktmbuf_data_len(m), &info)) {
	case FS_FRAME_FCP:
		break;
	case FS_FRAME_ARP:
		return; /* ARP (a late answer to ours): not counted as unparsed */
	default:
		g->st.unparsed++;
		return;
	}
	p = f + info.payload_off;
	decoded = fs_fcp_decode_reply(p, FS_FCP_LEN, &rep) == 0;
	if (!decoded) {
		g->st.unparsed++;
		if (!g->o.echo)
			return;
		/* echo mode: a reflected request; user_id and request_id sit where a reply has them
		 */
		memset(&rep, 0, sizeof(rep));
		rep.user_id = rte_be_to_cpu_64(*(const unaligned_uint64_t *)(p + 8));
		rep.request_id = rte_be_to_cpu_64(*(const unaligned_uint64_t *)(p + 40));
	}
	user_id = rep.user_id;
	request_id = rep.request_id;
	idx = user_id - g->o.user_base;
	if (g->o.mix_winners != 0) /* a repeat's reply carries a winner's user id */
		idx = request_id >> FG_REQID_CLAIM_BITS;
	if ((g->o.mix_winners == 0 && user_id < g->o.user_base) || idx >= g->o.users) {
		g->st.stale++;
		return;
	}
	if (g->o.no_reply) {
		/* flood: nothing tracked, no latency; a WON is written as it comes */
		g->st.replies++;
		g->last_reply = now;
		if (!decoded)
			return;
		g->st.status[rep.status]++;
		if (rep.status == FS_ST_WON) {
			g->st.winners++;
			if (g->won != NULL)
				fprintf(g->won, "%" PRIu64 " %" PRIu64 "\n", user_id, rep.order_id);
		}
		return;
	}
	us = &g->users[idx];
	if (us->state != FG_OUT || request_id != fg_request_id((uint32_t)idx, us->claims_done)) {
		g->st.stale++;
		return;
	}
	ns = (uint64_t)((double)(now - us->send_tsc) * g->ns_per_tsc);
	g->hist[fg_hist_index(ns)]++;
	if (ns > g->lat_max_ns)
		g->lat_max_ns = ns;
	g->st.replies++;
	g->last_reply = now;
	g->outstanding--;
	if (!decoded) {
		fg_claim_final(g, (uint32_t)idx);
		return;
	}
	g->st.status[rep.status]++;
	switch (rep.status) {
	case FS_ST_NOT_STARTED:
	case FS_ST_RETRY:
	case FS_ST_RATE_LIMITED: {
		uint32_t d = RTE_MIN(rep.retry_after_ms, FG_RETRY_CAP_MS);

		fg_wheel_add(g, (uint32_t)idx, now_ms, d == 0 ? 1 : d);
		break;
	}
	case FS_ST_WON:
	case FS_ST_ALREADY_WON:
		/*
		 * A user's order is known from its WON, or from an ALREADY_WON when the WON reply
		 * was lost and the resend (same request_id) was answered ALREADY_WON.
		 */
		if (!us->holds && us->kind != FG_MIX_REPEAT) {
			us->holds = 1;
			g->st.winners++;
			if (g->won != NULL)
				fprintf(g->won, "%" PRIu64 " %" PRIu64 "\n", user_id, rep.order_id);
		}
		fg_claim_final(g, (uint32_t)idx);
		break;
	default:
		fg_claim_final(g, (uint32_t)idx);
		break;
	}
}

static double fg_seconds(const struct fg_ctx *g, uint64_t tsc)
{
	return (double)tsc / (double)g->hz;
}

static void fg_progress(struct fg_ctx *g, uint64_t now)
{
	fprintf(stderr,
		"progress elapsed_ms=%" PRIu64 " sent=%" PRIu64 " replies=%" PRIu64 " won=%" PRIu64
		"\n",
		(now - g->t0) / g->tsc_per_ms, g->st.sent, g->st.replies, g->st.status[FS_ST_WON]);
}

/*
 * After a disconnect every frame in flight or built is gone: put their claims back at the front
 * of the ready queue, oldest first, to be sent again with the same request_ids (the dataplane
 * answers a repeated request_id from its dedup, or ALREADY_WON). --no-reply: the built frames are
 * rebuilt (new MAC), the ones in flight are not resent.
 */
static void fg_requeue_all(struct fg_ctx *g)
{
	if (g->o.no_reply) {
		g->flood_next -= g->npend;
	} else {
		for (uint16_t i = g->npend; i-- > 0;)
			fg_ready_push_front(g, g->pend_who[i]);
		for (uint64_t i = g->tlen; i-- > 0;) {
			struct fg_tmo *t = &g->tmo[(g->thead + i) & (g->tcap - 1)];
			struct fg_user *us = &g->users[t->user];

			if (us->state != FG_OUT || us->send_tsc != t->tsc)
				continue; /* stale entry */
			g->outstanding--;
			g->st.requeued++;
			fg_ready_push_front(g, t->user);
		}
		g->thead = 0;
		g->tlen = 0;
	}
	rte_pktmbuf_free_bulk(g->pend, g->npend);
	g->npend = 0;
}

static void fg_intr_mark(void *arg)
{
	__atomic_store_n((bool *)arg, true, __ATOMIC_RELEASE);
}

/*
 * Wait until the EAL interrupt thread has finished the callback it is in: an alarm callback runs
 * on that thread, after it. The memif PMD marks the link down at the start of memif_disconnect()
 * on that thread; a port stop from the lcore while it runs would be a second memif_disconnect()
 * at the same time (both free the regions and the control channel: crashes, "Invalid memory").
 */
static void fg_intr_barrier(struct fg_ctx *g)
{
	static bool fired; /* static: a late alarm after a timeout writes here, not to a stack */
	uint64_t t = rte_rdtsc();

	__atomic_store_n(&fired, false, __ATOMIC_RELAXED);
	if (rte_eal_alarm_set(1, fg_intr_mark, &fired) != 0) {
		rte_delay_us_sleep(100000);
		return;
	}
	while (!__atomic_load_n(&fired, __ATOMIC_ACQUIRE) &&
		rte_rdtsc() - t < FG_RECONNECT_LINK_MS * g->tsc_per_ms)
		rte_delay_us_sleep(100);
	if (!__atomic_load_n(&fired, __ATOMIC_ACQUIRE))
		rte_eal_alarm_cancel(fg_intr_mark, &fired);
}

/*
 * The link went down (the memif server left; the memif client PMD never reconnects by itself):
 * restart the port every 100 ms until it connects and, unless --dst-mac, the dataplane answers
 * ARP again. 0, or -EINTR on a signal, -ETIMEDOUT at TSC @p deadline.
 */
static int fg_reconnect(struct fg_ctx *g, uint64_t deadline)
{
	int memif_log = rte_log_get_level(rte_log_register("pmd.net.memif"));
	uint64_t start = rte_rdtsc();
	unsigned tries = 0;
	int rc = -ETIMEDOUT;

	g->st.reconnects++;
	fprintf(stderr,
		"flashgen: link down after %" PRIu64 " ms, %" PRIu64 " claims in flight, "
		"reconnecting\n",
		(start - g->t0) / g->tsc_per_ms, g->outstanding + g->npend);
	fg_requeue_all(g);
	fg_intr_barrier(g);
	while (!fg_stop && rte_rdtsc() < deadline) {
		uint64_t t;

		/* "failed to connect socket" every 100 ms while the server is away: say it once */
		if (tries++ == 1 && memif_log >= 0)
			rte_log_set_level_pattern("pmd.net.memif*", RTE_LOG_CRIT);
		/* stop: memif_disconnect() (idle after the peer's); start: connect to the socket */
		if (g->port_started)
			rte_eth_dev_stop(FG_PORT_ID);
		g->port_started = rte_eth_dev_start(FG_PORT_ID) == 0;
		if (g->port_started) {
			t = rte_rdtsc();
			while (!fg_stop && !fg_link_up() &&
				rte_rdtsc() - t < FG_RECONNECT_LINK_MS * g->tsc_per_ms)
				rte_delay_us_sleep(1000);
			if (fg_link_up() &&
				(g->o.have_dst_mac || fg_arp_resolve(g, deadline) == 0)) {
				rc = 0;
				break;
			}
		}
		rte_delay_us_sleep(FG_RECONNECT_RETRY_MS * 1000);
	}
	if (memif_log >= 0)
		rte_log_set_level_pattern("pmd.net.memif*", (uint32_t)memif_log);
	if (rc == 0)
		fprintf(stderr,
			"flashgen: reconnected after %" PRIu64 " ms, %" PRIu64
			" claims in flight sent again\n",
			(rte_rdtsc() - start) / g->tsc_per_ms, g->st.requeued);
	return fg_stop ? -EINTR : rc;
}

/*
 * --line-rate: the line presents line_rate frames/s since line_t0 whatever the port does. Offer
 * the frames due since the last turn, a burst at a time, while the port takes whole bursts; once
 * it refuses (its ring is full), every frame still due this turn is dropped and counted, as a NIC
 * drops what arrives on a full RX ring. The dropped frames are not built (nobody would see them):
 * their claim numbers are skipped. Refused frames stay pending and go first next turn.
 */
static void fg_line_tx(struct fg_ctx *g, uint64_t now)
{
	uint64_t presented, due;

	if (g->line_t0 == 0)
		g->line_t0 = now;
	presented = (uint64_t)((unsigned __int128)(now - g->line_t0) * g->o.line_rate / g->hz);
	due = presented - g->line_offered;
	g->line_last = now;
	while (due > 0) {
		uint16_t want = (uint16_t)RTE_MIN(due, (uint64_t)FG_BURST);
		uint16_t sent = fg_tx(g, want, want, now);
		uint64_t left, drop;

		g->line_offered += sent;
		due -= sent;
		if (sent == want)
			continue;
		/* ring full, or every claim built: the rest of this turn's frames are lost */
		left = g->flood_total - g->flood_next;
		drop = RTE_MIN(due, left);
		g->flood_next += drop;
		g->st.line_dropped += drop;
		g->line_offered += due;
		break;
	}
}

/* Is the run over? Every claim final, or with --no-reply every claim sent --timeout-ms ago. */
static bool fg_done(const struct fg_ctx *g, uint64_t now)
{
	if (!g->o.no_reply)
		return g->users_done >= g->o.users;
	return g->flood_next == g->flood_total && g->npend == 0 &&
	       now - g->last_send >= (uint64_t)g->o.timeout_ms * g->tsc_per_ms;
}

/* The TX + RX loop: until every claim is final, --max-seconds, or a signal. */
static void fg_run(struct fg_ctx *g)
{
	uint64_t deadline = g->t0 + (uint64_t)g->o.max_seconds * g->hz;
	uint64_t next_progress = g->t0 + FG_PROGRESS_MS * g->tsc_per_ms;
	/* token bucket in units of 1/hz claims: tokens * hz <= burst * hz */
	uint64_t bucket = 0, bucket_max = 0, last_fill = g->t0;
	struct rte_mbuf *rx[FG_BURST];

	if (g->o.rate != 0) {
		/* up to 10 ms of sends at once: absorbs scheduling hiccups of a shared CPU */
		uint64_t burst = RTE_MAX(g->o.rate / 100, (uint64_t)FG_BURST);

		bucket_max = burst * g->hz;
		bucket = (uint64_t)FG_BURST * g->hz;
	}
	while (!fg_stop) {
		uint64_t now = rte_rdtsc();
		uint64_t now_ms = (now - g->t0) / g->tsc_per_ms;
		uint64_t busy, room, can_send;
		uint16_t n;

		if (fg_done(g, now) || now >= deadline)
			break;
		/* once a millisecond: has the link gone down (memif server gone)? */
		if (now_ms != g->link_ms) {
			g->link_ms = now_ms;
			if (!fg_link_up()) {
				if (fg_reconnect(g, deadline) != 0)
					break;
				continue;
			}
		}
		/* drain first: a delayed resend added below lands within the next 1000 slots */
		if (g->wheel_ms <= now_ms)
			fg_wheel_drain(g, now_ms);
		n = fg_rx_burst(rx, FG_BURST);
		for (uint16_t i = 0; i < n; i++)
			fg_rx_one(g, rx[i], now, now_ms);
		if (n > 0)
			rte_pktmbuf_free_bulk(rx, n);
		fg_tmo_check(g, now);

		if (g->o.no_reply) {
			room = FG_BURST; /* no window */
		} else {
			busy = g->outstanding + g->npend;
			room = busy < g->o.window ? g->o.window - busy : 0;
		}
		can_send = FG_BURST;
		if (g->o.rate != 0) {
			/* rate * dt fits 64 bits: rate < 2^32, dt bounded by bucket_max below */
			uint64_t dt = now - last_fill;

			last_fill = now;
			if (dt > bucket_max / g->o.rate + 1)
				bucket = bucket_max;
			else
				bucket = RTE_MIN(bucket + dt * g->o.rate, bucket_max);
			can_send = RTE_MIN(can_send, bucket / g->hz);
		}
		if (g->o.line_rate != 0) {
			if (g->flood_next < g->flood_total || g->npend > 0)
				fg_line_tx(g, now);
		} else if (room > 0 || g->npend > 0) {
			uint16_t s = fg_tx(g, room, can_send, now);

			if (g->o.rate != 0)
				bucket -= (uint64_t)s * g->hz;
		}
		if (now >= next_progress) {
			if (g->o.progress)
				fg_progress(g, now);
			next_progress += FG_PROGRESS_MS * g->tsc_per_ms;
			if (next_progress < now)
				next_progress = now + FG_PROGRESS_MS * g->tsc_per_ms;
		}
	}
}

static void fg_report(struct fg_ctx *g)
{
	static const char *const names[FS_ST__COUNT] = {
#define FS_X(v, n, s) [v] = #n,
		FS_FCP_STATUSES(FS_X)
#undef FS_X
	};
	uint64_t total = 0;
	double elapsed = 0;
	double q[4] = {0.5, 0.9, 0.99, 0.999};
	const char *qn[4] = {"p50_us", "p90_us", "p99_us", "p999_us"};

	for (uint32_t i = 0; i < FG_HIST_SIZE; i++)
		total += g->hist[i];
	if (g->first_send != 0 && g->last_reply > g->first_send)
		elapsed = fg_seconds(g, g->last_reply - g->first_send);
	printf("sent=%" PRIu64 "\n", g->st.sent);
	printf("replies=%" PRIu64 "\n", g->st.replies);
	printf("lost=%" PRIu64 "\n", g->st.lost);
	printf("claims_per_s=%.0f\n", elapsed > 0 ? (double)g->st.replies / elapsed : 0.0);
	printf("sends_per_s=%.0f\n",
		g->last_send > g->first_send
			? (double)g->st.sent / fg_seconds(g, g->last_send - g->first_send)
			: 0.0);
	for (int i = 0; i < 4; i++)
		printf("%s=%.1f\n", qn[i], (double)fg_hist_quantile(g, total, q[i]) / 1000.0);
	printf("max_us=%.1f\n", (double)g->lat_max_ns / 1000.0);
	printf("elapsed_s=%.6f\n", elapsed);
	for (unsigned s = 0; s < FS_ST__COUNT; s++) {
		char lower[32];
		size_t k;

		for (k = 0; names[s][k] != '\0' && k < sizeof(lower) - 1; k++)
			lower[k] = (char)tolower((unsigned char)names[s][k]);
		lower[k] = '\0';
		printf("%s=%" PRIu64 "\n", lower, g->st.status[s]);
	}
	printf("claims=%" PRIu64 "\n", g->o.users * g->o.claims);
	printf("reconnects=%" PRIu64 "\n", g->st.reconnects);
	printf("requeued=%" PRIu64 "\n", g->st.requeued);
	printf("finished=%" PRIu64 "\n", g->st.finished);
	printf("winners=%" PRIu64 "\n", g->st.winners);
	printf("unparsed=%" PRIu64 "\n", g->st.unparsed);
	printf("stale=%" PRIu64 "\n", g->st.stale);
	printf("tx_refused=%" PRIu64 "\n", g->st.tx_refused);
	printf("line_dropped=%" PRIu64 "\n", g->st.line_dropped);
	printf("offered_per_s=%.0f\n",
		g->line_last > g->line_t0
			? (double)(g->st.sent + g->st.line_dropped) /
				  fg_seconds(g, g->line_last - g->line_t0)
			: 0.0);
	printf("mix_repeat=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_REPEAT]);
	printf("mix_badtoken=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_BADTOKEN]);
	printf("mix_malformed=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_MALFORMED]);
	printf("complete=%d\n",
		g->o.no_reply ? g->flood_next == g->flood_total : g->users_done == g->o.users);
	fflush(stdout);
}

static int fg_port_init(struct fg_ctx *g)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_eth_link link;
	uint16_t nrx = FG_NB_DESC, ntx = FG_NB_DESC;
	int rc, socket = rte_eth_dev_socket_id(FG_PORT_ID);
	uint64_t start;

	if (socket < 0)
		socket = (int)rte_socket_id();
	rc = rte_eth_dev_info_get(FG_PORT_ID, &info);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_configure(FG_PORT_ID, 1, 1, &conf);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(FG_PORT_ID, &nrx, &ntx);
	if (rc != 0)
		return rc;
	rc = rte_eth_rx_queue_setup(FG_PORT_ID, 0, nrx, (unsigned)socket, NULL, g->pool);
	if (rc != 0)
		return rc;
	rc = rte_eth_tx_queue_setup(FG_PORT_ID, 0, ntx, (unsigned)socket, NULL);
	if (rc != 0)
		return rc;
	rc = rte_eth_dev_start(FG_PORT_ID);
	if (rc != 0)
		return -ENOLINK; /* net_memif client: the server socket is not there */
	g->port_started = true;
	rte_eth_promiscuous_enable(FG_PORT_ID);
	rc = rte_eth_macaddr_get(FG_PORT_ID, &g->src_mac);
	if (rc != 0)
		return rc;
	start = rte_rdtsc();
	do {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(FG_PORT_ID, &link);
		if (link.link_status == RTE_ETH_LINK_UP)
			return 0;
		rte_delay_us_sleep(10000);
	} while (!fg_stop && rte_rdtsc() - start < FG_LINK_WAIT_MS * g->tsc_per_ms);
	return -ENOLINK;
}

/* Find "--" in argv: the application's options follow it. */
static int fg_split_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return argc;
}

int main(int argc, char **argv)
{
	static struct fg_ctx ctx;
	struct fg_ctx *g = &ctx;
	int sep = fg_split_args(argc, argv);
	int rc, ret = FG_EXIT_SETUP;

	/* --help anywhere (before or after "--"): our usage, not EAL's, exit 0 */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fg_usage(stdout);
			return 0;
		}
	}

	/* usage first: bad options exit 2 without touching hugepages */
	{
		char *app_argv[argc - sep + 1];
		int app_argc = 0;

		app_argv[app_argc++] = argv[0];
		for (int i = sep + 1; i < argc; i++)
			app_argv[app_argc++] = argv[i];
		app_argv[app_argc] = NULL;
		rc = fg_parse_args(app_argc, app_argv, &g->o);
		if (rc == 1)
			return 0;
		if (rc != 0)
			return FG_EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "flashgen: sodium_init failed\n");
		return FG_EXIT_SETUP;
	}
	signal(SIGINT, fg_on_signal);
	signal(SIGTERM, fg_on_signal);
	fg_on_lcore = true; /* the main thread runs the loop */

	rc = rte_eal_init(sep, argv);
	if (rc < 0) {
		fprintf(stderr, "flashgen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return FG_EXIT_SETUP;
	}
	g->hz = rte_get_tsc_hz();
	g->tsc_per_ms = g->hz / 1000;
	g->ns_per_tsc = 1e9 / (double)g->hz;
	if (rte_eth_dev_count_avail() == 0 || !rte_eth_dev_is_valid_port(FG_PORT_ID)) {
		fprintf(stderr, "flashgen: no port 0 (give --vdev net_memif0,role=client,...)\n");
		goto out_eal;
	}
	g->pool = rte_pktmbuf_pool_create("fg_pool", FG_NB_MBUF, FG_MBUF_CACHE, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (g->pool == NULL) {
		fprintf(stderr, "flashgen: mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out_eal;
	}
	rc = fg_port_init(g);
	if (rc != 0) {
		if (rc == -ENOLINK)
			fprintf(stderr, "flashgen: port 0 not up (is the memif server running?)\n");
		else
			fprintf(stderr, "flashgen: port 0 set-up: %s\n", strerror(-rc));
		goto out_port;
	}

	/* --no-reply keeps no per-user state: 10 million users cost nothing */
	g->rcap = g->o.no_reply ? 1 : g->o.users + 1;
	g->users = calloc(g->o.no_reply ? 1 : g->o.users, sizeof(*g->users));
	g->ready = malloc(g->rcap * sizeof(*g->ready));
	g->tcap = 1u << 16;
	g->tmo = malloc(g->tcap * sizeof(*g->tmo));
	g->hist = calloc(FG_HIST_SIZE, sizeof(*g->hist));
	if (g->users == NULL || g->ready == NULL || g->tmo == NULL || g->hist == NULL) {
		fprintf(stderr, "flashgen: out of memory for %" PRIu64 " users\n", g->o.users);
		goto out_port;
	}
	for (uint32_t s = 0; s < FG_WHEEL_SLOTS; s++)
		g->wheel[s] = FG_NONE;
	g->flood_total = g->o.users * g->o.claims;
	for (uint64_t u = 0; !g->o.no_reply && u < g->o.users; u++)
		fg_ready_push_back(g, (uint32_t)u);
	if (g->o.won_file != NULL) {
		g->won = fopen(g->o.won_file, "w");
		if (g->won == NULL) {
			fprintf(stderr, "flashgen: %s: %s\n", g->o.won_file, strerror(errno));
			goto out_port;
		}
		setvbuf(g->won, NULL, _IOFBF, 1 << 20);
	}

	if (!g->o.have_dst_mac) {
		rc = fg_arp_resolve(g, UINT64_MAX);
		if (rc != 0) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &g->o.dst_ip, ip, sizeof(ip));
			fprintf(stderr, "flashgen: no ARP reply from %s within %d ms\n", ip,
				FG_ARP_GIVEUP_MS);
			goto out_port;
		}
	}
	g->t0 = rte_rdtsc();
	g->wheel_ms = 0;
	fg_run(g);
	rte_pktmbuf_free_bulk(g->pend, g->npend);
	g->npend = 0;
	if (g->o.progress)
		fg_progress(g, rte_rdtsc());
	fg_report(g);
	ret = 0;
	if (g->won != NULL && fclose(g->won) != 0) {
		fprintf(stderr, "flashgen: %s: %s\n", g->o.won_file, strerror(errno));
		ret = FG_EXIT_SETUP;
	}
	g->won = NULL;

out_port:
	if (g->won != NULL)
		fclose(g->won);
	if (g->port_started)
		rte_eth_dev_stop(FG_PORT_ID);
	rte_eth_dev_close(FG_PORT_ID);
	free(g->users);
	free(g->ready);
	free(g->tmo);
	free(g->hist);
out_eal:
	/*
	 * Everything is printed and the port closed. No rte_eal_cleanup() and no exit handlers:
	 * in DPDK 22.11 the EAL interrupt thread keeps running through them and touches interrupt
	 * handles they free (a segmentation fault at exit, seen after a memif peer left).
	 */
	fflush(stdout);
	fflush(stderr);
	_exit(ret);
}
