/* Strict unsigned decimal parsing shared by the dataplane, flashctl, flashclaim and persist. */
#include <errno.h>
#include <stdlib.h>

#include "parse.h"

int fs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}
