/* flashctl's output: key=value lines, or one JSON object per command built with json-c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "parse.h"
#include "timeparse.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

void fs_out_init(struct fs_out *o, bool json)
{
	o->json = json;
	o->doc = NULL;
}

/* JSON: @p v (owned) as field @p key of the document, made on the first field. */
static void put(struct fs_out *o, const char *key, struct json_object *v)
{
	if (o->doc == NULL)
		o->doc = json_object_new_object();
	if (o->doc == NULL || json_object_object_add(o->doc, key, v) < 0)
		json_object_put(v);
}

void fs_out_i64(struct fs_out *o, const char *key, int64_t v)
{
	if (o->json)
		put(o, key, json_object_new_int64(v));
	else
		printf("%s=%" PRId64 "\n", key, v);
}

void fs_out_u64(struct fs_out *o, const char *key, uint64_t v)
{
	if (o->json)
		put(o, key, json_object_new_uint64(v));
	else
		printf("%s=%" PRIu64 "\n", key, v);
}

void fs_out_str(struct fs_out *o, const char *key, const char *v)
{
	if (o->json)
		put(o, key, json_object_new_string(v));
	else
		printf("%s=%s\n", key, v);
}

void fs_out_bool(struct fs_out *o, const char *key, bool v)
{
	if (o->json)
		put(o, key, json_object_new_boolean(v));
	else
		printf("%s=%d\n", key, v ? 1 : 0);
}

/* Field @p iso_key: unix time @p t (1/@p per_s s) in ISO 8601 UTC, or "" / null (see out.h). */
static void iso_field(
	struct fs_out *o, const char *iso_key, int64_t t, int64_t per_s, bool zero_none)
{
	char iso[FS_TIME_ISO_LEN];
	bool none = (zero_none && t == 0) || fs_time_format(t, per_s, iso, sizeof(iso)) < 0;

	if (o->json)
		put(o, iso_key, none ? NULL : json_object_new_string(iso));
	else
		printf("%s=%s\n", iso_key, none ? "" : iso);
}

void fs_out_time(struct fs_out *o, const char *key, const char *iso_key, int64_t t, int64_t per_s,
	bool zero_none)
{
	fs_out_i64(o, key, t);
	iso_field(o, iso_key, t, per_s, zero_none);
}

/* The ISO field's name of dataplane member @p k when it is a unix ms time: 0, else -ENOENT. */
static int dict_time_key(const char *prefix, const char *k, char *iso_key, size_t len)
{
	static const char *const times[] = {
		"start_ms",
		"end_ms",
		"prev_key_until_ms",
		"holds_next_ms",
	};
	size_t n = strlen(k);

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (strcmp(k, times[i]) == 0) {
			snprintf(iso_key, len, "%s%.*s", prefix, (int)(n - 3), k);
			return 0;
		}
	return -ENOENT;
}

void fs_out_dict(struct fs_out *o, const char *prefix, struct json_object *dict)
{
	char key[128], iso_key[128];

	json_object_object_foreach(dict, k, v)
	{
		const char *s = "";

		snprintf(key, sizeof(key), "%s%s", prefix, k);
		if (o->json)
			put(o, key, json_object_get(v));
		else if (v != NULL && (json_object_is_type(v, json_type_array) ||
					      json_object_is_type(v, json_type_object)))
			s = json_object_to_json_string_ext(v, JSON_FLAGS);
		else if (v != NULL)
			s = json_object_get_string(v);
		if (!o->json)
			printf("%s=%s\n", key, s);
		if (v != NULL && json_object_is_type(v, json_type_int) &&
			dict_time_key(prefix, k, iso_key, sizeof(iso_key)) == 0)
			iso_field(o, iso_key, json_object_get_int64(v), 1000, true);
	}
}

/* JSON: @p v (owned) as member @p key of @p obj (freed when it cannot be added). */
static void obj_put(struct json_object *obj, const char *key, struct json_object *v)
{
	if (obj == NULL || json_object_object_add(obj, key, v) < 0)
		json_object_put(v);
}

/*
 * The `key=value` fields of @p text, ended by one of @p seps each, as members of @p obj: a decimal
 * value a number, anything else a string; a field without '=' is left out.
 */
static void kv_into(struct json_object *obj, const char *text, const char *seps)
{
	char key[128];
	uint64_t u;

	for (const char *p = text; *p != '\0';) {
		size_t len = strcspn(p, seps);
		const char *eq = memchr(p, '=', len);
		char *val = NULL;

		if (eq != NULL && (size_t)(eq - p) < sizeof(key))
			val = strndup(eq + 1, len - (size_t)(eq - p) - 1);
		if (val != NULL) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
			if (val[0] == '-' &&
				fs_parse_u64(val + 1, 1, (uint64_t)INT64_MAX + 1, &u) == 0)
				obj_put(obj, key, json_object_new_int64((int64_t)(0 - u)));
			else if (fs_parse_u64(val, 0, UINT64_MAX, &u) == 0)
				obj_put(obj, key, json_object_new_uint64(u));
			else
				obj_put(obj, key, json_object_new_string(val));
			free(val);
		}
		p += len + (p[len] != '\0');
	}
}

void fs_out_kv_lines(struct fs_out *o, const char *text)
{
	if (!o->json) {
		fputs(text, stdout);
		return;
	}
	if (o->doc == NULL)
		o->doc = json_object_new_object();
	kv_into(o->doc, text, "\n");
}

/* JSON: the array @p json_key of the document, made when missing; NULL when out of memory. */
static struct json_object *list(struct fs_out *o, const char *json_key)
{
	struct json_object *a;

	if (o->doc != NULL && json_object_object_get_ex(o->doc, json_key, &a))
		return a;
	put(o, json_key, json_object_new_array());
	return o->doc != NULL && json_object_object_get_ex(o->doc, json_key, &a) ? a : NULL;
}

/* JSON: @p v (owned) appended to the array @p json_key. */
static void append(struct fs_out *o, const char *json_key, struct json_object *v)
{
	struct json_object *a = list(o, json_key);

	if (a == NULL || json_object_array_add(a, v) < 0)
		json_object_put(v);
}

void fs_out_item_u64(struct fs_out *o, const char *text_key, const char *json_key, uint64_t v)
{
	if (o->json)
		append(o, json_key, json_object_new_uint64(v));
	else
		printf("%s=%" PRIu64 "\n", text_key, v);
}

void fs_out_item_str(struct fs_out *o, const char *text_prefix, const char *json_key, const char *v)
{
	if (o->json)
		append(o, json_key, json_object_new_string(v));
	else
		printf("%s%s\n", text_prefix, v);
}

void fs_out_record(struct fs_out *o, const char *json_key, const char *line)
{
	struct json_object *rec;

	if (!o->json) {
		printf("%s\n", line);
		return;
	}
	if (json_key == NULL) {
		if (o->doc == NULL)
			o->doc = json_object_new_object();
		kv_into(o->doc, line, " ");
		return;
	}
	rec = json_object_new_object();
	kv_into(rec, line, " ");
	if (rec != NULL)
		append(o, json_key, rec);
}

void fs_out_rec_init(struct fs_out_rec *rec, const struct fs_out *o)
{
	fs_out_init(&rec->fields, o->json);
	rec->line[0] = '\0';
	rec->len = 0;
}

/* Text: field @p key=@p val appended to the record's line (space separated). */
static void rec_text(struct fs_out_rec *rec, const char *key, const char *val)
{
	size_t room = sizeof(rec->line) - rec->len;
	int n = snprintf(rec->line + rec->len, room, "%s%s=%s", rec->len ? " " : "", key, val);

	rec->len += n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
}

void fs_out_rec_i64(struct fs_out_rec *rec, const char *key, int64_t v)
{
	char num[24];

	if (rec->fields.json) {
		fs_out_i64(&rec->fields, key, v);
		return;
	}
	snprintf(num, sizeof(num), "%" PRId64, v);
	rec_text(rec, key, num);
}

void fs_out_rec_bool(struct fs_out_rec *rec, const char *key, bool v)
{
	if (rec->fields.json)
		fs_out_bool(&rec->fields, key, v);
	else
		rec_text(rec, key, v ? "1" : "0");
}

void fs_out_rec_time(struct fs_out_rec *rec, const char *key, const char *iso_key, int64_t t,
	int64_t per_s, bool zero_none)
{
	char iso[FS_TIME_ISO_LEN];

	if (rec->fields.json) {
		fs_out_time(&rec->fields, key, iso_key, t, per_s, zero_none);
		return;
	}
	fs_out_rec_i64(rec, key, t);
	if ((zero_none && t == 0) || fs_time_format(t, per_s, iso, sizeof(iso)) < 0)
		iso[0] = '\0';
	rec_text(rec, iso_key, iso);
}

void fs_out_rec_end(struct fs_out *o, const char *json_key, struct fs_out_rec *rec)
{
	if (!o->json) {
		printf("%s\n", rec->line);
		return;
	}
	if (rec->fields.doc == NULL)
		rec->fields.doc = json_object_new_object();
	if (rec->fields.doc != NULL)
		append(o, json_key, rec->fields.doc);
	rec->fields.doc = NULL;
}

void fs_out_list(struct fs_out *o, const char *json_key)
{
	if (o->json)
		(void)list(o, json_key);
}

int fs_out_end(struct fs_out *o, int rc)
{
	if (o->json && o->doc != NULL) {
		puts(json_object_to_json_string_ext(o->doc, JSON_FLAGS));
		fflush(stdout);
	}
	json_object_put(o->doc);
	o->doc = NULL;
	return rc;
}

void fs_out_log_json(int64_t ts_ms, int64_t sale, const char *msg)
{
	struct fs_out o = {.json = true};

	fs_out_time(&o, "ts_ms", "time", ts_ms, 1000, false);
	if (sale >= 0)
		fs_out_i64(&o, "sale", sale);
	fs_out_str(&o, "msg", msg);
	fs_out_end(&o, 0);
}
