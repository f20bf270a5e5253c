/* flashctl's section [ctl] of the config file (common/conf.h, docs/CONFIG.md). */
#ifndef FS_CTLCONF_H
#define FS_CTLCONF_H

#include <stddef.h>

/**
 * Read the config file's [ctl] section for flashctl's command line @p argc / @p argv (the file
 * from --config among the global options, else $FLASHSALE_CONFIG, else the default, which may be
 * absent). Its global keys (redis, redis-password-file, dp, dp-socket, node-id) become options
 * placed before the command line's global options; its daemon keys (interval-ms,
 * redis-timeout-ms, dp-timeout-ms, pg, pg-timeout-ms) options right after the command when it is
 * "daemon" (ignored by the other commands); "--config FILE" is taken out. The key
 * redis-password (a secret: the file must be mode 0600) goes to *@p password (a copy kept for
 * the program's life; NULL when absent), never into argv.
 * Returns 0 (*@p argc, *@p argv replaced), or -errno with one line in @p err (@p errlen bytes):
 * the caller exits 2. Start-up only; not thread safe.
 */
int fs_ctl_config(int *argc, char ***argv, const char **password, char *err, size_t errlen);

#endif
