/* flashgen's command line (HACKING.md "flashgen", gen/README.md). */
#ifndef FG_OPTIONS_H
#define FG_OPTIONS_H

#include <stdio.h>

#include "gen.h"

/** Print the usage text to @p f (stdout for --help, stderr on a usage error). */
void fg_usage(FILE *f);

/**
 * Parse the application's options (those after EAL's "--", @p argv[0] the program) into @p o,
 * defaults first, then check the options against each other.
 * @return 0, 1 after printing the usage for --help, or -EINVAL after printing one line saying why
 * (and for some errors the usage) to stderr. Not reentrant (getopt).
 */
int fg_parse_args(int argc, char **argv, struct fg_opts *o);

#endif
