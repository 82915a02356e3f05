/* exporter — the pipeline's end: events to a Tetragon-compatible JSON-lines file
 * (issue 5 adds TLS gRPC and /metrics). Its tap publishes the same events, so
 * `vigil tap exporter` shows exactly what was exported. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "exporter_delay.h"
#include "exporter_fields.h"
#include "exporter_file.h"
#include "exporter_filter.h"
#include "exporter_json.h"
#include "exporter_grpc.h"
#include "exporter_metrics.h"
#include "exporter_pb.h"
#include "exporter_tcount.h"
#include "stage.h"
#include "strbuf.h"
#include "tetra_json.h"
#include "wire.h"

#define BATCH 512

#define TLS_DIR "/var/lib/vigil/tls/"
static const char def_grpc_addr[] = "localhost:54321", def_cert[] = TLS_DIR "server.crt",
		  def_key[] = TLS_DIR "server.key";
static const char *opt_input, *opt_file = "/var/log/vigil/events.json", *opt_hwm = "10000",
		  *opt_max_mb = "10", *opt_backups = "5", *opt_grpc_addr = def_grpc_addr,
		  *opt_cert = def_cert, *opt_key = def_key, *opt_client_ca, *opt_grpc_queue = "10000";
static const char def_metrics_addr[] = "localhost:2112";
static const char *opt_metrics_addr = def_metrics_addr;
static const char *opt_allow, *opt_deny, *opt_fields, *opt_max_kb, *opt_details = "exec";
static int opt_plaintext, opt_compress, grpc_on, metrics_on;
static struct xfilter *file_filter;   /* NULL: every event */
static struct xfields *file_fields;   /* NULL: whole events */
static msgpack_zone fzone;
static uint64_t *c_filtered;
static struct wire_in in;
static struct wire_out tap;
static void *in_sock;
static struct xfile *xf;
static struct strbuf line;
static uint64_t *c_exported, *c_bytes, *c_unencodable;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to bind (default ipc://RUNDIR/exporter.in)" },
	{ "export-file", &opt_file, NULL, "JSON lines file (default /var/log/vigil/events.json)" },
	{ "export-file-max-size-mb", &opt_max_mb, NULL, "rotate past this size, 0 = never (default 10)" },
	{ "export-file-max-backups", &opt_backups, NULL, "rotated files kept (default 5)" },
	{ "export-file-max-size-kb", &opt_max_kb, NULL, "rotate past this many KiB (overrides -mb)" },
	{ "export-file-compress", NULL, &opt_compress, "gzip rotated files (.N.gz)" },
	{ "export-process-details", &opt_details, NULL,
	  "exec: cap, ns and process_credentials on process_exec's process only; all: on "
	  "every Process of every event (JSON lines and gRPC; default exec)" },
	{ "export-allowlist", &opt_allow, NULL, "file sink: newline-separated JSON Filters (OR)" },
	{ "export-denylist", &opt_deny, NULL, "file sink: newline-separated JSON Filters to drop" },
	{ "field-filters", &opt_fields, NULL, "file sink: newline-separated JSON FieldFilters" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the input (default 10000)" },
	{ "grpc-address", &opt_grpc_addr, NULL,
	  "gRPC listen address, host:port or unix:PATH; \"\" disables (default localhost:54321)" },
	{ "tls-cert", &opt_cert, NULL, "gRPC server certificate, PEM (default " TLS_DIR "server.crt)" },
	{ "tls-key", &opt_key, NULL, "gRPC server key, PEM (default " TLS_DIR "server.key)" },
	{ "tls-client-ca", &opt_client_ca, NULL, "mutual TLS: require client certs signed by this CA" },
	{ "grpc-plaintext", NULL, &opt_plaintext, "no TLS (only with a unix: address)" },
	{ "grpc-queue", &opt_grpc_queue, NULL, "per-client queue length, events (default 10000)" },
	{ "metrics-address", &opt_metrics_addr, NULL,
	  "Prometheus /metrics listen address host:port; \"\" disables (default localhost:2112)" },
	{ 0 },
};

/* Wall-clock ns now. */
static int64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write one event to the file sink and, when someone listens, to the tap; its delay
 * since the kernel's timestamp (to now_ns, wall clock) goes in the histogram
 * (exporter_delay.h) first. */
static void export_one(const struct wire_msg *m, int64_t now_ns)
{
	char type[64];

	const msgpack_object *ev = m->ev;

	xdelay_observe(ev, now_ns);
	wire_type_cstr(m, type, sizeof(type));
	if (stage_tap_active(in.st))
		wire_forward(&tap, m);
	if (grpc_on)
		xgrpc_publish(type, m->ev);
	if (file_filter || file_fields) {
		int t = xpb_event_type(type);
		if (file_filter && !xfilter_match(file_filter, t, ev)) {
			(*c_filtered)++;
			return;
		}
		msgpack_zone_clear(&fzone);
		ev = xfields_apply(file_fields, t, ev, &fzone);
	}
	strbuf_reset(&line);
	if (tj_event_line(type, ev, &line) < 0) {
		(*c_unencodable)++;
		return;
	}
	xfile_write(xf, line.buf, line.len);
	(*c_exported)++;
	*c_bytes += line.len + 1;
	(*xtc_get(stage_counters(in.st), type))++;
}

/* Read a flag's newline-separated JSON objects of type d. -1 after logging. */
static int parse_json_flag(const char *flag, const char *text, const ProtobufCMessageDescriptor *d,
			   ProtobufCMessage ***msgs)
{
	char err[256];
	int n = xjson_messages(text, d, msgs, err, sizeof(err));

	if (n < 0)
		log_error("--%s: %s", flag, err);
	return n;
}

/* Compile --export-allowlist/--export-denylist/--field-filters. 0 or EXIT_PERM. */
static int setup_file_filters(struct stage *st)
{
	Tetragon__GetEventsRequest req = TETRAGON__GET_EVENTS_REQUEST__INIT;
	ProtobufCMessage **allow = NULL, **deny = NULL, **ff = NULL;
	int na = 0, nd = 0, nf = 0, rc = EXIT_PERM;
	char err[256];

	if ((opt_allow && (na = parse_json_flag("export-allowlist", opt_allow,
						&tetragon__filter__descriptor, &allow)) < 0) ||
	    (opt_deny && (nd = parse_json_flag("export-denylist", opt_deny,
					       &tetragon__filter__descriptor, &deny)) < 0) ||
	    (opt_fields && (nf = parse_json_flag("field-filters", opt_fields,
						 &tetragon__field_filter__descriptor, &ff)) < 0))
		goto out;
	if (na || nd) {
		req.n_allow_list = (size_t)na;
		req.allow_list = (Tetragon__Filter **)allow;
		req.n_deny_list = (size_t)nd;
		req.deny_list = (Tetragon__Filter **)deny;
		file_filter = xfilter_compile(&req, err, sizeof(err));
		if (!file_filter) {
			log_error("--export-allowlist/--export-denylist: %s", err);
			goto out;
		}
		stage_info(st, "export_filters", "%d allow, %d deny", na, nd);
	}
	file_fields = xfields_compile((Tetragon__FieldFilter *const *)ff, (size_t)nf, err,
				      sizeof(err));
	if (!file_fields && err[0]) {
		log_error("--field-filters: %s", err);
		goto out;
	}
	if (nf)
		stage_info(st, "field_filters", "%d", nf);
	rc = 0;
out:
	for (int i = 0; i < na; i++)
		protobuf_c_message_free_unpacked(allow[i], NULL);
	for (int i = 0; i < nd; i++)
		protobuf_c_message_free_unpacked(deny[i], NULL);
	for (int i = 0; i < nf; i++)
		protobuf_c_message_free_unpacked(ff[i], NULL);
	free(allow);
	free(deny);
	free(ff);
	return rc;
}

static void on_input(struct stage *st, void *arg)
{
	struct wire_msg m;
	int i, r = 1;
	int64_t now = 0;

	(void)arg;
	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		r = wire_recv(&in, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		if (!now || i % 64 == 0) /* the delay histogram's clock, not per event */
			now = now_real_ns();
		export_one(&m, now);
		wire_msg_done(&in, &m);
	}
	if (r == 0) /* input drained: make it visible now rather than at the next tick */
		xfile_flush(xf);
}

static void status(struct stage *st)
{
	counters_set(stage_counters(st), "file.lines", xfile_lines(xf));
	counters_set(stage_counters(st), "file.bytes", xfile_bytes(xf));
	counters_set(stage_counters(st), "file.rotations", xfile_rotations(xf));
	counters_set(stage_counters(st), "file.errors", xfile_errors(xf));
	counters_set(stage_counters(st), "file.dropped", xfile_dropped(xf));
	if (grpc_on) {
		struct xgrpc_stats g;
		xgrpc_get_stats(&g);
		counters_set(stage_counters(st), "grpc.clients", g.clients);
		counters_set(stage_counters(st), "grpc.clients_total", g.clients_total);
		counters_set(stage_counters(st), "grpc.sent", g.sent);
		counters_set(stage_counters(st), "grpc.client_drops", g.client_drops);
		counters_set(stage_counters(st), "grpc.rate_limit_info", g.rate_limit_info);
		counters_set(stage_counters(st), "grpc.rejected", g.rejected);
		counters_set(stage_counters(st), "grpc.unary", g.unary);
		counters_set(stage_counters(st), "grpc.unimplemented", g.unimplemented);
		counters_set(stage_counters(st), "grpc.queued", g.queued);
		counters_set(stage_counters(st), "grpc.pb_unknown_field", xpb_counts()->unknown_field);
		counters_set(stage_counters(st), "grpc.pb_bad_value", xpb_counts()->bad_value);
	}
	if (metrics_on) {
		struct xmetrics_stats m;
		xmetrics_get_stats(&m);
		counters_set(stage_counters(st), "metrics.scrapes", m.scrapes);
		counters_set(stage_counters(st), "metrics.bad_requests", m.bad_requests);
		counters_set(stage_counters(st), "metrics.malformed", m.malformed);
	}
}

/* Start the /metrics server. Like gRPC: a busy default port only disables
 * it with a warning; an explicit --metrics-address must work (else exit 100). */
static int setup_metrics(struct stage *st)
{
	char err[256];

	if (!*opt_metrics_addr) {
		stage_info(st, "metrics", "disabled");
		return 0;
	}
	if (xmetrics_start(opt_metrics_addr, stage_rundir(st), err, sizeof(err)) < 0) {
		if (opt_metrics_addr != def_metrics_addr) {
			log_error("metrics: %s", err);
			return EXIT_PERM;
		}
		log_warn("metrics: disabled: %s", err);
		stage_info(st, "metrics", "disabled: %s", err);
		return 0;
	}
	metrics_on = 1;
	stage_info(st, "metrics", "http://%s/metrics", opt_metrics_addr);
	log_info("metrics: listening on http://%s/metrics", opt_metrics_addr);
	return 0;
}

/* Start the gRPC server. Without any gRPC option given, missing default TLS
 * files or a busy default port only disable gRPC (with a warning), so a plain
 * tree still runs; an operator's explicit gRPC configuration must work or the
 * stage refuses to start (exit 100). */
static int setup_grpc(struct stage *st)
{
	int explicit_ = opt_grpc_addr != def_grpc_addr || opt_cert != def_cert ||
			opt_key != def_key || opt_client_ca || opt_plaintext;
	struct xgrpc_opts go = {
		.address = opt_grpc_addr,
		.cert = opt_cert,
		.key = opt_key,
		.client_ca = opt_client_ca,
		.plaintext = opt_plaintext,
		.queue_len = strtoul(opt_grpc_queue, NULL, 10),
		.version = "vigil-0.1",
		.rundir = stage_rundir(st),
	};
	char err[512];

	if (!*opt_grpc_addr) {
		stage_info(st, "grpc", "disabled");
		return 0;
	}
	if (go.queue_len < 1 || go.queue_len > 10000000) {
		log_error("--grpc-queue %s: want 1..10000000", opt_grpc_queue);
		return EXIT_PERM;
	}
	if (xgrpc_start(&go, err, sizeof(err)) < 0) {
		if (explicit_) {
			log_error("grpc: %s", err);
			return EXIT_PERM;
		}
		log_warn("grpc: disabled: %s (run supervise/mktls, or give --tls-cert/--tls-key)", err);
		stage_info(st, "grpc", "disabled: %s", err);
		return 0;
	}
	grpc_on = 1;
	stage_info(st, "grpc", "%s%s%s", opt_grpc_addr,
		   opt_plaintext ? " plaintext" : " tls", opt_client_ca ? " mtls" : "");
	log_info("grpc: listening on %s (%s)", opt_grpc_addr,
		 opt_plaintext ? "plaintext" : opt_client_ca ? "mutual TLS" : "TLS");
	return 0;
}

/* A safety net only: on_input flushes whenever its input drains. */
static void timer(struct stage *st)
{
	(void)st;
	xfile_flush(xf);
}

static int setup(struct stage *st)
{
	char a[512], err[256];
	int hwm = atoi(opt_hwm), rc;

	uint64_t max = opt_max_kb ? strtoull(opt_max_kb, NULL, 10) << 10
				  : strtoull(opt_max_mb, NULL, 10) << 20;

	msgpack_zone_init(&fzone, 4096);
	c_filtered = stage_counter(st, "file.filtered");
	if ((rc = setup_file_filters(st)))
		return rc;
	xf = xfile_open(opt_file, 0600, max, atoi(opt_backups), err, sizeof(err));
	if (!xf) {
		log_error("export file %s: %s", opt_file, err);
		return EXIT_TEMP;
	}
	xfile_set_compress(xf, opt_compress);
	if (strcmp(opt_details, "exec") && strcmp(opt_details, "all")) {
		log_error("--export-process-details: want exec or all, got '%s'", opt_details);
		return EXIT_PERM;
	}
	tj_set_process_details(!strcmp(opt_details, "all"));
	xpb_set_process_details(!strcmp(opt_details, "all"));
	stage_info(st, "export_process_details", "%s", opt_details);
	strbuf_init(&line);
	in_sock = stage_socket(st, ZMQ_PULL, hwm);
	if (!opt_input)
		opt_input = stage_endpoint(st, NULL, "in", a, sizeof(a));
	if (stage_bind(st, in_sock, opt_input) < 0)
		return EXIT_TEMP;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "export_file", "%s", opt_file);
	opt_input = NULL;
	c_exported = stage_counter(st, "exported");
	c_bytes = stage_counter(st, "exported_bytes");
	c_unencodable = stage_counter(st, "drop.unencodable");
	xdelay_init(st);
	wire_in_init(&in, st, in_sock);
	wire_out_init(&tap, st, NULL);
	stage_watch(st, in_sock, -1, on_input, NULL);
	rc = setup_metrics(st);
	return rc ? rc : setup_grpc(st);
}

static void shutdown_(struct stage *st)
{
	(void)st;
	xmetrics_stop();
	xgrpc_stop();
	zmq_close(in_sock);
	xfile_close(xf);
	wire_out_free(&tap);
	strbuf_free(&line);
	xfilter_free(file_filter);
	xfields_free(file_fields);
	msgpack_zone_destroy(&fzone);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "exporter",
		.summary = "vigil exporter: events to JSON files (and gRPC, metrics)",
		.opts = opts,
		.setup = setup,
		.timer = timer,
		.timer_ms = 1000,
		.status = status,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
