/* enforce.h — the layout of the enforcer's BPF maps and report records, shared by
 * bpf/enforce.bpf.c and enforcer/ (and the qemu test binary in tests/vm/).
 *
 * Rules live in one of two slots; conf.slot says which slot the programs read. The
 * enforcer fills the idle slot completely, then flips conf.slot with one map update,
 * then clears the old slot: every operation sees either the old or the new rule set.
 *
 * Matching: a rule is one bit (0..ENF_MAX_RULES-1) of a slot. Destination CIDRs,
 * paths, path prefixes and binaries are entries of one LPM trie whose key starts with
 * (slot, kind); each entry's value is the mask of rules it satisfies, already ORed with
 * the masks of every shorter entry that is a prefix of it (the longest match is all
 * the kernel returns). Exact paths are stored with their terminating NUL, prefixes
 * without, so one lookup answers both. */
#ifndef VIGIL_ENFORCE_H
#define VIGIL_ENFORCE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ENF_MAX_RULES 64        /* rules per slot: one bit each in a __u64 */
#define ENF_LPM_DATA 256        /* the kernel's LPM_DATA_SIZE_MAX */
#define ENF_LPM_HDR 2           /* slot, kind */
#define ENF_PATH_MAX (ENF_LPM_DATA - ENF_LPM_HDR - 1) /* 253 bytes + NUL */
#define ENF_NAME_MAX 64         /* policy names in rules and reports */
#define ENF_MAX_PORTS 16
#define ENF_MAX_UIDS 8
#define ENF_LPM_ENTRIES 65536   /* both slots together */
#define ENF_SCOPE_ENTRIES 16384
#define ENF_KILL_ENTRIES 4096

/* Rule kinds; also the second byte of an LPM key. */
enum enf_kind {
	ENF_K_NONE = 0,
	ENF_K_FILE = 1,     /* file_open: path of the opened file */
	ENF_K_EXEC = 2,     /* exec: path of the new binary */
	ENF_K_NET4 = 3,     /* connect: IPv4 destination */
	ENF_K_NET6 = 4,     /* connect: IPv6 destination */
	ENF_K_BIN = 5,      /* the acting process's binary (rule field binaries) */
	ENF_K_NOTBIN = 6,   /* exempt binaries (not_binaries): acting binary for file_open,
			     * the new binary for exec */
	ENF_K_UNLINK = 7,   /* lsm/path_unlink: path of the removed name */
	ENF_K_RENAME = 8,   /* lsm/path_rename: old and new path */
	ENF_K_CHMOD = 9,    /* lsm/path_chmod: path of the file */
	ENF_K_SETUID = 10,  /* lsm/task_fix_setuid: uids = the new euid (no paths) */
	ENF_K_MODULE = 11,  /* lsm/kernel_read_file (path of the .ko), kernel_load_data */
	ENF_K_MOUNT = 12,   /* lsm/sb_mount: path of the mount point */
	ENF_K_FPERM = 13,   /* not an LPM kind: slotconf.kind[] of file_open rules with an
			     * access (read/write), also checked by lsm/file_permission */
	ENF_K_N
};

/* What a matching rule does (enf_rule.action). */
enum enf_action { ENF_A_OVERRIDE = 1, ENF_A_SIGKILL = 2, ENF_A_SIGNAL = 3 };

/* Which programs carry a rule (enf_rule.tier). */
enum enf_tier { ENF_T_NONE = 0, ENF_T_LSM = 1, ENF_T_SIGKILL = 2, ENF_T_CGROUP = 3 };

/* enf_rule.flags */
#define ENF_F_MONITOR 0x01      /* report "would have blocked", block nothing */
#define ENF_F_NEED_BIN 0x02     /* the acting binary must be one of binaries */
#define ENF_F_NOTBIN 0x04       /* not_binaries exempt */
#define ENF_F_READ 0x08         /* access: read (none of READ/WRITE: any access) */
#define ENF_F_WRITE 0x10
#define ENF_F_TCP 0x20          /* protocols (none of TCP/UDP: any) */
#define ENF_F_UDP 0x40

/* Value of the rules array, index slot * ENF_MAX_RULES + bit. */
struct enf_rule {
	__u8 kind;
	__u8 action;
	__u8 tier;
	__u8 flags;
	__u8 nports;            /* 0: any port */
	__u8 nuids;             /* 0: any euid */
	__u16 pad0;
	__s32 err;              /* ENF_A_OVERRIDE: the errno (positive) */
	__u32 sig;              /* ENF_A_SIGKILL / ENF_A_SIGNAL */
	__u16 port_lo[ENF_MAX_PORTS];
	__u16 port_hi[ENF_MAX_PORTS];
	__u32 uids[ENF_MAX_UIDS];
	char policy[ENF_NAME_MAX];
};

/* Value of the slotconf array, index slot. */
struct enf_slotconf {
	__u64 scope_all;        /* rules whose policy applies everywhere */
	__u64 scope_host;       /* rules that apply to cgroups absent from the scope map */
	__u64 any[ENF_K_N];     /* rules of a kind with no path / CIDR constraint */
	__u64 kind[ENF_K_N];    /* every rule of a kind: no rule, no path walk */
	__u64 scoped;           /* the scope hash has entries in this slot: walk the
				 * current cgroup's ancestors (else scope_all|scope_host) */
};

/* The single entry of the conf array. */
struct enf_conf {
	__u32 slot;             /* the slot in force */
	__u32 monitor_all;      /* global monitor switch */
	__u64 generation;       /* policy_set generation in force (for a restarted enforcer) */
	__u32 kill_active;      /* the kill maps may hold entries: else sys_enter returns at once */
	__u32 pad;
};

/* LPM key: prefixlen counts bits of data[], header included. */
struct enf_lpm_key {
	__u32 prefixlen;
	__u8 data[ENF_LPM_DATA];  /* slot, kind, then address or path bytes */
};

/* Key of the scope hash: a cgroup id in a slot. Value: enf_scope_val. A scope covers
 * the cgroup's whole subtree (a pod's containers and their sub-cgroups): the programs
 * look up the current cgroup and each of its ancestors, up to ENF_SCOPE_LEVELS. */
struct enf_scope_key {
	__u64 cgid;
	__u32 slot;
	__u32 pad;
};

#define ENF_SCOPE_LEVELS 16     /* ancestor levels walked (root = level 0) */

/* Rules in scope in a cgroup and below it: the union over every listed ancestor;
 * host-scoped rules hold unless the deepest listed ancestor is a pod. */
struct enf_scope_val {
	__u64 rules;            /* rules whose policy lists this cgroup (ids, pod selectors) */
	__u32 pod;              /* a pod's cgroup: host-scoped rules stop here */
	__u32 pad;
};

/* Value of the kill maps (key: tgid, or cgroup id). */
struct enf_kill {
	__u64 start_ktime;      /* tgid map: the process's start time; 0 in the cgroup map */
	__u32 sig;
	__u32 pad;
	char policy[ENF_NAME_MAX];
};

/* The task iterator's question and answer. In: tgid. Out: found, start (the
 * thread-group leader's start_time). */
struct enf_lookup {
	__u32 tgid;
	__u32 found;
	__u64 start;
};

/* Hooks named in reports. */
enum enf_hook {
	ENF_H_CONNECT4 = 1, ENF_H_CONNECT6, ENF_H_SENDMSG4, ENF_H_SENDMSG6,
	ENF_H_SYS_OPENAT, ENF_H_SYS_OPENAT2, ENF_H_EXEC,
	ENF_H_LSM_FILE_OPEN, ENF_H_LSM_BPRM, ENF_H_LSM_CONNECT, ENF_H_KILLMAP,
	ENF_H_SYS_OPEN, ENF_H_SYS_CREAT, ENF_H_SYS_OPEN_BY_HANDLE,
	ENF_H_LSM_UNLINK, ENF_H_LSM_RENAME, ENF_H_LSM_CHMOD, ENF_H_LSM_SETUID,
	ENF_H_LSM_READ_FILE, ENF_H_LSM_LOAD_DATA, ENF_H_LSM_MOUNT, ENF_H_LSM_FPERM
};

/* What was done (enf_event.done). */
enum enf_done { ENF_D_OVERRIDE = 1, ENF_D_SIGKILL, ENF_D_SIGNAL, ENF_D_MONITOR };

/* One report record in the events ring buffer. */
struct enf_event {
	__u64 ktime;
	__u64 start_ktime;
	__u64 cgid;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 err;              /* override: the errno returned */
	__u32 sig;
	__u8 hook;
	__u8 done;
	__u8 kind;
	__u8 family;            /* 4 or 6 for network hooks */
	__u16 port;             /* host order */
	__u8 proto;             /* IPPROTO_* */
	__u8 pad;
	__u8 addr[16];
	char comm[16];
	char policy[ENF_NAME_MAX];
	char path[ENF_PATH_MAX + 1];
	__u8 pad2[6];
};

_Static_assert(sizeof(struct enf_rule) == 16 + 4 * ENF_MAX_PORTS + 4 * ENF_MAX_UIDS + ENF_NAME_MAX,
	       "enf_rule layout");
_Static_assert(sizeof(struct enf_event) % 8 == 0, "enf_event is 8-byte aligned");
_Static_assert(sizeof(struct enf_lpm_key) == 4 + ENF_LPM_DATA, "enf_lpm_key layout");

#endif
