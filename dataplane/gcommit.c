/* The group-commit thread: rounds of fs_journal_group_sync() over the worker journals. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <time.h>

#include "gcommit.h"

static struct {
	struct fs_journal *const *journals; /**< set before the thread starts, ro after */
	unsigned n;
	uint64_t interval_ns; /**< set before the thread starts, ro after */
	pthread_t tid;
	bool started; /**< the starting thread's only */
	/** the caller of fs_gcommit_stop: wo (release); the thread: ro (acquire, every round) */
	bool stop;
} gc;

/*
 * The thread shares its CPU with a spinning lcore or generator: at a normal priority each of
 * its wake-ups (a sync done, the idle pause over) may wait a time slice. Real-time FIFO at the
 * lowest priority preempts them at once; it sleeps almost all the time (in msync or the idle
 * pause), so it takes little from them. Without the privilege (EPERM) it stays as it is.
 */
static void gcommit_priority(void)
{
	struct sched_param sp = {.sched_priority = sched_get_priority_min(SCHED_FIFO)};

	(void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

static void ts_add_ns(struct timespec *t, uint64_t ns)
{
	uint64_t v = (uint64_t)t->tv_nsec + ns;

	t->tv_sec += (time_t)(v / 1000000000u);
	t->tv_nsec = (long)(v % 1000000000u);
}

static void *gcommit_run(void *arg)
{
	(void)arg;
	/* the pauses are 100 µs and up, not with the default slack of 50 µs on top of them */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	gcommit_priority();
	while (!__atomic_load_n(&gc.stop, __ATOMIC_ACQUIRE)) {
		struct timespec next;
		bool synced = false;
		unsigned i;

		clock_gettime(CLOCK_MONOTONIC, &next);
		for (i = 0; i < gc.n; i++)
			if (gc.journals[i] != NULL && fs_journal_group_sync(gc.journals[i]) > 0)
				synced = true;
		/* a failed sync is told to its worker by the journal (fs_journal_group_writer),
		 * which logs it: nothing to log here, and the retry waits FS_JOURNAL_RETRY_MS */
		if (synced && gc.interval_ns == 0)
			continue;
		/* the next round: an interval, or the idle pause, after this one started (an
		 * idle round takes a few loads) */
		ts_add_ns(&next, synced ? gc.interval_ns : FS_GCOMMIT_IDLE_US * 1000u);
		/* a time already past returns at once; EINTR: the loop looks at stop first */
		(void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

int fs_gcommit_start(struct fs_journal *const *journals, unsigned n, unsigned interval_us)
{
	int rc;

	if (interval_us > FS_GCOMMIT_INTERVAL_US_MAX)
		return -EINVAL;
	gc.journals = journals;
	gc.n = n;
	gc.interval_ns = (uint64_t)interval_us * 1000u;
	rc = pthread_create(&gc.tid, NULL, gcommit_run, NULL);
	if (rc != 0)
		return -rc;
	(void)pthread_setname_np(gc.tid, "fs-gcommit");
	gc.started = true;
	return 0;
}

void fs_gcommit_stop(void)
{
	if (!gc.started)
		return;
	__atomic_store_n(&gc.stop, true, __ATOMIC_RELEASE);
	pthread_join(gc.tid, NULL);
	gc.started = false;
}
