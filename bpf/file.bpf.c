// SPDX-License-Identifier: GPL-2.0
/*
 * file.bpf.c - file access events: opens and the writes that matter for
 * persistence and tampering (unlink, rename, link, symlink, truncate, chmod
 * setting setuid/setgid, setxattr of security.capability), one
 * struct vigil_ev_file per syscall, written to the shared ring.
 *
 * One program per syscall on its sys_exit tracepoint, nothing at sys_enter:
 * the arguments are still in the task's user pt_regs at exit
 * (bpf_task_pt_regs), so one program and no per-call map entry suffice, and
 * the result is known. A successful open is resolved from the file the new
 * fd points to (task -> files -> fdt -> fd[ret] -> f_path, walked like
 * d_path), so relative names, dirfds, "..", "//", symlinks and bind mounts
 * cannot hide what was opened. A failed open, and the path operations
 * (whose object may be gone at exit), carry the user's string plus the
 * kernel-resolved path of the directory it is relative to (dirfd or cwd).
 */
/* The fast walk needs bpf_rdonly_cast (6.2+); file_nocast.bpf.c builds
 * this source without it for older kernels (see lib/vigil_path.h), and
 * file_noloop.bpf.c for kernels before 5.17 (no bpf_loop; nor, before 5.11
 * and 5.15, bpf_get_current_task_btf and bpf_task_pt_regs: the task is read
 * with helpers and its user registers found at the top of its stack). */
#ifdef VIGIL_FILE_NOLOOP
#define VIGIL_FILE_NOCAST 1
#define VIGIL_PATH_NOLOOP 1
#define VIGIL_TASK_PROBE_READ 1
#endif
#ifndef VIGIL_FILE_NOCAST
#define VIGIL_PATH_CAST 1
#endif

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "vigil_common.h"
#include "vigil_path.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD	-100
#define AT_REMOVEDIR	0x200
#define S_ISUID		04000
#define S_ISGID		02000
#define O_CREAT_WRONLY_TRUNC 01101	/* creat() = open(O_CREAT|O_WRONLY|O_TRUNC) */
#define O_ACCMODE_WRITE	03		/* O_WRONLY | O_RDWR */
#define O_CREAT_TRUNC	01100		/* O_CREAT | O_TRUNC */

#define TAIL_MASK	(VIGIL_FILE_TAIL_MAX - 1)

_Static_assert((VIGIL_FILE_TAIL_MAX & TAIL_MASK) == 0, "tail size is a power of 2");

/* Paths under these prefixes only, when filter.prefixes is set. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_PREFIXES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_prefix_key);
	__type(value, __u8);
} prefix_allow SEC(".maps");

struct file_scratch {
	struct vigil_prefix_key key;	/* prefix lookup of the path being sent */
	struct vigil_ev_file ev;
	__u8 tail[VIGIL_FILE_TAIL_MAX + VIGIL_PATH_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_scratch);
} file_heap SEC(".maps");

/* Context of a syscalls/sys_exit_* tracepoint. */
struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

/* One event being built. */
struct fctx {
	struct file_scratch *s;
	struct vigil_filter *f;
	struct task_struct *task;
	struct pt_regs *regs;
	__u32 off;		/* bytes of tail written */
};

/* Syscall argument n (1..5) of the current task, from its user registers
 * (a typed pointer: plain loads, no helper call; read with helpers in the
 * bounded-loop build, where the registers' address is computed). */
#ifdef VIGIL_FILE_NOLOOP
#define ARG(c, n) ({ struct pt_regs *vigil_regs_ = (c)->regs;				\
		      (unsigned long)PT_REGS_PARM##n##_CORE_SYSCALL(vigil_regs_); })
#else
#define ARG(c, n) ({ struct pt_regs *vigil_regs_ = (c)->regs;				\
		      (unsigned long)PT_REGS_PARM##n##_SYSCALL(vigil_regs_); })
#endif

/* Start an event of op with result ret; 0 when the filter says no. */
static __always_inline int begin(struct fctx *c, __u32 op, long ret)
{
	struct vigil_ev_file *ev;
	struct task_struct *task = VIGIL_CUR_TASK(), *leader;
	__u64 id = VIGIL_PID_TGID(task);
	__u32 key = 0;

	c->f = get_filter();
	if (!op_wanted(c->f, op, id >> 32))
		return 0;
	c->s = bpf_map_lookup_elem(&file_heap, &key);
	if (!c->s)
		return 0;
	c->task = task;
	c->regs = task_regs_typed(task);
	c->off = 0;
	ev = &c->s->ev;
	ev->hdr.type = VIGIL_EV_FILE;
	ev->hdr.pid = id >> 32;
	ev->hdr.tid = (__u32)id;
	leader = VT_RD(task, group_leader);
	ev->start_ktime = VT_RD(leader, start_time);
	ev->op = op;
	ev->fflags = 0;
	ev->ret = ret;
	ev->flags = 0;
	ev->mode = 0;
	ev->imode = 0;
	ev->path_len = 0;
	ev->name_len = 0;
	ev->path2_len = 0;
	ev->name2_len = 0;
	ev->mnt_id = 0;
	ev->size = 0;
	return 1;
}

/* Append the resolved path p; returns its length, 0 with err set on failure. */
static __always_inline __u32 put_path(struct fctx *c, const struct path *p, __u16 *fflags,
				      __u16 err, __u16 trunc_flag, int fast)
{
	struct task_struct *task = c->task;	/* (not inside VT_RD: a CO-RE read) */
	struct fs_struct *fs = VT_RD(task, fs);
	int n, trunc = 0;

	n = copy_path(p, &fs->root, &c->s->tail[c->off & TAIL_MASK], &trunc, fast);
	if (trunc)
		*fflags |= trunc_flag;
	if (n <= 0) {
		*fflags |= err;
		return 0;
	}
	c->off += n;
	return n;
}

/* Append the user string u; returns its length (NUL excluded). */
static __always_inline __u32 put_user(struct fctx *c, const char *u, __u16 *fflags, __u16 err)
{
	long n;

	n = bpf_probe_read_user_str(&c->s->tail[c->off & TAIL_MASK], VIGIL_PATH_MAX + 1, u);
	if (n <= 0) {
		*fflags |= err;
		return 0;
	}
	n -= 1;
	c->off += n;
	return n;
}

/*
 * Append the file behind fd as the first operand (path, resolved); also
 * records its i_mode. Returns 0, or -1 when fd has no file. fast: copy_path's
 * fast walk (the opens, the hot path).
 */
static __always_inline int put_fd(struct fctx *c, int fd, int fast)
{
	struct vigil_ev_file *ev = &c->s->ev;
	struct file *f = fd_file_typed(c->task, fd);
	struct inode *ino;
	__u16 ff = ev->fflags;

	if (!f) {
		ev->fflags |= VIGIL_F_ERROR;
		return -1;
	}
	f = VP_CAST(f, struct file);
	ino = VP_RD(f, f_inode);
	ev->imode = VP_RD(ino, i_mode);
	ev->mnt_id = path_mnt_id(&f->f_path);
	if (c->f && c->f->prefixes && path_in_bind(&f->f_path))
		ff |= VIGIL_F_LATE;
	ev->path_len = put_path(c, &f->f_path, &ff, VIGIL_F_ERROR, VIGIL_F_TRUNC, fast);
	if (ev->path_len)
		ff |= VIGIL_F_RESOLVED;
	ev->fflags = ff;
	return ev->path_len ? 0 : -1;
}

/* Whether the n bytes at b are those of p. */
static __always_inline int starts(const __u8 *b, const char *p, int n)
{
#pragma clang loop unroll(full)
	for (int i = 0; i < n; i++)
		if (b[i] != (__u8)p[i])
			return 0;
	return 1;
}

/*
 * An absolute string through a magic link to one of the task's fds:
 * "/proc/self/fd/N", "/proc/thread-self/fd/N" or "/dev/fd/N", alone or
 * followed by "/rest". fd N is still open at syscall exit, so the kernel's
 * walk resolves it as it would a dirfd (the collector could not: by the time
 * it reads the record the fd may be closed). Returns 0 (not one), 1 (*dfd =
 * N, *u = rest: relative to N) or 2 (*dfd = N: the fd's file itself).
 */
static __always_inline int fd_magic(struct fctx *c, long n, const char **u, int *dfd)
{
	__u8 *b = c->s->key.data;	/* the string's head, read by put_operand */
	int skip, fd = 0, i;
	__u8 ch;

	if (n < 10)
		return 0;
	if (starts(b, "/proc/self/fd/", 14))
		skip = 14;
	else if (starts(b, "/proc/thread-self/fd/", 21))
		skip = 21;
	else if (starts(b, "/dev/fd/", 8))
		skip = 8;
	else
		return 0;
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++) {
		ch = b[(skip + i) & 31];
		if (ch < '0' || ch > '9')
			break;
		fd = fd * 10 + (ch - '0');
	}
	ch = b[(skip + i) & 31];
	if (i == 0 || (ch != '/' && ch != 0))
		return 0;
	*dfd = fd;
	if (ch == 0)
		return 2;
	*u += skip + i + 1;
	return 1;
}

/*
 * Append a (dirfd, user string) operand: the resolved directory (unless the
 * string is absolute) then the string. second selects path2/name2.
 */
static __always_inline void put_operand(struct fctx *c, int dfd, const char *u, int second)
{
	struct vigil_ev_file *ev = &c->s->ev;
	struct file *f;
	const struct path *dir = NULL;
	__u16 ff = ev->fflags;
	__u32 plen = 0, nlen;
	char first = 0;

	/* the collector looks path operations up again (failed opens it does not) */
	if (!second && c->f && c->f->root_mnt && ev->op > VIGIL_OP_CREAT) {
		struct task_struct *task = c->task;
		struct fs_struct *fs = VT_RD(task, fs);
		struct vfsmount *rm = VP_RD(&fs->root, mnt);

		if (rm && path_mnt_id(&fs->root) == c->f->root_mnt &&
		    VP_RD(&fs->root, dentry) == VP_RD(rm, mnt_root))
			ff |= VIGIL_F_OURROOT;
	}
	/* the head of the string, once: its first byte, and /proc/self/fd/N (key.data
	 * is free until finish() judges the prefix) */
	long head = bpf_probe_read_user_str(c->s->key.data, 32, u);

	first = head > 0 ? (char)c->s->key.data[0] : 0;
	if (first == '/') {
		int magic = fd_magic(c, head, &u, &dfd);

		if (magic == 2 && !second) { /* the fd's file itself, as ftruncate would */
			ev->fflags = ff;
			put_fd(c, dfd, 0);
			return;
		}
		if (magic == 1)
			first = 0; /* relative to fd N ("N//x" is "N/x": joined lexically) */
	}
	if (first != '/') {
		if (dfd == AT_FDCWD) {
			struct task_struct *task = c->task;

			dir = &VT_RD(task, fs)->pwd;
		} else {
			f = fd_file_typed(c->task, dfd);
			if (f)
				dir = &VP_CAST(f, struct file)->f_path;
		}
		if (dir && !second) {
			ev->mnt_id = path_mnt_id(dir);
			if (c->f && c->f->prefixes && path_in_bind(dir))
				ff |= VIGIL_F_LATE;
		}
		if (dir)
			plen = put_path(c, dir, &ff, second ? VIGIL_F_ERROR2 : VIGIL_F_ERROR,
					second ? VIGIL_F_TRUNC2 : VIGIL_F_TRUNC, 0);
		else
			ff |= second ? VIGIL_F_ERROR2 : VIGIL_F_ERROR;
		if (plen)
			ff |= second ? VIGIL_F_DIR2 : VIGIL_F_DIR;
	}
	nlen = put_user(c, u, &ff, second ? VIGIL_F_NAME2_ERROR : VIGIL_F_NAME_ERROR);
	if (second) {
		ev->path2_len = plen;
		ev->name2_len = nlen;
	} else {
		ev->path_len = plen;
		ev->name_len = nlen;
	}
	ev->fflags = ff;
}

/*
 * Whether the event's first operand is under a configured prefix: the tail
 * starts with it (resolved path, directory, or an absolute user string), or
 * its path was truncated.
 * A directory gets its "/" so that "/etc/" matches "/etc" + "shadow".
 */
static __always_inline int prefix_ok(struct fctx *c)
{
	struct vigil_ev_file *ev = &c->s->ev;
	__u32 n = ev->path_len ? ev->path_len : ev->name_len;

	/* a path that lost its leading part cannot be judged: sent (a deep tree
	 * must not hide a file from the filter) */
	if (ev->fflags & (VIGIL_F_TRUNC | VIGIL_F_LATE))
		return 1;
	if ((c->f->prefixes & VIGIL_PFX_WRITES) && ev->op <= VIGIL_OP_CREAT &&
	    (ev->flags & (O_ACCMODE_WRITE | O_CREAT_TRUNC)))
		return 1;
	if (n > VIGIL_PREFIX_LEN - 1)
		n = VIGIL_PREFIX_LEN - 1;
	if (n == 0)
		return 0;
	if (n <= 8 * VIGIL_COPY_WORDS)
		copy_block(c->s->key.data, (const char *)c->s->tail);
	else
		bpf_probe_read_kernel(c->s->key.data, n & (VIGIL_PREFIX_LEN - 1), c->s->tail);
	if (ev->fflags & VIGIL_F_DIR)
		c->s->key.data[n++ & (VIGIL_PREFIX_LEN - 1)] = '/';
	c->s->key.prefixlen = n * 8;
	return bpf_map_lookup_elem(&prefix_allow, &c->s->key) != NULL;
}

/* Send the event built in c. */
static __always_inline void finish(struct fctx *c)
{
	__u64 size = sizeof(struct vigil_ev_file) + c->off;

	if (size > sizeof(struct vigil_ev_file) + sizeof(c->s->tail))
		return;
	if (c->f && c->f->prefixes && !prefix_ok(c))
		return;
	/* the time is taken once the event is known to be sent */
	c->s->ev.hdr.ktime = bpf_ktime_get_ns();
	c->s->ev.hdr.size = size;
	emit_rec(&c->s->ev, size, VIGIL_EV_FILE);
}

/* An open: resolved from the new fd when it succeeded, else the user's string. */
static __always_inline int do_open(struct fctx *c, int dfd, const char *name, __u32 flags,
				   __u32 mode, long ret)
{
	c->s->ev.flags = flags;
	c->s->ev.mode = mode;
	if (ret < 0 || put_fd(c, ret, 1) < 0) {
		c->off = 0;
		c->s->ev.path_len = 0;
		put_operand(c, dfd, name, 0);
	}
	finish(c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int vigil_openat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_OPENAT, ctx->ret))
		return 0;
	return do_open(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 3), ARG(&c, 4),
		       ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int vigil_open(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_OPEN, ctx->ret))
		return 0;
	return do_open(&c, AT_FDCWD, (const char *)ARG(&c, 1), ARG(&c, 2), ARG(&c, 3),
		       ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int vigil_creat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_CREAT, ctx->ret))
		return 0;
	return do_open(&c, AT_FDCWD, (const char *)ARG(&c, 1), O_CREAT_WRONLY_TRUNC,
		       ARG(&c, 2), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int vigil_openat2(struct sys_exit_ctx *ctx)
{
	struct open_how how = {};
	struct fctx c;

	if (!begin(&c, VIGIL_OP_OPENAT2, ctx->ret))
		return 0;
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG(&c, 3));
	return do_open(&c, ARG(&c, 1), (const char *)ARG(&c, 2), how.flags, how.mode, ctx->ret);
}

/* A path operation's operand is judged by the collector (VIGIL_F_LATE). */
static __always_inline void late(struct fctx *c)
{
	if (c->f && c->f->prefixes)
		c->s->ev.fflags |= VIGIL_F_LATE;
}

/* A one-operand path operation (unlink, rmdir, truncate, chmod, setxattr). */
static __always_inline int do_path1(struct fctx *c, int dfd, const char *name, __u32 flags)
{
	c->s->ev.flags = flags;
	late(c);
	put_operand(c, dfd, name, 0);
	finish(c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int vigil_unlink(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_UNLINK, ctx->ret))
		return 0;
	return do_path1(&c, AT_FDCWD, (const char *)ARG(&c, 1), 0);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int vigil_unlinkat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_UNLINKAT, ctx->ret))
		return 0;
	return do_path1(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 3));
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int vigil_rmdir(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_RMDIR, ctx->ret))
		return 0;
	return do_path1(&c, AT_FDCWD, (const char *)ARG(&c, 1), 0);
}

/* A two-operand path operation (rename, link). */
static __always_inline int do_path2(struct fctx *c, int dfd1, const char *n1, int dfd2,
				    const char *n2, __u32 flags)
{
	c->s->ev.flags = flags;
	late(c);
	put_operand(c, dfd1, n1, 0);
	put_operand(c, dfd2, n2, 1);
	finish(c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_rename")
int vigil_rename(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_RENAME, ctx->ret))
		return 0;
	return do_path2(&c, AT_FDCWD, (const char *)ARG(&c, 1), AT_FDCWD,
			(const char *)ARG(&c, 2), 0);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int vigil_renameat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_RENAMEAT, ctx->ret))
		return 0;
	return do_path2(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 3),
			(const char *)ARG(&c, 4), 0);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int vigil_renameat2(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_RENAMEAT2, ctx->ret))
		return 0;
	return do_path2(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 3),
			(const char *)ARG(&c, 4), ARG(&c, 5));
}

SEC("tracepoint/syscalls/sys_exit_link")
int vigil_link(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_LINK, ctx->ret))
		return 0;
	return do_path2(&c, AT_FDCWD, (const char *)ARG(&c, 1), AT_FDCWD,
			(const char *)ARG(&c, 2), 0);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int vigil_linkat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_LINKAT, ctx->ret))
		return 0;
	return do_path2(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 3),
			(const char *)ARG(&c, 4), ARG(&c, 5));
}

/* symlink: the target is a string stored as is, the new link an operand. */
static __always_inline int do_symlink(struct fctx *c, const char *target, int dfd,
				      const char *linkpath)
{
	__u16 ff = c->s->ev.fflags;

	c->s->ev.name_len = put_user(c, target, &ff, VIGIL_F_NAME_ERROR);
	c->s->ev.fflags = ff;
	late(c);
	put_operand(c, dfd, linkpath, 1);
	finish(c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int vigil_symlink(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_SYMLINK, ctx->ret))
		return 0;
	return do_symlink(&c, (const char *)ARG(&c, 1), AT_FDCWD, (const char *)ARG(&c, 2));
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int vigil_symlinkat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_SYMLINKAT, ctx->ret))
		return 0;
	return do_symlink(&c, (const char *)ARG(&c, 1), ARG(&c, 2), (const char *)ARG(&c, 3));
}

SEC("tracepoint/syscalls/sys_exit_truncate")
int vigil_truncate(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_TRUNCATE, ctx->ret))
		return 0;
	c.s->ev.size = ARG(&c, 2);
	return do_path1(&c, AT_FDCWD, (const char *)ARG(&c, 1), 0);
}

SEC("tracepoint/syscalls/sys_exit_ftruncate")
int vigil_ftruncate(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_FTRUNCATE, ctx->ret))
		return 0;
	c.s->ev.size = ARG(&c, 2);
	put_fd(&c, ARG(&c, 1), 0);
	finish(&c);
	return 0;
}

/* Whether a chmod to mode is sent: setuid/setgid always, others on request. */
static __always_inline int chmod_wanted(__u32 mode)
{
	struct vigil_filter *f = get_filter();

	return (mode & (S_ISUID | S_ISGID)) || (f && f->chmod_all);
}

SEC("tracepoint/syscalls/sys_exit_chmod")
int vigil_chmod(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_CHMOD, ctx->ret) || !chmod_wanted(ARG(&c, 2)))
		return 0;
	c.s->ev.mode = ARG(&c, 2);
	return do_path1(&c, AT_FDCWD, (const char *)ARG(&c, 1), 0);
}

SEC("tracepoint/syscalls/sys_exit_fchmodat")
int vigil_fchmodat(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_FCHMODAT, ctx->ret) || !chmod_wanted(ARG(&c, 3)))
		return 0;
	c.s->ev.mode = ARG(&c, 3);
	return do_path1(&c, ARG(&c, 1), (const char *)ARG(&c, 2), 0);
}

SEC("tracepoint/syscalls/sys_exit_fchmodat2")
int vigil_fchmodat2(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_FCHMODAT2, ctx->ret) || !chmod_wanted(ARG(&c, 3)))
		return 0;
	c.s->ev.mode = ARG(&c, 3);
	return do_path1(&c, ARG(&c, 1), (const char *)ARG(&c, 2), ARG(&c, 4));
}

SEC("tracepoint/syscalls/sys_exit_fchmod")
int vigil_fchmod(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_FCHMOD, ctx->ret) || !chmod_wanted(ARG(&c, 2)))
		return 0;
	c.s->ev.mode = ARG(&c, 2);
	put_fd(&c, ARG(&c, 1), 0);
	finish(&c);
	return 0;
}

/* Whether the user string at u is "security.capability". */
static __always_inline int is_capability_xattr(const char *u)
{
	static const char want[] = "security.capability";
	char buf[sizeof(want)] = {};

	if (bpf_probe_read_user_str(buf, sizeof(buf), u) != sizeof(want))
		return 0;
#pragma unroll
	for (int i = 0; i < (int)sizeof(want); i++)
		if (buf[i] != want[i])
			return 0;
	return 1;
}

/* setxattr/lsetxattr: path operand; only security.capability is sent. */
static __always_inline int do_setxattr(struct sys_exit_ctx *ctx, __u32 op)
{
	struct fctx c;

	if (!begin(&c, op, ctx->ret) || !is_capability_xattr((const char *)ARG(&c, 2)))
		return 0;
	return do_path1(&c, AT_FDCWD, (const char *)ARG(&c, 1), 0);
}

SEC("tracepoint/syscalls/sys_exit_setxattr")
int vigil_setxattr(struct sys_exit_ctx *ctx)
{
	return do_setxattr(ctx, VIGIL_OP_SETXATTR);
}

SEC("tracepoint/syscalls/sys_exit_lsetxattr")
int vigil_lsetxattr(struct sys_exit_ctx *ctx)
{
	return do_setxattr(ctx, VIGIL_OP_LSETXATTR);
}

SEC("tracepoint/syscalls/sys_exit_fsetxattr")
int vigil_fsetxattr(struct sys_exit_ctx *ctx)
{
	struct fctx c;

	if (!begin(&c, VIGIL_OP_FSETXATTR, ctx->ret) ||
	    !is_capability_xattr((const char *)ARG(&c, 2)))
		return 0;
	put_fd(&c, ARG(&c, 1), 0);
	finish(&c);
	return 0;
}
