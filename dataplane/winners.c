/* Winner table of one sale: lock-free open addressing (linear probing) from user to order id. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mix.h"
#include "winners.h"

/* Tables up to this size (stock up to ~4 M units) are faulted in, on huge pages, when created, */
#define FS_WINNERS_PREFAULT_MAX (128ull << 20)
/* while the tables so faulted in, all sales together, stay within this budget. */
#define FS_WINNERS_PREFAULT_BUDGET (1ull << 30)

/* Bytes of the tables faulted in at creation (the budget's use); any thread, atomic. */
static uint64_t winners_prefaulted;

struct fs_winner_entry {
	uint64_t key;	/**< fs_winners_key(user), 0 = empty; set once by CAS, never cleared */
	uint64_t order; /**< 0 = reserved, FS_ORDER_RELEASED, or the published order id */
};
_Static_assert(sizeof(struct fs_winner_entry) == 16, "winner entry is 16 bytes");

struct fs_winners {
	uint64_t mask;		     /**< capacity - 1 */
	uint64_t probe_max;	     /**< min(capacity, FS_WINNERS_PROBE_MAX) */
	struct fs_winner_entry zero; /**< the user whose key is 0: key 0 = absent, 1 = present */
	struct fs_winner_entry *tab;
	size_t bytes;	 /**< length of the tab mapping */
	/**
	 * Sales with holds: won_ms of tab[i] at won_ms[i] (hold.h), of the zero entry in
	 * zero_won_ms. A claim writes it (relaxed) before publishing the order (release); the
	 * control path overwrites it with FS_WON_RELEASED (fs_winners_release_order). NULL
	 * without holds.
	 */
	uint32_t *won_ms;
	uint32_t zero_won_ms;
	bool prefaulted; /**< counted in winners_prefaulted */
	/** slots taken by each writer: writer: wo (relaxed), others: ro; a line each */
	struct {
		uint64_t n;
	} __attribute__((aligned(64))) used[FS_WINNERS_WRITERS];
};

/*
 * The table is the one structure a claim touches at a random place: with 4 KiB pages every
 * probe of a large table is a TLB miss, and every first touch of a page two faults (zero page on
 * the lookup, copy on write on the insert). So a table of at most FS_WINNERS_PREFAULT_MAX is its
 * own anonymous mapping, advised for transparent huge pages (2 MiB: 512x the TLB reach) and
 * faulted in here, on the control path, rather than by the first claims: its whole size is
 * resident from the sale's creation. A larger table keeps 4 KiB pages faulted in as claims touch
 * them: advised for huge pages but not faulted in, each first touch of a 2 MiB region by a claim
 * would zero 2 MiB (measured: a 4 GiB table answered 82 claims/s and grew 2 MiB per winner).
 * Either advice may be refused (THP off, a kernel before 5.14): the table then works as a large
 * one does, only slower at first touch.
 */
static struct fs_winner_entry *winners_map(size_t bytes, bool *prefaulted)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t used;

	*prefaulted = false;
	if (p == MAP_FAILED)
		return NULL;
	if (bytes > FS_WINNERS_PREFAULT_MAX)
		return p;
	/* relaxed: a budget, ordering nothing else */
	used = __atomic_add_fetch(&winners_prefaulted, bytes, __ATOMIC_RELAXED);
	if (used > FS_WINNERS_PREFAULT_BUDGET) {
		__atomic_sub_fetch(&winners_prefaulted, bytes, __ATOMIC_RELAXED);
		return p;
	}
	*prefaulted = true;
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	(void)madvise(p, bytes, MADV_POPULATE_WRITE);
	return p;
}

/*
 * Memory orders. A slot's key goes 0 -> key once (CAS, acq_rel); its order is 0 from the fresh mapping, so
 * a reader that sees the key (acquire) reads order 0 or a later value. The order goes 0 -> id
 * (publish, release) or 0 -> RELEASED (release) -> 0 (CAS by a new reserver, acq_rel); readers
 * load it with acquire, so whoever sees an order id also sees what the publisher wrote before
 * publishing (the journal record).
 */

/**
 * A user's key: the splitmix64 finalizer (fs_mix64, mix.h), a bijection of the 64-bit ids that
 * maps 0 to 0, so user 0 is the one user whose key is 0.
 */
static inline uint64_t fs_winners_key(uint64_t user)
{
	return fs_mix64(user);
}

struct fs_winners *fs_winners_create(uint64_t stock)
{
	uint64_t want, cap = 64;
	struct fs_winners *w;

	if (stock > (UINT64_MAX >> 4)) {
		errno = ENOMEM;
		return NULL;
	}
	want = 2 * stock + 64;
	while (cap < want)
		cap <<= 1;
	w = aligned_alloc(64, sizeof(*w)); /* the writers' counters are a line each */
	if (w == NULL)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->bytes = cap * sizeof(*w->tab);
	w->tab = winners_map(w->bytes, &w->prefaulted);
	if (w->tab == NULL) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->mask = cap - 1;
	w->probe_max = cap < FS_WINNERS_PROBE_MAX ? cap : FS_WINNERS_PROBE_MAX;
	return w;
}

void fs_winners_free(struct fs_winners *w)
{
	if (w == NULL)
		return;
	munmap(w->tab, w->bytes);
	free(w->won_ms);
	if (w->prefaulted)
		__atomic_sub_fetch(&winners_prefaulted, w->bytes, __ATOMIC_RELAXED);
	free(w);
}

uint64_t fs_winners_capacity(const struct fs_winners *w)
{
	return w->mask + 1;
}

/* State of an entry whose key matched. */
static inline enum fs_win entry_state(const struct fs_winner_entry *e, uint64_t *order)
{
	/* acquire: pairs with the release store of fs_winners_publish(). */
	uint64_t o = __atomic_load_n(&e->order, __ATOMIC_ACQUIRE);

	if (o == 0)
		return FS_WIN_PENDING;
	if (o == FS_ORDER_RELEASED)
		return FS_WIN_ABSENT;
	*order = o;
	return FS_WIN_FOUND;
}

/* The entry holding @p user's key, or NULL. */
static inline const struct fs_winner_entry *winners_lookup(
	const struct fs_winners *w, uint64_t user)
{
	uint64_t k = fs_winners_key(user);

	if (k == 0) {
		/* acquire: pairs with the CAS that marks the dedicated entry present. */
		if (__atomic_load_n(&w->zero.key, __ATOMIC_ACQUIRE) == 0)
			return NULL;
		return &w->zero;
	}
	for (uint64_t n = 0, i = k & w->mask; n < w->probe_max; n++, i = (i + 1) & w->mask) {
		const struct fs_winner_entry *e = &w->tab[i];
		/* acquire: pairs with the key CAS in reserve; order 0 (fresh mapping) is visible. */
		uint64_t kk = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);

		if (kk == 0)
			return NULL;
		if (kk == k)
			return e;
	}
	return NULL;
}

enum fs_win fs_winners_find(const struct fs_winners *w, uint64_t user, uint64_t *order)
{
	const struct fs_winner_entry *e = winners_lookup(w, user);

	return e == NULL ? FS_WIN_ABSENT : entry_state(e, order);
}

/* The won_ms slot of entry @p e (a table with holds). */
static inline uint32_t *entry_won_ms(const struct fs_winners *w, const struct fs_winner_entry *e)
{
	return e == &w->zero ? (uint32_t *)&w->zero_won_ms : &w->won_ms[e - w->tab];
}

enum fs_win fs_winners_find_won(
	const struct fs_winners *w, uint64_t user, uint64_t *order, uint32_t *won_ms)
{
	const struct fs_winner_entry *e = winners_lookup(w, user);
	enum fs_win st;

	*won_ms = 0;
	if (e == NULL)
		return FS_WIN_ABSENT;
	st = entry_state(e, order);
	/* relaxed: written before the order's release store that entry_state acquired; the
	 * release mark (a later store) is seen here or on a later claim, both answers fine */
	if (st == FS_WIN_FOUND && w->won_ms != NULL)
		*won_ms = __atomic_load_n(entry_won_ms(w, e), __ATOMIC_RELAXED);
	return st;
}

int fs_winners_hold_init(struct fs_winners *w)
{
	if (w->won_ms != NULL)
		return 0;
	/* calloc of this size maps fresh zero pages: faulted in as claims touch them */
	w->won_ms = calloc(w->mask + 1, sizeof(*w->won_ms));
	return w->won_ms == NULL ? -ENOMEM : 0;
}

bool fs_winners_holds(const struct fs_winners *w)
{
	return w->won_ms != NULL;
}

void fs_winners_set_won_ms(struct fs_winners *w, struct fs_winner_entry *entry, uint32_t ms)
{
	/* relaxed: published by the release store of fs_winners_publish() that follows */
	__atomic_store_n(entry_won_ms(w, entry), ms, __ATOMIC_RELAXED);
}

int fs_winners_release_order(struct fs_winners *w, uint64_t user, uint64_t order)
{
	uint64_t o = 0;
	uint32_t won;

	if (w->won_ms == NULL)
		return -EINVAL;
	if (fs_winners_find_won(w, user, &o, &won) != FS_WIN_FOUND)
		return -ENOENT;
	if (o != order)
		return -ESRCH;
	if (won == FS_WON_RELEASED)
		return 1;
	/* relaxed: workers read it relaxed (fs_winners_find_won); it orders nothing else */
	__atomic_store_n(entry_won_ms(w, winners_lookup(w, user)), FS_WON_RELEASED,
		__ATOMIC_RELAXED);
	return 0;
}

uint64_t fs_winners_released(const struct fs_winners *w)
{
	uint64_t n = 0;

	if (w->won_ms == NULL)
		return 0;
	for (uint64_t i = 0; i <= w->mask; i++)
		/* relaxed: a count for the control path */
		if (__atomic_load_n(&w->won_ms[i], __ATOMIC_RELAXED) == FS_WON_RELEASED)
			n++;
	return n + (__atomic_load_n(&w->zero_won_ms, __ATOMIC_RELAXED) == FS_WON_RELEASED);
}

void fs_winners_prefetch(const struct fs_winners *w, uint64_t user)
{
	__builtin_prefetch(&w->tab[fs_winners_key(user) & w->mask], 0, 3);
}

/* Reserve an entry that holds our key: a released one becomes ours again. */
static enum fs_win entry_reserve(
	struct fs_winner_entry *e, struct fs_winner_entry **entry, uint64_t *order)
{
	uint64_t o = __atomic_load_n(&e->order, __ATOMIC_ACQUIRE); /* acquire: see top */

	for (;;) {
		if (o == 0)
			return FS_WIN_PENDING;
		if (o != FS_ORDER_RELEASED) {
			*order = o;
			return FS_WIN_FOUND;
		}
		/* acq_rel: the winner of this CAS owns the entry; a loser reloads (acquire) and
		 * sees 0 (PENDING) or the winner's published order. */
		if (__atomic_compare_exchange_n(
			    &e->order, &o, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*entry = e;
			return FS_WIN_RESERVED;
		}
	}
}

/* One more slot taken by @p writer: an owner-only counter, relaxed (a statistic). */
static inline void winners_took(struct fs_winners *w, unsigned writer)
{
	uint64_t *n = &w->used[writer % FS_WINNERS_WRITERS].n;

	__atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

enum fs_win fs_winners_reserve(struct fs_winners *w, unsigned writer, uint64_t user,
	struct fs_winner_entry **entry, uint64_t *order)
{
	uint64_t k = fs_winners_key(user);

	if (k == 0) {
		uint64_t z = 0;

		/* acq_rel: the first reserver of user 0 marks the dedicated entry present with
		 * order 0 (reserved); others fail the CAS and read its order. */
		if (__atomic_compare_exchange_n(
			    &w->zero.key, &z, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			winners_took(w, writer);
			*entry = &w->zero;
			return FS_WIN_RESERVED;
		}
		return entry_reserve(&w->zero, entry, order);
	}
	for (uint64_t n = 0, i = k & w->mask; n < w->probe_max; n++, i = (i + 1) & w->mask) {
		struct fs_winner_entry *e = &w->tab[i];
		uint64_t kk = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE); /* acquire: see top */

		if (kk == 0) {
			/* acq_rel: claim the empty slot for our key; its order is 0 = reserved by
			 * us. A racing reserver of the same user probes the same chain, so it
			 * meets this slot and sees our key with order 0: PENDING. */
			if (__atomic_compare_exchange_n(
				    &e->key, &kk, k, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				winners_took(w, writer);
				*entry = e;
				return FS_WIN_RESERVED;
			}
			/* Lost the race: kk now holds the winner's key; examine this slot again. */
		}
		if (kk == k)
			return entry_reserve(e, entry, order);
	}
	return FS_WIN_FULL;
}

void fs_winners_publish(struct fs_winner_entry *entry, uint64_t order)
{
	/* release: readers that acquire the order see what we wrote before (journal record). */
	__atomic_store_n(&entry->order, order, __ATOMIC_RELEASE);
}

void fs_winners_release(struct fs_winner_entry *entry)
{
	/* release: paired with the acquire of the next reserver's CAS. */
	__atomic_store_n(&entry->order, FS_ORDER_RELEASED, __ATOMIC_RELEASE);
}

uint64_t fs_winners_count(const struct fs_winners *w)
{
	uint64_t n = 0, o;

	for (uint64_t i = 0; i <= w->mask; i++) {
		/* relaxed: a count for the control path, exact once workers are quiet. */
		if (__atomic_load_n(&w->tab[i].key, __ATOMIC_RELAXED) == 0)
			continue;
		o = __atomic_load_n(&w->tab[i].order, __ATOMIC_RELAXED);
		if (o != 0 && o != FS_ORDER_RELEASED)
			n++;
	}
	if (__atomic_load_n(&w->zero.key, __ATOMIC_RELAXED) != 0) {
		o = __atomic_load_n(&w->zero.order, __ATOMIC_RELAXED);
		if (o != 0 && o != FS_ORDER_RELEASED)
			n++;
	}
	return n;
}

uint64_t fs_winners_used(const struct fs_winners *w)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < FS_WINNERS_WRITERS; i++)
		n += __atomic_load_n(&w->used[i].n, __ATOMIC_RELAXED); /* a statistic */
	return n;
}
