// SPDX-License-Identifier: GPL-2.0
/*
 * enforce.bpf.c - the enforcer's kernel side: rule maps (see enforce.h) and
 * the programs that consult them, by tier:
 *
 *   Override   lsm/file_open, lsm/bprm_check_security, lsm/socket_connect
 *              return -errno (only where BPF LSM loads; the enforcer probes).
 *   Override   cgroup/connect4|6, cgroup/sendmsg4|6 on the cgroup v2 root:
 *   (network)  returning 0 makes connect()/sendmsg() fail with EPERM.
 *   Sigkill    sys_exit_openat|openat2 and sched_process_exec: the path is
 *              resolved from the opened file (not the user's string, so
 *              relative paths, symlinks and ".." cannot dodge a rule), and
 *              bpf_send_signal() kills the caller before it returns to user
 *              space. The open itself has happened; no byte was read.
 *   Kill map   raw_tp/sys_enter: a process (tgid + start time) or a whole
 *              cgroup listed by the enforcer gets its signal at its next
 *              syscall.
 *
 * Every block, kill and would-block is one record in the events ring buffer.
 *
 * The enforcer attaches the sigkill, kill-map and LSM programs only while a rule
 * (or a kill entry) needs them: an idle enforcer costs no syscall anything; only
 * the cgroup connect/sendmsg hooks stay attached (enforcer/README.md).
 *
 * More Override hooks (LSM): path_unlink, path_rename, path_chmod, sb_mount,
 * task_fix_setuid, kernel_read_file / kernel_load_data (modules), file_permission
 * (reads/writes of files already open, for rules with an access), socket_connect
 * (the policy's errno; the cgroup hook can only give EPERM).
 *
 * ENF_NO_BPF_LOOP (bpf/enforce_noloop.bpf.c): the same programs for kernels before
 * 5.17 without bpf_loop (and before 5.11 without bpf_get_current_task_btf): bounded
 * loops the verifier unrolls, paths of at most NOLOOP_DEPTH components.
 *
 * Typed loads (this file as it is; kernels with the bpf_rdonly_cast kfunc, 6.2+):
 * every pointer of the path walk, the fd table and the opened file is cast to its
 * BTF type, so each field is a plain load the verifier guards (PROBE_MEM) instead of
 * a bpf_probe_read_kernel call (tens of ns each in our VMs); only long names are
 * copied by a helper. ENF_NOCAST (bpf/enforce_nocast.bpf.c, 6.1) reads the same fields
 * with helpers; every build has every program, the enforcer picks the build
 * (enforcer_bpf.c). The open family stays on a syscall tracepoint each: one program at
 * the raw sys_exit would be handed the registers and skip the perf record, but it
 * runs for every syscall of the machine (measured: a 1-byte pread 1.017x with the
 * tracepoints attached, about 1.11x with a sys_exit program).
 */
#ifdef ENF_NO_BPF_LOOP
#define ENF_NOCAST 1
#endif
#ifndef ENF_NOCAST
#define ENF_CAST 1
#endif

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define FMODE_READ	0x1
#define FMODE_WRITE	0x2
#define SIGKILL		9

#define PATH_MAX_	4095
#define NAME_MAX_	255
#define PATH_DEPTH	1024
#define PATHBUF_END	(PATH_MAX_ + 1)
#define PATHBUF_SZ	(PATHBUF_END + NAME_MAX_ + 1)
#define MAY_WRITE_	0x2
#define MAY_READ_	0x4
#define NOLOOP_DEPTH	40

#ifdef ENF_NO_BPF_LOOP
/* 5.10's check_cfg refuses a loop whose head follows a call ("back-edge from insn
 * N to N+1"): the bounded-loop build unrolls every loop. */
#define NOLOOP_UNROLL	_Pragma("unroll")
#define CUR_TASK()	((struct task_struct *)bpf_get_current_task())
#else
#define NOLOOP_UNROLL
#define CUR_TASK()	bpf_get_current_task_btf()
#endif

#ifdef ENF_NO_BPF_LOOP
/* Field f of the current task or what hangs off it: helpers (an untyped task). */
#define T_RD(p, f)	BPF_CORE_READ(p, f)
#else
/* A typed task (bpf_get_current_task_btf, 5.11+): plain loads, even without the cast. */
#define T_RD(p, f)	((p)->f)
#endif

#ifdef ENF_CAST
extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;
/* p as a typed, read-only kernel pointer of type T (the kfunc becomes a move). */
#define E_CAST(p, T)	((T *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(T)))
/* Field f of a pointer E_CAST typed. */
#define E_RD(p, f)	((p)->f)
#else
#define E_CAST(p, T)	((T *)(p))
#define E_RD(p, f)	BPF_CORE_READ(p, f)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_conf);
} enf_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct enf_slotconf);
} enf_slotconf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * ENF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct enf_rule);
} enf_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ENF_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct enf_lpm_key);
	__type(value, __u64);
} enf_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENF_SCOPE_ENTRIES);
	__type(key, struct enf_scope_key);
	__type(value, struct enf_scope_val);
} enf_scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENF_KILL_ENTRIES);
	__type(key, __u32);
	__type(value, struct enf_kill);
} enf_killpid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENF_KILL_ENTRIES);
	__type(key, __u64);
	__type(value, struct enf_kill);
} enf_killcg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} enf_events SEC(".maps");

/*
 * Never read by a program: the enforcer updates it after flipping conf.slot, because
 * the kernel waits for every running program (synchronize_rcu) when a map-in-map
 * changes. After that no program can still be reading the old slot, so it can be
 * cleared: there is no moment where neither the old nor the new rules hold.
 */
struct enf_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct enf_sync_inner);
} enf_sync SEC(".maps");

/* The state of a path walk (dentry and mount chain, like d_path). */
struct walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;		/* the path is buf[off, PATHBUF_END) */
	__u32 done;
	__u32 trunc;
};

/* Per-CPU scratch: the LPM lookup key and the path being resolved. */
struct enf_scratch {
	struct enf_lpm_key key;
	char buf[PATHBUF_SZ];
	char save[ENF_PATH_MAX + 1];	/* the opened file's path while exe is resolved */
	/* The walk's state lives here in both builds: values in map memory are not
	 * tracked by the verifier, so each unrolled step of the bounded-loop build does
	 * not multiply its states, and kernels before 6.7, which verify a bpf_loop
	 * callback once with the caller's stack as it was (w.off a constant), cannot
	 * prune the callback's "does not fit" branch as dead. */
	struct walk w;
	__u64 last_wake;	/* ktime of this CPU's last forced wakeup for a monitor report */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_scratch);
} enf_heap SEC(".maps");

/* What one operation looks like to the rules. */
struct op {
	__u64 cand;		/* candidate rules */
	__u64 bin;		/* rules whose binaries list holds the acting binary */
	__u64 notbin;		/* rules whose not_binaries list holds the binary */
	__u32 uid;
	__u32 fmode;		/* file_open: FMODE_READ / FMODE_WRITE */
	__u32 proto;		/* connect: IPPROTO_* (0 unknown) */
	__u32 port;		/* connect: host order */
	__u32 tiers;		/* 1 << ENF_T_* of the rules this hook carries */
	__u32 kind;
};

/* The slot in force, or -1 when no rule set was ever installed. */
static __always_inline int cur_slot(__u32 *monitor_all)
{
	__u32 z = 0;
	struct enf_conf *c = bpf_map_lookup_elem(&enf_conf, &z);

	if (!c || !c->generation)
		return -1;
	*monitor_all = c->monitor_all;
	return c->slot & 1;
}

#ifdef ENF_NO_BPF_LOOP
/* 5.10's struct cgroup: ancestor_ids[level] is the id of the ancestor at that level
 * (replaced by ancestors[] in later kernels; CO-RE says which one runs). */
struct cgroup___v510 {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));
#endif

/* The id of the current cgroup's ancestor at level lvl (root: 0), or 0 past the
 * current level. tracing: called from a tracing or LSM program, where 5.10 has no
 * bpf_get_current_ancestor_cgroup_id (its cgroup programs have it): read from the
 * task's default-hierarchy cgroup there. */
static __always_inline __u64 cg_ancestor(int lvl, int tracing)
{
#ifdef ENF_NO_BPF_LOOP
	if (tracing && bpf_core_field_exists(struct cgroup___v510, ancestor_ids)) {
		struct task_struct *t = CUR_TASK();
		struct cgroup___v510 *cg = (void *)BPF_CORE_READ(t, cgroups, dfl_cgrp);
		__u64 id = 0;

		if (!cg || lvl > BPF_CORE_READ(cg, level))
			return 0;
		bpf_probe_read_kernel(&id, sizeof(id), (void *)cg +
				      bpf_core_field_offset(struct cgroup___v510, ancestor_ids) +
				      (lvl & 63) * sizeof(__u64));
		return id;
	}
#endif
	(void)tracing;
	return bpf_get_current_ancestor_cgroup_id(lvl);
}

/* Rules of this slot whose policy covers the current cgroup: listed cgroups cover
 * their whole subtree, so the current cgroup's ancestors are looked up from the root
 * down (cg_ancestor gives 0 past the current level). tracing: see cg_ancestor. */
static __always_inline __u64 scope_mask(struct enf_slotconf *sc, __u32 slot, int tracing)
{
	struct enf_scope_key k = { .slot = slot };
	struct enf_scope_val *v;
	__u64 rules = 0;
	int found = 0, pod = 0, lvl;

	if (!sc->scoped)
		return sc->scope_all | sc->scope_host;
	NOLOOP_UNROLL
	for (lvl = 0; lvl < ENF_SCOPE_LEVELS; lvl++) {
		k.cgid = cg_ancestor(lvl, tracing);
		if (!k.cgid)
			break;
		v = bpf_map_lookup_elem(&enf_scope, &k);
		if (v) {
			rules |= v->rules;
			found = 1;
			pod = v->pod;
		}
	}
	if (lvl == ENF_SCOPE_LEVELS) {
		/* Deeper than the walk: the current cgroup itself still counts. */
		k.cgid = bpf_get_current_cgroup_id();
		v = bpf_map_lookup_elem(&enf_scope, &k);
		if (v) {
			rules |= v->rules;
			found = 1;
			pod = v->pod;
		}
	}
	return sc->scope_all | rules | (found && pod ? 0 : sc->scope_host);
}

/* LPM lookup of (slot, kind, bytes[0..len)) with the trailing NUL when exact. */
static __always_inline __u64 lpm_bits(struct enf_scratch *s, __u32 slot, __u32 kind,
				      __u32 nbytes)
{
	__u64 *v;

	if (nbytes > ENF_LPM_DATA - ENF_LPM_HDR)
		nbytes = ENF_LPM_DATA - ENF_LPM_HDR;
	s->key.data[0] = slot;
	s->key.data[1] = kind;
	s->key.prefixlen = (ENF_LPM_HDR + nbytes) * 8;
	v = bpf_map_lookup_elem(&enf_lpm, &s->key);
	return v ? *v : 0;
}

/* Does rule r accept the details of op? (its LPM part already matched) */
static __always_inline int rule_ok(struct enf_rule *r, struct op *o, __u32 bit)
{
	__u64 m = 1ULL << bit;
	int i, ok;

	if (!((1U << r->tier) & o->tiers) || r->kind != o->kind)
		return 0;
	if ((r->flags & ENF_F_NEED_BIN) && !(o->bin & m))
		return 0;
	if ((r->flags & ENF_F_NOTBIN) && (o->notbin & m))
		return 0;
	if (r->flags & (ENF_F_READ | ENF_F_WRITE)) {
		ok = ((r->flags & ENF_F_READ) && (o->fmode & FMODE_READ)) ||
		     ((r->flags & ENF_F_WRITE) && (o->fmode & FMODE_WRITE));
		if (!ok)
			return 0;
	}
	if (r->flags & (ENF_F_TCP | ENF_F_UDP)) {
		ok = ((r->flags & ENF_F_TCP) && o->proto == IPPROTO_TCP) ||
		     ((r->flags & ENF_F_UDP) && o->proto == IPPROTO_UDP);
		if (!ok)
			return 0;
	}
	if (r->nports) {
		ok = 0;
		NOLOOP_UNROLL
		for (i = 0; i < ENF_MAX_PORTS; i++)
			if (i < r->nports && o->port >= r->port_lo[i] && o->port <= r->port_hi[i])
				ok = 1;
		if (!ok)
			return 0;
	}
	if (r->nuids) {
		ok = 0;
		NOLOOP_UNROLL
		for (i = 0; i < ENF_MAX_UIDS; i++)
			if (i < r->nuids && o->uid == r->uids[i])
				ok = 1;
		if (!ok)
			return 0;
	}
	return 1;
}

/* State of the decision loop, shared with its bpf_loop callback. */
struct dctx {
	struct op o;
	__u32 slot;
	__u32 monitor_all;
	int found;		/* rule index of an enforcing match, or -1 */
	int mon;		/* rule index of the first monitoring match, or -1 */
};

#ifndef ENF_NO_BPF_LOOP
/* One rule bit: record an enforcing match (and stop) or the first monitoring one. */
static long decide_step(__u64 i, void *data)
{
	struct dctx *d = data;
	struct enf_rule *r;
	__u32 idx;

	if (i >= ENF_MAX_RULES || !((d->o.cand >> i) & 1))
		return 0;
	idx = d->slot * ENF_MAX_RULES + (__u32)i;
	r = bpf_map_lookup_elem(&enf_rules, &idx);
	if (!r || !rule_ok(r, &d->o, i))
		return 0;
	if ((r->flags & ENF_F_MONITOR) || d->monitor_all) {
		if (d->mon < 0)
			d->mon = idx;
		return 0;
	}
	d->found = idx;
	return 1;
}
#endif

/*
 * The rule that decides: the first enforcing rule that matches, else the first
 * monitoring one. Returns its index in enf_rules, or -1. *monitor says whether
 * it only reports.
 */
#ifdef ENF_NO_BPF_LOOP
/*
 * Without bpf_loop the verifier walks every iteration of the decision loop, and
 * with rule_ok inlined 64 times (its port and uid loops too) even connect4 went
 * past the 1M-instruction limit. A global function is verified once, on its own,
 * whatever calls it (5.6+), and its arguments may only be scalars on 5.10: the
 * operation comes packed. a: rule index (7 bits) | kind << 8 | tiers << 16 |
 * bin bit << 24 | notbin bit << 25 | fmode << 32 | proto << 40. Returns 0 (no
 * match), 1 (an enforcing match) or 2 (a monitoring rule matches).
 */
__noinline int enf_rule_match(__u64 a, __u64 uid, __u64 port)
{
	struct enf_rule *r;
	struct op o = {};
	__u32 idx = a & 0x7f, bit = idx & 63;

	r = bpf_map_lookup_elem(&enf_rules, &idx);
	if (!r)
		return 0;
	o.kind = (a >> 8) & 0xff;
	o.tiers = (a >> 16) & 0xff;
	o.bin = ((a >> 24) & 1) << bit;
	o.notbin = ((a >> 25) & 1) << bit;
	o.fmode = (a >> 32) & 0xff;
	o.proto = (a >> 40) & 0xff;
	o.uid = uid;
	o.port = port;
	if (!rule_ok(r, &o, bit))
		return 0;
	return (r->flags & ENF_F_MONITOR) ? 2 : 1;
}

/*
 * The decision loop, a global function too: inlined, every distinct outcome (which
 * iteration first matched a monitoring rule) was a state the verifier carried through
 * the rest of the program. Here the caller sees one unknown result. cand, bin,
 * notbin: as in struct op; a: enf_rule_match's packing without the index, | slot
 * << 48 | monitor_all << 56; up: uid | port << 32. Returns 0 (no rule), or the rule
 * index + 1, | 1 << 8 when it only monitors.
 */
__noinline int enf_decide(__u64 cand, __u64 bin, __u64 notbin, __u64 a, __u64 up)
{
	__u32 slot = (a >> 48) & 1, monitor_all = (a >> 56) & 1, idx;
	int i;

	/* Two passes, each returning at its first match, so that no loop carries a
	 * "first monitoring match so far" the verifier would have to tell apart. */
	a &= 0xffffffffffffULL;
	if (!monitor_all) {
		NOLOOP_UNROLL
		for (i = 0; i < ENF_MAX_RULES; i++) {
			idx = slot * ENF_MAX_RULES + i;
			if (((cand >> i) & 1) &&
			    enf_rule_match(a | idx | ((bin >> i) & 1) << 24 |
					   ((notbin >> i) & 1) << 25, up & 0xffffffff, up >> 32) == 1)
				return idx + 1;
		}
	}
	NOLOOP_UNROLL
	for (i = 0; i < ENF_MAX_RULES; i++) {
		idx = slot * ENF_MAX_RULES + i;
		if (((cand >> i) & 1) &&
		    enf_rule_match(a | idx | ((bin >> i) & 1) << 24 | ((notbin >> i) & 1) << 25,
				   up & 0xffffffff, up >> 32))
			return (idx + 1) | 1 << 8;
	}
	return 0;
}
#endif

#ifndef ENF_NO_BPF_LOOP
/* 1 + the index of the highest bit set in m (0 for none). */
static __always_inline __u32 rule_span(__u64 m)
{
	__u32 n = 0;

	if (m >> 32) {
		n += 32;
		m >>= 32;
	}
	if (m >> 16) {
		n += 16;
		m >>= 16;
	}
	if (m >> 8) {
		n += 8;
		m >>= 8;
	}
	if (m >> 4) {
		n += 4;
		m >>= 4;
	}
	if (m >> 2) {
		n += 2;
		m >>= 2;
	}
	if (m >> 1) {
		n += 1;
		m >>= 1;
	}
	return n + (__u32)m;
}
#endif

static __always_inline int decide(struct op *o, __u32 slot, __u32 monitor_all, int *monitor)
{
#ifdef ENF_NO_BPF_LOOP
	int r = enf_decide(o->cand, o->bin, o->notbin,
			   (__u64)(o->kind & 0xff) << 8 | (__u64)(o->tiers & 0xff) << 16 |
			   (__u64)(o->fmode & 0xff) << 32 | (__u64)(o->proto & 0xff) << 40 |
			   (__u64)(slot & 1) << 48 | (__u64)(monitor_all ? 1 : 0) << 56,
			   (__u64)o->uid | (__u64)(o->port & 0xffff) << 32);

	*monitor = (r >> 8) & 1;
	return (r & 0xff) - 1;
#else
	struct dctx d = { .o = *o, .slot = slot, .monitor_all = monitor_all,
			  .found = -1, .mon = -1 };

	/* Rules above the highest candidate bit cannot match: loop up to it only
	 * (policies use the low bits; each round is a call). */
	bpf_loop(rule_span(o->cand), decide_step, &d, 0);
	if (d.found >= 0) {
		*monitor = 0;
		return d.found;
	}
	*monitor = 1;
	return d.mon;
#endif
}

/* Fill the common part of a report record. */
static __always_inline void ev_base(struct enf_event *e, struct enf_rule *r, __u32 hook,
				    __u32 done)
{
	__u64 pt = bpf_get_current_pid_tgid();

	e->ktime = bpf_ktime_get_ns();
	e->start_ktime = 0;
	e->cgid = bpf_get_current_cgroup_id();
	e->pid = pt >> 32;
	e->tid = (__u32)pt;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->err = done == ENF_D_OVERRIDE ? r->err : 0;
	e->sig = done == ENF_D_SIGKILL || done == ENF_D_SIGNAL ? r->sig : 0;
	e->hook = hook;
	e->done = done;
	e->kind = r->kind;
	e->family = 0;
	e->port = 0;
	e->proto = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->path[0] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->policy, r->policy, sizeof(e->policy));
}

/* A rule's errno, within what an LSM hook may return (kernels since 6.10 refuse a
 * program whose return value the verifier cannot bound to [-MAX_ERRNO, 0]). */
static __always_inline int errno_of(__s32 err)
{
	__u32 e = err;

	if (e == 0 || e > 4095)
		e = 1;	/* EPERM */
	return e & 4095;
}

/* -errno_of(err), computed so the verifier keeps its range: it forgets every bound
 * of a register on BPF_NEG, but not on a subtraction (the empty asm stops clang
 * from turning the subtraction back into a negation). */
static __always_inline int neg_errno(__s32 err)
{
	__s64 k = 4095;

	asm volatile("" : "+r"(k));
	k -= errno_of(err);	/* [0, 4094] */
	return k - 4095;	/* [-4095, -1] */
}

/* ---- network: cgroup sock_addr hooks ----------------------------------- */

/* Set by the enforcer before load: the kernel has bpf_set_retval for cgroup programs
 * (5.18+), so connect/sendmsg fail with the policy's errno instead of EPERM. While 0
 * the verifier sees the call as dead code and never checks it. */
const volatile __u32 enf_has_retval = 0;

/*
 * Decide a connect/sendmsg to a[0..3] (network order; v6 says whether all four
 * words are an IPv6 address, else a[0] is IPv4), port (host order). tiers: the
 * rules this hook carries. Returns 0 to let it through, else the rule's errno
 * (the caller decides what it can return), after reporting.
 */
static __always_inline int net_decide(__u32 a0, __u32 a1, __u32 a2, __u32 a3, int v6,
				      __u32 port, __u32 proto, __u32 tiers, __u32 hook)
{
	struct enf_scratch *s;
	struct enf_slotconf *sc;
	struct enf_rule *r;
	struct enf_event *e;
	struct op o = {};
	__u32 z = 0, monitor_all = 0, kind, addr4 = 0, slot;
	__u64 scope;
	int sl, idx, mon, mapped = 0;

	sl = cur_slot(&monitor_all);
	if (sl < 0)
		return 0;
	slot = sl;
	sc = bpf_map_lookup_elem(&enf_slotconf, &slot);
	s = bpf_map_lookup_elem(&enf_heap, &z);
	if (!sc || !s)
		return 0;
	if (!sc->kind[ENF_K_NET4])
		return 0;
	scope = scope_mask(sc, slot, hook == ENF_H_LSM_CONNECT);
	if (!(sc->kind[ENF_K_NET4] & scope))
		return 0;
	if (v6) {
		/* ::ffff:a.b.c.d is an IPv4 destination: v4 rules apply. */
		if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0xffff)) {
			mapped = 1;
			addr4 = a3;
		}
	} else {
		addr4 = a0;
	}
	if (!v6 || mapped) {
		kind = ENF_K_NET4;
		__builtin_memcpy(&s->key.data[ENF_LPM_HDR], &addr4, 4);
		o.cand = lpm_bits(s, slot, kind, 4);
	} else {
		kind = ENF_K_NET6;
		__builtin_memcpy(&s->key.data[ENF_LPM_HDR], &a0, 4);
		__builtin_memcpy(&s->key.data[ENF_LPM_HDR + 4], &a1, 4);
		__builtin_memcpy(&s->key.data[ENF_LPM_HDR + 8], &a2, 4);
		__builtin_memcpy(&s->key.data[ENF_LPM_HDR + 12], &a3, 4);
		o.cand = lpm_bits(s, slot, kind, 16);
	}
	/* v4 and v6 destinations are one rule kind (connect). */
	o.cand |= sc->any[ENF_K_NET4];
	o.cand &= scope;
	if (!o.cand)
		return 0;
	o.kind = ENF_K_NET4;
	o.tiers = tiers;
	o.uid = (__u32)bpf_get_current_uid_gid();
	o.proto = proto;
	o.port = port;
	idx = decide(&o, slot, monitor_all, &mon);
	if (idx < 0)
		return 0;
	r = bpf_map_lookup_elem(&enf_rules, &idx);
	if (!r)
		return 0;
	e = bpf_ringbuf_reserve(&enf_events, sizeof(*e), 0);
	if (e) {
		ev_base(e, r, hook, mon ? ENF_D_MONITOR : ENF_D_OVERRIDE);
		/* Without bpf_set_retval a cgroup hook can only give EPERM. */
		e->err = mon || hook == ENF_H_LSM_CONNECT || enf_has_retval ? errno_of(r->err) : 1;
		e->family = kind == ENF_K_NET4 ? 4 : 6;
		e->port = o.port;
		e->proto = o.proto;
		if (kind == ENF_K_NET4)
			__builtin_memcpy(e->addr, &addr4, 4);
		else
			__builtin_memcpy(e->addr, &s->key.data[ENF_LPM_HDR], 16);
		bpf_ringbuf_submit(e, 0);
	}
	return mon ? 0 : errno_of(r->err);
}

/* Decide a connect/sendmsg in a cgroup hook; 1 lets it through, 0 blocks it: with
 * the policy's errno where bpf_set_retval exists, else EPERM. */
static __always_inline int net_check(struct bpf_sock_addr *ctx, int v6, __u32 hook)
{
	/* sendmsg has no LSM twin here: it carries the LSM-tier rules too. */
	__u32 tiers = 1U << ENF_T_CGROUP;
	int err;

	if (hook == ENF_H_SENDMSG4 || hook == ENF_H_SENDMSG6)
		tiers |= 1U << ENF_T_LSM;
	if (v6)
		err = net_decide(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				 ctx->user_ip6[3], 1, bpf_ntohs((__u16)ctx->user_port),
				 ctx->protocol, tiers, hook);
	else
		err = net_decide(ctx->user_ip4, 0, 0, 0, 0, bpf_ntohs((__u16)ctx->user_port),
				 ctx->protocol, tiers, hook);
	if (!err)
		return 1;
	if (enf_has_retval)
		bpf_set_retval(neg_errno(err));
	return 0;
}

SEC("cgroup/connect4")
int vigil_enf_c4(struct bpf_sock_addr *ctx)
{
	return net_check(ctx, 0, ENF_H_CONNECT4);
}

SEC("cgroup/connect6")
int vigil_enf_c6(struct bpf_sock_addr *ctx)
{
	return net_check(ctx, 1, ENF_H_CONNECT6);
}

SEC("cgroup/sendmsg4")
int vigil_enf_s4(struct bpf_sock_addr *ctx)
{
	return net_check(ctx, 0, ENF_H_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int vigil_enf_s6(struct bpf_sock_addr *ctx)
{
	return net_check(ctx, 1, ENF_H_SENDMSG6);
}

/* ---- path resolution (after process.bpf.c's walk) ------------------------ */

/* struct mount that embeds a vfsmount (container_of, CO-RE relocated). */
static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

#ifdef ENF_CAST
#include "vigil_iname.h"

/* The name of d, the walk's current dentry, copied to s->buf + pos with plain
 * loads when it is inline (vigil_iname.h); -1 when a helper must copy it. */
#define copy_inline_name(s, d, name, len, pos)					\
	vigil_copy_iname((s)->buf, PATH_MAX_, PATHBUF_END, (unsigned long)(s)->w.dentry,	\
			 (d), (name), (len), (pos))
#else
#define copy_inline_name(s, d, name, len, pos) (-1)
#endif

/* Prepend "/" + the name of d (the walk's current dentry, typed where the build
 * can); 1 when it does not fit. */
static __always_inline int prepend_name(struct enf_scratch *s, struct dentry *d)
{
	struct walk *w = &s->w;
	const unsigned char *name;
	__u32 len;
	int newoff;

	name = E_RD(d, d_name.name);
	len = E_RD(d, d_name.len);
	if (len > NAME_MAX_)
		len = NAME_MAX_;
	newoff = (int)w->off - (int)len - 1;
	if (newoff < 1) {
		w->trunc = 1;
		return 1;
	}
	s->buf[newoff & PATH_MAX_] = '/';
	if (copy_inline_name(s, d, name, len, newoff + 1))
		bpf_probe_read_kernel(&s->buf[(newoff + 1) & PATH_MAX_], len & NAME_MAX_, name);
	w->off = newoff;
	return 0;
}

/* bpf_loop's context must be on the stack: it carries the scratch (the walk's state
 * is in it). */
struct walk_ctx {
	struct enf_scratch *s;
};

/* One step up the dentry / mount chain (like prepend_path in fs/d_path.c); 1 stops
 * the loop. The walk's pointers are numbers in the scratch; E_CAST types them. */
static __always_inline long walk_step_body(void *data)
{
	struct enf_scratch *s = ((struct walk_ctx *)data)->s;
	struct dentry *d, *parent, *mnt_root;
	struct vfsmount *vfsmnt;
	struct mount *mnt, *mp;
	struct walk *w;

	if (!s)
		return 1;
	w = &s->w;
	if ((void *)w->dentry == (void *)w->root_dentry &&
	    (void *)w->vfsmnt == (void *)w->root_mnt) {
		w->done = 1;
		return 1;
	}
	d = E_CAST(w->dentry, struct dentry);
	vfsmnt = E_CAST(w->vfsmnt, struct vfsmount);
	mnt = E_CAST(w->mnt, struct mount);
	mnt_root = E_RD(vfsmnt, mnt_root);
	parent = E_RD(d, d_parent);
	if ((void *)w->dentry == (void *)mnt_root) {
		mp = E_RD(mnt, mnt_parent);
		if (!mp)
			return 1;
		if ((void *)mp == (void *)w->mnt) {
			w->done = 1;
			return 1;
		}
		w->dentry = E_RD(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = (struct vfsmount *)((void *)mp +
				bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if ((void *)w->dentry == (void *)parent || !parent) {
		if (!prepend_name(s, d))
			w->done = 1;
		return 1;
	}
	if (prepend_name(s, d))
		return 1;
	w->dentry = parent;
	return 0;
}

/* walk_step_body as a bpf_loop callback (and the 5.10 build's unrolled loop). */
static long walk_step(__u64 idx, void *data)
{
	return walk_step_body(data);
}

#ifndef ENF_NO_BPF_LOOP
/*
 * The walk's first ENF_WALK_FIRST steps unrolled in a global function: one call for
 * a path of fewer components, where bpf_loop makes a callback call per component (a
 * call and its return cost ~20 ns each where returns go through a mitigation thunk,
 * as on this machine's AMD CPUs; lib/vigil_path.h does the same for the collector).
 * Verifying it costs ~10 ms per program that calls it, so only the open hooks do
 * (resolve_dm's fast). 1 when the walk stopped, 0 when it has further to go.
 */
#define ENF_WALK_FIRST	8
__noinline int enf_walk_first(void)
{
	struct walk_ctx wc;
	__u32 z = 0;

	wc.s = bpf_map_lookup_elem(&enf_heap, &z);
	if (!wc.s)
		return 1;
#pragma unroll
	for (int i = 0; i < ENF_WALK_FIRST; i++)
		if (walk_step_body(&wc))
			return 1;
	return 0;
}
#endif

/*
 * Resolve p (relative to the caller's root) into the LPM key's data after the
 * header. Returns the path length (at most ENF_PATH_MAX; longer paths keep
 * their first ENF_PATH_MAX bytes, which still match prefixes), -1 when there
 * is no path, or ENF_PATH_UNJUDGED when there is one the walk cannot finish
 * (longer than its buffer, or more components than it climbs): its head,
 * what prefixes are matched against, is unknown.
 */
#define ENF_PATH_UNJUDGED	(-2)
#ifdef ENF_NO_BPF_LOOP
/* The unrolled walk is verified once as a global function (see enf_rule_match). 5.10
 * takes only scalars as its arguments, and an LSM hook's dentry is a typed pointer:
 * the caller leaves the start (w.vfsmnt, w.dentry) in the per-CPU scratch, where it
 * is read back as plain values. */
__noinline int enf_resolve(void)
{
	struct vfsmount *vfsmnt;
	struct dentry *dentry;
	struct enf_scratch *s;
	__u32 z = 0;
#else
static __always_inline int resolve_dm(struct enf_scratch *s, struct vfsmount *vfsmnt,
				      struct dentry *dentry, int fast)
{
#endif
	struct task_struct *t = CUR_TASK();
	struct walk_ctx wc = {};
	struct fs_struct *fs;
	struct walk *w;
	__u32 len, off;

#ifdef ENF_NO_BPF_LOOP
	s = bpf_map_lookup_elem(&enf_heap, &z);
	if (!s)
		return -1;
	w = &s->w;
	vfsmnt = w->vfsmnt;
	dentry = w->dentry;
	__builtin_memset(w, 0, sizeof(*w));
#else
	w = &s->w;
	__builtin_memset(w, 0, sizeof(*w));
#endif
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	fs = T_RD(t, fs);
	if (!fs)
		return -1;
	w->root_dentry = T_RD(fs, root.dentry);
	w->root_mnt = T_RD(fs, root.mnt);
	if (!w->dentry || !w->vfsmnt)
		return -1;
	w->mnt = real_mount(w->vfsmnt);
	w->off = PATHBUF_END;
	wc.s = s;
#ifdef ENF_NO_BPF_LOOP
	NOLOOP_UNROLL
	for (int i = 0; i < NOLOOP_DEPTH; i++)
		if (walk_step(i, &wc))
			break;
#else
	if (!fast)
		bpf_loop(PATH_DEPTH, walk_step, &wc, 0);
	else if (!enf_walk_first())
		bpf_loop(PATH_DEPTH - ENF_WALK_FIRST, walk_step, &wc, 0);
#endif
	if (w->trunc || !w->done)
		return ENF_PATH_UNJUDGED;
	off = w->off;
	if (off >= PATHBUF_END) {
		off = PATHBUF_END - 1;
		s->buf[off & PATH_MAX_] = '/';
	}
	len = PATHBUF_END - off;
	if (len > ENF_PATH_MAX)
		len = ENF_PATH_MAX;
	if (bpf_probe_read_kernel(&s->key.data[ENF_LPM_HDR], len & 255,
				  &s->buf[off & PATH_MAX_]))
		return -1;
	/* NUL after the path: an exact entry carries it, so it must match. */
	s->key.data[(ENF_LPM_HDR + len) & 255] = 0;
	return len;
}

#ifdef ENF_NO_BPF_LOOP
/* The same signature as the inlined walk: s is the per-CPU scratch enf_resolve uses. */
static __always_inline int resolve_dm(struct enf_scratch *s, struct vfsmount *vfsmnt,
				      struct dentry *dentry, int fast)
{
	(void)fast; /* the walk is one unrolled global function here anyway */
	s->w.vfsmnt = vfsmnt;
	s->w.dentry = dentry;
	return enf_resolve();
}
#endif

/* resolve_dm of the path of file f. */
static __always_inline int resolve_file(struct enf_scratch *s, struct file *f)
{
	struct file *tf = E_CAST(f, struct file);

	return resolve_dm(s, E_RD(tf, f_path.mnt), E_RD(tf, f_path.dentry), 0);
}

/* Rules whose binaries / not_binaries lists hold the binary in the key now. */
static __always_inline void bin_bits(struct enf_scratch *s, __u32 slot, int len,
				     __u64 *bin, __u64 *notbin)
{
	if (bin)
		*bin = lpm_bits(s, slot, ENF_K_BIN, len + 1);
	if (notbin)
		*notbin = lpm_bits(s, slot, ENF_K_NOTBIN, len + 1);
}

/*
 * Decide an operation of kind lkind (LPM and rule kind) on the path (vm, d), or
 * on no path (d NULL: only rules of the kind without paths apply). mkind names
 * the slotconf.kind[] mask of the rules this hook carries (lkind, or ENF_K_FPERM
 * for file_permission). uid is what the rules' uids are compared with,
 * ENF_UID_CUR for the current task's (read only once some rule is a candidate: a
 * helper call less on every open no rule is about). fast: the path walk's fast start
 * (resolve_dm; the open hooks). Returns 0 to allow, or the rule index + 1 with *mon,
 * and leaves the path in the scratch.
 */
#define ENF_UID_CUR	0xffffffffu	/* no task has uid (uid_t)-1: the kernel refuses it */
static __always_inline int op_decide(struct vfsmount *vm, struct dentry *d, __u32 lkind,
				     __u32 mkind, __u32 fmode, __u32 uid, __u32 tier, int *mon,
				     int *plen, int fast)
{
	struct enf_scratch *s;
	struct enf_slotconf *sc;
	struct task_struct *t;
	struct op o = {};
	__u32 z = 0, monitor_all = 0, slot;
	__u64 need;
	int sl, len = 0, idx;

	sl = cur_slot(&monitor_all);
	if (sl < 0 || lkind >= ENF_K_N || mkind >= ENF_K_N)
		return 0;
	slot = sl;
	sc = bpf_map_lookup_elem(&enf_slotconf, &slot);
	s = bpf_map_lookup_elem(&enf_heap, &z);
	if (!sc || !s)
		return 0;
	/* Cheap exits first: nothing of this kind in scope, no walk. */
	need = sc->kind[mkind];
	if (need)
		need &= scope_mask(sc, slot, 1);
	if (!need)
		return 0;
	if (d) {
		len = resolve_dm(s, vm, d, fast);
		if (len == ENF_PATH_UNJUDGED) {
			/* A path too long or too deep to resolve could lie under any rule's
			 * prefix (nesting a file 4 KiB deep must not slip it past a rule):
			 * every rule of the kind in scope applies, fail closed; the report's
			 * path is empty. */
			s->key.data[ENF_LPM_HDR] = 0;
			len = 0;
			o.cand = need;
		} else if (len < 0) {
			return 0;
		} else {
			o.cand = (lpm_bits(s, slot, lkind, len + 1) | sc->any[lkind]) & need;
		}
	} else {
		s->key.data[ENF_LPM_HDR] = 0;
		o.cand = sc->any[lkind] & need;
	}
	if (!o.cand)
		return 0;
	if (uid == ENF_UID_CUR)
		uid = (__u32)bpf_get_current_uid_gid();
	o.kind = lkind;
	o.tiers = 1U << tier;
	o.uid = uid;
	o.fmode = fmode;
	*plen = len;
	if (lkind == ENF_K_EXEC) {
		/* An exec allow-list exempts the new binary. */
		bin_bits(s, slot, len, NULL, &o.notbin);
	} else {
		/* binaries / not_binaries name the acting process's binary. */
		struct mm_struct *mm;
		struct file *exe;
		int elen;

		t = CUR_TASK();
		mm = T_RD(t, mm);
		exe = mm ? T_RD(mm, exe_file) : NULL;
		if (exe) {
			/* Keep the file's path for the lookup and the report. */
			bpf_probe_read_kernel(s->save, ENF_PATH_MAX + 1, &s->key.data[ENF_LPM_HDR]);
			elen = resolve_file(s, exe);
			if (elen >= 0)
				bin_bits(s, slot, elen, &o.bin, &o.notbin);
			bpf_probe_read_kernel(&s->key.data[ENF_LPM_HDR], ENF_PATH_MAX + 1, s->save);
		}
	}
	idx = decide(&o, slot, monitor_all, mon);
	return idx < 0 ? 0 : idx + 1;
}

/* Decide an open or exec of file f (see op_decide; fast: the open hooks). */
static __always_inline int file_decide(struct file *f, __u32 kind, __u32 tier, int *mon,
				       int *plen, int fast)
{
	struct file *tf = E_CAST(f, struct file);

	return op_decide(E_RD(tf, f_path.mnt), E_RD(tf, f_path.dentry), kind, kind,
			 E_RD(tf, f_mode), ENF_UID_CUR, tier, mon, plen, fast);
}

/*
 * Whether a report wakes the enforcer. Waking the consumer costs more than the rest of
 * a monitored open (about 1.9 of 2.8 us measured here): a monitor report forces a
 * wakeup only when ENF_WAKE_NS have passed since this CPU last forced one, or when
 * ENF_WAKE_BYTES are waiting; the others wait for the next wakeup or the enforcer's
 * timer, which drains every 10 ms while reports flow (enforcer/main.c). A block, kill
 * or signal always wakes it.
 */
#define ENF_WAKE_NS	(1000 * 1000)
#define ENF_WAKE_BYTES	(64 << 10)
static __always_inline __u64 report_wake(struct enf_scratch *s, __u32 done, __u64 now)
{
	if (done != ENF_D_MONITOR || now - s->last_wake >= ENF_WAKE_NS ||
	    bpf_ringbuf_query(&enf_events, BPF_RB_AVAIL_DATA) >= ENF_WAKE_BYTES) {
		s->last_wake = now;
		return 0;
	}
	return BPF_RB_NO_WAKEUP;
}

/* Report a file/exec decision; returns the rule (NULL if gone). */
static __always_inline struct enf_rule *file_report(int ridx, __u32 hook, __u32 done, int len)
{
	struct enf_scratch *s;
	struct enf_rule *r;
	struct enf_event *e;
	__u32 z = 0, idx = ridx - 1;
	struct task_struct *t = CUR_TASK(), *gl;

	r = bpf_map_lookup_elem(&enf_rules, &idx);
	s = bpf_map_lookup_elem(&enf_heap, &z);
	if (!r || !s)
		return r;
	e = bpf_ringbuf_reserve(&enf_events, sizeof(*e), 0);
	if (!e)
		return r;
	ev_base(e, r, hook, done);
	gl = T_RD(t, group_leader);
	e->start_ktime = gl ? T_RD(gl, start_time) : 0;
	bpf_probe_read_kernel(e->path, sizeof(e->path), &s->key.data[ENF_LPM_HDR]);
	e->path[(len & 255) < ENF_PATH_MAX ? (len & 255) : ENF_PATH_MAX] = 0;
	bpf_ringbuf_submit(e, report_wake(s, done, e->ktime));
	return r;
}

/* Sigkill tier: act on an opened/executed file, after the fact. */
static __always_inline void sigkill_file(struct file *f, __u32 kind, __u32 hook, int fast)
{
	struct enf_rule *r;
	int ridx, mon = 0, len = 0;

	if (!f)
		return;
	ridx = file_decide(f, kind, ENF_T_SIGKILL, &mon, &len, fast);
	if (!ridx)
		return;
	if (mon) {
		file_report(ridx, hook, ENF_D_MONITOR, len);
		return;
	}
	{
		__u32 idx = ridx - 1;

		r = bpf_map_lookup_elem(&enf_rules, &idx);
		if (!r)
			return;
		bpf_send_signal(r->sig ? r->sig : SIGKILL);
		file_report(ridx, hook, r->action == ENF_A_SIGNAL ? ENF_D_SIGNAL : ENF_D_SIGKILL,
			    len);
	}
}

/* The struct file behind fd in the current task (NULL if none): task -> files -> fdt
 * -> fd[n]. The slot itself is read as the first member (a struct file *) of a struct
 * kiocb cast on it where the build casts (the verifier types no array of pointers). */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *t = CUR_TASK();
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	files = T_RD(t, files);
	if (!files)
		return NULL;
	fdt = T_RD(files, fdt);
	if (!fdt || (unsigned long)fd >= (unsigned int)T_RD(fdt, max_fds))
		return NULL;
	fds = T_RD(fdt, fd);
	if (!fds)
		return NULL;
#ifdef ENF_CAST
	f = E_CAST(fds + fd, struct kiocb)->ki_filp;
#else
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
#endif
	return f;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int vigil_enf_open(struct trace_event_raw_sys_exit *ctx)
{
	sigkill_file(fd_file(ctx->ret), ENF_K_FILE, ENF_H_SYS_OPENAT, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int vigil_enf_open2(struct trace_event_raw_sys_exit *ctx)
{
	sigkill_file(fd_file(ctx->ret), ENF_K_FILE, ENF_H_SYS_OPENAT2, 1);
	return 0;
}

/* The legacy open(2) and creat(2) syscalls and open_by_handle_at(2) open files too:
 * without these a process could step around the openat rules. */
SEC("tracepoint/syscalls/sys_exit_open")
int vigil_enf_open0(struct trace_event_raw_sys_exit *ctx)
{
	sigkill_file(fd_file(ctx->ret), ENF_K_FILE, ENF_H_SYS_OPEN, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_creat")
int vigil_enf_creat(struct trace_event_raw_sys_exit *ctx)
{
	sigkill_file(fd_file(ctx->ret), ENF_K_FILE, ENF_H_SYS_CREAT, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open_by_handle_at")
int vigil_enf_openh(struct trace_event_raw_sys_exit *ctx)
{
	sigkill_file(fd_file(ctx->ret), ENF_K_FILE, ENF_H_SYS_OPEN_BY_HANDLE, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_enf_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	sigkill_file(BPF_CORE_READ(bprm, file), ENF_K_EXEC, ENF_H_EXEC, 0);
	return 0;
}

/* ---- kill map ----------------------------------------------------------- */

/* Report a kill-map kill. */
static __always_inline void kill_report(struct enf_kill *k, __u64 start)
{
	struct enf_event *e = bpf_ringbuf_reserve(&enf_events, sizeof(*e), 0);
	__u64 pt = bpf_get_current_pid_tgid();

	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ktime = bpf_ktime_get_ns();
	e->start_ktime = start;
	e->cgid = bpf_get_current_cgroup_id();
	e->pid = pt >> 32;
	e->tid = (__u32)pt;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->sig = k->sig;
	e->hook = ENF_H_KILLMAP;
	e->done = k->sig == SIGKILL ? ENF_D_SIGKILL : ENF_D_SIGNAL;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->policy, k->policy, sizeof(e->policy));
	bpf_ringbuf_submit(e, 0);
}

SEC("raw_tp/sys_enter")
int vigil_enf_kill(void *ctx)
{
	struct task_struct *t;
	struct enf_kill *k;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, z = 0;
	struct enf_conf *c = bpf_map_lookup_elem(&enf_conf, &z);
	__u64 cg, start;

	/* Attached only while a kill map holds an entry (the enforcer attaches it before
	 * writing the first one, detaches it when its sweep finds both maps empty); then
	 * every syscall of the node comes here, so still one array lookup when the
	 * entries are gone but the sweep has not run yet. */
	if (!c || !c->kill_active)
		return 0;
	k = bpf_map_lookup_elem(&enf_killpid, &tgid);
	if (k) {
		t = CUR_TASK();
		start = BPF_CORE_READ(t, group_leader, start_time);
		if (start == k->start_ktime) {
			bpf_send_signal(k->sig);
			kill_report(k, start);
			bpf_map_delete_elem(&enf_killpid, &tgid);
			return 0;
		}
	}
	/* A listed cgroup is killed with its whole subtree (a pod's containers). */
	k = NULL;
	NOLOOP_UNROLL
	for (int lvl = 0; lvl < ENF_SCOPE_LEVELS; lvl++) {
		cg = cg_ancestor(lvl, 1);
		if (!cg)
			break;
		k = bpf_map_lookup_elem(&enf_killcg, &cg);
		if (k)
			break;
	}
	if (!k) {
		cg = bpf_get_current_cgroup_id();
		k = bpf_map_lookup_elem(&enf_killcg, &cg);
	}
	if (k) {
		t = CUR_TASK();
		/* One report per process: only its first thread to get here reports. */
		if (!(BPF_CORE_READ(t, signal, flags) & 0x4 /* SIGNAL_GROUP_EXIT */)) {
			bpf_send_signal(k->sig);
			kill_report(k, BPF_CORE_READ(t, group_leader, start_time));
		}
	}
	return 0;
}

/* ---- start time of a pid, for verdicts that lack it ---------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_lookup);
} enf_lookup SEC(".maps");

SEC("iter/task")
int vigil_enf_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct enf_lookup *l;
	__u32 z = 0;

	if (!t)
		return 0;
	l = bpf_map_lookup_elem(&enf_lookup, &z);
	if (l && t->tgid == l->tgid && t->pid == t->tgid) {
		l->start = t->start_time;
		l->found = 1;
	}
	return 0;
}

/* ---- Override: BPF LSM (loaded only where the kernel allows it) ----------- */

/* Act on an LSM-tier decision: report, and return -errno (0 in monitor mode). A
 * rule whose action is a signal also sends it (the operation is refused too). */
static __always_inline int lsm_act(int ridx, __u32 hook, int mon, int len)
{
	struct enf_rule *r;
	__u32 idx = ridx - 1;

	r = bpf_map_lookup_elem(&enf_rules, &idx);
	if (!r)
		return 0;
	if (mon) {
		file_report(ridx, hook, ENF_D_MONITOR, len);
		return 0;
	}
	if (r->action != ENF_A_OVERRIDE) {
		bpf_send_signal(r->sig ? r->sig : SIGKILL);
		file_report(ridx, hook, r->action == ENF_A_SIGNAL ? ENF_D_SIGNAL : ENF_D_SIGKILL,
			    len);
		return -1;	/* EPERM */
	}
	file_report(ridx, hook, ENF_D_OVERRIDE, len);
	return neg_errno(r->err);
}

/* LSM verdict for the path (vm, d) of kind: -errno, or 0. */
static __always_inline int lsm_path(struct vfsmount *vm, struct dentry *d, __u32 kind,
				    __u32 hook)
{
	int ridx, mon = 0, len = 0;

	ridx = op_decide(vm, d, kind, kind, 0, ENF_UID_CUR, ENF_T_LSM, &mon, &len, 0);
	return ridx ? lsm_act(ridx, hook, mon, len) : 0;
}

/* LSM verdict for a file: -errno, or 0. */
static __always_inline int lsm_file(struct file *f, __u32 kind, __u32 hook, int fast)
{
	int ridx, mon = 0, len = 0;

	ridx = file_decide(f, kind, ENF_T_LSM, &mon, &len, fast);
	return ridx ? lsm_act(ridx, hook, mon, len) : 0;
}

SEC("lsm/file_open")
int BPF_PROG(vigil_enf_lfo, struct file *file)
{
	return lsm_file(file, ENF_K_FILE, ENF_H_LSM_FILE_OPEN, 1);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(vigil_enf_lbprm, struct linux_binprm *bprm)
{
	return lsm_file(BPF_CORE_READ(bprm, file), ENF_K_EXEC, ENF_H_LSM_BPRM, 0);
}

/* Reads and writes of files already open (opened before the rule, inherited or
 * passed): only file_open rules with an access are carried here, so a node with
 * none pays one array lookup per read/write. */
SEC("lsm/file_permission")
int BPF_PROG(vigil_enf_lfperm, struct file *file, int mask)
{
	int ridx, mon = 0, len = 0;
	__u32 fmode = (mask & MAY_READ_ ? FMODE_READ : 0) | (mask & MAY_WRITE_ ? FMODE_WRITE : 0);

	if (!fmode)
		return 0;
	ridx = op_decide(BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry),
			 ENF_K_FILE, ENF_K_FPERM, fmode, ENF_UID_CUR, ENF_T_LSM, &mon, &len, 1);
	return ridx ? lsm_act(ridx, ENF_H_LSM_FPERM, mon, len) : 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(vigil_enf_lunlink, const struct path *dir, struct dentry *dentry)
{
	return lsm_path(BPF_CORE_READ(dir, mnt), dentry, ENF_K_UNLINK, ENF_H_LSM_UNLINK);
}

SEC("lsm/path_rename")
int BPF_PROG(vigil_enf_lrename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry)
{
	/* Renaming a protected name away, or another file over it. */
	int r = lsm_path(BPF_CORE_READ(old_dir, mnt), old_dentry, ENF_K_RENAME,
			 ENF_H_LSM_RENAME);

	if (r)
		return r;
	return lsm_path(BPF_CORE_READ(new_dir, mnt), new_dentry, ENF_K_RENAME,
			ENF_H_LSM_RENAME);
}

SEC("lsm/path_chmod")
int BPF_PROG(vigil_enf_lchmod, const struct path *path, umode_t mode)
{
	return lsm_path(BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry), ENF_K_CHMOD,
			ENF_H_LSM_CHMOD);
}

SEC("lsm/sb_mount")
int BPF_PROG(vigil_enf_lmount, const char *dev_name, const struct path *path)
{
	return lsm_path(BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry), ENF_K_MOUNT,
			ENF_H_LSM_MOUNT);
}

/* setuid rules compare their uids with the uid being switched to (the new euid). */
SEC("lsm/task_fix_setuid")
int BPF_PROG(vigil_enf_lsetuid, struct cred *new, const struct cred *old, int flags)
{
	int ridx, mon = 0, len = 0;
	__u32 neu = BPF_CORE_READ(new, euid.val), nu = BPF_CORE_READ(new, uid.val);

	if (neu == BPF_CORE_READ(old, euid.val) && nu == BPF_CORE_READ(old, uid.val))
		return 0;
	ridx = op_decide(NULL, NULL, ENF_K_SETUID, ENF_K_SETUID, 0, neu, ENF_T_LSM, &mon, &len, 0);
	return ridx ? lsm_act(ridx, ENF_H_LSM_SETUID, mon, len) : 0;
}

/* finit_module: the module file's path. */
SEC("lsm/kernel_read_file")
int BPF_PROG(vigil_enf_lkrf, struct file *file, enum kernel_read_file_id id)
{
	if (id != READING_MODULE || !file)
		return 0;
	return lsm_path(BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry),
			ENF_K_MODULE, ENF_H_LSM_READ_FILE);
}

/* init_module: a blob from memory, no path (rules without paths). */
SEC("lsm/kernel_load_data")
int BPF_PROG(vigil_enf_lkld, enum kernel_load_data_id id)
{
	if (id != LOADING_MODULE)
		return 0;
	return lsm_path(NULL, NULL, ENF_K_MODULE, ENF_H_LSM_LOAD_DATA);
}

/* connect with the policy's errno (the cgroup hook can only give EPERM). */
SEC("lsm/socket_connect")
int BPF_PROG(vigil_enf_lconnect, struct socket *sock, struct sockaddr *address, int addrlen)
{
	__u16 fam = 0, port = 0;
	__u32 a[4] = {}, proto;
	int err;

	if (bpf_probe_read_kernel(&fam, sizeof(fam), &address->sa_family))
		return 0;
	proto = BPF_CORE_READ(sock, sk, sk_protocol);
	if (fam == AF_INET && addrlen >= (int)sizeof(struct sockaddr_in)) {
		struct sockaddr_in *sin = (void *)address;

		bpf_probe_read_kernel(&port, sizeof(port), &sin->sin_port);
		bpf_probe_read_kernel(&a[0], 4, &sin->sin_addr);
		err = net_decide(a[0], 0, 0, 0, 0, bpf_ntohs(port), proto, 1U << ENF_T_LSM,
				 ENF_H_LSM_CONNECT);
	} else if (fam == AF_INET6 && addrlen >= (int)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *sin6 = (void *)address;

		bpf_probe_read_kernel(&port, sizeof(port), &sin6->sin6_port);
		bpf_probe_read_kernel(a, 16, &sin6->sin6_addr);
		err = net_decide(a[0], a[1], a[2], a[3], 1, bpf_ntohs(port), proto,
				 1U << ENF_T_LSM, ENF_H_LSM_CONNECT);
	} else {
		return 0;
	}
	return err ? neg_errno(err) : 0;
}
