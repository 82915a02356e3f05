/* tetra_json: msgpack events → Tetragon's protojson export lines; see tetra_json.h.
 *
 * What protojson does and we copy:
 *   - strings escape only '"', '\\' and C0 controls (\b \f \n \r \t, else \u00xx in
 *     lowercase hex); '/', DEL, non-ASCII and U+2028/U+2029 are written as they are
 *     (protojson, unlike Go's encoding/json, does not escape U+2028/U+2029; both are
 *     legal in JSON text);
 *   - Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits and 'Z';
 *   - uint64/int64 fields are JSON strings; bytes are standard base64 with padding;
 *   - unset and zero-valued fields are left out, except wrapper types
 *     (UInt32Value, BoolValue...) and oneof members that are present, and
 *     entries of map fields;
 *   - float NaN/±Inf are the strings "NaN", "Infinity", "-Infinity".
 * Where we must differ:
 *   - protojson refuses to marshal invalid UTF-8; a security log cannot drop the
 *     event of a process with a hostile file name, so each maximal invalid
 *     subsequence (Unicode ch. 3 "best practice", as WHATWG and Python do) is
 *     replaced by U+FFFD;
 *   - members come in msgpack map order, not proto field-number order;
 *   - a map whose members are all empty is left out like an empty one; protojson
 *     would print {} for a set-but-empty message, but msgpack cannot tell "set"
 *     from "unset" and an empty object says nothing. */
#include "tetra_json.h"

#include "caps.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How a key's value is encoded inside an event. */
enum {
	TJ_KEEP = 1 << 0,   /* wrapper type or oneof member: printed whenever present */
	TJ_INT64 = 1 << 1,  /* uint64/int64 field: the integer is a JSON string */
	TJ_TIME = 1 << 2,   /* Timestamp: integer ns since the epoch → RFC 3339 */
	TJ_STRMAP = 1 << 3, /* map<string,string>: every entry kept, even "" */
	TJ_CAPS = 1 << 4,   /* Capabilities set: the pipeline's bit set → array of names */
};

/* Field names whose Tetragon type needs a rule. Only names that mean the same
 * type wherever they occur in Tetragon's event protos are listed: e.g. `id` is
 * uint64 in TracingPolicyStatus but uint32 in SyscallId, so it stays a number. */
#define TJ_SLOTS 256 /* hash slots for the rules below: a power of 2, > 2x their number */

static const struct tj_rule {
	const char *name;
	unsigned flags;
} tj_rules[] = {
    /* Process, Container, BinaryProperties, InodeProperties, credentials */
    {"pid", TJ_KEEP},
    {"uid", TJ_KEEP},
    {"auid", TJ_KEEP},
    {"tid", TJ_KEEP},
    {"setuid", TJ_KEEP},
    {"setgid", TJ_KEEP},
    {"links", TJ_KEEP},
    {"gid", TJ_KEEP},
    {"euid", TJ_KEEP},
    {"egid", TJ_KEEP},
    {"suid", TJ_KEEP},
    {"sgid", TJ_KEEP},
    {"fsuid", TJ_KEEP},
    {"fsgid", TJ_KEEP},
    {"in_init_tree", TJ_KEEP},
    {"signature_ok", TJ_KEEP},
    /* KprobeArgument's `arg` oneof: a set member is printed even when zero,
     * as in Tetragon's {"return":{"int_arg":0}}. (bytes_arg is also a plain
     * field of KprobeTruncatedBytes, where "" would be omitted; the oneof use
     * is the common one.) */
    {"string_arg", TJ_KEEP},
    {"int_arg", TJ_KEEP},
    {"skb_arg", TJ_KEEP},
    {"size_arg", TJ_KEEP | TJ_INT64},
    {"bytes_arg", TJ_KEEP},
    {"path_arg", TJ_KEEP},
    {"file_arg", TJ_KEEP},
    {"truncated_bytes_arg", TJ_KEEP},
    {"sock_arg", TJ_KEEP},
    {"cred_arg", TJ_KEEP},
    {"long_arg", TJ_KEEP | TJ_INT64},
    {"bpf_attr_arg", TJ_KEEP},
    {"perf_event_arg", TJ_KEEP},
    {"bpf_map_arg", TJ_KEEP},
    {"uint_arg", TJ_KEEP},
    {"user_namespace_arg", TJ_KEEP},
    {"capability_arg", TJ_KEEP},
    {"process_credentials_arg", TJ_KEEP},
    {"user_ns_arg", TJ_KEEP},
    {"module_arg", TJ_KEEP},
    {"kernel_cap_t_arg", TJ_KEEP},
    {"cap_inheritable_arg", TJ_KEEP},
    {"cap_permitted_arg", TJ_KEEP},
    {"cap_effective_arg", TJ_KEEP},
    {"linux_binprm_arg", TJ_KEEP},
    {"net_dev_arg", TJ_KEEP},
    {"bpf_cmd_arg", TJ_KEEP},
    {"syscall_id", TJ_KEEP},
    {"sockaddr_arg", TJ_KEEP},
    {"bpf_prog_arg", TJ_KEEP},
    {"error_arg", TJ_KEEP},
    {"sockaddrun_arg", TJ_KEEP},
    /* 64-bit integers */
    {"number", TJ_INT64},
    {"cookie", TJ_INT64},
    {"orig_size", TJ_INT64},
    {"offset", TJ_INT64},
    {"ref_ctr_offset", TJ_INT64},
    {"address", TJ_INT64},
    {"count", TJ_INT64},
    {"number_of_dropped_process_events", TJ_INT64},
    {"kernel_memory_bytes", TJ_INT64},
    {"Config", TJ_INT64},
    {"ProbeOffset", TJ_INT64},
    {"arg0", TJ_INT64},
    {"arg1", TJ_INT64},
    {"arg2", TJ_INT64},
    {"arg3", TJ_INT64},
    /* Timestamps */
    {"time", TJ_TIME},
    {"start_time", TJ_TIME},
    /* Capabilities: repeated CapabilitiesType, a bit set on the wire (§8.2) */
    {"permitted", TJ_CAPS},
    {"effective", TJ_CAPS},
    {"inheritable", TJ_CAPS},
    /* map<string,string> */
    {"pod_labels", TJ_STRMAP},
    {"pod_annotations", TJ_STRMAP},
    {"node_labels", TJ_STRMAP},
};

static void tj_generic(const msgpack_object *o, struct strbuf *out, int depth);
static void tj_ev_value(const msgpack_object *o, unsigned flags, struct strbuf *out, int depth);

/* Look up the rule flags for a key; non-string keys have none. */
/* Slot of a name in tj_rule_slot: FNV-1a, masked. */
static unsigned tj_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h & (TJ_SLOTS - 1);
}

/* The rule flags of a key: a hash table built once (this runs for every key of every
 * event, and most keys have no rule). */
static unsigned tj_key_flags(const msgpack_object *k)
{
	static uint8_t slot[TJ_SLOTS]; /* index + 1 into tj_rules; 0: empty */
	static uint8_t len[sizeof tj_rules / sizeof tj_rules[0]];
	static int built;
	unsigned h;

	if (!built) {
		for (size_t i = 0; i < sizeof tj_rules / sizeof tj_rules[0]; i++) {
			len[i] = (uint8_t)strlen(tj_rules[i].name);
			for (h = tj_hash(tj_rules[i].name, len[i]); slot[h]; h = (h + 1) & (TJ_SLOTS - 1))
				;
			slot[h] = (uint8_t)(i + 1);
		}
		built = 1;
	}
	if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0)
		return 0;
	for (h = tj_hash(k->via.str.ptr, k->via.str.size); slot[h]; h = (h + 1) & (TJ_SLOTS - 1)) {
		size_t i = slot[h] - 1u;

		if (k->via.str.size == len[i] && memcmp(k->via.str.ptr, tj_rules[i].name, len[i]) == 0)
			return tj_rules[i].flags;
	}
	return 0;
}

/* Append an unsigned integer in decimal (printf is a tenth of an event's encoding). */
static void tj_u64(struct strbuf *out, uint64_t v)
{
	char b[20];
	int i = sizeof(b);

	do
		b[--i] = (char)('0' + v % 10);
	while (v /= 10);
	strbuf_append(out, b + i, sizeof(b) - (size_t)i);
}

/* Append n digits of v, zero-padded. */
static void tj_digits(struct strbuf *out, uint32_t v, int n)
{
	char b[10];
	int i;

	for (i = n - 1; i >= 0; i--, v /= 10)
		b[i] = (char)('0' + v % 10);
	strbuf_append(out, b, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0 if the
 * bytes there are not one; *bad gets the length of the maximal invalid
 * subpart to replace by one U+FFFD. */
static size_t tj_utf8_len(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned char c = p[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		*bad = 1; /* stray continuation, 0xc0/0xc1, 0xf5..0xff */
		return 0;
	}
	size_t i = 1;
	for (; i < need && i < n; i++) {
		unsigned char b = p[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			break;
	}
	if (i == need)
		return need;
	*bad = i;
	return 0;
}

/* Append p[0..n) as a JSON string: escapes as protojson does, U+FFFD for invalid UTF-8. */
static void tj_str(struct strbuf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0; /* run: start of bytes that are copied as they are */

	strbuf_putc(out, '"');
	while (i < n) {
		unsigned char c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t bad = 0, len = tj_utf8_len(p + i, n - i, &bad);
			if (len) {
				i += len;
				continue;
			}
			strbuf_append(out, p + run, i - run);
			strbuf_append(out, "\xef\xbf\xbd", 3);
			i += bad;
			run = i;
			continue;
		}
		strbuf_append(out, p + run, i - run);
		strbuf_putc(out, '\\');
		switch (c) {
		case '"':
			strbuf_putc(out, '"');
			break;
		case '\\':
			strbuf_putc(out, '\\');
			break;
		case '\b':
			strbuf_putc(out, 'b');
			break;
		case '\f':
			strbuf_putc(out, 'f');
			break;
		case '\n':
			strbuf_putc(out, 'n');
			break;
		case '\r':
			strbuf_putc(out, 'r');
			break;
		case '\t':
			strbuf_putc(out, 't');
			break;
		default:
			strbuf_append(out, "u00", 3);
			strbuf_putc(out, hex[c >> 4]);
			strbuf_putc(out, hex[c & 15]);
		}
		i++;
		run = i;
	}
	strbuf_append(out, p + run, n - run);
	strbuf_putc(out, '"');
}

/* Append p[0..n) as a quoted standard base64 string with padding (protojson bytes). */
static void tj_base64(struct strbuf *out, const char *s, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	char q[4];

	strbuf_putc(out, '"');
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		strbuf_append(out, q, 4);
	}
	strbuf_putc(out, '"');
}

/* Append a float the way protojson does: shortest round-trip digits, plain
 * notation for 1e-6 <= |d| < 1e21, else exponent; NaN/Inf as strings. */
static void tj_float(struct strbuf *out, double d, int is32)
{
	char buf[64], dig[24];
	int p, nd = 0, exp;

	if (isnan(d)) {
		strbuf_append(out, "\"NaN\"", 5);
		return;
	}
	if (isinf(d)) {
		strbuf_appendf(out, "\"%sInfinity\"", d < 0 ? "-" : "");
		return;
	}
	for (p = 1; p < 17; p++) {
		snprintf(buf, sizeof buf, "%.*e", p - 1, d);
		if (is32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof buf, "%.*e", p - 1, d);
	/* Read the digits and exponent back ourselves: the decimal point of %e
	 * follows the locale, and JSON's does not. */
	char *e = strchr(buf, 'e');
	if (!e) { /* cannot happen for a finite value; keep the output valid anyway */
		strbuf_putc(out, '0');
		return;
	}
	for (char *c = buf; c < e; c++)
		if (*c >= '0' && *c <= '9' && nd < (int)sizeof dig - 1)
			dig[nd++] = *c;
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	exp = atoi(e + 1);
	if (signbit(d))
		strbuf_putc(out, '-');
	double a = fabs(d);
	if (a != 0 && (is32 ? ((float)a < 1e-6f || (float)a >= 1e21f) : (a < 1e-6 || a >= 1e21))) {
		strbuf_putc(out, dig[0]);
		if (nd > 1) {
			strbuf_putc(out, '.');
			strbuf_append(out, dig + 1, (size_t)nd - 1);
		}
		/* Go writes at least two exponent digits, then protojson drops the
		 * zero of "e-0X"; in this range the result is simply %d. */
		strbuf_appendf(out, "e%c%d", exp < 0 ? '-' : '+', abs(exp));
		return;
	}
	if (a == 0) {
		strbuf_putc(out, '0');
	} else if (exp < 0) {
		strbuf_append(out, "0.", 2);
		for (int i = 0; i < -exp - 1; i++)
			strbuf_putc(out, '0');
		strbuf_append(out, dig, (size_t)nd);
	} else if (exp >= nd - 1) {
		strbuf_append(out, dig, (size_t)nd);
		for (int i = 0; i < exp - (nd - 1); i++)
			strbuf_putc(out, '0');
	} else {
		strbuf_append(out, dig, (size_t)exp + 1);
		strbuf_putc(out, '.');
		strbuf_append(out, dig + exp + 1, (size_t)(nd - exp - 1));
	}
}

/* Append a Timestamp as protojson does: "YYYY-MM-DDThh:mm:ss[.fff[fff[fff]]]Z". */
static void tj_timestamp(struct strbuf *out, int64_t secs, uint32_t nsec)
{
	/* Events come in time order: the date and time of the last second are reused. */
	static int64_t last_secs = INT64_MIN;
	static char last[64];
	static int last_len;
	struct tm tm;
	time_t t = (time_t)secs;

	if (secs != last_secs) {
		if (!gmtime_r(&t, &tm)) { /* not reachable for 64-bit ns inputs; stay valid */
			strbuf_appendf(out, "\"%" PRId64 "\"", secs);
			return;
		}
		last_len = snprintf(last, sizeof(last), "\"%04d-%02d-%02dT%02d:%02d:%02d",
				    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				    tm.tm_min, tm.tm_sec);
		if (last_len < 0 || last_len >= (int)sizeof(last)) {
			strbuf_appendf(out, "\"%" PRId64 "\"", secs);
			return;
		}
		last_secs = secs;
	}
	strbuf_append(out, last, (size_t)last_len);
	if (nsec == 0)
		;
	else if (nsec % 1000000 == 0) {
		strbuf_putc(out, '.');
		tj_digits(out, nsec / 1000000, 3);
	} else if (nsec % 1000 == 0) {
		strbuf_putc(out, '.');
		tj_digits(out, nsec / 1000, 6);
	} else {
		strbuf_putc(out, '.');
		tj_digits(out, nsec, 9);
	}
	strbuf_append(out, "Z\"", 2);
}

/* Append an integer of nanoseconds since the epoch as a Timestamp. */
static void tj_time_ns(const msgpack_object *o, struct strbuf *out)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		uint64_t ns = o->via.u64;
		tj_timestamp(out, (int64_t)(ns / 1000000000u), (uint32_t)(ns % 1000000000u));
		return;
	}
	int64_t ns = o->via.i64, s = ns / 1000000000, r = ns % 1000000000;
	if (r < 0) { /* C division truncates; a Timestamp's nanos are never negative */
		r += 1000000000;
		s--;
	}
	tj_timestamp(out, s, (uint32_t)r);
}

/* Append an object key and ':'; non-string keys become the string of their JSON text. */
static void tj_key(const msgpack_object *k, struct strbuf *out, int depth)
{
	if (k->type == MSGPACK_OBJECT_STR) {
		tj_str(out, k->via.str.ptr, k->via.str.size);
	} else if (k->type == MSGPACK_OBJECT_BIN) {
		tj_base64(out, k->via.bin.ptr, k->via.bin.size);
	} else {
		struct strbuf tmp;
		strbuf_init(&tmp);
		tj_generic(k, &tmp, depth);
		/* tmp may hold a quoted string (NaN); re-escaping keeps it valid. */
		tj_str(out, tmp.buf, tmp.len);
		strbuf_free(&tmp);
	}
	strbuf_putc(out, ':');
}

/* Append the scalar types (everything but array and map) in their plain form. */
static void tj_scalar(const msgpack_object *o, struct strbuf *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		strbuf_append(out, "null", 4);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		if (o->via.boolean)
			strbuf_append(out, "true", 4);
		else
			strbuf_append(out, "false", 5);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		tj_u64(out, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 < 0) {
			strbuf_putc(out, '-');
			tj_u64(out, 0 - (uint64_t)o->via.i64);
		} else {
			tj_u64(out, (uint64_t)o->via.i64);
		}
		break;
	case MSGPACK_OBJECT_FLOAT32:
		tj_float(out, o->via.f64, 1);
		break;
	case MSGPACK_OBJECT_FLOAT64:
		tj_float(out, o->via.f64, 0);
		break;
	case MSGPACK_OBJECT_STR:
		tj_str(out, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		tj_base64(out, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		/* No Tetragon field is an ext; keep the bytes visible rather than lose them. */
		strbuf_appendf(out, "{\"ext_type\":%d,\"data\":", (int)o->via.ext.type);
		tj_base64(out, o->via.ext.ptr, o->via.ext.size);
		strbuf_putc(out, '}');
		break;
	default:
		strbuf_append(out, "null", 4); /* a type newer than this code */
	}
}

/* Append any object with no Tetragon rules (tj_value's encoding). */
static void tj_generic(const msgpack_object *o, struct strbuf *out, int depth)
{
	if (depth > TJ_MAX_DEPTH) {
		strbuf_append(out, "null", 4);
		return;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		strbuf_putc(out, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				strbuf_putc(out, ',');
			tj_generic(&o->via.array.ptr[i], out, depth + 1);
		}
		strbuf_putc(out, ']');
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		strbuf_putc(out, '{');
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				strbuf_putc(out, ',');
			tj_key(&o->via.map.ptr[i].key, out, depth + 1);
			tj_generic(&o->via.map.ptr[i].val, out, depth + 1);
		}
		strbuf_putc(out, '}');
	} else {
		tj_scalar(o, out);
	}
}

/* Whether protojson would leave this value out as unset or default. */
static int tj_is_empty(const msgpack_object *o, unsigned flags)
{
	if (o->type == MSGPACK_OBJECT_NIL)
		return 1;
	if (flags & TJ_KEEP)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		return !o->via.boolean;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		/* A present Timestamp is a set message, printed even at the epoch. */
		return o->via.u64 == 0 && !(flags & TJ_TIME);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64 == 0;
	case MSGPACK_OBJECT_STR:
		return o->via.str.size == 0;
	case MSGPACK_OBJECT_BIN:
		return o->via.bin.size == 0;
	case MSGPACK_OBJECT_ARRAY:
		return o->via.array.size == 0;
	case MSGPACK_OBJECT_MAP:
		return o->via.map.size == 0;
	default:
		return 0;
	}
}

/* Append the members of map m with event rules, after *first members already
 * written; keys named in skip (NULL-terminated, may be NULL) are left out. */
static int tj_keyis(const msgpack_object *k, const char *s)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
	       memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

/* Process fields that are facts of an exec: in the export on process_exec's process
 * only, unless tj_set_process_details(1). Every event carries them through the
 * pipeline (policies match on capabilities); writing them into each line made
 * lines of 5 KB, most of it the same two capability lists. Tetragon too leaves
 * them out unless asked (its --enable-process-cred and --enable-process-ns). */
static const char *const tj_details[] = {"cap", "ns", "process_credentials", NULL};
static int tj_all_details;

void tj_set_process_details(int all)
{
	tj_all_details = all;
}

static void tj_ev_members(const msgpack_object *m, int keep_all, const char *const *skip,
			  struct strbuf *out, int depth, int *first, unsigned trim);

/* Append a Process map (or an array of them, for ancestors) without tj_details. */
static void tj_trimmed(const msgpack_object *v, struct strbuf *out, int depth)
{
	int first = 1;

	if (v->type == MSGPACK_OBJECT_ARRAY) {
		strbuf_putc(out, '[');
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			if (i)
				strbuf_putc(out, ',');
			tj_trimmed(&v->via.array.ptr[i], out, depth + 1);
		}
		strbuf_putc(out, ']');
	} else if (v->type == MSGPACK_OBJECT_MAP && depth <= TJ_MAX_DEPTH) {
		strbuf_putc(out, '{');
		tj_ev_members(v, 0, tj_details, out, depth, &first, 0);
		strbuf_putc(out, '}');
	} else {
		tj_ev_value(v, 0, out, depth);
	}
}

#define TJ_TRIM_PROCESS 1u /* top level: process, parent, ancestors lose tj_details */
#define TJ_TRIM_KIN 2u	   /* top level: parent and ancestors do */

static void tj_ev_members(const msgpack_object *m, int keep_all, const char *const *skip,
			  struct strbuf *out, int depth, int *first, unsigned trim)
{
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		int skipped = 0, trimmed = 0;
		for (const char *const *s = skip; s && *s && k->type == MSGPACK_OBJECT_STR; s++)
			if (k->via.str.size == strlen(*s) &&
			    memcmp(k->via.str.ptr, *s, k->via.str.size) == 0)
				skipped = 1;
		/* map<string,string> entries are not fields: none is default or special. */
		unsigned flags = keep_all ? 0 : tj_key_flags(k);
		if (skipped || (!keep_all && tj_is_empty(v, flags)))
			continue;
		if (trim)
			trimmed = ((trim & TJ_TRIM_PROCESS) && tj_keyis(k, "process")) ||
				  tj_keyis(k, "parent") || tj_keyis(k, "ancestors");
		size_t mark = out->len;
		if (!*first)
			strbuf_putc(out, ',');
		tj_key(k, out, depth + 1);
		size_t vstart = out->len;
		if (trimmed)
			tj_trimmed(v, out, depth + 1);
		else
			tj_ev_value(v, flags, out, depth + 1);
		if (!keep_all && !(flags & TJ_KEEP) && out->len - vstart == 2 &&
		    memcmp(out->buf + vstart, "{}", 2) == 0) {
			strbuf_truncate(out, mark); /* every member was empty */
			continue;
		}
		*first = 0;
	}
}

/* Append a value inside an event: Tetragon's type rules by key flags, empties omitted in maps. */
static void tj_ev_value(const msgpack_object *o, unsigned flags, struct strbuf *out, int depth)
{
	int first = 1;

	if (depth > TJ_MAX_DEPTH) {
		strbuf_append(out, "null", 4);
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (flags & TJ_TIME) {
			tj_time_ns(o, out);
		} else if ((flags & TJ_CAPS) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			char buf[16];
			const char *n;

			strbuf_putc(out, '[');
			for (unsigned b = 0; b < 64; b++) {
				if (!(o->via.u64 & (1ull << b)))
					continue;
				if (!first)
					strbuf_putc(out, ',');
				first = 0;
				n = caps_name(b, buf);
				strbuf_putc(out, '"');
				strbuf_append(out, n, strlen(n));
				strbuf_putc(out, '"');
			}
			strbuf_putc(out, ']');
		} else if (flags & TJ_INT64) {
			strbuf_putc(out, '"');
			tj_scalar(o, out);
			strbuf_putc(out, '"');
		} else {
			tj_scalar(o, out);
		}
		break;
	case MSGPACK_OBJECT_MAP:
		strbuf_putc(out, '{');
		tj_ev_members(o, (flags & TJ_STRMAP) != 0, NULL, out, depth, &first, 0);
		strbuf_putc(out, '}');
		break;
	case MSGPACK_OBJECT_ARRAY:
		/* Elements of a repeated field are all printed; they share its type rule. */
		strbuf_putc(out, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				strbuf_putc(out, ',');
			tj_ev_value(&o->via.array.ptr[i], flags & (TJ_INT64 | TJ_TIME), out,
				    depth + 1);
		}
		strbuf_putc(out, ']');
		break;
	default:
		tj_scalar(o, out);
	}
}

/* Find the first value under a string key in map m, or NULL. */
static const msgpack_object *tj_lookup(const msgpack_object *m, const char *key)
{
	size_t n = strlen(key);
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, key, n) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

int tj_event_line(const char *type, const msgpack_object *ev, struct strbuf *out)
{
	static const char *const lifted[] = {"node_name", "time", NULL};
	/* "_vigil" carries pipeline-internal facts (docs/wire.md §4.4): never exported. */
	static const char *const skipped[] = {"node_name", "time", "_vigil", NULL};
	int first = 1;

	if (!type || !ev || !out || ev->type != MSGPACK_OBJECT_MAP)
		return -1;
	strbuf_putc(out, '{');
	tj_str(out, type, strlen(type));
	strbuf_append(out, ":{", 2);
	tj_ev_members(ev, 0, skipped, out, 1, &first,
		      tj_all_details ? 0 : strcmp(type, "process_exec") ? TJ_TRIM_PROCESS | TJ_TRIM_KIN
									: TJ_TRIM_KIN);
	strbuf_putc(out, '}');
	/* GetEventsResponse's own fields, in Tetragon's order: node_name=1000, time=1001. */
	for (const char *const *l = lifted; *l; l++) {
		const msgpack_object *v = tj_lookup(ev, *l);
		msgpack_object k = {.type = MSGPACK_OBJECT_STR};
		unsigned flags;
		if (!v)
			continue;
		k.via.str.ptr = *l;
		k.via.str.size = (uint32_t)strlen(*l);
		flags = tj_key_flags(&k);
		if (tj_is_empty(v, flags))
			continue;
		strbuf_putc(out, ',');
		tj_key(&k, out, 1);
		tj_ev_value(v, flags, out, 1);
	}
	strbuf_putc(out, '}');
	return 0;
}

int tj_value(const msgpack_object *o, const char *key, struct strbuf *out)
{
	if (!o || !out)
		return -1;
	if (key) {
		tj_str(out, key, strlen(key));
		strbuf_putc(out, ':');
	}
	tj_generic(o, out, 0);
	return 0;
}
