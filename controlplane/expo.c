/* The Prometheus text exposition format, version 0.0.4: families, samples, escaping. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

void fs_expo_init(struct fs_expo *e)
{
	memset(e, 0, sizeof(*e));
}

void fs_expo_free(struct fs_expo *e)
{
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* Room for @p n more bytes and the NUL. 0 or -ENOMEM (kept in e->err). */
static int expo_room(struct fs_expo *e, size_t n)
{
	size_t cap = e->cap == 0 ? 4096 : e->cap;
	char *b;

	if (e->err != 0)
		return e->err;
	if (e->len + n + 1 <= e->cap)
		return 0;
	while (cap < e->len + n + 1)
		cap *= 2;
	b = realloc(e->buf, cap);
	if (b == NULL)
		return e->err = -ENOMEM;
	e->buf = b;
	e->cap = cap;
	return 0;
}

static void expo_put(struct fs_expo *e, const char *s, size_t n)
{
	if (expo_room(e, n) != 0)
		return;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = '\0';
}

static void expo_puts(struct fs_expo *e, const char *s)
{
	expo_put(e, s, strlen(s));
}

/* @p s with backslash and newline escaped, and double quotes too when @p quote (label values). */
static void expo_escaped(struct fs_expo *e, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			expo_puts(e, "\\\\");
		else if (*s == '\n')
			expo_puts(e, "\\n");
		else if (*s == '"' && quote)
			expo_puts(e, "\\\"");
		else
			expo_put(e, s, 1);
	}
}

void fs_expo_family(struct fs_expo *e, const char *name, const char *type, const char *help)
{
	expo_puts(e, "# HELP ");
	expo_puts(e, name);
	expo_puts(e, " ");
	expo_escaped(e, help, 0);
	expo_puts(e, "\n# TYPE ");
	expo_puts(e, name);
	expo_puts(e, " ");
	expo_puts(e, type);
	expo_puts(e, "\n");
}

void fs_expo_sample(
	struct fs_expo *e, const char *name, const char *const *labels, const char *value)
{
	expo_puts(e, name);
	if (labels != NULL && labels[0] != NULL) {
		expo_puts(e, "{");
		for (unsigned i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
			if (i > 0)
				expo_puts(e, ",");
			expo_puts(e, labels[i]);
			expo_puts(e, "=\"");
			expo_escaped(e, labels[i + 1], 1);
			expo_puts(e, "\"");
		}
		expo_puts(e, "}");
	}
	expo_puts(e, " ");
	expo_puts(e, value);
	expo_puts(e, "\n");
}

const char *fs_expo_u64(char *out, uint64_t v)
{
	snprintf(out, FS_EXPO_VALUE_LEN, "%" PRIu64, v);
	return out;
}

const char *fs_expo_i64(char *out, int64_t v)
{
	snprintf(out, FS_EXPO_VALUE_LEN, "%" PRId64, v);
	return out;
}

const char *fs_expo_ms(char *out, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;

	snprintf(out, FS_EXPO_VALUE_LEN, "%s%" PRIu64 ".%03u", ms < 0 ? "-" : "", a / 1000,
		(unsigned)(a % 1000));
	return out;
}

const char *fs_expo_ns(char *out, uint64_t ns)
{
	snprintf(out, FS_EXPO_VALUE_LEN, "%" PRIu64 ".%09u", ns / 1000000000u,
		(unsigned)(ns % 1000000000u));
	return out;
}
