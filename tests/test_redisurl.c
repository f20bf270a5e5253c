/* Unit tests of redis.c's pure parts: URL forms and masking, the sale state, the password file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "redis.h"

Test(redisurl, tcp_forms)
{
	struct fs_redis_url u;

	cr_assert_eq(fs_redis_parse_url("redis://127.0.0.1", &u), 0);
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 6379);
	cr_assert_eq(u.db, 0);
	cr_assert(!u.is_unix && !u.has_pass && u.user[0] == '\0');

	cr_assert_eq(fs_redis_parse_url("redis://h:6380/3", &u), 0);
	cr_assert_str_eq(u.host, "h");
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 3);
	cr_assert_eq(fs_redis_parse_url("redis://h/", &u), 0);
}

Test(redisurl, password_and_acl_user)
{
	struct fs_redis_url u;

	/* issue 9: redis://:PASSWORD@host:port was refused as a bad URL */
	cr_assert_eq(fs_redis_parse_url("redis://:s3cr%40t:x@10.0.0.1:7000/2", &u), 0);
	cr_assert(u.has_pass);
	cr_assert_str_eq(u.pass, "s3cr@t:x");
	cr_assert_str_eq(u.user, "");
	cr_assert_str_eq(u.host, "10.0.0.1");
	cr_assert_eq(u.port, 7000);
	cr_assert_eq(u.db, 2);

	cr_assert_eq(fs_redis_parse_url("redis://alice:pw@h", &u), 0);
	cr_assert_str_eq(u.user, "alice");
	cr_assert_str_eq(u.pass, "pw");
	cr_assert_eq(fs_redis_parse_url("redis://bob@h:1", &u), 0);
	cr_assert_str_eq(u.user, "bob");
	cr_assert(!u.has_pass);
	/* a password holding '@' and '/' percent-encoded; a raw '@' in it: the last '@' ends it */
	cr_assert_eq(fs_redis_parse_url("redis://:a@b@h", &u), 0);
	cr_assert_str_eq(u.pass, "a@b");
	cr_assert_str_eq(u.host, "h");
}

Test(redisurl, unix_socket)
{
	struct fs_redis_url u;

	cr_assert_eq(fs_redis_parse_url("unix:///run/redis/redis.sock", &u), 0);
	cr_assert(u.is_unix);
	cr_assert_str_eq(u.path, "/run/redis/redis.sock");
	cr_assert_eq(fs_redis_parse_url("unix://:pw@/tmp/r.sock?db=5", &u), 0);
	cr_assert_str_eq(u.path, "/tmp/r.sock");
	cr_assert_str_eq(u.pass, "pw");
	cr_assert_eq(u.db, 5);
}

Test(redisurl, port_and_db_numbers)
{
	static const char *const bad[] = {"redis://h:+1", "redis://h: 1", "redis://h:-1",
		"redis://h:99999999999999999999999", "redis://h:1/1000001", "redis://h:1/+2",
		"unix:///tmp/s?db=1000001", "unix:///tmp/s?db=-1", "unix:///tmp/s?db="};
	struct fs_redis_url u;

	/* leading zeros, however many, do not count */
	cr_assert_eq(fs_redis_parse_url("redis://h:0000000000000000000000000006380/007", &u), 0);
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 7);
	cr_assert_eq(fs_redis_parse_url("redis://h:65535/1000000", &u), 0);
	cr_assert_eq(u.port, 65535);
	cr_assert_eq(u.db, 1000000);
	cr_assert_eq(fs_redis_parse_url("unix:///tmp/s?db=00", &u), 0);
	cr_assert_eq(u.db, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(fs_redis_parse_url(bad[i], &u), -EINVAL, "'%s' accepted", bad[i]);
}

Test(redisurl, refused)
{
	static const char *const bad[] = {"", "http://h", "redis://", "redis://:6379",
		"redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/x", "redis://h:1/2/3",
		"redis://:%zz@h", "redis://:%0@h", "redis://:%00@h", "unix://", "unix://relative",
		"unix://host/tmp/s", "unix:///tmp/s?db=x", "unix:///tmp/s?x=1", "redis:/h"};
	struct fs_redis_url u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(fs_redis_parse_url(bad[i], &u), -EINVAL, "'%s' accepted", bad[i]);
	cr_assert_eq(fs_redis_parse_url(NULL, &u), -EINVAL);
	cr_assert_eq(fs_redis_parse_url("rediss://:pw@h:6380", &u), -EPROTONOSUPPORT);
}

Test(redisurl, mask)
{
	static const char *const cases[][2] = {
		{"redis://:hunter2@h:1/2", "redis://:***@h:1/2"},
		{"redis://alice:hunter2@h", "redis://alice:***@h"},
		{"redis://alice@h", "redis://alice@h"},
		{"redis://h:6379", "redis://h:6379"},
		{"unix://:pw@/tmp/r.sock", "unix://:***@/tmp/r.sock"},
		{"redis://:a@b@h", "redis://:***@h"},
		{"rediss://u:p@h", "rediss://u:***@h"},
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fs_redis_url_mask(cases[i][0], out, sizeof(out));
		cr_expect_str_eq(out, cases[i][1], "mask of %s", cases[i][0]);
	}
}

Test(redisurl, state_at)
{
	/* start 1000, end 2000, stock 10 */
	cr_assert_eq(fs_redis_state_at(999, 1000, 2000, 10, 0, false), FS_RS_CREATED);
	cr_assert_eq(fs_redis_state_at(1000, 1000, 2000, 10, 9, false), FS_RS_ACTIVE);
	cr_assert_eq(fs_redis_state_at(1500, 1000, 2000, 10, 10, false), FS_RS_SOLD_OUT);
	cr_assert_eq(fs_redis_state_at(2000, 1000, 2000, 10, 3, false), FS_RS_ENDED);
	cr_assert_eq(fs_redis_state_at(2000, 1000, 2000, 10, 10, false), FS_RS_ENDED);
	cr_assert_eq(fs_redis_state_at(1500, 1000, 2000, 10, 0, true), FS_RS_STOPPED);
	cr_assert_str_eq(fs_redis_state_name(FS_RS_SOLD_OUT), "sold_out");
	cr_assert_str_eq(fs_redis_state_name(FS_RS_CREATED), "created");
}

/* A file in a fresh temporary directory holding @p text, with mode @p mode. */
static void write_file(char *path, const char *text, mode_t mode)
{
	char dir[] = "/tmp/fs-test-pw.XXXXXX";
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, 64, "%s/pw", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(redisurl, password_file)
{
	char path[64], pw[256];

	write_file(path, "hunter2\n", 0600);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), 0);
	cr_assert_str_eq(pw, "hunter2");
	cr_assert_eq(chmod(path, 0400), 0);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), 0);
	cr_assert_eq(chmod(path, 0640), 0);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), -EPERM);
	cr_assert_eq(chmod(path, 0604), 0);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), -EPERM);
	cr_assert_eq(chmod(path, 0620), 0);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), -EPERM);
	unlink(path);
	write_file(path, "\n", 0600);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), -EINVAL);
	unlink(path);
	cr_assert_eq(fs_redis_password_file(path, pw, sizeof(pw)), -ENOENT);
	cr_assert_eq(fs_redis_password_file("/tmp", pw, sizeof(pw)), -EINVAL);
}
