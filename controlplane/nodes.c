/* The node registry in Redis (nodes.h): liveness keys and report lines. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "nodes.h"
#include "parse.h"

#include "lua_alive.h"
#include "lua_forget.h"

static int set_err(struct fs_redis *r, int e, const char *what)
{
	r->err = e;
	snprintf(r->errstr, sizeof(r->errstr), "redis: unexpected %s reply", what);
	return e;
}

int fs_nodes_alive(struct fs_redis *r, unsigned node, const char *token, unsigned ttl_ms,
	bool release, int64_t *pttl)
{
	char key[48], gone[48], ttl[16];
	redisReply *rep;
	int rc;

	snprintf(key, sizeof(key), "fs:node:{%u}:alive", node);
	snprintf(gone, sizeof(gone), "fs:node:{%u}:forgotten", node);
	snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
	const char *argv[] = {
		"EVAL", fs_lua_alive, "2", key, gone, token, ttl, release ? "release" : "claim"};
	rc = fs_redis_command(r, &rep, 8, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		rep->element[0]->type != REDIS_REPLY_INTEGER ||
		rep->element[1]->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(rep);
		return set_err(r, -EPROTO, "alive");
	}
	rc = rep->element[0]->integer == 1 ? 1 : 0;
	if (rep->element[0]->integer == -1) {
		r->err = -EPERM;
		snprintf(r->errstr, sizeof(r->errstr),
			"node %u was forgotten (flashctl node forget, fs:node:{%u}:forgotten)",
			node, node);
		rc = -EPERM;
	}
	if (pttl != NULL)
		*pttl = rep->element[1]->integer;
	freeReplyObject(rep);
	return rc;
}

int fs_nodes_report(struct fs_redis *r, unsigned node, const char *info)
{
	char id[16];
	redisReply *rep;
	int rc;

	snprintf(id, sizeof(id), "%u", node);
	const char *argv[] = {"HSET", FS_NODES_KEY, id, info};
	rc = fs_redis_command(r, &rep, 4, argv);
	if (rc == 0)
		freeReplyObject(rep);
	return rc;
}

/* An integer reply, or -1 for nil / absent, -2 for another type. */
static long long int_or(const redisReply *e)
{
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtoll(e->str, NULL, 10);
	return e->type == REDIS_REPLY_NIL ? -1 : -2;
}

static int cmp_node(const void *a, const void *b)
{
	unsigned x = ((const struct fs_node_info *)a)->node;
	unsigned y = ((const struct fs_node_info *)b)->node;

	return (x > y) - (x < y);
}

/* The PTTL of each node's liveness key. */
static int list_alive(struct fs_redis *r, struct fs_node_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char key[48];
		redisReply *rep;
		int rc;

		snprintf(key, sizeof(key), "fs:node:{%u}:alive", v[i].node);
		const char *argv[] = {"PTTL", key};
		rc = fs_redis_command(r, &rep, 2, argv);
		if (rc < 0)
			return rc;
		v[i].alive_pttl = int_or(rep);
		freeReplyObject(rep);
	}
	return 0;
}

int fs_nodes_list(struct fs_redis *r, struct fs_node_info **out, size_t *n)
{
	const char *argv[] = {"HGETALL", FS_NODES_KEY};
	struct fs_node_info *v = NULL;
	redisReply *rep;
	size_t k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = fs_redis_command(r, &rep, 2, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
		freeReplyObject(rep);
		return set_err(r, -EPROTO, "HGETALL fs:nodes");
	}
	if (rep->elements > 0 && (v = calloc(rep->elements / 2, sizeof(*v))) == NULL) {
		freeReplyObject(rep);
		return -ENOMEM;
	}
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *f = rep->element[i], *val = rep->element[i + 1];
		char *end;
		unsigned long id;

		if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
			continue;
		id = strtoul(f->str, &end, 10);
		if (*end != '\0' || id == 0 || id > UINT16_MAX)
			continue; /* not a node id: not ours */
		v[k].node = (unsigned)id;
		snprintf(v[k].info, sizeof(v[k].info), "%s", val->str);
		k++;
	}
	freeReplyObject(rep);
	qsort(v, k, sizeof(*v), cmp_node);
	rc = list_alive(r, v, k);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int fs_nodes_sale(
	struct fs_redis *r, uint32_t sale_id, unsigned node, int64_t *leased, int64_t *sold)
{
	char lk[FS_REDIS_KEYLEN], nk[FS_REDIS_KEYLEN], id[16];
	redisReply *rep;
	int rc;

	snprintf(id, sizeof(id), "lease:%u", node);
	fs_redis_sale_key(lk, sale_id, id);
	fs_redis_sale_key(nk, sale_id, "node_sold");
	snprintf(id, sizeof(id), "%u", node);
	const char *get[] = {"GET", lk};
	rc = fs_redis_command(r, &rep, 2, get);
	if (rc < 0)
		return rc;
	*leased = int_or(rep);
	freeReplyObject(rep);
	const char *hget[] = {"HGET", nk, id};
	rc = fs_redis_command(r, &rep, 3, hget);
	if (rc < 0)
		return rc;
	*sold = int_or(rep);
	freeReplyObject(rep);
	return 0;
}

/* A growable list of the nodes of one sale, sorted by id. */
struct sale_nodes {
	struct fs_node_sale *v;
	size_t n, cap;
};

/* Node @p s (text) of @p l, added when missing (leased, sold -1). NULL: no node id or no memory
 * (*@p rc -EPROTO or -ENOMEM). */
static struct fs_node_sale *node_of(struct sale_nodes *l, const char *s, int *rc)
{
	uint64_t id;
	size_t i;

	if (fs_parse_u64(s, 1, UINT16_MAX, &id) < 0) {
		*rc = -EPROTO;
		return NULL;
	}
	for (i = 0; i < l->n && l->v[i].node < id; i++)
		;
	if (i < l->n && l->v[i].node == id)
		return &l->v[i];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct fs_node_sale *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			*rc = -ENOMEM;
			return NULL;
		}
		l->v = v;
		l->cap = cap;
	}
	memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(*l->v));
	l->n++;
	l->v[i] = (struct fs_node_sale){.node = (unsigned)id, .leased = -1, .sold = -1};
	return &l->v[i];
}

/*
 * The members (@p hash false: SMEMBERS) or fields and values (@p hash true: HGETALL) of sale key
 * @p what into @p l: a member marks lessee (@p what "lessees") or forgotten, a field's value is
 * its sold count. 0 or a negative errno.
 */
static int sale_nodes_read(
	struct fs_redis *r, uint32_t sale_id, const char *what, bool hash, struct sale_nodes *l)
{
	char key[FS_REDIS_KEYLEN];
	redisReply *rep;
	int rc;

	fs_redis_sale_key(key, sale_id, what);
	const char *argv[] = {hash ? "HGETALL" : "SMEMBERS", key};
	rc = fs_redis_command(r, &rep, 2, argv);
	if (rc < 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		return set_err(r, -EPROTO, what);
	}
	for (size_t i = 0; rc == 0 && i < rep->elements; i += hash ? 2 : 1) {
		const redisReply *e = rep->element[i];
		struct fs_node_sale *ns;

		if (e->type != REDIS_REPLY_STRING || (ns = node_of(l, e->str, &rc)) == NULL) {
			rc = rc < 0 ? rc : -EPROTO;
			break;
		}
		if (!hash)
			*(strcmp(what, "lessees") == 0 ? &ns->lessee : &ns->forgotten) = true;
		else if (i + 1 >= rep->elements || (ns->sold = int_or(rep->element[i + 1])) < 0)
			rc = -EPROTO;
	}
	freeReplyObject(rep);
	return rc == -EPROTO ? set_err(r, rc, what) : rc;
}

int fs_nodes_sale_all(struct fs_redis *r, uint32_t sale_id, struct fs_node_sale **out, size_t *n)
{
	struct sale_nodes l = {0};
	int64_t sold;
	int rc;

	*out = NULL;
	*n = 0;
	rc = sale_nodes_read(r, sale_id, "lessees", false, &l);
	if (rc == 0)
		rc = sale_nodes_read(r, sale_id, "node_sold", true, &l);
	if (rc == 0)
		rc = sale_nodes_read(r, sale_id, "forgotten", false, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = fs_nodes_sale(r, sale_id, l.v[i].node, &l.v[i].leased, &sold);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int fs_nodes_forget_mark(struct fs_redis *r, unsigned node, int64_t now_ms)
{
	char key[48], ms[24];
	redisReply *rep;
	int rc;

	snprintf(key, sizeof(key), "fs:node:{%u}:forgotten", node);
	snprintf(ms, sizeof(ms), "%" PRId64, now_ms);
	const char *argv[] = {"SET", key, ms, "NX"};
	rc = fs_redis_command(r, &rep, 4, argv);
	if (rc == 0)
		freeReplyObject(rep);
	return rc;
}

int fs_nodes_forget_sale(struct fs_redis *r, uint32_t sale_id, unsigned node, uint64_t sold,
	struct fs_node_forget *out)
{
	char pool[FS_REDIS_KEYLEN], lease[FS_REDIS_KEYLEN], gone[FS_REDIS_KEYLEN];
	char who[FS_REDIS_KEYLEN], ns[FS_REDIS_KEYLEN], id[16], solds[24];
	long long v[3];
	int rc;

	snprintf(id, sizeof(id), "lease:%u", node);
	fs_redis_sale_key(lease, sale_id, id);
	fs_redis_sale_key(pool, sale_id, "pool");
	fs_redis_sale_key(gone, sale_id, "forgotten");
	fs_redis_sale_key(who, sale_id, "lessees");
	fs_redis_sale_key(ns, sale_id, "node_sold");
	snprintf(id, sizeof(id), "%u", node);
	snprintf(solds, sizeof(solds), "%" PRIu64, sold);
	const char *argv[] = {"EVAL", fs_lua_forget, "5", pool, lease, gone, who, ns, id, solds};
	rc = fs_redis_command_ints(r, 3, v, "forget", 10, argv);
	if (rc < 0)
		return rc;
	if (v[2] < 0)
		return set_err(r, -EPROTO, "forget");
	out->done_now = v[0] == 1;
	out->back = v[1];
	out->sold = (uint64_t)v[2];
	return 0;
}
