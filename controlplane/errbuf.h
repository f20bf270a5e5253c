/* The last error of a control-plane client (fs_redis, fs_dpctl): a -errno and one line of text. */
#ifndef FS_ERRBUF_H
#define FS_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int fs_errbuf_set(int *errp, char *buf, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/**
 * Record an error: *@p errp = @p err and the printf-style message in @p buf (@p len bytes, cut
 * to fit, always terminated).
 * @return @p err, so that `return fs_errbuf_set(...);` passes it on. Not thread safe: the caller
 *         owns the client.
 */
static inline int fs_errbuf_set(int *errp, char *buf, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	*errp = err;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return err;
}

/** fs_errbuf_set on a client @p c with fields `int err` and `char errstr[]`. */
#define FS_ERRBUF_SET(c, e, ...)                                                                   \
	fs_errbuf_set(&(c)->err, (c)->errstr, sizeof((c)->errstr), (e), __VA_ARGS__)

#endif
