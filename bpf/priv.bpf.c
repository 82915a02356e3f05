// SPDX-License-Identifier: GPL-2.0
/*
 * priv.bpf.c - privilege and escape events: the set*id family, capset,
 * ptrace (attach-like requests only), process_vm_writev, module loading,
 * mount, unshare, setns, bpf() (map create, program load and attach),
 * memfd_create and pivot_root, and the new process of a clone that asked for
 * new namespaces. One struct vigil_ev_priv per syscall, written to the shared
 * ring. A namespace change (unshare, setns, such a clone) that succeeded also
 * carries the task's namespace inodes after the call (VIGIL_PRIV_X_NS), which
 * the enricher compares with the ones recorded at the process's exec.
 *
 * Like file.bpf.c and net.bpf.c: one program per syscall on its sys_exit
 * tracepoint (the result is known, the credentials read are the ones the
 * call left), arguments read back from the task's user registers. The
 * module tracepoints fire even when the kernel has no module support (the
 * call then fails with ENOSYS): the attempt is what matters.
 *
 * priv_noloop.bpf.c builds it for the kernels that get the collector's noloop
 * builds (before 5.17; 5.10 has neither bpf_get_current_task_btf nor
 * bpf_task_pt_regs): the task is read with helpers and its user registers
 * found at the top of its stack (lib/vigil_fd.h).
 */
#ifdef VIGIL_PRIV_NOLOOP
#define VIGIL_TASK_PROBE_READ 1
#endif
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "vigil_common.h"
#include "vigil_fd.h"
#include "vigil_ns.h"

char LICENSE[] SEC("license") = "GPL";

#define STR_SLOT	256	/* VIGIL_PRIV_STR_MAX + 1, a power of 2 for the verifier */

struct priv_scratch {
	struct vigil_ev_priv ev;
	__u8 tail[3 * STR_SLOT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct priv_scratch);
} priv_heap SEC(".maps");

/* Context of a syscalls/sys_exit_* tracepoint. */
struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

/* Older kernels keep the namespace type in the operations table. */
struct proc_ns_operations___old {
	int type;
} __attribute__((preserve_access_index));
struct ns_common___old {
	const struct proc_ns_operations___old *ops;
} __attribute__((preserve_access_index));

/* One event being built: scratch, user registers, bytes of tail written. */
struct pctx {
	struct priv_scratch *s;
	struct pt_regs *regs;
	__u32 off;
};

/* Syscall argument n (1..5) of the current task, from its user registers. */
#define PARG(c, n) ({ struct pt_regs *vigil_regs_ = (c)->regs;				\
		      (unsigned long)PT_REGS_PARM##n##_CORE_SYSCALL(vigil_regs_); })

/* Start an event of op with result ret; 0 when the filter says no. */
static __always_inline int pbegin(struct pctx *c, __u32 op, long ret)
{
	struct vigil_ev_priv *ev;
	struct task_struct *task = VIGIL_CUR_TASK();
	const struct cred *cred;
	__u64 id = VIGIL_PID_TGID(task);
	__u32 key = 0;

	if (!op_wanted(get_filter(), op, id >> 32))
		return 0;
	c->s = bpf_map_lookup_elem(&priv_heap, &key);
	if (!c->s)
		return 0;
	c->regs = VIGIL_TASK_REGS(task);
	c->off = 0;
	ev = &c->s->ev;
	ev->hdr.type = VIGIL_EV_PRIV;
	ev->hdr.ktime = bpf_ktime_get_ns();
	ev->hdr.pid = id >> 32;
	ev->hdr.tid = (__u32)id;
	ev->start_ktime = BPF_CORE_READ(task, group_leader, start_time);
	ev->op = op;
	ev->slen[0] = ev->slen[1] = ev->slen[2] = 0;
	ev->ret = ret;
	ev->xflags = 0;
	ev->arg[0] = ev->arg[1] = ev->arg[2] = ev->arg[3] = 0;
	cred = BPF_CORE_READ(task, cred);
	ev->uid = BPF_CORE_READ(cred, uid.val);
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->suid = BPF_CORE_READ(cred, suid.val);
	ev->fsuid = BPF_CORE_READ(cred, fsuid.val);
	ev->gid = BPF_CORE_READ(cred, gid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	ev->sgid = BPF_CORE_READ(cred, sgid.val);
	ev->fsgid = BPF_CORE_READ(cred, fsgid.val);
	/* kernel_cap_t is a u64 (6.3+) or two u32s (older): the same 8 bytes */
	bpf_probe_read_kernel(&ev->cap_effective, 8, &cred->cap_effective);
	bpf_probe_read_kernel(&ev->cap_permitted, 8, &cred->cap_permitted);
	bpf_probe_read_kernel(&ev->cap_inheritable, 8, &cred->cap_inheritable);
	return 1;
}

/* Send the event built in c (the tail strings already packed by put_strs). */
static __always_inline void pfinish(struct pctx *c)
{
	__u64 size = c->off;

	if (size > sizeof(c->s->tail))
		return;
	/* the sum after the check: a verifier before 6.x does not carry the bound to
	 * a copy the compiler would take before it (6.1 refused the program) */
	asm volatile("" : "+r"(size));
	size += sizeof(struct vigil_ev_priv);
	c->s->ev.hdr.size = size;
	emit_rec(c->s, size, VIGIL_EV_PRIV);
}

/* Read up to three user strings into consecutive STR_SLOT slots (every
 * string starts at a fixed offset: simple for the verifier), then move them
 * together so the tail has no gaps. */
static __always_inline void put_strs(struct pctx *c, const char *a, const char *b,
				     const char *d)
{
	const char *u[3] = { a, b, d };
	__u32 len[3] = {};
	long n;

	for (int i = 0; i < 3; i++) {
		if (!u[i])
			continue;
		n = bpf_probe_read_user_str(&c->s->tail[i * STR_SLOT], STR_SLOT, u[i]);
		len[i] = n > 1 ? n - 1 : 0;
	}
	/* compact: slot 1 after slot 0, slot 2 after both */
	if (len[1] && len[0] < STR_SLOT)
		bpf_probe_read_kernel(&c->s->tail[len[0] & (STR_SLOT - 1)], len[1] & (STR_SLOT - 1),
				      &c->s->tail[STR_SLOT]);
	if (len[2] && len[0] + len[1] < 2 * STR_SLOT)
		bpf_probe_read_kernel(&c->s->tail[(len[0] + len[1]) & (2 * STR_SLOT - 1)],
				      len[2] & (STR_SLOT - 1), &c->s->tail[2 * STR_SLOT]);
	c->s->ev.slen[0] = len[0];
	c->s->ev.slen[1] = len[1];
	c->s->ev.slen[2] = len[2];
	c->off = len[0] + len[1] + len[2];
}

/* Append the task's namespace inodes after the strings (VIGIL_PRIV_X_NS). */
static __always_inline void put_ns(struct pctx *c)
{
	struct task_struct *task = VIGIL_CUR_TASK();
	__u32 ns[VIGIL_NS_COUNT] = {};

	if (c->off > 2 * STR_SLOT - 1)
		return;
	fill_ns(task, VT_RD(task, cred), ns);
	if (bpf_probe_read_kernel(&c->s->tail[c->off & (2 * STR_SLOT - 1)], sizeof(ns), ns))
		return;
	c->off += sizeof(ns);
	c->s->ev.xflags |= VIGIL_PRIV_X_NS;
}

/* An event with up to three integer arguments and no string. */
static __always_inline int ints(__u32 op, long ret, int nargs)
{
	struct pctx c;

	if (!pbegin(&c, op, ret))
		return 0;
	if (nargs > 0)
		c.s->ev.arg[0] = (__u32)PARG(&c, 1);
	if (nargs > 1)
		c.s->ev.arg[1] = (__u32)PARG(&c, 2);
	if (nargs > 2)
		c.s->ev.arg[2] = (__u32)PARG(&c, 3);
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setuid")
int vigil_setuid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETUID, ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_setreuid")
int vigil_setreuid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETREUID, ctx->ret, 2); }
SEC("tracepoint/syscalls/sys_exit_setresuid")
int vigil_setresuid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETRESUID, ctx->ret, 3); }
SEC("tracepoint/syscalls/sys_exit_setfsuid")
int vigil_setfsuid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETFSUID, ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_setgid")
int vigil_setgid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETGID, ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_setregid")
int vigil_setregid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETREGID, ctx->ret, 2); }
SEC("tracepoint/syscalls/sys_exit_setresgid")
int vigil_setresgid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETRESGID, ctx->ret, 3); }
SEC("tracepoint/syscalls/sys_exit_setfsgid")
int vigil_setfsgid(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_SETFSGID, ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_capset")
int vigil_capset(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_CAPSET, ctx->ret, 0); }
SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int vigil_vm_writev(struct sys_exit_ctx *ctx) { return ints(VIGIL_OP_VM_WRITEV, ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_unshare")
int vigil_unshare(struct sys_exit_ctx *ctx)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_UNSHARE, ctx->ret))
		return 0;
	c.s->ev.arg[0] = (__u32)PARG(&c, 1);
	if (ctx->ret == 0)
		put_ns(&c);
	pfinish(&c);
	return 0;
}

/*
 * The new process's side of a clone (ret 0) that created namespaces: it
 * starts in them, so they differ from the ones of the exec it inherited.
 * Told by the task's nsproxy and user namespace against its parent's (a
 * clone with any CLONE_NEW* gets an nsproxy of its own) rather than by the
 * flags: clone3's flags are in user memory that a CLONE_VM child may find
 * already reused. Which namespaces are new is what the enricher's comparison
 * with the exec says (ns_changes); the record carries the task's namespaces
 * only. Every other fork, and every thread, leaves after a few loads.
 */
static __always_inline int clone_ns(__u32 op, long ret)
{
	struct task_struct *task, *parent;
	__u64 id = bpf_get_current_pid_tgid();
	struct pctx c;

	if (ret != 0 || (__u32)id != (__u32)(id >> 32))
		return 0;
	task = VIGIL_CUR_TASK();
	parent = VT_RD(task, real_parent);
	if (!parent || (VT_RD(task, nsproxy) == VT_RD(parent, nsproxy) &&
			BPF_CORE_READ(task, cred, user_ns) == BPF_CORE_READ(parent, cred, user_ns)))
		return 0;
	if (!pbegin(&c, op, 0))
		return 0;
	put_ns(&c);
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int vigil_clone(struct sys_exit_ctx *ctx) { return clone_ns(VIGIL_OP_CLONE, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_clone3")
int vigil_clone3(struct sys_exit_ctx *ctx) { return clone_ns(VIGIL_OP_CLONE3, ctx->ret); }

#define PTRACE_TRACEME		0
#define PTRACE_POKETEXT		4
#define PTRACE_POKEDATA		5
#define PTRACE_POKEUSER		6
#define PTRACE_SETREGS		13
#define PTRACE_ATTACH		16
#define PTRACE_SETREGSET	0x4205
#define PTRACE_SEIZE		0x4206

SEC("tracepoint/syscalls/sys_exit_ptrace")
int vigil_ptrace(struct sys_exit_ctx *ctx)
{
	struct pt_regs *regs = VIGIL_TASK_REGS(VIGIL_CUR_TASK());
	long req = PT_REGS_PARM1_CORE_SYSCALL(regs);

	/* what takes control of or writes into another process; PEEKs, CONT,
	 * GETREGS (a debugger's steady traffic) are left out */
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE && req != PTRACE_TRACEME &&
	    req != PTRACE_POKETEXT && req != PTRACE_POKEDATA && req != PTRACE_POKEUSER &&
	    req != PTRACE_SETREGS && req != PTRACE_SETREGSET)
		return 0;
	return ints(VIGIL_OP_PTRACE, ctx->ret, 2);
}

/* init_module(umod, len, uargs) returned ret. */
static __always_inline int init_module_ev(long ret)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_INIT_MODULE, ret))
		return 0;
	c.s->ev.arg[0] = PARG(&c, 2);
	put_strs(&c, (const char *)PARG(&c, 3), NULL, NULL);
	pfinish(&c);
	return 0;
}

/* finit_module(fd, uargs, flags) returned ret. */
static __always_inline int finit_module_ev(long ret)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_FINIT_MODULE, ret))
		return 0;
	c.s->ev.arg[0] = (__u32)PARG(&c, 1);
	c.s->ev.arg[1] = (__u32)PARG(&c, 3);
	put_strs(&c, (const char *)PARG(&c, 2), NULL, NULL);
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int vigil_init_module(struct sys_exit_ctx *ctx) { return init_module_ev(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_finit_module")
int vigil_finit_module(struct sys_exit_ctx *ctx) { return finit_module_ev(ctx->ret); }

/*
 * Kernels without module support have no init_module/finit_module
 * tracepoints (the calls are sys_ni_syscall), yet the attempt is what
 * matters. The collector loads this instead of the two programs above only
 * then: it runs at every syscall exit (a register read and a compare).
 */
#define NR_INIT_MODULE	175	/* x86_64 */
#define NR_FINIT_MODULE	313
SEC("raw_tp/sys_exit")
int vigil_module_rawtp(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);

	if (nr == NR_INIT_MODULE)
		return init_module_ev(ctx->args[1]);
	if (nr == NR_FINIT_MODULE)
		return finit_module_ev(ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mount")
int vigil_mount(struct sys_exit_ctx *ctx)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_MOUNT, ctx->ret))
		return 0;
	c.s->ev.arg[0] = PARG(&c, 4);
	put_strs(&c, (const char *)PARG(&c, 1), (const char *)PARG(&c, 2),
		 (const char *)PARG(&c, 3));
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_pivot_root")
int vigil_pivot_root(struct sys_exit_ctx *ctx)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_PIVOT_ROOT, ctx->ret))
		return 0;
	put_strs(&c, (const char *)PARG(&c, 1), (const char *)PARG(&c, 2), NULL);
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int vigil_memfd_create(struct sys_exit_ctx *ctx)
{
	struct pctx c;

	if (!pbegin(&c, VIGIL_OP_MEMFD_CREATE, ctx->ret))
		return 0;
	c.s->ev.arg[0] = (__u32)PARG(&c, 2);
	put_strs(&c, (const char *)PARG(&c, 1), NULL, NULL);
	pfinish(&c);
	return 0;
}

/* io_uring_setup(entries, params): what the ring later opens, connects or
 * accepts runs in the kernel without a syscall of its own, which the file and
 * network programs do not see; that a process set one up is seen here.
 * arg[0] entries, arg[1] params->flags. */
SEC("tracepoint/syscalls/sys_exit_io_uring_setup")
int vigil_io_uring_setup(struct sys_exit_ctx *ctx)
{
	struct pctx c;
	__u32 flags = 0;

	if (!pbegin(&c, VIGIL_OP_IO_URING_SETUP, ctx->ret))
		return 0;
	c.s->ev.arg[0] = (__u32)PARG(&c, 1);
	bpf_probe_read_user(&flags, sizeof(flags), (const char *)PARG(&c, 2) + 8);
	c.s->ev.arg[1] = flags;
	pfinish(&c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setns")
int vigil_setns(struct sys_exit_ctx *ctx)
{
	struct pctx c;
	struct file *f;
	struct inode *ino;
	void *ns;
	int fd;

	if (!pbegin(&c, VIGIL_OP_SETNS, ctx->ret))
		return 0;
	fd = PARG(&c, 1);
	c.s->ev.arg[0] = (__u32)fd;
	c.s->ev.arg[1] = (__u32)PARG(&c, 2);
	/* the namespace behind the fd (an nsfs file: i_private is its ns_common;
	 * a pidfd is not, and leaves type and inode 0) */
	f = fd_file(VIGIL_CUR_TASK(), fd);
	ino = f ? BPF_CORE_READ(f, f_inode) : NULL;
	if (ino && BPF_CORE_READ(ino, i_sb, s_magic) == 0x6e736673 /* NSFS_MAGIC */) {
		c.s->ev.arg[3] = BPF_CORE_READ(ino, i_ino);
		ns = BPF_CORE_READ(ino, i_private);
		if (ns && bpf_core_field_exists(((struct ns_common *)0)->ns_type))
			c.s->ev.arg[2] = BPF_CORE_READ((struct ns_common *)ns, ns_type);
		else if (ns)
			c.s->ev.arg[2] = BPF_CORE_READ((struct ns_common___old *)ns, ops, type);
	}
	if (ctx->ret == 0)
		put_ns(&c);
	pfinish(&c);
	return 0;
}

#define BPF_MAP_CREATE_		0
#define BPF_PROG_LOAD_		5
#define BPF_PROG_ATTACH_	8
#define BPF_RAW_TP_OPEN_	17
#define BPF_LINK_CREATE_	28

SEC("tracepoint/syscalls/sys_exit_bpf")
int vigil_bpf(struct sys_exit_ctx *ctx)
{
	struct pctx c;
	long cmd;
	const char *attr;
	__u32 first = 0;

	{
		struct pt_regs *regs = VIGIL_TASK_REGS(VIGIL_CUR_TASK());

		cmd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	}
	/* what creates or attaches code or maps; lookups and updates (every
	 * BPF tool's steady traffic, ours included) are left out */
	if (cmd != BPF_MAP_CREATE_ && cmd != BPF_PROG_LOAD_ && cmd != BPF_PROG_ATTACH_ &&
	    cmd != BPF_RAW_TP_OPEN_ && cmd != BPF_LINK_CREATE_)
		return 0;
	if (!pbegin(&c, VIGIL_OP_BPF, ctx->ret))
		return 0;
	attr = (const char *)PARG(&c, 2);
	c.s->ev.arg[0] = cmd;
	if (attr && !bpf_probe_read_user(&first, 4, attr))
		c.s->ev.arg[1] = first;
	/* the object's name: map_name at 28 (map create), prog_name at 48 (load) */
	if (attr && (cmd == BPF_MAP_CREATE_ || cmd == BPF_PROG_LOAD_)) {
		long n = bpf_probe_read_user_str(c.s->tail, 16,
						 attr + (cmd == BPF_MAP_CREATE_ ? 28 : 48));

		c.s->ev.slen[0] = n > 1 ? n - 1 : 0;
		c.off = c.s->ev.slen[0];
	}
	pfinish(&c);
	return 0;
}
