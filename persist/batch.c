/* Batch building: journal records to binary COPY tuples (orders) and statements (sales). */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"

/* Unix seconds of 0001-01-01T00:00:00Z and of 10000-01-01T00:00:00Z (proleptic Gregorian). */
#define FS_BATCH_MIN_S (-62135596800LL)
#define FS_BATCH_END_S (253402300800LL)
/* Microseconds from the unix epoch to PostgreSQL's, 2000-01-01T00:00:00Z (timestamptz's zero). */
#define FS_BATCH_PG_EPOCH_US (946684800000000LL)
/* The longest tuple: field count, 2 bigints, a 5-digit numeric, an int, a timestamptz. */
#define FS_BATCH_TUPLE_MAX (2u + 12u + 12u + 22u + 8u + 12u)
_Static_assert(FS_BATCH_TUPLE_MAX <= FS_BATCH_ROW_MAX, "FS_BATCH_ROW_MAX too small");

const char fs_batch_copy_header[FS_BATCH_COPY_HEADER_LEN] = {
	'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0', /* signature */
	0, 0, 0, 0, 0, 0, 0, 0, /* flags (no OIDs), header extension length (none) */
};
const char fs_batch_copy_trailer[FS_BATCH_COPY_TRAILER_LEN] = {'\377', '\377'};

static const char *const fs_batch_sql[FS_BATCH_STMT_KINDS] = {
	[FS_BATCH_SALE_UPSERT] =
		"INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission) "
		"VALUES ($1::bigint, $2::bigint, $3::timestamptz, $4::timestamptz, $5::text) "
		"ON CONFLICT (sale_id) DO UPDATE SET stock = EXCLUDED.stock, "
		"starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, "
		"admission = EXCLUDED.admission",
	[FS_BATCH_SALE_STOP] = "UPDATE sales SET ends_at = $2::timestamptz "
			       "WHERE sale_id = $1::bigint AND ends_at > $2::timestamptz",
	[FS_BATCH_SALE_HOLD] = "UPDATE sales SET hold_ms = $2::bigint WHERE sale_id = $1::bigint",
};

static const char *const fs_batch_names[FS_BATCH_STMT_KINDS] = {
	[FS_BATCH_SALE_UPSERT] = "sale upsert",
	[FS_BATCH_SALE_STOP] = "sale stop",
	[FS_BATCH_SALE_HOLD] = "sale hold",
};

const char *fs_batch_stmt_sql(unsigned kind)
{
	return kind < FS_BATCH_STMT_KINDS ? fs_batch_sql[kind] : NULL;
}

const char *fs_batch_stmt_name(unsigned kind)
{
	return kind < FS_BATCH_STMT_KINDS ? fs_batch_names[kind] : "statement";
}

/* Format seconds + microseconds; secs within [FS_BATCH_MIN_S, FS_BATCH_END_S). */
static int fs_batch_time_fmt(int64_t secs, unsigned usec, char *buf, size_t len)
{
	time_t t = (time_t)secs;
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int fs_batch_time_ns(uint64_t time_ns, char *buf, size_t len)
{
	/* u64 ns ends in year 2554: always within range. */
	return fs_batch_time_fmt((int64_t)(time_ns / 1000000000u),
		(unsigned)((time_ns / 1000u) % 1000000u), buf, len);
}

int fs_batch_time_ms(int64_t ms, char *buf, size_t len)
{
	int64_t secs = ms / 1000;
	int64_t rem = ms % 1000;
	int n;

	if (rem < 0) { /* floor division for times before 1970 */
		secs -= 1;
		rem += 1000;
	}
	if (secs < FS_BATCH_MIN_S || secs >= FS_BATCH_END_S) {
		n = snprintf(buf, len, "%s", secs < 0 ? "-infinity" : "infinity");
		return (n < 0 || (size_t)n >= len) ? -ENOSPC : n;
	}
	return fs_batch_time_fmt(secs, (unsigned)rem * 1000u, buf, len);
}

static char *fs_batch_put16(char *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static char *fs_batch_put32(char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

/* A field of 8 bytes: its length, then @p v. */
static char *fs_batch_field64(char *p, uint64_t v)
{
	p = fs_batch_put32(p, sizeof(v));
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

int fs_batch_numeric_u64(uint64_t v, char *buf, size_t len)
{
	uint16_t d[5]; /* base-10000 digits, least significant first: 2^64 < 10000^5 */
	unsigned n = 0, low = 0, i;
	char *p = buf;

	while (v > 0) {
		d[n++] = (uint16_t)(v % 10000u);
		v /= 10000u;
	}
	while (low < n && d[low] == 0) /* trailing zero digits: implied by the weight */
		low++;
	if (len < 8u + 2u * (n - low))
		return -ENOSPC;
	/* ndigits, the weight of the first digit, sign (positive), dscale */
	p = fs_batch_put16(p, (uint16_t)(n - low));
	p = fs_batch_put16(p, (uint16_t)(n > 0 ? n - 1 : 0));
	p = fs_batch_put16(p, 0);
	p = fs_batch_put16(p, 0);
	for (i = n; i-- > low;)
		p = fs_batch_put16(p, d[i]);
	return (int)(p - buf);
}

int fs_batch_order_row(const struct fs_jrec *rec, char *buf, size_t len)
{
	/* u64 ns since 1970 ends in 2554: as int64 us since 2000 it cannot overflow */
	int64_t won_us = (int64_t)(rec->time_ns / 1000u) - FS_BATCH_PG_EPOCH_US;
	char *p = buf;
	int n;

	if (rec->type != FS_JREC_ORDER)
		return -EINVAL;
	if (len < FS_BATCH_TUPLE_MAX)
		return -ENOSPC;
	p = fs_batch_put16(p, 5); /* fields */
	p = fs_batch_field64(p, rec->sale_id);
	p = fs_batch_field64(p, rec->body.order.order_id); /* the u64's bits as the bigint */
	n = fs_batch_numeric_u64(rec->body.order.user_id, p + 4, 18);
	p = fs_batch_put32(p, (uint32_t)n) + n;
	p = fs_batch_put32(p, 4);
	p = fs_batch_put32(p, rec->node_id);
	p = fs_batch_field64(p, (uint64_t)won_us);
	return (int)(p - buf);
}

int fs_batch_init(struct fs_batch *b, unsigned cap)
{
	memset(b, 0, sizeof(*b));
	if (cap == 0)
		return -EINVAL;
	b->copy = malloc((size_t)cap * FS_BATCH_ROW_MAX);
	b->stmts = calloc(cap, sizeof(*b->stmts));
	if (b->copy == NULL || b->stmts == NULL) {
		fs_batch_fini(b);
		return -ENOMEM;
	}
	b->cap = cap;
	return 0;
}

void fs_batch_fini(struct fs_batch *b)
{
	free(b->copy);
	free(b->stmts);
	memset(b, 0, sizeof(*b));
}

void fs_batch_reset(struct fs_batch *b, unsigned journal)
{
	b->journal = journal;
	b->records = 0;
	b->first_seq = 0;
	b->last_seq = 0;
	b->copy_len = 0;
	b->orders = 0;
	b->n_stmts = 0;
	b->n_groups = 0;
	b->groups_over = false;
}

/* Count one order of (@p sale, @p node) in @p b's groups. */
static void fs_batch_group_add(struct fs_batch *b, uint32_t sale, uint16_t node)
{
	unsigned i;

	/* the last pair first: a batch's orders come in runs of one sale */
	for (i = b->n_groups; i-- > 0;) {
		if (b->groups[i].sale_id == sale && b->groups[i].node_id == node) {
			b->groups[i].orders++;
			return;
		}
	}
	if (b->n_groups == FS_BATCH_GROUPS) {
		b->groups_over = true;
		return;
	}
	b->groups[b->n_groups++] = (struct fs_batch_group){.sale_id = sale, .node_id = node, .orders = 1};
}

static int fs_batch_param(struct fs_batch_stmt *st, unsigned i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fs_batch_param(struct fs_batch_stmt *st, unsigned i, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(st->param[i], FS_BATCH_PARAM_LEN, fmt, ap);
	va_end(ap);
	return (n < 0 || n >= (int)FS_BATCH_PARAM_LEN) ? -EINVAL : 0;
}

/* Fill @p st from SALE, STOP or HOLD record @p rec. */
static int fs_batch_stmt_fill(struct fs_batch_stmt *st, const struct fs_jrec *rec)
{
	int rc;

	if (rec->type == FS_JREC_HOLD) {
		if (rec->body.hold.hold_ms > FS_BATCH_HOLD_MS_MAX)
			return -EINVAL;
		st->kind = FS_BATCH_SALE_HOLD;
		st->nparams = 2;
		rc = fs_batch_param(st, 0, "%" PRIu32, rec->sale_id);
		if (rc == 0)
			rc = fs_batch_param(st, 1, "%" PRIu32, rec->body.hold.hold_ms);
		return rc;
	}
	if (rec->type == FS_JREC_SALE) {
		st->kind = FS_BATCH_SALE_UPSERT;
		st->nparams = 5;
		rc = fs_batch_param(st, 0, "%" PRIu32, rec->sale_id);
		if (rc == 0)
			rc = fs_batch_param(st, 1, "%" PRId64, (int64_t)rec->body.sale.stock);
		if (rc == 0 && fs_batch_time_ms(rec->body.sale.start_ms, st->param[2],
				       FS_BATCH_PARAM_LEN) < 0)
			rc = -EINVAL;
		if (rc == 0 && fs_batch_time_ms(
				       rec->body.sale.end_ms, st->param[3], FS_BATCH_PARAM_LEN) < 0)
			rc = -EINVAL;
		if (rc == 0)
			rc = fs_batch_param(
				st, 4, "%s", rec->body.sale.admission ? "token" : "open");
		return rc;
	}
	/* FS_JREC_STOP: the stop time is the record's written_at. */
	st->kind = FS_BATCH_SALE_STOP;
	st->nparams = 2;
	rc = fs_batch_param(st, 0, "%" PRIu32, rec->sale_id);
	if (rc == 0 && fs_batch_time_ns(rec->time_ns, st->param[1], FS_BATCH_PARAM_LEN) < 0)
		rc = -EINVAL;
	return rc;
}

int fs_batch_add(struct fs_batch *b, const struct fs_jrec *rec)
{
	int n;

	if (b->records >= b->cap)
		return -ENOSPC;
	if (b->records > 0 && rec->seq != b->last_seq + 1)
		return -EINVAL;

	switch (rec->type) {
	case FS_JREC_ORDER:
		n = fs_batch_order_row(rec, b->copy + b->copy_len, FS_BATCH_ROW_MAX);
		if (n < 0)
			return -EINVAL;
		b->copy_len += (size_t)n;
		b->orders++;
		fs_batch_group_add(b, rec->sale_id, rec->node_id);
		break;
	case FS_JREC_SALE:
	case FS_JREC_STOP:
	case FS_JREC_HOLD:
		n = fs_batch_stmt_fill(&b->stmts[b->n_stmts], rec);
		if (n < 0)
			return n;
		b->n_stmts++;
		break;
	case FS_JREC_DELETE:
		/* a deleted sale keeps its rows (sales, orders): PostgreSQL is the record of what
		 * was sold; the dataplane never reuses the id */
		break;
	default: /* LEASE, KEY, RELEASE, unknown: nothing to write but the checkpoint */
		break;
	}
	if (b->records == 0)
		b->first_seq = rec->seq;
	b->last_seq = rec->seq;
	b->records++;
	return 0;
}
