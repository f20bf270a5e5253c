/* FS_VERIFY's failure (verify.h). */
#include <stdio.h>
#include <stdlib.h>

#include "verify.h"

void fs_verify_failed(const char *file, int line, const char *cond)
{
	fprintf(stderr, "flashsale: %s:%d: invariant broken: %s\n", file, line, cond);
	fflush(stderr);
	abort();
}
