/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_path.h - resolve a struct path to an absolute string the way d_path
 * does (bpf_d_path is refused in tracepoint programs): climb dentries, cross
 * mounts to their mountpoints, stop at the task's root. Also: the struct file
 * behind a file descriptor of the current task.
 *
 * A path is built right to left in a per-CPU scratch ending at PATHBUF_END,
 * so the finished path is pathbuf[off, PATHBUF_END). The extra
 * VIGIL_NAME_MAX + 1 bytes let the verifier prove that a component copied at
 * any offset below PATHBUF_END stays inside the buffer.
 *
 * Reading the kernel's structures: a bpf_probe_read_kernel helper call costs
 * tens of nanoseconds in our VMs, and a walk made of them (4-5 per component)
 * was most of the cost of an open event. With VIGIL_PATH_CAST defined (kernels
 * with the bpf_rdonly_cast kfunc, 6.2+; the collector checks the kernel's BTF)
 * every pointer of the walk is turned into a typed one (the kfunc is inlined
 * into a register move) and each field is a plain load the verifier guards
 * with an exception entry (PROBE_MEM): only the names are copied by a helper.
 * Without it, the fields are read with BPF_CORE_READ as before. Short names
 * (the dentry's inline name) are copied with plain loads too.
 */
#ifndef VIGIL_BPF_PATH_H
#define VIGIL_BPF_PATH_H

#include "events.h"
#include "vigil_fd.h"

#ifdef VIGIL_PATH_CAST
extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;
/* p as a typed, read-only kernel pointer of type T. */
#define VP_CAST(p, T)	((T *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(T)))
/* Field f of the (cast) kernel pointer p. */
#define VP_RD(p, f)	((p)->f)
#else
#define VP_CAST(p, T)	((T *)(p))
#define VP_RD(p, f)	BPF_CORE_READ(p, f)
#endif

#ifdef VIGIL_PATH_CAST
/*
 * fd_file, typed and without a helper call: the slot fds[fd] is read as the
 * first member (a struct file *) of a struct kiocb cast on it, since
 * bpf_rdonly_cast needs a struct type and the verifier types no array of
 * pointers. A bad slot reads as NULL (the load is guarded).
 */
static __always_inline struct file *fd_file_typed(struct task_struct *task, int fd)
{
	struct file **slot = fd_slot(task, fd);

	return slot ? VP_CAST(slot, struct kiocb)->ki_filp : NULL;
}

/*
 * The user registers of task (typed), without bpf_task_pt_regs: they sit at a
 * fixed offset from the task's stack page (THREAD_SIZE less the stack padding
 * and sizeof(struct pt_regs), all fixed when the kernel was built), which the
 * object learns from its first bpf_task_pt_regs call. One helper call less per
 * event (a call and its return cost ~20 ns each where returns go through a
 * mitigation thunk, as on this machine's AMD CPUs). CPUs racing to learn it
 * write the same value.
 */
__u64 vigil_regs_off = 0;
__u64 vigil_regs_at = 0;	/* the helper's answer, stored and loaded back as a
				 * number: kernels before 6.13 or so refuse arithmetic
				 * on the typed pointer itself */

static __always_inline struct pt_regs *task_regs_typed(struct task_struct *task)
{
	unsigned long stack = (unsigned long)task->stack;

	if (!vigil_regs_off) {
		vigil_regs_at = (unsigned long)bpf_task_pt_regs(task);
		vigil_regs_off = *(volatile __u64 *)&vigil_regs_at - stack;
	}
	return VP_CAST(stack + vigil_regs_off, struct pt_regs);
}
#else
#define fd_file_typed(task, fd) fd_file(task, fd)
#define task_regs_typed(task) VIGIL_TASK_REGS(task)
#endif

#define PATHBUF_END	(VIGIL_PATH_MAX + 1)
#define PATHBUF_SZ	(PATHBUF_END + VIGIL_NAME_MAX + 1)

/*
 * State of one path walk. It lives in the per-CPU scratch, not on the stack:
 * kernels before 6.7 verify a bpf_loop callback once, with the caller's stack
 * as it is before the first call, so constants there (off = PATHBUF_END,
 * done = 0) let the verifier hard-wire branches the later steps need (a 6.1
 * kernel lost the truncation of deep paths that way). Map values are never
 * known to it. Pointers are numbers here; VP_CAST types them where it can.
 */
struct walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;		/* path is buf[off, PATHBUF_END) */
	__u32 done;		/* reached the root: path is complete */
	__u32 trunc;		/* ran out of room: leading part lost */
	__u32 pad;
};

struct path_scratch {
	char buf[PATHBUF_SZ];
	struct walk w;		/* after buf: users of buf from its start keep it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_heap SEC(".maps");

/* bpf_loop's context must be on the stack: it carries the scratch only. */
struct walk_ctx {
	struct path_scratch *ps;
};

/* struct mount that embeds a vfsmount (container_of, CO-RE relocated). */
static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

/* Mount id of path p's mount (the one /proc/PID/mountinfo shows), 0 if unreadable. */
static __always_inline __u32 path_mnt_id(const struct path *p)
{
	struct vfsmount *m = VP_RD(p, mnt);
	struct mount *mnt;

	if (!m)
		return 0;
	mnt = VP_CAST(real_mount(m), struct mount);
	return (__u32)VP_RD(mnt, mnt_id);
}

/* Whether p's mount shows a subtree of its filesystem (a bind mount of a
 * directory or a file): the path through it is not the file's own. */
static __always_inline int path_in_bind(const struct path *p)
{
	struct vfsmount *m = VP_RD(p, mnt);
	struct super_block *sb;

	if (!m)
		return 0;
	sb = VP_RD(m, mnt_sb);
	return sb && VP_RD(m, mnt_root) != VP_RD(sb, s_root);
}

#ifdef VIGIL_PATH_CAST
#include "vigil_iname.h"

/* The name of d, the walk's current dentry, copied to ps->buf + pos with plain
 * loads when it is inline (vigil_iname.h); -1 when a helper must copy it. */
#define copy_inline_name(ps, d, name, len, pos)					\
	vigil_copy_iname((ps)->buf, VIGIL_PATH_MAX, PATHBUF_END, (unsigned long)(ps)->w.dentry,	\
			 (d), (name), (len), (pos))
#else
#define copy_inline_name(ps, d, name, len, pos) (-1)
#endif

/* Prepend "/" + the dentry's name; returns 0, or 1 when it does not fit. */
static __always_inline int prepend_name(struct path_scratch *ps, struct dentry *d)
{
	struct walk *w = &ps->w;
	const unsigned char *name;
	__u32 len;
	int newoff;
	name = VP_RD(d, d_name.name);
	len = VP_RD(d, d_name.len);
	if (len > VIGIL_NAME_MAX)
		len = VIGIL_NAME_MAX;
	newoff = (int)w->off - (int)len - 1;
	if (newoff < 1) {
		w->trunc = 1;
		return 1;
	}
	ps->buf[newoff & VIGIL_PATH_MAX] = '/';
	if (copy_inline_name(ps, d, name, len, newoff + 1))
		bpf_probe_read_kernel(&ps->buf[(newoff + 1) & VIGIL_PATH_MAX],
				      len & VIGIL_NAME_MAX, name);
	w->off = newoff;
	return 0;
}

/*
 * One step of the walk, modelled on prepend_path() in fs/d_path.c: climb
 * one dentry, or cross from a mount's root to its mountpoint in the parent
 * mount. Returns 1 to stop the loop.
 */
static __always_inline long walk_step_body(void *data)
{
	struct path_scratch *ps = ((struct walk_ctx *)data)->ps;
	struct walk *w;
	struct dentry *d, *parent, *mnt_root;
	struct vfsmount *vfsmnt;
	struct mount *mnt, *mp;

	if (!ps)
		return 1;
	w = &ps->w;
	d = VP_CAST(w->dentry, struct dentry);
	vfsmnt = VP_CAST(w->vfsmnt, struct vfsmount);
	mnt = VP_CAST(w->mnt, struct mount);

	if ((void *)w->dentry == (void *)w->root_dentry &&
	    (void *)w->vfsmnt == (void *)w->root_mnt) {
		w->done = 1;
		return 1;
	}
	mnt_root = VP_RD(vfsmnt, mnt_root);
	parent = VP_RD(d, d_parent);
	if ((void *)w->dentry == (void *)mnt_root) {
		mp = VP_RD(mnt, mnt_parent);
		if (!mp)		/* unreadable: reported as truncated */
			return 1;
		if ((void *)mp == (void *)w->mnt) {	/* root of the mount tree */
			w->done = 1;
			return 1;
		}
		w->dentry = VP_RD(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = (struct vfsmount *)((void *)mp +
				bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if ((void *)w->dentry == (void *)parent || !parent) {
		/*
		 * A root dentry that is not its mount's root: a pseudo file
		 * (memfd, anonymous inode, socket). d_path shows "/<name>";
		 * so do we.
		 */
		if (!prepend_name(ps, d))
			w->done = 1;
		return 1;
	}
	if (prepend_name(ps, d))
		return 1;
	w->dentry = parent;
	return 0;
}

/*
 * The walk's first VIGIL_WALK_FIRST steps, unrolled in a global function:
 * one call for a path of fewer components, where bpf_loop makes a callback
 * call per component (a call and its return cost ~20 ns each where returns go
 * through a mitigation thunk, as on this machine's AMD CPUs). The verifier
 * checks it once per program that calls it, ~10 ms each here, so only the hot
 * programs do (copy_path's fast: the opens). Its state is in the per-CPU
 * scratch, which copy_path fills before the call. Returns 1 when the walk
 * stopped (done, truncated or unreadable), 0 when it has further to go.
 *
 * Kernels without bpf_loop (before 5.17, e.g. 5.10) get VIGIL_NOLOOP_DEPTH
 * steps here and none after (5.10 refuses a back-edge after a call): a
 * deeper path is flagged truncated.
 */
#define VIGIL_NOLOOP_DEPTH	40
#ifdef VIGIL_PATH_NOLOOP
#define VIGIL_WALK_FIRST	VIGIL_NOLOOP_DEPTH
#else
#define VIGIL_WALK_FIRST	8
#endif

__noinline int vigil_walk_first(void)
{
	struct walk_ctx wc;
	__u32 key = 0;

	wc.ps = bpf_map_lookup_elem(&path_heap, &key);
	if (!wc.ps)
		return 1;
#pragma unroll
	for (int i = 0; i < VIGIL_WALK_FIRST; i++)
		if (walk_step_body(&wc))
			return 1;
	return 0;
}

#ifndef VIGIL_PATH_NOLOOP
/* One step of the rest of the walk as a bpf_loop callback. */
static long walk_step(__u64 idx, void *data)
{
	return walk_step_body(data);
}
#endif

/*
 * Copy len (at most 8 * VIGIL_COPY_WORDS) bytes from src to dst with plain loads: the
 * helper's call and return cost more than the copy of a short path (this was the
 * open's costliest helper call left). Whole blocks of 32, 64 or 128 bytes, so up to
 * 127 bytes past len are written (dst has room for VIGIL_PATH_MAX bytes; src is in a
 * scratch with that much readable after it: the path scratch's VIGIL_NAME_MAX + 1
 * bytes past PATHBUF_END, the file scratch's tail). A branch per word instead
 * multiplied the verifier's states (~15 % more instructions verified over the file
 * programs); copy_block, one block and no branch, is for code that every file
 * program has (the prefix filter's key).
 */
#define VIGIL_COPY_WORDS	16
#define COPY_BLOCK(dst, src, words)						\
	do {									\
		_Pragma("unroll")						\
		for (int k_ = 0; k_ < (words); k_++)				\
			*(__u64 *)((dst) + 8 * k_) = *(const __u64 *)((src) + 8 * k_);	\
	} while (0)

static __always_inline void copy_words(__u8 *dst, const char *src, __u32 len)
{
	if (len <= 32)
		COPY_BLOCK(dst, src, 4);
	else if (len <= 64)
		COPY_BLOCK(dst, src, 8);
	else
		COPY_BLOCK(dst, src, VIGIL_COPY_WORDS);
}

static __always_inline void copy_block(__u8 *dst, const char *src)
{
	COPY_BLOCK(dst, src, VIGIL_COPY_WORDS);
}

/*
 * Resolve path p (relative to root) and copy it to dst, which must have
 * room for VIGIL_PATH_MAX bytes. Returns the length copied; sets *trunc when
 * the leading part was lost, returns -1 when no byte could be produced.
 * fast (a constant): the first steps in vigil_walk_first, then bpf_loop; a short
 * path copied with plain loads.
 */
static __always_inline int copy_path(const struct path *p, const struct path *root,
				     __u8 *dst, int *trunc, int fast)
{
#ifndef VIGIL_PATH_NOLOOP
	struct walk_ctx wc;
#endif
	struct path_scratch *ps;
	struct walk *w;
	__u32 key = 0, len, off;

	ps = bpf_map_lookup_elem(&path_heap, &key);
	if (!ps)
		return -1;
	w = &ps->w;
	w->dentry = VP_RD(p, dentry);
	w->vfsmnt = VP_RD(p, mnt);
	w->root_dentry = VP_RD(root, dentry);
	w->root_mnt = VP_RD(root, mnt);
	if (!w->dentry || !w->vfsmnt)
		return -1;
	w->mnt = real_mount(w->vfsmnt);
	w->off = PATHBUF_END;
	w->done = 0;
	w->trunc = 0;
#ifdef VIGIL_PATH_NOLOOP
	vigil_walk_first();
#else
	wc.ps = ps;
	if (!fast)
		bpf_loop(VIGIL_PATH_DEPTH, walk_step, &wc, 0);
	else if (!vigil_walk_first())
		bpf_loop(VIGIL_PATH_DEPTH - VIGIL_WALK_FIRST, walk_step, &wc, 0);
#endif
	*trunc = w->trunc || !w->done;
	off = w->off;
	if (off >= PATHBUF_END) {
		if (*trunc)
			return -1;
		/* the root itself */
		off = PATHBUF_END - 1;
		ps->buf[off & VIGIL_PATH_MAX] = '/';
	}
	len = PATHBUF_END - off;
	if (len > VIGIL_PATH_MAX)
		return -1;
	if (fast && len <= 8 * VIGIL_COPY_WORDS) {
		copy_words(dst, &ps->buf[off & VIGIL_PATH_MAX], len);
		return len;
	}
	if (bpf_probe_read_kernel(dst, len & VIGIL_PATH_MAX, &ps->buf[off & VIGIL_PATH_MAX]))
		return -1;
	return len;
}

#endif /* VIGIL_BPF_PATH_H */
