// SPDX-License-Identifier: GPL-2.0
/*
 * process.bpf.c - process lifecycle events: exec, exit (whole thread group)
 * and clone (new processes only), written to one ring buffer in the layouts
 * of events.h.
 *
 * The ring, the counters and the wakeup policy are in lib/vigil_common.h,
 * the path walker in lib/vigil_path.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "vigil_common.h"
#include "vigil_path.h"
#include "vigil_sock.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGNAL_GROUP_EXIT	0x00000004	/* include/linux/sched/signal.h */

struct exec_scratch {
	struct vigil_ev_exec ev;
	__u8 tail[VIGIL_EXEC_TAIL_MAX];
};

_Static_assert(__builtin_offsetof(struct exec_scratch, tail) ==
	       sizeof(struct vigil_ev_exec), "tail follows the fixed part");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_heap SEC(".maps");

/* 1 when sched_process_exit passes group_dead (kernel 6.16+, checked in BTF). */
const volatile __u32 exit_has_group_dead = 0;

/*
 * Copy argv[1..] from the new image's stack to tail + dst. Returns the
 * length and sets VIGIL_EXEC_TRUNC_ARGS / VIGIL_EXEC_ERROR_ARGS in *flags.
 */
static __always_inline __u32 copy_args(struct task_struct *task, __u8 *tail,
				       __u32 dst, __u32 *flags)
{
	struct path_scratch *ps;
	unsigned long start, end;
	__u32 key = 0;
	long n, len;

	ps = bpf_map_lookup_elem(&path_heap, &key);
	if (!ps)
		return 0;
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	if (!start || end <= start)
		return 0;
	/* argv[0] is skipped: its length, NUL included */
	n = bpf_probe_read_user_str(ps->buf, VIGIL_PATH_MAX + 1, (void *)start);
	if (n <= 0 || n > VIGIL_PATH_MAX) {
		*flags |= VIGIL_EXEC_ERROR_ARGS;
		return 0;
	}
	len = end - start - n;
	if (len <= 0)
		return 0;
	if (len > VIGIL_ARGS_MAX) {
		len = VIGIL_ARGS_MAX;
		*flags |= VIGIL_EXEC_TRUNC_ARGS;
	}
	if (bpf_probe_read_user(&tail[dst & 8191], len & 8191,
				(void *)(start + n))) {
		*flags |= VIGIL_EXEC_ERROR_ARGS;
		return 0;
	}
	return len;
}

#define PF_KTHREAD	0x00200000	/* include/linux/sched.h */

/* Inode number of a namespace's ns_common (ns is a pointer to a *_namespace). */
#define NS_INUM(p) ((p) ? BPF_CORE_READ(p, ns.inum) : 0)

/* Namespace inodes of task, in the VIGIL_NS_* order; zeros when it has none (exiting). */
static __always_inline void fill_ns(struct task_struct *task, const struct cred *cred,
				    __u32 *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	struct pid_namespace *pidns = NULL;
	struct user_namespace *userns;
	struct upid up = {};
	__u32 level;

	if (pid) {
		level = BPF_CORE_READ(pid, level);
		bpf_probe_read_kernel(&up, sizeof(up),
				      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
				      (level & 31) * sizeof(struct upid));
		pidns = up.ns;
	}
	ns[VIGIL_NS_PID] = NS_INUM(pidns);
	userns = BPF_CORE_READ(cred, user_ns);
	ns[VIGIL_NS_USER] = NS_INUM(userns);
	if (!nsp)
		return;
	ns[VIGIL_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns[VIGIL_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns[VIGIL_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns[VIGIL_NS_PID_CHILDREN] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns[VIGIL_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns[VIGIL_NS_TIME] = BPF_CORE_READ(nsp, time_ns, ns.inum);
		ns[VIGIL_NS_TIME_CHILDREN] = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
	ns[VIGIL_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
}

/*
 * The thread-group id as task's own pid namespace numbers it (Tetragon's
 * Container.pid: 1 for a container's init): the group leader's struct pid
 * holds one upid per namespace level, the last one being the innermost.
 */
static __always_inline __u32 task_nspid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	struct upid up = {};
	__u32 level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      (level & 31) * sizeof(struct upid));
	return up.nr;
}

/*
 * Everything of the fixed exec record that comes from the task itself:
 * ids, times, credentials, capabilities, namespaces, the executed file
 * (file: bprm->file at exec, mm->exe_file in the start-up scan).
 */
static __always_inline void fill_exec_task(struct task_struct *task, struct file *file,
					   struct vigil_ev_exec *ev)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct inode *ino;

	ev->hdr.type = VIGIL_EV_EXEC;
	ev->hdr.pid = BPF_CORE_READ(task, tgid);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->pktime = BPF_CORE_READ(task, real_parent, group_leader, start_time);
	ev->start_ktime = BPF_CORE_READ(task, group_leader, start_time);
	ev->uid = BPF_CORE_READ(cred, uid.val);
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->gid = BPF_CORE_READ(cred, gid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	ev->suid = BPF_CORE_READ(cred, suid.val);
	ev->sgid = BPF_CORE_READ(cred, sgid.val);
	ev->fsuid = BPF_CORE_READ(cred, fsuid.val);
	ev->fsgid = BPF_CORE_READ(cred, fsgid.val);
	if (bpf_core_field_exists(task->loginuid))
		ev->auid = BPF_CORE_READ(task, loginuid.val);
	else
		ev->auid = (__u32)-1;
	/* kernel_cap_t is a u64 (6.3+) or two u32s (older): the same 8 bytes */
	bpf_probe_read_kernel(&ev->cap_permitted, 8, &cred->cap_permitted);
	bpf_probe_read_kernel(&ev->cap_effective, 8, &cred->cap_effective);
	bpf_probe_read_kernel(&ev->cap_inheritable, 8, &cred->cap_inheritable);
	for (int i = 0; i < VIGIL_NS_COUNT; i++)
		ev->ns[i] = 0;
	fill_ns(task, cred, ev->ns);
	ev->ino = 0;
	ev->nlink = 0;
	ev->i_uid = 0;
	ev->i_gid = 0;
	ev->i_mode = 0;
	ev->xflags = 0;
	ev->pad0 = 0;
	ev->nspid = task_nspid(task);
	ino = file ? BPF_CORE_READ(file, f_inode) : NULL;
	if (ino) {
		ev->ino = BPF_CORE_READ(ino, i_ino);
		ev->nlink = BPF_CORE_READ(ino, __i_nlink);
		ev->i_uid = BPF_CORE_READ(ino, i_uid.val);
		ev->i_gid = BPF_CORE_READ(ino, i_gid.val);
		ev->i_mode = BPF_CORE_READ(ino, i_mode);
	}
}

/*
 * Flag the sockets on fds 0-2 of the new program in ev->xflags (a reverse
 * shell has its stdin/stdout on one); returns the first of them, or NULL.
 */
static __always_inline struct sock *check_stdio(struct task_struct *task,
						struct vigil_ev_exec *ev, int *first_fd)
{
	struct sock *sk, *first = NULL;

	for (int fd = 0; fd < 3; fd++) {
		sk = file_sock(fd_file(task, fd));
		if (!sk)
			continue;
		ev->xflags |= VIGIL_EXEC_X_STDIN_SOCK << fd;
		if (!first) {
			first = sk;
			*first_fd = fd;
		}
	}
	return first;
}

/* Send a VIGIL_OP_EXEC_STDIO record describing sk (on fd) when wanted. */
static __always_inline void emit_stdio(struct vigil_ev_exec *ev, struct sock *sk, int fd)
{
	struct vigil_ev_net *n;

	if (!op_wanted(get_filter(), VIGIL_OP_EXEC_STDIO, ev->hdr.pid))
		return;
	n = bpf_ringbuf_reserve(&rb_proc, sizeof(*n), 0);
	if (!n) {
		count(&lost, VIGIL_EV_NET);
		return;
	}
	net_clear(n);
	n->hdr.type = VIGIL_EV_NET;
	n->hdr.size = sizeof(*n);
	n->hdr.ktime = ev->hdr.ktime;
	n->hdr.pid = ev->hdr.pid;
	n->hdr.tid = ev->hdr.tid;
	n->start_ktime = ev->start_ktime;
	n->op = VIGIL_OP_EXEC_STDIO;
	n->fd = fd;
	n->arg = (ev->xflags >> 1) & 7;	/* which of fds 0-2 are sockets */
	sock_fill(sk, n);
	bpf_ringbuf_submit(n, wake_flags_ring(&rb_proc, n->hdr.ktime));
	count(&emitted, VIGIL_EV_NET);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct exec_scratch *s;
	struct vigil_ev_exec *ev;
	struct fs_struct *fs;
	struct file *file;
	__u32 key = 0, flags = VIGIL_EXEC_EXECVE, blen = 0, clen = 0, alen;
	int n, trunc = 0, sfd = 0;
	struct sock *sk;
	__u64 size;

	s = bpf_map_lookup_elem(&exec_heap, &key);
	if (!s)
		return 0;
	ev = &s->ev;
	fill_exec_task(task, BPF_CORE_READ(bprm, file), ev);
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.tid = old_pid;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	if (BPF_CORE_READ_BITFIELD_PROBED(bprm, secureexec))
		ev->xflags |= VIGIL_EXEC_X_SECUREEXEC;

	fs = BPF_CORE_READ(task, fs);
	file = BPF_CORE_READ(bprm, file);
	if (!fs || !file) {
		flags |= VIGIL_EXEC_ERROR_FILENAME;
	} else {
		n = copy_path(&file->f_path, &fs->root, &s->tail[0], &trunc);
		if (n < 0)
			flags |= VIGIL_EXEC_ERROR_FILENAME;
		else
			blen = n;
		if (trunc)
			flags |= VIGIL_EXEC_TRUNC_FILENAME;
	}
	if (!fs) {
		flags |= VIGIL_EXEC_ERROR_CWD;
	} else {
		trunc = 0;
		n = copy_path(&fs->pwd, &fs->root, &s->tail[blen & VIGIL_PATH_MAX], &trunc);
		if (n < 0)
			flags |= VIGIL_EXEC_ERROR_CWD;
		else
			clen = n;
		if (trunc)
			flags |= VIGIL_EXEC_ERROR_CWD_PATH;
		if (clen == 1 && s->tail[blen & VIGIL_PATH_MAX] == '/')
			flags |= VIGIL_EXEC_ROOT_CWD;
	}
	alen = copy_args(task, s->tail, blen + clen, &flags);

	ev->flags = flags;
	ev->binary_len = blen;
	ev->cwd_len = clen;
	ev->args_len = alen;
	size = sizeof(*ev) + blen + clen + alen;
	if (size > sizeof(*s))
		return 0;
	ev->hdr.size = size;
	sk = check_stdio(task, ev, &sfd);
	if (bpf_ringbuf_output(&rb_proc, s, size, wake_flags_ring(&rb_proc, ev->hdr.ktime)))
		count(&lost, VIGIL_EV_EXEC);
	else
		count(&emitted, VIGIL_EV_EXEC);
	/* after the exec: the enricher must know the process first */
	if (sk)
		emit_stdio(ev, sk, sfd);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task)
{
	struct signal_struct *sig;
	struct vigil_ev_exit *ev;
	int group_dead;
	__u32 code;

	sig = BPF_CORE_READ(task, signal);
	if (exit_has_group_dead)
		group_dead = (int)ctx[1];	/* set by atomic_dec_and_test(&signal->live) */
	else
		group_dead = BPF_CORE_READ(sig, live.counter) == 0;
	if (!group_dead)
		return 0;
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		code = BPF_CORE_READ(sig, group_exit_code);
	else
		code = BPF_CORE_READ(task, exit_code);

	ev = bpf_ringbuf_reserve(&rb_proc, sizeof(*ev), 0);
	if (!ev) {
		count(&lost, VIGIL_EV_EXIT);
		return 0;
	}
	ev->hdr.type = VIGIL_EV_EXIT;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.pid = BPF_CORE_READ(task, tgid);
	ev->hdr.tid = BPF_CORE_READ(task, pid);
	ev->code = code;
	ev->pad0 = 0;
	ev->start_ktime = BPF_CORE_READ(task, group_leader, start_time);
	bpf_ringbuf_submit(ev, wake_flags_ring(&rb_proc, ev->hdr.ktime));
	count(&emitted, VIGIL_EV_EXIT);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_ev_clone *ev;
	__u32 pid, tgid;

	pid = BPF_CORE_READ(child, pid);
	tgid = BPF_CORE_READ(child, tgid);
	if (pid != tgid)	/* a new thread, not a new process */
		return 0;

	ev = bpf_ringbuf_reserve(&rb_proc, sizeof(*ev), 0);
	if (!ev) {
		count(&lost, VIGIL_EV_CLONE);
		return 0;
	}
	ev->hdr.type = VIGIL_EV_CLONE;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.pid = tgid;
	ev->hdr.tid = pid;
	ev->ppid = BPF_CORE_READ(parent, tgid);
	ev->nspid = task_nspid(child);
	ev->start_ktime = BPF_CORE_READ(child, start_time);
	ev->pktime = BPF_CORE_READ(parent, group_leader, start_time);
	bpf_ringbuf_submit(ev, wake_flags_ring(&rb_proc, ev->hdr.ktime));
	count(&emitted, VIGIL_EV_CLONE);
	return 0;
}

/*
 * Start-up scan: one fixed-part exec record (no tail) per process, written
 * to the iterator's seq file; the collector adds binary, cwd and arguments
 * from /proc. Exact start times (task->start_time, which /proc only shows
 * in clock ticks) let later events find these processes in the cache.
 */
SEC("iter/task")
int vigil_scan(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct vigil_ev_exec ev = {};
	struct file *exe = NULL;
	struct mm_struct *mm;

	if (!task || BPF_CORE_READ(task, pid) != BPF_CORE_READ(task, tgid))
		return 0;	/* threads are part of their leader's process */
	mm = BPF_CORE_READ(task, mm);
	if (mm)
		exe = BPF_CORE_READ(mm, exe_file);
	fill_exec_task(task, exe, &ev);
	ev.hdr.size = sizeof(ev);
	ev.hdr.ktime = ev.start_ktime;
	ev.hdr.tid = ev.hdr.pid;
	ev.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	ev.flags = VIGIL_EXEC_EXECVE;
	ev.xflags |= VIGIL_EXEC_X_PROCFS;
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		ev.xflags |= VIGIL_EXEC_X_KTHREAD;
	bpf_seq_write(ctx->meta->seq, &ev, sizeof(ev));
	return 0;
}
