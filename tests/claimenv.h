/* fs_claim's environment without EAL, for the unit tests and the fuzz target. */
#ifndef FS_TEST_CLAIMENV_H
#define FS_TEST_CLAIMENV_H

#include <stdint.h>

#include "claim.h"

/**
 * Worker @p w's environment on node @p node, as the dataplane's worker sets it up: its own
 * journal journals[w], every worker's journal (@p n of them) for the durability check, its
 * counters @p cnt, the clock at unix ms @p now_ms; no per-source limiter, nothing cached.
 */
static inline struct fs_claim_env fs_test_claim_env(uint16_t node, unsigned w,
	struct fs_journal *const *journals, unsigned n, uint64_t *cnt, int64_t now_ms)
{
	return (struct fs_claim_env){.node_id = node,
		.worker = (uint8_t)w,
		.journal = journals[w],
		.journals = journals,
		.n_journals = n,
		.now_ms = now_ms,
		.now_ns = (uint64_t)now_ms * 1000000ull,
		.cnt = cnt};
}

#endif
