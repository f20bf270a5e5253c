/* flashctl's section [ctl] of the config file: keys to options, the Redis password apart. */
#include "ctlconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define SECTION "ctl"

/* Where a key of [ctl] goes: before the command, after "daemon", or nowhere (read here). */
enum key_place { KEY_GLOBAL, KEY_DAEMON, KEY_FILE };

/* Every key of [ctl], each taking a value: flashctl's global options (flashctl.c: parse_globals),
 * flashctl daemon's options (flashctl.c: cmd_daemon), and the password (no option of its own). */
static const struct {
	const char *name;
	enum key_place place;
} keys[] = {
	{"dp", KEY_GLOBAL},
	{"dp-socket", KEY_GLOBAL},
	{"node-id", KEY_GLOBAL},
	{"redis", KEY_GLOBAL},
	{"redis-password-file", KEY_GLOBAL},
	{"dp-timeout-ms", KEY_DAEMON},
	{"interval-ms", KEY_DAEMON},
	{"lease-max", KEY_DAEMON},
	{"lease-min", KEY_DAEMON},
	{"pg", KEY_DAEMON},
	{"pg-timeout-ms", KEY_DAEMON},
	{"redis-timeout-ms", KEY_DAEMON},
	{"redis-password", KEY_FILE},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The keys of @p place (all keys when @p all) as long options into @p lo, NULL-terminated. */
static void keys_lo(struct option lo[N_KEYS + 1], enum key_place place, bool all)
{
	unsigned n = 0;

	for (unsigned i = 0; i < N_KEYS; i++)
		if (all || keys[i].place == place)
			lo[n++] = (struct option){keys[i].name, required_argument, NULL, 0};
	lo[n] = (struct option){NULL, 0, NULL, 0};
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
	struct option all_lo[N_KEYS + 1], global_lo[N_KEYS + 1], daemon_lo[N_KEYS + 1];
	bool given;
	int cmd = command_index(*argc, *argv), rc;
	const char *path = fs_conf_path(*argc, *argv, 1, cmd, &given);
	char **out;

	*password = NULL;
	keys_lo(all_lo, KEY_FILE, true);
	keys_lo(global_lo, KEY_GLOBAL, false);
	keys_lo(daemon_lo, KEY_DAEMON, false);
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
