/* Sale table: lock-free lookups by id (RCU on delete), journaled control operations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcp.h"
#include "ratelimit.h"
#include "sale.h"
#include "sale_int.h"
#include "verify.h"

static inline uint32_t sale_hash(uint32_t sale_id)
{
	/* Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): top 11 bits of id * 2^32/phi. */
	return (sale_id * 0x9e3779b1u) >> (32 - 11);
}
_Static_assert(FS_SALE_SLOTS == (1u << 11), "sale_hash assumes 2^11 slots");
/* a slot array is at most half full: every probe ends at a free slot */
_Static_assert(FS_SALE_SLOTS >= 2 * FS_MAX_SALES, "sale slots at most half full");

void fs_sale_table_init(struct fs_sale_table *t, unsigned n_workers)
{
	memset(t, 0, sizeof(*t));
	t->n_workers = fs_stock_workers(n_workers);
	t->slots = &t->arr[0];
}

static void sale_free(struct fs_sale *s)
{
	fs_winners_free(s->winners);
	free(s);
}

void fs_sale_table_fini(struct fs_sale_table *t)
{
	for (unsigned i = 0; i < FS_SALE_SLOTS; i++) {
		struct fs_sale *s = t->slots->slot[i];

		if (s == NULL)
			continue;
		sale_free(s);
		t->slots->slot[i] = NULL;
	}
	t->n = 0;
	free(t->deleted.v);
	memset(&t->deleted, 0, sizeof(t->deleted));
}

struct fs_sale *fs_sale_lookup(const struct fs_sale_table *t, uint32_t sale_id)
{
	/* acquire: pairs with the release store that published the array (a delete) */
	const struct fs_sale_slots *a = __atomic_load_n(&t->slots, __ATOMIC_ACQUIRE);
	uint32_t i = sale_hash(sale_id);

	for (unsigned n = 0; n < FS_SALE_SLOTS; n++, i = (i + 1) & (FS_SALE_SLOTS - 1)) {
		/* acquire: pairs with the release store that published the sale, so its fields
		 * (set before publication) are visible. */
		struct fs_sale *s = __atomic_load_n(&a->slot[i], __ATOMIC_ACQUIRE);

		if (s == NULL)
			return NULL;
		if (s->sale_id == sale_id)
			return s;
	}
	return NULL;
}

/* ---- the deleted ids: open addressing of id + 1 (0 = empty), linear probing, load <= 1/2 */

static inline uint32_t ids_hash(uint32_t id, uint32_t cap)
{
	return (uint32_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool ids_has(const struct fs_sale_ids *d, uint32_t id)
{
	if (d->cap == 0)
		return false;
	for (uint32_t i = ids_hash(id, d->cap);; i = (i + 1) & (d->cap - 1)) {
		if (d->v[i] == 0)
			return false;
		if (d->v[i] == (uint64_t)id + 1)
			return true;
	}
}

static void ids_put(uint64_t *v, uint32_t cap, uint32_t id)
{
	uint32_t i = ids_hash(id, cap);

	while (v[i] != 0 && v[i] != (uint64_t)id + 1)
		i = (i + 1) & (cap - 1);
	v[i] = (uint64_t)id + 1;
}

/* Room for one more id (so that adding it cannot fail). 0 or -ENOMEM. */
static int ids_reserve(struct fs_sale_ids *d)
{
	uint32_t cap = d->cap == 0 ? 64 : d->cap * 2;
	uint64_t *v;

	if (2 * ((uint64_t)d->n + 1) <= d->cap)
		return 0;
	v = calloc(cap, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->cap; i++)
		if (d->v[i] != 0)
			ids_put(v, cap, (uint32_t)(d->v[i] - 1));
	free(d->v);
	d->v = v;
	d->cap = cap;
	return 0;
}

/* Add @p id (after ids_reserve); an id already there is not counted twice. */
static void ids_add(struct fs_sale_ids *d, uint32_t id)
{
	if (ids_has(d, id))
		return;
	ids_put(d->v, d->cap, id);
	d->n++;
}

bool fs_sale_was_deleted(const struct fs_sale_table *t, uint32_t sale_id)
{
	return ids_has(&t->deleted, sale_id);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

unsigned fs_sale_list(const struct fs_sale_table *t, uint32_t *ids, unsigned max)
{
	uint32_t all[FS_MAX_SALES];
	unsigned n = 0;

	for (unsigned i = 0; i < FS_SALE_SLOTS && n < FS_MAX_SALES; i++)
		if (t->slots->slot[i] != NULL)
			all[n++] = t->slots->slot[i]->sale_id;
	qsort(all, n, sizeof(all[0]), cmp_u32);
	if (n > max)
		n = max;
	memcpy(ids, all, n * sizeof(ids[0]));
	return n;
}

/* ---- building, publishing and unpublishing sales */

static int sale_def_check(const struct fs_sale_table *t, const struct fs_sale_def *def)
{
	if (def->stock == 0 || def->start_ms >= def->end_ms || def->admission > FS_ADM_TOKEN)
		return -EINVAL;
	if (def->stock > FS_SALE_MAX_STOCK)
		return -E2BIG;
	if (def->hold_ms > FS_HOLD_MAX_MS)
		return -EINVAL;
	if (def->rl_set && (def->rl_rate > FS_RL_RATE_MAX || def->rl_burst > FS_RL_BURST_MAX ||
				   (def->rl_rate != 0 && def->rl_burst == 0)))
		return -EINVAL;
	if (fs_sale_lookup(t, def->sale_id) != NULL)
		return -EEXIST;
	if (ids_has(&t->deleted, def->sale_id))
		return -EIDRM;
	if (t->n >= FS_MAX_SALES)
		return -ENOSPC;
	return 0;
}

/* Check @p def and build its sale, unpublished. NULL with errno set (see fs_sale_create). */
static struct fs_sale *sale_build(const struct fs_sale_table *t, const struct fs_sale_def *def)
{
	struct fs_sale *s;
	size_t size;
	int rc;

	rc = sale_def_check(t, def);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	/* t->n_workers is clamped to 1..FS_MAX_WORKERS; a multiple of 64 bytes, as aligned_alloc
	 * asks */
	size = sizeof(*s) + (size_t)t->n_workers * sizeof(s->wcnt[0]);
	s = aligned_alloc(64, size);
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(s, 0, size);
	s->sale_id = def->sale_id;
	s->admission = def->admission;
	s->start_ms = def->start_ms;
	s->end_ms = def->end_ms;
	s->total = def->stock;
	s->hold_ms = def->hold_ms;
	s->holds_open = 1;
	if (def->rl_set) {
		s->rl_set = 1;
		s->rl_rate = def->rl_rate;
		s->rl_burst = def->rl_burst;
	}
	if (def->has_key) {
		memcpy(s->key, def->key, sizeof(s->key));
		memcpy(s->keys[0].key, def->key, sizeof(s->key));
		s->key_state = FS_KEYST_HAS_CUR;
		s->key_set = 1;
	}
	/* with holds a unit can be won again after a release (the released user keeps the
	 * entry): room for each unit won twice at the table's design load */
	s->winners = fs_winners_create(def->hold_ms > 0 ? 2 * def->stock : def->stock);
	if (s->winners == NULL || (def->hold_ms > 0 && fs_winners_hold_init(s->winners) != 0)) {
		fs_winners_free(s->winners);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	fs_stock_init(&s->stock, t->n_workers, def->stock, 0);
	return s;
}

void fs_sale_counters_sum(const struct fs_sale *s, struct fs_sale_counters *out)
{
	unsigned w, i;

	memset(out, 0, sizeof(*out));
	for (w = 0; w < s->stock.n_workers; w++)
		for (i = 0; i < FS_SALE_ST_SLOTS; i++) {
			/* relaxed: pairs with fs_sale_count's store; a statistic */
			out->claim[i] += __atomic_load_n(&s->wcnt[w].reply[0][i], __ATOMIC_RELAXED);
			out->status[i] += __atomic_load_n(&s->wcnt[w].reply[1][i], __ATOMIC_RELAXED);
		}
	for (i = 0; i < FS_SALE_ST_SLOTS; i++) {
		out->claims += out->claim[i];
		out->status_requests += out->status[i];
	}
}

/* Insert @p s into the first free slot of its probe in @p a (release: complete when found). */
static void slots_insert(struct fs_sale_slots *a, struct fs_sale *s)
{
	uint32_t i = sale_hash(s->sale_id), n = 0;

	while (a->slot[i] != NULL) {
		FS_VERIFY(++n < FS_SALE_SLOTS); /* at most half full: a free slot is near */
		i = (i + 1) & (FS_SALE_SLOTS - 1);
	}
	/* release: the sale's fields are complete before a worker can find it. */
	__atomic_store_n(&a->slot[i], s, __ATOMIC_RELEASE);
}

static void sale_publish(struct fs_sale_table *t, struct fs_sale *s)
{
	FS_VERIFY(t->n < FS_MAX_SALES); /* sale_def_check refused one more */
	slots_insert(t->slots, s);
	t->n++;
}

/*
 * Publish the other slot array, holding every live sale but @p s (struct fs_sale_table).
 * The caller waits for a grace period before freeing @p s.
 */
static void sale_unpublish(struct fs_sale_table *t, const struct fs_sale *s)
{
	struct fs_sale_slots *cur = t->slots;
	struct fs_sale_slots *next = cur == &t->arr[0] ? &t->arr[1] : &t->arr[0];
	uint32_t kept = 0;

	/* no reader since the grace period of the delete that unpublished it */
	memset(next, 0, sizeof(*next));
	for (unsigned i = 0; i < FS_SALE_SLOTS; i++)
		if (cur->slot[i] != NULL && cur->slot[i] != s) {
			slots_insert(next, cur->slot[i]);
			kept++;
		}
	FS_VERIFY(t->n > 0 && kept == t->n - 1); /* @p s was published, once */
	/* release: the array's slots are written before a worker can load it */
	__atomic_store_n(&t->slots, next, __ATOMIC_RELEASE);
	t->n--;
}

struct fs_sale *fs_sale_create(struct fs_sale_table *t, const struct fs_sale_def *def)
{
	struct fs_sale *s = sale_build(t, def);

	if (s != NULL)
		sale_publish(t, s);
	return s;
}

void fs_sale_set_key(struct fs_sale *s, const uint8_t key[16], int64_t prev_until_ms)
{
	uint32_t st = __atomic_load_n(&s->key_state, __ATOMIC_RELAXED); /* we are the writer */
	uint32_t cur = FS_KEYST_CUR(st), prev = FS_KEYST_PREV(st), slot = 0, nst;

	if ((st & FS_KEYST_HAS_CUR) && memcmp(s->keys[cur].key, key, 16) == 0)
		return; /* already the current key: a repeated push keeps the grace as it is */
	if (st & FS_KEYST_HAS_CUR) {
		/* the slot that is neither current nor previous: no published state names it */
		while (slot == cur || ((st & FS_KEYST_HAS_PREV) && slot == prev))
			slot++;
		s->keys[cur].prev_until_ms = prev_until_ms;
	}
	memcpy(s->keys[slot].key, key, 16);
	s->keys[slot].prev_until_ms = 0;
	nst = (st & ~0xffu) + FS_KEYST_GEN_ONE;
	nst |= slot | FS_KEYST_HAS_CUR;
	if ((st & FS_KEYST_HAS_CUR) && prev_until_ms > 0)
		nst |= cur << 2 | FS_KEYST_HAS_PREV;
	/* release: the slot's bytes (and the old slot's deadline) before the state naming them */
	__atomic_store_n(&s->key_state, nst, __ATOMIC_RELEASE);
	memcpy(s->key, key, sizeof(s->key));
	/* release: pairs with the acquire load of key_set (telemetry, tests) */
	__atomic_store_n(&s->key_set, 1, __ATOMIC_RELEASE);
}

int fs_sale_token_check(const struct fs_sale *s, const uint8_t raw[48], int64_t now_ms)
{
	for (;;) {
		/* acquire: pairs with the release store of a state; the slots it names are whole */
		uint32_t st = __atomic_load_n(&s->key_state, __ATOMIC_ACQUIRE);
		const struct fs_sale_key *p = &s->keys[FS_KEYST_PREV(st)];
		int ok;

		if (!(st & FS_KEYST_HAS_CUR))
			return -EAGAIN;
		if (fs_fcp_token_verify(s->keys[FS_KEYST_CUR(st)].key, raw))
			ok = 1;
		else if ((st & FS_KEYST_HAS_PREV) && now_ms < p->prev_until_ms &&
			 fs_fcp_token_verify(p->key, raw))
			ok = 2;
		else
			ok = 0;
		/* seqlock check: the key bytes read above were not being rewritten meanwhile */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->key_state, __ATOMIC_RELAXED) == st)
			return ok;
	}
}

int64_t fs_sale_prev_until(const struct fs_sale *s)
{
	uint32_t st = __atomic_load_n(&s->key_state, __ATOMIC_ACQUIRE);

	return (st & FS_KEYST_HAS_PREV) ? s->keys[FS_KEYST_PREV(st)].prev_until_ms : 0;
}

void fs_sale_stop(struct fs_sale *s)
{
	/* relaxed: a flag with nothing published under it; workers see it within nanoseconds. */
	__atomic_store_n(&s->stopped, 1, __ATOMIC_RELAXED);
}

enum fs_sale_state fs_sale_state(const struct fs_sale *s, int64_t now_ms)
{
	/* relaxed: flags (see struct fs_sale). */
	if (__atomic_load_n(&s->stopped, __ATOMIC_RELAXED))
		return FS_SALE_STOPPED;
	if (now_ms >= s->end_ms)
		return FS_SALE_ENDED;
	if (now_ms < s->start_ms)
		return FS_SALE_PENDING;
	if (fs_soldout_is(fs_soldout_load(&s->sold_out)) || fs_stock_sold_out(&s->stock))
		return FS_SALE_SOLD_OUT;
	return FS_SALE_ACTIVE;
}

const char *fs_sale_state_name(enum fs_sale_state st)
{
	static const char *const names[] = {
		[FS_SALE_PENDING] = "pending",
		[FS_SALE_ACTIVE] = "active",
		[FS_SALE_SOLD_OUT] = "sold_out",
		[FS_SALE_ENDED] = "ended",
		[FS_SALE_STOPPED] = "stopped",
	};

	if ((unsigned)st >= sizeof(names) / sizeof(names[0]))
		return "invalid";
	return names[st];
}

/*
 * Append one control record (type, sale, node; body from @p rec, which the caller initialises
 * with its body only: every other byte zero) to @p ctl if there is one.
 */
static int ctl_append(struct fs_journal *ctl, uint16_t node_id, uint32_t sale_id, uint8_t type,
	struct fs_jrec *rec)
{
	struct timespec ts;

	if (ctl == NULL)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec->sale_id = sale_id;
	rec->node_id = node_id;
	rec->type = type;
	rec->time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return fs_journal_append(ctl, rec);
}

int fs_sale_ctl_create(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	const struct fs_sale_def *def)
{
	struct fs_sale_def unkeyed = *def;
	struct fs_sale *s;
	struct fs_jrec rec;
	int rc;

	/* built (winner table included) before anything is journaled; the key once journaled */
	unkeyed.has_key = false;
	s = sale_build(t, &unkeyed);
	if (s == NULL)
		return -errno;
	rec = (struct fs_jrec){.body.sale = {.stock = def->stock,
				       .start_ms = def->start_ms,
				       .end_ms = def->end_ms,
				       .admission = def->admission,
				       .rl_set = def->rl_set,
				       .rl_burst = (uint16_t)def->rl_burst,
				       .rl_rate = def->rl_rate}};
	rc = ctl_append(ctl, node_id, def->sale_id, FS_JREC_SALE, &rec);
	if (rc == 0 && def->hold_ms > 0) {
		/* a SALE without its HOLD (this append failed) is completed by a repeated create:
		 * recovery applies the HOLD that follows the repeated SALE */
		rec = (struct fs_jrec){.body.hold.hold_ms = def->hold_ms};
		rc = ctl_append(ctl, node_id, def->sale_id, FS_JREC_HOLD, &rec);
	}
	if (rc < 0) {
		sale_free(s); /* never published: no reader */
		return rc;
	}
	if (def->has_key) {
		rec = (struct fs_jrec){0};
		memcpy(rec.body.key.key, def->key, sizeof(rec.body.key.key));
		rc = ctl_append(ctl, node_id, def->sale_id, FS_JREC_KEY, &rec);
		if (rc == 0)
			fs_sale_set_key(s, def->key, 0);
	}
	/* the SALE record is written: the sale exists (without its key if that record failed) */
	sale_publish(t, s);
	return rc;
}

int fs_sale_ctl_lease(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, bool final)
{
	return fs_sale_ctl_lease_returned(t, ctl, node_id, sale_id, units, final, 0);
}

int fs_sale_ctl_lease_returned(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, bool final, uint64_t returned)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {.body.lease = {.units = units, .final = final}};
	uint64_t cap;
	int rc;

	if (s == NULL)
		return -ENOENT;
	if (returned > 0 && s->hold_ms == 0)
		return -EINVAL; /* only a sale with holds gets units back */
	if (returned < s->returned)
		returned = s->returned;
	if (s->stock.final && (units == 0 || returned == 0)) {
		/* Nothing comes after the final lease but returned units; repeating it: no-op. */
		return units == 0 ? 0 : -EINVAL;
	}
	/* Never lease more than the sale's whole stock and the units that came back. */
	cap = s->total + returned;
	if (units > cap || s->stock.leased + units > cap)
		return -EINVAL;
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_LEASE, &rec);
	if (rc < 0)
		return rc;
	s->returned = returned;
	fs_stock_lease(&s->stock, units, final);
	if (units > 0)
		fs_soldout_clear(&s->sold_out); /* after the units: soldout.h */
	return 0;
}

int fs_sale_ctl_giveback(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t units, uint64_t seq, uint64_t *given)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {0};
	uint64_t taken;
	int rc;

	if (s == NULL)
		return -ENOENT;
	if (seq != 0 && seq == s->gb_seq) {
		*given = s->gb_units; /* a repeat: the reply was lost */
		return 0;
	}
	if (seq != s->gb_seq + 1)
		return -ERANGE;
	taken = fs_stock_reclaim(&s->stock, units);
	rec.body.giveback.units = taken;
	rec.body.giveback.seq = seq;
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_GIVEBACK, &rec);
	if (rc < 0) {
		fs_stock_unreclaim(&s->stock, taken);
		return rc;
	}
	/* The record is written: in effect as a restart replays it (a process crash keeps it
	 * in the page cache); synced so a power loss does not undo it either (Redis's pool gets
	 * the units). A failed sync is returned with the give-back made: the status shows its
	 * seq, and the daemon gives its units to the pool from there. */
	fs_sale_giveback_replay(s, taken, seq);
	*given = taken;
	return ctl != NULL ? fs_journal_sync(ctl) : 0;
}

void fs_sale_giveback_replay(struct fs_sale *s, uint64_t units, uint64_t seq)
{
	fs_stock_unlease(&s->stock, units);
	s->gb_seq = seq;
	s->gb_units = units;
	s->given += units;
}

void fs_sale_lease_retry_set(struct fs_sale *s, uint32_t ms)
{
	/* relaxed: a retry hint (struct fs_sale) */
	__atomic_store_n(&s->lease_retry_ms, ms, __ATOMIC_RELAXED);
}

int fs_sale_ctl_release(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, uint64_t user, uint64_t order)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {.body.release = {.order_id = order, .user_id = user}};
	uint64_t found = 0;
	uint32_t won = 0;
	int rc;

	if (s == NULL)
		return -ENOENT;
	if (s->hold_ms == 0)
		return -EINVAL;
	if (fs_winners_find_won(s->winners, user, &found, &won) != FS_WIN_FOUND || found != order)
		return -ESRCH;
	if (won == FS_WON_RELEASED)
		return -EALREADY;
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_RELEASE, &rec);
	if (rc < 0)
		return rc;
	rc = fs_winners_release_order(s->winners, user, order);
	FS_VERIFY(rc == 0); /* checked above, under the control path's one writer */
	return 0;
}

void fs_sale_holds_set(struct fs_sale *s, bool open, int64_t next_ms)
{
	/* relaxed: a retry hint (struct fs_sale) */
	__atomic_store_n(&s->holds_next_ms, next_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&s->holds_open, open ? 1 : 0, __ATOMIC_RELAXED);
}

int fs_sale_ctl_stop(
	struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id, uint32_t sale_id)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {0}; /* no body */
	int rc;

	if (s == NULL)
		return -ENOENT;
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_STOP, &rec);
	if (rc < 0)
		return rc;
	fs_sale_stop(s);
	return 0;
}

int fs_sale_ctl_set_key(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, const uint8_t key[16], int64_t prev_until_ms)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {.body.key.prev_until_ms = prev_until_ms};
	int rc;

	if (s == NULL)
		return -ENOENT;
	if (s->key_set && memcmp(s->key, key, 16) == 0)
		return 0; /* already the current key: nothing to journal */
	memcpy(rec.body.key.key, key, sizeof(rec.body.key.key));
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_KEY, &rec);
	if (rc < 0)
		return rc;
	fs_sale_set_key(s, key, prev_until_ms);
	return 0;
}

int fs_sale_ctl_delete(struct fs_sale_table *t, struct fs_journal *ctl, uint16_t node_id,
	uint32_t sale_id, int64_t now_ms)
{
	struct fs_sale *s = fs_sale_lookup(t, sale_id);
	struct fs_jrec rec = {0}; /* no body */
	int rc;

	if (s == NULL)
		return ids_has(&t->deleted, sale_id) ? 0 : -ENOENT;
	switch (fs_sale_state(s, now_ms)) {
	case FS_SALE_STOPPED:
	case FS_SALE_ENDED:
	case FS_SALE_SOLD_OUT:
		break;
	default:
		return -EBUSY;
	}
	rc = ids_reserve(&t->deleted); /* so that nothing can fail once the record is written */
	if (rc < 0)
		return rc;
	rc = ctl_append(ctl, node_id, sale_id, FS_JREC_DELETE, &rec);
	if (rc < 0)
		return rc;
	ids_add(&t->deleted, sale_id);
	sale_unpublish(t, s);
	if (t->synchronize != NULL)
		t->synchronize(); /* no worker holds the old array or the sale any more */
	sale_free(s);
	return 0;
}

uint32_t fs_sale_slot(const struct fs_sale_table *t, const struct fs_sale *s)
{
	uint32_t i = sale_hash(s->sale_id), n = 0;

	while (t->slots->slot[i] != s) {
		FS_VERIFY(++n < FS_SALE_SLOTS); /* @p s is published */
		i = (i + 1) & (FS_SALE_SLOTS - 1);
	}
	return i;
}

int fs_sale_mark_deleted(struct fs_sale_table *t, uint32_t sale_id)
{
	int rc = ids_reserve(&t->deleted);

	if (rc == 0)
		ids_add(&t->deleted, sale_id);
	return rc;
}
