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
#include "events.h"
#include "vigil_common.h"
#include "vigil_path.h"

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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct exec_scratch *s;
	struct vigil_ev_exec *ev;
	const struct cred *cred;
	struct fs_struct *fs;
	struct file *file;
	__u32 key = 0, flags = VIGIL_EXEC_EXECVE, blen = 0, clen = 0, alen;
	int n, trunc = 0;
	__u64 size;

	s = bpf_map_lookup_elem(&exec_heap, &key);
	if (!s)
		return 0;
	ev = &s->ev;
	ev->hdr.type = VIGIL_EV_EXEC;
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.pid = BPF_CORE_READ(task, tgid);
	ev->hdr.tid = old_pid;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->pktime = BPF_CORE_READ(task, real_parent, group_leader, start_time);
	ev->start_ktime = BPF_CORE_READ(task, group_leader, start_time);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	cred = BPF_CORE_READ(task, cred);
	ev->uid = BPF_CORE_READ(cred, uid.val);
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->gid = BPF_CORE_READ(cred, gid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	if (bpf_core_field_exists(task->loginuid))
		ev->auid = BPF_CORE_READ(task, loginuid.val);
	else
		ev->auid = (__u32)-1;
	ev->pad0 = 0;
	ev->pad1 = 0;

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
	if (bpf_ringbuf_output(&rb, s, size, wake_flags()))
		count(&lost, VIGIL_EV_EXEC);
	else
		count(&emitted, VIGIL_EV_EXEC);
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

	ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);
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
	bpf_ringbuf_submit(ev, wake_flags());
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

	ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);
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
	ev->pad0 = 0;
	ev->start_ktime = BPF_CORE_READ(child, start_time);
	ev->pktime = BPF_CORE_READ(parent, group_leader, start_time);
	bpf_ringbuf_submit(ev, wake_flags());
	count(&emitted, VIGIL_EV_CLONE);
	return 0;
}
