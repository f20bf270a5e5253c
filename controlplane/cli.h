/* The command-line programs' one-line errors (flashctl, flashclaim): "PROG: what went wrong". */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <stdarg.h>
#include <stdio.h>

#define FS_EXIT_USAGE 2 /**< exit code of a usage error (bad options); 1 is any other error */

static inline int fs_cli_err(const char *prog, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * One error line on stderr: "@p prog: ", the printf-style message, then " (@p prog --help)" when
 * @p code is FS_EXIT_USAGE, and a newline.
 * @return @p code, so that `return fs_cli_err(...);` in main exits with it. Not thread safe
 *         (stderr, written in three parts).
 */
static inline int fs_cli_err(const char *prog, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (code == FS_EXIT_USAGE)
		fprintf(stderr, " (%s --help)", prog);
	fputc('\n', stderr);
	return code;
}

#endif
