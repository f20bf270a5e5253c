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

#include "capture.h"
#include "gen.h"
#include "histogram.h"
#include "net.h"
#include "options.h"
#include "replay.h"
#include "report.h"
#include "run.h"
#include "schedule.h"
#include "unmap_guard.h"
#include "version.h"

#define FG_EXIT_SETUP 1	   /* set-up failed (EAL, port, ARP, memory, --won-file) */
#define FG_EXIT_USAGE 2	   /* bad options */
#define FG_EXIT_HELP (-1)  /* fg_options: --help was answered, exit 0 */
#define FG_EXIT_SIGNAL 128 /* + the signal's number: stopped by SIGINT (130) or SIGTERM (143) */
#define FG_NB_MBUF 16383   /* the mbuf pool: 2^n - 1 (DPDK's advice for a mempool) */
#define FG_MBUF_CACHE 256  /* per-lcore mbuf cache */

volatile sig_atomic_t fg_stop;
volatile sig_atomic_t fg_signal;

/* SIGINT, SIGTERM: stop the run (the report follows); the handler is reset, a second one kills. */
static void fg_on_signal(int sig)
{
	if (fg_signal == 0)
		fg_signal = sig;
	fg_stop = 1;
}

static void fg_signals(void)
{
	struct sigaction sa = {.sa_handler = fg_on_signal, .sa_flags = SA_RESETHAND};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Find "--" in argv: the application's options follow it. */
static int fg_split_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return argc;
}

/*
 * The application's options (after argv[@p sep], "--"), before EAL, so that bad options exit 2
 * without touching hugepages; --help anywhere (before or after "--") is our usage, not EAL's.
 * 0 to go on, FG_EXIT_HELP after --help (exit 0), or FG_EXIT_USAGE.
 */
static int fg_options(int argc, char **argv, int sep, struct fg_opts *o)
{
	char *app_argv[argc - sep + 1];
	int app_argc = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fg_usage(stdout);
			return FG_EXIT_HELP;
		}
	}
	app_argv[app_argc++] = argv[0];
	for (int i = sep + 1; i < argc; i++)
		app_argv[app_argc++] = argv[i];
	app_argv[app_argc] = NULL;
	rc = fg_parse_args(app_argc, app_argv, o);
	if (rc == 1)
		return FG_EXIT_HELP;
	return rc != 0 ? FG_EXIT_USAGE : 0;
}

/* Open @p path for writing into *@p f (fully buffered); 0, or -1 after one line to stderr. */
static int fg_open_file(const char *path, FILE **f)
{
	*f = fopen(path, "w");
	if (*f == NULL) {
		fprintf(stderr, "flashgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	setvbuf(*f, NULL, _IOFBF, 1 << 20);
	return 0;
}

/* The output files, before the run: --won-file, --hist-out, --pcap-out. 0 or -1 (said why). */
static int fg_open_outputs(struct fg_ctx *g)
{
	if (g->o.won_file != NULL && fg_open_file(g->o.won_file, &g->won) != 0)
		return -1;
	if (g->o.hist_out != NULL && fg_open_file(g->o.hist_out, &g->hist) != 0)
		return -1;
	if (g->o.json_out != NULL && fg_open_file(g->o.json_out, &g->json) != 0)
		return -1;
	if (g->o.pcap_out != NULL && fg_capture_open(g) != 0)
		return -1;
	return 0;
}

/*
 * Set-up once EAL is up, after the mbuf pool: the port, the schedule and histogram, the
 * output files, the dataplane's MAC, --pcap-in's other frames. 0, or -1 after one line to stderr
 * saying why.
 */
static int fg_setup(struct fg_ctx *g)
{
	int rc = fg_port_init(g);

	if (rc != 0) {
		if (rc == -ENOLINK)
			fprintf(stderr, "flashgen: port 0 not up (is the memif server running?)\n");
		else
			fprintf(stderr, "flashgen: port 0 set-up: %s\n", strerror(-rc));
		return -1;
	}
	if (fg_sched_init(g) != 0 || fg_hist_init(&g->lat) != 0) {
		fprintf(stderr, "flashgen: out of memory for %" PRIu64 " users\n", g->o.users);
		return -1;
	}
	g->flood_total = g->o.users * g->o.claims;
	if (fg_open_outputs(g) != 0)
		return -1;
	rc = g->o.have_dst_mac ? 0 : fg_arp_resolve(g, UINT64_MAX);
	if (rc != 0) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &g->o.dst_ip, ip, sizeof(ip));
		if (rc == -EINTR)
			fprintf(stderr, "flashgen: stopped by a signal while waiting for ARP\n");
		else
			fprintf(stderr, "flashgen: no ARP reply from %s within %d ms\n", ip,
				FG_ARP_GIVEUP_MS);
		return -1;
	}
	if (g->rp != NULL)
		fg_replay_send_other(g); /* --pcap-in: the frames that are not claims, first */
	return 0;
}

/* Close @p f (if open), opened for --NAME @p path; false after one line to stderr if it failed. */
static bool fg_close_file(FILE **f, const char *path)
{
	bool ok = *f == NULL || fclose(*f) == 0;

	if (!ok)
		fprintf(stderr, "flashgen: %s: %s\n", path, strerror(errno));
	*f = NULL;
	return ok;
}

/*
 * The run, its report and the files written after it; the exit code: FG_EXIT_SETUP if the report
 * or a file could not be written (else 0; main turns it into 128 + N after signal N).
 */
static int fg_run_report(struct fg_ctx *g)
{
	bool ok;

	g->t0 = rte_rdtsc();
	fg_run(g);
	rte_pktmbuf_free_bulk(g->pend, g->npend);
	g->npend = 0;
	if (g->o.progress)
		fg_progress(g, rte_rdtsc());
	ok = fg_report(g) == 0;
	if (g->hist != NULL && fg_hist_write_hgrm(&g->lat, g->hist, 1000.0) != 0)
		ok = false; /* fclose below says why */
	ok = fg_close_file(&g->hist, g->o.hist_out) && ok;
	ok = fg_close_file(&g->json, g->o.json_out) && ok;
	ok = fg_capture_close(g) == 0 && ok;
	ok = fg_close_file(&g->won, g->o.won_file) && ok;
	return ok ? 0 : FG_EXIT_SETUP;
}

/* Close what fg_setup opened, whatever it got to: the --won-file, the port, the memory. */
static void fg_teardown(struct fg_ctx *g)
{
	if (g->won != NULL)
		fclose(g->won);
	if (g->hist != NULL)
		fclose(g->hist);
	if (g->json != NULL)
		fclose(g->json);
	g->won = g->hist = g->json = NULL;
	fg_capture_close(g);
	if (g->port_started)
		rte_eth_dev_stop(FG_PORT_ID);
	rte_eth_dev_close(FG_PORT_ID);
	fg_sched_free(g);
	fg_hist_free(&g->lat);
}

/* After rte_eal_init: the TSC rates, the mbuf pool, set-up, run, report; the exit code. */
static int fg_main_eal(struct fg_ctx *g)
{
	int ret = FG_EXIT_SETUP;

	g->hz = rte_get_tsc_hz();
	g->tsc_per_ms = g->hz / 1000;
	g->ns_per_tsc = 1e9 / (double)g->hz;
	if (rte_eth_dev_count_avail() == 0 || !rte_eth_dev_is_valid_port(FG_PORT_ID)) {
		fprintf(stderr, "flashgen: no port 0 (give --vdev net_memif0,role=client,...)\n");
		return FG_EXIT_SETUP;
	}
	g->pool = rte_pktmbuf_pool_create("fg_pool", FG_NB_MBUF, FG_MBUF_CACHE, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (g->pool == NULL) {
		fprintf(stderr, "flashgen: mbuf pool: %s\n", rte_strerror(rte_errno));
		return FG_EXIT_SETUP;
	}
	if (fg_setup(g) == 0)
		ret = fg_run_report(g);
	fg_teardown(g);
	return ret;
}

int main(int argc, char **argv)
{
	static struct fg_ctx ctx;
	int sep = fg_split_args(argc, argv);
	int ret;

	if (fs_version_asked(argc, argv)) { /* anywhere, before EAL: no hugepages needed */
		fs_version_print("flashgen");
		return 0;
	}
	ret = fg_options(argc, argv, sep, &ctx.o);
	if (ret != 0)
		return ret == FG_EXIT_HELP ? 0 : ret;
	if (sodium_init() < 0) {
		fprintf(stderr, "flashgen: sodium_init failed\n");
		return FG_EXIT_SETUP;
	}
	if (ctx.o.pcap_in != NULL && fg_replay_load(&ctx) != 0)
		return FG_EXIT_SETUP; /* before EAL: a bad file costs no hugepages */
	fg_signals();
	if (rte_eal_init(sep, argv) < 0) {
		fprintf(stderr, "flashgen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return FG_EXIT_SETUP;
	}
	/* the memif unmap guard (unmap_guard.c): the main thread runs the loop, reader 0, online
	 * only inside a burst (fg_burst) */
	ret = fs_unmap_guard_init(1);
	if (ret != 0) {
		fprintf(stderr, "flashgen: the unmap guard is not in effect: %s\n",
			ret == -ENOSYS ? "munmap() is libc's (link with "
					 "-Wl,--export-dynamic-symbol=munmap)"
				       : strerror(-ret));
		return FG_EXIT_SETUP;
	}
	fs_unmap_guard_register(FG_GUARD_READER, false);
	ret = fg_main_eal(&ctx);
	fg_replay_free(&ctx);
	if (fg_signal != 0)
		ret = FG_EXIT_SIGNAL + fg_signal;
	/*
	 * Everything is printed and the port closed. No rte_eal_cleanup() and no exit handlers:
	 * in DPDK 22.11 the EAL interrupt thread keeps running through them and touches interrupt
	 * handles they free (a segmentation fault at exit, seen after a memif peer left).
	 */
	fflush(stdout);
	fflush(stderr);
	_exit(ret);
}
