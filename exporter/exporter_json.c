/* exporter_json: strict JSON → msgpack, and JSON lines → protobuf-c messages;
 * see exporter_json.h. */
#include "exporter_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporter_pb.h"

#define XJ_MAX_DEPTH 32

struct xj {
	const char *s, *p, *end;
	char *err;
	size_t errlen;
	int failed;
};

/* Record the first error with its offset; returns -1. */
static int xj_fail(struct xj *j, const char *what)
{
	if (!j->failed)
		snprintf(j->err, j->errlen, "JSON: %s at offset %zu", what, (size_t)(j->p - j->s));
	j->failed = 1;
	return -1;
}

static void xj_ws(struct xj *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Four hex digits at p; -1 if not. */
static long xj_hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i];
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

/* Append code point cp as UTF-8. */
static void xj_utf8(msgpack_sbuffer *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80)
		u[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	else
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	msgpack_sbuffer_write(b, u, n);
}

/* A string at p (after the quote) decoded into b. */
static int xj_string(struct xj *j, msgpack_sbuffer *b)
{
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return xj_fail(j, "control character in string");
		if (c != '\\') {
			msgpack_sbuffer_write(b, j->p++, 1);
			continue;
		}
		if (++j->p >= j->end)
			break;
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/': msgpack_sbuffer_write(b, (char *)&c, 1); break;
		case 'b': msgpack_sbuffer_write(b, "\b", 1); break;
		case 'f': msgpack_sbuffer_write(b, "\f", 1); break;
		case 'n': msgpack_sbuffer_write(b, "\n", 1); break;
		case 'r': msgpack_sbuffer_write(b, "\r", 1); break;
		case 't': msgpack_sbuffer_write(b, "\t", 1); break;
		case 'u': {
			long cp = xj_hex4(j->p, j->end);
			if (cp < 0)
				return xj_fail(j, "bad \\u escape");
			j->p += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				long lo = j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u'
						  ? xj_hex4(j->p + 2, j->end) : -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return xj_fail(j, "unpaired surrogate");
				j->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff)
				return xj_fail(j, "unpaired surrogate");
			xj_utf8(b, (unsigned long)cp);
			break;
		}
		default:
			return xj_fail(j, "bad escape");
		}
	}
	return xj_fail(j, "unterminated string");
}

/* A number, packed as int or double. */
static int xj_number(struct xj *j, msgpack_packer *pk)
{
	const char *st = j->p, *p = j->p;
	int is_int = 1;
	char buf[64];

	if (p < j->end && *p == '-')
		p++;
	if (p >= j->end || !isdigit((unsigned char)*p))
		return xj_fail(j, "bad number");
	if (*p == '0' && p + 1 < j->end && isdigit((unsigned char)p[1]))
		return xj_fail(j, "leading zero");
	while (p < j->end && isdigit((unsigned char)*p))
		p++;
	if (p < j->end && *p == '.') {
		is_int = 0;
		if (++p >= j->end || !isdigit((unsigned char)*p))
			return xj_fail(j, "bad fraction");
		while (p < j->end && isdigit((unsigned char)*p))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		is_int = 0;
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || !isdigit((unsigned char)*p))
			return xj_fail(j, "bad exponent");
		while (p < j->end && isdigit((unsigned char)*p))
			p++;
	}
	if ((size_t)(p - st) >= sizeof(buf))
		return xj_fail(j, "number too long");
	memcpy(buf, st, (size_t)(p - st));
	buf[p - st] = 0;
	j->p = p;
	errno = 0;
	if (is_int && buf[0] == '-') {
		long long v = strtoll(buf, NULL, 10);
		if (errno)
			return xj_fail(j, "integer out of range");
		msgpack_pack_int64(pk, v);
	} else if (is_int) {
		unsigned long long v = strtoull(buf, NULL, 10);
		if (errno)
			return xj_fail(j, "integer out of range");
		msgpack_pack_uint64(pk, v);
	} else
		msgpack_pack_double(pk, strtod(buf, NULL));
	return 0;
}

/* Pack a string from raw bytes; keys turn lowerCamelCase into snake_case. */
static void xj_pack_str(msgpack_packer *pk, const char *s, size_t n, int key)
{
	msgpack_sbuffer t;
	int camel = 0;

	for (size_t i = 0; key && i < n; i++)
		camel |= isupper((unsigned char)s[i]);
	if (!camel) {
		msgpack_pack_str_with_body(pk, s, n);
		return;
	}
	msgpack_sbuffer_init(&t);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (isupper((unsigned char)c)) {
			msgpack_sbuffer_write(&t, "_", 1);
			c = (char)tolower((unsigned char)c);
		}
		msgpack_sbuffer_write(&t, &c, 1);
	}
	msgpack_pack_str_with_body(pk, t.data, t.size);
	msgpack_sbuffer_destroy(&t);
}

static int xj_value(struct xj *j, msgpack_packer *pk, int depth);

/* An array or object (the opening bracket consumed); children go to a temporary
 * buffer first, since msgpack needs the count before them. */
static int xj_container(struct xj *j, msgpack_packer *pk, int depth, int obj)
{
	msgpack_sbuffer kids;
	msgpack_packer kp;
	uint32_t n = 0;
	int rc = -1;
	char close = obj ? '}' : ']';

	if (depth >= XJ_MAX_DEPTH)
		return xj_fail(j, "nested too deep");
	msgpack_sbuffer_init(&kids);
	msgpack_packer_init(&kp, &kids, msgpack_sbuffer_write);
	xj_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		rc = 0;
		goto done;
	}
	for (;;) {
		xj_ws(j);
		if (obj) {
			msgpack_sbuffer ks;
			if (j->p >= j->end || *j->p != '"') {
				xj_fail(j, "expected a key");
				goto done;
			}
			j->p++;
			msgpack_sbuffer_init(&ks);
			if (xj_string(j, &ks) < 0) {
				msgpack_sbuffer_destroy(&ks);
				goto done;
			}
			xj_pack_str(&kp, ks.data ? ks.data : "", ks.size, 1);
			msgpack_sbuffer_destroy(&ks);
			xj_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				xj_fail(j, "expected ':'");
				goto done;
			}
			j->p++;
		}
		if (xj_value(j, &kp, depth + 1) < 0)
			goto done;
		n++;
		xj_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			rc = 0;
			break;
		}
		xj_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
		goto done;
	}
done:
	if (rc == 0) {
		if (obj)
			msgpack_pack_map(pk, n);
		else
			msgpack_pack_array(pk, n);
		if (kids.size)
			msgpack_sbuffer_write(pk->data, kids.data, kids.size);
	}
	msgpack_sbuffer_destroy(&kids);
	return rc;
}

/* Any value at p. */
static int xj_value(struct xj *j, msgpack_packer *pk, int depth)
{
	xj_ws(j);
	if (j->p >= j->end)
		return xj_fail(j, "unexpected end");
	switch (*j->p) {
	case '{':
		j->p++;
		return xj_container(j, pk, depth, 1);
	case '[':
		j->p++;
		return xj_container(j, pk, depth, 0);
	case '"': {
		msgpack_sbuffer s;
		int rc;
		j->p++;
		msgpack_sbuffer_init(&s);
		rc = xj_string(j, &s);
		if (rc == 0)
			xj_pack_str(pk, s.data ? s.data : "", s.size, 0);
		msgpack_sbuffer_destroy(&s);
		return rc;
	}
	case 't':
		if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
			j->p += 4;
			msgpack_pack_true(pk);
			return 0;
		}
		break;
	case 'f':
		if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
			j->p += 5;
			msgpack_pack_false(pk);
			return 0;
		}
		break;
	case 'n':
		if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
			j->p += 4;
			msgpack_pack_nil(pk);
			return 0;
		}
		break;
	default:
		return xj_number(j, pk);
	}
	return xj_fail(j, "unexpected token");
}

int xjson_to_msgpack(const char *s, size_t n, msgpack_sbuffer *out, char *err, size_t errlen)
{
	struct xj j = {s, s, s + n, err, errlen, 0};
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (xj_value(&j, &pk, 0) < 0)
		return -1;
	xj_ws(&j);
	if (j.p != j.end)
		return xj_fail(&j, "trailing characters");
	return 0;
}

int xjson_messages(const char *text, const ProtobufCMessageDescriptor *d,
		   ProtobufCMessage ***msgs, char *err, size_t errlen)
{
	const char *p = text;
	int n = 0, lineno = 0;

	*msgs = NULL;
	while (p && *p) {
		const char *nl = strchr(p, '\n'), *e = nl ? nl : p + strlen(p);
		const char *q = p;
		char e2[200];
		lineno++;
		while (q < e && isspace((unsigned char)*q))
			q++;
		if (q < e) {
			msgpack_sbuffer sb;
			msgpack_unpacked up;
			size_t off = 0, len;
			uint8_t *buf;
			ProtobufCMessage *m = NULL;
			msgpack_sbuffer_init(&sb);
			msgpack_unpacked_init(&up);
			if (xjson_to_msgpack(q, (size_t)(e - q), &sb, e2, sizeof(e2)) < 0) {
				snprintf(err, errlen, "line %d: %s", lineno, e2);
			} else if (msgpack_unpack_next(&up, sb.data, sb.size, &off) !=
					   MSGPACK_UNPACK_SUCCESS ||
				   up.data.type != MSGPACK_OBJECT_MAP) {
				snprintf(err, errlen, "line %d: want a JSON object", lineno);
			} else if (!(buf = xpb_from_msgpack(d, &up.data, &len, e2, sizeof(e2)))) {
				snprintf(err, errlen, "line %d: %s", lineno, e2);
			} else {
				m = protobuf_c_message_unpack(d, NULL, len, buf);
				free(buf);
				if (!m)
					snprintf(err, errlen, "line %d: cannot build %s", lineno, d->name);
			}
			msgpack_unpacked_destroy(&up);
			msgpack_sbuffer_destroy(&sb);
			if (!m) {
				for (int i = 0; i < n; i++)
					protobuf_c_message_free_unpacked((*msgs)[i], NULL);
				free(*msgs);
				*msgs = NULL;
				return -1;
			}
			*msgs = realloc(*msgs, (size_t)(n + 1) * sizeof(**msgs));
			if (!*msgs)
				abort();
			(*msgs)[n++] = m;
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}
