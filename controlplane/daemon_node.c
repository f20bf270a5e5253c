/* flashctl daemon's hold of its node id in Redis: fs:node:{NODE}:alive and fs:nodes (nodes.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon_int.h"
#include "monotonic.h"
#include "nodes.h"
#include "pgleases.h"
#include "timeparse.h"

/* Poll period of a start that waits for a dead daemon's liveness key to expire. */
#define ALIVE_POLL_MS 50

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* With --pg: whether PostgreSQL's forgotten_nodes has this node (false when it cannot say). */
static bool pg_forgotten(struct daemon *d)
{
	struct fs_pgorders *pg;
	int rc;

	if (d->conf->pg_url == NULL)
		return false;
	pg = fs_pgorders_new(d->conf->pg_url, (unsigned)d->conf->pg_timeout_ms);
	if (pg == NULL)
		return false;
	rc = fs_pgleases_forgotten(pg, (uint16_t)d->conf->node_id);
	fs_pgorders_free(pg);
	return rc == 1;
}

int fs_daemon_node_start(struct daemon *d, bool redis_up)
{
	unsigned node = d->conf->node_id;
	int64_t pttl = 0, prev = -1, deadline = -1;
	uint8_t raw[16];
	int rc;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(d->token, sizeof(d->token), raw, sizeof(raw));
	d->alive_ttl_ms = FS_DAEMON_ALIVE_INTERVALS * d->conf->interval_ms;
	if (d->alive_ttl_ms < FS_DAEMON_ALIVE_MIN_MS)
		d->alive_ttl_ms = FS_DAEMON_ALIVE_MIN_MS;
	d->started_ms = fs_time_now_ms();
	if (pg_forgotten(d)) {
		if (redis_up)
			fs_nodes_forget_mark(&d->redis, node, fs_time_now_ms());
		return -EPERM;
	}
	if (!redis_up)
		return 0; /* claimed by the first tick that reaches Redis */
	/* Held by another instance: a live one refreshes it (its TTL goes up), a dead one's key
	 * expires within its TTL. */
	for (;;) {
		rc = fs_nodes_alive(&d->redis, node, d->token, d->alive_ttl_ms, false, &pttl);
		if (rc == -EPERM)
			return rc; /* forgotten for good */
		if (rc != 0)
			return 0; /* ours, or a Redis error the ticks retry */
		if (deadline < 0)
			deadline = fs_monotonic_ms() + pttl + ALIVE_POLL_MS;
		if ((prev >= 0 && pttl > prev) || fs_monotonic_ms() > deadline)
			return -EBUSY;
		prev = pttl;
		sleep_ms(ALIVE_POLL_MS);
	}
}

/* The report line of fs:nodes: who, since when, last report, sell rate over its sales. */
static void node_report(struct daemon *d)
{
	char host[64] = "?", info[FS_NODES_INFO_LEN];
	double rate = 0;

	gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; i < d->n_mem; i++)
		rate += d->mem[i].rate;
	snprintf(info, sizeof(info),
		"host=%s pid=%ld started_ms=%" PRId64 " report_ms=%" PRId64 " rate=%.0f", host,
		(long)getpid(), d->started_ms, fs_time_now_ms(), rate);
	if (fs_nodes_report(&d->redis, d->conf->node_id, info) < 0 && fs_redis_usable(&d->redis))
		fs_daemon_log("node report: %s", d->redis.errstr);
}

bool fs_daemon_node_tick(struct daemon *d, int64_t mono)
{
	unsigned node = d->conf->node_id;
	int64_t pttl = 0;
	int rc;

	rc = fs_nodes_alive(&d->redis, node, d->token, d->alive_ttl_ms, false, &pttl);
	if (rc == -EPERM) {
		fs_daemon_cond_fail(&d->alive_c, mono, d->conf->interval_ms,
			"%s: nothing synced or published", d->redis.errstr);
		d->alive_c.next_ms = mono;
		return false;
	}
	if (rc < 0 && fs_redis_usable(&d->redis)) {
		/* an error reply (an ACL without these keys...): the registry is left, sales go on
		 */
		if (!d->reg_err)
			fs_daemon_log("node registry: %s (sales synced without it; logged once)",
				d->redis.errstr);
		d->reg_err = true;
		return true;
	}
	if (rc < 0)
		return false; /* Redis: tick() sees the connection lost */
	if (rc == 0) {
		fs_daemon_cond_fail(&d->alive_c, mono, d->conf->interval_ms,
			"node %u is held by another daemon (fs:node:{%u}:alive, %" PRId64
			" ms left): nothing synced or published until it is free",
			node, node, pttl);
		d->alive_c.next_ms = mono;
		return false;
	}
	fs_daemon_cond_ok(&d->alive_c, mono, "node id held again");
	node_report(d);
	return true;
}

void fs_daemon_node_stop(struct daemon *d)
{
	if (fs_redis_usable(&d->redis))
		fs_nodes_alive(&d->redis, d->conf->node_id, d->token, 0, true, NULL);
}
