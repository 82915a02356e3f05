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

#include "byteseq.h"
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
	TJ_TYPE_RULES = 0xff,
	/* Names the event walker treats specially, found by the same one lookup per key
	 * (strlen and memcmp against a list for every key were a tenth of the encoding). */
	TJ_K_LIFTED = 1 << 8,  /* node_name, time: lifted out of the top-level event */
	TJ_K_VIGIL = 1 << 9,   /* _vigil: pipeline-internal, never exported */
	TJ_K_DETAIL = 1 << 10, /* cap, ns, process_credentials: see tj_set_process_details */
	TJ_K_PROCESS = 1 << 11, /* process */
	TJ_K_KIN = 1 << 12,    /* parent, ancestors */
};

/* Field names whose Tetragon type needs a rule. Only names that mean the same
 * type wherever they occur in Tetragon's event protos are listed: e.g. `id` is
 * uint64 in TracingPolicyStatus but uint32 in SyscallId, so it stays a number. */
#define TJ_SLOTS 1024 /* hash slots for the names below: a power of 2, > 2x their number */

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
    {"cgroup_id", TJ_INT64}, /* vigil's Process.cgroup_id */
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
    {"time", TJ_TIME | TJ_K_LIFTED},
    {"start_time", TJ_TIME},
    /* Capabilities: repeated CapabilitiesType, a bit set on the wire (§8.2) */
    {"permitted", TJ_CAPS},
    {"effective", TJ_CAPS},
    {"inheritable", TJ_CAPS},
    /* map<string,string> */
    {"pod_labels", TJ_STRMAP},
    {"pod_annotations", TJ_STRMAP},
    {"node_labels", TJ_STRMAP},
    /* not type rules: the walker's special names (TJ_K_*) */
    {"node_name", TJ_K_LIFTED},
    {"_vigil", TJ_K_VIGIL},
    {"cap", TJ_K_DETAIL},
    {"ns", TJ_K_DETAIL},
    {"process_credentials", TJ_K_DETAIL},
    {"process", TJ_K_PROCESS},
    {"parent", TJ_K_KIN},
    {"ancestors", TJ_K_KIN},
};

/* Field names of Tetragon's event messages (events.proto, tetragon.proto) with no rule:
 * found in the same table, a key with a known name is written from a copy quoted once
 * instead of being scanned for escapes, which nearly every key of an event is. */
static const char *const tj_plain_names[] = {
    "abi", "action", "addr", "address", "aggregation_info", "aggregation_options", "all",
    "allow_list", "ancestor_binary_regex", "ancestors", "any", "arg0", "arg1", "arg2",
    "arg3", "args", "arguments", "arguments_regex", "auid", "binary", "binary_properties",
    "binary_regex", "buildid", "bytes_arg", "cap", "cap_effective_arg",
    "cap_inheritable_arg", "cap_permitted_arg", "capabilities", "capability_arg", "caps",
    "cel_expression", "cgroup", "channel_buffer_size", "cluster_name", "container",
    "container_id", "container_name_regex", "cookie", "count", "cred_arg", "cwd", "daddr",
    "data", "deny_list", "details", "docker", "dport", "effective", "egid",
    "environment_variables", "error_arg", "euid", "event", "event_set", "exactly",
    "exec_id", "family", "field_filters", "fields", "file", "file_arg", "flags", "fsgid",
    "fsuid", "function_name", "gid", "hash", "health_check", "health_status", "id",
    "ima_hash", "image", "in_init_tree", "inheritable", "inode", "int_arg", "inum",
    "invert_event_set", "ipc", "is_host", "kernel_cap_t_arg", "kernel_stack_trace",
    "label", "labels", "len", "level", "links", "linux_binprm_arg", "long_arg", "mark",
    "match", "maybe_exec_probe", "message", "mnt", "module", "mount", "name", "namespace",
    "namespace_regex", "net", "net_dev_arg", "node_labels", "node_name", "none", "ns",
    "number", "number_of_dropped_process_events", "offset", "orig_size", "parent",
    "parent_arguments_regex", "parent_binary_regex", "parent_exec_id", "path", "path_arg",
    "permission", "permitted", "pid", "pid_for_children", "pid_set", "pod",
    "pod_annotations", "pod_labels", "pod_regex", "policy_name", "policy_names", "port",
    "priority", "privileged", "privileges_changed", "process", "process_credentials",
    "process_credentials_arg", "process_exec", "process_exit", "process_kprobe",
    "process_loader", "process_lsm", "process_throttle", "process_tracepoint",
    "process_uprobe", "process_usdt", "proto", "protocol", "provider", "rate_limit_info",
    "redact", "ref_ctr_offset", "refcnt", "return", "return_action", "saddr",
    "sec_path_len", "sec_path_olen", "securebits", "security_context", "setgid", "setuid",
    "sgid", "signal", "size_arg", "skb_arg", "sock_arg", "sockaddr_arg", "sockaddrun_arg",
    "sport", "start_time", "state", "status", "string_arg", "subsys", "suid", "symbol",
    "syscall_id", "tags", "test", "tid", "time", "time_for_children",
    "truncated_bytes_arg", "type", "uid", "uint_arg", "user", "user_ns", "user_ns_arg",
    "user_stack_trace", "uts", "value", "window_size", "workload", "workload_kind",
};

static void tj_generic(const msgpack_object *o, struct strbuf *out, int depth);
static void tj_ev_value(const msgpack_object *o, unsigned flags, struct strbuf *out, int depth);

/* Output primitives. Unlike strbuf_putc/strbuf_append they do not rewrite the NUL
 * after every byte (an event line is thousands of small appends); the public entry
 * points terminate the buffer once, with tj_end. */

/* Make room for n more bytes (and strbuf's NUL); returns where they go. */
static inline char *tj_room(struct strbuf *out, size_t n)
{
	if (n >= out->cap - out->len) /* also true while buf is NULL: cap == len == 0 */
		strbuf_grow(out, n);
	return out->buf + out->len;
}

/* Append one byte. */
static inline void tj_putc(struct strbuf *out, char c)
{
	*tj_room(out, 1) = c;
	out->len++;
}

/* Append n bytes from p. */
static inline void tj_put(struct strbuf *out, const void *p, size_t n)
{
	memcpy(tj_room(out, n), p, n);
	out->len += n;
}

/* Restore strbuf's invariant: NUL after the contents. */
static inline void tj_end(struct strbuf *out)
{
	*tj_room(out, 0) = '\0';
}

/* Slot of a name in the key table: length and three of its bytes, which tell the
 * names apart in few probes for much less than hashing every byte. */
static inline unsigned tj_hash(const unsigned char *p, size_t n)
{
	return ((unsigned)n * 97u + p[0] * 7u + p[n / 2] * 31u + p[n - 1] * 131u) &
	       (TJ_SLOTS - 1);
}

#define TJ_NAME_MAX 36 /* longest name the table takes (the longest known is 32 bytes) */
#define TJ_NAMES                                                                                   \
	(sizeof tj_rules / sizeof tj_rules[0] + sizeof tj_plain_names / sizeof tj_plain_names[0])

/* The known key names: rules first, then plain names not already among them. */
static struct tj_name {
	char text[TJ_NAME_MAX + 4]; /* "name": (copied whole: a fixed-size copy is inlined) */
	uint8_t len;		    /* of name */
	unsigned flags;		    /* rule flags and TJ_K_* class */
} tj_names[TJ_NAMES];
static uint16_t tj_slot[TJ_SLOTS]; /* index + 1 into tj_names; 0: empty */

/* Whether p[0..n) equals the name of e (n == e->len, 0 < n <= TJ_NAME_MAX), without a
 * call to memcmp for a few bytes (byteseq.h). */
static inline int tj_name_eq(const char *p, size_t n, const struct tj_name *e)
{
	return byteseq_eq(p, e->text + 1, n);
}

/* Index into tj_names of the string p[0..n), or -1. */
static inline int tj_find_name(const char *p, size_t n)
{
	if (n == 0 || n > TJ_NAME_MAX)
		return -1;
	for (unsigned h = tj_hash((const unsigned char *)p, n); tj_slot[h];
	     h = (h + 1) & (TJ_SLOTS - 1)) {
		const struct tj_name *e = &tj_names[tj_slot[h] - 1];
		if (n == e->len && tj_name_eq(p, n, e))
			return tj_slot[h] - 1;
	}
	return -1;
}

/* Add a name to the table unless it is there (or too long); built once. */
static void tj_add_name(const char *name, unsigned flags)
{
	static unsigned n;
	size_t len = strlen(name);
	unsigned h;

	if (len == 0 || len > TJ_NAME_MAX || tj_find_name(name, len) >= 0 || n >= TJ_NAMES)
		return;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '"' || name[i] == '\\')
			return; /* its key text would need escapes; none of ours does */
	struct tj_name *e = &tj_names[n];
	e->text[0] = '"';
	memcpy(e->text + 1, name, len);
	memcpy(e->text + 1 + len, "\":", 2);
	e->len = (uint8_t)len;
	e->flags = flags;
	for (h = tj_hash((const unsigned char *)name, len); tj_slot[h]; h = (h + 1) & (TJ_SLOTS - 1))
		;
	tj_slot[h] = (uint16_t)++n;
}

/* Fill the key table; the public entry points call this before encoding. */
static void tj_build_names(void)
{
	static int built;

	if (built)
		return;
	for (size_t i = 0; i < sizeof tj_rules / sizeof tj_rules[0]; i++)
		tj_add_name(tj_rules[i].name, tj_rules[i].flags);
	for (size_t i = 0; i < sizeof tj_plain_names / sizeof tj_plain_names[0]; i++)
		tj_add_name(tj_plain_names[i], 0);
	built = 1;
}

/* Index into tj_names of a key, or -1 (also for every key that is not a string). This
 * runs for every key of every event. */
static inline int tj_find_key(const msgpack_object *k)
{
	if (k->type != MSGPACK_OBJECT_STR)
		return -1;
	return tj_find_name(k->via.str.ptr, k->via.str.size);
}

/* The rule flags and TJ_K_* class of a key (0 for most). */
static unsigned tj_key_flags(const msgpack_object *k)
{
	int i = tj_find_key(k);

	return i < 0 ? 0 : tj_names[i].flags;
}

/* "00" "01" ... "99": two digits per division in tj_u64. */
static const char tj_dig2[] = "0001020304050607080910111213141516171819"
			      "2021222324252627282930313233343536373839"
			      "4041424344454647484950515253545556575859"
			      "6061626364656667686970717273747576777879"
			      "8081828384858687888990919293949596979899";

/* Append an unsigned integer in decimal (printf was a tenth of an event's encoding):
 * two digits per division, right-aligned in a local buffer that is then copied with
 * one fixed-size copy (inlined, unlike a copy of the digits' variable length). */
static void tj_u64(struct strbuf *out, uint64_t v)
{
	char b[40];
	size_t i = 20;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		i -= 2;
		memcpy(b + i, tj_dig2 + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(b + i, tj_dig2 + 2 * v, 2);
	} else {
		b[--i] = (char)('0' + v);
	}
	memcpy(tj_room(out, 20), b + i, 20); /* bytes past the digits are not counted */
	out->len += 20 - i;
}

/* Append n digits of v, zero-padded. */
static void tj_digits(struct strbuf *out, uint32_t v, int n)
{
	char *b = tj_room(out, (size_t)n);

	for (int i = n - 1; i >= 0; i--, v /= 10)
		b[i] = (char)('0' + v % 10);
	out->len += (size_t)n;
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

/* Bytes a JSON string cannot hold as they are: 1 for the escaped ones (C0 controls,
 * '"', '\\'), 2 for the non-ASCII ones, which must be checked as UTF-8. */
static const uint8_t tj_special[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 2,
};

#define TJ_ONES 0x0101010101010101ull

/* Whether any of the 8 bytes in w is special (tj_special): a byte's top bit ends up
 * set when it is >= 0x80, below 0x20, '"' or '\\'. A borrow only starts at such a
 * byte, so a word without one is never flagged. */
static inline int tj_special8(uint64_t w)
{
	return ((w | (w - 0x20 * TJ_ONES) | ((w ^ ('"' * TJ_ONES)) - TJ_ONES) |
		 ((w ^ ('\\' * TJ_ONES)) - TJ_ONES)) &
		0x80 * TJ_ONES) != 0;
}

/* Index of the first special byte in p[i..n), or n: 8 bytes at a time, the last 8
 * of a string read as one word that overlaps bytes already checked. */
static inline size_t tj_plain_run(const unsigned char *p, size_t i, size_t n)
{
	uint64_t w;

	if (n - i >= 8) {
		for (; n - i >= 8; i += 8) {
			memcpy(&w, p + i, 8);
			if (tj_special8(w))
				goto bytes;
		}
		if (i == n)
			return n;
		memcpy(&w, p + n - 8, 8);
		if (!tj_special8(w))
			return n;
	}
bytes:
	while (i < n && !tj_special[p[i]])
		i++;
	return i;
}

/* Append p[0..n) as a JSON string: escapes as protojson does, U+FFFD for invalid UTF-8. */
static void tj_str(struct strbuf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = tj_plain_run(p, 0, n), run = 0; /* run: start of bytes copied as they are */

	if (i == n) { /* the common case: nothing to escape or check */
		char *d = tj_room(out, n + 2);
		d[0] = '"';
		memcpy(d + 1, p, n);
		d[n + 1] = '"';
		out->len += n + 2;
		return;
	}
	tj_putc(out, '"');
	while (i < n) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t bad = 0, len = tj_utf8_len(p + i, n - i, &bad);
			if (!len) {
				tj_put(out, p + run, i - run);
				tj_put(out, "\xef\xbf\xbd", 3);
				run = i + bad;
			}
			i = tj_plain_run(p, i + (len ? len : bad), n);
			continue;
		}
		tj_put(out, p + run, i - run);
		char *d = tj_room(out, 6);
		d[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			d[1] = (char)c;
			break;
		case '\b':
			d[1] = 'b';
			break;
		case '\f':
			d[1] = 'f';
			break;
		case '\n':
			d[1] = 'n';
			break;
		case '\r':
			d[1] = 'r';
			break;
		case '\t':
			d[1] = 't';
			break;
		default:
			memcpy(d + 1, "u00", 3);
			d[4] = hex[c >> 4];
			d[5] = hex[c & 15];
			out->len += 4;
		}
		out->len += 2;
		run = i + 1;
		i = tj_plain_run(p, run, n);
	}
	tj_put(out, p + run, n - run);
	tj_putc(out, '"');
}

/* Append p[0..n) as a quoted standard base64 string with padding (protojson bytes). */
static void tj_base64(struct strbuf *out, const char *s, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	char q[4];

	tj_putc(out, '"');
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
		tj_put(out, q, 4);
	}
	tj_putc(out, '"');
}

/* Append a float the way protojson does: shortest round-trip digits, plain
 * notation for 1e-6 <= |d| < 1e21, else exponent; NaN/Inf as strings. */
static void tj_float(struct strbuf *out, double d, int is32)
{
	char buf[64], dig[24];
	int p, nd = 0, exp;

	if (isnan(d)) {
		tj_put(out, "\"NaN\"", 5);
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
		tj_putc(out, '0');
		return;
	}
	for (char *c = buf; c < e; c++)
		if (*c >= '0' && *c <= '9' && nd < (int)sizeof dig - 1)
			dig[nd++] = *c;
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	exp = atoi(e + 1);
	if (signbit(d))
		tj_putc(out, '-');
	double a = fabs(d);
	if (a != 0 && (is32 ? ((float)a < 1e-6f || (float)a >= 1e21f) : (a < 1e-6 || a >= 1e21))) {
		tj_putc(out, dig[0]);
		if (nd > 1) {
			tj_putc(out, '.');
			tj_put(out, dig + 1, (size_t)nd - 1);
		}
		/* Go writes at least two exponent digits, then protojson drops the
		 * zero of "e-0X"; in this range the result is simply %d. */
		strbuf_appendf(out, "e%c%d", exp < 0 ? '-' : '+', abs(exp));
		return;
	}
	if (a == 0) {
		tj_putc(out, '0');
	} else if (exp < 0) {
		tj_put(out, "0.", 2);
		for (int i = 0; i < -exp - 1; i++)
			tj_putc(out, '0');
		tj_put(out, dig, (size_t)nd);
	} else if (exp >= nd - 1) {
		tj_put(out, dig, (size_t)nd);
		for (int i = 0; i < exp - (nd - 1); i++)
			tj_putc(out, '0');
	} else {
		tj_put(out, dig, (size_t)exp + 1);
		tj_putc(out, '.');
		tj_put(out, dig + exp + 1, (size_t)(nd - exp - 1));
	}
}

/* Write "\"YYYY-MM-DDThh:mm:ss" (20 bytes) for secs into b, as gmtime would give it;
 * -1 for years outside 0..9999, which %04d would print with another width. The
 * proleptic Gregorian calendar counted in 400-year eras of 146097 days, from a
 * year that starts in March so that the leap day comes last. */
static int tj_civil(int64_t secs, char b[20])
{
	if (secs < -62167219200 || secs > 253402300799) /* 0000-01-01 .. 9999-12-31 */
		return -1;
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	days += 719468; /* days from 0000-03-01 to 1970-01-01 */
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);			     /* day of era */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* year of era */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		     /* from March 1 */
	unsigned mp = (5 * doy + 2) / 153;				     /* month from March */
	unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	unsigned y = (unsigned)(era * 400 + yoe) + (m <= 2), s = (unsigned)sod;

	b[0] = '"';
	memcpy(b + 1, tj_dig2 + 2 * (y / 100), 2);
	memcpy(b + 3, tj_dig2 + 2 * (y % 100), 2);
	b[5] = '-';
	memcpy(b + 6, tj_dig2 + 2 * m, 2);
	b[8] = '-';
	memcpy(b + 9, tj_dig2 + 2 * d, 2);
	b[11] = 'T';
	memcpy(b + 12, tj_dig2 + 2 * (s / 3600), 2);
	b[14] = ':';
	memcpy(b + 15, tj_dig2 + 2 * (s / 60 % 60), 2);
	b[17] = ':';
	memcpy(b + 18, tj_dig2 + 2 * (s % 60), 2);
	return 0;
}

/* Append a Timestamp as protojson does: "YYYY-MM-DDThh:mm:ss[.fff[fff[fff]]]Z". */
static void tj_timestamp(struct strbuf *out, int64_t secs, uint32_t nsec)
{
	/* Events come in time order: the date and time of the last second are reused. */
	static int64_t last_secs = INT64_MIN;
	static char last[64];
	static int last_len;

	if (secs != last_secs) {
		if (tj_civil(secs, last) == 0) {
			last_len = 20;
		} else {
			/* Years gmtime and %04d print some other way: theirs, as before. */
			struct tm tm;
			time_t t = (time_t)secs;

			if (!gmtime_r(&t, &tm)) { /* not reachable for 64-bit ns inputs; stay valid */
				strbuf_appendf(out, "\"%" PRId64 "\"", secs);
				return;
			}
			last_len = snprintf(last, sizeof(last), "\"%04d-%02d-%02dT%02d:%02d:%02d",
					    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
					    tm.tm_min, tm.tm_sec);
			if (last_len < 0 || last_len >= (int)sizeof(last)) {
				last_secs = INT64_MIN;
				strbuf_appendf(out, "\"%" PRId64 "\"", secs);
				return;
			}
		}
		last_secs = secs;
	}
	tj_put(out, last, (size_t)last_len);
	if (nsec == 0)
		;
	else if (nsec % 1000000 == 0) {
		tj_putc(out, '.');
		tj_digits(out, nsec / 1000000, 3);
	} else if (nsec % 1000 == 0) {
		tj_putc(out, '.');
		tj_digits(out, nsec / 1000, 6);
	} else {
		tj_putc(out, '.');
		tj_digits(out, nsec, 9);
	}
	tj_put(out, "Z\"", 2);
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
	tj_putc(out, ':');
}

/* Append the scalar types (everything but array and map) in their plain form. */
static void tj_scalar(const msgpack_object *o, struct strbuf *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		tj_put(out, "null", 4);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		if (o->via.boolean)
			tj_put(out, "true", 4);
		else
			tj_put(out, "false", 5);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		tj_u64(out, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 < 0) {
			tj_putc(out, '-');
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
		tj_putc(out, '}');
		break;
	default:
		tj_put(out, "null", 4); /* a type newer than this code */
	}
}

/* Append any object with no Tetragon rules (tj_value's encoding). */
static void tj_generic(const msgpack_object *o, struct strbuf *out, int depth)
{
	if (depth > TJ_MAX_DEPTH) {
		tj_put(out, "null", 4);
		return;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		tj_putc(out, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				tj_putc(out, ',');
			tj_generic(&o->via.array.ptr[i], out, depth + 1);
		}
		tj_putc(out, ']');
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		tj_putc(out, '{');
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				tj_putc(out, ',');
			tj_key(&o->via.map.ptr[i].key, out, depth + 1);
			tj_generic(&o->via.map.ptr[i].val, out, depth + 1);
		}
		tj_putc(out, '}');
	} else {
		tj_scalar(o, out);
	}
}

/* Whether protojson would leave this value out as unset or default. */
static inline int tj_is_empty(const msgpack_object *o, unsigned flags)
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

/* Process fields that are facts of an exec: in the export on process_exec's process
 * only, unless tj_set_process_details(1). Every event carries them through the
 * pipeline (policies match on capabilities); writing them into each line made
 * lines of 5 KB, most of it the same two capability lists. Tetragon too leaves
 * them out unless asked (its --enable-process-cred and --enable-process-ns).
 * The names ("cap", "ns", "process_credentials") are the TJ_K_DETAIL keys. */
static int tj_all_details;

void tj_set_process_details(int all)
{
	tj_all_details = all;
}

static void tj_ev_members(const msgpack_object *m, int keep_all, unsigned skip,
			  struct strbuf *out, int depth, int *first, unsigned trim);

/* Append a Process map (or an array of them, for ancestors) without the TJ_K_DETAIL keys. */
static void tj_trimmed(const msgpack_object *v, struct strbuf *out, int depth)
{
	int first = 1;

	if (v->type == MSGPACK_OBJECT_ARRAY) {
		tj_putc(out, '[');
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			if (i)
				tj_putc(out, ',');
			tj_trimmed(&v->via.array.ptr[i], out, depth + 1);
		}
		tj_putc(out, ']');
	} else if (v->type == MSGPACK_OBJECT_MAP && depth <= TJ_MAX_DEPTH) {
		tj_putc(out, '{');
		tj_ev_members(v, 0, TJ_K_DETAIL, out, depth, &first, 0);
		tj_putc(out, '}');
	} else {
		tj_ev_value(v, 0, out, depth);
	}
}

#define TJ_TRIM_PROCESS 1u /* top level: process, parent, ancestors lose the details */
#define TJ_TRIM_KIN 2u	   /* top level: parent and ancestors do */

/* Append the members of map m with event rules, after *first members already
 * written; keys of a TJ_K_* class in skip are left out. keep_all: the entries of a
 * map<string,string>, none of them default or special. trim: TJ_TRIM_* (top level). */
static void tj_ev_members(const msgpack_object *m, int keep_all, unsigned skip,
			  struct strbuf *out, int depth, int *first, unsigned trim)
{
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		int ix = keep_all ? -1 : tj_find_key(k);
		unsigned cls = ix < 0 ? 0 : tj_names[ix].flags, flags = cls & TJ_TYPE_RULES;
		int trimmed = 0;

		if ((cls & skip) || (!keep_all && tj_is_empty(v, flags)))
			continue;
		if (trim)
			trimmed = ((trim & TJ_TRIM_PROCESS) && (cls & TJ_K_PROCESS)) ||
				  (cls & TJ_K_KIN);
		size_t mark = out->len;
		if (!*first)
			tj_putc(out, ',');
		if (ix >= 0) { /* a known name: its quoted text, with no scan for escapes */
			memcpy(tj_room(out, sizeof tj_names[ix].text), tj_names[ix].text,
			       sizeof tj_names[ix].text);
			out->len += tj_names[ix].len + 3u;
		} else {
			tj_key(k, out, depth + 1);
		}
		size_t vstart = out->len;
		if (trimmed)
			tj_trimmed(v, out, depth + 1);
		else
			tj_ev_value(v, flags, out, depth + 1);
		if (!keep_all && !(flags & TJ_KEEP) && out->len - vstart == 2 &&
		    memcmp(out->buf + vstart, "{}", 2) == 0) {
			out->len = mark; /* every member was empty */
			continue;
		}
		*first = 0;
	}
}

/* Append a capability set (bit n = capability n) as protojson's array of names. The
 * names are quoted once, and the last few sets' arrays kept: a node's processes
 * mostly share two or three sets, each tens of names long. */
static void tj_caps(struct strbuf *out, uint64_t set)
{
	static struct {
		char q[40]; /* "NAME" with its quotes (the longest name is 22 bytes) */
		uint8_t len;
	} name[64];
	static struct {
		uint64_t set;
		int used;
		struct strbuf json;
	} cache[4];
	static unsigned next;
	char buf[16];

	if (!name[0].len) {
		for (unsigned b = 0; b < 64; b++) {
			const char *n = caps_name(b, buf);
			size_t l = strlen(n);
			if (l > sizeof name[b].q - 2) /* no name is this long; stay valid anyway */
				l = sizeof name[b].q - 2;
			name[b].q[0] = '"';
			memcpy(name[b].q + 1, n, l);
			name[b].q[l + 1] = '"';
			name[b].len = (uint8_t)(l + 2);
		}
	}
	for (unsigned i = 0; i < sizeof cache / sizeof cache[0]; i++)
		if (cache[i].used && cache[i].set == set) {
			tj_put(out, cache[i].json.buf, cache[i].json.len);
			return;
		}
	unsigned c = next++ % (sizeof cache / sizeof cache[0]);
	struct strbuf *j = &cache[c].json;
	strbuf_reset(j);
	tj_putc(j, '[');
	for (unsigned b = 0; b < 64; b++) {
		if (!(set & (1ull << b)))
			continue;
		if (j->len > 1)
			tj_putc(j, ',');
		tj_put(j, name[b].q, name[b].len);
	}
	tj_putc(j, ']');
	tj_end(j);
	cache[c].set = set;
	cache[c].used = 1;
	tj_put(out, j->buf, j->len);
}

/* Append a value inside an event: Tetragon's type rules by key flags, empties omitted in maps. */
static void tj_ev_value(const msgpack_object *o, unsigned flags, struct strbuf *out, int depth)
{
	int first = 1;

	if (depth > TJ_MAX_DEPTH) {
		tj_put(out, "null", 4);
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (flags & TJ_TIME) {
			tj_time_ns(o, out);
		} else if ((flags & TJ_CAPS) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			tj_caps(out, o->via.u64);
		} else if (flags & TJ_INT64) {
			tj_putc(out, '"');
			tj_scalar(o, out);
			tj_putc(out, '"');
		} else {
			tj_scalar(o, out);
		}
		break;
	case MSGPACK_OBJECT_MAP:
		tj_putc(out, '{');
		tj_ev_members(o, (flags & TJ_STRMAP) != 0, 0, out, depth, &first, 0);
		tj_putc(out, '}');
		break;
	case MSGPACK_OBJECT_ARRAY:
		/* Elements of a repeated field are all printed; they share its type rule. */
		tj_putc(out, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				tj_putc(out, ',');
			tj_ev_value(&o->via.array.ptr[i], flags & (TJ_INT64 | TJ_TIME), out,
				    depth + 1);
		}
		tj_putc(out, ']');
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
	int first = 1;

	if (!type || !ev || !out || ev->type != MSGPACK_OBJECT_MAP)
		return -1;
	tj_build_names();
	tj_putc(out, '{');
	tj_str(out, type, strlen(type));
	tj_put(out, ":{", 2);
	/* node_name and time are lifted below; "_vigil" carries pipeline-internal facts
	 * (docs/wire.md §4.4): never exported. */
	tj_ev_members(ev, 0, TJ_K_LIFTED | TJ_K_VIGIL, out, 1, &first,
		      tj_all_details ? 0 : strcmp(type, "process_exec") ? TJ_TRIM_PROCESS | TJ_TRIM_KIN
									: TJ_TRIM_KIN);
	tj_putc(out, '}');
	/* GetEventsResponse's own fields, in Tetragon's order: node_name=1000, time=1001. */
	for (const char *const *l = lifted; *l; l++) {
		const msgpack_object *v = tj_lookup(ev, *l);
		msgpack_object k = {.type = MSGPACK_OBJECT_STR};
		unsigned flags;
		if (!v)
			continue;
		k.via.str.ptr = *l;
		k.via.str.size = (uint32_t)strlen(*l);
		flags = tj_key_flags(&k) & TJ_TYPE_RULES;
		if (tj_is_empty(v, flags))
			continue;
		tj_putc(out, ',');
		tj_key(&k, out, 1);
		tj_ev_value(v, flags, out, 1);
	}
	tj_putc(out, '}');
	tj_end(out);
	return 0;
}

int tj_value(const msgpack_object *o, const char *key, struct strbuf *out)
{
	if (!o || !out)
		return -1;
	if (key) {
		tj_str(out, key, strlen(key));
		tj_putc(out, ':');
	}
	tj_generic(o, out, 0);
	tj_end(out);
	return 0;
}
