/* Unit tests for common/tetra_json.c: golden lines for Tetragon's JSON export,
 * protojson's scalar rules, hostile strings, and a fuzz loop whose every
 * output must be one line of valid UTF-8 and valid JSON.
 * Prints one line per check; exits 0 only if every check passed. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <msgpack.h>

#include "caps.h"
#include "strbuf.h"
#include "tetra_json.h"

static int failures, checks;

/* Record one check and print its line; on failure show what we got. */
static void check(const char *name, int ok, const char *got, const char *want)
{
	checks++;
	if (ok) {
		printf("ok - %s\n", name);
		return;
	}
	failures++;
	printf("FAIL - %s\n", name);
	if (got)
		printf("  got:  %s\n", got);
	if (want)
		printf("  want: %s\n", want);
}

/* ---- building msgpack input ------------------------------------------- */

static msgpack_sbuffer sbuf;
static msgpack_packer pk;
static msgpack_unpacked up;

/* Start a new msgpack document in sbuf. */
static void begin(void)
{
	msgpack_sbuffer_clear(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void S(const char *s)
{
	msgpack_pack_str(&pk, strlen(s));
	msgpack_pack_str_body(&pk, s, strlen(s));
}

static void SN(const char *s, size_t n)
{
	msgpack_pack_str(&pk, n);
	msgpack_pack_str_body(&pk, s, n);
}

static void U(uint64_t v)
{
	msgpack_pack_uint64(&pk, v);
}
static void I(int64_t v)
{
	msgpack_pack_int64(&pk, v);
}
static void M(size_t n)
{
	msgpack_pack_map(&pk, n);
}
static void A(size_t n)
{
	msgpack_pack_array(&pk, n);
}
static void KS(const char *k, const char *v)
{
	S(k);
	S(v);
}
static void KU(const char *k, uint64_t v)
{
	S(k);
	U(v);
}

/* Unpack what was packed since begin(); the object lives until the next call. */
static const msgpack_object *finish(void)
{
	size_t off = 0;
	if (msgpack_unpack_next(&up, sbuf.data, sbuf.size, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != sbuf.size) {
		fprintf(stderr, "test_tetra_json: fatal: test input did not unpack\n");
		exit(1);
	}
	return &up.data;
}

/* ---- validators, written independently of the encoder ------------------ */

/* Strict UTF-8 check by decoding code points (no overlongs, surrogates, > U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i], len, cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

struct jv {
	const char *p, *e;
};

static int jv_value(struct jv *v, int depth);

static void jv_ws(struct jv *v)
{
	while (v->p < v->e && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static int jv_lit(struct jv *v, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(v->e - v->p) < n || memcmp(v->p, w, n) != 0)
		return 0;
	v->p += n;
	return 1;
}

static int jv_digits(struct jv *v)
{
	const char *s = v->p;
	while (v->p < v->e && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s;
}

/* RFC 8259 number. */
static int jv_number(struct jv *v)
{
	if (v->p < v->e && *v->p == '-')
		v->p++;
	if (v->p < v->e && *v->p == '0')
		v->p++;
	else if (!(v->p < v->e && *v->p >= '1' && *v->p <= '9' && jv_digits(v)))
		return 0;
	if (v->p < v->e && *v->p == '.') {
		v->p++;
		if (!jv_digits(v))
			return 0;
	}
	if (v->p < v->e && (*v->p == 'e' || *v->p == 'E')) {
		v->p++;
		if (v->p < v->e && (*v->p == '+' || *v->p == '-'))
			v->p++;
		if (!jv_digits(v))
			return 0;
	}
	return 1;
}

/* RFC 8259 string (byte-level; UTF-8 is checked separately). */
static int jv_string(struct jv *v)
{
	if (v->p >= v->e || *v->p != '"')
		return 0;
	v->p++;
	while (v->p < v->e) {
		unsigned char c = (unsigned char)*v->p++;
		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (v->p >= v->e)
			return 0;
		c = (unsigned char)*v->p++;
		if (c == 'u') {
			for (int k = 0; k < 4; k++, v->p++)
				if (v->p >= v->e || !strchr("0123456789abcdefABCDEF", *v->p) ||
				    !*v->p)
					return 0;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return 0;
		}
	}
	return 0;
}

static int jv_value(struct jv *v, int depth)
{
	if (depth > 512)
		return 0;
	jv_ws(v);
	if (v->p >= v->e)
		return 0;
	char c = *v->p;
	int ok = 1;
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		v->p++;
		jv_ws(v);
		if (v->p < v->e && *v->p == close) {
			v->p++;
			return 1;
		}
		for (;;) {
			if (c == '{') {
				jv_ws(v);
				if (!jv_string(v))
					return 0;
				jv_ws(v);
				if (!jv_lit(v, ":"))
					return 0;
			}
			if (!jv_value(v, depth + 1))
				return 0;
			jv_ws(v);
			if (jv_lit(v, ","))
				continue;
			char cl[2] = {close, 0};
			return jv_lit(v, cl);
		}
	}
	if (c == '"')
		ok = jv_string(v);
	else if (c == '-' || (c >= '0' && c <= '9'))
		ok = jv_number(v);
	else
		ok = jv_lit(v, "true") || jv_lit(v, "false") || jv_lit(v, "null");
	return ok;
}

/* Whether s[0..n) is exactly one JSON text, valid UTF-8, on one line. */
static int json_line_valid(const char *s, size_t n)
{
	struct jv v = {s, s + n};
	if (memchr(s, '\n', n) || !utf8_valid((const unsigned char *)s, n))
		return 0;
	if (!jv_value(&v, 0))
		return 0;
	jv_ws(&v);
	return v.p == v.e;
}

/* ---- helpers for golden comparisons ----------------------------------- */

/* Encode the packed document as an event of type and compare to want. */
static void expect_event(const char *name, const char *type, const char *want)
{
	struct strbuf out;
	strbuf_init(&out);
	int rc = tj_event_line(type, finish(), &out);
	check(name,
	      rc == 0 && out.buf && strcmp(out.buf, want) == 0 && json_line_valid(out.buf, out.len),
	      out.buf ? out.buf : "(nothing)", want);
	strbuf_free(&out);
}

/* Encode the packed document with tj_value and compare to want. */
static void expect_value(const char *name, const char *key, const char *want)
{
	struct strbuf out;
	strbuf_init(&out);
	int rc = tj_value(finish(), key, &out);
	check(name, rc == 0 && out.buf && strcmp(out.buf, want) == 0,
	      out.buf ? out.buf : "(nothing)", want);
	strbuf_free(&out);
}

/* ---- golden tests ------------------------------------------------------ */

#define EXEC_ID "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4Njc0MzIxMzczOjUyNjk5"
#define PEXEC_ID "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4MDAwMDAwMDAwOjUyNjkw"
#define NODE "gke-john-632-default-pool-7041cac0-9s95"
#define CID "containerd://551e161c47d8ff0eb665438a7bcd5b4e3ef5a297282b40a92b7c77d6bd168eb3"
#define IMGID                                                                                      \
	"docker.io/tgraf/"                                                                         \
	"netperf@sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6"

/* A whole enriched process_exec as the enricher sends it (wire.md 4.4). */
static void test_process_exec(void)
{
	begin();
	M(4);
	KU("time", 1696629837700326678ull); /* lifted fields first: order must not matter */
	KS("node_name", NODE);
	S("process");
	M(17);
	KS("exec_id", EXEC_ID);
	KU("pid", 52699);
	KU("uid", 0);
	KS("cwd", "/");
	KS("binary", "/usr/bin/curl");
	KS("arguments", "https://ebpf.io/applications/#tetragon");
	KS("flags", "execve rootcwd");
	KU("start_time", 1696629837700327580ull);
	KU("auid", 4294967295u);
	S("pod");
	M(6);
	KS("namespace", "default");
	KS("name", "xwing");
	S("container");
	M(6);
	KS("id", CID);
	KS("name", "spaceship");
	S("image");
	M(2);
	KS("id", IMGID);
	KS("name", "docker.io/tgraf/netperf:latest");
	KU("start_time", 1696629837000000000ull);
	KU("pid", 49);
	S("maybe_exec_probe");
	msgpack_pack_false(&pk);
	S("pod_labels");
	M(4);
	KS("app.kubernetes.io/name", "xwing");
	KS("class", "xwing");
	KS("empty", "");
	KS("org", "alliance");
	KS("workload", "xwing");
	KS("workload_kind", "");
	KS("docker", "551e161c47d8ff0eb665438a7bcd5b4");
	KS("parent_exec_id", PEXEC_ID);
	KU("refcnt", 0);
	S("cap");
	M(0);
	S("ns");
	M(1);
	S("uts");
	M(2);
	KU("inum", 0);
	S("is_host");
	msgpack_pack_false(&pk);
	KU("tid", 52699);
	S("binary_properties");
	M(3);
	KU("setuid", 0);
	S("privileges_changed");
	A(0);
	S("file");
	M(2);
	S("inode");
	M(2);
	KU("number", 123456789012ull);
	KU("links", 0);
	KS("path", "");
	S("parent");
	M(11);
	KS("exec_id", PEXEC_ID);
	KU("pid", 52690);
	KU("uid", 0);
	KS("cwd", "/");
	KS("binary", "/bin/bash");
	KS("arguments", "");
	KS("flags", "execve rootcwd clone");
	KU("start_time", 1696629800500000000ull);
	KU("auid", 4294967295u);
	KS("parent_exec_id", "Z2tlOjA6MQ==");
	S("docker");
	msgpack_pack_nil(&pk);
	expect_event(
	    "process_exec golden line (lifting, empties, wrappers, 64-bit, timestamps)",
	    "process_exec",
	    "{\"process_exec\":{\"process\":{\"exec_id\":\"" EXEC_ID "\",\"pid\":52699,\"uid\":0,"
	    "\"cwd\":\"/\",\"binary\":\"/usr/bin/curl\","
	    "\"arguments\":\"https://ebpf.io/applications/#tetragon\",\"flags\":\"execve rootcwd\","
	    "\"start_time\":\"2023-10-06T22:03:57.700327580Z\",\"auid\":4294967295,"
	    "\"pod\":{\"namespace\":\"default\",\"name\":\"xwing\",\"container\":{\"id\":\"" CID
	    "\","
	    "\"name\":\"spaceship\",\"image\":{\"id\":\"" IMGID
	    "\",\"name\":\"docker.io/tgraf/netperf:latest\"},"
	    "\"start_time\":\"2023-10-06T22:03:57Z\",\"pid\":49},"
	    "\"pod_labels\":{\"app.kubernetes.io/"
	    "name\":\"xwing\",\"class\":\"xwing\",\"empty\":\"\",\"org\":\"alliance\"},"
	    "\"workload\":\"xwing\"},\"docker\":\"551e161c47d8ff0eb665438a7bcd5b4\","
	    "\"parent_exec_id\":\"" PEXEC_ID "\",\"tid\":52699,"
	    "\"binary_properties\":{\"setuid\":0,\"file\":{\"inode\":{\"number\":\"123456789012\","
	    "\"links\":0}}}},"
	    "\"parent\":{\"exec_id\":\"" PEXEC_ID
	    "\",\"pid\":52690,\"uid\":0,\"cwd\":\"/\",\"binary\":\"/bin/bash\","
	    "\"flags\":\"execve rootcwd clone\",\"start_time\":\"2023-10-06T22:03:20.500Z\","
	    "\"auid\":4294967295,\"parent_exec_id\":\"Z2tlOjA6MQ==\"}},"
	    "\"node_name\":\"" NODE "\",\"time\":\"2023-10-06T22:03:57.700326678Z\"}");
}

/* Capability sets travel as bit sets (docs/wire.md §8.2) and are written as names:
 * bit 1 is Tetragon's DAC_OVERRIDE, bits past the known ones CAP_<n>, an empty set is
 * left out like an empty repeated field, arrays of names pass as they are. */
static void test_capsets(void)
{
	begin();
	M(1);
	S("process");
	M(2);
	S("cap");
	M(3);
	KU("permitted", (1ull << 1) | (1ull << 21) | (1ull << 63));
	KU("effective", 0);
	S("inheritable");
	A(1);
	S("CAP_KILL");
	S("process_credentials");
	M(1);
	S("caps");
	M(1);
	KU("effective", 1);
	tj_set_process_details(1);
	expect_event("capability bit sets become names", "process_exec",
		     "{\"process_exec\":{\"process\":{\"cap\":{\"permitted\":[\"DAC_OVERRIDE\","
		     "\"CAP_SYS_ADMIN\",\"CAP_63\"],\"inheritable\":[\"CAP_KILL\"]},"
		     "\"process_credentials\":{\"caps\":{\"effective\":[\"CAP_CHOWN\"]}}}}}");
	tj_set_process_details(0);
}

/* A Process with exec facts (cap, ns, process_credentials) and a pid. */
static void proc_with_details(uint64_t pid)
{
	M(4);
	KU("pid", pid);
	S("cap");
	M(1);
	S("effective");
	A(1);
	S("CAP_KILL");
	S("ns");
	M(1);
	S("mnt");
	M(1);
	KU("inum", 4026531841);
	S("process_credentials");
	M(1);
	KU("euid", 7);
}

/* Exec facts are exported on process_exec's process only, unless asked for. */
static void test_process_details(void)
{
	static const char *const types[] = {"process_kprobe", "process_exec"};
	static const char *const want[2][2] = {
		{"{\"process_kprobe\":{\"process\":{\"pid\":1},\"parent\":{\"pid\":2},"
		 "\"ancestors\":[{\"pid\":3}]}}",
		 "{\"process_kprobe\":{\"process\":{\"pid\":1,\"cap\":{\"effective\":[\"CAP_KILL\"]},"
		 "\"ns\":{\"mnt\":{\"inum\":4026531841}},\"process_credentials\":{\"euid\":7}},"
		 "\"parent\":{\"pid\":2,\"cap\":{\"effective\":[\"CAP_KILL\"]},\"ns\":{\"mnt\":"
		 "{\"inum\":4026531841}},\"process_credentials\":{\"euid\":7}},\"ancestors\":[{\"pid\":3,"
		 "\"cap\":{\"effective\":[\"CAP_KILL\"]},\"ns\":{\"mnt\":{\"inum\":4026531841}},"
		 "\"process_credentials\":{\"euid\":7}}]}}"},
		{"{\"process_exec\":{\"process\":{\"pid\":1,\"cap\":{\"effective\":[\"CAP_KILL\"]},"
		 "\"ns\":{\"mnt\":{\"inum\":4026531841}},\"process_credentials\":{\"euid\":7}},"
		 "\"parent\":{\"pid\":2},\"ancestors\":[{\"pid\":3}]}}", NULL},
	};

	for (int t = 0; t < 2; t++)
		for (int all = 0; all < 2; all++) {
			if (!want[t][all])
				continue;
			begin();
			M(3);
			S("process");
			proc_with_details(1);
			S("parent");
			proc_with_details(2);
			S("ancestors");
			A(1);
			proc_with_details(3);
			tj_set_process_details(all);
			expect_event(all ? "every Process keeps cap/ns/credentials when asked"
				     : t ? "process_exec: exec facts on its process only"
					 : "process_kprobe: no exec facts on any Process",
				     types[t], want[t][all]);
		}
	tj_set_process_details(0);
}

static void test_timestamps(void)
{
	static const struct {
		int neg;
		uint64_t u;
		int64_t i;
		const char *want;
	} t[] = {
	    {0, 0, 0, "1970-01-01T00:00:00Z"},
	    {0, 500000000, 0, "1970-01-01T00:00:00.500Z"},
	    {0, 1, 0, "1970-01-01T00:00:00.000000001Z"},
	    {0, 1000, 0, "1970-01-01T00:00:00.000001Z"},
	    {0, 1500, 0, "1970-01-01T00:00:00.000001500Z"},
	    {0, 120000000, 0, "1970-01-01T00:00:00.120Z"},
	    {0, 1696629837700327000ull, 0, "2023-10-06T22:03:57.700327Z"},
	    {0, 1696629837700326678ull, 0, "2023-10-06T22:03:57.700326678Z"},
	    {0, UINT64_MAX, 0, "2554-07-21T23:34:33.709551615Z"},
	    {1, 0, -1, "1969-12-31T23:59:59.999999999Z"},
	    {1, 0, -1000000000, "1969-12-31T23:59:59Z"},
	    {1, 0, INT64_MIN, "1677-09-21T00:12:43.145224192Z"},
	};
	char name[96], want[160];

	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		begin();
		M(1);
		S("time");
		if (t[k].neg)
			I(t[k].i);
		else
			U(t[k].u);
		snprintf(name, sizeof name, "timestamp %s", t[k].want);
		snprintf(want, sizeof want, "{\"t\":{},\"time\":\"%s\"}", t[k].want);
		expect_event(name, "t", want);
	}
	begin();
	M(2);
	KS("time", "2023-10-06T22:03:57Z");
	S("x");
	M(1);
	KU("start_time", 0);
	expect_event("timestamp already a string passes through; nested start_time at 0 is kept",
		     "t",
		     "{\"t\":{\"x\":{\"start_time\":\"1970-01-01T00:00:00Z\"}},\"time\":\"2023-10-"
		     "06T22:03:57Z\"}");
}

/* uint64/int64 fields are strings, other ints numbers; oneof members kept at zero. */
static void test_int64_and_oneof(void)
{
	begin();
	M(4);
	KS("function_name", "security_file_open");
	S("args");
	A(6);
	M(1);
	KU("size_arg", 4096);
	M(1);
	S("long_arg");
	I(-5);
	M(1);
	KU("int_arg", 7);
	M(1);
	KU("size_arg", UINT64_MAX);
	M(1);
	KS("string_arg", "");
	M(1);
	S("long_arg");
	I(INT64_MIN);
	S("return");
	M(1);
	KU("int_arg", 0);
	S("kernel_stack_trace");
	A(1);
	M(3);
	KU("address", 18446744072635809792ull);
	KU("offset", 0);
	KS("symbol", "do_sys_open");
	expect_event("64-bit fields as strings, oneof args kept when zero/empty", "process_kprobe",
		     "{\"process_kprobe\":{\"function_name\":\"security_file_open\","
		     "\"args\":[{\"size_arg\":\"4096\"},{\"long_arg\":\"-5\"},{\"int_arg\":7},"
		     "{\"size_arg\":\"18446744073709551615\"},{\"string_arg\":\"\"},"
		     "{\"long_arg\":\"-9223372036854775808\"}],\"return\":{\"int_arg\":0},"
		     "\"kernel_stack_trace\":[{\"address\":\"18446744072635809792\",\"symbol\":"
		     "\"do_sys_open\"}]}}");

	begin();
	M(3);
	KU("number_of_dropped_process_events", 42);
	KU("count", 3);
	KU("status", 0);
	expect_event(
	    "rate_limit_info count as string; uint32 status 0 omitted", "rate_limit_info",
	    "{\"rate_limit_info\":{\"number_of_dropped_process_events\":\"42\",\"count\":\"3\"}}");
}

/* Empties omitted, wrapper zeros kept, all-empty maps dropped, bin as base64. */
static void test_empties(void)
{
	static const char bin[] = {1, 2, 3, (char)0xff};
	begin();
	M(1);
	S("process");
	M(20);
	KU("pid", 0);
	KU("uid", 0);
	KU("auid", 0);
	KU("tid", 0);
	KU("refcnt", 0);
	KS("cwd", "");
	S("flags");
	msgpack_pack_nil(&pk);
	S("pod");
	M(0);
	S("ancestors");
	A(0);
	S("in_init_tree");
	msgpack_pack_false(&pk);
	S("x");
	msgpack_pack_false(&pk);
	S("y");
	msgpack_pack_true(&pk);
	S("f");
	msgpack_pack_double(&pk, 0.0);
	S("g");
	msgpack_pack_double(&pk, 1.5);
	S("bin");
	msgpack_pack_bin(&pk, 0);
	S("b2");
	msgpack_pack_bin(&pk, 4);
	msgpack_pack_bin_body(&pk, bin, 4);
	S("pid_nil");
	msgpack_pack_nil(&pk);
	S("tags");
	A(3);
	S("");
	U(0);
	msgpack_pack_nil(&pk);
	S("deep");
	M(1);
	S("deeper");
	M(2);
	KS("a", "");
	S("b");
	A(0);
	S("ext");
	msgpack_pack_ext(&pk, 2, 5);
	msgpack_pack_ext_body(&pk, "\x01\x02", 2);
	expect_event("empties omitted, wrapper zeros kept, array elements never dropped",
		     "process_exec",
		     "{\"process_exec\":{\"process\":{\"pid\":0,\"uid\":0,\"auid\":0,\"tid\":0,"
		     "\"in_init_tree\":false,\"y\":true,\"g\":1.5,\"b2\":\"AQID/"
		     "w==\",\"tags\":[\"\",0,null],"
		     "\"ext\":{\"ext_type\":5,\"data\":\"AQI=\"}}}}");

	begin();
	M(3);
	KS("node_name", "");
	S("time");
	msgpack_pack_nil(&pk);
	KU("status", 0);
	expect_event("empty node_name and nil time are left out; empty event stays {}",
		     "process_exit", "{\"process_exit\":{}}");
}

/* Escapes as protojson writes them, raw valid UTF-8, U+FFFD for invalid sequences. */
static void test_strings(void)
{
#define B(lit) lit, sizeof(lit) - 1 /* a literal and its length, embedded NULs included */
	static const struct {
		const char *name, *in;
		size_t n;
		const char *want;
	} t[] = {
	    {"quote, backslash, short escapes", B("a\"b\\c\n\t\r\b\f"),
	     "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\""},
	    {"other controls as lowercase \\u00xx, NUL kept",
	     B("\x01\x1f\x1b"
	       "x\0y"),
	     "\"\\u0001\\u001f\\u001bx\\u0000y\""},
	    {"DEL, slash, non-ASCII and U+2028/2029 unescaped",
	     B("\x7f/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8\xe2\x80\xa9"),
	     "\"\x7f/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8\xe2\x80\xa9\""},
	    {"lone 0xff", B("\xff"), "\"\xef\xbf\xbd\""},
	    {"truncated 3-byte at end", B("a\xe2\x82"), "\"a\xef\xbf\xbd\""},
	    {"truncated 3-byte before ASCII",
	     B("\xe2\x82"
	       "a"),
	     "\"\xef\xbf\xbd"
	     "a\""},
	    {"truncated 4-byte", B("\xf0\x9f\x98"), "\"\xef\xbf\xbd\""},
	    {"overlong slash c0 af", B("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"overlong 3-byte e0 80 af", B("\xe0\x80\xaf"),
	     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"surrogate ed a0 80", B("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"above U+10FFFF f4 90 80 80", B("\xf4\x90\x80\x80"),
	     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"U+10FFFF itself is valid", B("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\""},
	    {"5-byte form f8", B("\xf8\x88\x80\x80\x80"),
	     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"stray continuation between text",
	     B("ab\x80"
	       "cd"),
	     "\"ab\xef\xbf\xbd"
	     "cd\""},
	    {"U+FFFD in input kept as is", B("\xef\xbf\xbd"), "\"\xef\xbf\xbd\""},
	    {"empty string", B(""), "\"\""},
	};
	char name[128];

	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		begin();
		SN(t[k].in, t[k].n);
		snprintf(name, sizeof name, "string: %s", t[k].name);
		expect_value(name, NULL, t[k].want);
	}
	begin();
	M(1);
	SN("bin\xff\n", 5);
	M(1);
	KS("arguments", "--x=\"\xc0\xaf\"");
	expect_event("hostile keys and values inside an event", "process_exec",
		     "{\"process_exec\":{\"bin\xef\xbf\xbd\\n\":{\"arguments\":\"--x="
		     "\\\"\xef\xbf\xbd\xef\xbf\xbd\\\"\"}}}");
	begin();
	M(0);
	expect_event("event type is escaped too", "a\"\xff", "{\"a\\\"\xef\xbf\xbd\":{}}");
}

/* tj_value: plain JSON of any object, non-string keys stringified, optional key. */
static void test_value(void)
{
	begin();
	M(8);
	U(1);
	msgpack_pack_nil(&pk);
	S("k");
	A(6);
	msgpack_pack_true(&pk);
	msgpack_pack_false(&pk);
	I(-3);
	msgpack_pack_double(&pk, 2.5);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	U(0);
	msgpack_pack_nil(&pk);
	U(0);
	A(2);
	U(1);
	S("x");
	S("arr-key");
	msgpack_pack_double(&pk, 1.5);
	U(1);
	msgpack_pack_true(&pk);
	U(0);
	KU("time", 0);
	S("e");
	M(0);
	expect_value("generic map: nothing omitted, keys stringified", NULL,
		     "{\"1\":null,\"k\":[true,false,-3,2.5,\"YWJj\",0],\"null\":0,"
		     "\"[1,\\\"x\\\"]\":\"arr-key\",\"1.5\":1,\"true\":0,\"time\":0,\"e\":{}}");
	begin();
	U(18446744073709551615ull);
	expect_value("generic with key prefix", "seq", "\"seq\":18446744073709551615");

	static const struct {
		double d;
		int f32;
		const char *want;
	} f[] = {
	    {0.1, 0, "0.1"},
	    {1e21, 0, "1e+21"},
	    {1e20, 0, "100000000000000000000"},
	    {1e-7, 0, "1e-7"},
	    {1.5e-10, 0, "1.5e-10"},
	    {0.000001, 0, "0.000001"},
	    {123456789.0, 0, "123456789"},
	    {-0.0, 0, "-0"},
	    {0.1, 1, "0.1"},
	    {3.4028234663852886e38, 1, "3.4028235e+38"},
	    {1.0 / 3.0, 0, "0.3333333333333333"},
	};
	char name[64];
	for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
		begin();
		if (f[k].f32)
			msgpack_pack_float(&pk, (float)f[k].d);
		else
			msgpack_pack_double(&pk, f[k].d);
		snprintf(name, sizeof name, "float%s %s", f[k].f32 ? "32" : "64", f[k].want);
		expect_value(name, NULL, f[k].want);
	}
	begin();
	A(3);
	msgpack_pack_double(&pk, NAN);
	msgpack_pack_double(&pk, INFINITY);
	msgpack_pack_double(&pk, -INFINITY);
	expect_value("NaN and infinities as protojson strings", NULL,
		     "[\"NaN\",\"Infinity\",\"-Infinity\"]");
}

/* Non-map events are refused without output; NULL arguments are refused. */
static void test_refusals(void)
{
	struct strbuf out;
	strbuf_init(&out);
	strbuf_append(&out, "xyz", 3);
	begin();
	A(1);
	U(1);
	int rc1 = tj_event_line("process_exec", finish(), &out);
	begin();
	S("not a map");
	int rc2 = tj_event_line("process_exec", finish(), &out);
	begin();
	M(0);
	int rc3 = tj_event_line(NULL, finish(), &out);
	int rc4 = tj_value(NULL, NULL, &out);
	check("non-map ev, NULL type, NULL object: -1 and nothing appended",
	      rc1 == -1 && rc2 == -1 && rc3 == -1 && rc4 == -1 && out.len == 3 &&
		  strcmp(out.buf, "xyz") == 0,
	      out.buf, "xyz");
	strbuf_free(&out);
}

/* Nesting beyond TJ_MAX_DEPTH becomes null, in both encoders, without recursion blow-up. */
static void test_depth(void)
{
	enum { N = 100000 };
	msgpack_object *arr = calloc(N, sizeof *arr);
	msgpack_object_kv *kv = calloc(N, sizeof *kv);
	struct strbuf out, want;

	if (!arr || !kv)
		abort();
	strbuf_init(&out);
	strbuf_init(&want);
	for (int i = 0; i < N; i++) {
		arr[i].type = MSGPACK_OBJECT_ARRAY;
		arr[i].via.array.size = i + 1 < N ? 1 : 0;
		arr[i].via.array.ptr = i + 1 < N ? &arr[i + 1] : NULL;
	}
	tj_value(&arr[0], NULL, &out);
	for (int i = 0; i <= TJ_MAX_DEPTH; i++)
		strbuf_putc(&want, '[');
	strbuf_append(&want, "null", 4);
	for (int i = 0; i <= TJ_MAX_DEPTH; i++)
		strbuf_putc(&want, ']');
	check("100000 nested arrays: 65 levels then null", strcmp(out.buf, want.buf) == 0, out.buf,
	      want.buf);

	/* A chain of maps {"a":{"a":...}}, ending in a non-empty string. */
	static const char key[] = "a";
	for (int i = 0; i < N; i++) {
		kv[i].key.type = MSGPACK_OBJECT_STR;
		kv[i].key.via.str.ptr = key;
		kv[i].key.via.str.size = 1;
		if (i + 1 < N) {
			kv[i].val.type = MSGPACK_OBJECT_MAP;
			kv[i].val.via.map.size = 1;
			kv[i].val.via.map.ptr = &kv[i + 1];
		} else {
			kv[i].val.type = MSGPACK_OBJECT_STR;
			kv[i].val.via.str.ptr = key;
			kv[i].val.via.str.size = 1;
		}
	}
	msgpack_object top = {.type = MSGPACK_OBJECT_MAP};
	top.via.map.size = 1;
	top.via.map.ptr = &kv[0];
	strbuf_reset(&out);
	int rc = tj_event_line("t", &top, &out);
	check("100000 nested maps in an event: valid JSON, cut with null",
	      rc == 0 && json_line_valid(out.buf, out.len) && strstr(out.buf, ":null}") != NULL,
	      out.buf, NULL);
	strbuf_reset(&out);
	tj_value(&top, NULL, &out);
	check("100000 nested maps generic: valid JSON, cut with null",
	      json_line_valid(out.buf, out.len) && strstr(out.buf, ":null}") != NULL, out.buf,
	      NULL);
	/* The map as a key of itself's kind: a deep key must be cut as well. */
	kv[0].key = kv[0].val;
	strbuf_reset(&out);
	tj_value(&top, NULL, &out);
	check("deep non-string key: valid JSON", json_line_valid(out.buf, out.len), out.buf, NULL);
	strbuf_free(&out);
	strbuf_free(&want);
	free(arr);
	free(kv);
}

/* ---- fuzz ----------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: reproducible without libc's rand state. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* A short string biased toward bytes that break naive encoders. */
static void gen_str(char *s, size_t *n)
{
	static const char *const pool[] = {"pid",	 "uid",		 "time",     "start_time",
					   "number",	 "size_arg",	 "long_arg", "string_arg",
					   "pod_labels", "node_name",	 "process",  "args",
					   "links",	 "in_init_tree", "offset",   ""};
	if (rnd() % 2) {
		const char *p = pool[rnd() % (sizeof pool / sizeof pool[0])];
		*n = strlen(p);
		memcpy(s, p, *n);
		return;
	}
	*n = rnd() % 13;
	for (size_t i = 0; i < *n; i++) {
		switch (rnd() % 5) {
		case 0:
			s[i] = (char)rnd();
			break;
		case 1:
			s[i] = (char)(0x20 + rnd() % 95);
			break;
		case 2:
			s[i] = (char)(0xc0 + rnd() % 64);
			break;
		case 3:
			s[i] = (char)(0x80 + rnd() % 64);
			break;
		default:
			s[i] = (char)(rnd() % 32);
		}
	}
}

static void gen_obj(int depth);

/* Pack a random map, its keys mostly strings that carry encoding rules. */
static void gen_map(int depth)
{
	char s[16];
	size_t n, members = rnd() % 6;

	M(members);
	for (size_t i = 0; i < members; i++) {
		if (rnd() % 5) {
			gen_str(s, &n);
			SN(s, n);
		} else {
			gen_obj(depth + 1); /* a non-string key */
		}
		gen_obj(depth + 1);
	}
}

/* Pack one random object, nested up to a few levels. */
static void gen_obj(int depth)
{
	char s[16];
	size_t n;
	uint64_t bits;
	double d;
	float f;
	unsigned r = (unsigned)(rnd() % 16);

	if (depth > 6 && r >= 11)
		r = rnd() % 11;
	switch (r) {
	case 0:
		msgpack_pack_nil(&pk);
		break;
	case 1:
		if (rnd() % 2)
			msgpack_pack_true(&pk);
		else
			msgpack_pack_false(&pk);
		break;
	case 2:
		U(rnd() % 3);
		break;
	case 3:
		U(rnd());
		break;
	case 4:
		I((int64_t)(rnd() | 1ull << 63));
		break;
	case 5:
		bits = rnd();
		memcpy(&d, &bits, sizeof d);
		msgpack_pack_double(&pk, rnd() % 2 ? d : (double)(int64_t)rnd() / 1e9);
		break;
	case 6:
		bits = rnd();
		memcpy(&f, &bits, sizeof f);
		msgpack_pack_float(&pk, f);
		break;
	case 7:
	case 8:
		gen_str(s, &n);
		SN(s, n);
		break;
	case 9:
		gen_str(s, &n);
		msgpack_pack_bin(&pk, n);
		msgpack_pack_bin_body(&pk, s, n);
		break;
	case 10:
		gen_str(s, &n);
		msgpack_pack_ext(&pk, n, (int8_t)rnd());
		msgpack_pack_ext_body(&pk, s, n);
		break;
	case 11:
	case 12:
		n = rnd() % 5;
		A(n);
		for (size_t i = 0; i < n; i++)
			gen_obj(depth + 1);
		break;
	default:
		gen_map(depth);
	}
}

/* Check one encoder output; remember the first bad one for the report. */
static int fuzz_ok(const struct strbuf *out, struct strbuf *first_bad)
{
	if (json_line_valid(out->buf ? out->buf : "", out->len))
		return 1;
	if (first_bad->len == 0)
		for (size_t i = 0; i < out->len; i++)
			strbuf_appendf(first_bad, "%02x", (unsigned char)out->buf[i]);
	return 0;
}

/* 20,000 random and mutated msgpack inputs through both encoders. */
static void test_fuzz(void)
{
	enum { ROUNDS = 20000 };
	struct strbuf out, bad;
	unsigned long objects = 0, maps = 0, bad_outputs = 0, bad_refusals = 0;
	char raw[64];

	strbuf_init(&out);
	strbuf_init(&bad);
#if !defined(__SANITIZE_ADDRESS__)
	/* A random array header can announce 2^32 elements; msgpack-c allocates
	 * them up front. Bound the address space so such input fails to unpack
	 * instead of touching the machine's memory limits. */
	struct rlimit rl = {1ul << 31, 1ul << 31};
	struct rlimit old;
	getrlimit(RLIMIT_AS, &old);
	if (old.rlim_cur == RLIM_INFINITY || old.rlim_cur > rl.rlim_cur)
		setrlimit(RLIMIT_AS, &rl);
#endif
	for (int round = 0; round < ROUNDS; round++) {
		const char *data;
		size_t len;
		if (round % 3 == 0) {
			len = 1 + rnd() % sizeof raw;
			for (size_t i = 0; i < len; i++)
				raw[i] = (char)rnd();
			data = raw;
		} else {
			begin();
			if (rnd() % 2)
				gen_map(
				    0); /* events are maps: make sure tj_event_line gets plenty */
			else
				gen_obj(0);
			for (unsigned flips = (unsigned)(rnd() % 4); flips && sbuf.size; flips--)
				sbuf.data[rnd() % sbuf.size] = (char)rnd();
			if (rnd() % 4 == 0 && sbuf.size)
				sbuf.size = rnd() % sbuf.size + 1;
			data = sbuf.data;
			len = sbuf.size;
		}
		size_t off = 0;
		while (off < len &&
		       msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS) {
			const msgpack_object *o = &up.data;
			objects++;
			strbuf_reset(&out);
			tj_value(o, NULL, &out);
			bad_outputs += !fuzz_ok(&out, &bad);
			strbuf_reset(&out);
			strbuf_putc(&out, '{');
			tj_value(o, "k\xff\n", &out);
			strbuf_putc(&out, '}');
			bad_outputs += !fuzz_ok(&out, &bad);
			strbuf_reset(&out);
			int rc = tj_event_line("process_exec", o, &out);
			if (o->type == MSGPACK_OBJECT_MAP) {
				maps++;
				bad_refusals += rc != 0;
				bad_outputs += !fuzz_ok(&out, &bad);
			} else {
				bad_refusals += rc != -1 || out.len != 0;
			}
		}
	}
#if !defined(__SANITIZE_ADDRESS__)
	setrlimit(RLIMIT_AS, &old);
#endif
	char name[160];
	snprintf(name, sizeof name,
		 "fuzz: %d inputs, %lu objects decoded (%lu maps), all outputs valid one-line "
		 "UTF-8 JSON",
		 ROUNDS, objects, maps);
	/* Too few decoded objects would make the check hollow. */
	check(name,
	      bad_outputs == 0 && bad_refusals == 0 && objects >= ROUNDS / 2 && maps >= ROUNDS / 10,
	      bad.len ? bad.buf : NULL, NULL);
	strbuf_free(&out);
	strbuf_free(&bad);
}

/* ---- the encoder's fast paths against slow references (issue 8) -------- */

/* The JSON string protojson would write for p[0..n), written byte by byte from the
 * rules (escapes; U+FFFD for each maximal invalid subpart), for the scanning encoder
 * to be compared with. */
static void ref_str(struct strbuf *o, const unsigned char *p, size_t n)
{
	char e[8];

	strbuf_putc(o, '"');
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c == '"' || c == '\\') {
			e[0] = '\\', e[1] = (char)c;
			strbuf_append(o, e, 2);
			i++;
		} else if (c < 0x20) {
			const char *s = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n" :
					c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
			if (s)
				strbuf_append(o, s, 2);
			else
				strbuf_appendf(o, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			strbuf_putc(o, (int)c);
			i++;
		} else {
			/* Valid second-byte range and length for each lead byte (Unicode table 3-7). */
			unsigned len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
				       c >= 0xf0 && c <= 0xf4 ? 4 : 0;
			unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
			unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
			unsigned k = 1;
			if (len)
				for (; k < len && i + k < n; k++) {
					unsigned b = p[i + k];
					if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
						break;
				}
			if (len && k == len) {
				strbuf_append(o, p + i, len);
				i += len;
			} else {
				strbuf_append(o, "\xef\xbf\xbd", 3);
				i += len ? k : 1;
			}
		}
	}
	strbuf_putc(o, '"');
}

/* Encode p[0..n) as a msgpack string with tj_value and compare with ref_str. */
static int str_matches(const unsigned char *p, size_t n, struct strbuf *got, struct strbuf *want)
{
	begin();
	SN((const char *)p, n);
	strbuf_reset(got);
	strbuf_reset(want);
	tj_value(finish(), NULL, got);
	ref_str(want, p, n);
	return got->len == want->len && memcmp(got->buf, want->buf, got->len) == 0 &&
	       got->buf[got->len] == '\0';
}

/* Every special byte or sequence at every position of plain strings of 0..40 bytes
 * (the encoder scans 8 bytes at a time, the tail as an overlapping word), and
 * random strings up to 300 bytes drawn mostly from the special bytes. */
static void test_string_scan(void)
{
	static const struct {
		const char *s;
		size_t n;
	} ins[] = {
	    {"\"", 1}, {"\\", 1}, {"\n", 1}, {"\x01", 1}, {"\x1f", 1}, {"\0", 1}, {"\x7f", 1},
	    {" ", 1}, {"\x80", 1}, {"\xff", 1}, {"\xc3\xa9", 2}, {"\xe2\x80\xa8", 3},
	    {"\xe2\x80\xa9", 3}, {"\xf0\x9f\x98\x80", 4}, {"\xe2\x82", 2}, {"\xf0\x9f\x98", 3},
	    {"\xed\xa0\x80", 3}, {"\xc0\xaf", 2}, {"\xf4\x90\x80\x80", 4},
	};
	static const unsigned char pool[] = "\"\\\n\t\x01\x1f\x7f\x80\xbf\xc2\xc3\xdf\xe0\xe2\xed\xef"
					    "\xf0\xf4\xf5\xff" "aZ ~/";
	unsigned char buf[320];
	struct strbuf got, want;
	int bad = 0, cases = 0;

	strbuf_init(&got);
	strbuf_init(&want);
	for (size_t len = 0; len <= 40; len++)
		for (size_t pos = 0; pos <= len; pos++)
			for (size_t k = 0; k < sizeof ins / sizeof ins[0]; k++) {
				memset(buf, 'a', sizeof buf);
				memcpy(buf + pos, ins[k].s, ins[k].n);
				cases++;
				if (!str_matches(buf, len + ins[k].n, &got, &want) && bad++ < 3)
					printf("  string scan: len %zu pos %zu insert %zu\n  got:  %s\n  want: %s\n",
					       len, pos, k, got.buf, want.buf);
			}
	srand(8);
	for (int r = 0; r < 20000; r++) {
		size_t n = (size_t)rand() % 300;
		for (size_t i = 0; i < n; i++)
			buf[i] = rand() % 3 ? (unsigned char)('a' + rand() % 26)
					    : pool[(size_t)rand() % (sizeof pool - 1)];
		cases++;
		if (!str_matches(buf, n, &got, &want) && bad++ < 3)
			printf("  string scan: random string %d differs\n  got:  %s\n  want: %s\n", r,
			       got.buf, want.buf);
	}
	/* A long plain string, and the same with one special byte near its end. */
	char *big = malloc(100000);
	memset(big, 'x', 100000);
	cases++;
	bad += !str_matches((unsigned char *)big, 100000, &got, &want);
	big[99995] = '"';
	cases++;
	bad += !str_matches((unsigned char *)big, 100000, &got, &want);
	free(big);
	char name[96];
	snprintf(name, sizeof name, "string scan: %d strings equal to the byte-by-byte reference",
		 cases);
	check(name, bad == 0, NULL, NULL);
	strbuf_free(&got);
	strbuf_free(&want);
}

/* Integers at every digit count, both signs, against printf. */
static void test_integers(void)
{
	struct strbuf out;
	char want[32];
	int bad = 0;

	strbuf_init(&out);
	for (int d = 0; d <= 20; d++) {
		uint64_t p = 1;
		for (int i = 0; i < d; i++)
			p *= 10;
		const uint64_t vs[] = {p, p - 1, p + 1, p * 7 / 3};
		for (size_t k = 0; k < 4; k++) {
			begin();
			U(vs[k]);
			strbuf_reset(&out);
			tj_value(finish(), NULL, &out);
			snprintf(want, sizeof want, "%" PRIu64, vs[k]);
			bad += strcmp(out.buf, want) != 0;
			int64_t s = -(int64_t)(vs[k] >> 1) - 1;
			begin();
			I(s);
			strbuf_reset(&out);
			tj_value(finish(), NULL, &out);
			snprintf(want, sizeof want, "%" PRId64, s);
			bad += strcmp(out.buf, want) != 0;
		}
	}
	begin();
	I(INT64_MIN);
	strbuf_reset(&out);
	tj_value(finish(), NULL, &out);
	bad += strcmp(out.buf, "-9223372036854775808") != 0;
	check("integers: every digit count, UINT64_MAX and INT64_MIN as printf writes them",
	      bad == 0, NULL, NULL);
	strbuf_free(&out);
}

/* Event times across the whole integer range against gmtime + printf (the encoder
 * computes the calendar itself). */
static void test_time_range(void)
{
	static const int64_t fixed[] = {
	    0, -1, 1, 951782400, 951868799, 951868800, /* 2000-02-29 and the days around it */
	    4107542399, 4107542400, 4107628800,	       /* 2100-02-28/03-01: not a leap year */
	    -2203891200, -2208988800,		       /* 1900-03-01, 1900-01-01 */
	    -9223372036, 9223372036, 18446744073,      /* the ends of i64 and u64 ns */
	    1795656166, 2147483647, 2147483648,
	};
	struct strbuf out, want;
	int bad = 0, cases = 0;

	strbuf_init(&out);
	strbuf_init(&want);
	srand(1);
	for (int r = 0; r < 3000 + (int)(sizeof fixed / sizeof fixed[0]); r++) {
		int neg;
		uint64_t ns;
		if (r < (int)(sizeof fixed / sizeof fixed[0])) {
			int64_t s = fixed[r];
			neg = s < 0;
			ns = neg ? (uint64_t)(-(s + 1)) * 1000000000u + 999999999u /* s - 1 ns */
				 : (uint64_t)s * 1000000000u;
			if (s == 1795656166)
				ns += 123000000; /* milliseconds */
			if (s == 18446744073)
				ns = UINT64_MAX;
		} else {
			neg = rand() % 2;
			ns = ((uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand());
			if (neg)
				ns >>= 1;
		}
		/* The expected text: seconds and nanoseconds as tj_event_line splits them. */
		int64_t secs;
		uint32_t nsec;
		if (neg) {
			int64_t v = -(int64_t)(ns & INT64_MAX) - 1;
			secs = v / 1000000000;
			int64_t rem = v % 1000000000;
			if (rem < 0) {
				rem += 1000000000;
				secs--;
			}
			nsec = (uint32_t)rem;
			begin();
			M(1);
			S("time");
			I(v);
		} else {
			secs = (int64_t)(ns / 1000000000u);
			nsec = (uint32_t)(ns % 1000000000u);
			begin();
			M(1);
			S("time");
			U(ns);
		}
		struct tm tm;
		time_t t = (time_t)secs;
		gmtime_r(&t, &tm);
		strbuf_reset(&want);
		strbuf_appendf(&want, "{\"process_exit\":{},\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d",
			       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			       tm.tm_sec);
		if (nsec % 1000000 == 0 && nsec)
			strbuf_appendf(&want, ".%03u", nsec / 1000000);
		else if (nsec % 1000 == 0 && nsec)
			strbuf_appendf(&want, ".%06u", nsec / 1000);
		else if (nsec)
			strbuf_appendf(&want, ".%09u", nsec);
		strbuf_append(&want, "Z\"}", 3);
		strbuf_reset(&out);
		tj_event_line("process_exit", finish(), &out);
		cases++;
		if (strcmp(out.buf, want.buf) != 0 && bad++ < 3)
			printf("  time: got %s\n        want %s\n", out.buf, want.buf);
	}
	char name[96];
	snprintf(name, sizeof name, "times: %d instants from 1677 to 2554 as gmtime gives them",
		 cases);
	check(name, bad == 0, NULL, NULL);
	strbuf_free(&out);
	strbuf_free(&want);
}

/* Keys: known names are written from a table, others escaped; near misses of known
 * names (prefixes, one byte off, longer) must not be taken for them. With string
 * values no type rule applies, so a nested map must read as tj_value writes it. */
static void test_key_table(void)
{
	static const char *const keys[] = {
	    "pid", "pi", "pidx", "Pid", "pid\0", "process", "processx", "parent", "ancestors",
	    "exec_id", "exec_iD", "number_of_dropped_process_events",
	    "number_of_dropped_process_eventsX", "number_of_dropped_process_event", "arg0", "arg4",
	    /* same length, first, middle and last byte as a known name: same slot */
	    "number_of_Xropped_process_events", "number_of_dropped_process_evXnts", "binXry",
	    "time", "time_for_children", "start_time", "node_name", "_vigil", "cap", "ns",
	    "pod_labels", "permitted", "size_arg", "a\"b", "k\xc3\xa9y", "bad\xff", "", "Config",
	    "x_________________________________________________________long",
	};
	struct strbuf out, want;
	size_t n = sizeof keys / sizeof keys[0];

	strbuf_init(&out);
	strbuf_init(&want);
	begin();
	M(n);
	for (size_t i = 0; i < n; i++) {
		SN(keys[i], i == 4 ? 4 : strlen(keys[i])); /* "pid\0": four bytes */
		S("v");
	}
	tj_value(finish(), NULL, &want);
	begin();
	M(1);
	S("outer");
	M(n);
	for (size_t i = 0; i < n; i++) {
		SN(keys[i], i == 4 ? 4 : strlen(keys[i]));
		S("v");
	}
	tj_event_line("process_kprobe", finish(), &out);
	struct strbuf w2;
	strbuf_init(&w2);
	strbuf_appendf(&w2, "{\"process_kprobe\":{\"outer\":%s}}", want.buf);
	check("keys: known names, near misses and escaped keys as the generic encoder writes them",
	      strcmp(out.buf, w2.buf) == 0, out.buf, w2.buf);
	strbuf_free(&w2);
	strbuf_free(&out);
	strbuf_free(&want);
}

/* Capability arrays from the cache of recent sets stay those sets' names. */
static void test_caps_cache(void)
{
	static const uint64_t sets[] = {1, 2199006478335ull, 0x3ull << 40, 1ull << 63, 0x5555,
					 2199006478335ull, 7, 1, 0xffffffffffffffffull, 0x5555};
	struct strbuf out, want;
	char buf[16];
	int bad = 0;

	strbuf_init(&out);
	strbuf_init(&want);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
			begin();
			M(1);
			S("process");
			M(1);
			S("cap");
			M(1);
			S("permitted");
			U(sets[i]);
			strbuf_reset(&out);
			tj_event_line("process_exec", finish(), &out);
			strbuf_reset(&want);
			strbuf_appendf(&want, "{\"process_exec\":{\"process\":{\"cap\":{\"permitted\":[");
			for (unsigned b = 0, first = 1; b < 64; b++)
				if (sets[i] >> b & 1) {
					strbuf_appendf(&want, "%s\"%s\"", first ? "" : ",",
						       caps_name(b, buf));
					first = 0;
				}
			strbuf_append(&want, "]}}}}", 5);
			if (strcmp(out.buf, want.buf) != 0 && bad++ < 2)
				printf("  caps: got %s\n        want %s\n", out.buf, want.buf);
		}
	check("caps: ten sets, three rounds, each array its own set's names", bad == 0, NULL, NULL);
	strbuf_free(&out);
	strbuf_free(&want);
}

/* Appending to a buffer that holds text already keeps that text and the NUL after. */
static void test_append_nul(void)
{
	struct strbuf out;

	strbuf_init(&out);
	strbuf_append(&out, "prefix ", 7);
	begin();
	M(1);
	KU("pid", 12);
	tj_event_line("process_exit", finish(), &out);
	check("append: earlier contents kept, NUL-terminated",
	      strcmp(out.buf, "prefix {\"process_exit\":{\"pid\":12}}") == 0 &&
		  strlen(out.buf) == out.len,
	      out.buf, NULL);
	strbuf_free(&out);
}

int main(void)
{
	msgpack_sbuffer_init(&sbuf);
	msgpack_unpacked_init(&up);

	/* The validator itself must reject what it is there to catch. */
	check("validator rejects bad JSON and bad UTF-8",
	      json_line_valid("{\"a\":1}", 7) && !json_line_valid("{\"a\":1", 6) &&
		  !json_line_valid("\"\x01\"", 3) && !json_line_valid("\"\xc0\xaf\"", 4) &&
		  !json_line_valid("\"\xed\xa0\x80\"", 5) && !json_line_valid("[1,]", 4) &&
		  !json_line_valid("01", 2) && !json_line_valid("\"\\x\"", 4) &&
		  json_line_valid("-0.5e+3", 7),
	      NULL, NULL);
	test_process_exec();
	test_timestamps();
	test_process_details();
	test_capsets();
	test_int64_and_oneof();
	test_empties();
	test_strings();
	test_value();
	test_refusals();
	test_depth();
	test_fuzz();
	test_string_scan();
	test_integers();
	test_time_range();
	test_key_table();
	test_caps_cache();
	test_append_nul();

	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sbuf);
	printf("%d checks, %d passed, %d failed\n", checks, checks - failures, failures);
	return failures ? 1 : 0;
}
