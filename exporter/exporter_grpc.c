/* exporter_grpc: Tetragon-compatible gRPC server on the C core; see exporter_grpc.h. */
#include "exporter_grpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <zmq.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "exporter_fields.h"
#include "exporter_filter.h"
#include "exporter_pb.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "tetragon/events.pb-c.h"
#include "tetragon/sensors.pb-c.h"
#include "tetragon/tetragon.pb-c.h"
#include "ctlclient.h"
#include "wire.h"

enum xmethod { XM_UNKNOWN, XM_EVENTS, XM_HEALTH, XM_VERSION, XM_POLICIES, XM_CHECK };

static const struct {
	const char *path;
	enum xmethod m;
} xmethods[] = {
	{"/tetragon.FineGuidanceSensors/GetEvents", XM_EVENTS},
	{"/tetragon.FineGuidanceSensors/GetHealth", XM_HEALTH},
	{"/tetragon.FineGuidanceSensors/GetVersion", XM_VERSION},
	{"/tetragon.FineGuidanceSensors/ListTracingPolicies", XM_POLICIES},
	{"/grpc.health.v1.Health/Check", XM_CHECK},
};

enum xtagkind { XT_NEW, XT_RECV, XT_CLOSE, XT_SEND, XT_STATUS, XT_SHUTDOWN };

struct xcall;
struct xtag {
	struct xcall *c;
	enum xtagkind kind;
};

/* One call from request to destruction. Everything below is guarded by mu. */
struct xcall {
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv_buf, *send_buf;
	int cancelled, closed, md_sent, status_sent, pending;
	enum xmethod method;
	struct xtag t_new, t_recv, t_close, t_send, t_status;
	grpc_slice status_details;
	/* GetEvents */
	int streaming;
	struct xfilter *filter;
	struct xfields *fields; /* NULL: the event as it is */
	grpc_slice *q;
	size_t q_head, q_len;
	uint64_t dropped_unreported;
	struct xcall *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static grpc_server *server;
static grpc_completion_queue *cq;
static pthread_t thread;
static int started;
static struct xgrpc_opts opts;

static uint8_t *xg_pack(const ProtobufCMessage *m, size_t *len);

#define XG_POL_MAX 256

struct xg_pol {
	char name[128];
	int enforce;
	uint64_t matches;
};

/* Merge one evaluator's "policies" info ("name (mode), ...") and its per-policy match
 * counters into pols. Every evaluator loads the same set, so names are merged and
 * their matches summed. */
static size_t xg_merge_policies(const msgpack_object *st, struct xg_pol *pols, size_t n)
{
	const msgpack_object *counters = wire_get(st, "counters");
	const char *s = NULL;
	size_t sl = 0, i;

	if (wire_get_str(wire_get(st, "info"), "policies", &s, &sl) < 0)
		return n;
	while (sl > 0) {
		const char *end = memchr(s, ',', sl), *paren;
		size_t len = end ? (size_t)(end - s) : sl;
		char item[160], cname[200];
		uint64_t m = 0;

		snprintf(item, sizeof(item), "%.*s", (int)len, s);
		s += len;
		sl -= len;
		if (sl) { /* skip ", " */
			s++;
			sl--;
		}
		while (*item == ' ')
			memmove(item, item + 1, strlen(item));
		paren = strstr(item, " (");
		if (!paren || !strcmp(item, "none"))
			continue;
		item[paren - item] = '\0';
		snprintf(cname, sizeof(cname), "policy.%s.matches", item);
		wire_get_u64(counters, cname, &m);
		for (i = 0; i < n && strcmp(pols[i].name, item); i++)
			;
		if (i == n) {
			if (n == XG_POL_MAX)
				continue;
			snprintf(pols[n].name, sizeof(pols[n].name), "%s", item);
			pols[n].enforce = strncmp(paren + 2, "enforce", 7) == 0;
			pols[n].matches = 0;
			n++;
		}
		pols[i].matches += m;
	}
	return n;
}

/* ListTracingPolicies: the policies the evaluators (every evaluator*.ctl in the run
 * directory) have in force, with their mode and match counts. */
static uint8_t *xg_list_policies(size_t *rlen)
{
	static char buf[1 << 20];
	Tetragon__ListTracingPoliciesResponse r = TETRAGON__LIST_TRACING_POLICIES_RESPONSE__INIT;
	Tetragon__TracingPolicyStatus *st = NULL, **sp = NULL;
	Tetragon__TracingPolicyStats *stats = NULL;
	Tetragon__TracingPolicyActionCounters *ac = NULL;
	struct xg_pol *pols = calloc(XG_POL_MAX, sizeof(*pols));
	char info[XG_POL_MAX][48];
	size_t n = 0, i;
	uint8_t *resp;
	void *zctx = NULL;
	DIR *d = opts.rundir ? opendir(opts.rundir) : NULL;
	struct dirent *de;

	if (pols && d && (zctx = zmq_ctx_new())) {
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			char name[256];
			msgpack_unpacked up;

			if (l < 13 || l > 200 || strncmp(de->d_name, "evaluator", 9) ||
			    strcmp(de->d_name + l - 4, ".ctl"))
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)(l - 4), de->d_name);
			if (ctl_status(zctx, opts.rundir, name, 500, buf, sizeof(buf), &up) < 0)
				continue;
			n = xg_merge_policies(&up.data, pols, n);
			msgpack_unpacked_destroy(&up);
		}
	}
	if (d)
		closedir(d);
	if (zctx)
		zmq_ctx_term(zctx);
	if (n) {
		st = calloc(n, sizeof(*st));
		sp = calloc(n, sizeof(*sp));
		stats = calloc(n, sizeof(*stats));
		ac = calloc(n, sizeof(*ac));
	}
	for (i = 0; st && sp && stats && ac && i < n; i++) {
		tetragon__tracing_policy_status__init(&st[i]);
		tetragon__tracing_policy_stats__init(&stats[i]);
		tetragon__tracing_policy_action_counters__init(&ac[i]);
		st[i].id = i + 1;
		st[i].name = pols[i].name;
		st[i].enabled = 1;
		st[i].state = TETRAGON__TRACING_POLICY_STATE__TP_STATE_ENABLED;
		st[i].mode = pols[i].enforce ? TETRAGON__TRACING_POLICY_MODE__TP_MODE_ENFORCE
					     : TETRAGON__TRACING_POLICY_MODE__TP_MODE_MONITOR;
		snprintf(info[i], sizeof(info[i]), "%llu matches",
			 (unsigned long long)pols[i].matches);
		st[i].info = info[i];
		ac[i].post = pols[i].matches; /* every match is reported (posted) */
		stats[i].action_counters = &ac[i];
		st[i].stats = &stats[i];
		sp[i] = &st[i];
		r.n_policies++;
	}
	r.policies = sp;
	resp = xg_pack(&r.base, rlen);
	free(st);
	free(sp);
	free(stats);
	free(ac);
	free(pols);
	return resp;
}
static struct xcall *clients;
static atomic_int nclients;
static struct xgrpc_stats stats;
static int stopping;
static struct xtag shutdown_tag = {NULL, XT_SHUTDOWN};

static void xg_pump(struct xcall *c);

/* Read a whole file into a NUL-terminated malloc'd string; NULL with errno. */
static char *xg_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0 && len < (1u << 20));
	fclose(f);
	buf[len] = 0;
	return buf;
}

/* Start a batch on a call, counting it as pending. */
static void xg_batch(struct xcall *c, const grpc_op *ops, size_t n, struct xtag *tag)
{
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);

	if (e != GRPC_CALL_OK) {
		log_warn("grpc: start_batch: error %d", (int)e);
		return;
	}
	c->pending++;
}

/* Ask the core for the next incoming call. */
static void xg_request_call(void)
{
	struct xcall *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->t_new = (struct xtag){c, XT_NEW};
	c->t_recv = (struct xtag){c, XT_RECV};
	c->t_close = (struct xtag){c, XT_CLOSE};
	c->t_send = (struct xtag){c, XT_SEND};
	c->t_status = (struct xtag){c, XT_STATUS};
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, &c->t_new) !=
	    GRPC_CALL_OK) {
		grpc_call_details_destroy(&c->details);
		grpc_metadata_array_destroy(&c->md);
		free(c);
	}
}

/* Free a call whose operations have all completed. */
static void xg_destroy(struct xcall *c)
{
	if (c->streaming) {
		struct xcall **pp = &clients;
		while (*pp && *pp != c)
			pp = &(*pp)->next;
		if (*pp) {
			*pp = c->next;
			atomic_fetch_sub(&nclients, 1);
		}
		for (size_t i = 0; i < c->q_len; i++)
			grpc_slice_unref(c->q[(c->q_head + i) % opts.queue_len]);
		stats.queued -= c->q_len;
		free(c->q);
		xfilter_free(c->filter);
		xfields_free(c->fields);
	}
	if (c->recv_buf)
		grpc_byte_buffer_destroy(c->recv_buf);
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	if (c->status_sent)
		grpc_slice_unref(c->status_details);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

/* Finish the call with a status (and, for unary calls, one response). */
static void xg_finish(struct xcall *c, grpc_status_code code, const char *msg, uint8_t *resp,
		      size_t resp_len)
{
	grpc_op ops[3];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (!c->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->md_sent = 1;
	}
	if (resp) {
		grpc_slice s = grpc_slice_new(resp, resp_len, free);
		c->send_buf = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_buf;
	}
	c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
	c->status_sent = 1;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = &c->status_details;
	n++;
	xg_batch(c, ops, n, &c->t_status);
}

/* Pack a protobuf-c message into a malloc'd buffer. */
static uint8_t *xg_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n ? n : 1);

	if (!b)
		abort();
	*len = protobuf_c_message_pack(m, b);
	return b;
}

/* Answer a unary call from its request bytes. */
static void xg_unary(struct xcall *c, const uint8_t *req, size_t len)
{
	uint8_t *resp = NULL;
	size_t rlen = 0;

	stats.unary++;
	switch (c->method) {
	case XM_HEALTH: {
		Tetragon__GetHealthStatusResponse r = TETRAGON__GET_HEALTH_STATUS_RESPONSE__INIT;
		Tetragon__HealthStatus hs = TETRAGON__HEALTH_STATUS__INIT, *hp = &hs;
		hs.event = TETRAGON__HEALTH_STATUS_TYPE__HEALTH_STATUS_TYPE_STATUS;
		hs.status = TETRAGON__HEALTH_STATUS_RESULT__HEALTH_STATUS_RUNNING;
		hs.details = "running";
		r.n_health_status = 1;
		r.health_status = &hp;
		resp = xg_pack(&r.base, &rlen);
		break;
	}
	case XM_VERSION: {
		Tetragon__GetVersionResponse r = TETRAGON__GET_VERSION_RESPONSE__INIT;
		r.version = (char *)(opts.version ? opts.version : "unknown");
		resp = xg_pack(&r.base, &rlen);
		break;
	}
	case XM_POLICIES:
		resp = xg_list_policies(&rlen);
		break;
	case XM_CHECK: {
		Grpc__Health__V1__HealthCheckRequest *q =
			grpc__health__v1__health_check_request__unpack(NULL, len, req);
		Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
		if (!q) {
			xg_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "bad HealthCheckRequest", NULL, 0);
			return;
		}
		if (q->service[0] && strcmp(q->service, "tetragon.FineGuidanceSensors") != 0) {
			grpc__health__v1__health_check_request__free_unpacked(q, NULL);
			xg_finish(c, GRPC_STATUS_NOT_FOUND, "unknown service", NULL, 0);
			return;
		}
		grpc__health__v1__health_check_request__free_unpacked(q, NULL);
		r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
		resp = xg_pack(&r.base, &rlen);
		break;
	}
	default:
		break;
	}
	xg_finish(c, GRPC_STATUS_OK, NULL, resp, rlen);
}

/* A GetEvents request: compile its filters and register the client. */
static void xg_events(struct xcall *c, const uint8_t *req, size_t len)
{
	Tetragon__GetEventsRequest *q = tetragon__get_events_request__unpack(NULL, len, req);
	char err[256];
	grpc_op op;

	if (!q) {
		stats.rejected++;
		xg_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "bad GetEventsRequest", NULL, 0);
		return;
	}
	if (q->aggregation_options) {
		tetragon__get_events_request__free_unpacked(q, NULL);
		stats.rejected++;
		xg_finish(c, GRPC_STATUS_UNIMPLEMENTED,
			  "aggregation_options are not supported by vigil yet", NULL, 0);
		return;
	}
	c->fields = xfields_compile(q->field_filters, q->n_field_filters, err, sizeof(err));
	if (!c->fields && err[0]) {
		tetragon__get_events_request__free_unpacked(q, NULL);
		stats.rejected++;
		xg_finish(c, GRPC_STATUS_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	c->filter = xfilter_compile(q, err, sizeof(err));
	tetragon__get_events_request__free_unpacked(q, NULL);
	if (!c->filter) {
		stats.rejected++;
		xg_finish(c, GRPC_STATUS_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	c->streaming = 1;
	c->q = calloc(opts.queue_len, sizeof(grpc_slice));
	if (!c->q)
		abort();
	c->next = clients;
	clients = c;
	atomic_fetch_add(&nclients, 1);
	stats.clients_total++;
	/* headers now, so a client knows it is subscribed before the first event;
	 * the send slot is busy until they are out */
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	c->md_sent = 1;
	c->streaming = 2; /* 2: initial metadata in flight */
	xg_batch(c, &op, 1, &c->t_send);
}

/* A new call arrived: arm close notification and read its request. */
static void xg_on_new(struct xcall *c)
{
	grpc_op op;
	char path[128];
	size_t n = GRPC_SLICE_LENGTH(c->details.method);

	if (n >= sizeof(path))
		n = sizeof(path) - 1;
	memcpy(path, GRPC_SLICE_START_PTR(c->details.method), n);
	path[n] = 0;
	for (size_t i = 0; i < sizeof(xmethods) / sizeof(xmethods[0]); i++)
		if (strcmp(path, xmethods[i].path) == 0)
			c->method = xmethods[i].m;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	xg_batch(c, &op, 1, &c->t_close);
	if (c->method == XM_UNKNOWN) {
		stats.unimplemented++;
		xg_finish(c, GRPC_STATUS_UNIMPLEMENTED, "method not served by vigil", NULL, 0);
		return;
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_buf;
	xg_batch(c, &op, 1, &c->t_recv);
}

/* The request message arrived (or the client half-closed without one). */
static void xg_on_recv(struct xcall *c)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;

	if (!c->recv_buf) {
		xg_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message", NULL, 0);
		return;
	}
	if (!grpc_byte_buffer_reader_init(&rd, c->recv_buf)) {
		xg_finish(c, GRPC_STATUS_INTERNAL, "cannot read request", NULL, 0);
		return;
	}
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	if (c->method == XM_EVENTS)
		xg_events(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
	else
		xg_unary(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
	grpc_slice_unref(s);
}

/* Start the next send of a streaming client if its slot is free. Under mu. */
static void xg_pump(struct xcall *c)
{
	grpc_op op;
	grpc_slice s;

	if (c->streaming != 1 || c->closed || c->send_buf || stopping)
		return;
	if (c->dropped_unreported) {
		size_t len;
		uint8_t *b = xpb_rate_limit_info(c->dropped_unreported, opts.node_name, &len);
		if (!b)
			return;
		s = grpc_slice_new(b, len, free);
		c->dropped_unreported = 0;
		stats.rate_limit_info++;
	} else if (c->q_len) {
		s = c->q[c->q_head];
		c->q_head = (c->q_head + 1) % opts.queue_len;
		c->q_len--;
		stats.queued--;
	} else
		return;
	c->send_buf = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = c->send_buf;
	xg_batch(c, &op, 1, &c->t_send);
}

/* A send on a stream completed: free its buffer, send the next one. */
static void xg_on_send(struct xcall *c, int ok)
{
	if (c->streaming == 2) {
		c->streaming = 1;
	} else {
		if (c->send_buf)
			grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
		if (ok)
			stats.sent++;
	}
	if (!ok)
		c->closed = 1;
	xg_pump(c);
}

/* The completion-queue thread. */
static void *xg_thread(void *arg)
{
	(void)arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct xtag *t;
		struct xcall *c;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE || !ev.tag)
			continue;
		t = ev.tag;
		c = t->c;
		if (t->kind == XT_SHUTDOWN) { /* every call is gone: no more events will come */
			grpc_completion_queue_shutdown(cq);
			continue;
		}
		pthread_mutex_lock(&mu);
		switch (t->kind) {
		case XT_NEW:
			if (!ev.success) { /* server shutting down */
				grpc_call_details_destroy(&c->details);
				grpc_metadata_array_destroy(&c->md);
				free(c);
				pthread_mutex_unlock(&mu);
				continue;
			}
			if (!stopping)
				xg_request_call();
			xg_on_new(c);
			break;
		case XT_RECV:
			c->pending--;
			if (ev.success && !c->closed)
				xg_on_recv(c);
			break;
		case XT_CLOSE:
			c->pending--;
			c->closed = 1;
			break;
		case XT_SEND:
			c->pending--;
			xg_on_send(c, ev.success);
			break;
		case XT_STATUS:
			c->pending--;
			break;
		case XT_SHUTDOWN:
			break;
		}
		if (c->pending == 0)
			xg_destroy(c);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int xgrpc_start(const struct xgrpc_opts *o, char *err, size_t errlen)
{
	grpc_server_credentials *creds;
	int is_unix = strncmp(o->address, "unix:", 5) == 0;

	opts = *o;
	if (!opts.queue_len)
		opts.queue_len = 1;
	if (o->plaintext && !is_unix) {
		snprintf(err, errlen, "plaintext gRPC is only allowed on a unix: address, not %s",
			 o->address);
		return -1;
	}
	if (o->plaintext) {
		creds = grpc_insecure_server_credentials_create();
	} else {
		char *cert = xg_slurp(o->cert), *key = NULL, *ca = NULL;
		const char *bad = cert ? NULL : o->cert;
		if (!bad && !(key = xg_slurp(o->key)))
			bad = o->key;
		if (!bad && o->client_ca && !(ca = xg_slurp(o->client_ca)))
			bad = o->client_ca;
		if (bad) {
			snprintf(err, errlen, "TLS file %s: %s", bad, strerror(errno));
			free(cert);
			free(key);
			return -1;
		}
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
		creds = grpc_ssl_server_credentials_create_ex(
			ca, &pair, 1,
			ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
			   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
			NULL);
		free(cert);
		free(key);
		free(ca);
		if (!creds) {
			snprintf(err, errlen, "bad TLS certificate or key (%s, %s)", o->cert, o->key);
			return -1;
		}
	}
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	int port = grpc_server_add_http2_port(server, o->address, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		snprintf(err, errlen, "cannot listen on %s (address in use, or bad TLS material)",
			 o->address);
		grpc_server_destroy(server);
		grpc_completion_queue_shutdown(cq);
		while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(cq);
		server = NULL;
		cq = NULL;
		grpc_shutdown();
		return -1;
	}
	grpc_server_start(server);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < 4; i++) /* a few calls may be accepted at once */
		xg_request_call();
	pthread_mutex_unlock(&mu);
	if (pthread_create(&thread, NULL, xg_thread, NULL) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(errno));
		return -1;
	}
	started = 1;
	return 0;
}

int xgrpc_active(void)
{
	return atomic_load_explicit(&nclients, memory_order_relaxed) > 0;
}

/* Queue s for client c, or count a drop when its queue is full. Under mu. */
static void xg_enqueue(struct xcall *c, grpc_slice s)
{
	if (c->q_len == opts.queue_len) {
		c->dropped_unreported++;
		stats.client_drops++;
		return;
	}
	c->q[(c->q_head + c->q_len) % opts.queue_len] = grpc_slice_ref(s);
	c->q_len++;
	stats.queued++;
	xg_pump(c);
}

void xgrpc_publish(const char *type, const msgpack_object *ev)
{
	int t;
	grpc_slice s;
	int have = 0;

	if (!xgrpc_active())
		return;
	t = xpb_event_type(type);
	if (!t)
		return;
	pthread_mutex_lock(&mu);
	for (struct xcall *c = clients; c; c = c->next) {
		if (c->closed || !xfilter_match(c->filter, t, ev))
			continue;
		if (c->fields) { /* its own view of the event: encoded for this client only */
			msgpack_zone z;
			size_t len;
			uint8_t *b;
			msgpack_zone_init(&z, 4096);
			b = xpb_event(type, xfields_apply(c->fields, t, ev, &z), &len);
			msgpack_zone_destroy(&z);
			if (b) {
				grpc_slice own = grpc_slice_new(b, len, free);
				xg_enqueue(c, own);
				grpc_slice_unref(own);
			}
			continue;
		}
		if (!have) {
			size_t len;
			uint8_t *b = xpb_event(type, ev, &len);
			if (!b)
				break;
			s = grpc_slice_new(b, len, free);
			have = 1;
		}
		xg_enqueue(c, s);
	}
	if (have)
		grpc_slice_unref(s);
	pthread_mutex_unlock(&mu);
}

void xgrpc_get_stats(struct xgrpc_stats *s)
{
	pthread_mutex_lock(&mu);
	*s = stats;
	s->clients = (uint64_t)atomic_load(&nclients);
	pthread_mutex_unlock(&mu);
}

void xgrpc_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_mutex_unlock(&mu);
	/* the thread shuts the queue down when the server's tag arrives, then ends */
	grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
	grpc_server_cancel_all_calls(server);
	pthread_join(thread, NULL);
	grpc_server_destroy(server);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	started = 0;
}
