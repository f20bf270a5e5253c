/* flashgen's output: the key=value report on stdout and the --progress lines on stderr. */
#ifndef FG_REPORT_H
#define FG_REPORT_H

#include <stdint.h>

#include "gen.h"

/** One line to stderr: `progress elapsed_ms=.. sent=.. replies=.. won=..` at TSC @p now. */
void fg_progress(struct fg_ctx *g, uint64_t now);

/** The report (HACKING.md "flashgen", gen/README.md) as key=value lines on stdout, flushed. */
void fg_report(struct fg_ctx *g);

#endif
