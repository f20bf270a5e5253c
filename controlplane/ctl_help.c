/* flashctl's per-command --help: each sub-command's usage and options. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flashctl.h"

#define HELP "  --help          this text\n"
#define COMMON                                                                                     \
	"  --json          print one JSON object instead of key=value lines (HACKING.md)\n" HELP
#define TIMES                                                                                      \
	"T: unix ms, now, +90s / +500ms / +10m / +2h / +1d from now, or ISO 8601 with its "        \
	"offset\n"                                                                                 \
	"   (2026-12-24T12:00:00Z, 2026-12-24T13:00:00.250+01:00).\n"

static const struct {
	const char *cmd;
	const char *text;
} helps[] = {
	{"sale create",
		"usage: flashctl sale create --sale N --stock S --start T --end T [options]\n"
		"Define sale N in Redis (the daemons load it into their dataplanes).\n"
		"  --sale N        the sale id (0..4294967295; a deleted id is refused)\n"
		"  --stock S       units for sale (1..100000000)\n"
		"  --start T       when claims open; not in the past unless --start-in-past\n"
		"  --end T         when claims close (after --start, not passed)\n"
		"  --start-in-past open the sale at once when --start has passed\n"
		"  --admission A   open (default) or token (a random token key is made)\n"
		"  --rate-limit R  claims/s per source (0..1000000, 0: none)\n"
		"  --rate-burst B  bucket size (1..65535, default R; needs --rate-limit)\n"
		"  --hold DURATION a won order waits DURATION for its payment (1500ms, 30s, 10m, "
		"2h;\n"
		"                  at most 168h; 0 or absent: a won order is final)\n" COMMON
			TIMES},
	{"sale rekey", "usage: flashctl sale rekey --sale N [--grace-s 60]\n"
		       "A new random token key; the old one stays valid --grace-s more seconds.\n"
		       "  --sale N        the sale id\n"
		       "  --grace-s S     seconds the old key stays valid (0..604800, default "
		       "60)\n" COMMON},
	{"sale status",
		"usage: flashctl sale status --sale N [--pg URL]\n"
		"Redis's view of sale N (a line per node: its lease, sold, unsold, last "
		"report),\nthen the dataplane's (dp_*, with --dp), then PostgreSQL's.\n"
		"  --sale N        the sale id\n"
		"  --pg URL        also orders by status, returns, re-sold, a line per node (a "
		"libpq URL)\n" COMMON},
	{"sale stop", "usage: flashctl sale stop --sale N\n"
		      "Stop sale N in Redis (and on the dataplane at once with --dp).\n"
		      "  --sale N        the sale id\n" COMMON},
	{"sale delete", "usage: flashctl sale delete --sale N\n"
			"Delete an ended, stopped or sold-out sale (its id is never reused).\n"
			"  --sale N        the sale id\n" COMMON},
	{"sale list", "usage: flashctl sale list\n"
		      "The ids of the sales in Redis.\n" COMMON},
	{"token",
		"usage: flashctl token --sale N --user U [--expiry E] [--node K]\n"
		"An admission token for user U of a token sale (its key from Redis).\n"
		"  --sale N        the sale id\n"
		"  --user U        the user id (u64)\n"
		"  --expiry E      unix seconds, or a time T (default: the sale's end)\n"
		"  --node K        the node id the token is for (0: any; 0..65535)\n" COMMON TIMES},
	{"stats", "usage: flashctl --dp PREFIX stats\n"
		  "The dataplane's counters (/flashsale/stats).\n" COMMON},
	{"node list",
		"usage: flashctl node list\n"
		"The nodes of fs:nodes (alive, last report, rate), then each node's lease and\n"
		"sold count of each sale it has a part in.\n" COMMON},
	{"node forget",
		"usage: flashctl node forget --node N [--pg URL]\n"
		"Release a node gone for good: its unsold leased units back to each sale's\n"
		"pool, once, from its last totals in PostgreSQL; its daemon refused from then\n"
		"on. Refused (exit 1, nothing changed) while its daemon is alive.\n"
		"  --node N        the node id (1..65535)\n"
		"  --pg URL        PostgreSQL (default $PG_URL)\n" COMMON},
	{"daemon", "usage: flashctl --dp PREFIX daemon [options]\n"
		   "Lease Redis's stock to this node, sync the dataplane, publish totals, until "
		   "SIGTERM.\n"
		   "  --interval-ms MS      tick period (1..3600000, default 100)\n"
		   "  --redis-timeout-ms MS Redis connect and command timeout (10..600000, default "
		   "2000)\n"
		   "  --dp-timeout-ms MS    dataplane timeout (10..600000, default 2000)\n"
		   "  --pg URL              service holds (sweep, returns, releases, hold state)\n"
		   "  --pg-timeout-ms MS    PostgreSQL timeout (10..600000, default 2000)\n"
		   "  --lease-min N         smallest chunk leased (1..100000000, default 64)\n"
		   "  --lease-max N         largest chunk (0..100000000; 0, default: the sale's "
		   "stock / 4)\n"
		   "  --json          one JSON object per log line on stdout (JSON lines)\n"
		   "  --help          this text\n"},
	{"order pay",
		"usage: flashctl order pay --sale N (--order ID | --user U) [--pg URL]\n"
		"Take the payment of a held order. Exit 0 paid, 3 already_paid, 6 cancelled,\n"
		"7 expired, 8 not_held, 9 unknown, 1 error, 2 bad usage.\n"
		"  --sale N        the sale id\n"
		"  --order ID      the order id (decimal, or 0x and 1..16 hex digits)\n"
		"  --user U        the user's order instead\n"
		"  --pg URL        PostgreSQL (default $PG_URL)\n" COMMON},
	{"order cancel",
		"usage: flashctl order cancel --sale N (--order ID | --user U) [--pg URL]\n"
		"Cancel a held order (its unit goes back on sale). Exit 0 cancelled,\n"
		"4 already_cancelled, 5 paid, 7 expired, 8 not_held, 9 unknown, 1 error, 2 bad "
		"usage.\n"
		"  --sale N        the sale id\n"
		"  --order ID      the order id (decimal, or 0x and 1..16 hex digits)\n"
		"  --user U        the user's order instead\n"
		"  --pg URL        PostgreSQL (default $PG_URL)\n" COMMON},
	{"order show", "usage: flashctl order show --sale N (--order ID | --user U) [--pg URL]\n"
		       "An order's fields. Exit 0 found, 9 unknown, 1 error, 2 bad usage.\n"
		       "  --sale N        the sale id\n"
		       "  --order ID      the order id (decimal, or 0x and 1..16 hex digits)\n"
		       "  --user U        the user's order instead\n"
		       "  --pg URL        PostgreSQL (default $PG_URL)\n" COMMON},
	{"sweep", "usage: flashctl sweep [--batch 1000] [--until-empty] [--pg URL]\n"
		  "Expire the holds that are due (flashsale.expire_due).\n"
		  "  --batch N       rows per call (1..1000000, default 1000)\n"
		  "  --until-empty   call again until a call expires fewer than N\n"
		  "  --pg URL        PostgreSQL (default $PG_URL)\n" COMMON},
	{"audit", "usage: flashctl audit --sale N [options]\n"
		  "Compare the sale's journals, dataplane (--dp), PostgreSQL and Redis, and each\n"
		  "node's figures (a line per node). Exit 0 consistent, 1 drift, 2 bad usage.\n"
		  "  --sale N        the sale id\n"
		  "  --state-dir DIR the dataplane's journals\n"
		  "  --pg URL        PostgreSQL\n"
		  "  --won-file FILE flashgen's won orders (needs --pg or --state-dir)\n"
		  "  --wait-s S      how long drift that can settle may take (0..3600, default "
		  "10)\n" COMMON},
	{"metrics",
		"usage: flashctl --dp PREFIX metrics [options]\n"
		"Serve the node's flashsale_* metrics over HTTP (GET /metrics, Prometheus text\n"
		"format) until SIGINT or SIGTERM.\n"
		"  --listen ADDR:PORT  where to listen ([ADDR6]:PORT too; default "
		"127.0.0.1:9108)\n"
		"  --pg URL            also persist's checkpoints and lag from PostgreSQL\n"
		"  --once              print one scrape on stdout and exit\n"
		"  --timeout-ms MS     dataplane and PostgreSQL timeout (10..600000, default "
		"2000)\n" HELP},
	{"watch", "usage: flashctl --dp PREFIX watch [options]\n"
		  "The node live: per sale its state, sold, remaining, claims and replies per "
		  "second;\n"
		  "drops per second, persist's lag (--pg). Redrawn in place on a terminal, else\n"
		  "key=value lines; --json: one JSON object a line (the node, then each sale).\n"
		  "  --sale N         only sale N\n"
		  "  --interval-ms MS between reads (100..3600000, default 1000)\n"
		  "  --count N        stop after N reads (1..4294967295; default: until killed)\n"
		  "  --pg URL         also persist's lag from PostgreSQL\n"
		  "  --json           JSON lines (on a terminal too)\n" HELP},
};

void fs_ctl_help(const char *group, const char *cmd)
{
	char name[64];
	size_t glen = strlen(group);
	bool any = false;

	snprintf(name, sizeof(name), "%s%s", group, cmd);
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		/* "sale create": that command; "sale ": every sale sub-command */
		if (strcmp(helps[i].cmd, name) == 0 ||
			(*cmd == '\0' && strncmp(helps[i].cmd, group, glen) == 0)) {
			fputs(any ? "\n" : "", stdout);
			fputs(helps[i].text, stdout);
			any = true;
		}
	}
	if (!any)
		printf("usage: flashctl %s [--json] [--help]\n", name);
	fflush(stdout);
}
