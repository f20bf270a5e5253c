/* flashctl order and sweep, and sale status's PostgreSQL lines: the order lifecycle (pgorders). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "flashctl.h"
#include "parse.h"
#include "pgorders.h"

#define PG_TIMEOUT_MS 5000u
#define SWEEP_BATCH_MAX 1000000u

/* The exit code of each answer but the one asked for (flashctl.h). */
static const int result_exit[FS_PGORDERS_RESULTS] = {
	[FS_PGORDERS_PAID] = FS_CTL_EXIT_PAID,
	[FS_PGORDERS_ALREADY_PAID] = FS_CTL_EXIT_ALREADY_PAID,
	[FS_PGORDERS_CANCELLED] = FS_CTL_EXIT_CANCELLED,
	[FS_PGORDERS_ALREADY_CANCELLED] = FS_CTL_EXIT_ALREADY_CANCELLED,
	[FS_PGORDERS_EXPIRED] = FS_CTL_EXIT_EXPIRED,
	[FS_PGORDERS_NOT_HELD] = FS_CTL_EXIT_NOT_HELD,
	[FS_PGORDERS_UNKNOWN] = FS_CTL_EXIT_UNKNOWN,
};

/* --pg URL, else $PG_URL: the URL, or NULL after the usage error (stored in *rc). */
static const char *pg_url(const char *opt, const char *cmd, int *rc)
{
	const char *url = fs_conf_opt_env(opt, "PG_URL");

	if (url != NULL && *url == '\0')
		*rc = usage_err("bad --pg ''");
	else if (url == NULL)
		*rc = usage_err("%s needs --pg URL (or $PG_URL)", cmd);
	return url != NULL && *url != '\0' ? url : NULL;
}

/* A handle on @p url, or NULL after the error line (stored in *rc). */
static struct fs_pgorders *pg_open(const char *url, int *rc)
{
	struct fs_pgorders *c = fs_pgorders_new(url, PG_TIMEOUT_MS);

	if (c == NULL)
		*rc = fail("out of memory");
	return c;
}

/* A pgorders call failed with @p rc: the error line; returns exit code 1. */
static int pg_fail(struct fs_pgorders *c, int rc)
{
	return fail("postgresql: %s (%s)", fs_pgorders_error(c), strerror(-rc));
}

struct fs_pgorders *fs_ctl_pg_open(const char *opt, const char *cmd, int *rc)
{
	const char *url = pg_url(opt, cmd, rc);

	return url != NULL ? pg_open(url, rc) : NULL;
}

int fs_ctl_pg_fail(struct fs_pgorders *c, int rc)
{
	return pg_fail(c, rc);
}

/* The order's fields (times unix microseconds, and ISO 8601; 0: none). */
static void print_order(const struct fs_pgorders_order *o, struct fs_out *out)
{
	char hex[19];

	snprintf(hex, sizeof(hex), "0x%016" PRIx64, o->order_id);
	fs_out_u64(out, "sale", o->sale_id);
	fs_out_u64(out, "order_id", o->order_id);
	fs_out_str(out, "order_hex", hex);
	fs_out_u64(out, "user_id", o->user_id);
	fs_out_u64(out, "node_id", o->node_id);
	fs_out_str(out, "status", fs_pgorders_status_name(o->status));
	fs_out_time(out, "won_at_us", "won_at", o->won_at_us, 1000000, true);
	fs_out_time(out, "hold_until_us", "hold_until", o->hold_until_us, 1000000, true);
	fs_out_time(out, "settled_at_us", "settled_at", o->settled_at_us, 1000000, true);
}

/* What an order command was asked: the action and the order, by id or by user. */
struct order_req {
	const char *action; /* "pay", "cancel" or "show" */
	bool json;	    /* --json */
	uint32_t sale;
	bool by_user;
	uint64_t key; /* the order id, or the user id when by_user */
};

/* The order of @p q into @p o: 0, -ENOENT, or another -errno. */
static int lookup(struct fs_pgorders *c, const struct order_req *q, struct fs_pgorders_order *o)
{
	return q->by_user ? fs_pgorders_show_user(c, q->sale, q->key, o)
			  : fs_pgorders_show(c, q->sale, q->key, o);
}

/* pay or cancel @p q (by id, or by the id of the user's order): the exit code. */
static int settle(struct fs_pgorders *c, const struct order_req *q, struct fs_out *out)
{
	bool pay = strcmp(q->action, "pay") == 0;
	enum fs_pgorders_result res, want = pay ? FS_PGORDERS_PAID : FS_PGORDERS_CANCELLED;
	struct fs_pgorders_order o;
	uint64_t id = q->key;
	int rc;

	if (q->by_user) {
		rc = lookup(c, q, &o);
		if (rc == -ENOENT) {
			fs_out_str(out, "result", "unknown");
			return FS_CTL_EXIT_UNKNOWN;
		}
		if (rc < 0)
			return pg_fail(c, rc);
		id = o.order_id;
	}
	rc = pay ? fs_pgorders_pay(c, q->sale, id, &res) : fs_pgorders_cancel(c, q->sale, id, &res);
	if (rc < 0)
		return pg_fail(c, rc);
	fs_out_str(out, "result", fs_pgorders_result_name(res));
	if (res != FS_PGORDERS_UNKNOWN) {
		rc = fs_pgorders_show(c, q->sale, id, &o);
		if (rc == 0)
			print_order(&o, out);
		else if (rc != -ENOENT)
			return pg_fail(c, rc);
	}
	return res == want ? 0 : result_exit[res];
}

/* show @p q: the exit code. */
static int show(struct fs_pgorders *c, const struct order_req *q, struct fs_out *out)
{
	struct fs_pgorders_order o;
	int rc = lookup(c, q, &o);

	if (rc == -ENOENT) {
		fs_out_str(out, "result", "unknown");
		return FS_CTL_EXIT_UNKNOWN;
	}
	if (rc < 0)
		return pg_fail(c, rc);
	fs_out_str(out, "result", "found");
	print_order(&o, out);
	return 0;
}

/* The options of order ACTION into @p q and the URL: 0, or the usage error's exit code. */
static int order_opts(int argc, char **argv, struct order_req *q, const char **url)
{
	enum { SALE = 1, ORDER, USER, PG, JSON, N_OPTS };
	static const char spec[] = "sale= order= user= pg= json";
	const char *o[N_OPTS];
	int rc;

	rc = fs_ctl_parse_opts(argc, argv, "order ", spec, o, N_OPTS);
	if (rc != 0)
		return rc;
	q->json = o[JSON] != NULL;
	if (o[SALE] == NULL || (o[ORDER] == NULL) == (o[USER] == NULL))
		return usage_err(
			"order %s needs --sale N and one of --order ID or --user U", q->action);
	rc = fs_ctl_parse_sale(o[SALE], &q->sale);
	if (rc != 0)
		return rc;
	q->by_user = o[USER] != NULL;
	if (q->by_user && fs_parse_u64(o[USER], 0, UINT64_MAX, &q->key) < 0)
		return usage_err("bad --user '%s' (0..%" PRIu64 ")", o[USER], UINT64_MAX);
	if (!q->by_user && fs_parse_id64(o[ORDER], &q->key) < 0)
		return usage_err(
			"bad --order '%s' (a decimal u64, or 0x and 1 to 16 hex digits)", o[ORDER]);
	*url = pg_url(o[PG], "order", &rc);
	return *url == NULL ? rc : 0;
}

int fs_ctl_order(int argc, char **argv)
{
	struct order_req q = {0};
	struct fs_pgorders *c;
	struct fs_out out;
	const char *url = NULL;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fs_ctl_help("order ", "");
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "pay") != 0 && strcmp(argv[1], "cancel") != 0 &&
				strcmp(argv[1], "show") != 0))
		return usage_err("order needs a sub-command: pay, cancel or show");
	q.action = argv[1];
	rc = order_opts(argc - 1, argv + 1, &q, &url);
	if (rc != 0)
		return rc;
	c = pg_open(url, &rc);
	if (c == NULL)
		return rc;
	fs_out_init(&out, q.json);
	rc = strcmp(q.action, "show") == 0 ? show(c, &q, &out) : settle(c, &q, &out);
	fs_pgorders_free(c);
	return fs_out_end(&out, rc);
}

int fs_ctl_sweep(int argc, char **argv)
{
	enum { BATCH = 1, UNTIL_EMPTY, PG, JSON, N_OPTS };
	static const char spec[] = "batch= until-empty pg= json";
	const char *o[N_OPTS], *url;
	struct fs_pgorders *c;
	uint64_t batch = 1000, expired = 0, calls = 0;
	const struct fs_ctl_num num[] = {
		{BATCH, "batch", 1, SWEEP_BATCH_MAX, &batch}, FS_CTL_NUM_END};
	int rc, n;

	rc = fs_ctl_parse_nums(argc, argv, "", spec, o, N_OPTS, num);
	if (rc != 0)
		return rc;
	url = pg_url(o[PG], "sweep", &rc);
	if (url == NULL)
		return rc;
	c = pg_open(url, &rc);
	if (c == NULL)
		return rc;
	do {
		n = fs_pgorders_expire_due(c, (unsigned)batch);
		if (n >= 0) {
			expired += (uint64_t)n;
			calls++;
		}
	} while (n == (int)batch && o[UNTIL_EMPTY] != NULL);
	rc = n < 0 ? pg_fail(c, n) : 0;
	fs_pgorders_free(c);
	if (calls > 0) {
		struct fs_out out;

		fs_out_init(&out, o[JSON] != NULL);
		fs_out_u64(&out, "expired", expired);
		fs_out_u64(&out, "calls", calls);
		fs_out_end(&out, 0);
	}
	return rc;
}

int fs_ctl_sale_pg_status(const char *url, uint32_t sale, uint64_t stock, struct fs_out *out)
{
	struct fs_pgorders_counts k;
	struct fs_pgorders *c;
	int rc;

	c = pg_open(url, &rc);
	if (c == NULL)
		return rc;
	rc = fs_pgorders_counts(c, sale, &k);
	if (rc < 0) {
		fflush(stdout);
		rc = pg_fail(c, rc);
		fs_pgorders_free(c);
		return rc;
	}
	fs_out_u64(out, "orders", k.orders);
	fs_out_u64(out, "held", k.by_status[FS_PGORDERS_ST_HELD]);
	fs_out_u64(out, "paid", k.by_status[FS_PGORDERS_ST_PAID]);
	fs_out_u64(out, "cancelled", k.by_status[FS_PGORDERS_ST_CANCELLED]);
	fs_out_u64(out, "expired", k.by_status[FS_PGORDERS_ST_EXPIRED]);
	fs_out_u64(out, "sold_final", k.by_status[FS_PGORDERS_ST_SOLD]);
	fs_out_u64(out, "returns", k.returned);
	fs_out_u64(out, "returns_applied", k.applied);
	fs_out_u64(out, "returns_released", k.released);
	/* each order beyond the stock sold a unit that had come back: a unit sold again */
	fs_out_u64(out, "resold", k.orders > stock ? k.orders - stock : 0);
	rc = fs_ctl_sale_pg_nodes(c, sale, out);
	if (rc < 0) {
		fflush(stdout);
		rc = pg_fail(c, rc);
	}
	fs_pgorders_free(c);
	return rc;
}
