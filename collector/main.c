/* collector — loads vigil's BPF programs, drains their ring buffer without a wakeup
 * per event, and sends each record downstream as a raw wire event (docs/wire.md §4). */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "collector_bpf.h"
#include "collector_needs.h"
#include "collector_probe.h"
#include "events.h"
#include "policy.h"
#include "stage.h"
#include "wire.h"

static const char *opt_output, *opt_hwm = "10000", *opt_ringbuf_mb = "2",
		  *opt_events = "process", *opt_chmod_all = "0", *opt_scan = "1",
		  *opt_cgroups = "", *opt_prefixes = "", *opt_binaries = "",
		  *opt_ignore_binaries = "", *opt_proc_ringbuf_mb = "1", *opt_pin_dir,
		  *opt_delivery_ms = "10", *opt_policies = "";
static struct wire_out out;
static void *out_sock;
static struct cbpf *cb;
static uint64_t clock_ns;     /* last wall-clock offset refresh */
/* --events and --file-prefixes as given, and what --policies adds (needs) */
static uint64_t user_ops;
static const char **user_pre;
static size_t user_npre;
static int chmod_all;
static char *pol_paths;        /* --policies; NULL: none */
static uint64_t pol_sig, pol_checked_ns;
static struct cneeds needs;
#define POLICY_CHECK_NS 2000000000ull
/* Records submitted without a wakeup (bpf/lib/vigil_common.h: within wake_ns of the
 * last one) can only exist right after activity: poll for them every delivery_ms
 * then (--delivery-ms: the bound on how long a record waits in the ring while records
 * flow; what that drain finds leaves as one batch through the whole pipeline), and
 * otherwise sleep until the ring wakes us or the clock needs a refresh. 0: a wakeup
 * per record, the least latency and the most CPU. */
static unsigned delivery_ms;
#define DRAIN_IDLE_MS 1000 /* also the bound for a record whose commit outran a promise */
static int64_t scanned;	 /* processes sent by the start-up scan */
static int scan_pending; /* the scan runs first thing in the loop (sends may block) */

static const struct stage_opt opts[] = {
	{ "output", &opt_output, NULL, "PUSH endpoint to bind (default ipc://RUNDIR/collector.out)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the output (default 10000)" },
	{ "ringbuf-mb", &opt_ringbuf_mb, NULL,
	  "file/net/priv ring buffer size in MiB, a power of 2 (default 1)" },
	{ "proc-ringbuf-mb", &opt_proc_ringbuf_mb, NULL,
	  "process lifecycle ring buffer size in MiB, a power of 2 (default 2)" },
	{ "delivery-ms", &opt_delivery_ms, NULL,
	  "while records flow, the longest one waits in the ring, ms; 0: a wakeup per "
	  "record (default 10)" },
	{ "pin-dir", &opt_pin_dir, NULL,
	  "bpffs directory for links and maps (default /sys/fs/bpf/vigil-collector[-<hash of "
	  "run directory and name>]; \"none\": no pins)" },
	{ "events", &opt_events, NULL,
	  "event kinds sent, comma-separated: process,file,net,priv (default process)" },
	{ "chmod-all", &opt_chmod_all, NULL, "1: every chmod, 0: only setuid/setgid (default 0)" },
	{ "cgroups", &opt_cgroups, NULL,
	  "only file/net/priv events of these cgroup v2 ids or dirs, comma-separated (default all)" },
	{ "file-prefixes", &opt_prefixes, NULL,
	  "only file events under these path prefixes, comma-separated (default: all)" },
	{ "binaries", &opt_binaries, NULL,
	  "only file/net/priv events of processes running these binaries (exact paths, "
	  "comma-separated; a fork inherits; default: all)" },
	{ "ignore-binaries", &opt_ignore_binaries, NULL,
	  "no file/net/priv events of processes running these binaries (default: none)" },
	{ "policies", &opt_policies, NULL,
	  "also send what these policies (files or directories, comma-separated: the evaluator's "
	  "library and policy directory) can match: their event kinds and file path prefixes; "
	  "read again when they change (default: none)" },
	{ "scan", &opt_scan, NULL, "1: send running processes as procFS execs at start (default 1)" },
	{ 0 },
};

/* One ring-buffer record → one wire message. Blocks at the HWM: backpressure. */
static int emit(void *arg, const struct cbpf_rec *r)
{
	(void)arg;
	cbpf_pack(cb, r, wire_begin(&out, r->type));
	return wire_end(&out);
}

/* The start-up scan: processes alive now as procFS execs, before any ring
 * record, so every later event has a known process. The programs are
 * already attached: a process cannot fall between the scan and them. */
static void scan(struct stage *st)
{
	char err[256];

	scan_pending = 0;
	scanned = cbpf_scan(cb, emit, NULL, err, sizeof(err));
	if (scanned < 0) {
		if (!stage_stopping(st))
			log_warn("start-up scan failed, earlier processes are unknown: %s", err);
		scanned = 0;
	}
	log_info("start-up scan: %lld processes", (long long)scanned);
}

/* Drain the ring; returns the records sent (0 on failure or when stopping). */
static int drain_ring(struct stage *st)
{
	static struct log_rl rl = LOG_RL_INIT(1, 1);
	int n = 0;

	if (scan_pending)
		scan(st);
	/* emit() fails only when the stage is stopping: that is not worth a warning. */
	if (!stage_stopping(st) && (n = cbpf_drain(cb, emit, NULL)) < 0 && !stage_stopping(st))
		log_rl(&rl, LOG_SEV_WARN, "ring buffer drain failed");
	return n > 0 ? n : 0;
}

/* Records are flowing: drain again in delivery_ms, and tell the programs so
 * (no wakeup needed until then: one drain per tick instead of one per record). */
static void fast(struct stage *st)
{
	if (!delivery_ms) { /* every record wakes us: the timer only catches stragglers */
		stage_set_timer(st, 1);
		return;
	}
	stage_set_timer(st, delivery_ms);
	cbpf_polling(cb, mono_ns() + delivery_ms * 1000000ull);
}

/* The ring woke us: records after these may follow without a wakeup. */
static void drain(struct stage *st, void *arg)
{
	(void)arg;
	(*stage_counter(st, "drain.wakeups"))++;
	if (drain_ring(st) > 0 || cbpf_pending(cb))
		fast(st);
}

static void policies_check(struct stage *st);

/* Records submitted without a wakeup are collected here at the latest. */
static void timer(struct stage *st)
{
	uint64_t now = mono_ns();
	int n = drain_ring(st);

	/* records the kernel submitted without a wakeup: each waited for this tick */
	*stage_counter(st, "drain.timer_records") += (uint64_t)n;
	if (n > 0 || cbpf_pending(cb))
		fast(st);
	else
		stage_set_timer(st, DRAIN_IDLE_MS);
	if (pol_paths && now - pol_checked_ns >= POLICY_CHECK_NS)
		policies_check(st);
	if (now - clock_ns >= 10000000000ull) { /* follow wall-clock adjustments */
		cbpf_refresh_clock(cb);
		clock_ns = now;
	}
}

static void status(struct stage *st)
{
	struct cbpf_stats s;
	struct counters *cs = stage_counters(st);
	unsigned t;

	cbpf_stats(cb, &s);
	for (t = 0; t < 8; t++) {
		const char *name = cbpf_kind_name(t);

		if (!name)
			continue;
		*counters_get2(cs, "kernel.emitted.", name) = s.emitted[t];
		*counters_get2(cs, "ringbuf_lost.", name) = s.lost[t];
	}
	counters_set(cs, "ringbuf_lost", s.lost_total);
	/* per CPU, once a CPU has lost something (a busy CPU shows itself) */
	for (int c = 0; c < s.ncpus; c++)
		if (s.lost_cpu[c]) {
			char n[16];

			snprintf(n, sizeof(n), "cpu%d", c);
			*counters_get2(cs, "ringbuf_lost.", n) = s.lost_cpu[c];
		}
	counters_set(cs, "ringbuf_received", s.received);
	counters_set(cs, "drop.bad_record", s.bad_records);
	/* not a loss: what --file-prefixes excludes, judged here (bind mounts, path operations) */
	counters_set(cs, "filtered.late_prefix", s.late_filtered);
	counters_set(cs, "scan.procfs", (uint64_t)scanned);
}

/* The operation mask of an --events list; -1 on an unknown kind. */
static int64_t events_mask(const char *list)
{
	char buf[256], *tok, *save = NULL;
	int64_t ops = (int64_t)CBPF_OPS_STDIO; /* part of exec: a socket on stdio */

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "file"))
			ops |= (int64_t)CBPF_OPS_FILE;
		else if (!strcmp(tok, "net"))
			ops |= (int64_t)CBPF_OPS_NET;
		else if (!strcmp(tok, "priv"))
			ops |= (int64_t)CBPF_OPS_PRIV;
		else if (strcmp(tok, "process")) {
			log_error("--events: unknown kind '%s' (process, file, net, priv)", tok);
			return -1;
		}
	}
	return ops;
}

/* Parse --cgroups: each item a cgroup v2 id (digits) or a cgroup v2 directory
 * (its inode is the id). Returns the count, or -1 with the error logged. */
static int cgroups_parse(const char *list, uint64_t *ids, int max)
{
	char buf[8192], *tok, *save = NULL, *end;
	struct stat sb;
	int n = 0;

	if (strlen(list) >= sizeof(buf)) {
		log_error("--cgroups: list too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n >= max) {
			log_error("--cgroups: more than %d cgroups", max);
			return -1;
		}
		errno = 0;
		ids[n] = strtoull(tok, &end, 10);
		if (*tok >= '0' && *tok <= '9' && !*end && !errno && ids[n]) {
			n++;
			continue;
		}
		if (tok[0] != '/' || stat(tok, &sb) || !S_ISDIR(sb.st_mode)) {
			log_error("--cgroups: '%s' is neither a cgroup id nor a cgroup directory", tok);
			return -1;
		}
		ids[n++] = sb.st_ino;
	}
	return n;
}

/* Split the list of option opt into out[] (copied into buf); each must be an
 * absolute path shorter than VIGIL_PREFIX_LEN (= VIGIL_BIN_LEN). Count, or -1
 * (logged). */
static int paths_parse(const char *opt, const char *list, char *buf, size_t len, const char **out,
		       int max)
{
	char *tok, *save = NULL;
	int n = 0;

	if (strlen(list) >= len) {
		log_error("--%s: list too long", opt);
		return -1;
	}
	snprintf(buf, len, "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n >= max || tok[0] != '/' || strlen(tok) >= VIGIL_PREFIX_LEN) {
			log_error("--%s: '%s': at most %d absolute paths of at most %d bytes", opt,
				  tok, max, VIGIL_PREFIX_LEN - 1);
			return -1;
		}
		out[n++] = tok;
	}
	return n;
}

_Static_assert(VIGIL_PREFIX_LEN == VIGIL_BIN_LEN, "one length rule for both lists");

/* The default pin directory: a fixed name for the default run directory and
 * name, else one per run directory and instance name, so trees never share. */
static const char *default_pin_dir(const char *rundir, const char *name, char *buf, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	if ((!strcmp(rundir, "/run/vigil") || !strcmp(rundir, "/run/vigil/")) &&
	    !strcmp(name, "collector"))
		return "/sys/fs/bpf/vigil-collector";
	for (const char *p = rundir; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(buf, len, "/sys/fs/bpf/vigil-collector-%016llx", (unsigned long long)h);
	return buf;
}

/* Whether the directory that holds path is on a bpffs (pins can go there). */
static int on_bpffs(const char *path)
{
	char dir[256];
	struct statfs sf;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == 0xcafe4a11ul; /* BPF_FS_MAGIC */
}

/* Probe the kernel: a missing minimum is fatal (-1), anything else a warning
 * naming what is lost; the summary goes to status info. */
static int probe(struct stage *st)
{
	struct cprobe_result r;
	char sum[512];
	int fatal = 0;

	cprobe_run(&r);
	cprobe_summary(&r, sum, sizeof(sum));
	stage_info(st, "features", "%s", sum);
	for (int i = 0; i < CPROBE_COUNT; i++) {
		if (r.ok[i])
			continue;
		if (cprobe_required(i)) {
			log_error("kernel lacks %s (%s): needed for %s", cprobe_name(i), r.why[i],
				  cprobe_use(i));
			fatal = 1;
		} else {
			log_warn("kernel lacks %s (%s): no %s", cprobe_name(i), r.why[i],
				 cprobe_use(i));
		}
	}
	return fatal ? -1 : 0;
}

/* The operations and file path prefixes in force: --events and --file-prefixes plus
 * what the policies need. pre[] gets pointers into the options' and needs' strings,
 * *pflags how they apply (CBPF_PFX_*); 0 prefixes and no flags: every path. */
static uint64_t merge_needs(const char **pre, size_t *npre, unsigned *pflags)
{
	uint64_t ops = user_ops;
	int pol_file = pol_paths && (needs.need & POL_NEED_FILE);

	*npre = 0;
	*pflags = 0;
	if (pol_paths) {
		if (needs.need & POL_NEED_NET)
			ops |= CBPF_OPS_NET;
		if (needs.need & POL_NEED_PRIV)
			ops |= CBPF_OPS_PRIV;
		if (pol_file)
			ops |= CBPF_OPS_FILE;
	}
	if (((user_ops & CBPF_OPS_FILE) && !user_npre) ||
	    (pol_file && (needs.need & POL_NEED_ALL_PATHS)))
		return ops; /* someone wants every path */
	for (size_t i = 0; (user_ops & CBPF_OPS_FILE) && i < user_npre; i++)
		pre[(*npre)++] = user_pre[i];
	for (size_t i = 0; pol_file && i < needs.npre; i++) {
		if (*npre == VIGIL_PREFIXES_MAX) { /* too many to filter on: every path */
			*npre = 0;
			return ops;
		}
		pre[(*npre)++] = needs.pre[i];
	}
	*pflags = CBPF_PFX_ON;
	if (pol_file && (needs.need & POL_NEED_ALL_WRITES))
		*pflags |= CBPF_PFX_WRITES;
	if (pol_file && (needs.need & POL_NEED_ALL_PATHOPS))
		*pflags |= CBPF_PFX_PATHOPS;
	return ops;
}

/* Status info "events" and "file_prefixes" for what is in force. */
static void describe(struct stage *st, uint64_t ops, const char **pre, size_t npre,
		     unsigned pflags)
{
	char buf[VIGIL_PREFIXES_MAX * VIGIL_PREFIX_LEN];
	size_t off = 0;

	stage_info(st, "events", "process%s%s%s", (ops & CBPF_OPS_FILE) ? ",file" : "",
		   (ops & CBPF_OPS_NET) ? ",net" : "", (ops & CBPF_OPS_PRIV) ? ",priv" : "");
	buf[0] = '\0';
	for (size_t i = 0; i < npre && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "", pre[i]);
	stage_info(st, "file_prefixes", "%s%s%s", !pflags ? "all" : npre ? buf : "none",
		   (pflags & CBPF_PFX_WRITES) ? "; opens for writing: all" : "",
		   (pflags & CBPF_PFX_PATHOPS) ? "; path operations: all" : "");
	if (pol_paths)
		stage_info(st, "policies", "%s: %zu policies", pol_paths, needs.npolicies);
}

/* (Re)read the policies, whose files have signature sig, into needs; a broken
 * file is left out, with a warning. */
static void read_needs(uint64_t sig)
{
	char err[512];
	struct cneeds n;

	pol_sig = sig;
	if (cneeds_load(pol_paths, &n, err, sizeof(err)) < 0)
		log_warn("--policies: %s: left out", err);
	cneeds_free(&needs);
	needs = n;
}

/* The policies changed: send what they now need. */
static void policies_check(struct stage *st)
{
	static const char *pre[VIGIL_PREFIXES_MAX];
	char err[256];
	size_t npre;
	unsigned pflags;
	uint64_t ops, sig = cneeds_signature(pol_paths);

	pol_checked_ns = mono_ns();
	if (sig == pol_sig)
		return;
	read_needs(sig);
	ops = merge_needs(pre, &npre, &pflags);
	(*stage_counter(st, "policies.reloads"))++;
	if (cbpf_set_prefixes(cb, pre, npre, pflags, ops, chmod_all, err, sizeof(err)) < 0) {
		log_error("policies changed, the filter could not follow: %s", err);
		return;
	}
	describe(st, ops, pre, npre, pflags);
	log_info("policies changed: %zu policies; file prefixes: %zu (0: all)", needs.npolicies,
		 npre);
}

static int setup(struct stage *st)
{
	int64_t ops = events_mask(opt_events);
	char a[512], err[512];
	int hwm = atoi(opt_hwm);
	size_t rb = strtoul(opt_ringbuf_mb, NULL, 10) << 20;
	size_t prb = strtoul(opt_proc_ringbuf_mb, NULL, 10) << 20;
	char pb[96];
	const char *pin;
	int busy = 0;
	static uint64_t cgroups[VIGIL_CGROUPS_MAX];
	static char pbuf[VIGIL_PREFIXES_MAX * VIGIL_PREFIX_LEN];
	static const char *prefixes[VIGIL_PREFIXES_MAX];
	static char bbuf[VIGIL_BINARIES_MAX * VIGIL_BIN_LEN];
	static const char *bins[VIGIL_BINARIES_MAX];
	int ncg = cgroups_parse(opt_cgroups, cgroups, VIGIL_CGROUPS_MAX);
	int npre = paths_parse("file-prefixes", opt_prefixes, pbuf, sizeof(pbuf), prefixes,
			       VIGIL_PREFIXES_MAX);
	int except = *opt_ignore_binaries != '\0';
	int nbin = paths_parse(except ? "ignore-binaries" : "binaries",
			       except ? opt_ignore_binaries : opt_binaries, bbuf, sizeof(bbuf), bins,
			       VIGIL_BINARIES_MAX / 2); /* each may add its realpath */
	static const char *eff_pre[VIGIL_PREFIXES_MAX];
	size_t neff = 0;
	struct cbpf_scope scope = { cgroups, (size_t)(ncg > 0 ? ncg : 0), eff_pre, 0, bins,
				    (size_t)(nbin > 0 ? nbin : 0), except };

	if (ops < 0 || ncg < 0 || npre < 0 || nbin < 0)
		return EXIT_PERM;
	user_ops = (uint64_t)ops;
	user_pre = prefixes;
	user_npre = (size_t)npre;
	chmod_all = atoi(opt_chmod_all);
	if (*opt_policies) {
		pol_paths = strdup(opt_policies);
		if (!pol_paths)
			return EXIT_PERM;
		read_needs(cneeds_signature(pol_paths));
		pol_checked_ns = mono_ns();
	}
	ops = (int64_t)merge_needs(eff_pre, &neff, &scope.pflags);
	scope.nprefixes = neff;
	if (*opt_binaries && except) {
		log_error("--binaries and --ignore-binaries: one or the other");
		return EXIT_PERM;
	}
	char *end;
	unsigned long dms = strtoul(opt_delivery_ms, &end, 10);

	if (*end || !*opt_delivery_ms || dms > 1000) {
		log_error("--delivery-ms: want 0..1000, got '%s'", opt_delivery_ms);
		return EXIT_PERM;
	}
	delivery_ms = (unsigned)dms;
	if (rb == 0 || (rb & (rb - 1)) || prb == 0 || (prb & (prb - 1))) {
		log_error("--ringbuf-mb and --proc-ringbuf-mb must be powers of two");
		return EXIT_PERM;
	}
	pin = opt_pin_dir ? opt_pin_dir
			  : default_pin_dir(stage_rundir(st), stage_name(st), pb, sizeof(pb));
	if (!strcmp(pin, "none"))
		pin = NULL;
	else if (!on_bpffs(pin)) {
		log_warn("%s is not on a mounted bpffs: nothing pinned (a restart re-attaches "
			 "and loses what happens meanwhile)", pin);
		pin = NULL;
	}
	out_sock = stage_socket(st, ZMQ_PUSH, hwm);
	if (!opt_output)
		opt_output = stage_endpoint(st, NULL, "out", a, sizeof(a));
	if (stage_bind(st, out_sock, opt_output) < 0)
		return EXIT_TEMP;
	stage_info(st, "output", "%s", opt_output);
	opt_output = NULL;
	wire_out_init(&out, st, out_sock);
	if (probe(st) < 0)
		return EXIT_PERM;
	/* the final filter goes in before attach: nothing unwanted leaks at start */
	struct cbpf_opts co = { .ringbuf_bytes = rb, .proc_ringbuf_bytes = prb,
				.ops = (uint64_t)ops, .chmod_all = chmod_all,
				.scope = &scope, .pin_dir = pin,
				.owner = stage_rundir(st), .wake_every = delivery_ms == 0 };

	if (cbpf_open_opts(&cb, &co, &busy, err, sizeof(err)) < 0) {
		/* another collector on our pins may be on its way out: retry; no BTF,
		 * no ring buffer, no tracepoints: nothing to retry. */
		log_error("BPF: %s", err);
		return busy ? EXIT_TEMP : EXIT_PERM;
	}
	if (cbpf_pin_note(cb)[0])
		log_info("pins: %s", cbpf_pin_note(cb));
	stage_info(st, "pin_dir", "%s", pin ? pin : "none");
	/* which builds of the BPF objects this kernel runs (collector_bpf.h) */
	stage_info(st, "bpf_build", "%s", cbpf_build_name(cb));
	log_info("BPF: %s builds", cbpf_build_name(cb));
	*stage_counter(st, "pins.adopted_links") = (uint64_t)cbpf_adopted(cb);
	if (cbpf_note(cb)[0])
		log_warn("BPF: not everything is available: %s", cbpf_note(cb));
	scan_pending = atoi(opt_scan) != 0;
	stage_info(st, "programs", "sched_process_exec sched_process_exit sched_process_fork%s%s%s",
		   cbpf_has(cb, VIGIL_EV_FILE) ? " file" : "", cbpf_has(cb, VIGIL_EV_NET) ? " net" : "",
		   cbpf_has(cb, VIGIL_EV_PRIV) ? " priv" : "");
	describe(st, (uint64_t)ops, eff_pre, neff, scope.pflags);
	stage_info(st, "cgroups", "%s", ncg ? opt_cgroups : "all");
	stage_info(st, "binaries", "%s%s", nbin ? (except ? "all but " : "") : "all",
		   nbin ? (except ? opt_ignore_binaries : opt_binaries) : "");
	stage_info(st, "ringbuf_bytes", "%zu", rb);
	stage_info(st, "proc_ringbuf_bytes", "%zu", prb);
	stage_info(st, "delivery_ms", "%u%s", delivery_ms, delivery_ms ? "" : " (a wakeup per record)");
	cbpf_prog_ids(cb, err, sizeof(err));
	stage_info(st, "prog_ids", "%s", err);
	stage_watch(st, NULL, cbpf_fd(cb), drain, NULL);
	clock_ns = mono_ns();
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	/* a clean stop: detach every program and remove the pins (kill -9 leaves
	 * them, so the next collector adopts the links and drains the ring) */
	cbpf_close(cb);
	zmq_close(out_sock);
	wire_out_free(&out);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "collector",
		.summary = "vigil collector: BPF programs and ring buffers → raw events",
		.opts = opts,
		.setup = setup,
		.timer = timer,
		.timer_ms = 1, /* the first tick runs the start-up scan */
		.status = status,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
