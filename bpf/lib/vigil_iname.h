/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A dentry's inline name copied with plain loads (typed builds, bpf_rdonly_cast):
 * shared by the collector's path walk (vigil_path.h) and the enforcer's
 * (enforce.bpf.c). Short names, most components of a path, live inside the
 * dentry; longer ones elsewhere, for a helper to copy.
 */
#ifndef VIGIL_BPF_INAME_H
#define VIGIL_BPF_INAME_H

/* struct dentry before 6.14, whose inline name was an array of its own. */
struct dentry___iname {
	unsigned char d_iname[32];
} __attribute__((preserve_access_index));

/*
 * Copy d's name (len bytes at name) to buf + pos, 8 bytes at a time, when it is
 * the dentry's inline name; the bytes after it that the last word overwrites are
 * put back. cur is the address of d as the walk keeps it (a number: compared with
 * name's). buf has room for 8 bytes past end_max; mask (a power of two minus one)
 * bounds the stores for the verifier. 0, or -1 when the name is elsewhere.
 */
static __always_inline int vigil_copy_iname(char *buf, __u32 mask, __u32 end_max,
					    unsigned long cur, struct dentry *d,
					    const unsigned char *name, __u32 len, __u32 pos)
{
	unsigned long off, size;
	__u32 end = pos + len;
	__u64 saved;

	if (bpf_core_field_exists(d->d_shortname)) {
		off = bpf_core_field_offset(d->d_shortname);
		size = bpf_core_field_size(d->d_shortname);
	} else if (bpf_core_field_exists(((struct dentry___iname *)d)->d_iname)) {
		off = bpf_core_field_offset(((struct dentry___iname *)d)->d_iname);
		size = bpf_core_field_size(((struct dentry___iname *)d)->d_iname);
	} else {
		return -1;
	}
	if ((unsigned long)name != cur + off || len >= size || end > end_max)
		return -1;
	saved = *(__u64 *)&buf[end];
#pragma unroll
	for (int k = 0; k < 5; k++) {
		if (8 * k >= size || 8 * k >= len)
			break;
		*(__u64 *)&buf[(pos + 8 * k) & mask] = *(const __u64 *)((const void *)d + off + 8 * k);
	}
	*(__u64 *)&buf[end] = saved;
	return 0;
}

#endif /* VIGIL_BPF_INAME_H */
