/* enricher_json.h — a small strict JSON parser (RFC 8259) for the Kubernetes API.
 * Recursive descent into a tree; depth and size are limited so hostile input cannot
 * exhaust the stack or memory; invalid input (trailing bytes, bad escapes, invalid
 * UTF-8 in escapes, control characters, leading zeros) is an error with a position. */
#ifndef VIGIL_ENRICHER_JSON_H
#define VIGIL_ENRICHER_JSON_H

#include <stddef.h>

#define JSON_MAX_DEPTH 64

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json_mem;
struct json {
	enum json_type t;
	size_t n;               /* string length, array or object size */
	union {
		int b;
		double d;
		char *s;        /* NUL-terminated (may contain NUL when n says so) */
		struct json *a;
		struct json_mem *o;
	} u;
};
struct json_mem {
	char *k;
	struct json v;
};

/* Parse s[0..len) into *out. 0, or -1 with a message in err. Free with json_free. */
int json_parse(const char *s, size_t len, struct json *out, char *err, size_t errlen);
void json_free(struct json *v);
/* The member key of an object, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* The string value of a member, or NULL when absent or not a string. */
const char *json_str(const struct json *obj, const char *key);

#endif
