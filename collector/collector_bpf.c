/*
 * collector_bpf.c - loader and decoder for bpf/process.bpf.c.
 *
 * The ring buffer is the edge with the kernel: every record is checked
 * against events.h (size, type, tail lengths) before anything reads it, and
 * a bad one is counted and skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "events.h"
#include <sys/mount.h>

#include "process.skel.h"
#include "file.skel.h"
#include "collector_bpf.h"
#include "collector_path.h"

#define CBPF_RINGBUF_DEFAULT (8u << 20)

struct cbpf {
	struct process_bpf *skel;
	struct file_bpf *file;	/* NULL when file events are unavailable */
	int file_attached;	/* its programs are attached (the filter wants files) */
	char note[512];		/* what is missing, for the log; "" when nothing */
	struct ring_buffer *rb;
	int64_t clock_off; /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	uint64_t received;
	uint64_t bad_records;
	int ncpus;
	/* set for the duration of cbpf_drain */
	int (*emit)(void *arg, const struct cbpf_rec *r);
	void *arg;
	int emitted;
	int emit_failed;
};

/* Exec flag bits and their Tetragon names, in Tetragon's order. */
/* clang-format off */
static const struct {
	uint32_t bit;
	const char *name;
} cbpf_flag_names[] = {
	{ VIGIL_EXEC_EXECVE, "execve" },
	{ VIGIL_EXEC_TRUNC_FILENAME, "truncFilename" },
	{ VIGIL_EXEC_TRUNC_ARGS, "truncArgs" },
	{ VIGIL_EXEC_ERROR_FILENAME, "errorFilename" },
	{ VIGIL_EXEC_ERROR_ARGS, "errorArgs" },
	{ VIGIL_EXEC_ROOT_CWD, "rootcwd" },
	{ VIGIL_EXEC_ERROR_CWD, "errorCWD" },
	{ VIGIL_EXEC_ERROR_CWD_PATH, "errorPathResolutionCwd" },
};

/* Linux signal names (x86, arm64, and most others), indexed by number. */
static const char *const cbpf_signames[32] = {
	[1] = "SIGHUP",   [2] = "SIGINT",     [3] = "SIGQUIT",  [4] = "SIGILL",
	[5] = "SIGTRAP",  [6] = "SIGABRT",    [7] = "SIGBUS",   [8] = "SIGFPE",
	[9] = "SIGKILL",  [10] = "SIGUSR1",   [11] = "SIGSEGV", [12] = "SIGUSR2",
	[13] = "SIGPIPE", [14] = "SIGALRM",   [15] = "SIGTERM", [16] = "SIGSTKFLT",
	[17] = "SIGCHLD", [18] = "SIGCONT",   [19] = "SIGSTOP", [20] = "SIGTSTP",
	[21] = "SIGTTIN", [22] = "SIGTTOU",   [23] = "SIGURG",  [24] = "SIGXCPU",
	[25] = "SIGXFSZ", [26] = "SIGVTALRM", [27] = "SIGPROF", [28] = "SIGWINCH",
	[29] = "SIGIO",   [30] = "SIGPWR",    [31] = "SIGSYS",
};
/* clang-format on */

/* Name of signal sig in buf ("SIGKILL", "SIGRTMIN+3", "SIG32"); returns buf. */
static const char *cbpf_signal_name(unsigned sig, char *buf, size_t n)
{
	if (sig < 32 && cbpf_signames[sig])
		snprintf(buf, n, "%s", cbpf_signames[sig]);
	else if (sig >= 34 && sig <= 64)
		snprintf(buf, n, "SIGRTMIN+%u", sig - 34);
	else
		snprintf(buf, n, "SIG%u", sig);
	return buf;
}

/* Wire type name of a VIGIL_EV_* value. */
const char *cbpf_type_name(unsigned type)
{
	switch (type) {
	case VIGIL_EV_EXEC:
		return "process_exec";
	case VIGIL_EV_EXIT:
		return "process_exit";
	case VIGIL_EV_CLONE:
		return "process_clone";
	case VIGIL_EV_FILE:
	case VIGIL_EV_NET:
		return "process_kprobe";
	}
	return "unknown";
}

/* Counter name of a VIGIL_EV_* value ("exec", "file", ...); NULL when unused. */
const char *cbpf_kind_name(unsigned type)
{
	static const char *const names[VIGIL_EV_MAX] = {
		[VIGIL_EV_EXEC] = "process_exec", [VIGIL_EV_EXIT] = "process_exit",
		[VIGIL_EV_CLONE] = "process_clone", [VIGIL_EV_FILE] = "file",
		[VIGIL_EV_NET] = "net",
	};

	return type < VIGIL_EV_MAX ? names[type] : NULL;
}

/* Nanoseconds of clock c. */
static int64_t cbpf_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Realtime minus monotonic, from the tightest of a few bracketed samples. */
static int64_t cbpf_measure_offset(void)
{
	int64_t best_gap = INT64_MAX, off = 0;

	for (int i = 0; i < 5; i++) {
		int64_t m1 = cbpf_now(CLOCK_MONOTONIC);
		int64_t r = cbpf_now(CLOCK_REALTIME);
		int64_t m2 = cbpf_now(CLOCK_MONOTONIC);

		if (m2 - m1 < best_gap) {
			best_gap = m2 - m1;
			off = r - (m1 + (m2 - m1) / 2);
		}
	}
	return off;
}

/* Re-measure the offset that turns ktime into wall-clock time. */
void cbpf_refresh_clock(struct cbpf *cb)
{
	cb->clock_off = cbpf_measure_offset();
}

/* Whether sched_process_exit carries group_dead (kernel 6.16+): the
 * tracepoint's BTF prototype has 3 parameters (ctx, task, group_dead). */
static int cbpf_exit_has_group_dead(void)
{
	const struct btf_type *t;
	struct btf *btf;
	int id, n = 0;

	btf = btf__load_vmlinux_btf();
	if (!btf)
		return 0;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	if (id > 0) {
		t = btf__type_by_id(btf, id);		      /* typedef */
		t = t ? btf__type_by_id(btf, t->type) : NULL; /* pointer */
		t = t ? btf__type_by_id(btf, t->type) : NULL; /* func proto */
		if (t && btf_is_func_proto(t))
			n = btf_vlen(t);
	}
	btf__free(btf);
	return n >= 3;
}

/* Check a ring record against events.h; returns its type or -1. */
static int cbpf_check(const void *data, size_t len)
{
	struct vigil_ev_hdr h;
	struct vigil_ev_exec e;

	if (!data || len < sizeof(h))
		return -1;
	memcpy(&h, data, sizeof(h));
	if (h.size != len)
		return -1;
	switch (h.type) {
	case VIGIL_EV_EXEC:
		if (len < sizeof(e))
			return -1;
		memcpy(&e, data, sizeof(e));
		if (e.binary_len > VIGIL_PATH_MAX || e.cwd_len > VIGIL_PATH_MAX ||
		    e.args_len > VIGIL_ARGS_MAX ||
		    sizeof(e) + e.binary_len + e.cwd_len + e.args_len != len)
			return -1;
		return h.type;
	case VIGIL_EV_EXIT:
		return len == sizeof(struct vigil_ev_exit) ? (int)h.type : -1;
	case VIGIL_EV_CLONE:
		return len == sizeof(struct vigil_ev_clone) ? (int)h.type : -1;
	case VIGIL_EV_FILE: {
		struct vigil_ev_file f;

		if (len < sizeof(f))
			return -1;
		memcpy(&f, data, sizeof(f));
		if (f.path_len > VIGIL_PATH_MAX || f.name_len > VIGIL_PATH_MAX ||
		    f.path2_len > VIGIL_PATH_MAX || f.name2_len > VIGIL_PATH_MAX ||
		    f.op == 0 || f.op >= VIGIL_OP_FILE_MAX ||
		    sizeof(f) + f.path_len + f.name_len + f.path2_len + f.name2_len != len)
			return -1;
		return h.type;
	}
	case VIGIL_EV_NET: {
		struct vigil_ev_net n;

		if (len != sizeof(n))
			return -1;
		memcpy(&n, data, sizeof(n));
		return n.op >= VIGIL_OP_CONNECT && n.op < VIGIL_OP_NET_MAX ? (int)h.type : -1;
	}
	}
	return -1;
}

/* libbpf ring_buffer callback: validate one record and hand it to emit. */
static int cbpf_on_sample(void *ctx, void *data, size_t len)
{
	struct cbpf *cb = ctx;
	struct cbpf_rec r;
	int type, rc;

	cb->received++;
	type = cbpf_check(data, len);
	if (type < 0) {
		cb->bad_records++;
		return 0;
	}
	if (!cb->emit)
		return 0;
	r.type = cbpf_type_name(type);
	r.data = data;
	r.len = len;
	rc = cb->emit(cb->arg, &r);
	if (rc < 0) {
		cb->emit_failed = 1;
		return rc;
	}
	cb->emitted++;
	return 0;
}

/* Round n up to a power of two of at least one page. */
static size_t cbpf_ring_size(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), sz = page;

	if (n == 0)
		n = CBPF_RINGBUF_DEFAULT;
	while (sz < n && sz < ((size_t)1 << 30))
		sz <<= 1;
	return sz;
}

/* Append a note about something that is not available (for the log). */
static void cbpf_add_note(struct cbpf *cb, const char *fmt, const char *what, int rc)
{
	size_t n = strlen(cb->note);

	if (n + 2 < sizeof(cb->note))
		snprintf(cb->note + n, sizeof(cb->note) - n, "%s", n ? "; " : "");
	n = strlen(cb->note);
	snprintf(cb->note + n, sizeof(cb->note) - n, fmt, what, strerror(rc));
}

/* Make tracefs available for syscall tracepoints (it is not mounted at boot
 * here, PLATFORM.md). Returns the events directory, or NULL. */
static const char *cbpf_tracefs(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing/events",
					     "/sys/kernel/debug/tracing/events" };

	for (int i = 0; i < 2; i++)
		if (access(dirs[i], F_OK) == 0)
			return dirs[i];
	if (mount("none", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    access(dirs[0], F_OK) == 0)
		return dirs[0];
	return NULL;
}

/* Make obj share the ring, counters and filter of the process object. */
static int cbpf_share_maps(struct cbpf *cb, struct bpf_object *obj)
{
	static const char *const names[] = { "rb", "lost", "emitted", "filter" };
	struct bpf_object *pobj = cb->skel->obj;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, names[i]);
		struct bpf_map *pm = bpf_object__find_map_by_name(pobj, names[i]);
		int rc;

		if (!m || !pm)
			return -ENOENT;
		rc = bpf_map__reuse_fd(m, bpf_map__fd(pm));
		if (rc)
			return rc;
	}
	return 0;
}

/* Turn off the syscall tracepoint programs of obj whose tracepoint this
 * kernel lacks (e.g. fchmodat2 before 6.6), noting them. */
static void cbpf_skip_missing_tps(struct cbpf *cb, struct bpf_object *obj)
{
	const char *events = cbpf_tracefs();
	struct bpf_program *prog;
	char path[512];

	bpf_object__for_each_program(prog, obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (strncmp(sec, "tracepoint/", 11))
			continue;
		snprintf(path, sizeof(path), "%s/%s", events ? events : "/nonexistent", sec + 11);
		if (access(path, F_OK)) {
			bpf_program__set_autoload(prog, false);
			cbpf_add_note(cb, "no tracepoint %s (%s)", sec + 11, ENOENT);
		}
	}
}

/* Load and attach file.bpf.o on the shared maps; failure is not fatal. */
static void cbpf_open_file(struct cbpf *cb)
{
	int rc;

	cb->file = file_bpf__open();
	if (!cb->file) {
		cbpf_add_note(cb, "file events off: open %s: %s", "file.bpf.o", errno);
		return;
	}
	rc = cbpf_share_maps(cb, cb->file->obj);
	if (!rc) {
		cbpf_skip_missing_tps(cb, cb->file->obj);
		rc = file_bpf__load(cb->file);
	}
	if (!rc)
		rc = file_bpf__attach(cb->file);
	cb->file_attached = !rc;
	if (rc) {
		cbpf_add_note(cb, "file events off: %s: %s", "load/attach file.bpf.o", -rc);
		file_bpf__destroy(cb->file);
		cb->file = NULL;
	}
}

/* Write the in-kernel filter: operations in ops (bit n = VIGIL_OP n). */
int cbpf_set_filter(struct cbpf *cb, uint64_t ops, int chmod_all)
{
	struct vigil_filter f = { .ops = ops, .ignore_tgid = (uint32_t)getpid(),
				  .chmod_all = chmod_all ? 1 : 0 };
	uint32_t key = 0;
	int rc;

	if (bpf_map_update_elem(bpf_map__fd(cb->skel->maps.filter), &key, &f, BPF_ANY))
		return -errno;
	/* No file operation wanted: detach, so opens pay nothing at all. */
	if (cb->file && !(ops & CBPF_OPS_FILE) && cb->file_attached) {
		file_bpf__detach(cb->file);
		cb->file_attached = 0;
	} else if (cb->file && (ops & CBPF_OPS_FILE) && !cb->file_attached) {
		rc = file_bpf__attach(cb->file);
		if (rc)
			return rc;
		cb->file_attached = 1;
	}
	return 0;
}

/* What is not available, "" when everything loaded. */
const char *cbpf_note(const struct cbpf *cb)
{
	return cb->note;
}

/* Whether file (VIGIL_EV_FILE) or network (VIGIL_EV_NET) events are loaded. */
int cbpf_has(const struct cbpf *cb, unsigned type)
{
	switch (type) {
	case VIGIL_EV_EXEC:
	case VIGIL_EV_EXIT:
	case VIGIL_EV_CLONE:
		return 1;
	case VIGIL_EV_FILE:
		return cb->file != NULL;
	}
	return 0;
}

/* Open, size, load and attach process.bpf.o; on error err says which step failed. */
int cbpf_open(struct cbpf **out, size_t ringbuf_bytes, char *err, size_t errlen)
{
	struct cbpf *cb;
	int rc;

	*out = NULL;
	cb = calloc(1, sizeof(*cb));
	if (!cb) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cb->ncpus = libbpf_num_possible_cpus();
	if (cb->ncpus <= 0) {
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-cb->ncpus));
		goto fail;
	}
	cb->skel = process_bpf__open();
	if (!cb->skel) {
		snprintf(err, errlen, "open BPF object process.bpf.o: %s", strerror(errno));
		goto fail;
	}
	rc = bpf_map__set_max_entries(cb->skel->maps.rb, cbpf_ring_size(ringbuf_bytes));
	if (rc) {
		snprintf(err, errlen, "set ring buffer size: %s", strerror(-rc));
		goto fail;
	}
	cb->skel->rodata->exit_has_group_dead = cbpf_exit_has_group_dead();
	rc = process_bpf__load(cb->skel);
	if (rc) {
		snprintf(err, errlen, "load BPF programs (verifier log above): %s", strerror(-rc));
		goto fail;
	}
	rc = process_bpf__attach(cb->skel);
	if (rc) {
		snprintf(err, errlen, "attach sched_process_{exec,exit,fork}: %s", strerror(-rc));
		goto fail;
	}
	cbpf_open_file(cb);
	if (cbpf_set_filter(cb, CBPF_OPS_ALL, 0)) {
		snprintf(err, errlen, "write the filter map: %s", strerror(errno));
		goto fail;
	}
	cb->rb = ring_buffer__new(bpf_map__fd(cb->skel->maps.rb), cbpf_on_sample, cb, NULL);
	if (!cb->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		goto fail;
	}
	cbpf_refresh_clock(cb);
	*out = cb;
	return 0;
fail:
	cbpf_close(cb);
	return -1;
}

/* The ring buffer's epoll fd, readable after a wakeup from the BPF side. */
int cbpf_fd(const struct cbpf *cb)
{
	return ring_buffer__epoll_fd(cb->rb);
}

/* Consume every record available now; see collector_bpf.h for the return value. */
int cbpf_drain(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg)
{
	int rc;

	cb->emit = emit;
	cb->arg = arg;
	cb->emitted = 0;
	cb->emit_failed = 0;
	rc = ring_buffer__consume(cb->rb);
	cb->emit = NULL;
	cb->arg = NULL;
	if (cb->emit_failed || rc < 0)
		return -1;
	return cb->emitted;
}

/* Pack a msgpack str from a NUL-terminated C string. */
static void cbpf_pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Pack a msgpack str from n bytes (not necessarily UTF-8: the exporter
 * sanitizes). */
static void cbpf_pack_bytes(msgpack_packer *pk, const void *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Pack key k with an unsigned integer value. */
static void cbpf_pack_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	cbpf_pack_cstr(pk, k);
	msgpack_pack_uint64(pk, v);
}

/* Wall-clock ns of a monotonic ktime. */
static uint64_t cbpf_walltime(const struct cbpf *cb, uint64_t ktime)
{
	return (uint64_t)((int64_t)ktime + cb->clock_off);
}

/* Pack argv[1..] from the NUL-separated tail as an array of str. */
static void cbpf_pack_args(msgpack_packer *pk, const char *a, size_t n)
{
	size_t count = 0, i, start;

	for (i = 0, start = 0; i < n; i++)
		if (a[i] == '\0') {
			count++;
			start = i + 1;
		}
	if (start < n) /* truncated last argument without its NUL */
		count++;
	msgpack_pack_array(pk, count);
	for (i = 0, start = 0; i < n; i++)
		if (a[i] == '\0') {
			cbpf_pack_bytes(pk, a + start, i - start);
			start = i + 1;
		}
	if (start < n)
		cbpf_pack_bytes(pk, a + start, n - start);
}

/* Pack the flags bitmask as an array of Tetragon flag names. */
static void cbpf_pack_flags(msgpack_packer *pk, uint32_t flags)
{
	size_t i, count = 0;

	flags |= VIGIL_EXEC_EXECVE;
	for (i = 0; i < sizeof(cbpf_flag_names) / sizeof(cbpf_flag_names[0]); i++)
		if (flags & cbpf_flag_names[i].bit)
			count++;
	msgpack_pack_array(pk, count);
	for (i = 0; i < sizeof(cbpf_flag_names) / sizeof(cbpf_flag_names[0]); i++)
		if (flags & cbpf_flag_names[i].bit)
			cbpf_pack_cstr(pk, cbpf_flag_names[i].name);
}

/* Body of wire.md 4.1 from a checked exec record. */
static void cbpf_pack_exec(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	const char *tail = (const char *)d + sizeof(struct vigil_ev_exec);
	struct vigil_ev_exec e;

	memcpy(&e, d, sizeof(e));
	msgpack_pack_map(pk, 17);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, e.hdr.ktime));
	cbpf_pack_kv_u64(pk, "ktime", e.hdr.ktime);
	cbpf_pack_kv_u64(pk, "pid", e.hdr.pid);
	cbpf_pack_kv_u64(pk, "tid", e.hdr.tid);
	cbpf_pack_kv_u64(pk, "ppid", e.ppid);
	cbpf_pack_kv_u64(pk, "pktime", e.pktime);
	cbpf_pack_kv_u64(pk, "start_ktime", e.start_ktime);
	cbpf_pack_kv_u64(pk, "uid", e.uid);
	cbpf_pack_kv_u64(pk, "euid", e.euid);
	cbpf_pack_kv_u64(pk, "gid", e.gid);
	cbpf_pack_kv_u64(pk, "egid", e.egid);
	cbpf_pack_kv_u64(pk, "auid", e.auid);
	cbpf_pack_cstr(pk, "binary");
	cbpf_pack_bytes(pk, tail, e.binary_len);
	cbpf_pack_cstr(pk, "args");
	cbpf_pack_args(pk, tail + e.binary_len + e.cwd_len, e.args_len);
	cbpf_pack_cstr(pk, "cwd");
	cbpf_pack_bytes(pk, tail + e.binary_len, e.cwd_len);
	cbpf_pack_cstr(pk, "flags");
	cbpf_pack_flags(pk, e.flags);
	cbpf_pack_kv_u64(pk, "cgroup_id", e.cgroup_id);
}

/* Body of wire.md 4.2 from a checked exit record. */
static void cbpf_pack_exit(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	struct vigil_ev_exit e;
	unsigned sig, status;
	char buf[24];

	memcpy(&e, d, sizeof(e));
	sig = e.code & 0x7f;
	status = sig ? 0 : (e.code >> 8) & 0xff;
	msgpack_pack_map(pk, sig ? 6 : 5);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, e.hdr.ktime));
	cbpf_pack_kv_u64(pk, "ktime", e.hdr.ktime);
	cbpf_pack_kv_u64(pk, "pid", e.hdr.pid);
	cbpf_pack_kv_u64(pk, "tid", e.hdr.tid);
	cbpf_pack_kv_u64(pk, "status", status);
	if (sig) {
		cbpf_pack_cstr(pk, "signal");
		cbpf_pack_cstr(pk, cbpf_signal_name(sig, buf, sizeof(buf)));
	}
}

/* Body of wire.md 4.3 from a checked clone record. */
static void cbpf_pack_clone(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	struct vigil_ev_clone e;

	memcpy(&e, d, sizeof(e));
	msgpack_pack_map(pk, 6);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, e.hdr.ktime));
	cbpf_pack_kv_u64(pk, "ktime", e.hdr.ktime);
	cbpf_pack_kv_u64(pk, "pid", e.hdr.pid);
	cbpf_pack_kv_u64(pk, "ppid", e.ppid);
	cbpf_pack_kv_u64(pk, "start_ktime", e.start_ktime);
	cbpf_pack_kv_u64(pk, "pktime", e.pktime);
}

/* Kernel function name (Tetragon hook) and syscall name of each operation. */
/* clang-format off */
static const struct {
	const char *fn;
	const char *sys;
} cbpf_ops[VIGIL_OP_NET_MAX] = {
	[VIGIL_OP_OPEN] = { "security_file_open", "open" },
	[VIGIL_OP_OPENAT] = { "security_file_open", "openat" },
	[VIGIL_OP_OPENAT2] = { "security_file_open", "openat2" },
	[VIGIL_OP_CREAT] = { "security_file_open", "creat" },
	[VIGIL_OP_UNLINK] = { "security_path_unlink", "unlink" },
	[VIGIL_OP_UNLINKAT] = { "security_path_unlink", "unlinkat" },
	[VIGIL_OP_RMDIR] = { "security_path_rmdir", "rmdir" },
	[VIGIL_OP_RENAME] = { "security_path_rename", "rename" },
	[VIGIL_OP_RENAMEAT] = { "security_path_rename", "renameat" },
	[VIGIL_OP_RENAMEAT2] = { "security_path_rename", "renameat2" },
	[VIGIL_OP_LINK] = { "security_path_link", "link" },
	[VIGIL_OP_LINKAT] = { "security_path_link", "linkat" },
	[VIGIL_OP_SYMLINK] = { "security_path_symlink", "symlink" },
	[VIGIL_OP_SYMLINKAT] = { "security_path_symlink", "symlinkat" },
	[VIGIL_OP_TRUNCATE] = { "security_path_truncate", "truncate" },
	[VIGIL_OP_FTRUNCATE] = { "security_path_truncate", "ftruncate" },
	[VIGIL_OP_CHMOD] = { "security_path_chmod", "chmod" },
	[VIGIL_OP_FCHMOD] = { "security_path_chmod", "fchmod" },
	[VIGIL_OP_FCHMODAT] = { "security_path_chmod", "fchmodat" },
	[VIGIL_OP_FCHMODAT2] = { "security_path_chmod", "fchmodat2" },
	[VIGIL_OP_SETXATTR] = { "security_inode_setxattr", "setxattr" },
	[VIGIL_OP_LSETXATTR] = { "security_inode_setxattr", "lsetxattr" },
	[VIGIL_OP_FSETXATTR] = { "security_inode_setxattr", "fsetxattr" },
	[VIGIL_OP_CONNECT] = { "security_socket_connect", "connect" },
	[VIGIL_OP_ACCEPT] = { "security_socket_accept", "accept" },
	[VIGIL_OP_ACCEPT4] = { "security_socket_accept", "accept4" },
	[VIGIL_OP_LISTEN] = { "security_socket_listen", "listen" },
	[VIGIL_OP_BIND] = { "security_socket_bind", "bind" },
	[VIGIL_OP_DUP2] = { "sys_dup2", "dup2" },
	[VIGIL_OP_DUP3] = { "sys_dup3", "dup3" },
	[VIGIL_OP_EXEC_STDIO] = { "sys_execve", "execve" },
};
/* clang-format on */

/* One KprobeArgument to pack. */
enum cbpf_arg_kind { CA_FILE, CA_PATH, CA_INT, CA_SIZE, CA_STR };
struct cbpf_arg {
	enum cbpf_arg_kind kind;
	const char *label;	/* NULL: none */
	const char *s;		/* CA_STR; CA_FILE/CA_PATH: the path */
	size_t slen;
	const char *pflags;	/* CA_FILE/CA_PATH: KprobeFile.flags, "" = none */
	const char *perm;	/* CA_FILE/CA_PATH: permission, "" = none */
	int64_t i;		/* CA_INT, CA_SIZE */
};

/* ls-style permission string of an i_mode ("-rwsr-xr-x"); "" when 0. */
static void cbpf_perm(uint32_t m, char out[11])
{
	static const char types[16] = { [1] = 'p', [2] = 'c', [4] = 'd', [6] = 'b', [8] = '-',
					[10] = 'l', [12] = 's' };
	const char *rwx = "rwxrwxrwx";

	if (!m) {
		out[0] = '\0';
		return;
	}
	out[0] = types[(m >> 12) & 15] ? types[(m >> 12) & 15] : '?';
	for (int b = 0; b < 9; b++)
		out[1 + b] = (m & (0400 >> b)) ? rwx[b] : '-';
	if (m & 04000)
		out[3] = (m & 0100) ? 's' : 'S';
	if (m & 02000)
		out[6] = (m & 010) ? 's' : 'S';
	if (m & 01000)
		out[9] = (m & 01) ? 't' : 'T';
	out[10] = '\0';
}

/* Pack one KprobeArgument map. */
static void cbpf_pack_arg(msgpack_packer *pk, const struct cbpf_arg *a)
{
	static const char *const keys[] = { [CA_FILE] = "file_arg", [CA_PATH] = "path_arg",
					     [CA_INT] = "int_arg", [CA_SIZE] = "size_arg",
					     [CA_STR] = "string_arg" };

	msgpack_pack_map(pk, a->label ? 2 : 1);
	cbpf_pack_cstr(pk, keys[a->kind]);
	switch (a->kind) {
	case CA_FILE:
	case CA_PATH:
		msgpack_pack_map(pk, 1 + (a->pflags[0] != 0) + (a->perm[0] != 0));
		cbpf_pack_cstr(pk, "path");
		cbpf_pack_bytes(pk, a->s, a->slen);
		if (a->pflags[0]) {
			cbpf_pack_cstr(pk, "flags");
			cbpf_pack_cstr(pk, a->pflags);
		}
		if (a->perm[0]) {
			cbpf_pack_cstr(pk, "permission");
			cbpf_pack_cstr(pk, a->perm);
		}
		break;
	case CA_INT:
		msgpack_pack_int64(pk, a->i);
		break;
	case CA_SIZE:
		msgpack_pack_uint64(pk, (uint64_t)a->i);
		break;
	case CA_STR:
		cbpf_pack_bytes(pk, a->s, a->slen);
		break;
	}
	if (a->label) {
		cbpf_pack_cstr(pk, "label");
		cbpf_pack_cstr(pk, a->label);
	}
}

/* Pack the common head of a process_kprobe body: 9 keys, args last but
 * return and action first, so the caller packs the args array next. */
static void cbpf_pack_kprobe_head(const struct cbpf *cb, msgpack_packer *pk,
				  const struct vigil_ev_hdr *h, uint64_t start_ktime, const char *fn,
				  int64_t ret, size_t nargs)
{
	msgpack_pack_map(pk, 9);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, h->ktime));
	cbpf_pack_kv_u64(pk, "ktime", h->ktime);
	cbpf_pack_kv_u64(pk, "pid", h->pid);
	cbpf_pack_kv_u64(pk, "tid", h->tid);
	cbpf_pack_kv_u64(pk, "start_ktime", start_ktime);
	cbpf_pack_cstr(pk, "function_name");
	cbpf_pack_cstr(pk, fn);
	cbpf_pack_cstr(pk, "return");
	msgpack_pack_map(pk, 1);
	cbpf_pack_cstr(pk, "int_arg");
	msgpack_pack_int64(pk, ret);
	cbpf_pack_cstr(pk, "action");
	cbpf_pack_cstr(pk, "KPROBE_ACTION_POST");
	cbpf_pack_cstr(pk, "args");
	msgpack_pack_array(pk, nargs);
}

/* One file operand as a path argument: the kernel's path when resolved,
 * else the lexical join of directory and user string. out receives the
 * joined string when one is built; *user is set when the user's string
 * should be reported next to it (it differs from the result). */
static void cbpf_file_operand(const char *path, size_t plen, const char *name, size_t nlen,
			      unsigned ff, char *out, size_t outsz, struct cbpf_arg *a, int *user)
{
	int trunc = 0, n;

	*user = 0;
	a->perm = "";
	if (ff & VIGIL_F_RESOLVED) {
		a->s = path;
		a->slen = plen;
		a->pflags = (ff & VIGIL_F_TRUNC) ? "truncatedPath" : "";
		return;
	}
	if (nlen && name[0] != '/' && !(ff & VIGIL_F_DIR)) {
		/* relative, directory unknown: the user's string as it is */
		a->s = name;
		a->slen = nlen;
		a->pflags = "unresolvedPath errorPath";
		return;
	}
	n = cpath_join(path, plen, name, nlen, out, outsz, &trunc);
	a->s = out;
	a->slen = n < 0 ? 0 : (size_t)n;
	a->pflags = (trunc || (ff & VIGIL_F_TRUNC)) ? "unresolvedPath truncatedPath" :
						      "unresolvedPath";
	*user = nlen != a->slen || memcmp(name, out, nlen) != 0;
}

/* Body of a file event (docs/wire.d/collector.md) from a checked record. */
static void cbpf_pack_file(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	static char j1[VIGIL_PATH_MAX + 1], j2[VIGIL_PATH_MAX + 1];
	const char *t = (const char *)d + sizeof(struct vigil_ev_file);
	struct cbpf_arg args[8];
	struct vigil_ev_file e;
	const char *p1, *n1, *p2, *n2;
	char perm[11], mperm[11];
	size_t n = 0;
	int user1 = 0, user2 = 0;

	memcpy(&e, d, sizeof(e));
	p1 = t;
	n1 = p1 + e.path_len;
	p2 = n1 + e.name_len;
	n2 = p2 + e.path2_len;
	memset(args, 0, sizeof(args));
	cbpf_perm(e.imode, perm);
	switch (e.op) {
	case VIGIL_OP_OPEN:
	case VIGIL_OP_OPENAT:
	case VIGIL_OP_OPENAT2:
	case VIGIL_OP_CREAT:
		args[n].kind = CA_FILE;
		cbpf_file_operand(p1, e.path_len, n1, e.name_len, e.fflags, j1, sizeof(j1),
				  &args[n], &user1);
		args[n++].perm = perm;
		args[n].kind = CA_INT;
		args[n].label = "flags";
		args[n++].i = (int32_t)e.flags;
		args[n].kind = CA_INT;
		args[n].label = "mode";
		args[n++].i = e.mode;
		break;
	case VIGIL_OP_SYMLINK:
	case VIGIL_OP_SYMLINKAT:
		args[n].kind = CA_PATH;
		cbpf_file_operand(p2, e.path2_len, n2, e.name2_len, e.fflags >> 8, j2, sizeof(j2),
				  &args[n++], &user2);
		args[n].kind = CA_STR;
		args[n].label = "target";
		args[n].s = n1;
		args[n++].slen = e.name_len;
		break;
	default:
		args[n].kind = (e.op == VIGIL_OP_FSETXATTR || e.op == VIGIL_OP_FTRUNCATE ||
				e.op == VIGIL_OP_FCHMOD) ?
				       CA_FILE :
				       CA_PATH;
		cbpf_file_operand(p1, e.path_len, n1, e.name_len, e.fflags, j1, sizeof(j1),
				  &args[n], &user1);
		args[n++].perm = perm;
		if (e.path2_len || e.name2_len) {
			args[n].kind = CA_PATH;
			cbpf_file_operand(p2, e.path2_len, n2, e.name2_len, e.fflags >> 8, j2,
					  sizeof(j2), &args[n++], &user2);
		}
		if (e.op == VIGIL_OP_TRUNCATE || e.op == VIGIL_OP_FTRUNCATE) {
			args[n].kind = CA_SIZE;
			args[n].label = "length";
			args[n++].i = (int64_t)e.size;
		} else if (e.op >= VIGIL_OP_CHMOD && e.op <= VIGIL_OP_FCHMODAT2) {
			cbpf_perm(e.mode | (e.imode & 0170000), mperm);
			args[n].kind = CA_INT;
			args[n].label = "mode";
			args[n++].i = e.mode;
			args[n].kind = CA_STR;
			args[n].label = "new_permission";
			args[n].s = mperm;
			args[n++].slen = strlen(mperm + (e.imode ? 0 : 1)) ;
			if (!e.imode)
				args[n - 1].s = mperm + 1;
		} else if (e.op >= VIGIL_OP_SETXATTR && e.op <= VIGIL_OP_FSETXATTR) {
			args[n].kind = CA_STR;
			args[n].label = "name";
			args[n].s = "security.capability";
			args[n++].slen = 19;
		} else if (e.flags) {
			args[n].kind = CA_INT;
			args[n].label = "flags";
			args[n++].i = (int32_t)e.flags;
		}
	}
	if (user1) {
		args[n].kind = CA_STR;
		args[n].label = "user_path";
		args[n].s = n1;
		args[n++].slen = e.name_len;
	}
	if (user2) {
		args[n].kind = CA_STR;
		args[n].label = "user_path2";
		args[n].s = n2;
		args[n++].slen = e.name2_len;
	}
	args[n].kind = CA_STR;
	args[n].label = "syscall";
	args[n].s = cbpf_ops[e.op].sys;
	args[n].slen = strlen(args[n].s);
	n++;
	cbpf_pack_kprobe_head(cb, pk, &e.hdr, e.start_ktime,
			      e.op == VIGIL_OP_UNLINKAT && (e.flags & 0x200) /* AT_REMOVEDIR */ ?
				      "security_path_rmdir" :
				      cbpf_ops[e.op].fn,
			      e.ret, n);
	for (size_t i = 0; i < n; i++)
		cbpf_pack_arg(pk, &args[i]);
}

/* Pack the wire body of a record, re-checking it (an invalid one packs as {}). */
void cbpf_pack(const struct cbpf *cb, const struct cbpf_rec *r, msgpack_packer *pk)
{
	switch (cbpf_check(r->data, r->len)) {
	case VIGIL_EV_EXEC:
		cbpf_pack_exec(cb, r->data, pk);
		break;
	case VIGIL_EV_EXIT:
		cbpf_pack_exit(cb, r->data, pk);
		break;
	case VIGIL_EV_CLONE:
		cbpf_pack_clone(cb, r->data, pk);
		break;
	case VIGIL_EV_FILE:
		cbpf_pack_file(cb, r->data, pk);
		break;
	default:
		msgpack_pack_map(pk, 0);
	}
}

/* Sum a per-CPU u64 array map into out[0..VIGIL_EV_MAX). */
static void cbpf_sum_percpu(const struct cbpf *cb, const struct bpf_map *map, uint64_t *out)
{
	uint64_t vals[cb->ncpus];
	int fd = bpf_map__fd(map);

	for (uint32_t k = 0; k < VIGIL_EV_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < cb->ncpus; c++)
			out[k] += vals[c];
	}
}

/* Fill st from the BPF counters and the collector's own. */
void cbpf_stats(const struct cbpf *cb, struct cbpf_stats *st)
{
	_Static_assert(sizeof(st->emitted) / sizeof(st->emitted[0]) == VIGIL_EV_MAX,
		       "counter arrays match VIGIL_EV_MAX");
	memset(st, 0, sizeof(*st));
	cbpf_sum_percpu(cb, cb->skel->maps.emitted, st->emitted);
	cbpf_sum_percpu(cb, cb->skel->maps.lost, st->lost);
	for (int i = 0; i < VIGIL_EV_MAX; i++)
		st->lost_total += st->lost[i];
	st->received = cb->received;
	st->bad_records = cb->bad_records;
}

/* Detach the programs and free everything; NULL is a no-op. */
void cbpf_close(struct cbpf *cb)
{
	if (!cb)
		return;
	ring_buffer__free(cb->rb);
	file_bpf__destroy(cb->file);
	process_bpf__destroy(cb->skel);
	free(cb);
}

/* The kernel ids of our programs, space-separated, into buf (for status and tests). */
void cbpf_prog_ids(const struct cbpf *cb, char *buf, size_t len)
{
	struct bpf_object *objs[] = { cb->skel->obj, cb->file ? cb->file->obj : NULL };
	struct bpf_program *prog;
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		if (!objs[i])
			continue;
		bpf_object__for_each_program(prog, objs[i])
		{
			struct bpf_prog_info info;
			__u32 ilen = sizeof(info);
			int fd = bpf_program__fd(prog);

			memset(&info, 0, sizeof(info));
			if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 || off >= len)
				continue;
			off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? " " : "",
						info.id);
		}
	}
}

#ifdef CBPF_SELFTEST
#include "cbpf_selftest.c"
#endif
