/* Unit tests of common/logtime.c: dated lines, each written whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logtime.h"

/* One datagram per write(2): a line cut in two writes arrives as two datagrams. */
static void dgram_pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
}

/*
 * Another thread writing to the same descriptor (stdout's printf beside DPDK's log stream) must
 * never land between a line's date and its text: each dated line is one write.
 */
Test(logtime, dated_line_is_one_write)
{
	char got[256];
	int sv[2];
	FILE *f;
	ssize_t n;

	dgram_pair(sv);
	unsetenv("JOURNAL_STREAM");
	f = fs_logtime_open(sv[0]);
	cr_assert_not_null(f);
	fprintf(f, "flashsale.dp: worker 0 polls\n");
	n = recv(sv[1], got, sizeof(got) - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0);
	got[n] = '\0';
	cr_assert_eq((size_t)n, FS_LOGTIME_LEN + strlen("flashsale.dp: worker 0 polls\n"),
		"one datagram with the date and the line, got %zd bytes: '%s'", n, got);
	cr_assert_str_eq(got + FS_LOGTIME_LEN, "flashsale.dp: worker 0 polls\n");
	cr_assert_eq(got[4], '-');
	cr_assert_eq(got[FS_LOGTIME_LEN - 2], 'Z');
	fclose(f);
	close(sv[1]);
}

/* A line longer than the line buffer keeps one date, at its start only. */
Test(logtime, long_line_dated_once)
{
	char line[5000], got[6000];
	size_t total = 0;
	int sv[2];
	FILE *f;
	ssize_t n;

	dgram_pair(sv);
	unsetenv("JOURNAL_STREAM");
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	f = fs_logtime_open(sv[0]);
	cr_assert_not_null(f);
	fputs(line, f);
	fflush(f);
	while ((n = recv(sv[1], got + total, sizeof(got) - 1 - total, MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	got[total] = '\0';
	cr_assert_eq(total, FS_LOGTIME_LEN + strlen(line));
	cr_assert_str_eq(got + FS_LOGTIME_LEN, line);
	fclose(f);
	close(sv[1]);
}
