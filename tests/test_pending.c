/* Unit tests of pending.h: the WON replies a worker holds until their records are durable. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pending.h"

static struct fs_pending ring; /* 48 KiB: not on the test's stack */

static void *tag(uint64_t i)
{
	return (void *)(uintptr_t)(0x1000 + i);
}

Test(pending, empty_ring_gives_nothing)
{
	struct fs_pending_ent out[4];

	memset(&ring, 0, sizeof(ring));
	cr_assert_eq(fs_pending_count(&ring), 0);
	cr_assert_eq(fs_pending_room(&ring), FS_PENDING_CAP);
	cr_assert_null(fs_pending_peek_durable(&ring, 0, UINT64_MAX));
	cr_assert_eq(fs_pending_pop_all(&ring, out, 4), 0);
}

/* Only the replies whose seq the durable position reached may leave, oldest first, with what was
 * held with them; the rest stay for a later position. */
Test(pending, releases_the_durable_prefix_in_order)
{
	const struct fs_pending_ent *e;
	uint32_t n = 0;

	memset(&ring, 0, sizeof(ring));
	for (uint64_t s = 10; s < 15; s++)
		cr_assert_eq(
			fs_pending_push(&ring, tag(s), s, (uint16_t)(14 + s), (uint8_t)(s & 1)), 0);
	cr_assert_null(fs_pending_peek_durable(&ring, 0, 9), "nothing durable yet");
	while ((e = fs_pending_peek_durable(&ring, n, 12)) != NULL) {
		cr_assert_eq(e->seq, 10 + n);
		cr_assert_eq(e->m, tag(10 + n));
		cr_assert_eq(e->l3, 24 + n);
		cr_assert_eq(e->q, (10 + n) & 1);
		n++;
	}
	cr_assert_eq(n, 3, "seqs 10 to 12 are durable at 12, 13 is not");
	fs_pending_drop(&ring, n);
	cr_assert_eq(fs_pending_count(&ring), 2);
	cr_assert_eq(fs_pending_peek_durable(&ring, 0, 100)->seq, 13);
	cr_assert_eq(fs_pending_peek_durable(&ring, 1, 100)->seq, 14);
	cr_assert_null(fs_pending_peek_durable(&ring, 2, 100));
}

/* A full ring refuses the next reply and holds nothing of it; it takes one again once one left. */
Test(pending, full_ring_refuses_and_keeps_what_it_holds)
{
	struct fs_pending_ent out[1];

	memset(&ring, 0, sizeof(ring));
	for (uint64_t s = 1; s <= FS_PENDING_CAP; s++)
		cr_assert_eq(fs_pending_push(&ring, tag(s), s, 14, 0), 0);
	cr_assert_eq(fs_pending_room(&ring), 0);
	cr_assert_eq(fs_pending_push(&ring, tag(0), FS_PENDING_CAP + 1, 14, 0), -ENOSPC);
	cr_assert_eq(fs_pending_count(&ring), FS_PENDING_CAP);
	cr_assert_eq(fs_pending_peek_durable(&ring, 0, 1)->m, tag(1));
	fs_pending_drop(&ring, 1);
	cr_assert_eq(fs_pending_push(&ring, tag(FS_PENDING_CAP + 1), FS_PENDING_CAP + 1, 14, 0), 0);
	/* every reply comes out once, in seq order, across the wrap of the indexes */
	for (uint64_t s = 2; s <= FS_PENDING_CAP + 1; s++) {
		cr_assert_eq(fs_pending_pop_all(&ring, out, 1), 1);
		cr_assert_eq(out[0].seq, s);
		cr_assert_eq(out[0].m, tag(s));
	}
	cr_assert_eq(fs_pending_count(&ring), 0);
}

/* A failed sync takes every reply out whatever its seq (they become RETRY), at most max a time. */
Test(pending, pop_all_takes_the_undurable_ones_too)
{
	struct fs_pending_ent out[8];

	memset(&ring, 0, sizeof(ring));
	for (uint64_t s = 5; s < 9; s++)
		cr_assert_eq(fs_pending_push(&ring, tag(s), s, 14, 0), 0);
	cr_assert_eq(fs_pending_pop_all(&ring, out, 3), 3, "at most max at a time");
	cr_assert_eq(out[2].seq, 7);
	cr_assert_eq(fs_pending_pop_all(&ring, out, 8), 1);
	cr_assert_eq(out[0].seq, 8);
	cr_assert_eq(fs_pending_count(&ring), 0);
}

/* The 32-bit counters wrap after 4 G replies: count, room and peeking stay right. */
Test(pending, counters_wrap)
{
	memset(&ring, 0, sizeof(ring));
	ring.head = ring.tail = UINT32_MAX - 1;
	for (uint64_t s = 1; s <= 4; s++)
		cr_assert_eq(fs_pending_push(&ring, tag(s), s, 14, 0), 0);
	cr_assert_eq(fs_pending_count(&ring), 4);
	cr_assert_eq(fs_pending_room(&ring), FS_PENDING_CAP - 4);
	cr_assert_eq(fs_pending_peek_durable(&ring, 2, 3)->m, tag(3));
	cr_assert_null(fs_pending_peek_durable(&ring, 3, 3));
	fs_pending_drop(&ring, 3);
	cr_assert_eq(fs_pending_count(&ring), 1);
	cr_assert_eq(fs_pending_peek_durable(&ring, 0, 4)->m, tag(4));
}

/*
 * Peek and drop (the worker's send when a TX ring takes part of a burst): peeking takes nothing
 * out and stops at the first reply not durable; dropping the sent ones leaves the rest held, in
 * order, the first unsent one oldest.
 */
Test(pending, peek_then_drop_what_was_sent)
{
	const struct fs_pending_ent *e;

	memset(&ring, 0, sizeof(ring));
	for (uint64_t s = 1; s <= 6; s++)
		cr_assert_eq(fs_pending_push(&ring, tag(s), s, 14, (uint8_t)(s & 1)), 0);
	e = fs_pending_peek_durable(&ring, 0, 4);
	cr_assert_not_null(e);
	cr_assert_eq(e->m, tag(1));
	cr_assert_eq(fs_pending_peek_durable(&ring, 3, 4)->m, tag(4));
	cr_assert_null(fs_pending_peek_durable(&ring, 4, 4), "seq 5 is not durable at 4");
	cr_assert_null(fs_pending_peek_durable(&ring, 6, UINT64_MAX), "only 6 held");
	cr_assert_eq(fs_pending_count(&ring), 6, "peeking takes nothing out");
	fs_pending_drop(&ring, 2); /* a TX burst took 2 of 4 */
	cr_assert_eq(fs_pending_count(&ring), 4);
	e = fs_pending_peek_durable(&ring, 0, 4);
	cr_assert_eq(e->m, tag(3), "the first unsent one is the oldest held");
	cr_assert_eq(e->seq, 3);
	cr_assert_eq(e->q, 1);
	cr_assert_eq(fs_pending_room(&ring), FS_PENDING_CAP - 4);
}
