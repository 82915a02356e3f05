/* enforcer.h — the enforcer's modules: the policy set as received (enforcer_policy.c),
 * the kernel side (enforcer_bpf.c: load, probe, pin, compile into the rule maps, swap,
 * kill map, reports). Shared with the qemu test binary in tests/vm/. */
#ifndef VIGIL_ENFORCER_H
#define VIGIL_ENFORCER_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "enforce.h"

#define ENFP_ERR 256

struct enfp_strs {
	char **v;
	size_t n;
};

struct enfp_cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t len;    /* prefix length in bits */
	uint8_t addr[16];
};

/* One rule as the policy_set says it (docs/wire.md §10). */
struct enfp_rule {
	char kind_name[24];
	int kind;                   /* ENF_K_*, or ENF_K_NONE */
	struct enfp_strs paths, prefixes, binaries, not_binaries;
	uint32_t uids[ENF_MAX_UIDS];
	int nuids;
	uint16_t port_lo[ENF_MAX_PORTS], port_hi[ENF_MAX_PORTS];
	int nports;
	int flags;                  /* ENF_F_READ/WRITE/TCP/UDP */
	struct enfp_cidr *cidrs;
	size_t ncidrs;
};

/* Per-policy state (STYLE.md: an explicit table, see enforcer_policy.c). */
enum enfp_state { ENFP_DISARMED, ENFP_MONITOR, ENFP_ARMED };

struct enfp_policy {
	char name[ENF_NAME_MAX];
	int monitor;
	int action;                 /* ENF_A_* */
	int err, sig;
	int kill_fallback;
	int scope_all;              /* empty scope map: everywhere */
	int host;
	struct enfp_strs namespaces;
	struct enfp_strs label_keys, label_vals;
	uint64_t *cgids;
	size_t ncgids;
	struct enfp_rule *rules;
	size_t nrules;
	/* Filled when compiled for this node. */
	enum enfp_state state;
	int tier;                   /* ENF_T_* of its file/exec rules (or CGROUP) */
	int net_tier;               /* ENF_T_* of its connect rules: CGROUP, or LSM */
	char tiers[96];             /* e.g. "cgroup+sigkill" */
	char why[200];              /* why it is disarmed */
};

struct enfp_set {
	uint64_t generation;
	int monitor_all;
	struct enfp_policy *pols;
	size_t n;
};

/* Parse a policy_set body. 0, or -1 with err set (the whole set is rejected). */
int enfp_parse(const msgpack_object *ev, struct enfp_set *out, char *err, size_t errlen);
void enfp_free(struct enfp_set *s);
const char *enfp_state_name(enum enfp_state s);

/* Pod metadata from the enricher, kept for label and namespace scopes. */
struct enfp_pod {
	uint64_t cgid;
	char ns[64];
	struct enfp_strs keys, vals;
};
struct enfp_pods {
	struct enfp_pod *v;
	size_t n;
};
/* Apply one pod_meta body: 1 changed, 0 no change, -1 bad body (err set). */
int enfp_pod_meta(struct enfp_pods *pods, const msgpack_object *ev, char *err, size_t errlen);
void enfp_pods_free(struct enfp_pods *pods);
/* Does the pod fall under the policy's namespace / label selectors? */
int enfp_pod_matches(const struct enfp_policy *p, const struct enfp_pod *pod);

/* What may never be blocked (self-protection). */
#define ENFP_PROTECT_CGIDS 32
struct enfp_protect {
	struct enfp_strs bins;      /* vigil's stages, s6, PID 1's binary */
	struct enfp_strs paths;     /* files and directories vigil needs (prefixes) */
	uint64_t cgids[ENFP_PROTECT_CGIDS]; /* vigil's own cgroup and its ancestors */
	int ncgids;
};
void enfp_protect_init(struct enfp_protect *pr, const char *rundir, const char *pin_dir);
void enfp_protect_free(struct enfp_protect *pr);
/* 0, or -1 with err naming the rule and the protected target it would hit. */
int enfp_protect_check(const struct enfp_protect *pr, const struct enfp_policy *p,
		       char *err, size_t errlen);
/* Is this process one that must not be killed? 1 with err set. */
int enfp_protect_pid(const struct enfp_protect *pr, int pid, char *err, size_t errlen);

/* ---- kernel side ---- */
struct enfb;
struct enfb_opts {
	const char *pin_dir;        /* NULL: nothing pinned */
	const char *cgroup_root;    /* cgroup v2 mount for the sock_addr programs */
	int no_lsm;                 /* do not even try BPF LSM */
	int keep_pins;              /* leave pins (enforcement) in force on close */
};
/* Load, probe the tiers, attach (or adopt a predecessor's pins). NULL with err. */
struct enfb *enfb_open(const struct enfb_opts *o, char *err, size_t errlen);
/* Is BPF LSM (the Override tier for files and exec) available? */
int enfb_has_lsm(const struct enfb *b);
/* The LSM hooks that loaded, e.g. "file_open,bprm_check_security,path_unlink". */
const char *enfb_lsm_hooks(const struct enfb *b);
/* Is the bounded-loop build (kernels without bpf_loop) loaded? */
int enfb_noloop(const struct enfb *b);
/* The build of bpf/enforce.bpf.c loaded, e.g. "typed (bpf_rdonly_cast)". */
const char *enfb_build_name(const struct enfb *b);
/* Do the cgroup network hooks give the policy's errno (bpf_set_retval), not EPERM? */
int enfb_net_retval(const struct enfb *b);
/* Which programs are attached now, e.g. "cgroup:4 (/sys/fs/cgroup/unified) sigkill:0
 * killmap:0 lsm:0" while no rule needs the others: the sigkill-tier, kill-map and LSM
 * programs are attached only while a rule in force (or a kill entry) needs them. */
const char *enfb_attached(const struct enfb *b);
/* Programs whose links could not be pinned (they lapse while the enforcer restarts),
 * comma-separated; "" when every link attached so far is pinned. */
const char *enfb_unpinned(const struct enfb *b);
/* Generation in force in the kernel (0 none): survives a restart through the pins. */
uint64_t enfb_generation(const struct enfb *b);
/* Decide tiers, compile s into the idle slot, attach the programs it needs, flip,
 * clear the old slot, detach the programs only the old set needed. Policies that
 * cannot be enforced get state DISARMED and why. 0, or -1 with err (nothing changed). */
int enfb_install(struct enfb *b, struct enfp_set *s, const struct enfp_pods *pods,
		 char *err, size_t errlen);
/* Kill map: raw_tp/sys_enter is attached before the entry is written. 0, or -1 with
 * err. */
int enfb_kill_pid(struct enfb *b, uint32_t pid, uint64_t start_ktime, int sig,
		  const char *policy, char *err, size_t errlen);
int enfb_kill_cgroup(struct enfb *b, uint64_t cgid, int sig, const char *policy,
		     char *err, size_t errlen);
int enfb_unkill_cgroup(struct enfb *b, uint64_t cgid);
/* The start time (task->start_time of the leader) of the process holding pid now:
 * 1 found, 0 no such process, -1 error. */
int enfb_start_ktime(struct enfb *b, uint32_t pid, uint64_t *start);
/* Drop kill entries of processes that are gone; when none is left, raw_tp/sys_enter
 * is detached. Returns the entries left. */
int enfb_kill_sweep(struct enfb *b);
/* Report records: fd to poll, and a drain that calls cb for each. */
int enfb_events_fd(const struct enfb *b);
int enfb_drain(struct enfb *b, void (*cb)(void *arg, const struct enf_event *e), void *arg);
void enfb_close(struct enfb *b);

#endif
