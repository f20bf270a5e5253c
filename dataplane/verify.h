/* FS_VERIFY: a check of an invariant that stays on in every build, for cold paths. */
#ifndef FS_VERIFY_H
#define FS_VERIFY_H

/**
 * Abort the process with "flashsale: FILE:LINE: invariant broken: COND" on stderr unless
 * @p cond holds: for what the code relies on and nothing checks otherwise (a probe that must
 * end, a count that must be in range), on cold paths only (start-up, control operations,
 * recovery), never per packet. Always on, like DPDK's RTE_VERIFY (and unlike assert(), which
 * NDEBUG removes), but without EAL: fs_core's unit tests and tools link it. Any thread.
 */
#define FS_VERIFY(cond)                                                                            \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			fs_verify_failed(__FILE__, __LINE__, #cond);                               \
	} while (0)

/** FS_VERIFY's failure: the message, then abort(). Not for direct use. */
void fs_verify_failed(const char *file, int line, const char *cond) __attribute__((noreturn, cold));

#endif
