/*
 * collector_probe.c - kernel feature probing by loading tiny programs
 * (bpftool's probe is unreliable in our VMs, PLATFORM.md): each program is
 * "r0 = 0; exit", loaded with the type and attach target of the feature, and
 * attached and detached at once where a load alone proves nothing (fentry,
 * LSM, tp_btf, raw_tp need a trampoline or a tracepoint at attach time).
 * Cgroup programs are only loaded: attaching one would touch every process.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "collector_probe.h"

/* clang-format off */
static const struct {
	const char *name, *use;
	int required;
} cprobe_info[CPROBE_COUNT] = {
	[CPROBE_BTF] = { "btf", "CO-RE: one object for every kernel (/sys/kernel/btf/vmlinux)", 1 },
	[CPROBE_RINGBUF] = { "ringbuf", "the event ring buffer", 1 },
	[CPROBE_TRACEPOINT] = { "tracepoint", "file and network events (syscalls/sys_exit_*)", 1 },
	[CPROBE_RAW_TP] = { "raw_tp", "raw syscall hooks (sys_enter)", 0 },
	[CPROBE_TP_BTF] = { "tp_btf", "process exec/exit/fork (sched_process_*)", 1 },
	[CPROBE_ITER_TASK] = { "iter_task", "start-up scan with exact start times", 0 },
	[CPROBE_FENTRY] = { "fentry", "kernel-function hooks (else syscall tracepoints)", 0 },
	[CPROBE_LSM] = { "lsm", "synchronous Override enforcement (BPF LSM)", 0 },
	[CPROBE_KPROBE] = { "kprobe", "arbitrary kernel-function hooks of TracingPolicies", 0 },
	[CPROBE_CGROUP_SOCK_ADDR] = { "cgroup_sock_addr", "synchronous connect blocking", 0 },
	[CPROBE_SEND_SIGNAL] = { "send_signal", "Sigkill enforcement from a tracepoint", 0 },
	[CPROBE_BPF_LOOP] = { "bpf_loop", "path walking (deep paths)", 0 },
};
/* clang-format on */

/* Accessors of the table above. */
const char *cprobe_name(enum cprobe_id id) { return cprobe_info[id].name; }
const char *cprobe_use(enum cprobe_id id) { return cprobe_info[id].use; }
int cprobe_required(enum cprobe_id id) { return cprobe_info[id].required; }

/* Record the outcome of probe id: rc 0 is available, else -errno. */
static void cprobe_set(struct cprobe_result *r, enum cprobe_id id, int rc)
{
	r->ok[id] = rc == 0;
	if (rc)
		snprintf(r->why[id], sizeof(r->why[id]), "%s", strerror(rc < 0 ? -rc : rc));
}

/* Load "r0 = ret; exit" as type/attach; returns the fd or -errno. */
static int cprobe_load(enum bpf_prog_type type, enum bpf_attach_type attach, int btf_id, int ret)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach,
		    .attach_btf_id = btf_id);
	int fd = bpf_prog_load(type, "vigil_probe", "GPL", insns, 2, &o);

	return fd < 0 ? -errno : fd;
}

/* A BTF-attached program (fentry, LSM, tp_btf) on function/typedef name:
 * loaded, then attached through a link and detached. 0 or -errno. */
static int cprobe_btf_prog(struct btf *btf, enum bpf_prog_type type, enum bpf_attach_type at,
			   const char *name, int kind)
{
	int id, fd, lfd;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, name, kind);
	if (id < 0)
		return -ENOENT;
	fd = cprobe_load(type, at, id, 0);
	if (fd < 0)
		return fd;
	if (at == BPF_TRACE_RAW_TP)
		lfd = bpf_raw_tracepoint_open(NULL, fd);
	else
		lfd = bpf_link_create(fd, 0, at, NULL);
	lfd = lfd < 0 ? -errno : lfd;
	close(fd);
	if (lfd < 0)
		return lfd;
	close(lfd);
	return 0;
}

/* raw_tp/sys_enter: load and attach. */
static int cprobe_raw_tp(void)
{
	int fd = cprobe_load(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, 0), lfd;

	if (fd < 0)
		return fd;
	lfd = bpf_raw_tracepoint_open("sys_enter", fd);
	lfd = lfd < 0 ? -errno : lfd;
	close(fd);
	if (lfd < 0)
		return lfd;
	close(lfd);
	return 0;
}

/* Tracepoints: the program type loads and the syscall tracepoints exist. */
static int cprobe_tracepoint(void)
{
	int fd = cprobe_load(BPF_PROG_TYPE_TRACEPOINT, 0, 0, 0);

	const char *events;
	char dir[64];

	if (fd < 0)
		return fd;
	close(fd);
	/* the program type loads; the syscall tracepoints must also be found, as
	 * the collector finds them (mounting tracefs if nobody has) */
	events = cprobe_tracefs();
	if (!events)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s/syscalls", events);
	return access(dir, F_OK) ? -ENOENT : 0;
}

/* Kprobes: the program type loads and the kernel has the kprobe PMU (absent
 * without CONFIG_KPROBES, where attaching would fail). */
static int cprobe_kprobe(void)
{
	int fd = cprobe_load(BPF_PROG_TYPE_KPROBE, 0, 0, 0);

	if (fd < 0)
		return fd;
	close(fd);
	return access("/sys/bus/event_source/devices/kprobe/type", F_OK) ? -ENOENT : 0;
}

/* A helper usable from a tracepoint program. */
static int cprobe_helper(enum bpf_func_id h)
{
	int rc = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, h, NULL);

	return rc == 1 ? 0 : rc == 0 ? -EOPNOTSUPP : rc;
}

/* Probe everything; see collector_probe.h. */
void cprobe_run(struct cprobe_result *r)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int fd, err;

	memset(r, 0, sizeof(*r));
	err = errno;
	cprobe_set(r, CPROBE_BTF, btf ? 0 : -err);
	if (!btf) /* libbpf's ESRCH means "no vmlinux BTF found" */
		snprintf(r->why[CPROBE_BTF], sizeof(r->why[CPROBE_BTF]), "no kernel BTF found: %s",
			 strerror(err == ESRCH ? ENOENT : err));
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "vigil_probe", 0, 0, 4096, NULL);
	cprobe_set(r, CPROBE_RINGBUF, fd < 0 ? -errno : 0);
	if (fd >= 0)
		close(fd);
	cprobe_set(r, CPROBE_TRACEPOINT, cprobe_tracepoint());
	cprobe_set(r, CPROBE_RAW_TP, cprobe_raw_tp());
	cprobe_set(r, CPROBE_TP_BTF, cprobe_btf_prog(btf, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP,
						     "btf_trace_sched_process_exec",
						     BTF_KIND_TYPEDEF));
	fd = cprobe_load(BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER,
			 btf ? btf__find_by_name_kind(btf, "bpf_iter_task", BTF_KIND_FUNC) : -1, 0);
	cprobe_set(r, CPROBE_ITER_TASK, fd < 0 ? fd : 0);
	if (fd >= 0)
		close(fd);
	cprobe_set(r, CPROBE_FENTRY, cprobe_btf_prog(btf, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY,
						     "security_file_open", BTF_KIND_FUNC));
	cprobe_set(r, CPROBE_LSM, cprobe_btf_prog(btf, BPF_PROG_TYPE_LSM, BPF_LSM_MAC,
						  "bpf_lsm_file_open", BTF_KIND_FUNC));
	cprobe_set(r, CPROBE_KPROBE, cprobe_kprobe());
	fd = cprobe_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0, 1);
	cprobe_set(r, CPROBE_CGROUP_SOCK_ADDR, fd < 0 ? fd : 0);
	if (fd >= 0)
		close(fd);
	cprobe_set(r, CPROBE_SEND_SIGNAL, cprobe_helper(BPF_FUNC_send_signal));
	cprobe_set(r, CPROBE_BPF_LOOP, cprobe_helper(BPF_FUNC_loop));
	btf__free(btf);
}

/* "name=yes name=no ..." into buf. */
void cprobe_summary(const struct cprobe_result *r, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < CPROBE_COUNT && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? " " : "",
					cprobe_info[i].name, r->ok[i] ? "yes" : "no");
}
