/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_ns.h - the namespace inode numbers of a task, in the VIGIL_NS_* order
 * of events.h: what an exec record carries (process.bpf.c), and what a
 * privilege record of a namespace change (unshare, setns, a clone into new
 * namespaces; priv.bpf.c) carries after the call, so that the two compare.
 *
 * task and cred are read with VT_RD (lib/vigil_fd.h): plain loads through
 * typed pointers, or helpers in the builds for kernels without
 * bpf_get_current_task_btf. The pid namespace comes out of a helper read
 * (untyped): cast when lib/vigil_path.h's VP_CAST can, else read by a helper.
 */
#ifndef VIGIL_BPF_NS_H
#define VIGIL_BPF_NS_H

#include "events.h"
#include "vigil_fd.h"

/* Inode number of a namespace's ns_common (p: a typed pointer to a *_namespace). */
#define NS_INUM(p) ((p) ? VT_RD(p, ns.inum) : 0)

#ifdef VP_RD
#define NS_PIDNS_INUM(p) VP_RD(VP_CAST(p, struct pid_namespace), ns.inum)
#else
#define NS_PIDNS_INUM(p) BPF_CORE_READ((struct pid_namespace *)(p), ns.inum)
#endif

/* Namespace inodes of task, in the VIGIL_NS_* order; zeros when it has none
 * (exiting). The pid namespace is the one the task's pid lives in (its
 * level), the user namespace the one of cred. */
static __always_inline void fill_ns(struct task_struct *task, const struct cred *cred,
				    __u32 *ns)
{
	struct nsproxy *nsp = VT_RD(task, nsproxy);
	struct pid *pid = VT_RD(task, thread_pid);
	struct user_namespace *userns;
	struct upid up = {};
	__u32 level;

	if (pid) {
		level = VT_RD(pid, level);
		bpf_probe_read_kernel(&up, sizeof(up),
				      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
				      (level & 31) * sizeof(struct upid));
	}
	ns[VIGIL_NS_PID] = up.ns ? NS_PIDNS_INUM(up.ns) : 0;
	userns = VT_RD(cred, user_ns);
	ns[VIGIL_NS_USER] = NS_INUM(userns);
	if (!nsp)
		return;
/* the namespace nsp->f (one read, then its inode: CO-RE reads do not nest) */
#define NS_OF(f) ({ typeof(nsp->f) ns_ = VT_RD(nsp, f); NS_INUM(ns_); })
	ns[VIGIL_NS_UTS] = NS_OF(uts_ns);
	ns[VIGIL_NS_IPC] = NS_OF(ipc_ns);
	ns[VIGIL_NS_MNT] = NS_OF(mnt_ns);
	ns[VIGIL_NS_PID_CHILDREN] = NS_OF(pid_ns_for_children);
	ns[VIGIL_NS_NET] = NS_OF(net_ns);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns[VIGIL_NS_TIME] = NS_OF(time_ns);
		ns[VIGIL_NS_TIME_CHILDREN] = NS_OF(time_ns_for_children);
	}
	ns[VIGIL_NS_CGROUP] = NS_OF(cgroup_ns);
#undef NS_OF
}

#endif /* VIGIL_BPF_NS_H */
