/* evalcpu_bench — feeds one vigil-evaluator a realistic enriched stream, for instruction
 * counts under callgrind (bench/evalcpu_bench.py runs it; wall time is not the point).
 *
 *   evalcpu_bench --rundir DIR --count N [--dump FILE]
 *
 * Binds where the enricher would push (ipc://DIR/enricher.out) and where the exporter
 * would pull (ipc://DIR/exporter.in), sends N envelopes from a fixed corpus built with
 * msgpack-c the way the enricher packs them (docs/wire.md §4.4, §8, §9), and receives
 * until every event has come back. Prints one JSON line: sent, forwarded, policy events.
 * --dump writes every received frame to FILE (4-byte little-endian length, then the
 * frame), to compare two evaluators' outputs.
 *
 * The corpus, per 100 events (64 processes, a quarter of them root with full capabilities,
 * every Process with cap, ns, process_credentials as the collector sends them):
 *   2 process_exec (one of them /tmp/build/run: a monitor-mode match), 2 process_exit,
 *   72 security_file_open of ordinary paths (libraries, /proc, /etc, data files, reads and
 *   writes), 2 of sensitive paths (/etc/shadow by cat: a monitor-mode match; an ssh
 *   public key: none), 2 security_path_unlink, 2 security_path_rename,
 *   18 tcp_connect (ports 443, 8080, 5432; loopback and remote). */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define NPROC 64

static msgpack_packer *PK;

/* Pack a C string. */
static void s(const char *v)
{
	msgpack_pack_str_with_body(PK, v, strlen(v));
}

/* Pack key, then an unsigned value. */
static void ku(const char *k, uint64_t v)
{
	s(k);
	msgpack_pack_uint64(PK, v);
}

/* Pack key, then a string value. */
static void ks(const char *k, const char *v)
{
	s(k);
	s(v);
}

/* The exec_id of process i: base64 of "bench:<ktime>:<pid>" needs no exactness here. */
static void exec_id(char *buf, size_t n, int i)
{
	snprintf(buf, n, "YmVuY2g6MTAwMDAwMDAwMDA6%06d", 300000 + i);
}

static const char *const bins[8] = {
	"/usr/bin/python3.11", "/usr/sbin/nginx", "/usr/lib/postgresql/15/bin/postgres",
	"/usr/bin/node", "/usr/bin/cat", "/usr/local/bin/app-server", "/usr/bin/bash",
	"/usr/bin/java",
};

/* A Process map as the enricher sends it: the collector's extra fields first (cap, ns,
 * process_credentials), then exec_id ... parent_exec_id (enricher/main.c pack_proc). */
static void pack_proc(int i, int parent)
{
	static const char *const nss[10] = { "uts", "ipc", "mnt", "pid", "pid_for_children",
					     "net", "time", "time_for_children", "cgroup", "user" };
	int root = parent || i % 4 == 0;
	uint32_t uid = root ? 0 : 1000 + (uint32_t)(i % 3);
	char id[64];
	int k;

	msgpack_pack_map(PK, 14);
	s("cap");
	msgpack_pack_map(PK, 3);
	ku("permitted", root ? 0x1ffffffffffull : 0);
	ku("effective", root ? 0x1ffffffffffull : 0);
	ku("inheritable", 0);
	s("ns");
	msgpack_pack_map(PK, 10);
	for (k = 0; k < 10; k++) {
		s(nss[k]);
		msgpack_pack_map(PK, 2);
		ku("inum", 4026531835u + (unsigned)k);
		s("is_host");
		msgpack_pack_true(PK);
	}
	s("process_credentials");
	msgpack_pack_map(PK, 8);
	ku("uid", uid);
	ku("gid", uid);
	ku("euid", uid);
	ku("egid", uid);
	ku("suid", uid);
	ku("sgid", uid);
	ku("fsuid", uid);
	ku("fsgid", uid);
	exec_id(id, sizeof(id), parent ? 999 : i);
	ks("exec_id", id);
	ku("pid", parent ? 299999 : 300000 + (uint64_t)i);
	ku("uid", uid);
	ks("cwd", parent ? "/" : "/srv/app");
	ks("binary", parent ? "/usr/lib/systemd/systemd" : bins[i % 8]);
	ks("arguments", parent ? "--system --deserialize 18" : "--config /etc/app/app.conf --workers 4");
	ks("flags", "execve rootcwd clone");
	ku("start_time", 1764120000000000000ull + (uint64_t)i);
	ku("auid", 4294967295u);
	ku("tid", parent ? 299999 : 300000 + (uint64_t)i);
	exec_id(id, sizeof(id), 999);
	ks("parent_exec_id", id);
}

/* Common tail of every body: node_name, time, _vigil. */
static void pack_tail(int i)
{
	ks("node_name", "bench-node");
	ku("time", 1764120000000000000ull + (uint64_t)i * 1000);
	s("_vigil");
	msgpack_pack_map(PK, 3);
	ku("start_ktime", 10000000000ull + (uint64_t)i);
	ku("exec_ktime", 10000000000ull + (uint64_t)i);
	ku("cgroup_id", 4242);
}

/* A labelled arg map {key: int, label: L}. */
static void int_arg(const char *label, int64_t v)
{
	msgpack_pack_map(PK, 2);
	s("int_arg");
	msgpack_pack_int64(PK, v);
	ks("label", label);
}

static void str_arg(const char *label, const char *v)
{
	msgpack_pack_map(PK, 2);
	ks("string_arg", v);
	ks("label", label);
}

/* A kprobe body: process, parent, function_name, args (packed by fn), return, action. */
static void kprobe_begin(int i, const char *fn, size_t nargs)
{
	msgpack_pack_map(PK, 9);
	s("process");
	pack_proc(i, 0);
	s("parent");
	pack_proc(i, 1);
	ks("function_name", fn);
	s("args");
	msgpack_pack_array(PK, nargs);
}

static void kprobe_end(int i, int64_t ret)
{
	s("return");
	msgpack_pack_map(PK, 1);
	s("int_arg");
	msgpack_pack_int64(PK, ret);
	ks("action", "KPROBE_ACTION_POST");
	pack_tail(i);
}

static void file_open(int i, const char *path, int64_t flags)
{
	kprobe_begin(i, "security_file_open", 4);
	msgpack_pack_map(PK, 1);
	s("file_arg");
	msgpack_pack_map(PK, 2);
	ks("path", path);
	ks("permission", "-rw-r--r--");
	int_arg("flags", flags);
	int_arg("mode", 0);
	str_arg("syscall", "openat");
	kprobe_end(i, 3);
}

static void path_op(int i, const char *fn, const char *p1, const char *p2, const char *sc)
{
	kprobe_begin(i, fn, p2 ? 3 : 2);
	msgpack_pack_map(PK, 1);
	s("path_arg");
	msgpack_pack_map(PK, 1);
	ks("path", p1);
	if (p2) {
		msgpack_pack_map(PK, 1);
		s("path_arg");
		msgpack_pack_map(PK, 1);
		ks("path", p2);
	}
	str_arg("syscall", sc);
	kprobe_end(i, 0);
}

static void connect_(int i, const char *daddr, int port)
{
	kprobe_begin(i, "tcp_connect", 4);
	msgpack_pack_map(PK, 1);
	s("sock_arg");
	msgpack_pack_map(PK, 8);
	ks("family", "AF_INET");
	ks("type", "SOCK_STREAM");
	ks("protocol", "IPPROTO_TCP");
	ks("saddr", "10.0.0.5");
	ks("daddr", daddr);
	ku("sport", 40000 + (uint64_t)i);
	ku("dport", (uint64_t)port);
	ks("state", "TCP_SYN_SENT");
	msgpack_pack_map(PK, 2);
	s("sockaddr_arg");
	msgpack_pack_map(PK, 3);
	ks("family", "AF_INET");
	ks("addr", daddr);
	ku("port", (uint64_t)port);
	ks("label", "address");
	int_arg("fd", 7);
	str_arg("syscall", "connect");
	kprobe_end(i, 0);
}

static void exec_(int i)
{
	msgpack_pack_map(PK, 5);
	s("process");
	pack_proc(i, 0);
	s("parent");
	pack_proc(i, 1);
	pack_tail(i);
}

/* Envelope n of the corpus into sb. */
static void envelope(msgpack_sbuffer *sb, uint64_t seq, int n)
{
	static const char *const paths[] = {
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/stat",
		"/etc/passwd", "/etc/hosts", "/etc/resolv.conf", "/srv/app/data/part-0001.parquet",
		"/var/lib/postgresql/15/main/base/16384/2619", "/usr/lib/python3.11/json/__init__.py",
		"/sys/fs/cgroup/system.slice/app.service/memory.max", "/etc/nsswitch.conf",
		"/home/alice/.cache/pip/http/a/b/c", "/tmp/app-upload-1234", "/dev/urandom",
		"/usr/share/zoneinfo/UTC", "/etc/localtime",
	};
	static const char *const addrs[] = { "10.0.3.17", "127.0.0.1", "192.168.10.40",
					     "172.16.4.2" };
	static const int ports[] = { 443, 8080, 5432 };
	msgpack_packer pk;
	int i = n % NPROC, m = n % 100;
	const char *type = m < 4 ? (m < 2 ? "process_exec" : "process_exit") : "process_kprobe";

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	PK = &pk;
	msgpack_pack_map(PK, 5);
	ku("v", 1);
	ks("type", type);
	ks("src", "enricher");
	ku("seq", seq);
	s("ev");
	if (m == 0)
		exec_(i);
	else if (m == 1) { /* an exec from /tmp: exec-from-temp matches (monitor mode) */
		msgpack_pack_map(PK, 5);
		s("process");
		msgpack_pack_map(PK, 6);
		ks("exec_id", "YmVuY2g6dG1wOjQ0NDQ0");
		ku("pid", 44444);
		ku("uid", 1000);
		ks("cwd", "/tmp/build");
		ks("binary", "/tmp/build/run");
		ks("arguments", "--fast");
		s("parent");
		pack_proc(i, 1);
		pack_tail(i);
	} else if (m < 4) {
		msgpack_pack_map(PK, 6);
		s("process");
		pack_proc(i, 0);
		s("parent");
		pack_proc(i, 1);
		ku("status", 0);
		pack_tail(i);
	} else if (m == 4)
		file_open(4, "/etc/shadow", 0); /* cat, uid 0: sensitive-file-read (monitor) */
	else if (m == 5)
		file_open(i, "/home/alice/.ssh/id_ed25519.pub", 0);
	else if (m < 78)
		file_open(i, paths[(unsigned)n % (sizeof(paths) / sizeof(paths[0]))],
			  m % 7 == 0 ? 01101 : 0);
	else if (m < 80)
		path_op(i, "security_path_unlink", "/tmp/app-upload-1234", NULL, "unlinkat");
	else if (m < 82)
		path_op(i, "security_path_rename", "/srv/app/data/.tmp-1", "/srv/app/data/part-0002",
			"renameat2");
	else
		connect_(i, addrs[m % 4], ports[m % 3]);
}

int main(int argc, char **argv)
{
	const char *rundir = NULL, *dump = NULL;
	FILE *df = NULL;
	long count = 10000, fwd = 0, pol = 0, i;
	char ep[600];
	void *ctx, *push, *pull;
	msgpack_sbuffer sb;
	int hwm = 0, to = 10000;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--rundir"))
			rundir = argv[i + 1];
		else if (!strcmp(argv[i], "--count"))
			count = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--dump"))
			dump = argv[i + 1];
	}
	if (!rundir || count <= 0) {
		fprintf(stderr, "usage: evalcpu_bench --rundir DIR [--count N]\n");
		return 2;
	}
	ctx = zmq_ctx_new();
	push = zmq_socket(ctx, ZMQ_PUSH);
	pull = zmq_socket(ctx, ZMQ_PULL);
	zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(pull, ZMQ_RCVTIMEO, &to, sizeof(to));
	snprintf(ep, sizeof(ep), "ipc://%s/enricher.out", rundir);
	if (zmq_bind(push, ep) < 0) {
		fprintf(stderr, "bind %s: %s\n", ep, zmq_strerror(zmq_errno()));
		return 1;
	}
	snprintf(ep, sizeof(ep), "ipc://%s/exporter.in", rundir);
	if (zmq_bind(pull, ep) < 0) {
		fprintf(stderr, "bind %s: %s\n", ep, zmq_strerror(zmq_errno()));
		return 1;
	}
	if (dump && !(df = fopen(dump, "w"))) {
		perror(dump);
		return 1;
	}
	msgpack_sbuffer_init(&sb);
	/* a bound PUSH without a peer blocks: the first send waits for the evaluator */
	for (i = 0; i < count; i++) {
		envelope(&sb, (uint64_t)i + 1, (int)i);
		zmq_send(push, sb.data, sb.size, 0);
	}
	while (fwd < count) {
		zmq_msg_t m;
		const char *d;
		size_t n;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, pull, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		d = zmq_msg_data(&m);
		n = zmq_msg_size(&m);
		if (df) {
			uint32_t le = (uint32_t)n;

			fwrite(&le, 4, 1, df);
			fwrite(d, 1, n, df);
		}
		/* a policy event has policy_name in its body; counting the key is enough */
		if (memmem(d, n, "policy_name", 11))
			pol++;
		else
			fwd++;
		zmq_msg_close(&m);
	}
	printf("{\"sent\": %ld, \"forwarded\": %ld, \"policy_events\": %ld}\n", count, fwd, pol);
	msgpack_sbuffer_destroy(&sb);
	if (df)
		fclose(df);
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(ctx);
	return fwd == count ? 0 : 1;
}
