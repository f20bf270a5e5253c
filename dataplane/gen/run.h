/* flashgen's run: the TX + RX loop. */
#ifndef FG_RUN_H
#define FG_RUN_H

#include "gen.h"

/**
 * Send the claims and read the replies until every claim has its final answer (with --no-reply:
 * every claim sent, --timeout-ms ago), --max-seconds after g->t0, or fg_stop. Honours --window,
 * --rate and --line-rate, resends timed-out and RETRY-like claims, checks the link once a
 * millisecond (fg_reconnect when it is down), prints --progress. Built frames the port has not
 * taken may be left in g->pend (the caller frees them). Lcore only.
 */
void fg_run(struct fg_ctx *g);

#endif
