/* Winner table of one sale: user -> order id, lock-free open addressing shared by all workers. */
#ifndef FS_WINNERS_H
#define FS_WINNERS_H

#include <stdbool.h>
#include <stdint.h>

#include "hold.h"

/**
 * Entries are {key, order}. key = fs_winners_key(user), a bijective 64-bit mix (splitmix64
 * finalizer, Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014);
 * key 0 marks an empty slot, so the one user whose key is 0 lives in a dedicated entry.
 * order 0 = reserved, order not yet published; FS_ORDER_RELEASED = reservation given back.
 * Slots are never emptied, so probe chains stay intact. Linear probing.
 * Memory is sized by the stock: only a claim holding a unit inserts.
 */
struct fs_winners;
struct fs_winner_entry;

#define FS_ORDER_RELEASED UINT64_MAX /**< order value of a released reservation */

/**
 * Longest probe, in slots (one 4 KiB page of entries): a reserve that finds no free slot within
 * it answers FS_WIN_FULL, and find gives up as far. The table holds at most one entry per unit
 * of stock (winners and pending, plus rare released ones) in >= 2 x stock slots, a load of at
 * most ~1/2; in linear probing at load a the chance that a run of k occupied slots follows a
 * slot falls like (a e^(1-a))^k (cluster sizes are Borel distributed: Flajolet, Poblete and
 * Viola, "On the analysis of linear probing hashing", Algorithmica 22, 1998), 0.824^k at 1/2:
 * below 1e-21 for k = 256. So only a table filled far past its design (released slots piling
 * up) ever meets the bound, which then caps a claim's cost instead of scanning the table.
 */
#define FS_WINNERS_PROBE_MAX 256u
#define FS_WINNERS_WRITERS 32u /**< writer indexes of fs_winners_reserve (one per worker) */

enum fs_win {
	FS_WIN_ABSENT = 0, /**< user holds nothing */
	FS_WIN_FOUND,      /**< user holds *order */
	FS_WIN_PENDING,    /**< another worker is recording this user's order right now */
	FS_WIN_RESERVED,   /**< (reserve only) the entry is now ours: publish or release it */
	FS_WIN_FULL,       /**< (reserve only) no free slot within the probe limit */
};

/**
 * Create a table for a sale of @p stock units: capacity is the next power of two >= 2 * stock + 64.
 * Memory: capacity x 16 bytes, an anonymous mapping. At most 128 MiB (stock up to ~4 M units),
 * while such tables of all sales together stay within 1 GiB: on transparent huge pages and
 * resident at once (faulted in here). Otherwise 4 KiB pages faulted in as claims touch them.
 * @return NULL with errno ENOMEM. Control path (mmap, madvise): not on a worker lcore.
 */
struct fs_winners *fs_winners_create(uint64_t stock);
void fs_winners_free(struct fs_winners *w);

/** Slots in the table (power of two). */
uint64_t fs_winners_capacity(const struct fs_winners *w);

/** Look @p user up. Sets *order for FS_WIN_FOUND. Wait-free, thread safe. */
enum fs_win fs_winners_find(const struct fs_winners *w, uint64_t user, uint64_t *order);

/**
 * Prefetch (for reading) the cache line where the probe for @p user starts, so that a later
 * fs_winners_find()/fs_winners_reserve() of the same user finds it in cache: a burst prefetches
 * the slots of all its claims before claiming the first (the table is far larger than the cache,
 * so each lookup is otherwise one memory miss). A hint only; wait-free, thread safe.
 */
void fs_winners_prefetch(const struct fs_winners *w, uint64_t user);

/**
 * Reserve @p user: returns FS_WIN_RESERVED with *entry set when the user was absent (or released),
 * else FS_WIN_FOUND (with *order), FS_WIN_PENDING or FS_WIN_FULL (no free slot within
 * FS_WINNERS_PROBE_MAX of the user's start). @p writer (0..FS_WINNERS_WRITERS-1, distinct per
 * thread: the worker index) counts the slots it takes in a counter of its own
 * (fs_winners_used). Lock-free, thread safe.
 */
enum fs_win fs_winners_reserve(struct fs_winners *w, unsigned writer, uint64_t user,
	struct fs_winner_entry **entry, uint64_t *order);

/** Publish the order of a reserved entry (release store); @p order must be neither 0 nor RELEASED. */
void fs_winners_publish(struct fs_winner_entry *entry, uint64_t order);

/** Give a reserved entry back (the claim failed after reserving). */
void fs_winners_release(struct fs_winner_entry *entry);

/**
 * Give the table a won_ms per entry (a sale with holds): when each order was won, in ms since
 * the sale's start (hold.h), or FS_WON_RELEASED once the order is released. capacity x 4 bytes,
 * zeroed, faulted in as used; tables of sales without holds never call it and allocate nothing
 * more. Idempotent. Control path, before the table is published (or before workers run).
 * @return 0 or -ENOMEM.
 */
int fs_winners_hold_init(struct fs_winners *w);

/** True if fs_winners_hold_init() gave the table its won_ms. Thread safe. */
bool fs_winners_holds(const struct fs_winners *w);

/**
 * Set the won_ms of a reserved entry before fs_winners_publish() (whose release store then
 * publishes it with the order). @p ms < FS_WON_RELEASED. Only on a table with holds.
 */
void fs_winners_set_won_ms(struct fs_winners *w, struct fs_winner_entry *entry, uint32_t ms);

/**
 * fs_winners_find() that also reads the found order's won_ms (0 on a table without holds):
 * FS_WON_RELEASED for a released order. Wait-free, thread safe.
 */
enum fs_win fs_winners_find_won(
	const struct fs_winners *w, uint64_t user, uint64_t *order, uint32_t *won_ms);

/**
 * Mark @p user's order @p order released (won_ms = FS_WON_RELEASED): the user keeps the entry,
 * so the unit is never theirs again and their claims get RELEASED. Control path (one writer);
 * workers read the mark with relaxed loads (a claim racing the release answers either way).
 * @return 0 released now, 1 already released, -ENOENT the user has no published order,
 *         -ESRCH the user's order is another one, -EINVAL a table without holds.
 */
int fs_winners_release_order(struct fs_winners *w, uint64_t user, uint64_t order);

/** Orders released (FS_WON_RELEASED), O(capacity): control path only. */
uint64_t fs_winners_released(const struct fs_winners *w);

/** Published winners (counts entries; O(capacity), control path only). */
uint64_t fs_winners_count(const struct fs_winners *w);

/**
 * Slots taken, ever (winners, pending and released reservations: a slot is never emptied):
 * the sum of the writers' counters, O(FS_WINNERS_WRITERS). Any thread; exact once the writers
 * are quiet.
 */
uint64_t fs_winners_used(const struct fs_winners *w);

#endif
