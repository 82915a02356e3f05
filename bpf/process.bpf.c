// SPDX-License-Identifier: GPL-2.0
/*
 * process.bpf.c - process lifecycle events: exec, exit (whole thread group)
 * and clone (new processes only), written to one ring buffer in the layouts
 * of events.h.
 *
 * The ring, the counters and the wakeup policy are in lib/vigil_common.h,
 * the path walker in lib/vigil_path.h.
 */
/* The fast path walk needs bpf_rdonly_cast (6.2+); process_nocast.bpf.c builds
 * this source without it for older kernels (see lib/vigil_path.h). The task,
 * the binprm and what hangs off them are typed pointers here (tp_btf and
 * iterator arguments): their fields are plain loads, no helper calls. */
#ifdef VIGIL_PROCESS_NOLOOP	/* process_noloop.bpf.c: kernels before 5.17 */
#define VIGIL_PROCESS_NOCAST 1
#define VIGIL_PATH_NOLOOP 1
#endif
#ifndef VIGIL_PROCESS_NOCAST
#define VIGIL_PATH_CAST 1
#endif

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "vigil_common.h"
#include "vigil_path.h"
#include "vigil_ns.h"
#include "vigil_sock.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGNAL_GROUP_EXIT	0x00000004	/* include/linux/sched/signal.h */

struct exec_scratch {
	struct vigil_ev_exec ev;
	__u8 tail[VIGIL_EXEC_TAIL_MAX];
	struct vigil_bin_key bkey;	/* bin_match lookup of the new binary */
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
	struct mm_struct *mm;
	unsigned long start, end;
	__u32 key = 0;
	long n, len;

	ps = bpf_map_lookup_elem(&path_heap, &key);
	if (!ps)
		return 0;
	mm = VT_RD(task, mm);
	if (!mm)
		return 0;
	start = VT_RD(mm, arg_start);
	end = VT_RD(mm, arg_end);
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

/*
 * The thread-group id as task's own pid namespace numbers it (Tetragon's
 * Container.pid: 1 for a container's init): the group leader's struct pid
 * holds one upid per namespace level, the last one being the innermost.
 */
static __always_inline __u32 task_nspid(struct task_struct *task)
{
	struct pid *pid = VT_RD(VT_RD(task, group_leader), thread_pid);
	struct upid up = {};
	__u32 level;

	if (!pid)
		return 0;
	level = VT_RD(pid, level);
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
	const struct cred *cred = VT_RD(task, cred);
	struct task_struct *parent = VT_RD(task, real_parent);
	struct inode *ino;

	ev->hdr.type = VIGIL_EV_EXEC;
	ev->hdr.pid = VT_RD(task, tgid);
	ev->ppid = VT_RD(parent, tgid);
	ev->pktime = VT_RD(VT_RD(parent, group_leader), start_time);
	ev->start_ktime = VT_RD(VT_RD(task, group_leader), start_time);
	ev->uid = VT_RD(cred, uid.val);
	ev->euid = VT_RD(cred, euid.val);
	ev->gid = VT_RD(cred, gid.val);
	ev->egid = VT_RD(cred, egid.val);
	ev->suid = VT_RD(cred, suid.val);
	ev->sgid = VT_RD(cred, sgid.val);
	ev->fsuid = VT_RD(cred, fsuid.val);
	ev->fsgid = VT_RD(cred, fsgid.val);
	if (bpf_core_field_exists(task->loginuid))
		ev->auid = VT_RD(task, loginuid.val);
	else
		ev->auid = (__u32)-1;
	/* kernel_cap_t is a u64 (6.3+) or two u32s (older): the same 8 bytes,
	 * one load each (the verifier allows a load spanning an int array) */
	ev->cap_permitted = *(const __u64 *)&cred->cap_permitted;
	ev->cap_effective = *(const __u64 *)&cred->cap_effective;
	ev->cap_inheritable = *(const __u64 *)&cred->cap_inheritable;
#pragma unroll
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
	ino = file ? VT_RD(file, f_inode) : NULL;
	if (ino) {
		ev->ino = VT_RD(ino, i_ino);
		ev->nlink = VT_RD(ino, __i_nlink);
		ev->i_uid = VT_RD(ino, i_uid.val);
		ev->i_gid = VT_RD(ino, i_gid.val);
		ev->i_mode = VT_RD(ino, i_mode);
	}
}

/* The struct sock behind f when f is a socket, else NULL; f is untyped (read
 * from the fd array), typed here when the kernel can (VP_CAST). */
static __always_inline struct sock *stdio_sock(struct file *f)
{
#ifdef VIGIL_PATH_CAST
	struct socket *sock;
	struct inode *ino;

	if (!f)
		return NULL;
	f = VP_CAST(f, struct file);
	ino = f->f_inode;
	if (!ino || (ino->i_mode & VIGIL_S_IFMT) != VIGIL_S_IFSOCK)
		return NULL;
	sock = f->private_data;
	if (!sock)
		return NULL;
	return VP_CAST(sock, struct socket)->sk;
#else
	return file_sock(f);
#endif
}

/*
 * Flag the sockets on fds 0-2 of the new program in ev->xflags (a reverse
 * shell has its stdin/stdout on one); returns the first of them, or NULL.
 * The three fd slots are read in one helper call.
 */
static __always_inline struct sock *check_stdio(struct task_struct *task,
						struct vigil_ev_exec *ev, int *first_fd)
{
	struct file *files[3] = {};
	struct files_struct *fst = VT_RD(task, files);
	struct fdtable *fdt = fst ? VT_RD(fst, fdt) : NULL;
	struct sock *sk, *first = NULL;

	if (!fdt || VT_RD(fdt, max_fds) < 3 ||
	    bpf_probe_read_kernel(files, sizeof(files), VT_RD(fdt, fd)))
		return NULL;
#pragma unroll
	for (int fd = 0; fd < 3; fd++) {
		sk = stdio_sock(files[fd]);
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

/* filter.binaries: whether process tgid now runs a listed binary (its path is
 * tail[0, blen)). */
static __always_inline void bin_track(struct exec_scratch *s, __u32 tgid, __u32 blen)
{
	struct vigil_filter *f = get_filter();
	__u32 n = blen;
	__u8 one = 1;

	if (!f || !f->binaries)
		return;
	__builtin_memset(&s->bkey, 0, sizeof(s->bkey));
	/* the mask bounds the copy for the verifier; the compiler must not drop it
	 * because of the test below */
	asm volatile("" : "+r"(n));
	n &= VIGIL_BIN_LEN - 1;
	if (blen > 0 && blen < VIGIL_BIN_LEN && !bpf_probe_read_kernel(s->bkey.path, n, s->tail) &&
	    bpf_map_lookup_elem(&bin_match, &s->bkey)) {
		bpf_map_update_elem(&bin_procs, &tgid, &one, BPF_ANY);
		return;
	}
	bpf_map_delete_elem(&bin_procs, &tgid);
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
	file = VT_RD(bprm, file);
	fill_exec_task(task, file, ev);
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.tid = old_pid;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	if (BPF_CORE_READ_BITFIELD_PROBED(bprm, secureexec))
		ev->xflags |= VIGIL_EXEC_X_SECUREEXEC;

	fs = VT_RD(task, fs);
	if (!fs || !file) {
		flags |= VIGIL_EXEC_ERROR_FILENAME;
	} else {
		n = copy_path(&file->f_path, &fs->root, &s->tail[0], &trunc, 0);
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
		n = copy_path(&fs->pwd, &fs->root, &s->tail[blen & VIGIL_PATH_MAX], &trunc, 0);
		if (n < 0)
			flags |= VIGIL_EXEC_ERROR_CWD;
		else
			clen = n;
		if (trunc)
			flags |= VIGIL_EXEC_ERROR_CWD_PATH;
		if (clen == 1 && s->tail[blen & VIGIL_PATH_MAX] == '/')
			flags |= VIGIL_EXEC_ROOT_CWD;
	}
	bin_track(s, ev->hdr.pid, (flags & VIGIL_EXEC_TRUNC_FILENAME) ? 0 : blen);
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
	struct vigil_filter *f;
	int group_dead;
	__u32 code, tgid;

	sig = VT_RD(task, signal);
	if (exit_has_group_dead)
		group_dead = (int)ctx[1];	/* set by atomic_dec_and_test(&signal->live) */
	else
		group_dead = VT_RD(sig, live.counter) == 0;
	if (!group_dead)
		return 0;
	f = get_filter();
	if (f && f->binaries) {
		tgid = VT_RD(task, tgid);
		bpf_map_delete_elem(&bin_procs, &tgid);
	}
	if (VT_RD(sig, flags) & SIGNAL_GROUP_EXIT)
		code = VT_RD(sig, group_exit_code);
	else
		code = VT_RD(task, exit_code);

	ev = bpf_ringbuf_reserve(&rb_proc, sizeof(*ev), 0);
	if (!ev) {
		count(&lost, VIGIL_EV_EXIT);
		return 0;
	}
	ev->hdr.type = VIGIL_EV_EXIT;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.pid = VT_RD(task, tgid);
	ev->hdr.tid = VT_RD(task, pid);
	ev->code = code;
	ev->pad0 = 0;
	ev->start_ktime = VT_RD(VT_RD(task, group_leader), start_time);
	bpf_ringbuf_submit(ev, wake_flags_ring(&rb_proc, ev->hdr.ktime));
	count(&emitted, VIGIL_EV_EXIT);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_ev_clone *ev;
	struct vigil_filter *f;
	__u32 pid, tgid, ptgid;
	__u8 one = 1;

	pid = VT_RD(child, pid);
	tgid = VT_RD(child, tgid);
	if (pid != tgid)	/* a new thread, not a new process */
		return 0;
	f = get_filter();
	if (f && f->binaries) { /* the child runs its parent's binary until it execs */
		ptgid = VT_RD(parent, tgid);
		if (bpf_map_lookup_elem(&bin_procs, &ptgid))
			bpf_map_update_elem(&bin_procs, &tgid, &one, BPF_ANY);
	}

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
	ev->ppid = VT_RD(parent, tgid);
	ev->nspid = task_nspid(child);
	ev->start_ktime = VT_RD(child, start_time);
	ev->pktime = VT_RD(VT_RD(parent, group_leader), start_time);
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

	if (!task || VT_RD(task, pid) != VT_RD(task, tgid))
		return 0;	/* threads are part of their leader's process */
	mm = VT_RD(task, mm);
	if (mm)
		exe = VT_RD(mm, exe_file);
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
