/* The programs' --version line (flashsale-dp, flashsale-persist, flashctl, flashgen, flashclaim).
 */
#ifndef FS_COMMON_VERSION_H
#define FS_COMMON_VERSION_H

#include <stdbool.h>

/**
 * The project's version: meson.build's project() version ("0.1.0"), from the generated
 * fs_version.h. A constant string; thread safe.
 */
const char *fs_version(void);

/**
 * `git describe --always --dirty` of the tree the build came from, or fs_version() when the
 * source was no git checkout (meson's vcs_tag, regenerated at each build). Thread safe.
 */
const char *fs_version_vcs(void);

/**
 * Print "@p prog VERSION" (and " (git DESCRIBE)" when the git description says more than the
 * version) and a newline on stdout. Not thread safe (stdout).
 */
void fs_version_print(const char *prog);

/**
 * Whether @p argv[1..@p argc) holds the word "--version" anywhere (for flashsale-dp and flashgen:
 * among EAL's options or after "--"), so that a program answers it before anything else, EAL
 * initialisation included. Pure.
 */
bool fs_version_asked(int argc, char *const *argv);

#endif
