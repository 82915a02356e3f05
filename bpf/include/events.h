/* SPDX-License-Identifier: GPL-2.0 */
/*
 * events.h - fixed-layout records written by the BPF programs into the ring
 * buffer and read by the collector. Shared verbatim by both sides: every
 * field has an explicit width, padding is explicit, and the layout is pinned
 * by _Static_asserts below. Kernel structs never appear here.
 *
 * Every record starts with struct vigil_ev_hdr; hdr.size is the size of the
 * whole record as written to the ring (fixed part + variable tail).
 *
 * Exec record tail (immediately after struct vigil_ev_exec, no padding):
 *   binary[binary_len]  resolved absolute path of the executed file, no NUL
 *   cwd[cwd_len]        resolved current working directory, no NUL
 *   args[args_len]      argv[1..], each argument followed by a NUL; when
 *                       VIGIL_EXEC_TRUNC_ARGS is set the last argument may be
 *                       cut and lack its NUL
 *
 * Limits (enforced by the BPF side, checked again by the collector):
 *   binary_len, cwd_len <= VIGIL_PATH_MAX (4095, the kernel's PATH_MAX
 *     minus the NUL). A longer path, or one with more than VIGIL_PATH_DEPTH
 *     components, keeps its last components (the leading part is lost) and
 *     sets VIGIL_EXEC_TRUNC_FILENAME / VIGIL_EXEC_ERROR_CWD_PATH.
 *   args_len <= VIGIL_ARGS_MAX (4096); more sets VIGIL_EXEC_TRUNC_ARGS.
 *
 * Paths are resolved relative to the exec'ing task's root (like d_path):
 * inside a chroot or container they are the paths the process sees.
 */
#ifndef VIGIL_EVENTS_H
#define VIGIL_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Record types (hdr.type); also the index into the lost/emitted counters. */
#define VIGIL_EV_EXEC		1
#define VIGIL_EV_EXIT		2
#define VIGIL_EV_CLONE		3
#define VIGIL_EV_MAX		8	/* counter array size; types are < this */

#define VIGIL_PATH_MAX		4095
#define VIGIL_PATH_DEPTH	1024	/* path components walked at most */
#define VIGIL_NAME_MAX		255	/* longest single component */
#define VIGIL_ARGS_MAX		4096
#define VIGIL_EXEC_TAIL_MAX	(2 * (VIGIL_PATH_MAX + 1) + VIGIL_ARGS_MAX)

/*
 * Exec flags (vigil_ev_exec.flags). Values follow Tetragon's
 * bpf/lib/process.h; the collector turns them into Tetragon's flag strings.
 */
#define VIGIL_EXEC_EXECVE		0x00000001 /* "execve" (always set) */
#define VIGIL_EXEC_TRUNC_FILENAME	0x00000008 /* "truncFilename" */
#define VIGIL_EXEC_TRUNC_ARGS		0x00000010 /* "truncArgs" */
#define VIGIL_EXEC_ERROR_FILENAME	0x00000100 /* "errorFilename" */
#define VIGIL_EXEC_ERROR_ARGS		0x00000200 /* "errorArgs" */
#define VIGIL_EXEC_ROOT_CWD		0x00001000 /* "rootcwd": cwd is "/" */
#define VIGIL_EXEC_ERROR_CWD		0x00002000 /* "errorCWD" */
#define VIGIL_EXEC_ERROR_CWD_PATH	0x00400000 /* "errorPathResolutionCwd": cwd truncated */

/* Common header of every record: 24 bytes. */
struct vigil_ev_hdr {
	__u32 type;		/* VIGIL_EV_* */
	__u32 size;		/* whole record, header and tail included */
	__u64 ktime;		/* bpf_ktime_get_ns() at the event, CLOCK_MONOTONIC */
	__u32 pid;		/* thread-group id */
	__u32 tid;		/* thread id */
};

/* VIGIL_EV_EXEC: fixed part is 88 bytes, then the tail described above. */
struct vigil_ev_exec {
	struct vigil_ev_hdr hdr;	/* tid: the thread that called exec */
	__u32 ppid;			/* real_parent tgid */
	__u32 flags;			/* VIGIL_EXEC_* */
	__u64 pktime;			/* real_parent->group_leader->start_time */
	__u64 start_ktime;		/* group_leader->start_time */
	__u64 cgroup_id;		/* bpf_get_current_cgroup_id() */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 auid;			/* loginuid; 4294967295 = unset */
	__u16 binary_len;
	__u16 cwd_len;
	__u16 args_len;
	__u16 pad0;
	__u32 pad1;
};

/* VIGIL_EV_EXIT: the last thread of a thread group exited. 40 bytes. */
struct vigil_ev_exit {
	struct vigil_ev_hdr hdr;	/* tid: the last thread to exit */
	__u32 code;			/* raw wait status: (code >> 8) & 0xff
					 * exit status, code & 0x7f signal */
	__u32 pad0;
	__u64 start_ktime;		/* group_leader->start_time */
};

/* VIGIL_EV_CLONE: a new process (not a thread) was forked. 48 bytes. */
struct vigil_ev_clone {
	struct vigil_ev_hdr hdr;	/* pid = tid = child tgid; ktime = now */
	__u32 ppid;			/* tgid of the forking process */
	__u32 pad0;
	__u64 start_ktime;		/* child->start_time */
	__u64 pktime;			/* parent->group_leader->start_time */
};

#define VIGIL_OFF(t, f) __builtin_offsetof(t, f)

_Static_assert(sizeof(struct vigil_ev_hdr) == 24, "hdr size");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, ktime) == 8, "hdr.ktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, pid) == 16, "hdr.pid");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, tid) == 20, "hdr.tid");

_Static_assert(sizeof(struct vigil_ev_exec) == 88, "exec size");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, ppid) == 24, "exec.ppid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, pktime) == 32, "exec.pktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, start_ktime) == 40, "exec.start_ktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, cgroup_id) == 48, "exec.cgroup_id");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, uid) == 56, "exec.uid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, auid) == 72, "exec.auid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, binary_len) == 76, "exec.binary_len");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, args_len) == 80, "exec.args_len");

_Static_assert(sizeof(struct vigil_ev_exit) == 40, "exit size");
_Static_assert(VIGIL_OFF(struct vigil_ev_exit, code) == 24, "exit.code");
_Static_assert(VIGIL_OFF(struct vigil_ev_exit, start_ktime) == 32, "exit.start_ktime");

_Static_assert(sizeof(struct vigil_ev_clone) == 48, "clone size");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, pktime) == 40, "clone.pktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, ppid) == 24, "clone.ppid");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, start_ktime) == 32, "clone.start_ktime");

_Static_assert(VIGIL_PATH_MAX < 65536 && VIGIL_ARGS_MAX < 65536, "lengths fit u16");

#endif /* VIGIL_EVENTS_H */
