/*
 * flashgen's schedule: which user sends next. The ready deque (users due now), the timeout FIFO
 * (requests in flight, oldest first) and the wheel of delayed resends (retry_after_ms).
 */
#ifndef FG_SCHEDULE_H
#define FG_SCHEDULE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>

#include "gen.h"

/**
 * Allocate the users, the ready deque (every user in it, in order) and the timeout FIFO; empty
 * the wheel. --no-reply keeps no per-user state (one entry each). 0 or -ENOMEM (the caller frees
 * with fg_sched_free).
 */
int fg_sched_init(struct fg_ctx *g);

/** Free what fg_sched_init allocated; safe on a zeroed context. */
void fg_sched_free(struct fg_ctx *g);

/** Append user @p u to the ready deque (it sends after those already due). */
static inline void fg_ready_push_back(struct fg_ctx *g, uint32_t u)
{
	g->ready[(g->rhead + g->rlen) % g->rcap] = u;
	g->rlen++;
	g->users[u].state = FG_READY;
}

/** Put user @p u at the front of the ready deque (a resend goes before new claims). */
static inline void fg_ready_push_front(struct fg_ctx *g, uint32_t u)
{
	g->rhead = (g->rhead + g->rcap - 1) % g->rcap;
	g->ready[g->rhead] = u;
	g->rlen++;
	g->users[u].state = FG_READY;
}

/** Take the first user of the ready deque; rlen must be > 0. */
static inline uint32_t fg_ready_pop(struct fg_ctx *g)
{
	uint32_t u = g->ready[g->rhead];

	g->rhead = (g->rhead + 1) % g->rcap;
	g->rlen--;
	return u;
}

/** Double the timeout FIFO's capacity (fg_tmo_push, when full). 0 or -ENOMEM. */
int fg_tmo_grow(struct fg_ctx *g);

/**
 * Record that user @p u sent at TSC @p tsc (its timeout): one per claim sent, so inline; the
 * FIFO grows (malloc) only when full. 0, or -ENOMEM if it cannot grow.
 */
static inline int fg_tmo_push(struct fg_ctx *g, uint32_t u, uint64_t tsc)
{
	if (unlikely(g->tlen == g->tcap) && fg_tmo_grow(g) != 0)
		return -ENOMEM;
	g->tmo[(g->thead + g->tlen) & (g->tcap - 1)] = (struct fg_tmo){.tsc = tsc, .user = u};
	g->tlen++;
	return 0;
}

/**
 * Resend, at the front of the ready queue, every request older than --timeout-ms (lost++), and
 * drop the stale entries ahead of the first live one. Once per loop turn.
 */
static inline void fg_tmo_check(struct fg_ctx *g, uint64_t now)
{
	uint64_t limit = (uint64_t)g->o.timeout_ms * g->tsc_per_ms;

	while (g->tlen > 0) {
		struct fg_tmo *t = &g->tmo[g->thead];
		struct fg_user *us = &g->users[t->user];
		bool live = us->state == FG_OUT && us->send_tsc == t->tsc;

		if (live && now - t->tsc < limit)
			break;
		if (live) {
			g->outstanding--;
			g->st.lost++;
			fg_ready_push_front(g, t->user);
		}
		g->thead = (g->thead + 1) & (g->tcap - 1);
		g->tlen--;
	}
}

/** Resend user @p u's claim @p delay_ms (1 .. FG_RETRY_CAP_MS) after @p now_ms (ms since t0). */
void fg_wheel_add(struct fg_ctx *g, uint32_t u, uint64_t now_ms, uint32_t delay_ms);

/** Move the users of every wheel slot up to @p now_ms to the back of the ready deque. */
void fg_wheel_drain(struct fg_ctx *g, uint64_t now_ms);

/**
 * After a disconnect every frame in flight or built is gone: put their claims back at the front
 * of the ready queue, oldest first, to be sent again with the same request_ids (requeued++).
 * --no-reply: the built frames are rebuilt (new MAC), the ones in flight are not resent.
 */
void fg_requeue_all(struct fg_ctx *g);

#endif
