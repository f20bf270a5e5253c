/* Strict parsing of numbers and hex keys for command-line options and stored text. */
#ifndef FS_PARSE_H
#define FS_PARSE_H

#include <stddef.h>
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

/**
 * Parse @p s as a signed decimal in [@p min, @p max]: an optional '-' then digits only (no '+',
 * space, prefix or trailing characters), no overflow.
 *
 * @param s   NUL-terminated text, may be NULL.
 * @param min smallest accepted value.
 * @param max largest accepted value.
 * @param out receives the value on success; untouched on error.
 * @return 0, or -EINVAL if @p s is NULL, empty, not a decimal, out of range or overflows.
 * Thread safety: reentrant (uses only errno of the calling thread).
 */
int fs_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/**
 * Parse exactly 2 x @p n hexadecimal digits (either case, nothing before or after) into @p n
 * bytes, first digit pair first: a 16-byte token key is 32 digits. Decoded with libsodium's
 * sodium_hex2bin(), which takes the same time whatever the digits (keys are secrets).
 *
 * @param s   NUL-terminated text, may be NULL.
 * @param out receives @p n bytes on success; untouched on error.
 * @param n   bytes wanted.
 * @return 0, or -EINVAL if @p s is NULL, of another length, or holds a non-hex character.
 * Thread safety: reentrant.
 */
int fs_parse_hex(const char *s, uint8_t *out, size_t n);

/**
 * Parse a 64-bit id as a user types it: a decimal as fs_parse_u64 takes it (0..2^64-1), or
 * "0x" (or "0X") and 1 to 16 hex digits of either case (order ids, request ids: flashctl order,
 * flashclaim).
 *
 * @param s   NUL-terminated text, may be NULL.
 * @param out receives the value on success; untouched on error.
 * @return 0, or -EINVAL (NULL, empty, junk, a sign, more than 16 hex digits, overflow).
 * Thread safety: reentrant.
 */
int fs_parse_id64(const char *s, uint64_t *out);

#endif
