/* policy.h — vigil's policy model, its YAML parser (vigil's own format and Tetragon
 * TracingPolicy / TracingPolicyNamespaced import) and the matcher shared by the
 * evaluator and `vigil policy test`. The format is described in docs/policy.md.
 *
 * Value sets have no fixed size: exact strings are hashed, prefixes and suffixes are
 * looked up once per distinct length, integers are merged sorted ranges. Everything a
 * policy_set holds is owned by it and released by policy_set_free(). */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "strbuf.h"

/* A set of distinct strings. */
struct pol_sset {
	char **v;
	uint32_t *len;
	size_t n, cap;
	uint32_t *tab;  /* open addressing, index + 1; 0 = empty */
	size_t tcap;
	uint32_t *lens; /* distinct lengths, for prefix and suffix lookups */
	size_t nlens;
	/* per string, read as a glob: the length of its literal head (before the first
	 * * ? [ \\) and of its literal tail (after the last * or ?; UINT32_MAX when it has
	 * brackets or escapes), so most globs are ruled out without fnmatch; gstar: the
	 * glob's only special character is * (matched here, without fnmatch) */
	uint32_t *glit, *gtail;
	uint8_t *gstar;
};

enum pol_sop { POL_S_EQ, POL_S_PREFIX, POL_S_SUFFIX, POL_S_GLOB, POL_S_CONTAINS, POL_S_N };

/* A string matcher: any positive test matches (when there are some) and no negative one. */
struct pol_strm {
	struct pol_sset pos[POL_S_N], neg[POL_S_N];
	int npos, nneg;
};

struct pol_range {
	int64_t lo, hi;
};

/* An integer matcher: in one of the `in` ranges (when there are some), in none of `out`. */
struct pol_intm {
	struct pol_range *in, *out;
	size_t nin, nout;
};

struct pol_cidr {
	uint8_t fam; /* 4 or 6 */
	uint8_t bits;
	uint8_t a[16];
	char *text;
};

struct pol_cidrm {
	struct pol_cidr *in, *out;
	size_t nin, nout;
};

struct pol_procm {
	struct pol_strm binary, arguments, cwd;
	struct pol_strm caps;    /* matches when some effective capability matches */
	struct pol_intm uid, pid;
	int set;
};

enum pol_kind {
	POL_K_EXEC, POL_K_EXIT, POL_K_FILE, POL_K_NETWORK, POL_K_PRIVILEGE, POL_K_NAMESPACE,
	POL_K_MOUNT, POL_K_MODULE, POL_K_PTRACE, POL_K_BPF, POL_K_N
};

/* File operations (bit per operation). */
enum {
	POL_OP_OPEN = 1, POL_OP_UNLINK = 2, POL_OP_RENAME = 4, POL_OP_CHMOD = 8,
	POL_OP_TRUNCATE = 16, POL_OP_MKDIR = 32, POL_OP_LINK = 64, POL_OP_MMAP = 128,
	/* network */
	POL_OP_CONNECT = 256, POL_OP_ACCEPT = 512, POL_OP_LISTEN = 1024, POL_OP_BIND = 2048,
	POL_OP_SEND = 4096,
};
enum { POL_A_READ = 1, POL_A_WRITE = 2, POL_A_CREATE = 4 };
enum { POL_DIR_EGRESS = 1, POL_DIR_INGRESS = 2 };
enum { POL_P_TCP = 1, POL_P_UDP = 2, POL_P_ICMP = 4, POL_P_RAW = 8 };

enum pol_act { POL_ACT_NOTIFY, POL_ACT_SIGKILL, POL_ACT_SIGNAL, POL_ACT_OVERRIDE };

struct pol_action {
	enum pol_act kind;
	int sig;     /* POL_ACT_SIGNAL */
	int err;     /* POL_ACT_OVERRIDE: positive errno */
	char *url;   /* HTTP GET on each match (canary), or NULL */
	int nopost;  /* Tetragon NoPost: count, send verdicts, but emit no policy event */
	int set;
};

struct pol_labelreq {
	char *key;
	int op; /* 0 In, 1 NotIn, 2 Exists, 3 DoesNotExist */
	char **vals;
	size_t nvals;
};

struct pol_scope {
	int set;
	int host;                /* host processes (no pod) are in scope */
	int pods;                /* processes in pods are in scope */
	struct pol_strm namespaces, containers, images, pod_names;
	struct pol_labelreq *labels;
	size_t nlabels;
	int labels_simple;       /* only matchLabels: exportable to the enforcer */
};

struct pol_rule {
	enum pol_kind kind;
	unsigned ops;            /* 0 = any operation of the kind */
	int line;
	struct pol_strm function;
	struct pol_procm process, parent, ancestors;
	int in_container;        /* 0 any, 1 only in a container/pod, 2 only on the host */
	struct pol_strm path;
	unsigned access;         /* POL_A_*, 0 = any */
	struct pol_cidrm address;
	struct pol_intm port;
	unsigned protos, dirs;
	struct pol_intm new_uid;
	struct pol_action act;   /* act.set: overrides the policy's action */
	const char *emit_type;   /* Tetragon import: process_kprobe/_lsm/_tracepoint */
	char *emit_fn;           /* Tetragon import: the hook name, for function_name */
	char *message;           /* Tetragon import: per-hook message */
	char **tags;
	size_t ntags;
};

enum pol_sev { POL_SEV_INFO, POL_SEV_LOW, POL_SEV_MEDIUM, POL_SEV_HIGH, POL_SEV_CRITICAL };

struct policy {
	char *name, *description, *file, *origin;
	int line;
	enum pol_sev severity;
	char **tags;
	size_t ntags;
	int enforce;             /* mode: 1 enforce, 0 monitor */
	struct pol_scope scope;
	struct pol_rule *rules;
	size_t nrules;
	struct pol_action act;
	char *message;           /* template, e.g. "{process.binary} opened {file.path}" */
	unsigned kinds;          /* bit per pol_kind of its rules (set when added to a set);
				  * 0 = not computed: every kind is tried */
};

struct policy_set {
	struct policy **p;
	size_t n, cap;
	uint64_t generation;     /* max mtime (ns) of the loaded files and directories */
	/* policy_set_index(): for each event kind, the indices (into p, in order) of the
	 * policies with a rule of that kind; valid while indexed == n */
	size_t *by_kind[POL_K_N], n_by_kind[POL_K_N];
	size_t indexed;
};

/* Error lines "FILE:LINE:COL: what was wrong, and what was expected". */
struct policy_errs {
	char **msg;
	size_t n;
};

/* The facts of one event the matcher looks at. Strings point into the event. */
struct pol_str {
	const char *p;
	size_t n;
};

/* The fields of one Process map the matcher reads, looked up once per event (the first
 * occurrence of each key, as wire_get finds it; NULL when absent). */
struct pol_pfields {
	const msgpack_object *binary, *arguments, *cwd, *uid, *pid, *cap, *pod, *docker;
};

struct pol_ev {
	enum pol_kind kind;
	unsigned op;
	char type[24];           /* the message type */
	struct pol_str function;
	const msgpack_object *ev, *proc, *parent, *ancestors;
	struct pol_str path, path2;
	unsigned access;
	int has_addr;
	uint8_t fam, addr[16];
	struct pol_str addr_text;
	int64_t port;
	unsigned proto, dir;
	int has_uid;
	int64_t new_uid;
	struct pol_str ns_changes; /* namespace events: string_arg [ns_changes] (enricher) */
	/* proc's and parent's fields, filled by the matcher the first time a rule reads
	 * them (so a pol_ev is never a const object); pf_ok is set by policy_event — 0 (a
	 * pol_ev built by hand): the matcher looks the fields up each time */
	int pf_ok;
	unsigned pf_have;        /* bit 0: pf_proc filled, bit 1: pf_parent */
	struct pol_pfields pf_proc, pf_parent;
};

struct policy_set *policy_set_new(void);
void policy_set_free(struct policy_set *s);
void policy_errs_free(struct policy_errs *e);
/* Parse one YAML file (several documents allowed) into s. Returns the number of errors
 * added to errs; on error nothing from that file is added to s. */
int policy_parse_file(struct policy_set *s, const char *path, struct policy_errs *errs);
/* Same, from memory; name is used in error lines. */
int policy_parse_buf(struct policy_set *s, const char *name, const char *buf, size_t len,
		     struct policy_errs *errs);
/* Parse a file or every *.yaml / *.yml in a directory (sorted). Missing directories are
 * not errors. Policy names must be unique across s. Returns the number of errors. */
int policy_load_path(struct policy_set *s, const char *path, struct policy_errs *errs);
/* Build s->by_kind for the policies now in s (call again after adding more). */
void policy_set_index(struct policy_set *s);
/* The policies of s that can match an event of kind k: *n indices into s->p, in order
 * (the index when current, else every policy: idx is then NULL and i stands for itself). */
const size_t *policy_set_candidates(const struct policy_set *s, enum pol_kind k, size_t *n);

/* What the rules of s can match, for the collector's in-kernel filter: POL_NEED_* bits
 * (process events are always needed); the path prefixes file rules are limited to in
 * *pre (*npre of them, malloc'd, each at most POL_NEED_PREFIX_MAX bytes, none a prefix
 * of another): an exact path, a prefix, a glob's literal head. A file rule without a
 * positive path test, or with a suffix or contains test, matches any path: for opens
 * that may read (POL_NEED_ALL_PATHS: every path of every operation; *pre is then
 * empty), for opens for writing only (POL_NEED_ALL_WRITES), for the other operations
 * (POL_NEED_ALL_PATHOPS: chmod, unlink, rename, truncate, link). More than
 * POL_NEED_PREFIXES_MAX prefixes need every path too. */
enum {
	POL_NEED_FILE = 1, POL_NEED_NET = 2, POL_NEED_PRIV = 4, POL_NEED_ALL_PATHS = 8,
	POL_NEED_ALL_WRITES = 16, POL_NEED_ALL_PATHOPS = 32
};
#define POL_NEED_PREFIX_MAX 255
#define POL_NEED_PREFIXES_MAX 256
unsigned policy_set_needs(const struct policy_set *s, char ***pre, size_t *npre);

/* Extract what the matcher needs. Returns -1 for a message type policies cannot match. */
int policy_event(struct pol_ev *e, const char *type, const msgpack_object *ev);
/* Index of the first rule of p that matches e (scope included), or -1. */
int policy_match(const struct policy *p, const struct pol_ev *e);
/* The action in force for rule r of p. */
const struct pol_action *policy_rule_action(const struct policy *p, size_t r);
/* Tetragon's action name for a match: KPROBE_ACTION_POST in monitor mode. */
const char *policy_action_name(const struct policy *p, const struct pol_action *a);
/* Render the policy's (or the rule's) message template for e into out. */
void policy_render(const struct policy *p, size_t r, const struct pol_ev *e,
		   struct strbuf *out);
/* Does rule r compile into the enforcer's rule maps (docs/wire.md §10)? */
int policy_rule_kernel(const struct policy *p, size_t r);
/* Pack a `policy_set` body: every enforce-capable policy's kernel rules. */
void policy_pack_set(const struct policy_set *s, const char *mode, msgpack_packer *pk);

#endif
