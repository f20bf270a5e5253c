/* holds_pg: drives persist/pgorders.h against a real PostgreSQL for holds_sql.sh (and the race). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "pgorders.h"

/*
 * holds_pg URL pay|cancel SALE ORDER      result=NAME
 * holds_pg URL show SALE ORDER            the order as key=value lines (exit 3: no such order)
 * holds_pg URL show-user SALE USER        same, by user
 * holds_pg URL expire BATCH               expired=N
 * holds_pg URL unapplied MAX              one line per row: SALE ORDER USER NODE REASON
 * holds_pg URL unreleased NODE MAX        same
 * holds_pg URL sale-unapplied SALE MAX    same, of one sale
 * holds_pg URL sale-unreleased SALE NODE MAX   same, of one sale
 * holds_pg URL sale-applied SALE FROM MAX the applied rows of one sale from order id FROM (bigint)
 * holds_pg URL sale-returns SALE          rows= applied=
 * holds_pg URL applied SALE:ORDER...      marked=N
 * holds_pg URL released NODE SALE:ORDER... marked=N
 * holds_pg URL hold SALE SOLD             open= held= unapplied= orders= next_ms=
 * holds_pg URL counts SALE                orders= held= paid= cancelled= expired= sold= returned=
 *                                         applied= released=
 * holds_pg URL now                        now_us=
 * holds_pg URL listen SECONDS COUNT CHANNEL...   "listening", then "CHANNEL PAYLOAD" per
 *                                         notification until COUNT or SECONDS (exit 0 either way)
 * holds_pg URL race ...                   see holds_race.c
 * Order ids are u64 (or the signed bigint of the same bits), user ids u64.
 * Exit 0, 1 on a database error (one line on stderr), 2 on bad usage, 3 when show finds nothing.
 */

int fs_holds_race(const char *url, int argc, char **argv);

static uint64_t num(const char *s)
{
	uint64_t v;
	char *end;
	long long x;

	if (fs_parse_u64(s, 0, UINT64_MAX, &v) == 0)
		return v;
	errno = 0;
	x = strtoll(s, &end, 10); /* an order id as the signed bigint */
	if (errno == 0 && *end == '\0' && end != s)
		return (uint64_t)x;
	fprintf(stderr, "holds_pg: bad number %s\n", s);
	exit(2);
}

static int fail(struct fs_pgorders *c, int rc)
{
	fprintf(stderr, "holds_pg: %s (%s)\n", fs_pgorders_error(c), strerror(-rc));
	return rc == -ENOENT ? 3 : 1;
}

static void print_order(const struct fs_pgorders_order *o)
{
	printf("sale=%" PRIu32 "\norder=%" PRIu64 "\nuser=%" PRIu64 "\nnode=%u\nstatus=%s\n"
	       "won_at_us=%" PRId64 "\nhold_until_us=%" PRId64 "\nsettled_at_us=%" PRId64 "\n",
		o->sale_id, o->order_id, o->user_id, (unsigned)o->node_id,
		fs_pgorders_status_name(o->status), o->won_at_us, o->hold_until_us,
		o->settled_at_us);
}

/* SALE:ORDER arguments into @p r. */
static void keys(int argc, char **argv, struct fs_pgorders_return *r)
{
	int i;

	for (i = 0; i < argc; i++) {
		char *colon = strchr(argv[i], ':');

		if (colon == NULL) {
			fprintf(stderr, "holds_pg: want SALE:ORDER, not %s\n", argv[i]);
			exit(2);
		}
		*colon = '\0';
		r[i] = (struct fs_pgorders_return){
			.sale_id = (uint32_t)num(argv[i]), .order_id = num(colon + 1)};
	}
}

static int listen_cmd(struct fs_pgorders *c, int argc, char **argv)
{
	uint64_t secs = num(argv[0]), want = num(argv[1]), got = 0;
	char ch[64], payload[8192];
	int i, rc;

	for (i = 2; i < argc; i++) {
		rc = fs_pgorders_listen(c, argv[i]);
		if (rc < 0)
			return fail(c, rc);
	}
	printf("listening\n");
	fflush(stdout);
	for (uint64_t ms = 0; got < want && ms < secs * 1000; ms += 100) {
		while (got < want && (rc = fs_pgorders_notification(c, 100, ch, sizeof(ch), payload,
					      sizeof(payload))) == 1) {
			printf("%s %s\n", ch, payload);
			fflush(stdout);
			got++;
		}
		if (rc < 0)
			return fail(c, rc);
	}
	return 0;
}

/* @p n rows of stock_returns, one line each: SALE ORDER USER NODE REASON. */
static void print_returns(const struct fs_pgorders_return *r, int n)
{
	for (int i = 0; i < n; i++)
		printf("%" PRIu32 " %" PRId64 " %" PRIu64 " %u %s\n", r[i].sale_id,
			(int64_t)r[i].order_id, r[i].user_id, (unsigned)r[i].node_id,
			r[i].cancelled ? "cancelled" : "expired");
}

static int returns_cmd(struct fs_pgorders *c, bool unreleased, int argc, char **argv)
{
	uint64_t max = num(argv[argc - 1]);
	struct fs_pgorders_return *r = calloc(max ? max : 1, sizeof(*r));
	int n;

	if (r == NULL)
		return 1;
	if (unreleased)
		n = fs_pgorders_returns_unreleased(c, (uint16_t)num(argv[0]), r, (unsigned)max);
	else
		n = fs_pgorders_returns_unapplied(c, r, (unsigned)max);
	print_returns(r, n);
	free(r);
	return n < 0 ? fail(c, n) : 0;
}

/* sale-unapplied, sale-unreleased, sale-applied (@p cmd past "sale-"), sale-returns. */
static int sale_cmd(struct fs_pgorders *c, const char *cmd, int argc, char **argv)
{
	uint32_t sale = (uint32_t)num(argv[0]);
	uint64_t max = num(argv[argc - 1]), rows, applied;
	struct fs_pgorders_return *r;
	int n;

	if (strcmp(cmd, "returns") == 0) {
		n = fs_pgorders_sale_returns(c, sale, &rows, &applied);
		if (n < 0)
			return fail(c, n);
		printf("rows=%" PRIu64 "\napplied=%" PRIu64 "\n", rows, applied);
		return 0;
	}
	r = calloc(max ? max : 1, sizeof(*r));
	if (r == NULL)
		return 1;
	if (strcmp(cmd, "unapplied") == 0)
		n = fs_pgorders_sale_unapplied(c, sale, r, (unsigned)max);
	else if (strcmp(cmd, "unreleased") == 0)
		n = fs_pgorders_sale_unreleased(c, sale, (uint16_t)num(argv[1]), r, (unsigned)max);
	else
		n = fs_pgorders_sale_applied(c, sale, (int64_t)num(argv[1]), r, (unsigned)max);
	print_returns(r, n);
	free(r);
	return n < 0 ? fail(c, n) : 0;
}

static int mark_cmd(struct fs_pgorders *c, bool released, int argc, char **argv)
{
	int skip = released ? 1 : 0, n;
	struct fs_pgorders_return *r = calloc((size_t)argc + 1, sizeof(*r));

	if (r == NULL)
		return 1;
	keys(argc - skip, argv + skip, r);
	if (released)
		n = fs_pgorders_returns_released(
			c, (uint16_t)num(argv[0]), r, (unsigned)(argc - skip));
	else
		n = fs_pgorders_returns_applied(c, r, (unsigned)argc);
	free(r);
	if (n < 0)
		return fail(c, n);
	printf("marked=%d\n", n);
	return 0;
}

static int state_cmd(struct fs_pgorders *c, const char *cmd, char **argv)
{
	struct fs_pgorders_counts k;
	struct fs_pgorders_hold h;
	int rc;

	if (strcmp(cmd, "hold") == 0) {
		rc = fs_pgorders_hold_state(c, (uint32_t)num(argv[0]), num(argv[1]), &h);
		if (rc < 0)
			return fail(c, rc);
		printf("open=%d\nheld=%d\nunapplied=%d\norders=%" PRIu64 "\nnext_ms=%" PRId64 "\n",
			h.open, h.held, h.unapplied, h.orders, h.next_ms);
		return 0;
	}
	rc = fs_pgorders_counts(c, (uint32_t)num(argv[0]), &k);
	if (rc < 0)
		return fail(c, rc);
	printf("orders=%" PRIu64 "\n", k.orders);
	for (unsigned s = 0; s < FS_PGORDERS_STATUSES; s++)
		printf("%s=%" PRIu64 "\n", fs_pgorders_status_name(s), k.by_status[s]);
	printf("returned=%" PRIu64 "\napplied=%" PRIu64 "\nreleased=%" PRIu64 "\n", k.returned,
		k.applied, k.released);
	return 0;
}

static int order_cmd(struct fs_pgorders *c, const char *cmd, char **argv)
{
	enum fs_pgorders_result res;
	struct fs_pgorders_order o;
	uint32_t sale = (uint32_t)num(argv[0]);
	uint64_t id = num(argv[1]);
	int rc;

	if (strcmp(cmd, "pay") == 0 || strcmp(cmd, "cancel") == 0) {
		rc = cmd[0] == 'p' ? fs_pgorders_pay(c, sale, id, &res)
				   : fs_pgorders_cancel(c, sale, id, &res);
		if (rc < 0)
			return fail(c, rc);
		printf("result=%s\n", fs_pgorders_result_name(res));
		return 0;
	}
	rc = strcmp(cmd, "show") == 0 ? fs_pgorders_show(c, sale, id, &o)
				      : fs_pgorders_show_user(c, sale, id, &o);
	if (rc < 0)
		return fail(c, rc);
	print_order(&o);
	return 0;
}

/* Commands and their argument counts (-N: at least N). */
static const struct {
	const char *name;
	int args;
} cmds[] = {
	{"pay", 2},
	{"cancel", 2},
	{"show", 2},
	{"show-user", 2},
	{"expire", 1},
	{"unapplied", 1},
	{"unreleased", 2},
	{"sale-unapplied", 2},
	{"sale-unreleased", 3},
	{"sale-applied", 3},
	{"sale-returns", 1},
	{"applied", -1},
	{"released", -2},
	{"hold", 2},
	{"counts", 1},
	{"now", 0},
	{"listen", -3},
};

static int run(struct fs_pgorders *c, const char *cmd, int argc, char **argv)
{
	int64_t now;
	int rc;

	if (strcmp(cmd, "listen") == 0)
		return listen_cmd(c, argc, argv);
	if (strcmp(cmd, "unapplied") == 0 || strcmp(cmd, "unreleased") == 0)
		return returns_cmd(c, cmd[2] == 'r', argc, argv);
	if (strncmp(cmd, "sale-", 5) == 0)
		return sale_cmd(c, cmd + 5, argc, argv);
	if (strcmp(cmd, "applied") == 0 || strcmp(cmd, "released") == 0)
		return mark_cmd(c, cmd[0] == 'r', argc, argv);
	if (strcmp(cmd, "hold") == 0 || strcmp(cmd, "counts") == 0)
		return state_cmd(c, cmd, argv);
	if (strcmp(cmd, "expire") == 0) {
		rc = fs_pgorders_expire_due(c, (unsigned)num(argv[0]));
		if (rc < 0)
			return fail(c, rc);
		printf("expired=%d\n", rc);
		return 0;
	}
	if (strcmp(cmd, "now") == 0) {
		rc = fs_pgorders_now_us(c, &now);
		if (rc < 0)
			return fail(c, rc);
		printf("now_us=%" PRId64 "\n", now);
		return 0;
	}
	return order_cmd(c, cmd, argv);
}

int main(int argc, char **argv)
{
	struct fs_pgorders *c;
	unsigned i;
	int rc, n;

	if (argc >= 3 && strcmp(argv[2], "race") == 0)
		return fs_holds_race(argv[1], argc - 3, argv + 3);
	for (i = 0; argc >= 3 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		n = argc - 3;
		if (strcmp(argv[2], cmds[i].name) == 0 &&
			(cmds[i].args >= 0 ? n == cmds[i].args : n >= -cmds[i].args))
			break;
	}
	if (argc < 3 || i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr,
			"usage: holds_pg URL pay|cancel|show|show-user|expire|unapplied|"
			"unreleased|sale-unapplied|sale-unreleased|sale-applied|sale-returns|"
			"applied|released|hold|counts|now|listen|race ...\n");
		return 2;
	}
	c = fs_pgorders_new(argv[1], 10000);
	if (c == NULL)
		return 1;
	rc = run(c, argv[2], argc - 3, argv + 3);
	fs_pgorders_free(c);
	return rc;
}
