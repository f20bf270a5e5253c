/* The configuration file shared by the programs (docs/CONFIG.md): INI read, checked, as options. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool fs_conf_is_secret(const char *key, const char *val)
{
	const char *p = strstr(val, "://"), *end, *at = NULL;
	size_t n = strlen(key);

	if (strstr(key, "password") != NULL && !(n >= 5 && strcmp(key + n - 5, "-file") == 0))
		return true;
	if (p == NULL)
		return false;
	p += 3;
	end = p + strcspn(p, "/?");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	return at != NULL && memchr(p, ':', (size_t)(at - p)) != NULL;
}

/* @p s without leading and trailing blanks (cut in place). */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool is_key(const char *k)
{
	if (*k == '\0')
		return false;
	for (; *k != '\0'; k++)
		if (!islower((unsigned char)*k) && !isdigit((unsigned char)*k) && *k != '-')
			return false;
	return true;
}

/* One "key = value" line of the current section into @p c. 0 or -errno with @p err. */
static int parse_kv(struct fs_conf *c, char *s, unsigned line, bool keep, char *err, size_t n)
{
	char *eq = strchr(s, '='), *key, *val;
	size_t len;

	if (eq == NULL)
		return snprintf(err, n, "%u: not '[section]' nor 'key = value'", line), -EINVAL;
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	len = strlen(val);
	if (len >= 2 && val[0] == '"' && val[len - 1] == '"') {
		val[len - 1] = '\0';
		val++;
	}
	if (!is_key(key))
		return snprintf(err, n, "%u: bad key '%s' (a-z, 0-9, -)", line, key), -EINVAL;
	if (fs_conf_is_secret(key, val))
		c->secret = true;
	if (!keep)
		return 0;
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->e[i].key, key) == 0)
			return snprintf(err, n, "%u: key '%s' given twice (first on line %u)", line,
				       key, c->e[i].line),
			       -EINVAL;
	if (c->n == FS_CONF_MAX_ENTRIES)
		return snprintf(err, n, "%u: more than %d keys", line, FS_CONF_MAX_ENTRIES), -E2BIG;
	c->e[c->n++] = (struct fs_conf_entry){.key = key, .val = val, .line = line};
	return 0;
}

int fs_conf_parse(struct fs_conf *c, char *text, const char *section, char *err, size_t errlen)
{
	bool in_section = false, in_any = false;
	unsigned line = 0;
	char *next = text;
	int rc;

	c->n = 0;
	c->secret = false;
	while (next != NULL) {
		char *s = next, *nl = strchr(next, '\n'), *close;

		next = nl != NULL ? nl + 1 : NULL;
		if (nl != NULL)
			*nl = '\0';
		line++;
		s = trim(s);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			close = strchr(s, ']');
			if (close == NULL || close[1] != '\0' || close == s + 1)
				return snprintf(err, errlen, "%u: bad section line '%s'", line, s),
				       -EINVAL;
			*close = '\0';
			in_section = strcmp(trim(s + 1), section) == 0;
			in_any = true;
			continue;
		}
		if (!in_any)
			return snprintf(err, errlen, "%u: a key before any [section]", line),
			       -EINVAL;
		rc = parse_kv(c, s, line, in_section, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The whole file at @p fd (at most FS_CONF_MAX_BYTES) into a malloc'd string; NULL, errno set. */
static char *read_all(int fd)
{
	char *buf = malloc(FS_CONF_MAX_BYTES + 1);
	size_t len = 0;
	ssize_t r;

	if (buf == NULL)
		return NULL;
	while ((r = read(fd, buf + len, FS_CONF_MAX_BYTES + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (len += (size_t)r) > FS_CONF_MAX_BYTES) {
			if (r >= 0)
				errno = EFBIG;
			free(buf);
			return NULL;
		}
	}
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

int fs_conf_load(struct fs_conf *c, const char *path, const char *section, char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	int fd, rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 || fstat(fd, &st) != 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = -EINVAL;
	if (rc != 0) {
		snprintf(err, errlen, "config %s: %s", path,
			rc == -EINVAL ? "not a regular file" : strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	c->buf = read_all(fd);
	rc = c->buf == NULL ? -errno : 0;
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "config %s: %s", path,
			rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc;
	}
	rc = fs_conf_parse(c, c->buf, section, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "config %s:%s", path, why);
		fs_conf_free(c);
		return rc;
	}
	if (c->secret && (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			"config %s holds a password and group or others may read it (chmod 600 it)",
			path);
		fs_conf_free(c);
		return -EPERM;
	}
	return 0;
}

/* The option of @p lo named @p key, or NULL. */
static const struct option *find_opt(const struct option *lo, const char *key)
{
	for (; lo != NULL && lo->name != NULL; lo++)
		if (strcmp(lo->name, key) == 0)
			return lo;
	return NULL;
}

/* A flag's value: 1 true, 0 false, -1 neither. */
static int flag_value(const char *v)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		return 0;
	return -1;
}

int fs_conf_check(const struct fs_conf *c, const struct option *lo, const char *section, char *err,
	size_t errlen)
{
	for (unsigned i = 0; i < c->n; i++) {
		const struct fs_conf_entry *e = &c->e[i];
		const struct option *o = find_opt(lo, e->key);

		if (o == NULL) {
			snprintf(err, errlen, "config %s:%u: unknown key '%s' in [%s]", c->path,
				e->line, e->key, section);
			return -ENOENT;
		}
		if (o->has_arg == no_argument && flag_value(e->val) < 0) {
			snprintf(err, errlen, "config %s:%u: bad %s '%s' (true or false)", c->path,
				e->line, e->key, e->val);
			return -EINVAL;
		}
	}
	return 0;
}

/* Whether argv[i] is --config (its value next, *skip 2) or --config=FILE (*skip 1). */
static bool is_config_arg(const char *a, int *skip)
{
	if (strcmp(a, "--config") == 0)
		return *skip = 2, true;
	if (strncmp(a, "--config=", 9) == 0)
		return *skip = 1, true;
	return false;
}

char **fs_conf_argv(
	const struct fs_conf *c, const struct option *lo, int *argc, char *const *argv, int at)
{
	char **out = calloc((size_t)*argc + FS_CONF_MAX_ENTRIES + 1, sizeof(*out));
	int n = 0, skip;

	if (out == NULL)
		return NULL;
	for (int i = 0; i < at && i < *argc; i++)
		out[n++] = argv[i];
	for (unsigned i = 0; c != NULL && i < c->n; i++) {
		const struct option *o = lo != NULL ? find_opt(lo, c->e[i].key) : NULL;

		if (lo != NULL && o == NULL)
			continue;
		if (o != NULL && o->has_arg == no_argument && flag_value(c->e[i].val) != 1)
			continue;
		if (o != NULL && o->has_arg == no_argument)
			out[n] = malloc(strlen(c->e[i].key) + 3);
		else
			out[n] = malloc(strlen(c->e[i].key) + strlen(c->e[i].val) + 4);
		if (out[n] == NULL)
			return NULL; /* start-up: the program exits */
		if (o != NULL && o->has_arg == no_argument)
			sprintf(out[n++], "--%s", c->e[i].key);
		else
			sprintf(out[n++], "--%s=%s", c->e[i].key, c->e[i].val);
	}
	for (int i = at; i < *argc; i++) {
		if (is_config_arg(argv[i], &skip)) {
			i += skip - 1;
			continue;
		}
		out[n++] = argv[i];
	}
	out[n] = NULL;
	*argc = n;
	return out;
}

const char *fs_conf_path(int argc, char *const *argv, int from, int to, bool *given)
{
	const char *env = getenv(FS_CONF_ENV);
	const char *path = NULL;
	int skip;

	*given = true;
	for (int i = from; i < to && i < argc; i++) {
		if (!is_config_arg(argv[i], &skip))
			continue;
		if (skip == 1)
			path = argv[i] + 9;
		else if (i + 1 < argc)
			path = argv[++i];
		else
			return NULL;
	}
	if (path != NULL)
		return path;
	if (env != NULL && *env != '\0')
		return env;
	*given = false;
	return FS_CONF_DEFAULT;
}

void fs_conf_free(struct fs_conf *c)
{
	free(c->buf);
	c->buf = NULL;
	c->n = 0;
}

int fs_conf_apply(const char *section, const struct option *lo, int *argc, char ***argv, int from,
	int to, char *err, size_t errlen)
{
	static struct fs_conf conf; /* start-up only: the argv's strings are copies */
	bool given;
	const char *path = fs_conf_path(*argc, *argv, from, to, &given);
	char **out;
	int rc;

	if (path == NULL)
		return snprintf(err, errlen, "option --config needs a value"), -EINVAL;
	if (*path == '\0')
		return snprintf(err, errlen, "bad --config ''"), -EINVAL;
	rc = fs_conf_load(&conf, path, section, err, errlen);
	if (rc == -ENOENT && !given)
		memset(&conf, 0, sizeof(conf));
	else if (rc != 0)
		return rc;
	rc = fs_conf_check(&conf, lo, section, err, errlen);
	if (rc == 0) {
		out = fs_conf_argv(&conf, lo, argc, *argv, from);
		if (out == NULL)
			rc = -ENOMEM;
		else
			*argv = out;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	fs_conf_free(&conf);
	return rc;
}
