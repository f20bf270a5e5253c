/*
 * flashsale-dp: EAL, arguments, recovery, ports, telemetry, packet capture, worker launch and
 * orderly shutdown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pdump.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "conf.h"
#include "fcp.h"
#include "gcommit.h"
#include "hugefiles.h"
#include "journal.h"
#include "log.h"
#include "logtime.h"
#include "parse.h"
#include "port.h"
#include "ratelimit.h"
#include "sale.h"
#include "statedir.h"
#include "strtok.h"
#include "telemetry.h"
#include "unmap_guard.h"
#include "verify.h"
#include "version.h"
#include "worker.h"

#define PROG "flashsale-dp"

/* Journal pages faulted in ahead of each worker: every 5 ms, the next 4 MiB (65,536 records:
 * 80 ms of a worker answering WON at 800k/s, 5 ms at 13 M/s), a few pages per turn
 * (fs_journal_tend); a turn that left pages for the next comes 100 us after it instead. */
#define FS_PREFAULT_MS 5
#define FS_PREFAULT_BEHIND_US 100
#define FS_PREFAULT_BYTES ((size_t)4 << 20)

/** Application options (after `--`). */
struct dp_opts {
	const char *addr_str;
	uint32_t addr; /* network byte order */
	uint16_t udp_port;
	uint16_t node_id;
	const char *state_dir;
	bool journal_fsync;
	long group_interval_us; /* --group-interval-us: µs (fsync only), -1 = not given */
	uint32_t rl_rate;  /* --rate-limit: claims/s per source, 0 = off */
	uint32_t rl_burst; /* --rate-burst: claims; 0 = as many as the rate (at least 1) */
};

/* The options after `--`, also the keys of the config file's [dataplane] section. */
static const struct option longopts[] = {
	{"addr", required_argument, NULL, 'a'},
	{"port", required_argument, NULL, 'p'},
	{"node-id", required_argument, NULL, 'n'},
	{"state-dir", required_argument, NULL, 's'},
	{"journal-sync", required_argument, NULL, 'j'},
	{"group-interval-us", required_argument, NULL, 'G'},
	{"rate-burst", required_argument, NULL, 'B'},
	{"rate-limit", required_argument, NULL, 'R'},
	{NULL, 0, NULL, 0},
};

static volatile sig_atomic_t quit_signal;

static struct fs_sale_table table;
static struct fs_worker workers[FS_MAX_WORKERS];
static struct fs_port ports[FS_MAX_PORTS];
static struct fs_ratelimit limiters[FS_MAX_WORKERS];

static void on_signal(int sig)
{
	quit_signal = sig;
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (usage: " PROG " [EAL options] -- [--config FILE] --addr A.B.C.D "
			"--state-dir DIR [--port 7777] [--node-id 1] [--journal-sync none|fsync] "
			"[--group-interval-us 500] [--rate-limit RATE] [--rate-burst N])\n");
	rte_eal_cleanup();
	exit(2);
}

static unsigned long parse_ulong(
	const char *name, const char *s, unsigned long min, unsigned long max)
{
	uint64_t v;

	if (fs_parse_u64(s, min, max, &v) < 0)
		usage_error(name, s);
	return (unsigned long)v;
}

static void parse_args(int argc, char **argv, struct dp_opts *o)
{
	struct in_addr in;
	int c;

	memset(o, 0, sizeof(*o));
	o->udp_port = FS_FCP_PORT;
	o->node_id = 1;
	o->group_interval_us = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &in) != 1)
				usage_error("bad --addr '%s'", optarg);
			o->addr = in.s_addr;
			o->addr_str = optarg;
			break;
		case 'p':
			o->udp_port = (uint16_t)parse_ulong("bad --port '%s'", optarg, 1, 65535);
			break;
		case 'n':
			o->node_id = (uint16_t)parse_ulong("bad --node-id '%s'", optarg, 1, 65535);
			break;
		case 's':
			if (optarg[0] == '\0')
				usage_error("empty --state-dir%s", "");
			o->state_dir = optarg;
			break;
		case 'j':
			if (strcmp(optarg, "fsync") == 0)
				o->journal_fsync = true;
			else if (strcmp(optarg, "none") == 0)
				o->journal_fsync = false;
			else
				usage_error("bad --journal-sync '%s' (none or fsync)", optarg);
			break;
		case 'G':
			o->group_interval_us = (long)parse_ulong(
				"bad --group-interval-us '%s' (0..100000 microseconds)", optarg, 0,
				FS_GCOMMIT_INTERVAL_US_MAX);
			break;
		case 'R':
			o->rl_rate =
				(uint32_t)parse_ulong("bad --rate-limit '%s' (0..1000000 claims/s)",
					optarg, 0, FS_RL_RATE_MAX);
			break;
		case 'B':
			o->rl_burst = (uint32_t)parse_ulong(
				"bad --rate-burst '%s' (1..65535)", optarg, 1, FS_RL_BURST_MAX);
			break;
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o->addr_str == NULL)
		usage_error("--addr is required%s", "");
	if (o->state_dir == NULL)
		usage_error("--state-dir is required%s", "");
	if (o->group_interval_us >= 0 && !o->journal_fsync)
		usage_error("--group-interval-us needs --journal-sync fsync%s", "");
	if (o->group_interval_us < 0)
		o->group_interval_us = FS_GCOMMIT_INTERVAL_US;
	if (o->rl_burst == 0)
		o->rl_burst = o->rl_rate == 0 ? 1 : o->rl_rate;
	if (o->rl_burst > FS_RL_BURST_MAX)
		o->rl_burst = FS_RL_BURST_MAX;
}

/*
 * Start-up failure: one line "flashsale-dp: ..." on stderr (rte_exit prints two), exit 1.
 * Start-up only (EAL initialised).
 */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	rte_eal_cleanup();
	exit(EXIT_FAILURE);
}

/* Re-anchor the workers' clock (fs_clock_sync); a step of the system clock is logged. */
static void clock_sync(void)
{
	int ret = fs_clock_sync();

	if (ret == 1)
		FS_LOG(NOTICE, "system clock stepped by %+.3f ms: followed",
			(double)fs_clock_dp.last_offset_ns / 1e6);
	else if (ret < 0)
		FS_LOG(ERR, "clock anchor failed: %s", strerror(-ret));
}

/*
 * Can we create files in @p dir? (root ignores mode bits, but not a read-only mount.) Returns 0
 * or -errno.
 */
static int check_writable(const char *dir)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.flashsale-dp-probe", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	unlink(path);
	return 0;
}

/*
 * The state directory, or exit: created (parents too), refused unless ours and writable by us
 * alone (it holds the token keys), made 0700 with its files 0600, and writable.
 */
static void state_dir_setup(const char *dir)
{
	char why[512];
	int ret;

	ret = fs_statedir_make(dir);
	if (ret != 0)
		die("cannot create state dir %s: %s", dir, strerror(-ret));
	if (fs_statedir_secure(dir, why, sizeof(why)) != 0)
		die("%s", why);
	/* refuse to start rather than answer RETRY to every claim for want of a journal */
	ret = check_writable(dir);
	if (ret != 0)
		die("state dir %s is not writable: %s", dir, strerror(-ret));
}

/*
 * Packet capture by a secondary process (dpdk-dumpcap, HACKING.md): DPDK's pdump server answers
 * its requests (multi-process IPC); RX/TX callbacks exist only while a capture runs. Without it
 * the node still serves claims: a warning, not an exit. Start-up only (EAL initialised).
 */
static void capture_init(void)
{
	if (rte_pdump_init() != 0)
		FS_LOG(WARNING, "packet capture unavailable: rte_pdump_init: %s",
			rte_strerror(rte_errno));
}

/*
 * One worker per worker lcore, each with its journal and its queues of the @p n_ports ports;
 * every worker sees all @p n_workers journals (fs_claim's durability check, claim.h).
 */
static void launch_workers(const struct dp_opts *opt, struct fs_journal *const journals[],
	unsigned n_workers, unsigned n_ports)
{
	unsigned w = 0, lcore;
	int ret;

	if (opt->journal_fsync) {
		ret = fs_gcommit_start(journals, n_workers, (unsigned)opt->group_interval_us);
		if (ret != 0)
			rte_exit(EXIT_FAILURE, "cannot start the group-commit thread: %s\n",
				strerror(-ret));
	}
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		struct fs_worker *wk = &workers[w];

		FS_VERIFY(w < n_workers); /* rte_lcore_count() - 1 worker lcores */
		wk->table = &table;
		wk->journal = journals[w];
		wk->journal_fsync = opt->journal_fsync;
		if (opt->journal_fsync) {
			wk->held = calloc(1, sizeof(*wk->held)); /* its WONs until durable */
			if (wk->held == NULL)
				rte_exit(EXIT_FAILURE, "cannot allocate worker %u's WON ring\n", w);
		}
		wk->lcore_id = lcore;
		wk->env.node_id = opt->node_id;
		wk->env.worker = (uint8_t)w;
		wk->env.journal = journals[w];
		wk->env.journals = journals;
		wk->env.n_journals = n_workers;
		wk->env.cnt = wk->stats.cnt;
		wk->env.rl = &limiters[w];
		fs_worker_assign(wk, w, ports, n_ports);
		ret = rte_eal_remote_launch(fs_worker_main, wk, lcore);
		if (ret != 0)
			rte_exit(EXIT_FAILURE, "cannot launch worker %u on lcore %u\n", w, lcore);
		w++;
	}
}

/*
 * EAL, the options after `--`, the log type, the clock, the worker count, and the workarounds of
 * DPDK races (unmap_guard.c, strtok.c) in effect, or no start. Returns the number of workers.
 */
static unsigned dp_start(int argc, char **argv, struct dp_opts *opt)
{
	unsigned n_workers;
	int ret;

	/* EAL's lines and ours, dated unless journald dates them (logtime.h); NULL: DPDK's */
	rte_openlog_stream(fs_logtime_open(STDOUT_FILENO));
	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "EAL initialisation failed: %s\n", rte_strerror(rte_errno));
	parse_args(argc - ret, argv + ret, opt);
	if (fs_log_init() != 0)
		rte_exit(EXIT_FAILURE, "cannot register log type flashsale.dp\n");
	ret = fs_clock_init(rte_get_tsc_hz());
	if (ret != 0)
		rte_exit(EXIT_FAILURE, "TSC clock calibration failed: %s\n", strerror(-ret));

	n_workers = rte_lcore_count() - 1;
	if (n_workers == 0 || n_workers > FS_MAX_WORKERS)
		rte_exit(EXIT_FAILURE, "need 1..%u worker lcores besides the main one, have %u\n",
			FS_MAX_WORKERS, n_workers);

	ret = fs_unmap_guard_init(n_workers);
	if (ret == -ENOSYS)
		die("munmap() is libc's, not unmap_guard.c's (link with "
		    "-Wl,--export-dynamic-symbol=munmap)");
	if (ret != 0)
		die("cannot set up the unmap guard: %s", strerror(-ret));
	if (!fs_strtok_interposed())
		die("strtok() is libc's, not strtok.c's (link with "
		    "-Wl,--export-dynamic-symbol=strtok)");
	return n_workers;
}

/* The sales and their winners as the journals of the state directory left them, or exit. */
static void sales_recover(const struct dp_opts *opt, unsigned n_workers)
{
	struct fs_recovery rec;
	int ret;

	fs_sale_table_init(&table, n_workers);
	table.rl_rate = opt->rl_rate;
	table.rl_burst = opt->rl_burst;
	/* a deleted sale is freed after a grace period of the workers */
	table.synchronize = fs_unmap_guard_synchronize;
	memset(&rec, 0, sizeof(rec));
	ret = fs_sale_recover(&table, opt->state_dir, &rec);
	if (ret != 0)
		rte_exit(EXIT_FAILURE, "recovery from %s failed: %s\n", opt->state_dir,
			strerror(-ret));
	FS_LOG(INFO,
		"recovered from %s: %" PRIu64 " sales, %" PRIu64 " orders, %" PRIu64
		" skipped, %u worker journals; %" PRIu64 " sales deleted (%" PRIu64
		" of their orders skipped)",
		opt->state_dir, rec.sales, rec.orders, rec.skipped, rec.journals, rec.deleted,
		rec.deleted_orders);
}

/*
 * Each worker's journal into @p journals and its rate-limit table (1 MiB, resident from now on,
 * whatever the number of sources later); returns the control journal. Exits on failure.
 */
static struct fs_journal *journals_open(
	const struct dp_opts *opt, unsigned n_workers, struct fs_journal **journals)
{
	struct fs_journal *ctl;
	unsigned w;
	int ret;

	for (w = 0; w < n_workers; w++) {
		journals[w] = fs_journal_open(opt->state_dir, w);
		if (journals[w] == NULL)
			die("cannot open journal %u in %s: %s", w, opt->state_dir, strerror(errno));
		/* fsync: the group-commit thread syncs it (gcommit.h), never its worker */
		ret = fs_journal_set_group(journals[w], opt->journal_fsync);
		if (ret < 0)
			die("cannot map journal %u's buffers: %s", w, strerror(-ret));
		fs_journal_set_tended(journals[w], true); /* by run_until_signal: fs_journal_tend */
	}
	for (w = 0; w < n_workers; w++) {
		ret = fs_ratelimit_init(&limiters[w], 0);
		if (ret != 0)
			die("cannot allocate the rate-limit table: %s", strerror(-ret));
	}
	if (opt->rl_rate != 0)
		FS_LOG(INFO, "rate limit per source: %u claims/s, burst %u", opt->rl_rate,
			opt->rl_burst);
	ctl = fs_journal_open(opt->state_dir, FS_JOURNAL_CONTROL);
	if (ctl == NULL)
		die("cannot open the control journal in %s: %s", opt->state_dir, strerror(errno));
	return ctl;
}

/* Every probed port in service; returns how many. Exits on failure. */
static unsigned ports_start(const struct dp_opts *opt, unsigned n_workers)
{
	unsigned n_ports = 0;
	int ret;

	/* fsync mode: each worker may hold FS_PENDING_CAP WON replies (mbufs of its queues' pools) */
	ret = fs_port_setup_all(n_workers, opt->journal_fsync ? FS_PENDING_CAP : 0, opt->addr,
		opt->udp_port, ports, &n_ports);
	if (ret != 0) {
		fs_port_close_all(ports, n_ports);
		rte_exit(EXIT_FAILURE, "port set-up failed: %s\n", rte_strerror(-ret));
	}
	if (n_ports == 0)
		FS_LOG(WARNING, "no port probed: claims cannot arrive (add a --vdev)");
	return n_ports;
}

/* The /flashsale/ telemetry commands over the table, the control journal and the workers. */
static void telemetry_start(const struct dp_opts *opt, struct fs_journal *ctl,
	struct fs_journal *const *journals, unsigned n_workers)
{
	struct fs_telemetry_ctx tctx;
	int ret;

	memset(&tctx, 0, sizeof(tctx));
	tctx.table = &table;
	tctx.ctl = ctl;
	tctx.workers = workers;
	tctx.n_workers = n_workers;
	tctx.node_id = opt->node_id;
	tctx.journal_fsync = opt->journal_fsync;
	tctx.group_interval_us = opt->journal_fsync ? (unsigned)opt->group_interval_us : 0;
	tctx.start_ms = fs_clock_mono_ms();
	tctx.journals = journals;
	/* the journals' identity, as flashsale-persist keys its checkpoints (0: unknown) */
	if (fs_journal_instance(opt->state_dir, &tctx.instance) != 0)
		tctx.instance = 0;
	ret = fs_telemetry_init(&tctx);
	if (ret != 0)
		rte_exit(EXIT_FAILURE, "telemetry registration failed: %s\n", strerror(-ret));
}

/* SIGTERM and SIGINT end run_until_signal(); caught from before the ready line on. */
static void signals_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/*
 * The main lcore until SIGTERM or SIGINT: every FS_PREFAULT_MS (FS_PREFAULT_BEHIND_US while one
 * had pages left over), each worker journal's upkeep
 * (fs_journal_tend): its next segment made ahead, its spent one unmapped, its next pages faulted
 * in, so that a worker neither rolls over with syscalls nor faults on its first write to a page;
 * every FS_CLOCK_ANCHOR_MS, re-anchor the clock the workers read.
 */
static void run_until_signal(unsigned n_workers)
{
	int64_t anchored_ms = fs_clock_mono_ms();
	unsigned w;

	while (quit_signal == 0) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = FS_PREFAULT_MS * 1000 * 1000};

		for (w = 0; w < n_workers; w++)
			if (workers[w].journal != NULL &&
				fs_journal_tend(workers[w].journal, FS_PREFAULT_BYTES))
				ts.tv_nsec = FS_PREFAULT_BEHIND_US * 1000;
		if (fs_clock_mono_ms() - anchored_ms >= FS_CLOCK_ANCHOR_MS) {
			clock_sync();
			anchored_ms = fs_clock_mono_ms();
		}
		nanosleep(&ts, NULL);
	}
	FS_LOG(INFO, "signal %d: stopping", (int)quit_signal);
}

/*
 * The options of the config file's [dataplane] section (conf.h) put after `--`, before the
 * command line's own (which override them), or exit 2. Before EAL: a bad file touches no
 * hugepage. A command line without `--` gets one at its end.
 */
static void dp_config(int *argc, char ***argv)
{
	static char *with_sep[512];
	char err[512];
	int sep = 1, rc;

	while (sep < *argc && strcmp((*argv)[sep], "--") != 0)
		sep++;
	if (sep == *argc) {
		if (*argc + 2 > (int)(sizeof(with_sep) / sizeof(with_sep[0]))) {
			fprintf(stderr, PROG ": too many arguments\n");
			exit(2);
		}
		memcpy(with_sep, *argv, (size_t)*argc * sizeof(char *));
		with_sep[(*argc)++] = "--";
		with_sep[*argc] = NULL;
		*argv = with_sep;
	}
	rc = fs_conf_apply("dataplane", longopts, argc, argv, sep + 1, *argc, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		exit(2);
	}
}

/*
 * The last sync of a worker journal, its worker and the group-commit thread stopped: as the
 * group commit does it (@p group: the writer's last records handed over, then synced) or as the
 * writer does. Returns 0 or -errno.
 */
static int journal_sync_last(struct fs_journal *j, bool group)
{
	uint64_t durable;
	int ret;

	if (!group)
		return fs_journal_sync(j);
	ret = fs_journal_group_writer(j, &durable);
	if (ret == 0)
		ret = fs_journal_group_sync(j);
	return ret < 0 ? ret : 0;
}

/* Workers stopped, capture and telemetry ended, every journal synced and closed, ports closed. */
static void dp_stop(struct fs_journal *const *journals, struct fs_journal *ctl, unsigned n_workers,
	unsigned n_ports)
{
	unsigned w;
	int ret;

	fs_worker_request_stop();
	rte_eal_mp_wait_lcore();
	rte_pdump_uninit();
	fs_telemetry_shutdown();
	fs_gcommit_stop();
	for (w = 0; w < n_workers; w++) {
		ret = journal_sync_last(journals[w], workers[w].journal_fsync);
		if (ret != 0)
			FS_LOG(ERR, "journal %u sync: %s", w, strerror(-ret));
		fs_journal_close(journals[w]);
	}
	ret = fs_journal_sync(ctl);
	if (ret != 0)
		FS_LOG(ERR, "control journal sync: %s", strerror(-ret));
	fs_journal_close(ctl);
	fs_port_close_all(ports, n_ports);
	for (w = 0; w < n_workers; w++)
		fs_ratelimit_fini(&limiters[w]);
}

/*
 * Unlink this process's hugepage files (hugefiles.h), so that a stopped dataplane leaves no
 * hugepages taken; the mappings stay valid until _exit.
 */
static void hugepages_release(void)
{
	char dir[4096];
	int n;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	n = fs_hugefiles_unlink(basename(dir));
	if (n < 0)
		FS_LOG(WARNING, "hugepage files not removed: %s", strerror(-n));
	else
		FS_LOG(INFO, "removed %d hugepage files", n);
}

int main(int argc, char **argv)
{
	/* every worker's journal, for fs_claim's durability check (fs_claim_env.journals) */
	static struct fs_journal *journals[FS_MAX_WORKERS];
	struct fs_journal *ctl;
	struct dp_opts opt;
	unsigned n_workers, n_ports;

	if (fs_version_asked(argc, argv)) {
		fs_version_print(PROG);
		return 0;
	}
	dp_config(&argc, &argv);
	n_workers = dp_start(argc, argv, &opt);
	state_dir_setup(opt.state_dir);
	/* the sales as the journals left them, before any claim is answered */
	sales_recover(&opt, n_workers);
	ctl = journals_open(&opt, n_workers, journals);
	n_ports = ports_start(&opt, n_workers);
	telemetry_start(&opt, ctl, journals, n_workers);
	capture_init();
	signals_catch();
	launch_workers(&opt, journals, n_workers, n_ports);

	printf("flashsale-dp ready node=%u workers=%u ports=%u addr=%s port=%u\n", opt.node_id,
		n_workers, n_ports, opt.addr_str, opt.udp_port);
	fflush(stdout);
	/* systemd's Type=notify: the ports are up, claims are answered (no-op without
	 * $NOTIFY_SOCKET) */
	sd_notifyf(0, "READY=1\nSTATUS=serving node %u, %u workers, %u ports", opt.node_id,
		n_workers, n_ports);

	run_until_signal(n_workers);
	sd_notify(0, "STOPPING=1");
	dp_stop(journals, ctl, n_workers, n_ports);
	hugepages_release();
	/*
	 * Journals are synced and closed, ports closed: nothing is left to save. No
	 * rte_eal_cleanup() and no exit handlers: in DPDK 22.11 the EAL interrupt thread keeps
	 * running through them and touches interrupt handles they free (seen as a segmentation
	 * fault in rte_intr_fd_get() while _dl_fini unloads the PMDs, after a clean stop).
	 * The hugepage files are gone already (hugepages_release): the pages return to the system
	 * when the process ends.
	 */
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}
