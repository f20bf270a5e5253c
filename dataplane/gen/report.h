/* flashgen's output: the report on stdout (key=value or JSON) and the --progress lines on stderr.
 */
#ifndef FG_REPORT_H
#define FG_REPORT_H

#include <stdint.h>

#include "gen.h"

/**
 * One progress line to stderr at TSC @p now: `progress elapsed_ms=.. sent=.. replies=..
 * sent_per_s=.. replies_per_s=..` (rates over the time since the previous line), the replies by
 * status so far (already_won= .. active=), won= last; with --json the same fields as one JSON
 * object on one line. Updates g->prog_* for the next line's rates.
 */
void fg_progress(struct fg_ctx *g, uint64_t now);

/**
 * The report (HACKING.md "flashgen") on stdout, flushed: key=value lines, or with --json one JSON
 * document with the same fields (booleans as true/false) plus latency_histogram and
 * latency_percentiles. 0, or -ENOMEM if the JSON document could not be built (one line to
 * stderr, nothing on stdout).
 */
int fg_report(struct fg_ctx *g);

#endif
