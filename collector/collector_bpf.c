/*
 * collector_bpf.c - loader and decoder for bpf/process.bpf.c.
 *
 * The ring buffer is the edge with the kernel: every record is checked
 * against events.h (size, type, tail lengths) before anything reads it, and
 * a bad one is counted and skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "events.h"
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "process.skel.h"
#include "file.skel.h"
#include "file_nocast.skel.h"
#include "process_nocast.skel.h"
#include "file_noloop.skel.h"
#include "process_noloop.skel.h"
#include "net_noloop.skel.h"
#include "priv_noloop.skel.h"
#include "net.skel.h"
#include "priv.skel.h"
#include "collector_bpf.h"
#include "collector_probe.h"
#include "collector_path.h"
#include "collector_mnt.h"

#define CBPF_RINGBUF_DEFAULT (2u << 20)
#define CBPF_PROC_RINGBUF_DEFAULT (1u << 20)

/* Maps of process.bpf.o kept in the pin directory (file.bpf.o adds prefix_allow):
 * what a restarted collector needs to pick up where the last one stopped. */
static const char *const cbpf_pin_maps[] = { "rb",	   "rb_proc",	"lost",	    "emitted",
					     "filter", "cgroup_allow", "bin_match", "bin_procs" };

/* Records held between the two rings' reads: an 8-byte length slot, then the
 * record (8-aligned); off is the first not yet sent. */
struct cbpf_hold {
	unsigned char *buf;
	size_t cap, len, off;
};

struct cbpf {
	struct process_bpf *skel;
	struct file_bpf *file;	/* NULL when file events are unavailable */
	int file_attached;	/* its programs are attached (the filter wants files) */
	int build;		/* CBPF_BUILD_*: which builds of process, file and net are loaded */
	struct net_bpf *net;	/* NULL when network events are unavailable */
	int net_attached;
	int cgroups;		/* cgroup_allow holds ids: filter by cgroup */
	int binaries;		/* VIGIL_BIN_*: bin_match holds binaries */
	int prefixes;		/* filter file paths by prefix_allow */
	unsigned pflags;	/* CBPF_PFX_* */
	char **uprefixes;	/* the same, for records the kernel could not judge */
	size_t nuprefixes;
	uint64_t late_filtered;	/* such records not under a prefix: not sent */
	struct priv_bpf *priv;	/* NULL when privilege events are unavailable */
	int priv_attached;
	uint32_t host_ns[VIGIL_NS_COUNT]; /* namespaces of pid 1, for is_host */
	uint32_t own_mnt_ns;	/* ours: an exec's path names the same file here */
	char note[512];		/* what is missing, for the log; "" when nothing */
	int wake_fd;	/* epoll over both rings, readable when either has data; -1 */
	size_t rb_bytes, proc_bytes;
	/* process records copied out of rb_proc, merged with rb's by time */
	struct cbpf_hold proc;	/* process records read, not yet sent */
	struct cbpf_hold rest;	/* rb records taken after the drain began */
	uint64_t settled;	/* the drain's start: records taken before it are in order */
	int rest_full;		/* rest hit its bound: rb reading stopped early */
	struct ring_buffer *rb_procm; /* rb_proc alone (read first) */
	struct ring_buffer *rb_rest;  /* rb alone (read after rb_proc) */
	/* rb's consumer and producer positions (read-only mappings): a drain that
	 * stops short of the producer (a record reserved, not yet committed) keeps
	 * the later process records back, or an exit could pass that record */
	const uint64_t *rb_cons, *rb_prod;
	/* pins (pin_dir "" when not pinned) */
	char pin_dir[256];
	int lock_fd;		/* flock on pin_dir: one collector per directory */
	int reuse;		/* pins of a previous run were checked: adopt its links */
	int adopted;		/* links adopted at open */
	uint64_t wake_ns;	/* the programs' wake_ns: CBPF_WAKE_EVERY, a wakeup per record */
	char pin_note[768];
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

/* Flags vigil adds from vigil_ev_exec.xflags (not Tetragon's). */
static const struct {
	uint32_t bit;
	const char *name;
} cbpf_xflag_names[] = {
	{ VIGIL_EXEC_X_PROCFS, "procFS" },
	{ VIGIL_EXEC_X_STDIN_SOCK, "stdinSocket" },
	{ VIGIL_EXEC_X_STDOUT_SOCK, "stdoutSocket" },
	{ VIGIL_EXEC_X_STDERR_SOCK, "stderrSocket" },
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
	case VIGIL_EV_PRIV:
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
		[VIGIL_EV_NET] = "net", [VIGIL_EV_PRIV] = "priv",
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

		if (len < sizeof(n) || len > sizeof(n) + VIGIL_UNIX_PATH_MAX)
			return -1;
		memcpy(&n, data, sizeof(n));
		return n.op >= VIGIL_OP_CONNECT && n.op < VIGIL_OP_NET_MAX ? (int)h.type : -1;
	}
	case VIGIL_EV_PRIV: {
		struct vigil_ev_priv p;

		if (len < sizeof(p))
			return -1;
		memcpy(&p, data, sizeof(p));
		if (p.op < VIGIL_OP_SETUID || p.op >= VIGIL_OP_PRIV_MAX ||
		    p.slen[0] > VIGIL_PRIV_STR_MAX || p.slen[1] > VIGIL_PRIV_STR_MAX ||
		    p.slen[2] > VIGIL_PRIV_STR_MAX || (p.xflags & ~VIGIL_PRIV_X_NS) ||
		    sizeof(p) + (size_t)p.slen[0] + p.slen[1] + p.slen[2] +
		    ((p.xflags & VIGIL_PRIV_X_NS) ? VIGIL_NS_COUNT * sizeof(uint32_t) : 0) != len)
			return -1;
		return h.type;
	}
	}
	return -1;
}

static int cbpf_late_wanted(const struct cbpf *cb, const void *data);

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
	if (type == VIGIL_EV_FILE && !cbpf_late_wanted(cb, data)) {
		cb->late_filtered++;
		return 0;
	}
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

/* Make obj share the ring, counters and filter of the process object. */
static int cbpf_share_maps(struct cbpf *cb, struct bpf_object *obj)
{
	const char *const *names = cbpf_pin_maps;
	struct bpf_object *pobj = cb->skel->obj;

	for (size_t i = 0; i < sizeof(cbpf_pin_maps) / sizeof(cbpf_pin_maps[0]); i++) {
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
	const char *events = cprobe_tracefs();
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

/* Append to the pin note (for the log). */
static void cbpf_pin_log(struct cbpf *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cbpf_pin_log(struct cbpf *cb, const char *fmt, ...)
{
	size_t n = strlen(cb->pin_note);
	va_list ap;

	if (n && n + 2 < sizeof(cb->pin_note))
		n += (size_t)snprintf(cb->pin_note + n, sizeof(cb->pin_note) - n, "; ");
	if (n >= sizeof(cb->pin_note))
		return;
	va_start(ap, fmt);
	vsnprintf(cb->pin_note + n, sizeof(cb->pin_note) - n, fmt, ap);
	va_end(ap);
}

/* The pin path of name (a map, or "link_<program>") into buf. */
static const char *cbpf_pin_path(const struct cbpf *cb, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", cb->pin_dir, name);
	return buf;
}

/* Take the pin directory: create it 0700 and hold an exclusive flock on it,
 * so two collectors never share (and unpin) one set of pins. 0, or -1 with err
 * (*busy set when another collector holds it). */
static int cbpf_pin_lock(struct cbpf *cb, int *busy, char *err, size_t errlen)
{
	if (mkdir(cb->pin_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", cb->pin_dir, strerror(errno));
		return -1;
	}
	cb->lock_fd = open(cb->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cb->lock_fd < 0) {
		snprintf(err, errlen, "open %s: %s", cb->pin_dir, strerror(errno));
		return -1;
	}
	if (flock(cb->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s is in use by another collector", cb->pin_dir);
		if (busy)
			*busy = 1;
		close(cb->lock_fd);
		cb->lock_fd = -1;
		return -1;
	}
	return 0;
}

/* Remove every pin in the directory: links first (their programs detach when
 * the last reference goes), then maps. Returns the number removed. */
static int cbpf_pin_wipe(struct cbpf *cb)
{
	char path[512];
	struct dirent *de;
	int n = 0;

	for (int pass = 0; pass < 2; pass++) {
		DIR *d = opendir(cb->pin_dir);

		if (!d)
			return n;
		while ((de = readdir(d))) {
			int is_link = !strncmp(de->d_name, "link_", 5);

			if (de->d_name[0] == '.' || is_link != (pass == 0))
				continue;
			if (unlink(cbpf_pin_path(cb, de->d_name, path, sizeof(path))) == 0)
				n++;
		}
		closedir(d);
	}
	return n;
}

#define CBPF_OWNER_LEN 256

/* Record owner (the run directory) in the pin directory's "owner" map. */
static void cbpf_pin_owner(struct cbpf *cb, const char *owner)
{
	char path[512], val[CBPF_OWNER_LEN] = { 0 };
	__u32 key = 0;
	int fd;

	cbpf_pin_path(cb, "owner", path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vigil_owner", sizeof(key), sizeof(val), 1,
				    NULL);
		if (fd < 0)
			return;
		if (bpf_obj_pin(fd, path) < 0) {
			close(fd);
			return;
		}
	}
	snprintf(val, sizeof(val), "%s", owner ? owner : "");
	bpf_map_update_elem(fd, &key, val, BPF_ANY);
	close(fd);
}

/*
 * Remove the pins of collectors that are gone for good: a sibling directory
 * (same name prefix) that no live collector holds (its flock is free) and
 * whose recorded run directory no longer exists (a test tree killed and
 * deleted). Without this its programs would run, unread, until reboot.
 */
static void cbpf_pin_gc(struct cbpf *cb)
{
	char parent[256], prefix[64], path[512], val[CBPF_OWNER_LEN];
	const char *base = strrchr(cb->pin_dir, '/');
	struct dirent *de;
	DIR *d;

	if (!base || base == cb->pin_dir)
		return;
	snprintf(parent, sizeof(parent), "%.*s", (int)(base - cb->pin_dir), cb->pin_dir);
	snprintf(prefix, sizeof(prefix), "%s", "vigil-collector");
	d = opendir(parent);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct cbpf other = { .lock_fd = -1 };
		__u32 key = 0;
		int fd;

		if (strncmp(de->d_name, prefix, strlen(prefix)) || !strcmp(de->d_name, base + 1))
			continue;
		if (snprintf(other.pin_dir, sizeof(other.pin_dir), "%s/%s", parent, de->d_name) >=
		    (int)sizeof(other.pin_dir))
			continue;
		other.lock_fd = open(other.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (other.lock_fd < 0)
			continue;
		if (flock(other.lock_fd, LOCK_EX | LOCK_NB) < 0) { /* alive */
			close(other.lock_fd);
			continue;
		}
		fd = bpf_obj_get(cbpf_pin_path(&other, "owner", path, sizeof(path)));
		memset(val, 0, sizeof(val));
		if (fd >= 0 && bpf_map_lookup_elem(fd, &key, val) == 0 && val[0] == '/' &&
		    access(val, F_OK) < 0 && errno == ENOENT) {
			val[sizeof(val) - 1] = '\0';
			cbpf_pin_wipe(&other);
			rmdir(other.pin_dir);
			cbpf_pin_log(cb, "removed the pins of a collector gone with its run directory "
				     "%s (%s)", val, other.pin_dir);
		}
		if (fd >= 0)
			close(fd);
		close(other.lock_fd);
	}
	closedir(d);
}

/* Whether the map pinned at path has the shape of m (type, key, value, size);
 * 0 when it does, else -1 with why. */
static int cbpf_pin_map_ok(const char *path, const struct bpf_map *m, char *why, size_t n)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0) {
		snprintf(why, n, "map %s: %s", bpf_map__name(m), strerror(errno));
		return -1;
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		snprintf(why, n, "%s: not a map: %s", bpf_map__name(m), strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (info.type != (__u32)bpf_map__type(m) || info.key_size != bpf_map__key_size(m) ||
	    info.value_size != bpf_map__value_size(m) ||
	    info.max_entries != bpf_map__max_entries(m)) {
		snprintf(why, n, "map %s differs (type %u size %u, want %u size %u)",
			 bpf_map__name(m), info.type, info.max_entries, (unsigned)bpf_map__type(m),
			 bpf_map__max_entries(m));
		return -1;
	}
	return 0;
}

/* The id and tag of the program behind the link pinned at path; 0, or -1. */
static int cbpf_pin_link_prog(const char *path, __u32 *id, unsigned char tag[BPF_TAG_SIZE])
{
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	__u32 len = sizeof(li);
	int fd = bpf_obj_get(path), pfd;

	if (fd < 0)
		return -1;
	memset(&li, 0, sizeof(li));
	if (bpf_obj_get_info_by_fd(fd, &li, &len) < 0 || !li.prog_id) {
		close(fd);
		return -1;
	}
	close(fd);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	if (pfd < 0)
		return -1;
	len = sizeof(pi);
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len) < 0) {
		close(pfd);
		return -1;
	}
	close(pfd);
	*id = li.prog_id;
	memcpy(tag, pi.tag, BPF_TAG_SIZE);
	return 0;
}

/* The program named name in one of objs, or NULL. */
static struct bpf_program *cbpf_find_prog(struct bpf_object *const *objs, int nobjs,
					  const char *name)
{
	struct bpf_program *p;

	for (int i = 0; i < nobjs; i++)
		if (objs[i] && (p = bpf_object__find_program_by_name(objs[i], name)))
			return p;
	return NULL;
}

/* The map named name in one of objs, or NULL. */
static struct bpf_map *cbpf_find_map(struct bpf_object *const *objs, int nobjs, const char *name)
{
	struct bpf_map *m;

	for (int i = 0; i < nobjs; i++)
		if (objs[i] && (m = bpf_object__find_map_by_name(objs[i], name)))
			return m;
	return NULL;
}

/*
 * Check the pins left by a previous run before loading anything: every entry
 * must be one of our maps with the shape this run wants, or a link whose
 * program is one of ours and still loaded. objs are the opened (not loaded)
 * objects, sized. Returns 1 (valid pins: reuse them), 0 (none), or -1 with
 * why (stale or broken: remove them).
 */
static int cbpf_pin_check(struct cbpf *cb, struct bpf_object *const *objs, int nobjs, char *why,
			  size_t n)
{
	unsigned char tag[BPF_TAG_SIZE];
	char path[512];
	struct dirent *de;
	int found = 0, bad = 0;
	DIR *d = opendir(cb->pin_dir);
	__u32 id;

	if (!d)
		return 0;
	while (!bad && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "owner"))
			continue;
		found++;
		cbpf_pin_path(cb, de->d_name, path, sizeof(path));
		if (!strncmp(de->d_name, "link_", 5)) {
			if (!cbpf_find_prog(objs, nobjs, de->d_name + 5)) {
				snprintf(why, n, "link of unknown program %s", de->d_name + 5);
				bad = 1;
			} else if (cbpf_pin_link_prog(path, &id, tag) < 0) {
				snprintf(why, n, "link %s: no program behind it", de->d_name);
				bad = 1;
			}
			continue;
		}
		struct bpf_map *m = cbpf_find_map(objs, nobjs, de->d_name);

		if (!m) {
			snprintf(why, n, "unknown pin %s", de->d_name);
			bad = 1;
		} else if (cbpf_pin_map_ok(path, m, why, n) < 0) {
			bad = 1;
		}
	}
	closedir(d);
	return bad ? -1 : found > 0;
}

/* Compare the tags of the freshly loaded programs with those behind the
 * pinned links: another build (or a missing program) makes the pins stale.
 * 0 when every pinned link runs the code this build loaded, else -1 with why. */
static int cbpf_pin_tags(struct cbpf *cb, struct bpf_object *const *objs, int nobjs, char *why,
			 size_t n)
{
	unsigned char tag[BPF_TAG_SIZE];
	struct bpf_prog_info pi;
	char path[512];
	struct dirent *de;
	int bad = 0;
	DIR *d = opendir(cb->pin_dir);
	__u32 id, len;

	if (!d)
		return 0;
	while (!bad && (de = readdir(d))) {
		struct bpf_program *p;

		if (strncmp(de->d_name, "link_", 5))
			continue;
		p = cbpf_find_prog(objs, nobjs, de->d_name + 5);
		len = sizeof(pi);
		memset(&pi, 0, sizeof(pi));
		if (!p || bpf_program__fd(p) < 0 ||
		    bpf_obj_get_info_by_fd(bpf_program__fd(p), &pi, &len) < 0) {
			snprintf(why, n, "program %s is not loaded by this build", de->d_name + 5);
			bad = 1;
		} else if (cbpf_pin_link_prog(cbpf_pin_path(cb, de->d_name, path, sizeof(path)),
					      &id, tag) < 0) {
			snprintf(why, n, "link %s: no program behind it", de->d_name);
			bad = 1;
		} else if (memcmp(tag, pi.tag, BPF_TAG_SIZE)) {
			snprintf(why, n, "program %s of another build (tag differs)",
				 de->d_name + 5);
			bad = 1;
		}
	}
	closedir(d);
	return bad ? -1 : 0;
}

/* Whether p is attached at open (tracepoints; not the on-demand iterator). */
static int cbpf_autoattached(const struct bpf_program *p)
{
	return bpf_program__autoload(p) && bpf_program__autoattach(p);
}

/*
 * Attach every program of skeleton sk, or adopt the link a previous run
 * pinned for it: the pinned program then replaces the freshly loaded copy
 * behind the same fd (dup3), so one set of programs is loaded and the
 * skeleton's fd is the attached program's. New links are pinned. 0 or -errno.
 */
static int cbpf_attach_skel(struct cbpf *cb, struct bpf_object_skeleton *sk)
{
	char path[512];

	for (int i = 0; i < sk->prog_cnt; i++) {
		struct bpf_program *p = *sk->progs[i].prog;
		struct bpf_link **slot = sk->progs[i].link;
		struct bpf_link *l = NULL;
		unsigned char tag[BPF_TAG_SIZE];
		__u32 id;

		if (*slot || !cbpf_autoattached(p))
			continue;
		if (cb->pin_dir[0]) {
			snprintf(path, sizeof(path), "%s/link_%s", cb->pin_dir, bpf_program__name(p));
			if (cb->reuse && access(path, F_OK) == 0 &&
			    cbpf_pin_link_prog(path, &id, tag) == 0 && (l = bpf_link__open(path))) {
				int fd = bpf_prog_get_fd_by_id(id);

				if (fd >= 0) {
					dup3(fd, bpf_program__fd(p), O_CLOEXEC);
					close(fd);
				}
				*slot = l;
				cb->adopted++;
				continue;
			}
			unlink(path); /* broken or not ours to adopt: attach anew */
		}
		l = bpf_program__attach(p);
		if (!l)
			return -errno;
		if (cb->pin_dir[0] && bpf_link__pin(l, path) < 0) {
			int rc = -errno;

			bpf_link__destroy(l);
			return rc;
		}
		*slot = l;
	}
	return 0;
}

/* Detach every program of skeleton sk, removing the link pins (also those of
 * a previous run that this one did not adopt). */
static void cbpf_detach_skel(struct cbpf *cb, struct bpf_object_skeleton *sk)
{
	char path[512];

	for (int i = 0; i < sk->prog_cnt; i++) {
		struct bpf_link **slot = sk->progs[i].link;

		if (cb->pin_dir[0]) {
			snprintf(path, sizeof(path), "%s/link_%s", cb->pin_dir,
				 bpf_program__name(*sk->progs[i].prog));
			unlink(path);
		}
		bpf_link__destroy(*slot);
		*slot = NULL;
	}
}

/* Empty a hash or LPM map (the filter of a previous run, when pins are reused). */
static void cbpf_map_clear(int fd, size_t keysz)
{
	unsigned char key[256];

	if (keysz > sizeof(key))
		return;
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key))
			break;
}

/* Point each map of obj named in names at its pin (libbpf reuses a pinned map
 * at load, else creates and pins it). */
static void cbpf_set_pins(struct cbpf *cb, struct bpf_object *obj, const char *const *names,
			  size_t n)
{
	char path[512];

	if (!cb->pin_dir[0])
		return;
	for (size_t i = 0; i < n; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, names[i]);

		if (m)
			bpf_map__set_pin_path(m, cbpf_pin_path(cb, names[i], path, sizeof(path)));
	}
}

/* The builds of process.bpf.o and file.bpf.o, in order of preference. */
enum { CBPF_BUILD_CAST, CBPF_BUILD_NOCAST, CBPF_BUILD_NOLOOP };
static const char *const cbpf_build_names[] = { "bpf_rdonly_cast", "nocast", "noloop" };

/* See collector_bpf.h. */
const char *cbpf_build_name(const struct cbpf *cb)
{
	return cb->build >= 0 && cb->build <= CBPF_BUILD_NOLOOP ? cbpf_build_names[cb->build] : "?";
}

/* Which builds this kernel runs (decided once): the fast ones need the
 * bpf_rdonly_cast kfunc (6.2+, looked up in the kernel's BTF) to type the
 * pointers of their path walks; without bpf_loop (before 5.17) the bounded-loop
 * ones (*_noloop.bpf.c), else the *_nocast.bpf.c ones. VIGIL_COLLECTOR_NOLOOP=1
 * or VIGIL_COLLECTOR_NOCAST=1 force the older builds (to test them here). */
static int cbpf_pick_build(void)
{
	static int known = -1;
	const char *nl = getenv("VIGIL_COLLECTOR_NOLOOP"), *nc = getenv("VIGIL_COLLECTOR_NOCAST");
	struct btf *btf;

	if (nl && nl[0] == '1')
		return CBPF_BUILD_NOLOOP;
	if (nc && nc[0] == '1')
		return CBPF_BUILD_NOCAST;
	if (known < 0) {
		if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) != 1) {
			known = CBPF_BUILD_NOLOOP;
		} else {
			btf = btf__load_vmlinux_btf();
			known = btf && btf__find_by_name_kind(btf, "bpf_rdonly_cast",
							      BTF_KIND_FUNC) > 0 ?
					CBPF_BUILD_CAST : CBPF_BUILD_NOCAST;
			btf__free(btf);
		}
	}
	return known;
}

/* Open skeleton s (created, not opened) from data, the bytes of another build of
 * its source: that object has the same maps, programs and variables, and the
 * skeleton finds them by name. 0 or -errno. */
static int cbpf_skel_open_alt(struct bpf_object_skeleton *s, const void *data, size_t sz)
{
	s->data = (void *)data;
	s->data_sz = sz;
	return bpf_object__open_skeleton(s, NULL);
}

/* Open file.bpf.o in build (CBPF_BUILD_*). NULL with errno. */
static struct file_bpf *cbpf_file_skel_open(int build)
{
	struct file_bpf *s;
	size_t sz;
	int err;

	if (build == CBPF_BUILD_CAST)
		return file_bpf__open();
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	err = file_bpf__create_skeleton(s);
	if (!err) {
		const void *data = build == CBPF_BUILD_NOLOOP ? file_noloop_bpf__elf_bytes(&sz) :
				   file_nocast_bpf__elf_bytes(&sz);

		err = cbpf_skel_open_alt(s->skeleton, data, sz);
	}
	if (err) {
		file_bpf__destroy(s);
		errno = -err;
		return NULL;
	}
	return s;
}

/* cbpf_<obj>_skel_open(build): open <obj>.bpf.o in build (CBPF_BUILD_*: only the
 * noloop one differs, <obj>_noloop.bpf.c). NULL with errno. For net and priv. */
#define CBPF_NOLOOP_SKEL_OPEN(obj)							\
static struct obj##_bpf *cbpf_##obj##_skel_open(int build)				\
{											\
	struct obj##_bpf *s;								\
	size_t sz;									\
	int err;									\
											\
	if (build != CBPF_BUILD_NOLOOP)							\
		return obj##_bpf__open();						\
	s = calloc(1, sizeof(*s));							\
	if (!s) {									\
		errno = ENOMEM;								\
		return NULL;								\
	}										\
	err = obj##_bpf__create_skeleton(s);						\
	if (!err) {									\
		const void *data = obj##_noloop_bpf__elf_bytes(&sz);			\
											\
		err = cbpf_skel_open_alt(s->skeleton, data, sz);			\
	}										\
	if (err) {									\
		obj##_bpf__destroy(s);							\
		errno = -err;								\
		return NULL;								\
	}										\
	return s;									\
}
CBPF_NOLOOP_SKEL_OPEN(net)
CBPF_NOLOOP_SKEL_OPEN(priv)

/* Open process.bpf.o in build (CBPF_BUILD_*). NULL with errno. */
static struct process_bpf *cbpf_process_skel_open(int build)
{
	struct process_bpf *s;
	size_t sz;
	int err;

	if (build == CBPF_BUILD_CAST)
		return process_bpf__open();
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	err = process_bpf__create_skeleton(s);
	if (!err) {
		const void *data = build == CBPF_BUILD_NOLOOP ?
				   process_noloop_bpf__elf_bytes(&sz) :
				   process_nocast_bpf__elf_bytes(&sz);

		err = cbpf_skel_open_alt(s->skeleton, data, sz);
	}
	if (err) {
		process_bpf__destroy(s);
		errno = -err;
		return NULL;
	}
	return s;
}

/*
 * Load an optional object (opened as skeleton sk, whose .rodata wake_ns is at
 * wake_ns) on the shared maps; before the load, prep (may be NULL) adjusts it. 0, or
 * a negative errno with a note made from off ("... off: %s: %s") and "load <file>":
 * the caller then destroys its skeleton. Its programs are attached by
 * cbpf_set_filter when wanted.
 */
static int cbpf_load_optional(struct cbpf *cb, struct bpf_object_skeleton *sk,
			      __u64 *wake_ns, const char *off, const char *file,
			      void (*prep)(struct cbpf *cb))
{
	char what[64];
	int rc;

	*wake_ns = cb->wake_ns;
	rc = cbpf_share_maps(cb, *sk->obj);
	if (!rc) {
		cbpf_skip_missing_tps(cb, *sk->obj);
		if (prep)
			prep(cb);
		rc = bpf_object__load_skeleton(sk);
	}
	if (rc) {
		snprintf(what, sizeof(what), "load %s", file);
		cbpf_add_note(cb, off, what, -rc);
	}
	return rc;
}

/* No module tracepoints (no module support): priv's raw_tp stand-in instead. */
static void cbpf_priv_prep(struct cbpf *cb)
{
	bpf_program__set_autoload(cb->priv->progs.vigil_module_rawtp,
				  !bpf_program__autoload(cb->priv->progs.vigil_init_module));
}

/* Open and load file.bpf.o, net.bpf.o and priv.bpf.o; an object that fails is left
 * out (noted: its events are off), the rest goes on. */
static void cbpf_open_optional(struct cbpf *cb)
{
	static const char *const pins[] = { "prefix_allow" };

	cb->file = cbpf_file_skel_open(cb->build);
	if (cb->file)
		cbpf_set_pins(cb, cb->file->obj, pins, 1);
	if (!cb->file)
		cbpf_add_note(cb, "file events off: open %s: %s", "file.bpf.o", errno);
	else if (cbpf_load_optional(cb, cb->file->skeleton, &cb->file->rodata->wake_ns,
				    "file events off: %s: %s", "file.bpf.o", NULL)) {
		file_bpf__destroy(cb->file);
		cb->file = NULL;
	}
	cb->net = cbpf_net_skel_open(cb->build);
	if (!cb->net)
		cbpf_add_note(cb, "network events off: open %s: %s", "net.bpf.o", errno);
	else if (cbpf_load_optional(cb, cb->net->skeleton, &cb->net->rodata->wake_ns,
				    "network events off: %s: %s", "net.bpf.o", NULL)) {
		net_bpf__destroy(cb->net);
		cb->net = NULL;
	}
	cb->priv = cbpf_priv_skel_open(cb->build);
	if (!cb->priv)
		cbpf_add_note(cb, "privilege events off: open %s: %s", "priv.bpf.o", errno);
	else if (cbpf_load_optional(cb, cb->priv->skeleton, &cb->priv->rodata->wake_ns,
				    "privilege events off: %s: %s", "priv.bpf.o", cbpf_priv_prep)) {
		priv_bpf__destroy(cb->priv);
		cb->priv = NULL;
	}
}

/* Attach an optional object's programs when wanted, detach them when not (so its
 * hooks cost nothing at all). -1 when the attach failed: noted with the format off
 * ("... off: %s: %s"), the caller drops the object and the rest goes on. */
static int cbpf_toggle(struct cbpf *cb, struct bpf_object_skeleton *sk, uint64_t want,
		       int *attached, const char *off, const char *obj)
{
	char what[64];
	int rc;

	if (!want && *attached) {
		cbpf_detach_skel(cb, sk);
		*attached = 0;
	} else if (want && !*attached) {
		rc = cbpf_attach_skel(cb, sk);
		if (rc) {
			snprintf(what, sizeof(what), "attach %s", obj);
			cbpf_add_note(cb, off, what, -rc);
			cbpf_detach_skel(cb, sk);
			return -1;
		}
		*attached = 1;
	}
	return 0;
}

/* The mount id of our root: a task whose root is the same looks its paths up
 * as we do (VIGIL_F_OURROOT); 0 when unknown. */
static uint32_t cbpf_root_mnt(void)
{
	struct statx sx;

	if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &sx) || !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return (uint32_t)sx.stx_mnt_id;
}

/* Write the in-kernel filter: operations in ops (bit n = VIGIL_OP n). */
int cbpf_set_filter(struct cbpf *cb, uint64_t ops, int chmod_all)
{
	struct vigil_filter f = { .ops = ops, .ignore_tgid = (uint32_t)getpid(),
				  .chmod_all = chmod_all ? 1 : 0, .cgroups = cb->cgroups ? 1 : 0,
				  .prefixes = cb->prefixes ? VIGIL_PFX_ON | ((cb->pflags & CBPF_PFX_WRITES) ?
								    VIGIL_PFX_WRITES : 0) : 0,
				  .binaries = (uint32_t)cb->binaries,
				  .root_mnt = cbpf_root_mnt() };
	uint32_t key = 0;

	if (bpf_map_update_elem(bpf_map__fd(cb->skel->maps.filter), &key, &f, BPF_ANY))
		return -errno;
	/* An object whose attach fails is dropped, like a failed load. */
	if (cb->file && cbpf_toggle(cb, cb->file->skeleton, ops & CBPF_OPS_FILE,
				    &cb->file_attached, "file events off: %s: %s", "file.bpf.o") < 0) {
		file_bpf__destroy(cb->file);
		cb->file = NULL;
	}
	if (cb->net && cbpf_toggle(cb, cb->net->skeleton, ops & CBPF_OPS_NET,
				   &cb->net_attached, "network events off: %s: %s", "net.bpf.o") < 0) {
		net_bpf__destroy(cb->net);
		cb->net = NULL;
	}
	if (cb->priv && cbpf_toggle(cb, cb->priv->skeleton, ops & CBPF_OPS_PRIV,
				    &cb->priv_attached, "privilege events off: %s: %s", "priv.bpf.o") < 0) {
		priv_bpf__destroy(cb->priv);
		cb->priv = NULL;
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
	case VIGIL_EV_NET:
		return cb->net != NULL;
	case VIGIL_EV_PRIV:
		return cb->priv != NULL;
	}
	return 0;
}

/* Namespace inodes of pid 1 (the host's), to tell is_host. */
static void cbpf_host_ns(struct cbpf *cb)
{
	static const char *const names[VIGIL_NS_COUNT] = {
		[VIGIL_NS_UTS] = "uts",		 [VIGIL_NS_IPC] = "ipc",
		[VIGIL_NS_MNT] = "mnt",		 [VIGIL_NS_PID] = "pid",
		[VIGIL_NS_PID_CHILDREN] = "pid_for_children",
		[VIGIL_NS_NET] = "net",		 [VIGIL_NS_TIME] = "time",
		[VIGIL_NS_TIME_CHILDREN] = "time_for_children",
		[VIGIL_NS_CGROUP] = "cgroup",	 [VIGIL_NS_USER] = "user",
	};
	char path[64];
	struct stat stb;

	for (int i = 0; i < VIGIL_NS_COUNT; i++) {
		snprintf(path, sizeof(path), "/proc/1/ns/%s", names[i]);
		cb->host_ns[i] = stat(path, &stb) == 0 ? (uint32_t)stb.st_ino : 0;
	}
	cb->own_mnt_ns = stat("/proc/self/ns/mnt", &stb) == 0 ? (uint32_t)stb.st_ino : 0;
}

/* Add path to bin_match (a set: twice is once); 0, or -1 with err set. */
static int cbpf_add_binary(struct cbpf *cb, const char *path, char *err, size_t errlen)
{
	struct vigil_bin_key k;
	uint8_t one = 1;

	memset(&k, 0, sizeof(k));
	snprintf(k.path, sizeof(k.path), "%s", path);
	if (bpf_map_update_elem(bpf_map__fd(cb->skel->maps.bin_match), &k, &one, BPF_ANY)) {
		snprintf(err, errlen, "write the binaries filter: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The binaries of scope into bin_match: each as given and as its realpath
 * (the kernel's path of /usr/bin/python3 is /usr/bin/python3.11). */
static int cbpf_set_binaries(struct cbpf *cb, const struct cbpf_scope *sc, char *err,
			     size_t errlen)
{
	char real[PATH_MAX];

	if (!sc->nbinaries)
		return 0;
	if (sc->nbinaries > VIGIL_BINARIES_MAX / 2) {
		snprintf(err, errlen, "more than %d binaries", VIGIL_BINARIES_MAX / 2);
		return -1;
	}
	for (size_t i = 0; i < sc->nbinaries; i++) {
		if (strlen(sc->binaries[i]) >= VIGIL_BIN_LEN) {
			snprintf(err, errlen, "binary '%s': at most %d bytes", sc->binaries[i],
				 VIGIL_BIN_LEN - 1);
			return -1;
		}
		if (cbpf_add_binary(cb, sc->binaries[i], err, errlen) < 0 ||
		    (realpath(sc->binaries[i], real) && strlen(real) < VIGIL_BIN_LEN &&
		     cbpf_add_binary(cb, real, err, errlen) < 0))
			return -1;
	}
	cb->binaries = sc->bin_except ? VIGIL_BIN_EXCEPT : VIGIL_BIN_ONLY;
	return 0;
}

static ssize_t cbpf_proc_link(uint32_t pid, const char *name, char *buf, size_t max, int strip);

/* Processes already running a binary of bin_match (their execs came before
 * the programs): into bin_procs, from /proc/PID/exe. Called once the exec,
 * fork and exit programs are attached, so that none falls in between. */
static void cbpf_bin_scan(struct cbpf *cb)
{
	struct vigil_bin_key k;
	struct dirent *de;
	uint8_t one, v;
	DIR *d;

	if (!cb->binaries || !(d = opendir("/proc")))
		return;
	one = 1;
	while ((de = readdir(d))) {
		uint32_t pid = (uint32_t)strtoul(de->d_name, NULL, 10);
		ssize_t n;

		memset(&k, 0, sizeof(k));
		if (!pid || (n = cbpf_proc_link(pid, "exe", k.path, sizeof(k.path), 1)) <= 0 ||
		    (size_t)n >= sizeof(k.path))
			continue;
		k.path[n] = '\0'; /* the " (deleted)" cbpf_proc_link cut may follow */
		if (!bpf_map_lookup_elem(bpf_map__fd(cb->skel->maps.bin_match), &k, &v))
			bpf_map_update_elem(bpf_map__fd(cb->skel->maps.bin_procs), &pid, &one,
					    BPF_ANY);
	}
	closedir(d);
}

static int cbpf_fill_prefixes(struct cbpf *cb, const char *const *p, size_t n, unsigned pflags,
			      char *err, size_t errlen);

/* Our copy of the prefixes, emptied. */
static void cbpf_free_uprefixes(struct cbpf *cb)
{
	for (size_t i = 0; i < cb->nuprefixes; i++)
		free(cb->uprefixes[i]);
	free(cb->uprefixes);
	cb->uprefixes = NULL;
	cb->nuprefixes = 0;
}

/* Fill the cgroup and prefix maps from scope; 0, or -1 with err set. */
static int cbpf_set_scope(struct cbpf *cb, const struct cbpf_scope *sc, char *err, size_t errlen)
{
	uint8_t one = 1;

	if (sc->ncgroups > VIGIL_CGROUPS_MAX || sc->nprefixes > VIGIL_PREFIXES_MAX) {
		snprintf(err, errlen, "more than %d cgroups or %d prefixes", VIGIL_CGROUPS_MAX,
			 VIGIL_PREFIXES_MAX);
		return -1;
	}
	for (size_t i = 0; i < sc->ncgroups; i++)
		if (bpf_map_update_elem(bpf_map__fd(cb->skel->maps.cgroup_allow), &sc->cgroups[i],
					&one, BPF_ANY)) {
			snprintf(err, errlen, "write the cgroup filter: %s", strerror(errno));
			return -1;
		}
	cb->cgroups = sc->ncgroups > 0;
	if (cbpf_fill_prefixes(cb, sc->prefixes, sc->nprefixes, sc->pflags, err, errlen) < 0)
		return -1;
	return cbpf_set_binaries(cb, sc, err, errlen);
}

/* The prefix filter: the LPM trie and our copy (for what the kernel cannot
 * judge) hold p[0..n), applied as pflags say; 0, or -1 with err set. */
static int cbpf_fill_prefixes(struct cbpf *cb, const char *const *p, size_t n, unsigned pflags,
			      char *err, size_t errlen)
{
	uint8_t one = 1;

	if (n > VIGIL_PREFIXES_MAX) {
		snprintf(err, errlen, "more than %d prefixes", VIGIL_PREFIXES_MAX);
		return -1;
	}
	if (cb->file && n && !(cb->uprefixes = calloc(n, sizeof(char *)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; cb->file && i < n; i++) {
		struct vigil_prefix_key k;
		size_t len = strlen(p[i]);

		if (len == 0 || len >= VIGIL_PREFIX_LEN) {
			snprintf(err, errlen, "prefix '%s': 1 to %d bytes", p[i],
				 VIGIL_PREFIX_LEN - 1);
			return -1;
		}
		if (!(cb->uprefixes[cb->nuprefixes] = strdup(p[i]))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		cb->nuprefixes++;
		memset(&k, 0, sizeof(k));
		k.prefixlen = (uint32_t)len * 8;
		memcpy(k.data, p[i], len);
		if (bpf_map_update_elem(bpf_map__fd(cb->file->maps.prefix_allow), &k, &one,
					BPF_ANY)) {
			snprintf(err, errlen, "write the prefix filter: %s", strerror(errno));
			return -1;
		}
	}
	cb->prefixes = cb->file && (n > 0 || (pflags & CBPF_PFX_ON));
	cb->pflags = pflags;
	return 0;
}

/* Replace the prefix filter and the operations while running (see collector_bpf.h). */
int cbpf_set_prefixes(struct cbpf *cb, const char *const *p, size_t n, unsigned pflags,
		      uint64_t ops, int chmod_all, char *err, size_t errlen)
{
	int rc;

	/* while the trie is rewritten every path is sent: more, never less */
	cb->prefixes = 0;
	if ((rc = cbpf_set_filter(cb, ops, chmod_all))) {
		snprintf(err, errlen, "write the filter map: %s", strerror(-rc));
		return -1;
	}
	if (cb->file)
		cbpf_map_clear(bpf_map__fd(cb->file->maps.prefix_allow),
			       sizeof(struct vigil_prefix_key));
	cbpf_free_uprefixes(cb);
	if (cbpf_fill_prefixes(cb, p, n, pflags, err, errlen) < 0)
		return -1;
	if ((rc = cbpf_set_filter(cb, ops, chmod_all))) {
		snprintf(err, errlen, "write the filter map: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

static int cbpf_on_proc(void *ctx, void *data, size_t len);

/* The wakeup set: an epoll fd over both rings. 0, or -1 (errno). */
static int cbpf_wake_set(struct cbpf *cb)
{
	int fds[2] = { bpf_map__fd(cb->skel->maps.rb_proc), bpf_map__fd(cb->skel->maps.rb) };
	int i;

	cb->wake_fd = epoll_create1(EPOLL_CLOEXEC);
	if (cb->wake_fd < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = fds[i] };

		if (epoll_ctl(cb->wake_fd, EPOLL_CTL_ADD, fds[i], &e) < 0)
			return -1;
	}
	return 0;
}

/* Map rb's consumer and producer position pages read-only. 0, or -1 (errno). */
static int cbpf_map_positions(struct cbpf *cb)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int fd = bpf_map__fd(cb->skel->maps.rb);
	void *c, *p;

	c = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		return -1;
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)page);
	if (p == MAP_FAILED) {
		munmap(c, page);
		return -1;
	}
	cb->rb_cons = c;
	cb->rb_prod = p;
	return 0;
}
static int cbpf_on_rest(void *ctx, void *data, size_t len);

/* Free every object and ring (no unpinning): a failed attempt at open, or the
 * last step of cbpf_close. */
static void cbpf_unload(struct cbpf *cb)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (cb->rb_cons)
		munmap((void *)cb->rb_cons, page);
	if (cb->rb_prod)
		munmap((void *)cb->rb_prod, page);
	cb->rb_cons = cb->rb_prod = NULL;
	if (cb->wake_fd >= 0)
		close(cb->wake_fd);
	cb->wake_fd = -1;
	ring_buffer__free(cb->rb_procm);
	ring_buffer__free(cb->rb_rest);
	cb->rb_procm = cb->rb_rest = NULL;
	file_bpf__destroy(cb->file);
	net_bpf__destroy(cb->net);
	priv_bpf__destroy(cb->priv);
	process_bpf__destroy(cb->skel);
	cb->file = NULL;
	cb->net = NULL;
	cb->priv = NULL;
	cb->skel = NULL;
	cb->file_attached = cb->net_attached = cb->priv_attached = 0;
	cb->adopted = 0;
	cb->note[0] = '\0';
}

/* Open process.bpf.o with its rings sized; NULL with errno. */
static struct process_bpf *cbpf_open_process(struct cbpf *cb)
{
	struct process_bpf *skel;
	int rc;

	cb->build = cbpf_pick_build();
	skel = cbpf_process_skel_open(cb->build);
	if (!skel)
		return NULL;
	rc = bpf_map__set_max_entries(skel->maps.rb, (__u32)cb->rb_bytes);
	if (!rc)
		rc = bpf_map__set_max_entries(skel->maps.rb_proc, (__u32)cb->proc_bytes);
	if (rc) {
		process_bpf__destroy(skel);
		errno = -rc;
		return NULL;
	}
	return skel;
}

/* Look at the pin directory before loading: returns 1 when valid pins of a
 * previous run are there (adopt them), 0 when there are none (stale or
 * broken ones are removed, saying why in the pin note). */
static int cbpf_pin_examine(struct cbpf *cb)
{
	struct process_bpf *p = cbpf_open_process(cb);
	struct file_bpf *f = cbpf_file_skel_open(cb->build);
	struct net_bpf *n = cbpf_net_skel_open(cb->build);
	struct priv_bpf *v = priv_bpf__open();
	struct bpf_object *objs[] = { p ? p->obj : NULL, f ? f->obj : NULL, n ? n->obj : NULL,
				      v ? v->obj : NULL };
	char why[300];
	int rc;

	rc = cbpf_pin_check(cb, objs, 4, why, sizeof(why));
	priv_bpf__destroy(v);
	net_bpf__destroy(n);
	file_bpf__destroy(f);
	process_bpf__destroy(p);
	if (rc < 0) {
		rc = cbpf_pin_wipe(cb);
		cbpf_pin_log(cb, "removed %d stale pins from %s (%s); started clean", rc,
			     cb->pin_dir, why);
		return 0;
	}
	return rc;
}

/*
 * One attempt at open: load every object (maps from the pins when reuse),
 * check that pinned links run this build's code, write the filter and
 * attach (adopting pinned links). Returns 0, 1 when the pins turned out to
 * be of another build (the caller removes them and tries again), or -1 with
 * err set.
 */
static int cbpf_open_once(struct cbpf *cb, const struct cbpf_opts *o, char *err, size_t errlen)
{
	char why[300];
	int rc;

	cb->skel = cbpf_open_process(cb);
	if (!cb->skel) {
		snprintf(err, errlen, "open BPF object process.bpf.o: %s", strerror(errno));
		return -1;
	}
	cbpf_set_pins(cb, cb->skel->obj, cbpf_pin_maps,
		      sizeof(cbpf_pin_maps) / sizeof(cbpf_pin_maps[0]));
	cb->skel->rodata->exit_has_group_dead = cbpf_exit_has_group_dead();
	cb->skel->rodata->wake_ns = cb->wake_ns;
	rc = process_bpf__load(cb->skel);
	if (rc && cb->reuse)
		return 1; /* a pinned map libbpf would not take: start clean */
	if (rc) {
		snprintf(err, errlen, "load BPF programs (verifier log above): %s", strerror(-rc));
		return -1;
	}
	cbpf_open_optional(cb);
	if (cb->reuse) {
		struct bpf_object *objs[] = { cb->skel->obj, cb->file ? cb->file->obj : NULL,
					      cb->net ? cb->net->obj : NULL,
					      cb->priv ? cb->priv->obj : NULL };

		if (cbpf_pin_tags(cb, objs, 4, why, sizeof(why)) < 0) {
			cbpf_pin_log(cb, "pins in %s are stale (%s)", cb->pin_dir, why);
			return 1;
		}
		/* the previous run's filter: this run's configuration replaces it */
		cbpf_map_clear(bpf_map__fd(cb->skel->maps.cgroup_allow), sizeof(__u64));
		cbpf_map_clear(bpf_map__fd(cb->skel->maps.bin_match), sizeof(struct vigil_bin_key));
		cbpf_map_clear(bpf_map__fd(cb->skel->maps.bin_procs), sizeof(__u32));
		if (cb->file)
			cbpf_map_clear(bpf_map__fd(cb->file->maps.prefix_allow),
				       sizeof(struct vigil_prefix_key));
	}
	if (o->scope && cbpf_set_scope(cb, o->scope, err, errlen))
		return -1;
	/* filter first (attaches the file/net/priv programs only when wanted) */
	rc = cbpf_set_filter(cb, o->ops, o->chmod_all);
	if (rc) {
		snprintf(err, errlen, "write the filter map / attach: %s", strerror(-rc));
		return -1;
	}
	/* pinned links of kinds this run does not want: detach them */
	if (cb->file && !cb->file_attached)
		cbpf_detach_skel(cb, cb->file->skeleton);
	if (cb->net && !cb->net_attached)
		cbpf_detach_skel(cb, cb->net->skeleton);
	if (cb->priv && !cb->priv_attached)
		cbpf_detach_skel(cb, cb->priv->skeleton);
	/* the start-up scan's iterator is attached on demand (cbpf_scan) */
	bpf_program__set_autoattach(cb->skel->progs.vigil_scan, false);
	rc = cbpf_attach_skel(cb, cb->skel->skeleton);
	if (rc) {
		snprintf(err, errlen, "attach sched_process_{exec,exit,fork}: %s", strerror(-rc));
		return -1;
	}
	cbpf_bin_scan(cb);
	/* Each ring is read by a manager of its own, rb_proc first (the consumer
	 * position is in the ring). Wakeups come from an epoll set of the two ring
	 * fds (a ring is readable while it holds data), not from a third manager:
	 * that would map both rings' data pages a second time. */
	cb->rb_procm = ring_buffer__new(bpf_map__fd(cb->skel->maps.rb_proc), cbpf_on_proc, cb,
					NULL);
	cb->rb_rest = ring_buffer__new(bpf_map__fd(cb->skel->maps.rb), cbpf_on_rest, cb, NULL);
	if (!cb->rb_procm || !cb->rb_rest || cbpf_wake_set(cb) < 0) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		return -1;
	}
	if (cbpf_map_positions(cb) < 0) {
		snprintf(err, errlen, "map the ring positions: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Open, size and load every object, write the filter (ops, chmod_all), then
 * attach: the filter is in place before the first program runs, so nothing
 * outside ops is ever sent (the map starts zeroed: nothing wanted). With a
 * pin directory, a previous run's valid pins are adopted and stale ones
 * removed first. On error err says which step failed.
 */
int cbpf_open_opts(struct cbpf **out, const struct cbpf_opts *o, int *busy, char *err,
		   size_t errlen)
{
	struct cbpf *cb;
	int rc = -1;

	*out = NULL;
	if (busy)
		*busy = 0;
	cb = calloc(1, sizeof(*cb));
	if (!cb) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cb->lock_fd = -1;
	cb->wake_fd = -1;
	cb->wake_ns = o->wake_every ? CBPF_WAKE_EVERY : CBPF_WAKE_NS;
	cb->rb_bytes = cbpf_ring_size(o->ringbuf_bytes);
	cb->proc_bytes = cbpf_ring_size(o->proc_ringbuf_bytes ? o->proc_ringbuf_bytes
							       : CBPF_PROC_RINGBUF_DEFAULT);
	cb->ncpus = libbpf_num_possible_cpus();
	if (cb->ncpus <= 0) {
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-cb->ncpus));
		goto fail;
	}
	if (o->pin_dir && o->pin_dir[0]) {
		snprintf(cb->pin_dir, sizeof(cb->pin_dir), "%s", o->pin_dir);
		if (cbpf_pin_lock(cb, busy, err, errlen) < 0) {
			cb->pin_dir[0] = '\0'; /* not ours: never touch those pins */
			goto fail;
		}
		cb->reuse = cbpf_pin_examine(cb);
		cbpf_pin_owner(cb, o->owner);
		cbpf_pin_gc(cb);
	}
	cbpf_host_ns(cb);
	rc = cbpf_open_once(cb, o, err, errlen);
	if (rc == 1) {
		int n;

		cbpf_unload(cb);
		n = cbpf_pin_wipe(cb);
		cbpf_pin_log(cb, "removed %d pins; started clean", n);
		cbpf_pin_owner(cb, o->owner);
		cb->reuse = 0;
		rc = cbpf_open_once(cb, o, err, errlen);
	}
	if (rc)
		goto fail;
	if (cb->pin_dir[0] && cb->reuse)
		cbpf_pin_log(cb, "adopted %d pinned links from %s (records written while no "
			     "collector ran are drained first)", cb->adopted, cb->pin_dir);
	else if (cb->pin_dir[0])
		cbpf_pin_log(cb, "links and maps pinned in %s", cb->pin_dir);
	cbpf_refresh_clock(cb);
	*out = cb;
	return 0;
fail:
	cbpf_close(cb);
	return -1;
}

/* The unpinned open of collector_bpf.h (tests and benches). */
int cbpf_open(struct cbpf **out, size_t ringbuf_bytes, uint64_t ops, int chmod_all,
	      const struct cbpf_scope *scope, char *err, size_t errlen)
{
	struct cbpf_opts o = { .ringbuf_bytes = ringbuf_bytes, .ops = ops,
			       .chmod_all = chmod_all, .scope = scope };

	/* a small ring asked for (tests of loss) applies to both rings */
	if (ringbuf_bytes && ringbuf_bytes < CBPF_PROC_RINGBUF_DEFAULT)
		o.proc_ringbuf_bytes = ringbuf_bytes;
	return cbpf_open_opts(out, &o, NULL, err, errlen);
}

/* See collector_bpf.h: move each object's last forced wakeup so that
 * wake_ns from it ends 0.5 ms before the promised drain. */
void cbpf_polling(struct cbpf *cb, uint64_t until_ns)
{
	/* margin: a record whose time was taken just before the promised drain
	 * may be committed after that drain has read the ring; such records
	 * (the last 0.5 ms) still force a wakeup */
	uint64_t last = until_ns - CBPF_WAKE_NS - CBPF_WAKE_NS / 2;

	if (cb->adopted || cb->wake_ns == CBPF_WAKE_EVERY)
		return; /* their .bss is the dead collector's; or every record wakes us */
	if (cb->skel && cb->skel->bss)
		cb->skel->bss->last_wakeup_ns = last;
	if (cb->file && cb->file->bss)
		cb->file->bss->last_wakeup_ns = last;
	if (cb->net && cb->net->bss)
		cb->net->bss->last_wakeup_ns = last;
	if (cb->priv && cb->priv->bss)
		cb->priv->bss->last_wakeup_ns = last;
}

/* Whether process records wait for the other ring (drain again soon). */
int cbpf_pending(const struct cbpf *cb)
{
	return cb->proc.off < cb->proc.len || cb->rest.off < cb->rest.len;
}

/* What happened to the pins at open. */
const char *cbpf_pin_note(const struct cbpf *cb)
{
	return cb->pin_note;
}

/* Links adopted from a previous run at open. */
int cbpf_adopted(const struct cbpf *cb)
{
	return cb->adopted;
}

/* The rings' epoll fd, readable after a wakeup from the BPF side. */
int cbpf_fd(const struct cbpf *cb)
{
	return cb->wake_fd;
}

/* The time of the record at data (0 when too short to have one). */
static uint64_t cbpf_rec_ktime(const void *data, size_t len)
{
	struct vigil_ev_hdr h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	return h.ktime;
}

/* Append a record to a hold buffer (8-byte length slot, then the record,
 * 8-aligned), compacting or growing it up to max bytes. 0, or -1 when full. */
static int cbpf_hold(struct cbpf_hold *b, const void *data, size_t len, size_t max)
{
	size_t need = 8 + ((len + 7) & ~(size_t)7);
	uint32_t l32 = (uint32_t)len;

	if (b->len + need > b->cap && b->off) { /* compact: drop what was sent */
		memmove(b->buf, b->buf + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + need > b->cap) {
		size_t nc = b->cap ? b->cap : 65536;
		unsigned char *nb;

		while (nc < b->len + need)
			nc *= 2;
		if (nc > max || !(nb = realloc(b->buf, nc)))
			return -1;
		b->buf = nb;
		b->cap = nc;
	}
	memcpy(b->buf + b->len, &l32, sizeof(l32));
	memcpy(b->buf + b->len + 8, data, len);
	b->len += need;
	return 0;
}

/* The next held record (data, len, time) or 0 when the buffer is empty. */
static int cbpf_hold_peek(const struct cbpf_hold *b, unsigned char **data, uint32_t *len,
			  uint64_t *ktime)
{
	if (b->off >= b->len)
		return 0;
	memcpy(len, b->buf + b->off, sizeof(*len));
	*data = b->buf + b->off + 8;
	*ktime = cbpf_rec_ktime(*data, *len);
	return 1;
}

/* Drop the record cbpf_hold_peek returned. */
static void cbpf_hold_pop(struct cbpf_hold *b)
{
	uint32_t len;

	memcpy(&len, b->buf + b->off, sizeof(len));
	b->off += 8 + (((size_t)len + 7) & ~(size_t)7);
	if (b->off >= b->len)
		b->off = b->len = 0;
}

/* Emit the held process records up to time limit. 0, or -1 when emit failed. */
static int cbpf_flush_proc(struct cbpf *cb, uint64_t limit)
{
	unsigned char *data;
	uint32_t len;
	uint64_t t;

	while (cbpf_hold_peek(&cb->proc, &data, &len, &t) && t <= limit) {
		cbpf_hold_pop(&cb->proc);
		if (cbpf_on_sample(cb, data, len) < 0)
			return -1;
	}
	return 0;
}

/* Emit one record of the file/net/priv ring: first the process records of the
 * same time or earlier. 0, or -1 when emit failed. */
static int cbpf_emit_rest(struct cbpf *cb, void *data, size_t len)
{
	if (cbpf_flush_proc(cb, cbpf_rec_ktime(data, len)) < 0 ||
	    cbpf_on_sample(cb, data, len) < 0) {
		cb->emit_failed = 1;
		return -1;
	}
	return 0;
}

/* libbpf callback of the process ring: hold the record, to be merged with the
 * other ring's by time. The copy frees the ring at once: a file flood never
 * makes it fill. */
static int cbpf_on_proc(void *ctx, void *data, size_t len)
{
	struct cbpf *cb = ctx;

	if (cbpf_hold(&cb->proc, data, len, cb->proc_bytes) == 0)
		return 0;
	/* more than a ring's worth waiting (rb stalled): send in ring order */
	if (cbpf_flush_proc(cb, UINT64_MAX) < 0 || cbpf_on_sample(cb, data, len) < 0) {
		cb->emit_failed = 1;
		return -1;
	}
	return 0;
}

/*
 * libbpf callback of the file/network/privilege ring. A record taken before
 * the drain began (ktime <= settled) is sent now, after the process records
 * of the same time or earlier: any process record of its process that came
 * before it was committed before it was taken, so it was in the process
 * ring when that was read. A later one is held for the next drain (its
 * process may have committed an exec or exit since the process ring was read).
 */
static int cbpf_on_rest(void *ctx, void *data, size_t len)
{
	struct cbpf *cb = ctx;

	if (cbpf_rec_ktime(data, len) <= cb->settled && cb->rest.off >= cb->rest.len)
		return cbpf_emit_rest(cb, data, len);
	if (cbpf_hold(&cb->rest, data, len, cb->rb_bytes) == 0)
		return 0;
	cb->rest_full = 1; /* stop reading rb: this record is held, nothing lost */
	return cbpf_hold(&cb->rest, data, len, cb->rb_bytes * 2) == 0 ? -1
		: cbpf_emit_rest(cb, data, len);
}

/* Consume every record available now; see collector_bpf.h for the return value. */
int cbpf_drain(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg)
{
	unsigned char *data;
	uint32_t len;
	uint64_t t;
	int rc;

	cb->emit = emit;
	cb->arg = arg;
	cb->emitted = 0;
	cb->emit_failed = 0;
	cb->rest_full = 0;
	cb->settled = (uint64_t)cbpf_now(CLOCK_MONOTONIC); /* before reading rb_proc */
	rc = ring_buffer__consume(cb->rb_procm);
	/* records held from the last drain were all taken before this one began */
	while (!cb->emit_failed && cbpf_hold_peek(&cb->rest, &data, &len, &t) &&
	       t <= cb->settled) {
		cbpf_hold_pop(&cb->rest);
		cbpf_emit_rest(cb, data, len);
	}
	if (!cb->emit_failed && rc >= 0)
		rc = ring_buffer__consume(cb->rb_rest);
	/* rb read to its end and nothing of it held: no record taken before the
	 * drain began can still appear there, so process records up to then go */
	if (!cb->emit_failed && cb->rest.off >= cb->rest.len &&
	    __atomic_load_n(cb->rb_cons, __ATOMIC_ACQUIRE) ==
		    __atomic_load_n(cb->rb_prod, __ATOMIC_ACQUIRE) &&
	    cbpf_flush_proc(cb, cb->settled) < 0)
		cb->emit_failed = 1;
	cb->emit = NULL;
	cb->arg = NULL;
	if (cb->emit_failed || (rc < 0 && !cb->rest_full))
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

/* Whether an exec binary path is a memfd ("/memfd:NAME"). */
static int cbpf_is_memfd(const char *bin, size_t n)
{
	return n >= 7 && !memcmp(bin, "/memfd:", 7);
}

/* Whether the exec's binary was deleted (no link left, and not a memfd). */
static int cbpf_is_deleted(const struct vigil_ev_exec *e, const char *bin)
{
	return e->ino && e->nlink == 0 && !cbpf_is_memfd(bin, e->binary_len);
}

/*
 * Whether the exec's binary carries file capabilities (a security.capability
 * xattr): 1, 0, or -1 when it cannot be told. BPF cannot read xattrs from a
 * tracepoint, so it is asked here, of the very file: /proc/PID/exe while it
 * still is the exec's binary (same inode), else the path when the process ran
 * in the collector's mount namespace and the path still names that inode. A process gone
 * from another mount namespace (a container's short-lived command) cannot be
 * told.
 */
static int cbpf_file_caps(const struct cbpf *cb, const struct vigil_ev_exec *e, const char *bin)
{
	char exe[40], path[VIGIL_PATH_MAX + 1];
	struct stat st;
	const char *f = NULL;

	if (!e->ino || cbpf_is_memfd(bin, e->binary_len))
		return 0; /* no binary (a kernel thread), or a memfd: no xattrs */
	snprintf(exe, sizeof(exe), "/proc/%u/exe", e->hdr.pid);
	if (stat(exe, &st) == 0 && st.st_ino == e->ino)
		f = exe;
	else if (e->binary_len < sizeof(path) && cb->own_mnt_ns &&
		 e->ns[VIGIL_NS_MNT] == cb->own_mnt_ns) {
		memcpy(path, bin, e->binary_len);
		path[e->binary_len] = '\0';
		if (stat(path, &st) == 0 && st.st_ino == e->ino)
			f = path;
	}
	if (!f)
		return -1;
	if (getxattr(f, "security.capability", NULL, 0) >= 0)
		return 1;
	return errno == ENODATA || errno == ENOTSUP ? 0 : -1;
}

/* Pack the flags of exec record e as an array of flag names: Tetragon's
 * (execve except for procFS records), then vigil's own. */
static void cbpf_pack_flags(const struct cbpf *cb, msgpack_packer *pk,
			    const struct vigil_ev_exec *e, const char *bin)
{
	uint32_t flags = e->flags;
	size_t i, count = 0;
	int memfd = cbpf_is_memfd(bin, e->binary_len), deleted = cbpf_is_deleted(e, bin);
	int fcaps = cbpf_file_caps(cb, e, bin);

	if (e->xflags & VIGIL_EXEC_X_PROCFS)
		flags &= ~(uint32_t)VIGIL_EXEC_EXECVE;
	else
		flags |= VIGIL_EXEC_EXECVE;
	for (i = 0; i < sizeof(cbpf_flag_names) / sizeof(cbpf_flag_names[0]); i++)
		if (flags & cbpf_flag_names[i].bit)
			count++;
	for (i = 0; i < sizeof(cbpf_xflag_names) / sizeof(cbpf_xflag_names[0]); i++)
		if (e->xflags & cbpf_xflag_names[i].bit)
			count++;
	msgpack_pack_array(pk, count + memfd + deleted + (fcaps != 0));
	for (i = 0; i < sizeof(cbpf_flag_names) / sizeof(cbpf_flag_names[0]); i++)
		if (flags & cbpf_flag_names[i].bit)
			cbpf_pack_cstr(pk, cbpf_flag_names[i].name);
	for (i = 0; i < sizeof(cbpf_xflag_names) / sizeof(cbpf_xflag_names[0]); i++)
		if (e->xflags & cbpf_xflag_names[i].bit)
			cbpf_pack_cstr(pk, cbpf_xflag_names[i].name);
	if (memfd)
		cbpf_pack_cstr(pk, "memfdExec");
	if (deleted)
		cbpf_pack_cstr(pk, "deletedBinary");
	if (fcaps)
		cbpf_pack_cstr(pk, fcaps > 0 ? "fileCaps" : "fileCapsUnknown");
}

/* Pack a capability set: one unsigned integer, bit n = capability n (docs/wire.md
 * §8.2; the exporter writes the names). */
static void cbpf_pack_caps(msgpack_packer *pk, uint64_t m)
{
	msgpack_pack_uint64(pk, m);
}

/* Tetragon's names of the namespaces, in the VIGIL_NS_* order (exec records and
 * VIGIL_PRIV_X_NS blocks). */
static const char *const cbpf_ns_kinds[VIGIL_NS_COUNT] = {
	"uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time",
	"time_for_children", "cgroup", "user",
};

/* Pack the Tetragon Process fields of an exec (the raw `process` map the
 * enricher merges into the exported Process): cap, ns, process_credentials,
 * binary_properties. */
static void cbpf_pack_process_extra(const struct cbpf *cb, const struct vigil_ev_exec *e,
				    const char *bin, msgpack_packer *pk)
{
	int setuid = (e->i_mode & 04000) != 0, setgid = (e->i_mode & 02000) != 0;
	int raise_uid = setuid && e->euid == e->i_uid && e->uid != e->euid;
	int raise_gid = setgid && e->egid == e->i_gid && e->gid != e->egid;
	int raise_cap = (e->xflags & VIGIL_EXEC_X_SECUREEXEC) && !raise_uid && !raise_gid;
	int nraise = raise_uid + raise_gid + raise_cap, nns = 0;

	for (int i = 0; i < VIGIL_NS_COUNT; i++)
		nns += e->ns[i] != 0;
	msgpack_pack_map(pk, 4);
	cbpf_pack_cstr(pk, "cap");
	msgpack_pack_map(pk, 3);
	cbpf_pack_cstr(pk, "permitted");
	cbpf_pack_caps(pk, e->cap_permitted);
	cbpf_pack_cstr(pk, "effective");
	cbpf_pack_caps(pk, e->cap_effective);
	cbpf_pack_cstr(pk, "inheritable");
	cbpf_pack_caps(pk, e->cap_inheritable);

	cbpf_pack_cstr(pk, "ns");
	msgpack_pack_map(pk, nns);
	for (int i = 0; i < VIGIL_NS_COUNT; i++) {
		int host = cb->host_ns[i] && e->ns[i] == cb->host_ns[i];

		if (!e->ns[i])
			continue;
		cbpf_pack_cstr(pk, cbpf_ns_kinds[i]);
		msgpack_pack_map(pk, 1 + host);
		cbpf_pack_kv_u64(pk, "inum", e->ns[i]);
		if (host) { /* protojson leaves false out */
			cbpf_pack_cstr(pk, "is_host");
			msgpack_pack_true(pk);
		}
	}

	cbpf_pack_cstr(pk, "process_credentials");
	msgpack_pack_map(pk, 8);
	cbpf_pack_kv_u64(pk, "uid", e->uid);
	cbpf_pack_kv_u64(pk, "gid", e->gid);
	cbpf_pack_kv_u64(pk, "euid", e->euid);
	cbpf_pack_kv_u64(pk, "egid", e->egid);
	cbpf_pack_kv_u64(pk, "suid", e->suid);
	cbpf_pack_kv_u64(pk, "sgid", e->sgid);
	cbpf_pack_kv_u64(pk, "fsuid", e->fsuid);
	cbpf_pack_kv_u64(pk, "fsgid", e->fsgid);

	cbpf_pack_cstr(pk, "binary_properties");
	msgpack_pack_map(pk, setuid + setgid + (nraise > 0) + (e->ino != 0));
	if (setuid)
		cbpf_pack_kv_u64(pk, "setuid", e->i_uid);
	if (setgid)
		cbpf_pack_kv_u64(pk, "setgid", e->i_gid);
	if (nraise) {
		cbpf_pack_cstr(pk, "privileges_changed");
		msgpack_pack_array(pk, nraise);
		if (raise_cap)
			cbpf_pack_cstr(pk, "PRIVILEGES_RAISED_EXEC_FILE_CAP");
		if (raise_uid)
			cbpf_pack_cstr(pk, "PRIVILEGES_RAISED_EXEC_FILE_SETUID");
		if (raise_gid)
			cbpf_pack_cstr(pk, "PRIVILEGES_RAISED_EXEC_FILE_SETGID");
	}
	if (e->ino) {
		cbpf_pack_cstr(pk, "file");
		msgpack_pack_map(pk, 2);
		cbpf_pack_cstr(pk, "inode");
		msgpack_pack_map(pk, 2);
		cbpf_pack_kv_u64(pk, "number", e->ino);
		cbpf_pack_kv_u64(pk, "links", e->nlink);
		cbpf_pack_cstr(pk, "path");
		cbpf_pack_bytes(pk, bin, e->binary_len);
	}
}

/* Body of wire.md 4.1 from a checked exec record. */
static void cbpf_pack_exec(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	const char *tail = (const char *)d + sizeof(struct vigil_ev_exec);
	struct vigil_ev_exec e;

	memcpy(&e, d, sizeof(e));
	msgpack_pack_map(pk, 19);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, e.hdr.ktime));
	cbpf_pack_kv_u64(pk, "ktime", e.hdr.ktime);
	cbpf_pack_kv_u64(pk, "pid", e.hdr.pid);
	cbpf_pack_kv_u64(pk, "nspid", e.nspid);
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
	cbpf_pack_flags(cb, pk, &e, tail);
	cbpf_pack_kv_u64(pk, "cgroup_id", e.cgroup_id);
	cbpf_pack_cstr(pk, "process");
	cbpf_pack_process_extra(cb, &e, tail, pk);
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
	msgpack_pack_map(pk, 7);
	cbpf_pack_kv_u64(pk, "time", cbpf_walltime(cb, e.hdr.ktime));
	cbpf_pack_kv_u64(pk, "ktime", e.hdr.ktime);
	cbpf_pack_kv_u64(pk, "pid", e.hdr.pid);
	cbpf_pack_kv_u64(pk, "nspid", e.nspid);
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
enum cbpf_arg_kind { CA_FILE, CA_PATH, CA_INT, CA_UINT, CA_SIZE, CA_STR };
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
					     [CA_INT] = "int_arg",   [CA_UINT] = "uint_arg",
					     [CA_SIZE] = "size_arg", [CA_STR] = "string_arg" };

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
	case CA_UINT: /* uint32 in the proto: unsigned quantities that use bit 31 */
		msgpack_pack_uint64(pk, (uint32_t)a->i);
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

/* mountinfo table for bind-mount paths; only the event loop's thread packs */
static struct cmnt cbpf_mnt = { .fd = -1 };

/* Whether a path operation follows a symlink in its last component. */
static int cbpf_op_follows(const struct vigil_ev_file *e)
{
	switch (e->op) {
	case VIGIL_OP_TRUNCATE:
	case VIGIL_OP_CHMOD:
	case VIGIL_OP_FCHMODAT:
	case VIGIL_OP_SETXATTR:
		return 1;
	case VIGIL_OP_FCHMODAT2:
		return !(e->flags & 0x100); /* AT_SYMLINK_NOFOLLOW */
	case VIGIL_OP_LINKAT:
		return (e->flags & 0x400) != 0; /* AT_SYMLINK_FOLLOW */
	default:
		return 0;
	}
}

/*
 * /proc magic at the start of tgt (a path in the process's root): "/proc/self"
 * and "/proc/thread-self" (and "/dev/fd", a link to /proc/self/fd) name the
 * process's own fd table, cwd and root, "/proc/N" those of N. They are looked
 * up in the collector's /proc, the host pid namespace's, under the pid the
 * kernel reported; "/proc/N" only when the process shares our pid namespace
 * (else N is another numbering). Returns 1 with tgt rewritten, 0 when tgt is
 * not under /proc, -1 when it cannot be told.
 */
static int cbpf_proc_path(uint32_t pid, uint32_t tid, char *tgt, size_t sz)
{
	static char buf[VIGIL_PATH_MAX + 1];
	const char *rest;
	char ns[40];
	struct stat a, b;
	int n;

	if (!strncmp(tgt, "/dev/fd", 7) && (tgt[7] == '/' || !tgt[7]))
		n = snprintf(buf, sizeof(buf), "/proc/%u/fd%s", pid, tgt + 7);
	else if (strncmp(tgt, "/proc/", 6))
		return 0;
	else if (!strncmp(tgt + 6, "self", 4) && (tgt[10] == '/' || !tgt[10]))
		n = snprintf(buf, sizeof(buf), "/proc/%u%s", pid, tgt + 10);
	else if (!strncmp(tgt + 6, "thread-self", 11) && (tgt[17] == '/' || !tgt[17]))
		n = snprintf(buf, sizeof(buf), "/proc/%u/task/%u%s", pid, tid, tgt + 17);
	else {
		strtoul(tgt + 6, (char **)&rest, 10);
		if (rest == tgt + 6 || (*rest && *rest != '/'))
			return 0; /* /proc/sys, /proc/mounts...: no magic, resolved as any path */
		snprintf(ns, sizeof(ns), "/proc/%u/ns/pid", pid);
		if (stat(ns, &a) || stat("/proc/self/ns/pid", &b) || a.st_ino != b.st_ino)
			return -1;
		return 1;
	}
	if (n <= 0 || (size_t)n >= sz)
		return -1;
	memcpy(tgt, buf, (size_t)n + 1);
	return 1;
}

/*
 * A path operation's operand looked up again, now, the way the kernel walked
 * it: a's path (the user's string joined lexically to its directory, absolute
 * within the process's root) is opened O_PATH through /proc/PID/root with
 * RESOLVE_IN_ROOT, so symlinks on the way (absolute ones inside a container's
 * root too) and bind mounts count; the last component is followed only when
 * the operation followed it. A process already gone is looked up in our root
 * when the kernel said it had ours (VIGIL_F_OURROOT: the short-lived commands
 * of the host). /proc magic (cbpf_proc_path) is followed in our /proc. The
 * result, within the process's root, goes to out and its mount to *mnt.
 * Returns its length, or -1 when the process is gone from another root or the
 * path no longer resolves: the lexical path then stands. (A pid reused within
 * the delivery delay would be looked up in the wrong root; the flag says the
 * path was resolved late.)
 */
static int cbpf_relink(const struct vigil_ev_file *e, const struct cbpf_arg *a, int follow,
		       char *out, size_t outsz, uint32_t *mnt)
{
	static char tgt[VIGIL_PATH_MAX + 1], root[VIGIL_PATH_MAX + 1], got[VIGIL_PATH_MAX + 1];
	static char bname[VIGIL_PATH_MAX + 1];
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	const char *base = "", *rel;
	char proc[40], *slash;
	size_t rlen;
	ssize_t rl = -1, gl;
	struct statx sx;
	int rfd, fd = -1, n, magic;

	if (!a->slen || a->slen >= sizeof(tgt) || a->s[0] != '/' ||
	    !strstr(a->pflags, "unresolvedPath") || strstr(a->pflags, "errorPath") ||
	    strstr(a->pflags, "truncatedPath"))
		return -1;
	memcpy(tgt, a->s, a->slen);
	tgt[a->slen] = '\0';
	if (!follow) { /* the directory; the last name is the object itself */
		slash = strrchr(tgt, '/');
		if (!slash[1])
			return -1;
		snprintf(bname, sizeof(bname), "%s", slash + 1);
		base = bname;
		slash[slash == tgt ? 1 : 0] = '\0';
	}
	snprintf(proc, sizeof(proc), "/proc/%u/root", e->hdr.pid);
	rfd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd >= 0) {
		rl = readlink(proc, root, sizeof(root) - 1);
	} else if (e->fflags & VIGIL_F_OURROOT) {
		rfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		rl = 1;
		strcpy(root, "/");
	}
	if (rfd < 0 || rl <= 0) {
		if (rfd >= 0)
			close(rfd);
		return -1;
	}
	magic = cbpf_proc_path(e->hdr.pid, e->hdr.tid, tgt, sizeof(tgt));
	if (magic > 0)
		fd = open(tgt, O_PATH | O_CLOEXEC);
	else if (magic == 0)
		fd = (int)syscall(SYS_openat2, rfd, tgt, &how, sizeof(how));
	close(rfd);
	if (fd < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	gl = readlink(proc, got, sizeof(got) - 1);
	*mnt = statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 &&
			       (sx.stx_mask & STATX_MNT_ID) ?
		       (uint32_t)sx.stx_mnt_id :
		       0;
	close(fd);
	if (gl <= 0 || got[0] != '/')
		return -1;
	root[rl] = '\0';
	got[gl] = '\0';
	if (gl > 10 && !strcmp(got + gl - 10, " (deleted)"))
		return -1;
	/* within the process's root, as the kernel's own paths are */
	rlen = strcmp(root, "/") ? (size_t)rl : 0;
	if (strncmp(got, root, rlen) || (got[rlen] && got[rlen] != '/'))
		return -1;
	rel = got[rlen] ? got + rlen : "/";
	n = snprintf(out, outsz, "%s%s%s", rel, *base && strcmp(rel, "/") ? "/" : "", base);
	return n > 0 && (size_t)n < outsz ? n : -1;
}

/*
 * A first operand reached through a bind mount (mount mnt_id) of a subtree or
 * file: its path becomes the source's (out) and the original is returned in
 * *orig for the mount_path argument. Errored paths are left alone.
 */
static void cbpf_unbind(uint32_t mnt_id, struct cbpf_arg *a, char *out, size_t outsz,
			const char **orig, size_t *origlen)
{
	int n;

	*orig = NULL;
	if (!mnt_id || !a->slen || strstr(a->pflags, "errorPath") ||
	    strstr(a->pflags, "truncatedPath"))
		return;
	n = cmnt_resolve(&cbpf_mnt, mnt_id, a->s, a->slen, out, outsz);
	if (n < 0)
		return;
	*orig = a->s;
	*origlen = a->slen;
	a->s = out;
	a->slen = (size_t)n;
}

/* The first operand of a file record, as reported: its argument, and what is
 * sent beside it. */
struct cbpf_op1 {
	struct cbpf_arg a;
	int user;		/* the user's string (name) differs from the path */
	const char *name;
	size_t nlen;
	const char *lex;	/* the spelled path, when relinking changed it; NULL */
	size_t lexlen;
	const char *mpath;	/* the path through a bind mount, when rewritten; NULL */
	size_t mpathlen;
	int unjudged;		/* a path operation's string that could not be looked up */
};

/*
 * The first operand of record e (tail t): the opened file (resolved, or the
 * lexical path of a failed open), the new link of a symlink, the object of a
 * path operation (looked up again, cbpf_relink); a bind mount then undone
 * (cbpf_unbind). Buffers are static: one record at a time (the event loop).
 * The prefix filter and the packing ask for the same record in turn: the last
 * answer is kept, so that a path is looked up again once, not twice.
 */
static void cbpf_operand1(const struct vigil_ev_file *e, const char *t, struct cbpf_op1 *o)
{
	static char j1[VIGIL_PATH_MAX + 1], r1[VIGIL_PATH_MAX + 1], u1[VIGIL_PATH_MAX + 1];
	static struct cbpf_op1 last;
	static const char *last_t;
	static uint64_t last_ktime;
	const char *p1 = t, *n1 = p1 + e->path_len, *p2 = n1 + e->name_len;
	const char *n2 = p2 + e->path2_len;
	uint32_t mnt = e->mnt_id;
	int n, sym = e->op == VIGIL_OP_SYMLINK || e->op == VIGIL_OP_SYMLINKAT;

	if (t == last_t && e->hdr.ktime == last_ktime) {
		*o = last;
		return;
	}
	memset(o, 0, sizeof(*o));
	if (sym) {
		o->name = n2;
		o->nlen = e->name2_len;
		cbpf_file_operand(p2, e->path2_len, n2, e->name2_len, e->fflags >> 8, j1,
				  sizeof(j1), &o->a, &o->user);
		mnt = 0;
	} else {
		o->name = n1;
		o->nlen = e->name_len;
		cbpf_file_operand(p1, e->path_len, n1, e->name_len, e->fflags, j1, sizeof(j1), &o->a,
				  &o->user);
	}
	if (e->op > VIGIL_OP_CREAT) { /* a path operation: its string may pass symlinks */
		n = cbpf_relink(e, &o->a, cbpf_op_follows(e), r1, sizeof(r1), &mnt);
		if (n < 0 && cbpf_op_follows(e)) /* the object is gone: its directory still counts */
			n = cbpf_relink(e, &o->a, 0, r1, sizeof(r1), &mnt);
		o->unjudged = n < 0 && strstr(o->a.pflags, "unresolvedPath");
		if (n >= 0) {
			if ((size_t)n != o->a.slen || memcmp(r1, o->a.s, o->a.slen)) {
				o->lex = o->a.s;
				o->lexlen = o->a.slen;
			}
			o->a.s = r1;
			o->a.slen = (size_t)n;
			o->a.pflags = "unresolvedPath relinkedPath";
		}
	}
	cbpf_unbind(mnt, &o->a, u1, sizeof(u1), &o->mpath, &o->mpathlen);
	last = *o;
	last_t = t;
	last_ktime = e->hdr.ktime;
}

/* Whether p[0..n) starts with one of the prefixes. */
static int cbpf_prefixed(const struct cbpf *cb, const char *p, size_t n)
{
	for (size_t i = 0; i < cb->nuprefixes; i++) {
		size_t l = strlen(cb->uprefixes[i]);

		if (l <= n && !memcmp(p, cb->uprefixes[i], l))
			return 1;
	}
	return 0;
}

/*
 * The prefix filter for a file record the kernel could not judge
 * (VIGIL_F_LATE: a bind mount, a path operation): kept when the path as
 * resolved here, or as the process spelled or reached it, is under a
 * prefix, or when it cannot be judged (truncated, unreadable).
 */
static int cbpf_late_second(const struct cbpf *cb, const struct vigil_ev_file *e,
			    const void *data);

static int cbpf_late_wanted(const struct cbpf *cb, const void *data)
{
	struct vigil_ev_file e;
	struct cbpf_op1 o;

	memcpy(&e, data, sizeof(e));
	if (!cb->prefixes || !(e.fflags & VIGIL_F_LATE))
		return 1;
	if ((cb->pflags & CBPF_PFX_PATHOPS) && e.op > VIGIL_OP_CREAT)
		return 1; /* a policy watches these operations on any path */
	cbpf_operand1(&e, (const char *)data + sizeof(e), &o);
	if (!o.a.slen || o.unjudged || strstr(o.a.pflags, "truncatedPath") ||
	    strstr(o.a.pflags, "errorPath"))
		return 1;
	if (cbpf_prefixed(cb, o.a.s, o.a.slen) || (o.lex && cbpf_prefixed(cb, o.lex, o.lexlen)) ||
	    (o.mpath && cbpf_prefixed(cb, o.mpath, o.mpathlen)) ||
	    (e.op >= VIGIL_OP_SYMLINK && e.op <= VIGIL_OP_SYMLINKAT &&
	     cbpf_prefixed(cb, (const char *)data + sizeof(e) + e.path_len, e.name_len)))
		return 1;
	/* rename and link: where it goes counts too (policies match either path) */
	return e.op >= VIGIL_OP_RENAME && e.op <= VIGIL_OP_LINKAT && cbpf_late_second(cb, &e, data);
}

/* Whether the second operand (the new name of a rename or link), as the user
 * spelled it joined to its directory, is under a prefix (or cannot be judged). */
static int cbpf_late_second(const struct cbpf *cb, const struct vigil_ev_file *e,
			    const void *data)
{
	static char j2[VIGIL_PATH_MAX + 1];
	const char *p2 = (const char *)data + sizeof(*e) + e->path_len + e->name_len;
	struct cbpf_arg a;
	int user;

	if (!e->path2_len && !e->name2_len)
		return 0;
	memset(&a, 0, sizeof(a));
	cbpf_file_operand(p2, e->path2_len, p2 + e->path2_len, e->name2_len, e->fflags >> 8, j2,
			  sizeof(j2), &a, &user);
	return !a.slen || strstr(a.pflags, "errorPath") || strstr(a.pflags, "truncatedPath") ||
	       cbpf_prefixed(cb, a.s, a.slen);
}

/* Body of a file event (docs/wire.md §8) from a checked record. */
static void cbpf_pack_file(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	static char j2[VIGIL_PATH_MAX + 1];
	const char *t = (const char *)d + sizeof(struct vigil_ev_file);
	struct cbpf_arg args[10];
	struct vigil_ev_file e;
	struct cbpf_op1 o;
	const char *p1, *n1, *p2, *n2;
	char perm[11], mperm[11];
	size_t n = 0;
	int user2 = 0;

	memcpy(&e, d, sizeof(e));
	p1 = t;
	n1 = p1 + e.path_len;
	p2 = n1 + e.name_len;
	n2 = p2 + e.path2_len;
	memset(args, 0, sizeof(args));
	cbpf_perm(e.imode, perm);
	cbpf_operand1(&e, t, &o);
	switch (e.op) {
	case VIGIL_OP_OPEN:
	case VIGIL_OP_OPENAT:
	case VIGIL_OP_OPENAT2:
	case VIGIL_OP_CREAT:
		args[n] = o.a;
		args[n].kind = CA_FILE;
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
		args[n] = o.a;
		args[n++].kind = CA_PATH;
		args[n].kind = CA_STR;
		args[n].label = "target";
		args[n].s = n1;
		args[n++].slen = e.name_len;
		break;
	default:
		args[n] = o.a;
		args[n].kind = (e.op == VIGIL_OP_FSETXATTR || e.op == VIGIL_OP_FTRUNCATE ||
				e.op == VIGIL_OP_FCHMOD) ?
				       CA_FILE :
				       CA_PATH;
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
	if (o.user) {
		args[n].kind = CA_STR;
		args[n].label = e.op == VIGIL_OP_SYMLINK || e.op == VIGIL_OP_SYMLINKAT ? "user_path2" :
											 "user_path";
		args[n].s = o.name;
		args[n++].slen = o.nlen;
	}
	if (user2) {
		args[n].kind = CA_STR;
		args[n].label = "user_path2";
		args[n].s = n2;
		args[n++].slen = e.name2_len;
	}
	if (o.mpath) {
		args[n].kind = CA_STR;
		args[n].label = "mount_path";
		args[n].s = o.mpath;
		args[n++].slen = o.mpathlen;
	}
	if (o.lex) {
		args[n].kind = CA_STR;
		args[n].label = "lexical_path";
		args[n].s = o.lex;
		args[n++].slen = o.lexlen;
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

/* Name of an address family ("AF_INET", ...) into buf. */
static const char *cbpf_family(unsigned f, char *buf, size_t n)
{
	if (f == AF_UNIX)
		return "AF_UNIX";
	if (f == AF_INET)
		return "AF_INET";
	if (f == AF_INET6)
		return "AF_INET6";
	if (f == AF_NETLINK)
		return "AF_NETLINK";
	if (f == AF_PACKET)
		return "AF_PACKET";
	snprintf(buf, n, "AF_%u", f);
	return buf;
}

/* Name of a socket type ("SOCK_STREAM", ...) into buf. */
static const char *cbpf_socktype(unsigned t, char *buf, size_t n)
{
	static const char *const names[] = { [1] = "SOCK_STREAM", [2] = "SOCK_DGRAM",
					     [3] = "SOCK_RAW", [4] = "SOCK_RDM",
					     [5] = "SOCK_SEQPACKET", [6] = "SOCK_DCCP",
					     [10] = "SOCK_PACKET" };

	if (t < sizeof(names) / sizeof(names[0]) && names[t])
		return names[t];
	snprintf(buf, n, "SOCK_%u", t);
	return buf;
}

/* Name of an IP protocol ("IPPROTO_TCP", ...) into buf. */
static const char *cbpf_proto(unsigned p, char *buf, size_t n)
{
	switch (p) {
	case 0:
		return "IPPROTO_IP";
	case 1:
		return "IPPROTO_ICMP";
	case 6:
		return "IPPROTO_TCP";
	case 17:
		return "IPPROTO_UDP";
	case 58:
		return "IPPROTO_ICMPV6";
	case 132:
		return "IPPROTO_SCTP";
	case 262:
		return "IPPROTO_MPTCP";
	}
	snprintf(buf, n, "IPPROTO_%u", p);
	return buf;
}

/* Name of a TCP (and unix socket) state, Tetragon's spelling; NULL when 0. */
static const char *cbpf_sockstate(unsigned s)
{
	static const char *const names[] = {
		NULL, "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1",
		"TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK",
		"TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV", "TCP_BOUND_INACTIVE",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

/* Text form of an IPv4/IPv6 address of family f into buf ("" otherwise). */
static const char *cbpf_addr(unsigned f, const uint8_t *a, char *buf, size_t n)
{
	buf[0] = '\0';
	if ((f == AF_INET || f == AF_INET6) && !inet_ntop(f, a, buf, n))
		buf[0] = '\0';
	return buf;
}

/* Pack Tetragon's KprobeSock from the socket fields of a net record. */
static void cbpf_pack_sock(msgpack_packer *pk, const struct vigil_ev_net *e)
{
	char b1[24], b2[24], b3[24], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int inet = e->family == AF_INET || e->family == AF_INET6;
	const char *st = cbpf_sockstate(e->state);

	msgpack_pack_map(pk, 3 + (inet ? 4 : 0) + (st != NULL));
	cbpf_pack_cstr(pk, "family");
	cbpf_pack_cstr(pk, cbpf_family(e->family, b1, sizeof(b1)));
	cbpf_pack_cstr(pk, "type");
	cbpf_pack_cstr(pk, cbpf_socktype(e->type, b2, sizeof(b2)));
	cbpf_pack_cstr(pk, "protocol");
	cbpf_pack_cstr(pk, inet ? cbpf_proto(e->protocol, b3, sizeof(b3)) :
				  (snprintf(b3, sizeof(b3), "%u", e->protocol), b3));
	if (inet) {
		cbpf_pack_cstr(pk, "saddr");
		cbpf_pack_cstr(pk, cbpf_addr(e->family, e->saddr, sa, sizeof(sa)));
		cbpf_pack_cstr(pk, "daddr");
		cbpf_pack_cstr(pk, cbpf_addr(e->family, e->daddr, da, sizeof(da)));
		cbpf_pack_kv_u64(pk, "sport", e->sport);
		cbpf_pack_kv_u64(pk, "dport", e->dport);
	}
	if (st) {
		cbpf_pack_cstr(pk, "state");
		cbpf_pack_cstr(pk, st);
	}
}

/* Pack Tetragon's KprobeSockaddr from the user's sockaddr of a net record
 * (an AF_UNIX path from the tail; an abstract name shows as "@name"). */
static void cbpf_pack_sockaddr(msgpack_packer *pk, const struct vigil_ev_net *e,
			       const char *path, size_t plen)
{
	char b1[24], a[INET6_ADDRSTRLEN + 1];
	int inet = e->ua_family == AF_INET || e->ua_family == AF_INET6;

	msgpack_pack_map(pk, inet ? 3 : 2);
	cbpf_pack_cstr(pk, "family");
	cbpf_pack_cstr(pk, cbpf_family(e->ua_family, b1, sizeof(b1)));
	cbpf_pack_cstr(pk, "addr");
	if (inet) {
		cbpf_pack_cstr(pk, cbpf_addr(e->ua_family, e->ua_addr, a, sizeof(a)));
		cbpf_pack_kv_u64(pk, "port", e->ua_port);
	} else if (e->ua_family == AF_UNIX && plen && path[0] == '\0') {
		size_t n = plen;

		msgpack_pack_str(pk, n); /* "@" replaces the leading NUL */
		msgpack_pack_str_body(pk, "@", 1);
		msgpack_pack_str_body(pk, path + 1, n - 1);
	} else {
		cbpf_pack_bytes(pk, path, strnlen(path, plen));
	}
}

/* Body of a network event (docs/wire.md §8) from a checked record. */
static void cbpf_pack_net(const struct cbpf *cb, const unsigned char *d, size_t len,
			  msgpack_packer *pk)
{
	const char *path = (const char *)d + sizeof(struct vigil_ev_net);
	size_t plen = len - sizeof(struct vigil_ev_net), n = 0, nint = 0;
	struct cbpf_arg ints[3];
	struct vigil_ev_net e;
	const char *fn;
	char stdio[32] = "";
	int sock, uaddr;

	memcpy(&e, d, sizeof(e));
	sock = (e.nflags & VIGIL_N_SOCK) != 0;
	uaddr = (e.nflags & VIGIL_N_UADDR) != 0 &&
		(e.op == VIGIL_OP_CONNECT || e.op == VIGIL_OP_BIND);
	memset(ints, 0, sizeof(ints));
	fn = cbpf_ops[e.op].fn;
	if (e.op == VIGIL_OP_CONNECT && sock && (e.family == AF_INET || e.family == AF_INET6) &&
	    e.protocol == IPPROTO_TCP)
		fn = "tcp_connect";
	switch (e.op) {
	case VIGIL_OP_LISTEN:
		ints[nint].label = "backlog";
		ints[nint++].i = (int32_t)e.arg;
		break;
	case VIGIL_OP_ACCEPT:
	case VIGIL_OP_ACCEPT4:
		ints[nint].label = "fd";
		ints[nint++].i = e.fd;
		break;
	case VIGIL_OP_DUP2:
	case VIGIL_OP_DUP3:
		ints[nint].label = "oldfd";
		ints[nint++].i = (int32_t)e.arg;
		ints[nint].label = "newfd";
		ints[nint++].i = e.fd;
		break;
	case VIGIL_OP_EXEC_STDIO:
		ints[nint].label = "fd";
		ints[nint++].i = e.fd;
		snprintf(stdio, sizeof(stdio), "%s%s%s", (e.arg & 1) ? "stdin " : "",
			 (e.arg & 2) ? "stdout " : "", (e.arg & 4) ? "stderr " : "");
		if (stdio[0])
			stdio[strlen(stdio) - 1] = '\0';
		break;
	default:
		ints[nint].label = "fd";
		ints[nint++].i = e.fd;
	}
	n = sock + uaddr + nint + (stdio[0] != 0) + 1;
	cbpf_pack_kprobe_head(cb, pk, &e.hdr, e.start_ktime, fn, e.ret, n);
	if (sock) {
		msgpack_pack_map(pk, 1);
		cbpf_pack_cstr(pk, "sock_arg");
		cbpf_pack_sock(pk, &e);
	}
	if (uaddr) {
		msgpack_pack_map(pk, 2);
		cbpf_pack_cstr(pk, "sockaddr_arg");
		cbpf_pack_sockaddr(pk, &e, path, plen);
		cbpf_pack_cstr(pk, "label");
		cbpf_pack_cstr(pk, "address");
	}
	for (size_t i = 0; i < nint; i++) {
		ints[i].kind = CA_INT;
		cbpf_pack_arg(pk, &ints[i]);
	}
	if (stdio[0]) {
		struct cbpf_arg a = { .kind = CA_STR, .label = "stdio", .s = stdio,
				      .slen = strlen(stdio) };

		cbpf_pack_arg(pk, &a);
	}
	{
		struct cbpf_arg a = { .kind = CA_STR, .label = "syscall", .s = cbpf_ops[e.op].sys,
				      .slen = strlen(cbpf_ops[e.op].sys) };

		cbpf_pack_arg(pk, &a);
	}
}

/* Syscall names of the privilege operations (function_name is "sys_" + name). */
static const char *const cbpf_priv_sys[VIGIL_OP_PRIV_MAX - VIGIL_OP_SETUID] = {
	"setuid", "setreuid", "setresuid", "setfsuid", "setgid", "setregid", "setresgid",
	"setfsgid", "capset", "ptrace", "process_vm_writev", "init_module", "finit_module",
	"mount", "unshare", "setns", "bpf", "memfd_create", "pivot_root", "clone", "clone3",
	"io_uring_setup",
};

/* CLONE_NEW* flags and the names /proc/PID/ns uses for them. */
static const struct {
	uint32_t flag;
	const char *clone, *ns;
} cbpf_nsflags[] = {
	{ 0x00020000, "CLONE_NEWNS", "mnt" },	  { 0x02000000, "CLONE_NEWCGROUP", "cgroup" },
	{ 0x04000000, "CLONE_NEWUTS", "uts" },	  { 0x08000000, "CLONE_NEWIPC", "ipc" },
	{ 0x10000000, "CLONE_NEWUSER", "user" },  { 0x20000000, "CLONE_NEWPID", "pid" },
	{ 0x40000000, "CLONE_NEWNET", "net" },	  { 0x00000080, "CLONE_NEWTIME", "time" },
};

/* Space-separated names of the CLONE_NEW* bits of flags (ns: /proc names). */
static void cbpf_ns_names(uint32_t flags, int ns, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cbpf_nsflags) / sizeof(cbpf_nsflags[0]); i++)
		if ((flags & cbpf_nsflags[i].flag) && off < n)
			off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? " " : "",
						ns ? cbpf_nsflags[i].ns : cbpf_nsflags[i].clone);
}

/* Name of a ptrace request vigil sends; NULL for others. */
static const char *cbpf_ptrace_req(uint64_t r)
{
	switch (r) {
	case 0: return "PTRACE_TRACEME";
	case 4: return "PTRACE_POKETEXT";
	case 5: return "PTRACE_POKEDATA";
	case 6: return "PTRACE_POKEUSER";
	case 13: return "PTRACE_SETREGS";
	case 16: return "PTRACE_ATTACH";
	case 0x4205: return "PTRACE_SETREGSET";
	case 0x4206: return "PTRACE_SEIZE";
	}
	return NULL;
}

/* Name of a bpf() command vigil sends; NULL for others. */
static const char *cbpf_bpf_cmd(uint64_t c)
{
	switch (c) {
	case 0: return "BPF_MAP_CREATE";
	case 5: return "BPF_PROG_LOAD";
	case 8: return "BPF_PROG_ATTACH";
	case 17: return "BPF_RAW_TRACEPOINT_OPEN";
	case 28: return "BPF_LINK_CREATE";
	}
	return NULL;
}

/* Pack Tetragon's process_credentials_arg: the task's ids (and, with caps,
 * its capability sets) after the call. */
static void cbpf_pack_creds(msgpack_packer *pk, const struct vigil_ev_priv *e, int caps)
{
	msgpack_pack_map(pk, 1);
	cbpf_pack_cstr(pk, "process_credentials_arg");
	msgpack_pack_map(pk, 8 + (caps != 0));
	cbpf_pack_kv_u64(pk, "uid", e->uid);
	cbpf_pack_kv_u64(pk, "gid", e->gid);
	cbpf_pack_kv_u64(pk, "euid", e->euid);
	cbpf_pack_kv_u64(pk, "egid", e->egid);
	cbpf_pack_kv_u64(pk, "suid", e->suid);
	cbpf_pack_kv_u64(pk, "sgid", e->sgid);
	cbpf_pack_kv_u64(pk, "fsuid", e->fsuid);
	cbpf_pack_kv_u64(pk, "fsgid", e->fsgid);
	if (caps) {
		cbpf_pack_cstr(pk, "caps");
		msgpack_pack_map(pk, 3);
		cbpf_pack_cstr(pk, "permitted");
		cbpf_pack_caps(pk, e->cap_permitted);
		cbpf_pack_cstr(pk, "effective");
		cbpf_pack_caps(pk, e->cap_effective);
		cbpf_pack_cstr(pk, "inheritable");
		cbpf_pack_caps(pk, e->cap_inheritable);
	}
}

/* Pack a privilege/escape record as a process_kprobe (docs/wire.md §8.4). */
static void cbpf_pack_priv(const struct cbpf *cb, const unsigned char *d, msgpack_packer *pk)
{
	static const char *const idl[2][3] = { { "uid", "euid", "suid" }, { "gid", "egid", "sgid" } };
	const char *str = (const char *)d + sizeof(struct vigil_ev_priv), *s1, *s2;
	struct cbpf_arg a[8];
	struct vigil_ev_priv e;
	char fn[32], names[128], nsline[VIGIL_NS_COUNT * 32];
	int creds = 0, caps = 0;
	size_t n = 0;
	const char *sys;

	memcpy(&e, d, sizeof(e));
	memset(a, 0, sizeof(a));
	sys = cbpf_priv_sys[e.op - VIGIL_OP_SETUID];
	s1 = str + e.slen[0];
	s2 = s1 + e.slen[1];
#define CBPF_INT(l, v) (a[n].kind = CA_INT, a[n].label = (l), a[n++].i = (v))
#define CBPF_UINT(l, v) (a[n].kind = CA_UINT, a[n].label = (l), a[n++].i = (v))
#define CBPF_STR(l, p, len) (a[n].kind = CA_STR, a[n].label = (l), a[n].s = (p), a[n++].slen = (len))
	switch (e.op) {
	case VIGIL_OP_SETUID:
	case VIGIL_OP_SETGID:
	case VIGIL_OP_SETFSUID:
	case VIGIL_OP_SETFSGID: {
		int g = e.op == VIGIL_OP_SETGID || e.op == VIGIL_OP_SETFSGID;

		creds = 1;
		CBPF_INT(g ? "gid" : "uid", (int32_t)e.arg[0]);
		break;
	}
	case VIGIL_OP_SETREUID:
	case VIGIL_OP_SETREGID:
	case VIGIL_OP_SETRESUID:
	case VIGIL_OP_SETRESGID: {
		int g = e.op == VIGIL_OP_SETREGID || e.op == VIGIL_OP_SETRESGID;
		int k = (e.op == VIGIL_OP_SETRESUID || e.op == VIGIL_OP_SETRESGID) ? 3 : 2;
		static const char *const rl[2] = { "ruid", "rgid" };

		creds = 1;
		for (int i = 0; i < k; i++)
			CBPF_INT(i == 0 ? rl[g] : idl[g][i], (int32_t)e.arg[i]);
		break;
	}
	case VIGIL_OP_CAPSET:
		creds = caps = 1;
		break;
	case VIGIL_OP_PTRACE:
		CBPF_INT("request", (int64_t)e.arg[0]);
		CBPF_INT("pid", (int32_t)e.arg[1]);
		if (cbpf_ptrace_req(e.arg[0]))
			CBPF_STR("request_name", cbpf_ptrace_req(e.arg[0]),
				 strlen(cbpf_ptrace_req(e.arg[0])));
		break;
	case VIGIL_OP_VM_WRITEV:
		CBPF_INT("pid", (int32_t)e.arg[0]);
		break;
	case VIGIL_OP_INIT_MODULE:
		a[n].kind = CA_SIZE;
		a[n].label = "len";
		a[n++].i = (int64_t)e.arg[0];
		CBPF_STR("params", str, e.slen[0]);
		break;
	case VIGIL_OP_FINIT_MODULE:
		CBPF_INT("fd", (int32_t)e.arg[0]);
		CBPF_STR("params", str, e.slen[0]);
		CBPF_INT("flags", (int32_t)e.arg[1]);
		break;
	case VIGIL_OP_MOUNT:
		CBPF_STR("source", str, e.slen[0]);
		CBPF_STR("target", s1, e.slen[1]);
		CBPF_STR("fstype", s2, e.slen[2]);
		CBPF_UINT("flags", (uint32_t)e.arg[0]);
		break;
	case VIGIL_OP_UNSHARE:
		CBPF_INT("flags", (int32_t)e.arg[0]);
		cbpf_ns_names((uint32_t)e.arg[0], 0, names, sizeof(names));
		if (names[0])
			CBPF_STR("namespaces", names, strlen(names));
		break;
	case VIGIL_OP_SETNS:
		CBPF_INT("fd", (int32_t)e.arg[0]);
		CBPF_INT("nstype", (int32_t)e.arg[1]);
		/* the fd's own type when the kernel gave it, else what the caller asked */
		cbpf_ns_names((uint32_t)(e.arg[2] ? e.arg[2] : e.arg[1]), 1, names, sizeof(names));
		if (names[0])
			CBPF_STR("namespace", names, strlen(names));
		if (e.arg[3])
			CBPF_UINT("inum", (uint32_t)e.arg[3]);
		break;
	case VIGIL_OP_BPF:
		CBPF_INT("cmd", (int64_t)e.arg[0]);
		if (cbpf_bpf_cmd(e.arg[0]))
			CBPF_STR("cmd_name", cbpf_bpf_cmd(e.arg[0]), strlen(cbpf_bpf_cmd(e.arg[0])));
		CBPF_INT("type", (int64_t)e.arg[1]);
		if (e.slen[0])
			CBPF_STR("name", str, e.slen[0]);
		break;
	case VIGIL_OP_MEMFD_CREATE:
		CBPF_STR("name", str, e.slen[0]);
		CBPF_INT("flags", (int32_t)e.arg[0]);
		break;
	case VIGIL_OP_IO_URING_SETUP:
		CBPF_UINT("entries", (uint32_t)e.arg[0]);
		CBPF_UINT("flags", (uint32_t)e.arg[1]);
		break;
	case VIGIL_OP_PIVOT_ROOT:
		CBPF_STR("new_root", str, e.slen[0]);
		CBPF_STR("put_old", s1, e.slen[1]);
		break;
	}
	if (e.xflags & VIGIL_PRIV_X_NS) {
		uint32_t ns[VIGIL_NS_COUNT];
		size_t off = 0;

		memcpy(ns, s2 + e.slen[2], sizeof(ns));
		nsline[0] = '\0';
		for (int i = 0; i < VIGIL_NS_COUNT; i++)
			if (ns[i] && off < sizeof(nsline))
				off += (size_t)snprintf(nsline + off, sizeof(nsline) - off, "%s%s:%u",
							off ? " " : "", cbpf_ns_kinds[i], ns[i]);
		CBPF_STR("ns_after", nsline, strlen(nsline));
	}
	CBPF_STR("syscall", sys, strlen(sys));
#undef CBPF_INT
#undef CBPF_UINT
#undef CBPF_STR
	snprintf(fn, sizeof(fn), "sys_%s", sys);
	cbpf_pack_kprobe_head(cb, pk, &e.hdr, e.start_ktime, fn, e.ret, n + creds);
	if (creds)
		cbpf_pack_creds(pk, &e, caps);
	for (size_t i = 0; i < n; i++)
		cbpf_pack_arg(pk, &a[i]);
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
	case VIGIL_EV_NET:
		cbpf_pack_net(cb, r->data, r->len, pk);
		break;
	case VIGIL_EV_PRIV:
		cbpf_pack_priv(cb, r->data, pk);
		break;
	default:
		msgpack_pack_map(pk, 0);
	}
}

/* Sum a per-CPU u64 array map into out[0..VIGIL_EV_MAX) (by key) and, when cpu is
 * not NULL, into cpu[0..CBPF_STATS_CPUS) (by CPU, every key together). */
static void cbpf_sum_percpu(const struct cbpf *cb, const struct bpf_map *map, uint64_t *out,
			    uint64_t *cpu)
{
	uint64_t vals[cb->ncpus];
	int fd = bpf_map__fd(map);

	for (uint32_t k = 0; k < VIGIL_EV_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < cb->ncpus; c++) {
			out[k] += vals[c];
			if (cpu)
				cpu[c < CBPF_STATS_CPUS ? c : CBPF_STATS_CPUS - 1] += vals[c];
		}
	}
}

/* Fill st from the BPF counters and the collector's own. */
void cbpf_stats(const struct cbpf *cb, struct cbpf_stats *st)
{
	_Static_assert(sizeof(st->emitted) / sizeof(st->emitted[0]) == VIGIL_EV_MAX,
		       "counter arrays match VIGIL_EV_MAX");
	memset(st, 0, sizeof(*st));
	cbpf_sum_percpu(cb, cb->skel->maps.emitted, st->emitted, NULL);
	cbpf_sum_percpu(cb, cb->skel->maps.lost, st->lost, st->lost_cpu);
	st->ncpus = cb->ncpus < CBPF_STATS_CPUS ? cb->ncpus : CBPF_STATS_CPUS;
	for (int i = 0; i < VIGIL_EV_MAX; i++)
		st->lost_total += st->lost[i];
	st->received = cb->received;
	st->bad_records = cb->bad_records;
	st->late_filtered = cb->late_filtered;
}

/* Detach the programs, remove the pins and free everything (a clean stop);
 * NULL is a no-op. */
void cbpf_close(struct cbpf *cb)
{
	if (!cb)
		return;
	if (cb->skel)
		cbpf_detach_skel(cb, cb->skel->skeleton);
	if (cb->file)
		cbpf_detach_skel(cb, cb->file->skeleton);
	if (cb->net)
		cbpf_detach_skel(cb, cb->net->skeleton);
	if (cb->priv)
		cbpf_detach_skel(cb, cb->priv->skeleton);
	cbpf_unload(cb);
	if (cb->pin_dir[0]) {
		cbpf_pin_wipe(cb); /* what is left: the maps (and links no object knew) */
		rmdir(cb->pin_dir);
	}
	if (cb->lock_fd >= 0)
		close(cb->lock_fd);
	free(cb->proc.buf);
	free(cb->rest.buf);
	cbpf_free_uprefixes(cb);
	free(cb);
}

/* Read the whole of /proc/PID/NAME (at most max bytes) into buf; length or -1. */
static ssize_t cbpf_proc_read(uint32_t pid, const char *name, char *buf, size_t max)
{
	char path[64];
	ssize_t n, off = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)off < max && (n = read(fd, buf + off, max - off)) > 0)
		off += n;
	close(fd);
	return off;
}

/* readlink /proc/PID/NAME into buf (not NUL-terminated), " (deleted)"
 * removed when strip is set; length or -1. */
static ssize_t cbpf_proc_link(uint32_t pid, const char *name, char *buf, size_t max, int strip)
{
	static const char del[] = " (deleted)";
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, name);
	n = readlink(path, buf, max);
	if (n < 0)
		return -1;
	if (strip && (size_t)n >= sizeof(del) - 1 &&
	    !memcmp(buf + n - (sizeof(del) - 1), del, sizeof(del) - 1))
		n -= sizeof(del) - 1;
	return n;
}

/* Complete a scanned exec record rec (fixed part filled by the iterator)
 * with binary, cwd and argv[1..] from /proc; returns the record's size,
 * or 0 when the process is gone. */
static size_t cbpf_scan_fill(struct vigil_ev_exec *rec, char *tail, char *tmp, size_t tmpsz)
{
	uint32_t pid = rec->hdr.pid;
	ssize_t b, c, a;
	size_t skip;

	b = cbpf_proc_link(pid, "exe", tail, VIGIL_PATH_MAX, rec->nlink == 0);
	if (b < 0) {
		rec->flags |= VIGIL_EXEC_ERROR_FILENAME;
		b = 0;
	}
	c = cbpf_proc_link(pid, "cwd", tail + b, VIGIL_PATH_MAX, 0);
	if (c < 0) {
		rec->flags |= VIGIL_EXEC_ERROR_CWD;
		c = 0;
	} else if (c == 1 && tail[b] == '/') {
		rec->flags |= VIGIL_EXEC_ROOT_CWD;
	}
	a = cbpf_proc_read(pid, "cmdline", tmp, tmpsz);
	if (a < 0 && b == 0)
		return 0; /* exited since the iterator saw it */
	if (a < 0) {
		rec->flags |= VIGIL_EXEC_ERROR_ARGS;
		a = 0;
	}
	skip = strnlen(tmp, (size_t)a);
	skip = skip < (size_t)a ? skip + 1 : (size_t)a; /* argv[0] and its NUL */
	a -= (ssize_t)skip;
	if (a > VIGIL_ARGS_MAX) {
		a = VIGIL_ARGS_MAX;
		rec->flags |= VIGIL_EXEC_TRUNC_ARGS;
	}
	memcpy(tail + b + c, tmp + skip, (size_t)a);
	rec->binary_len = (uint16_t)b;
	rec->cwd_len = (uint16_t)c;
	rec->args_len = (uint16_t)a;
	rec->hdr.size = (uint32_t)(sizeof(*rec) + b + c + a);
	return rec->hdr.size;
}

/* Order of the start-up scan: oldest process first, so parents precede children. */
static int cbpf_scan_cmp(const void *a, const void *b)
{
	const struct vigil_ev_exec *x = a, *y = b;

	if (x->start_ktime != y->start_ktime)
		return x->start_ktime < y->start_ktime ? -1 : 1;
	return x->hdr.pid < y->hdr.pid ? -1 : x->hdr.pid > y->hdr.pid;
}

/* Read every record of the task iterator into a malloc'd array; count or -1. */
static ssize_t cbpf_scan_read(struct cbpf *cb, struct vigil_ev_exec **out, char *err,
			      size_t errlen)
{
	struct bpf_link *link;
	size_t cap = 1024, n = 0;
	struct vigil_ev_exec *v = NULL;
	ssize_t r = 0;
	int fd;

	link = bpf_program__attach_iter(cb->skel->progs.vigil_scan, NULL);
	if (!link) {
		snprintf(err, errlen, "attach iter/task: %s", strerror(errno));
		return -1;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		snprintf(err, errlen, "create the task iterator: %s", strerror(errno));
		bpf_link__destroy(link);
		return -1;
	}
	for (;;) {
		if (!v || n == cap) {
			struct vigil_ev_exec *nv = realloc(v, (cap *= 2) * sizeof(*v));

			if (!nv) {
				r = -1;
				errno = ENOMEM;
				break;
			}
			v = nv;
		}
		/* the iterator writes whole records; read() never splits one */
		r = read(fd, v + n, (cap - n) * sizeof(*v));
		if (r <= 0)
			break;
		n += (size_t)r / sizeof(*v);
	}
	if (r < 0)
		snprintf(err, errlen, "read the task iterator: %s", strerror(errno));
	close(fd);
	bpf_link__destroy(link);
	if (r < 0) {
		free(v);
		return -1;
	}
	*out = v;
	return (ssize_t)n;
}

/* The start-up scan; see collector_bpf.h. */
int cbpf_scan(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg,
	      char *err, size_t errlen)
{
	struct vigil_ev_exec *v = NULL;
	unsigned char *rec;
	char *tmp;
	ssize_t n;
	int sent = 0;

	n = cbpf_scan_read(cb, &v, err, errlen);
	if (n < 0)
		return -1;
	rec = malloc(sizeof(*v) + VIGIL_EXEC_TAIL_MAX);
	tmp = malloc(VIGIL_ARGS_MAX + VIGIL_PATH_MAX + 2);
	if (!rec || !tmp) {
		snprintf(err, errlen, "out of memory");
		free(rec);
		free(tmp);
		free(v);
		return -1;
	}
	qsort(v, (size_t)n, sizeof(*v), cbpf_scan_cmp);
	/* /proc/1/ns may be closed to us (it is in this VM): kernel threads run in the
	 * initial namespaces (init_nsproxy, init_cred), so take the host's from one */
	for (ssize_t i = 0; i < n; i++)
		if (v[i].xflags & VIGIL_EXEC_X_KTHREAD)
			for (int k = 0; k < VIGIL_NS_COUNT; k++)
				if (!cb->host_ns[k])
					cb->host_ns[k] = v[i].ns[k];
	for (ssize_t i = 0; i < n; i++) {
		struct cbpf_rec r = { "process_exec", rec, 0 };

		if (v[i].xflags & VIGIL_EXEC_X_KTHREAD)
			continue;
		memcpy(rec, &v[i], sizeof(*v));
		r.len = cbpf_scan_fill((struct vigil_ev_exec *)rec, (char *)rec + sizeof(*v), tmp,
				       VIGIL_ARGS_MAX + VIGIL_PATH_MAX + 2);
		if (!r.len || cbpf_check(rec, r.len) != VIGIL_EV_EXEC)
			continue;
		if (emit(arg, &r) < 0) {
			snprintf(err, errlen, "emit failed");
			sent = -1;
			break;
		}
		sent++;
	}
	free(rec);
	free(tmp);
	free(v);
	return sent;
}

/* The kernel ids of our programs, space-separated, into buf (for status and tests). */
void cbpf_prog_ids(const struct cbpf *cb, char *buf, size_t len)
{
	struct bpf_object *objs[] = { cb->skel->obj, cb->file ? cb->file->obj : NULL,
				      cb->net ? cb->net->obj : NULL,
				      cb->priv ? cb->priv->obj : NULL };
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
