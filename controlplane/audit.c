/*
 * flashctl audit: one sale's journals, dataplane, PostgreSQL, Redis and won-file, cross-checked.
 *
 * One pass reads every source, each with its own reader (read_journals, read_dp, read_pg,
 * read_redis, read_won) into its own struct of what it found, plus (struct src) the problems it
 * met reading: a source that cannot be listed, reached or parsed. Then compare() turns the
 * structs into `key=value` lines and `drift: ...` lines, one check per source in this order:
 * check_journals, check_dp, check_pg (with check_pg_holds: orders by status, returns, the rules
 * of outcomes), check_pg_orders (journals against PostgreSQL), check_redis, check_stock (no
 * source above the stock plus the units returned), check_units (Redis against PostgreSQL: every
 * unit somewhere, once, from each node's figures), check_nodes (each node's lease key and sold
 * count in Redis against its orders and node_leases row in PostgreSQL: one line per node, and a
 * drift names the node), check_won. Each check prints its source's problems first (src_check), then
 * its figures (kv), then its drifts. A check may compare its source with any source checked before
 * it; the stock to compare with (struct stock) is the first one known: the journals' SALE record,
 * else the dataplane's total, else PostgreSQL's sales row, else Redis's hash.
 *
 * To add a figure (say held orders): read it into the source's struct (PostgreSQL: a field of
 * struct fs_pgaudit_sale, read by one read_* more in pgaudit.c's read_snapshot(); Redis: a field
 * of struct fs_redis_audit, read by fs_redis_audit_read() in redis.c), print it with kv() in
 * that source's check, and compare it there with drift(): can_settle true when a writer
 * that lags (persist, the daemon) may still close the drift (it is re-checked until --wait-s),
 * false when nothing will (reported at once). A new source: a struct, a reader called from
 * read_sources (in the order the checks run) and a check called from compare.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "dpctl.h"
#include "journal.h"
#include "monotonic.h"
#include "nodes.h"
#include "out.h"
#include "pgaudit.h"
#include "redis.h"

#define READ_BATCH 4096 /* journal records per read */
#define EXAMPLES 3	/* examples named in one drift line */
#define RETRY_MS 250

/* Pairs (order, user) of journal records, PostgreSQL rows and won-file lines: fs_pgaudit_order. */

/* One pass over every source: what it printed and what drifted. */
struct pass {
	FILE *kv, *nodes, *drift; /* nodes: one line of several key=value fields per node */
	char *kv_buf, *nodes_buf, *drift_buf;
	size_t kv_len, nodes_len, drift_len;
	unsigned drifts;
	bool final; /* a drift that no lagging writer can close */
};

/* A growable array of pairs. */
struct pairs {
	struct fs_pgaudit_order *v;
	size_t n, cap;
};

/* A problem a reader met: one drift line, printed first by its source's check. */
struct problem {
	bool can_settle; /* as drift()'s */
	char *text;	 /* malloc'd */
};

/* The problems one reader met, in the order met. */
struct problems {
	struct problem *v;
	size_t n, cap;
};

/* What every source has: whether it was asked for, whether its figures hold, its problems. */
struct src {
	bool given; /* on the command line (Redis: always) */
	bool ok;    /* its figures hold (its struct's other fields) */
	struct problems probs;
};

/* A source's (order, user) pairs and what the checks need of them (count_orders). */
struct order_set {
	struct pairs all;	     /* sorted by (order, user) once counted */
	size_t n_orders, n_users;    /* distinct order ids, distinct users */
	uint64_t dup_user[EXAMPLES]; /* users holding two orders (the first few) */
	size_t n_dup_user;
	uint64_t dup_order[EXAMPLES]; /* order ids used twice (the first few) */
	size_t n_dup_order;
};

/* The journals of --state-dir: the authoritative record of every WON. */
struct journals_src {
	struct src src;		 /* ok as soon as given: problems or not, the figures hold */
	struct order_set orders; /* every ORDER record of the sale (all.v malloc'd here) */
	bool has_stock;
	uint64_t stock; /* the last SALE record's stock */
	unsigned node;	/* the node id of the sale's records (0: none): a state dir is one node's */
};

/* The dataplane's status of the sale (--dp). */
struct dp_src {
	struct src src;				  /* ok: the status was read */
	long long total, sold, leased, remaining; /* -1 when the status lacks it */
};

/* PostgreSQL (--pg): the sales row and the orders rows, one snapshot. */
struct pg_src {
	struct src src;		     /* ok: read and counted */
	struct fs_pgaudit_sale sale; /* owns the rows */
	struct order_set orders;     /* all.v: sale.orders, sorted in place */
};

/* Redis (always read): the published view. */
struct redis_src {
	struct src src; /* always given */
	struct fs_redis_audit ra;
	struct fs_node_sale *nodes; /* each node's part (fs_nodes_sale_all), malloc'd */
	size_t n_nodes;
};

/* The won-file (--won-file): every WON a client saw. */
struct won_src {
	struct src src;	    /* ok: the file was opened */
	struct pairs lines; /* (order, user) of each well-formed line, in file order */
};

struct sources {
	uint32_t sale_id;
	struct journals_src j;
	struct dp_src dp;
	struct pg_src pg;
	struct redis_src redis;
	struct won_src won;
};

/*
 * The stock the checks compare with: the first one a source gave (see the top of the file), and
 * the units that came back (a sale with holds: Redis's fs:{N}:returned members, else PostgreSQL's
 * stock_returns rows), which may be sold again: no source may sell or lease more than v + back.
 */
struct stock {
	bool have;
	uint64_t v;
	uint64_t back;
};

static void kv(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kv(struct pass *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(p->kv, fmt, ap);
	va_end(ap);
	fputc('\n', p->kv);
}

/* One drift line; @p can_settle: a writer that lags (persist, the daemon) may still close it. */
static void drift(struct pass *p, bool can_settle, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void drift(struct pass *p, bool can_settle, const char *fmt, ...)
{
	va_list ap;

	fputs("drift: ", p->drift);
	va_start(ap, fmt);
	vfprintf(p->drift, fmt, ap);
	va_end(ap);
	fputc('\n', p->drift);
	p->drifts++;
	if (!can_settle)
		p->final = true;
}

/*
 * Array @p v (@p n elements of @p size bytes used, room for *@p cap) with room for one more: @p v
 * itself, or a larger copy (capacity doubled, @p first at first); NULL (@p v untouched) when out
 * of memory.
 */
static void *grow(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
	size_t c = *cap ? 2 * *cap : first;

	if (n < *cap)
		return v;
	v = realloc(v, c * size);
	if (v != NULL)
		*cap = c;
	return v;
}

/* Note a reader's problem (the text of a drift line). 0 or -ENOMEM. */
static int problem(struct problems *pr, bool can_settle, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int problem(struct problems *pr, bool can_settle, const char *fmt, ...)
{
	struct problem *v = grow(pr->v, pr->n, &pr->cap, sizeof(*v), 4);
	va_list ap;
	char *text;
	int n;

	if (v == NULL)
		return -ENOMEM;
	pr->v = v;
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	pr->v[pr->n++] = (struct problem){.can_settle = can_settle, .text = text};
	return 0;
}

/* A check's start: @p src's problems as drift lines; true when its figures are there to check. */
static bool src_check(struct pass *p, const struct src *src)
{
	if (!src->given)
		return false;
	for (size_t i = 0; i < src->probs.n; i++)
		drift(p, src->probs.v[i].can_settle, "%s", src->probs.v[i].text);
	return src->ok;
}

static void src_free(struct src *src)
{
	for (size_t i = 0; i < src->probs.n; i++)
		free(src->probs.v[i].text);
	free(src->probs.v);
}

static int pairs_add(struct pairs *a, uint64_t order_id, uint64_t user_id)
{
	struct fs_pgaudit_order *v = grow(a->v, a->n, &a->cap, sizeof(*v), 1024);

	if (v == NULL)
		return -ENOMEM;
	a->v = v;
	a->v[a->n].order_id = order_id;
	a->v[a->n].user_id = user_id;
	a->v[a->n].node_id = 0;
	a->n++;
	return 0;
}

static int cmp_u64(uint64_t x, uint64_t y)
{
	return (x > y) - (x < y);
}

static int by_order(const void *a, const void *b)
{
	const struct fs_pgaudit_order *x = a, *y = b;
	int c = cmp_u64(x->order_id, y->order_id);

	return c ? c : cmp_u64(x->user_id, y->user_id);
}

static int by_user(const void *a, const void *b)
{
	const struct fs_pgaudit_order *x = a, *y = b;
	int c = cmp_u64(x->user_id, y->user_id);

	return c ? c : cmp_u64(x->order_id, y->order_id);
}

/*
 * Count @p s's distinct users (sorting a copy by user) and order ids, with up to EXAMPLES of
 * each seen twice; s->all ends sorted by (order, user). 0 or -ENOMEM.
 */
static int count_orders(struct order_set *s)
{
	const struct pairs *a = &s->all;
	struct fs_pgaudit_order *u;

	s->n_orders = s->n_users = s->n_dup_user = s->n_dup_order = 0;
	if (a->n == 0)
		return 0;
	u = malloc(a->n * sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	memcpy(u, a->v, a->n * sizeof(*u));
	qsort(u, a->n, sizeof(*u), by_user);
	for (size_t i = 0; i < a->n; i++) {
		if (i == 0 || u[i].user_id != u[i - 1].user_id)
			s->n_users++;
		else if (s->n_dup_user < EXAMPLES &&
			 (s->n_dup_user == 0 || s->dup_user[s->n_dup_user - 1] != u[i].user_id))
			s->dup_user[s->n_dup_user++] = u[i].user_id;
	}
	free(u);
	qsort(a->v, a->n, sizeof(*a->v), by_order);
	for (size_t i = 0; i < a->n; i++) {
		if (i == 0 || a->v[i].order_id != a->v[i - 1].order_id)
			s->n_orders++;
		else if (s->n_dup_order < EXAMPLES)
			s->dup_order[s->n_dup_order++] = a->v[i].order_id;
	}
	return 0;
}

/* The first pair of order @p order_id in @p s (sorted by order, user), or NULL. */
static const struct fs_pgaudit_order *find_order(const struct order_set *s, uint64_t order_id)
{
	const struct fs_pgaudit_order *v = s->all.v, *hit = NULL;

	for (size_t lo = 0, hi = s->all.n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].order_id < order_id) {
			lo = mid + 1;
		} else {
			if (v[mid].order_id == order_id)
				hit = &v[mid];
			hi = mid;
		}
	}
	return hit;
}

/* "a, b, c" of up to EXAMPLES numbers into @p out. */
static const char *list_u64(char *out, size_t n, const uint64_t *v, size_t count)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < count && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%" PRIu64, i ? ", " : "", v[i]);
	return out;
}

/* --------------------------------------------------------------------------- readers */

/* The sale's records of one journal @p idx of @p dir into @p j. 0 or -ENOMEM. */
static int read_journal(const char *dir, unsigned idx, uint32_t sale_id, struct fs_jrec *buf,
	struct journals_src *j)
{
	struct fs_journal_reader *r = fs_journal_reader_open(dir, idx, 1);
	int got, rc = 0;

	if (r == NULL)
		return problem(&j->src.probs, false, "journals: cannot open journal %u of %s: %s",
			idx, dir, strerror(errno));
	while ((got = fs_journal_read(r, buf, READ_BATCH)) > 0 && rc == 0) {
		for (int k = 0; k < got && rc == 0; k++) {
			const struct fs_jrec *rec = &buf[k];

			if (rec->sale_id != sale_id)
				continue;
			j->node = rec->node_id;
			if (rec->type == FS_JREC_ORDER) {
				rc = pairs_add(&j->orders.all, rec->body.order.order_id,
					rec->body.order.user_id);
			} else if (rec->type == FS_JREC_SALE) {
				j->has_stock = true;
				j->stock = rec->body.sale.stock;
			}
		}
	}
	if (got < 0 && rc == 0)
		rc = problem(&j->src.probs, false, "journals: reading journal %u of %s: %s", idx,
			dir, strerror(-got));
	fs_journal_reader_close(r);
	return rc;
}

/* Every journal of --state-dir. 0 or -ENOMEM. */
static int read_journals(const struct fs_audit_conf *c, struct journals_src *j)
{
	unsigned idx[FS_JOURNAL_MAX];
	struct fs_jrec *buf;
	int n, rc = 0;

	if (c->state_dir == NULL)
		return 0;
	j->src.given = j->src.ok = true;
	n = fs_journal_list(c->state_dir, idx, FS_JOURNAL_MAX);
	if (n < 0)
		return problem(&j->src.probs, false, "journals: cannot list %s: %s", c->state_dir,
			strerror(-n));
	buf = malloc(READ_BATCH * sizeof(*buf));
	if (buf == NULL)
		return -ENOMEM;
	for (int i = 0; i < n && rc == 0; i++)
		rc = read_journal(c->state_dir, idx[i], c->sale_id, buf, j);
	free(buf);
	return rc < 0 ? rc : count_orders(&j->orders);
}

/* The dataplane's /flashsale/sale/status of the sale. 0 or -ENOMEM. */
static int read_dp(const struct fs_audit_conf *c, struct dp_src *dp)
{
	struct json_object *st = NULL;
	struct fs_dpctl d;
	char cmd[64];
	int rc;

	if (c->dp_socket == NULL)
		return 0;
	dp->src.given = true;
	fs_dpctl_init(&d);
	snprintf(cmd, sizeof(cmd), "/flashsale/sale/status,%" PRIu32, c->sale_id);
	rc = fs_dpctl_connect(&d, c->dp_socket, c->timeout_ms);
	if (rc == 0)
		rc = fs_dpctl_cmd(&d, cmd, &st);
	fs_dpctl_close(&d);
	if (rc == -EREMOTEIO)
		return problem(&dp->src.probs, false, "dataplane: %s", d.errstr);
	if (rc < 0)
		return problem(&dp->src.probs, true, "dataplane: unreachable: %s", d.errstr);
	dp->total = dp->sold = dp->leased = dp->remaining = -1;
	fs_dpctl_get_i64(st, "total", &dp->total);
	fs_dpctl_get_i64(st, "sold", &dp->sold);
	fs_dpctl_get_i64(st, "leased", &dp->leased);
	fs_dpctl_get_i64(st, "remaining", &dp->remaining);
	json_object_put(st);
	dp->src.ok = true;
	return 0;
}

/* PostgreSQL's rows of the sale (fs_pgaudit_read). 0 or -ENOMEM. */
static int read_pg(const struct fs_audit_conf *c, struct pg_src *pg)
{
	char err[256];
	int rc;

	if (c->pg_url == NULL)
		return 0;
	pg->src.given = true;
	rc = fs_pgaudit_read(
		c->pg_url, c->sale_id, (c->timeout_ms + 999) / 1000, &pg->sale, err, sizeof(err));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return problem(&pg->src.probs, true, "postgresql: %s", err);
	pg->orders.all = (struct pairs){
		.v = pg->sale.orders, .n = pg->sale.n_orders, .cap = pg->sale.n_orders};
	rc = count_orders(&pg->orders);
	pg->src.ok = rc == 0;
	return rc;
}

/* Redis's keys of the sale (fs_redis_audit_read). 0 or -ENOMEM. */
static int read_redis(const struct fs_audit_conf *c, struct redis_src *rs)
{
	struct fs_redis r = {.password = c->redis_password};
	int rc;

	rs->src.given = true;
	rc = fs_redis_connect(&r, c->redis_url, c->timeout_ms);
	if (rc == 0)
		rc = fs_redis_audit_read(&r, c->sale_id, &rs->ra);
	if (rc == 0)
		rc = fs_nodes_sale_all(&r, c->sale_id, &rs->nodes, &rs->n_nodes);
	fs_redis_close(&r);
	if (rc < 0)
		return problem(&rs->src.probs, rc != -EPROTO, "redis: %s", r.errstr);
	rs->src.ok = true;
	return 0;
}

/* The won-file's `user_id order_id` lines (blank lines skipped). 0 or -ENOMEM. */
static int read_won(const struct fs_audit_conf *c, struct won_src *w)
{
	FILE *f;
	char line[128];
	unsigned lineno = 0;
	int rc = 0;

	if (c->won_file == NULL)
		return 0;
	w->src.given = true;
	f = fopen(c->won_file, "r");
	if (f == NULL)
		return problem(&w->src.probs, false, "won-file: cannot open %s: %s", c->won_file,
			strerror(errno));
	w->src.ok = true;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		uint64_t u, o;
		char tail;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%" SCNu64 " %" SCNu64 " %c", &u, &o, &tail) != 2)
			rc = problem(&w->src.probs, false, "won-file: line %u malformed", lineno);
		else
			rc = pairs_add(&w->lines, o, u);
	}
	fclose(f);
	return rc;
}

/* Every source, in the order of the checks; stops at the first -ENOMEM. */
static int read_sources(const struct fs_audit_conf *c, struct sources *s)
{
	int rc;

	s->sale_id = c->sale_id;
	if ((rc = read_journals(c, &s->j)) < 0 || (rc = read_dp(c, &s->dp)) < 0 ||
		(rc = read_pg(c, &s->pg)) < 0 || (rc = read_redis(c, &s->redis)) < 0)
		return rc;
	return read_won(c, &s->won);
}

static void sources_free(struct sources *s)
{
	free(s->j.orders.all.v);
	fs_pgaudit_free(&s->pg.sale);
	free(s->won.lines.v);
	free(s->redis.nodes);
	src_free(&s->j.src);
	src_free(&s->dp.src);
	src_free(&s->pg.src);
	src_free(&s->redis.src);
	src_free(&s->won.src);
}

/* --------------------------------------------------------------------------- checks */

static void check_journals(struct pass *p, const struct journals_src *j, struct stock *stock)
{
	const struct order_set *o = &j->orders;
	char list[128];

	if (!src_check(p, &j->src))
		return;
	kv(p, "journal_orders=%zu", o->all.n);
	kv(p, "journal_users=%zu", o->n_users);
	kv(p, "journal_order_ids=%zu", o->n_orders);
	if (j->has_stock) {
		kv(p, "journal_stock=%" PRIu64, j->stock);
		stock->have = true; /* back (the units returned) stays: compare() set it */
		stock->v = j->stock;
	}
	if (o->n_dup_user > 0)
		drift(p, false,
			"journals: %zu orders for %zu users: a user holds two orders (user %s)",
			o->all.n, o->n_users,
			list_u64(list, sizeof(list), o->dup_user, o->n_dup_user));
	if (o->n_dup_order > 0)
		drift(p, false, "journals: order id used twice (order %s)",
			list_u64(list, sizeof(list), o->dup_order, o->n_dup_order));
}

/* What the dataplane sold and holds; the stock so far can only be the journals'. */
static void check_dp(struct pass *p, const struct sources *s, struct stock *stock)
{
	const struct dp_src *dp = &s->dp;

	if (!src_check(p, &dp->src))
		return;
	kv(p, "dp_total=%lld", dp->total);
	kv(p, "dp_sold=%lld", dp->sold);
	kv(p, "dp_leased=%lld", dp->leased);
	kv(p, "dp_remaining=%lld", dp->remaining);
	if (stock->have && (uint64_t)dp->total != stock->v)
		drift(p, false, "dataplane: total %lld, journal stock %" PRIu64, dp->total,
			stock->v);
	if (!stock->have && dp->total > 0) {
		stock->have = true;
		stock->v = (uint64_t)dp->total;
	}
	if (dp->sold > dp->total + (long long)stock->back ||
		dp->leased > dp->total + (long long)stock->back)
		drift(p, false,
			"dataplane: sold %lld / leased %lld above stock %lld + returned %" PRIu64,
			dp->sold, dp->leased, dp->total, stock->back);
	if (dp->remaining != dp->leased - dp->sold)
		drift(p, true, "dataplane: remaining %lld != leased %lld - sold %lld",
			dp->remaining, dp->leased, dp->sold);
	if (s->j.src.ok && (uint64_t)dp->sold != s->j.orders.all.n)
		drift(p, true, "dataplane: sold %lld, journals hold %zu orders", dp->sold,
			s->j.orders.all.n);
}

/*
 * PostgreSQL's orders by status and its returns: on a sale with holds each held order ends once
 * (paid before hold_until, or cancelled or expired with one stock_returns row); on a sale
 * without holds every order is sold.
 */
static void check_pg_holds(struct pass *p, const struct fs_pgaudit_sale *sale)
{
	const struct fs_pgaudit_holds *h = &sale->holds;
	uint64_t lifecycle = h->held + h->paid + h->cancelled + h->expired;

	kv(p, "pg_hold_ms=%" PRIu32, sale->hold_ms);
	if (sale->hold_ms == 0 && lifecycle == 0 && h->returns == 0) {
		kv(p, "pg_sold=%" PRIu64, h->sold);
		return;
	}
	const struct {
		const char *key;
		uint64_t v;
	} figs[] = {{"held", h->held}, {"paid", h->paid}, {"cancelled", h->cancelled},
		{"expired", h->expired}, {"returns", h->returns}, {"returns_applied", h->applied},
		{"returns_released", h->released}};
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++)
		kv(p, "pg_%s=%" PRIu64, figs[i].key, figs[i].v);
	if (h->returns_wrong > 0)
		drift(p, false,
			"postgresql: %" PRIu64
			" stock_returns rows whose order is not %s as the row "
			"says (an order with two outcomes, or none)",
			h->returns_wrong, "cancelled or expired");
	if (h->released_missing > 0)
		drift(p, false,
			"postgresql: %" PRIu64 " cancelled or expired orders without their "
			"stock_returns row",
			h->released_missing);
	if (h->cancelled + h->expired != h->returns)
		drift(p, false,
			"postgresql: released %" PRIu64 " (cancelled %" PRIu64 " + expired %" PRIu64
			") != stock_returns rows %" PRIu64,
			h->cancelled + h->expired, h->cancelled, h->expired, h->returns);
	if (h->paid_late > 0)
		drift(p, false, "postgresql: %" PRIu64 " orders paid at or after their hold_until",
			h->paid_late);
	if (h->unsettled > 0)
		drift(p, false,
			"postgresql: %" PRIu64 " orders paid, cancelled or expired without "
			"settled_at",
			h->unsettled);
	if (sale->hold_ms == 0 || h->sold > 0)
		drift(p, false,
			"postgresql: hold_ms %" PRIu32 " with %" PRIu64 " held/settled and %" PRIu64
			" sold orders (a sale has holds or not)",
			sale->hold_ms, lifecycle, h->sold);
}

/* PostgreSQL's own rows: one order per user, its sales row and stock. */
static void check_pg(struct pass *p, const struct pg_src *pg, uint32_t sale_id, struct stock *stock)
{
	char list[128];

	if (!src_check(p, &pg->src))
		return;
	kv(p, "pg_orders=%zu", pg->sale.n_orders);
	kv(p, "pg_users=%zu", pg->orders.n_users);
	if (pg->sale.has_sale)
		kv(p, "pg_stock=%" PRIu64, pg->sale.stock);
	if (pg->orders.n_dup_user > 0)
		drift(p, false, "postgresql: a user holds two orders (user %s)",
			list_u64(list, sizeof(list), pg->orders.dup_user, pg->orders.n_dup_user));
	if (pg->sale.has_sale && stock->have && pg->sale.stock != stock->v)
		drift(p, false, "postgresql: sales.stock %" PRIu64 ", stock %" PRIu64,
			pg->sale.stock, stock->v);
	if (!pg->sale.has_sale)
		drift(p, true, "postgresql: no row in sales for sale %" PRIu32, sale_id);
	if (!stock->have && pg->sale.has_sale)
		*stock = (struct stock){.have = true, .v = pg->sale.stock, .back = stock->back};
	check_pg_holds(p, &pg->sale);
}

/* Order ids of one kind of difference between two order sets: how many, the first few. */
struct diff {
	size_t n;
	uint64_t ex[EXAMPLES];
};

static void diff_add(struct diff *d, uint64_t order_id)
{
	if (d->n < EXAMPLES)
		d->ex[d->n] = order_id;
	d->n++;
}

/*
 * Whether @p node is another node than the journals' with a part in the sale: a node of Redis's
 * (fs_nodes_sale_all) or with a node_leases row.
 */
static bool other_lessee(const struct sources *s, unsigned node)
{
	if (node == s->j.node)
		return false;
	for (size_t i = 0; i < s->redis.n_nodes; i++)
		if (s->redis.nodes[i].node == node)
			return true;
	for (size_t i = 0; s->pg.src.ok && i < s->pg.sale.n_nodes; i++)
		if (s->pg.sale.nodes[i].node_id == node && s->pg.sale.nodes[i].has_row)
			return true;
	return false;
}

/*
 * PostgreSQL holds the journals' (order, user) set, no more, no less: merged by order id. The
 * journals are one node's: the rows of another node with a part in the sale are not theirs.
 */
static void check_pg_orders(struct pass *p, const struct sources *s)
{
	const struct fs_pgaudit_order *a = s->j.orders.all.v, *b = s->pg.orders.all.v;
	size_t na = s->j.orders.all.n, nb = s->pg.orders.all.n, i = 0, k = 0;
	struct diff miss = {0}, extra = {0}, wrong = {0};
	char list[128];

	if (!s->j.src.ok || !s->pg.src.ok)
		return;
	while (i < na || k < nb) {
		int cmp = i == na ? 1 : k == nb ? -1 : cmp_u64(a[i].order_id, b[k].order_id);

		if (cmp >= 0 && other_lessee(s, b[k].node_id)) {
			k++; /* another node's order */
		} else if (cmp < 0) {
			diff_add(&miss, a[i++].order_id); /* journals only */
		} else if (cmp > 0) {
			diff_add(&extra, b[k++].order_id); /* PostgreSQL only */
		} else {
			if (a[i].user_id != b[k].user_id)
				diff_add(&wrong, a[i].order_id);
			i++;
			k++;
		}
	}
	kv(p, "pg_missing=%zu", miss.n);
	kv(p, "pg_extra=%zu", extra.n);
	kv(p, "pg_wrong_user=%zu", wrong.n);
	if (miss.n > 0)
		drift(p, true, "postgresql: %zu orders of the journals missing (order %s)", miss.n,
			list_u64(list, sizeof(list), miss.ex,
				miss.n < EXAMPLES ? miss.n : EXAMPLES));
	if (extra.n > 0)
		drift(p, false, "postgresql: %zu extra orders not in the journals (order %s)",
			extra.n,
			list_u64(list, sizeof(list), extra.ex,
				extra.n < EXAMPLES ? extra.n : EXAMPLES));
	if (wrong.n > 0)
		drift(p, false,
			"postgresql: %zu orders with another user than the journals (order %s)",
			wrong.n,
			list_u64(list, sizeof(list), wrong.ex,
				wrong.n < EXAMPLES ? wrong.n : EXAMPLES));
}

/* Node @p node of Redis's part of the sale (fs_nodes_sale_all), or NULL. */
static const struct fs_node_sale *redis_node(const struct sources *s, unsigned node)
{
	for (size_t i = 0; i < s->redis.n_nodes; i++)
		if (s->redis.nodes[i].node == node)
			return &s->redis.nodes[i];
	return NULL;
}

/* Redis's counters against its own stock, leases, node_sold and the journals. */
static void check_redis_counters(struct pass *p, const struct sources *s)
{
	const struct fs_redis_audit *ra = &s->redis.ra;

	if (ra->sold < 0 || (uint64_t)ra->sold > ra->stock + ra->returned)
		drift(p, false,
			"redis: sold %" PRId64 " outside 0..stock %" PRIu64 " + returned %" PRIu64,
			ra->sold, ra->stock, ra->returned);
	if (!ra->has_sold || !ra->has_remaining || !ra->has_pool)
		drift(p, true, "redis: %s%s%smissing", ra->has_sold ? "" : "sold ",
			ra->has_remaining ? "" : "remaining ", ra->has_pool ? "" : "pool ");
	if (ra->remaining != (int64_t)(ra->stock + ra->returned) - ra->sold)
		drift(p, true,
			"redis: remaining %" PRId64 " != stock %" PRIu64 " + returned %" PRIu64
			" - sold %" PRId64,
			ra->remaining, ra->stock, ra->returned, ra->sold);
	/* a sale with holds may owe its pool returns Redis lost (given again by the daemon) */
	if (ra->pool < 0 || (uint64_t)ra->pool + ra->leases != ra->stock + ra->returned)
		drift(p,
			(ra->pool >= 0 || ra->hold_ms > 0) &&
				ra->pool + (int64_t)ra->leases <
					(int64_t)(ra->stock + ra->returned),
			"redis: pool %" PRId64 " + leases %" PRIu64 " (%u nodes) != stock %" PRIu64
			" + returned %" PRIu64,
			ra->pool, ra->leases, ra->n_leases, ra->stock, ra->returned);
	if (ra->node_sold != ra->sold)
		drift(p, true, "redis: node_sold sums to %" PRId64 ", sold %" PRId64, ra->node_sold,
			ra->sold);
	if (!s->j.src.ok)
		return;
	if (s->redis.n_nodes > 1) { /* the journals are one node's: its own count */
		const struct fs_node_sale *n = redis_node(s, s->j.node);
		int64_t sold = n != NULL && n->sold > 0 ? n->sold : 0;

		if ((uint64_t)sold != s->j.orders.all.n)
			drift(p, (uint64_t)sold < s->j.orders.all.n,
				"redis: node %u sold %" PRId64 ", its journals hold %zu orders",
				s->j.node, sold, s->j.orders.all.n);
	} else if (ra->sold >= 0 && (uint64_t)ra->sold != s->j.orders.all.n) {
		drift(p, (uint64_t)ra->sold < s->j.orders.all.n,
			"redis: sold %" PRId64 ", journals hold %zu orders", ra->sold,
			s->j.orders.all.n);
	}
}

/* Redis: the published view. */
static void check_redis(struct pass *p, const struct sources *s, struct stock *stock)
{
	const struct fs_redis_audit *ra = &s->redis.ra;

	if (!src_check(p, &s->redis.src))
		return;
	if (!ra->has_hash) {
		drift(p, true, "redis: fs:{%" PRIu32 "}:sale missing%s", s->sale_id,
			ra->in_sales ? "" : " and the sale is not in fs:sales");
		return;
	}
	kv(p, "redis_stock=%" PRIu64, ra->stock);
	kv(p, "redis_sold=%" PRId64, ra->sold);
	kv(p, "redis_remaining=%" PRId64, ra->remaining);
	kv(p, "redis_pool=%" PRId64, ra->pool);
	kv(p, "redis_leases=%" PRIu64, ra->leases);
	if (ra->hold_ms > 0 || ra->returned > 0) {
		kv(p, "redis_hold_ms=%" PRIu32, ra->hold_ms);
		kv(p, "redis_returned=%" PRIu64, ra->returned);
	}
	if (stock->have && ra->stock != stock->v)
		drift(p, false, "redis: stock %" PRIu64 ", the dataplane's %" PRIu64, ra->stock,
			stock->v);
	if (!stock->have)
		*stock = (struct stock){.have = true, .v = ra->stock, .back = stock->back};
	if (!ra->in_sales)
		drift(p, true, "redis: sale not in fs:sales");
	check_redis_counters(p, s);
}

/* Never more sold than the stock, in any source. */
static void check_stock(struct pass *p, const struct sources *s, const struct stock *stock)
{
	if (!stock->have)
		return;
	kv(p, "stock=%" PRIu64, stock->v);
	if (s->j.src.ok && s->j.orders.all.n > stock->v + stock->back)
		drift(p, false, "journals: %zu orders above stock %" PRIu64 " + returned %" PRIu64,
			s->j.orders.all.n, stock->v, stock->back);
	if (s->pg.src.ok && s->pg.sale.n_orders > stock->v + stock->back)
		drift(p, false,
			"postgresql: %zu orders above stock %" PRIu64 " + returned %" PRIu64,
			s->pg.sale.n_orders, stock->v, stock->back);
}

/*
 * Redis against PostgreSQL: every unit is somewhere, once. stock = pool + what the nodes hold
 * unsold (Σ over nodes of its lease key - its node_sold) + held + paid (a sale without holds: +
 * sold), and the returns PostgreSQL recorded are the members of fs:{N}:returned. Both settle when
 * the daemon and persist catch up.
 */
static void check_units(struct pass *p, const struct sources *s, const struct stock *stock)
{
	const struct fs_redis_audit *ra = &s->redis.ra;
	const struct fs_pgaudit_holds *h = &s->pg.sale.holds;
	bool holds = s->pg.sale.hold_ms > 0 || ra->hold_ms > 0;
	int64_t unsold = 0;
	uint64_t owned = holds ? h->held + h->paid : h->sold;
	int64_t total;

	if (!stock->have || !s->pg.src.ok || !s->redis.src.ok || !ra->has_hash)
		return;
	for (size_t i = 0; i < s->redis.n_nodes; i++) { /* each node's lease - its sold */
		const struct fs_node_sale *n = &s->redis.nodes[i];

		unsold += (n->leased > 0 ? n->leased : 0) - (n->sold > 0 ? n->sold : 0);
	}
	total = ra->pool + unsold + (int64_t)owned;
	kv(p, "units_pool=%" PRId64, ra->pool);
	kv(p, "units_unsold=%" PRId64, unsold);
	kv(p, holds ? "units_held_paid=%" PRIu64 : "units_sold=%" PRIu64, owned);
	kv(p, "units_total=%" PRId64, total);
	if (total != (int64_t)stock->v)
		drift(p, true,
			"units: pool %" PRId64 " + unsold at nodes %" PRId64 " + %s %" PRIu64
			" = %" PRId64 ", stock %" PRIu64,
			ra->pool, unsold, holds ? "held and paid" : "sold", owned, total, stock->v);
	if (!holds)
		return;
	if (ra->returned != h->returns)
		drift(p, ra->returned < h->returns,
			"units: %" PRIu64 " returns in Redis (fs:{%" PRIu32 "}:returned), %" PRIu64
			" stock_returns rows (%" PRIu64 " applied)",
			ra->returned, s->sale_id, h->returns, h->applied);
}

/* One node's figures: Redis's and PostgreSQL's part of it (NULL: that source has none). */
struct node_fig {
	unsigned node;
	const struct fs_node_sale *r;
	const struct fs_pgleases_node *pg;
};

/* Node @p f's line: its figures from Redis, and with --pg from PostgreSQL. */
static void node_line(struct pass *p, bool pg, const struct node_fig *f, int64_t leased,
	int64_t sold, bool forgotten)
{
	const struct fs_pgleases_node none = {0}, *g = f->pg != NULL ? f->pg : &none;

	fprintf(p->nodes, "node=%u leased=%" PRId64 " sold=%" PRId64 " unsold=%" PRId64, f->node,
		leased, sold, leased < 0 ? -1 : leased - sold);
	if (pg)
		fprintf(p->nodes, " pg_orders=%" PRIu64 " pg_leased=%" PRIu64 " pg_sold=%" PRIu64,
			g->orders, g->leased, g->sold);
	fprintf(p->nodes, " forgotten=%d\n", forgotten ? 1 : 0);
}

/*
 * Node @p f: its lease key in Redis (missing while it has a part: Redis lost it and the node has
 * not reported again), its sold count at most its lease; with --pg its orders rows = its sold
 * count, each order id naming it, and Redis's figures not below what it reported in node_leases.
 */
static void check_node(struct pass *p, const struct sources *s, const struct node_fig *f)
{
	const struct fs_pgleases_node none = {0}, *g = f->pg != NULL ? f->pg : &none;
	int64_t leased = f->r != NULL ? f->r->leased : -1;
	int64_t sold = f->r != NULL && f->r->sold > 0 ? f->r->sold : 0;
	bool forgotten = (f->r != NULL && f->r->forgotten) || g->forgotten;
	unsigned n = f->node;

	node_line(p, s->pg.src.ok, f, leased, sold, forgotten);
	if (leased < 0 && (sold > 0 || g->has_row || (f->r != NULL && f->r->lessee)))
		drift(p, true, "node %u: no lease key in Redis (fs:{%" PRIu32 "}:lease:%u)", n,
			s->sale_id, n);
	if (leased >= 0 && sold > leased)
		drift(p, false, "node %u: sold %" PRId64 " above its lease %" PRId64 " in Redis", n,
			sold, leased);
	if (!s->pg.src.ok)
		return;
	if (g->foreign_ids > 0)
		drift(p, false,
			"node %u: %" PRIu64 " orders whose order id names another node of the sale",
			n, g->foreign_ids);
	if (g->orders != (uint64_t)sold)
		drift(p, true,
			"node %u: %" PRIu64 " orders in postgresql, sold %" PRId64 " in Redis", n,
			g->orders, sold);
	if (g->has_row && !forgotten && leased >= 0 && g->leased > (uint64_t)leased)
		drift(p, true,
			"node %u: lease %" PRId64 " in Redis below the %" PRIu64
			" leased it reported (node_leases)",
			n, leased, g->leased);
	if (g->has_row && g->sold > (uint64_t)sold)
		drift(p, true,
			"node %u: sold %" PRId64 " in Redis below the %" PRIu64
			" it reported (node_leases)",
			n, sold, g->sold);
}

/*
 * Every node with a part in the sale, in Redis (fs_nodes_sale_all) or PostgreSQL (node_leases,
 * orders), merged by node id: one line each and its drifts (check_node); the nodes' lease keys
 * are every lease key of the sale.
 */
static void check_nodes(struct pass *p, const struct sources *s)
{
	const struct fs_node_sale *r = s->redis.nodes;
	const struct fs_pgleases_node *g = s->pg.src.ok ? s->pg.sale.nodes : NULL;
	size_t nr = s->redis.src.ok ? s->redis.n_nodes : 0, ng = g != NULL ? s->pg.sale.n_nodes : 0;
	uint64_t leases = 0;

	if (!s->redis.src.ok || !s->redis.ra.has_hash)
		return;
	for (size_t i = 0, k = 0; i < nr || k < ng;) {
		unsigned a = i < nr ? r[i].node : UINT32_MAX,
			 b = k < ng ? g[k].node_id : UINT32_MAX;
		struct node_fig f = {.node = a < b ? a : b};

		if (a <= b)
			f.r = &r[i++];
		if (b <= a)
			f.pg = &g[k++];
		check_node(p, s, &f);
	}
	for (size_t i = 0; i < nr; i++)
		leases += r[i].leased > 0 ? (uint64_t)r[i].leased : 0;
	if (leases != s->redis.ra.leases)
		drift(p, true,
			"redis: lease keys sum to %" PRIu64 " (%u keys), the nodes of fs:{%" PRIu32
			"}:lessees and node_sold hold %" PRIu64,
			s->redis.ra.leases, s->redis.ra.n_leases, s->sale_id, leases);
}

/* The won-file: every WON a client saw has its row (PostgreSQL, else the journals). */
static void check_won(struct pass *p, const struct sources *s)
{
	const struct won_src *w = &s->won;
	const struct order_set *ref = s->pg.src.ok ? &s->pg.orders : &s->j.orders;
	const char *where = s->pg.src.ok ? "postgresql" : "journals";
	size_t n_wrong = 0;
	struct diff missing = {0};
	char list[128];

	if (!src_check(p, &w->src))
		return;
	kv(p, "won_lines=%zu", w->lines.n);
	if (!s->pg.src.ok && !s->j.src.ok)
		return;
	for (size_t i = 0; i < w->lines.n; i++) {
		const struct fs_pgaudit_order *line = &w->lines.v[i];
		const struct fs_pgaudit_order *hit = find_order(ref, line->order_id);

		if (hit == NULL) {
			diff_add(&missing, line->order_id);
		} else if (hit->user_id != line->user_id) {
			n_wrong++;
			drift(p, false,
				"won-file: order %" PRIu64 " of user %" PRIu64
				" is held by user %" PRIu64 " in %s",
				line->order_id, line->user_id, hit->user_id, where);
		}
	}
	kv(p, "won_missing=%zu", missing.n);
	kv(p, "won_wrong_user=%zu", n_wrong);
	if (missing.n > 0)
		drift(p, s->pg.src.ok, "won-file: %zu won orders not in %s (order %s)", missing.n,
			where,
			list_u64(list, sizeof(list), missing.ex,
				missing.n < EXAMPLES ? missing.n : EXAMPLES));
}

/* The checks, in their order (see the top of the file). */
static void compare(const struct sources *s, struct pass *p)
{
	struct stock stock = {0};

	if (s->redis.src.ok)
		stock.back = s->redis.ra.returned;
	else if (s->pg.src.ok)
		stock.back = s->pg.sale.holds.returns;
	kv(p, "sale=%" PRIu32, s->sale_id);
	check_journals(p, &s->j, &stock);
	check_dp(p, s, &stock);
	check_pg(p, &s->pg, s->sale_id, &stock);
	check_pg_orders(p, s);
	check_redis(p, s, &stock);
	check_stock(p, s, &stock);
	check_units(p, s, &stock);
	check_nodes(p, s);
	check_won(p, s);
}

/* --------------------------------------------------------------------------- one pass */

static int audit_pass(const struct fs_audit_conf *c, struct pass *p)
{
	struct sources s = {0};
	int rc;

	rc = read_sources(c, &s);
	if (rc == 0)
		compare(&s, p);
	sources_free(&s);
	return rc;
}

/* The last pass's lines (JSON: one object, the drift texts in the array "drift"). */
static void print_result(const struct fs_audit_conf *c, const struct pass *p, int64_t waited_ms)
{
	struct fs_out out;

	fs_out_init(&out, c->json);
	fs_out_kv_lines(&out, p->kv_buf);
	fs_out_list(&out, "nodes");
	for (char *line = p->nodes_buf, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		fs_out_record(&out, "nodes", line); /* "node=N leased=L ..." (check_node) */
	}
	fs_out_i64(&out, "waited_ms", waited_ms);
	fs_out_u64(&out, "drifts", p->drifts);
	if (!c->json) {
		fputs(p->drift_buf, stdout);
		fflush(stdout);
		return;
	}
	fs_out_list(&out, "drift");
	for (char *line = p->drift_buf, *nl; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		/* each line is "drift: TEXT" (drift()) */
		fs_out_item_str(&out, "", "drift", line + strlen("drift: "));
	}
	fs_out_end(&out, 0);
}

/* A pass's three streams closed (their buffers kept); with @p bufs_too their buffers freed. */
static void pass_close(struct pass *p, bool bufs_too)
{
	FILE **f[] = {&p->kv, &p->nodes, &p->drift};
	char **b[] = {&p->kv_buf, &p->nodes_buf, &p->drift_buf};

	for (size_t i = 0; i < 3; i++) {
		if (*f[i] != NULL)
			fclose(*f[i]);
		*f[i] = NULL;
		if (bufs_too) {
			free(*b[i]);
			*b[i] = NULL;
		}
	}
}

/* A new pass: its streams open. 0 or -ENOMEM. */
static int pass_open(struct pass *p)
{
	memset(p, 0, sizeof(*p));
	p->kv = open_memstream(&p->kv_buf, &p->kv_len);
	p->nodes = open_memstream(&p->nodes_buf, &p->nodes_len);
	p->drift = open_memstream(&p->drift_buf, &p->drift_len);
	if (p->kv != NULL && p->nodes != NULL && p->drift != NULL)
		return 0;
	pass_close(p, true);
	return -ENOMEM;
}

int fs_audit_run(const struct fs_audit_conf *c)
{
	int64_t start = fs_monotonic_ms(), deadline = start + (int64_t)c->wait_s * 1000;
	struct pass p;
	int rc;

	for (;;) {
		rc = pass_open(&p);
		if (rc < 0)
			break;
		rc = audit_pass(c, &p);
		pass_close(&p, false);
		if (rc < 0 || p.drifts == 0 || p.final || fs_monotonic_ms() >= deadline)
			break;
		pass_close(&p, true);
		nanosleep(&(struct timespec){.tv_nsec = RETRY_MS * 1000000L}, NULL);
	}
	if (rc == 0)
		print_result(c, &p, fs_monotonic_ms() - start);
	pass_close(&p, true);
	if (rc < 0)
		return rc;
	return p.drifts > 0 ? 1 : 0;
}
