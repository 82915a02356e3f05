/* test_mpdec.c — common/mpdec.c against msgpack-c's msgpack_unpack: for a corpus of
 * envelopes packed the way the stages pack them, for every msgpack format, for random
 * mutations of all of these and for hand-written hostile inputs, both decoders must agree
 * on the result code, on *off and on the decoded objects (type by type, float bits and
 * string pointers included). Also: nesting is bounded, huge length headers allocate
 * nothing, the zone grows at most 24 bytes per input byte, and wire_decode uses it.
 *
 *   build/tests/test_mpdec                 the test (exit 0 = pass)
 *   build/tests/test_mpdec --bench N       decode the corpus N times with each decoder,
 *                                          for callgrind (see mpdec_bench_ref/_ours):
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/mpdec.cg build/tests/test_mpdec --bench 200
 *   callgrind_annotate --inclusive=yes /tmp/mpdec.cg | grep mpdec_bench_
 */
#include "check.h"
#include "mpdec.h"
#include "statefile.h"
#include "wire.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCORPUS 16

struct corpus {
	char *buf[NCORPUS];
	size_t len[NCORPUS];
	const char *name[NCORPUS];
	int n;
};

/* Pack a str key or value. */
static void ps(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Pack key: uint the way the stages do (msgpack_pack_uint64 picks the smallest width). */
static void pku(msgpack_packer *pk, const char *k, uint64_t v)
{
	ps(pk, k);
	msgpack_pack_uint64(pk, v);
}

static void pks(msgpack_packer *pk, const char *k, const char *v)
{
	ps(pk, k);
	ps(pk, v);
}

/* The envelope's head, as wire_begin packs it; the caller packs the body map. */
static void env_begin(msgpack_packer *pk, const char *type, const char *src, uint64_t seq)
{
	msgpack_pack_map(pk, 5);
	pku(pk, "v", 1);
	pks(pk, "type", type);
	pks(pk, "src", src);
	pku(pk, "seq", seq);
	ps(pk, "ev");
}

/* The collector's `process` addition of a raw exec (docs/wire.md §8.2). */
static void pack_proc_extra(msgpack_packer *pk, int host)
{
	static const char *const ns[] = { "uts", "ipc", "mnt", "pid", "pid_for_children",
					  "net", "time", "time_for_children", "cgroup", "user" };
	static const char *const cred[] = { "uid", "gid", "euid", "egid",
					    "suid", "sgid", "fsuid", "fsgid" };
	unsigned i;

	ps(pk, "process");
	msgpack_pack_map(pk, 4);
	ps(pk, "cap");
	msgpack_pack_map(pk, 3);
	pku(pk, "permitted", 0x1ffffffffffULL);
	pku(pk, "effective", host ? 0x1ffffffffffULL : 0xa80425fbULL);
	pku(pk, "inheritable", 0);
	ps(pk, "ns");
	msgpack_pack_map(pk, 10);
	for (i = 0; i < 10; i++) {
		ps(pk, ns[i]);
		msgpack_pack_map(pk, host ? 2 : 1);
		pku(pk, "inum", 4026531835ULL + i);
		if (host) {
			ps(pk, "is_host");
			msgpack_pack_true(pk);
		}
	}
	ps(pk, "process_credentials");
	msgpack_pack_map(pk, 8);
	for (i = 0; i < 8; i++)
		pku(pk, cred[i], host ? 0 : 1000);
	ps(pk, "binary_properties");
	msgpack_pack_map(pk, 1);
	ps(pk, "file");
	msgpack_pack_map(pk, 2);
	ps(pk, "inode");
	msgpack_pack_map(pk, 2);
	pku(pk, "number", 1837262);
	pku(pk, "links", 1);
	pks(pk, "path", "/usr/bin/curl");
}

/* A raw process_exec, collector → enricher (§4.1, §8.2). */
static void pack_raw_exec(msgpack_packer *pk, uint64_t seq)
{
	static const char *const args[] = { "-sS", "--max-time", "5",
					     "https://example.com/api/v1/items?limit=100",
					     "-H", "Accept: application/json" };
	unsigned i;

	env_begin(pk, "process_exec", "collector", seq);
	msgpack_pack_map(pk, 20);
	pku(pk, "time", 1795651200123456789ULL);
	pku(pk, "ktime", 8123456789012ULL);
	pku(pk, "pid", 41234);
	pku(pk, "tid", 41234);
	pku(pk, "ppid", 41200);
	pku(pk, "pktime", 8100000000000ULL);
	pku(pk, "start_ktime", 8123400000000ULL);
	pku(pk, "uid", 1000);
	pku(pk, "euid", 1000);
	pku(pk, "gid", 1000);
	pku(pk, "egid", 1000);
	pku(pk, "auid", 4294967295ULL);
	pks(pk, "binary", "/usr/bin/curl");
	ps(pk, "args");
	msgpack_pack_array(pk, 6);
	for (i = 0; i < 6; i++)
		ps(pk, args[i]);
	pks(pk, "cwd", "/home/alice/src/project");
	ps(pk, "flags");
	msgpack_pack_array(pk, 1);
	ps(pk, "execve");
	pku(pk, "cgroup_id", 7845);
	pack_proc_extra(pk, 0);
	ps(pk, "nspid");
	msgpack_pack_uint32(pk, 17);
	pks(pk, "comm", "curl");
}

/* An enriched Process (§4.4), with the collector's additions merged in. */
static void pack_process(msgpack_packer *pk, const char *bin, const char *argsline, int pod)
{
	msgpack_pack_map(pk, pod ? 16 : 15);
	pks(pk, "exec_id", "bm9kZS0xOjgxMjM0NTY3ODkwMTI6NDEyMzQ=");
	pku(pk, "pid", 41234);
	pku(pk, "uid", 1000);
	pks(pk, "cwd", "/home/alice/src/project");
	pks(pk, "binary", bin);
	pks(pk, "arguments", argsline);
	pks(pk, "flags", "execve clone");
	pku(pk, "start_time", 1795651200123456789ULL);
	pku(pk, "auid", 4294967295ULL);
	pks(pk, "parent_exec_id", "bm9kZS0xOjgxMDAwMDAwMDAwMDA6NDEyMDA=");
	pku(pk, "tid", 41234);
	pku(pk, "refcnt", 1);
	pks(pk, "docker", "3f1c2a9d8e7b6a5");
	/* the §8.2 maps, lifted: cap and ns only here */
	ps(pk, "cap");
	msgpack_pack_map(pk, 3);
	pku(pk, "permitted", 0x1ffffffffffULL);
	pku(pk, "effective", 0xa80425fbULL);
	pku(pk, "inheritable", 0);
	ps(pk, "ns");
	msgpack_pack_map(pk, 2);
	ps(pk, "pid");
	msgpack_pack_map(pk, 1);
	pku(pk, "inum", 4026532201ULL);
	ps(pk, "net");
	msgpack_pack_map(pk, 2);
	pku(pk, "inum", 4026531840ULL);
	ps(pk, "is_host");
	msgpack_pack_true(pk);
	if (pod) {
		ps(pk, "pod");
		msgpack_pack_map(pk, 4);
		pks(pk, "namespace", "payments");
		pks(pk, "name", "api-7d9f8c6b5-x2x9q");
		ps(pk, "container");
		msgpack_pack_map(pk, 3);
		pks(pk, "id", "containerd://3f1c2a9d8e7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0");
		pks(pk, "name", "api");
		ps(pk, "image");
		msgpack_pack_map(pk, 2);
		pks(pk, "id", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
		pks(pk, "name", "registry.example.com/payments/api:1.42.0");
		ps(pk, "pod_labels");
		msgpack_pack_map(pk, 2);
		pks(pk, "app", "api");
		pks(pk, "pod-template-hash", "7d9f8c6b5");
	}
}

/* An enriched process_exec (enricher → evaluator → exporter). */
static void pack_exec(msgpack_packer *pk, uint64_t seq, int pod)
{
	env_begin(pk, "process_exec", "enricher", seq);
	msgpack_pack_map(pk, 4);
	ps(pk, "process");
	pack_process(pk, "/usr/bin/curl",
		     "-sS --max-time 5 https://example.com/api/v1/items?limit=100", pod);
	ps(pk, "parent");
	pack_process(pk, "/bin/bash", "-c ./run.sh", pod);
	pks(pk, "node_name", "node-1");
	pku(pk, "time", 1795651200123456789ULL);
}

/* A process_exit with a signal and a status. */
static void pack_exit(msgpack_packer *pk, uint64_t seq)
{
	env_begin(pk, "process_exit", "enricher", seq);
	msgpack_pack_map(pk, 6);
	ps(pk, "process");
	pack_process(pk, "/usr/bin/curl", "-sS https://example.com", 0);
	ps(pk, "parent");
	pack_process(pk, "/bin/bash", "", 0);
	pku(pk, "status", 0);
	pks(pk, "signal", "SIGKILL");
	pks(pk, "node_name", "node-1");
	pku(pk, "time", 1795651201000000000ULL);
}

/* A KprobeArgument map: {key: value-map-or-int, label?}. */
static void pack_int_arg(msgpack_packer *pk, int64_t v, const char *label)
{
	msgpack_pack_map(pk, label ? 2 : 1);
	ps(pk, "int_arg");
	msgpack_pack_int64(pk, v);
	if (label)
		pks(pk, "label", label);
}

static void pack_str_arg(msgpack_packer *pk, const char *v, const char *label)
{
	msgpack_pack_map(pk, 2);
	pks(pk, "string_arg", v);
	pks(pk, "label", label);
}

/* A file open (§8.1), raw from the collector or enriched (with process and parent). */
static void pack_open(msgpack_packer *pk, uint64_t seq, int enriched, int fail)
{
	env_begin(pk, "process_kprobe", enriched ? "enricher" : "collector", seq);
	msgpack_pack_map(pk, enriched ? 8 : 9);
	if (enriched) {
		ps(pk, "process");
		pack_process(pk, "/usr/bin/cat", "/etc/shadow", 1);
		ps(pk, "parent");
		pack_process(pk, "/bin/bash", "", 1);
	} else {
		pku(pk, "time", 1795651200223456789ULL);
		pku(pk, "ktime", 8123556789012ULL);
		pku(pk, "pid", 41235);
		pku(pk, "tid", 41235);
		pku(pk, "start_ktime", 8123500000000ULL);
	}
	pks(pk, "function_name", "security_file_open");
	ps(pk, "args");
	msgpack_pack_array(pk, fail ? 5 : 4);
	msgpack_pack_map(pk, 1);
	ps(pk, "file_arg");
	msgpack_pack_map(pk, fail ? 2 : 2);
	pks(pk, "path", "/etc/shadow");
	if (fail)
		pks(pk, "flags", "unresolvedPath");
	else
		pks(pk, "permission", "-rw-r-----");
	pack_int_arg(pk, 0x80000, "flags");
	pack_int_arg(pk, 0, "mode");
	if (fail)
		pack_str_arg(pk, "../../etc/shadow", "user_path");
	pack_str_arg(pk, "openat", "syscall");
	ps(pk, "return");
	pack_int_arg(pk, fail ? -13 : 3, NULL);
	pks(pk, "action", "KPROBE_ACTION_POST");
	if (enriched) {
		pks(pk, "node_name", "node-1");
		pku(pk, "time", 1795651200223456789ULL);
	}
}

/* A connect, enriched. */
static void pack_connect(msgpack_packer *pk, uint64_t seq)
{
	env_begin(pk, "process_kprobe", "enricher", seq);
	msgpack_pack_map(pk, 8);
	ps(pk, "process");
	pack_process(pk, "/usr/bin/curl", "-sS http://10.0.0.7:8080/", 1);
	ps(pk, "parent");
	pack_process(pk, "/bin/bash", "", 1);
	pks(pk, "function_name", "tcp_connect");
	ps(pk, "args");
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 1);
	ps(pk, "sock_arg");
	msgpack_pack_map(pk, 7);
	pks(pk, "family", "AF_INET");
	pks(pk, "type", "SOCK_STREAM");
	pks(pk, "protocol", "IPPROTO_TCP");
	pks(pk, "saddr", "10.0.0.5");
	pks(pk, "daddr", "10.0.0.7");
	pku(pk, "sport", 48312);
	pku(pk, "dport", 8080);
	pack_str_arg(pk, "connect", "syscall");
	ps(pk, "return");
	pack_int_arg(pk, -115, NULL);
	pks(pk, "action", "KPROBE_ACTION_POST");
	pks(pk, "node_name", "node-1");
	pku(pk, "time", 1795651200323456789ULL);
}

/* A policy event from an evaluator. */
static void pack_policy(msgpack_packer *pk, uint64_t seq)
{
	env_begin(pk, "process_kprobe", "evaluator.1", seq);
	msgpack_pack_map(pk, 10);
	ps(pk, "process");
	pack_process(pk, "/usr/bin/cat", "/etc/shadow", 1);
	ps(pk, "parent");
	pack_process(pk, "/bin/bash", "", 1);
	pks(pk, "function_name", "security_file_open");
	ps(pk, "args");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	ps(pk, "file_arg");
	msgpack_pack_map(pk, 1);
	pks(pk, "path", "/etc/shadow");
	pks(pk, "action", "KPROBE_ACTION_SIGKILL");
	pks(pk, "policy_name", "deny-shadow-read");
	ps(pk, "tags");
	msgpack_pack_array(pk, 2);
	ps(pk, "credentials");
	ps(pk, "observability.filesystem");
	pks(pk, "message", "read of /etc/shadow");
	pks(pk, "node_name", "node-1");
	pku(pk, "time", 1795651200423456789ULL);
}

/* Every msgpack format msgpack-c decodes, at its edges. */
static void pack_every_format(msgpack_packer *pk)
{
	static char big[70000];
	unsigned i;

	memset(big, 'x', sizeof(big));
	env_begin(pk, "misc", "test", 1);
	msgpack_pack_map(pk, 41);
	ps(pk, "nil");
	msgpack_pack_nil(pk);
	ps(pk, "t");
	msgpack_pack_true(pk);
	ps(pk, "f");
	msgpack_pack_false(pk);
	ps(pk, "u8");
	msgpack_pack_fix_uint8(pk, 200);
	ps(pk, "u16");
	msgpack_pack_fix_uint16(pk, 60000);
	ps(pk, "u32");
	msgpack_pack_fix_uint32(pk, 4000000000u);
	ps(pk, "u64");
	msgpack_pack_fix_uint64(pk, UINT64_MAX);
	ps(pk, "i8");
	msgpack_pack_fix_int8(pk, -100);
	ps(pk, "i8p");
	msgpack_pack_fix_int8(pk, 100);
	ps(pk, "i16");
	msgpack_pack_fix_int16(pk, -30000);
	ps(pk, "i32");
	msgpack_pack_fix_int32(pk, INT32_MIN);
	ps(pk, "i64");
	msgpack_pack_fix_int64(pk, INT64_MIN);
	ps(pk, "i64p");
	msgpack_pack_fix_int64(pk, INT64_MAX);
	ps(pk, "negfix");
	msgpack_pack_int8(pk, -32);
	ps(pk, "f32");
	msgpack_pack_float(pk, 1.5f);
	ps(pk, "f32nan");
	msgpack_pack_float(pk, NAN);
	ps(pk, "f64");
	msgpack_pack_double(pk, -2.25e300);
	ps(pk, "f64inf");
	msgpack_pack_double(pk, INFINITY);
	ps(pk, "emptystr");
	msgpack_pack_str_with_body(pk, "", 0);
	ps(pk, "str8");
	msgpack_pack_str_with_body(pk, big, 200);
	ps(pk, "str16");
	msgpack_pack_str_with_body(pk, big, 1000);
	ps(pk, "str32");
	msgpack_pack_str_with_body(pk, big, sizeof(big));
	ps(pk, "bin8");
	msgpack_pack_bin_with_body(pk, "\x00\x01\x02", 3);
	ps(pk, "bin16");
	msgpack_pack_bin_with_body(pk, big, 300);
	ps(pk, "bin32");
	msgpack_pack_bin_with_body(pk, big, 66000);
	ps(pk, "emptybin");
	msgpack_pack_bin_with_body(pk, "", 0);
	ps(pk, "fixext1");
	msgpack_pack_ext_with_body(pk, "a", 1, 5);
	ps(pk, "fixext2");
	msgpack_pack_ext_with_body(pk, "ab", 2, -3);
	ps(pk, "fixext4");
	msgpack_pack_ext_with_body(pk, "abcd", 4, -1); /* the timestamp type */
	ps(pk, "fixext8");
	msgpack_pack_ext_with_body(pk, "abcdefgh", 8, 7);
	ps(pk, "fixext16");
	msgpack_pack_ext_with_body(pk, big, 16, 8);
	ps(pk, "ext8");
	msgpack_pack_ext_with_body(pk, big, 3, 9);
	ps(pk, "ext8empty");
	msgpack_pack_ext_with_body(pk, "", 0, 10);
	ps(pk, "ext16");
	msgpack_pack_ext_with_body(pk, big, 400, 11);
	ps(pk, "ext32");
	msgpack_pack_ext_with_body(pk, big, 66000, 12);
	ps(pk, "arr16");
	msgpack_pack_array(pk, 20);
	for (i = 0; i < 20; i++)
		msgpack_pack_int(pk, (int)i * 1000 - 5000);
	ps(pk, "emptyarr");
	msgpack_pack_array(pk, 0);
	ps(pk, "map16");
	msgpack_pack_map(pk, 17);
	for (i = 0; i < 17; i++) {
		msgpack_pack_uint32(pk, i); /* non-str keys */
		msgpack_pack_array(pk, 1);
		msgpack_pack_map(pk, 0);
	}
	ps(pk, "emptymap");
	msgpack_pack_map(pk, 0);
	/* a str8 the packer would write as a fixstr, by hand: a non-minimal header */
	ps(pk, "str8short");
	msgpack_pack_str(pk, 2);
	msgpack_pack_str_body(pk, "hi", 2);
	msgpack_pack_map(pk, 0); /* the 41st key: an empty map as a key */
	msgpack_pack_nil(pk);
}

/* Build the corpus: one of each envelope kind. */
static void corpus_build(struct corpus *c)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int k;

	c->n = 0;
	for (k = 0; k < 9; k++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		switch (k) {
		case 0: pack_raw_exec(&pk, 1); c->name[c->n] = "raw exec"; break;
		case 1: pack_exec(&pk, 2, 0); c->name[c->n] = "exec"; break;
		case 2: pack_exec(&pk, 300, 1); c->name[c->n] = "exec in a pod"; break;
		case 3: pack_exit(&pk, 70000); c->name[c->n] = "exit"; break;
		case 4: pack_open(&pk, 5000000000ULL, 0, 0); c->name[c->n] = "raw open"; break;
		case 5: pack_open(&pk, 6, 1, 1); c->name[c->n] = "failed open"; break;
		case 6: pack_connect(&pk, 7); c->name[c->n] = "connect"; break;
		case 7: pack_policy(&pk, 8); c->name[c->n] = "policy event"; break;
		default: pack_every_format(&pk); c->name[c->n] = "every format"; break;
		}
		c->len[c->n] = sb.size;
		c->buf[c->n] = msgpack_sbuffer_release(&sb);
		c->n++;
	}
}

/* Whether o holds a NaN (msgpack_object_equal says NaN != NaN). */
static int has_nan(const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return isnan(o->via.f64);
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++)
			if (has_nan(&o->via.array.ptr[i]))
				return 1;
		return 0;
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++)
			if (has_nan(&o->via.map.ptr[i].key) || has_nan(&o->via.map.ptr[i].val))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* Strict equality: same types, same sizes, same value bits, same pointers into the
 * buffer (an empty str or bin excepted: msgpack-c leaves whatever pointer it last had). */
static int same(const msgpack_object *a, const msgpack_object *b)
{
	uint32_t i;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL:
		return 1;
	case MSGPACK_OBJECT_BOOLEAN:
		return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return a->via.u64 == b->via.u64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
	case MSGPACK_OBJECT_STR:
		return a->via.str.size == b->via.str.size &&
		       (a->via.str.size == 0 || a->via.str.ptr == b->via.str.ptr);
	case MSGPACK_OBJECT_BIN:
		return a->via.bin.size == b->via.bin.size &&
		       (a->via.bin.size == 0 || a->via.bin.ptr == b->via.bin.ptr);
	case MSGPACK_OBJECT_EXT:
		return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size &&
		       a->via.ext.ptr == b->via.ext.ptr;
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return 0;
		for (i = 0; i < a->via.array.size; i++)
			if (!same(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return 0;
		return 1;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return 0;
		for (i = 0; i < a->via.map.size; i++)
			if (!same(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
			    !same(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
				return 0;
		return 1;
	}
	return 0;
}

static msgpack_zone zref, zours;
static long n_cmp, n_ok, n_cont, n_parse, n_nomem, n_ref_alloc_fail, n_extra;

/* Bytes allocated from z since (head, free) were taken; -1 when a chunk was added. */
static long zone_used(const msgpack_zone *z, const void *head, size_t free0)
{
	if (z->chunk_list.head != head)
		return -1;
	return (long)(free0 - z->chunk_list.free);
}

/* Decode buf[off0, len) with both decoders and check they agree; returns our result. */
static int compare(const char *what, const char *buf, size_t len, size_t off0)
{
	msgpack_object a, b;
	size_t offa = off0, offb = off0, free0;
	const void *head0;
	int ra, rb;
	long used;

	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	msgpack_zone_clear(&zref);
	msgpack_zone_clear(&zours);
	head0 = zours.chunk_list.head;
	free0 = zours.chunk_list.free;
	ra = msgpack_unpack(buf, len, &offa, &zref, &a);
	rb = mpdec_unpack(buf, len, &offb, &zours, &b);
	n_cmp++;
	used = zone_used(&zours, head0, free0);
	CHECK(used < 0 || (size_t)used <= 24 * (len - (off0 < len ? off0 : len)) + 8,
	      "%s: %ld zone bytes for a %zu-byte input", what, used, len);
	if (ra == MSGPACK_UNPACK_NOMEM_ERROR && rb != ra) {
		/* msgpack-c could not allocate count * 24 bytes for a container header larger
		 * than the input; ours allocates nothing and finishes the parse: it can only
		 * fail (incomplete, or an error in the bytes that follow). */
		CHECK(rb == MSGPACK_UNPACK_CONTINUE || rb == MSGPACK_UNPACK_PARSE_ERROR,
		      "%s: msgpack-c out of memory, ours %d", what, rb);
		CHECK(offb == off0 || rb == MSGPACK_UNPACK_CONTINUE, "%s: off moved on error", what);
		n_ref_alloc_fail++;
		return rb;
	}
	CHECK(ra == rb, "%s: msgpack-c %d, ours %d (len %zu)", what, ra, rb, len);
	CHECK(offa == offb, "%s: off msgpack-c %zu, ours %zu (r %d)", what, offa, offb, ra);
	if (ra != rb)
		return rb;
	switch (ra) {
	case MSGPACK_UNPACK_SUCCESS:
	case MSGPACK_UNPACK_EXTRA_BYTES:
		n_ok += ra == MSGPACK_UNPACK_SUCCESS;
		n_extra += ra == MSGPACK_UNPACK_EXTRA_BYTES;
		CHECK(same(&a, &b), "%s: the objects differ", what);
		CHECK(has_nan(&a) || msgpack_object_equal(a, b), "%s: msgpack_object_equal", what);
		break;
	case MSGPACK_UNPACK_CONTINUE:
		n_cont++;
		break;
	case MSGPACK_UNPACK_PARSE_ERROR:
		n_parse++;
		break;
	default:
		n_nomem++;
		break;
	}
	return rb;
}

/* Mutate src into dst (room for len + 16 bytes): returns the new length. */
static size_t mutate(char *dst, const char *src, size_t len)
{
	static const unsigned char types[] = {
		0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb,
		0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
		0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x80, 0x8f, 0x90, 0x9f,
		0xa0, 0xbf, 0x00, 0x7f, 0xe0, 0xff,
	};
	static const char *const huge[] = {
		"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdd\x00\x01\x00\x00",
		"\xdf\x00\x00\x10\x00", "\xdc\xff\xff", "\xde\xff\xff", "\xdb\xff\xff\xff\xff",
		"\xdb\x7f\xff\xff\xff", "\xc6\xff\xff\xff\xff", "\xc9\xff\xff\xff\xff",
		"\xc9\xff\xff\xff\xfe", "\xc8\xff\xff", "\xda\xff\xff", "\xd9\xff",
	};
	size_t n = len, pos, k, i;
	int m = (int)(random() % 7), reps = 1 + (int)(random() % 3);

	memcpy(dst, src, len);
	while (reps--) {
		if (!n)
			break;
		pos = (size_t)random() % n;
		switch (m) {
		case 0: /* byte flips */
			dst[pos] ^= (char)(1 << (random() % 8));
			break;
		case 1: /* random byte */
			dst[pos] = (char)random();
			break;
		case 2: /* truncation */
			n = pos;
			reps = 0;
			break;
		case 3: /* inserted bytes */
			k = 1 + (size_t)random() % 4;
			if (n + k > len + 16)
				break;
			memmove(dst + pos + k, dst + pos, n - pos);
			for (i = 0; i < k; i++)
				dst[pos + i] = (char)random();
			n += k;
			break;
		case 4: /* type-byte swaps */
			dst[pos] = (char)types[random() % sizeof(types)];
			break;
		case 5: { /* huge length headers, inserted */
			const char *h = huge[random() % (sizeof(huge) / sizeof(huge[0]))];

			if (h[0] == '\xdd' || h[0] == '\xdf' || h[0] == '\xdb' || h[0] == '\xc6' ||
			    h[0] == '\xc9')
				k = 5;
			else if (h[0] == '\xd9')
				k = 2;
			else
				k = 3;
			if (n + k > len + 16)
				break;
			memmove(dst + pos + k, dst + pos, n - pos);
			memcpy(dst + pos, h, k);
			n += k;
			break;
		}
		default: /* huge length headers, overwriting */
			dst[pos] = (char)(0xdc + random() % 4);
			for (i = 1; i < 5 && pos + i < n; i++)
				dst[pos + i] = (char)(random() % 2 ? 0xff : random());
			break;
		}
	}
	return n;
}

/* Hand-written hostile inputs, with the result both must give. */
static void hostile(void)
{
	static const struct {
		const char *name, *buf;
		size_t len;
		int want;
		size_t off;
	} cases[] = {
		{ "array32 of 4G elements", "\xdd\xff\xff\xff\xff", 5, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "map32 of 4G pairs", "\xdf\xff\xff\xff\xff", 5, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "array32 4G then nils", "\xdd\xff\xff\xff\xff\xc0\xc0", 7, MSGPACK_UNPACK_CONTINUE, 7 },
		{ "array32 4G then 0xc1", "\xdd\xff\xff\xff\xff\xc0\xc1", 7, MSGPACK_UNPACK_PARSE_ERROR, 0 },
		{ "map16 of 65535 pairs", "\xde\xff\xff\xa1k", 5, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "str32 of 4G bytes", "\xdb\xff\xff\xff\xffxyz", 8, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "bin32 of 4G bytes", "\xc6\xff\xff\xff\xff", 5, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "ext32 of length 0xffffffff", "\xc9\xff\xff\xff\xff", 5, MSGPACK_UNPACK_PARSE_ERROR, 0 },
		{ "ext32 of length 0xfffffffe", "\xc9\xff\xff\xff\xfe\x01", 6, MSGPACK_UNPACK_CONTINUE, 5 },
		{ "0xc1", "\xc1", 1, MSGPACK_UNPACK_PARSE_ERROR, 0 },
		{ "array32 header cut", "\xdd\x00\x00", 3, MSGPACK_UNPACK_CONTINUE, 1 },
		{ "str8 body cut", "\x92\xd9\x05" "ab", 5, MSGPACK_UNPACK_CONTINUE, 3 },
		{ "fixstr cut", "\x81\xa3" "ab", 4, MSGPACK_UNPACK_CONTINUE, 2 },
		{ "uint64 cut", "\xcf\x00\x00", 3, MSGPACK_UNPACK_CONTINUE, 1 },
		{ "fixext16 cut", "\xd8\x01\x02", 3, MSGPACK_UNPACK_CONTINUE, 1 },
		{ "map ends at a key", "\x82\xa1k\xc0", 4, MSGPACK_UNPACK_CONTINUE, 4 },
		{ "trailing byte", "\x80\xc0", 2, MSGPACK_UNPACK_EXTRA_BYTES, 1 },
		{ "empty str at the end", "\xa0", 1, MSGPACK_UNPACK_SUCCESS, 1 },
		{ "str8 of 0", "\xd9\x00", 2, MSGPACK_UNPACK_SUCCESS, 2 },
	};
	msgpack_object o;
	size_t i, off;
	char deep[200];
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const void *head;
		size_t free0;

		off = 0;
		msgpack_zone_clear(&zours);
		head = zours.chunk_list.head;
		free0 = zours.chunk_list.free;
		r = mpdec_unpack(cases[i].buf, cases[i].len, &off, &zours, &o);
		CHECK(r == cases[i].want && off == cases[i].off, "%s: r %d off %zu", cases[i].name,
		      r, off);
		CHECK(zone_used(&zours, head, free0) <= 24 * (long)cases[i].len,
		      "%s: allocated %ld bytes", cases[i].name, zone_used(&zours, head, free0));
		compare(cases[i].name, cases[i].buf, cases[i].len, 0);
	}
	/* Nesting: 32 containers decode, the 33rd (even empty) is refused, without recursing
	 * deeper; 150 levels neither. */
	memset(deep, 0x91, sizeof(deep));
	deep[32] = (char)0xc0;
	off = 0;
	CHECK(mpdec_unpack(deep, 33, &off, &zours, &o) == MSGPACK_UNPACK_SUCCESS && off == 33,
	      "32 nested arrays decode");
	compare("32 nested arrays", deep, 33, 0);
	deep[32] = (char)0x90;
	off = 0;
	CHECK(mpdec_unpack(deep, 33, &off, &zours, &o) == MSGPACK_UNPACK_NOMEM_ERROR && off == 0,
	      "a 33rd nested container is refused");
	compare("33 nested arrays", deep, 33, 0);
	memset(deep, 0x81, sizeof(deep));
	compare("200 nested maps", deep, sizeof(deep), 0);
	memset(deep, 0xdd, sizeof(deep));
	compare("array32 headers nested", deep, sizeof(deep), 0);
	off = 0;
	CHECK(mpdec_unpack("", 0, &off, &zours, &o) == MSGPACK_UNPACK_CONTINUE && off == 0,
	      "empty input");
	off = 0;
	CHECK(mpdec_unpack("\x90", 1, &off, NULL, &o) == MSGPACK_UNPACK_NOMEM_ERROR,
	      "no zone: refused, no crash");
}

static void wire_compare(const char *what, const char *buf, size_t len);

/* Odd envelopes, each checked by wire_decode as by the old checks: keys twice (the first
 * counts), in any order, of other types, non-str keys, src at its length limit. */
static void wire_envelopes(void)
{
	static const char *const src55 = "0123456789012345678901234567890123456789012345678901234";
	static const char *const src56 = "01234567890123456789012345678901234567890123456789012345";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int k;

	for (k = 0; k < 16; k++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 7);
		msgpack_pack_uint32(&pk, 1); /* a non-str key first */
		ps(&pk, "v");
		if (k == 0) { /* v twice: the first counts */
			ps(&pk, "v");
			msgpack_pack_uint8(&pk, 2);
		} else {
			ps(&pk, "vv");
			msgpack_pack_nil(&pk);
		}
		ps(&pk, "v");
		if (k == 1)
			msgpack_pack_int8(&pk, -1);
		else if (k == 2)
			ps(&pk, "1");
		else
			msgpack_pack_fix_uint64(&pk, 1); /* a wide encoding of 1 */
		ps(&pk, k == 3 ? "typ" : "type");
		if (k == 4)
			msgpack_pack_bin_with_body(&pk, "x", 1);
		else
			ps(&pk, "process_exec");
		ps(&pk, "src");
		ps(&pk, k == 5 ? "" : k == 6 ? src56 : k == 7 ? src55 : "collector");
		ps(&pk, k == 8 ? "Seq" : "seq");
		if (k == 9)
			msgpack_pack_uint8(&pk, 0);
		else if (k == 10)
			msgpack_pack_int8(&pk, -5);
		else
			msgpack_pack_uint64(&pk, 1234567890123ULL);
		ps(&pk, k == 11 ? "ev " : "ev");
		if (k == 12)
			msgpack_pack_array(&pk, 0);
		else {
			msgpack_pack_map(&pk, 1);
			pku(&pk, "pid", 42);
		}
		if (k == 13) { /* ev twice: the first counts */
			sb.data[0] = (char)0x88;
			ps(&pk, "ev");
			msgpack_pack_nil(&pk);
		}
		if (k == 14) { /* type before v: any order */
			sb.data[0] = (char)0x88;
			ps(&pk, "type");
			ps(&pk, "other");
		}
		wire_compare("odd envelope", sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* wire_decode (the enricher's, evaluator's and exporter's check) goes through mpdec:
 * the corpus decodes, and objects keep pointing into the frame. */
static void wire_path(const struct corpus *c)
{
	struct wire_msg m;
	enum wire_drop why;
	int k;

	for (k = 0; k < c->n; k++) {
		int r = wire_decode(c->buf[k], c->len[k], &m, &why);

		CHECK(r == 0, "wire_decode(%s): %d", c->name[k], r);
		if (r == 0) {
			CHECK(m.ev && m.ev->type == MSGPACK_OBJECT_MAP && m.ev_raw,
			      "%s: ev decoded", c->name[k]);
			CHECK(m.type >= c->buf[k] && m.type < c->buf[k] + c->len[k],
			      "%s: type points into the frame", c->name[k]);
			msgpack_unpacked_destroy(&m.up);
		}
		r = wire_decode(c->buf[k], c->len[k] - 1, &m, &why);
		CHECK(r < 0 && why == WIRE_DROP_MALFORMED, "%s cut by one byte: malformed",
		      c->name[k]);
		wire_compare(c->name[k], c->buf[k], c->len[k]);
	}
	wire_envelopes();
}

/* The envelope checks as wire.c made them before mpdec (msgpack_unpack, then wire_get
 * for each key): -1 and *why, or 0 with the fields in *m. */
static int ref_check(const char *buf, size_t len, struct wire_msg *m, enum wire_drop *why)
{
	msgpack_object o;
	const msgpack_object *ev;
	size_t off = 0;
	uint64_t v;

	memset(m, 0, sizeof(*m));
	msgpack_zone_clear(&zref);
	if (len > WIRE_MAX_MSG || msgpack_unpack(buf, len, &off, &zref, &o) !=
					   MSGPACK_UNPACK_SUCCESS || off != len) {
		*why = WIRE_DROP_MALFORMED;
		return -1;
	}
	if (o.type != MSGPACK_OBJECT_MAP) {
		*why = WIRE_DROP_NOT_MAP;
		return -1;
	}
	if (wire_get_u64(&o, "v", &v) < 0 || v != WIRE_VERSION) {
		*why = WIRE_DROP_VERSION;
		return -1;
	}
	ev = wire_get(&o, "ev");
	if (wire_get_str(&o, "type", &m->type, &m->type_len) < 0 ||
	    wire_get_str(&o, "src", &m->src, &m->src_len) < 0 || m->src_len == 0 ||
	    m->src_len >= STATE_SRC_LEN || wire_get_u64(&o, "seq", &m->seq) < 0 || m->seq == 0 || !ev ||
	    ev->type != MSGPACK_OBJECT_MAP) {
		*why = WIRE_DROP_ENVELOPE;
		return -1;
	}
	m->ev = ev;
	return 0;
}

static long n_wire_ok, n_wire_drop[WIRE_DROP_N];

/* wire_decode against ref_check: same verdict, same drop reason, same fields. */
static void wire_compare(const char *what, const char *buf, size_t len)
{
	struct wire_msg a, b;
	enum wire_drop wa = WIRE_DROP_N, wb = WIRE_DROP_N;
	int ra = ref_check(buf, len, &a, &wa), rb = wire_decode(buf, len, &b, &wb);

	CHECK(ra == rb && (ra == 0 || wa == wb), "%s: wire verdict old %d/%d, new %d/%d", what,
	      ra, (int)wa, rb, (int)wb);
	if (ra == 0 && rb == 0) {
		CHECK(a.type == b.type && a.type_len == b.type_len && a.src == b.src &&
			      a.src_len == b.src_len && a.seq == b.seq &&
			      same(a.ev, b.ev), "%s: wire fields differ", what);
		n_wire_ok++;
	}
	if (rb == 0) { /* the body's raw bytes are exactly one object, the decoded body */
		msgpack_object o;
		size_t off = 0;

		msgpack_zone_clear(&zref);
		CHECK(b.ev_raw && b.ev_raw >= buf && b.ev_raw + b.ev_raw_len <= buf + len &&
			      msgpack_unpack(b.ev_raw, b.ev_raw_len, &off, &zref, &o) ==
				      MSGPACK_UNPACK_SUCCESS && off == b.ev_raw_len &&
			      same(&o, b.ev), "%s: ev_raw is not the body", what);
	} else if (ra < 0) {
		n_wire_drop[wa]++;
	}
	if (rb == 0)
		msgpack_unpacked_destroy(&b.up);
}

/* The benchmark loops, apart so callgrind shows each one's inclusive cost. The zone is
 * cleared per message, as wire_recv does. */
__attribute__((noinline)) static long mpdec_bench_ref(const struct corpus *c, int rounds)
{
	long ok = 0;
	int i, k;

	for (i = 0; i < rounds; i++)
		for (k = 0; k < c->n - 1; k++) { /* the envelopes: not the 140 KB format test */
			msgpack_object o;
			size_t off = 0;

			ok += msgpack_unpack(c->buf[k], c->len[k], &off, &zref, &o) ==
			      MSGPACK_UNPACK_SUCCESS;
			msgpack_zone_clear(&zref);
		}
	return ok;
}

__attribute__((noinline)) static long mpdec_bench_ours(const struct corpus *c, int rounds)
{
	long ok = 0;
	int i, k;

	for (i = 0; i < rounds; i++)
		for (k = 0; k < c->n - 1; k++) {
			msgpack_object o;
			size_t off = 0;

			ok += mpdec_unpack(c->buf[k], c->len[k], &off, &zours, &o) ==
			      MSGPACK_UNPACK_SUCCESS;
			msgpack_zone_clear(&zours);
		}
	return ok;
}

/* wire_decode over the envelopes (a zone made and freed per call, as wire_decode does). */
__attribute__((noinline)) static long mpdec_bench_wire(const struct corpus *c, int rounds)
{
	long ok = 0;
	int i, k;

	for (i = 0; i < rounds; i++)
		for (k = 0; k < c->n - 1; k++) {
			struct wire_msg m;
			enum wire_drop why;

			if (wire_decode(c->buf[k], c->len[k], &m, &why) == 0) {
				ok++;
				msgpack_unpacked_destroy(&m.up);
			}
		}
	return ok;
}

int main(int argc, char **argv)
{
	struct corpus c;
	char *buf, *two;
	size_t maxlen = 0;
	int k, i, iters = 150000;

	msgpack_zone_init(&zref, MSGPACK_ZONE_CHUNK_SIZE);
	msgpack_zone_init(&zours, MSGPACK_ZONE_CHUNK_SIZE);
	corpus_build(&c);
	if (argc == 3 && strcmp(argv[1], "--bench") == 0) {
		int rounds = atoi(argv[2]);
		size_t bytes = 0;
		long a = mpdec_bench_ref(&c, rounds), b = mpdec_bench_ours(&c, rounds);

		for (k = 0; k < c.n - 1; k++)
			bytes += c.len[k];
		printf("%d rounds of %d envelopes (%zu bytes): %ld / %ld decoded\n", rounds,
		       c.n - 1, bytes, a, b);
		return a != b;
	}
	if (argc == 3 && strcmp(argv[1], "--bench-wire") == 0) {
		long a = mpdec_bench_wire(&c, atoi(argv[2]));

		printf("%ld envelopes checked by wire_decode\n", a);
		return 0;
	}

	for (k = 0; k < c.n; k++) {
		CHECK(compare(c.name[k], c.buf[k], c.len[k], 0) == MSGPACK_UNPACK_SUCCESS,
		      "corpus %s decodes", c.name[k]);
		if (c.len[k] > maxlen)
			maxlen = c.len[k];
		/* every prefix: truncated anywhere */
		if (c.len[k] < 5000)
			for (i = 0; i < (int)c.len[k]; i++)
				compare(c.name[k], c.buf[k], (size_t)i, 0);
	}
	/* Two envelopes back to back: the first gives EXTRA_BYTES, then from *off the next. */
	two = malloc(c.len[0] + c.len[1]);
	memcpy(two, c.buf[0], c.len[0]);
	memcpy(two + c.len[0], c.buf[1], c.len[1]);
	CHECK(compare("two envelopes", two, c.len[0] + c.len[1], 0) == MSGPACK_UNPACK_EXTRA_BYTES,
	      "two envelopes: extra bytes");
	CHECK(compare("the second envelope", two, c.len[0] + c.len[1], c.len[0]) ==
		      MSGPACK_UNPACK_SUCCESS, "the second envelope from off");
	free(two);

	hostile();
	wire_path(&c);

	/* Random mutations of every corpus entry. */
	srandom(8);
	buf = malloc(maxlen + 16);
	for (i = 0; i < iters; i++) {
		k = i % c.n;
		if (k == c.n - 1 && i % 10)
			continue; /* the 140 KB format test less often: it is slow to compare */
		size_t len = mutate(buf, c.buf[k], c.len[k]);

		compare("mutation", buf, len, 0);
		wire_compare("mutation", buf, len);
		if (fails > 20)
			break;
	}
	/* Short random inputs: every byte is a type byte somewhere. */
	for (i = 0; i < 200000 && fails <= 20; i++) {
		size_t len = 1 + (size_t)random() % 24, j;

		for (j = 0; j < len; j++)
			buf[j] = (char)(random() % 3 ? random() : 0xc0 + random() % 32);
		compare("random", buf, len, 0);
		if (i % 8 == 0)
			wire_compare("random", buf, len);
	}
	free(buf);
	for (k = 0; k < c.n; k++)
		free(c.buf[k]);
	msgpack_zone_destroy(&zref);
	msgpack_zone_destroy(&zours);
	printf("%ld comparisons: %ld success, %ld extra bytes, %ld incomplete, %ld parse errors, "
	       "%ld too deep, %ld where msgpack-c ran out of memory on a huge header\n",
	       n_cmp, n_ok, n_extra, n_cont, n_parse, n_nomem, n_ref_alloc_fail);
	printf("wire_decode against the old checks: %ld accepted, dropped %ld malformed, %ld "
	       "not_map, %ld version, %ld envelope\n", n_wire_ok, n_wire_drop[WIRE_DROP_MALFORMED],
	       n_wire_drop[WIRE_DROP_NOT_MAP], n_wire_drop[WIRE_DROP_VERSION],
	       n_wire_drop[WIRE_DROP_ENVELOPE]);
	printf("%s\n", fails ? "FAILED" : "all passed");
	return fails != 0;
}
