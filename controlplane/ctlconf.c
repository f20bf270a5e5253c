/* flashctl's section [ctl] of the config file: keys to options, the Redis password apart. */
#include "ctlconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define SECTION "ctl"

/* flashctl's global options (flashctl.c: parse_globals), taking a value each. */
static const struct option global_lo[] = {
	{"dp", required_argument, NULL, 0},
	{"dp-socket", required_argument, NULL, 0},
	{"node-id", required_argument, NULL, 0},
	{"redis", required_argument, NULL, 0},
	{"redis-password-file", required_argument, NULL, 0},
	{NULL, 0, NULL, 0},
};

/* flashctl daemon's options (flashctl.c: cmd_daemon). */
static const struct option daemon_lo[] = {
	{"dp-timeout-ms", required_argument, NULL, 0},
	{"interval-ms", required_argument, NULL, 0},
	{"lease-max", required_argument, NULL, 0},
	{"lease-min", required_argument, NULL, 0},
	{"pg", required_argument, NULL, 0},
	{"pg-timeout-ms", required_argument, NULL, 0},
	{"redis-timeout-ms", required_argument, NULL, 0},
	{NULL, 0, NULL, 0},
};

#define N_GLOBAL (sizeof(global_lo) / sizeof(global_lo[0]) - 1)
#define N_DAEMON (sizeof(daemon_lo) / sizeof(daemon_lo[0]) - 1)

/* Every key of [ctl] into @p all: the two tables, then the password (no option of its own). */
static void all_keys(struct option all[N_GLOBAL + N_DAEMON + 2])
{
	memcpy(all, global_lo, N_GLOBAL * sizeof(all[0]));
	memcpy(all + N_GLOBAL, daemon_lo, N_DAEMON * sizeof(all[0]));
	all[N_GLOBAL + N_DAEMON] = (struct option){"redis-password", required_argument, NULL, 0};
	all[N_GLOBAL + N_DAEMON + 1] = (struct option){NULL, 0, NULL, 0};
}

/* The index of the command in @p argv: after the global options ("--opt VALUE" takes two). */
static int command_index(int argc, char *const *argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		bool pair = strchr(argv[i], '=') == NULL && strcmp(argv[i], "-h") != 0 &&
			    strcmp(argv[i], "--help") != 0;

		i += pair ? 2 : 1;
	}
	return i < argc ? i : argc;
}

int fs_ctl_config(int *argc, char ***argv, const char **password, char *err, size_t errlen)
{
	static struct fs_conf conf; /* start-up only; the argv's strings are copies */
	struct option all_lo[N_GLOBAL + N_DAEMON + 2];
	bool given;
	int cmd = command_index(*argc, *argv), rc;
	const char *path = fs_conf_path(*argc, *argv, 1, cmd, &given);
	char **out;

	*password = NULL;
	all_keys(all_lo);
	if (path == NULL || *path == '\0')
		return snprintf(err, errlen, "option --config needs a value"), -EINVAL;
	rc = fs_conf_load(&conf, path, SECTION, err, errlen);
	if (rc == -ENOENT && !given)
		return (*argv = fs_conf_argv(NULL, global_lo, argc, *argv, 1)) ? 0 : -ENOMEM;
	if (rc == 0)
		rc = fs_conf_check(&conf, all_lo, SECTION, err, errlen);
	for (unsigned i = 0; rc == 0 && i < conf.n; i++)
		if (strcmp(conf.e[i].key, "redis-password") == 0 &&
			(*password = strdup(conf.e[i].val)) == NULL)
			rc = -ENOMEM;
	if (rc == 0 && (out = fs_conf_argv(&conf, global_lo, argc, *argv, 1)) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		*argv = out;
		cmd = command_index(*argc, *argv);
		if (cmd < *argc && strcmp((*argv)[cmd], "daemon") == 0 &&
			(out = fs_conf_argv(&conf, daemon_lo, argc, *argv, cmd + 1)) == NULL)
			rc = -ENOMEM;
		else if (cmd < *argc && strcmp((*argv)[cmd], "daemon") == 0)
			*argv = out;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	fs_conf_free(&conf);
	return rc;
}
