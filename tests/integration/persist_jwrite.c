/* persist_jwrite: appends test records to a state directory's journals (persist tests). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"

/*
 * persist_jwrite DIR sale SALE STOCK START_MS END_MS [NODE]    control journal: SALE record
 * persist_jwrite DIR stop SALE [NODE]                          control journal: STOP record
 * persist_jwrite DIR lease SALE UNITS [NODE]                   control journal: LEASE record
 * persist_jwrite DIR hold SALE HOLD_MS [NODE]                  control journal: HOLD record
 * persist_jwrite DIR release SALE ORDER USER [NODE]            control journal: RELEASE record
 * persist_jwrite DIR orders JOURNAL SALE COUNT USER_BASE [REPEAT [NODE]]
 *     COUNT ORDER records for users USER_BASE.. (wrapping at 2^64), each appended REPEAT times
 *     in a row (REPEAT 2: the same order twice, as a re-read would give), order id
 *     2^63 | JOURNAL << 40 | (USER_BASE + i) % 2^40 (top bit set: checks the u64-as-bigint cast).
 * Prints the journal's next seq. Exit 0, 1 on a journal error, 2 on bad usage.
 */

static uint64_t jw_num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || end == s) {
		fprintf(stderr, "persist_jwrite: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static uint64_t jw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int jw_append(struct fs_journal *j, struct fs_jrec *r)
{
	int rc = fs_journal_append(j, r);

	if (rc < 0)
		fprintf(stderr, "persist_jwrite: append: %s\n", strerror(-rc));
	return rc;
}

/* The control records: "CMD SALE ARG... [NODE]", @p args arguments after SALE. */
static const struct {
	const char *name;
	uint8_t type;
	int args;
} jw_controls[] = {
	{"sale", FS_JREC_SALE, 3},
	{"stop", FS_JREC_STOP, 0},
	{"lease", FS_JREC_LEASE, 1},
	{"hold", FS_JREC_HOLD, 1},
	{"release", FS_JREC_RELEASE, 2},
};

/* argv[2] a control command with its argument count: its record in @p r; -1 otherwise. */
static int jw_control(int argc, char **argv, struct fs_jrec *r)
{
	unsigned i;
	int n;

	for (i = 0; i < sizeof(jw_controls) / sizeof(jw_controls[0]); i++)
		if (strcmp(argv[2], jw_controls[i].name) == 0)
			break;
	if (i == sizeof(jw_controls) / sizeof(jw_controls[0]))
		return -1;
	n = 4 + jw_controls[i].args; /* argc without NODE */
	if (argc != n && argc != n + 1)
		return -1;
	r->type = jw_controls[i].type;
	r->sale_id = (uint32_t)jw_num(argv[3]);
	if (argc == n + 1)
		r->node_id = (uint16_t)jw_num(argv[n]);
	if (r->type == FS_JREC_SALE) {
		r->body.sale.stock = jw_num(argv[4]);
		r->body.sale.start_ms = (int64_t)jw_num(argv[5]);
		r->body.sale.end_ms = (int64_t)jw_num(argv[6]);
	} else if (r->type == FS_JREC_LEASE) {
		r->body.lease.units = jw_num(argv[4]);
	} else if (r->type == FS_JREC_HOLD) {
		r->body.hold.hold_ms = (uint32_t)jw_num(argv[4]);
	} else if (r->type == FS_JREC_RELEASE) {
		r->body.release.order_id = jw_num(argv[4]);
		r->body.release.user_id = jw_num(argv[5]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fs_journal *j;
	struct fs_jrec r;
	unsigned index = FS_JOURNAL_CONTROL;
	const char *cmd;
	int rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: persist_jwrite DIR sale|stop|lease|hold|release|orders ...\n");
		return 2;
	}
	cmd = argv[2];
	memset(&r, 0, sizeof(r));
	r.node_id = 1;
	if (jw_control(argc, argv, &r) < 0) {
		if (strcmp(cmd, "orders") != 0 || argc < 7 || argc > 9) {
			fprintf(stderr, "persist_jwrite: bad command or argument count\n");
			return 2;
		}
		index = (unsigned)jw_num(argv[3]);
		if (index >= FS_JOURNAL_CONTROL) {
			fprintf(stderr, "persist_jwrite: worker journal 0..254\n");
			return 2;
		}
		r.type = FS_JREC_ORDER;
		r.sale_id = (uint32_t)jw_num(argv[4]);
		if (argc == 9)
			r.node_id = (uint16_t)jw_num(argv[8]);
	}

	j = fs_journal_open(argv[1], index);
	if (j == NULL) {
		fprintf(stderr, "persist_jwrite: open %s journal %u: %s\n", argv[1], index,
			strerror(errno));
		return 1;
	}
	if (r.type == FS_JREC_ORDER) {
		uint64_t count = jw_num(argv[5]), base = jw_num(argv[6]);
		uint64_t repeat = argc >= 8 ? jw_num(argv[7]) : 1, i, k;

		for (i = 0; i < count && rc == 0; i++) {
			struct fs_jrec o = r;

			o.time_ns = jw_now_ns();
			o.body.order.user_id = base + i;
			o.body.order.order_id = (1ull << 63) | ((uint64_t)index << 40) |
						((base + i) & ((1ull << 40) - 1));
			o.body.order.request_id = i;
			for (k = 0; k < repeat && rc == 0; k++) {
				struct fs_jrec c = o;

				rc = jw_append(j, &c);
			}
		}
	} else {
		r.time_ns = jw_now_ns();
		rc = jw_append(j, &r);
	}
	if (rc == 0)
		rc = fs_journal_sync(j);
	printf("%" PRIu64 "\n", fs_journal_next_seq(j));
	fs_journal_close(j);
	return rc == 0 ? 0 : 1;
}
