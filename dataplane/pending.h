/* The WON replies a worker holds until their journal records are durable (group commit). */
#ifndef FS_PENDING_H
#define FS_PENDING_H

#include <errno.h>
#include <stdint.h>

/*
 * In `--journal-sync=fsync` mode a worker's WON reply may leave only once the ORDER record it
 * promises is on stable storage. The worker does not wait for the disk: the reply (an mbuf it
 * already holds, built in place) goes into this ring with the record's seq, and leaves when the
 * journal's durable position (fs_journal_durable_seq, published by the group-commit thread)
 * reaches that seq. A worker appends its journal's records in seq order, so the ring is in seq
 * order too: the replies that may leave are always a prefix of it.
 *
 * Pure logic (no DPDK): the reply is an opaque pointer. One owner (the worker); no atomics.
 */

/*
 * Replies held per worker; a power of two. A WON waits about the group interval in progress
 * (gcommit.h) and its own sync, or two syncs when they take longer (2-7 ms on a slow disk), so
 * by Little's law a worker wins at most FS_PENDING_CAP over that wait: 2048 gave 0.3-0.4 M
 * WONs/s (measured), less than a third of the in-memory rate; 16384 allows 2.3-8 M/s by that
 * law, above what a worker's lcore does (at the largest --group-interval-us, 100 ms, about
 * 160 k/s). The ring is 16384 * 24 bytes = 384 KiB per worker;
 * the mbufs it holds come from the ports' pools, which fsync mode enlarges by as many per queue
 * (fs_port_setup_all's held_per_queue: 16384 * 2.3 KiB = 37 MiB of hugepages per queue).
 */
#define FS_PENDING_CAP 16384u
_Static_assert((FS_PENDING_CAP & (FS_PENDING_CAP - 1)) == 0, "FS_PENDING_CAP: a power of two");

/** One reply held back. */
struct fs_pending_ent {
	void *m;      /**< the reply (an rte_mbuf, built) */
	uint64_t seq; /**< the journal seq of the ORDER record it promises */
	uint16_t l3;  /**< its IPv4 header's offset in the frame (fs_frame_won_to_retry) */
	uint8_t q;    /**< the worker's rxq index it answers on (the TX queue) */
};

/** A ring of held replies: head (oldest) and tail count up, index & (CAP - 1). Zeroed: empty. */
struct fs_pending {
	uint32_t head; /**< the oldest held reply */
	uint32_t tail; /**< where the next one goes */
	struct fs_pending_ent ent[FS_PENDING_CAP];
};

/** Replies held. */
static inline uint32_t fs_pending_count(const struct fs_pending *p)
{
	return p->tail - p->head;
}

/** Room for this many more replies. */
static inline uint32_t fs_pending_room(const struct fs_pending *p)
{
	return FS_PENDING_CAP - fs_pending_count(p);
}

/**
 * Hold reply @p m for record @p seq (not below the seq of any reply held: the caller appends in
 * seq order), answering on rxq @p q, IPv4 header at @p l3.
 * @return 0, or -ENOSPC when the ring is full (nothing held: the caller keeps @p m). The worker
 *         never meets -ENOSPC: it refuses WONs before reserving (fs_claim_env.won_room) when a
 *         burst could overflow the ring.
 */
static inline int fs_pending_push(
	struct fs_pending *p, void *m, uint64_t seq, uint16_t l3, uint8_t q)
{
	struct fs_pending_ent *e;

	if (fs_pending_room(p) == 0)
		return -ENOSPC;
	e = &p->ent[p->tail & (FS_PENDING_CAP - 1)];
	e->m = m;
	e->seq = seq;
	e->l3 = l3;
	e->q = q;
	p->tail++;
	return 0;
}

/**
 * Take out, oldest first, up to @p max replies whatever their seq (a failed sync: each becomes a
 * RETRY; shutdown: each is freed). Durable replies leave by fs_pending_peek_durable() and
 * fs_pending_drop(). @return how many were taken.
 */
static inline uint32_t fs_pending_pop_all(
	struct fs_pending *p, struct fs_pending_ent *out, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && p->head != p->tail)
		out[n++] = p->ent[p->head++ & (FS_PENDING_CAP - 1)];
	return n;
}

/**
 * The @p i-th oldest held reply (0: the oldest) if its record is durable at @p durable, else
 * NULL (fewer held, or not durable). It stays held until fs_pending_drop().
 */
static inline const struct fs_pending_ent *fs_pending_peek_durable(
	const struct fs_pending *p, uint32_t i, uint64_t durable)
{
	const struct fs_pending_ent *e;

	if (i >= fs_pending_count(p))
		return NULL;
	e = &p->ent[(p->head + i) & (FS_PENDING_CAP - 1)];
	return e->seq <= durable ? e : NULL;
}

/** Let go of the @p n oldest held replies (sent: at most fs_pending_count()). */
static inline void fs_pending_drop(struct fs_pending *p, uint32_t n)
{
	p->head += n;
}

#endif
