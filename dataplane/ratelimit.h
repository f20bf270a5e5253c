/* Per-source rate limits: token buckets in a fixed table per worker, bounded whatever the flood. */
#ifndef FS_RATELIMIT_H
#define FS_RATELIMIT_H

#include <stdint.h>

#define FS_RL_BITS 16u			 /**< log2 of the table size */
#define FS_RL_ENTRIES (1u << FS_RL_BITS) /**< 64 Ki entries of 16 bytes: 1 MiB per worker */
#define FS_RL_MILLI 1000u		 /**< bucket contents are kept in thousandths of a claim */
#define FS_RL_RATE_MAX 1000000u		 /**< claims/s per source */
#define FS_RL_BURST_MAX 65535u		 /**< claims (fits the journal's 16-bit field) */

/**
 * One bucket: the key (source address, sale) and its state. ip 0 marks an empty slot (0.0.0.0 is
 * never an answerable source, PROTOCOL.md "What gets no reply").
 */
struct fs_rl_entry {
	uint32_t ip; /**< source IPv4 address, network byte order; 0 = empty */
	uint32_t sale_id;
	uint32_t milli;	  /**< tokens left, in thousandths (<= burst * 1000) */
	uint32_t last_ms; /**< low 32 bits of the unix ms of the last refill */
};
_Static_assert(sizeof(struct fs_rl_entry) == 16, "rate-limit entries are 16 bytes");

/**
 * A worker's table. Direct-mapped: a (source, sale) pair hashes to one slot with a keyed
 * multiply-shift hash (Dietzfelbinger et al. 1997, "A reliable randomized algorithm for the
 * closest-pair problem") whose multiplier and offset are random per table, so a sender cannot
 * aim collisions at a chosen victim. A miss takes the slot over and the newcomer starts with a
 * full bucket: memory never grows, and a flood of spoofed sources can only evict honest sources
 * (which then start again with a full bucket), never make them limited. The price: a sender whose
 * slot is evicted gets a fresh burst. Owned by one worker: no atomics.
 */
struct fs_ratelimit {
	struct fs_rl_entry *tab; /**< FS_RL_ENTRIES entries, allocated and touched at init */
	uint64_t mul;		 /**< random, odd */
	uint64_t add;		 /**< random */
	uint64_t evictions;	 /**< slots taken over from another (source, sale) */
};

/**
 * Allocate and pre-fault the table (so its resident memory is all there from the start), empty.
 * @param seed  0: random hash keys (libsodium randombytes); else a fixed seed (tests).
 * @return 0 or -ENOMEM. Start-up only.
 */
int fs_ratelimit_init(struct fs_ratelimit *rl, uint64_t seed);

/** Free the table. NULL table is a no-op. */
void fs_ratelimit_fini(struct fs_ratelimit *rl);

/**
 * Take one claim from the bucket of (@p ip, @p sale_id) at time @p now_ms: the bucket gains
 * @p rate claims per second up to @p burst (exact: @p rate thousandths per ms) and a request
 * takes one claim. Owner worker only; no allocation, lock or syscall; one cache line touched.
 * @param ip      source IPv4 address, network byte order (0: never limited)
 * @param rate    claims/s per source, 1..FS_RL_RATE_MAX (0: never limited)
 * @param burst   bucket size in claims, 1..FS_RL_BURST_MAX (0 is taken as 1)
 * @param now_ms  unix ms (the worker's burst clock)
 * @return 0 if admitted, else the ms until one claim is back in the bucket (>= 1, ceil).
 */
uint32_t fs_ratelimit_take(struct fs_ratelimit *rl, uint32_t ip, uint32_t sale_id, uint32_t rate,
	uint32_t burst, int64_t now_ms);

/** Slot index of (@p ip, @p sale_id) in @p rl (tests). Thread safe. */
uint32_t fs_ratelimit_slot(const struct fs_ratelimit *rl, uint32_t ip, uint32_t sale_id);

#endif
