/* CRC32C (Castagnoli), table-driven: the portable form of crc32c.h's fs_crc32c. */
#include "crc32c.h"

/*
 * The table of RFC 3720 appendix B.4 ("CRC32C table", reflected polynomial 0x82F63B78):
 * entry n is the register after shifting byte n through it, eight one-bit steps
 * (c >> 1) ^ (c & 1 ? 0x82F63B78 : 0). Computed here by the compiler, so no start-up code
 * and no copy of 256 constants to get wrong; tests/test_crc32c.c checks entries against the RFC.
 */
#define CRC32C_POLY 0x82f63b78u
#define CRC32C_BIT(c) (((c) >> 1) ^ (((c)&1u) ? CRC32C_POLY : 0u))
#define CRC32C_BYTE(c)                                                                             \
	CRC32C_BIT(CRC32C_BIT(                                                                     \
		CRC32C_BIT(CRC32C_BIT(CRC32C_BIT(CRC32C_BIT(CRC32C_BIT(CRC32C_BIT(c))))))))
#define CRC32C_R2(n) CRC32C_BYTE((n) + 0u), CRC32C_BYTE((n) + 1u)
#define CRC32C_R4(n) CRC32C_R2(n), CRC32C_R2((n) + 2u)
#define CRC32C_R8(n) CRC32C_R4(n), CRC32C_R4((n) + 4u)
#define CRC32C_R16(n) CRC32C_R8(n), CRC32C_R8((n) + 8u)
#define CRC32C_R32(n) CRC32C_R16(n), CRC32C_R16((n) + 16u)
#define CRC32C_R64(n) CRC32C_R32(n), CRC32C_R32((n) + 32u)
#define CRC32C_R128(n) CRC32C_R64(n), CRC32C_R64((n) + 64u)

const uint32_t fs_crc32c_table[256] = {CRC32C_R128(0u), CRC32C_R128(128u)};

uint32_t fs_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

	while (len-- > 0)
		c = fs_crc32c_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
	return ~c;
}
