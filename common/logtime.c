/* Dated log lines: an ISO 8601 prefix on each line, not when journald dates them already. */
#include "logtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The cookie of a stream from fs_logtime_open. */
struct logtime_cookie {
	int fd;
	bool dated;   /* false under journald */
	bool midline; /* the last write did not end a line: no prefix before the next byte */
};

bool fs_logtime_journald(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(fd, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

size_t fs_logtime_format(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	if (size < FS_LOGTIME_LEN + 1)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + 19, size - 19, ".%03ldZ ", ts.tv_nsec / 1000000);
	return FS_LOGTIME_LEN;
}

/* All of @p n bytes of @p p to @p fd (EINTR retried); 0 or -1. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fopencookie's write: each line start gets the timestamp. Returns @p n, or -1. */
static ssize_t logtime_write(void *cookie, const char *buf, size_t n)
{
	struct logtime_cookie *c = cookie;
	char stamp[FS_LOGTIME_LEN + 1];
	size_t done = 0;

	while (done < n) {
		const char *nl = memchr(buf + done, '\n', n - done);
		size_t len = nl != NULL ? (size_t)(nl - (buf + done)) + 1 : n - done;

		if (c->dated && !c->midline &&
			write_all(c->fd, stamp, fs_logtime_format(stamp, sizeof(stamp))) < 0)
			return -1;
		if (write_all(c->fd, buf + done, len) < 0)
			return -1;
		c->midline = nl == NULL;
		done += len;
	}
	return (ssize_t)n;
}

static int logtime_close(void *cookie)
{
	free(cookie);
	return 0;
}

FILE *fs_logtime_open(int fd)
{
	static const cookie_io_functions_t io = {.write = logtime_write, .close = logtime_close};
	struct logtime_cookie *c = calloc(1, sizeof(*c));
	FILE *f;

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->dated = !fs_logtime_journald(fd);
	f = fopencookie(c, "w", io);
	if (f == NULL) {
		free(c);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

int fs_logtime_stderr(void)
{
	FILE *f;

	fflush(stderr);
	f = fs_logtime_open(STDERR_FILENO);
	if (f == NULL)
		return -errno;
	stderr = f;
	return 0;
}
