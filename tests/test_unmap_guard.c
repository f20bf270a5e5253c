/*
 * Unit test of dataplane/unmap_guard.c (built into this test, munmap exported as in flashsale-dp
 * and flashgen): munmap() from a thread that is not a reader waits for the readers' bursts and
 * loop turns; a reader's own does not; fs_unmap_guard_synchronize waits for a loop turn.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "interpose.h"
#include "unmap_guard.h"

#define WAIT_MS 100 /* how long a blocked call is watched before the reader lets it go */

/* A reader thread driven step by step from the test: each step waits for the next command. */
/* CMD_START: set by reader_start until the thread has registered (a test must not race it) */
enum cmd { CMD_NONE, CMD_START, CMD_ENTER, CMD_LEAVE, CMD_QUIESCENT, CMD_UNMAP, CMD_EXIT };

struct reader {
	pthread_t th;
	unsigned id;
	bool online; /* registered online (per-turn reader) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum cmd cmd;   /* under mu: the next step, CMD_NONE once done */
	bool unmapped;  /* CMD_UNMAP returned */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	fs_unmap_guard_register(r->id, r->online);
	pthread_mutex_lock(&r->mu);
	r->cmd = CMD_NONE; /* registered: reader_start returns */
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	for (;;) {
		enum cmd c;

		pthread_mutex_lock(&r->mu);
		while (r->cmd == CMD_NONE)
			pthread_cond_wait(&r->cv, &r->mu);
		c = r->cmd;
		pthread_mutex_unlock(&r->mu);
		if (c == CMD_EXIT)
			break;
		if (c == CMD_ENTER)
			fs_unmap_guard_enter(r->id);
		else if (c == CMD_LEAVE)
			fs_unmap_guard_leave(r->id);
		else if (c == CMD_QUIESCENT)
			fs_unmap_guard_quiescent(r->id);
		else if (c == CMD_UNMAP) {
			void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			r->unmapped = p != MAP_FAILED && munmap(p, 4096) == 0;
		}
		pthread_mutex_lock(&r->mu);
		r->cmd = CMD_NONE;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
	fs_unmap_guard_unregister(r->id);
	return NULL;
}

/* Run one step on the reader and wait until it is done. */
static void reader_do(struct reader *r, enum cmd c)
{
	pthread_mutex_lock(&r->mu);
	r->cmd = c;
	pthread_cond_broadcast(&r->cv);
	while (c != CMD_EXIT && r->cmd != CMD_NONE)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

/* Start a reader thread; returns once it has registered with the guard. */
static void reader_start(struct reader *r, unsigned id, bool online)
{
	r->id = id;
	r->online = online;
	r->cmd = CMD_START;
	r->unmapped = false;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	cr_assert_eq(pthread_create(&r->th, NULL, reader_main, r), 0);
	pthread_mutex_lock(&r->mu);
	while (r->cmd != CMD_NONE)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

static void reader_stop(struct reader *r)
{
	reader_do(r, CMD_EXIT);
	pthread_join(r->th, NULL);
}

/* A thread that is not a reader: munmap() of a page, or a grace period; `done` when returned. */
struct other {
	pthread_t th;
	bool sync; /* fs_unmap_guard_synchronize instead of munmap */
	bool done; /* atomic */
};

static void *other_main(void *arg)
{
	struct other *o = arg;

	if (o->sync) {
		fs_unmap_guard_synchronize();
	} else {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		cr_assert_neq(p, MAP_FAILED);
		cr_assert_eq(munmap(p, 4096), 0);
	}
	__atomic_store_n(&o->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void other_start(struct other *o, bool sync)
{
	o->sync = sync;
	o->done = false;
	cr_assert_eq(pthread_create(&o->th, NULL, other_main, o), 0);
}

/* Has the other thread's call returned within @p ms? */
static bool other_done_within(struct other *o, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (__atomic_load_n(&o->done, __ATOMIC_ACQUIRE))
			return true;
		usleep(1000);
	}
	return __atomic_load_n(&o->done, __ATOMIC_ACQUIRE);
}

/* The other thread's call returns within 5 s (@p what: which one, for the failure message). */
static void other_ends(struct other *o, const char *what)
{
	cr_assert(other_done_within(o, 5000), "%s still waits", what);
	pthread_join(o->th, NULL);
}

/*
 * The other thread's call (munmap, or fs_unmap_guard_synchronize if @p sync) waits while reader
 * @p r is inside (@p inside: the failure message) and returns once step @p c lets it out
 * (@p after: which call, for other_ends).
 */
static void other_waits_for(
	struct reader *r, bool sync, enum cmd c, const char *inside, const char *after)
{
	struct other o;

	other_start(&o, sync);
	cr_assert_not(other_done_within(&o, WAIT_MS), "%s", inside);
	reader_do(r, c);
	other_ends(&o, after);
}

/* The check main() and flashgen make at start: the test exports munmap as they do. */
Test(unmap_guard, munmap_is_interposed, .timeout = 10)
{
	cr_assert(fs_interposed("munmap", (const void *)munmap));
	cr_assert_not(fs_interposed("munmap", (const void *)reader_main));
	cr_assert_eq(fs_unmap_guard_init(2), 0);
	cr_assert_not_null(fs_unmap_guard_v);
}

Test(unmap_guard, init_refuses_no_reader, .timeout = 10)
{
	cr_assert_eq(fs_unmap_guard_init(0), -EINVAL);
	cr_assert_null(fs_unmap_guard_v);
}

/* flashgen's lcore: another thread's munmap() waits while the lcore is inside a burst. */
Test(unmap_guard, munmap_waits_for_the_burst, .timeout = 10)
{
	struct reader r;

	cr_assert_eq(fs_unmap_guard_init(1), 0);
	reader_start(&r, 0, false);
	reader_do(&r, CMD_ENTER);
	other_waits_for(
		&r, false, CMD_LEAVE, "munmap returned during the burst", "munmap after the burst");
	reader_stop(&r);
}

/* Between bursts the lcore is offline: nothing to wait for. */
Test(unmap_guard, munmap_between_bursts_goes_at_once, .timeout = 10)
{
	struct reader r;
	struct other o;

	cr_assert_eq(fs_unmap_guard_init(1), 0);
	reader_start(&r, 0, false);
	reader_do(&r, CMD_ENTER);
	reader_do(&r, CMD_LEAVE);
	other_start(&o, false);
	other_ends(&o, "munmap between bursts");
	reader_stop(&r);
}

/* flashsale-dp's workers: munmap() waits until every worker has ended its loop turn. */
Test(unmap_guard, munmap_waits_for_every_loop_turn, .timeout = 10)
{
	struct reader r[2];
	struct other o;

	cr_assert_eq(fs_unmap_guard_init(2), 0);
	reader_start(&r[0], 0, true);
	reader_start(&r[1], 1, true);
	reader_do(&r[0], CMD_QUIESCENT);
	reader_do(&r[1], CMD_QUIESCENT);
	other_start(&o, false);
	cr_assert_not(other_done_within(&o, WAIT_MS), "munmap returned inside a loop turn");
	reader_do(&r[0], CMD_QUIESCENT);
	cr_assert_not(other_done_within(&o, WAIT_MS), "munmap returned with worker 1 mid-turn");
	reader_do(&r[1], CMD_QUIESCENT);
	other_ends(&o, "munmap after both turns ended");
	reader_stop(&r[0]);
	reader_stop(&r[1]);
}

/* A worker unmaps its own journal segments mid-turn: it must not wait (for itself). */
Test(unmap_guard, reader_unmaps_at_once, .timeout = 10)
{
	struct reader r;

	cr_assert_eq(fs_unmap_guard_init(1), 0);
	reader_start(&r, 0, true);
	reader_do(&r, CMD_UNMAP);
	cr_assert(r.unmapped);
	reader_stop(&r);
}

/* Sale deletion's grace period: fs_unmap_guard_synchronize waits for the loop turn to end. */
Test(unmap_guard, synchronize_waits_for_the_loop_turn, .timeout = 10)
{
	struct reader r;

	cr_assert_eq(fs_unmap_guard_init(1), 0);
	reader_start(&r, 0, true);
	other_waits_for(&r, true, CMD_QUIESCENT, "synchronize returned inside a loop turn",
		"synchronize after the loop turn");
	reader_stop(&r);
}
