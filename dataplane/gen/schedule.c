/* flashgen's schedule (schedule.h): the ready deque, the timeout FIFO, the wheel of resends. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <rte_mbuf.h>

#include "schedule.h"

int fg_sched_init(struct fg_ctx *g)
{
	/* --no-reply keeps no per-user state: 10 million users cost nothing */
	g->rcap = g->o.no_reply ? 1 : g->o.users + 1;
	g->users = calloc(g->o.no_reply ? 1 : g->o.users, sizeof(*g->users));
	g->ready = malloc(g->rcap * sizeof(*g->ready));
	g->tcap = 1u << 16;
	g->tmo = malloc(g->tcap * sizeof(*g->tmo));
	if (g->users == NULL || g->ready == NULL || g->tmo == NULL)
		return -ENOMEM;
	for (uint32_t s = 0; s < FG_WHEEL_SLOTS; s++)
		g->wheel[s] = FG_NONE;
	g->wheel_ms = 0;
	for (uint64_t u = 0; !g->o.no_reply && u < g->o.users; u++)
		fg_ready_push_back(g, (uint32_t)u);
	return 0;
}

void fg_sched_free(struct fg_ctx *g)
{
	free(g->users);
	free(g->ready);
	free(g->tmo);
	g->users = NULL;
	g->ready = NULL;
	g->tmo = NULL;
}

/* ---- timeout FIFO ---- */

int fg_tmo_grow(struct fg_ctx *g)
{
	uint64_t ncap = g->tcap * 2;
	struct fg_tmo *n = malloc(ncap * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < g->tlen; i++)
		n[i] = g->tmo[(g->thead + i) & (g->tcap - 1)];
	free(g->tmo);
	g->tmo = n;
	g->tcap = ncap;
	g->thead = 0;
	return 0;
}

/* ---- wheel of delayed resends ---- */

void fg_wheel_add(struct fg_ctx *g, uint32_t u, uint64_t now_ms, uint32_t delay_ms)
{
	uint32_t slot = (uint32_t)((now_ms + delay_ms) % FG_WHEEL_SLOTS);

	g->users[u].state = FG_WAIT;
	g->users[u].next = g->wheel[slot];
	g->wheel[slot] = u;
}

void fg_wheel_drain(struct fg_ctx *g, uint64_t now_ms)
{
	for (; g->wheel_ms <= now_ms; g->wheel_ms++) {
		uint32_t slot = (uint32_t)(g->wheel_ms % FG_WHEEL_SLOTS);
		uint32_t u = g->wheel[slot];

		g->wheel[slot] = FG_NONE;
		while (u != FG_NONE) {
			uint32_t next = g->users[u].next;

			fg_ready_push_back(g, u);
			u = next;
		}
	}
}

/* ---- after a disconnect ---- */

/*
 * After a disconnect every frame in flight or built is gone: put their claims back at the front
 * of the ready queue, oldest first, to be sent again with the same request_ids (the dataplane
 * answers a repeated request_id from its dedup, or ALREADY_WON). --no-reply: the built frames are
 * rebuilt (new MAC), the ones in flight are not resent.
 */
void fg_requeue_all(struct fg_ctx *g)
{
	if (g->o.no_reply) {
		g->flood_next -= g->npend;
	} else {
		for (uint16_t i = g->npend; i-- > 0;)
			fg_ready_push_front(g, g->pend_who[i]);
		for (uint64_t i = g->tlen; i-- > 0;) {
			struct fg_tmo *t = &g->tmo[(g->thead + i) & (g->tcap - 1)];
			struct fg_user *us = &g->users[t->user];

			if (us->state != FG_OUT || us->send_tsc != t->tsc)
				continue; /* stale entry */
			g->outstanding--;
			g->st.requeued++;
			fg_ready_push_front(g, t->user);
		}
		g->thead = 0;
		g->tlen = 0;
	}
	rte_pktmbuf_free_bulk(g->pend, g->npend);
	g->npend = 0;
}
