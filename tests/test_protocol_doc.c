/*
 * docs/PROTOCOL.md against the code: its layout tables, status values, test vectors and worked
 * example must be what the codec (fcp.h) and the claim path (claim.h) do, so the document and
 * the code cannot drift apart. The document's directory comes from the environment (FS_DOCS,
 * set by tests/meson.build).
 */
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "claim.h"
#include "fcp.h"

#define DOC_MAX_LINES 4096u
#define DOC_COLS 4u
#define DOC_CELL 192u
#define DOC_ROWS 32u
#define DOC_EXAMPLES 8u

static char *doc_text;
static char *doc_line[DOC_MAX_LINES];
static size_t doc_n;

static void doc_load(void)
{
	const char *dir = getenv("FS_DOCS");
	char path[4096];
	FILE *f;
	long len;

	cr_assert_not_null(dir, "FS_DOCS (the docs/ directory) is not set: run through meson test");
	snprintf(path, sizeof(path), "%s/PROTOCOL.md", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	cr_assert_gt(len, 0);
	rewind(f);
	doc_text = calloc(1, (size_t)len + 1);
	cr_assert_not_null(doc_text);
	cr_assert_eq(fread(doc_text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	doc_n = 0;
	for (char *p = doc_text; *p != '\0' && doc_n < DOC_MAX_LINES;) {
		char *nl = strchr(p, '\n');

		doc_line[doc_n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
}

static void doc_free(void)
{
	free(doc_text);
	doc_text = NULL;
	doc_n = 0;
}

TestSuite(protocol_doc, .init = doc_load, .fini = doc_free);

/* Index of the first line at or after @p from that equals @p text (or starts with it). */
static size_t doc_find(const char *text, size_t from, bool prefix)
{
	for (size_t i = from; i < doc_n; i++)
		if (prefix ? strncmp(doc_line[i], text, strlen(text)) == 0
			   : strcmp(doc_line[i], text) == 0)
			return i;
	cr_assert_fail("PROTOCOL.md has no line %s\"%s\" after line %zu", prefix ? "starting " : "",
		text, from + 1);
	return doc_n;
}

/* Index of the next heading of level 2 ("## ") after @p from, or doc_n. */
static size_t doc_section_end(size_t from)
{
	for (size_t i = from + 1; i < doc_n; i++)
		if (strncmp(doc_line[i], "## ", 3) == 0)
			return i;
	return doc_n;
}

/* A markdown table: the cells of its body rows, spaces and backticks trimmed. */
struct doc_table {
	size_t rows;
	size_t line[DOC_ROWS]; /* line index of each row, for messages */
	char cell[DOC_ROWS][DOC_COLS][DOC_CELL];
	size_t end; /* first line after the table */
};

static void split_row(const char *line, char cells[DOC_COLS][DOC_CELL])
{
	const char *p = line + 1; /* past the leading '|' */

	for (unsigned c = 0; c < DOC_COLS; c++) {
		const char *bar = strchr(p, '|');
		size_t len;

		cells[c][0] = '\0';
		if (bar == NULL)
			return;
		while (p < bar && (*p == ' ' || *p == '`'))
			p++;
		len = (size_t)(bar - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '`'))
			len--;
		if (len >= DOC_CELL)
			len = DOC_CELL - 1;
		memcpy(cells[c], p, len);
		cells[c][len] = '\0';
		p = bar + 1;
	}
}

/* The first table with header line @p header in lines [from, to); t->rows 0 if there is none. */
static void doc_table(const char *header, size_t from, size_t to, struct doc_table *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = from; i < to && strcmp(doc_line[i], header) != 0; i++)
		;
	t->end = i;
	if (i >= to)
		return;
	cr_assert(i + 1 < doc_n && strncmp(doc_line[i + 1], "|---", 4) == 0,
		"line %zu: table without a separator row", i + 2);
	for (i += 2; i < doc_n && doc_line[i][0] == '|'; i++) {
		cr_assert_lt(t->rows, DOC_ROWS, "line %zu: table too long", i + 1);
		t->line[t->rows] = i;
		split_row(doc_line[i], t->cell[t->rows++]);
	}
	t->end = i;
}

/* Parse @p n bytes of hex (pairs, optionally separated by single spaces); false if malformed. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (i > 0 && *s == ' ')
			s++;
		if (sscanf(s, "%2x", &v) != 1 || s[0] == ' ' || s[1] == ' ' || s[1] == '\0')
			return false;
		out[i] = (uint8_t)v;
		s += 2;
	}
	return *s == '\0';
}

/* A number as the document writes it: decimal, 0x hex, or 2^N-1; trailing text ignored. */
static uint64_t doc_number(const char *s, size_t line)
{
	char *end;
	unsigned long long v;
	unsigned bits;

	if (sscanf(s, "2^%u-1", &bits) == 1 && bits >= 1 && bits <= 64)
		return bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
	errno = 0;
	v = strtoull(s, &end, 0);
	cr_assert(end != s && errno == 0, "line %zu: \"%s\" is not a number", line + 1, s);
	return v;
}

static uint64_t be_read(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* One field of a message as the codec encodes it: name and value (token: compared as bytes). */
struct field {
	const char *name;
	uint64_t value;
};

/*
 * Check the layout table (offset | size | field | notes) of section @p section against @p enc,
 * the 48 bytes the codec wrote for a message whose fields are @p f (every value with a non-zero
 * top byte where the field allows it, so a wrong offset or size reads a different number).
 */
static void check_layout(const char *section, const uint8_t enc[FS_FCP_LEN], const struct field *f,
	size_t nf, const uint8_t token[FS_FCP_TOKEN_LEN])
{
	size_t sec = doc_find(section, 0, false), seen = 0;
	bool done[16] = {false};
	struct doc_table t;
	unsigned off = 0;

	doc_table("| offset | size | field | notes |", sec, doc_section_end(sec), &t);
	cr_assert_gt(t.rows, 0, "%s: no layout table", section);
	for (size_t r = 0; r < t.rows; r++) {
		size_t ln = t.line[r], k;
		unsigned o = (unsigned)doc_number(t.cell[r][0], ln);
		unsigned n = (unsigned)doc_number(t.cell[r][1], ln);
		const char *name = t.cell[r][2];

		cr_assert_eq(o, off, "line %zu: %s at offset %u, the field before ends at %u",
			ln + 1, name, o, off);
		cr_assert(n >= 1 && o + n <= FS_FCP_LEN, "line %zu: size %u", ln + 1, n);
		for (k = 0; k < nf && strcmp(f[k].name, name) != 0; k++)
			;
		cr_assert(
			k < nf && !done[k], "line %zu: unknown or repeated field %s", ln + 1, name);
		done[k] = true;
		seen++;
		if (token != NULL && strcmp(name, "token") == 0) {
			cr_assert_eq(n, FS_FCP_TOKEN_LEN, "line %zu", ln + 1);
			cr_assert_arr_eq(enc + o, token, n, "line %zu: token bytes", ln + 1);
		} else {
			cr_assert_leq(n, 8u, "line %zu", ln + 1);
			cr_assert_eq(be_read(enc + o, n), f[k].value,
				"line %zu: %s at offset %u size %u reads %#llx, the codec wrote "
				"%#llx",
				ln + 1, name, o, n, (unsigned long long)be_read(enc + o, n),
				(unsigned long long)f[k].value);
		}
		off = o + n;
	}
	cr_assert_eq(off, FS_FCP_LEN, "%s: the fields end at %u, not 48", section, off);
	cr_assert_eq(seen, nf, "%s: %zu of %zu fields documented", section, seen, nf);
}

Test(protocol_doc, request_layout_is_the_codecs)
{
	struct fs_fcp_req q = {.type = FS_FCP_SALE_STATUS,
		.sale_id = 0x11223344u,
		.user_id = 0x5566778899aabbccull,
		.token_expiry = 0xddeeff01u,
		.node_id = 0x0203,
		.flags = 0x0405,
		.request_id = 0x2122232425262728ull};
	const struct field f[] = {{"magic", FS_FCP_MAGIC}, {"version", FS_FCP_VERSION},
		{"type", q.type}, {"sale_id", q.sale_id}, {"user_id", q.user_id},
		{"token_expiry", q.token_expiry}, {"node_id", q.node_id}, {"flags", q.flags},
		{"token", 0}, {"request_id", q.request_id}};
	uint8_t enc[FS_FCP_LEN];

	for (unsigned i = 0; i < FS_FCP_TOKEN_LEN; i++)
		q.token[i] = (uint8_t)(0xa0 + i);
	fs_fcp_encode_req(&q, enc);
	check_layout("## Request (client to server)", enc, f, sizeof(f) / sizeof(f[0]), q.token);
}

Test(protocol_doc, reply_layout_is_the_codecs)
{
	const struct fs_fcp_reply p = {.type = FS_FCP_SALE_STATUS_RESULT,
		.sale_id = 0x11223344u,
		.user_id = 0x5566778899aabbccull,
		.status = FS_ST_ACTIVE,
		.node_id = 0x0203,
		.retry_after_ms = 0x31323334u,
		.order_id = 0x4142434445464748ull,
		.remaining = 0x51525354u,
		.hold_left_ms = 0x61626364u,
		.request_id = 0x2122232425262728ull};
	/* reserved: the codec writes zero */
	const struct field f[] = {{"magic", FS_FCP_MAGIC}, {"version", FS_FCP_VERSION},
		{"type", p.type}, {"sale_id", p.sale_id}, {"user_id", p.user_id},
		{"status", p.status}, {"reserved", 0}, {"node_id", p.node_id},
		{"retry_after_ms", p.retry_after_ms}, {"order_id", p.order_id},
		{"remaining", p.remaining}, {"hold_left_ms", p.hold_left_ms},
		{"request_id", p.request_id}};
	uint8_t enc[FS_FCP_LEN];

	fs_fcp_encode_reply(&p, enc);
	check_layout("## Reply (server to client)", enc, f, sizeof(f) / sizeof(f[0]), NULL);
}

/*
 * Status values 0.. in order, named as fs_fcp_status_name() names them; values the code does not
 * have yet must say "revision 2"; the line after the table reserves the values past the last.
 */
Test(protocol_doc, status_codes_are_the_codecs)
{
	size_t sec = doc_find("## Status codes", 0, false);
	char want[64];
	struct doc_table t;

	doc_table("| value | name | meaning |", sec, doc_section_end(sec), &t);
	cr_assert_geq(t.rows, (size_t)FS_ST__COUNT, "%zu status rows, the code has %d", t.rows,
		FS_ST__COUNT);
	for (size_t r = 0; r < t.rows; r++) {
		size_t ln = t.line[r];

		cr_assert_eq(
			doc_number(t.cell[r][0], ln), r, "line %zu: values not in order", ln + 1);
		if (r < FS_ST__COUNT) {
			cr_assert_str_eq(
				t.cell[r][1], fs_fcp_status_name((unsigned)r), "line %zu", ln + 1);
			cr_assert_eq(fs_fcp_status_from_name(t.cell[r][1]), (int)r);
		} else {
			cr_assert(strncmp(t.cell[r][2], "revision 2", 10) == 0,
				"line %zu: status %zu is not in the code and not marked revision 2",
				ln + 1, r);
		}
	}
	cr_assert_str_eq(t.cell[FS_ST_ACTIVE][1], "ACTIVE");
	cr_assert(t.rows > 10 && strcmp(t.cell[10][1], "RELEASED") == 0, "10 is RELEASED");
	snprintf(want, sizeof(want), "Values %zu and above are reserved.", t.rows);
	doc_find(want, t.end, false);
}

/* The first `HEX` of exactly @p n bytes in lines [from, to), into @p out. */
static void doc_hex_token(size_t from, size_t to, uint8_t *out, size_t n)
{
	for (size_t i = from; i < to; i++) {
		for (const char *p = strchr(doc_line[i], '`'); p != NULL; p = strchr(p + 1, '`')) {
			const char *q = strchr(p + 1, '`');
			char hex[2 * 64 + 1];

			if (q == NULL)
				break;
			if ((size_t)(q - p - 1) != 2 * n || 2 * n >= sizeof(hex))
				continue;
			memcpy(hex, p + 1, 2 * n);
			hex[2 * n] = '\0';
			if (strspn(hex, "0123456789abcdef") == 2 * n && unhex(hex, out, n))
				return;
		}
	}
	cr_assert_fail("no %zu-byte hex in backticks in lines %zu..%zu", n, from + 1, to);
}

/* One test vector: its description line and its hex line (line index @p ln of the hex). */
static void check_vector(
	const uint8_t key[FS_FCP_TOKEN_LEN], const char *desc, const char *hex, size_t ln)
{
	char s[5][64];
	uint8_t buf[FS_FCP_LEN], tok[FS_FCP_TOKEN_LEN], again[FS_FCP_LEN];
	struct fs_fcp_req q;

	cr_assert_eq(sscanf(desc,
			     "sale %63[^,], user %63[^,], expiry %63[^,], node %63[^,], "
			     "request_id %63s",
			     s[0], s[1], s[2], s[3], s[4]),
		5, "line %zu: not a vector description: %s", ln, desc);
	cr_assert(strlen(hex) == 2 * FS_FCP_LEN && unhex(hex, buf, FS_FCP_LEN),
		"line %zu: not 48 bytes of hex", ln + 1);
	cr_assert_eq(fs_fcp_parse(buf, sizeof(buf), &q), FS_FCP_OK, "line %zu", ln + 1);
	cr_expect_eq(q.type, FS_FCP_CLAIM, "line %zu", ln + 1);
	cr_expect_eq(q.sale_id, doc_number(s[0], ln - 1), "line %zu: sale_id", ln + 1);
	cr_expect_eq(q.user_id, doc_number(s[1], ln - 1), "line %zu: user_id", ln + 1);
	cr_expect_eq(q.token_expiry, doc_number(s[2], ln - 1), "line %zu: expiry", ln + 1);
	cr_expect_eq(q.node_id, doc_number(s[3], ln - 1), "line %zu: node_id", ln + 1);
	cr_expect_eq(q.request_id, doc_number(s[4], ln - 1), "line %zu: request_id", ln + 1);
	cr_expect_eq(q.flags, 0, "line %zu", ln + 1);
	fs_fcp_token(key, buf, tok);
	cr_expect_arr_eq(tok, buf + 24, FS_FCP_TOKEN_LEN, "line %zu: token", ln + 1);
	cr_expect(fs_fcp_token_verify(key, buf), "line %zu", ln + 1);
	fs_fcp_encode_req(&q, again);
	cr_expect_arr_eq(again, buf, FS_FCP_LEN, "line %zu: re-encoded", ln + 1);
}

Test(protocol_doc, test_vectors_verify)
{
	size_t sec = doc_find("### Test vectors", 0, false), end = doc_section_end(sec), i, n = 0;
	uint8_t key[FS_FCP_TOKEN_LEN], want[FS_FCP_TOKEN_LEN], got[FS_FCP_TOKEN_LEN];
	const unsigned char empty[1] = {0};

	doc_hex_token(sec, end, key, sizeof(key));
	i = doc_find("```", sec, false);
	for (i++; i + 1 < end && strcmp(doc_line[i], "```") != 0; i += 2, n++)
		check_vector(key, doc_line[i], doc_line[i + 1], i + 1);
	cr_assert_lt(i, end, "the vectors' code block does not end in its section");
	cr_assert_eq(n, 3u, "%zu test vectors, expected 3", n);

	/* the SipHash-2-4-128 reference output for the empty message, quoted after the block */
	doc_hex_token(i, end, want, sizeof(want));
	cr_assert_eq(sodium_init() >= 0, true);
	crypto_shorthash_siphashx24(got, empty, 0, key);
	cr_assert_arr_eq(got, want, sizeof(want), "empty-message SipHash");
}

/* One annotated message of the worked example: its 48 bytes and the line (from 1) of its table. */
struct example {
	uint8_t b[FS_FCP_LEN];
	size_t line;
};

/* A numeric field of a decoded message: name, offset in the struct and width in bytes. */
struct setter {
	const char *name;
	size_t off;
	unsigned width;
};
/* clang-format off */
#define FS_SET(type, f) {#f, offsetof(type, f), sizeof(((type *)0)->f)}
/* clang-format on */

static const struct setter req_set[] = {FS_SET(struct fs_fcp_req, type),
	FS_SET(struct fs_fcp_req, sale_id), FS_SET(struct fs_fcp_req, user_id),
	FS_SET(struct fs_fcp_req, token_expiry), FS_SET(struct fs_fcp_req, node_id),
	FS_SET(struct fs_fcp_req, flags), FS_SET(struct fs_fcp_req, request_id)};
static const struct setter rep_set[] = {FS_SET(struct fs_fcp_reply, type),
	FS_SET(struct fs_fcp_reply, sale_id), FS_SET(struct fs_fcp_reply, user_id),
	FS_SET(struct fs_fcp_reply, status), FS_SET(struct fs_fcp_reply, node_id),
	FS_SET(struct fs_fcp_reply, retry_after_ms), FS_SET(struct fs_fcp_reply, order_id),
	FS_SET(struct fs_fcp_reply, remaining), FS_SET(struct fs_fcp_reply, hold_left_ms),
	FS_SET(struct fs_fcp_reply, request_id)};

/* Store @p v into field @p name of @p msg; false if @p name is not one of @p set. */
static bool set_field(
	void *msg, const struct setter *set, size_t n, const char *name, uint64_t v, size_t ln)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t *p = (uint8_t *)msg + set[k].off;

		if (strcmp(set[k].name, name) != 0)
			continue;
		cr_assert(set[k].width == 8 || v < 1ull << (8 * set[k].width),
			"line %zu: %s does not fit in %u bytes", ln + 1, name, set[k].width);
		if (set[k].width == 1)
			*p = (uint8_t)v;
		else if (set[k].width == 2)
			*(uint16_t *)(void *)p = (uint16_t)v;
		else if (set[k].width == 4)
			*(uint32_t *)(void *)p = (uint32_t)v;
		else
			*(uint64_t *)(void *)p = v;
		return true;
	}
	return false;
}

/* The bytes column of table @p t: contiguous fields from offset 0 to 48, into @p out. */
static void example_bytes(const struct doc_table *t, uint8_t out[FS_FCP_LEN])
{
	unsigned off = 0;

	for (size_t r = 0; r < t->rows; r++) {
		size_t ln = t->line[r], n = (strlen(t->cell[r][1]) + 1) / 3;

		cr_assert_eq(doc_number(t->cell[r][0], ln), off, "line %zu: offset", ln + 1);
		cr_assert(n >= 1 && off + n <= FS_FCP_LEN && unhex(t->cell[r][1], out + off, n),
			"line %zu: bytes \"%s\"", ln + 1, t->cell[r][1]);
		off += (unsigned)n;
	}
	cr_assert_eq(off, FS_FCP_LEN, "line %zu: the table has %u bytes", t->line[0] + 1, off);
}

/*
 * The value column of table @p t, as fields of a request (@p is_req) or a reply, encoded by the
 * codec: the result must be the bytes column @p b. A request's token must verify under @p key.
 */
static void example_values(const struct doc_table *t, const uint8_t b[FS_FCP_LEN], bool is_req,
	const uint8_t key[FS_FCP_TOKEN_LEN])
{
	struct fs_fcp_req q;
	struct fs_fcp_reply p;
	uint8_t enc[FS_FCP_LEN];

	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	for (size_t r = 0; r < t->rows; r++) {
		const char *name = t->cell[r][2], *val = t->cell[r][3];
		size_t ln = t->line[r];

		if (strcmp(name, "magic") == 0)
			cr_assert_str_eq(val, "\"FC\"", "line %zu", ln + 1);
		else if (strcmp(name, "version") == 0)
			cr_assert_eq(doc_number(val, ln), FS_FCP_VERSION, "line %zu", ln + 1);
		else if (is_req && strcmp(name, "token") == 0)
			memcpy(q.token, b + 24, FS_FCP_TOKEN_LEN);
		else if (!is_req && strcmp(name, "reserved") == 0)
			cr_assert_eq(doc_number(val, ln), 0, "line %zu: the codec sends 0", ln + 1);
		else if (is_req)
			cr_assert(set_field(&q, req_set, sizeof(req_set) / sizeof(req_set[0]), name,
					  doc_number(val, ln), ln),
				"line %zu: unknown request field %s", ln + 1, name);
		else
			cr_assert(set_field(&p, rep_set, sizeof(rep_set) / sizeof(rep_set[0]), name,
					  doc_number(val, ln), ln),
				"line %zu: unknown reply field %s", ln + 1, name);
	}
	if (is_req) {
		fs_fcp_encode_req(&q, enc);
		cr_assert(fs_fcp_token_verify(key, b), "line %zu: the token does not verify",
			t->line[0] + 1);
	} else {
		fs_fcp_encode_reply(&p, enc);
	}
	cr_assert_arr_eq(enc, b, FS_FCP_LEN, "line %zu: the codec encodes the values otherwise",
		t->line[0] + 1);
}

/*
 * Every annotated table of "## Worked example" (the first a request, then replies), each checked
 * against the codec and against the hex line in the code block after it. @p key: the sale key
 * the section names. @return the number of tables.
 */
static size_t examples(struct example *ex, size_t max, uint8_t key[FS_FCP_TOKEN_LEN])
{
	size_t sec = doc_find("## Worked example", 0, false), end = doc_section_end(sec);
	size_t from = sec, n = 0;
	struct doc_table t;
	uint8_t hex[FS_FCP_LEN];

	doc_hex_token(sec, end, key, FS_FCP_TOKEN_LEN);
	for (;;) {
		size_t fence;

		doc_table("| offset | bytes | field | value |", from, end, &t);
		if (t.rows == 0)
			break;
		cr_assert_lt(n, max);
		ex[n].line = t.line[0] + 1;
		example_bytes(&t, ex[n].b);
		cr_assert_eq(ex[n].b[3] == FS_FCP_CLAIM, n == 0,
			"line %zu: the first table is the request, the others replies",
			t.line[0] + 1);
		example_values(&t, ex[n].b, n == 0, key);
		fence = doc_find("```", t.end, false);
		cr_assert(fence + 2 < end && strcmp(doc_line[fence + 2], "```") == 0 &&
				  strlen(doc_line[fence + 1]) == 2 * FS_FCP_LEN &&
				  unhex(doc_line[fence + 1], hex, FS_FCP_LEN),
			"line %zu: no one-line hex after the table", fence + 1);
		cr_assert_arr_eq(hex, ex[n].b, FS_FCP_LEN, "line %zu: hex differs from the table",
			fence + 2);
		from = fence + 3;
		n++;
	}
	return n;
}

Test(protocol_doc, worked_example_is_the_codecs)
{
	struct example ex[DOC_EXAMPLES];
	uint8_t key[FS_FCP_TOKEN_LEN];
	struct fs_fcp_req q;
	struct fs_fcp_reply p;

	cr_assert_geq(examples(ex, DOC_EXAMPLES, key), 3u, "a request and two replies");
	cr_assert_eq(fs_fcp_parse(ex[0].b, FS_FCP_LEN, &q), FS_FCP_OK);
	for (size_t i = 1; i < 3; i++) {
		cr_assert_eq(
			fs_fcp_decode_reply(ex[i].b, FS_FCP_LEN, &p), 0, "line %zu", ex[i].line);
		cr_expect_eq(p.sale_id, q.sale_id, "line %zu: copied sale_id", ex[i].line);
		cr_expect_eq(p.user_id, q.user_id, "line %zu: copied user_id", ex[i].line);
		cr_expect_eq(p.request_id, q.request_id, "line %zu: copied request_id", ex[i].line);
		cr_expect_eq(p.type, FS_FCP_CLAIM_RESULT, "line %zu", ex[i].line);
	}
}

/* The worked example's scenario, as its opening paragraph tells it. */
#define EX_SALE 1234u
#define EX_STOCK 500u
#define EX_START_MS 1798000000000ll
#define EX_END_MS (EX_START_MS + 600000)
#define EX_NODE 1u

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The example reply with @p status (the first such), or fail. */
static const uint8_t *example_reply(const struct example *ex, size_t n, uint8_t status)
{
	for (size_t i = 1; i < n; i++)
		if (ex[i].b[16] == status)
			return ex[i].b;
	cr_assert_fail("the worked example has no %s reply", fs_fcp_status_name(status));
	return NULL;
}

/* fs_claim() of the example request at @p now_ms (worker 0 of node EX_NODE), encoded. */
static void example_claim(const struct fs_sale_table *tab, struct fs_journal *j,
	const uint8_t raw[FS_FCP_LEN], int64_t now_ms, uint8_t out[FS_FCP_LEN])
{
	struct fs_claim_env env = {.node_id = EX_NODE,
		.worker = 0,
		.journal = j,
		.now_ms = now_ms,
		.now_ns = (uint64_t)now_ms * 1000000ull};
	struct fs_fcp_req q;
	struct fs_fcp_reply p;

	cr_assert_eq(fs_fcp_parse(raw, FS_FCP_LEN, &q), FS_FCP_OK);
	fs_claim(tab, &env, &q, raw, &p);
	fs_fcp_encode_reply(&p, out);
}

/* A node of the example: the sale (@p stock units, all leased to it) and worker 0's journal. */
struct ex_node {
	char dir[32];
	struct fs_sale_table tab;
	struct fs_journal *j;
};

static void ex_node_start(struct ex_node *nd, uint64_t stock, const uint8_t key[FS_FCP_TOKEN_LEN])
{
	struct fs_sale_def def = {.sale_id = EX_SALE,
		.stock = stock,
		.start_ms = EX_START_MS,
		.end_ms = EX_END_MS,
		.admission = FS_ADM_TOKEN,
		.has_key = true};

	memcpy(def.key, key, FS_FCP_TOKEN_LEN);
	strcpy(nd->dir, "/tmp/fs-protodoc-XXXXXX");
	cr_assert_not_null(mkdtemp(nd->dir));
	nd->j = fs_journal_open(nd->dir, 0);
	cr_assert_not_null(nd->j);
	fs_sale_table_init(&nd->tab, 1);
	cr_assert_eq(fs_sale_ctl_create(&nd->tab, NULL, EX_NODE, &def), 0);
	cr_assert_eq(fs_sale_ctl_lease(&nd->tab, NULL, EX_NODE, EX_SALE, stock, true), 0);
}

static void ex_node_stop(struct ex_node *nd)
{
	fs_journal_close(nd->j);
	fs_sale_table_fini(&nd->tab);
	nftw(nd->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The replies of the example are what the claim path answers in the scenario it describes. */
Test(protocol_doc, worked_example_is_what_fs_claim_answers)
{
	struct example ex[DOC_EXAMPLES];
	uint8_t key[FS_FCP_TOKEN_LEN], out[FS_FCP_LEN], again[FS_FCP_LEN];
	size_t n = examples(ex, DOC_EXAMPLES, key);
	struct ex_node nd;

	ex_node_start(&nd, EX_STOCK, key);
	example_claim(&nd.tab, nd.j, ex[0].b, EX_START_MS - 1500, out);
	cr_expect_arr_eq(out, example_reply(ex, n, FS_ST_NOT_STARTED), FS_FCP_LEN,
		"NOT_STARTED 1.5 s before the opening");
	example_claim(&nd.tab, nd.j, ex[0].b, EX_START_MS + 250, out);
	cr_expect_arr_eq(out, example_reply(ex, n, FS_ST_WON), FS_FCP_LEN, "WON 250 ms after");
	/* the document: a repeat differs only in byte 16, ALREADY_WON */
	example_claim(&nd.tab, nd.j, ex[0].b, EX_START_MS + 400, again);
	cr_expect_eq(again[16], FS_ST_ALREADY_WON);
	again[16] = FS_ST_WON;
	cr_expect_arr_eq(again, out, FS_FCP_LEN, "the repeat differs in more than byte 16");
	ex_node_stop(&nd);
}

/*
 * The document's SOLD_OUT sentence: the WON reply with status 2, retry_after_ms, order_id and
 * remaining 0, when another user took the last unit first.
 */
Test(protocol_doc, worked_example_sold_out_is_what_fs_claim_answers)
{
	struct example ex[DOC_EXAMPLES];
	uint8_t key[FS_FCP_TOKEN_LEN], other[FS_FCP_LEN], out[FS_FCP_LEN], want[FS_FCP_LEN];
	size_t n = examples(ex, DOC_EXAMPLES, key);
	struct fs_fcp_req q;
	struct ex_node nd;

	doc_find("A SOLD_OUT answer to this sale (no holds) would carry status `02`, "
		 "retry_after_ms 0",
		0, true);
	cr_assert_eq(fs_fcp_parse(ex[0].b, FS_FCP_LEN, &q), FS_FCP_OK);
	ex_node_start(&nd, 1, key);
	q.user_id++;
	fs_fcp_encode_req(&q, other);
	fs_fcp_token(key, other, other + 24);
	example_claim(&nd.tab, nd.j, other, EX_START_MS + 100, out);
	cr_expect_eq(out[16], FS_ST_WON, "another user takes the only unit");

	example_claim(&nd.tab, nd.j, ex[0].b, EX_START_MS + 250, out);
	memcpy(want, example_reply(ex, n, FS_ST_WON), FS_FCP_LEN);
	want[16] = FS_ST_SOLD_OUT;
	memset(want + 20, 0, 16); /* retry_after_ms, order_id, remaining */
	cr_expect_arr_eq(out, want, FS_FCP_LEN, "SOLD_OUT as the document describes it");
	ex_node_stop(&nd);
}
