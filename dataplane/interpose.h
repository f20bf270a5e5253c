/* Is a libc function this program defines in effect for the shared libraries it loads? */
#ifndef FS_INTERPOSE_H
#define FS_INTERPOSE_H

#include <dlfcn.h>
#include <stdbool.h>

/**
 * Check that a call to @p sym made by a shared library (DPDK's libraries, a PMD loaded as a
 * plugin) reaches @p ours, this program's definition of it, rather than libc's. A library calls
 * through its PLT, which the dynamic linker binds to the first definition in the global scope:
 * the executable's, if the executable exports the symbol (meson: link_args
 * '-Wl,--export-dynamic-symbol=NAME'). dlsym(RTLD_DEFAULT) searches that same scope, so it
 * returns @p ours exactly when the libraries' calls do reach it. Functions interposed this way:
 * munmap (unmap_guard.c, flashsale-dp and flashgen) and strtok (strtok.c, flashsale-dp).
 * @param sym  the function's name, e.g. "munmap".
 * @param ours the program's definition (its address, e.g. (void *)munmap).
 * @return true if interposed. Thread safe (dlsym); start-up only.
 */
static inline bool fs_interposed(const char *sym, const void *ours)
{
	return dlsym(RTLD_DEFAULT, sym) == ours;
}

#endif
