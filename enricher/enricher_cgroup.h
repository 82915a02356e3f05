/* enricher_cgroup.h — container identity from the cgroup.
 *
 * The collector reports the cgroup v2 id of a process (the inode of its v2 directory).
 * We turn it into a path (open_by_handle_at on the cgroup2 mount, else a walk of the
 * mount), cache the answer per id, and parse the path for the container id and the
 * Kubernetes pod uid, for containerd, CRI-O, Docker and podman with the systemd and the
 * cgroupfs drivers, in v1 or v2 path forms. */
#ifndef VIGIL_ENRICHER_CGROUP_H
#define VIGIL_ENRICHER_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CG_ID_LEN 64
#define CG_UID_LEN 36

struct cg_info {
	char id[CG_ID_LEN + 1];       /* container id, 64 hex chars; "" = not a container */
	char pod_uid[CG_UID_LEN + 1]; /* pod uid with dashes; "" = not in a pod */
};

/* Parse a cgroup path (any prefix: /sys/fs/cgroup/..., /kubepods/..., 0::/...).
 * Returns 1 when a container id was found, else 0 (out is then zeroed, except
 * pod_uid when a pod component was seen). */
int cgroup_parse_path(const char *path, struct cg_info *out);

struct cg_entry {
	struct cg_entry *next;
	uint64_t id;
	uint64_t retry_ns;  /* unresolved: when to try again */
	struct cg_info info;
	char *path;         /* from the cgroup2 mount: "/system.slice/x.service"; NULL = unknown */
	uint8_t resolved;
	uint8_t sent;       /* pod_meta sent to the enforcer for the current pod */
};

/* Find the cgroup2 mount (or use root) — 0, or -1 when there is none (then every
 * lookup answers "not a container"). */
int cgroup_init(const char *root);
/* The entry for a cgroup id, resolving it on a miss; NULL for id 0. */
struct cg_entry *cgroup_lookup(uint64_t id);
/* Call fn for every cached entry that is a container. */
void cgroup_foreach(void (*fn)(struct cg_entry *e, void *arg), void *arg);

struct cg_stats {
	uint64_t entries, resolved, failed, walks;
};
void cgroup_get_stats(struct cg_stats *st);

#endif
