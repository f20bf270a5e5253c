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

static void *gcommit_run(void *arg)
{
	struct timespec idle = {.tv_sec = 0, .tv_nsec = FS_GCOMMIT_IDLE_US * 1000};

	(void)arg;
	/* the idle pause is 100 µs, not the default slack of 50 µs on top of it */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	gcommit_priority();
	while (!__atomic_load_n(&gc.stop, __ATOMIC_ACQUIRE)) {
		bool synced = false;
		unsigned i;

		for (i = 0; i < gc.n; i++)
			if (gc.journals[i] != NULL && fs_journal_group_sync(gc.journals[i]) > 0)
				synced = true;
		/* a failed sync is told to its worker by the journal (fs_journal_group_writer),
		 * which logs it: nothing to log here, and the retry waits FS_JOURNAL_RETRY_MS */
		if (!synced)
			nanosleep(&idle, NULL);
	}
	return NULL;
}

int fs_gcommit_start(struct fs_journal *const *journals, unsigned n)
{
	int rc;

	gc.journals = journals;
	gc.n = n;
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
