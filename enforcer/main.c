/* enforcer — compiles the enforceable part of the policy set into the kernel's rule
 * maps, applies verdicts through the kill map, keeps pod scopes current, and reports
 * every block, kill and would-block to the enricher (docs/wire.md §10). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <zmq.h>

#include "enforcer.h"
#include "stage.h"
#include "wire.h"

#define BATCH 512
#define MAX_CGKILL 256

static const char *opt_input, *opt_hwm = "10000", *opt_pin_dir, *opt_cgroup_root,
		  *opt_report, *opt_cgkill_ms = "30000";
static int opt_no_lsm, opt_keep_pins;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to bind (default ipc://RUNDIR/enforcer.in)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the input (default 10000)" },
	{ "pin-dir", &opt_pin_dir, NULL, "bpffs directory for maps and links (default "
	  "/sys/fs/bpf/vigil with the default run directory, else /sys/fs/bpf/vigil-<hash of "
	  "the run directory>; \"none\": no pins)" },
	{ "cgroup-root", &opt_cgroup_root, NULL, "cgroup v2 mount for the network hooks "
	  "(default: /sys/fs/cgroup/unified or /sys/fs/cgroup, whichever is cgroup2)" },
	{ "report", &opt_report, NULL, "PUSH endpoint for reports (default ipc://RUNDIR/enricher.in)" },
	{ "cgroup-kill-ms", &opt_cgkill_ms, NULL, "how long a cgroup verdict keeps killing "
	  "(default 30000)" },
	{ "no-lsm", NULL, &opt_no_lsm, "do not try BPF LSM (sigkill tier for files and exec)" },
	{ "keep-pins", NULL, &opt_keep_pins, "leave enforcement in force after a clean stop" },
	{ 0 },
};

/*
 * The enforcer's own state, as a table (STYLE.md). Each policy also has a state
 * (enfp_state: armed, monitor, disarmed) shown in status.
 *
 *   state \ event   set_enforce   set_monitor   set_empty
 *   idle            armed         monitor       idle
 *   armed           armed         monitor       idle
 *   monitor         armed         monitor       idle
 *
 * idle: no rule in force; armed: the set blocks; monitor: the global switch makes
 * every policy report only. A rejected set is no event: the state stays.
 */
enum enf_state { ES_IDLE, ES_ARMED, ES_MONITOR, ES_N };
enum enf_sev { EV_SET_ENFORCE, EV_SET_MONITOR, EV_SET_EMPTY, EV_N };
static const enum enf_state es_next[ES_N][EV_N] = {
	[ES_IDLE] = { ES_ARMED, ES_MONITOR, ES_IDLE },
	[ES_ARMED] = { ES_ARMED, ES_MONITOR, ES_IDLE },
	[ES_MONITOR] = { ES_ARMED, ES_MONITOR, ES_IDLE },
};
static const char *const es_name[ES_N] = { "idle", "armed", "monitor" };

struct cgkill {
	uint64_t cgid;
	uint64_t until_ns;
};

static struct {
	struct stage *st;
	struct wire_in in;
	void *in_sock, *rep_sock;
	struct wire_out rep;
	struct enfb *b;
	struct enfp_set set;          /* in force */
	int have_set;
	struct enfp_pods pods;
	struct enfp_protect prot;
	enum enf_state state;
	struct cgkill cgk[MAX_CGKILL];
	int ncgk;
	uint64_t cgkill_ns;
	struct log_rl rl;
} E = { .rl = LOG_RL_INIT(5, 20) };

/* Now on clock c, in ns. */
static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A counter named enforce.<policy>.<what>. */
static void count_policy(const char *policy, const char *what)
{
	char name[160];

	snprintf(name, sizeof(name), "enforce.%s.%s", policy[0] ? policy : "-", what);
	(*stage_counter(E.st, name))++;
}

/* Publish which programs are attached (lazily: they follow the rules and kill maps). */
static void publish_attached(void)
{
	stage_info(E.st, "attached", "%s", enfb_attached(E.b));
	stage_info(E.st, "unpinned", "%s", enfb_unpinned(E.b)[0] ? enfb_unpinned(E.b) : "none");
}

/* Publish per-policy state under info. */
static void publish_policies(void)
{
	for (size_t i = 0; i < E.set.n; i++) {
		struct enfp_policy *p = &E.set.pols[i];
		enum enfp_state s = p->state;
		char key[96];

		if (s == ENFP_ARMED && E.set.monitor_all)
			s = ENFP_MONITOR;
		snprintf(key, sizeof(key), "policy.%s", p->name);
		if (s == ENFP_DISARMED)
			stage_info(E.st, key, "state=disarmed: %s", p->why);
		else
			stage_info(E.st, key, "state=%s tier=%s", enfp_state_name(s), p->tiers);
	}
	stage_info(E.st, "state", "%s", es_name[E.state]);
	stage_info(E.st, "generation", "%llu", (unsigned long long)enfb_generation(E.b));
	publish_attached();
}

/* Forget the info keys of a set that is no longer in force. */
static void unpublish_policies(const struct enfp_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		char key[96];

		snprintf(key, sizeof(key), "policy.%s", s->pols[i].name);
		stage_info(E.st, key, "state=removed");
	}
}

/* Compile and install s (taking ownership on success). 0, or -1 (s untouched). */
static int install(struct enfp_set *s)
{
	char err[ENFP_ERR];
	enum enf_sev ev;

	for (size_t i = 0; i < s->n; i++) {
		struct enfp_policy *p = &s->pols[i];

		p->why[0] = 0;
		p->state = ENFP_ARMED;
		if (enfp_protect_check(&E.prot, p, err, sizeof(err)) < 0) {
			p->state = ENFP_DISARMED;
			snprintf(p->why, sizeof(p->why), "refused (self-protection): %.160s", err);
			log_error("policy %s refused: %s", p->name, err);
			(*stage_counter(E.st, "policy.refused"))++;
		}
	}
	if (enfb_install(E.b, s, &E.pods, err, sizeof(err)) < 0) {
		log_error("policy_set generation %llu rejected: %s",
			  (unsigned long long)s->generation, err);
		(*stage_counter(E.st, "policy_set.rejected"))++;
		stage_info(E.st, "last_error", "%s", err);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->pols[i].state == ENFP_DISARMED) {
			log_warn("policy %s not enforceable on this node: %s", s->pols[i].name,
				 s->pols[i].why);
			(*stage_counter(E.st, "policy.disarmed"))++;
		}
	if (E.have_set && &E.set != s) {
		unpublish_policies(&E.set);
		enfp_free(&E.set);
	}
	if (&E.set != s)
		E.set = *s;
	E.have_set = 1;
	ev = !s->n ? EV_SET_EMPTY : s->monitor_all ? EV_SET_MONITOR : EV_SET_ENFORCE;
	if (es_next[E.state][ev] != E.state)
		log_info("state %s -> %s", es_name[E.state], es_name[es_next[E.state][ev]]);
	E.state = es_next[E.state][ev];
	publish_policies();
	(*stage_counter(E.st, "policy_set.installed"))++;
	return 0;
}

/* policy_set: install when newer than what is in force. */
static void on_policy_set(const struct wire_msg *m)
{
	struct enfp_set s;
	char err[ENFP_ERR];
	uint64_t cur = enfb_generation(E.b);

	if (enfp_parse(m->ev, &s, err, sizeof(err)) < 0) {
		wire_drop(&E.in, WIRE_DROP_BODY, m);
		log_rl(&E.rl, LOG_SEV_ERROR, "%llu: policy_set rejected: %s",
		       (unsigned long long)m->seq, err);
		stage_info(E.st, "last_error", "%s", err);
		(*stage_counter(E.st, "policy_set.rejected"))++;
		return;
	}
	/* Equal generation after a restart: the kernel has it, we do not know its names. */
	if (s.generation < cur || (s.generation == cur && E.have_set)) {
		(*stage_counter(E.st, "policy_set.stale"))++;
		enfp_free(&s);
		return;
	}
	if (install(&s) < 0)
		enfp_free(&s);
}

/* pod_meta: keep the pod table; rebuild scopes when a selector depends on it. */
static void on_pod_meta(const struct wire_msg *m)
{
	char err[ENFP_ERR];
	int r = enfp_pod_meta(&E.pods, m->ev, err, sizeof(err));

	if (r < 0) {
		wire_drop(&E.in, WIRE_DROP_BODY, m);
		log_rl(&E.rl, LOG_SEV_WARN, "%llu: pod_meta dropped: %s",
		       (unsigned long long)m->seq, err);
		return;
	}
	(*stage_counter(E.st, "pod_meta"))++;
	if (r == 1 && E.have_set && E.set.n)
		install(&E.set);
}

/* verdict: a process (pid + start time) or a cgroup into the kill map. */
static void on_verdict(const struct wire_msg *m)
{
	char policy[ENF_NAME_MAX] = "", action[16] = "", err[ENFP_ERR];
	const char *p;
	size_t len;
	uint64_t pid = 0, start = 0, cgid = 0, sig = 9;

	if (wire_get_str(m->ev, "policy", &p, &len) == 0)
		snprintf(policy, sizeof(policy), "%.*s", (int)len, p);
	if (wire_get_str(m->ev, "action", &p, &len) == 0)
		snprintf(action, sizeof(action), "%.*s", (int)len, p);
	if (!strcmp(action, "signal")) {
		if (wire_get_u64(m->ev, "signal", &sig) < 0 || sig < 1 || sig > 64)
			goto bad;
	} else if (strcmp(action, "sigkill")) {
		goto bad;
	}
	if (wire_get_u64(m->ev, "cgroup_id", &cgid) == 0 && cgid) {
		for (int i = 0; i < E.prot.ncgids; i++)
			if (E.prot.cgids[i] == cgid) {
				log_rl(&E.rl, LOG_SEV_ERROR, "%llu: verdict refused: cgroup %llu holds "
				       "vigil itself", (unsigned long long)m->seq,
				       (unsigned long long)cgid);
				(*stage_counter(E.st, "verdict.refused"))++;
				return;
			}
		if (enfb_kill_cgroup(E.b, cgid, (int)sig, policy, err, sizeof(err)) < 0)
			goto fail;
		publish_attached();
		if (E.ncgk < MAX_CGKILL)
			E.cgk[E.ncgk++] = (struct cgkill){ cgid, now_ns(CLOCK_MONOTONIC) + E.cgkill_ns };
		(*stage_counter(E.st, "verdict.cgroup"))++;
		return;
	}
	if (wire_get_u64(m->ev, "pid", &pid) < 0 || wire_get_u64(m->ev, "start_ktime", &start) < 0 ||
	    pid == 0 || pid > 0x7fffffff)
		goto bad;
	if (enfp_protect_pid(&E.prot, (int)pid, err, sizeof(err))) {
		log_rl(&E.rl, LOG_SEV_ERROR, "%llu: verdict refused: %s", (unsigned long long)m->seq,
		       err);
		(*stage_counter(E.st, "verdict.refused"))++;
		return;
	}
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
		(*stage_counter(E.st, "verdict.exited"))++;
		log_rl(&E.rl, LOG_SEV_INFO, "%llu: verdict for pid %llu: already exited",
		       (unsigned long long)m->seq, (unsigned long long)pid);
		return;
	}
	if (!start) {
		/* No fork time (docs/wire.md §10): pin the verdict to the process
		 * holding the pid now, and refuse it when that one started after the exec
		 * the verdict is about (the pid was reused). */
		uint64_t exec_kt = 0, cur = 0;
		int r = enfb_start_ktime(E.b, (uint32_t)pid, &cur);

		if (r == 0) {
			(*stage_counter(E.st, "verdict.exited"))++;
			return;
		}
		if (r < 0) {
			snprintf(err, sizeof(err), "reading the start time of pid %llu: %s",
				 (unsigned long long)pid, strerror(errno));
			goto fail;
		}
		if (wire_get_u64(m->ev, "exec_ktime", &exec_kt) == 0 && exec_kt && cur > exec_kt) {
			(*stage_counter(E.st, "verdict.reused"))++;
			log_rl(&E.rl, LOG_SEV_WARN, "%llu: verdict for pid %llu refused: the pid was "
			       "reused after the exec it is about", (unsigned long long)m->seq,
			       (unsigned long long)pid);
			return;
		}
		start = cur;
		(*stage_counter(E.st, "verdict.no_start_time"))++;
	}
	if (enfb_kill_pid(E.b, (uint32_t)pid, start, (int)sig, policy, err, sizeof(err)) < 0)
		goto fail;
	publish_attached();
	(*stage_counter(E.st, "verdict.pid"))++;
	return;
bad:
	wire_drop(&E.in, WIRE_DROP_BODY, m);
	log_rl(&E.rl, LOG_SEV_WARN, "%llu: verdict dropped: needs action sigkill|signal, and "
	       "cgroup_id or pid + start_ktime", (unsigned long long)m->seq);
	return;
fail:
	(*stage_counter(E.st, "verdict.failed"))++;
	log_rl(&E.rl, LOG_SEV_ERROR, "%llu: verdict failed: %s", (unsigned long long)m->seq, err);
}

/* Drain the input: dispatch by message type, count what is not ours. */
static void on_input(struct stage *st, void *arg)
{
	struct wire_msg m;
	int i, r;

	(void)arg;
	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		r = wire_recv(&E.in, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		if (wire_streq(m.type, m.type_len, "policy_set"))
			on_policy_set(&m);
		else if (wire_streq(m.type, m.type_len, "verdict"))
			on_verdict(&m);
		else if (wire_streq(m.type, m.type_len, "pod_meta"))
			on_pod_meta(&m);
		else
			wire_drop(&E.in, WIRE_DROP_UNKNOWN_TYPE, &m);
		wire_msg_done(&E.in, &m);
	}
}

/* ---- reports ---- */

/* The Tetragon function_name for a hook. */
static const char *hook_name(int h)
{
	switch (h) {
	case ENF_H_CONNECT4: case ENF_H_CONNECT6: return "security_socket_connect";
	case ENF_H_SENDMSG4: case ENF_H_SENDMSG6: return "security_socket_sendmsg";
	case ENF_H_SYS_OPENAT: return "sys_openat";
	case ENF_H_SYS_OPENAT2: return "sys_openat2";
	case ENF_H_EXEC: return "sys_execve";
	case ENF_H_LSM_FILE_OPEN: return "security_file_open";
	case ENF_H_LSM_BPRM: return "security_bprm_check";
	case ENF_H_LSM_CONNECT: return "security_socket_connect";
	case ENF_H_KILLMAP: return "sys_enter";
	case ENF_H_SYS_OPEN: return "sys_open";
	case ENF_H_SYS_CREAT: return "sys_creat";
	case ENF_H_SYS_OPEN_BY_HANDLE: return "sys_open_by_handle_at";
	case ENF_H_LSM_UNLINK: return "security_path_unlink";
	case ENF_H_LSM_RENAME: return "security_path_rename";
	case ENF_H_LSM_CHMOD: return "security_path_chmod";
	case ENF_H_LSM_SETUID: return "security_task_fix_setuid";
	case ENF_H_LSM_READ_FILE: return "security_kernel_read_file";
	case ENF_H_LSM_LOAD_DATA: return "security_kernel_load_data";
	case ENF_H_LSM_MOUNT: return "security_sb_mount";
	case ENF_H_LSM_FPERM: return "security_file_permission";
	}
	return "unknown";
}

/* Pack a C string. */
static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Pack a string key and a string value. */
static void pack_kv(msgpack_packer *pk, const char *k, const char *v)
{
	pack_str(pk, k);
	pack_str(pk, v);
}

/* One report record into a process_lsm / process_kprobe body for the enricher. */
static void on_event(void *arg, const struct enf_event *e)
{
	int lsm = (e->hook >= ENF_H_LSM_FILE_OPEN && e->hook <= ENF_H_LSM_CONNECT) ||
		  e->hook >= ENF_H_LSM_UNLINK;
	uint64_t mono = now_ns(CLOCK_MONOTONIC), real = now_ns(CLOCK_REALTIME);
	char path[ENF_PATH_MAX + 1], policy[ENF_NAME_MAX + 1], comm[17], addr[64];
	const char *action, *what;
	msgpack_packer *pk;
	zmq_pollitem_t it;
	int nkeys = 12;

	(void)arg;
	snprintf(path, sizeof(path), "%s", e->path);
	snprintf(policy, sizeof(policy), "%.*s", ENF_NAME_MAX, e->policy);
	snprintf(comm, sizeof(comm), "%.*s", 16, e->comm);
	switch (e->done) {
	case ENF_D_OVERRIDE: action = "KPROBE_ACTION_OVERRIDE"; what = "blocked"; break;
	case ENF_D_SIGKILL: action = "KPROBE_ACTION_SIGKILL"; what = "killed"; break;
	case ENF_D_SIGNAL: action = "KPROBE_ACTION_SIGNAL"; what = "signaled"; break;
	default: action = "KPROBE_ACTION_POST"; what = "would_block"; break;
	}
	count_policy(policy, what);
	log_rl(&E.rl, LOG_SEV_INFO, "%s: policy %s: %s pid %u (%s) %s%s", hook_name(e->hook), policy,
	       what, e->pid, comm, path, e->family ? "(network)" : "");
	/* Never stall enforcement on a missing enricher: drop and count instead. */
	it = (zmq_pollitem_t){ .socket = E.rep_sock, .events = ZMQ_POLLOUT };
	if (zmq_poll(&it, 1, 0) <= 0 || !(it.revents & ZMQ_POLLOUT)) {
		(*stage_counter(E.st, "report.dropped"))++;
		return;
	}
	if (e->done == ENF_D_OVERRIDE)
		nkeys++;
	if (e->done == ENF_D_MONITOR)
		nkeys++;
	pk = wire_begin(&E.rep, lsm ? "process_lsm" : "process_kprobe");
	msgpack_pack_map(pk, nkeys);
	pack_str(pk, "time");
	msgpack_pack_uint64(pk, real - (mono > e->ktime ? mono - e->ktime : 0));
	pack_str(pk, "ktime");
	msgpack_pack_uint64(pk, e->ktime);
	pack_str(pk, "pid");
	msgpack_pack_uint32(pk, e->pid);
	pack_str(pk, "tid");
	msgpack_pack_uint32(pk, e->tid);
	pack_str(pk, "start_ktime");
	msgpack_pack_uint64(pk, e->start_ktime);
	pack_str(pk, "cgroup_id");
	msgpack_pack_uint64(pk, e->cgid);
	pack_str(pk, "uid");
	msgpack_pack_uint32(pk, e->uid);
	pack_kv(pk, "comm", comm);
	pack_kv(pk, "function_name", hook_name(e->hook));
	pack_kv(pk, "policy_name", policy);
	pack_kv(pk, "action", action);
	pack_str(pk, "args");
	if (e->family) {
		int af = e->family == 4 ? AF_INET : AF_INET6;

		inet_ntop(af, e->addr, addr, sizeof(addr));
		msgpack_pack_array(pk, 1);
		msgpack_pack_map(pk, 1);
		pack_str(pk, "sockaddr_arg");
		msgpack_pack_map(pk, 4);
		pack_kv(pk, "family", e->family == 4 ? "AF_INET" : "AF_INET6");
		pack_kv(pk, "addr", addr);
		pack_str(pk, "port");
		msgpack_pack_uint16(pk, e->port);
		pack_kv(pk, "protocol", e->proto == 6 ? "IPPROTO_TCP" : e->proto == 17 ?
			"IPPROTO_UDP" : "other");
	} else if (path[0]) {
		msgpack_pack_array(pk, 1);
		msgpack_pack_map(pk, 1);
		pack_str(pk, e->kind == ENF_K_EXEC ? "linux_binprm_arg" : "file_arg");
		msgpack_pack_map(pk, 1);
		pack_kv(pk, "path", path);
	} else {
		msgpack_pack_array(pk, 0);
	}
	if (e->done == ENF_D_OVERRIDE) {
		pack_str(pk, "return");
		msgpack_pack_map(pk, 1);
		pack_str(pk, "int_arg");
		msgpack_pack_int32(pk, -e->err);
	}
	if (e->done == ENF_D_MONITOR)
		pack_kv(pk, "message", "would have blocked");
	if (wire_end(&E.rep) == 0)
		(*stage_counter(E.st, "report.sent"))++;
}

/* Monitor reports do not always wake us (bpf/enforce.bpf.c, report_wake): while
 * reports flow, the timer drains every REPORT_POLL_MS so the last ones of a burst wait
 * at most that long; otherwise it runs every second. */
#define REPORT_POLL_MS 10
#define HOUSEKEEP_MS 1000
static uint64_t housekept_ns; /* mono ns of the last once-a-second housekeeping */
static int polling;	      /* the timer is at REPORT_POLL_MS */

/* The ring buffer has records: turn them into reports, and have the timer drain the
 * rest soon. Only ever brings the timer closer: a steady stream of wakeups must not
 * keep pushing the housekeeping away. */
static void on_events(struct stage *st, void *arg)
{
	(void)arg;
	if (enfb_drain(E.b, on_event, NULL) > 0 && !polling) {
		polling = 1;
		stage_set_timer(st, REPORT_POLL_MS);
	}
}

/* Drain the ring into reports; the timer follows whether records came. */
static void drain_reports(struct stage *st)
{
	polling = enfb_drain(E.b, on_event, NULL) > 0;
	stage_set_timer(st, polling ? REPORT_POLL_MS : HOUSEKEEP_MS);
}

/* Every second: end expired cgroup kills, sweep dead pids from the kill map, drain
 * reports a wakeup may have missed (every REPORT_POLL_MS while reports flow). */
static void on_timer(struct stage *st)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	if (now - housekept_ns < HOUSEKEEP_MS * 1000000ull) {
		drain_reports(st);
		return;
	}
	housekept_ns = now;
	for (int i = 0; i < E.ncgk;) {
		if (E.cgk[i].until_ns <= now) {
			enfb_unkill_cgroup(E.b, E.cgk[i].cgid);
			E.cgk[i] = E.cgk[--E.ncgk];
		} else {
			i++;
		}
	}
	enfb_kill_sweep(E.b);
	publish_attached();
	drain_reports(st);
}

/* The default pin directory: shared name for the default run directory, else one
 * per run directory, so test trees never meet. */
static const char *default_pin_dir(const char *rundir, char *buf, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	if (!strcmp(rundir, "/run/vigil") || !strcmp(rundir, "/run/vigil/"))
		return "/sys/fs/bpf/vigil";
	for (const char *p = rundir; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(buf, len, "/sys/fs/bpf/vigil-%016llx", (unsigned long long)h);
	return buf;
}

/* Load and attach (or adopt) the BPF side, then bind the input and connect the reports. */
static int setup(struct stage *st)
{
	char a[512], r[512], pb[64], err[ENFP_ERR];
	struct enfb_opts o = { 0 };
	const char *pin;

	E.st = st;
	E.cgkill_ns = strtoull(opt_cgkill_ms, NULL, 10) * 1000000ull;
	pin = opt_pin_dir ? opt_pin_dir : default_pin_dir(stage_rundir(st), pb, sizeof(pb));
	if (!strcmp(pin, "none"))
		pin = NULL;
	o.pin_dir = pin;
	o.cgroup_root = opt_cgroup_root;
	o.no_lsm = opt_no_lsm;
	o.keep_pins = opt_keep_pins;
	E.b = enfb_open(&o, err, sizeof(err));
	if (!E.b) {
		log_error("BPF: %s", err);
		return EXIT_TEMP;
	}
	enfp_protect_init(&E.prot, stage_rundir(st), pin);
	stage_info(st, "tiers", "override(network)=cgroup sigkill=tracepoint killmap=raw_tp "
		   "override(file,exec)=%s", enfb_has_lsm(E.b) ? "lsm" : "unavailable (no BPF LSM)");
	stage_info(st, "net_errno", "%s", enfb_net_retval(E.b) ?
		   "policy (bpf_set_retval)" : "EPERM only (no bpf_set_retval for cgroup programs)");
	publish_attached();
	stage_info(st, "lsm_hooks", "%s", enfb_lsm_hooks(E.b)[0] ? enfb_lsm_hooks(E.b) : "none");
	stage_info(st, "bpf_build", "%s", enfb_build_name(E.b));
	stage_info(st, "pin_dir", "%s", pin ? pin : "none");
	stage_info(st, "generation", "%llu", (unsigned long long)enfb_generation(E.b));
	if (enfb_generation(E.b))
		log_info("adopted generation %llu from %s: still in force",
			 (unsigned long long)enfb_generation(E.b), pin);
	E.state = enfb_generation(E.b) ? ES_ARMED : ES_IDLE;
	stage_info(st, "state", "%s", es_name[E.state]);

	E.in_sock = stage_socket(st, ZMQ_PULL, atoi(opt_hwm));
	if (!opt_input)
		opt_input = stage_endpoint(st, NULL, "in", a, sizeof(a));
	if (stage_bind(st, E.in_sock, opt_input) < 0)
		return EXIT_TEMP;
	stage_info(st, "input", "%s", opt_input);
	opt_input = NULL;
	E.rep_sock = stage_socket(st, ZMQ_PUSH, 10000);
	if (!opt_report) {
		snprintf(r, sizeof(r), "ipc://%s/enricher.in", stage_rundir(st));
		opt_report = r;
	}
	if (stage_connect(st, E.rep_sock, opt_report) < 0)
		return EXIT_TEMP;
	stage_info(st, "report", "%s", opt_report);
	opt_report = NULL;
	wire_out_init(&E.rep, st, E.rep_sock);
	wire_in_init(&E.in, st, E.in_sock);
	stage_watch(st, E.in_sock, -1, on_input, NULL);
	stage_watch(st, NULL, enfb_events_fd(E.b), on_events, NULL);
	return 0;
}

/* A clean stop: last reports, then detach and unpin (unless --keep-pins). */
static void shutdown_(struct stage *st)
{
	(void)st;
	enfb_drain(E.b, on_event, NULL);
	enfb_close(E.b);
	E.b = NULL;
	if (E.have_set)
		enfp_free(&E.set);
	enfp_pods_free(&E.pods);
	enfp_protect_free(&E.prot);
	wire_out_free(&E.rep);
	zmq_close(E.rep_sock);
	zmq_close(E.in_sock);
}

/* The stage skeleton runs everything. */
int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "enforcer",
		.summary = "vigil enforcer: policies and verdicts into the kernel's maps",
		.opts = opts,
		.setup = setup,
		.timer = on_timer,
		.timer_ms = HOUSEKEEP_MS,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
