/* flashgen: DPDK generator of FCP claims for performance runs (HACKING.md, gen/README.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sodium.h>

#include "gen.h"
#include "histogram.h"
#include "memif_guard.h"
#include "net.h"
#include "options.h"
#include "report.h"
#include "run.h"
#include "schedule.h"

#define FG_EXIT_SETUP 1
#define FG_EXIT_USAGE 2
#define FG_NB_MBUF 16383
#define FG_MBUF_CACHE 256

volatile sig_atomic_t fg_stop;

static void fg_on_signal(int sig)
{
	(void)sig;
	fg_stop = 1;
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

	if (fg_sched_init(g) != 0 || fg_hist_init(&g->lat) != 0) {
		fprintf(stderr, "flashgen: out of memory for %" PRIu64 " users\n", g->o.users);
		goto out_port;
	}
	g->flood_total = g->o.users * g->o.claims;
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
	fg_sched_free(g);
	fg_hist_free(&g->lat);
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
