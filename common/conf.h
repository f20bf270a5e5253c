/*
 * The configuration file shared by flashsale-dp, flashsale-persist and flashctl (docs/CONFIG.md):
 * INI, one section per program ([dataplane], [persist], [ctl]) whose keys are the program's long
 * option names. A program turns its section into "--key=value" arguments placed before its own
 * command-line options, so that the command line overrides the file (the last value wins).
 * No EAL, no DPDK: flashctl and flashsale-persist link it.
 */
#ifndef FS_COMMON_CONF_H
#define FS_COMMON_CONF_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#define FS_CONF_DEFAULT                                                                            \
	"/etc/flashsale/flashsale.conf" /**< when no --config, no $FLASHSALE_CONFIG */
#define FS_CONF_ENV "FLASHSALE_CONFIG"	/**< the file's path from the environment */
#define FS_CONF_MAX_BYTES 65536		/**< a larger file is refused (-EFBIG) */
#define FS_CONF_MAX_ENTRIES 64		/**< keys of one section at most (-E2BIG) */

/** One "key = value" line of the program's section. */
struct fs_conf_entry {
	const char *key; /**< in fs_conf.buf */
	const char *val; /**< in fs_conf.buf; "" when the line has nothing after '=' */
	unsigned line;	 /**< 1-based, for errors */
};

/** A program's section of the file, as fs_conf_load read it. Owned by one thread. */
struct fs_conf {
	char path[4096]; /**< the file read; "" when there was none */
	char *buf;	 /**< the file's text, cut into keys and values (malloc'd) */
	struct fs_conf_entry e[FS_CONF_MAX_ENTRIES];
	unsigned n;  /**< entries in e */
	bool secret; /**< the file (any section) holds a secret (fs_conf_is_secret) */
};

/**
 * Whether the line "@p key = @p val" is a secret: a key naming a password (holding "password" but
 * not ending in "-file"), or a URL value with a password in it (scheme://user:PASS@...). Pure.
 */
bool fs_conf_is_secret(const char *key, const char *val);

/**
 * Parse @p text (NUL-terminated, modified in place: cut into keys and values) into @p c, keeping
 * the entries of [@p section]. Syntax: "[name]" section lines, "key = value" lines, blank lines,
 * comment lines starting with '#' or ';'; spaces around keys and values are trimmed; a value may
 * be in double quotes (kept as is inside). Sets c->secret for a secret in any section. Returns 0,
 * or -EINVAL with "LINE: what" in @p err (@p errlen bytes) for a bad line, a key outside any
 * section, a key given twice in one section, or -E2BIG for too many keys. Pure.
 */
int fs_conf_parse(struct fs_conf *c, char *text, const char *section, char *err, size_t errlen);

/**
 * Read file @p path into @p c (fs_conf_parse for [@p section]), refusing it when it holds a secret
 * and group or others may read it (-EPERM: "chmod 600"). Returns 0, -errno of open/read (-ENOENT:
 * no such file), -EFBIG, or fs_conf_parse's error; @p err gets one line "PATH:LINE: what" or
 * "PATH: what". On success free with fs_conf_free.
 */
int fs_conf_load(
	struct fs_conf *c, const char *path, const char *section, char *err, size_t errlen);

/**
 * Check every key of @p c against the long options of @p lo (an array ended by a NULL name):
 * -ENOENT for a key no option has ("unknown key"), -EINVAL for a flag (no_argument) whose value
 * is not true/false/yes/no/1/0. @p err gets "PATH:LINE: ..." naming the section @p section.
 * Returns 0 when all are known. Pure.
 */
int fs_conf_check(const struct fs_conf *c, const struct option *lo, const char *section, char *err,
	size_t errlen);

/**
 * A new argv: @p argv[0..@p at), then "--key=value" for each entry of @p c that @p lo names
 * ("--key" for a true flag, nothing for a false one), then @p argv[@p at..@p argc), without any
 * "--config FILE" / "--config=FILE" in it; NULL-terminated. @p lo NULL: every entry. *@p argc is
 * updated. Returns the array (malloc'd, its strings too, kept for the program's life) or NULL
 * (ENOMEM).
 */
char **fs_conf_argv(
	const struct fs_conf *c, const struct option *lo, int *argc, char *const *argv, int at);

/**
 * The file to read, from @p argv[@p from..@p to): the value of "--config FILE" or
 * "--config=FILE", else $FLASHSALE_CONFIG, else FS_CONF_DEFAULT; *@p given says whether it was
 * asked for (an asked-for file must exist; the default may be absent). NULL: "--config" without
 * a value. Pure (getenv).
 */
const char *fs_conf_path(int argc, char *const *argv, int from, int to, bool *given);

/** Free what fs_conf_load allocated (not the argv of fs_conf_argv). */
void fs_conf_free(struct fs_conf *c);

/**
 * The whole start-up step: fs_conf_path over @p argv[@p from..@p to), fs_conf_load of
 * [@p section], fs_conf_check against @p lo, then fs_conf_argv inserting at @p from (replacing
 * *@p argv and *@p argc). A default file that does not exist is no error (argv unchanged but for
 * --config). Returns 0, or -errno with one line in @p err: the caller prints "PROG: err" and
 * exits 2.
 */
int fs_conf_apply(const char *section, const struct option *lo, int *argc, char ***argv, int from,
	int to, char *err, size_t errlen);

#endif
