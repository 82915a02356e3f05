/* enricher — says who did it: turns raw collector events into Tetragon-shaped events
 * with process, parent (and on request ancestors), exec_ids, the container id from the
 * cgroup and, with Kubernetes configured, the pod. Events that cannot be enriched yet
 * (their process's exec or their pod has not arrived) are held briefly, in order per
 * process, then emitted with a flag: never dropped. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "enricher_cache.h"
#include "enricher_cgroup.h"
#include "enricher_intern.h"
#include "enricher_k8s.h"
#include "enricher_ns.h"
#include "enricher_pack.h"
#include "mpdec.h"
#include "stage.h"
#include "statefile.h"
#include "wire.h"

#define BATCH 512
#define TICK_MS 20     /* held events are retried this often */
#define IDLE_MS 1000   /* the longest the timer sleeps (malloc_trim cadence) */
#define MAX_ANCESTORS 64
#define MAX_SHARDS 64

/* Why an event is being held, and the flags it leaves with. */
enum { HOLD_NOPROC = 1, HOLD_POD = 2, HOLD_ORDER = 3 };
enum { F_MISS = 1, F_NOPOD = 2 };
/* What of the raw body goes out with the event. */
enum { K_EXEC, K_EXIT, K_GENERIC };

static const char *opt_input, *opt_input2, *opt_output, *opt_node, *opt_hwm = "10000",
		  *opt_cap = "131072", *opt_hold = "100", *opt_pod_wait = "1000",
		  *opt_pend_max = "10000", *opt_linger = "2000", *opt_ancestors = "",
		  *opt_cgroot, *opt_k8s_url, *opt_k8s_token, *opt_k8s_ca, *opt_enforcer,
		  *opt_backoff = "30000", *opt_evaluators = "1";
static int opt_k8s, opt_annotations;
static char node_name[256];
static struct wire_in in, in2;
static struct wire_out out;
static void *in_sock, *in2_sock, *out_sock, *k8s_sock, *enf_sock;
static uint64_t *c_exec, *c_exit, *c_clone, *c_held, *c_miss, *c_nopod, *c_overflow,
	*c_pm_sent, *c_pm_drop, *c_docker, *c_ns_changed, *c_ns_same;
static unsigned ancestors_mask;
static uint64_t hold_ns, pod_wait_ns, pend_max, pm_seq;
static int k8s_on;
static struct stage *g_st;

/* Output shards (--evaluators N > 1): shard k is a PUSH socket bound at the output
 * endpoint (k = 0) or at "<output>.<k>", consumed by one evaluator. Every event of a
 * process goes to the shard of its tgid, so an exec, its process's events and its exit
 * reach one evaluator, in order. Each shard is its own producer on the wire (src
 * "<name>/<k>", own sequence numbers kept in <rundir>/<name>.out<k>.state), so each
 * evaluator sees a gap-free stream. With N = 1 the output is the plain single stream. */
struct shard {
	void *sock;
	struct state *state;
	uint64_t *c_out;
	char src[STATE_SRC_LEN];
};
static struct shard shards[MAX_SHARDS];
static unsigned nshards = 1, cur_shard;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to connect (default ipc://RUNDIR/collector.out)" },
	{ "input2", &opt_input2, NULL,
	  "PULL endpoint to bind for other raw producers, e.g. the enforcer (default ipc://RUNDIR/enricher.in)" },
	{ "output", &opt_output, NULL, "PUSH endpoint to bind (default ipc://RUNDIR/enricher.out)" },
	{ "node-name", &opt_node, NULL, "node name in exec_ids (default $NODE_NAME or hostname)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the output (default 10000)" },
	{ "cache-size", &opt_cap, NULL, "process cache capacity (default 131072)" },
	{ "hold-ms", &opt_hold, NULL,
	  "how long an event waits for its process's exec (default 100)" },
	{ "pod-wait-ms", &opt_pod_wait, NULL,
	  "how long an event from a pod's container waits for the pod (default 1000)" },
	{ "pending-max", &opt_pend_max, NULL, "held events at most (default 10000)" },
	{ "exit-linger-ms", &opt_linger, NULL,
	  "how long an exited process stays findable (default 2000)" },
	{ "ancestors", &opt_ancestors, NULL,
	  "event kinds that get ancestors: exec,exit,kprobe,tracepoint,lsm or all (default none)" },
	{ "cgroup-root", &opt_cgroot, NULL, "cgroup2 mount (default: from /proc/self/mountinfo)" },
	{ "k8s", NULL, &opt_k8s, "enable Kubernetes pod metadata (in-cluster configuration)" },
	{ "k8s-url", &opt_k8s_url, NULL, "API server URL (implies --k8s)" },
	{ "k8s-token-file", &opt_k8s_token, NULL,
	  "bearer token file (default /var/run/secrets/kubernetes.io/serviceaccount/token)" },
	{ "k8s-ca", &opt_k8s_ca, NULL,
	  "CA bundle (default /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)" },
	{ "k8s-backoff-max-ms", &opt_backoff, NULL, "reconnect backoff cap (default 30000)" },
	{ "pod-annotations", NULL, &opt_annotations, "add pod_annotations to the pod" },
	{ "enforcer", &opt_enforcer, NULL,
	  "PUSH endpoint for pod_meta (default ipc://RUNDIR/enforcer.in; with Kubernetes only)" },
	{ "evaluators", &opt_evaluators, NULL,
	  "output shards, one per evaluator: events routed by a hash of the tgid (default 1)" },
	{ 0 },
};

/* ---- held events -------------------------------------------------------- */

struct pend {
	struct pend *next, *prev; /* the queue, oldest first */
	struct pend *pnext;   /* the next held event of the same pid */
	struct proc *p;       /* resolved process (a reference), or NULL */
	uint64_t deadline;    /* for the current reason */
	uint64_t ktime;       /* the event's monotonic time (0 = not given) */
	uint32_t pid;
	uint8_t reason, kind, flags;
	char type[24];
	char *body;           /* the raw body, packed */
	size_t len;
};
static struct pend *pq_head, *pq_tail;
static uint64_t pq_len;

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* The kind bit used by --ancestors for an event type. */
static unsigned kind_bit(const char *type)
{
	static const char *const names[] = { "process_exec", "process_exit", "process_kprobe",
					     "process_tracepoint", "process_lsm" };
	unsigned i;

	for (i = 0; i < 5; i++)
		if (strcmp(type, names[i]) == 0)
			return 1u << i;
	return 1u << 5;
}

/* Parse the --ancestors list; -1 on an unknown word. */
static int parse_ancestors(const char *s)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char type[64];

		if (strcmp(tok, "all") == 0) {
			ancestors_mask = ~0u;
			continue;
		}
		if (strcmp(tok, "none") == 0)
			continue;
		snprintf(type, sizeof(type), "process_%s", tok);
		if (kind_bit(type) == 1u << 5) {
			log_error("--ancestors: unknown event kind '%s'", tok);
			return -1;
		}
		ancestors_mask |= kind_bit(type);
	}
	return 0;
}

/* The pod and container of p, when Kubernetes knows them. Returns 1 when p is in a pod's
 * container cgroup (so *pod may be NULL: not known yet), else 0. */
static int pod_of(const struct proc *p, const struct cg_entry **cgp, const struct k8s_pod **pod,
		  const struct k8s_container **c)
{
	const struct cg_entry *cg = p->cgroup_id ? cgroup_lookup(p->cgroup_id) : NULL;

	*cgp = cg;
	*pod = NULL;
	*c = NULL;
	if (!cg || !cg->info.id[0] || !cg->info.pod_uid[0] || !k8s_on)
		return 0;
	*pod = k8s_pod_get(cg->info.pod_uid);
	if (*pod)
		*c = k8s_container(*pod, cg->info.id);
	return 1;
}

/* Does p belong to a pod container whose metadata has not arrived yet? */
static int needs_pod(const struct proc *p)
{
	const struct cg_entry *cg;
	const struct k8s_pod *pod;
	const struct k8s_container *c;

	return pod_of(p, &cg, &pod, &c) && (!pod || !c);
}

/* A scratch buffer of at least n bytes for one packed map (grown, never shrunk). */
static char *scratch(size_t n)
{
	static char *buf;
	static size_t cap;

	if (n > cap) {
		cap = n < 4096 ? 4096 : n * 2;
		free(buf);
		buf = malloc(cap);
		if (!buf)
			log_panic("out of memory");
	}
	return buf;
}

/* Room for n more bytes at the end of the output message: the per-event path writes
 * straight into it (enricher_pack.h) and ob_commit then takes what was written; the
 * packer's own writes (pods, ancestors, rare paths) append to the same buffer. */
static char *ob_reserve(size_t n)
{
	msgpack_sbuffer *sb = &out.sb;

	if (sb->alloc - sb->size < n) {
		size_t cap = sb->alloc ? sb->alloc * 2 : 8192;
		char *d;

		while (cap - sb->size < n)
			cap *= 2;
		d = realloc(sb->data, cap);
		if (!d)
			log_panic("out of memory");
		sb->data = d;
		sb->alloc = cap;
	}
	return sb->data + sb->size;
}

/* Take the bytes written since ob_reserve, up to o. */
static void ob_commit(const char *o)
{
	out.sb.size = (size_t)(o - out.sb.data);
}

/* The most bytes proc_entries writes for p with tlen bytes of tokens: keys and
 * integers, 16 entries of at most 16 + 9 bytes; exec_ids at most 2 x 453. */
static size_t proc_entries_max(const struct proc *p, size_t tlen)
{
	size_t fllen = p->clone ? 5 : cache_strlen(p, PB_FLAGS);

	return istr_len(p->extra) + 16 * 25 + 2 * 453 + EP_STR_MAX(cache_strlen(p, PB_CWD)) +
	       EP_STR_MAX(cache_strlen(p, PB_BINARY)) + EP_STR_MAX(cache_strlen(p, PB_ARGS)) +
	       EP_STR_MAX(fllen + 1 + tlen);
}

/* Write the entries of p's Process map at o, all but docker and pod (which depend on the
 * cgroup and pod stores, not on the entry): the collector's extra fields, exec_id through
 * parent_exec_id. tokens (tlen bytes): extra flags for this event only. *n gets the
 * number of entries; returns the end. */
static char *proc_entries(char *o, const struct proc *p, const char *tokens, size_t tlen,
			  uint32_t *n)
{
	const char *cwd = cache_str(p, PB_CWD), *bin = cache_str(p, PB_BINARY),
		   *args = cache_str(p, PB_ARGS), *fl = p->clone ? "clone" : cache_str(p, PB_FLAGS);
	size_t cwdl = cache_strlen(p, PB_CWD), binl = cache_strlen(p, PB_BINARY),
	       argsl = cache_strlen(p, PB_ARGS), xl = istr_len(p->extra),
	       fllen = !fl ? 0 : p->clone ? 5 : cache_strlen(p, PB_FLAGS);
	int has_parent = p->parent || p->ppid;

	*n = 6 + p->extra_n + (cwd != NULL) + (bin != NULL) + (args != NULL) +
	     (fllen + tlen != 0) + has_parent;
	if (p->extra_n) { /* already-packed entries: append the bytes as they are */
		memcpy(o, p->extra, xl);
		o += xl;
	}
	o = EP_KEY(o, "exec_id");
	o = ep_strhdr(o, cache_exec_id_len(p->ktime, p->pid));
	o += cache_exec_id(p->ktime, p->pid, o, 448);
	o = EP_KEY(o, "pid");
	o = ep_uint(o, p->pid);
	o = EP_KEY(o, "uid");
	o = ep_uint(o, p->uid);
	if (cwd) {
		o = EP_KEY(o, "cwd");
		o = ep_str(o, cwd, cwdl);
	}
	if (bin) {
		o = EP_KEY(o, "binary");
		o = ep_str(o, bin, binl);
	}
	if (args) {
		o = EP_KEY(o, "arguments");
		o = ep_str(o, args, argsl);
	}
	if (fllen + tlen) { /* the entry's flags, then this event's tokens, space-separated */
		size_t sep = fllen && tlen;

		o = EP_KEY(o, "flags");
		o = ep_strhdr(o, fllen + sep + tlen);
		memcpy(o, fl, fllen);
		o += fllen;
		if (sep)
			*o++ = ' ';
		memcpy(o, tokens, tlen);
		o += tlen;
	}
	o = EP_KEY(o, "start_time");
	o = ep_uint(o, p->start_time);
	o = EP_KEY(o, "auid");
	o = ep_uint(o, p->auid);
	o = EP_KEY(o, "tid");
	o = ep_uint(o, p->tid);
	if (has_parent) {
		uint64_t k = p->parent ? p->parent->ktime : p->pktime;
		uint32_t pid = p->parent ? p->parent->pid : p->ppid;

		o = EP_KEY(o, "parent_exec_id");
		o = ep_strhdr(o, cache_exec_id_len(k, pid));
		o += cache_exec_id(k, pid, o, 448);
	}
	return o;
}

/* Packed Process entries, remembered: a process's events mostly come in runs (file
 * opens, connects), and its Process map (and its parent's) is the same in each of them
 * until the entry changes. The memo is keyed by everything proc_entries reads, compared
 * by value, so no change of the entry can be missed, whatever code made it; it holds a
 * reference to each interned string it names, so an equal pointer is the same string
 * (a freed one cannot come back at that address while the memo holds it). Direct-mapped
 * by cache slot and bounded: MEMO_N buffers of one Process's entries each (some hundreds
 * of bytes), whatever the number of cached processes. Tokens (miss, noPod) and the
 * docker and pod entries are never remembered: pack_proc adds them per event. */
#define MEMO_N 1024
struct memo_key {
	const char *extra, *cwd, *bin, *args, *flags;
	uint64_t ktime, start_time, pktime;
	uint32_t pid, uid, auid, tid, ppid;
	uint16_t extra_n;
	uint8_t has_parent, clone;
};
struct memo {
	struct memo_key k;
	char *buf;          /* the entries' bytes */
	uint32_t len, cap;
	uint32_t n;         /* the number of entries */
	uint8_t used;
};
static struct memo memo_tab[MEMO_N];
static uint64_t memo_hits, memo_builds;

/* The memo key of p (padding zeroed: keys are compared with memcmp). */
static void memo_key_of(const struct proc *p, struct memo_key *k)
{
	memset(k, 0, sizeof(*k));
	k->extra = p->extra;
	k->cwd = cache_str(p, PB_CWD);
	k->bin = cache_str(p, PB_BINARY);
	k->args = cache_str(p, PB_ARGS);
	k->flags = cache_str(p, PB_FLAGS);
	k->ktime = p->ktime;
	k->start_time = p->start_time;
	k->pktime = p->parent ? p->parent->ktime : p->pktime;
	k->pid = p->pid;
	k->uid = p->uid;
	k->auid = p->auid;
	k->tid = p->tid;
	k->ppid = p->parent ? p->parent->pid : p->ppid;
	k->extra_n = p->extra_n;
	k->has_parent = p->parent || p->ppid;
	k->clone = p->clone;
}

/* Drop the memo's references to its strings. */
static void memo_put_strings(const struct memo_key *k)
{
	istr_put(k->extra);
	istr_put(k->cwd);
	istr_put(k->bin);
	istr_put(k->args);
	istr_put(k->flags);
}

/* p's Process entries without tokens, from the memo or packed now. */
static const struct memo *memo_get(const struct proc *p)
{
	struct memo *m = &memo_tab[p->slot & (MEMO_N - 1)];
	struct memo_key k;
	char *b, *o;
	size_t len;

	memo_key_of(p, &k);
	if (m->used && memcmp(&m->k, &k, sizeof(k)) == 0) {
		memo_hits++;
		return m;
	}
	b = scratch(proc_entries_max(p, 0));
	o = proc_entries(b, p, "", 0, &m->n);
	len = (size_t)(o - b);
	if (len > m->cap) {
		free(m->buf);
		m->cap = (uint32_t)(len < 256 ? 256 : len + len / 4);
		m->buf = malloc(m->cap);
		if (!m->buf)
			log_panic("out of memory");
	}
	memcpy(m->buf, b, len);
	m->len = (uint32_t)len;
	if (m->used)
		memo_put_strings(&m->k);
	m->k = k;
	istr_ref(k.extra);
	istr_ref(k.cwd);
	istr_ref(k.bin);
	istr_ref(k.args);
	istr_ref(k.flags);
	m->used = 1;
	memo_builds++;
	return m;
}

/* Pack a Process map. tokens (tlen bytes): extra flags for this event only. The entries
 * come from the memo (no tokens) or are packed now; docker (and, for an exec's process,
 * exec != 0, cgroup_id and cgroup_name) and the key "pod" follow, written straight into
 * the output, then the pod through the packer. */
static void pack_proc(msgpack_packer *pk, const struct proc *p, const char *tokens, size_t tlen,
		      int exec)
{
	const struct cg_entry *cg;
	const struct k8s_pod *pod;
	const struct k8s_container *c;
	const char *body;
	size_t blen, cglen = 0;
	uint32_t n;
	int docker, cgid, cgname;
	char *o;

	pod_of(p, &cg, &pod, &c);
	docker = cg && cg->info.id[0];
	cgid = exec && p->cgroup_id;
	cgname = cgid && cg && cg->path;
	if (cgname)
		cglen = strlen(cg->path);
	if (tlen == 0) {
		const struct memo *m = memo_get(p);

		body = m->buf;
		blen = m->len;
		n = m->n;
	} else {
		char *b = scratch(proc_entries_max(p, tlen));

		body = b;
		blen = (size_t)(proc_entries(b, p, tokens, tlen, &n) - b);
	}
	o = ob_reserve(5 + blen + 8 + EP_STR_MAX(31) + 4 + 11 + 9 + 13 + EP_STR_MAX(cglen));
	o = ep_map(o, n + docker + (pod != NULL) + cgid + cgname);
	memcpy(o, body, blen);
	o += blen;
	if (cgid) {
		o = EP_KEY(o, "cgroup_id");
		o = ep_uint(o, p->cgroup_id);
	}
	if (cgname) {
		o = EP_KEY(o, "cgroup_name");
		o = ep_str(o, cg->path, cglen);
	}
	if (docker) {
		o = EP_KEY(o, "docker"); /* as Tetragon: the first 31 characters */
		o = ep_str(o, cg->info.id, 31);
	}
	if (pod)
		o = EP_KEY(o, "pod");
	ob_commit(o);
	if (pod)
		k8s_pack_pod_ex(pk, pod, c, opt_annotations, p->nspid,
				k8s_maybe_exec_probe(c, cache_str(p, PB_BINARY),
						     cache_str(p, PB_ARGS)));
}

/* The raw base keys of an event (docs/wire.md §9.1), which are not passed through. */
enum { RK_TIME, RK_KTIME, RK_PID, RK_TID, RK_START, RK_PPID, RK_PKTIME, RK_CGROUP, RK_NSPID,
       RK_N };

/* The RK_* number of a key, or -1: by length first (no strlen per key per event). */
static int raw_key_id(const msgpack_object *k)
{
	const char *s = k->via.str.ptr;

	if (k->type != MSGPACK_OBJECT_STR)
		return -1;
	switch (k->via.str.size) {
	case 3:
		return !memcmp(s, "pid", 3) ? RK_PID : !memcmp(s, "tid", 3) ? RK_TID : -1;
	case 4:
		return !memcmp(s, "time", 4) ? RK_TIME : !memcmp(s, "ppid", 4) ? RK_PPID : -1;
	case 5:
		return !memcmp(s, "ktime", 5) ? RK_KTIME : !memcmp(s, "nspid", 5) ? RK_NSPID : -1;
	case 6:
		return !memcmp(s, "pktime", 6) ? RK_PKTIME : -1;
	case 9:
		return !memcmp(s, "cgroup_id", 9) ? RK_CGROUP : -1;
	case 11:
		return !memcmp(s, "start_ktime", 11) ? RK_START : -1;
	}
	return -1;
}

/* Is k one of the raw base keys (not passed through)? */
static int is_raw_key(const msgpack_object *k)
{
	return raw_key_id(k) >= 0;
}

/* What emit needs of a raw body, found in one pass over its keys. */
struct bscan {
	uint64_t time;               /* the raw "time" (0 when absent) */
	uint64_t rawmask;            /* bit i: entry i is a raw base key (maps of <= 64) */
	uint32_t nbody;              /* entries that are not raw base keys (passed through) */
	const msgpack_object *fn;    /* the first "function_name"'s value, or NULL */
};

/* The unsigned raw base keys of a body in one pass: v[RK_*], bit RK_* of the result set
 * when present with an unsigned value (the first occurrence counts, as wire_get's); and
 * what emit needs (bs). */
static unsigned scan_body(const msgpack_object *ev, uint64_t v[RK_N], struct bscan *bs)
{
	const msgpack_object_map *m = &ev->via.map;
	unsigned have = 0, seen = 0;
	uint32_t i;

	bs->rawmask = 0;
	bs->nbody = 0;
	bs->fn = NULL;
	for (i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		int id = raw_key_id(k);

		if (id < 0) {
			bs->nbody++;
			if (!bs->fn && k->type == MSGPACK_OBJECT_STR && k->via.str.size == 13 &&
			    !memcmp(k->via.str.ptr, "function_name", 13))
				bs->fn = &m->ptr[i].val;
			continue;
		}
		if (i < 64)
			bs->rawmask |= 1ull << i;
		if (seen & 1u << id)
			continue;
		seen |= 1u << id;
		if (m->ptr[i].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			v[id] = m->ptr[i].val.via.u64;
			have |= 1u << id;
		}
	}
	bs->time = have & 1u << RK_TIME ? v[RK_TIME] : 0;
	return have;
}

/* Can the body be a namespace change (ns_change_args)? Only a sys_* function_name can. */
static int bscan_maybe_ns(const struct bscan *bs)
{
	return bs->fn && bs->fn->type == MSGPACK_OBJECT_STR && bs->fn->via.str.size >= 4 &&
	       !memcmp(bs->fn->via.str.ptr, "sys_", 4);
}

static void send_pod_meta(const struct cg_entry *cg, const struct k8s_pod *pod, int del);

/* The shard of a process: a multiplicative hash of its tgid, so consecutive pids spread. */
static unsigned shard_of(uint32_t tgid)
{
	return (unsigned)(((uint64_t)(tgid * 2654435761u) * nshards) >> 32);
}

/* Start an output message for the process tgid: the plain stream, or its shard's. The
 * envelope is written in one go, the bytes wire_begin's packer would write. */
static msgpack_packer *out_begin(const char *type, uint32_t tgid)
{
	const char *src;
	size_t tl = strlen(type), sl;
	uint64_t seq;
	char *o;

	if (nshards == 1) {
		src = stage_name(out.st);
		/* numbered before sending, as wire_begin does: a loss in our hands is a gap */
		seq = ++stage_state(out.st)->out_seq;
	} else {
		cur_shard = shard_of(tgid);
		src = shards[cur_shard].src;
		seq = ++shards[cur_shard].state->out_seq;
	}
	sl = strlen(src);
	out.sb.size = 0;
	o = ob_reserve(32 + EP_STR_MAX(tl) + EP_STR_MAX(sl) + EP_UINT_MAX);
	o = ep_map(o, 5);
	o = EP_KEY(o, "v");
	o = ep_uint(o, WIRE_VERSION);
	o = EP_KEY(o, "type");
	o = ep_str(o, type, tl);
	o = EP_KEY(o, "src");
	o = ep_str(o, src, sl);
	o = EP_KEY(o, "seq");
	o = ep_uint(o, seq);
	o = EP_KEY(o, "ev");
	ob_commit(o);
	return &out.pk;
}

/* Send the message begun by out_begin, blocking at the shard's high-water mark. */
static void out_end(void)
{
	if (nshards == 1) {
		wire_end(&out);
		return;
	}
	if (stage_send(g_st, shards[cur_shard].sock, out.sb.data, out.sb.size) < 0)
		return;
	(*out.c_out)++;
	(*shards[cur_shard].c_out)++;
}

/* Tell the enforcer about p's container cgroup the first time we see it with its pod. */
static void maybe_pod_meta(const struct proc *p)
{
	const struct cg_entry *cg;
	const struct k8s_pod *pod;
	const struct k8s_container *c;

	if (pod_of(p, &cg, &pod, &c) && pod && c && !cg->sent) {
		send_pod_meta(cg, pod, 0);
		((struct cg_entry *)cg)->sent = 1;
	}
}

/* The events.<type> counter of a generic event kind (looked up once per kind). */
static uint64_t *generic_counter(const char *type)
{
	static const char *const names[] = { "process_kprobe", "process_tracepoint",
					     "process_lsm" };
	static uint64_t *c[3];
	size_t i;

	for (i = 0; i < 3; i++)
		if (strcmp(type, names[i]) == 0) {
			if (!c[i])
				c[i] = counters_get2(stage_counters(in.st), "events.", type);
			return c[i];
		}
	return counters_get2(stage_counters(in.st), "events.", type);
}

/* Write node_name, time and _vigil (docs/wire.md §9.4) straight into the output. */
static void pack_tail(const struct proc *p, uint64_t time)
{
	static size_t node_len = (size_t)-1;
	char *o;

	if (node_len == (size_t)-1)
		node_len = strlen(node_name);
	o = ob_reserve(128 + EP_STR_MAX(node_len));
	o = EP_KEY(o, "node_name");
	o = ep_str(o, node_name, node_len);
	o = EP_KEY(o, "time");
	o = ep_uint(o, time);
	/* the pipeline-internal facts of an event: the acting process's fork and exec
	 * times and its cgroup, for verdicts that must not hit a reused pid; never
	 * exported */
	o = EP_KEY(o, "_vigil");
	o = ep_map(o, 1 + (p->start_ktime != 0) + (p->cgroup_id != 0));
	if (p->start_ktime) {
		o = EP_KEY(o, "start_ktime");
		o = ep_uint(o, p->start_ktime);
	}
	o = EP_KEY(o, "exec_ktime");
	o = ep_uint(o, p->ktime);
	if (p->cgroup_id) {
		o = EP_KEY(o, "cgroup_id");
		o = ep_uint(o, p->cgroup_id);
	}
	ob_commit(o);
}

/* Where the string key k begins in raw[0..end), from where the decoder found its bytes:
 * NULL unless its header is the fixstr or str8 just before them. (The header found is
 * then the real one: any longer header ends with the length's low byte, which is the
 * size itself, never 0xa0 | size, and str16/32 put a 0 where str8 has 0xd9.) */
static const char *key_start(const msgpack_object *k, const char *raw, const char *end)
{
	const char *s = k->via.str.ptr;
	uint32_t n = k->via.str.size;

	if (k->type != MSGPACK_OBJECT_STR || s < raw || s > end || n > (size_t)(end - s))
		return NULL;
	if (n < 32 && s - raw >= 1 && (uint8_t)s[-1] == (0xa0 | n))
		return s - 1;
	if (n >= 32 && n < 256 && s - raw >= 2 && (uint8_t)s[-2] == 0xd9 &&
	    (uint8_t)s[-1] == n)
		return s - 2;
	return NULL;
}

/* Append the entries of the packed body map raw[0..len) that are not raw base keys, byte
 * for byte, without walking the values: decoded as ev, whose keys point into raw, entry i
 * runs from where key i begins to where key i + 1 (or the map) ends; runs of passed
 * entries are copied whole. -1 (nothing written) when a key's position cannot be told
 * (then copy_body walks the bytes). */
static int copy_body_fast(const msgpack_object *ev, const char *raw, size_t len,
			  uint64_t rawmask)
{
	const msgpack_object_map *m = &ev->via.map;
	const char *end = raw + len, *first, *k, *run = NULL, *prev = NULL;
	uint32_t n, i;
	char *o;

	if (m->size > 64 || !(first = ep_map_hdr(raw, end, &n)) || n != m->size)
		return -1;
	o = ob_reserve(len);
	for (i = 0; i < n; i++) {
		k = key_start(&m->ptr[i].key, raw, end);
		if (!k || (i == 0 ? k != first : k <= prev))
			return -1;
		prev = m->ptr[i].key.via.str.ptr + m->ptr[i].key.via.str.size;
		if (rawmask >> i & 1) { /* a raw key: the run before it ends here */
			if (run) {
				memcpy(o, run, (size_t)(k - run));
				o += k - run;
				run = NULL;
			}
		} else if (!run) {
			run = k;
		}
	}
	if (n && prev >= end)
		return -1; /* the last key has no value inside raw */
	if (run) {
		memcpy(o, run, (size_t)(end - run));
		o += end - run;
	}
	ob_commit(o);
	return 0;
}

/* Append the entries of the packed body map raw[0..len) that are not raw base keys,
 * byte for byte; -1 (nothing written) when the bytes do not parse. */
static int copy_body(msgpack_packer *pk, const char *raw, size_t len)
{
	const char *p = raw, *end = raw + len, *k, *v;
	uint32_t n, i;
	char *b, *o;

	if (!(p = ep_map_hdr(p, end, &n)))
		return -1;
	b = o = scratch(len);
	for (i = 0; i < n; i++) {
		msgpack_object key = { .type = MSGPACK_OBJECT_NIL };
		const char *s;
		size_t sl = 0;

		k = p;
		if ((s = ep_str_view(k, end, &sl))) {
			key.type = MSGPACK_OBJECT_STR;
			key.via.str.ptr = s;
			key.via.str.size = (uint32_t)sl;
		}
		if (!(v = ep_skip(k, end, 0)) || !(p = ep_skip(v, end, 0)))
			return -1;
		if (!is_raw_key(&key)) {
			memcpy(o, k, (size_t)(p - k));
			o += p - k;
		}
	}
	pk->callback(pk->data, b, (size_t)(o - b));
	return 0;
}

/* Emit {process, parent, [ancestors], ...body..., node_name, time, _vigil}. bs: the body
 * scanned already (on_generic), or NULL. */
static void emit(const char *type, int kind, struct proc *p, const msgpack_object *ev,
		 const char *raw, size_t rawlen, unsigned flags, const struct bscan *bs)
{
	static const char *const tokens[4] = { "", "miss", "noPod", "miss noPod" };
	static const size_t tlen[4] = { 0, 4, 5, 10 };
	const msgpack_object_map *m = &ev->via.map;
	msgpack_packer *pk;
	struct proc *a;
	struct bscan local;
	const char *sig = NULL, *after = NULL;
	const msgpack_object *nsargs;
	char changes[NS_CHANGES_MAX], *o;
	uint64_t status = 0;
	size_t i, n = 3 + (p->parent != NULL), na = 0, siglen = 0, alen = 0;
	int clen;
	unsigned fl = flags & (F_MISS | F_NOPOD);
	int anc = ancestors_mask && (ancestors_mask & kind_bit(type)) && p->parent &&
		  p->parent->parent;

	if (!bs) {
		uint64_t v[RK_N] = { 0 };

		scan_body(ev, v, &local);
		bs = &local;
	}
	if (kind == K_EXIT) {
		wire_get_u64(ev, "status", &status);
		wire_get_str(ev, "signal", &sig, &siglen);
		n += 1 + (sig != NULL);
	} else if (kind == K_GENERIC) {
		n += bs->nbody;
	}
	if (anc)
		for (a = p->parent->parent; a && na < MAX_ANCESTORS; a = a->parent)
			na++;
	n += anc;
	pk = out_begin(type, p->pid);
	o = ob_reserve(16);
	o = ep_map(o, (uint32_t)(n + 1));
	o = EP_KEY(o, "process");
	ob_commit(o);
	pack_proc(pk, p, tokens[fl], tlen[fl], kind == K_EXEC);
	if (p->parent) {
		o = ob_reserve(8);
		o = EP_KEY(o, "parent");
		ob_commit(o);
		pack_proc(pk, p->parent, "", 0, 0);
	}
	if (anc) {
		pack_str(pk, "ancestors");
		msgpack_pack_array(pk, na);
		for (a = p->parent->parent, i = 0; i < na; a = a->parent, i++)
			pack_proc(pk, a, "", 0, 0);
	}
	if (kind == K_EXIT) {
		pack_str(pk, "status");
		msgpack_pack_uint64(pk, status);
		if (sig) {
			pack_str(pk, "signal");
			msgpack_pack_str_with_body(pk, sig, siglen);
		}
	} else if (kind == K_GENERIC && bscan_maybe_ns(bs) &&
		   (nsargs = ns_change_args(ev, &after, &alen)) &&
		   (clen = ns_changes(p, after, alen, changes)) >= 0) {
		/* a namespace change: its args get ns_changes, the rest as it is */
		for (i = 0; i < m->size; i++)
			if (!is_raw_key(&m->ptr[i].key)) {
				msgpack_pack_object(pk, m->ptr[i].key);
				if (&m->ptr[i].val == nsargs)
					ns_pack_args(pk, nsargs, changes, (size_t)clen);
				else
					msgpack_pack_object(pk, m->ptr[i].val);
			}
		(*(clen ? c_ns_changed : c_ns_same))++;
	} else if (kind == K_GENERIC) {
		/* the producer's entries as they are: copied, not decoded and re-encoded */
		if (!raw || (copy_body_fast(ev, raw, rawlen, bs->rawmask) < 0 &&
			     copy_body(pk, raw, rawlen) < 0))
			for (i = 0; i < m->size; i++)
				if (!is_raw_key(&m->ptr[i].key)) {
					msgpack_pack_object(pk, m->ptr[i].key);
					msgpack_pack_object(pk, m->ptr[i].val);
				}
	}
	pack_tail(p, bs->time);
	if (p->cgroup_id && cache_str(p, PB_BINARY)) {
		const struct cg_entry *cg = cgroup_lookup(p->cgroup_id);

		if (cg && cg->info.id[0])
			(*c_docker)++;
	}
	if (kind == K_GENERIC)
		(*generic_counter(type))++;
	if (k8s_on)
		maybe_pod_meta(p);
	if (flags & F_MISS)
		(*c_miss)++;
	if (flags & F_NOPOD)
		(*c_nopod)++;
	out_end();
}

/* Held events per pid, so that every new event learns in O(1), not by a walk of the
 * whole queue (thousands of events wait while the API server is away), whether it must
 * queue behind earlier ones of its process. Open addressing, linear probing, deletion
 * by backward shift; sized at start for --pending-max distinct pids. */
struct pidcount {
	uint32_t pid;  /* 0 = empty */
	uint32_t all;  /* held events of pid */
	uint32_t nb;   /* of those, waiting for their exec with no process: they do not
		        * hold the exec itself back */
	struct pend *head, *tail; /* pid's held events in order */
};
static struct pidcount *pc_tab;
static uint32_t pc_mask;

/* Size the table for n distinct pids. */
static void pc_init(uint64_t n)
{
	uint64_t sz = 64;

	while (sz < n * 2)
		sz <<= 1;
	pc_tab = calloc(sz, sizeof(*pc_tab));
	if (!pc_tab)
		log_panic("out of memory");
	pc_mask = (uint32_t)(sz - 1);
}

/* The slot of pid, or the empty slot where it would go. */
static struct pidcount *pc_slot(uint32_t pid)
{
	uint32_t i = (pid * 2654435761u) & pc_mask;

	while (pc_tab[i].pid && pc_tab[i].pid != pid)
		i = (i + 1) & pc_mask;
	return &pc_tab[i];
}

/* Does this held event not hold its process's exec back? */
static int pend_nb(const struct pend *q)
{
	return q->reason == HOLD_NOPROC && !q->p;
}

/* Put q in the queue, at the end, and in its pid's chain. */
static void q_append(struct pend *q)
{
	struct pidcount *e = pc_slot(q->pid);

	q->next = q->pnext = NULL;
	q->prev = pq_tail;
	if (pq_tail)
		pq_tail->next = q;
	else
		pq_head = q;
	pq_tail = q;
	if (!e->pid) {
		e->pid = q->pid;
		e->head = q;
	} else {
		e->tail->pnext = q;
	}
	e->tail = q;
	e->all++;
	e->nb += pend_nb(q);
	pq_len++;
}

/* Take q out of the queue; it must be the first held event of its pid (events of a
 * process leave in order). */
static void q_remove(struct pend *q)
{
	struct pidcount *e = pc_slot(q->pid);
	uint32_t i, j, k;

	if (e->pid != q->pid || e->head != q)
		log_panic("held event of pid %u leaves out of order", q->pid);
	if (q->prev)
		q->prev->next = q->next;
	else
		pq_head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		pq_tail = q->prev;
	pq_len--;
	e->head = q->pnext;
	e->all--;
	e->nb -= pend_nb(q);
	if (e->all)
		return;
	/* the pid's last one: free the slot, shifting later members of its probe run back */
	i = (uint32_t)(e - pc_tab);
	memset(e, 0, sizeof(*e));
	for (j = (i + 1) & pc_mask; pc_tab[j].pid; j = (j + 1) & pc_mask) {
		k = (pc_tab[j].pid * 2654435761u) & pc_mask;
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			pc_tab[i] = pc_tab[j];
			memset(&pc_tab[j], 0, sizeof(pc_tab[j]));
			i = j;
		}
	}
}

/* Is an event of pid already held (so a new one must queue behind it)? Held events that
 * wait for the exec itself do not block the exec. */
static int pend_has_pid(uint32_t pid, int for_exec)
{
	const struct pidcount *e;

	if (!pq_head)
		return 0;
	e = pc_slot(pid);
	if (!e->pid)
		return 0;
	return for_exec ? e->all > e->nb : 1;
}

/* Hold an event: copy its body. p may be NULL (its process is not known yet). */
static void pend_add(const char *type, int kind, uint32_t pid, struct proc *p,
		     const msgpack_object *ev, int reason, uint64_t wait_ns);

/* Resolve the process of a held event whose exec never came: /proc, else a stub. */
static struct proc *resolve_late(uint32_t pid, uint64_t start, uint64_t wall_off)
{
	struct proc *p = cache_from_procfs(pid, start);

	if (!p) {
		p = cache_put(pid, start);
		p->start_ktime = start;
		cache_set_strings(p, NULL, 0, NULL, 0, NULL, 0, "unknown", 7);
	}
	if (start)
		p->start_time = start + wall_off;
	return p;
}

/* Emit an event now, or hold it when its pod or earlier events of its process are
 * awaited. Takes no ownership of p (a held event takes a reference). bs: the body
 * scanned already, or NULL. */
static void deliver(const char *type, int kind, struct proc *p, const msgpack_object *ev,
		    const char *raw, size_t rawlen, const struct bscan *bs)
{
	if (pend_has_pid(p->pid, kind == K_EXEC))
		pend_add(type, kind, p->pid, p, ev, HOLD_ORDER, 0);
	else if (needs_pod(p))
		pend_add(type, kind, p->pid, p, ev, HOLD_POD, pod_wait_ns);
	else
		emit(type, kind, p, ev, raw, rawlen, 0, bs);
}

/* A tiny set of pids for one scan of the held queue. */
struct pidset {
	uint32_t *v;
	size_t mask;
};

/* Add pid to the set (0 is never stored: pid 0 events are never held). */
static void pidset_add(struct pidset *s, uint32_t pid)
{
	size_t i = (pid * 2654435761u) & s->mask;

	while (s->v[i] && s->v[i] != pid)
		i = (i + 1) & s->mask;
	s->v[i] = pid;
}

/* Is pid in the set? */
static int pidset_has(const struct pidset *s, uint32_t pid)
{
	size_t i = (pid * 2654435761u) & s->mask;

	while (s->v[i]) {
		if (s->v[i] == pid)
			return 1;
		i = (i + 1) & s->mask;
	}
	return 0;
}

/* Free one held event (its body and its reference). */
static void pend_free(struct pend *q)
{
	if (q->p)
		cache_unref(q->p);
	free(q->body);
	free(q);
}

/* Decode a held event's body (packed by pend_add) into *o, its objects in a zone of our
 * own, cleared after each use (pend_zone_done): no zone made and freed per held event. */
static msgpack_zone pend_zone;
static int pend_zone_ok;

static int pend_decode(const struct pend *q, msgpack_object *o)
{
	size_t off = 0;

	if (!pend_zone_ok) {
		if (!msgpack_zone_init(&pend_zone, MSGPACK_ZONE_CHUNK_SIZE))
			log_panic("out of memory");
		pend_zone_ok = 1;
	}
	return mpdec_unpack(q->body, q->len, &off, &pend_zone, o) == MSGPACK_UNPACK_SUCCESS ? 0
												: -1;
}

/* Free what pend_decode allocated. */
static void pend_zone_done(void)
{
	msgpack_zone_clear(&pend_zone);
}

/* Try to release q: 1 when emitted, 0 when it must keep waiting. force: emit anyway. */
static int pend_try(struct pend *q, uint64_t now, int force)
{
	msgpack_object up;

	if (!q->p) {
		struct proc *p = cache_get(q->pid);

		if (!p && now < q->deadline && !force)
			return 0;
		/* Only the fork is known, and the event came after it: a fork is mostly
		 * followed by its exec at once, so wait (within the hold time) for the exec
		 * rather than tag the event with the parent's binary. */
		if (p && p->clone && q->ktime > p->ktime && now < q->deadline && !force)
			return 0;
		if (pend_decode(q, &up) < 0) {
			pend_zone_done();
			return 1; /* cannot happen: we packed it */
		}
		if (!p) {
			uint64_t start = 0, time = 0, ktime = 0;

			wire_get_u64(&up, "start_ktime", &start);
			wire_get_u64(&up, "time", &time);
			wire_get_u64(&up, "ktime", &ktime);
			p = resolve_late(q->pid, start, time - ktime);
			q->flags |= F_MISS;
		}
		pend_zone_done();
		if (pend_nb(q)) /* resolved: it now holds its process's exec back too */
			pc_slot(q->pid)->nb--;
		cache_ref(p);
		q->p = p;
	}
	if (!force && needs_pod(q->p)) {
		if (q->reason != HOLD_POD) {
			q->reason = HOLD_POD;
			q->deadline = now + pod_wait_ns;
		}
		if (now < q->deadline)
			return 0;
	}
	if (needs_pod(q->p))
		q->flags |= F_NOPOD;
	if (pend_decode(q, &up) == 0)
		emit(q->type, q->kind, q->p, &up, q->body, q->len, q->flags, NULL);
	pend_zone_done();
	return 1;
}

/* Release every held event that can go, keeping per-process order. */
static void pend_scan(void)
{
	struct pend *q, *next;
	struct pidset blocked;
	uint64_t now;
	size_t sz = 16;

	if (!pq_head)
		return;
	now = mono_ns();
	while (sz < pq_len * 2)
		sz <<= 1;
	blocked.v = calloc(sz, sizeof(uint32_t));
	if (!blocked.v)
		log_panic("out of memory");
	blocked.mask = sz - 1;
	for (q = pq_head; q; q = next) {
		next = q->next;
		if (!pidset_has(&blocked, q->pid) && pend_try(q, now, 0)) {
			q_remove(q);
			pend_free(q);
			continue;
		}
		pidset_add(&blocked, q->pid);
	}
	free(blocked.v);
}

/* Release what can go of pid's held events only, in order: an exec or a clone of pid
 * can release nothing else, and a walk of the whole queue for every exec would cost
 * O(held) while thousands wait for an absent API server. */
static void pend_scan_pid(uint32_t pid)
{
	uint64_t now;
	struct pend *q;

	if (!pq_head)
		return;
	now = mono_ns();
	while ((q = pc_slot(pid)->head) && pend_try(q, now, 0)) {
		q_remove(q);
		pend_free(q);
	}
}

static void pend_add(const char *type, int kind, uint32_t pid, struct proc *p,
		     const msgpack_object *ev, int reason, uint64_t wait_ns)
{
	struct pend *q = calloc(1, sizeof(*q));
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!q)
		log_panic("out of memory");
	if (pq_len >= pend_max && pq_head) { /* full: the oldest goes out now, flagged */
		struct pend *o = pq_head;

		pend_try(o, mono_ns(), 1);
		q_remove(o);
		pend_free(o);
		(*c_overflow)++;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *ev);
	q->body = sb.data;
	q->len = sb.size;
	q->pid = pid;
	wire_get_u64(ev, "ktime", &q->ktime);
	q->kind = (uint8_t)kind;
	q->reason = (uint8_t)reason;
	q->deadline = mono_ns() + wait_ns;
	snprintf(q->type, sizeof(q->type), "%s", type);
	if (p) {
		cache_ref(p);
		q->p = p;
	}
	q_append(q);
	(*c_held)++;
}

/* ---- raw events ------------------------------------------------------------ */

/* Keep the collector's extra Process fields (raw key "process": cap, ns, ...) packed, to
 * be merged into every Process map of this entry. Keys we build ourselves are skipped. */
static void take_extra(const msgpack_object *ev, struct proc *p)
{
	static const char *const own[] = { "exec_id", "pid", "uid", "cwd", "binary", "arguments",
					   "flags", "parent_exec_id", "start_time", "auid", "tid" };
	const msgpack_object *x = wire_get(ev, "process");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t i, n = 0;
	size_t j;

	if (!x || x->type != MSGPACK_OBJECT_MAP)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < x->via.map.size; i++) {
		const msgpack_object *k = &x->via.map.ptr[i].key;
		int skip = k->type != MSGPACK_OBJECT_STR;

		for (j = 0; !skip && j < sizeof(own) / sizeof(own[0]); j++)
			skip = wire_streq(k->via.str.ptr, k->via.str.size, own[j]);
		if (skip)
			continue;
		msgpack_pack_object(&pk, *k);
		msgpack_pack_object(&pk, x->via.map.ptr[i].val);
		n++;
	}
	cache_set_extra(p, sb.data, sb.size, n);
	msgpack_sbuffer_destroy(&sb);
}


/* Join an array of strings with a separator into buf (malloc'd, caller frees);
 * returns the length, 0 when absent. */
static size_t join_arr(const msgpack_object *ev, const char *key, char sep, char **buf)
{
	const msgpack_object *a = wire_get(ev, key);
	size_t i, len = 0;

	*buf = NULL;
	if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return 0;
	for (i = 0; i < a->via.array.size; i++)
		if (a->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
			len += a->via.array.ptr[i].via.str.size + 1;
	*buf = malloc(len + 1);
	if (!*buf)
		log_panic("out of memory");
	len = 0;
	for (i = 0; i < a->via.array.size; i++) {
		const msgpack_object *s = &a->via.array.ptr[i];

		if (s->type != MSGPACK_OBJECT_STR)
			continue;
		if (len)
			(*buf)[len++] = sep;
		memcpy(*buf + len, s->via.str.ptr, s->via.str.size);
		len += s->via.str.size;
	}
	(*buf)[len] = '\0';
	return len;
}

/* The parent process ppid (started at pktime when known), with a reference the caller
 * drops: the cache, else /proc, else NULL. A cached entry with another start time is a
 * reused pid and is replaced. */
static struct proc *find_parent(uint32_t ppid, uint64_t pktime, int64_t wall_off)
{
	struct proc *pp;

	if (ppid == 0)
		return NULL;
	pp = cache_get(ppid);
	if (pp && pktime && pp->start_ktime && pp->start_ktime != pktime && pp->ktime != pktime)
		pp = NULL; /* the cached one is an older process with the same pid */
	if (!pp && (pp = cache_from_procfs(ppid, pktime)))
		pp->start_time = (uint64_t)((int64_t)pktime + wall_off);
	if (pp)
		cache_ref(pp);
	return pp;
}

/* Re-parent p when the raw event names another real parent (reparenting to a
 * subreaper or init after the parent died). */
static void maybe_reparent(struct proc *p, const msgpack_object *ev, int64_t wall_off)
{
	uint64_t ppid, pktime = 0;
	struct proc *pp;

	if (wire_get_u64(ev, "ppid", &ppid) < 0 || ppid > UINT32_MAX || ppid == p->ppid)
		return;
	wire_get_u64(ev, "pktime", &pktime);
	pp = find_parent((uint32_t)ppid, pktime, wall_off);
	cache_set_parent(p, pp);
	cache_unref(pp);
	p->ppid = (uint32_t)ppid;
	p->pktime = pktime;
	cache_count_reparent();
}

static int on_exec(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, tid = 0, ppid = 0, pktime = 0, uid = 0, auid = 4294967295u,
				   start = 0, cgid = 0, nspid = 0;
	const char *bin = NULL, *cwd = NULL;
	size_t blen = 0, clen = 0, alen, flen;
	char *args, *flags;
	struct proc *p, *pp, *old;
	int64_t off;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || pid > UINT32_MAX || pid == 0)
		return -1;
	wire_get_u64(ev, "tid", &tid);
	wire_get_u64(ev, "ppid", &ppid);
	wire_get_u64(ev, "pktime", &pktime);
	wire_get_u64(ev, "euid", &uid);
	wire_get_u64(ev, "auid", &auid);
	wire_get_u64(ev, "start_ktime", &start);
	wire_get_u64(ev, "cgroup_id", &cgid);
	wire_get_u64(ev, "nspid", &nspid);
	off = (int64_t)time - (int64_t)ktime;
	old = cache_peek((uint32_t)pid);
	if (old && start && old->start_ktime && old->start_ktime != start) {
		cache_count_pid_reuse();
		old = NULL;
	}
	if (ppid > UINT32_MAX)
		ppid = 0;
	if (ppid) {
		pp = find_parent((uint32_t)ppid, pktime, off);
		if (old && old->ppid && old->ppid != ppid)
			cache_count_reparent();
	} else if (old && old->parent) { /* exec without a parent in the record: keep it */
		pp = old->parent;
		cache_ref(pp);
		ppid = old->ppid;
		pktime = old->pktime;
	} else {
		pp = NULL;
	}
	if (old) {
		if (!start)
			start = old->start_ktime;
		if (!cgid)
			cgid = old->cgroup_id;
		if (!nspid || nspid > UINT32_MAX) /* exec keeps the pid */
			nspid = old->nspid;
	}
	p = cache_put((uint32_t)pid, ktime); /* replaces old (exec without fork, thread exec) */
	cache_set_parent(p, pp);
	cache_unref(pp);
	/* After an exec the one thread left is the leader, whichever thread called
	 * execve (the raw tid is that caller's old id): tid = pid, as Tetragon reports. */
	(void)tid;
	p->tid = (uint32_t)pid;
	p->ppid = (uint32_t)ppid;
	p->pktime = pktime;
	p->uid = (uint32_t)uid;
	p->auid = (uint32_t)auid;
	p->start_time = time;
	p->start_ktime = start;
	p->cgroup_id = cgid;
	p->nspid = nspid <= UINT32_MAX ? (uint32_t)nspid : 0;
	wire_get_str(ev, "binary", &bin, &blen);
	wire_get_str(ev, "cwd", &cwd, &clen);
	alen = join_arr(ev, "args", ' ', &args);
	flen = join_arr(ev, "flags", ' ', &flags);
	cache_set_strings(p, bin, blen, args, alen, cwd, clen, flags, flen);
	free(args);
	free(flags);
	take_extra(ev, p);
	(*c_exec)++;
	deliver("process_exec", K_EXEC, p, ev, NULL, 0, NULL);
	pend_scan_pid((uint32_t)pid);
	return 0;
}

static int on_clone(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, ppid, pktime = 0, start = 0, nspid = 0;
	struct proc *p, *pp, *old;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || wire_get_u64(ev, "ppid", &ppid) < 0 ||
	    pid > UINT32_MAX || ppid > UINT32_MAX || pid == 0)
		return -1;
	wire_get_u64(ev, "pktime", &pktime);
	wire_get_u64(ev, "start_ktime", &start);
	wire_get_u64(ev, "nspid", &nspid);
	if (!start)
		start = ktime;
	old = cache_peek((uint32_t)pid);
	if (old && old->start_ktime == start) { /* its exec overtook the clone: nothing new */
		(*c_clone)++;
		return 0;
	}
	if (old && !old->exited)
		cache_count_pid_reuse();
	pp = find_parent((uint32_t)ppid, pktime, (int64_t)time - (int64_t)ktime);
	p = cache_put((uint32_t)pid, ktime);
	cache_set_parent(p, pp);
	p->ppid = (uint32_t)ppid;
	p->pktime = pktime;
	p->start_time = time;
	p->start_ktime = start;
	p->clone = 1;
	p->nspid = nspid <= UINT32_MAX ? (uint32_t)nspid : 0; /* the child's own, not the parent's */
	if (pp) {
		p->uid = pp->uid;
		p->auid = pp->auid;
		p->cgroup_id = pp->cgroup_id;
		cache_share_strings(p, pp); /* and the extra Process fields */
	}
	cache_unref(pp);
	(*c_clone)++;
	pend_scan_pid((uint32_t)pid);
	return 0;
}

static int on_exit_(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, start = 0;
	struct proc *p;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || pid > UINT32_MAX || pid == 0)
		return -1;
	wire_get_u64(ev, "start_ktime", &start);
	p = cache_get((uint32_t)pid);
	if (p && start && p->start_ktime && p->start_ktime != start)
		p = NULL; /* a reused pid: the cached entry is another process */
	if (!p)
		p = resolve_late((uint32_t)pid, start, time - ktime);
	maybe_reparent(p, ev, (int64_t)time - (int64_t)ktime);
	(*c_exit)++;
	cache_ref(p);
	deliver("process_exit", K_EXIT, p, ev, NULL, 0, NULL);
	cache_mark_exited(p);
	cache_unref(p);
	return 0;
}

/* process_kprobe / _tracepoint / _lsm: the producer already packed the Tetragon-shaped
 * details (function_name, args, return, ...); we add process, parent and node. An event
 * whose process is not known yet waits --hold-ms for its exec. */
static int on_generic(const char *type, const msgpack_object *ev, const char *raw,
		      size_t rawlen)
{
	uint64_t v[RK_N] = { 0 }, time, pid, start, ktime;
	struct bscan bs;
	unsigned have = scan_body(ev, v, &bs);
	struct proc *p;

	if (!(have & 1u << RK_TIME) || !(have & 1u << RK_PID) || v[RK_PID] > UINT32_MAX)
		return -1;
	time = v[RK_TIME];
	pid = v[RK_PID];
	start = v[RK_START];
	ktime = v[RK_KTIME];
	p = pid ? cache_get((uint32_t)pid) : NULL;
	if (p && start && p->start_ktime && p->start_ktime != start && !p->procfs)
		p = NULL;
	if (pid == 0) { /* the kernel itself: nothing to wait for */
		p = resolve_late(0, start, time - ktime);
	} else if (!p || pend_has_pid((uint32_t)pid, 0)) {
		pend_add(type, K_GENERIC, (uint32_t)pid, NULL, ev, HOLD_NOPROC, hold_ns);
		return 0;
	}
	if ((have & 1u << RK_PPID) && v[RK_PPID] != p->ppid)
		maybe_reparent(p, ev, (int64_t)time - (int64_t)ktime);
	deliver(type, K_GENERIC, p, ev, raw, rawlen, &bs);
	return 0;
}

static uint64_t timer_due; /* mono ns the stage timer is armed for; 0: re-arm */

/* Arm the timer for the next work it has: TICK_MS while events are held, else when
 * the oldest exited process leaves the cache, else IDLE_MS — so an idle enricher does
 * not wake 50 times a second, and expiry happens when it did with a fixed tick. */
static void timer_arm(struct stage *st)
{
	uint64_t now = mono_ns(), due = pq_head ? now + TICK_MS * 1000000ull : cache_next_expiry();

	if (!due || due > now + IDLE_MS * 1000000ull)
		due = now + IDLE_MS * 1000000ull;
	if (due < now + TICK_MS * 1000000ull)
		due = now + TICK_MS * 1000000ull;
	if (timer_due > now && timer_due <= due)
		return; /* already armed sooner */
	stage_set_timer(st, (unsigned)((due - now + 999999) / 1000000ull));
	timer_due = due;
}

/* Per-event CPU cost, sampled: every LAT_EVERY-th message is timed with the thread's
 * CPU clock from its receive to the end of its handling (decode, cache, packing, send);
 * the last LAT_RING samples give event_cpu_ns.p50/p99 in the status. A syscall pair per
 * sample, so one message in LAT_EVERY pays it. */
#define LAT_EVERY 16
#define LAT_RING 4096
static uint32_t lat_ring[LAT_RING];
static uint64_t lat_samples, lat_bias, lat_tick;

/* This thread's CPU time, ns. */
static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The cost of the clock itself (the least of a few empty measurements), subtracted. */
static void lat_calibrate(void)
{
	uint64_t best = ~0ull, a, b;
	int i;

	for (i = 0; i < 64; i++) {
		a = thread_ns();
		b = thread_ns();
		if (b - a < best)
			best = b - a;
	}
	lat_bias = best;
}

/* Record one sample of t ns. */
static void lat_add(uint64_t t)
{
	t = t > lat_bias ? t - lat_bias : 0;
	lat_ring[lat_samples++ % LAT_RING] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Order two samples (qsort). */
static int lat_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p50 and p99 of the samples in the ring (0 when none). */
static void lat_pct(uint64_t *p50, uint64_t *p99)
{
	static uint32_t tmp[LAT_RING];
	size_t n = lat_samples < LAT_RING ? (size_t)lat_samples : LAT_RING;

	*p50 = *p99 = 0;
	if (!n)
		return;
	memcpy(tmp, lat_ring, n * sizeof(tmp[0]));
	qsort(tmp, n, sizeof(tmp[0]), lat_cmp);
	*p50 = tmp[n / 2];
	*p99 = tmp[n * 99 / 100];
}

static void on_input(struct stage *st, void *arg)
{
	struct wire_in *inp = arg;
	struct wire_msg m;
	uint64_t t0 = 0;
	int i, r, timed;

	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		timed = ++lat_tick % LAT_EVERY == 0;
		if (timed)
			t0 = thread_ns();
		r = wire_recv(inp, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		if (m.type_len == 14 && wire_streq(m.type, m.type_len, "process_kprobe")) {
			/* the commonest first */
			r = on_generic("process_kprobe", m.ev, m.ev_raw, m.ev_raw_len);
		} else if (wire_streq(m.type, m.type_len, "process_exec")) {
			r = on_exec(m.ev);
		} else if (wire_streq(m.type, m.type_len, "process_exit"))
			r = on_exit_(m.ev);
		else if (wire_streq(m.type, m.type_len, "process_clone"))
			r = on_clone(m.ev);
		else if (wire_streq(m.type, m.type_len, "process_kprobe"))
			r = on_generic("process_kprobe", m.ev, m.ev_raw, m.ev_raw_len);
		else if (wire_streq(m.type, m.type_len, "process_tracepoint"))
			r = on_generic("process_tracepoint", m.ev, m.ev_raw, m.ev_raw_len);
		else if (wire_streq(m.type, m.type_len, "process_lsm"))
			r = on_generic("process_lsm", m.ev, m.ev_raw, m.ev_raw_len);
		else {
			wire_drop(inp, WIRE_DROP_UNKNOWN_TYPE, &m);
			r = 0;
		}
		if (r < 0)
			wire_drop(inp, WIRE_DROP_BODY, &m);
		wire_msg_done(inp, &m);
		if (timed)
			lat_add(thread_ns() - t0);
	}
	timer_arm(st);
}

/* ---- Kubernetes and the enforcer --------------------------------------------- */

/* Send one pod_meta to the enforcer without blocking; a full queue counts a drop. */
static void send_pod_meta(const struct cg_entry *cg, const struct k8s_pod *pod, int del)
{
	const struct k8s_container *c = pod ? k8s_container(pod, cg->info.id) : NULL;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;

	if (!enf_sock)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	pack_str(&pk, "v");
	msgpack_pack_uint8(&pk, WIRE_VERSION);
	pack_str(&pk, "type");
	pack_str(&pk, "pod_meta");
	pack_str(&pk, "src");
	pack_str(&pk, stage_name(g_st));
	pack_str(&pk, "seq");
	msgpack_pack_uint64(&pk, ++pm_seq);
	pack_str(&pk, "ev");
	msgpack_pack_map(&pk, del ? 2 : 6);
	pack_str(&pk, "op");
	pack_str(&pk, del ? "del" : "set");
	pack_str(&pk, "cgroup_id");
	msgpack_pack_uint64(&pk, cg->id);
	if (!del) {
		pack_str(&pk, "namespace");
		pack_str(&pk, pod->ns);
		pack_str(&pk, "pod");
		pack_str(&pk, pod->name);
		pack_str(&pk, "container");
		pack_str(&pk, c && c->name ? c->name : "");
		pack_str(&pk, "labels");
		msgpack_pack_map(&pk, pod->nlabels);
		for (i = 0; i < pod->nlabels * 2; i++)
			pack_str(&pk, pod->labels[i]);
	}
	if (zmq_send(enf_sock, sb.data, sb.size, ZMQ_DONTWAIT) < 0)
		(*c_pm_drop)++;
	else
		(*c_pm_sent)++;
	msgpack_sbuffer_destroy(&sb);
}

struct pod_change {
	const struct k8s_pod *pod;
	int deleted;
};

/* For one cached container cgroup: send pod_meta if it belongs to the changed pod. */
static void pod_cg(struct cg_entry *cg, void *arg)
{
	const struct pod_change *pc = arg;

	if (strcmp(cg->info.pod_uid, pc->pod->uid) != 0)
		return;
	if (pc->deleted) {
		if (cg->sent)
			send_pod_meta(cg, NULL, 1);
		cg->sent = 0;
	} else if (k8s_container(pc->pod, cg->info.id)) {
		send_pod_meta(cg, pc->pod, 0);
		cg->sent = 1;
	}
}

/* A pod was added, changed or deleted. */
static void on_pod(const struct k8s_pod *pod, int deleted)
{
	struct pod_change pc = { pod, deleted };

	cgroup_foreach(pod_cg, &pc);
}

static uint64_t trim_at; /* mono ns of a malloc_trim due after a burst of pods; 0 none */

static void on_k8s(struct stage *st, void *arg)
{
	(void)st;
	(void)arg;
	/* Many pods at once (a list): the watcher thread's copies were just freed into its
	 * arena; give those pages back once the burst is over. */
	if (k8s_drain(on_pod) >= 64)
		trim_at = mono_ns() + 300000000ull;
	if (pq_head)
		pend_scan();
}

/* ---- the stage ------------------------------------------------------------- */

static void on_timer(struct stage *st)
{
	static uint64_t last_trim, last_in;
	static int busy;
	uint64_t now = mono_ns(), n_in = *stage_counter(st, "in");

	pend_scan();
	cache_expire(now);
	if (trim_at && now >= trim_at) {
		malloc_trim(0);
		trim_at = 0;
	}
	/* After a burst, hand the freed message and entry memory back to the kernel: the
	 * RSS then shows what the cache holds, not the burst's high-water mark. */
	if (now - last_trim > 1000000000ull) {
		if (n_in != last_in)
			busy = 1;
		else if (busy) {
			malloc_trim(0);
			busy = 0;
		}
		last_in = n_in;
		last_trim = now;
	}
	timer_due = 0;
	timer_arm(st);
}

static void status(struct stage *st)
{
	struct cache_stats cs;
	struct intern_stats is;
	struct cg_stats gs;
	uint64_t p50, p99;
	const char *names[32];
	uint64_t vals[32];
	size_t i, n;

	cache_get_stats(&cs);
	counters_set(stage_counters(st), "cache.size", cs.size);
	counters_set(stage_counters(st), "cache.objects", cs.objects);
	counters_set(stage_counters(st), "cache.evictions", cs.evictions);
	counters_set(stage_counters(st), "cache.misses", cs.misses);
	counters_set(stage_counters(st), "cache.procfs", cs.procfs);
	counters_set(stage_counters(st), "cache.pid_reuse", cs.pid_reuse);
	counters_set(stage_counters(st), "cache.reparent", cs.reparent);
	counters_set(stage_counters(st), "cache.slab_bytes", cs.slab_bytes);
	istr_get_stats(&is);
	counters_set(stage_counters(st), "intern.strings", is.strings);
	counters_set(stage_counters(st), "intern.bytes", is.bytes);
	counters_set(stage_counters(st), "intern.refs", is.refs);
	counters_set(stage_counters(st), "intern.block_bytes", is.block_bytes);
	lat_pct(&p50, &p99);
	counters_set(stage_counters(st), "event_cpu_ns.p50", p50);
	counters_set(stage_counters(st), "event_cpu_ns.p99", p99);
	counters_set(stage_counters(st), "event_cpu_ns.samples", lat_samples);
	counters_set(stage_counters(st), "pending.size", pq_len);
	counters_set(stage_counters(st), "memo.hits", memo_hits);
	counters_set(stage_counters(st), "memo.builds", memo_builds);
	cgroup_get_stats(&gs);
	counters_set(stage_counters(st), "cgroup.entries", gs.entries);
	counters_set(stage_counters(st), "cgroup.resolved", gs.resolved);
	counters_set(stage_counters(st), "cgroup.failed", gs.failed);
	counters_set(stage_counters(st), "cgroup.walks", gs.walks);
	if (k8s_on) {
		n = k8s_counters(names, vals, 32);
		for (i = 0; i < n; i++)
			counters_set(stage_counters(st), names[i], vals[i]);
	}
}

/* Start the Kubernetes watcher and the pod_meta socket. 0 or an exit code. */
static int setup_k8s(struct stage *st, int hwm)
{
	static char url[600];
	struct k8s_config kc = { 0 };
	char ep[512];
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");

	if (opt_k8s_url) {
		kc.url = opt_k8s_url;
	} else if (host && *host) {
		snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			 host, port && *port ? port : "443");
		kc.url = url;
	} else {
		log_error("--k8s: neither --k8s-url nor KUBERNETES_SERVICE_HOST is set");
		return EXIT_PERM;
	}
	kc.token_file = opt_k8s_token ? opt_k8s_token
				      : "/var/run/secrets/kubernetes.io/serviceaccount/token";
	kc.ca_file = opt_k8s_ca ? opt_k8s_ca : "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
	kc.node = node_name;
	kc.backoff_max_ms = (unsigned)strtoul(opt_backoff, NULL, 10);
	k8s_sock = k8s_start(stage_zctx(st), &kc);
	if (!k8s_sock)
		return EXIT_TEMP;
	stage_watch(st, k8s_sock, -1, on_k8s, NULL);
	stage_info(st, "k8s_url", "%s", kc.url);
	enf_sock = stage_socket(st, ZMQ_PUSH, hwm);
	if (!opt_enforcer)
		opt_enforcer = stage_endpoint(st, "enforcer", "in", ep, sizeof(ep));
	if (stage_connect(st, enf_sock, opt_enforcer) < 0)
		return EXIT_PERM;
	stage_info(st, "enforcer", "%s", opt_enforcer);
	opt_enforcer = NULL;
	k8s_on = 1;
	return 0;
}

/* The per-event counters of the input path (setup; and the test and bench that feed
 * the input path without the stage loop). */
static void event_counters(struct stage *st)
{
	c_exec = stage_counter(st, "events.process_exec");
	c_exit = stage_counter(st, "events.process_exit");
	c_clone = stage_counter(st, "events.process_clone");
	c_held = stage_counter(st, "pending.held");
	c_miss = stage_counter(st, "pending.miss");
	c_nopod = stage_counter(st, "pending.nopod");
	c_overflow = stage_counter(st, "pending.overflow");
	c_pm_sent = stage_counter(st, "pod_meta.sent");
	c_pm_drop = stage_counter(st, "pod_meta.drop");
	c_docker = stage_counter(st, "events.container");
	c_ns_changed = stage_counter(st, "ns_changes.changed");
	c_ns_same = stage_counter(st, "ns_changes.same");
}

/* Bind the output shards 1..N-1 next to the output (shard 0); 0 or an exit code. */
static int setup_shards(struct stage *st, int hwm, const char *output)
{
	char *end, ep[600], path[600];
	unsigned long n = strtoul(opt_evaluators, &end, 10);
	unsigned k;

	if (*end || n < 1 || n > MAX_SHARDS) {
		log_error("--evaluators: expected 1-%d, got '%s'", MAX_SHARDS, opt_evaluators);
		return EXIT_PERM;
	}
	nshards = (unsigned)n;
	stage_info(st, "evaluators", "%u", nshards);
	if (nshards == 1)
		return 0;
	for (k = 0; k < nshards; k++) {
		struct shard *sh = &shards[k];

		if (k == 0) {
			sh->sock = out_sock;
		} else {
			sh->sock = stage_socket(st, ZMQ_PUSH, hwm);
			snprintf(ep, sizeof(ep), "%s.%u", output, k);
			if (stage_bind(st, sh->sock, ep) < 0)
				return EXIT_TEMP;
		}
		snprintf(sh->src, sizeof(sh->src), "%s/%u", stage_name(st), k);
		snprintf(path, sizeof(path), "%s/%s.out%u.state", stage_rundir(st), stage_name(st), k);
		sh->state = state_open(path);
		if (!sh->state) {
			log_error("%s: cannot open: %s", path, strerror(errno));
			return EXIT_TEMP;
		}
		snprintf(ep, sizeof(ep), "out.%u", k);
		sh->c_out = stage_counter(st, ep);
	}
	stage_info(st, "output_shards", "%s .1 ... .%u", output, nshards - 1);
	return 0;
}

static int setup(struct stage *st)
{
	char a[512], b[512];
	int hwm = atoi(opt_hwm), r;

	g_st = st;
	/* A fixed mmap threshold: glibc otherwise raises it after a large free, and big
	 * transient buffers (Kubernetes lists, bursts) then land in the heap and pin it. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (opt_node)
		snprintf(node_name, sizeof(node_name), "%s", opt_node);
	else if (getenv("NODE_NAME"))
		snprintf(node_name, sizeof(node_name), "%s", getenv("NODE_NAME"));
	else if (gethostname(node_name, sizeof(node_name) - 1) < 0)
		node_name[0] = '\0';
	if (parse_ancestors(opt_ancestors) < 0)
		return EXIT_PERM;
	hold_ns = strtoull(opt_hold, NULL, 10) * 1000000ull;
	pod_wait_ns = strtoull(opt_pod_wait, NULL, 10) * 1000000ull;
	pend_max = strtoull(opt_pend_max, NULL, 10);
	if (!pend_max)
		pend_max = 1;
	pc_init(pend_max);
	cache_init(node_name, (uint32_t)strtoul(opt_cap, NULL, 10));
	lat_calibrate();
	cache_set_linger((uint32_t)strtoul(opt_linger, NULL, 10));
	cgroup_init(opt_cgroot);
	event_counters(st);
	in_sock = stage_socket(st, ZMQ_PULL, hwm);
	out_sock = stage_socket(st, ZMQ_PUSH, hwm);
	if (!opt_input)
		opt_input = stage_endpoint(st, "collector", "out", a, sizeof(a));
	if (stage_connect(st, in_sock, opt_input) < 0)
		return EXIT_PERM;
	if (!opt_output)
		opt_output = stage_endpoint(st, NULL, "out", b, sizeof(b));
	if (stage_bind(st, out_sock, opt_output) < 0)
		return EXIT_TEMP;
	if ((r = setup_shards(st, hwm, opt_output)) != 0)
		return r;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "output", "%s", opt_output);
	stage_info(st, "node_name", "%s", node_name);
	opt_input = opt_output = NULL;
	wire_in_init(&in, st, in_sock);
	wire_out_init(&out, st, out_sock);
	in2_sock = stage_socket(st, ZMQ_PULL, hwm);
	if (!opt_input2)
		opt_input2 = stage_endpoint(st, NULL, "in", a, sizeof(a));
	if (stage_bind(st, in2_sock, opt_input2) < 0)
		return EXIT_TEMP;
	stage_info(st, "input2", "%s", opt_input2);
	opt_input2 = NULL;
	/* Both inputs count into the same counters: one stage, one set of numbers. */
	wire_in_init(&in2, st, in2_sock);
	stage_watch(st, in_sock, -1, on_input, &in);
	stage_watch(st, in2_sock, -1, on_input, &in2);
	if ((opt_k8s || opt_k8s_url) && (r = setup_k8s(st, hwm)) != 0)
		return r;
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	if (k8s_on)
		k8s_stop();
	zmq_close(in_sock);
	zmq_close(in2_sock);
	zmq_close(out_sock);
	for (unsigned k = 1; k < nshards; k++)
		zmq_close(shards[k].sock);
	if (enf_sock)
		zmq_close(enf_sock);
	wire_out_free(&out);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "enricher",
		.summary = "vigil enricher: process ancestry, containers and pods for every event",
		.opts = opts,
		.setup = setup,
		.timer = on_timer,
		.timer_ms = TICK_MS,
		.status = status,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
