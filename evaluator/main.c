/* evaluator — judges enriched events against policies (docs/policy.md). Every event is
 * forwarded unchanged; each policy it matches adds a Tetragon-shaped policy event after
 * it. Verdicts that need user-space context and the enforceable part of the policy set
 * go to the enforcer without ever blocking the stream. Stateless: N instances may share
 * one enricher. The policy set is swapped whole: a reload that finds any error keeps the
 * set in force. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <zmq.h>

#include "evaluator.h"
#include "policy.h"
#include "stage.h"
#include "wire.h"

#define BATCH 512
#define RELOAD_SETTLE_NS 150000000ull /* let an editor finish writing before we parse */
#define POLICY_SET_EVERY_NS 10000000000ull
#define TIMER_FAST_MS 100
#define TIMER_IDLE_MS 1000

static const char *opt_input, *opt_output, *opt_hwm = "10000", *opt_library, *opt_dir,
		  *opt_mode = "enforce", *opt_enforcer, *opt_enf_hwm = "100";
static int opt_no_library;
static struct wire_in in;
static struct wire_out out;
static void *in_sock, *out_sock, *enf_sock;
static char *library_dir, *policy_dir, *enforcer_ep;

/* Reloading, as a state table: an inotify event makes a reload pending; the timer
 * performs it once the directory has been quiet for RELOAD_SETTLE_NS. */
enum reload_state { RL_IDLE, RL_PENDING };
static enum reload_state rl_state = RL_IDLE;
static uint64_t rl_since;

static struct policy_set *cur;      /* the set in force; never NULL after setup */
static uint64_t **cur_matches;      /* policy.<name>.matches, parallel to cur->p */
static uint64_t enf_seq, last_set_ns;
static int ino_fd = -1, wd_lib = -1, wd_dir = -1;
static struct strbuf msg;
static msgpack_sbuffer enf_sb;
static uint64_t *c_matches, *c_policy_events, *c_verdicts, *c_enf_drops, *c_sets, *c_reloads,
	*c_reload_errors, *c_policies;
static struct stage *the_st;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to connect (default ipc://RUNDIR/enricher.out)" },
	{ "output", &opt_output, NULL, "PUSH endpoint to connect (default ipc://RUNDIR/exporter.in)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the output (default 10000)" },
	{ "library", &opt_library, NULL, "the shipped policy library (default: policies/ next to "
					  "the build directory, else /usr/share/vigil/policies)" },
	{ "no-library", NULL, &opt_no_library, "do not load the shipped library" },
	{ "policy-dir", &opt_dir, NULL, "the user policy directory, watched (default "
					"/etc/vigil/policies.d)" },
	{ "mode", &opt_mode, NULL, "global switch: enforce (default) or monitor (overrides every "
				   "policy)" },
	{ "enforcer", &opt_enforcer, NULL, "PUSH endpoint of the enforcer (default "
					   "ipc://RUNDIR/enforcer.in)" },
	{ "enforcer-hwm", &opt_enf_hwm, NULL, "messages queued for an absent enforcer before "
					      "drops are counted (default 100)" },
	{ 0 },
};

/* ---- the enforcer channel ------------------------------------------------ */

static void pk_s(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Start an envelope on the enforcer buffer. The enforcer channel has its own numbering
 * (a receiver tracks gaps per receiving socket). */
static msgpack_packer *enf_begin(msgpack_packer *pk, const char *type)
{
	msgpack_sbuffer_clear(&enf_sb);
	msgpack_packer_init(pk, &enf_sb, msgpack_sbuffer_write);
	msgpack_pack_map(pk, 5);
	pk_s(pk, "v");
	msgpack_pack_uint8(pk, WIRE_VERSION);
	pk_s(pk, "type");
	pk_s(pk, type);
	pk_s(pk, "src");
	pk_s(pk, stage_name(the_st));
	pk_s(pk, "seq");
	msgpack_pack_uint64(pk, ++enf_seq);
	pk_s(pk, "ev");
	return pk;
}

/* Never block: an absent or slow enforcer costs a counted drop, not the stream. */
static void enf_send(void)
{
	if (zmq_send(enf_sock, enf_sb.data, enf_sb.size, ZMQ_DONTWAIT) < 0)
		(*c_enf_drops)++;
}

static void send_policy_set(void)
{
	msgpack_packer pk;

	enf_begin(&pk, "policy_set");
	policy_pack_set(cur, opt_mode, &pk);
	enf_send();
	(*c_sets)++;
	last_set_ns = mono_ns();
}

/* The ktime inside an exec_id: base64("node:ktime:pid"). 0 when it cannot be read. */
static uint64_t exec_ktime(const char *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char dec[256], *c1, *c2;
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (i = 0; i < n && o < sizeof(dec) - 1; i++) {
		const char *q = strchr(b64, p[i]);

		if (p[i] == '=' || !q || !p[i])
			break;
		acc = (acc << 6) | (unsigned)(q - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dec[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	dec[o] = '\0';
	c1 = strrchr(dec, ':');
	if (!c1)
		return 0;
	*c1 = '\0';
	c2 = strrchr(dec, ':');
	return c2 ? strtoull(c2 + 1, NULL, 10) : 0;
}

/* A verdict for a match the kernel maps could not express (docs/wire.md §10). */
static void send_verdict(const struct policy *p, const struct pol_action *a,
			 const struct pol_ev *e)
{
	const msgpack_object *ex = e->proc ? wire_get(e->proc, "exec_id") : NULL;
	const msgpack_object *vg = wire_get(e->ev, "_vigil");
	uint64_t pid = 0, kt = 0, start = 0;
	msgpack_packer pk;

	if (!e->proc || wire_get_u64(e->proc, "pid", &pid) < 0 || !pid)
		return;
	/* the enricher's _vigil map has the fork time (pid-reuse-safe kills) and the
	 * exec time; without it (a custom producer) the exec_id's ktime, fork time 0 */
	if (wire_get_u64(vg, "exec_ktime", &kt) < 0 && ex && ex->type == MSGPACK_OBJECT_STR)
		kt = exec_ktime(ex->via.str.ptr, ex->via.str.size);
	if (wire_get_u64(vg, "start_ktime", &start) < 0)
		wire_get_u64(e->proc, "start_ktime", &start);
	enf_begin(&pk, "verdict");
	msgpack_pack_map(&pk, ex && ex->type == MSGPACK_OBJECT_STR ? 7 : 6);
	pk_s(&pk, "policy");
	pk_s(&pk, p->name);
	pk_s(&pk, "action");
	pk_s(&pk, a->kind == POL_ACT_SIGNAL ? "signal" : "sigkill");
	pk_s(&pk, "signal");
	msgpack_pack_int(&pk, a->kind == POL_ACT_SIGNAL ? a->sig : 9);
	pk_s(&pk, "pid");
	msgpack_pack_uint64(&pk, pid);
	pk_s(&pk, "start_ktime");
	msgpack_pack_uint64(&pk, start);
	pk_s(&pk, "exec_ktime");
	msgpack_pack_uint64(&pk, kt);
	if (ex && ex->type == MSGPACK_OBJECT_STR) {
		pk_s(&pk, "exec_id");
		msgpack_pack_object(&pk, *ex);
	}
	enf_send();
	(*c_verdicts)++;
}

/* ---- policy events --------------------------------------------------------- */

/* Is key k the literal lit? Length first: no strlen per key. */
#define KEY_IS(k, lit) ((k)->type == MSGPACK_OBJECT_STR && (k)->via.str.size == sizeof(lit) - 1 \
			&& memcmp((k)->via.str.ptr, lit, sizeof(lit) - 1) == 0)

/* Keys of the original body we replace in the policy event. */
static int replaced_key(const msgpack_object *k, int retarget)
{
	return KEY_IS(k, "policy_name") || KEY_IS(k, "action") || KEY_IS(k, "message") ||
	       KEY_IS(k, "tags") || (retarget && (KEY_IS(k, "function_name") ||
						  KEY_IS(k, "subsys") || KEY_IS(k, "event")));
}

/* Keys an exec or exit policy event keeps from the body (the rest are kprobe-shaped). */
static int lifecycle_key(const msgpack_object *k)
{
	return KEY_IS(k, "process") || KEY_IS(k, "parent") || KEY_IS(k, "ancestors") ||
	       KEY_IS(k, "node_name") || KEY_IS(k, "time");
}

/* ---- the body's raw entries ------------------------------------------------ */

#define RAW_MAX_KV 64

/* Where each key-value pair of the received body lies in the frame, so a policy event
 * copies the entries it keeps as bytes instead of re-encoding decoded objects (a Process
 * with its namespaces and credentials is a few hundred objects). Found once per event,
 * on its first match. */
struct raw_body {
	int state;                   /* 0 not looked at, 1 ok, -1 unusable: re-encode */
	const unsigned char *kv[RAW_MAX_KV];
	size_t len[RAW_MAX_KV];
};

/* A big-endian length of n bytes at p. */
static uint32_t be_len(const unsigned char *p, int n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* Find the entries of the body m carries (raw bytes m->ev_raw, decoded m->ev). */
static void raw_body_scan(struct raw_body *rb, const struct wire_msg *m)
{
	const unsigned char *p = (const unsigned char *)m->ev_raw, *end, *q;
	uint32_t n, i;

	rb->state = -1;
	if (!p || !m->ev_raw_len)
		return;
	end = p + m->ev_raw_len;
	if (*p >= 0x80 && *p <= 0x8f) {
		n = *p & 0x0f;
		p++;
	} else if (*p == 0xde && end - p >= 3) {
		n = be_len(p + 1, 2);
		p += 3;
	} else if (*p == 0xdf && end - p >= 5) {
		n = be_len(p + 1, 4);
		p += 5;
	} else
		return;
	if (n != m->ev->via.map.size || n > RAW_MAX_KV)
		return;
	for (i = 0; i < n; i++) {
		q = wire_skip(p, end);
		q = q ? wire_skip(q, end) : NULL;
		if (!q)
			return;
		rb->kv[i] = p;
		rb->len[i] = (size_t)(q - p);
		p = q;
	}
	if (p != end)
		return;
	rb->state = 1;
}

/* Emit the policy event for rule r of p matching e: Tetragon's process_kprobe /
 * process_lsm / process_tracepoint shape with policy_name, action, message, tags. */
static void emit_policy_event(const struct policy *p, size_t r, const struct pol_ev *e,
			      const struct wire_msg *wm, struct raw_body *rb)
{
	const struct pol_rule *ru = &p->rules[r];
	const struct pol_action *a = policy_rule_action(p, r);
	const char *type = e->type, *fn = NULL, *sub = NULL;
	const msgpack_object_map *m = &e->ev->via.map;
	char fnbuf[160], *colon;
	char *const *tags = ru->ntags ? ru->tags : p->tags;
	size_t ntags = ru->ntags ? ru->ntags : p->ntags, i, n = 0;
	unsigned char keep[RAW_MAX_KV];
	int generic = strcmp(e->type, "process_exec") && strcmp(e->type, "process_exit");
	int retarget = 0, enforce = p->enforce && strcmp(opt_mode, "enforce") == 0;
	msgpack_packer *pk;

	if (ru->emit_type && ru->emit_fn) {
		snprintf(fnbuf, sizeof(fnbuf), "%s", ru->emit_fn);
		fn = fnbuf;
		if ((colon = strchr(fnbuf, ':'))) {
			*colon = '\0';
			sub = fnbuf;
			fn = colon + 1;
		}
		type = ru->emit_type;
		retarget = 1;
	} else if (!strcmp(e->type, "process_exec")) {
		type = "process_kprobe";
		fn = "security_bprm_check";
		retarget = 1;
	} else if (!strcmp(e->type, "process_exit")) {
		type = "process_tracepoint";
		sub = "sched";
		fn = "sched_process_exit";
		retarget = 1;
	}
	strbuf_reset(&msg);
	policy_render(p, r, e, &msg);
	if (!enforce && a->kind != POL_ACT_NOTIFY)
		strbuf_appendf(&msg, " (monitor: would %s)",
			       a->kind == POL_ACT_OVERRIDE ? "have blocked" :
			       a->kind == POL_ACT_SIGKILL ? "have killed" : "have signalled");
	if (!rb->state)
		raw_body_scan(rb, wm);
	for (i = 0; i < m->size; i++) {
		int k = !replaced_key(&m->ptr[i].key, retarget) &&
			(generic || lifecycle_key(&m->ptr[i].key));

		if (i < RAW_MAX_KV)
			keep[i] = (unsigned char)k;
		n += (size_t)k;
	}
	n += 4;
	if (retarget)
		n += strcmp(type, "process_tracepoint") ? 1 : 2;
	if (!generic)
		n++; /* args */
	pk = wire_begin(&out, type);
	msgpack_pack_map(pk, n);
	for (i = 0; i < m->size; i++) {
		if (rb->state > 0) { /* the entry's bytes as they came */
			if (keep[i])
				pk->callback(pk->data, (const char *)rb->kv[i], rb->len[i]);
		} else if (!replaced_key(&m->ptr[i].key, retarget) &&
			   (generic || lifecycle_key(&m->ptr[i].key))) {
			msgpack_pack_object(pk, m->ptr[i].key);
			msgpack_pack_object(pk, m->ptr[i].val);
		}
	}
	if (retarget && strcmp(type, "process_tracepoint")) {
		pk_s(pk, "function_name");
		pk_s(pk, fn);
	} else if (retarget) {
		pk_s(pk, "subsys");
		pk_s(pk, sub ? sub : "syscalls");
		pk_s(pk, "event");
		pk_s(pk, fn);
	}
	if (!generic) {
		pk_s(pk, "args");
		if (e->kind == POL_K_EXEC && e->path.p) {
			msgpack_pack_array(pk, 1);
			msgpack_pack_map(pk, 1);
			pk_s(pk, "file_arg");
			msgpack_pack_map(pk, 1);
			pk_s(pk, "path");
			msgpack_pack_str_with_body(pk, e->path.p, e->path.n);
		} else
			msgpack_pack_array(pk, 0);
	}
	pk_s(pk, "policy_name");
	pk_s(pk, p->name);
	pk_s(pk, "action");
	pk_s(pk, enforce ? policy_action_name(p, a) : (a->url ? "KPROBE_ACTION_GETURL" :
							     "KPROBE_ACTION_POST"));
	pk_s(pk, "message");
	msgpack_pack_str_with_body(pk, msg.buf ? msg.buf : "", msg.len);
	pk_s(pk, "tags");
	msgpack_pack_array(pk, ntags);
	for (i = 0; i < ntags; i++)
		pk_s(pk, tags[i]);
	wire_end(&out);
	(*c_policy_events)++;
}

/* Match one event against the policies in force that have a rule of its kind (the set's
 * index, built at load); forward it, then its policy events. Not inlined: its cost stays
 * one line of a callgrind profile (bench/evalcpu_bench.py). */
static __attribute__((noinline)) void judge(const struct wire_msg *m)
{
	char type[32];
	struct pol_ev e;
	struct raw_body rb;
	const size_t *idx;
	size_t i, j, n;
	int r;

	wire_forward(&out, m);
	wire_type_cstr(m, type, sizeof(type));
	if (policy_event(&e, type, m->ev) < 0)
		return;
	rb.state = 0;
	idx = policy_set_candidates(cur, e.kind, &n);
	for (j = 0; j < n && !stage_stopping(the_st); j++) {
		const struct policy *p = cur->p[i = idx ? idx[j] : j];
		const struct pol_action *a;

		if ((r = policy_match(p, &e)) < 0)
			continue;
		(*cur_matches[i])++;
		(*c_matches)++;
		a = policy_rule_action(p, (size_t)r);
		if (!a->nopost)
			emit_policy_event(p, (size_t)r, &e, m, &rb);
		if (a->url)
			eval_url_get(a->url);
		if (a->kind != POL_ACT_NOTIFY && p->enforce && !strcmp(opt_mode, "enforce") &&
		    !policy_rule_kernel(p, (size_t)r))
			send_verdict(p, a, &e);
	}
}

static void on_input(struct stage *st, void *arg)
{
	struct wire_msg m;
	int i, r;

	(void)arg;
	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		r = wire_recv(&in, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		judge(&m);
		wire_msg_done(&in, &m);
	}
}

/* ---- loading and reloading --------------------------------------------------- */

/* Describe the set in force for `vigil status`. */
static void publish_status(struct stage *st)
{
	struct strbuf sb;
	size_t i;

	strbuf_init(&sb);
	for (i = 0; i < cur->n; i++)
		strbuf_appendf(&sb, "%s%s (%s)", i ? ", " : "", cur->p[i]->name,
			       cur->p[i]->enforce ? "enforce" : "monitor");
	stage_info(st, "policies", "%s", sb.buf ? sb.buf : "none");
	stage_info(st, "policy_generation", "%llu", (unsigned long long)cur->generation);
	*c_policies = cur->n;
	strbuf_free(&sb);
}

/* Load library + user directory into a new set; swap it in only when error-free (or
 * when nothing is in force yet: then the good files run and the bad are reported). */
static int reload(struct stage *st)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs errs = { 0 };
	uint64_t **mt;
	size_t i;
	int nerr = 0;

	if (library_dir)
		nerr += policy_load_path(s, library_dir, &errs);
	nerr += policy_load_path(s, policy_dir, &errs);
	(*c_reloads)++;
	for (i = 0; i < errs.n; i++)
		log_error("policy: %s", errs.msg[i]);
	if (nerr) {
		(*c_reload_errors)++;
		stage_info(st, "policy_errors", "%zu error(s), first: %s", errs.n,
			   errs.n ? errs.msg[0] : "?");
	} else
		stage_info(st, "policy_errors", "none");
	policy_errs_free(&errs);
	if (nerr && cur) {
		log_error("policy: reload failed; keeping the %zu policies in force", cur->n);
		policy_set_free(s);
		return -1;
	}
	policy_set_index(s);
	mt = calloc(s->n + 1, sizeof(*mt));
	if (!mt)
		log_panic("out of memory");
	for (i = 0; i < s->n; i++) {
		char nm[COUNTER_NAME_MAX];

		snprintf(nm, sizeof(nm), "policy.%s.matches", s->p[i]->name);
		mt[i] = stage_counter(st, nm);
	}
	/* the generation must grow even when a file's mtime went backwards */
	if (cur && s->generation <= cur->generation)
		s->generation = cur->generation + 1;
	policy_set_free(cur);
	free(cur_matches);
	cur = s;
	cur_matches = mt;
	log_info("policy: %zu policies in force (generation %llu)", cur->n,
		 (unsigned long long)cur->generation);
	publish_status(st);
	send_policy_set();
	return nerr ? -1 : 0;
}

/* Watch a directory for changes; -1 when it does not exist (yet). */
static int watch_dir(const char *d)
{
	if (ino_fd < 0 || !d)
		return -1;
	return inotify_add_watch(ino_fd, d, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
					    IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF);
}

static void on_inotify(struct stage *st, void *arg)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)arg;
	while ((n = read(ino_fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + n;) {
			struct inotify_event *ie = (struct inotify_event *)p;

			if (ie->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (ie->wd == wd_dir)
					wd_dir = -1;
				if (ie->wd == wd_lib)
					wd_lib = -1;
			}
			p += sizeof(*ie) + ie->len;
		}
		rl_state = RL_PENDING;
		rl_since = mono_ns();
	}
	stage_set_timer(st, TIMER_FAST_MS); /* the settle check runs on the timer */
}

static void timer(struct stage *st)
{
	uint64_t now = mono_ns();

	/* a directory that appears later (or was replaced) is watched from then on */
	if (wd_dir < 0 && (wd_dir = watch_dir(policy_dir)) >= 0) {
		rl_state = RL_PENDING;
		rl_since = 0;
	}
	if (library_dir && wd_lib < 0 && (wd_lib = watch_dir(library_dir)) >= 0) {
		rl_state = RL_PENDING;
		rl_since = 0;
	}
	switch (rl_state) {
	case RL_IDLE:
		break;
	case RL_PENDING:
		if (now - rl_since >= RELOAD_SETTLE_NS) {
			rl_state = RL_IDLE;
			reload(st);
		}
		break;
	}
	if (now - last_set_ns >= POLICY_SET_EVERY_NS)
		send_policy_set();
	/* Tick fast only while a reload settles or a directory is still to be watched:
	 * an idle evaluator wakes once a second (policy_set is every 10 s). */
	stage_set_timer(st, rl_state == RL_PENDING || wd_dir < 0 || (library_dir && wd_lib < 0)
				    ? TIMER_FAST_MS : TIMER_IDLE_MS);
}

/* The library shipped with this build: <dir of the binary>/../policies. */
static char *default_library(void)
{
	char exe[PATH_MAX], *slash, *d = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/'))) {
			*slash = '\0';
			if (asprintf(&d, "%s/../policies", exe) < 0)
				d = NULL;
			if (d && access(d, R_OK) == 0)
				return d;
			free(d);
		}
	}
	return strdup("/usr/share/vigil/policies");
}

/* The enricher output shard of this instance: "evaluator.K" reads enricher.out.K (the
 * enricher's --evaluators N binds shards 1..N-1 there), any other name enricher.out. */
static const char *default_input(struct stage *st, char *buf, size_t len)
{
	const char *name = stage_name(st), *dot = strrchr(name, '.');
	size_t n;

	stage_endpoint(st, "enricher", "out", buf, len);
	n = strlen(buf);
	if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1) &&
	    strtoul(dot + 1, NULL, 10) > 0 && n + 22 < len)
		snprintf(buf + n, len - n, ".%lu", strtoul(dot + 1, NULL, 10));
	return buf;
}

static int setup(struct stage *st)
{
	char a[512], b[512], c[512];
	int hwm = atoi(opt_hwm), ehwm = atoi(opt_enf_hwm);

	the_st = st;
	if (strcmp(opt_mode, "enforce") && strcmp(opt_mode, "monitor")) {
		log_error("--mode: expected enforce or monitor, got '%s'", opt_mode);
		return EXIT_PERM;
	}
	in_sock = stage_socket(st, ZMQ_PULL, hwm);
	out_sock = stage_socket(st, ZMQ_PUSH, hwm);
	enf_sock = stage_socket(st, ZMQ_PUSH, ehwm > 0 ? ehwm : 100);
	if (!opt_input)
		opt_input = default_input(st, a, sizeof(a));
	if (stage_connect(st, in_sock, opt_input) < 0)
		return EXIT_PERM;
	if (!opt_output)
		opt_output = stage_endpoint(st, "exporter", "in", b, sizeof(b));
	if (stage_connect(st, out_sock, opt_output) < 0)
		return EXIT_PERM;
	enforcer_ep = strdup(opt_enforcer ? opt_enforcer :
			     stage_endpoint(st, "enforcer", "in", c, sizeof(c)));
	if (stage_connect(st, enf_sock, enforcer_ep) < 0)
		return EXIT_PERM;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "output", "%s", opt_output);
	stage_info(st, "enforcer", "%s", enforcer_ep);
	opt_input = opt_output = NULL; /* the buffers are ours only during setup */
	library_dir = opt_no_library ? NULL : opt_library ? strdup(opt_library) : default_library();
	policy_dir = strdup(opt_dir ? opt_dir : "/etc/vigil/policies.d");
	stage_info(st, "library", "%s", library_dir ? library_dir : "(not loaded)");
	stage_info(st, "policy_dir", "%s", policy_dir);
	stage_info(st, "mode", "%s", opt_mode);
	c_matches = stage_counter(st, "policy.matches");
	c_policy_events = stage_counter(st, "policy.events");
	c_verdicts = stage_counter(st, "enforcer.verdicts");
	c_sets = stage_counter(st, "enforcer.policy_sets");
	c_enf_drops = stage_counter(st, "enforcer.send_drops");
	c_reloads = stage_counter(st, "policy.reloads");
	c_reload_errors = stage_counter(st, "policy.reload_errors");
	c_policies = stage_counter(st, "policy.loaded");
	msgpack_sbuffer_init(&enf_sb);
	strbuf_init(&msg);
	wire_in_init(&in, st, in_sock);
	wire_out_init(&out, st, out_sock);
	eval_url_init(st);
	ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino_fd < 0)
		log_warn("inotify: %s; policies will not be reloaded on change", strerror(errno));
	else
		stage_watch(st, NULL, ino_fd, on_inotify, NULL);
	wd_dir = watch_dir(policy_dir);
	if (library_dir)
		wd_lib = watch_dir(library_dir);
	reload(st);
	stage_watch(st, in_sock, -1, on_input, NULL);
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	eval_url_stop();
	zmq_close(in_sock);
	zmq_close(out_sock);
	zmq_close(enf_sock);
	wire_out_free(&out);
	msgpack_sbuffer_destroy(&enf_sb);
	strbuf_free(&msg);
	if (ino_fd >= 0)
		close(ino_fd);
	policy_set_free(cur);
	free(cur_matches);
	free(library_dir);
	free(policy_dir);
	free(enforcer_ep);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "evaluator",
		.summary = "vigil evaluator: applies policies to enriched events",
		.opts = opts,
		.setup = setup,
		.timer = timer,
		.timer_ms = TIMER_FAST_MS,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
