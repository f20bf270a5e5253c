/* splitmix64: a 64-bit mixing function and the generator built on it. */
#ifndef FS_MIX_H
#define FS_MIX_H

#include <stdint.h>

/** splitmix64's increment: 2^64 divided by the golden ratio, made odd (Steele, Lea, Flood). */
#define FS_MIX_GAMMA 0x9e3779b97f4a7c15ull

/**
 * splitmix64's finaliser (G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014, with David Stafford's "Mix13" constants as in Java's
 * SplittableRandom and Vigna's splitmix64.c): two xor-shift-multiply rounds, a last xor-shift.
 * Every step is invertible mod 2^64, so the mix is a bijection, and every step maps 0 to 0.
 * @param x any 64-bit value.
 * @return a well-mixed 64-bit function of @p x: each input bit flips each output bit with
 * probability close to 1/2. Pure, thread safe.
 */
static inline uint64_t fs_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/**
 * One step of the splitmix64 generator (same paper; Vigna's splitmix64.c): the state advances by
 * FS_MIX_GAMMA and the output is fs_mix64() of the new state. Period 2^64, every state allowed
 * (0 too). Not for secrets: the state is recovered from one output.
 * @param state the generator's state, updated; the caller's own (not thread safe by itself).
 * @return the next 64-bit output.
 */
static inline uint64_t fs_splitmix64_next(uint64_t *state)
{
	*state += FS_MIX_GAMMA;
	return fs_mix64(*state);
}

#endif
