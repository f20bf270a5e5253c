/* flashctl's output: key=value lines, or with --json one JSON object per command (json-c). */
#ifndef FS_OUT_H
#define FS_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/**
 * One command's output. Text: each field is printed at once as a `key=value` line on stdout.
 * JSON: the fields are gathered into one object under the same keys (numbers as numbers) and
 * printed by fs_out_end as one line. One thread (a command's).
 */
struct fs_out {
	bool json;		 /**< --json given */
	struct json_object *doc; /**< JSON: the object so far; NULL before the first field */
};

/** Start the output of a command: JSON when @p json, else key=value lines. */
void fs_out_init(struct fs_out *o, bool json);

/** Field @p key, a signed number. Out of memory (JSON): the field is left out. */
void fs_out_i64(struct fs_out *o, const char *key, int64_t v);

/** Field @p key, an unsigned number. Out of memory (JSON): the field is left out. */
void fs_out_u64(struct fs_out *o, const char *key, uint64_t v);

/** Field @p key, a string (printed as is in text; escaped by json-c in JSON). */
void fs_out_str(struct fs_out *o, const char *key, const char *v);

/** Field @p key, a flag: `key=0|1` in text, false/true in JSON. */
void fs_out_bool(struct fs_out *o, const char *key, bool v);

/**
 * A unix time twice: field @p key, the number @p t (in units of 1/@p per_s s: 1 s, 1000 ms,
 * 1000000 µs), then field @p iso_key, the same time in ISO 8601 UTC (fs_time_format). The ISO
 * field is "" in text and null in JSON when @p zero_none and @p t is 0 (no such time), or when
 * the time cannot be formatted (year after 9999).
 */
void fs_out_time(struct fs_out *o, const char *key, const char *iso_key, int64_t t, int64_t per_s,
	bool zero_none);

/**
 * Every member of @p dict (a dataplane reply) as field @p prefix + its name: text prints
 * scalars as they are and arrays or objects as compact JSON; JSON keeps their types. Members
 * that are unix ms times (`start_ms`, `end_ms`, `prev_key_until_ms`, `holds_next_ms`) are
 * followed by their ISO 8601 field (the name without `_ms`; empty / null when 0).
 */
void fs_out_dict(struct fs_out *o, const char *prefix, struct json_object *dict);

/**
 * The `key=value` lines of @p text (NUL-terminated, each line ended by '\n') as fields: text
 * prints them as they are; JSON makes a decimal value a number, anything else a string.
 */
void fs_out_kv_lines(struct fs_out *o, const char *text);

/**
 * One more element of a list: text prints `@p text_key=@p v` (a field repeated per element);
 * JSON appends @p v to the array @p json_key (made on the first call, also by fs_out_list).
 */
void fs_out_item_u64(struct fs_out *o, const char *text_key, const char *json_key, uint64_t v);

/**
 * One more line of a list of messages: text prints `@p text_prefix@p v`; JSON appends the
 * string @p v to the array @p json_key.
 */
void fs_out_item_str(
	struct fs_out *o, const char *text_prefix, const char *json_key, const char *v);

/**
 * One line of space-separated `key=value` fields (@p line, NUL-terminated, no '\n'): text prints
 * it as is on one line; JSON makes it an object (a decimal value a number, anything else a
 * string) appended to the array @p json_key, or with @p json_key NULL adds its fields to the
 * command's object. Out of memory (JSON): the record or field is left out.
 */
void fs_out_record(struct fs_out *o, const char *json_key, const char *line);

/** A record built field by field: one line of `key=value` fields in text, one JSON object. */
struct fs_out_rec {
	struct fs_out fields; /**< JSON: the record's object so far (fields.doc) */
	char line[512];	      /**< text: the line so far (a field that does not fit is cut) */
	size_t len;	      /**< text: bytes of line used */
};

/** Start a record of @p o's kind (text or JSON). */
void fs_out_rec_init(struct fs_out_rec *rec, const struct fs_out *o);

/** Field @p key of the record, a signed number. */
void fs_out_rec_i64(struct fs_out_rec *rec, const char *key, int64_t v);

/** Field @p key of the record, a flag: `key=0|1` in text, false/true in JSON. */
void fs_out_rec_bool(struct fs_out_rec *rec, const char *key, bool v);

/**
 * A unix time twice in the record, as fs_out_time does: field @p key, the number, then field
 * @p iso_key, its ISO 8601 UTC (`key=` empty in text, null in JSON when none).
 */
void fs_out_rec_time(struct fs_out_rec *rec, const char *key, const char *iso_key, int64_t t,
	int64_t per_s, bool zero_none);

/**
 * End the record: text prints its line; JSON appends its object to the array @p json_key of
 * @p o (made on the first record, also by fs_out_list). Out of memory (JSON): left out.
 */
void fs_out_rec_end(struct fs_out *o, const char *json_key, struct fs_out_rec *rec);

/** JSON: array @p json_key made now, empty (a list with no element is still there). */
void fs_out_list(struct fs_out *o, const char *json_key);

/**
 * End the command's output: JSON prints the object as one line on stdout when it holds a field
 * (nothing otherwise: an error before any output), and frees it.
 * @return @p rc, the command's exit code, so that `return fs_out_end(&out, rc);` ends it.
 */
int fs_out_end(struct fs_out *o, int rc);

/**
 * The daemon's JSON line: `{"ts_ms":MS,"time":"ISO","sale":N,"msg":"..."}` on stdout (`sale`
 * only when @p sale >= 0), flushed. @p ts_ms is the wall clock, unix ms. Not thread safe
 * (stdout).
 */
void fs_out_log_json(int64_t ts_ms, int64_t sale, const char *msg);

#endif
