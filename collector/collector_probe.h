/*
 * collector_probe.h - what this kernel lets vigil do, found by loading (and
 * where cheap, attaching) a tiny program of each kind. Shared by the
 * collector (status info, fatal minimum) and `vigil probe`.
 */
#ifndef COLLECTOR_PROBE_H
#define COLLECTOR_PROBE_H

#include <stddef.h>
#include <sys/mount.h>
#include <unistd.h>

enum cprobe_id {
	CPROBE_BTF, CPROBE_RINGBUF, CPROBE_TRACEPOINT, CPROBE_RAW_TP, CPROBE_TP_BTF,
	CPROBE_ITER_TASK, CPROBE_FENTRY, CPROBE_LSM, CPROBE_KPROBE, CPROBE_CGROUP_SOCK_ADDR,
	CPROBE_SEND_SIGNAL, CPROBE_BPF_LOOP, CPROBE_COUNT
};

struct cprobe_result {
	int ok[CPROBE_COUNT];		/* 1 available, 0 not */
	char why[CPROBE_COUNT][64];	/* the error when not */
};

/* Probe everything (needs root). */
void cprobe_run(struct cprobe_result *r);

/* Name ("lsm", "tp_btf", ...), what vigil uses it for, and whether it is part
 * of the minimum without which the collector cannot run. */
const char *cprobe_name(enum cprobe_id id);
const char *cprobe_use(enum cprobe_id id);
int cprobe_required(enum cprobe_id id);

/* "name=yes name=no ..." into buf, for status info. */
void cprobe_summary(const struct cprobe_result *r, char *buf, size_t len);

/* Make tracefs available for syscall tracepoints (it is not mounted at boot
 * here, PLATFORM.md): its events directory, or NULL. Inline: the collector's
 * self-test is built without collector_probe.c. */
static inline const char *cprobe_tracefs(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing/events",
					     "/sys/kernel/debug/tracing/events" };

	for (int i = 0; i < 2; i++)
		if (access(dirs[i], F_OK) == 0)
			return dirs[i];
	if (mount("none", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    access(dirs[0], F_OK) == 0)
		return dirs[0];
	return NULL;
}

#endif /* COLLECTOR_PROBE_H */
