/* enricher_k8s.c — see enricher_k8s.h. */
#include "enricher_k8s.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "enricher_json.h"
#include "log.h"

#define K8S_BUCKETS 1024
#define K8S_MAX_BODY (64u << 20)  /* a list response larger than this is refused */
#define K8S_MAX_LINE (8u << 20)   /* one watch event */
#define K8S_EP "inproc://enricher-k8s"

enum { KM_SET, KM_DEL, KM_SYNC };
struct kmsg {
	int op;
	uint64_t gen;
	struct k8s_pod *pod;
};

/* Counters the thread bumps and status() reads. */
enum { KC_LISTS, KC_WATCHES, KC_EVENTS, KC_BOOKMARKS, KC_BAD_JSON, KC_ERRORS, KC_RELIST,
       KC_RECONNECTS, KC_PODS, KC_N };
static const char *const kc_names[KC_N] = {
	"k8s.lists", "k8s.watches", "k8s.events", "k8s.bookmarks", "k8s.bad_json",
	"k8s.errors", "k8s.relist", "k8s.reconnects", "k8s.pods",
};
static _Atomic uint64_t kc[KC_N];

static struct k8s_config cfg;
static char *cfg_url, *cfg_token, *cfg_ca, *cfg_node;
static pthread_t thr;
static atomic_int stopping;
static void *zctx_, *main_sock, *thr_sock;
static struct k8s_pod *store[K8S_BUCKETS];
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

void k8s_pod_free(struct k8s_pod *pod)
{
	size_t i;

	if (!pod)
		return;
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
		if (strcmp(p->uid, uid) == 0)
			return p;
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

/* Unlink a pod from the store; returns it (caller frees) or NULL. */
static struct k8s_pod *store_take(const char *uid)
{
	struct k8s_pod **pp, *p;

	for (pp = &store[uid_hash(uid)]; (p = *pp); pp = &p->next)
		if (strcmp(p->uid, uid) == 0) {
			*pp = p->next;
			kc[KC_PODS]--;
			return p;
		}
	return NULL;
}

void k8s_drain(void (*fn)(const struct k8s_pod *pod, int deleted))
{
	struct kmsg *m;
	size_t b;

	while (zmq_recv(main_sock, &m, sizeof(m), ZMQ_DONTWAIT) == sizeof(m)) {
		if (m->op == KM_SET) {
			struct k8s_pod *old = store_take(m->pod->uid);

			m->pod->gen = m->gen;
			m->pod->next = store[uid_hash(m->pod->uid)];
			store[uid_hash(m->pod->uid)] = m->pod;
			kc[KC_PODS]++;
			k8s_pod_free(old);
			fn(m->pod, 0);
		} else if (m->op == KM_DEL) {
			struct k8s_pod *old = store_take(m->pod->uid);

			if (old) {
				fn(old, 1);
				k8s_pod_free(old);
			}
			k8s_pod_free(m->pod);
		} else { /* a list finished: pods it did not return are gone */
			for (b = 0; b < K8S_BUCKETS; b++) {
				struct k8s_pod **pp = &store[b], *p;

				while ((p = *pp)) {
					if (p->gen < m->gen) {
						*pp = p->next;
						kc[KC_PODS]--;
						fn(p, 1);
						k8s_pod_free(p);
					} else {
						pp = &p->next;
					}
				}
			}
		}
		free(m);
	}
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
	size_t n = 6 + (c != NULL) + (pod->sa != NULL) + (annotations && pod->nannotations);

	msgpack_pack_map(pk, n);
	pk_str(pk, "namespace");
	pk_str(pk, pod->ns);
	pk_str(pk, "name");
	pk_str(pk, pod->name);
	pk_str(pk, "uid");
	pk_str(pk, pod->uid);
	if (c) {
		size_t cn = 2 + (c->name != NULL) + (c->start_time != 0) + (c->id != NULL);

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
	CURL *c = curl_easy_init();

	if (!c)
		return -1;
	if (read_token(token, sizeof(token)) == 0) {
		if (last_token[0] && strcmp(token, last_token))
			log_info("k8s: token file %s changed: using the new token", cfg_token);
		snprintf(last_token, sizeof(last_token), "%s", token);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	} else {
		log_rl(&krl, LOG_SEV_WARN, "k8s: cannot read token file %s", cfg_token);
	}
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CAINFO, cfg_ca);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (!x->watch)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	else /* no byte for a minute (bookmarks come more often): the connection is dead */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L),
			curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK && !(x->watch && x->relist)) {
		if (!atomic_load(&stopping))
			log_rl(&krl, LOG_SEV_WARN, "k8s: GET %s: %s", url, curl_easy_strerror(rc));
		code = code == 200 || code == 0 ? -1 : code;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
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
				nap(backoff);
				backoff = backoff * 2 > cfg.backoff_max_ms ? cfg.backoff_max_ms : backoff * 2;
				continue;
			}
			need_list = 0;
			backoff = 250;
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
			kc[KC_RECONNECTS]++;
			kc[KC_ERRORS]++;
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
	size_t n;

	cfg = *c;
	cfg_url = xstrdup(c->url);
	n = strlen(cfg_url);
	while (n && cfg_url[n - 1] == '/')
		cfg_url[--n] = '\0';
	cfg_token = xstrdup(c->token_file);
	cfg_ca = xstrdup(c->ca_file);
	cfg_node = curl_easy_escape(NULL, c->node, 0);
	if (!cfg.backoff_max_ms)
		cfg.backoff_max_ms = 30000;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_error("k8s: curl_global_init failed");
		return NULL;
	}
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
