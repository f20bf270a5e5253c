/* flashsale-persist: tails the journals of a state directory into PostgreSQL, exactly once. */
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

#include "batch.h"
#include "conf.h"
#include "journal.h"
#include "logtime.h"
#include "parse.h"
#include "pg.h"
#include "statedir.h"
#include "version.h"

#define FS_PERSIST_BACKOFF_MIN_MS 100u
#define FS_PERSIST_BACKOFF_MAX_MS 5000u
#define FS_PERSIST_ONCE_GIVE_UP_MS 30000u /* --once: stop retrying a dead server after this */
#define FS_PERSIST_LOG_MS 1000u
#define FS_PERSIST_STOP_GRACE_S 10u /* after SIGTERM/SIGINT: exit 1 if still blocked after this */

struct fs_persist_opts {
	const char *state_dir;
	const char *pg_url;
	uint16_t node_id;
	unsigned batch;
	unsigned interval_ms;
	bool once;
	bool wait_journals; /* --wait-for-journals: a missing or empty state dir is waited for */
};

/* Log counters since the last log line (at most one per FS_PERSIST_LOG_MS). */
struct fs_persist_log {
	uint64_t last_ms;
	uint64_t batches, records, inserted;
	unsigned journal;
	uint64_t first_seq, last_seq;
};

/* Records read from one journal and the batch built from them. */
struct fs_persist_buf {
	struct fs_jrec *recs; /* --batch records */
	struct fs_batch batch;
};

struct fs_persist {
	struct fs_persist_opts o;
	struct fs_pg *pg;
	struct fs_persist_buf work; /* a worker journal's batch */
	struct fs_persist_buf ctl;  /* the control journal's, written while work waits */
	struct fs_journal_reader *rd[FS_JOURNAL_MAX];
	uint64_t ckpt[FS_JOURNAL_MAX]; /* seq of the last committed record, from PostgreSQL */
	uint64_t instance;             /* the state directory's identity (fs_journal_instance) */
	bool connected;
	bool ready;
	unsigned backoff_ms;
	uint64_t fail_since_ms; /* first failure of the current run of failures (0: none) */
	uint64_t total_records, total_inserted;
	struct fs_persist_log log;
	int dir_errno; /* last fs_journal_list error logged, to log each kind once */
};

static volatile sig_atomic_t fs_persist_stop;

/*
 * SIGTERM/SIGINT: finish (commit) the batch in hand, then exit 0. libpq retries its waits on
 * EINTR, so a database that never answers (a hung server, a silent network) would block the stop
 * forever: an alarm bounds it. A second signal exits at once. Leaving without the answer is safe:
 * the checkpoint commits with the rows, and the next run resumes from it.
 */
static void fs_persist_on_signal(int sig)
{
	static const char msg[] = "flashsale-persist: second signal, exiting now\n";

	(void)sig;
	if (fs_persist_stop) {
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		_exit(1);
	}
	fs_persist_stop = 1;
	alarm(FS_PERSIST_STOP_GRACE_S);
}

static void fs_persist_on_alarm(int sig)
{
	static const char msg[] = "flashsale-persist: stop: the database did not answer in time, "
				  "exiting without the batch in hand\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static uint64_t fs_persist_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleep @p ms in slices of at most 100 ms, returning early once a stop is asked. */
static void fs_persist_sleep(unsigned ms)
{
	while (ms > 0 && !fs_persist_stop) {
		unsigned step = ms > 100 ? 100 : ms;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static void fs_persist_usage(FILE *f)
{
	fprintf(f,
		"usage: flashsale-persist [--config FILE] --state-dir DIR --pg URL [--node-id 1] "
		"[--batch 10000] [--interval-ms 20] [--once] [--wait-for-journals]\n"
		"  DIR must hold a dataplane's journals (journal-*.fsj), unless --wait-for-journals:\n"
		"  then it waits for them to appear.\n"
		"  FILE: the [persist] section of the config file (default $" FS_CONF_ENV ", else "
		FS_CONF_DEFAULT "),\n"
		"  its keys the long options; the command line overrides it.\n");
}

/*
 * The options, also the keys of the config file's [persist] section (but "help"): getopt's val is
 * the index of the option's value in fs_persist_parse's v[].
 */
enum { O_BATCH = 1, O_HELP, O_INTERVAL, O_NODE, O_ONCE, O_PG, O_STATE_DIR, O_WAIT, N_OPTS };
static const struct option longopts[] = {
	{"batch", required_argument, NULL, O_BATCH},
	{"help", no_argument, NULL, O_HELP},
	{"interval-ms", required_argument, NULL, O_INTERVAL},
	{"node-id", required_argument, NULL, O_NODE},
	{"once", no_argument, NULL, O_ONCE},
	{"pg", required_argument, NULL, O_PG},
	{"state-dir", required_argument, NULL, O_STATE_DIR},
	{"wait-for-journals", no_argument, NULL, O_WAIT},
	{NULL, 0, NULL, 0},
};

/* The numeric options' ranges (max 0: not a numeric option). */
static const struct {
	uint64_t min, max;
} opt_ranges[N_OPTS] = {
	[O_BATCH] = {1, 1000000},
	[O_INTERVAL] = {0, 60000},
	[O_NODE] = {1, 65535},
};

/* --@p name's value (optarg) in [@p min, @p max] into *@p v; -EINVAL after the one-line error. */
static int opt_range(const char *name, uint64_t min, uint64_t max, uint64_t *v)
{
	if (fs_parse_u64(optarg, min, max, v) == 0)
		return 0;
	fprintf(stderr, "flashsale-persist: --%s wants %" PRIu64 "..%" PRIu64 "\n", name, min, max);
	return -EINVAL;
}

/* @return 0, 1 for --help, or -EINVAL after printing a one-line error. */
static int fs_persist_parse(int argc, char **argv, struct fs_persist_opts *o)
{
	uint64_t num[N_OPTS] = {[O_BATCH] = 10000, [O_INTERVAL] = 20, [O_NODE] = 1};
	const char *v[N_OPTS] = {NULL}; /* each option's value ("": a flag given) */
	int c, idx;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (c == '?') {
			fprintf(stderr, "flashsale-persist: bad option %s\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (c == O_HELP)
			return 1;
		v[c] = optarg != NULL ? optarg : "";
		if (opt_ranges[c].max != 0 && opt_range(longopts[idx].name, opt_ranges[c].min,
						      opt_ranges[c].max, &num[c]) < 0)
			return -EINVAL;
	}
	*o = (struct fs_persist_opts){
		.state_dir = v[O_STATE_DIR],
		.pg_url = v[O_PG],
		.node_id = (uint16_t)num[O_NODE],
		.batch = (unsigned)num[O_BATCH],
		.interval_ms = (unsigned)num[O_INTERVAL],
		.once = v[O_ONCE] != NULL,
		.wait_journals = v[O_WAIT] != NULL,
	};
	if (optind < argc) {
		fprintf(stderr, "flashsale-persist: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (o->state_dir == NULL || o->state_dir[0] == '\0') {
		fprintf(stderr, "flashsale-persist: --state-dir DIR is required\n");
		return -EINVAL;
	}
	if (o->pg_url == NULL || o->pg_url[0] == '\0') {
		fprintf(stderr, "flashsale-persist: --pg URL is required\n");
		return -EINVAL;
	}
	return 0;
}

static int fs_persist_buf_init(struct fs_persist_buf *buf, unsigned cap)
{
	buf->recs = calloc(cap, sizeof(*buf->recs));
	if (buf->recs == NULL)
		return -ENOMEM;
	return fs_batch_init(&buf->batch, cap);
}

/* NULL-safe members: after a failed or no init (calloc'd struct). */
static void fs_persist_buf_fini(struct fs_persist_buf *buf)
{
	fs_batch_fini(&buf->batch);
	free(buf->recs);
	buf->recs = NULL;
}

/*
 * The state directory must exist and hold journals (a mistyped --state-dir would otherwise be
 * created and tailed forever with nothing in it), unless --wait-for-journals: then wait (logged
 * once) until it does, or a stop is asked. @return 0, or 2 after a one-line error.
 */
static int fs_persist_check_dir(const struct fs_persist_opts *o)
{
	unsigned idx[FS_JOURNAL_MAX];
	bool logged = false;
	int n;

	for (;;) {
		n = fs_journal_list(o->state_dir, idx, FS_JOURNAL_MAX);
		if (n > 0)
			return 0;
		if (n < 0 && n != -ENOENT) {
			fprintf(stderr, "flashsale-persist: --state-dir %s: %s\n", o->state_dir,
				strerror(-n));
			return 2;
		}
		if (!o->wait_journals) {
			fprintf(stderr,
				"flashsale-persist: --state-dir %s: %s (a dataplane's --state-dir; "
				"--wait-for-journals to wait for one)\n",
				o->state_dir, n < 0 ? "no such directory" : "holds no journals");
			return 2;
		}
		if (!logged)
			fprintf(stderr, "flashsale-persist: waiting for journals in %s\n",
				o->state_dir);
		logged = true;
		fs_persist_sleep(100);
		if (fs_persist_stop)
			return 0;
	}
}

static void fs_persist_close_readers(struct fs_persist *p)
{
	unsigned j;

	for (j = 0; j < FS_JOURNAL_MAX; j++) {
		fs_journal_reader_close(p->rd[j]);
		p->rd[j] = NULL;
	}
}

/* Note a failure: drop the connection and readers, wait the backoff, double it. */
static void fs_persist_fail(struct fs_persist *p, const char *what)
{
	uint64_t now = fs_persist_now_ms();

	fprintf(stderr, "flashsale-persist: %s: %s (retry in %u ms)\n", what, fs_pg_error(p->pg),
		p->backoff_ms);
	if (p->fail_since_ms == 0)
		p->fail_since_ms = now;
	/* Keep the PGconn: fs_pg_connect() will PQreset it. Readers re-read from the checkpoint. */
	p->connected = false;
	fs_persist_close_readers(p);
	fs_persist_sleep(p->backoff_ms);
	p->backoff_ms *= 2;
	if (p->backoff_ms > FS_PERSIST_BACKOFF_MAX_MS)
		p->backoff_ms = FS_PERSIST_BACKOFF_MAX_MS;
}

/* Connect, apply the schema, load the checkpoints. @return 0 or -errno. */
static int fs_persist_connect(struct fs_persist *p)
{
	if (fs_pg_connect(p->pg) < 0)
		return -ECONNREFUSED;
	if (fs_pg_apply_schema(p->pg) < 0 ||
		fs_pg_load_checkpoints(p->pg, p->o.node_id, p->instance, p->ckpt) < 0) {
		fs_pg_disconnect(p->pg);
		return -EIO;
	}
	fs_persist_close_readers(p);
	p->connected = true;
	if (!p->ready) {
		p->ready = true;
		printf("flashsale-persist ready\n");
		fflush(stdout);
	}
	return 0;
}

static void fs_persist_log_batch(struct fs_persist *p, const struct fs_batch *b, bool force)
{
	struct fs_persist_log *l = &p->log;
	uint64_t now = fs_persist_now_ms();

	if (b != NULL) {
		l->batches++;
		l->records += b->records;
		l->inserted += fs_pg_last_inserted(p->pg);
		l->journal = b->journal;
		l->first_seq = b->first_seq;
		l->last_seq = b->last_seq;
	}
	if (l->batches == 0 || (!force && now - l->last_ms < FS_PERSIST_LOG_MS))
		return;
	fprintf(stderr,
		"flashsale-persist: %" PRIu64 " batches, %" PRIu64 " records, %" PRIu64
		" orders inserted; last batch: journal %u seq %" PRIu64 "..%" PRIu64 "\n",
		l->batches, l->records, l->inserted, l->journal, l->first_seq, l->last_seq);
	*l = (struct fs_persist_log){.last_ms = now};
}

/*
 * Read up to --batch records of journal @p j from where its reader stands into @p buf's batch.
 * @return records in the batch (0: nothing new, or the journal is unreadable: *read_failed).
 */
static unsigned fs_persist_read(struct fs_persist *p, unsigned j, struct fs_persist_buf *buf,
	bool *read_failed)
{
	struct fs_batch *b = &buf->batch;
	int n, i, rc;

	if (p->rd[j] == NULL) {
		p->rd[j] = fs_journal_reader_open(p->o.state_dir, j, p->ckpt[j] + 1);
		if (p->rd[j] == NULL) {
			fprintf(stderr, "flashsale-persist: journal %u: open: %s\n", j,
				strerror(errno));
			*read_failed = true;
			return 0;
		}
	}
	n = fs_journal_read(p->rd[j], buf->recs, p->o.batch);
	if (n < 0) {
		fprintf(stderr, "flashsale-persist: journal %u: read: %s\n", j, strerror(-n));
		fs_journal_reader_close(p->rd[j]);
		p->rd[j] = NULL;
		*read_failed = true;
		return 0;
	}
	fs_batch_reset(b, j);
	for (i = 0; i < n; i++) {
		rc = fs_batch_add(b, &buf->recs[i]);
		if (rc < 0) {
			/* Cannot happen with a correct reader; write what came before it. */
			fprintf(stderr,
				"flashsale-persist: journal %u: record seq %" PRIu64 ": %s\n", j,
				buf->recs[i].seq, strerror(-rc));
			*read_failed = true;
			break;
		}
	}
	if (b->records > 0 && b->first_seq != p->ckpt[j] + 1) {
		fprintf(stderr,
			"flashsale-persist: journal %u: reader at seq %" PRIu64
			", checkpoint %" PRIu64 ": reopening\n",
			j, b->first_seq, p->ckpt[j]);
		fs_batch_reset(b, j);
	}
	if (b->records == 0 && n > 0) {
		fs_journal_reader_close(p->rd[j]);
		p->rd[j] = NULL;
		*read_failed = true;
	}
	return b->records;
}

/* Write batch @p b in one transaction. @return records committed, or -EIO. */
static int fs_persist_write(struct fs_persist *p, const struct fs_batch *b)
{
	if (fs_pg_write_batch(p->pg, p->o.node_id, p->instance, b) < 0)
		return -EIO;
	p->ckpt[b->journal] = b->last_seq;
	p->total_records += b->records;
	p->total_inserted += fs_pg_last_inserted(p->pg);
	p->backoff_ms = FS_PERSIST_BACKOFF_MIN_MS;
	p->fail_since_ms = 0;
	fs_persist_log_batch(p, b, false);
	return (int)b->records;
}

/*
 * Commit the control journal up to its end: batches until a read comes back short. Every record
 * written before this call started is then committed.
 * @return records committed, or -EIO.
 */
static int fs_persist_control(struct fs_persist *p, bool *read_failed)
{
	unsigned n;
	int rc, total = 0;

	do {
		n = fs_persist_read(p, FS_JOURNAL_CONTROL, &p->ctl, read_failed);
		if (n == 0)
			break;
		rc = fs_persist_write(p, &p->ctl.batch);
		if (rc < 0)
			return rc;
		total += rc;
	} while (n == p->o.batch && !fs_persist_stop);
	return total;
}

/*
 * One batch of worker journal @p j. An order's row takes its status from the sale's hold_ms
 * (pg.c), so the sale's SALE and HOLD records must be committed first. The dataplane journals
 * them before the sale takes claims, so every order read here has them in the control journal
 * already: draining that journal after this read and before this write commits them, even when
 * the sale was created after this pass began.
 * @return records committed (0: nothing new or journal unreadable), or -EIO on a database error.
 */
static int fs_persist_journal(struct fs_persist *p, unsigned j, bool *read_failed)
{
	int rc, ctl;

	if (fs_persist_read(p, j, &p->work, read_failed) == 0)
		return 0;
	ctl = fs_persist_control(p, read_failed);
	if (ctl < 0)
		return ctl;
	rc = fs_persist_write(p, &p->work.batch);
	return rc < 0 ? rc : rc + ctl;
}

/* One pass over every journal, the control journal first. @return records written, or -EIO. */
static int fs_persist_pass(struct fs_persist *p, bool *read_failed)
{
	unsigned idx[FS_JOURNAL_MAX], order[FS_JOURNAL_MAX];
	unsigned k, m = 0;
	bool control = false;
	int n, rc, total = 0;

	n = fs_journal_list(p->o.state_dir, idx, FS_JOURNAL_MAX);
	if (n < 0) {
		if (p->dir_errno != -n)
			fprintf(stderr, "flashsale-persist: %s: %s\n", p->o.state_dir,
				strerror(-n));
		p->dir_errno = -n;
		*read_failed = true;
		return 0;
	}
	p->dir_errno = 0;
	for (k = 0; k < (unsigned)n; k++) {
		if (idx[k] == FS_JOURNAL_CONTROL)
			control = true;
		else if (idx[k] < FS_JOURNAL_MAX)
			order[m++] = idx[k];
	}
	if (control) {
		total = fs_persist_control(p, read_failed);
		if (total < 0)
			return total;
	}
	for (k = 0; k < m && !fs_persist_stop; k++) {
		rc = fs_persist_journal(p, order[k], read_failed);
		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}

static int fs_persist_run(struct fs_persist *p)
{
	bool read_failed;
	int rc;

	while (!fs_persist_stop) {
		if (!p->connected) {
			if (fs_persist_connect(p) < 0) {
				if (p->o.once && p->fail_since_ms != 0 &&
					fs_persist_now_ms() - p->fail_since_ms >=
						FS_PERSIST_ONCE_GIVE_UP_MS) {
					fprintf(stderr, "flashsale-persist: giving up: %s\n",
						fs_pg_error(p->pg));
					return 1;
				}
				fs_persist_fail(p, "database");
				continue;
			}
		}
		read_failed = false;
		rc = fs_persist_pass(p, &read_failed);
		if (rc < 0) {
			fs_persist_fail(p, "batch");
			continue;
		}
		if (rc > 0)
			continue;
		/* Idle: everything readable is committed. */
		fs_persist_log_batch(p, NULL, true);
		if (p->o.once)
			return read_failed ? 1 : 0;
		fs_persist_sleep(p->o.interval_ms);
	}
	return 0;
}

/*
 * The exit line: totals, then `checkpoints J:SEQ ...` (the last committed seq of every journal
 * this run read or has a checkpoint for) and `uncommitted none`, or `uncommitted J:FROM..TO ...`
 * for records read and not committed (a batch whose COMMIT failed or whose outcome is unknown).
 */
static void fs_persist_log_exit(const struct fs_persist *p)
{
	char line[4096];
	size_t off, cut;
	unsigned j;
	bool none = true;

	off = (size_t)snprintf(line, sizeof(line),
		"flashsale-persist: exiting: %" PRIu64 " records, %" PRIu64
		" orders inserted; checkpoints",
		p->total_records, p->total_inserted);
	for (j = 0; j < FS_JOURNAL_MAX && off < sizeof(line); j++)
		if (p->ckpt[j] > 0 || p->rd[j] != NULL)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %u:%" PRIu64, j,
				p->ckpt[j]);
	if (off < sizeof(line))
		off += (size_t)snprintf(line + off, sizeof(line) - off, "; uncommitted");
	cut = off;
	for (j = 0; j < FS_JOURNAL_MAX && off < sizeof(line); j++) {
		uint64_t pos = p->rd[j] != NULL ? fs_journal_reader_pos(p->rd[j]) : 0;

		if (pos > p->ckpt[j] + 1) {
			off += (size_t)snprintf(line + off, sizeof(line) - off,
				" %u:%" PRIu64 "..%" PRIu64, j, p->ckpt[j] + 1, pos - 1);
			none = false;
		}
	}
	if (none && cut < sizeof(line))
		snprintf(line + cut, sizeof(line) - cut, " none");
	fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
	struct fs_persist *p;
	struct sigaction sa;
	char why[512];
	int rc;

	if (fs_version_asked(argc, argv)) {
		fs_version_print("flashsale-persist");
		return 0;
	}
	rc = fs_conf_apply("persist", longopts, &argc, &argv, 1, argc, why, sizeof(why));
	if (rc != 0) {
		fprintf(stderr, "flashsale-persist: %s\n", why);
		return 2;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		fprintf(stderr, "flashsale-persist: out of memory\n");
		return 1;
	}
	rc = fs_persist_parse(argc, argv, &p->o);
	if (rc != 0) { /* bad usage: the one-line error only; --help: the usage */
		if (rc > 0)
			fs_persist_usage(stdout);
		free(p);
		return rc > 0 ? 0 : 2;
	}
	/* from here on every line is a log line: dated, unless journald dates them (logtime.h) */
	if (fs_logtime_stderr() != 0)
		fprintf(stderr, "flashsale-persist: log lines undated: %s\n", strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fs_persist_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = fs_persist_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = fs_persist_check_dir(&p->o);
	if (rc != 0 || fs_persist_stop)
		goto out;
	/* 0700 and its files 0600 (token keys in the control journal), or refused */
	if (fs_statedir_secure(p->o.state_dir, why, sizeof(why)) != 0) {
		fprintf(stderr, "flashsale-persist: %s\n", why);
		rc = 1;
		goto out;
	}
	/* the journals' identity keys the checkpoints */
	rc = fs_journal_instance(p->o.state_dir, &p->instance);
	if (rc != 0) {
		fprintf(stderr, "flashsale-persist: %s/instance: %s\n", p->o.state_dir, strerror(-rc));
		rc = 1;
		goto out;
	}
	p->backoff_ms = FS_PERSIST_BACKOFF_MIN_MS;
	p->pg = fs_pg_new(p->o.pg_url);
	if (p->pg == NULL || fs_persist_buf_init(&p->work, p->o.batch) < 0 ||
		fs_persist_buf_init(&p->ctl, p->o.batch) < 0) {
		fprintf(stderr, "flashsale-persist: out of memory\n");
		rc = 1;
		goto out;
	}
	rc = fs_persist_run(p);
	fs_persist_log_batch(p, NULL, true);
	fs_persist_log_exit(p);
out:
	fs_persist_close_readers(p);
	fs_persist_buf_fini(&p->work);
	fs_persist_buf_fini(&p->ctl);
	fs_pg_free(p->pg);
	free(p);
	return rc;
}
