/* vigil — talks to a running vigil: `vigil tap STAGE` prints a stage's output stream as
 * JSON lines, `vigil status` prints every stage's state and counters. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "ctlclient.h"
#include "log.h"
#include "strbuf.h"
#include "tetra_json.h"
#include "wire.h"

static const char *rundir = "/run/vigil";
static volatile sig_atomic_t stop;

static void usage(FILE *f)
{
	fprintf(f, "usage: vigil [--rundir DIR] COMMAND\n"
		   "  tap STAGE [--envelope] [--count N]  print STAGE's output as JSON lines\n"
		   "  status [--json]                       every stage's state and counters\n"
		   "  probe                                 what this kernel lets vigil do\n"
		   "  policy check|test ...                 validate or dry-run policies\n"
		   "  getevents [...]                       the gRPC event stream (like tetra)\n"
		   "STAGE is an instance name: collector, enricher, evaluator, exporter, enforcer\n");
}

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

/* Print one tapped message: Tetragon's JSON line, or the whole envelope. */
static void tap_print(const void *buf, size_t len, int envelope, struct strbuf *sb,
		      uint64_t *bad)
{
	struct wire_msg m;
	enum wire_drop why;
	char type[64];

	strbuf_reset(sb);
	if (wire_decode(buf, len, &m, &why) < 0) {
		(*bad)++;
		fprintf(stderr, "vigil: warn: undecodable message on the tap: %s\n",
			wire_drop_name[why]);
		return;
	}
	snprintf(type, sizeof(type), "%.*s", (int)m.type_len, m.type);
	if (envelope)
		tj_value(&m.up.data, NULL, sb);
	else
		tj_event_line(type, m.ev, sb);
	strbuf_putc(sb, '\n');
	fwrite(sb->buf, 1, sb->len, stdout);
	fflush(stdout);
	msgpack_unpacked_destroy(&m.up);
}

static int cmd_tap(int argc, char **argv)
{
	char ep[512];
	void *ctx, *sub;
	int envelope = 0, i, timeout = 200;
	long count = -1, seen = 0;
	const char *stage = NULL;
	struct strbuf sb;
	uint64_t bad = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--envelope") == 0)
			envelope = 1;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!stage && argv[i][0] != '-')
			stage = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!stage) {
		usage(stderr);
		return 2;
	}
	snprintf(ep, sizeof(ep), "ipc://%s/%s.tap", rundir, stage);
	ctx = zmq_ctx_new();
	sub = zmq_socket(ctx, ZMQ_SUB);
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
	zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (zmq_connect(sub, ep) < 0) {
		fprintf(stderr, "vigil: error: %s: %s\n", ep, zmq_strerror(zmq_errno()));
		return 1;
	}
	strbuf_init(&sb);
	while (!stop && (count < 0 || seen < count)) {
		zmq_msg_t msg;

		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, sub, 0) >= 0) {
			tap_print(zmq_msg_data(&msg), zmq_msg_size(&msg), envelope, &sb, &bad);
			seen++;
		}
		zmq_msg_close(&msg);
	}
	strbuf_free(&sb);
	zmq_close(sub);
	zmq_ctx_term(ctx);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Print "name value" lines of a str→int map, sorted by name. */
static void print_map(const msgpack_object *map, const char *indent)
{
	char **lines;
	uint32_t i, n = 0;

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return;
	lines = calloc(map->via.map.size + 1, sizeof(*lines));
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
		char *l = NULL;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			n += asprintf(&l, "%s%-32.*s %llu", indent, (int)k->via.str.size,
				      k->via.str.ptr, (unsigned long long)v->via.u64) > 0;
		else if (v->type == MSGPACK_OBJECT_STR)
			n += asprintf(&l, "%s%-32.*s %.*s", indent, (int)k->via.str.size,
				      k->via.str.ptr, (int)v->via.str.size, v->via.str.ptr) > 0;
		if (l)
			lines[n - 1] = l;
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	free(lines);
}

static int cmd_status(int argc, char **argv)
{
	static char buf[1 << 20];
	const char *def[] = { "collector", "enricher", "evaluator", "exporter", "enforcer" };
	char *names[64];
	int n = 0, i, json = argc > 0 && strcmp(argv[0], "--json") == 0, down = 0;
	DIR *d = opendir(rundir);
	struct dirent *de;
	void *ctx = zmq_ctx_new();
	struct strbuf sb;

	/* Every *.ctl in the run directory is a stage (custom stages and N evaluators too). */
	while (d && (de = readdir(d)) && n < 64) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".ctl") == 0)
			names[n++] = strndup(de->d_name, l - 4);
	}
	if (d)
		closedir(d);
	for (i = 0; i < 5; i++) {
		int j, found = 0;

		for (j = 0; j < n; j++)
			found |= strcmp(names[j], def[i]) == 0;
		if (!found && n < 64)
			names[n++] = strdup(def[i]);
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	strbuf_init(&sb);
	if (json)
		strbuf_putc(&sb, '{');
	for (i = 0; i < n; i++) {
		msgpack_unpacked up;

		if (ctl_status(ctx, rundir, names[i], 1000, buf, sizeof(buf), &up) < 0) {
			down++;
			if (json)
				strbuf_appendf(&sb, "%s\"%s\":{\"state\":\"down\"}", i ? "," : "",
					       names[i]);
			else
				printf("%s: down (no answer on %s/%s.ctl)\n", names[i], rundir,
				       names[i]);
			continue;
		}
		if (json) {
			strbuf_appendf(&sb, "%s\"%s\":", i ? "," : "", names[i]);
			tj_value(&up.data, NULL, &sb);
		} else {
			const char *st = "?";
			size_t sl = 1;
			uint64_t pid = 0, up_ns = 0;

			wire_get_str(&up.data, "state", &st, &sl);
			wire_get_u64(&up.data, "pid", &pid);
			wire_get_u64(&up.data, "uptime_ns", &up_ns);
			printf("%s: %.*s (pid %llu, up %llus)\n", names[i], (int)sl, st,
			       (unsigned long long)pid, (unsigned long long)(up_ns / 1000000000ull));
			print_map(wire_get(&up.data, "info"), "    ");
			print_map(wire_get(&up.data, "counters"), "    ");
		}
		msgpack_unpacked_destroy(&up);
	}
	if (json) {
		strbuf_append(&sb, "}\n", 2);
		fwrite(sb.buf, 1, sb.len, stdout);
	}
	strbuf_free(&sb);
	zmq_ctx_term(ctx);
	return down ? 3 : 0;
}

/* Subcommands that live in their own files (cli/cli_<area>.c) override these. */
__attribute__((weak)) int cli_probe(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "vigil: error: 'probe' is not built into this vigil\n");
	return 2;
}

__attribute__((weak)) int cli_policy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "vigil: error: 'policy' is not built into this vigil\n");
	return 2;
}

__attribute__((weak)) int cli_getevents(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "vigil: error: 'getevents' is not built into this vigil\n");
	return 2;
}

/* The run directory chosen by --rundir or $VIGIL_RUNDIR, for subcommands. */
const char *cli_rundir(void)
{
	return rundir;
}

int main(int argc, char **argv)
{
	int i = 1;

	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGPIPE, SIG_DFL);
	if (getenv("VIGIL_RUNDIR"))
		rundir = getenv("VIGIL_RUNDIR");
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--rundir") == 0 && i + 1 < argc) {
			rundir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "tap") == 0)
		return cmd_tap(argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "status") == 0)
		return cmd_status(argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "probe") == 0)
		return cli_probe(argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "policy") == 0)
		return cli_policy(argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "getevents") == 0)
		return cli_getevents(argc - i - 1, argv + i + 1);
	fprintf(stderr, "vigil: error: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
