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
#include "process.skel.h"
#include "collector_bpf.h"

#define CBPF_RINGBUF_DEFAULT (8u << 20)

struct cbpf {
	struct process_bpf *skel;
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
	}
	return "unknown";
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
	process_bpf__destroy(cb->skel);
	free(cb);
}

/* The kernel ids of our programs, space-separated, into buf (for status and tests). */
void cbpf_prog_ids(const struct cbpf *cb, char *buf, size_t len)
{
	struct bpf_program *prog;
	size_t off = 0;

	buf[0] = '\0';
	bpf_object__for_each_program(prog, cb->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 ilen = sizeof(info);
		int fd = bpf_program__fd(prog);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? " " : "", info.id);
	}
}

#ifdef CBPF_SELFTEST
#include "cbpf_selftest.c"
#endif
