/* Unit test of dataplane/strtok.c (built into this test too): strtok's position is per thread. */
#include <pthread.h>
#include <string.h>

#include <criterion/criterion.h>

#include "strtok.h"

static pthread_barrier_t step;

/* Thread B: splits its own command while thread A is between its two strtok calls. */
static char b_buf[] = "/flashsale/sale/status,99";

static void *other_client(void *arg)
{
	const char **got = arg;

	pthread_barrier_wait(&step); /* A has made its first call */
	got[0] = strtok(b_buf, ",");
	got[1] = strtok(NULL, "\0");
	pthread_barrier_wait(&step); /* A may make its second call */
	return NULL;
}

/*
 * Two telemetry client threads split commands the way DPDK's client_handler does,
 * interleaved: A's first call, then all of B's, then A's second. With glibc's strtok (one
 * position for the process) A's parameters came out NULL (B's split had ended at its NUL);
 * with the per-thread position each gets its own.
 */
Test(strtok, position_per_thread)
{
	char buf[] = "/flashsale/sale/delete,7";
	const char *b[2] = {NULL, NULL};
	const char *cmd, *param;
	pthread_t th;

	pthread_barrier_init(&step, NULL, 2);
	cr_assert_eq(pthread_create(&th, NULL, other_client, b), 0);
	cmd = strtok(buf, ",");
	pthread_barrier_wait(&step);
	pthread_barrier_wait(&step);
	param = strtok(NULL, "\0");
	pthread_join(th, NULL);
	pthread_barrier_destroy(&step);
	cr_assert_str_eq(cmd, "/flashsale/sale/delete");
	cr_assert_not_null(param, "A's parameters were lost");
	cr_assert_str_eq(param, "7");
	cr_assert_str_eq(b[0], "/flashsale/sale/status");
	cr_assert_str_eq(b[1], "99");
}

/* Single-threaded use is libc's strtok. */
Test(strtok, same_as_strtok_r)
{
	char a[] = ",,x,,y,z,", c[] = ",,x,,y,z,";
	char *save = NULL;
	const char *p, *q;

	p = strtok(a, ",");
	q = strtok_r(c, ",", &save);
	while (p != NULL || q != NULL) {
		cr_assert_not_null(p);
		cr_assert_not_null(q);
		cr_assert_str_eq(p, q);
		p = strtok(NULL, ",");
		q = strtok_r(NULL, ",", &save);
	}
}

/* The check flashsale-dp makes at start: strtok exported (as there), DPDK's calls reach it. */
Test(strtok, interposed)
{
	cr_assert(fs_strtok_interposed());
}
