/* Unit tests of cksum.h against DPDK's reference (rte_raw_cksum, rte_ipv4_udptcp_cksum). */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "cksum.h"

/* Deterministic bytes (xorshift64), so a failure names a reproducible input. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t next_byte(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

Test(cksum, same_as_rte_raw_cksum_every_length_and_alignment)
{
	uint8_t buf[300];

	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = round == 0 ? 0xff : round == 1 ? 0 : next_byte();
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len + off <= 290; len++)
				cr_assert_eq(fs_cksum_fold(fs_cksum_add(buf + off, len, 0)),
					rte_raw_cksum(buf + off, len),
					"round %d off %zu len %zu", round, off, len);
	}
}

Test(cksum, partial_sums_chain_like_one_buffer)
{
	uint8_t buf[128];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = next_byte();
	/* split at even offsets: the 16-bit words keep their boundaries */
	for (size_t cut = 0; cut <= sizeof(buf); cut += 2)
		cr_assert_eq(fs_cksum_fold(fs_cksum_add(buf + cut, sizeof(buf) - cut,
				     fs_cksum_add(buf, cut, 0))),
			rte_raw_cksum(buf, sizeof(buf)), "cut %zu", cut);
}

Test(cksum, fold_of_large_sums)
{
	/* 2^32 - 1 words of 0xffff would be the worst case; a few huge partial sums suffice */
	const uint64_t sums[] = {0, 1, 0xffff, 0x10000, 0xffffffffull, 0x100000000ull,
		0xfffffffffull, UINT64_MAX >> 1};

	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++) {
		uint16_t f = fs_cksum_fold(sums[i]);

		/* congruent modulo 0xffff, and 0 only for a sum of 0 */
		cr_assert_eq(f % 0xffff, sums[i] % 0xffff, "sum %#llx", (unsigned long long)sums[i]);
		cr_assert_eq(f == 0, sums[i] == 0, "sum %#llx", (unsigned long long)sums[i]);
	}
}

Test(cksum, udp_datagram_as_rte_ipv4_udptcp_cksum)
{
	struct {
		struct rte_ipv4_hdr ip;
		struct rte_udp_hdr udp;
		uint8_t payload[48];
	} __attribute__((packed)) f;

	for (int round = 0; round < 1000; round++) {
		uint8_t *b = (uint8_t *)&f;
		uint16_t want, got;
		uint64_t psd;

		for (size_t i = 0; i < sizeof(f); i++)
			b[i] = next_byte();
		f.ip.version_ihl = 0x45;
		f.ip.next_proto_id = IPPROTO_UDP;
		f.ip.total_length = rte_cpu_to_be_16(sizeof(f));
		f.udp.dgram_len = rte_cpu_to_be_16(sizeof(f.udp) + sizeof(f.payload));
		f.udp.dgram_cksum = 0;
		want = rte_ipv4_udptcp_cksum(&f.ip, &f.udp);
		psd = (uint64_t)f.ip.src_addr + f.ip.dst_addr + rte_cpu_to_be_16(IPPROTO_UDP) +
		      f.udp.dgram_len;
		got = (uint16_t)~fs_cksum_fold(fs_cksum_add(&f.udp, 56, psd));
		if (got == 0)
			got = 0xffff;
		cr_assert_eq(got, want, "round %d", round);
		/* and the stored checksum verifies: the sum over everything is 0xffff */
		f.udp.dgram_cksum = got;
		cr_assert_eq(fs_cksum_fold(fs_cksum_add(&f.udp, 56, psd)), 0xffff, "round %d", round);
	}
}
