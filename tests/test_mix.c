/* Unit tests of mix.h: splitmix64 against the reference generator's published outputs. */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "mix.h"

/* The first five outputs of Vigna's splitmix64.c seeded with 1234567 (also Rosetta Code's
 * "Pseudo-random numbers/Splitmix64" task). */
Test(mix, generator_matches_reference_outputs)
{
	static const uint64_t want[] = {6457827717110365317ull, 3203168211198807973ull,
		9817491932198370423ull, 4593380528125082431ull, 16408922859458223821ull};
	uint64_t state = 1234567;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(fs_splitmix64_next(&state), want[i], "output %zu", i);
	cr_assert_eq(state, 1234567 + 5 * FS_MIX_GAMMA, "the state advances by the gamma");
}

/* Seeded with 0 the first output is the finaliser of the gamma: 0xe220a8397b1dcdaf. */
Test(mix, finaliser_is_the_generators_output_step)
{
	uint64_t state = 0;

	cr_assert_eq(fs_mix64(FS_MIX_GAMMA), 0xe220a8397b1dcdafull);
	cr_assert_eq(fs_splitmix64_next(&state), 0xe220a8397b1dcdafull);
	cr_assert_eq(fs_mix64(0), 0, "every step maps 0 to 0");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A bijection: 2^16 consecutive inputs give 2^16 different outputs, neighbours ~32 bits apart. */
Test(mix, finaliser_spreads_neighbouring_inputs)
{
	static uint64_t out[1 << 16];
	uint64_t flips = 0;

	for (uint64_t x = 0; x < (1 << 16); x++) {
		out[x] = fs_mix64(x);
		if (x > 0)
			flips += (uint64_t)__builtin_popcountll(out[x] ^ out[x - 1]);
	}
	/* mean bit flips per step: 32 for a random function; 31..33 over 65535 steps */
	cr_assert_gt(flips, 31ull * 65535);
	cr_assert_lt(flips, 33ull * 65535);
	qsort(out, 1 << 16, sizeof(out[0]), cmp_u64);
	for (size_t i = 1; i < (1 << 16); i++)
		cr_assert_neq(out[i], out[i - 1]);
}
