/* Winner table of one sale: user -> order id, lock-free open addressing shared by all workers. */
#ifndef FS_WINNERS_H
#define FS_WINNERS_H

#include <stdint.h>

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
 * else FS_WIN_FOUND (with *order), FS_WIN_PENDING or FS_WIN_FULL. Lock-free, thread safe.
 */
enum fs_win fs_winners_reserve(struct fs_winners *w, uint64_t user, struct fs_winner_entry **entry,
	uint64_t *order);

/** Publish the order of a reserved entry (release store); @p order must be neither 0 nor RELEASED. */
void fs_winners_publish(struct fs_winner_entry *entry, uint64_t order);

/** Give a reserved entry back (the claim failed after reserving). */
void fs_winners_release(struct fs_winner_entry *entry);

/** Published winners (counts entries; O(capacity), control path only). */
uint64_t fs_winners_count(const struct fs_winners *w);

#endif
