/* The hugepage files of a stopping flashsale-dp removed (hugefiles.h). */
#include "hugefiles.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC_ 0x958458f6 /* linux/magic.h's HUGETLBFS_MAGIC */

/* Whether @p path is a file of @p prefix's ("PREFIXmap_...") on a hugetlbfs mount. */
static bool is_our_hugefile(const char *path, const char *prefix)
{
	const char *base = strrchr(path, '/');
	size_t n = strlen(prefix);
	struct statfs sf;

	if (base == NULL)
		return false;
	base++;
	if (strncmp(base, prefix, n) != 0 || strncmp(base + n, "map_", 4) != 0)
		return false;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC_;
}

int fs_hugefiles_unlink(const char *prefix)
{
	char line[4096 + 256], last[4096] = "";
	FILE *f = fopen("/proc/self/maps", "re");
	int removed = 0;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *path = strchr(line, '/');
		size_t len;

		if (path == NULL)
			continue;
		len = strcspn(path, "\n");
		path[len] = '\0';
		/* a file maps as many ranges; " (deleted)" once unlinked */
		if (strcmp(path, last) == 0 || len >= sizeof(last) || strstr(path, " (deleted)"))
			continue;
		memcpy(last, path, len + 1);
		if (is_our_hugefile(path, prefix) && unlink(path) == 0)
			removed++;
	}
	fclose(f);
	return removed;
}
