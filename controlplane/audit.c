/* flashctl audit: one sale's journals, dataplane, PostgreSQL, Redis and won-file, cross-checked. */
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
#include "pgaudit.h"
#include "redis.h"

#define READ_BATCH 4096 /* journal records per read */
#define EXAMPLES 3	/* examples named in one drift line */
#define RETRY_MS 250

/* Pairs (order, user) of journal records, PostgreSQL rows and won-file lines: fs_pgaudit_order. */

/* One pass over every source: what it printed and what drifted. */
struct pass {
	FILE *kv, *drift;
	char *kv_buf, *drift_buf;
	size_t kv_len, drift_len;
	unsigned drifts;
	bool final; /* a drift that no lagging writer can close */
};

/* A growable array of pairs. */
struct pairs {
	struct fs_pgaudit_order *v;
	size_t n, cap;
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

static int pairs_add(struct pairs *a, uint64_t order_id, uint64_t user_id)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		struct fs_pgaudit_order *v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n].order_id = order_id;
	a->v[a->n].user_id = user_id;
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
 * Sort @p a by user (a copy) and count distinct users; @p dup gets up to EXAMPLES users seen
 * twice. @p a itself ends sorted by order id; returns distinct order ids via @p n_orders.
 */
static int distinct(struct pairs *a, size_t *n_orders, size_t *n_users, uint64_t dup[EXAMPLES],
	size_t *n_dup, uint64_t dup_order[EXAMPLES], size_t *n_dup_order)
{
	struct fs_pgaudit_order *u = NULL;

	*n_orders = *n_users = *n_dup = *n_dup_order = 0;
	if (a->n == 0)
		return 0;
	u = malloc(a->n * sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	memcpy(u, a->v, a->n * sizeof(*u));
	qsort(u, a->n, sizeof(*u), by_user);
	for (size_t i = 0; i < a->n; i++) {
		if (i == 0 || u[i].user_id != u[i - 1].user_id)
			(*n_users)++;
		else if (*n_dup < EXAMPLES && (*n_dup == 0 || dup[*n_dup - 1] != u[i].user_id))
			dup[(*n_dup)++] = u[i].user_id;
	}
	free(u);
	qsort(a->v, a->n, sizeof(*a->v), by_order);
	for (size_t i = 0; i < a->n; i++) {
		if (i == 0 || a->v[i].order_id != a->v[i - 1].order_id)
			(*n_orders)++;
		else if (*n_dup_order < EXAMPLES)
			dup_order[(*n_dup_order)++] = a->v[i].order_id;
	}
	return 0;
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

/* --------------------------------------------------------------------------- journals */

struct journals {
	struct pairs orders;
	bool has_stock;
	uint64_t stock;
};

static int read_journals(struct pass *p, const char *dir, uint32_t sale_id, struct journals *jv)
{
	unsigned idx[FS_JOURNAL_MAX];
	struct fs_jrec *buf;
	int n, got, rc = 0;

	memset(jv, 0, sizeof(*jv));
	n = fs_journal_list(dir, idx, FS_JOURNAL_MAX);
	if (n < 0) {
		drift(p, false, "journals: cannot list %s: %s", dir, strerror(-n));
		return 0;
	}
	buf = malloc(READ_BATCH * sizeof(*buf));
	if (buf == NULL)
		return -ENOMEM;
	for (int i = 0; i < n && rc == 0; i++) {
		struct fs_journal_reader *r = fs_journal_reader_open(dir, idx[i], 1);

		if (r == NULL) {
			drift(p, false, "journals: cannot open journal %u of %s: %s", idx[i], dir,
				strerror(errno));
			continue;
		}
		while ((got = fs_journal_read(r, buf, READ_BATCH)) > 0 && rc == 0) {
			for (int k = 0; k < got; k++) {
				const struct fs_jrec *rec = &buf[k];

				if (rec->sale_id != sale_id)
					continue;
				if (rec->type == FS_JREC_ORDER)
					rc = pairs_add(&jv->orders, rec->body.order.order_id,
						rec->body.order.user_id);
				else if (rec->type == FS_JREC_SALE) {
					jv->has_stock = true;
					jv->stock = rec->body.sale.stock;
				}
			}
		}
		if (got < 0)
			drift(p, false, "journals: reading journal %u of %s: %s", idx[i], dir,
				strerror(-got));
		fs_journal_reader_close(r);
	}
	free(buf);
	return rc;
}

/* --------------------------------------------------------------------------- one pass */

static int audit_pass(const struct fs_audit_conf *c, struct pass *p)
{
	struct fs_pgaudit_sale pg = {0};
	struct journals jv = {0};
	struct pairs won = {0};
	uint64_t dup[EXAMPLES], dup_o[EXAMPLES], ex[EXAMPLES];
	size_t n_dup, n_dup_o, n_ex, j_orders = 0, j_users = 0;
	bool have_j = false, have_pg = false, have_stock = false;
	uint64_t stock = 0;
	char list[128], err[256];
	int rc = 0;

	kv(p, "sale=%" PRIu32, c->sale_id);

	/* Journals: the authoritative record of every WON. */
	if (c->state_dir != NULL) {
		rc = read_journals(p, c->state_dir, c->sale_id, &jv);
		if (rc < 0)
			goto out;
		rc = distinct(&jv.orders, &j_orders, &j_users, dup, &n_dup, dup_o, &n_dup_o);
		if (rc < 0)
			goto out;
		have_j = true;
		kv(p, "journal_orders=%zu", jv.orders.n);
		kv(p, "journal_users=%zu", j_users);
		kv(p, "journal_order_ids=%zu", j_orders);
		if (jv.has_stock) {
			kv(p, "journal_stock=%" PRIu64, jv.stock);
			stock = jv.stock;
			have_stock = true;
		}
		if (n_dup > 0)
			drift(p, false,
				"journals: %zu orders for %zu users: a user holds two "
				"orders (user %s)",
				jv.orders.n, j_users, list_u64(list, sizeof(list), dup, n_dup));
		if (n_dup_o > 0)
			drift(p, false, "journals: order id used twice (order %s)",
				list_u64(list, sizeof(list), dup_o, n_dup_o));
	}

	/* The dataplane: what it sold and holds. */
	if (c->dp_socket != NULL) {
		struct fs_dpctl d;
		struct json_object *st = NULL;
		long long total = -1, sold = -1, leased = -1, rem = -1;
		char cmd[64];

		fs_dpctl_init(&d);
		snprintf(cmd, sizeof(cmd), "/flashsale/sale/status,%" PRIu32, c->sale_id);
		rc = fs_dpctl_connect(&d, c->dp_socket, c->timeout_ms);
		if (rc == 0)
			rc = fs_dpctl_cmd(&d, cmd, &st);
		fs_dpctl_close(&d);
		if (rc == -EREMOTEIO) {
			drift(p, false, "dataplane: %s", d.errstr);
		} else if (rc < 0) {
			drift(p, true, "dataplane: unreachable: %s", d.errstr);
		} else {
			fs_dpctl_get_i64(st, "total", &total);
			fs_dpctl_get_i64(st, "sold", &sold);
			fs_dpctl_get_i64(st, "leased", &leased);
			fs_dpctl_get_i64(st, "remaining", &rem);
			json_object_put(st);
			kv(p, "dp_total=%lld", total);
			kv(p, "dp_sold=%lld", sold);
			kv(p, "dp_leased=%lld", leased);
			kv(p, "dp_remaining=%lld", rem);
			if (have_stock && (uint64_t)total != stock)
				drift(p, false, "dataplane: total %lld, journal stock %" PRIu64,
					total, stock);
			if (!have_stock && total > 0) {
				stock = (uint64_t)total;
				have_stock = true;
			}
			if (sold > total || leased > total)
				drift(p, false,
					"dataplane: sold %lld / leased %lld above stock %lld", sold,
					leased, total);
			if (rem != leased - sold)
				drift(p, true,
					"dataplane: remaining %lld != leased %lld - sold %lld", rem,
					leased, sold);
			if (have_j && (uint64_t)sold != jv.orders.n)
				drift(p, true, "dataplane: sold %lld, journals hold %zu orders",
					sold, jv.orders.n);
		}
		rc = 0;
	}

	/* PostgreSQL: the same (order, user) set as the journals, no more, no less. */
	if (c->pg_url != NULL) {
		size_t n_o, n_u;

		rc = fs_pgaudit_read(
			c->pg_url, c->sale_id, (c->timeout_ms + 999) / 1000, &pg, err, sizeof(err));
		if (rc == -ENOMEM)
			goto out;
		if (rc < 0) {
			drift(p, true, "postgresql: %s", err);
			rc = 0;
		} else {
			struct pairs rows = {.v = pg.orders, .n = pg.n_orders, .cap = pg.n_orders};

			rc = distinct(&rows, &n_o, &n_u, dup, &n_dup, dup_o, &n_dup_o);
			if (rc < 0)
				goto out;
			have_pg = true;
			kv(p, "pg_orders=%zu", pg.n_orders);
			kv(p, "pg_users=%zu", n_u);
			if (pg.has_sale)
				kv(p, "pg_stock=%" PRIu64, pg.stock);
			if (n_dup > 0)
				drift(p, false, "postgresql: a user holds two orders (user %s)",
					list_u64(list, sizeof(list), dup, n_dup));
			if (pg.has_sale && have_stock && pg.stock != stock)
				drift(p, false,
					"postgresql: sales.stock %" PRIu64 ", stock %" PRIu64,
					pg.stock, stock);
			if (!pg.has_sale)
				drift(p, true, "postgresql: no row in sales for sale %" PRIu32,
					c->sale_id);
			if (!have_stock && pg.has_sale) {
				stock = pg.stock;
				have_stock = true;
			}
		}
	}
	if (have_j && have_pg) {
		/* Merge both, sorted by order id: missing (journal only), extra (PostgreSQL only).
		 */
		uint64_t miss[EXAMPLES], extra[EXAMPLES], wrong[EXAMPLES];
		size_t n_miss = 0, n_extra = 0, n_wrong = 0, i = 0, k = 0;
		const struct fs_pgaudit_order *a = jv.orders.v, *b = pg.orders;

		while (i < jv.orders.n || k < pg.n_orders) {
			int cmp = i == jv.orders.n   ? 1
				  : k == pg.n_orders ? -1
						     : cmp_u64(a[i].order_id, b[k].order_id);
			if (cmp < 0) {
				if (n_miss < EXAMPLES)
					miss[n_miss] = a[i].order_id;
				n_miss++;
				i++;
			} else if (cmp > 0) {
				if (n_extra < EXAMPLES)
					extra[n_extra] = b[k].order_id;
				n_extra++;
				k++;
			} else {
				if (a[i].user_id != b[k].user_id) {
					if (n_wrong < EXAMPLES)
						wrong[n_wrong] = a[i].order_id;
					n_wrong++;
				}
				i++;
				k++;
			}
		}
		kv(p, "pg_missing=%zu", n_miss);
		kv(p, "pg_extra=%zu", n_extra);
		kv(p, "pg_wrong_user=%zu", n_wrong);
		if (n_miss > 0)
			drift(p, true, "postgresql: %zu orders of the journals missing (order %s)",
				n_miss,
				list_u64(list, sizeof(list), miss,
					n_miss < EXAMPLES ? n_miss : EXAMPLES));
		if (n_extra > 0)
			drift(p, false,
				"postgresql: %zu extra orders not in the journals (order %s)",
				n_extra,
				list_u64(list, sizeof(list), extra,
					n_extra < EXAMPLES ? n_extra : EXAMPLES));
		if (n_wrong > 0)
			drift(p, false,
				"postgresql: %zu orders with another user than the journals "
				"(order %s)",
				n_wrong,
				list_u64(list, sizeof(list), wrong,
					n_wrong < EXAMPLES ? n_wrong : EXAMPLES));
	}

	/* Redis: the published view. */
	{
		struct fs_redis r = {.password = c->redis_password};
		struct fs_redis_audit ra;

		rc = fs_redis_connect(&r, c->redis_url, c->timeout_ms);
		if (rc == 0)
			rc = fs_redis_audit_read(&r, c->sale_id, &ra);
		fs_redis_close(&r);
		if (rc < 0) {
			drift(p, rc != -EPROTO, "redis: %s", r.errstr);
		} else if (!ra.has_hash) {
			drift(p, true, "redis: fs:{%" PRIu32 "}:sale missing%s", c->sale_id,
				ra.in_sales ? "" : " and the sale is not in fs:sales");
		} else {
			kv(p, "redis_stock=%" PRIu64, ra.stock);
			kv(p, "redis_sold=%" PRId64, ra.sold);
			kv(p, "redis_remaining=%" PRId64, ra.remaining);
			kv(p, "redis_pool=%" PRId64, ra.pool);
			kv(p, "redis_leases=%" PRIu64, ra.leases);
			if (have_stock && ra.stock != stock)
				drift(p, false,
					"redis: stock %" PRIu64 ", the dataplane's %" PRIu64,
					ra.stock, stock);
			if (!have_stock) {
				stock = ra.stock;
				have_stock = true;
			}
			if (!ra.in_sales)
				drift(p, true, "redis: sale not in fs:sales");
			if (ra.sold < 0 || (uint64_t)ra.sold > ra.stock)
				drift(p, false, "redis: sold %" PRId64 " outside 0..stock %" PRIu64,
					ra.sold, ra.stock);
			if (!ra.has_sold || !ra.has_remaining || !ra.has_pool)
				drift(p, true, "redis: %s%s%smissing", ra.has_sold ? "" : "sold ",
					ra.has_remaining ? "" : "remaining ",
					ra.has_pool ? "" : "pool ");
			if (ra.remaining != (int64_t)ra.stock - ra.sold)
				drift(p, true,
					"redis: remaining %" PRId64 " != stock %" PRIu64
					" - sold %" PRId64,
					ra.remaining, ra.stock, ra.sold);
			if (ra.pool < 0 || (uint64_t)ra.pool + ra.leases != ra.stock)
				drift(p, ra.pool >= 0 && (uint64_t)ra.pool + ra.leases < ra.stock,
					"redis: pool %" PRId64 " + leases %" PRIu64
					" (%u nodes) != "
					"stock %" PRIu64,
					ra.pool, ra.leases, ra.n_leases, ra.stock);
			if (ra.node_sold != ra.sold)
				drift(p, true,
					"redis: node_sold sums to %" PRId64 ", sold %" PRId64,
					ra.node_sold, ra.sold);
			if (have_j && ra.sold >= 0 && (uint64_t)ra.sold != jv.orders.n)
				drift(p, (uint64_t)ra.sold < jv.orders.n,
					"redis: sold %" PRId64 ", journals hold %zu orders",
					ra.sold, jv.orders.n);
		}
		rc = 0;
	}

	/* Never more sold than the stock, in any source. */
	if (have_stock) {
		kv(p, "stock=%" PRIu64, stock);
		if (have_j && jv.orders.n > stock)
			drift(p, false, "journals: %zu orders above stock %" PRIu64, jv.orders.n,
				stock);
		if (have_pg && pg.n_orders > stock)
			drift(p, false, "postgresql: %zu orders above stock %" PRIu64, pg.n_orders,
				stock);
	}

	/* The won-file: every WON a client saw has its row (PostgreSQL, else the journals). */
	if (c->won_file != NULL) {
		FILE *f = fopen(c->won_file, "r");
		char line[128];
		unsigned lineno = 0;
		size_t n_missing = 0, n_wrong = 0;
		const struct fs_pgaudit_order *ref = have_pg ? pg.orders : jv.orders.v;
		size_t n_ref = have_pg ? pg.n_orders : jv.orders.n;
		const char *where = have_pg ? "postgresql" : "journals";

		if (f == NULL) {
			drift(p, false, "won-file: cannot open %s: %s", c->won_file,
				strerror(errno));
			goto out;
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			uint64_t u, o;
			char tail;

			lineno++;
			if (line[strspn(line, " \t\r\n")] == '\0')
				continue;
			if (sscanf(line, "%" SCNu64 " %" SCNu64 " %c", &u, &o, &tail) != 2) {
				drift(p, false, "won-file: line %u malformed", lineno);
				continue;
			}
			rc = pairs_add(&won, o, u);
			if (rc < 0)
				break;
		}
		fclose(f);
		if (rc < 0)
			goto out;
		kv(p, "won_lines=%zu", won.n);
		if (!have_pg && !have_j)
			goto out;
		n_ex = 0;
		for (size_t i = 0; i < won.n; i++) {
			struct fs_pgaudit_order key = {.order_id = won.v[i].order_id};
			const struct fs_pgaudit_order *hit;

			/* ref is sorted by (order, user): find the first row of this order. */
			hit = NULL;
			for (size_t lo = 0, hi = n_ref; lo < hi;) {
				size_t mid = lo + (hi - lo) / 2;
				if (ref[mid].order_id < key.order_id) {
					lo = mid + 1;
				} else {
					if (ref[mid].order_id == key.order_id)
						hit = &ref[mid];
					hi = mid;
				}
			}
			if (hit == NULL) {
				if (n_ex < EXAMPLES)
					ex[n_ex++] = won.v[i].order_id;
				n_missing++;
			} else if (hit->user_id != won.v[i].user_id) {
				n_wrong++;
				drift(p, false,
					"won-file: order %" PRIu64 " of user %" PRIu64
					" is held by user %" PRIu64 " in %s",
					won.v[i].order_id, won.v[i].user_id, hit->user_id, where);
			}
		}
		kv(p, "won_missing=%zu", n_missing);
		kv(p, "won_wrong_user=%zu", n_wrong);
		if (n_missing > 0)
			drift(p, have_pg, "won-file: %zu won orders not in %s (order %s)",
				n_missing, where, list_u64(list, sizeof(list), ex, n_ex));
	}
out:
	free(jv.orders.v);
	free(won.v);
	fs_pgaudit_free(&pg);
	return rc;
}

int fs_audit_run(const struct fs_audit_conf *c)
{
	int64_t start = fs_monotonic_ms(), deadline = start + (int64_t)c->wait_s * 1000;
	struct pass p;
	int rc;

	for (;;) {
		memset(&p, 0, sizeof(p));
		p.kv = open_memstream(&p.kv_buf, &p.kv_len);
		p.drift = open_memstream(&p.drift_buf, &p.drift_len);
		if (p.kv == NULL || p.drift == NULL) {
			if (p.kv != NULL)
				fclose(p.kv);
			if (p.drift != NULL)
				fclose(p.drift);
			rc = -ENOMEM;
			break;
		}
		rc = audit_pass(c, &p);
		fclose(p.kv);
		fclose(p.drift);
		if (rc < 0 || p.drifts == 0 || p.final || fs_monotonic_ms() >= deadline)
			break;
		free(p.kv_buf);
		free(p.drift_buf);
		nanosleep(&(struct timespec){.tv_nsec = RETRY_MS * 1000000L}, NULL);
	}
	if (rc == 0) {
		fputs(p.kv_buf, stdout);
		printf("waited_ms=%" PRId64 "\n", fs_monotonic_ms() - start);
		printf("drifts=%u\n", p.drifts);
		fputs(p.drift_buf, stdout);
		fflush(stdout);
	}
	free(p.kv_buf);
	free(p.drift_buf);
	if (rc < 0)
		return rc;
	return p.drifts > 0 ? 1 : 0;
}
