/*
 * A thread that repeats one step until it is stopped, for the unit tests and the benchmarks (a
 * rekeying thread against token checks, the main lcore's journal upkeep beside a writer).
 */
#ifndef FS_TEST_LOOP_H
#define FS_TEST_LOOP_H

#include <pthread.h>

/** A thread calling step(arg, turn) for turn 0, 1, ... until fs_test_loop_stop. */
struct fs_test_loop {
	void (*step)(void *arg, unsigned long turn); /**< one turn (set by the caller) */
	void *arg;				     /**< step's argument (set by the caller) */
	unsigned long turns; /**< turns done: written by the thread, read once it is joined */
	int stop; /**< set by fs_test_loop_stop; relaxed: it only ends the loop, the join orders */
	pthread_t th;
};

static inline void *fs_test_loop_run(void *arg)
{
	struct fs_test_loop *l = arg;

	for (; !__atomic_load_n(&l->stop, __ATOMIC_RELAXED); l->turns++)
		l->step(l->arg, l->turns);
	return NULL;
}

/** Start @p l's thread (step and arg set). @return 0, or pthread_create's error number. */
static inline int fs_test_loop_start(struct fs_test_loop *l)
{
	l->turns = 0;
	l->stop = 0;
	return pthread_create(&l->th, NULL, fs_test_loop_run, l);
}

/** Stop @p l's thread and wait for it: l->turns is then final. */
static inline void fs_test_loop_stop(struct fs_test_loop *l)
{
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
	pthread_join(l->th, NULL);
}

#endif
