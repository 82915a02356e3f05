/* cli_probe.c — `vigil probe`: what this kernel lets vigil do, probed by loading tiny
 * programs of each kind (collector/collector_probe.c, shared with the collector, which
 * puts the same summary in its status). Works without a running tree. Exit 0 when the
 * collector's minimum (BTF, ring buffer, tracepoints) is there, 100 when it is not. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../collector/collector_probe.h"
#include "cli.h"

/* Print the table of features, what each is used for, and the verdict. */
int cli_probe(int argc, char **argv)
{
	struct cprobe_result r;
	int missing = 0;

	if (argc > 0 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
		printf("usage: vigil probe\n  load a tiny BPF program of each kind and print what "
		       "this kernel lets vigil do\n");
		return 0;
	}
	if (argc > 0) {
		fprintf(stderr, "vigil: error: probe takes no arguments\n");
		return 100;
	}
	if (geteuid() != 0)
		fprintf(stderr, "vigil: warn: not root: every probe may fail\n");
	cprobe_run(&r);
	printf("%-18s %-11s %s\n", "FEATURE", "STATUS", "USED FOR");
	for (int i = 0; i < CPROBE_COUNT; i++) {
		printf("%-18s %-11s %s%s%s%s\n", cprobe_name(i), r.ok[i] ? "available" : "unavailable",
		       cprobe_use(i), cprobe_required(i) ? " [required]" : "",
		       r.ok[i] ? "" : ": ", r.ok[i] ? "" : r.why[i]);
		missing += cprobe_required(i) && !r.ok[i];
	}
	if (missing) {
		printf("verdict: the collector cannot run here (%d required feature%s missing)\n",
		       missing, missing > 1 ? "s" : "");
		return 100;
	}
	printf("verdict: the collector can run%s\n",
	       r.ok[CPROBE_LSM] ? "; Override enforcement available" :
				  "; no BPF LSM: enforcement uses cgroup hooks and Sigkill");
	return 0;
}
