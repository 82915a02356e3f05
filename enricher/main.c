/* enricher — says who did it: turns raw collector events into Tetragon-shaped events
 * with process, parent and exec_ids from the process cache (issue 4 adds containers
 * and pods). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "enricher_cache.h"
#include "stage.h"
#include "wire.h"

#define BATCH 512

static const char *opt_input, *opt_input2, *opt_output, *opt_node, *opt_hwm = "10000",
		  *opt_cap = "131072";
static char node_name[256];
static struct wire_in in, in2;
static struct wire_out out;
static void *in_sock, *in2_sock, *out_sock;
static uint64_t *c_exec, *c_exit, *c_clone;

static const struct stage_opt opts[] = {
	{ "input", &opt_input, NULL, "PULL endpoint to connect (default ipc://RUNDIR/collector.out)" },
	{ "input2", &opt_input2, NULL,
	  "PULL endpoint to bind for other raw producers, e.g. the enforcer (default ipc://RUNDIR/enricher.in)" },
	{ "output", &opt_output, NULL, "PUSH endpoint to bind (default ipc://RUNDIR/enricher.out)" },
	{ "node-name", &opt_node, NULL, "node name in exec_ids (default $NODE_NAME or hostname)" },
	{ "hwm", &opt_hwm, NULL, "high-water mark of the output (default 10000)" },
	{ "cache-size", &opt_cap, NULL, "process cache capacity (default 131072)" },
	{ 0 },
};

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Pack a Process map with only the fields we know (protojson omits empties anyway). */
static void pack_proc(msgpack_packer *pk, const struct proc *p)
{
	const char *strs[] = { "cwd", p->cwd, "binary", p->binary, "arguments", p->arguments,
			       "flags", p->flags, "parent_exec_id", p->parent_exec_id };
	size_t i, n = 6;

	for (i = 1; i < sizeof(strs) / sizeof(strs[0]); i += 2)
		n += strs[i] != NULL;
	msgpack_pack_map(pk, n + p->extra_n);
	if (p->extra_n) /* already-packed entries: append the bytes as they are */
		pk->callback(pk->data, p->extra, p->extra_len);
	pack_str(pk, "exec_id");
	pack_str(pk, p->exec_id);
	pack_str(pk, "pid");
	msgpack_pack_uint32(pk, p->pid);
	pack_str(pk, "uid");
	msgpack_pack_uint32(pk, p->uid);
	for (i = 1; i < sizeof(strs) / sizeof(strs[0]); i += 2)
		if (strs[i]) {
			pack_str(pk, strs[i - 1]);
			pack_str(pk, strs[i]);
		}
	pack_str(pk, "start_time");
	msgpack_pack_uint64(pk, p->start_time);
	pack_str(pk, "auid");
	msgpack_pack_uint32(pk, p->auid);
	pack_str(pk, "tid");
	msgpack_pack_uint32(pk, p->tid);
}

/* Copy a msgpack string field of ev into an entry field. */
static void take_str(const msgpack_object *ev, const char *key, char **field)
{
	const char *s;
	size_t n;

	if (wire_get_str(ev, key, &s, &n) == 0)
		cache_set(field, s, n);
}

/* Keep the collector's extra Process fields (raw key "process": cap, ns, ...) packed, to
 * be merged into every Process map of this entry. Keys we build ourselves are skipped. */
static void take_extra(const msgpack_object *ev, struct proc *p)
{
	static const char *const own[] = { "exec_id", "pid", "uid", "cwd", "binary", "arguments",
					   "flags", "parent_exec_id", "start_time", "auid", "tid" };
	const msgpack_object *x = wire_get(ev, "process");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t i, n = 0;
	size_t j;

	if (!x || x->type != MSGPACK_OBJECT_MAP)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < x->via.map.size; i++) {
		const msgpack_object *k = &x->via.map.ptr[i].key;
		int skip = k->type != MSGPACK_OBJECT_STR;

		for (j = 0; !skip && j < sizeof(own) / sizeof(own[0]); j++)
			skip = wire_streq(k->via.str.ptr, k->via.str.size, own[j]);
		if (skip)
			continue;
		msgpack_pack_object(&pk, *k);
		msgpack_pack_object(&pk, x->via.map.ptr[i].val);
		n++;
	}
	free(p->extra);
	p->extra = NULL;
	p->extra_n = 0;
	if (n) {
		p->extra = sb.data; /* ownership moves to the entry */
		p->extra_len = sb.size;
		p->extra_n = n;
		sb.data = NULL;
	}
	msgpack_sbuffer_destroy(&sb);
}

/* Join an array of strings with a separator into an entry field. */
static void take_join(const msgpack_object *ev, const char *key, char sep, char **field)
{
	const msgpack_object *a = wire_get(ev, key);
	size_t i, len = 0;
	char *buf;

	if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return;
	for (i = 0; i < a->via.array.size; i++)
		if (a->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
			len += a->via.array.ptr[i].via.str.size + 1;
	buf = malloc(len + 1);
	if (!buf)
		log_panic("out of memory");
	len = 0;
	for (i = 0; i < a->via.array.size; i++) {
		const msgpack_object *s = &a->via.array.ptr[i];

		if (s->type != MSGPACK_OBJECT_STR)
			continue;
		if (len)
			buf[len++] = sep;
		memcpy(buf + len, s->via.str.ptr, s->via.str.size);
		len += s->via.str.size;
	}
	cache_set(field, buf, len);
	free(buf);
}

/* The parent of a process: from the cache, else from /proc, else NULL. */
static struct proc *find_parent(uint32_t ppid, uint64_t pktime, int64_t wall_off)
{
	struct proc *pp;

	if (ppid == 0)
		return NULL;
	pp = cache_get(ppid);
	if (!pp && (pp = cache_from_procfs(ppid, pktime)))
		pp->start_time = (uint64_t)((int64_t)pktime + wall_off);
	return pp;
}

/* Emit {process, parent, [status, signal], node_name, time}. */
static void emit(const char *type, const struct proc *p, const struct proc *pp, uint64_t time,
		 const msgpack_object *ev)
{
	msgpack_packer *pk = wire_begin(&out, type);
	uint64_t status = 0;
	const char *sig = NULL;
	size_t siglen = 0, n = 3 + (pp != NULL);
	int is_exit = strcmp(type, "process_exit") == 0;

	if (is_exit) {
		wire_get_u64(ev, "status", &status);
		wire_get_str(ev, "signal", &sig, &siglen);
		n += 1 + (sig != NULL);
	}
	msgpack_pack_map(pk, n);
	pack_str(pk, "process");
	pack_proc(pk, p);
	if (pp) {
		pack_str(pk, "parent");
		pack_proc(pk, pp);
	}
	if (is_exit) {
		pack_str(pk, "status");
		msgpack_pack_uint64(pk, status);
		if (sig) {
			pack_str(pk, "signal");
			msgpack_pack_str_with_body(pk, sig, siglen);
		}
	}
	pack_str(pk, "node_name");
	pack_str(pk, node_name);
	pack_str(pk, "time");
	msgpack_pack_uint64(pk, time);
	wire_end(&out);
}

static int on_exec(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, tid = 0, ppid = 0, pktime = 0, uid = 0, auid = 4294967295u;
	struct proc *p, *pp;
	int64_t off;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || pid > UINT32_MAX)
		return -1;
	wire_get_u64(ev, "tid", &tid);
	wire_get_u64(ev, "ppid", &ppid);
	wire_get_u64(ev, "pktime", &pktime);
	wire_get_u64(ev, "euid", &uid);
	wire_get_u64(ev, "auid", &auid);
	off = (int64_t)time - (int64_t)ktime;
	pp = find_parent((uint32_t)ppid, pktime, off);
	p = cache_put((uint32_t)pid, ktime);
	pp = pp ? cache_get((uint32_t)ppid) : NULL; /* cache_put may have evicted the parent */
	p->tid = tid ? (uint32_t)tid : (uint32_t)pid;
	p->ppid = (uint32_t)ppid;
	p->uid = (uint32_t)uid;
	p->auid = (uint32_t)auid;
	p->start_time = time;
	take_str(ev, "binary", &p->binary);
	take_str(ev, "cwd", &p->cwd);
	take_join(ev, "args", ' ', &p->arguments);
	take_join(ev, "flags", ' ', &p->flags);
	take_extra(ev, p);
	if (pp)
		cache_set(&p->parent_exec_id, pp->exec_id, strlen(pp->exec_id));
	else if (ppid) {
		p->parent_exec_id = cache_exec_id(pktime, (uint32_t)ppid);
	}
	(*c_exec)++;
	emit("process_exec", p, pp, time, ev);
	return 0;
}

static int on_clone(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, ppid, pktime = 0;
	struct proc *p, *pp;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || wire_get_u64(ev, "ppid", &ppid) < 0 ||
	    pid > UINT32_MAX || ppid > UINT32_MAX)
		return -1;
	wire_get_u64(ev, "pktime", &pktime);
	pp = find_parent((uint32_t)ppid, pktime, (int64_t)time - (int64_t)ktime);
	p = cache_put((uint32_t)pid, ktime);
	pp = pp ? cache_get((uint32_t)ppid) : NULL; /* cache_put may have evicted the parent */
	p->ppid = (uint32_t)ppid;
	p->start_time = time;
	p->auid = 4294967295u;
	if (pp) {
		p->uid = pp->uid;
		p->auid = pp->auid;
		if (pp->binary)
			cache_set(&p->binary, pp->binary, strlen(pp->binary));
		if (pp->arguments)
			cache_set(&p->arguments, pp->arguments, strlen(pp->arguments));
		if (pp->cwd)
			cache_set(&p->cwd, pp->cwd, strlen(pp->cwd));
		cache_set(&p->parent_exec_id, pp->exec_id, strlen(pp->exec_id));
	}
	cache_set(&p->flags, "clone", 5);
	(*c_clone)++;
	return 0;
}

static int on_exit_(const msgpack_object *ev)
{
	uint64_t time, ktime, pid, start = 0;
	struct proc *p, *pp;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "ktime", &ktime) < 0 ||
	    wire_get_u64(ev, "pid", &pid) < 0 || pid > UINT32_MAX)
		return -1;
	p = cache_get((uint32_t)pid);
	if (!p) {
		wire_get_u64(ev, "start_ktime", &start);
		p = cache_from_procfs((uint32_t)pid, start);
		if (!p) {
			p = cache_put((uint32_t)pid, start);
			p->auid = 4294967295u;
			cache_set(&p->flags, "unknown", 7);
		}
	}
	pp = p->ppid ? cache_get(p->ppid) : NULL;
	(*c_exit)++;
	emit("process_exit", p, pp, time, ev);
	cache_mark_exited(p);
	return 0;
}

/* The process of an event from pid: the cache, else /proc (procFS), else a stub. */
static struct proc *find_process(uint32_t pid, uint64_t start_ktime)
{
	struct proc *p = cache_get(pid);

	if (!p && !(p = cache_from_procfs(pid, start_ktime))) {
		p = cache_put(pid, start_ktime);
		p->auid = 4294967295u;
		cache_set(&p->flags, "unknown", 7);
	}
	return p;
}

static int is_raw_key(const msgpack_object *k)
{
	static const char *const raw[] = { "time", "ktime", "pid", "tid", "start_ktime" };
	size_t i;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		if (k->type == MSGPACK_OBJECT_STR && wire_streq(k->via.str.ptr, k->via.str.size, raw[i]))
			return 1;
	return 0;
}

/* process_kprobe / _tracepoint / _lsm: the collector already packed the Tetragon-shaped
 * details (function_name, args, return, ...); we add process, parent and node. */
static int on_generic(const char *type, const msgpack_object *ev)
{
	uint64_t time, pid, tid = 0, start = 0;
	const msgpack_object_map *m = &ev->via.map;
	struct proc *p, *pp;
	msgpack_packer *pk;
	size_t i, n = 0;

	if (wire_get_u64(ev, "time", &time) < 0 || wire_get_u64(ev, "pid", &pid) < 0 ||
	    pid > UINT32_MAX)
		return -1;
	wire_get_u64(ev, "tid", &tid);
	wire_get_u64(ev, "start_ktime", &start);
	p = find_process((uint32_t)pid, start);
	pp = p->ppid ? cache_get(p->ppid) : NULL;
	for (i = 0; i < m->size; i++)
		n += !is_raw_key(&m->ptr[i].key);
	pk = wire_begin(&out, type);
	msgpack_pack_map(pk, n + 3 + (pp != NULL));
	pack_str(pk, "process");
	pack_proc(pk, p);
	if (pp) {
		pack_str(pk, "parent");
		pack_proc(pk, pp);
	}
	for (i = 0; i < m->size; i++)
		if (!is_raw_key(&m->ptr[i].key)) {
			msgpack_pack_object(pk, m->ptr[i].key);
			msgpack_pack_object(pk, m->ptr[i].val);
		}
	pack_str(pk, "node_name");
	pack_str(pk, node_name);
	pack_str(pk, "time");
	msgpack_pack_uint64(pk, time);
	(*counters_get2(stage_counters(in.st), "events.", type))++;
	wire_end(&out);
	return 0;
}

static void on_input(struct stage *st, void *arg)
{
	struct wire_in *inp = arg;
	struct wire_msg m;
	int i, r;

	for (i = 0; i < BATCH && !stage_stopping(st); i++) {
		r = wire_recv(inp, &m);
		if (r == 0)
			break;
		if (r < 0)
			continue;
		if (wire_streq(m.type, m.type_len, "process_exec"))
			r = on_exec(m.ev);
		else if (wire_streq(m.type, m.type_len, "process_exit"))
			r = on_exit_(m.ev);
		else if (wire_streq(m.type, m.type_len, "process_clone"))
			r = on_clone(m.ev);
		else if (wire_streq(m.type, m.type_len, "process_kprobe") ||
			 wire_streq(m.type, m.type_len, "process_tracepoint") ||
			 wire_streq(m.type, m.type_len, "process_lsm")) {
			char type[32];

			snprintf(type, sizeof(type), "%.*s", (int)m.type_len, m.type);
			r = on_generic(type, m.ev);
		} else {
			wire_drop(inp, WIRE_DROP_UNKNOWN_TYPE, &m);
			r = 0;
		}
		if (r < 0)
			wire_drop(inp, WIRE_DROP_BODY, &m);
		wire_msg_done(inp, &m);
	}
}

static void status(struct stage *st)
{
	struct cache_stats cs;

	cache_get_stats(&cs);
	counters_set(stage_counters(st), "cache.size", cs.size);
	counters_set(stage_counters(st), "cache.evictions", cs.evictions);
	counters_set(stage_counters(st), "cache.misses", cs.misses);
	counters_set(stage_counters(st), "cache.procfs", cs.procfs);
}

static int setup(struct stage *st)
{
	char a[512], b[512];
	int hwm = atoi(opt_hwm);

	if (opt_node)
		snprintf(node_name, sizeof(node_name), "%s", opt_node);
	else if (getenv("NODE_NAME"))
		snprintf(node_name, sizeof(node_name), "%s", getenv("NODE_NAME"));
	else if (gethostname(node_name, sizeof(node_name) - 1) < 0)
		node_name[0] = '\0';
	cache_init(node_name, (uint32_t)strtoul(opt_cap, NULL, 10));
	in_sock = stage_socket(st, ZMQ_PULL, hwm);
	out_sock = stage_socket(st, ZMQ_PUSH, hwm);
	if (!opt_input)
		opt_input = stage_endpoint(st, "collector", "out", a, sizeof(a));
	if (stage_connect(st, in_sock, opt_input) < 0)
		return EXIT_PERM;
	if (!opt_output)
		opt_output = stage_endpoint(st, NULL, "out", b, sizeof(b));
	if (stage_bind(st, out_sock, opt_output) < 0)
		return EXIT_TEMP;
	stage_info(st, "input", "%s", opt_input);
	stage_info(st, "output", "%s", opt_output);
	stage_info(st, "node_name", "%s", node_name);
	opt_input = opt_output = NULL;
	c_exec = stage_counter(st, "events.process_exec");
	c_exit = stage_counter(st, "events.process_exit");
	c_clone = stage_counter(st, "events.process_clone");
	wire_in_init(&in, st, in_sock);
	wire_out_init(&out, st, out_sock);
	in2_sock = stage_socket(st, ZMQ_PULL, hwm);
	if (!opt_input2)
		opt_input2 = stage_endpoint(st, NULL, "in", a, sizeof(a));
	if (stage_bind(st, in2_sock, opt_input2) < 0)
		return EXIT_TEMP;
	stage_info(st, "input2", "%s", opt_input2);
	opt_input2 = NULL;
	/* Both inputs count into the same counters: one stage, one set of numbers. */
	wire_in_init(&in2, st, in2_sock);
	stage_watch(st, in_sock, -1, on_input, &in);
	stage_watch(st, in2_sock, -1, on_input, &in2);
	return 0;
}

static void shutdown_(struct stage *st)
{
	(void)st;
	zmq_close(in_sock);
	zmq_close(in2_sock);
	zmq_close(out_sock);
	wire_out_free(&out);
}

int main(int argc, char **argv)
{
	static const struct stage_def def = {
		.name = "enricher",
		.summary = "vigil enricher: process ancestry, containers and pods for every event",
		.opts = opts,
		.setup = setup,
		.status = status,
		.shutdown = shutdown_,
	};
	return stage_main(argc, argv, &def);
}
