/* stage.c — see stage.h. */
#include "stage.h"
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#define WATCH_MAX 32
#define INFO_MAX 32
#define OUTQ_MAX 16
/* A batch (docs/wire.md §2): at most this many envelopes or bytes per ZeroMQ message.
 * High-water marks count messages, so PUSH sockets get hwm / BATCH_HWM_DIV. */
#define BATCH_MAX 16
#define BATCH_BYTES (256u << 10)
#define BATCH_HWM_DIV 16
/* The scheduler slice every thread of a stage asks for (--sched-slice-us), µs. */
#define SLICE_US_DEFAULT 100
/* The longest the loop sleeps without re-checking every ZeroMQ socket. */
#define STAGE_SAFETY_MS 5000
/* Free heap memory goes back to the kernel (a burst's queues and buffers) once the
 * stage has been quiet this long, or every STAGE_TRIM_EVERY_MS while it works, so
 * resident memory follows the load down again. */
#define STAGE_TRIM_QUIET_MS 1000
#define STAGE_TRIM_EVERY_MS 10000
#define STAGE_TRIM_MIN_FREE (4u << 20) /* free bytes in the heap worth giving back */

enum stage_state { ST_STARTING, ST_RUNNING, ST_STOPPING };
static const char *const stage_state_name[] = { "starting", "running", "stopping" };

struct watch {
	void *sock;
	int fd;     /* the raw fd, or the ZeroMQ socket's ZMQ_FD */
	int dirty;  /* a ZeroMQ socket touched since its last ZMQ_EVENTS check */
	stage_cb cb;
	void *arg;
};

struct info {
	char key[48];
	char *val;
};

/* Envelopes sent on one socket since the loop last slept: one multipart message. */
struct outq {
	void *sock;
	zmq_msg_t *m;
	size_t n, cap, bytes;
};

struct stage {
	const struct stage_def *def;
	const char *name;
	const char *rundir;
	const char *config;
	const char *notify_fd;
	const char *batch;
	const char *slice;	/* --sched-slice-us */
	int debug;
	void *zctx;
	void *ctl;
	void *tap;
	int tap_subs;
	int sigfd;
	enum stage_state state;
	int exit_code;
	uint64_t started_ns;
	struct counters counters;
	struct state *statef;
	struct watch watch[WATCH_MAX];
	int nwatch;
	struct info info[INFO_MAX];
	int ninfo;
	uint64_t *c_tap_out, *c_ctl_req, *c_ctl_bad;
	uint64_t timer_ns;   /* current timer period; 0: disarmed */
	uint64_t next_timer; /* monotonic ns of the next timer call */
	int ctl_watch, tap_watch; /* indexes of the control socket and the tap in watch[] */
	struct outq outq[OUTQ_MAX];
	int noutq;
	struct outq tapq;    /* the tap's pending batch */
	int busy;            /* worked since the last quiet second */
	uint64_t last_work_ns, last_trim_ns;
	int batch_max;       /* 1: every envelope is its own message */
	uint64_t *c_batches;
};

const char *stage_name(const struct stage *st) { return st->name; }
const char *stage_rundir(const struct stage *st) { return st->rundir; }
void *stage_zctx(struct stage *st) { return st->zctx; }
struct counters *stage_counters(struct stage *st) { return &st->counters; }
struct state *stage_state(struct stage *st) { return st->statef; }
int stage_stopping(const struct stage *st) { return st->state == ST_STOPPING; }
int stage_tap_active(const struct stage *st) { return st->tap_subs > 0; }

uint64_t *stage_counter(struct stage *st, const char *name)
{
	return counters_get(&st->counters, name);
}

void stage_stop(struct stage *st, int code)
{
	if (st->state != ST_STOPPING)
		st->exit_code = code;
	st->state = ST_STOPPING;
}

void stage_info(struct stage *st, const char *key, const char *fmt, ...)
{
	struct info *in = NULL;
	va_list ap;
	int i;

	for (i = 0; i < st->ninfo; i++)
		if (strcmp(st->info[i].key, key) == 0)
			in = &st->info[i];
	if (!in) {
		if (st->ninfo == INFO_MAX)
			return;
		in = &st->info[st->ninfo++];
		snprintf(in->key, sizeof(in->key), "%s", key);
		in->val = NULL;
	}
	free(in->val);
	va_start(ap, fmt);
	if (vasprintf(&in->val, fmt, ap) < 0)
		log_panic("out of memory");
	va_end(ap);
}

const char *stage_endpoint(const struct stage *st, const char *name, const char *suffix,
			   char *buf, size_t len)
{
	snprintf(buf, len, "ipc://%s/%s.%s", st->rundir, name ? name : st->name, suffix);
	return buf;
}

void stage_watch(struct stage *st, void *sock, int fd, stage_cb cb, void *arg)
{
	size_t len = sizeof(fd);

	if (st->nwatch == WATCH_MAX)
		log_panic("too many watched sockets");
	/* A ZeroMQ socket is polled through its ZMQ_FD (edge-like: see stage_loop). */
	if (sock && zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0)
		log_panic("ZMQ_FD: %s", zmq_strerror(zmq_errno()));
	st->watch[st->nwatch++] = (struct watch){ sock, fd, 1, cb, arg };
}

void stage_set_timer(struct stage *st, unsigned ms)
{
	st->timer_ns = ms * 1000000ull;
	st->next_timer = ms ? mono_ns() + st->timer_ns : 0;
}

void *stage_socket(struct stage *st, int type, int hwm)
{
	int linger = 500;
	void *s = zmq_socket(st->zctx, type);

	if (!s)
		log_fatal(EXIT_TEMP, 0, "zmq_socket: %s", zmq_strerror(zmq_errno()));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (hwm > 0) {
		int snd = hwm, rcv = hwm;

		/* A receive queue is divided less: one that is full when its producer
		 * disconnects loses what was still in flight (ZeroMQ drops it with the
		 * connection; measured with a quarter of the depth, not with a sixteenth). */
		if (st->batch_max > 1 && hwm >= 64) {
			snd = type == ZMQ_PUSH ? hwm / BATCH_HWM_DIV : hwm;
			rcv = type == ZMQ_PULL ? hwm / 4 : hwm;
		}
		zmq_setsockopt(s, ZMQ_SNDHWM, &snd, sizeof(snd));
		zmq_setsockopt(s, ZMQ_RCVHWM, &rcv, sizeof(rcv));
	}
	return s;
}

int stage_bind(struct stage *st, void *sock, const char *endpoint)
{
	/* A stale ipc file from a killed predecessor is harmless: zmq unlinks and rebinds. */
	if (zmq_bind(sock, endpoint) < 0) {
		log_error("bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
		return -1;
	}
	if (strncmp(endpoint, "ipc://", 6) == 0)
		chmod(endpoint + 6, 0600);
	(void)st;
	log_debug("bound %s", endpoint);
	return 0;
}

int stage_connect(struct stage *st, void *sock, const char *endpoint)
{
	(void)st;
	if (zmq_connect(sock, endpoint) < 0) {
		log_error("connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
		return -1;
	}
	log_debug("connecting to %s", endpoint);
	return 0;
}

/* Drain the signalfd: SIGTERM/SIGINT ask the loop to end. */
static void stage_on_signal(struct stage *st, void *arg)
{
	struct signalfd_siginfo si;

	(void)arg;
	while (read(st->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			if (st->state != ST_STOPPING)
				log_info("signal %d: stopping", (int)si.ssi_signo);
			stage_stop(st, EXIT_OK);
		}
	}
}

static void stage_on_ctl(struct stage *st, void *arg);

/* Track how many subscribers the tap has; XPUB_VERBOSER reports both subs and unsubs. */
static void stage_on_tap(struct stage *st, void *arg)
{
	char buf[256];
	int n;

	(void)arg;
	while ((n = zmq_recv(st->tap, buf, sizeof(buf), ZMQ_DONTWAIT)) >= 0) {
		if (n >= 1 && buf[0] == 1)
			st->tap_subs++;
		else if (n >= 1 && buf[0] == 0 && st->tap_subs > 0)
			st->tap_subs--;
	}
}

/* Append a copy of buf to a socket's pending batch. */
static void outq_add(struct outq *q, const void *buf, size_t len)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->m = realloc(q->m, q->cap * sizeof(*q->m));
		if (!q->m)
			log_panic("out of memory");
	}
	if (zmq_msg_init_size(&q->m[q->n], len) < 0)
		log_panic("out of memory");
	memcpy(zmq_msg_data(&q->m[q->n]), buf, len);
	q->n++;
	q->bytes += len;
}

/* Publish the tap's pending batch as one message. XPUB never blocks: at a slow
 * subscriber's high-water mark the whole batch is dropped for it (seq gaps show it). */
static void tap_flush(struct stage *st)
{
	struct outq *q = &st->tapq;
	size_t i;

	if (!q->n)
		return;
	st->watch[st->tap_watch].dirty = 1; /* sending may consume its mailbox signal */
	for (i = 0; i < q->n; i++)
		if (zmq_msg_send(&q->m[i], st->tap, (i + 1 < q->n ? ZMQ_SNDMORE : 0) |
				 ZMQ_DONTWAIT) >= 0)
			(*st->c_tap_out)++;
		else
			zmq_msg_close(&q->m[i]);
	q->n = 0;
	q->bytes = 0;
}

void stage_tap(struct stage *st, const void *buf, size_t len)
{
	if (st->tap_subs <= 0)
		return;
	if (st->batch_max > 1) { /* with the loop's other batches: a wakeup per batch */
		outq_add(&st->tapq, buf, len);
		if (st->tapq.n >= (size_t)st->batch_max || st->tapq.bytes >= BATCH_BYTES)
			tap_flush(st);
		return;
	}
	/* XPUB drops for a slow subscriber at its HWM: a tap never slows the pipeline. */
	st->watch[st->tap_watch].dirty = 1; /* sending may consume its mailbox signal */
	if (zmq_send(st->tap, buf, len, ZMQ_DONTWAIT) >= 0)
		(*st->c_tap_out)++;
}

/* Send one message (the first frame of a batch: flags carries ZMQ_SNDMORE), waiting at
 * the high-water mark while still answering signals and status requests. 0, or -1 when
 * the stage is stopping or the socket failed; on success the message is ZeroMQ's. */
static int send_wait(struct stage *st, void *sock, zmq_msg_t *msg, int flags)
{
	zmq_pollitem_t it[3] = {
		{ .fd = st->sigfd, .events = ZMQ_POLLIN },
		{ .socket = st->ctl, .events = ZMQ_POLLIN },
		{ .socket = st->tap, .events = ZMQ_POLLIN },
	};
	int waited = 0;

	for (;;) {
		if (zmq_msg_send(msg, sock, flags | ZMQ_DONTWAIT) >= 0)
			return 0;
		if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
			log_error("send: %s", zmq_strerror(zmq_errno()));
			return -1;
		}
		/* High-water mark or no peer yet: wait, but keep answering signals and
		 * status requests, so a blocked stage is visibly blocked, not dead. */
		if (!waited++)
			(*stage_counter(st, "backpressure"))++;
		if (zmq_poll(it, 3, 10) > 0) {
			if (it[0].revents & ZMQ_POLLIN)
				stage_on_signal(st, NULL);
			if (it[1].revents & ZMQ_POLLIN)
				stage_on_ctl(st, NULL);
			if (it[2].revents & ZMQ_POLLIN)
				stage_on_tap(st, NULL);
		}
		/* zmq_poll touched the ctl and tap sockets: re-check them in the loop */
		st->watch[st->ctl_watch].dirty = 1;
		st->watch[st->tap_watch].dirty = 1;
		if (st->state == ST_STOPPING)
			return -1;
	}
}

/* Send a socket's pending envelopes as one multipart message. Once ZeroMQ took the
 * first frame it takes the rest of the message without blocking. */
static int outq_flush(struct stage *st, struct outq *q)
{
	size_t i;
	int rc = 0;

	if (!q->n)
		return 0;
	if (send_wait(st, q->sock, &q->m[0], q->n > 1 ? ZMQ_SNDMORE : 0) < 0) {
		rc = -1; /* stopping: what we held shows downstream as a gap */
		for (i = 0; i < q->n; i++)
			zmq_msg_close(&q->m[i]);
	} else {
		for (i = 1; i < q->n; i++)
			if (zmq_msg_send(&q->m[i], q->sock, i + 1 < q->n ? ZMQ_SNDMORE : 0) < 0) {
				log_error("send: %s", zmq_strerror(zmq_errno()));
				zmq_msg_close(&q->m[i]);
			}
		(*st->c_batches)++;
	}
	q->n = 0;
	q->bytes = 0;
	return rc;
}

int stage_flush(struct stage *st)
{
	int i, rc = 0;

	for (i = 0; i < st->noutq; i++)
		if (outq_flush(st, &st->outq[i]) < 0)
			rc = -1;
	tap_flush(st);
	return rc;
}

int stage_send(struct stage *st, void *sock, const void *buf, size_t len)
{
	struct outq *q = NULL;
	int i;

	if (st->batch_max <= 1) {
		zmq_msg_t msg;

		zmq_msg_init_size(&msg, len);
		memcpy(zmq_msg_data(&msg), buf, len);
		if (send_wait(st, sock, &msg, 0) < 0) {
			zmq_msg_close(&msg);
			return -1;
		}
		stage_tap(st, buf, len);
		return 0;
	}
	for (i = 0; i < st->noutq && !q; i++)
		if (st->outq[i].sock == sock)
			q = &st->outq[i];
	if (!q) {
		if (st->noutq == OUTQ_MAX)
			log_panic("too many output sockets");
		q = &st->outq[st->noutq++];
		*q = (struct outq){ .sock = sock };
	}
	outq_add(q, buf, len);
	stage_tap(st, buf, len);
	if (q->n >= (size_t)st->batch_max || q->bytes >= BATCH_BYTES)
		return outq_flush(st, q);
	return 0;
}

/* Answer one control request: {v:1, cmd:"status"} gets the status map. */
static void stage_on_ctl(struct stage *st, void *arg)
{
	char req[4096];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	const char *err = NULL;
	size_t i, off = 0;
	int n, more;
	size_t more_len = sizeof(more);

	(void)arg;
	n = zmq_recv(st->ctl, req, sizeof(req), ZMQ_DONTWAIT);
	if (n < 0)
		return;
	(*st->c_ctl_req)++;
	zmq_getsockopt(st->ctl, ZMQ_RCVMORE, &more, &more_len);
	while (more) { /* REP must consume the whole request before replying */
		char junk[64];
		zmq_recv(st->ctl, junk, sizeof(junk), 0);
		zmq_getsockopt(st->ctl, ZMQ_RCVMORE, &more, &more_len);
		err = "multipart request";
	}
	msgpack_unpacked_init(&up);
	if (!err && (n > (int)sizeof(req) ||
		     msgpack_unpack_next(&up, req, (size_t)n, &off) != MSGPACK_UNPACK_SUCCESS))
		err = "malformed request";
	if (!err && up.data.type != MSGPACK_OBJECT_MAP)
		err = "request is not a map";
	if (!err) {
		const msgpack_object_map *m = &up.data.via.map;
		int v = 0, status = 0;

		for (i = 0; i < m->size; i++) {
			const msgpack_object *k = &m->ptr[i].key, *val = &m->ptr[i].val;

			if (k->type != MSGPACK_OBJECT_STR)
				continue;
			if (k->via.str.size == 1 && k->via.str.ptr[0] == 'v' &&
			    val->type == MSGPACK_OBJECT_POSITIVE_INTEGER && val->via.u64 == 1)
				v = 1;
			if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "cmd", 3) == 0 &&
			    val->type == MSGPACK_OBJECT_STR && val->via.str.size == 6 &&
			    memcmp(val->via.str.ptr, "status", 6) == 0)
				status = 1;
		}
		if (!v)
			err = "unsupported version";
		else if (!status)
			err = "unknown command";
	}
	msgpack_unpacked_destroy(&up);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (err) {
		(*st->c_ctl_bad)++;
		msgpack_pack_map(&pk, 2);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_str_with_body(&pk, "error", 5);
		msgpack_pack_str_with_body(&pk, err, strlen(err));
	} else {
		if (st->def->status)
			st->def->status(st);
		msgpack_pack_map(&pk, 7);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_str_with_body(&pk, "stage", 5);
		msgpack_pack_str_with_body(&pk, st->name, strlen(st->name));
		msgpack_pack_str_with_body(&pk, "state", 5);
		msgpack_pack_str_with_body(&pk, stage_state_name[st->state],
					   strlen(stage_state_name[st->state]));
		msgpack_pack_str_with_body(&pk, "pid", 3);
		msgpack_pack_uint32(&pk, (uint32_t)getpid());
		msgpack_pack_str_with_body(&pk, "uptime_ns", 9);
		msgpack_pack_uint64(&pk, mono_ns() - st->started_ns);
		msgpack_pack_str_with_body(&pk, "counters", 8);
		msgpack_pack_map(&pk, st->counters.n);
		for (i = 0; i < st->counters.n; i++) {
			msgpack_pack_str_with_body(&pk, st->counters.c[i].name,
						   strlen(st->counters.c[i].name));
			msgpack_pack_uint64(&pk, st->counters.c[i].value);
		}
		msgpack_pack_str_with_body(&pk, "info", 4);
		msgpack_pack_map(&pk, (size_t)st->ninfo);
		for (i = 0; i < (size_t)st->ninfo; i++) {
			msgpack_pack_str_with_body(&pk, st->info[i].key, strlen(st->info[i].key));
			msgpack_pack_str_with_body(&pk, st->info[i].val, strlen(st->info[i].val));
		}
	}
	zmq_send(st->ctl, sb.data, sb.size, 0);
	msgpack_sbuffer_destroy(&sb);
}

static void stage_usage(const struct stage_def *def, FILE *f)
{
	const struct stage_opt *o;

	fprintf(f, "usage: vigil-%s [options]\n%s\n\n", def->name, def->summary);
	fprintf(f, "  --name NAME        instance name (default %s)\n", def->name);
	fprintf(f, "  --rundir DIR       run directory for sockets and state (default /run/vigil)\n");
	fprintf(f, "  --notify-fd FD     write a readiness line on FD (s6 notification-fd)\n");
	fprintf(f, "  --config FILE      read 'option value' lines (options without --)\n");
	fprintf(f, "  --batch N          at most N envelopes per ZeroMQ message, 1: no batching"
		   " (default %d)\n", BATCH_MAX);
	fprintf(f, "  --sched-slice-us N the scheduler slice the stage's threads ask for: they run soon\n"
		   "                     after a wakeup (Linux 6.12+); 0: the kernel's (default %d)\n",
		SLICE_US_DEFAULT);
	fprintf(f, "  --debug            debug log lines\n");
	for (o = def->opts; o && o->name; o++)
		fprintf(f, "  --%-17s %s\n", o->name, o->help);
}

/* Apply one option; returns 1 if it took a value, 0 if a switch, -1 if unknown. */
static int stage_opt_set(struct stage *st, const char *name, const char *val)
{
	const struct stage_opt *o;
	struct { const char *n; const char **v; } common[] = {
		{ "name", &st->name }, { "rundir", &st->rundir },
		{ "notify-fd", &st->notify_fd }, { "config", &st->config },
		{ "batch", &st->batch }, { "sched-slice-us", &st->slice },
	};
	size_t i;

	if (strcmp(name, "debug") == 0) {
		st->debug = 1;
		return 0;
	}
	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (strcmp(name, common[i].n) == 0) {
			if (!val)
				return -2;
			*common[i].v = val;
			return 1;
		}
	for (o = st->def->opts; o && o->name; o++) {
		if (strcmp(name, o->name) != 0)
			continue;
		if (o->flag) {
			*o->flag = 1;
			return 0;
		}
		if (!val)
			return -2;
		*o->val = val;
		return 1;
	}
	return -1;
}

/* Read "option value" lines; '#' starts a comment. Values are kept for the process life. */
static void stage_read_config(struct stage *st, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	if (!f)
		log_fatal(EXIT_PERM, errno, "config %s", path);
	while (getline(&line, &cap, f) > 0) {
		char *p = line, *name, *val, *e;
		int r;

		lineno++;
		if ((e = strchr(p, '#')))
			*e = '\0';
		name = strtok_r(p, " \t\r\n=", &e);
		if (!name)
			continue;
		val = strtok_r(NULL, "\r\n", &e);
		while (val && (*val == ' ' || *val == '\t' || *val == '='))
			val++;
		if (val && !*val)
			val = NULL;
		if (strcmp(name, "config") == 0)
			log_fatal(EXIT_PERM, 0, "%s:%u: config files do not nest", path, lineno);
		r = stage_opt_set(st, name, val ? strdup(val) : NULL);
		if (r == -1)
			log_fatal(EXIT_PERM, 0, "%s:%u: unknown option '%s'", path, lineno, name);
		if (r == -2)
			log_fatal(EXIT_PERM, 0, "%s:%u: option '%s' needs a value", path, lineno, name);
	}
	free(line);
	fclose(f);
}

static void stage_parse(struct stage *st, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[64];
		const char *eq;
		int r;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			stage_usage(st->def, stdout);
			exit(EXIT_OK);
		}
		if (strncmp(a, "--", 2) != 0)
			log_fatal(EXIT_PERM, 0, "unexpected argument '%s' (try --help)", a);
		a += 2;
		if ((eq = strchr(a, '='))) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
			val = i + 1 < argc ? argv[i + 1] : NULL;
		}
		r = stage_opt_set(st, name, val);
		if (r == -1)
			log_fatal(EXIT_PERM, 0, "unknown option --%s (try --help)", name);
		if (r == -2)
			log_fatal(EXIT_PERM, 0, "option --%s needs a value", name);
		if (r == 1 && !eq)
			i++;
	}
	if (st->config) {
		const char *cmdline_name = st->name;

		stage_read_config(st, st->config);
		(void)cmdline_name;
	}
}

/* mkdir -p with mode for the last component; existing directories are left alone. */
static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* sched_setattr(2)'s argument (glibc has no wrapper), and its one flag we keep. */
#define STAGE_SCHED_FLAG_RESET_ON_FORK 0x01
struct stage_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

/*
 * Ask for a short scheduler slice (EEVDF's custom slice, Linux 6.12+: sched_runtime
 * of a SCHED_OTHER thread) before any other thread exists: threads inherit it. A
 * woken task with a shorter slice than the one running preempts it, so an event
 * waits less behind the workload that made it (on 2 vCPUs an exec'd process held
 * the collector off a CPU for a millisecond). The CPU share is the nice value's, not
 * changed. Kept as the operator set it: another policy, nice. The status says what
 * took effect ("sched_slice_us").
 */
static void stage_set_slice(struct stage *st)
{
	struct stage_sched_attr a = { .size = sizeof(a) };
	unsigned long us = SLICE_US_DEFAULT;
	char *end;

	if (st->slice) {
		us = strtoul(st->slice, &end, 10);
		if (*end || !*st->slice || (us && (us < 100 || us > 100000)))
			log_fatal(EXIT_PERM, 0, "--sched-slice-us: want 0 or 100..100000, got '%s'",
				  st->slice);
	}
	if (!us) {
		stage_info(st, "sched_slice_us", "the kernel's (--sched-slice-us 0)");
		return;
	}
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0) {
		stage_info(st, "sched_slice_us", "not set: sched_getattr: %s", strerror(errno));
		return;
	}
	if (a.policy != SCHED_OTHER) {
		stage_info(st, "sched_slice_us", "not set: scheduling policy %u", a.policy);
		return;
	}
	a.size = sizeof(a);
	a.flags &= STAGE_SCHED_FLAG_RESET_ON_FORK; /* not the utilization clamps' */
	a.runtime = (uint64_t)us * 1000;
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) {
		stage_info(st, "sched_slice_us", "not set: sched_setattr: %s", strerror(errno));
		return;
	}
	/* kernels without custom slices take the call and report no runtime back */
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0 || a.runtime != us * 1000) {
		stage_info(st, "sched_slice_us", "not set: this kernel has no custom slices");
		return;
	}
	stage_info(st, "sched_slice_us", "%lu", us);
}

/* Tell s6 we are ready: one newline on the notification fd, then close it. */
static void stage_notify(struct stage *st)
{
	char *end;
	long fd;

	if (!st->notify_fd)
		return;
	fd = strtol(st->notify_fd, &end, 10);
	if (*end || fd < 0) {
		log_warn("bad --notify-fd '%s'", st->notify_fd);
		return;
	}
	if (write((int)fd, "\n", 1) != 1)
		log_warn("readiness notification on fd %ld failed", fd);
	close((int)fd);
}

/* Whether a ZeroMQ socket has a message to read; processes its pending commands. */
static int stage_zmq_readable(void *sock)
{
	int ev = 0;
	size_t len = sizeof(ev);

	if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) < 0)
		return 0;
	return (ev & ZMQ_POLLIN) != 0;
}

/* Run a due timer; returns the poll timeout in ms (at most STAGE_SAFETY_MS). */
static int stage_timers(struct stage *st)
{
	uint64_t now;

	if (!st->def->timer || !st->timer_ns)
		return STAGE_SAFETY_MS;
	now = mono_ns();
	if (now >= st->next_timer) {
		/* Timers send (stage_tap marks the tap) but receive from no watched
		 * socket: nothing to re-check, so a timer tick costs one poll(2). */
		st->def->timer(st);
		if (!st->timer_ns)
			return STAGE_SAFETY_MS;
		now = mono_ns();
		if (st->next_timer <= now)
			st->next_timer = now + st->timer_ns;
	}
	uint64_t ms = (st->next_timer - now + 999999) / 1000000ull;
	return ms < STAGE_SAFETY_MS ? (int)ms : STAGE_SAFETY_MS;
}

/* The loop: one poll(2) over raw fds and the ZeroMQ sockets' ZMQ_FDs. A ZMQ_FD only
 * signals new mailbox commands, so a socket is checked with ZMQ_EVENTS when its fd is
 * readable or when it was touched (received from, sent on) since its last check —
 * not on every pass as zmq_poll does, which costs several syscalls per message. */
static void stage_loop(struct stage *st)
{
	struct pollfd pfd[WATCH_MAX];
	int i, n, worked;

	while (st->state != ST_STOPPING) {
		int timeout = stage_timers(st);

		if (st->state == ST_STOPPING)
			break;
		worked = 0;
		for (i = 0; i < st->nwatch && st->state != ST_STOPPING; i++) {
			struct watch *w = &st->watch[i];

			if (!w->sock || !w->dirty)
				continue;
			w->dirty = 0;
			if (stage_zmq_readable(w->sock)) {
				w->cb(st, w->arg);
				w->dirty = 1;
				worked = 1;
			}
		}
		if (st->state == ST_STOPPING)
			break;
		/* What this pass produced leaves now, one message per output socket:
		 * the batch is what arrived together, so batching adds no delay. */
		if ((st->noutq || st->tapq.n) && stage_flush(st) < 0 && st->state == ST_STOPPING)
			break;
		/* After work, look without sleeping: a busy input must not starve the
		 * signals, the control socket or the other inputs. */
		for (i = 0; i < st->nwatch; i++)
			pfd[i] = (struct pollfd){ .fd = st->watch[i].fd, .events = POLLIN };
		if (worked) {
			st->busy = 1;
			st->last_work_ns = mono_ns();
		} else if (st->busy) {
			uint64_t now = mono_ns(), quiet = (now - st->last_work_ns) / 1000000ull,
				 since = (now - st->last_trim_ns) / 1000000ull;

			if (since >= STAGE_TRIM_EVERY_MS) {
				/* malloc_trim walks the heap: only when a burst (or a peer's
				 * backpressure) left memory free, at most every 10 s, also
				 * while busy so that a steady load cannot pin a peak */
				if (mallinfo2().fordblks >= STAGE_TRIM_MIN_FREE) {
					malloc_trim(0);
					(*stage_counter(st, "heap.trims"))++;
				}
				st->last_trim_ns = now;
				if (quiet >= STAGE_TRIM_QUIET_MS)
					st->busy = 0;
			} else if (quiet >= STAGE_TRIM_QUIET_MS) {
				if ((uint64_t)timeout > STAGE_TRIM_EVERY_MS - since) /* look again then */
					timeout = (int)(STAGE_TRIM_EVERY_MS - since);
			} else if ((uint64_t)timeout > STAGE_TRIM_QUIET_MS - quiet) {
				timeout = (int)(STAGE_TRIM_QUIET_MS - quiet);
			}
		}
		n = poll(pfd, (nfds_t)st->nwatch, worked ? 0 : timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal(EXIT_TEMP, errno, "poll");
		}
		if (n == 0 && !worked && timeout == STAGE_SAFETY_MS) {
			/* belt and braces: a periodic full check bounds any missed edge */
			for (i = 0; i < st->nwatch; i++)
				st->watch[i].dirty = st->watch[i].sock != NULL;
			continue;
		}
		for (i = 0; i < st->nwatch && st->state != ST_STOPPING; i++) {
			struct watch *w = &st->watch[i];

			if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (w->sock) {
				w->dirty = 1;
			} else {
				w->cb(st, w->arg); /* its sends mark the tap (stage_tap) */
				if (w->fd != st->sigfd) {
					st->busy = 1;
					st->last_work_ns = mono_ns();
				}
			}
		}
	}
}

int stage_main(int argc, char **argv, const struct stage_def *def)
{
	static struct stage s;
	struct stage *st = &s;
	char ep[512], path[512];
	sigset_t mask;
	int rc, verboser = 1, hwm = 1000;

	/* Before any thread exists: every thread that mallocs (ZeroMQ's I/O thread, gRPC's,
	 * the Kubernetes watcher) would otherwise get an arena of its own, each holding
	 * freed memory the others cannot reuse. Two keep contention away at our rates. */
	mallopt(M_ARENA_MAX, 2);
	st->def = def;
	st->name = def->name;
	st->rundir = "/run/vigil";
	st->started_ns = mono_ns();
	st->state = ST_STARTING;
	log_init(def->name);
	stage_parse(st, argc, argv);
	log_init(st->name);
	log_set_debug(st->debug);
	signal(SIGPIPE, SIG_IGN);
	st->batch_max = BATCH_MAX;
	if (st->batch) {
		char *end;
		long b = strtol(st->batch, &end, 10);

		if (*end || b < 1 || b > 4096)
			log_fatal(EXIT_PERM, 0, "--batch: want 1..4096, got '%s'", st->batch);
		st->batch_max = (int)b;
	}

	stage_set_slice(st); /* before any thread: they inherit it */

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	st->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (st->sigfd < 0)
		log_fatal(EXIT_TEMP, errno, "signalfd");

	if (mkdir_p(st->rundir, 0700) < 0)
		log_fatal(EXIT_TEMP, errno, "run directory %s", st->rundir);
	snprintf(path, sizeof(path), "%s/%s.state", st->rundir, st->name);
	st->statef = state_open(path);
	if (!st->statef)
		log_fatal(EXIT_TEMP, errno, "state file %s", path);

	st->c_tap_out = stage_counter(st, "tap.out");
	st->c_ctl_req = stage_counter(st, "ctl.requests");
	st->c_ctl_bad = stage_counter(st, "ctl.bad");
	st->c_batches = stage_counter(st, "out.messages");
	st->zctx = zmq_ctx_new();
	if (!st->zctx)
		log_fatal(EXIT_TEMP, errno, "zmq_ctx_new");

	st->ctl = stage_socket(st, ZMQ_REP, 0);
	if (stage_bind(st, st->ctl, stage_endpoint(st, NULL, "ctl", ep, sizeof(ep))) < 0)
		log_fatal(EXIT_TEMP, 0, "cannot bind the control socket");
	st->tap = stage_socket(st, ZMQ_XPUB, 0);
	zmq_setsockopt(st->tap, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(st->tap, ZMQ_XPUB_VERBOSER, &verboser, sizeof(verboser));
	if (stage_bind(st, st->tap, stage_endpoint(st, NULL, "tap", ep, sizeof(ep))) < 0)
		log_fatal(EXIT_TEMP, 0, "cannot bind the tap");

	stage_watch(st, NULL, st->sigfd, stage_on_signal, NULL);
	st->ctl_watch = st->nwatch;
	stage_watch(st, st->ctl, -1, stage_on_ctl, NULL);
	st->tap_watch = st->nwatch;
	stage_watch(st, st->tap, -1, stage_on_tap, NULL);
	if (def->timer)
		stage_set_timer(st, def->timer_ms);

	if (def->setup && (rc = def->setup(st)) != 0)
		log_fatal(rc, 0, "setup failed");
	if (st->state == ST_STOPPING) /* a signal during setup */
		goto out;
	st->state = ST_RUNNING;
	/* Setup's peaks (BTF, object files, policy parsing) go back to the kernel. */
	malloc_trim(0);
	stage_notify(st);
	log_info("ready (pid %d, restarts %llu)", (int)getpid(),
		 (unsigned long long)st->statef->restarts);
	stage_loop(st);
out:
	st->state = ST_STOPPING;
	stage_flush(st); /* one try each: a peer at its high-water mark sees a gap */
	if (def->shutdown)
		def->shutdown(st);
	zmq_close(st->ctl);
	zmq_close(st->tap);
	zmq_ctx_term(st->zctx);
	log_info("stopped");
	return st->exit_code;
}
