// SPDX-License-Identifier: GPL-2.0
/*
 * net.bpf.c - network events: connect, accept/accept4, listen, bind, and a
 * dup2/dup3 that puts a socket on fd 0, 1 or 2 (the other half of a reverse
 * shell: process.bpf.c flags an exec whose stdio already is a socket). One
 * struct vigil_ev_net per syscall, written to the shared ring.
 *
 * Like file.bpf.c: one program per syscall on its sys_exit tracepoint, the
 * arguments read back from the task's user registers, so the result is known
 * and no per-call map entry is needed. The socket is described from the
 * kernel's struct sock behind the fd (what the kernel did, e.g. the local
 * port it chose), the user's sockaddr is copied next to it (what was asked,
 * also when the call failed).
 *
 * net_noloop.bpf.c builds it for kernels before 5.15 (with process_noloop and
 * file_noloop): the task is read with helpers, its registers found without
 * bpf_task_pt_regs (lib/vigil_fd.h).
 */
#ifdef VIGIL_NET_NOLOOP
#define VIGIL_TASK_PROBE_READ 1
#endif

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "vigil_common.h"
#include "vigil_fd.h"
#include "vigil_sock.h"

char LICENSE[] SEC("license") = "GPL";

#define VIGIL_AF_UNIX	1

struct net_scratch {
	struct vigil_ev_net ev;
	__u8 path[128];		/* VIGIL_UNIX_PATH_MAX used; 128 for the verifier's mask */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_scratch);
} net_heap SEC(".maps");

/* Context of a syscalls/sys_exit_* tracepoint. */
struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

/* Syscall argument n (1..3) from the task's user registers: plain loads where regs
 * is typed (bpf_task_pt_regs), helper reads in the noloop build. */
#ifdef VIGIL_TASK_PROBE_READ
#define NARG(regs, n) ((unsigned long)PT_REGS_PARM##n##_CORE_SYSCALL(regs))
#else
#define NARG(regs, n) ((unsigned long)PT_REGS_PARM##n##_SYSCALL(regs))
#endif

/* Start an event of op with result ret by the current task; NULL when the filter
 * says no. */
static __always_inline struct net_scratch *nbegin(__u32 op, long ret, struct task_struct *task)
{
	struct task_struct *leader;
	struct net_scratch *s;
	__u64 id = VIGIL_PID_TGID(task);
	__u32 key = 0;

	if (!op_wanted(get_filter(), op, id >> 32))
		return NULL;
	s = bpf_map_lookup_elem(&net_heap, &key);
	if (!s)
		return NULL;
	net_clear(&s->ev);
	s->ev.hdr.type = VIGIL_EV_NET;
	s->ev.hdr.size = sizeof(s->ev);
	s->ev.hdr.ktime = bpf_ktime_get_ns();
	s->ev.hdr.pid = id >> 32;
	s->ev.hdr.tid = (__u32)id;
	leader = VT_RD(task, group_leader);
	s->ev.start_ktime = VT_RD(leader, start_time);
	s->ev.op = op;
	s->ev.ret = ret;
	return s;
}

/* Describe the socket behind fd of the current task. */
static __always_inline void put_sock(struct net_scratch *s, struct task_struct *task, int fd)
{
	s->ev.fd = fd;
	sock_fill(file_sock(fd_file(task, fd)), &s->ev);
}

/* Copy the user's sockaddr (len bytes at u) into ua_* and the unix path tail. */
static __always_inline void put_uaddr(struct net_scratch *s, const void *u, long len)
{
	__u16 fam = 0, port = 0;
	long n;

	if (!u || len < 2 || bpf_probe_read_user(&fam, 2, u))
		return;
	s->ev.ua_family = fam;
	s->ev.nflags |= VIGIL_N_UADDR;
	if (fam == VIGIL_AF_INET && len >= 8) {
		bpf_probe_read_user(&port, 2, u + 2);
		bpf_probe_read_user(s->ev.ua_addr, 4, u + 4);
	} else if (fam == VIGIL_AF_INET6 && len >= 24) {
		bpf_probe_read_user(&port, 2, u + 2);
		bpf_probe_read_user(s->ev.ua_addr, 16, u + 8);
	} else if (fam == VIGIL_AF_UNIX) {
		n = len - 2;
		if (n > VIGIL_UNIX_PATH_MAX)
			n = VIGIL_UNIX_PATH_MAX;
		if (n > 0 && !bpf_probe_read_user(s->path, n & 127, u + 2))
			s->ev.hdr.size = sizeof(s->ev) + (n & 127);
	}
	s->ev.ua_port = bpf_ntohs(port);
}

/* Send the event in s. */
static __always_inline void nfinish(struct net_scratch *s)
{
	__u64 size = s->ev.hdr.size;

	if (size < sizeof(s->ev) || size > sizeof(*s))
		return;
	emit_rec(s, size, VIGIL_EV_NET);
}

/* connect and bind: the socket, then the user's address. */
static __always_inline int do_addr_op(struct sys_exit_ctx *ctx, __u32 op)
{
	struct task_struct *task = VIGIL_CUR_TASK();
	struct net_scratch *s = nbegin(op, ctx->ret, task);
	struct pt_regs *regs;

	if (!s)
		return 0;
	regs = VIGIL_TASK_REGS(task);
	put_sock(s, task, NARG(regs, 1));
	put_uaddr(s, (const void *)NARG(regs, 2), (long)(int)NARG(regs, 3));
	nfinish(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int vigil_connect(struct sys_exit_ctx *ctx)
{
	return do_addr_op(ctx, VIGIL_OP_CONNECT);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int vigil_bind(struct sys_exit_ctx *ctx)
{
	return do_addr_op(ctx, VIGIL_OP_BIND);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int vigil_listen(struct sys_exit_ctx *ctx)
{
	struct task_struct *task = VIGIL_CUR_TASK();
	struct net_scratch *s = nbegin(VIGIL_OP_LISTEN, ctx->ret, task);
	struct pt_regs *regs;

	if (!s)
		return 0;
	regs = VIGIL_TASK_REGS(task);
	put_sock(s, task, NARG(regs, 1));
	s->ev.arg = NARG(regs, 2);
	nfinish(s);
	return 0;
}

/* accept/accept4: the new connection's socket when there is one, else the listener's. */
static __always_inline int do_accept(struct sys_exit_ctx *ctx, __u32 op)
{
	struct task_struct *task = VIGIL_CUR_TASK();
	struct net_scratch *s = nbegin(op, ctx->ret, task);
	struct pt_regs *regs;
	int lfd;

	if (!s)
		return 0;
	regs = VIGIL_TASK_REGS(task);
	lfd = NARG(regs, 1);
	put_sock(s, task, ctx->ret >= 0 ? (int)ctx->ret : lfd);
	s->ev.fd = lfd;
	nfinish(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int vigil_accept(struct sys_exit_ctx *ctx)
{
	return do_accept(ctx, VIGIL_OP_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int vigil_accept4(struct sys_exit_ctx *ctx)
{
	return do_accept(ctx, VIGIL_OP_ACCEPT4);
}

/* dup2/dup3: sent only when a socket lands on fd 0, 1 or 2. */
static __always_inline int do_dup(struct sys_exit_ctx *ctx, __u32 op)
{
	struct task_struct *task = VIGIL_CUR_TASK();
	struct pt_regs *regs = VIGIL_TASK_REGS(task);
	struct net_scratch *s;
	struct sock *sk;
	int newfd = NARG(regs, 2);

	if (ctx->ret < 0 || newfd < 0 || newfd > 2)
		return 0;
	sk = file_sock(fd_file(task, newfd));
	if (!sk)
		return 0;
	s = nbegin(op, ctx->ret, task);
	if (!s)
		return 0;
	sock_fill(sk, &s->ev);
	s->ev.fd = newfd;
	s->ev.arg = NARG(regs, 1);
	nfinish(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int vigil_dup2(struct sys_exit_ctx *ctx)
{
	return do_dup(ctx, VIGIL_OP_DUP2);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int vigil_dup3(struct sys_exit_ctx *ctx)
{
	return do_dup(ctx, VIGIL_OP_DUP3);
}
