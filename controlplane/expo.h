/* The Prometheus text exposition format (version 0.0.4), written into a growing buffer. */
#ifndef FS_EXPO_H
#define FS_EXPO_H

#include <stddef.h>
#include <stdint.h>

/** The content type of what fs_expo writes (Prometheus "Exposition formats", text 0.0.4). */
#define FS_EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/**
 * A text being written. Every call appends; after an allocation failure @c err is -ENOMEM and
 * later calls write nothing (check once at the end). One thread at a time.
 */
struct fs_expo {
	char *buf;  /**< NUL-terminated text (NULL while empty) */
	size_t len; /**< bytes in buf, without the NUL */
	size_t cap; /**< bytes allocated */
	int err;    /**< 0, or -ENOMEM */
};

/** Start an empty text. */
void fs_expo_init(struct fs_expo *e);

/** Free the text (and zero @p e). */
void fs_expo_free(struct fs_expo *e);

/**
 * The `# HELP` and `# TYPE` lines of a metric family: every sample of @p name must follow
 * before another family starts (the format's rule). @p type "counter", "gauge" or "histogram"
 * (its samples NAME_bucket with a label le, NAME_sum, NAME_count); @p help one
 * line (backslashes and newlines escaped here).
 */
void fs_expo_family(struct fs_expo *e, const char *name, const char *type, const char *help);

/**
 * One sample line: @p name, the labels @p labels (name, value, name, value, ..., NULL; NULL or
 * empty for none; values escaped here: backslash, double quote, newline) and @p value as text
 * (fs_expo_u64, fs_expo_i64, fs_expo_ms). Label names must match [a-zA-Z_][a-zA-Z0-9_]*.
 */
void fs_expo_sample(
	struct fs_expo *e, const char *name, const char *const *labels, const char *value);

/** Size of a value buffer for the formatters below. */
#define FS_EXPO_VALUE_LEN 32

/** @p v in decimal into @p out (FS_EXPO_VALUE_LEN bytes); returns @p out. */
const char *fs_expo_u64(char *out, uint64_t v);

/** @p v in decimal (signed) into @p out; returns @p out. */
const char *fs_expo_i64(char *out, int64_t v);

/** @p ms milliseconds as seconds, exactly (e.g. 1500 -> "1.500"); returns @p out. */
const char *fs_expo_ms(char *out, int64_t ms);

/** @p ns nanoseconds as seconds, exactly (e.g. 16000 -> "0.000016000"); returns @p out. */
const char *fs_expo_ns(char *out, uint64_t ns);

#endif
