/* flashgen's output (report.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "fcp.h"
#include "histogram.h"
#include "report.h"

static double fg_seconds(const struct fg_ctx *g, uint64_t tsc)
{
	return (double)tsc / (double)g->hz;
}

void fg_progress(struct fg_ctx *g, uint64_t now)
{
	fprintf(stderr,
		"progress elapsed_ms=%" PRIu64 " sent=%" PRIu64 " replies=%" PRIu64 " won=%" PRIu64
		"\n",
		(now - g->t0) / g->tsc_per_ms, g->st.sent, g->st.replies, g->st.status[FS_ST_WON]);
}

void fg_report(struct fg_ctx *g)
{
	static const char *const names[FS_ST__COUNT] = {
#define FS_X(v, n, s) [v] = #n,
		FS_FCP_STATUSES(FS_X)
#undef FS_X
	};
	uint64_t total;
	double elapsed = 0;
	double q[4] = {0.5, 0.9, 0.99, 0.999};
	const char *qn[4] = {"p50_us", "p90_us", "p99_us", "p999_us"};

	total = fg_hist_total(&g->lat);
	if (g->first_send != 0 && g->last_reply > g->first_send)
		elapsed = fg_seconds(g, g->last_reply - g->first_send);
	printf("sent=%" PRIu64 "\n", g->st.sent);
	printf("replies=%" PRIu64 "\n", g->st.replies);
	printf("lost=%" PRIu64 "\n", g->st.lost);
	printf("claims_per_s=%.0f\n", elapsed > 0 ? (double)g->st.replies / elapsed : 0.0);
	printf("sends_per_s=%.0f\n",
		g->last_send > g->first_send
			? (double)g->st.sent / fg_seconds(g, g->last_send - g->first_send)
			: 0.0);
	for (int i = 0; i < 4; i++)
		printf("%s=%.1f\n", qn[i], (double)fg_hist_quantile(&g->lat, total, q[i]) / 1000.0);
	printf("max_us=%.1f\n", (double)g->lat.max_ns / 1000.0);
	printf("elapsed_s=%.6f\n", elapsed);
	for (unsigned s = 0; s < FS_ST__COUNT; s++) {
		char lower[32];
		size_t k;

		for (k = 0; names[s][k] != '\0' && k < sizeof(lower) - 1; k++)
			lower[k] = (char)tolower((unsigned char)names[s][k]);
		lower[k] = '\0';
		printf("%s=%" PRIu64 "\n", lower, g->st.status[s]);
	}
	printf("claims=%" PRIu64 "\n", g->o.users * g->o.claims);
	printf("reconnects=%" PRIu64 "\n", g->st.reconnects);
	printf("requeued=%" PRIu64 "\n", g->st.requeued);
	printf("finished=%" PRIu64 "\n", g->st.finished);
	printf("winners=%" PRIu64 "\n", g->st.winners);
	printf("unparsed=%" PRIu64 "\n", g->st.unparsed);
	printf("stale=%" PRIu64 "\n", g->st.stale);
	printf("tx_refused=%" PRIu64 "\n", g->st.tx_refused);
	printf("line_dropped=%" PRIu64 "\n", g->st.line_dropped);
	printf("offered_per_s=%.0f\n", g->line_last > g->line_t0
					       ? (double)(g->st.sent + g->st.line_dropped) /
							 fg_seconds(g, g->line_last - g->line_t0)
					       : 0.0);
	printf("mix_repeat=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_REPEAT]);
	printf("mix_badtoken=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_BADTOKEN]);
	printf("mix_malformed=%" PRIu64 "\n", g->st.mix_sent[FG_MIX_MALFORMED]);
	printf("complete=%d\n",
		g->o.no_reply ? g->flood_next == g->flood_total : g->users_done == g->o.users);
	fflush(stdout);
}
