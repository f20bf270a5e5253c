/* libfcp's retry policy: defaults and the backoff schedule (libfcp.h says where it comes from). */
#include "libfcp.h"

void fcp_opts_init(struct fcp_opts *o)
{
	*o = (struct fcp_opts){
		.timeout_ms = 300,
		.retries = 5,
		.backoff_base_ms = 50,
		.backoff_max_ms = 2000,
		.max_wait_ms = 10000,
		.flags = FCP_WAIT_NOT_STARTED | FCP_WAIT_RETRY,
	};
}

uint32_t fcp_backoff_ms(const struct fcp_opts *o, uint32_t n, uint64_t rnd)
{
	uint64_t b = o->backoff_base_ms, half;

	/* base * 2^n, capped: doubling stops once past the cap (at most 33 doublings) */
	while (n-- > 0 && b < o->backoff_max_ms)
		b <<= 1;
	if (b > o->backoff_max_ms)
		b = o->backoff_max_ms;
	half = (b + 1) / 2;
	return (uint32_t)(half + rnd % (b - half + 1));
}
