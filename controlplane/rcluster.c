/* Redis Cluster client on hiredis 0.14 (with redis.c the only files including hiredis). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "monotonic.h"
#include "parse.h"
#include "rcluster.h"

#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 100

static int set_err(struct fs_rcl *cl, int err, const char *fmt, ...)
{
	va_list ap;

	cl->err = err;
	va_start(ap, fmt);
	vsnprintf(cl->errstr, sizeof(cl->errstr), fmt, ap);
	va_end(ap);
	return err;
}

/* ---------------------------------------------------------------- pure parts */

uint16_t fs_rcl_crc16(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
					     : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned fs_rcl_slot(const void *key, size_t len)
{
	const char *k = key, *open = memchr(k, '{', len), *close;

	if (open != NULL) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - k));
		if (close != NULL && close > open + 1)
			return fs_rcl_crc16(open + 1, (size_t)(close - open - 1)) &
			       (FS_RCL_SLOTS - 1);
	}
	return fs_rcl_crc16(k, len) & (FS_RCL_SLOTS - 1);
}

int fs_rcl_redirect_parse(const char *msg, struct fs_rcl_redirect *out)
{
	const char *p, *colon;
	char num[8];
	uint64_t v;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncmp(msg, "MOVED ", 6) == 0) {
		p = msg + 6;
	} else if (strncmp(msg, "ASK ", 4) == 0) {
		out->ask = true;
		p = msg + 4;
	} else {
		return -EINVAL;
	}
	n = strspn(p, "0123456789");
	if (n == 0 || n >= sizeof(num) || p[n] != ' ')
		return -EINVAL;
	memcpy(num, p, n);
	num[n] = '\0';
	if (fs_parse_u64(num, 0, FS_RCL_SLOTS - 1, &v) < 0)
		return -EINVAL;
	out->slot = (unsigned)v;
	p += n + 1;
	colon = strrchr(p, ':');
	if (colon == NULL || (size_t)(colon - p) >= sizeof(out->host) ||
		memchr(p, ' ', (size_t)(colon - p)) != NULL ||
		fs_parse_u64(colon + 1, 1, 65535, &v) < 0)
		return -EINVAL;
	memcpy(out->host, p, (size_t)(colon - p));
	out->host[colon - p] = '\0';
	out->port = (int)v;
	return 0;
}

/* ---------------------------------------------------------------- nodes */

static int node_find(const struct fs_rcl *cl, const char *host, int port)
{
	for (unsigned i = 0; i < cl->n_nodes; i++)
		if (cl->nodes[i].port == port && strcmp(cl->nodes[i].host, host) == 0)
			return (int)i;
	return -1;
}

/*
 * Drop the learnt nodes the map does not name (closing their connections), compacting nodes[]
 * and renumbering slot_node. Seeds stay, at their indices. Node indices held across this are
 * stale: callers look nodes up again after any map change.
 */
static void node_gc(struct fs_rcl *cl)
{
	bool named[FS_RCL_MAX_NODES] = {false};
	uint8_t to[FS_RCL_MAX_NODES];
	unsigned n = 0;

	for (unsigned s = 0; s < FS_RCL_SLOTS; s++)
		if (cl->slot_node[s] != FS_RCL_NONE)
			named[cl->slot_node[s]] = true;
	for (unsigned i = 0; i < cl->n_nodes; i++) {
		to[i] = FS_RCL_NONE;
		if (!named[i] && cl->nodes[i].seed < 0) {
			fs_redis_close(&cl->nodes[i].conn);
			continue;
		}
		if (n != i)
			cl->nodes[n] = cl->nodes[i];
		to[i] = (uint8_t)n++;
	}
	for (unsigned s = 0; s < FS_RCL_SLOTS; s++)
		if (cl->slot_node[s] != FS_RCL_NONE)
			cl->slot_node[s] = to[cl->slot_node[s]];
	cl->n_nodes = n;
}

/* The index of node HOST:PORT, added if new. -ENOSPC (table full of named nodes), -EPROTO. */
static int node_get(struct fs_rcl *cl, const char *host, int port)
{
	int i = node_find(cl, host, port);
	struct fs_rcl_node *nd;

	if (i >= 0)
		return i;
	if (strlen(host) >= sizeof(nd->host) || port <= 0 || port > 65535)
		return set_err(cl, -EPROTO, "redis: bad node address from the cluster");
	if (cl->n_nodes == FS_RCL_MAX_NODES)
		node_gc(cl);
	if (cl->n_nodes == FS_RCL_MAX_NODES)
		return set_err(
			cl, -ENOSPC, "redis: the cluster has more than %d nodes", FS_RCL_MAX_NODES);
	nd = &cl->nodes[cl->n_nodes];
	memset(nd, 0, sizeof(*nd));
	snprintf(nd->host, sizeof(nd->host), "%s", host);
	nd->port = port;
	nd->seed = -1;
	return (int)cl->n_nodes++;
}

/* ---------------------------------------------------------------- connections */

/* The URL a learnt node is reached at: redis://[USER@]HOST:PORT, USER percent-encoded. */
static void learnt_url(const struct fs_rcl *cl, const struct fs_rcl_node *nd, char *out, size_t n)
{
	static const char keep[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
	char user[3 * sizeof(cl->user)];
	size_t o = 0;

	for (const char *p = cl->user; *p != '\0'; p++) {
		if (strchr(keep, *p) != NULL)
			user[o++] = *p;
		else
			o += (size_t)sprintf(user + o, "%%%02X", (unsigned)(unsigned char)*p);
	}
	user[o] = '\0';
	snprintf(out, n, "redis://%s%s%s:%d", user, o ? "@" : "", nd->host, nd->port);
}

/* "HOST:PORT" of a node, or its seed URL masked (a unix:// seed), for error lines. */
static const char *node_name(const struct fs_rcl *cl, unsigned idx, char *out, size_t n)
{
	const struct fs_rcl_node *nd = &cl->nodes[idx];

	if (nd->host[0] == '\0' && nd->seed >= 0)
		fs_redis_url_mask(cl->seeds[nd->seed], out, n);
	else
		snprintf(out, n, "%s:%d", nd->host, nd->port);
	return out;
}

/*
 * An idle connection (no reply outstanding) has nothing to read: readable means the server
 * closed it (a restart, a kill, a timeout) or broke the protocol, so it is not used again.
 */
static bool conn_stale(const redisContext *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	return c->err != 0 || poll(&p, 1, 0) != 0;
}

/* The node's connection, (re)connected if it has none or a stale one; NULL with the error set. */
static redisContext *node_conn(struct fs_rcl *cl, unsigned idx)
{
	struct fs_rcl_node *nd = &cl->nodes[idx];
	char url[FS_RCL_URL_LEN];

	if (nd->conn.ctx != NULL && !conn_stale(nd->conn.ctx))
		return nd->conn.ctx;
	fs_redis_close(&nd->conn);
	nd->conn.single = true; /* this node only: no cluster client inside the cluster client */
	nd->conn.password = cl->password;
	if (nd->seed < 0) {
		learnt_url(cl, nd, url, sizeof(url));
		if (cl->password == NULL && cl->has_url_pass)
			nd->conn.password = cl->url_pass;
	}
	if (fs_redis_connect(&nd->conn, nd->seed >= 0 ? cl->seeds[nd->seed] : url, cl->timeout_ms) <
		0) {
		cl->stats.conn_errors++;
		set_err(cl, nd->conn.err, "%s", nd->conn.errstr);
		return NULL;
	}
	return nd->conn.ctx;
}

/*
 * A connection failed in I/O (errno as the failed call left it in @p e): close it, count it, set
 * the error, naming the node and, when the command was sent, that it may have run.
 */
static int conn_fail(struct fs_rcl *cl, unsigned idx, int e, bool sent)
{
	redisContext *c = cl->nodes[idx].conn.ctx;
	char name[128];
	int rc = -EIO;

	if (c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT))
		rc = -ETIMEDOUT;
	else if (c->err == REDIS_ERR_IO && (e == ECONNRESET || e == EPIPE || e == ECONNREFUSED))
		rc = -ECONNRESET;
	else if (c->err == REDIS_ERR_EOF)
		rc = -ECONNRESET;
	else if (c->err == REDIS_ERR_PROTOCOL)
		rc = -EPROTO;
	else if (c->err == REDIS_ERR_OOM)
		rc = -ENOMEM;
	set_err(cl, rc, "redis: %s (%s)%s", c->errstr[0] ? c->errstr : "I/O error",
		node_name(cl, idx, name, sizeof(name)), sent ? " (may have run)" : "");
	fs_redis_close(&cl->nodes[idx].conn);
	cl->stats.conn_errors++;
	return rc;
}

/*
 * Send a command to node @p idx (after ASKING when @p asking) and read its reply into *rep (which
 * may be an error reply). On failure *sent says whether the command may have reached the server.
 */
static int node_send(struct fs_rcl *cl, unsigned idx, bool asking, int argc, const char **argv,
	const size_t *argvlen, redisReply **rep, bool *sent)
{
	redisContext *c;
	void *r = NULL;
	int done = 0;

	*rep = NULL;
	*sent = false;
	c = node_conn(cl, idx);
	if (c == NULL)
		return cl->err;
	if ((asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
		redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK)
		return conn_fail(cl, idx, errno, false);
	/* Until the whole command is written the server cannot run it: a failure is "not sent". */
	do {
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return conn_fail(cl, idx, errno, false);
	} while (!done);
	*sent = true;
	if (asking) {
		if (redisGetReply(c, &r) != REDIS_OK)
			return conn_fail(cl, idx, errno, true);
		freeReplyObject(r);
	}
	if (redisGetReply(c, &r) != REDIS_OK)
		return conn_fail(cl, idx, errno, true);
	*rep = r;
	return 0;
}

/* ---------------------------------------------------------------- the slot map */

/* Whether @p e is one CLUSTER SLOTS range [first, last, [host, port, ...], ...]. */
static bool range_ok(const redisReply *e)
{
	const redisReply *m;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
		return false;
	m = e->element[2];
	return e->element[0]->type == REDIS_REPLY_INTEGER &&
	       e->element[1]->type == REDIS_REPLY_INTEGER && e->element[0]->integer >= 0 &&
	       e->element[0]->integer <= e->element[1]->integer &&
	       e->element[1]->integer < FS_RCL_SLOTS && m->type == REDIS_REPLY_ARRAY &&
	       m->elements >= 2 &&
	       (m->element[0]->type == REDIS_REPLY_STRING ||
		       m->element[0]->type == REDIS_REPLY_NIL) &&
	       m->element[1]->type == REDIS_REPLY_INTEGER && m->element[1]->integer > 0 &&
	       m->element[1]->integer <= 65535;
}

/*
 * Install a CLUSTER SLOTS reply sent by node @p from: ranges to their masters (a NULL or empty
 * host: @p from's host, per the command's documentation; "?": unknown, left out), or an error
 * reply: every slot to @p from. Validated whole before anything changes.
 */
static int install(struct fs_rcl *cl, const redisReply *rep, unsigned from)
{
	char host[256];

	if (rep->type == REDIS_REPLY_ERROR) {
		memset(cl->slot_node, (int)from, sizeof(cl->slot_node));
		cl->cluster = false;
		cl->mapped = true;
		return 0;
	}
	if (rep->type != REDIS_REPLY_ARRAY)
		return set_err(cl, -EPROTO, "redis: unexpected CLUSTER SLOTS reply");
	for (size_t i = 0; i < rep->elements; i++)
		if (!range_ok(rep->element[i]))
			return set_err(cl, -EPROTO, "redis: malformed CLUSTER SLOTS range %zu", i);
	memset(cl->slot_node, FS_RCL_NONE, sizeof(cl->slot_node));
	cl->mapped = false;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *const *e = (const redisReply *const *)rep->element[i]->element;
		const redisReply *h = e[2]->element[0];
		int idx;

		snprintf(host, sizeof(host), "%s",
			h->type == REDIS_REPLY_NIL || h->len == 0 ? cl->nodes[from].host : h->str);
		if (strcmp(host, "?") == 0)
			continue;
		idx = node_get(cl, host, (int)e[2]->element[1]->integer);
		if (idx < 0)
			return idx;
		memset(cl->slot_node + e[0]->integer, idx,
			(size_t)(e[1]->integer - e[0]->integer + 1));
	}
	cl->cluster = true;
	cl->mapped = true;
	return 0;
}

int fs_rcl_map_load(struct fs_rcl *cl, unsigned from, const char *resp, size_t len)
{
	redisReader *rd = redisReaderCreate();
	void *rep = NULL;
	int rc;

	if (rd == NULL)
		return set_err(cl, -ENOMEM, "redis: out of memory");
	rc = -EPROTO;
	if (from < cl->n_nodes && redisReaderFeed(rd, resp, len) == REDIS_OK &&
		redisReaderGetReply(rd, &rep) == REDIS_OK && rep != NULL && rd->pos == rd->len)
		rc = install(cl, rep, from);
	else
		set_err(cl, rc, "redis: not one complete CLUSTER SLOTS reply");
	if (rep != NULL)
		freeReplyObject(rep);
	redisReaderFree(rd);
	return rc;
}

/* CLUSTER SLOTS on node @p idx; 0 and the map installed, 1 an error reply (not installed). */
static int refresh_on(struct fs_rcl *cl, unsigned idx)
{
	const char *argv[] = {"CLUSTER", "SLOTS"};
	redisReply *rep;
	bool sent;
	int rc;

	rc = node_send(cl, idx, false, 2, argv, NULL, &rep, &sent);
	if (rc < 0)
		return rc;
	cl->stats.refreshes++;
	if (rep->type == REDIS_REPLY_ERROR) {
		set_err(cl, -EREMOTEIO, "redis: CLUSTER SLOTS: %.150s", rep->str);
		rc = 1;
	} else {
		rc = install(cl, rep, idx);
	}
	freeReplyObject(rep);
	return rc;
}

/*
 * fs_rcl_refresh, asking node @p last (a node that just failed, or -1) last of all. Learnt nodes
 * first (where the cluster is now), then the seeds. If none sends a map but one answered with an
 * error reply (a plain Redis, or a user without the CLUSTER command), every slot goes to the first
 * such node and MOVED replies correct the map slot by slot.
 */
static int refresh_from(struct fs_rcl *cl, int last)
{
	unsigned n = cl->n_nodes, order[FS_RCL_MAX_NODES], k = 0;
	int rc = set_err(cl, -ENOTCONN, "redis: no node to read the slot map from"), plain = -1;

	for (unsigned i = cl->n_seeds; i < n; i++)
		if ((int)i != last)
			order[k++] = i;
	for (unsigned i = 0; i < cl->n_seeds && i < n; i++)
		if ((int)i != last)
			order[k++] = i;
	if (last >= 0 && (unsigned)last < n)
		order[k++] = (unsigned)last;
	for (unsigned i = 0; i < k; i++) {
		rc = refresh_on(cl, order[i]);
		if (rc == 0)
			break;
		if (rc == 1 && plain < 0)
			plain = (int)order[i];
	}
	if (rc != 0 && plain >= 0) {
		memset(cl->slot_node, plain, sizeof(cl->slot_node));
		cl->cluster = false;
		cl->mapped = true;
		rc = 0;
	}
	if (rc == 0) {
		cl->err = 0;
		cl->errstr[0] = '\0';
	}
	return rc;
}

int fs_rcl_refresh(struct fs_rcl *cl)
{
	return refresh_from(cl, -1);
}

/* ---------------------------------------------------------------- commands */

/* One command on its way through the cluster (run). */
struct req {
	int slot;	   /* its keys' slot, -1: none */
	int argc;	   /* argv's length */
	const char **argv; /* for an EVALSHA, [0] and [1] become EVAL and the source on NOSCRIPT */
	const size_t *argvlen; /* NULL: argv's strings end with a NUL */
	const char *eval_src;  /* the source when argv is an EVALSHA, else NULL */
	int node;	       /* the node of the current attempt */
	bool asking;	       /* the current attempt was sent after ASKING */
	int ask;	       /* the node an ASK named, for the next attempt, or -1 */
	int redirects;	       /* MOVED and ASK replies met */
	int delay_ms;	       /* back-off before the next attempt */
	int last_bad;	       /* a node that just failed (asked last for the map), or -1 */
};

static void backoff(struct req *q)
{
	q->delay_ms = q->delay_ms == 0			 ? BACKOFF_FIRST_MS
		      : q->delay_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							 : q->delay_ms * 2;
}

/* The node of the next attempt: the ASK target, the slot's master, or (no key, or a slot no
 * master is known for) slot 0's master, else the first seed. */
static int target(const struct fs_rcl *cl, const struct req *q)
{
	unsigned s = q->slot >= 0 ? (unsigned)q->slot : 0;

	if (q->ask >= 0)
		return q->ask;
	if (cl->slot_node[s] != FS_RCL_NONE)
		return cl->slot_node[s];
	return cl->slot_node[0] != FS_RCL_NONE ? cl->slot_node[0] : 0;
}

/*
 * MOVED: the whole map is read again (the specification: a MOVED likely means more slots moved),
 * from the node the MOVED names first (it serves the slot now, so it knows of the change that
 * moved it, e.g. a failover, where another node may not yet: a stale map means one more MOVED
 * per slot), else from any node; then the slot is pointed where the MOVED said.
 * ASK: the next attempt only goes to the named node, after ASKING. Both count as a try; from the
 * second redirection of a command on, with a back-off (configurations in flux).
 */
static int redirect(struct fs_rcl *cl, struct req *q, const struct fs_rcl_redirect *rd)
{
	char host[256];
	int idx;

	snprintf(host, sizeof(host), "%s", rd->host[0] ? rd->host : cl->nodes[q->node].host);
	if (rd->ask) {
		cl->stats.ask++;
	} else {
		cl->stats.moved++;
		idx = node_get(cl, host, rd->port);
		if (idx < 0 || refresh_on(cl, (unsigned)idx) != 0)
			(void)refresh_from(cl, -1);
	}
	idx = node_get(cl, host, rd->port); /* again: a map change may renumber the nodes */
	if (idx < 0)
		return idx;
	if (rd->ask)
		q->ask = idx;
	else
		cl->slot_node[rd->slot] = (uint8_t)idx;
	q->delay_ms = 0;
	if (++q->redirects > 1)
		backoff(q);
	return 1;
}

/* An error reply @p msg to the current attempt: 1 to try again (q updated), or the final error. */
static int on_error_reply(struct fs_rcl *cl, struct req *q, const char *msg)
{
	struct fs_rcl_redirect rd;

	if (fs_rcl_redirect_parse(msg, &rd) == 0) {
		set_err(cl, -EAGAIN, "redis: %.150s", msg);
		return redirect(cl, q, &rd);
	}
	if (strncmp(msg, "CROSSSLOT", 9) == 0)
		return set_err(cl, -EXDEV, "redis: %.180s", msg);
	if (strncmp(msg, "NOSCRIPT", 8) == 0 && q->eval_src != NULL &&
		strcmp(q->argv[0], "EVALSHA") == 0) {
		/* EVAL loads the script on this node; sent to the same node (again after ASKING) */
		cl->stats.noscript++;
		q->argv[0] = "EVAL";
		q->argv[1] = q->eval_src;
		q->ask = q->asking ? q->node : -1;
		q->delay_ms = 0;
		return 1;
	}
	if (strncmp(msg, "TRYAGAIN", 8) == 0 || strncmp(msg, "LOADING", 7) == 0) {
		cl->stats.tryagain++;
	} else if (strncmp(msg, "CLUSTERDOWN", 11) == 0) {
		cl->stats.clusterdown++;
		cl->mapped = false;
	} else {
		return set_err(cl, -EREMOTEIO, "redis: %.180s", msg);
	}
	set_err(cl, -EAGAIN, "redis: %.180s", msg);
	backoff(q);
	return 1;
}

/* Sleep the back-off of @p q, unless that would end past cl->retry_ms after @p start: false. */
static bool wait_turn(const struct fs_rcl *cl, const struct req *q, int64_t start)
{
	struct timespec ts = {
		.tv_sec = q->delay_ms / 1000, .tv_nsec = (long)(q->delay_ms % 1000) * 1000000L};

	if (fs_monotonic_ms() + q->delay_ms - start > cl->retry_ms)
		return false;
	if (q->delay_ms > 0)
		nanosleep(&ts, NULL);
	return true;
}

/* The last error, with how long the command was tried (errstr stays one line). */
static int gave_up(struct fs_rcl *cl, int tries, int64_t start)
{
	size_t len;

	if (cl->err == 0)
		set_err(cl, -EAGAIN, "redis: no reply");
	len = strlen(cl->errstr);
	snprintf(cl->errstr + len, sizeof(cl->errstr) - len, " (gave up after %d tries in %lld ms)",
		tries, (long long)(fs_monotonic_ms() - start));
	return cl->err;
}

/* Whether a failed connect or send is worth another try (a node down or restarting), unlike a
 * refused AUTH, a bad URL or a SELECT in a cluster. */
static bool conn_retryable(int rc)
{
	return rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -EIO ||
	       rc == -EPROTO || rc == -ENOTCONN || rc == -EHOSTUNREACH || rc == -ENETUNREACH;
}

/* One attempt of @p q: 0 and *out, 1 to try again, or the final error. */
static int attempt(struct fs_rcl *cl, struct req *q, redisReply **out)
{
	redisReply *rep;
	bool sent;
	int rc;

	if (!cl->mapped) {
		rc = refresh_from(cl, q->last_bad);
		if (rc < 0 && !conn_retryable(rc))
			return rc;
		if (rc < 0) {
			backoff(q);
			return 1;
		}
	}
	q->node = target(cl, q);
	q->asking = q->ask >= 0;
	q->ask = -1;
	rc = node_send(cl, (unsigned)q->node, q->asking, q->argc, q->argv, q->argvlen, &rep, &sent);
	if (rc < 0) {
		/* the node is gone or restarting: read the map again, from other nodes first */
		cl->mapped = false;
		q->last_bad = q->node;
		if (sent || !conn_retryable(rc))
			return rc;
		backoff(q);
		return 1;
	}
	if (rep->type != REDIS_REPLY_ERROR) {
		*out = rep;
		return 0;
	}
	rc = on_error_reply(cl, q, rep->str != NULL ? rep->str : "");
	freeReplyObject(rep);
	return rc;
}

static int run(struct fs_rcl *cl, struct req *q, redisReply **out)
{
	int64_t start = fs_monotonic_ms();
	int rc, tries = 0;

	*out = NULL;
	cl->err = 0;
	cl->errstr[0] = '\0';
	if (cl->n_nodes == 0)
		return set_err(cl, -ENOTCONN, "redis: not open");
	do {
		if (tries > 0 && !wait_turn(cl, q, start))
			break;
		tries++;
		rc = attempt(cl, q, out);
		if (rc == 0) {
			cl->err = 0;
			cl->errstr[0] = '\0';
		}
		if (rc <= 0)
			return rc;
	} while (tries < cl->max_tries);
	return gave_up(cl, tries, start);
}

int fs_rcl_command(struct fs_rcl *cl, const char *slot_key, int argc, const char **argv,
	const size_t *argvlen, struct redisReply **out)
{
	struct req q = {
		.slot = slot_key != NULL ? (int)fs_rcl_slot(slot_key, strlen(slot_key)) : -1,
		.argc = argc,
		.argv = argv,
		.argvlen = argvlen,
		.ask = -1,
		.last_bad = -1,
	};

	return run(cl, &q, out);
}

int fs_rcl_command_int(
	struct fs_rcl *cl, const char *slot_key, int argc, const char **argv, long long *v)
{
	redisReply *rep;
	int rc;

	rc = fs_rcl_command(cl, slot_key, argc, argv, NULL, &rep);
	if (rc < 0)
		return rc;
	if (rep->type == REDIS_REPLY_INTEGER)
		*v = rep->integer;
	else
		rc = set_err(cl, -EPROTO, "redis: %s: not an integer reply", argv[0]);
	freeReplyObject(rep);
	return rc;
}

/* SCRIPT LOAD of @p s on the master of @p slot_key's slot, for its SHA1. */
static int script_load(struct fs_rcl *cl, struct fs_rcl_script *s, const char *slot_key)
{
	const char *argv[] = {"SCRIPT", "LOAD", s->src};
	redisReply *rep;
	int rc;

	rc = fs_rcl_command(cl, slot_key, 3, argv, NULL, &rep);
	if (rc < 0)
		return rc;
	if (rep->type == REDIS_REPLY_STRING && rep->len == sizeof(s->sha) - 1)
		memcpy(s->sha, rep->str, sizeof(s->sha));
	else
		rc = set_err(cl, -EPROTO, "redis: unexpected SCRIPT LOAD reply");
	freeReplyObject(rep);
	return rc;
}

int fs_rcl_eval(struct fs_rcl *cl, struct fs_rcl_script *s, int nkeys, const char *const *keys,
	int nargs, const char *const *args, struct redisReply **out)
{
	const char *slot_key = nkeys > 0 ? keys[0] : NULL;
	struct req q = {.slot = -1,
		.argc = 3 + nkeys + nargs,
		.eval_src = s->src,
		.ask = -1,
		.last_bad = -1};
	char nk[16];
	int rc;

	*out = NULL;
	if (nkeys < 0 || nargs < 0)
		return set_err(cl, -EINVAL, "redis: negative key or argument count");
	if (slot_key != NULL)
		q.slot = (int)fs_rcl_slot(slot_key, strlen(slot_key));
	for (int i = 1; i < nkeys; i++)
		if (fs_rcl_slot(keys[i], strlen(keys[i])) != (unsigned)q.slot)
			return set_err(cl, -EXDEV,
				"redis: script keys %.60s and %.60s are in "
				"different slots",
				slot_key, keys[i]);
	if (s->sha[0] == '\0' && (rc = script_load(cl, s, slot_key)) < 0)
		return rc;
	q.argv = calloc((size_t)q.argc, sizeof(*q.argv));
	if (q.argv == NULL)
		return set_err(cl, -ENOMEM, "redis: out of memory");
	snprintf(nk, sizeof(nk), "%d", nkeys);
	q.argv[0] = "EVALSHA";
	q.argv[1] = s->sha;
	q.argv[2] = nk;
	for (int i = 0; i < nkeys; i++)
		q.argv[3 + i] = keys[i];
	for (int i = 0; i < nargs; i++)
		q.argv[3 + nkeys + i] = args[i];
	rc = run(cl, &q, out);
	free(q.argv);
	return rc;
}

/* ---------------------------------------------------------------- set-up */

int fs_rcl_open(
	struct fs_rcl *cl, const char *const *urls, size_t n, const char *password, int timeout_ms)
{
	struct fs_redis_url u;
	int rc = 0;

	memset(cl, 0, sizeof(*cl));
	memset(cl->slot_node, FS_RCL_NONE, sizeof(cl->slot_node));
	cl->timeout_ms = timeout_ms;
	cl->retry_ms = 2000;
	cl->max_tries = 32;
	cl->password = password;
	if (n == 0 || n > FS_RCL_MAX_SEEDS || timeout_ms <= 0)
		return set_err(cl, -EINVAL, "redis: 1 to %d seed URLs and a timeout > 0",
			FS_RCL_MAX_SEEDS);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct fs_rcl_node *nd = &cl->nodes[i];

		rc = fs_redis_parse_url(urls[i], &u);
		if (rc == -EPROTONOSUPPORT)
			set_err(cl, rc, "redis: %s", FS_REDIS_NO_TLS);
		else if (rc < 0 || strlen(urls[i]) >= FS_RCL_URL_LEN)
			rc = set_err(cl, -EINVAL, "redis: bad URL (want %s)", FS_REDIS_URL_FORMS);
		if (rc == 0 && i == 0) {
			memcpy(cl->user, u.user, sizeof(cl->user));
			memcpy(cl->url_pass, u.pass, sizeof(cl->url_pass));
			cl->has_url_pass = u.has_pass;
		}
		sodium_memzero(u.pass, sizeof(u.pass));
		snprintf(cl->seeds[i], sizeof(cl->seeds[i]), "%s", urls[i]);
		nd->seed = (int)i;
		if (!u.is_unix) {
			memcpy(nd->host, u.host, sizeof(nd->host));
			nd->port = u.port;
		}
		cl->n_seeds = cl->n_nodes = (unsigned)i + 1;
	}
	if (rc < 0)
		fs_rcl_close(cl);
	return rc;
}

void fs_rcl_close(struct fs_rcl *cl)
{
	for (unsigned i = 0; i < cl->n_nodes; i++)
		fs_redis_close(&cl->nodes[i].conn);
	sodium_memzero(cl->url_pass, sizeof(cl->url_pass));
	sodium_memzero(cl->seeds, sizeof(cl->seeds));
	memset(cl->slot_node, FS_RCL_NONE, sizeof(cl->slot_node));
	cl->n_nodes = cl->n_seeds = 0;
	cl->mapped = false;
}

int fs_rcl_slot_addr(const struct fs_rcl *cl, unsigned slot, char *out, size_t n)
{
	if (slot >= FS_RCL_SLOTS)
		return -EINVAL;
	if (cl->slot_node[slot] == FS_RCL_NONE || cl->slot_node[slot] >= cl->n_nodes)
		return -ENOENT;
	node_name(cl, cl->slot_node[slot], out, n);
	return 0;
}

/* Append to out[*o .. n) as snprintf would, keeping *o <= n - 1. */
static void put(char *out, size_t n, size_t *o, const char *s, size_t len)
{
	for (size_t i = 0; i < len && *o + 1 < n; i++)
		out[(*o)++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[*o] = '\0';
}

static void reply_put(const redisReply *rep, char *out, size_t n, size_t *o)
{
	char num[32];

	switch (rep->type) {
	case REDIS_REPLY_INTEGER:
		put(out, n, o, num, (size_t)snprintf(num, sizeof(num), "%lld", rep->integer));
		break;
	case REDIS_REPLY_NIL:
		put(out, n, o, "(nil)", 5);
		break;
	case REDIS_REPLY_ERROR:
		put(out, n, o, "(error) ", 8);
		/* fall through */
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		put(out, n, o, rep->str, rep->len);
		break;
	case REDIS_REPLY_ARRAY:
		put(out, n, o, "[", 1);
		for (size_t i = 0; i < rep->elements; i++) {
			if (i > 0)
				put(out, n, o, ", ", 2);
			reply_put(rep->element[i], out, n, o);
		}
		put(out, n, o, "]", 1);
		break;
	default:
		put(out, n, o, "(?)", 3);
	}
}

size_t fs_rcl_reply_str(const struct redisReply *rep, char *out, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return 0;
	out[0] = '\0';
	if (rep == NULL)
		put(out, n, &o, "(none)", 6);
	else
		reply_put(rep, out, n, &o);
	return o;
}

void fs_rcl_reply_free(struct redisReply *rep)
{
	if (rep != NULL)
		freeReplyObject(rep);
}
