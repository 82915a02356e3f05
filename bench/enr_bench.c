/* enr_bench — the enricher's per-event path in one process, for instruction counts under
 * callgrind (issue 8). Wall time is not the point: run it under
 *
 *   valgrind --tool=callgrind --toggle-collect=enr_bench_input build/bench/enr_bench
 *
 * and divide the instructions by the events it prints (bench/enr_bench.sh does both).
 *
 * The enricher's main.c is compiled into this program (its main() renamed), with the
 * stage skeleton replaced by the few functions the per-event path calls: raw envelopes
 * packed with msgpack-c as the collector packs them (docs/wire.md §4.1-4.3, §8.1-8.3,
 * collector/collector_bpf.c) go through a ZeroMQ inproc PUSH/PULL pair into the
 * enricher's own on_input (wire_recv, decode, process cache, packing), and what it sends
 * lands in stage_send below, which hashes it (and with --dump writes it: two builds of
 * the enricher must write the same bytes for the same stream).
 *
 *   enr_bench [--count N] [--dump FILE] [--no-containers]
 *
 * The cgroup ids of the containers are the inodes of cgroup directories made for the run,
 * so they differ from run to run (and with them the dumps); --no-containers leaves every
 * process outside containers, for byte-for-byte comparisons.
 *
 * The stream: 64 long-lived processes (children of one root; a quarter root with full
 * capabilities, half in Docker containers), then per 100 events: 2 forks of short-lived
 * children, their 2 execs (cat/sh with arguments), 2 exits, 70 security_file_open,
 * 2 unlinks, 2 renames, 19 tcp_connect and 1 sys_setns (a namespace change) — files and
 * connects of processes already in the cache, the common case. */
#define main enricher_main_unused
#include "../enricher/main.c"
#undef main

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

/* ---- the stage skeleton, reduced to what the per-event path uses ---------------- */

#include "../tests/unit/enricher_stub.h"

static FILE *dump_f;
static uint64_t out_msgs, out_bytes, out_hash = 1469598103934665603ull;

/* Where the enricher's output goes: appended to an arena (a copy, as ZeroMQ's message
 * would take), hashed and dumped after the measured part. */
static char *arena;
static size_t arena_len, arena_cap;

int stage_send(struct stage *st, void *sock, const void *buf, size_t len)
{
	uint32_t n = (uint32_t)len;

	(void)st;
	(void)sock;
	if (arena_len + 4 + len > arena_cap) {
		arena_cap = (arena_cap + len + 4) * 2;
		arena = realloc(arena, arena_cap);
		if (!arena)
			abort();
	}
	memcpy(arena + arena_len, &n, 4);
	memcpy(arena + arena_len + 4, buf, len);
	arena_len += 4 + len;
	out_msgs++;
	out_bytes += len;
	return 0;
}

/* Hash (FNV-1a) and dump the output, then forget it. */
static void arena_flush(void)
{
	size_t i;

	for (i = 0; i < arena_len; i++)
		out_hash = (out_hash ^ (unsigned char)arena[i]) * 1099511628211ull;
	if (dump_f && arena_len)
		fwrite(arena, 1, arena_len, dump_f);
	arena_len = 0;
}

/* ---- the corpus ----------------------------------------------------------------- */

#define NPROC 64
#define NCG 8
#define T0 1700000000000000000ull

static msgpack_sbuffer SB;
static msgpack_packer PKR, *PK = &PKR;
static uint64_t seq, kt = 5000000000ull;
static uint64_t cg_ids[NCG];

struct bproc {
	uint32_t pid;
	uint64_t start;  /* start_ktime */
	int root;
};
static struct bproc procs[NPROC], rootp;

/* A queued envelope. */
struct env {
	char *buf;
	size_t len;
};
static struct env *envs;
static size_t nenv, capenv;

static void s(const char *v) { msgpack_pack_str_with_body(PK, v, strlen(v)); }
static void ku(const char *k, uint64_t v) { s(k); msgpack_pack_uint64(PK, v); }
static void ks(const char *k, const char *v) { s(k); s(v); }

/* Start an envelope of type; the caller packs the body map. */
static void env_begin(const char *type)
{
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 5);
	ku("v", 1);
	ks("type", type);
	ks("src", "collector");
	ku("seq", ++seq);
	s("ev");
}

/* Queue the packed envelope. */
static void env_end(void)
{
	if (nenv == capenv) {
		capenv = capenv ? capenv * 2 : 1024;
		envs = realloc(envs, capenv * sizeof(*envs));
		if (!envs)
			abort();
	}
	envs[nenv].buf = malloc(SB.size);
	if (!envs[nenv].buf)
		abort();
	memcpy(envs[nenv].buf, SB.data, SB.size);
	envs[nenv++].len = SB.size;
}

/* The common keys of a raw event. */
static void base(uint32_t pid, uint64_t start)
{
	kt += 1000 + (kt % 7) * 100;
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("tid", pid);
	ku("start_ktime", start);
}

/* A raw process_clone (collector order). */
static void ev_clone(uint32_t pid, const struct bproc *parent, uint64_t *start)
{
	env_begin("process_clone");
	kt += 1500;
	*start = kt;
	msgpack_pack_map(PK, 7);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("nspid", pid);
	ku("ppid", parent->pid);
	ku("start_ktime", kt);
	ku("pktime", parent->start);
	env_end();
}

/* The number of a container cgroup id (stable across runs, unlike the id). */
static unsigned cg_index(uint64_t cgid)
{
	unsigned i;

	for (i = 0; i < NCG; i++)
		if (cg_ids[i] == cgid)
			return i;
	return NCG;
}

/* A raw process_exec with the collector's process map (cap, ns, credentials, file). */
static void ev_exec(uint32_t pid, uint64_t start, const struct bproc *parent, int root,
		    const char *bin, const char *const *args, uint64_t cgid)
{
	static const char *const nsk[10] = { "uts", "ipc", "mnt", "pid", "pid_for_children",
					     "net", "time", "time_for_children", "cgroup",
					     "user" };
	uint64_t caps = root ? 0x1ffffffffffull : 0, uid = root ? 0 : 1000;
	size_t na = 0, i;

	while (args[na])
		na++;
	env_begin("process_exec");
	kt += 2000;
	msgpack_pack_map(PK, 19);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("nspid", cgid ? pid % 1000 + 1 : pid);
	ku("tid", pid);
	ku("ppid", parent ? parent->pid : 0);
	ku("pktime", parent ? parent->start : 0);
	ku("start_ktime", start);
	ku("uid", uid);
	ku("euid", uid);
	ku("gid", uid);
	ku("egid", uid);
	ku("auid", root ? 4294967295u : 1000);
	ks("binary", bin);
	s("args");
	msgpack_pack_array(PK, na);
	for (i = 0; i < na; i++)
		s(args[i]);
	ks("cwd", root ? "/" : "/home/app/work");
	s("flags");
	msgpack_pack_array(PK, 1);
	s("execve");
	ku("cgroup_id", cgid);
	s("process");
	msgpack_pack_map(PK, 4);
	s("cap");
	msgpack_pack_map(PK, 3);
	ku("permitted", caps);
	ku("effective", caps);
	ku("inheritable", 0);
	s("ns");
	msgpack_pack_map(PK, 10);
	for (i = 0; i < 10; i++) {
		int host = !cgid || (i != 0 && i != 2 && i != 3 && i != 5);

		s(nsk[i]);
		msgpack_pack_map(PK, 1 + host);
		ku("inum", 4026531835ull + i + (host ? 0 : 1000 + cg_index(cgid)));
		if (host) {
			s("is_host");
			msgpack_pack_true(PK);
		}
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
	s("binary_properties");
	msgpack_pack_map(PK, 1);
	s("file");
	msgpack_pack_map(PK, 2);
	s("inode");
	msgpack_pack_map(PK, 2);
	ku("number", 1000000 + strlen(bin) * 31);
	ku("links", 1);
	ks("path", bin);
	env_end();
}

/* A raw process_exit. */
static void ev_exit(uint32_t pid, uint64_t start, int code)
{
	env_begin("process_exit");
	msgpack_pack_map(PK, 6);
	base(pid, start);
	ku("status", (uint64_t)code);
	env_end();
}

/* One labelled int_arg. */
static void int_arg(int64_t v, const char *label)
{
	msgpack_pack_map(PK, 2);
	s("int_arg");
	msgpack_pack_int64(PK, v);
	ks("label", label);
}

/* One labelled string_arg. */
static void str_arg(const char *v, const char *label)
{
	msgpack_pack_map(PK, 2);
	ks("string_arg", v);
	ks("label", label);
}

/* The return and action that end every kprobe body. */
static void kp_tail(int64_t ret)
{
	s("return");
	msgpack_pack_map(PK, 1);
	s("int_arg");
	msgpack_pack_int64(PK, ret);
	ks("action", "KPROBE_ACTION_POST");
}

/* A raw security_file_open. */
static void ev_open(const struct bproc *p, const char *path, int flags, int64_t ret)
{
	env_begin("process_kprobe");
	msgpack_pack_map(PK, 9);
	base(p->pid, p->start);
	ks("function_name", "security_file_open");
	s("args");
	msgpack_pack_array(PK, 4);
	msgpack_pack_map(PK, 1);
	s("file_arg");
	msgpack_pack_map(PK, 2);
	ks("path", path);
	ks("permission", "-rw-r--r--");
	int_arg(flags, "flags");
	int_arg(0, "mode");
	str_arg("openat", "syscall");
	kp_tail(ret);
	env_end();
}

/* A raw security_path_unlink or _rename. */
static void ev_path(const struct bproc *p, const char *fn, const char *a, const char *b,
		    const char *sys)
{
	env_begin("process_kprobe");
	msgpack_pack_map(PK, 9);
	base(p->pid, p->start);
	ks("function_name", fn);
	s("args");
	msgpack_pack_array(PK, b ? 3 : 2);
	msgpack_pack_map(PK, 1);
	s("path_arg");
	msgpack_pack_map(PK, 1);
	ks("path", a);
	if (b) {
		msgpack_pack_map(PK, 1);
		s("path_arg");
		msgpack_pack_map(PK, 1);
		ks("path", b);
	}
	str_arg(sys, "syscall");
	kp_tail(0);
	env_end();
}

/* A raw tcp_connect. */
static void ev_connect(const struct bproc *p, int i)
{
	static const char *const daddr[4] = { "10.0.3.17", "127.0.0.1", "93.184.216.34",
					      "10.96.0.10" };
	static const unsigned ports[4] = { 5432, 8080, 443, 53 };

	env_begin("process_kprobe");
	msgpack_pack_map(PK, 9);
	base(p->pid, p->start);
	ks("function_name", "tcp_connect");
	s("args");
	msgpack_pack_array(PK, 4);
	msgpack_pack_map(PK, 1);
	s("sock_arg");
	msgpack_pack_map(PK, 8);
	ks("family", "AF_INET");
	ks("type", "SOCK_STREAM");
	ks("protocol", "IPPROTO_TCP");
	ks("saddr", "10.0.3.5");
	ks("daddr", daddr[i & 3]);
	ku("sport", 40000 + (unsigned)i % 20000);
	ku("dport", ports[i & 3]);
	ks("state", "TCP_SYN_SENT");
	msgpack_pack_map(PK, 2);
	s("sockaddr_arg");
	msgpack_pack_map(PK, 3);
	ks("family", "AF_INET");
	ks("addr", daddr[i & 3]);
	ku("port", ports[i & 3]);
	ks("label", "address");
	int_arg(3, "fd");
	str_arg("connect", "syscall");
	kp_tail(-115);
	env_end();
}

/* A raw sys_setns (namespace change, docs/wire.md §8.4): net moved. */
static void ev_setns(const struct bproc *p, int i)
{
	char after[256];

	snprintf(after, sizeof(after),
		 "uts:4026531835 ipc:4026531836 mnt:4026531837 pid:4026531838 "
		 "pid_for_children:4026531839 net:%u time:4026531841 "
		 "time_for_children:4026531842 cgroup:4026531843 user:4026531844",
		 4026532000u + (unsigned)(i & 1));
	env_begin("process_kprobe");
	msgpack_pack_map(PK, 9);
	base(p->pid, p->start);
	ks("function_name", "sys_setns");
	s("args");
	msgpack_pack_array(PK, 3);
	int_arg(5, "fd");
	str_arg(after, "ns_after");
	str_arg("setns", "syscall");
	kp_tail(0);
	env_end();
}

/* Warm-up: the root, then the 64 long-lived processes (fork + exec each). */
static void corpus_start(void)
{
	static const char *const bins[8] = {
		"/usr/bin/python3.11", "/usr/sbin/nginx", "/usr/lib/postgresql/15/bin/postgres",
		"/usr/bin/node", "/usr/local/bin/app-server", "/usr/bin/bash", "/usr/bin/java",
		"/usr/sbin/sshd",
	};
	static const char *const a0[] = { "-D", NULL };
	static const char *const a1[] = { "-m", "http.server", "--bind", "0.0.0.0", "8080",
					  NULL };
	static const char *const a2[] = { "-Xmx512m", "-jar", "/opt/app/service.jar",
					  "--spring.profiles.active=prod", NULL };
	static const char *const *const argv[3] = { a0, a1, a2 };
	int i;

	rootp.pid = 1000;
	rootp.start = 1000000000ull;
	ev_exec(rootp.pid, rootp.start, NULL, 1, "/usr/lib/systemd/systemd", a0, 0);
	for (i = 0; i < NPROC; i++) {
		struct bproc *p = &procs[i];

		p->pid = 2000 + (uint32_t)i * 7;
		p->root = i % 4 == 0;
		ev_clone(p->pid, &rootp, &p->start);
		ev_exec(p->pid, p->start, &rootp, p->root, bins[i % 8], argv[i % 3],
			i % 2 ? cg_ids[i % NCG] : 0);
	}
}

/* n events of the measured stream (in blocks of 100). */
static void corpus_stream(size_t n)
{
	static const char *const paths[10] = {
		"/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/status",
		"/etc/passwd", "/var/lib/app/data/segment-0001.db", "/tmp/app-cache/k.json",
		"/etc/resolv.conf", "/usr/share/zoneinfo/UTC", "/proc/meminfo",
		"/home/app/work/config.yaml",
	};
	static const char *const cat[] = { "/etc/hostname", NULL };
	static const char *const sh[] = { "-c", "echo ok > /tmp/out.txt", NULL };
	static uint32_t next_pid = 30000;
	size_t b, j;
	int k = 0;

	for (b = 0; b < n / 100; b++) {
		struct bproc kid[2];

		for (j = 0; j < 2; j++) { /* two short-lived children: fork, exec */
			const struct bproc *par = &procs[(b * 2 + j) % NPROC];

			kid[j].pid = next_pid++;
			ev_clone(kid[j].pid, par, &kid[j].start);
			ev_exec(kid[j].pid, kid[j].start, par, par->root, j ? "/usr/bin/sh" : "/usr/bin/cat",
				j ? sh : cat, 0);
		}
		for (j = 0; j < 70; j++) { /* opens: mostly the long-lived, a few by the kids */
			const struct bproc *p = j < 6 ? &kid[j & 1] : &procs[(b * 13 + j * 5) % NPROC];

			ev_open(p, paths[(b + j) % 10], j % 3 ? 0 : 0x241, j % 11 ? 3 : -2);
		}
		for (j = 0; j < 2; j++) {
			const struct bproc *p = &procs[(b * 3 + j) % NPROC];

			ev_path(p, "security_path_unlink", "/tmp/app-cache/old.tmp", NULL, "unlinkat");
			ev_path(p, "security_path_rename", "/tmp/app-cache/k.json.tmp",
				"/tmp/app-cache/k.json", "renameat2");
		}
		for (j = 0; j < 19; j++)
			ev_connect(&procs[(b * 7 + j * 3) % NPROC], k++);
		ev_setns(&procs[(b * 5) % NPROC], (int)b);
		for (j = 0; j < 2; j++)
			ev_exit(kid[j].pid, kid[j].start, 0);
	}
}

/* ---- running -------------------------------------------------------------------- */

static struct stage S;
static void *push;

/* One call of the enricher's input handler: the measured part
 * (callgrind --toggle-collect=enr_bench_input). */
__attribute__((noinline)) void enr_bench_input(void);
__attribute__((noinline)) void enr_bench_input(void)
{
	on_input(&S, &in);
}

/* Push envelopes [from, to) through the enricher's input handler, BATCH at a time;
 * measured: through enr_bench_input. */
static void feed(size_t from, size_t to, int measured)
{
	size_t i, j;

	for (i = from; i < to; i = j) {
		for (j = i; j < to && j < i + BATCH; j++)
			if (zmq_send(push, envs[j].buf, envs[j].len, 0) < 0)
				abort();
		if (measured)
			enr_bench_input();
		else
			on_input(&S, &in);
		arena_flush();
	}
}

static char cg_base[300]; /* our cgroup directory under the cgroup2 mount; "" = none */

/* Container cgroups, named as Docker's systemd driver names them, in a cgroup directory
 * of our own under the cgroup2 mount (the enricher resolves ids through file handles,
 * which only the cgroup file system gives); without one, no process is in a container. */
static const char *make_cgroups(void)
{
	static const char *const mounts[2] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char path[600], probe[300];
	struct stat sb;
	int i, m;

	for (m = 0; m < 2; m++) {
		snprintf(probe, sizeof(probe), "%s/cgroup.procs", mounts[m]);
		if (access(probe, F_OK) == 0)
			break;
	}
	if (m == 2)
		return NULL;
	snprintf(cg_base, sizeof(cg_base), "%s/enr_bench.%d", mounts[m], (int)getpid());
	snprintf(path, sizeof(path), "%s/system.slice", cg_base);
	if (mkdir(cg_base, 0700) < 0 || mkdir(path, 0700) < 0) {
		cg_base[0] = '\0';
		return NULL;
	}
	for (i = 0; i < NCG; i++) {
		snprintf(path, sizeof(path), "%s/system.slice/docker-%02d%s.scope", cg_base, i,
			 "3f5e8a9b1c2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6");
		if (mkdir(path, 0700) < 0 || stat(path, &sb) < 0)
			abort();
		cg_ids[i] = sb.st_ino;
	}
	return mounts[m];
}

/* Remove the cgroups (deepest first) and the run directory. */
static void cleanup(const char *dir)
{
	char path[600];
	int i;

	if (cg_base[0]) {
		for (i = 0; i < NCG; i++) {
			snprintf(path, sizeof(path), "%s/system.slice/docker-%02d%s.scope", cg_base,
				 i, "3f5e8a9b1c2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6");
			rmdir(path);
		}
		snprintf(path, sizeof(path), "%s/system.slice", cg_base);
		rmdir(path);
		rmdir(cg_base);
	}
	snprintf(path, sizeof(path), "%s/enricher.state", dir);
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/enr_bench.XXXXXX", path[600];
	const char *cgroot;
	size_t count = 20000, warm;
	void *zctx, *pull;
	int i, zero = 0, no_containers = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--no-containers"))
			no_containers = 1;
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
			dump_f = fopen(argv[++i], "wb");
			if (!dump_f) {
				perror(argv[i]);
				return 1;
			}
		} else {
			fprintf(stderr, "usage: enr_bench [--count N] [--dump FILE] [--no-containers]\n");
			return 2;
		}
	}
	if (count < 100)
		count = 100;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_init("enr_bench");
	S.rundir = dir;
	snprintf(path, sizeof(path), "%s/enricher.state", dir);
	S.statef = state_open(path);
	if (!S.statef) {
		perror(path);
		return 1;
	}
	cgroot = no_containers ? NULL : make_cgroups();
	g_st = &S;
	/* setup()'s settings, without sockets */
	snprintf(node_name, sizeof(node_name), "bench-node");
	hold_ns = 100 * 1000000ull;
	pod_wait_ns = 1000 * 1000000ull;
	pend_max = 10000;
	pc_init(pend_max);
	cache_init(node_name, 131072);
	cache_set_linger(2000);
	cgroup_init(cgroot ? cgroot : dir); /* no cgroup2 mount there: no container */
	event_counters(&S);

	zctx = zmq_ctx_new();
	push = zmq_socket(zctx, ZMQ_PUSH);
	pull = zmq_socket(zctx, ZMQ_PULL);
	zmq_setsockopt(push, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_setsockopt(pull, ZMQ_RCVHWM, &zero, sizeof(zero));
	if (zmq_bind(pull, "inproc://enr_bench") < 0 || zmq_connect(push, "inproc://enr_bench") < 0)
		abort();
	wire_in_init(&in, &S, pull);
	wire_out_init(&out, &S, &S); /* any non-NULL socket: wire_end calls stage_send */

	msgpack_sbuffer_init(&SB);
	msgpack_packer_init(PK, &SB, msgpack_sbuffer_write);
	corpus_start();
	warm = nenv;
	corpus_stream(count);
	feed(0, warm, 0);
	feed(warm, nenv, 1);

	printf("{\"events\": %zu, \"warmup\": %zu, \"out\": %llu, \"out_bytes\": %llu, "
	       "\"out_hash\": \"%016llx\", \"held\": %llu, \"miss\": %llu, \"drops\": %llu, "
	       "\"container\": %llu, \"ns_changed\": %llu}\n",
	       nenv - warm, warm, (unsigned long long)out_msgs, (unsigned long long)out_bytes,
	       (unsigned long long)out_hash, (unsigned long long)*c_held,
	       (unsigned long long)*c_miss,
	       (unsigned long long)(*in.c_drop[WIRE_DROP_MALFORMED] +
				    *in.c_drop[WIRE_DROP_BODY] +
				    *in.c_drop[WIRE_DROP_UNKNOWN_TYPE]),
	       (unsigned long long)*c_docker, (unsigned long long)*c_ns_changed);
	if (dump_f)
		fclose(dump_f);
	for (i = 0; i < (int)nenv; i++)
		free(envs[i].buf);
	free(envs);
	msgpack_sbuffer_destroy(&SB);
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(zctx);
	cleanup(dir);
	return 0;
}
