/* The programs' --version line: meson's project version and the git description. */
#include "version.h"

#include <stdio.h>
#include <string.h>

#include "fs_vcs.h"
#include "fs_version.h"

const char *fs_version(void)
{
	return FS_VERSION;
}

const char *fs_version_vcs(void)
{
	return FS_VCS;
}

void fs_version_print(const char *prog)
{
	if (strcmp(FS_VCS, FS_VERSION) == 0 || FS_VCS[0] == '\0')
		printf("%s %s\n", prog, FS_VERSION);
	else
		printf("%s %s (git %s)\n", prog, FS_VERSION, FS_VCS);
}

bool fs_version_asked(int argc, char *const *argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--version") == 0)
			return true;
	return false;
}
