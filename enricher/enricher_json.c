/* enricher_json.c — see enricher_json.h. */
#include "enricher_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct jp {
	const char *s, *end, *p;
	int depth;
	char *err;
	size_t errlen;
};

static int parse_value(struct jp *j, struct json *out);

/* Record an error at the current position; returns -1. */
static int jerr(struct jp *j, const char *what)
{
	if (j->err && !j->err[0])
		snprintf(j->err, j->errlen, "%s at byte %zu", what, (size_t)(j->p - j->s));
	return -1;
}

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Grow a buffer to hold at least need bytes (aborts on OOM). */
static void *grow(void *buf, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return buf;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 8;
	buf = realloc(buf, *cap * elem);
	if (!buf)
		log_panic("out of memory");
	return buf;
}

/* Four hex digits of a \u escape; -1 when invalid. */
static long hex4(struct jp *j)
{
	long v = 0;
	int i;

	if (j->end - j->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = *j->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Parse a string (j->p at the opening quote) into a new buffer. */
static int parse_string(struct jp *j, char **out, size_t *outlen)
{
	size_t cap = 0, n = 0;
	char *b = NULL;

	j->p++;
	for (;;) {
		unsigned char c;

		if (j->p >= j->end) {
			free(b);
			return jerr(j, "unterminated string");
		}
		c = (unsigned char)*j->p++;
		b = grow(b, &cap, n + 5, 1);
		if (c == '"')
			break;
		if (c < 0x20) {
			free(b);
			return jerr(j, "control character in string");
		}
		if (c != '\\') {
			b[n++] = (char)c;
			continue;
		}
		if (j->p >= j->end) {
			free(b);
			return jerr(j, "bad escape");
		}
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/': b[n++] = (char)c; break;
		case 'b': b[n++] = '\b'; break;
		case 'f': b[n++] = '\f'; break;
		case 'n': b[n++] = '\n'; break;
		case 'r': b[n++] = '\r'; break;
		case 't': b[n++] = '\t'; break;
		case 'u': {
			long cp = hex4(j);

			if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
				long lo;

				if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') {
					free(b);
					return jerr(j, "lone surrogate");
				}
				j->p += 2;
				lo = hex4(j);
				if (lo < 0xdc00 || lo > 0xdfff) {
					free(b);
					return jerr(j, "bad surrogate pair");
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) {
				free(b);
				return jerr(j, "bad \\u escape");
			}
			if (cp < 0x80) {
				b[n++] = (char)cp;
			} else if (cp < 0x800) {
				b[n++] = (char)(0xc0 | cp >> 6);
				b[n++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				b[n++] = (char)(0xe0 | cp >> 12);
				b[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
				b[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				b[n++] = (char)(0xf0 | cp >> 18);
				b[n++] = (char)(0x80 | (cp >> 12 & 0x3f));
				b[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
				b[n++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			free(b);
			return jerr(j, "bad escape");
		}
	}
	b[n] = '\0';
	*out = b;
	*outlen = n;
	return 0;
}

/* A number, strictly: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct jp *j, struct json *out)
{
	const char *st = j->p;
	char buf[64];

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return jerr(j, "bad number");
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return jerr(j, "bad number");
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jerr(j, "bad fraction");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jerr(j, "bad exponent");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if ((size_t)(j->p - st) >= sizeof(buf))
		return jerr(j, "number too long");
	memcpy(buf, st, (size_t)(j->p - st));
	buf[j->p - st] = '\0';
	out->t = JSON_NUM;
	out->u.d = strtod(buf, NULL);
	return 0;
}

/* A literal word (true, false, null). */
static int parse_word(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return jerr(j, "unexpected character");
	j->p += n;
	return 0;
}

static int parse_array(struct jp *j, struct json *out)
{
	size_t cap = 0;

	out->t = JSON_ARR;
	out->n = 0;
	out->u.a = NULL;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		out->u.a = grow(out->u.a, &cap, out->n + 1, sizeof(struct json));
		out->u.a[out->n].t = JSON_NULL;
		out->n++; /* counted first so a failure frees what was built */
		if (parse_value(j, &out->u.a[out->n - 1]) < 0)
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return 0;
		}
		return jerr(j, "expected , or ]");
	}
}

static int parse_object(struct jp *j, struct json *out)
{
	size_t cap = 0, kl;

	out->t = JSON_OBJ;
	out->n = 0;
	out->u.o = NULL;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		struct json_mem *m;

		skip_ws(j);
		if (j->p >= j->end || *j->p != '"')
			return jerr(j, "expected a key");
		out->u.o = grow(out->u.o, &cap, out->n + 1, sizeof(struct json_mem));
		m = &out->u.o[out->n];
		if (parse_string(j, &m->k, &kl) < 0)
			return -1;
		m->v.t = JSON_NULL;
		out->n++;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return jerr(j, "expected :");
		j->p++;
		if (parse_value(j, &m->v) < 0)
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return 0;
		}
		return jerr(j, "expected , or }");
	}
}

static int parse_value(struct jp *j, struct json *out)
{
	int r;

	out->t = JSON_NULL;
	skip_ws(j);
	if (j->p >= j->end)
		return jerr(j, "unexpected end");
	if (++j->depth > JSON_MAX_DEPTH)
		return jerr(j, "nested too deep");
	switch (*j->p) {
	case '{': r = parse_object(j, out); break;
	case '[': r = parse_array(j, out); break;
	case '"': out->t = JSON_STR; r = parse_string(j, &out->u.s, &out->n);
		if (r < 0)
			out->t = JSON_NULL;
		break;
	case 't': r = parse_word(j, "true"); out->t = JSON_BOOL; out->u.b = 1; break;
	case 'f': r = parse_word(j, "false"); out->t = JSON_BOOL; out->u.b = 0; break;
	case 'n': r = parse_word(j, "null"); out->t = JSON_NULL; break;
	default: r = parse_number(j, out);
	}
	j->depth--;
	return r;
}

int json_parse(const char *s, size_t len, struct json *out, char *err, size_t errlen)
{
	struct jp j = { s, s + len, s, 0, err, errlen };

	if (err && errlen)
		err[0] = '\0';
	if (parse_value(&j, out) < 0) {
		json_free(out);
		return -1;
	}
	skip_ws(&j);
	if (j.p != j.end) {
		jerr(&j, "trailing bytes");
		json_free(out);
		return -1;
	}
	return 0;
}

void json_free(struct json *v)
{
	size_t i;

	switch (v->t) {
	case JSON_STR:
		free(v->u.s);
		break;
	case JSON_ARR:
		for (i = 0; i < v->n; i++)
			json_free(&v->u.a[i]);
		free(v->u.a);
		break;
	case JSON_OBJ:
		for (i = 0; i < v->n; i++) {
			free(v->u.o[i].k);
			json_free(&v->u.o[i].v);
		}
		free(v->u.o);
		break;
	default:
		break;
	}
	v->t = JSON_NULL;
	v->n = 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	size_t i;

	if (!obj || obj->t != JSON_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (strcmp(obj->u.o[i].k, key) == 0)
			return &obj->u.o[i].v;
	return NULL;
}

const char *json_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v && v->t == JSON_STR ? v->u.s : NULL;
}
