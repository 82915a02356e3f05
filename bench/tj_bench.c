/* tj_bench: replay a corpus of exporter input through the exporter's encoders, for
 * instruction counts under callgrind (wall time on a shared machine is noise).
 *
 *   build/bench/tj_bench [-r ROUNDS] [-m json|pb] [-a] [-o OUT] CORPUS
 *
 * CORPUS is <u32 little-endian length><wire frame>... as bench/tj_corpus.py writes it
 * (the exporter's tap: exactly the envelopes it exported). Each round decodes every
 * frame and hands it to tjb_json_one (what the exporter's export_one does for the file
 * sink: type string, JSON line, file buffer, per-type counter) or tjb_pb_one (the gRPC
 * encoding a connected client costs). Only those two functions are meant to be counted:
 *
 *   valgrind --tool=callgrind --toggle-collect=tjb_json_one build/bench/tj_bench CORPUS
 *
 * and the per-event cost is the total Ir divided by the events the bench prints.
 * -a: cap, ns and process_credentials on every Process (--export-process-details all).
 * -o OUT: write one round's output (JSON lines, or <u32 len><protobuf> records) to OUT
 * instead of the file sink, to check that an encoder change keeps the bytes the same. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "exporter_file.h"
#include "exporter_pb.h"
#include "exporter_tcount.h"
#include "strbuf.h"
#include "tetra_json.h"
#include "wire.h"

static struct counters *tjb_counters;
static struct xfile *tjb_xf;
static struct strbuf tjb_line;
static uint64_t tjb_bytes;

/* The exporter's per-event file work (exporter/main.c export_one, without filters). */
__attribute__((noinline)) static void tjb_json_one(const struct wire_msg *m)
{
	char type[64];

	wire_type_cstr(m, type, sizeof(type));
	strbuf_reset(&tjb_line);
	if (tj_event_line(type, m->ev, &tjb_line) < 0)
		return;
	xfile_write(tjb_xf, tjb_line.buf, tjb_line.len);
	tjb_bytes += tjb_line.len + 1;
	(*xtc_get(tjb_counters, type))++;
}

/* The gRPC encoding of one event for a connected client (xgrpc_publish's xpb_event). */
__attribute__((noinline)) static void tjb_pb_one(const struct wire_msg *m, FILE *out)
{
	char type[64];
	size_t len;
	uint8_t *b;

	wire_type_cstr(m, type, sizeof(type));
	b = xpb_event(type, m->ev, &len);
	if (!b)
		return;
	tjb_bytes += len;
	if (out) {
		uint32_t l = (uint32_t)len;
		fwrite(&l, 4, 1, out);
		fwrite(b, 1, len, out);
	}
	free(b);
}

/* Read the whole corpus file; exits on failure. */
static char *tjb_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long sz;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "tj_bench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	b = malloc((size_t)sz + 1);
	if (!b || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "tj_bench: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*n = (size_t)sz;
	return b;
}

int main(int argc, char **argv)
{
	const char *mode = "json", *outpath = NULL;
	int rounds = 10, c;
	char tmpl[] = "/tmp/tj_bench.XXXXXX", path[64], err[256];
	size_t n, events = 0, bad = 0;

	while ((c = getopt(argc, argv, "r:m:ao:")) != -1) {
		switch (c) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'a':
			tj_set_process_details(1);
			xpb_set_process_details(1);
			break;
		case 'o':
			outpath = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || rounds < 1 || (strcmp(mode, "json") && strcmp(mode, "pb")))
		goto usage;
	int pb = !strcmp(mode, "pb");
	char *corpus = tjb_slurp(argv[optind], &n);
	FILE *out = NULL;

	if (outpath) {
		rounds = 1;
		if (!(out = fopen(outpath, "wb"))) {
			fprintf(stderr, "tj_bench: %s: %s\n", outpath, strerror(errno));
			return 1;
		}
	}
	if (!mkdtemp(tmpl)) {
		perror("tj_bench: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/events.json", tmpl);
	tjb_xf = xfile_open(path, 0600, 10u << 20, 1, err, sizeof(err));
	tjb_counters = calloc(1, sizeof(*tjb_counters));
	if (!tjb_xf || !tjb_counters) {
		fprintf(stderr, "tj_bench: %s\n", tjb_xf ? "out of memory" : err);
		return 1;
	}
	/* The exporter's own counters come first, as in a running stage. */
	static const char *const stage_names[] = {
	    "in",	"gap_total",	  "reset_total",      "late_total", "file.filtered",
	    "exported", "exported_bytes", "drop.unencodable", NULL};
	for (const char *const *s = stage_names; *s; s++)
		counters_get(tjb_counters, *s);
	strbuf_init(&tjb_line);
	for (int r = 0; r < rounds; r++) {
		for (size_t off = 0; off + 4 <= n;) {
			uint32_t len;
			struct wire_msg m;
			enum wire_drop why;

			memcpy(&len, corpus + off, 4);
			off += 4;
			if (len > n - off)
				break;
			if (wire_decode(corpus + off, len, &m, &why) < 0) {
				bad++;
			} else {
				if (pb) {
					tjb_pb_one(&m, out);
				} else if (out) {
					char type[64];
					wire_type_cstr(&m, type, sizeof(type));
					strbuf_reset(&tjb_line);
					if (tj_event_line(type, m.ev, &tjb_line) == 0) {
						fwrite(tjb_line.buf, 1, tjb_line.len, out);
						fputc('\n', out);
					}
				} else {
					tjb_json_one(&m);
				}
				msgpack_unpacked_destroy(&m.up);
				events++;
			}
			off += len;
		}
		xfile_flush(tjb_xf);
	}
	xfile_close(tjb_xf);
	unlink(path);
	rmdir(tmpl);
	if (out)
		fclose(out);
	printf(
	    "tj_bench: mode %s, %zu events (%d rounds), %zu undecodable, %.0f output bytes/event\n",
	    mode, events, rounds, bad, events ? (double)tjb_bytes / (double)events : 0.0);
	strbuf_free(&tjb_line);
	free(tjb_counters);
	free(corpus);
	return 0;
usage:
	fprintf(stderr, "usage: tj_bench [-r ROUNDS] [-m json|pb] [-a] [-o OUT] CORPUS\n");
	return 2;
}
