/* Strict parsing of unsigned decimal numbers for command-line options and stored text. */
#ifndef FS_PARSE_H
#define FS_PARSE_H

#include <stdint.h>

/**
 * Parse @p s as an unsigned decimal in [@p min, @p max]: digits only (no sign, space, prefix or
 * trailing characters), no overflow.
 *
 * @param s   NUL-terminated text, may be NULL.
 * @param min smallest accepted value.
 * @param max largest accepted value.
 * @param out receives the value on success; untouched on error.
 * @return 0, or -EINVAL if @p s is NULL, empty, not all digits, out of range or overflows.
 * Thread safety: reentrant (uses only errno of the calling thread).
 */
int fs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
