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
#define VIGIL_EV_FILE		4	/* struct vigil_ev_file */
#define VIGIL_EV_NET		5	/* struct vigil_ev_net */
#define VIGIL_EV_PRIV		6	/* struct vigil_ev_priv */
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

/* Namespaces of an exec record (vigil_ev_exec.ns[]), in this order. */
#define VIGIL_NS_UTS		0
#define VIGIL_NS_IPC		1
#define VIGIL_NS_MNT		2
#define VIGIL_NS_PID		3
#define VIGIL_NS_PID_CHILDREN	4
#define VIGIL_NS_NET		5
#define VIGIL_NS_TIME		6
#define VIGIL_NS_TIME_CHILDREN	7
#define VIGIL_NS_CGROUP		8
#define VIGIL_NS_USER		9
#define VIGIL_NS_COUNT		10

/* vigil_ev_exec.xflags: what the collector turns into extra fields. */
#define VIGIL_EXEC_X_SECUREEXEC	0x0001	/* bprm->secureexec: privileges raised */
#define VIGIL_EXEC_X_STDIN_SOCK	0x0002	/* fd 0 is a socket after the exec */
#define VIGIL_EXEC_X_STDOUT_SOCK 0x0004	/* fd 1 likewise */
#define VIGIL_EXEC_X_STDERR_SOCK 0x0008	/* fd 2 likewise */
#define VIGIL_EXEC_X_PROCFS	0x0010	/* from the start-up scan, not an exec */
#define VIGIL_EXEC_X_KTHREAD	0x0020	/* start-up scan: a kernel thread */

/* Common header of every record: 24 bytes. */
struct vigil_ev_hdr {
	__u32 type;		/* VIGIL_EV_* */
	__u32 size;		/* whole record, header and tail included */
	__u64 ktime;		/* bpf_ktime_get_ns() at the event, CLOCK_MONOTONIC */
	__u32 pid;		/* thread-group id */
	__u32 tid;		/* thread id */
};

/* VIGIL_EV_EXEC: fixed part is 192 bytes, then the tail described above. */
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
	__u32 nspid;			/* tgid in the task's own pid namespace */
	/* after the exec: the new credentials and the executed file */
	__u64 cap_permitted;		/* capability bit masks (bit n = capability n) */
	__u64 cap_effective;
	__u64 cap_inheritable;
	__u32 ns[VIGIL_NS_COUNT];	/* namespace inode numbers, VIGIL_NS_* order */
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u64 ino;			/* executed file: inode number */
	__u32 nlink;			/* its link count (0: deleted or memfd) */
	__u32 i_uid;			/* its owner */
	__u32 i_gid;
	__u16 i_mode;			/* its mode (S_ISUID/S_ISGID bits) */
	__u16 xflags;			/* VIGIL_EXEC_X_* */
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
	__u32 nspid;			/* child tgid in its own pid namespace */
	__u64 start_ktime;		/* child->start_time */
	__u64 pktime;			/* parent->group_leader->start_time */
};


/*
 * File operations (vigil_ev_file.op). The collector names each after the
 * kernel function Tetragon users hook for the same thing.
 */
#define VIGIL_OP_OPEN		1	/* security_file_open */
#define VIGIL_OP_OPENAT		2
#define VIGIL_OP_OPENAT2	3
#define VIGIL_OP_CREAT		4
#define VIGIL_OP_UNLINK		5	/* security_path_unlink */
#define VIGIL_OP_UNLINKAT	6	/* flags & AT_REMOVEDIR: security_path_rmdir */
#define VIGIL_OP_RMDIR		7	/* security_path_rmdir */
#define VIGIL_OP_RENAME		8	/* security_path_rename */
#define VIGIL_OP_RENAMEAT	9
#define VIGIL_OP_RENAMEAT2	10
#define VIGIL_OP_LINK		11	/* security_path_link */
#define VIGIL_OP_LINKAT		12
#define VIGIL_OP_SYMLINK	13	/* security_path_symlink */
#define VIGIL_OP_SYMLINKAT	14
#define VIGIL_OP_TRUNCATE	15	/* security_path_truncate */
#define VIGIL_OP_FTRUNCATE	16
#define VIGIL_OP_CHMOD		17	/* security_path_chmod */
#define VIGIL_OP_FCHMOD		18
#define VIGIL_OP_FCHMODAT	19
#define VIGIL_OP_FCHMODAT2	20
#define VIGIL_OP_SETXATTR	21	/* security_inode_setxattr */
#define VIGIL_OP_LSETXATTR	22
#define VIGIL_OP_FSETXATTR	23
#define VIGIL_OP_FILE_MAX	24

/* Network operations (vigil_ev_net.op). */
#define VIGIL_OP_CONNECT	32	/* security_socket_connect */
#define VIGIL_OP_ACCEPT		33	/* security_socket_accept */
#define VIGIL_OP_ACCEPT4	34
#define VIGIL_OP_LISTEN		35	/* security_socket_listen */
#define VIGIL_OP_BIND		36	/* security_socket_bind */
#define VIGIL_OP_DUP2		37	/* sys_dup2: a socket put on fd 0, 1 or 2 */
#define VIGIL_OP_DUP3		38	/* sys_dup3: likewise */
#define VIGIL_OP_EXEC_STDIO	39	/* sys_execve: exec with a socket on fd 0 or 1 */
#define VIGIL_OP_NET_MAX	40

/* Privilege and escape operations (vigil_ev_priv.op), priv.bpf.c. */
#define VIGIL_OP_SETUID		40	/* sys_setuid */
#define VIGIL_OP_SETREUID	41
#define VIGIL_OP_SETRESUID	42
#define VIGIL_OP_SETFSUID	43
#define VIGIL_OP_SETGID		44
#define VIGIL_OP_SETREGID	45
#define VIGIL_OP_SETRESGID	46
#define VIGIL_OP_SETFSGID	47
#define VIGIL_OP_CAPSET		48	/* sys_capset */
#define VIGIL_OP_PTRACE		49	/* sys_ptrace (attach, seize, traceme, poke*, set*regs) */
#define VIGIL_OP_VM_WRITEV	50	/* sys_process_vm_writev */
#define VIGIL_OP_INIT_MODULE	51	/* sys_init_module */
#define VIGIL_OP_FINIT_MODULE	52	/* sys_finit_module */
#define VIGIL_OP_MOUNT		53	/* sys_mount */
#define VIGIL_OP_UNSHARE	54	/* sys_unshare */
#define VIGIL_OP_SETNS		55	/* sys_setns */
#define VIGIL_OP_BPF		56	/* sys_bpf (map create, prog load/attach, link) */
#define VIGIL_OP_MEMFD_CREATE	57	/* sys_memfd_create */
#define VIGIL_OP_PIVOT_ROOT	58	/* sys_pivot_root */
#define VIGIL_OP_CLONE		59	/* sys_clone into new namespaces: the child's return */
#define VIGIL_OP_CLONE3		60	/* sys_clone3 likewise */
#define VIGIL_OP_IO_URING_SETUP	61	/* sys_io_uring_setup: what it submits is not seen */
#define VIGIL_OP_PRIV_MAX	62

/*
 * VIGIL_EV_PRIV: 136 bytes, then up to three user strings (no NULs, each at
 * most VIGIL_PRIV_STR_MAX bytes; lengths slen[0..2]): mount source, target,
 * fstype; pivot_root new_root, put_old; memfd_create and bpf names; module
 * parameters. Credentials and capabilities are the task's after the call.
 * arg[] per op (raw syscall arguments unless said):
 *   set*uid/set*gid: the ids (uid_t as u32); capset: -; ptrace: request, pid;
 *   process_vm_writev: pid; init_module: len; finit_module: fd, flags;
 *   mount: flags; unshare: flags; setns: fd, nstype, the fd's namespace
 *   type (CLONE_NEW*, 0 unknown), its inode; bpf: cmd, the attr's first u32
 *   (prog/map type, target fd); memfd_create: flags; clone, clone3: - (the
 *   child's record, sent only from a new process that does not share its
 *   parent's namespaces; what changed is in the VIGIL_PRIV_X_NS block).
 * xflags VIGIL_PRIV_X_NS (a successful unshare, setns, or such a clone): the
 * strings are followed by __u32 ns[VIGIL_NS_COUNT], the task's namespace
 * inodes after the call in the exec record's order, to be compared with the
 * ones recorded at its exec.
 */
#define VIGIL_PRIV_X_NS		0x0001
#define VIGIL_PRIV_STR_MAX	255
struct vigil_ev_priv {
	struct vigil_ev_hdr hdr;
	__u64 start_ktime;		/* group_leader->start_time */
	__u16 op;			/* VIGIL_OP_* */
	__u16 slen[3];			/* tail string lengths */
	__s32 ret;			/* syscall result */
	__u32 xflags;			/* VIGIL_PRIV_X_* */
	__u64 arg[4];
	__u32 uid, euid, suid, fsuid;	/* after the call */
	__u32 gid, egid, sgid, fsgid;
	__u64 cap_effective;		/* after the call */
	__u64 cap_permitted;
	__u64 cap_inheritable;
};

/* vigil_ev_file.fflags */
#define VIGIL_F_RESOLVED	0x0001	/* path is the file itself, from the kernel object */
#define VIGIL_F_DIR		0x0002	/* path is the directory name is relative to */
#define VIGIL_F_TRUNC		0x0004	/* path lost its leading part */
#define VIGIL_F_ERROR		0x0008	/* path could not be resolved */
#define VIGIL_F_NAME_ERROR	0x0010	/* the user string could not be read */
#define VIGIL_F_LATE		0x0020	/* the prefix filter could not judge the path in
					 * the kernel: the collector judges it (below) */
#define VIGIL_F_OURROOT		0x0040	/* the task's root is the collector's (the root of
					 * mount filter.root_mnt): its user strings name
					 * the same files there */
#define VIGIL_F_RESOLVED2	0x0100	/* the same four for path2/name2 */
#define VIGIL_F_DIR2		0x0200
#define VIGIL_F_TRUNC2		0x0400
#define VIGIL_F_ERROR2		0x0800
#define VIGIL_F_NAME2_ERROR	0x1000

/*
 * VIGIL_EV_FILE: 72 bytes, then the tail (no padding, no NULs):
 *   path[path_len]    kernel-resolved absolute path: of the file itself
 *                     (VIGIL_F_RESOLVED: from the opened file or the fd),
 *                     or of the directory name is relative to (VIGIL_F_DIR:
 *                     the dirfd or the cwd); empty when name is absolute
 *   name[name_len]    the user's string, as passed (empty for a successful
 *                     open, whose path is resolved)
 *   path2, name2      second operand: rename/link new name; for symlink,
 *                     name is the link target (never resolved) and
 *                     path2/name2 the new link
 * Each string is at most VIGIL_PATH_MAX bytes.
 */
struct vigil_ev_file {
	struct vigil_ev_hdr hdr;
	__u64 start_ktime;		/* group_leader->start_time */
	__u16 op;			/* VIGIL_OP_* */
	__u16 fflags;			/* VIGIL_F_* */
	__s32 ret;			/* syscall result: fd, 0 or -errno */
	__u32 flags;			/* open flags, rename/at flags */
	__u32 mode;			/* open/creat/chmod mode argument */
	__u32 imode;			/* i_mode of the resolved file, 0 = unknown */
	__u16 path_len;
	__u16 name_len;
	__u16 path2_len;
	__u16 name2_len;
	__u32 mnt_id;			/* first operand's mount (struct mount.mnt_id, as
					 * /proc/PID/mountinfo numbers it), 0 = unknown */
	__u64 size;			/* truncate length */
};
#define VIGIL_FILE_TAIL_MAX	(4 * (VIGIL_PATH_MAX + 1))

/*
 * In-kernel filter, the single value of the "filter" array map shared by all
 * objects; the collector writes it at start and may rewrite it any time.
 * Bit n of ops enables VIGIL_OP n (file and network operations); an event of
 * a disabled operation, or of ignore_tgid (the collector itself), is not
 * built or sent. chmod_all = 0 sends only chmods that set S_ISUID/S_ISGID.
 * cgroups != 0: file, network and exec-stdio events are sent only for tasks
 * whose cgroup v2 id is a key of the "cgroup_allow" hash map (at most
 * VIGIL_CGROUPS_MAX); process exec/exit/clone are always sent (the process
 * tree must stay whole).
 * prefixes != 0: file events are sent only when their path (the first
 * operand: the resolved file, or the directory joined with the user's string
 * when unresolved) starts with a key of the "prefix_allow" LPM trie
 * (struct vigil_prefix_key; at most VIGIL_PREFIXES_MAX prefixes of at most
 * VIGIL_PREFIX_LEN - 1 bytes, compared on the path's first VIGIL_PREFIX_LEN - 1
 * bytes). A truncated path (VIGIL_F_TRUNC) cannot be judged and is sent.
 * Nor can a path the file's own name would not show: one reached through a
 * bind mount of a subtree or a file (its mount's root is not its
 * filesystem's), and the operand of a path operation (unlink, rename, link,
 * symlink, truncate, chmod, setxattr by name: the user's string may pass
 * symlinks). Those are sent with VIGIL_F_LATE, and the collector judges them
 * against the same prefixes once it has resolved them (collector/README.md).
 */
/* filter.prefixes: the prefix filter is on (an empty trie then passes no
 * path), and opens for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC) pass it
 * whatever their path (a policy watches writes anywhere). */
#define VIGIL_PFX_ON		1
#define VIGIL_PFX_WRITES	2
#define VIGIL_CGROUPS_MAX	1024
#define VIGIL_PREFIXES_MAX	256
#define VIGIL_PREFIX_LEN	256
struct vigil_filter {
	__u64 ops;
	__u32 ignore_tgid;
	__u32 chmod_all;
	__u32 cgroups;
	__u32 prefixes;			/* VIGIL_PFX_* */
	__u32 binaries;			/* VIGIL_BIN_* */
	__u32 root_mnt;			/* the collector's root mount id (VIGIL_F_OURROOT) */
};

/*
 * filter.binaries: file, network, privilege and exec-stdio events only of
 * processes running one of the binaries in the "bin_match" hash
 * (VIGIL_BIN_ONLY), or of all others (VIGIL_BIN_EXCEPT). A binary is the
 * path the kernel resolved at exec (the exported process.binary), zero-padded
 * to VIGIL_BIN_LEN bytes; a longer path never matches. Which processes run
 * one is the "bin_procs" hash (tgid, at most VIGIL_BIN_PROCS_MAX): set at exec,
 * inherited at fork, removed at exit or at an exec of another binary; the
 * collector adds the processes already running at start (/proc/PID/exe).
 */
#define VIGIL_BIN_ALL		0
#define VIGIL_BIN_ONLY		1
#define VIGIL_BIN_EXCEPT	2
#define VIGIL_BINARIES_MAX	256
#define VIGIL_BIN_PROCS_MAX	32768
#define VIGIL_BIN_LEN		256
struct vigil_bin_key {
	char path[VIGIL_BIN_LEN];
};

/* Key of the prefix_allow LPM trie: prefixlen in bits, then the bytes. */
struct vigil_prefix_key {
	__u32 prefixlen;
	__u8 data[VIGIL_PREFIX_LEN];
};

/* vigil_ev_net.nflags */
#define VIGIL_N_SOCK		0x0001	/* family..daddr describe the socket */
#define VIGIL_N_UADDR		0x0002	/* ua_* hold the user's sockaddr */

/*
 * VIGIL_EV_NET: 112 bytes, then an optional tail of at most
 * VIGIL_UNIX_PATH_MAX bytes (length = hdr.size - 112): the sun_path of an
 * AF_UNIX user sockaddr (connect, bind), as passed (an abstract name starts
 * with a NUL). Addresses are in network byte order (IPv4 in the first 4
 * bytes), ports in host byte order.
 */
#define VIGIL_UNIX_PATH_MAX	108
struct vigil_ev_net {
	struct vigil_ev_hdr hdr;
	__u64 start_ktime;		/* group_leader->start_time */
	__u16 op;			/* VIGIL_OP_* */
	__u16 nflags;			/* VIGIL_N_* */
	__s32 ret;			/* syscall result */
	__u16 family;			/* sk_family */
	__u16 type;			/* sk_type */
	__u16 protocol;			/* sk_protocol */
	__u16 state;			/* sk_state (TCP_*) */
	__u16 sport;
	__u16 dport;
	__s32 fd;			/* socket fd; dup2/3: newfd */
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 ua_family;		/* connect/bind: the user's sockaddr */
	__u16 ua_port;
	__u32 arg;			/* listen: backlog; dup2/3: oldfd */
	__u8 ua_addr[16];
};

#define VIGIL_OFF(t, f) __builtin_offsetof(t, f)

_Static_assert(sizeof(struct vigil_ev_hdr) == 24, "hdr size");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, ktime) == 8, "hdr.ktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, pid) == 16, "hdr.pid");
_Static_assert(VIGIL_OFF(struct vigil_ev_hdr, tid) == 20, "hdr.tid");

_Static_assert(sizeof(struct vigil_ev_exec) == 192, "exec size");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, cap_permitted) == 88, "exec.cap_permitted");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, ns) == 112, "exec.ns");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, suid) == 152, "exec.suid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, ino) == 168, "exec.ino");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, i_mode) == 188, "exec.i_mode");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, ppid) == 24, "exec.ppid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, pktime) == 32, "exec.pktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, start_ktime) == 40, "exec.start_ktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, cgroup_id) == 48, "exec.cgroup_id");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, uid) == 56, "exec.uid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, auid) == 72, "exec.auid");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, binary_len) == 76, "exec.binary_len");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, args_len) == 80, "exec.args_len");
_Static_assert(VIGIL_OFF(struct vigil_ev_exec, nspid) == 84, "exec.nspid");

_Static_assert(sizeof(struct vigil_ev_exit) == 40, "exit size");
_Static_assert(VIGIL_OFF(struct vigil_ev_exit, code) == 24, "exit.code");
_Static_assert(VIGIL_OFF(struct vigil_ev_exit, start_ktime) == 32, "exit.start_ktime");

_Static_assert(sizeof(struct vigil_ev_clone) == 48, "clone size");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, pktime) == 40, "clone.pktime");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, ppid) == 24, "clone.ppid");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, nspid) == 28, "clone.nspid");
_Static_assert(VIGIL_OFF(struct vigil_ev_clone, start_ktime) == 32, "clone.start_ktime");

_Static_assert(sizeof(struct vigil_ev_file) == 72, "file size");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, op) == 32, "file.op");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, ret) == 36, "file.ret");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, imode) == 48, "file.imode");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, path_len) == 52, "file.path_len");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, mnt_id) == 60, "file.mnt_id");
_Static_assert(VIGIL_OFF(struct vigil_ev_file, size) == 64, "file.size");

_Static_assert(sizeof(struct vigil_filter) == 32, "filter size");
_Static_assert(sizeof(struct vigil_ev_net) == 112, "net size");
_Static_assert(sizeof(struct vigil_ev_priv) == 136, "priv size");
_Static_assert(VIGIL_OFF(struct vigil_ev_priv, arg) == 48, "priv.arg");
_Static_assert(VIGIL_OFF(struct vigil_ev_priv, uid) == 80, "priv.uid");
_Static_assert(VIGIL_OFF(struct vigil_ev_priv, cap_effective) == 112, "priv.cap_effective");
_Static_assert(VIGIL_OFF(struct vigil_ev_net, family) == 40, "net.family");
_Static_assert(VIGIL_OFF(struct vigil_ev_net, fd) == 52, "net.fd");
_Static_assert(VIGIL_OFF(struct vigil_ev_net, saddr) == 56, "net.saddr");
_Static_assert(VIGIL_OFF(struct vigil_ev_net, ua_family) == 88, "net.ua_family");
_Static_assert(VIGIL_OFF(struct vigil_ev_net, ua_addr) == 96, "net.ua_addr");

_Static_assert(VIGIL_PATH_MAX < 65536 && VIGIL_ARGS_MAX < 65536, "lengths fit u16");

#endif /* VIGIL_EVENTS_H */
