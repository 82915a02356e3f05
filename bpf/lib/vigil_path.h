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
 */
#ifndef VIGIL_BPF_PATH_H
#define VIGIL_BPF_PATH_H

#include "events.h"
#include "vigil_fd.h"

#define PATHBUF_END	(VIGIL_PATH_MAX + 1)
#define PATHBUF_SZ	(PATHBUF_END + VIGIL_NAME_MAX + 1)

struct path_scratch {
	char buf[PATHBUF_SZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_heap SEC(".maps");

/* State of one path walk, shared with the bpf_loop callback. */
struct walk {
	struct path_scratch *ps;	/* looked up once per walk */
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;		/* path is pathbuf[off, PATHBUF_END) */
	__u32 done;		/* reached the root: path is complete */
	__u32 trunc;		/* ran out of room: leading part lost */
};

/* struct mount that embeds a vfsmount (container_of, CO-RE relocated). */
static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

/* Mount id of path p's mount (the one /proc/PID/mountinfo shows), 0 if unreadable. */
static __always_inline __u32 path_mnt_id(const struct path *p)
{
	struct vfsmount *m = BPF_CORE_READ(p, mnt);

	if (!m)
		return 0;
	return (__u32)BPF_CORE_READ(real_mount(m), mnt_id);
}

/* Prepend "/" + the dentry's name; returns 0, or 1 when it does not fit. */
static __always_inline int prepend_name(struct walk *w, struct dentry *d)
{
	struct path_scratch *ps = w->ps;
	const unsigned char *name;
	__u32 len;
	int newoff;

	if (!ps)
		return 1;
	name = BPF_CORE_READ(d, d_name.name);
	len = BPF_CORE_READ(d, d_name.len);
	if (len > VIGIL_NAME_MAX)
		len = VIGIL_NAME_MAX;
	newoff = (int)w->off - (int)len - 1;
	if (newoff < 1) {
		w->trunc = 1;
		return 1;
	}
	ps->buf[newoff & VIGIL_PATH_MAX] = '/';
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
static long walk_step(__u64 idx, void *data)
{
	struct walk *w = data;
	struct dentry *d = w->dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt, *mp;

	if (d == w->root_dentry && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root) {
		mp = BPF_CORE_READ(mnt, mnt_parent);
		if (!mp)		/* unreadable: reported as truncated */
			return 1;
		if (mp == mnt) {	/* root of the mount tree */
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = (struct vfsmount *)((void *)mp +
				bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if (d == parent || !parent) {
		/*
		 * A root dentry that is not its mount's root: a pseudo file
		 * (memfd, anonymous inode, socket). d_path shows "/<name>";
		 * so do we.
		 */
		if (!prepend_name(w, d))
			w->done = 1;
		return 1;
	}
	if (prepend_name(w, d))
		return 1;
	w->dentry = parent;
	return 0;
}

/*
 * Resolve path p (relative to root) and copy it to dst, which must have
 * room for VIGIL_PATH_MAX bytes. Returns the length copied; sets *trunc when
 * the leading part was lost, returns -1 when no byte could be produced.
 */
static __always_inline int copy_path(const struct path *p, const struct path *root,
				     __u8 *dst, int *trunc)
{
	struct path_scratch *ps;
	struct walk w = {};
	__u32 key = 0, len;

	ps = bpf_map_lookup_elem(&path_heap, &key);
	if (!ps)
		return -1;
	w.dentry = BPF_CORE_READ(p, dentry);
	w.vfsmnt = BPF_CORE_READ(p, mnt);
	w.root_dentry = BPF_CORE_READ(root, dentry);
	w.root_mnt = BPF_CORE_READ(root, mnt);
	if (!w.dentry || !w.vfsmnt)
		return -1;
	w.ps = ps;
	w.mnt = real_mount(w.vfsmnt);
	w.off = PATHBUF_END;
	bpf_loop(VIGIL_PATH_DEPTH, walk_step, &w, 0);
	*trunc = w.trunc || !w.done;
	if (w.off >= PATHBUF_END) {
		if (*trunc)
			return -1;
		/* the root itself */
		w.off = PATHBUF_END - 1;
		ps->buf[w.off & VIGIL_PATH_MAX] = '/';
	}
	len = PATHBUF_END - w.off;
	if (len > VIGIL_PATH_MAX)
		return -1;
	if (bpf_probe_read_kernel(dst, len & VIGIL_PATH_MAX,
				  &ps->buf[w.off & VIGIL_PATH_MAX]))
		return -1;
	return len;
}

#endif /* VIGIL_BPF_PATH_H */
