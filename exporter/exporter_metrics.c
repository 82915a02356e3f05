/* exporter_metrics: /metrics over libmicrohttpd; see exporter_metrics.h. */
#include "exporter_metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <msgpack.h>
#include <zmq.h>

#include "log.h"
#include "wire.h"

#define XM_MAX_STAGES 64
#define XM_REPLY_MAX (1u << 20)
#define XM_TIMEOUT_MS 1000
/* Append a string literal. */
#define XM_LIT(sb, s) strbuf_append((sb), (s), sizeof(s) - 1)

/* How a family's samples come from counters. */
enum xm_kind {
	XM_EXACT,  /* one counter name, summed over the stages of a kind */
	XM_SUFFIX, /* prefix.<label>, summed per label over the stages of a kind */
	XM_MIDDLE, /* prefix.<label>.suffix, summed per label */
	XM_STAGE,  /* prefix.<label>, one sample per stage and label */
};

struct xm_family {
	const char *name, *type, *help;
	const char *stage; /* stage kind (instance names may add "-N", "@N"...) */
	enum xm_kind kind;
	const char *counter, *suffix, *label;
};

static const struct xm_family xm_families[] = {
	{"tetragon_events_total", "counter", "Events exported, by type.", "exporter", XM_SUFFIX,
	 "events.", NULL, "type"},
	{"tetragon_events_exported_total", "counter", "Events written to the JSON export.",
	 "exporter", XM_EXACT, "exported", NULL, NULL},
	{"tetragon_events_exported_bytes_total", "counter",
	 "Bytes of JSON lines written to the export.", "exporter", XM_EXACT, "exported_bytes", NULL,
	 NULL},
	{"tetragon_notify_overflowed_events_total", "counter",
	 "Events dropped from full gRPC client queues.", "exporter", XM_EXACT, "grpc.client_drops",
	 NULL, NULL},
	{"tetragon_observer_ringbuf_events_received_total", "counter",
	 "Records read from the kernel ring buffer.", "collector", XM_EXACT, "ringbuf_received", NULL,
	 NULL},
	{"tetragon_observer_ringbuf_events_lost_total", "counter",
	 "Records the kernel could not put in the ring buffer.", "collector", XM_EXACT,
	 "ringbuf_lost", NULL, NULL},
	{"tetragon_process_cache_size", "gauge", "Processes in the enricher's cache.", "enricher",
	 XM_EXACT, "cache.size", NULL, NULL},
	{"tetragon_process_cache_evictions_total", "counter", "Process cache evictions.",
	 "enricher", XM_EXACT, "cache.evictions", NULL, NULL},
	{"tetragon_process_cache_misses_total", "counter", "Process cache lookups that missed.",
	 "enricher", XM_EXACT, "cache.misses", NULL, NULL},
	{"tetragon_policy_events_total", "counter", "Policy matches, by policy.", "evaluator",
	 XM_MIDDLE, "policy.", ".matches", "policy"},
	{"vigil_drops_total", "counter", "Messages dropped, by stage and reason.", NULL, XM_STAGE,
	 "drop.", NULL, "reason"},
	{"vigil_gaps_total", "counter", "Sequence gaps seen, by stage and producer.", NULL,
	 XM_STAGE, "gap.", NULL, "source"},
	{"vigil_ringbuf_lost_by_type_total", "counter", "Ring-buffer losses by event type.",
	 "collector", XM_SUFFIX, "ringbuf_lost.", NULL, "type"},
};

static struct MHD_Daemon *daemon_;
static char *rundir;
static void *zctx;
static atomic_ullong n_scrapes, n_bad;

/* Does instance name s belong to stage kind k ("evaluator" for "evaluator-2")? */
static int xm_is_kind(const char *s, size_t n, const char *k)
{
	size_t kl;

	if (!k)
		return 1;
	kl = strlen(k);
	return n >= kl && memcmp(s, k, kl) == 0 && (n == kl || !isalpha((unsigned char)s[kl]));
}

/* Append s[0..n) as a label value: escaped, bytes outside printable ASCII as '_'. */
static void xm_label(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == '"')
			strbuf_putc(out, '\\');
		strbuf_putc(out, c >= 0x20 && c < 0x7f ? c : '_');
	}
}

/* Append a counter name sanitized to [A-Za-z0-9_.:-]. */
static void xm_sanitized(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		strbuf_putc(out, isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-' ? c : '_');
	}
}

struct xm_acc {
	const char *stage, *label;
	size_t stage_len, label_len;
	uint64_t v;
};

/* The label part of counter name k for family f, or -1 if k is not one of f's. */
static int xm_match(const struct xm_family *f, const char *k, size_t n, const char **lab,
		    size_t *ln)
{
	size_t pl = strlen(f->counter);

	switch (f->kind) {
	case XM_EXACT:
		*lab = "";
		*ln = 0;
		return n == pl && memcmp(k, f->counter, n) == 0 ? 0 : -1;
	case XM_SUFFIX:
	case XM_STAGE:
		if (n <= pl || memcmp(k, f->counter, pl) != 0)
			return -1;
		*lab = k + pl;
		*ln = n - pl;
		return 0;
	case XM_MIDDLE: {
		size_t sl = strlen(f->suffix);
		if (n <= pl + sl || memcmp(k, f->counter, pl) != 0 ||
		    memcmp(k + n - sl, f->suffix, sl) != 0)
			return -1;
		*lab = k + pl;
		*ln = n - pl - sl;
		return 0;
	}
	}
	return -1;
}

/* Write one family: HELP, TYPE and its samples; nothing if it has no sample. */
static void xm_family(const struct xm_family *f, const char *const *names,
		      const msgpack_object *const *ctr, size_t n, struct strbuf *out)
{
	struct xm_acc *acc = NULL;
	size_t na = 0, cap = 0;

	for (size_t s = 0; s < n; s++) {
		if (!ctr[s] || !xm_is_kind(names[s], strlen(names[s]), f->stage))
			continue;
		for (uint32_t i = 0; i < ctr[s]->via.map.size; i++) {
			const msgpack_object_kv *kv = &ctr[s]->via.map.ptr[i];
			const char *lab;
			size_t ln, j;
			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    xm_match(f, kv->key.via.str.ptr, kv->key.via.str.size, &lab, &ln) < 0)
				continue;
			const char *st = f->kind == XM_STAGE ? names[s] : "";
			size_t stl = strlen(st);
			for (j = 0; j < na; j++)
				if (acc[j].label_len == ln && memcmp(acc[j].label, lab, ln) == 0 &&
				    acc[j].stage_len == stl && memcmp(acc[j].stage, st, stl) == 0)
					break;
			if (j == na) {
				if (na == cap) {
					cap = cap ? cap * 2 : 16;
					acc = realloc(acc, cap * sizeof(*acc));
					if (!acc)
						abort();
				}
				acc[na++] = (struct xm_acc){st, lab, stl, ln, 0};
			}
			acc[j].v += kv->val.via.u64;
		}
	}
	if (na) {
		strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			       f->type);
		for (size_t j = 0; j < na; j++) {
			strbuf_append(out, f->name, strlen(f->name));
			if (f->label) {
				strbuf_putc(out, '{');
				if (f->kind == XM_STAGE) {
					XM_LIT(out, "stage=\"");
					xm_label(out, acc[j].stage, acc[j].stage_len);
					XM_LIT(out, "\",");
				}
				strbuf_appendf(out, "%s=\"", f->label);
				xm_label(out, acc[j].label, acc[j].label_len);
				XM_LIT(out, "\"}");
			}
			strbuf_appendf(out, " %llu\n", (unsigned long long)acc[j].v);
		}
	}
	free(acc);
}

void xmetrics_render(const char *const *names, const char *const *replies, const size_t *lens,
		     size_t n, struct strbuf *out)
{
	msgpack_unpacked *up = calloc(n ? n : 1, sizeof(*up));
	const msgpack_object **ctr = calloc(n ? n : 1, sizeof(*ctr));

	if (!up || !ctr)
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t off = 0;
		msgpack_unpacked_init(&up[i]);
		if (!replies[i] ||
		    msgpack_unpack_next(&up[i], replies[i], lens[i], &off) != MSGPACK_UNPACK_SUCCESS ||
		    up[i].data.type != MSGPACK_OBJECT_MAP)
			continue;
		const msgpack_object *c = wire_get(&up[i].data, "counters");
		if (c && c->type == MSGPACK_OBJECT_MAP)
			ctr[i] = c;
	}
	XM_LIT(out, "# HELP vigil_stage_up 1 if the stage answered on its control socket.\n"
			   "# TYPE vigil_stage_up gauge\n");
	for (size_t i = 0; i < n; i++) {
		XM_LIT(out, "vigil_stage_up{stage=\"");
		xm_label(out, names[i], strlen(names[i]));
		strbuf_appendf(out, "\"} %d\n", ctr[i] != NULL);
	}
	for (size_t f = 0; f < sizeof(xm_families) / sizeof(xm_families[0]); f++)
		xm_family(&xm_families[f], names, ctr, n, out);
	XM_LIT(out, "# HELP vigil_counter Every counter of every stage, by stage and name.\n"
			   "# TYPE vigil_counter untyped\n");
	for (size_t s = 0; s < n; s++) {
		for (uint32_t i = 0; ctr[s] && i < ctr[s]->via.map.size; i++) {
			const msgpack_object_kv *kv = &ctr[s]->via.map.ptr[i];
			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				continue;
			XM_LIT(out, "vigil_counter{stage=\"");
			xm_label(out, names[s], strlen(names[s]));
			XM_LIT(out, "\",name=\"");
			xm_sanitized(out, kv->key.via.str.ptr, kv->key.via.str.size);
			strbuf_appendf(out, "\"} %llu\n", (unsigned long long)kv->val.via.u64);
		}
	}
	for (size_t i = 0; i < n; i++)
		msgpack_unpacked_destroy(&up[i]);
	free(up);
	free(ctr);
}

/* qsort comparison of C strings. */
static int xm_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stage names: *.ctl in the run directory plus the standard five. Returns the count. */
static size_t xm_stages(char **names)
{
	static const char *const std[] = {"collector", "enricher", "evaluator", "exporter",
					  "enforcer"};
	DIR *d = opendir(rundir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)) && n < XM_MAX_STAGES) {
		size_t l = strlen(de->d_name);
		if (l > 4 && l < 200 && strcmp(de->d_name + l - 4, ".ctl") == 0)
			names[n++] = strndup(de->d_name, l - 4);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < 5; i++) {
		int found = 0;
		for (size_t j = 0; j < n; j++)
			found |= strcmp(names[j], std[i]) == 0;
		if (!found && n < XM_MAX_STAGES)
			names[n++] = strdup(std[i]);
	}
	qsort(names, n, sizeof(*names), xm_cmp);
	return n;
}

/* Monotonic ms. */
static int64_t xm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask every stage for its status at once and render the scrape into out. */
static void xm_scrape(struct strbuf *out)
{
	static const char q[] = "\x82\xa1v\x01\xa3"
				"cmd\xa6status";
	char *names[XM_MAX_STAGES], *rep[XM_MAX_STAGES];
	size_t lens[XM_MAX_STAGES], n = xm_stages(names), left = 0;
	void *sock[XM_MAX_STAGES];
	int linger = 0;
	int64_t deadline = xm_now_ms() + XM_TIMEOUT_MS;

	for (size_t i = 0; i < n; i++) {
		char ep[512];
		rep[i] = NULL;
		lens[i] = 0;
		sock[i] = zmq_socket(zctx, ZMQ_REQ);
		snprintf(ep, sizeof(ep), "ipc://%s/%s.ctl", rundir, names[i]);
		if (!sock[i])
			continue;
		zmq_setsockopt(sock[i], ZMQ_LINGER, &linger, sizeof(linger));
		if (zmq_connect(sock[i], ep) < 0 || zmq_send(sock[i], q, sizeof(q) - 1, ZMQ_DONTWAIT) < 0) {
			zmq_close(sock[i]);
			sock[i] = NULL;
			continue;
		}
		left++;
	}
	while (left) {
		zmq_pollitem_t items[XM_MAX_STAGES];
		size_t idx[XM_MAX_STAGES], k = 0;
		int64_t wait = deadline - xm_now_ms();
		if (wait <= 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (sock[i] && !rep[i]) {
				items[k] = (zmq_pollitem_t){.socket = sock[i], .events = ZMQ_POLLIN};
				idx[k++] = i;
			}
		if (zmq_poll(items, (int)k, (long)wait) <= 0)
			continue;
		for (size_t j = 0; j < k; j++) {
			zmq_msg_t m;
			size_t i = idx[j];
			if (!(items[j].revents & ZMQ_POLLIN))
				continue;
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, sock[i], ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&m) <= XM_REPLY_MAX) {
				lens[i] = zmq_msg_size(&m);
				rep[i] = malloc(lens[i] ? lens[i] : 1);
				if (!rep[i])
					abort();
				memcpy(rep[i], zmq_msg_data(&m), lens[i]);
			} else {
				zmq_close(sock[i]); /* oversized or broken: counts as down */
				sock[i] = NULL;
			}
			zmq_msg_close(&m);
			left--;
		}
	}
	xmetrics_render((const char *const *)names, (const char *const *)rep, lens, n, out);
	for (size_t i = 0; i < n; i++) {
		if (sock[i])
			zmq_close(sock[i]);
		free(rep[i]);
		free(names[i]);
	}
}

/* Answer with a static text body. */
static enum MHD_Result xm_reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The MHD request handler (its thread): GET/HEAD /metrics only. */
static enum MHD_Result xm_handler(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int first;
	struct strbuf sb;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* headers only so far: wait for the body, if any */
		*con_cls = &first;
		return MHD_YES;
	}
	if (*upload_size) { /* a body we do not want: discard it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		n_bad++;
		return xm_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	}
	if (strcmp(url, "/metrics") != 0) {
		n_bad++;
		return xm_reply(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
	}
	strbuf_init(&sb);
	xm_scrape(&sb);
	n_scrapes++;
	r = MHD_create_response_from_buffer(sb.len, sb.buf, MHD_RESPMEM_MUST_COPY);
	strbuf_free(&sb);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int xmetrics_start(const char *address, const char *dir, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL,
			*a;
	char host[256];
	const char *colon = strrchr(address, ':'), *h = address;
	size_t hl;
	int rc;

	if (!colon || colon == address || !colon[1]) {
		snprintf(err, errlen, "metrics address %s: want host:port", address);
		return -1;
	}
	hl = (size_t)(colon - address);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
		h++, hl -= 2;
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "metrics address %s: host too long", address);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "metrics address %s: %s", address, gai_strerror(rc));
		return -1;
	}
	for (a = ai; a && a->ai_family != AF_INET; a = a->ai_next) /* prefer IPv4 for localhost */
		;
	if (!a)
		a = ai;
	rundir = strdup(dir);
	zctx = zmq_ctx_new();
	daemon_ = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | (a->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, xm_handler, NULL, MHD_OPTION_SOCK_ADDR, a->ai_addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)10, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!daemon_) {
		snprintf(err, errlen, "cannot listen on %s (address in use?)", address);
		zmq_ctx_term(zctx);
		zctx = NULL;
		free(rundir);
		rundir = NULL;
		return -1;
	}
	return 0;
}

void xmetrics_get_stats(struct xmetrics_stats *s)
{
	s->scrapes = n_scrapes;
	s->bad_requests = n_bad;
}

void xmetrics_stop(void)
{
	if (!daemon_)
		return;
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	zmq_ctx_term(zctx);
	zctx = NULL;
	free(rundir);
	rundir = NULL;
}
