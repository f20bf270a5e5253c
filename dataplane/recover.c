/* Recovery of the sale table from the journals at start-up (sale.h: fs_sale_recover). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sale.h"
#include "sale_int.h"
#include "verify.h"

#define FS_RECOVER_BATCH 256u /* records read per call */

/* Apply one control record without journaling it again; deleted sales are not rebuilt. */
static int recover_control_fn(
	struct fs_sale_table *t, const struct fs_jrec *rec, struct fs_recovery *out, uint64_t *sold)
{
	struct fs_sale *s;

	(void)sold;
	if (rec->type == FS_JREC_SALE) {
		struct fs_sale_def def = {
			.sale_id = rec->sale_id,
			.stock = rec->body.sale.stock,
			.start_ms = rec->body.sale.start_ms,
			.end_ms = rec->body.sale.end_ms,
			.admission = rec->body.sale.admission,
			.rl_set = rec->body.sale.rl_set != 0,
			.rl_rate = rec->body.sale.rl_rate,
			.rl_burst = rec->body.sale.rl_burst,
		};

		/* refused (EIDRM: deleted later on; EEXIST: a repeated record): nothing to do */
		if (fs_sale_create(t, &def) != NULL)
			out->sales++;
		return 0;
	}
	s = fs_sale_lookup(t, rec->sale_id);
	if (s == NULL)
		return 0;
	switch (rec->type) {
	case FS_JREC_HOLD:
		/* right after its SALE, before any order: the winner table gets its won_ms */
		if (rec->body.hold.hold_ms <= FS_HOLD_MAX_MS && fs_winners_hold_init(s->winners) == 0)
			s->hold_ms = rec->body.hold.hold_ms;
		break;
	case FS_JREC_LEASE:
		/* the journal holds accepted leases only (after a final one: units that came back) */
		fs_stock_lease(&s->stock, rec->body.lease.units, rec->body.lease.final);
		break;
	case FS_JREC_GIVEBACK:
		/* the units were unsold: they are in the node pool now (orders come later) */
		if (fs_stock_reclaim(&s->stock, rec->body.giveback.units) !=
			rec->body.giveback.units)
			return -ERANGE; /* more given back than leased: a corrupt directory */
		fs_sale_giveback_replay(s, rec->body.giveback.units, rec->body.giveback.seq);
		break;
	case FS_JREC_KEY:
		fs_sale_set_key(s, rec->body.key.key, rec->body.key.prev_until_ms);
		break;
	case FS_JREC_STOP:
		fs_sale_stop(s);
		break;
	default:
		break;
	}
	return 0;
}

/* First pass over the control journal: the ids deleted, before any sale is built. */
static int recover_deleted_fn(
	struct fs_sale_table *t, const struct fs_jrec *rec, struct fs_recovery *out, uint64_t *sold)
{
	int rc;

	(void)sold;
	if (rec->type != FS_JREC_DELETE || fs_sale_was_deleted(t, rec->sale_id))
		return 0;
	rc = fs_sale_mark_deleted(t, rec->sale_id);
	if (rc < 0)
		return rc;
	out->deleted++;
	return 0;
}

typedef int (*recover_fn)(
	struct fs_sale_table *, const struct fs_jrec *, struct fs_recovery *, uint64_t *);

/* Read every record of journal @p index, calling @p fn on each until one fails. */
static int recover_journal(struct fs_sale_table *t, const char *dir, unsigned index, recover_fn fn,
	struct fs_recovery *out, uint64_t *sold)
{
	struct fs_jrec *buf;
	struct fs_journal_reader *r;
	int n, rc = 0;

	buf = malloc(FS_RECOVER_BATCH * sizeof(*buf));
	if (buf == NULL)
		return -ENOMEM;
	r = fs_journal_reader_open(dir, index, 1);
	if (r == NULL) {
		rc = -errno;
		goto out;
	}
	while (rc == 0 && (n = fs_journal_read(r, buf, FS_RECOVER_BATCH)) > 0)
		for (int i = 0; i < n && rc == 0; i++)
			rc = fn(t, &buf[i], out, sold);
	if (rc == 0 && n < 0)
		rc = n;
	fs_journal_reader_close(r);
out:
	free(buf);
	return rc;
}

static int recover_order_fn(
	struct fs_sale_table *t, const struct fs_jrec *rec, struct fs_recovery *out, uint64_t *sold)
{
	struct fs_winner_entry *e;
	struct fs_sale *s;
	uint64_t order;

	if (rec->type != FS_JREC_ORDER)
		return 0;
	s = fs_sale_lookup(t, rec->sale_id);
	if (s == NULL && fs_sale_was_deleted(t, rec->sale_id)) {
		out->deleted_orders++;
		return 0;
	}
	if (s == NULL || rec->body.order.order_id == 0 ||
		rec->body.order.order_id == FS_ORDER_RELEASED ||
		fs_winners_reserve(s->winners, rec->journal, rec->body.order.user_id, &e, &order) !=
			FS_WIN_RESERVED) {
		out->skipped++;
		return 0;
	}
	if (s->hold_ms > 0)
		fs_winners_set_won_ms(s->winners, e,
			fs_hold_won_ms((int64_t)(rec->time_ns / 1000000u), s->start_ms));
	fs_winners_publish(e, rec->body.order.order_id);
	sold[fs_sale_slot(t, s)]++;
	out->orders++;
	return 0;
}

/* Last pass over the control journal, after the orders: released orders marked again. */
static int recover_release_fn(
	struct fs_sale_table *t, const struct fs_jrec *rec, struct fs_recovery *out, uint64_t *sold)
{
	struct fs_sale *s;

	(void)sold;
	if (rec->type != FS_JREC_RELEASE)
		return 0;
	s = fs_sale_lookup(t, rec->sale_id);
	if (s != NULL && fs_winners_release_order(s->winners, rec->body.release.user_id,
				 rec->body.release.order_id) == 0)
		out->released++;
	return 0;
}

/* Move the recovered sold counts into the sales' stock (after every lease is replayed). */
static int recover_sold(struct fs_sale_table *t, const uint64_t *sold)
{
	int rc = 0;

	for (unsigned i = 0; i < FS_SALE_SLOTS; i++) {
		struct fs_sale *s = t->slots->slot[i];
		int r;

		if (s == NULL)
			continue;
		/* units leased beyond the stock came back (released orders) */
		if (s->stock.leased > s->total)
			s->returned = s->stock.leased - s->total;
		if (sold[i] == 0)
			continue;
		r = fs_stock_recover(&s->stock, sold[i]);
		if (r < 0 && rc == 0)
			rc = r; /* more orders than leased units: a corrupt state directory */
		if (fs_stock_sold_out(&s->stock))
			fs_soldout_set(&s->sold_out);
	}
	return rc;
}

int fs_sale_recover(struct fs_sale_table *t, const char *dir, struct fs_recovery *out)
{
	unsigned idx[FS_JOURNAL_MAX];
	uint64_t *sold;
	int n, rc;

	memset(out, 0, sizeof(*out));
	sold = calloc(FS_SALE_SLOTS, sizeof(*sold));
	if (sold == NULL)
		return -ENOMEM;
	rc = recover_journal(t, dir, FS_JOURNAL_CONTROL, recover_deleted_fn, out, sold);
	if (rc == 0)
		rc = recover_journal(t, dir, FS_JOURNAL_CONTROL, recover_control_fn, out, sold);
	if (rc < 0)
		goto out;
	n = fs_journal_list(dir, idx, FS_JOURNAL_MAX);
	if (n < 0) {
		rc = n;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (idx[i] == FS_JOURNAL_CONTROL)
			continue;
		rc = recover_journal(t, dir, idx[i], recover_order_fn, out, sold);
		if (rc < 0)
			goto out;
		out->journals++;
	}
	rc = recover_journal(t, dir, FS_JOURNAL_CONTROL, recover_release_fn, out, sold);
	if (rc == 0)
		rc = recover_sold(t, sold);
out:
	free(sold);
	return rc;
}
