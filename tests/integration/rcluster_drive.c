/* rcluster_drive: drives controlplane/rcluster.h against a real Redis (Cluster) for rcluster.sh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monotonic.h"
#include "parse.h"
#include "rcluster.h"
#include "redis.h"

/*
 * rcluster_drive [--timeout MS] URL...   one command a line on stdin, one answer line each:
 *   cmd SLOTKEY|- ARG...      fs_rcl_command: "ok REPLY" or "err ENAME ERRSTR"
 *   eval NKEYS KEY... ARG...  the script below with fs_rcl_eval: same answers
 *   rawcross KEY1 KEY2        the script with EVAL on both keys through fs_rcl_command (no local
 *                             check): what the server answers
 *   slot KEY                  "slot N ADDR" (ADDR "-" when not mapped)
 *   spread N BASE             for each sale i in [BASE, BASE + N): SET fs:{i}:sale i, then the
 *                             script on fs:{i}:pool fs:{i}:lease:1 with i: "spread ok=N errors=E"
 *   incr MS KEY...            "started", then INCRs of the keys in turn for MS ms (a failed one
 *                             retried every 5 ms), then one more INCR of each that must succeed
 *                             within 20 s: "incr acked=A,B,... ambiguous=N failed=N
 *                             outage_ms=N max_ms=N final=ok|fail" (acked: INCRs answered, per
 *                             key; ambiguous: failures that may have run; outage_ms: the longest
 *                             time from a failure to the next success; max_ms: the slowest
 *                             successful INCR). Each failure is logged on stderr.
 *   set retry_ms|max_tries N  change the context's bound: "ok"
 *   stats                     "stats cluster=0|1 moved=N ask=N tryagain=N clusterdown=N
 *                             noscript=N conn_errors=N refreshes=N"
 *   ops N                     every fs_redis_* call of redis.h (so every script of
 *                             controlplane/lua/) on sale N through a struct fs_redis connected
 *                             to the first URL (a cluster found by fs_redis_connect itself): "ops
 *                             ok N cluster=0|1" or "ops fail N STEP: ERRSTR" at the first call
 *                             that does not answer as it should
 * Exit 0 at the end of input, 2 on bad usage.
 */

#define MAX_TOK 64

static struct fs_rcl cl;
static struct fs_rcl_script script = {
	.src = "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
	       "for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end\n"
	       "return v\n",
};

static struct fs_redis R; /* ops: fs_redis_connect'ed to R_url on first use */
static const char *R_url; /* the first URL */

/* ops: whether @p ok held for the call named @p step (else the line is printed, false). */
static bool ops_check(uint32_t id, const char *step, int rc, bool ok)
{
	if (ok)
		return true;
	printf("ops fail %u %s: rc=%d %s\n", id, step, rc, rc < 0 ? R.errstr : "unexpected result");
	return false;
}

static bool ops_listed(uint32_t id, bool *listed)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	int rc = fs_redis_sale_list(&R, &ids, &n);

	*listed = false;
	for (size_t i = 0; rc == 0 && i < n; i++)
		*listed = *listed || ids[i] == id;
	free(ids);
	return rc == 0;
}

/* ops, first half: create (twice), list, get, rekey, state, lease, totals, event. */
static bool ops_live(const struct fs_redis_sale *def, int64_t now)
{
	uint32_t id = def->sale_id;
	struct fs_redis_sale got;
	struct fs_redis_lease l;
	uint8_t key[16] = {1};
	uint64_t total = 0;
	uint32_t mask = 0;
	bool listed, pool_set;
	int rc;

	rc = fs_redis_sale_create(&R, def);
	if (!ops_check(id, "create", rc, rc == 0))
		return false;
	rc = fs_redis_sale_create(&R, def);
	if (!ops_check(id, "create again", rc, rc == -EEXIST) ||
		!ops_check(id, "list", 0, ops_listed(id, &listed) && listed))
		return false;
	rc = fs_redis_sale_get(&R, id, &got);
	if (!ops_check(id, "get", rc, rc == 0 && got.stock == 10 && got.pool == 10))
		return false;
	rc = fs_redis_sale_rekey(&R, id, key, now);
	if (!ops_check(id, "rekey (not a token sale)", rc, rc == -EINVAL))
		return false;
	rc = fs_redis_sale_set_state(&R, id, FS_RS_ACTIVE);
	if (!ops_check(id, "state", rc, rc == 1))
		return false;
	rc = fs_redis_lease(&R, id, 1, 4, &l);
	if (!ops_check(id, "lease", rc, rc == 0 && l.taken == 4 && l.leased == 4))
		return false;
	rc = fs_redis_publish_totals(&R, id, 1, 2, false, &total, &pool_set);
	if (!ops_check(id, "totals", rc, rc == 0 && total == 2))
		return false;
	rc = fs_redis_publish_event(&R, id, FS_EV_STARTED, &mask);
	return ops_check(id, "event", rc, rc == 1 && (mask & FS_EV_STARTED));
}

/* ops, second half: return, restock, audit, rebuild (hash and index dropped), stop, delete. */
static bool ops_end(const struct fs_redis_sale *def, int64_t now)
{
	uint32_t id = def->sale_id;
	const uint64_t orders[] = {7, 8};
	struct fs_redis_restock rs;
	struct fs_redis_audit au;
	struct fs_redis_delete del;
	unsigned rebuilt = 0;
	char k[48], ids[16];
	bool listed;
	long long v;
	int rc;

	rc = fs_redis_return(&R, id, orders, 2);
	if (!ops_check(id, "return", rc, rc == 2))
		return false;
	rc = fs_redis_restock(&R, id, 1, &rs);
	if (!ops_check(id, "restock", rc, rc == 0 && !rs.written && rs.returned == 2))
		return false;
	rc = fs_redis_audit_read(&R, id, &au);
	if (!ops_check(id, "audit", rc, rc == 0 && au.in_sales && au.has_hash && au.leases == 4))
		return false;
	/* Redis "loses" the hash and the index entry: the rebuild writes both again */
	snprintf(k, sizeof(k), "fs:{%u}:sale", id);
	snprintf(ids, sizeof(ids), "%u", id);
	const char *del_hash[] = {"DEL", k}, *srem[] = {"SREM", "fs:sales", ids};
	if (fs_rcl_command_int(&cl, k, 2, del_hash, &v) < 0 ||
		fs_rcl_command_int(&cl, "fs:sales", 3, srem, &v) < 0)
		return ops_check(id, "drop hash", -1, false);
	rc = fs_redis_sale_rebuild(&R, def, 1, 4, false, 2, 0, NULL, 0, &rebuilt);
	if (!ops_check(id, "rebuild", rc, rc == 0 && (rebuilt & 3) == 3))
		return false;
	rc = fs_redis_sale_stop(&R, id);
	if (!ops_check(id, "stop", rc, rc == 0))
		return false;
	rc = fs_redis_sale_delete(&R, id, now, &del);
	if (!ops_check(id, "delete", rc, rc == 0 && !del.already))
		return false;
	rc = fs_redis_sale_deleted(&R, id, NULL);
	if (!ops_check(id, "deleted", rc, rc == 1) ||
		!ops_check(id, "list after delete", 0, ops_listed(id, &listed) && !listed))
		return false;
	rc = fs_redis_sale_create(&R, def);
	return ops_check(id, "create of a deleted id", rc, rc == -EEXIST);
}

static void do_ops(int n, char **tok)
{
	uint64_t id;
	int64_t now = (int64_t)time(NULL) * 1000;

	if (n != 1 || fs_parse_u64(tok[0], 1, UINT32_MAX, &id) < 0) {
		printf("usage ops N\n");
		return;
	}
	if (!fs_redis_usable(&R) && fs_redis_connect(&R, R_url, 2000) < 0) {
		printf("ops fail %llu connect: %s\n", (unsigned long long)id, R.errstr);
		return;
	}
	struct fs_redis_sale def = {.sale_id = (uint32_t)id,
		.stock = 10,
		.start_ms = now - 1000,
		.end_ms = now + 60000,
		.admission = "open",
		.state = "active", /* what the rebuild writes; create ignores it */
		.hold_ms = 600000};
	if (ops_live(&def, now) && ops_end(&def, now))
		printf("ops ok %llu cluster=%d\n", (unsigned long long)id, R.cl != NULL);
}

static void answer(int rc, struct redisReply *rep)
{
	char text[1024];

	if (rc < 0) {
		printf("err %s %s\n", strerrorname_np(-rc), cl.errstr);
		return;
	}
	fs_rcl_reply_str(rep, text, sizeof(text));
	printf("ok %s\n", text);
	fs_rcl_reply_free(rep);
}

static void do_eval(int n, char **tok)
{
	struct redisReply *rep = NULL;
	uint64_t nkeys;
	int rc;

	if (n < 1 || fs_parse_u64(tok[0], 0, (uint64_t)n - 1, &nkeys) < 0) {
		printf("usage eval NKEYS KEY... ARG...\n");
		return;
	}
	rc = fs_rcl_eval(&cl, &script, (int)nkeys, (const char *const *)tok + 1, n - 1 - (int)nkeys,
		(const char *const *)tok + 1 + nkeys, &rep);
	answer(rc, rep);
}

static void do_rawcross(int n, char **tok)
{
	const char *argv[] = {
		"EVAL", script.src, "2", n == 2 ? tok[0] : "", n == 2 ? tok[1] : "", "1"};
	struct redisReply *rep = NULL;
	int rc;

	rc = fs_rcl_command(&cl, argv[3], 6, argv, NULL, &rep);
	answer(rc, rep);
}

static void do_slot(const char *key)
{
	unsigned s = fs_rcl_slot(key, strlen(key));
	char addr[300];

	if (fs_rcl_slot_addr(&cl, s, addr, sizeof(addr)) < 0)
		snprintf(addr, sizeof(addr), "-");
	printf("slot %u %s\n", s, addr);
}

static void do_spread(int n, char **tok)
{
	uint64_t count, base, errors = 0;
	char sale[48], pool[48], lease[48], id[24];
	struct redisReply *rep;

	if (n != 2 || fs_parse_u64(tok[0], 1, 100000, &count) < 0 ||
		fs_parse_u64(tok[1], 0, UINT32_MAX, &base) < 0) {
		printf("usage spread N BASE\n");
		return;
	}
	for (uint64_t i = base; i < base + count; i++) {
		snprintf(sale, sizeof(sale), "fs:{%llu}:sale", (unsigned long long)i);
		snprintf(pool, sizeof(pool), "fs:{%llu}:pool", (unsigned long long)i);
		snprintf(lease, sizeof(lease), "fs:{%llu}:lease:1", (unsigned long long)i);
		snprintf(id, sizeof(id), "%llu", (unsigned long long)i);
		const char *set[] = {"SET", sale, id}, *keys[] = {pool, lease}, *args[] = {id};
		if (fs_rcl_command(&cl, sale, 3, set, NULL, &rep) < 0) {
			fprintf(stderr, "spread: %s\n", cl.errstr);
			errors++;
		} else {
			fs_rcl_reply_free(rep);
		}
		if (fs_rcl_eval(&cl, &script, 2, keys, 1, args, &rep) < 0) {
			fprintf(stderr, "spread: %s\n", cl.errstr);
			errors++;
		} else {
			fs_rcl_reply_free(rep);
		}
	}
	printf("spread ok=%llu errors=%llu\n", (unsigned long long)(count * 2 - errors),
		(unsigned long long)errors);
}

/* What the incr loop measured. */
struct incr_run {
	uint64_t acked[MAX_TOK];
	uint64_t ambiguous, failed;
	int64_t fail_since; /* first failure since the last success, -1: none */
	int64_t outage_ms, max_ms, t0;
};

/* One INCR of @p key; true when answered. Failures are counted, logged and waited 5 ms after. */
static bool incr_once(struct incr_run *r, const char *key)
{
	const char *argv[] = {"INCR", key};
	int64_t t = fs_monotonic_ms();
	long long v;

	if (fs_rcl_command_int(&cl, key, 2, argv, &v) == 0) {
		int64_t now = fs_monotonic_ms();

		if (r->fail_since >= 0 && now - r->fail_since > r->outage_ms)
			r->outage_ms = now - r->fail_since;
		r->fail_since = -1;
		if (now - t > r->max_ms)
			r->max_ms = now - t;
		return true;
	}
	r->failed++;
	if (strstr(cl.errstr, "may have run") != NULL)
		r->ambiguous++;
	if (r->fail_since < 0)
		r->fail_since = t;
	fprintf(stderr, "incr t=%lld ms %s: %s\n", (long long)(t - r->t0), key, cl.errstr);
	nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	return false;
}

static void do_incr(int n, char **tok)
{
	struct incr_run r = {.fail_since = -1, .t0 = fs_monotonic_ms()};
	uint64_t ms;
	int64_t end;
	bool final = true;

	if (n < 2 || fs_parse_u64(tok[0], 1, 600000, &ms) < 0) {
		printf("usage incr MS KEY...\n");
		return;
	}
	printf("started\n");
	fflush(stdout);
	end = r.t0 + (int64_t)ms;
	for (int k = 0; fs_monotonic_ms() < end; k = (k + 1) % (n - 1)) {
		bool ok = false;

		while (!ok && fs_monotonic_ms() < end)
			ok = incr_once(&r, tok[1 + k]);
		r.acked[k] += ok;
	}
	for (int k = 0; k < n - 1; k++) {
		bool ok = false;

		for (end = fs_monotonic_ms() + 20000; !ok && fs_monotonic_ms() < end;)
			ok = incr_once(&r, tok[1 + k]);
		r.acked[k] += ok;
		final = final && ok;
	}
	printf("incr acked=");
	for (int k = 0; k < n - 1; k++)
		printf("%s%llu", k ? "," : "", (unsigned long long)r.acked[k]);
	printf(" ambiguous=%llu failed=%llu outage_ms=%lld max_ms=%lld final=%s\n",
		(unsigned long long)r.ambiguous, (unsigned long long)r.failed,
		(long long)r.outage_ms, (long long)r.max_ms, final ? "ok" : "fail");
}

static void do_set(int n, char **tok)
{
	uint64_t v;

	if (n != 2 || fs_parse_u64(tok[1], 1, 600000, &v) < 0)
		printf("usage set retry_ms|max_tries N\n");
	else if (strcmp(tok[0], "retry_ms") == 0)
		printf("ok\n"), cl.retry_ms = (int)v;
	else if (strcmp(tok[0], "max_tries") == 0)
		printf("ok\n"), cl.max_tries = (int)v;
	else
		printf("usage set retry_ms|max_tries N\n");
}

static void do_stats(void)
{
	const struct fs_rcl_stats *s = &cl.stats;

	printf("stats cluster=%d moved=%llu ask=%llu tryagain=%llu clusterdown=%llu noscript=%llu "
	       "conn_errors=%llu refreshes=%llu\n",
		cl.cluster, (unsigned long long)s->moved, (unsigned long long)s->ask,
		(unsigned long long)s->tryagain, (unsigned long long)s->clusterdown,
		(unsigned long long)s->noscript, (unsigned long long)s->conn_errors,
		(unsigned long long)s->refreshes);
}

/* One input line, split at spaces. */
static void dispatch(char *line)
{
	char *tok[MAX_TOK], *save = NULL;
	struct redisReply *rep = NULL;
	int n = 0;

	for (char *t = strtok_r(line, " \n", &save); t != NULL && n < MAX_TOK;
		t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if (n == 0)
		return;
	if (strcmp(tok[0], "cmd") == 0 && n >= 3) {
		int rc = fs_rcl_command(&cl, strcmp(tok[1], "-") ? tok[1] : NULL, n - 2,
			(const char **)tok + 2, NULL, &rep);

		answer(rc, rep);
	} else if (strcmp(tok[0], "eval") == 0)
		do_eval(n - 1, tok + 1);
	else if (strcmp(tok[0], "rawcross") == 0)
		do_rawcross(n - 1, tok + 1);
	else if (strcmp(tok[0], "slot") == 0 && n == 2)
		do_slot(tok[1]);
	else if (strcmp(tok[0], "spread") == 0)
		do_spread(n - 1, tok + 1);
	else if (strcmp(tok[0], "incr") == 0)
		do_incr(n - 1, tok + 1);
	else if (strcmp(tok[0], "set") == 0)
		do_set(n - 1, tok + 1);
	else if (strcmp(tok[0], "stats") == 0)
		do_stats();
	else if (strcmp(tok[0], "ops") == 0)
		do_ops(n - 1, tok + 1);
	else
		printf("usage: unknown command %s\n", tok[0]);
}

int main(int argc, char **argv)
{
	uint64_t timeout = 2000;
	char line[4096];
	int i = 1;

	if (argc > 2 && strcmp(argv[1], "--timeout") == 0) {
		if (fs_parse_u64(argv[2], 1, 600000, &timeout) < 0) {
			fprintf(stderr, "rcluster_drive: bad --timeout %s\n", argv[2]);
			return 2;
		}
		i = 3;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: rcluster_drive [--timeout MS] URL...\n");
		return 2;
	}
	if (fs_rcl_open(&cl, (const char *const *)argv + i, (size_t)(argc - i), NULL,
		    (int)timeout) < 0) {
		fprintf(stderr, "rcluster_drive: %s\n", cl.errstr);
		return 2;
	}
	R_url = argv[i];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		dispatch(line);
		fflush(stdout);
	}
	fs_redis_close(&R);
	fs_rcl_close(&cl);
	return 0;
}
