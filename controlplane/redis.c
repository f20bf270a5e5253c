/* Redis access of the control plane (the only file including hiredis): sales, leases, totals. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "errbuf.h"
#include "parse.h"
#include "rcluster.h"
#include "redis.h"

#define KEYLEN FS_REDIS_KEYLEN

/*
 * The Lua scripts, one file each in controlplane/lua/ (their KEYS, ARGV and replies are written
 * at the top of each), embedded at build time as fs_lua_NAME.
 */
#include "lua_create.h"
#include "lua_delete.h"
#include "lua_event.h"
#include "lua_giveback.h"
#include "lua_lease.h"
#include "lua_rebuild.h"
#include "lua_rekey.h"
#include "lua_restock.h"
#include "lua_return.h"
#include "lua_state.h"
#include "lua_stop.h"
#include "lua_totals.h"

#define set_err FS_ERRBUF_SET

/* Map a failed context (NULL reply or failed connect) to a negative errno and text. */
static int ctx_err(struct fs_redis *r, const redisContext *c)
{
	int e = -EIO;

	if (c == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	switch (c->err) {
	case REDIS_ERR_IO:
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT)
			e = -ETIMEDOUT;
		else if (errno == ECONNREFUSED)
			e = -ECONNREFUSED;
		break;
	case REDIS_ERR_EOF:
		e = -ECONNRESET;
		break;
	case REDIS_ERR_PROTOCOL:
		e = -EPROTO;
		break;
	case REDIS_ERR_OOM:
		e = -ENOMEM;
		break;
	default:
		e = -EIO;
	}
	return set_err(r, e, "redis: %s", c->errstr[0] ? c->errstr : "connection failed");
}

/*
 * The key whose slot a command of this file goes to on a cluster: EVAL's first key, SCAN's MATCH
 * pattern (always one sale's "fs:{N}:...*": all its keys are in the slot of {N}), else the first
 * argument (every other command here names its one key, or channel, first). NULL: any node.
 */
static const char *slot_key(int argc, const char **argv)
{
	if (strcmp(argv[0], "EVAL") == 0)
		return argc > 3 && strcmp(argv[2], "0") != 0 ? argv[3] : NULL;
	if (strcmp(argv[0], "SCAN") == 0) {
		for (int i = 2; i + 1 < argc; i++)
			if (strcmp(argv[i], "MATCH") == 0)
				return argv[i + 1];
		return NULL;
	}
	return argc > 1 ? argv[1] : NULL;
}

/* command() through the cluster client r->cl. */
static int cluster_command(struct fs_redis *r, redisReply **out, int argc, const char **argv)
{
	int rc = fs_rcl_command(r->cl, slot_key(argc, argv), argc, argv, NULL, out);

	if (rc < 0) {
		r->err = rc;
		snprintf(r->errstr, sizeof(r->errstr), "%s", r->cl->errstr);
	}
	return rc;
}

/*
 * Run one command from an argv of NUL-terminated strings. On success *out holds the reply (caller
 * frees) unless it is an error reply, which is freed here and becomes -EREMOTEIO.
 */
static int command(struct fs_redis *r, redisReply **out, int argc, const char **argv)
{
	redisContext *c = r->ctx;
	redisReply *rep;

	*out = NULL;
	if (r->cl != NULL)
		return cluster_command(r, out, argc, argv);
	if (c == NULL)
		return set_err(r, -ENOTCONN, "redis: not connected");
	rep = redisCommandArgv(c, argc, argv, NULL);
	if (rep == NULL)
		return ctx_err(r, c);
	if (rep->type == REDIS_REPLY_ERROR) {
		set_err(r, -EREMOTEIO, "redis: %s", rep->str ? rep->str : "error reply");
		freeReplyObject(rep);
		return r->err;
	}
	*out = rep;
	return 0;
}

int fs_redis_command(struct fs_redis *r, struct redisReply **out, int argc, const char **argv)
{
	return command(r, out, argc, argv);
}

/* Percent-decode @p n bytes of @p in into @p out (@p cap bytes with the NUL); 0 or -EINVAL. */
static int pct_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++, o++) {
		char c = in[i];

		if (o + 1 >= cap)
			return -EINVAL;
		if (c == '%') {
			uint8_t b;

			if (i + 2 >= n)
				return -EINVAL;
			char hex[3] = {in[i + 1], in[i + 2], '\0'};
			if (fs_parse_hex(hex, &b, 1) < 0 || b == 0)
				return -EINVAL;
			c = (char)b;
			i += 2;
		}
		out[o] = c;
	}
	out[o] = '\0';
	return 0;
}

/*
 * The userinfo of a URL, "[user][:password]" (@p n bytes at @p p), into @p u. Returns 0 or
 * -EINVAL.
 */
static int parse_userinfo(const char *p, size_t n, struct fs_redis_url *u)
{
	const char *colon = memchr(p, ':', n);
	size_t ul = colon != NULL ? (size_t)(colon - p) : n;

	if (pct_decode(p, ul, u->user, sizeof(u->user)) < 0)
		return -EINVAL;
	if (colon == NULL)
		return 0;
	u->has_pass = true;
	return pct_decode(colon + 1, n - ul - 1, u->pass, sizeof(u->pass));
}

/* The decimal digits at @p p, a number in [lo, hi], ending at *end; 0 or -EINVAL. */
static int url_num(const char *p, uint64_t lo, uint64_t hi, const char **end, int *v)
{
	size_t n = strspn(p, "0123456789"), z = 0;
	char digits[24];
	uint64_t x;

	/* Leading zeros do not count; more digits than any uint64_t has: out of range. */
	while (z + 1 < n && p[z] == '0')
		z++;
	if (n - z >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, p + z, n - z);
	digits[n - z] = '\0';
	if (fs_parse_u64(digits, lo, hi, &x) < 0)
		return -EINVAL;
	*v = (int)x;
	*end = p + n;
	return 0;
}

/* The part of a redis:// URL after its userinfo: host[:port][/db]. */
static int parse_tcp(const char *p, struct fs_redis_url *u)
{
	size_t n = strcspn(p, ":/");

	if (n == 0 || n >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, p, n);
	u->host[n] = '\0';
	p += n;
	if (*p == ':' && url_num(p + 1, 1, 65535, &p, &u->port) < 0)
		return -EINVAL;
	if (*p == '/') {
		if (p[1] == '\0')
			return 0;
		if (url_num(p + 1, 0, 1000000, &p, &u->db) < 0)
			return -EINVAL;
	}
	return *p == '\0' ? 0 : -EINVAL;
}

/* The part of a unix:// URL after its userinfo: /path[?db=N]. */
static int parse_unix(const char *p, struct fs_redis_url *u)
{
	size_t n = strcspn(p, "?");

	if (p[0] != '/' || n >= sizeof(u->path))
		return -EINVAL;
	memcpy(u->path, p, n);
	u->path[n] = '\0';
	p += n;
	if (*p == '\0')
		return 0;
	if (strncmp(p, "?db=", 4) != 0 || url_num(p + 4, 0, 1000000, &p, &u->db) < 0)
		return -EINVAL;
	return *p == '\0' ? 0 : -EINVAL;
}

int fs_redis_parse_url(const char *url, struct fs_redis_url *u)
{
	const char *p, *at, *end;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (url == NULL)
		return -EINVAL;
	if (strncmp(url, "rediss://", 9) == 0)
		return -EPROTONOSUPPORT;
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
		end = p + strcspn(p, "/");
	} else if (strncmp(url, "unix://", 7) == 0) {
		u->is_unix = true;
		p = url + 7;
		end = strchr(p, '/') != NULL ? strchr(p, '/') : p + strlen(p);
	} else {
		return -EINVAL;
	}
	/* userinfo: up to the last '@' before the host (TCP) or the path (unix) */
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		if (parse_userinfo(p, (size_t)(at - p), u) < 0)
			return -EINVAL;
		p = at + 1;
	} else if (u->is_unix && p != end) {
		return -EINVAL; /* unix://host/... */
	}
	return u->is_unix ? parse_unix(p, u) : parse_tcp(p, u);
}

size_t fs_redis_url_mask(const char *url, char *out, size_t n)
{
	const char *p = url, *end, *at = NULL, *colon;
	int len;

	if (n == 0)
		return 0;
	if (url == NULL) {
		out[0] = '\0';
		return 0;
	}
	p = strstr(url, "://");
	p = p != NULL ? p + 3 : url;
	end = p + strcspn(p, "/");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon == NULL)
		len = snprintf(out, n, "%s", url);
	else
		len = snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
	return len < 0 ? 0 : (size_t)len;
}

/* AUTH [user] password on a fresh connection; the error text never holds the password. */
static int auth(struct fs_redis *r, const struct fs_redis_url *u, const char *pass)
{
	redisReply *rep;
	int rc;

	if (pass == NULL) {
		if (u->user[0] == '\0')
			return 0;
		return set_err(r, -EACCES, "redis: user '%.64s' given without a password", u->user);
	}
	if (u->user[0] != '\0') {
		const char *argv[] = {"AUTH", u->user, pass};
		rc = command(r, &rep, 3, argv);
	} else {
		const char *argv[] = {"AUTH", pass};
		rc = command(r, &rep, 2, argv);
	}
	if (rc == -EREMOTEIO)
		return set_err(r, -EACCES, "redis: AUTH%s%.64s refused: %.80s",
			u->user[0] ? " as " : "", u->user, r->errstr + 7);
	if (rc == 0)
		freeReplyObject(rep);
	return rc;
}

/* Open the TCP or unix connection of @p u; sets r->ctx or the error. */
static int open_ctx(struct fs_redis *r, const struct fs_redis_url *u, struct timeval tv)
{
	redisContext *c;
	size_t len;
	int rc;

	if (u->is_unix)
		c = redisConnectUnixWithTimeout(u->path, tv);
	else
		c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL || c->err) {
		rc = ctx_err(r, c);
		/* Append the address so the one-line error says where. */
		len = strlen(r->errstr);
		if (u->is_unix)
			snprintf(r->errstr + len, sizeof(r->errstr) - len, " (%.64s)", u->path);
		else
			snprintf(r->errstr + len, sizeof(r->errstr) - len, " (%.64s:%d)", u->host,
				u->port);
		if (c != NULL)
			redisFree(c);
		return rc;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		rc = ctx_err(r, c);
		redisFree(c);
		return rc;
	}
	r->ctx = c;
	return 0;
}

/*
 * On a fresh connection: CLUSTER INFO. An error reply (cluster support disabled, or a user
 * without the command) is a plain Redis: 0, nothing changed. A node of a cluster: r->cl set up
 * with @p url as its seed and its slot map read, the direct connection closed.
 */
static int cluster_detect(struct fs_redis *r, const char *url, int timeout_ms)
{
	const char *argv[] = {"CLUSTER", "INFO"};
	struct fs_rcl *cl;
	redisReply *rep;
	bool is_cluster;
	int rc;

	rc = command(r, &rep, 2, argv);
	if (rc == -EREMOTEIO) {
		r->err = 0;
		r->errstr[0] = '\0';
		return 0;
	}
	if (rc < 0)
		return rc;
	is_cluster = rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:") != NULL;
	freeReplyObject(rep);
	if (!is_cluster)
		return 0;
	cl = malloc(sizeof(*cl));
	if (cl == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	rc = fs_rcl_open(cl, &url, 1, r->password, timeout_ms);
	if (rc == 0)
		rc = fs_rcl_refresh(cl);
	if (rc < 0) {
		set_err(r, rc, "%s", cl->errstr);
		fs_rcl_close(cl);
		free(cl);
		return rc;
	}
	redisFree(r->ctx);
	r->ctx = NULL;
	r->cl = cl;
	return 0;
}

int fs_redis_connect(struct fs_redis *r, const char *url, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	struct fs_redis_url u;
	redisReply *rep;
	char dbs[16];
	int rc;

	fs_redis_close(r);
	r->err = 0;
	r->errstr[0] = '\0';
	rc = fs_redis_parse_url(url, &u);
	if (rc == -EPROTONOSUPPORT)
		return set_err(r, rc, "redis: %s", FS_REDIS_NO_TLS);
	if (rc < 0)
		return set_err(r, -EINVAL, "redis: bad URL (want %s)", FS_REDIS_URL_FORMS);
	rc = open_ctx(r, &u, tv);
	if (rc == 0)
		rc = auth(r, &u, r->password != NULL ? r->password : u.has_pass ? u.pass : NULL);
	if (rc == 0 && u.db != 0) {
		const char *argv[] = {"SELECT", dbs};
		snprintf(dbs, sizeof(dbs), "%d", u.db);
		rc = command(r, &rep, 2, argv);
		if (rc == 0)
			freeReplyObject(rep);
	}
	sodium_memzero(u.pass, sizeof(u.pass));
	if (rc == 0 && u.db == 0 && !r->single)
		rc = cluster_detect(r, url, timeout_ms);
	if (rc < 0)
		fs_redis_close(r);
	return rc;
}

int fs_redis_password_file(const char *path, char *out, size_t n)
{
	struct stat st;
	ssize_t got;
	size_t len;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if ((st.st_mode & 077) != 0)
		rc = -EPERM;
	if (rc == 0) {
		got = read(fd, out, n - 1);
		if (got < 0)
			rc = -errno;
		else if ((size_t)got == n - 1)
			rc = -EINVAL; /* too long (or no room for its line end) */
		else
			out[got] = '\0';
	}
	close(fd);
	if (rc < 0)
		return rc;
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	return len == 0 ? -EINVAL : 0;
}

void fs_redis_close(struct fs_redis *r)
{
	if (r->ctx != NULL)
		redisFree(r->ctx);
	r->ctx = NULL;
	if (r->cl != NULL) {
		fs_rcl_close(r->cl);
		free(r->cl);
		r->cl = NULL;
	}
}

bool fs_redis_usable(const struct fs_redis *r)
{
	const redisContext *c = r->ctx;

	return r->cl != NULL || (c != NULL && c->err == 0);
}

void fs_redis_sale_key(char out[FS_REDIS_KEYLEN], uint32_t sale_id, const char *what)
{
	snprintf(out, KEYLEN, "fs:{%" PRIu32 "}:%s", sale_id, what);
}


/* Every key of one sale (HACKING.md, Redis keys); lease is node @p node's, node its id (ARGV). */
struct sale_keys {
	char sale[KEYLEN], pool[KEYLEN], sold[KEYLEN], rem[KEYLEN], dead[KEYLEN], ret[KEYLEN];
	char ns[KEYLEN], lease[KEYLEN], who[KEYLEN], given[KEYLEN], starved[KEYLEN];
	char node[16];
};

static void keys_of(struct sale_keys *k, uint32_t sale_id, unsigned node)
{
	char what[32];

	fs_redis_sale_key(k->sale, sale_id, "sale");
	fs_redis_sale_key(k->pool, sale_id, "pool");
	fs_redis_sale_key(k->sold, sale_id, "sold");
	fs_redis_sale_key(k->rem, sale_id, "remaining");
	fs_redis_sale_key(k->dead, sale_id, "deleted");
	fs_redis_sale_key(k->ret, sale_id, "returned");
	fs_redis_sale_key(k->ns, sale_id, "node_sold");
	fs_redis_sale_key(k->who, sale_id, "lessees");
	fs_redis_sale_key(k->given, sale_id, "given");
	fs_redis_sale_key(k->starved, sale_id, "starved");
	snprintf(what, sizeof(what), "lease:%u", node);
	fs_redis_sale_key(k->lease, sale_id, what);
	snprintf(k->node, sizeof(k->node), "%u", node);
}

/* Run a command whose reply is an integer, into *v. */
static int command_int(struct fs_redis *r, long long *v, int argc, const char **argv)
{
	redisReply *rep;
	int rc;

	rc = command(r, &rep, argc, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = set_err(r, -EPROTO, "redis: unexpected reply type %d", rep->type);
	else
		*v = rep->integer;
	freeReplyObject(rep);
	return rc;
}

int fs_redis_command_ints(
	struct fs_redis *r, size_t n, long long *v, const char *what, int argc, const char **argv)
{
	redisReply *rep;
	int rc;

	rc = command(r, &rep, argc, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
		rc = set_err(r, -EPROTO, "redis: unexpected %s reply", what);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
			rc = set_err(r, -EPROTO, "redis: unexpected %s reply", what);
			goto out;
		}
		v[i] = rep->element[i]->integer;
	}
out:
	freeReplyObject(rep);
	return rc;
}

/*
 * fs_redis_command_ints of a script of sale @p sale_id whose reply is two integers (@p v), the
 * first -1 when the script found the sale's hash gone: -ENOENT then. 0 or -errno.
 */
static int eval_ints2(struct fs_redis *r, uint32_t sale_id, long long v[2], const char *what,
	int argc, const char **argv)
{
	int rc = fs_redis_command_ints(r, 2, v, what, argc, argv);

	if (rc < 0)
		return rc;
	if (v[0] == -1)
		return set_err(r, -ENOENT, "sale %" PRIu32 " not found (hash gone)", sale_id);
	return 0;
}

/* A sale definition as the strings create.lua and rebuild.lua take (empty: not set). */
struct def_args {
	char id[16], stock[24], start[24], end[24], hex[2 * 16 + 1], rate[16], burst[16], hold[16];
};

static void def_args_of(const struct fs_redis_sale *def, struct def_args *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%" PRIu32, def->sale_id);
	snprintf(a->stock, sizeof(a->stock), "%" PRIu64, def->stock);
	snprintf(a->start, sizeof(a->start), "%" PRId64, def->start_ms);
	snprintf(a->end, sizeof(a->end), "%" PRId64, def->end_ms);
	if (def->has_key)
		sodium_bin2hex(a->hex, sizeof(a->hex), def->key, sizeof(def->key));
	if (def->has_rl) {
		snprintf(a->rate, sizeof(a->rate), "%" PRIu32, def->rl_rate);
		snprintf(a->burst, sizeof(a->burst), "%" PRIu32, def->rl_burst);
	}
	if (def->hold_ms > 0)
		snprintf(a->hold, sizeof(a->hold), "%" PRIu32, def->hold_ms);
}

/*
 * SADD (@p add) or SREM of sale @p sale_id in fs:sales, the index of sales: a command of its own,
 * as fs:sales is in another cluster slot than the sale's keys (tag {N}) that the scripts touch.
 * *changed (may be NULL): the member was added or removed (not already so).
 */
static int sales_index(struct fs_redis *r, bool add, uint32_t sale_id, bool *changed)
{
	char id[16];
	long long v = 0;
	int rc;

	snprintf(id, sizeof(id), "%" PRIu32, sale_id);
	const char *argv[] = {add ? "SADD" : "SREM", "fs:sales", id};
	rc = command_int(r, &v, 3, argv);
	if (rc == 0 && changed != NULL)
		*changed = v == 1;
	return rc;
}

int fs_redis_sale_create(struct fs_redis *r, const struct fs_redis_sale *def)
{
	struct sale_keys k;
	struct def_args a;
	long long v = 0;
	int rc;

	keys_of(&k, def->sale_id, 0);
	def_args_of(def, &a);
	const char *argv[] = {"EVAL", fs_lua_create, "5", k.sale, k.pool, k.sold, k.rem, k.dead,
		a.id, a.stock, a.start, a.end, def->admission, a.hex, a.rate, a.burst, a.hold};
	rc = command_int(r, &v, (int)(sizeof(argv) / sizeof(argv[0])), argv);
	/* listed after the script, also when it exists (a create cut off before this repairs) */
	if (rc == 0 && v >= 0)
		rc = sales_index(r, true, def->sale_id, NULL);
	if (rc < 0)
		return rc;
	if (v == 0)
		return set_err(r, -EEXIST, "sale %" PRIu32 " exists", def->sale_id);
	if (v < 0)
		return set_err(r, -EEXIST,
			"sale %" PRIu32 " was deleted (%s): sale ids are never reused",
			def->sale_id, k.dead);
	return 0;
}

int fs_redis_sale_rekey(
	struct fs_redis *r, uint32_t sale_id, const uint8_t key[16], int64_t prev_until_ms)
{
	char k_sale[KEYLEN], hex[2 * 16 + 1], until[24];
	long long v = 0;
	int rc;

	fs_redis_sale_key(k_sale, sale_id, "sale");
	sodium_bin2hex(hex, sizeof(hex), key, 16);
	snprintf(until, sizeof(until), "%" PRId64, prev_until_ms);
	const char *argv[] = {"EVAL", fs_lua_rekey, "1", k_sale, hex, until};
	rc = command_int(r, &v, 6, argv);
	if (rc < 0)
		return rc;
	if (v == 0)
		return set_err(r, -ENOENT, "sale %" PRIu32 " not found", sale_id);
	if (v < 0)
		return set_err(r, -EINVAL, "sale %" PRIu32 " is not a token sale", sale_id);
	return 0;
}

/* A 32-hex-digit key field (string, non-empty) into @p key. 1 set, 0 absent, -EPROTO. */
static int hex_key(const redisReply *e, uint8_t key[16])
{
	if (e->type != REDIS_REPLY_STRING || e->len == 0)
		return 0;
	/* hiredis ends every string with a NUL: a NUL inside makes it too short, so malformed */
	if (fs_parse_hex(e->str, key, 16) < 0)
		return -EPROTO;
	return 1;
}

/* Parse a decimal integer reply string (string or nil); nil gives 0. */
static int str_i64(const redisReply *e, int64_t *v)
{
	if (e->type == REDIS_REPLY_NIL) {
		*v = 0;
		return 0;
	}
	if (e->type != REDIS_REPLY_STRING || fs_parse_i64(e->str, INT64_MIN, INT64_MAX, v) < 0)
		return -EPROTO;
	return 0;
}

static int copy_str(const redisReply *e, char *out, size_t n)
{
	if (e->type == REDIS_REPLY_NIL) {
		out[0] = '\0';
		return 0;
	}
	if (e->type != REDIS_REPLY_STRING || e->len >= n)
		return -EPROTO;
	memcpy(out, e->str, e->len);
	out[e->len] = '\0';
	return 0;
}

/* The fields fs_redis_sale_get reads of the sale hash (HMGET), in this order. */
static const char *const sale_fields[] = {"stock", "start_ms", "end_ms", "admission", "state",
	"token_key", "events_published", "rate_limit", "rate_burst", "prev_token_key",
	"prev_key_until_ms", "hold_ms"};
enum { N_SALE_FIELDS = sizeof(sale_fields) / sizeof(sale_fields[0]) };

/*
 * The definition part of @p out from an HMGET of sale_fields (@p e, N_SALE_FIELDS elements).
 * Returns 0, -ENOENT (no hash) or -EPROTO, with the error set on @p r.
 */
static int sale_from_hash(struct fs_redis *r, redisReply *const *e, struct fs_redis_sale *out)
{
	int64_t stock, ev, rate, burst, hold;
	uint32_t id = out->sale_id;
	int kr;

	if (e[0]->type == REDIS_REPLY_NIL)
		return set_err(r, -ENOENT, "sale %" PRIu32 " not found", id);
	if (str_i64(e[0], &stock) < 0 || stock <= 0 || str_i64(e[1], &out->start_ms) < 0 ||
		str_i64(e[2], &out->end_ms) < 0 ||
		copy_str(e[3], out->admission, sizeof(out->admission)) < 0 ||
		copy_str(e[4], out->state, sizeof(out->state)) < 0 || str_i64(e[6], &ev) < 0 ||
		str_i64(e[7], &rate) < 0 || str_i64(e[8], &burst) < 0 || rate < 0 ||
		rate > UINT32_MAX || burst < 0 || burst > UINT32_MAX ||
		str_i64(e[10], &out->prev_key_until_ms) < 0 || str_i64(e[11], &hold) < 0 ||
		hold < 0 || hold > FS_REDIS_HOLD_MAX_MS)
		return set_err(r, -EPROTO, "sale %" PRIu32 ": malformed hash fs:{%" PRIu32 "}:sale",
			id, id);
	out->stock = (uint64_t)stock;
	out->events_published = (uint32_t)ev;
	out->has_rl = e[7]->type == REDIS_REPLY_STRING;
	out->rl_rate = (uint32_t)rate;
	out->rl_burst = (uint32_t)burst;
	out->hold_ms = (uint32_t)hold;
	kr = hex_key(e[5], out->key);
	if (kr < 0)
		return set_err(r, -EPROTO, "sale %" PRIu32 ": malformed token_key", id);
	out->has_key = kr == 1;
	kr = hex_key(e[9], out->prev_key);
	if (kr < 0)
		return set_err(r, -EPROTO, "sale %" PRIu32 ": malformed prev_token_key", id);
	out->has_prev_key = kr == 1;
	return 0;
}

/* SCARD of fs:{N}:returned into *n (0 when absent). */
static int returned_count(struct fs_redis *r, uint32_t sale_id, uint64_t *n)
{
	char k_ret[KEYLEN];
	long long v = 0;
	int rc;

	fs_redis_sale_key(k_ret, sale_id, "returned");
	const char *argv[] = {"SCARD", k_ret};
	rc = command_int(r, &v, 2, argv);
	if (rc == 0)
		*n = v < 0 ? 0 : (uint64_t)v;
	return rc;
}

/* The counters of @p out (pool, sold, remaining: absent keys read 0) with one MGET. */
static int sale_counters(struct fs_redis *r, struct fs_redis_sale *out)
{
	char k_pool[KEYLEN], k_sold[KEYLEN], k_rem[KEYLEN];
	redisReply *rep;
	int64_t v[3];
	int rc = 0;

	fs_redis_sale_key(k_pool, out->sale_id, "pool");
	fs_redis_sale_key(k_sold, out->sale_id, "sold");
	fs_redis_sale_key(k_rem, out->sale_id, "remaining");
	const char *mget[] = {"MGET", k_pool, k_sold, k_rem};
	rc = command(r, &rep, 4, mget);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
		rc = set_err(r, -EPROTO, "redis: unexpected MGET reply");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		if (str_i64(rep->element[i], &v[i]) < 0) {
			rc = set_err(
				r, -EPROTO, "sale %" PRIu32 ": malformed counter", out->sale_id);
			goto out;
		}
	}
	out->has_pool = rep->element[0]->type != REDIS_REPLY_NIL;
	out->has_sold = rep->element[1]->type != REDIS_REPLY_NIL;
	out->has_remaining = rep->element[2]->type != REDIS_REPLY_NIL;
	out->pool = v[0];
	out->sold = v[1];
	out->remaining = v[2];
out:
	freeReplyObject(rep);
	return rc;
}

int fs_redis_sale_get(struct fs_redis *r, uint32_t sale_id, struct fs_redis_sale *out)
{
	char k_sale[KEYLEN];
	const char *argv[2 + N_SALE_FIELDS];
	redisReply *rep = NULL;
	int rc;

	fs_redis_sale_key(k_sale, sale_id, "sale");
	argv[0] = "HMGET";
	argv[1] = k_sale;
	for (int i = 0; i < N_SALE_FIELDS; i++)
		argv[2 + i] = sale_fields[i];
	rc = command(r, &rep, 2 + N_SALE_FIELDS, argv);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->sale_id = sale_id;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != N_SALE_FIELDS)
		rc = set_err(r, -EPROTO, "redis: unexpected HMGET reply");
	else
		rc = sale_from_hash(r, rep->element, out);
	freeReplyObject(rep);
	if (rc == 0)
		rc = sale_counters(r, out);
	if (rc == 0 && out->hold_ms > 0)
		rc = returned_count(r, sale_id, &out->returned);
	return rc;
}

int fs_redis_sale_stop(struct fs_redis *r, uint32_t sale_id)
{
	char k_sale[KEYLEN];
	long long v = 0;
	int rc;

	fs_redis_sale_key(k_sale, sale_id, "sale");
	const char *argv[] = {"EVAL", fs_lua_stop, "1", k_sale};
	rc = command_int(r, &v, 4, argv);
	if (rc < 0)
		return rc;
	if (v == 0)
		return set_err(r, -ENOENT, "sale %" PRIu32 " not found", sale_id);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int fs_redis_sale_list(struct fs_redis *r, uint32_t **ids, size_t *n)
{
	const char *argv[] = {"SMEMBERS", "fs:sales"};
	uint32_t *a = NULL;
	redisReply *rep;
	int rc;

	*ids = NULL;
	*n = 0;
	rc = command(r, &rep, 2, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY) {
		rc = set_err(r, -EPROTO, "redis: unexpected SMEMBERS reply");
		goto out;
	}
	if (rep->elements > 0) {
		a = calloc(rep->elements, sizeof(*a));
		if (a == NULL) {
			rc = set_err(r, -ENOMEM, "redis: out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < rep->elements; i++) {
		int64_t v;
		if (str_i64(rep->element[i], &v) < 0 || v < 0 || v > UINT32_MAX) {
			rc = set_err(r, -EPROTO, "redis: fs:sales holds a non-id member");
			free(a);
			a = NULL;
			goto out;
		}
		a[i] = (uint32_t)v;
	}
	if (a != NULL)
		qsort(a, rep->elements, sizeof(*a), cmp_u32);
	*ids = a;
	*n = rep->elements;
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/* lease.lua's reply: 3 to 6 integers into v (the rest left as they are). */
static int lease_reply(struct fs_redis *r, const redisReply *rep, long long v[6])
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 || rep->elements > 6)
		return set_err(r, -EPROTO, "redis: unexpected lease reply");
	for (size_t i = 0; i < rep->elements; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER)
			return set_err(r, -EPROTO, "redis: unexpected lease reply");
		v[i] = rep->element[i]->integer;
	}
	return 0;
}

int fs_redis_lease(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t want,
	struct fs_redis_lease *out)
{
	return fs_redis_lease_marked(r, sale_id, node, want, -1, 0, false, out);
}

int fs_redis_lease_marked(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t want,
	int64_t now_ms, int64_t since_ms, bool demand, struct fs_redis_lease *out)
{
	long long v[6] = {0, 0, 0, 0, 0, 0};
	struct sale_keys k;
	redisReply *rep;
	char wants[24], nows[24], sinces[24];
	int rc;

	keys_of(&k, sale_id, node);
	snprintf(wants, sizeof(wants), "%" PRIu64, want);
	snprintf(nows, sizeof(nows), "%" PRId64, now_ms);
	snprintf(sinces, sizeof(sinces), "%" PRId64, since_ms);
	const char *plain[] = {"EVAL", fs_lua_lease, "6", k.pool, k.lease, k.sale, k.ret, k.who,
		k.ns, wants, k.node};
	const char *marked[] = {"EVAL", fs_lua_lease, "7", k.pool, k.lease, k.sale, k.ret, k.who,
		k.ns, k.starved, wants, k.node, nows, sinces, demand ? "1" : "0"};
	if (now_ms < 0)
		rc = command(r, &rep, (int)(sizeof(plain) / sizeof(plain[0])), plain);
	else
		rc = command(r, &rep, (int)(sizeof(marked) / sizeof(marked[0])), marked);
	if (rc < 0)
		return rc;
	/* {taken, empty, lease, returned, pool_missing}, or {-1, 0, 0} when the hash is gone */
	rc = lease_reply(r, rep, v);
	freeReplyObject(rep);
	if (rc < 0)
		return rc;
	if (v[0] < -1 || v[2] < 0 || v[3] < 0)
		return set_err(r, -EPROTO, "redis: unexpected lease reply");
	if (v[0] == -1)
		return set_err(r, -ENOENT, "sale %" PRIu32 " not found (hash gone)", sale_id);
	out->taken = (uint64_t)v[0];
	out->pool_empty = v[1] != 0;
	out->leased = (uint64_t)v[2];
	out->returned = (uint64_t)v[3];
	out->pool_missing = v[4] == 1;
	out->starved = v[5] > 0 ? (unsigned)v[5] : 0;
	return 0;
}

int fs_redis_giveback(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t seq,
	uint64_t units, uint64_t *lease)
{
	char seqs[24], unitss[24];
	long long v[2] = {0, 0};
	struct sale_keys k;
	int rc;

	keys_of(&k, sale_id, node);
	snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
	snprintf(unitss, sizeof(unitss), "%" PRIu64, units);
	const char *argv[] = {"EVAL", fs_lua_giveback, "4", k.pool, k.lease, k.sale, k.given,
		k.node, seqs, unitss};
	rc = eval_ints2(r, sale_id, v, "giveback", (int)(sizeof(argv) / sizeof(argv[0])), argv);
	if (rc < 0)
		return rc;
	if (v[0] == -2)
		return set_err(
			r, -EAGAIN, "sale %" PRIu32 ": no lease key of node %u yet", sale_id, node);
	if (v[0] == -3)
		return set_err(r, -ERANGE,
			"sale %" PRIu32 ": lease key %lld of node %u below the %" PRIu64
			" units given back",
			sale_id, v[1], node, units);
	if (v[0] < 0 || v[1] < 0)
		return set_err(r, -EPROTO, "redis: unexpected giveback reply");
	if (lease != NULL)
		*lease = (uint64_t)v[1];
	return (int)v[0];
}

int fs_redis_publish_totals(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t sold,
	bool final, uint64_t *total, bool *pool_set)
{
	char solds[24];
	long long v[2] = {0, 0};
	struct sale_keys k;
	int rc;

	keys_of(&k, sale_id, node);
	snprintf(solds, sizeof(solds), "%" PRIu64, sold);
	const char *argv[] = {"EVAL", fs_lua_totals, "6", k.ns, k.sold, k.rem, k.sale, k.pool,
		k.ret, k.node, solds, final ? "1" : "0"};
	rc = eval_ints2(r, sale_id, v, "totals", (int)(sizeof(argv) / sizeof(argv[0])), argv);
	if (rc < 0)
		return rc;
	if (total != NULL)
		*total = (uint64_t)v[0];
	if (pool_set != NULL)
		*pool_set = v[1] != 0;
	return 0;
}

const char *fs_redis_state_name(enum fs_redis_state st)
{
	static const char *const names[] = {[FS_RS_CREATED] = "created",
		[FS_RS_ACTIVE] = "active",
		[FS_RS_SOLD_OUT] = "sold_out",
		[FS_RS_ENDED] = "ended",
		[FS_RS_STOPPED] = "stopped"};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : NULL;
}

enum fs_redis_state fs_redis_state_at(int64_t now_ms, int64_t start_ms, int64_t end_ms,
	uint64_t stock, uint64_t sold, bool stopped)
{
	if (stopped)
		return FS_RS_STOPPED;
	if (now_ms >= end_ms)
		return FS_RS_ENDED;
	if (sold >= stock)
		return FS_RS_SOLD_OUT;
	if (now_ms >= start_ms)
		return FS_RS_ACTIVE;
	return FS_RS_CREATED;
}

int fs_redis_sale_set_state(struct fs_redis *r, uint32_t sale_id, enum fs_redis_state st)
{
	const char *name = fs_redis_state_name(st);
	char k_sale[KEYLEN];
	long long v = 0;
	int rc;

	if (name == NULL || st == FS_RS_STOPPED)
		return set_err(r, -EINVAL, "state %d is not set by the daemon", (int)st);
	fs_redis_sale_key(k_sale, sale_id, "sale");
	const char *argv[] = {"EVAL", fs_lua_state, "1", k_sale, name};
	rc = command_int(r, &v, 5, argv);
	return rc < 0 ? rc : v != 0;
}

const char *fs_redis_event_name(enum fs_redis_event ev)
{
	switch (ev) {
	case FS_EV_STARTED:
		return "started";
	case FS_EV_SOLD_OUT:
		return "sold_out";
	case FS_EV_ENDED:
		return "ended";
	}
	return NULL;
}

int fs_redis_publish_event(
	struct fs_redis *r, uint32_t sale_id, enum fs_redis_event ev, uint32_t *mask)
{
	char k_sale[KEYLEN], k_chan[KEYLEN], bits[16];
	const char *name = fs_redis_event_name(ev);
	long long v[2] = {0, 0};
	int rc;

	if (name == NULL)
		return set_err(r, -EINVAL, "unknown event %d", (int)ev);
	fs_redis_sale_key(k_sale, sale_id, "sale");
	fs_redis_sale_key(k_chan, sale_id, "events");
	snprintf(bits, sizeof(bits), "%u", (unsigned)ev);
	const char *argv[] = {"EVAL", fs_lua_event, "2", k_sale, k_chan, bits, name};
	rc = fs_redis_command_ints(r, 2, v, "event", 7, argv);
	if (rc < 0)
		return rc;
	if (mask != NULL)
		*mask = (uint32_t)v[1];
	return v[0] ? 1 : 0;
}

/* ARGV of the other lessees of rebuild.lua: "NODE", or "NODE=SOLD" when forgotten. */
static int lessee_args(struct fs_redis *r, const struct fs_redis_lessee *o, size_t n,
	const char **argv, char (**buf)[32])
{
	*buf = n > 0 ? calloc(n, sizeof(**buf)) : NULL;
	if (n > 0 && *buf == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	for (size_t i = 0; i < n; i++) {
		if (o[i].forgotten)
			snprintf((*buf)[i], 32, "%u=%" PRIu64, o[i].node, o[i].sold);
		else
			snprintf((*buf)[i], 32, "%u", o[i].node);
		argv[i] = (*buf)[i];
	}
	return 0;
}

int fs_redis_sale_rebuild(struct fs_redis *r, const struct fs_redis_sale *def, unsigned node,
	uint64_t leased, bool final, uint64_t sold, uint64_t given_seq,
	const struct fs_redis_lessee *others, size_t n_others, unsigned *rebuilt)
{
	char ev[16], leaseds[24], solds[24], given[32], (*obuf)[32] = NULL;
	const char **argv = NULL;
	struct sale_keys k;
	struct def_args a;
	bool added = false;
	long long v = 0;
	size_t argc;
	int rc;

	keys_of(&k, def->sale_id, node);
	def_args_of(def, &a);
	snprintf(ev, sizeof(ev), "%" PRIu32, def->events_published);
	snprintf(leaseds, sizeof(leaseds), "%" PRIu64, leased);
	snprintf(solds, sizeof(solds), "%" PRIu64, sold);
	snprintf(given, sizeof(given), "given=%" PRIu64, given_seq);
	const char *fixed[] = {"EVAL", fs_lua_rebuild, "10", k.sale, k.pool, k.lease, k.ns, k.sold,
		k.rem, k.dead, k.ret, k.who, k.given, a.id, a.stock, a.start, a.end, def->admission,
		def->state[0] ? def->state : "created", ev, a.hex, k.node, leaseds,
		final ? "1" : "0", solds, a.rate, a.burst, a.hold, given};
	argc = sizeof(fixed) / sizeof(fixed[0]);
	argv = calloc(argc + n_others, sizeof(*argv));
	if (argv == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	memcpy(argv, fixed, sizeof(fixed));
	rc = lessee_args(r, others, n_others, argv + argc, &obuf);
	if (rc == 0)
		rc = command_int(r, &v, (int)(argc + n_others), argv);
	free(argv);
	free(obuf);
	if (rc == 0 && v < 0)
		return set_err(r, -ESTALE, "sale %" PRIu32 " was deleted", def->sale_id);
	if (rc == 0)
		rc = sales_index(r, true, def->sale_id, &added);
	if (rc == 0 && rebuilt != NULL)
		*rebuilt = (unsigned)v | (added ? 2u : 0u);
	return rc;
}

/* GET of a counter key into *v; *has false when the key does not exist. */
static int get_i64(struct fs_redis *r, const char *key, bool *has, int64_t *v)
{
	const char *argv[] = {"GET", key};
	redisReply *rep;
	int rc;

	rc = command(r, &rep, 2, argv);
	if (rc < 0)
		return rc;
	*has = rep->type != REDIS_REPLY_NIL;
	rc = str_i64(rep, v);
	freeReplyObject(rep);
	if (rc < 0)
		return set_err(r, -EPROTO, "redis: %s is not an integer", key);
	return 0;
}

/* Audit: membership in fs:sales and the hash's stock. */
static int audit_hash(struct fs_redis *r, uint32_t sale_id, struct fs_redis_audit *out)
{
	char k_sale[KEYLEN], id[16];
	redisReply *rep;
	int64_t v;
	int rc;

	fs_redis_sale_key(k_sale, sale_id, "sale");
	snprintf(id, sizeof(id), "%" PRIu32, sale_id);
	const char *ism[] = {"SISMEMBER", "fs:sales", id};
	rc = command(r, &rep, 3, ism);
	if (rc < 0)
		return rc;
	out->in_sales = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
	freeReplyObject(rep);

	const char *hget[] = {"HGET", k_sale, "stock"};
	rc = command(r, &rep, 3, hget);
	if (rc < 0)
		return rc;
	out->has_hash = rep->type != REDIS_REPLY_NIL;
	rc = str_i64(rep, &v);
	freeReplyObject(rep);
	if (rc < 0 || v < 0)
		return set_err(r, -EPROTO, "redis: %s stock is not an integer", k_sale);
	out->stock = (uint64_t)v;

	const char *hold[] = {"HGET", k_sale, "hold_ms"};
	rc = command(r, &rep, 3, hold);
	if (rc < 0)
		return rc;
	rc = str_i64(rep, &v);
	freeReplyObject(rep);
	if (rc < 0 || v < 0 || v > FS_REDIS_HOLD_MAX_MS)
		return set_err(r, -EPROTO, "redis: %s hold_ms is malformed", k_sale);
	out->hold_ms = (uint32_t)v;
	return returned_count(r, sale_id, &out->returned);
}

/* Audit: the sum of the node_sold hash. */
static int audit_node_sold(struct fs_redis *r, uint32_t sale_id, struct fs_redis_audit *out)
{
	char k_ns[KEYLEN];
	redisReply *rep;
	int64_t v;
	int rc;

	fs_redis_sale_key(k_ns, sale_id, "node_sold");
	const char *hvals[] = {"HVALS", k_ns};
	rc = command(r, &rep, 2, hvals);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		if (str_i64(rep->element[i], &v) < 0) {
			freeReplyObject(rep);
			return set_err(r, -EPROTO, "redis: %s holds a non-integer", k_ns);
		}
		out->node_sold += v;
	}
	freeReplyObject(rep);
	return 0;
}

/*
 * Call @p fn(r, key, arg) on every key of the sale matching fs:{N}:@p what (SCAN, never KEYS,
 * until the cursor comes back to 0). Stops at the first error @p fn returns.
 */
static int scan_keys(struct fs_redis *r, uint32_t sale_id, const char *what,
	int (*fn)(struct fs_redis *r, const char *key, void *arg), void *arg)
{
	char pattern[KEYLEN], cursor[32] = "0";
	redisReply *rep;
	int rc;

	fs_redis_sale_key(pattern, sale_id, what);
	do {
		const char *scan[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
		rc = command(r, &rep, 6, scan);
		if (rc < 0)
			return rc;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
			rep->element[0]->type != REDIS_REPLY_STRING ||
			rep->element[1]->type != REDIS_REPLY_ARRAY ||
			rep->element[0]->len >= sizeof(cursor)) {
			freeReplyObject(rep);
			return set_err(r, -EPROTO, "redis: unexpected SCAN reply");
		}
		memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
		cursor[rep->element[0]->len] = '\0';
		for (size_t i = 0; rc == 0 && i < rep->element[1]->elements; i++) {
			const redisReply *k = rep->element[1]->element[i];

			if (k->type == REDIS_REPLY_STRING && k->len < KEYLEN)
				rc = fn(r, k->str, arg);
		}
		freeReplyObject(rep);
		if (rc < 0)
			return rc;
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

/* scan_keys callback of the audit: add one node's lease to the sum. */
static int audit_lease(struct fs_redis *r, const char *key, void *arg)
{
	struct fs_redis_audit *out = arg;
	int64_t v;
	bool has;
	int rc;

	rc = get_i64(r, key, &has, &v);
	if (rc == 0 && has) {
		out->leases += v;
		out->n_leases++;
	}
	return rc;
}

int fs_redis_audit_read(struct fs_redis *r, uint32_t sale_id, struct fs_redis_audit *out)
{
	char k_pool[KEYLEN], k_sold[KEYLEN], k_rem[KEYLEN];
	int rc;

	memset(out, 0, sizeof(*out));
	fs_redis_sale_key(k_pool, sale_id, "pool");
	fs_redis_sale_key(k_sold, sale_id, "sold");
	fs_redis_sale_key(k_rem, sale_id, "remaining");
	if ((rc = audit_hash(r, sale_id, out)) < 0 ||
		(rc = get_i64(r, k_pool, &out->has_pool, &out->pool)) < 0 ||
		(rc = get_i64(r, k_sold, &out->has_sold, &out->sold)) < 0 ||
		(rc = get_i64(r, k_rem, &out->has_remaining, &out->remaining)) < 0 ||
		(rc = audit_node_sold(r, sale_id, out)) < 0)
		return rc;
	return scan_keys(r, sale_id, "lease:*", audit_lease, out);
}

/* Lease keys collected by scan_keys for a delete. */
struct key_list {
	char (*keys)[KEYLEN];
	size_t n, cap;
	uint32_t sale_id;
};

static int collect_key(struct fs_redis *r, const char *key, void *arg)
{
	struct key_list *l = arg;

	if (l->n == l->cap)
		return set_err(
			r, -E2BIG, "sale %" PRIu32 ": over %zu lease keys", l->sale_id, l->cap);
	snprintf(l->keys[l->n++], KEYLEN, "%s", key);
	return 0;
}

#define DEL_FIXED 8	    /* keys of delete.lua before the lease keys */
#define DEL_MAX_LEASES 4096 /* nodes of one sale (node ids are 16 bits; 4096 is plenty) */

/* Run delete.lua on the sale's keys and the lease keys in @p lk[0..nl). */
static int delete_eval(struct fs_redis *r, uint32_t sale_id, int64_t now_ms, char (*lk)[KEYLEN],
	size_t nl, long long v[2])
{
	char fixed[DEL_FIXED][KEYLEN], id[16], nows[24], nkeys[16];
	static const char *const what[] = {"sale", "deleted", "sold", "pool", "remaining",
		"node_sold", "lessees", "forgotten"};
	const char **argv;
	size_t argc = 0;
	int rc;

	argv = calloc(3 + DEL_FIXED + nl + 2, sizeof(*argv));
	if (argv == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	snprintf(id, sizeof(id), "%" PRIu32, sale_id);
	snprintf(nows, sizeof(nows), "%" PRId64, now_ms);
	snprintf(nkeys, sizeof(nkeys), "%zu", DEL_FIXED + nl);
	argv[argc++] = "EVAL";
	argv[argc++] = fs_lua_delete;
	argv[argc++] = nkeys;
	for (int i = 0; i < DEL_FIXED; i++) {
		fs_redis_sale_key(fixed[i], sale_id, what[i]);
		argv[argc++] = fixed[i];
	}
	for (size_t i = 0; i < nl; i++)
		argv[argc++] = lk[i];
	argv[argc++] = id;
	argv[argc++] = nows;
	rc = fs_redis_command_ints(r, 2, v, "delete", (int)argc, argv);
	free(argv);
	return rc;
}

int fs_redis_sale_delete(
	struct fs_redis *r, uint32_t sale_id, int64_t now_ms, struct fs_redis_delete *out)
{
	struct key_list l = {.cap = DEL_MAX_LEASES, .sale_id = sale_id};
	long long v[2] = {0, 0};
	int rc;

	l.keys = calloc(DEL_MAX_LEASES, sizeof(*l.keys));
	if (l.keys == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	rc = scan_keys(r, sale_id, "lease:*", collect_key, &l);
	if (rc == 0)
		rc = delete_eval(r, sale_id, now_ms, l.keys, l.n, v);
	if (rc == 0 && v[0] == -1)
		rc = set_err(r, -ENOENT, "sale %" PRIu32 " not found", sale_id);
	else if (rc == 0 && v[0] == -2)
		rc = set_err(r, -EBUSY, "sale %" PRIu32 " is not over", sale_id);
	else if (rc == 0 && (v[0] < 0 || v[0] > 1))
		rc = set_err(r, -EPROTO, "redis: unexpected delete reply");
	if (rc == 0) /* the script leaves fs:sales (another cluster slot) to us */
		rc = sales_index(r, false, sale_id, NULL);
	if (rc == 0) {
		out->already = v[0] == 0;
		out->deleted_ms = v[1];
		/* A lease written between the SCAN and the delete (a daemon's lease.lua needs the
		 * hash, so none after it): remove what a second SCAN finds. */
		l.n = 0;
		rc = scan_keys(r, sale_id, "lease:*", collect_key, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++) {
			const char *del[] = {"DEL", l.keys[i]};
			long long x;

			rc = command_int(r, &x, 2, del);
		}
	}
	free(l.keys);
	return rc;
}

int fs_redis_sale_deleted(struct fs_redis *r, uint32_t sale_id, int64_t *ms)
{
	char k_dead[KEYLEN];
	int64_t v = 0;
	bool has = false;
	int rc;

	fs_redis_sale_key(k_dead, sale_id, "deleted");
	rc = get_i64(r, k_dead, &has, &v);
	if (rc < 0)
		return rc;
	if (ms != NULL)
		*ms = v;
	return has ? 1 : 0;
}

#define RETURN_MAX 4096 /* order ids of one return.lua call */

int fs_redis_return(struct fs_redis *r, uint32_t sale_id, const uint64_t *order_ids, size_t n)
{
	char k_pool[KEYLEN], k_ret[KEYLEN], k_sale[KEYLEN];
	char(*ids)[24];
	const char **argv;
	long long v = 0;
	int rc;

	if (n == 0 || n > RETURN_MAX)
		return set_err(r, -EINVAL, "return: 1..%d order ids, not %zu", RETURN_MAX, n);
	ids = calloc(n, sizeof(*ids));
	argv = calloc(6 + n, sizeof(*argv));
	if (ids == NULL || argv == NULL) {
		rc = set_err(r, -ENOMEM, "redis: out of memory");
		goto out;
	}
	fs_redis_sale_key(k_pool, sale_id, "pool");
	fs_redis_sale_key(k_ret, sale_id, "returned");
	fs_redis_sale_key(k_sale, sale_id, "sale");
	argv[0] = "EVAL";
	argv[1] = fs_lua_return;
	argv[2] = "3";
	argv[3] = k_pool;
	argv[4] = k_ret;
	argv[5] = k_sale;
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%" PRIu64, order_ids[i]);
		argv[6 + i] = ids[i];
	}
	rc = command_int(r, &v, (int)(6 + n), argv);
	if (rc == 0 && v == -1)
		rc = set_err(r, -ENOENT, "sale %" PRIu32 ": hash or pool missing (returns wait)",
			sale_id);
	else if (rc == 0 && (v < 0 || (size_t)v > n))
		rc = set_err(r, -EPROTO, "redis: unexpected return reply");
	else if (rc == 0)
		rc = (int)v;
out:
	free(ids);
	free(argv);
	return rc;
}

int fs_redis_restock(
	struct fs_redis *r, uint32_t sale_id, unsigned node, struct fs_redis_restock *out)
{
	struct key_list l = {.cap = DEL_MAX_LEASES, .sale_id = sale_id};
	char fixed[5][KEYLEN], what[32];
	const char **argv = NULL;
	long long v[4] = {0, 0, 0, 0};
	size_t argc = 0;
	int rc;

	l.keys = calloc(DEL_MAX_LEASES, sizeof(*l.keys));
	if (l.keys == NULL)
		return set_err(r, -ENOMEM, "redis: out of memory");
	rc = scan_keys(r, sale_id, "lease:*", collect_key, &l);
	argv = rc == 0 ? calloc(8 + l.n, sizeof(*argv)) : NULL;
	if (rc == 0 && argv == NULL)
		rc = set_err(r, -ENOMEM, "redis: out of memory");
	if (rc < 0)
		goto out;
	fs_redis_sale_key(fixed[0], sale_id, "sale");
	fs_redis_sale_key(fixed[1], sale_id, "pool");
	fs_redis_sale_key(fixed[2], sale_id, "returned");
	fs_redis_sale_key(fixed[3], sale_id, "lessees");
	snprintf(what, sizeof(what), "lease:%u", node);
	fs_redis_sale_key(fixed[4], sale_id, what); /* this node's, which the SCAN may not have seen */
	argv[argc++] = "EVAL";
	argv[argc++] = fs_lua_restock;
	argv[argc++] = NULL; /* the key count, below */
	for (int i = 0; i < 5; i++)
		argv[argc++] = fixed[i];
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.keys[i], fixed[4]) != 0)
			argv[argc++] = l.keys[i];
	snprintf(what, sizeof(what), "%zu", argc - 3);
	argv[2] = what;
	rc = fs_redis_command_ints(r, 4, v, "restock", (int)argc, argv);
	if (rc == 0 && v[0] == -1)
		rc = set_err(r, -ENOENT, "sale %" PRIu32 " not found (hash gone)", sale_id);
	if (rc == 0) {
		out->written = v[0] == 1;
		out->consistent = v[1] == 1;
		out->returned = v[2] < 0 ? 0 : (uint64_t)v[2];
		out->pending = v[3] < 0 ? 0 : (uint64_t)v[3];
	}
out:
	free(argv);
	free(l.keys);
	return rc;
}
