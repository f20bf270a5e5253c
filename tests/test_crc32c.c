/* Unit tests of crc32c.c: RFC 3720 B.4's vectors and table, and DPDK's rte_hash_crc's values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <rte_hash_crc.h>

#include "crc32c.h"
#include "journal.h"

/* What the journal computed before it had crc32c.c (journal.c, up to issue 10). */
static uint32_t dpdk_crc32c(uint32_t crc, const void *data, size_t len)
{
	return ~rte_hash_crc(data, (uint32_t)len, ~crc);
}

/* Both forms give @p want for @p len bytes at @p data, from 0 and continued at every split. */
static void check_vector(const uint8_t *data, size_t len, uint32_t want, const char *name)
{
	cr_assert_eq(fs_crc32c(0, data, len), want, "%s: fs_crc32c %08x, want %08x", name,
		fs_crc32c(0, data, len), want);
	cr_assert_eq(fs_crc32c_sw(0, data, len), want, "%s: fs_crc32c_sw %08x, want %08x", name,
		fs_crc32c_sw(0, data, len), want);
	for (size_t k = 0; k <= len; k++) {
		cr_assert_eq(fs_crc32c(fs_crc32c(0, data, k), data + k, len - k), want,
			"%s: split at %zu", name, k);
		cr_assert_eq(fs_crc32c_sw(fs_crc32c_sw(0, data, k), data + k, len - k), want,
			"%s: split at %zu (sw)", name, k);
	}
}

/* The CRC as RFC 3720 B.4 prints it: the four bytes in the order they are sent, LSB first. */
static uint32_t rfc_bytes(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	return (uint32_t)b0 | (uint32_t)b1 << 8 | (uint32_t)b2 << 16 | (uint32_t)b3 << 24;
}

Test(crc32c, rfc3720_b4_vectors)
{
	/* RFC 3720 B.4, "CRC Examples": an iSCSI SCSI Read (10) command PDU */
	static const uint8_t read10[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	check_vector(buf, 32, rfc_bytes(0xaa, 0x36, 0x91, 0x8a), "32 bytes of zeroes");
	memset(buf, 0xff, sizeof(buf));
	check_vector(buf, 32, rfc_bytes(0x43, 0xab, 0xa8, 0x62), "32 bytes of ones");
	for (unsigned i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	check_vector(buf, 32, rfc_bytes(0x4e, 0x79, 0xdd, 0x46), "32 incrementing bytes");
	for (unsigned i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	check_vector(buf, 32, rfc_bytes(0x5c, 0xdb, 0x3f, 0x11), "32 decrementing bytes");
	check_vector(read10, 48, rfc_bytes(0x56, 0x3a, 0x96, 0xd9), "iSCSI read PDU");
	/* the check value of CRC catalogues (CRC-32C/ISCSI), and nothing: 0 */
	check_vector((const uint8_t *)"123456789", 9, 0xe3069283u, "123456789");
	check_vector(buf, 0, 0, "empty");
}

Test(crc32c, rfc3720_b4_table)
{
	/* the first and last rows of RFC 3720 B.4's table */
	static const uint32_t head[8] = {0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f,
		0x35f1141c, 0x26a1e7e8, 0xd4ca64eb};
	static const uint32_t tail[8] = {0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e, 0xbe2da0a5,
		0x4c4623a6, 0x5f16d052, 0xad7d5351};

	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(fs_crc32c_table[i], head[i], "entry %u", i);
		cr_assert_eq(fs_crc32c_table[248 + i], tail[i], "entry %u", 248 + i);
	}
	/* every entry: byte n through eight one-bit steps */
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int b = 0; b < 8; b++)
			c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
		cr_assert_eq(fs_crc32c_table[n], c, "entry %u", n);
	}
}

/* Deterministic pseudo-random bytes (xorshift64). */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

Test(crc32c, same_as_rte_hash_crc_every_length_and_alignment)
{
	static uint8_t buf[4096 + 64];
	unsigned n = 0;

	fill(buf, sizeof(buf), 42);
	for (size_t align = 0; align < 16; align++) {
		for (size_t len = 0; len <= 300; len++) {
			const uint8_t *p = buf + align;
			uint32_t init = len % 3 == 0 ? 0 : (uint32_t)(len * 0x9e3779b9u + align);
			uint32_t want = dpdk_crc32c(init, p, len);

			cr_assert_eq(
				fs_crc32c(init, p, len), want, "len %zu align %zu", len, align);
			cr_assert_eq(fs_crc32c_sw(init, p, len), want, "len %zu align %zu (sw)",
				len, align);
			n++;
		}
		for (size_t len = 1000; len <= 4096; len += 1000 + align) {
			uint32_t want = dpdk_crc32c(0, buf + align, len);

			cr_assert_eq(fs_crc32c(0, buf + align, len), want);
			cr_assert_eq(fs_crc32c_sw(0, buf + align, len), want);
			n++;
		}
	}
	cr_log_info("%u lengths x alignments agree with rte_hash_crc", n);
}

Test(crc32c, journal_records_keep_their_crc)
{
	/* 100,000 random records: the sealed CRC is the one the journal wrote with rte_hash_crc */
	for (uint64_t i = 0; i < 100000; i++) {
		struct fs_jrec r;

		fill((uint8_t *)&r, sizeof(r), i * 2654435761u + 7);
		fs_jrec_seal(&r);
		cr_assert_eq(r.crc, dpdk_crc32c(0, (const uint8_t *)&r + 8, 56), "record %lu",
			(unsigned long)i);
		cr_assert(fs_jrec_valid(&r, 0));
	}
}
