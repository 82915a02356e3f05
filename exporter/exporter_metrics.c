/* exporter_metrics: /metrics over a small HTTP/1.1 server of its own (one thread, one
 * request per connection); see exporter_metrics.h. */
#include "exporter_metrics.h"
#include "exporter_delay.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "log.h"
#include "wire.h"

#define XM_MAX_STAGES 64
#define XM_REPLY_MAX (1u << 20)
#define XM_TIMEOUT_MS 1000
#define XM_HEAD_MAX (16u << 10)  /* a request head longer than this gets 431 */
#define XM_MAX_CONNS 32
#define XM_CONN_TIMEOUT_S 10     /* a client that sends no whole head by then is dropped */
#define XM_DRAIN_MS 1000         /* after the answer: how long the rest of a request is read */
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

static pthread_t thr;
static int running, listen_fd = -1, stop_pipe[2] = {-1, -1};
static char *rundir;
static void *zctx;
static atomic_ullong n_scrapes, n_bad, n_malformed;

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

/* The value of counter key in the map c; 0 when absent. */
static uint64_t xm_counter(const msgpack_object *c, const char *key)
{
	size_t kl = strlen(key);

	for (uint32_t i = 0; c && i < c->via.map.size; i++) {
		const msgpack_object_kv *kv = &c->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == kl &&
		    memcmp(kv->key.via.str.ptr, key, kl) == 0 &&
		    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			return kv->val.via.u64;
	}
	return 0;
}

/* vigil_event_delay_seconds: the exporters' per-bucket delay counters (exporter_delay.h)
 * summed over the instances and made cumulative; nothing when no exporter has them. */
static void xm_delay(const char *const *names, const msgpack_object *const *ctr, size_t n,
		     struct strbuf *out)
{
	uint64_t cum = 0, sum_us = 0, count = 0;
	char key[64];
	int have = 0;

	for (size_t s = 0; s < n; s++)
		if (ctr[s] && xm_is_kind(names[s], strlen(names[s]), "exporter") &&
		    wire_get(ctr[s], XDELAY_COUNT))
			have = 1;
	if (!have)
		return;
	XM_LIT(out, "# HELP vigil_event_delay_seconds Time from the kernel's timestamp of an "
		    "event to its export.\n# TYPE vigil_event_delay_seconds histogram\n");
	for (size_t b = 0; b <= xdelay_nbounds; b++) {
		if (b < xdelay_nbounds)
			snprintf(key, sizeof(key), XDELAY_BUCKET "%llu",
				 (unsigned long long)xdelay_bounds_us[b]);
		else
			snprintf(key, sizeof(key), XDELAY_BUCKET "inf");
		for (size_t s = 0; s < n; s++)
			if (ctr[s] && xm_is_kind(names[s], strlen(names[s]), "exporter"))
				cum += xm_counter(ctr[s], key);
		if (b < xdelay_nbounds)
			strbuf_appendf(out, "vigil_event_delay_seconds_bucket{le=\"%g\"} %llu\n",
				       (double)xdelay_bounds_us[b] / 1e6, (unsigned long long)cum);
		else
			strbuf_appendf(out, "vigil_event_delay_seconds_bucket{le=\"+Inf\"} %llu\n",
				       (unsigned long long)cum);
	}
	for (size_t s = 0; s < n; s++)
		if (ctr[s] && xm_is_kind(names[s], strlen(names[s]), "exporter")) {
			sum_us += xm_counter(ctr[s], XDELAY_SUM);
			count += xm_counter(ctr[s], XDELAY_COUNT);
		}
	strbuf_appendf(out, "vigil_event_delay_seconds_sum %.6f\nvigil_event_delay_seconds_count %llu\n",
		       (double)sum_us / 1e6, (unsigned long long)count);
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
	xm_delay(names, ctr, n, out);
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

/* One client connection of the metrics server: its request head as read so far. */
struct xm_conn {
	int fd;
	int draining;		/* answered: what else comes is read and dropped */
	size_t len;
	int64_t deadline_ms;
	char buf[XM_HEAD_MAX];
};

/* Send all of buf (the socket is blocking with a send timeout); -1 on failure. */
static int xm_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Answer and close: status line, our headers, the body unless head_only. */
static void xm_respond(int fd, unsigned code, const char *reason, const char *ctype,
		       const char *body, size_t len, int head_only)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", code, reason, ctype, len);
	struct timeval tv = {.tv_sec = XM_CONN_TIMEOUT_S};
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (xm_send_all(fd, hdr, (size_t)n) == 0 && !head_only)
		xm_send_all(fd, body, len);
}

/* A whole request head is in c->buf: answer it. GET/HEAD /metrics only; the rest of
 * the request (headers, any body) is not needed and the connection closes. */
static void xm_serve(struct xm_conn *c)
{
	static const char text[] = "text/plain; charset=utf-8";
	char *sp1, *sp2, *eol = memchr(c->buf, '\n', c->len);
	size_t mlen, plen;
	int head;

	sp1 = eol ? memchr(c->buf, ' ', (size_t)(eol - c->buf)) : NULL;
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		n_malformed++;
		xm_respond(c->fd, 400, "Bad Request", text, "bad request\n", 12, 0);
		return;
	}
	mlen = (size_t)(sp1 - c->buf);
	plen = (size_t)(sp2 - sp1 - 1);
	head = mlen == 4 && memcmp(c->buf, "HEAD", 4) == 0;
	if (!head && !(mlen == 3 && memcmp(c->buf, "GET", 3) == 0)) {
		n_bad++;
		xm_respond(c->fd, 405, "Method Not Allowed", text, "method not allowed\n", 19, 0);
		return;
	}
	if (memchr(sp1 + 1, '?', plen)) /* a query string changes nothing */
		plen = (size_t)((char *)memchr(sp1 + 1, '?', plen) - sp1 - 1);
	if (plen != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0) {
		n_bad++;
		xm_respond(c->fd, 404, "Not Found", text, "not found: try /metrics\n", 24, head);
		return;
	}
	struct strbuf sb;

	strbuf_init(&sb);
	xm_scrape(&sb);
	n_scrapes++;
	xm_respond(c->fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
		   sb.buf ? sb.buf : "", sb.len, head);
	strbuf_free(&sb);
}

/*
 * Answered: our side is done (FIN after the answer), and the connection stays until the
 * client closes or XM_DRAIN_MS pass, its bytes read and dropped. Closing a socket with
 * unread bytes (a POST's body, headers past the head) sends a reset, and a client
 * that gets it before it has read the answer loses the answer.
 */
static void xm_drain_start(struct xm_conn *c)
{
	shutdown(c->fd, SHUT_WR);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK); /* xm_respond blocked it */
	c->draining = 1;
	c->deadline_ms = xm_now_ms() + XM_DRAIN_MS;
}

/* Read what a connection sent; 1 when it is finished (its client closed, or it was
 * dropped), 0 while it stays. */
static int xm_read(struct xm_conn *c)
{
	ssize_t n;

	if (c->draining) {
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		return n < 0 ? errno != EAGAIN && errno != EINTR : n == 0;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return 1; /* the client went away before a whole request */
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (memmem(c->buf, c->len, "\r\n\r\n", 4) || memmem(c->buf, c->len, "\n\n", 2)) {
		xm_serve(c);
		xm_drain_start(c);
		return 0;
	}
	if (c->len == sizeof(c->buf) - 1) { /* no end of head in 16 KiB */
		n_malformed++;
		xm_respond(c->fd, 431, "Request Header Fields Too Large",
			   "text/plain; charset=utf-8", "request head too large\n", 23, 0);
		xm_drain_start(c);
		return 0;
	}
	return 0;
}

/* The server thread: one poll over the listening socket, the clients and the stop pipe.
 * Clients are served one request each, in turn; a scrape takes at most about a second. */
static void *xm_main(void *arg)
{
	struct xm_conn *conns[XM_MAX_CONNS] = {0};
	struct pollfd pfd[XM_MAX_CONNS + 2];
	size_t i, n;

	(void)arg;
	for (;;) {
		int64_t now = xm_now_ms();

		pfd[0] = (struct pollfd){.fd = stop_pipe[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		for (i = 0, n = 2; i < XM_MAX_CONNS; i++) {
			if (conns[i] && conns[i]->deadline_ms <= now) { /* too slow: drop it */
				if (!conns[i]->draining)
					n_malformed++; /* answered ones were counted then */
				close(conns[i]->fd);
				free(conns[i]);
				conns[i] = NULL;
			}
			if (conns[i])
				pfd[n++] = (struct pollfd){.fd = conns[i]->fd, .events = POLLIN};
		}
		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (i = 0, n = 2; i < XM_MAX_CONNS; i++) {
			if (!conns[i])
				continue;
			if (pfd[n++].revents && xm_read(conns[i])) {
				close(conns[i]->fd);
				free(conns[i]);
				conns[i] = NULL;
			}
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			for (i = 0; fd >= 0 && i < XM_MAX_CONNS && conns[i]; i++)
				;
			if (fd >= 0 && (i == XM_MAX_CONNS || !(conns[i] = malloc(sizeof(**conns))))) {
				close(fd); /* at the connection limit */
				fd = -1;
			}
			if (fd >= 0) {
				conns[i]->fd = fd;
				conns[i]->draining = 0;
				conns[i]->len = 0;
				conns[i]->deadline_ms = xm_now_ms() + XM_CONN_TIMEOUT_S * 1000;
			}
		}
	}
	for (i = 0; i < XM_MAX_CONNS; i++)
		if (conns[i]) {
			close(conns[i]->fd);
			free(conns[i]);
		}
	return NULL;
}

int xmetrics_start(const char *address, const char *dir, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL,
			*a;
	char host[256];
	const char *colon = strrchr(address, ':'), *h = address;
	size_t hl;
	int rc, one = 1;

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
	listen_fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd >= 0)
		setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_fd < 0 || bind(listen_fd, a->ai_addr, a->ai_addrlen) < 0 ||
	    listen(listen_fd, 16) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (pipe2(stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	rundir = strdup(dir);
	zctx = zmq_ctx_new();
	if (pthread_create(&thr, NULL, xm_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the metrics thread");
		zmq_ctx_term(zctx);
		zctx = NULL;
		close(listen_fd);
		close(stop_pipe[0]);
		close(stop_pipe[1]);
		listen_fd = -1;
		free(rundir);
		rundir = NULL;
		return -1;
	}
	running = 1;
	return 0;
}

void xmetrics_get_stats(struct xmetrics_stats *s)
{
	s->scrapes = n_scrapes;
	s->bad_requests = n_bad;
	s->malformed = n_malformed;
}

void xmetrics_stop(void)
{
	if (!running)
		return;
	if (write(stop_pipe[1], "x", 1) != 1)
		log_warn("metrics: cannot wake the server thread");
	pthread_join(thr, NULL);
	running = 0;
	close(listen_fd);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	listen_fd = -1;
	zmq_ctx_term(zctx);
	zctx = NULL;
	free(rundir);
	rundir = NULL;
}
