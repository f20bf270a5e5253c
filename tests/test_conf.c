/*
 * Unit tests of common/conf.c (the config file) and common/logtime.c (dated log lines): syntax,
 * sections, errors with their line, unknown keys, flags, secrets and the file's mode, the options
 * made of the keys and their order before the command line's, --config found and taken out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "logtime.h"

static const struct option lo[] = {
	{"addr", required_argument, NULL, 'a'},
	{"once", no_argument, NULL, 'o'},
	{"pg", required_argument, NULL, 'p'},
	{"port", required_argument, NULL, 'p'},
	{NULL, 0, NULL, 0},
};

/* fs_conf_parse of a copy of @p text for [@p section]; err in @p err (256 bytes). */
static int parse(struct fs_conf *c, const char *text, const char *section, char *err)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s", text);
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	return fs_conf_parse(c, buf, section, err, 256);
}

Test(conf, keeps_the_section_trims_and_skips_comments)
{
	struct fs_conf c;
	char err[256];

	cr_assert_eq(parse(&c,
			     "# comment\n; another\n\n[persist]\nbatch = 5\n"
			     "[dataplane]\n  addr   =  10.0.0.1  \r\nport=7777\nstate-dir = "
			     "\"/var/x y\"\n"
			     "[ctl]\nredis = redis://h\n",
			     "dataplane", err),
		0, "%s", err);
	cr_assert_eq(c.n, 3);
	cr_assert_str_eq(c.e[0].key, "addr");
	cr_assert_str_eq(c.e[0].val, "10.0.0.1");
	cr_assert_eq(c.e[0].line, 7);
	cr_assert_str_eq(c.e[1].key, "port");
	cr_assert_str_eq(c.e[2].val, "/var/x y");
	cr_assert(!c.secret);
}

Test(conf, an_absent_section_is_empty)
{
	struct fs_conf c;
	char err[256];

	cr_assert_eq(parse(&c, "[persist]\nbatch = 5\n", "dataplane", err), 0);
	cr_assert_eq(c.n, 0);
}

Test(conf, bad_lines_are_refused_with_their_number)
{
	static const char *bad[][2] = {
		{"[dataplane]\naddr\n", "2: not '[section]' nor 'key = value'"},
		{"addr = 1\n", "1: a key before any [section]"},
		{"[dataplane\n", "1: bad section line '[dataplane'"},
		{"[]\n", "1: bad section line '[]'"},
		{"[dataplane]\nAddr = 1\n", "2: bad key 'Addr' (a-z, 0-9, -)"},
		{"[dataplane]\n = 1\n", "2: bad key '' (a-z, 0-9, -)"},
		{"[dataplane]\nport = 1\n\nport = 2\n",
			"4: key 'port' given twice (first on line 2)"},
	};
	struct fs_conf c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(parse(&c, bad[i][0], "dataplane", err), -EINVAL, "%s", bad[i][0]);
		cr_expect_str_eq(err, bad[i][1]);
	}
}

Test(conf, secrets_are_passwords_and_urls_with_one)
{
	cr_assert(fs_conf_is_secret("redis-password", "x"));
	cr_assert(!fs_conf_is_secret("redis-password-file", "/etc/flashsale/redis.pw"));
	cr_assert(fs_conf_is_secret("pg", "postgresql://fs:s3cret@db/flashsale"));
	cr_assert(fs_conf_is_secret("redis", "redis://user:pw@10.0.0.5:6379"));
	cr_assert(!fs_conf_is_secret("redis", "redis://user@10.0.0.5:6379"));
	cr_assert(!fs_conf_is_secret("pg", "postgresql://db/x?user=a:b@c"));
	cr_assert(!fs_conf_is_secret("addr", "10.0.0.1"));
}

Test(conf, a_secret_in_another_section_counts)
{
	struct fs_conf c;
	char err[256];

	cr_assert_eq(
		parse(&c, "[ctl]\nredis-password = x\n[dataplane]\nport = 1\n", "dataplane", err),
		0);
	cr_assert(c.secret);
}

Test(conf, unknown_keys_and_bad_flags_are_named)
{
	struct fs_conf c;
	char err[256];

	cr_assert_eq(parse(&c, "[dataplane]\nport = 1\nprot = 2\n", "dataplane", err), 0);
	snprintf(c.path, sizeof(c.path), "f.conf");
	cr_assert_eq(fs_conf_check(&c, lo, "dataplane", err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "config f.conf:3: unknown key 'prot' in [dataplane]");
	cr_assert_eq(parse(&c, "[dataplane]\nonce = maybe\n", "dataplane", err), 0);
	snprintf(c.path, sizeof(c.path), "f.conf");
	cr_assert_eq(fs_conf_check(&c, lo, "dataplane", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "config f.conf:2: bad once 'maybe' (true or false)");
}

Test(conf, keys_go_before_the_command_line_and_config_is_taken_out)
{
	char *argv[] = {"prog", "--port", "9", "--config", "x.conf", "--pg=u", NULL};
	struct fs_conf c;
	char err[256], **out;
	int argc = 6;

	cr_assert_eq(
		parse(&c, "[dataplane]\nport = 7\nonce = yes\naddr = 1.2.3.4\n", "dataplane", err),
		0);
	out = fs_conf_argv(&c, lo, &argc, argv, 1);
	cr_assert_not_null(out);
	cr_assert_eq(argc, 7);
	cr_assert_str_eq(out[0], "prog");
	cr_assert_str_eq(out[1], "--port=7");
	cr_assert_str_eq(out[2], "--once");
	cr_assert_str_eq(out[3], "--addr=1.2.3.4");
	cr_assert_str_eq(out[4], "--port"); /* the command line's, after: it wins */
	cr_assert_str_eq(out[5], "9");
	cr_assert_str_eq(out[6], "--pg=u");
	cr_assert_null(out[7]);
}

Test(conf, a_false_flag_gives_no_option)
{
	char *argv[] = {"prog", NULL};
	struct fs_conf c;
	char err[256], **out;
	int argc = 1;

	cr_assert_eq(parse(&c, "[dataplane]\nonce = false\n", "dataplane", err), 0);
	out = fs_conf_argv(&c, lo, &argc, argv, 1);
	cr_assert_eq(argc, 1);
	cr_assert_null(out[1]);
}

Test(conf, the_path_comes_from_the_option_the_environment_or_the_default)
{
	char *a1[] = {"p", "--config", "a.conf", NULL}, *a2[] = {"p", "--config=b.conf", NULL};
	char *a3[] = {"p", NULL}, *a4[] = {"p", "--config", NULL};
	bool given;

	unsetenv(FS_CONF_ENV);
	cr_assert_str_eq(fs_conf_path(3, a1, 1, 3, &given), "a.conf");
	cr_assert(given);
	cr_assert_str_eq(fs_conf_path(2, a2, 1, 2, &given), "b.conf");
	cr_assert_str_eq(fs_conf_path(1, a3, 1, 1, &given), FS_CONF_DEFAULT);
	cr_assert(!given);
	cr_assert_null(fs_conf_path(2, a4, 1, 2, &given));
	setenv(FS_CONF_ENV, "env.conf", 1);
	cr_assert_str_eq(fs_conf_path(1, a3, 1, 1, &given), "env.conf");
	cr_assert(given);
	cr_assert_str_eq(fs_conf_path(3, a1, 1, 3, &given), "a.conf");
	unsetenv(FS_CONF_ENV);
}

/* A file holding @p text with mode @p mode; its path in @p path (64 bytes). */
static void write_file(char *path, const char *text, mode_t mode)
{
	int fd;

	snprintf(path, 64, "/tmp/test_conf.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

Test(conf, a_readable_file_with_a_secret_is_refused)
{
	struct fs_conf c;
	char path[64], err[512];

	write_file(path, "[ctl]\nredis-password = hunter2\n", 0640);
	cr_assert_eq(fs_conf_load(&c, path, "ctl", err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "group or others may read it") != NULL, "%s", err);
	chmod(path, 0600);
	cr_assert_eq(fs_conf_load(&c, path, "ctl", err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.e[0].val, "hunter2");
	fs_conf_free(&c);
	unlink(path);
}

Test(conf, a_readable_file_without_a_secret_is_read)
{
	struct fs_conf c;
	char path[64], err[512];

	write_file(path, "[ctl]\nredis-password-file = /etc/x\n", 0644);
	cr_assert_eq(fs_conf_load(&c, path, "ctl", err, sizeof(err)), 0, "%s", err);
	fs_conf_free(&c);
	unlink(path);
}

Test(conf, a_missing_default_file_is_no_error_a_missing_given_one_is)
{
	char *argv[] = {"p", "--port=1", NULL}, **av = argv;
	char *argv2[] = {"p", "--config=/nonexistent/x.conf", NULL}, **av2 = argv2;
	char err[512];
	int argc = 2, argc2 = 2;

	unsetenv(FS_CONF_ENV);
	if (access(FS_CONF_DEFAULT, F_OK) == 0)
		cr_skip_test("%s exists on this machine", FS_CONF_DEFAULT);
	cr_assert_eq(fs_conf_apply("dataplane", lo, &argc, &av, 1, argc, err, sizeof(err)), 0);
	cr_assert_eq(argc, 2);
	cr_assert_eq(
		fs_conf_apply("dataplane", lo, &argc2, &av2, 1, argc2, err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "config /nonexistent/x.conf: No such file or directory");
}

Test(logtime, the_prefix_is_iso8601_utc_with_ms)
{
	char buf[FS_LOGTIME_LEN + 1];
	int y, mo, d, h, mi, s, ms;
	char z, sp;

	cr_assert_eq(fs_logtime_format(buf, sizeof(buf)), FS_LOGTIME_LEN);
	cr_assert_eq(strlen(buf), FS_LOGTIME_LEN);
	cr_assert_eq(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c%c", &y, &mo, &d, &h, &mi, &s, &ms,
			     &z, &sp),
		9, "%s", buf);
	cr_assert_eq(z, 'Z');
	cr_assert_eq(fs_logtime_format(buf, FS_LOGTIME_LEN), 0);
}

Test(logtime, each_line_gets_one_prefix_and_journald_none)
{
	char path[64], text[512];
	FILE *f;
	int fd;
	struct stat st;

	snprintf(path, sizeof(path), "/tmp/test_logtime.XXXXXX");
	fd = mkstemp(path);
	unsetenv("JOURNAL_STREAM");
	f = fs_logtime_open(fd);
	fprintf(f, "one ");
	fprintf(f, "line\ntwo\n");
	fclose(f);
	fstat(fd, &st);
	/* under journald ($JOURNAL_STREAM names the descriptor): lines as they are */
	snprintf(text, sizeof(text), "%llu:%llu", (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", text, 1);
	cr_assert(fs_logtime_journald(fd));
	f = fs_logtime_open(fd);
	fprintf(f, "three\n");
	fclose(f);
	unsetenv("JOURNAL_STREAM");
	memset(text, 0, sizeof(text));
	cr_assert_gt(pread(fd, text, sizeof(text) - 1, 0), 0);
	close(fd);
	unlink(path);
	cr_assert_eq(
		strlen(text), 2 * FS_LOGTIME_LEN + strlen("one line\ntwo\nthree\n"), "%s", text);
	cr_assert(strncmp(text + FS_LOGTIME_LEN, "one line\n", 9) == 0, "%s", text);
	cr_assert(strncmp(text + 2 * FS_LOGTIME_LEN + 9, "two\nthree\n", 10) == 0, "%s", text);
}
