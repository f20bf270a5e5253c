/* flashctl's files share these: its option parsing and the commands of orders.c. */
#ifndef FS_FLASHCTL_H
#define FS_FLASHCTL_H

#include <stdint.h>
#include <stdlib.h>

#include "cli.h"
#include "out.h"

/* Usage error: one line on stderr, returns exit code 2. */
#define usage_err(...) fs_cli_err("flashctl", FS_EXIT_USAGE, __VA_ARGS__)
/* Runtime error: one line on stderr, returns exit code 1. */
#define fail(...) fs_cli_err("flashctl", EXIT_FAILURE, __VA_ARGS__)

/**
 * Exit codes of `flashctl order pay|cancel|show` for each answer of PostgreSQL other than the one
 * asked for (0: paid by pay, cancelled by cancel, found by show); 1 is any error, 2 bad usage.
 */
enum fs_ctl_order_exit {
	FS_CTL_EXIT_ALREADY_PAID = 3,
	FS_CTL_EXIT_ALREADY_CANCELLED = 4,
	FS_CTL_EXIT_PAID = 5,	   /**< cancel refused: the order was paid */
	FS_CTL_EXIT_CANCELLED = 6, /**< pay refused: the order was cancelled */
	FS_CTL_EXIT_EXPIRED = 7,   /**< its hold ran out (swept or not) */
	FS_CTL_EXIT_NOT_HELD = 8,  /**< an order of a sale without holds: final when won */
	FS_CTL_EXIT_UNKNOWN = 9,   /**< no such order (or sale) */
};

/**
 * A sub-command's options (argv[0] is its name, @p group what comes before it, "sale " or ""),
 * declared by @p spec: words separated by one space, each an option's name, followed by '=' when
 * it takes a value (e.g. "sale= grace-s= json"); at most 24 words, 255 characters. --help is added
 * to every spec. The value of word i (from 0) is left in val[i + 1] (NULL when not given, "" for
 * a flag given, the last one when given twice; val[0] unused), so a command's enum of its options
 * starts at 1 and follows its spec. @p n is the size of @p val, more than the number of words (a
 * spec that does not fit aborts: a programming error). --help given prints the command's usage
 * (fs_ctl_help) on stdout and exits 0. Not thread safe (getopt).
 * @return 0, or the usage error's exit code for an unknown option, a missing value or an
 *         argument that is no option.
 */
int fs_ctl_parse_opts(
	int argc, char **argv, const char *group, const char *spec, const char **val, int n);

/**
 * Option --@p name's value @p s, when given (not NULL), as a number in [@p min, @p max] into *v
 * (untouched when not given).
 * @return 0, or the usage error's exit code ("bad --NAME 'S' (MIN..MAX)").
 */
int fs_ctl_opt_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *v);

/** A numeric option of a sub-command: val[@p opt] (fs_ctl_parse_opts) into *@p v. */
struct fs_ctl_num {
	int opt;	   /**< the option's index in val[] (fs_ctl_parse_opts) */
	const char *name;  /**< its name, for the error line; NULL ends a list */
	uint64_t min, max; /**< the accepted range */
	uint64_t *v;	   /**< where the number goes (untouched when not given) */
};

/** The end of a list of struct fs_ctl_num. */
#define FS_CTL_NUM_END                                                                             \
	{                                                                                          \
		0, NULL, 0, 0, NULL                                                                \
	}

/**
 * fs_ctl_parse_opts, then fs_ctl_opt_u64 for each entry of @p num (ended by a NULL name) in
 * order, stopping at the first error. Not thread safe (getopt).
 * @return 0, or the usage error's exit code.
 */
int fs_ctl_parse_nums(int argc, char **argv, const char *group, const char *spec, const char **val,
	int n, const struct fs_ctl_num *num);

/** --sale N into @p id. @return 0, or the usage error's exit code. */
int fs_ctl_parse_sale(const char *s, uint32_t *id);

/**
 * Print the usage and options of sub-command @p cmd of @p group ("sale " and "create", or "" and
 * "sweep") on stdout; with @p cmd "" those of every sub-command of @p group ("sale ", "order ").
 * Not thread safe (stdout).
 */
void fs_ctl_help(const char *group, const char *cmd);

/**
 * `flashctl order pay|cancel|show --sale N (--order ID | --user U) [--pg URL]` (argv[0] is
 * "order"): through persist/pgorders.h. Prints `result=NAME` and the order's fields (one JSON
 * object with --json).
 * @return the exit code: 0, enum fs_ctl_order_exit, 1 on an error, 2 on bad usage.
 */
int fs_ctl_order(int argc, char **argv);

/**
 * `flashctl sweep [--batch N] [--until-empty] [--pg URL]`: flashsale.expire_due(N) once, or until
 * it expires fewer than N. Prints `expired=` (rows) and `calls=` (a JSON object with --json).
 * @return the exit code: 0, 1 on an error, 2 on bad usage.
 */
int fs_ctl_sweep(int argc, char **argv);

/**
 * The PostgreSQL lines of `flashctl sale status --pg URL` for sale @p sale of @p stock units:
 * orders by status, returns, re-sold (orders beyond the stock). The dataplane and Redis lines
 * come before, all into @p out.
 * @return 0, or 1 after an error line on stderr.
 */
int fs_ctl_sale_pg_status(const char *pg_url, uint32_t sale, uint64_t stock, struct fs_out *out);

struct fs_redis;
struct fs_pgorders;

/**
 * The per-node lines of `flashctl sale status` from Redis (salenodes.c): one record per node with
 * a part in sale @p sale (fs_nodes_sale_all: lessees, node_sold, forgotten), `node leased sold
 * unsold report_ms report alive forgotten` (leased -1: no lease key; sold 0 when never published;
 * unsold leased - sold, -1 without a lease key; report_ms its daemon's last report in fs:nodes, 0
 * when not registered), JSON: the array `nodes`. A registry Redis refuses (an ACL) is left out.
 * @return 0 or a negative errno (Redis: r->errstr says why).
 */
int fs_ctl_sale_nodes(struct fs_redis *r, uint32_t sale, struct fs_out *out);

/**
 * The per-node lines of `flashctl sale status --pg` (salenodes.c): one record per node of
 * fs_pgleases_nodes, `pg_node pg_leased pg_sold pg_orders pg_reported_ms pg_reported
 * pg_forgotten`, JSON: the array `pg_nodes`.
 * @return 0 or a negative errno (the handle's error says why).
 */
int fs_ctl_sale_pg_nodes(struct fs_pgorders *c, uint32_t sale, struct fs_out *out);

/**
 * `flashctl metrics [--listen ADDR:PORT] [--pg URL] [--once] [--timeout-ms N]`: serve
 * flashsale_* metrics over HTTP (GET /metrics, Prometheus text format 0.0.4; default
 * 127.0.0.1:9108) until SIGINT or SIGTERM, each scrape read from the dataplane at @p dp_socket
 * (and persist's checkpoints from PostgreSQL with --pg); --once prints one scrape and exits.
 * @p node_id labels the metrics while the dataplane does not answer.
 * @return the exit code: 0; 1 an error (cannot listen; --once: the dataplane did not answer);
 *         2 bad usage.
 */
int fs_ctl_metrics(const char *dp_socket, unsigned node_id, int argc, char **argv);

/**
 * `flashctl watch [--sale N] [--interval-ms 1000] [--count N] [--pg URL]`: the node read every
 * interval (scrape.h) and shown: per sale its state, sold, remaining and claims and replies by
 * status per second, the node's drops per second and persist's lag (--pg). Redrawn in place
 * when stdout is a terminal, else one key=value line for the node and one per sale each time.
 * Runs until killed, or --count times. @p node_id labels it while the dataplane does not answer.
 * @return the exit code: 0; 1 the dataplane answered no read; 2 bad usage.
 */
int fs_ctl_watch(const char *dp_socket, unsigned node_id, int argc, char **argv);

/**
 * A PostgreSQL handle on --pg @p opt, else $PG_URL (@p cmd names the command in the usage error).
 * @return the handle (fs_pgorders_free it), or NULL after the error line with the exit code in
 *         *@p rc (2: no URL, 1: out of memory).
 */
struct fs_pgorders *fs_ctl_pg_open(const char *opt, const char *cmd, int *rc);

/** A call on @p c failed with -errno @p rc: its error line on stderr. @return exit code 1. */
int fs_ctl_pg_fail(struct fs_pgorders *c, int rc);

#endif
