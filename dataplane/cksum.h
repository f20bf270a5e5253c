/* The Internet checksum (RFC 1071) for the claim path: 32-bit loads, deferred carries. */
#ifndef FS_CKSUM_H
#define FS_CKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/**
 * Add the 16-bit one's complement sum of @p len bytes at @p buf to @p sum (a partial sum from
 * fs_cksum_add, or 0). Words are read in host order, as rte_raw_cksum() reads them (the sum is
 * byte-order independent, RFC 1071 section 2(B)); an odd last byte is padded with a zero byte.
 * Method: RFC 1071 section 2(C), deferred carries: 32-bit words are added into a 64-bit
 * accumulator and folded once at the end (a 32-bit word is two 16-bit words modulo 0xffff);
 * the last 0 to 7 bytes are added as 16-bit words.
 * Same result as DPDK 22.11's __rte_raw_cksum() summed 16 bits at a time, in about a quarter of
 * the additions (tests/test_cksum.c compares the two).
 *
 * @param buf any alignment; @p len bytes readable.
 * @param len bytes, at most 2^32 (the accumulator cannot overflow below that).
 * @return the partial sum; fold it with fs_cksum_fold(). Thread safety: pure.
 */
static inline uint64_t fs_cksum_add(const void *buf, size_t len, uint64_t sum)
{
	const uint8_t *p = buf;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		sum += (v & 0xffffffffu) + (v >> 32);
	}
	for (; len >= 2; len -= 2, p += 2) { /* the 0 to 7 bytes left: at most three words */
		uint16_t v;

		memcpy(&v, p, sizeof(v));
		sum += v;
	}
	if (len == 1) {
		uint16_t v = 0;

		memcpy(&v, p, 1); /* the byte at the even offset, zero after it */
		sum += v;
	}
	return sum;
}

/**
 * Fold a partial sum from fs_cksum_add() to 16 bits (end-around carries).
 * @return the one's complement sum, 0..0xffff: 0xffff for a correct header or datagram whose
 * checksum field was included; its complement is the value to store in a checksum field.
 */
static inline uint16_t fs_cksum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

#endif
