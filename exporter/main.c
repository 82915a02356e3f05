/* exporter — the pipeline's end: events to a Tetragon-compatible JSON-lines file
 * (issue 5 adds TLS gRPC and /metrics). Its tap publishes the same events, so
 * `vigil tap exporter` shows exactly what was exported. */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "exporter_file.h"
#include "stage.h"
#include "strbuf.h"
#include "tetra_json.h"
#include "wire.h"

#define BATCH 512

static const char *opt_input, *opt_file = "/var/log/vigil/events.json", *opt_hwm = "10000",
		  *opt_max_mb = "10", *opt_backups = "5";
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
	{ "hwm", &opt_hwm, NULL, "high-water mark of the input (default 10000)" },
	{ 0 },
};

/* Write one event to the file sink and, when someone listens, to the tap. */
static void export_one(const struct wire_msg *m)
{
	char type[64];

	snprintf(type, sizeof(type), "%.*s", (int)m->type_len, m->type);
	strbuf_reset(&line);
	if (tj_event_line(type, m->ev, &line) < 0) {
		(*c_unencodable)++;
		return;
	}
	xfile_write(xf, line.buf, line.len);
	(*c_exported)++;
	*c_bytes += line.len + 1;
	(*counters_get2(stage_counters(in.st), "events.", type))++;
	if (stage_tap_active(in.st))
		wire_forward(&tap, m);
}

static void on_input(struct stage *st, void *arg)
{
	struct wire_msg m;
	int i, r = 1;

	(void)arg;
	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		r = wire_recv(&in, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		export_one(&m);
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
}

static void timer(struct stage *st)
{
	(void)st;
	xfile_flush(xf);
}

static int setup(struct stage *st)
{
	char a[512], err[256];
	int hwm = atoi(opt_hwm);

	xf = xfile_open(opt_file, 0600, strtoull(opt_max_mb, NULL, 10) << 20, atoi(opt_backups),
			err, sizeof(err));
	if (!xf) {
		log_error("export file %s: %s", opt_file, err);
		return EXIT_TEMP;
	}
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
	wire_in_init(&in, st, in_sock);
	wire_out_init(&tap, st, NULL);
	stage_watch(st, in_sock, -1, on_input, NULL);
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	zmq_close(in_sock);
	xfile_close(xf);
	wire_out_free(&tap);
	strbuf_free(&line);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "exporter",
		.summary = "vigil exporter: events to JSON files (and gRPC, metrics)",
		.opts = opts,
		.setup = setup,
		.timer = timer,
		.timer_ms = 100,
		.status = status,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
