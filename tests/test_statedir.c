/* Unit tests of statedir.c: modes made owner-only, refusals that change nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "statedir.h"

static char tmpdir[64];
static char why[512];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/fs-test-statedir.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	umask(022);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(statedir, .init = setup, .fini = teardown, .timeout = 30);

static unsigned mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "%s", path);
	return (unsigned)(st.st_mode & 07777);
}

static void make_file(const char *path, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "%s", path);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(statedir, make_creates_parents_0755_and_the_dir_0700)
{
	char dir[256], parent[128];

	snprintf(parent, sizeof(parent), "%s/a/b", tmpdir);
	snprintf(dir, sizeof(dir), "%s/state", parent);
	cr_assert_eq(fs_statedir_make(dir), 0);
	cr_assert_eq(mode_of(dir), 0700);
	cr_assert_eq(mode_of(parent), 0755);
	cr_assert_eq(fs_statedir_make(dir), 0, "an existing directory is fine");
	cr_assert_eq(fs_statedir_make(""), -ENAMETOOLONG);
}

Test(statedir, secure_fixes_open_modes)
{
	char dir[128], f1[160], f2[160], f3[160], ln[160], target[160];

	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	snprintf(f1, sizeof(f1), "%s/journal-255-000000.fsj", dir);
	snprintf(f2, sizeof(f2), "%s/instance", dir);
	snprintf(f3, sizeof(f3), "%s/.hidden", dir);
	snprintf(ln, sizeof(ln), "%s/link", dir);
	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	make_file(f1, 0644);
	make_file(f2, 0444);
	make_file(f3, 0600);
	make_file(target, 0644);
	cr_assert_eq(symlink(target, ln), 0);
	cr_assert_eq(fs_statedir_secure(dir, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(mode_of(dir), 0700);
	cr_assert_eq(mode_of(f1), 0600);
	cr_assert_eq(mode_of(f2), 0600);
	cr_assert_eq(mode_of(f3), 0600);
	cr_assert_eq(mode_of(target), 0644, "a link's target is left alone");
}

Test(statedir, others_or_group_writable_refused_unchanged)
{
	char f[128];
	const unsigned modes[] = {0777, 0770, 0702, 01777};

	snprintf(f, sizeof(f), "%s/journal-000-000000.fsj", tmpdir);
	make_file(f, 0644);
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		cr_assert_eq(chmod(tmpdir, modes[i]), 0);
		why[0] = '\0';
		cr_assert_eq(
			fs_statedir_secure(tmpdir, why, sizeof(why)), -EPERM, "mode %o", modes[i]);
		cr_assert_not_null(strstr(why, tmpdir), "%s", why);
		cr_assert_null(strchr(why, '\n'), "one line");
		cr_assert_eq(mode_of(tmpdir), modes[i], "refused: nothing changed");
		cr_assert_eq(mode_of(f), 0644, "refused: nothing changed");
	}
}

Test(statedir, another_users_dir_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to chown");
	cr_assert_eq(chmod(tmpdir, 0700), 0);
	cr_assert_eq(chown(tmpdir, 65534, (gid_t)-1), 0);
	cr_assert_eq(fs_statedir_secure(tmpdir, why, sizeof(why)), -EPERM);
	cr_assert_not_null(strstr(why, "uid 65534"), "%s", why);
	cr_assert_eq(chown(tmpdir, 0, (gid_t)-1), 0);
}

Test(statedir, not_a_directory)
{
	char f[128];

	snprintf(f, sizeof(f), "%s/file", tmpdir);
	make_file(f, 0600);
	cr_assert_eq(fs_statedir_secure(f, why, sizeof(why)), -ENOTDIR);
	cr_assert_not_null(strstr(why, f), "%s", why);
	snprintf(f, sizeof(f), "%s/missing", tmpdir);
	cr_assert_eq(fs_statedir_secure(f, why, sizeof(why)), -ENOENT);
}
