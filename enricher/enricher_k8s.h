/* enricher_k8s.h — pods of this node from the Kubernetes API server.
 *
 * A thread of its own lists then watches pods (fieldSelector=spec.nodeName=NODE) over
 * libcurl with TLS verified, re-lists on 410 Gone or an ERROR event, reconnects with a
 * capped exponential backoff and re-reads the token file on every request. Every pod
 * it parses is handed, as a pointer, to the main thread over an inproc ZeroMQ pair;
 * the main thread owns the pod store, so lookups on the event path take no lock. */
#ifndef VIGIL_ENRICHER_K8S_H
#define VIGIL_ENRICHER_K8S_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

struct k8s_container {
	char *name, *id, *image, *image_id;  /* id as the API gives it: "containerd://<hex>" */
	uint64_t start_time;                 /* wall ns, 0 = unknown */
	int privileged;
	/* exec probe commands (liveness, readiness, startup): each a NULL-terminated argv */
	char ***probes;
	size_t nprobes;
};

struct k8s_pod {
	struct k8s_pod *next;
	char *ns, *name, *uid, *sa, *workload, *kind;
	char **labels, **annotations; /* key, value, key, value, ... */
	size_t nlabels, nannotations;
	struct k8s_container *c;
	size_t nc;
	uint64_t gen;                 /* list generation it was last seen in */
	uint64_t deleted_ns;          /* CLOCK_MONOTONIC of its deletion; 0 = live */
	struct k8s_pod *tnext;        /* deleted pods, oldest first */
	int interned;                 /* the store's compact copy: one block, interned strings */
};

struct k8s_config {
	const char *url, *token_file, *ca_file, *node;
	unsigned backoff_max_ms;
	/* How long a deleted pod stays findable (its containers' processes may run on through
	 * their grace period); 0 = $VIGIL_K8S_DELETED_LINGER_MS, else K8S_DELETED_LINGER_MS. */
	unsigned deleted_linger_ms;
};

#define K8S_DELETED_LINGER_MS 300000u
#define K8S_DELETED_MAX 4096u

/* Start the watcher thread; returns the ZeroMQ socket to poll for updates, or NULL
 * (error logged). */
void *k8s_start(void *zctx, const struct k8s_config *cfg);
/* Take every pending update from the thread into the store; for each changed pod call
 * fn(pod, deleted) (the pod stays valid during the call). A deleted pod is kept as a
 * tombstone for the linger time, its cgroups marked as announced so that no pod_meta
 * `set` goes out for it again. The store keeps a compact copy with interned strings
 * (enricher_intern.h). Returns how many updates were taken. */
size_t k8s_drain(void (*fn)(const struct k8s_pod *pod, int deleted));
void k8s_stop(void);
/* The pod of uid: a live one, or a deleted one within its linger time (then
 * pod->deleted_ns != 0); NULL when unknown. */
const struct k8s_pod *k8s_pod_get(const char *uid);
/* The container of pod whose runtime id ends in id64 (64 hex chars), or NULL. */
const struct k8s_container *k8s_container(const struct k8s_pod *pod, const char *id64);
/* Pack Tetragon's Pod message (docs/wire.md §9). */
void k8s_pack_pod(msgpack_packer *pk, const struct k8s_pod *pod, const struct k8s_container *c,
		  int annotations);
/* The same with the acting process's facts in the container: nspid (its pid in the
 * container's pid namespace, 0 = unknown: left out) and maybe_probe (packed only when
 * true, as protojson leaves false out). */
void k8s_pack_pod_ex(msgpack_packer *pk, const struct k8s_pod *pod,
		     const struct k8s_container *c, int annotations, uint32_t nspid,
		     int maybe_probe);
/* Tetragon's maybe_exec_probe: does a process (binary, arguments as the enricher packs
 * them: space-joined argv[1..]) match one of c's exec probe commands? The binary matches
 * command[0] or its basename matches command[0]'s basename; the arguments must equal the
 * rest of the command joined by spaces. */
int k8s_maybe_exec_probe(const struct k8s_container *c, const char *binary, const char *args);
/* Counters of the thread and the store, name/value pairs; returns how many. */
size_t k8s_counters(const char **names, uint64_t *vals, size_t max);

/* Parse one pod object (JSON text) into a new pod; NULL when it is not a usable pod.
 * Exposed for the unit tests. */
struct k8s_pod *k8s_pod_from_json(const char *json, size_t len);
void k8s_pod_free(struct k8s_pod *pod);

#endif
