/* evaluator — judges enriched events against policies (issue 6); for now it forwards
 * every event unchanged. Stateless, so N instances can share one enricher. */
#include <stdlib.h>
#include <zmq.h>

#include "stage.h"
#include "wire.h"

#define BATCH 512

static const char *opt_input, *opt_output, *opt_hwm = "10000";
static struct wire_in in;
static struct wire_out out;
static void *in_sock, *out_sock;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to connect (default ipc://RUNDIR/enricher.out)" },
	{ "output", &opt_output, NULL, "PUSH endpoint to connect (default ipc://RUNDIR/exporter.in)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the output (default 10000)" },
	{ 0 },
};

/* Forward up to BATCH messages, then let the loop serve control and signals. */
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
		wire_forward(&out, &m);
		wire_msg_done(&in, &m);
	}
}

static int setup(struct stage *st)
{
	char a[512], b[512];
	int hwm = atoi(opt_hwm);

	in_sock = stage_socket(st, ZMQ_PULL, hwm);
	out_sock = stage_socket(st, ZMQ_PUSH, hwm);
	if (!opt_input)
		opt_input = stage_endpoint(st, "enricher", "out", a, sizeof(a));
	if (stage_connect(st, in_sock, opt_input) < 0)
		return EXIT_PERM;
	if (!opt_output)
		opt_output = stage_endpoint(st, "exporter", "in", b, sizeof(b));
	if (stage_connect(st, out_sock, opt_output) < 0)
		return EXIT_PERM;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "output", "%s", opt_output);
	stage_info(st, "policies", "none (pass-through)");
	opt_input = opt_output = NULL; /* the buffers are ours only during setup */
	wire_in_init(&in, st, in_sock);
	wire_out_init(&out, st, out_sock);
	stage_watch(st, in_sock, -1, on_input, NULL);
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	zmq_close(in_sock);
	zmq_close(out_sock);
	wire_out_free(&out);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "evaluator",
		.summary = "vigil evaluator: applies policies to enriched events",
		.opts = opts,
		.setup = setup,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
