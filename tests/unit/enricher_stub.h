/* The stage skeleton (lib/stage.h) replaced, for programs that compile enricher/main.c in
 * and feed its input handler directly (tests/unit/test_enricher_memo.c,
 * bench/enr_bench.c): a stage is its counters, its state and a run directory; no
 * sockets, no loop. Each program defines stage_send, where the output goes. */
#ifndef VIGIL_ENRICHER_STUB_H
#define VIGIL_ENRICHER_STUB_H

struct stage {
	struct counters counters;
	struct state *statef;
	const char *rundir; /* NULL: none */
};

const char *stage_name(const struct stage *st) { (void)st; return "enricher"; }
const char *stage_rundir(const struct stage *st) { return st->rundir ? st->rundir : "/nonexistent"; }
void *stage_zctx(struct stage *st) { (void)st; return NULL; }
struct counters *stage_counters(struct stage *st) { return &st->counters; }
uint64_t *stage_counter(struct stage *st, const char *name)
{
	return counters_get(&st->counters, name);
}
struct state *stage_state(struct stage *st) { return st->statef; }
int stage_stopping(const struct stage *st) { (void)st; return 0; }
void stage_set_timer(struct stage *st, unsigned ms) { (void)st; (void)ms; }
void stage_tap(struct stage *st, const void *buf, size_t len) { (void)st; (void)buf; (void)len; }
void stage_watch(struct stage *st, void *sock, int fd, stage_cb cb, void *arg)
{
	(void)st; (void)sock; (void)fd; (void)cb; (void)arg;
}
void stage_info(struct stage *st, const char *key, const char *fmt, ...)
{
	(void)st; (void)key; (void)fmt;
}
const char *stage_endpoint(const struct stage *st, const char *name, const char *suffix,
			   char *buf, size_t len)
{
	(void)st; (void)name; (void)suffix;
	snprintf(buf, len, "inproc://unused");
	return buf;
}
void *stage_socket(struct stage *st, int type, int hwm) { (void)st; (void)type; (void)hwm; return NULL; }
int stage_bind(struct stage *st, void *sock, const char *ep) { (void)st; (void)sock; (void)ep; return -1; }
int stage_connect(struct stage *st, void *sock, const char *ep) { (void)st; (void)sock; (void)ep; return -1; }
int stage_main(int argc, char **argv, const struct stage_def *def)
{
	(void)argc; (void)argv; (void)def;
	return 1;
}

#endif
