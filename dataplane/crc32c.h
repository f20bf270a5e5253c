/* CRC32C (Castagnoli): the journal records' checksum, without DPDK's rte_hash_crc (and its EAL). */
#ifndef FS_CRC32C_H
#define FS_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * CRC32C as iSCSI defines it (RFC 3720 section 12.1 and appendix B.4): the Castagnoli
 * polynomial 0x1EDC6F41, bits reflected (0x82F63B78 in the shift-right form), register
 * initialised to all ones, result inverted; its test vectors are in tests/test_crc32c.c. This
 * is the CRC that x86's SSE4.2 `crc32` instruction computes one step of, and the value the
 * journal wrote as ~rte_hash_crc(data, len, 0xffffffff) before it had its own.
 *
 * Both functions continue a CRC: pass 0 to start, and the result of the bytes before to go on
 * (fs_crc32c(fs_crc32c(0, a, n), a + n, m) == fs_crc32c(0, a, n + m)).
 */

/**
 * RFC 3720 B.4's table: entry n is byte n shifted through the register (reflected polynomial
 * 0x82F63B78), computed by the compiler (crc32c.c). Read only.
 */
extern const uint32_t fs_crc32c_table[256];

/**
 * CRC32C of @p len bytes at @p data (any alignment), continuing @p crc (0 to start), one byte
 * per step through fs_crc32c_table. The portable form, for CPUs without SSE4.2, and the
 * reference the fast form is tested against. Thread safe.
 */
uint32_t fs_crc32c_sw(uint32_t crc, const void *data, size_t len);

/**
 * CRC32C of @p len bytes at @p data (any alignment), continuing @p crc (0 to start): SSE4.2's
 * crc32 instruction through the compiler's builtins, 8 bytes per step, when the build targets
 * a CPU that has it (-march=native on any x86-64 made since 2008; __SSE4_2__ defined), else
 * fs_crc32c_sw(). Same result either way. Thread safe; inline, no call: a 56-byte journal
 * record costs 7 crc32 instructions (~21 cycles of latency).
 */
static inline uint32_t fs_crc32c(uint32_t crc, const void *data, size_t len)
{
#ifdef __SSE4_2__
	const uint8_t *p = data;
	uint64_t c = ~crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8); /* one unaligned load */
		c = __builtin_ia32_crc32di(c, w);
	}
	if (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		c = __builtin_ia32_crc32si((uint32_t)c, w);
		p += 4;
		len -= 4;
	}
	for (; len > 0; p++, len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p);
	return ~(uint32_t)c;
#else
	return fs_crc32c_sw(crc, data, len);
#endif
}

#endif
