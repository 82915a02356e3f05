/* enricher_k8s.c — see enricher_k8s.h. */
#include "enricher_k8s.h"

#include "vcurl.h"
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "enricher_cgroup.h"
#include "enricher_intern.h"
#include "enricher_json.h"
#include "log.h"

#define K8S_BUCKETS 1024
#define K8S_MAX_BODY (64u << 20)  /* a list response larger than this is refused */
#define K8S_MAX_LINE (8u << 20)   /* one watch event */
#define K8S_EP "inproc://enricher-k8s"

enum { KM_SET, KM_DEL, KM_SYNC, KM_TICK };
struct kmsg {
	int op;
	uint64_t gen;
	struct k8s_pod *pod;
};

/* Counters the thread bumps and status() reads. */
enum { KC_LISTS, KC_WATCHES, KC_EVENTS, KC_BOOKMARKS, KC_BAD_JSON, KC_ERRORS, KC_RELIST,
       KC_RECONNECTS, KC_PODS, KC_DELETED, KC_EXPIRED, KC_BACKOFF, KC_SYNCED, KC_TOKEN,
       KC_UNAUTH, KC_N };
static const char *const kc_names[KC_N] = {
	"k8s.lists", "k8s.watches", "k8s.events", "k8s.bookmarks", "k8s.bad_json",
	"k8s.errors", "k8s.relist", "k8s.reconnects", "k8s.pods", "k8s.pods_deleted",
	"k8s.pods_expired", "k8s.backoff_ms", "k8s.synced", "k8s.token_reloads",
	"k8s.unauthorized",
};
static _Atomic uint64_t kc[KC_N];

static struct k8s_config cfg;
static char *cfg_url, *cfg_token, *cfg_ca, *cfg_node;
static pthread_t thr;
static atomic_int stopping;
static void *zctx_, *main_sock, *thr_sock;
static struct k8s_pod *store[K8S_BUCKETS];
/* Deleted pods (also in store, deleted_ns set), oldest first, for expiry. */
static struct k8s_pod *tomb_head, *tomb_tail;
static uint64_t linger_ns;
static atomic_int tomb_any; /* are there tombstones (read by the thread)? */
static struct log_rl krl = LOG_RL_INIT(1, 5);

/* ---- pods ------------------------------------------------------------------ */

/* A malloc'd copy of s (NULL stays NULL). */
static char *xstrdup(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		log_panic("out of memory");
	return d;
}

/* Free the store's compact copy of a pod: its interned strings, then its one block. */
static void pod_free_interned(struct k8s_pod *pod)
{
	size_t i, k, a;

	istr_put(pod->ns);
	istr_put(pod->name);
	istr_put(pod->uid);
	istr_put(pod->sa);
	istr_put(pod->workload);
	istr_put(pod->kind);
	for (i = 0; i < pod->nlabels * 2; i++)
		istr_put(pod->labels[i]);
	for (i = 0; i < pod->nannotations * 2; i++)
		istr_put(pod->annotations[i]);
	for (i = 0; i < pod->nc; i++) {
		for (k = 0; k < pod->c[i].nprobes; k++)
			for (a = 0; pod->c[i].probes[k][a]; a++)
				istr_put(pod->c[i].probes[k][a]);
		istr_put(pod->c[i].name);
		istr_put(pod->c[i].id);
		istr_put(pod->c[i].image);
		istr_put(pod->c[i].image_id);
	}
	free(pod);
}

/* The compact copy the store keeps of a pod parsed by the thread: the pod, its arrays
 * and containers in one block allocated by the main thread, every string interned
 * (namespaces, label keys and values, images, container names repeat across pods). The
 * thread's copy, scattered through its malloc arena among freed parse trees, can then
 * go, and the arena's pages back to the kernel. */
static struct k8s_pod *pod_intern(const struct k8s_pod *src)
{
	size_t sz = sizeof(*src), i, k, a, nptr = 0;
	struct k8s_pod *pod;
	char **ptrs;

	nptr = src->nlabels * 2 + src->nannotations * 2;
	sz += src->nc * sizeof(struct k8s_container);
	for (i = 0; i < src->nc; i++)
		for (k = 0; k < src->c[i].nprobes; k++) {
			for (a = 0; src->c[i].probes[k][a]; a++)
				;
			nptr += a + 1 + 1; /* argv + NULL, and its slot in probes[] */
		}
	pod = calloc(1, sz + nptr * sizeof(char *));
	if (!pod)
		log_panic("out of memory");
	*pod = *src;
	pod->next = pod->tnext = NULL;
	pod->interned = 1;
	pod->c = (struct k8s_container *)(pod + 1);
	ptrs = (char **)((char *)pod + sz);
	pod->ns = (char *)istr_cstr(src->ns);
	pod->name = (char *)istr_cstr(src->name);
	pod->uid = (char *)istr_cstr(src->uid);
	pod->sa = (char *)istr_cstr(src->sa);
	pod->workload = (char *)istr_cstr(src->workload);
	pod->kind = (char *)istr_cstr(src->kind);
	pod->labels = src->nlabels ? ptrs : NULL;
	for (i = 0; i < src->nlabels * 2; i++)
		*ptrs++ = (char *)istr_cstr(src->labels[i]);
	pod->annotations = src->nannotations ? ptrs : NULL;
	for (i = 0; i < src->nannotations * 2; i++)
		*ptrs++ = (char *)istr_cstr(src->annotations[i]);
	if (!src->nc)
		pod->c = NULL;
	for (i = 0; i < src->nc; i++) {
		const struct k8s_container *sc = &src->c[i];
		struct k8s_container *c = &pod->c[i];

		*c = *sc;
		c->name = (char *)istr_cstr(sc->name);
		c->id = (char *)istr_cstr(sc->id);
		c->image = (char *)istr_cstr(sc->image);
		c->image_id = (char *)istr_cstr(sc->image_id);
		if (!sc->nprobes) {
			c->probes = NULL;
			continue;
		}
		c->probes = (char ***)ptrs;
		ptrs += sc->nprobes;
		for (k = 0; k < sc->nprobes; k++) {
			c->probes[k] = ptrs;
			for (a = 0; sc->probes[k][a]; a++)
				*ptrs++ = (char *)istr_cstr(sc->probes[k][a]);
			*ptrs++ = NULL;
		}
	}
	return pod;
}

void k8s_pod_free(struct k8s_pod *pod)
{
	size_t i;

	if (!pod)
		return;
	if (pod->interned) {
		pod_free_interned(pod);
		return;
	}
	free(pod->ns);
	free(pod->name);
	free(pod->uid);
	free(pod->sa);
	free(pod->workload);
	free(pod->kind);
	for (i = 0; i < pod->nlabels * 2; i++)
		free(pod->labels[i]);
	free(pod->labels);
	for (i = 0; i < pod->nannotations * 2; i++)
		free(pod->annotations[i]);
	free(pod->annotations);
	for (i = 0; i < pod->nc; i++) {
		size_t k, a;

		for (k = 0; k < pod->c[i].nprobes; k++) {
			for (a = 0; pod->c[i].probes[k][a]; a++)
				free(pod->c[i].probes[k][a]);
			free(pod->c[i].probes[k]);
		}
		free(pod->c[i].probes);
		free(pod->c[i].name);
		free(pod->c[i].id);
		free(pod->c[i].image);
		free(pod->c[i].image_id);
	}
	free(pod->c);
	free(pod);
}

/* Copy the string members of a JSON object into key/value pairs. */
static char **take_map(const struct json *o, size_t *n)
{
	char **kv;
	size_t i;

	*n = 0;
	if (!o || o->t != JSON_OBJ || !o->n)
		return NULL;
	kv = calloc(o->n * 2, sizeof(char *));
	if (!kv)
		log_panic("out of memory");
	for (i = 0; i < o->n; i++)
		if (o->u.o[i].v.t == JSON_STR) {
			kv[*n * 2] = xstrdup(o->u.o[i].k);
			kv[*n * 2 + 1] = xstrdup(o->u.o[i].v.u.s);
			(*n)++;
		}
	return kv;
}

/* RFC 3339 "2024-01-02T03:04:05Z" (fraction and offset accepted) → ns since the epoch. */
static uint64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	char *e;

	if (!s || !(e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return 0;
	return (uint64_t)timegm(&tm) * 1000000000ull;
}

/* Workload name and kind from the controller owner reference: ReplicaSet → Deployment
 * (the pod-template-hash suffix removed), others as they are, none → the pod. */
static void take_workload(struct k8s_pod *pod, const struct json *meta)
{
	const struct json *refs = json_get(meta, "ownerReferences"), *ctl = NULL;
	const char *kind, *name, *hash = NULL;
	size_t i;

	if (refs && refs->t == JSON_ARR)
		for (i = 0; i < refs->n && !ctl; i++) {
			const struct json *c = json_get(&refs->u.a[i], "controller");

			if (c && c->t == JSON_BOOL && c->u.b)
				ctl = &refs->u.a[i];
		}
	if (!ctl && refs && refs->t == JSON_ARR && refs->n)
		ctl = &refs->u.a[0];
	kind = ctl ? json_str(ctl, "kind") : NULL;
	name = ctl ? json_str(ctl, "name") : NULL;
	if (!kind || !name) {
		pod->workload = xstrdup(pod->name);
		pod->kind = xstrdup("Pod");
		return;
	}
	for (i = 0; i < pod->nlabels; i++)
		if (strcmp(pod->labels[i * 2], "pod-template-hash") == 0)
			hash = pod->labels[i * 2 + 1];
	if (strcmp(kind, "ReplicaSet") == 0) {
		size_t n = strlen(name), h = hash ? strlen(hash) : 0;
		const char *dash = strrchr(name, '-');

		pod->kind = xstrdup("Deployment");
		if (hash && n > h + 1 && name[n - h - 1] == '-' && strcmp(name + n - h, hash) == 0)
			pod->workload = strndup(name, n - h - 1);
		else if (dash && dash != name)
			pod->workload = strndup(name, (size_t)(dash - name));
		else
			pod->workload = xstrdup(name);
		if (!pod->workload)
			log_panic("out of memory");
		return;
	}
	pod->kind = xstrdup(kind);
	pod->workload = xstrdup(name);
}

/* The exec probe commands of a spec container (liveness, readiness, startup). */
static void take_probes(struct k8s_container *c, const struct json *sc)
{
	static const char *const kinds[] = { "livenessProbe", "readinessProbe", "startupProbe" };
	size_t k, a, n;

	for (k = 0; k < 3; k++) {
		const struct json *cmd = json_get(json_get(json_get(sc, kinds[k]), "exec"), "command");
		char **argv;

		if (!cmd || cmd->t != JSON_ARR || !cmd->n || cmd->n > 64)
			continue;
		argv = calloc(cmd->n + 1, sizeof(char *));
		if (!argv)
			log_panic("out of memory");
		for (a = n = 0; a < cmd->n; a++)
			if (cmd->u.a[a].t == JSON_STR)
				argv[n++] = xstrdup(cmd->u.a[a].u.s);
		if (!n) {
			free(argv);
			continue;
		}
		c->probes = realloc(c->probes, (c->nprobes + 1) * sizeof(char **));
		if (!c->probes)
			log_panic("out of memory");
		c->probes[c->nprobes++] = argv;
	}
}

/* The part of a path after its last slash. */
static const char *base_name(const char *s)
{
	const char *sl = strrchr(s, '/');

	return sl ? sl + 1 : s;
}

int k8s_maybe_exec_probe(const struct k8s_container *c, const char *binary, const char *args)
{
	size_t k, a, off;

	if (!c || !binary)
		return 0;
	for (k = 0; k < c->nprobes; k++) {
		char **argv = c->probes[k];
		const char *s = args ? args : "";

		if (strcmp(binary, argv[0]) && strcmp(base_name(binary), base_name(argv[0])))
			continue;
		for (a = 1, off = 0; argv[a]; a++) { /* args == argv[1..] joined by spaces */
			size_t l = strlen(argv[a]);

			if ((a > 1 && s[off++] != ' ') || strncmp(s + off, argv[a], l))
				break;
			off += l;
		}
		if (!argv[a] && s[off] == '\0')
			return 1;
	}
	return 0;
}

/* A pod from its parsed JSON object; NULL when it lacks the identity fields. */
static struct k8s_pod *pod_from(const struct json *o)
{
	const struct json *meta = json_get(o, "metadata"), *spec = json_get(o, "spec"),
			  *status = json_get(o, "status"), *cs, *specc;
	struct k8s_pod *pod;
	size_t i, k;

	if (!json_str(meta, "uid") || !json_str(meta, "name") || !json_str(meta, "namespace"))
		return NULL;
	pod = calloc(1, sizeof(*pod));
	if (!pod)
		log_panic("out of memory");
	pod->uid = xstrdup(json_str(meta, "uid"));
	pod->name = xstrdup(json_str(meta, "name"));
	pod->ns = xstrdup(json_str(meta, "namespace"));
	pod->sa = xstrdup(json_str(spec, "serviceAccountName"));
	pod->labels = take_map(json_get(meta, "labels"), &pod->nlabels);
	pod->annotations = take_map(json_get(meta, "annotations"), &pod->nannotations);
	take_workload(pod, meta);
	cs = json_get(status, "containerStatuses");
	specc = json_get(spec, "containers");
	if (cs && cs->t == JSON_ARR && cs->n) {
		pod->c = calloc(cs->n, sizeof(*pod->c));
		if (!pod->c)
			log_panic("out of memory");
		for (i = 0; i < cs->n; i++) {
			const struct json *s = &cs->u.a[i], *run;
			struct k8s_container *c = &pod->c[pod->nc];

			if (!json_str(s, "name"))
				continue;
			c->name = xstrdup(json_str(s, "name"));
			c->id = xstrdup(json_str(s, "containerID"));
			c->image = xstrdup(json_str(s, "image"));
			c->image_id = xstrdup(json_str(s, "imageID"));
			run = json_get(json_get(s, "state"), "running");
			c->start_time = parse_time(json_str(run, "startedAt"));
			for (k = 0; specc && specc->t == JSON_ARR && k < specc->n; k++) {
				const struct json *sc = &specc->u.a[k], *pv;
				const char *nm = json_str(sc, "name");

				if (!nm || strcmp(nm, c->name))
					continue;
				pv = json_get(json_get(sc, "securityContext"), "privileged");
				c->privileged = pv && pv->t == JSON_BOOL && pv->u.b;
				if (!c->image)
					c->image = xstrdup(json_str(sc, "image"));
				take_probes(c, sc);
			}
			pod->nc++;
		}
	}
	return pod;
}

struct k8s_pod *k8s_pod_from_json(const char *json, size_t len)
{
	struct json v;
	struct k8s_pod *pod;
	char err[128];

	if (json_parse(json, len, &v, err, sizeof(err)) < 0)
		return NULL;
	pod = pod_from(&v);
	json_free(&v);
	return pod;
}

/* ---- the store (main thread only) -------------------------------------------- */

/* Hash of a pod uid. */
static unsigned uid_hash(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % K8S_BUCKETS;
}

const struct k8s_pod *k8s_pod_get(const char *uid)
{
	struct k8s_pod *p;

	for (p = store[uid_hash(uid)]; p; p = p->next)
		if (strcmp(p->uid, uid) == 0) {
			/* an expired tombstone is invisible at once; it is freed by the next
			 * k8s_drain, so no pointer a caller holds is freed under it */
			if (p->deleted_ns && mono_ns() - p->deleted_ns >= linger_ns)
				return NULL;
			return p;
		}
	return NULL;
}

const struct k8s_container *k8s_container(const struct k8s_pod *pod, const char *id64)
{
	size_t i, n = strlen(id64);

	for (i = 0; i < pod->nc; i++) {
		const char *id = pod->c[i].id;
		size_t l = id ? strlen(id) : 0;

		if (l >= n && strcmp(id + l - n, id64) == 0 && (l == n || id[l - n - 1] == '/'))
			return &pod->c[i];
	}
	return NULL;
}

/* Unlink p from the tombstone queue (a deleted pod that comes back or expires). */
static void tomb_unlink(struct k8s_pod *p)
{
	struct k8s_pod **pp, *prev = NULL;

	for (pp = &tomb_head; *pp; prev = *pp, pp = &(*pp)->tnext)
		if (*pp == p) {
			*pp = p->tnext;
			if (tomb_tail == p)
				tomb_tail = prev;
			p->tnext = NULL;
			kc[KC_DELETED]--;
			return;
		}
}

/* Unlink a pod (live or deleted) from the store; returns it (caller frees) or NULL. */
static struct k8s_pod *store_take(const char *uid)
{
	struct k8s_pod **pp, *p;

	for (pp = &store[uid_hash(uid)]; (p = *pp); pp = &p->next)
		if (strcmp(p->uid, uid) == 0) {
			*pp = p->next;
			if (p->deleted_ns)
				tomb_unlink(p);
			else
				kc[KC_PODS]--;
			return p;
		}
	return NULL;
}

/* For a deleted pod's cached cgroups: count the pod as announced, so that the
 * tombstone, which events still find, never triggers a pod_meta `set` again. */
static void tomb_cg(struct cg_entry *cg, void *arg)
{
	const struct k8s_pod *pod = arg;

	if (strcmp(cg->info.pod_uid, pod->uid) == 0)
		cg->sent = 1;
}

/* A live pod p (already unlinked from the store) was deleted: call fn, then keep it
 * findable as a tombstone until it expires. */
static void tomb_add(struct k8s_pod *p, void (*fn)(const struct k8s_pod *pod, int deleted))
{
	unsigned h = uid_hash(p->uid);

	fn(p, 1);
	cgroup_foreach(tomb_cg, p);
	p->deleted_ns = mono_ns();
	p->next = store[h];
	store[h] = p;
	p->tnext = NULL;
	if (tomb_tail)
		tomb_tail->tnext = p;
	else
		tomb_head = p;
	tomb_tail = p;
	kc[KC_DELETED]++;
	while (kc[KC_DELETED] > K8S_DELETED_MAX) { /* bounded: the oldest leaves early */
		kc[KC_EXPIRED]++;
		k8s_pod_free(store_take(tomb_head->uid));
	}
}

/* Free the tombstones older than the linger time. */
static void tomb_expire(uint64_t now)
{
	while (tomb_head && now - tomb_head->deleted_ns >= linger_ns) {
		struct k8s_pod *o = store_take(tomb_head->uid);

		kc[KC_EXPIRED]++;
		k8s_pod_free(o);
	}
}

size_t k8s_drain(void (*fn)(const struct k8s_pod *pod, int deleted))
{
	struct kmsg *m;
	size_t b, n = 0;

	while (zmq_recv(main_sock, &m, sizeof(m), ZMQ_DONTWAIT) == sizeof(m)) {
		n++;
		if (m->op == KM_SET) {
			struct k8s_pod *old = store_take(m->pod->uid), *np = pod_intern(m->pod);

			k8s_pod_free(m->pod);
			np->gen = m->gen;
			np->next = store[uid_hash(np->uid)];
			store[uid_hash(np->uid)] = np;
			kc[KC_PODS]++;
			k8s_pod_free(old);
			fn(np, 0);
		} else if (m->op == KM_TICK) {
			/* nothing: the expiry below is the point */
		} else if (m->op == KM_DEL) {
			struct k8s_pod *old = store_take(m->pod->uid);

			if (old && !old->deleted_ns)
				tomb_add(old, fn);
			else
				k8s_pod_free(old);
			k8s_pod_free(m->pod);
		} else { /* a list finished: live pods it did not return are gone */
			struct k8s_pod *gone = NULL, *p;

			for (b = 0; b < K8S_BUCKETS; b++) {
				struct k8s_pod **pp = &store[b];

				while ((p = *pp)) {
					if (!p->deleted_ns && p->gen < m->gen) {
						*pp = p->next;
						kc[KC_PODS]--;
						p->tnext = gone;
						gone = p;
					} else {
						pp = &p->next;
					}
				}
			}
			while ((p = gone)) { /* after the walk: tomb_add changes the chains */
				gone = p->tnext;
				tomb_add(p, fn);
			}
		}
		free(m);
	}
	tomb_expire(mono_ns());
	atomic_store(&tomb_any, tomb_head != NULL);
	return n;
}

/* Pack a map of key/value pairs. */
static void pack_kv(msgpack_packer *pk, char **kv, size_t n)
{
	size_t i;

	msgpack_pack_map(pk, n);
	for (i = 0; i < n * 2; i++)
		msgpack_pack_str_with_body(pk, kv[i], strlen(kv[i]));
}

/* Pack a string key. */
static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

void k8s_pack_pod(msgpack_packer *pk, const struct k8s_pod *pod, const struct k8s_container *c,
		  int annotations)
{
	k8s_pack_pod_ex(pk, pod, c, annotations, 0, 0);
}

void k8s_pack_pod_ex(msgpack_packer *pk, const struct k8s_pod *pod,
		     const struct k8s_container *c, int annotations, uint32_t nspid,
		     int maybe_probe)
{
	size_t n = 6 + (c != NULL) + (pod->sa != NULL) + (annotations && pod->nannotations);

	msgpack_pack_map(pk, n);
	pk_str(pk, "namespace");
	pk_str(pk, pod->ns);
	pk_str(pk, "name");
	pk_str(pk, pod->name);
	pk_str(pk, "uid");
	pk_str(pk, pod->uid);
	if (c) {
		size_t cn = 2 + (c->name != NULL) + (c->start_time != 0) + (c->id != NULL) +
			    (nspid != 0) + (maybe_probe != 0);

		pk_str(pk, "container");
		msgpack_pack_map(pk, cn);
		if (c->id) {
			pk_str(pk, "id");
			pk_str(pk, c->id);
		}
		if (c->name) {
			pk_str(pk, "name");
			pk_str(pk, c->name);
		}
		pk_str(pk, "image");
		msgpack_pack_map(pk, (c->image_id != NULL) + (c->image != NULL));
		if (c->image_id) {
			pk_str(pk, "id");
			pk_str(pk, c->image_id);
		}
		if (c->image) {
			pk_str(pk, "name");
			pk_str(pk, c->image);
		}
		if (c->start_time) {
			pk_str(pk, "start_time");
			msgpack_pack_uint64(pk, c->start_time);
		}
		if (nspid) {
			pk_str(pk, "pid");
			msgpack_pack_uint32(pk, nspid);
		}
		if (maybe_probe) {
			pk_str(pk, "maybe_exec_probe");
			msgpack_pack_true(pk);
		}
		pk_str(pk, "security_context");
		msgpack_pack_map(pk, 1);
		pk_str(pk, "privileged");
		if (c->privileged)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
	}
	pk_str(pk, "pod_labels");
	pack_kv(pk, pod->labels, pod->nlabels);
	pk_str(pk, "workload");
	pk_str(pk, pod->workload);
	pk_str(pk, "workload_kind");
	pk_str(pk, pod->kind);
	if (pod->sa) {
		pk_str(pk, "service_account");
		pk_str(pk, pod->sa);
	}
	if (annotations && pod->nannotations) {
		pk_str(pk, "pod_annotations");
		pack_kv(pk, pod->annotations, pod->nannotations);
	}
}

size_t k8s_counters(const char **names, uint64_t *vals, size_t max)
{
	size_t i;

	for (i = 0; i < KC_N && i < max; i++) {
		names[i] = kc_names[i];
		vals[i] = kc[i];
	}
	return i;
}

/* ---- the watcher thread ------------------------------------------------------- */

/* Hand a message to the main thread (the pair socket never drops: it blocks). */
static void post(int op, struct k8s_pod *pod, uint64_t gen)
{
	struct kmsg *m = calloc(1, sizeof(*m));

	if (!m)
		log_panic("out of memory");
	m->op = op;
	m->pod = pod;
	m->gen = gen;
	if (zmq_send(thr_sock, &m, sizeof(m), 0) != sizeof(m)) {
		k8s_pod_free(pod);
		free(m);
	}
}

struct xfer {
	char *buf;
	size_t len, cap;
	int watch;          /* stream mode: one JSON event per line */
	int relist;         /* the stream asked for a re-list (410 / ERROR) */
	int got;            /* the watch stream delivered bytes: we are connected */
	CURL *curl;         /* the transfer, for its response code */
	uint64_t gen;
	char rv[128];
};

/* One watch event line. */
static void watch_line(struct xfer *x, const char *s, size_t n)
{
	const struct json *obj;
	const char *type, *rv;
	struct json v;
	char err[128];

	if (n == 0)
		return;
	if (json_parse(s, n, &v, err, sizeof(err)) < 0) {
		kc[KC_BAD_JSON]++;
		log_rl(&krl, LOG_SEV_WARN, "k8s: watch event is not JSON (%s): ignored", err);
		return;
	}
	type = json_str(&v, "type");
	obj = json_get(&v, "object");
	rv = json_str(json_get(obj, "metadata"), "resourceVersion");
	if (!type || !obj || obj->t != JSON_OBJ) {
		kc[KC_BAD_JSON]++;
		log_rl(&krl, LOG_SEV_WARN, "k8s: watch event without type or object: ignored");
	} else if (strcmp(type, "ERROR") == 0) {
		const struct json *code = json_get(obj, "code");

		log_rl(&krl, LOG_SEV_WARN, "k8s: watch ERROR %d (%s): re-listing",
		       code && code->t == JSON_NUM ? (int)code->u.d : 0,
		       json_str(obj, "message") ? json_str(obj, "message") : "no message");
		x->relist = 1;
	} else if (strcmp(type, "BOOKMARK") == 0) {
		kc[KC_BOOKMARKS]++;
		if (tomb_any) /* wake the main thread to free expired tombstones */
			post(KM_TICK, NULL, x->gen);
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")) {
		struct k8s_pod *pod = pod_from(obj);

		kc[KC_EVENTS]++;
		if (pod)
			post(type[0] == 'D' ? KM_DEL : KM_SET, pod, x->gen);
		else
			kc[KC_BAD_JSON]++;
	}
	if (rv && strlen(rv) < sizeof(x->rv) && strcmp(type ? type : "", "ERROR"))
		snprintf(x->rv, sizeof(x->rv), "%s", rv);
	json_free(&v);
}

/* curl write callback: buffer the body, or split a watch stream into lines. */
static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm, start = 0, i;

	if (x->len + n > (x->watch ? K8S_MAX_LINE : K8S_MAX_BODY)) {
		log_rl(&krl, LOG_SEV_WARN, "k8s: response too large: dropped");
		kc[KC_BAD_JSON]++;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		x->cap = (x->len + n + 1) * 2;
		x->buf = realloc(x->buf, x->cap);
		if (!x->buf)
			log_panic("out of memory");
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	if (!x->watch)
		return n;
	if (!x->got) { /* a watch resumed from its resourceVersion is as good as a list */
		long code = 0;

		vcurl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200)
			return n;
		x->got = 1;
		kc[KC_SYNCED] = 1;
		kc[KC_BACKOFF] = 0;
	}
	for (i = 0; i < x->len; i++)
		if (x->buf[i] == '\n') {
			watch_line(x, x->buf + start, i - start);
			start = i + 1;
			if (x->relist)
				return 0; /* abort the transfer */
		}
	memmove(x->buf, x->buf + start, x->len - start);
	x->len -= start;
	return n;
}

/* curl progress callback: abort when the stage stops. */
static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)arg, (void)a, (void)b, (void)c, (void)d;
	return atomic_load(&stopping);
}

/* Read the token file (re-read for every request: tokens rotate). */
static int read_token(char *buf, size_t len)
{
	FILE *f = fopen(cfg_token, "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

/* One GET; returns the HTTP status, or -1 on a transport error. */
static long get(const char *url, struct xfer *x)
{
	static char last_token[4096];
	char token[4096], auth[4200];
	struct curl_slist *h = NULL;
	long code = -1;
	CURLcode rc;
	CURL *c = vcurl.easy_init();

	if (!c)
		return -1;
	if (read_token(token, sizeof(token)) == 0) {
		if (last_token[0] && strcmp(token, last_token)) {
			log_info("k8s: token file %s changed: using the new token", cfg_token);
			kc[KC_TOKEN]++;
		}
		snprintf(last_token, sizeof(last_token), "%s", token);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = vcurl.slist_append(h, auth);
	} else {
		log_rl(&krl, LOG_SEV_WARN, "k8s: cannot read token file %s", cfg_token);
	}
	h = vcurl.slist_append(h, "Accept: application/json");
	vcurl.easy_setopt(c, CURLOPT_URL, url);
	vcurl.easy_setopt(c, CURLOPT_HTTPHEADER, h);
	vcurl.easy_setopt(c, CURLOPT_CAINFO, cfg_ca);
	vcurl.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	vcurl.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	vcurl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	vcurl.easy_setopt(c, CURLOPT_WRITEDATA, x);
	x->curl = c;
	vcurl.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	vcurl.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	vcurl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	vcurl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (!x->watch)
		vcurl.easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	else /* no byte for a minute (bookmarks come more often): the connection is dead */
		vcurl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L),
			vcurl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	rc = vcurl.easy_perform(c);
	vcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code == 401 || code == 403) {
		kc[KC_UNAUTH]++;
		log_rl(&krl, LOG_SEV_WARN, "k8s: HTTP %ld: the token in %s was refused", code,
		       cfg_token);
	}
	if (rc != CURLE_OK && !(x->watch && x->relist)) {
		if (!atomic_load(&stopping))
			log_rl(&krl, LOG_SEV_WARN, "k8s: GET %s: %s", url, vcurl.easy_strerror(rc));
		code = code == 200 || code == 0 ? -1 : code;
	}
	vcurl.slist_free_all(h);
	vcurl.easy_cleanup(c);
	return code;
}

/* List every pod of the node (following continue tokens); 0 or -1. */
static int do_list(uint64_t gen, char *rv, size_t rvlen)
{
	char url[2048], cont[1024] = "";
	int ok = -1;

	for (;;) {
		struct xfer x = { 0 };
		const struct json *items, *meta;
		struct json v;
		char err[128];
		long code;
		size_t i;

		snprintf(url, sizeof(url),
			 "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=500%s%s", cfg_url,
			 cfg_node, cont[0] ? "&continue=" : "", cont);
		code = get(url, &x);
		if (code != 200) {
			if (code > 0)
				log_rl(&krl, LOG_SEV_WARN, "k8s: list: HTTP %ld", code);
			free(x.buf);
			return -1;
		}
		if (json_parse(x.buf ? x.buf : "", x.len, &v, err, sizeof(err)) < 0) {
			kc[KC_BAD_JSON]++;
			log_rl(&krl, LOG_SEV_WARN, "k8s: list response is not JSON (%s)", err);
			free(x.buf);
			return -1;
		}
		free(x.buf);
		items = json_get(&v, "items");
		meta = json_get(&v, "metadata");
		if (!items || items->t != JSON_ARR || !json_str(meta, "resourceVersion")) {
			kc[KC_BAD_JSON]++;
			log_rl(&krl, LOG_SEV_WARN, "k8s: list response is not a PodList");
			json_free(&v);
			return -1;
		}
		for (i = 0; i < items->n; i++) {
			struct k8s_pod *pod = pod_from(&items->u.a[i]);

			if (pod)
				post(KM_SET, pod, gen);
		}
		snprintf(rv, rvlen, "%s", json_str(meta, "resourceVersion"));
		cont[0] = '\0';
		if (json_str(meta, "continue") && strlen(json_str(meta, "continue")) < sizeof(cont))
			snprintf(cont, sizeof(cont), "%s", json_str(meta, "continue"));
		json_free(&v);
		if (!cont[0]) {
			ok = 0;
			break;
		}
	}
	post(KM_SYNC, NULL, gen);
	kc[KC_LISTS]++;
	/* the list's response bodies and parse trees were freed into this thread's arena:
	 * give the pages back (a 5,000-pod list leaves megabytes otherwise) */
	malloc_trim(0);
	return ok;
}

/* Sleep ms, waking early when the stage stops. */
static void nap(unsigned ms)
{
	while (ms && !atomic_load(&stopping)) {
		unsigned s = ms > 50 ? 50 : ms;

		usleep(s * 1000);
		ms -= s;
	}
}

/* The thread: list, then watch from the list's resourceVersion until told to re-list;
 * errors back off exponentially up to backoff_max_ms. */
static void *run(void *arg)
{
	char rv[128] = "", url[2048];
	uint64_t gen = 0;
	unsigned backoff = 250;
	int need_list = 1;

	(void)arg;
	while (!atomic_load(&stopping)) {
		if (need_list) {
			if (do_list(++gen, rv, sizeof(rv)) < 0) {
				kc[KC_ERRORS]++;
				kc[KC_SYNCED] = 0;
				kc[KC_BACKOFF] = backoff;
				nap(backoff);
				backoff = backoff * 2 > cfg.backoff_max_ms ? cfg.backoff_max_ms : backoff * 2;
				continue;
			}
			need_list = 0;
			backoff = 250;
			kc[KC_BACKOFF] = 0;
			kc[KC_SYNCED] = 1;
		}
		{
			struct xfer x = { .watch = 1, .gen = gen };
			long code;

			snprintf(x.rv, sizeof(x.rv), "%s", rv);
			snprintf(url, sizeof(url),
				 "%s/api/v1/pods?watch=true&fieldSelector=spec.nodeName%%3D%s"
				 "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=300",
				 cfg_url, cfg_node, rv);
			kc[KC_WATCHES]++;
			code = get(url, &x);
			free(x.buf);
			snprintf(rv, sizeof(rv), "%s", x.rv);
			if (atomic_load(&stopping))
				break;
			if (x.relist || code == 410) {
				kc[KC_RELIST]++;
				need_list = 1;
				continue;
			}
			if (code == 200) { /* the server ended the watch: resume from rv */
				backoff = 250;
				continue;
			}
			if (x.got) /* it was up: the next try starts over */
				backoff = 250;
			kc[KC_RECONNECTS]++;
			kc[KC_ERRORS]++;
			kc[KC_SYNCED] = 0;
			kc[KC_BACKOFF] = backoff;
			if (code > 0)
				log_rl(&krl, LOG_SEV_WARN, "k8s: watch: HTTP %ld", code);
			nap(backoff);
			backoff = backoff * 2 > cfg.backoff_max_ms ? cfg.backoff_max_ms : backoff * 2;
			if (code > 0)
				need_list = 1; /* an HTTP error: our rv may be useless */
		}
	}
	return NULL;
}

void *k8s_start(void *zctx, const struct k8s_config *c)
{
	char err[256];
	size_t n;

	cfg = *c;
	cfg_url = xstrdup(c->url);
	n = strlen(cfg_url);
	while (n && cfg_url[n - 1] == '/')
		cfg_url[--n] = '\0';
	cfg_token = xstrdup(c->token_file);
	cfg_ca = xstrdup(c->ca_file);
	if (vcurl_load(err, sizeof(err)) < 0) {
		log_error("k8s: %s", err);
		return NULL;
	}
	cfg_node = vcurl.easy_escape(NULL, c->node, 0);
	if (!cfg.backoff_max_ms)
		cfg.backoff_max_ms = 30000;
	if (!cfg.deleted_linger_ms) {
		const char *env = getenv("VIGIL_K8S_DELETED_LINGER_MS");

		cfg.deleted_linger_ms = env && *env ? (unsigned)strtoul(env, NULL, 10)
						    : K8S_DELETED_LINGER_MS;
	}
	linger_ns = (uint64_t)cfg.deleted_linger_ms * 1000000ull;
	zctx_ = zctx;
	main_sock = zmq_socket(zctx_, ZMQ_PAIR);
	thr_sock = zmq_socket(zctx_, ZMQ_PAIR);
	if (!main_sock || !thr_sock || zmq_bind(main_sock, K8S_EP) < 0 ||
	    zmq_connect(thr_sock, K8S_EP) < 0) {
		log_error("k8s: inproc pair: %s", zmq_strerror(zmq_errno()));
		return NULL;
	}
	if (pthread_create(&thr, NULL, run, NULL) != 0) {
		log_error("k8s: cannot start the watcher thread");
		return NULL;
	}
	log_info("k8s: watching pods of node %s at %s", c->node, cfg_url);
	return main_sock;
}

void k8s_stop(void)
{
	int linger = 0;
	struct kmsg *m;

	atomic_store(&stopping, 1);
	/* The thread may be blocked posting to a full pair: keep draining while it ends. */
	for (;;) {
		while (zmq_recv(main_sock, &m, sizeof(m), ZMQ_DONTWAIT) == sizeof(m)) {
			k8s_pod_free(m->pod);
			free(m);
		}
		if (pthread_tryjoin_np(thr, NULL) == 0)
			break;
		usleep(10000);
	}
	zmq_setsockopt(thr_sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(main_sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(thr_sock);
	zmq_close(main_sock);
}
