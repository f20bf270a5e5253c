/* The hugepage files of a stopping flashsale-dp removed, so that its memory returns to the system.
 */
#ifndef FS_HUGEFILES_H
#define FS_HUGEFILES_H

/**
 * Unlink every hugepage file this process has mapped whose name is "@p prefix" "map_..." (EAL's
 * names for the --file-prefix @p prefix: "rtemap_0", "fsdpmap_3"), found in /proc/self/maps on a
 * hugetlbfs mount (statfs magic HUGETLBFS_MAGIC, linux/magic.h). The mappings stay valid until
 * the process exits; the pages return to the system then (a secondary process that still has
 * them mapped, dpdk-dumpcap, keeps them until it exits). Call once, at the orderly stop, after
 * the workers stopped. Returns the number of files removed, or -errno (reading /proc/self/maps).
 * Not thread safe (one caller).
 */
int fs_hugefiles_unlink(const char *prefix);

#endif
