/* stage.h — the skeleton every vigil stage runs on.
 *
 * A stage's main() declares its options and callbacks in a struct stage_def and calls
 * stage_main(). The skeleton parses options (command line, then --config FILE), opens
 * the log with the stage name, creates the run directory, binds the control socket
 * (REP, <rundir>/<name>.ctl) and the tap (XPUB, <rundir>/<name>.tap), calls setup()
 * (where the stage acquires BPF objects and its own sockets), writes the readiness
 * line on --notify-fd, and runs one zmq_poll loop with signals through a signalfd and
 * periodic work on one timer. SIGTERM/SIGINT end the loop; shutdown() runs; exit 0. */
#ifndef VIGIL_STAGE_H
#define VIGIL_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "counters.h"
#include "log.h"

struct stage;
typedef void (*stage_cb)(struct stage *st, void *arg);

/* One --name VALUE option. flag != NULL makes it a value-less switch. */
struct stage_opt {
	const char *name;
	const char **val;
	int *flag;
	const char *help;
};

struct stage_def {
	const char *name;                   /* default instance name */
	const char *summary;                /* one line for --help */
	const struct stage_opt *opts;       /* terminated by {0} */
	int (*setup)(struct stage *st);     /* 0, or an exit code (100/111) */
	void (*timer)(struct stage *st);    /* every timer_ms */
	unsigned timer_ms;
	void (*status)(struct stage *st);   /* refresh counters/info before a status reply */
	void (*shutdown)(struct stage *st); /* release resources; the loop has ended */
};

int stage_main(int argc, char **argv, const struct stage_def *def);

const char *stage_name(const struct stage *st);
const char *stage_rundir(const struct stage *st);
void *stage_zctx(struct stage *st);
struct counters *stage_counters(struct stage *st);
uint64_t *stage_counter(struct stage *st, const char *name);
/* A string fact shown under "info" in status replies (copied). */
void stage_info(struct stage *st, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "ipc://<rundir>/<name>.<suffix>" in a static buffer per call site: copy it if kept. */
const char *stage_endpoint(const struct stage *st, const char *name, const char *suffix,
			   char *buf, size_t len);
/* A mmap'd per-stage state file <rundir>/<name>.state (see statefile.h). */
struct state *stage_state(struct stage *st);

/* Call cb when a ZeroMQ socket (sock != NULL) or a file descriptor becomes readable. */
void stage_watch(struct stage *st, void *sock, int fd, stage_cb cb, void *arg);
/* Change the timer period from now on (ms); 0 disarms it until set again. For timers
 * that only matter while there is work, so an idle stage does not wake up. */
void stage_set_timer(struct stage *st, unsigned ms);
/* A new ZeroMQ socket with vigil's defaults (linger 500 ms, hwm) — NULL exits 111. */
void *stage_socket(struct stage *st, int type, int hwm);
/* Bind or connect (endpoint decides the log line); returns 0 or -1 with errno. */
int stage_bind(struct stage *st, void *sock, const char *endpoint);
int stage_connect(struct stage *st, void *sock, const char *endpoint);

/* Send one envelope downstream. Envelopes sent on a socket during one pass of the loop
 * leave together, one frame each, as one multipart ZeroMQ message (docs/wire.md §2;
 * --batch caps it) when the loop is about to sleep, or when the batch is full. Blocks at
 * the high-water mark (backpressure) but keeps answering signals: returns 0 when
 * queued or sent, -1 when the stage is stopping. The same bytes go to the tap at once
 * when it has subscribers. */
int stage_send(struct stage *st, void *sock, const void *buf, size_t len);
/* Send every pending batch now (the loop does this before it sleeps). 0, or -1. */
int stage_flush(struct stage *st);
/* Only publish on the tap (for stages whose output is not a ZeroMQ socket). */
void stage_tap(struct stage *st, const void *buf, size_t len);
int stage_tap_active(const struct stage *st);
int stage_stopping(const struct stage *st);
/* Ask the loop to end; the stage will exit with code. */
void stage_stop(struct stage *st, int code);

#endif
