/* enforcer — will own the kernel's rule, scope and kill maps (issue 7). For now it
 * binds its input, validates and counts what it receives, and reports status, so
 * the supervision tree and the wire contract are complete. It enforces nothing yet. */
#include <stdlib.h>
#include <zmq.h>

#include "stage.h"
#include "wire.h"

#define BATCH 512

static const char *opt_input, *opt_hwm = "10000";
static struct wire_in in;
static void *in_sock;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to bind (default ipc://RUNDIR/enforcer.in)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the input (default 10000)" },
	{ 0 },
};

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
		/* No verdict types are defined in wire v1 yet. */
		wire_drop(&in, WIRE_DROP_UNKNOWN_TYPE, &m);
		wire_msg_done(&in, &m);
	}
}

static int setup(struct stage *st)
{
	char a[512];

	in_sock = stage_socket(st, ZMQ_PULL, atoi(opt_hwm));
	if (!opt_input)
		opt_input = stage_endpoint(st, NULL, "in", a, sizeof(a));
	if (stage_bind(st, in_sock, opt_input) < 0)
		return EXIT_TEMP;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "mode", "inactive (no enforcement implemented yet)");
	opt_input = NULL;
	wire_in_init(&in, st, in_sock);
	stage_watch(st, in_sock, -1, on_input, NULL);
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	zmq_close(in_sock);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "enforcer",
		.summary = "vigil enforcer: policy verdicts into the kernel's maps",
		.opts = opts,
		.setup = setup,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
