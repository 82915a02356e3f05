/*
 * collector_bpf.h - the collector's view of bpf/process.bpf.c: load and
 * attach the programs, drain the ring buffer, turn records into the raw
 * wire bodies of docs/wire.md 4.1-4.3.
 *
 * Not thread-safe: one struct cbpf is used from one thread.
 */
#ifndef COLLECTOR_BPF_H
#define COLLECTOR_BPF_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

struct cbpf;

/* One record from the ring. data/len are the raw events.h record (header
 * included), valid only during the emit callback. type is a static string:
 * "process_exec" | "process_exit" | "process_clone" | "process_kprobe". */
struct cbpf_rec {
	const char *type;
	const void *data;
	size_t len;
};

/* Counters. emitted/lost are indexed by record type (VIGIL_EV_*) and summed
 * over CPUs; received counts records read from the ring, bad_records those
 * among them that failed validation and were skipped. */
struct cbpf_stats {
	uint64_t emitted[8];
	uint64_t lost[8];
	uint64_t lost_total;
	uint64_t received;
	uint64_t bad_records;
};

/* What is watched beyond the operation mask (fixed for the life of a cbpf).
 * ncgroups > 0: file, network, privilege and exec-stdio records only from
 * tasks in those cgroup v2 ids (at most VIGIL_CGROUPS_MAX). nprefixes > 0:
 * file records only for paths under those prefixes (at most
 * VIGIL_PREFIXES_MAX, each shorter than VIGIL_PREFIX_LEN bytes). */
struct cbpf_scope {
	const uint64_t *cgroups;
	size_t ncgroups;
	const char *const *prefixes;
	size_t nprefixes;
};

/* Open, load and attach the programs with a ring of ringbuf_bytes (rounded
 * up to a power of two; 0 = 8 MiB), the in-kernel filter set to ops and
 * chmod_all (see cbpf_set_filter) and to scope (NULL: everything) before
 * anything is attached: no record outside them is produced, even during
 * start-up. Returns 0, or -1 with a message in err. */
int cbpf_open(struct cbpf **out, size_t ringbuf_bytes, uint64_t ops, int chmod_all,
	      const struct cbpf_scope *scope, char *err, size_t errlen);

/* File descriptor to poll for POLLIN when records are waiting. Wakeups are
 * rate-limited by the BPF side: also call cbpf_drain on a periodic timer. */
int cbpf_fd(const struct cbpf *cb);

/* Consume every available record, calling emit for each valid one. emit
 * returns 0 to go on, negative to stop (that record counts as consumed).
 * Returns the number of records passed to emit, or -1 when emit failed or
 * the ring could not be read. */
int cbpf_drain(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg);

/* Pack the raw body map of r (docs/wire.md 4.1/4.2/4.3, docs/wire.md §8) into pk. An invalid
 * record packs as an empty map. */
void cbpf_pack(const struct cbpf *cb, const struct cbpf_rec *r, msgpack_packer *pk);

/* Re-measure the wall-clock minus monotonic offset used for `time`
 * (call after clock steps; cheap enough for every timer tick). */
void cbpf_refresh_clock(struct cbpf *cb);

/* Read the counters (per-CPU map values summed). */
void cbpf_stats(const struct cbpf *cb, struct cbpf_stats *st);

/* Every file, network and privilege operation (bit n = VIGIL_OP n of events.h). */
#define CBPF_OPS_FILE 0x0000000000fffffeull /* VIGIL_OP_OPEN .. VIGIL_OP_FSETXATTR */
#define CBPF_OPS_NET 0x0000007f00000000ull  /* VIGIL_OP_CONNECT .. VIGIL_OP_DUP3 (net.bpf.o) */
#define CBPF_OPS_STDIO 0x0000008000000000ull /* VIGIL_OP_EXEC_STDIO (process.bpf.o) */
#define CBPF_OPS_PRIV 0x07ffff0000000000ull /* VIGIL_OP_SETUID .. VIGIL_OP_PIVOT_ROOT (priv.bpf.o) */
#define CBPF_OPS_ALL (CBPF_OPS_FILE | CBPF_OPS_NET | CBPF_OPS_STDIO | CBPF_OPS_PRIV)

/* Rewrite the in-kernel filter: which operations are sent (ops, as above),
 * and whether every chmod is sent or only those setting setuid/setgid.
 * The collector's own process is always left out. With no file operation
 * wanted the file programs are detached (opens then cost nothing), and
 * attached again when one is. Returns 0 or -errno. */
int cbpf_set_filter(struct cbpf *cb, uint64_t ops, int chmod_all);

/* What could not be loaded (missing tracepoints, objects), "" if nothing. */
const char *cbpf_note(const struct cbpf *cb);

/* Whether records of type (VIGIL_EV_*) can be produced by what is loaded. */
int cbpf_has(const struct cbpf *cb, unsigned type);

/* Counter name of a record type ("process_exec", "file", "net"); NULL if unused. */
const char *cbpf_kind_name(unsigned type);

/* Wire name of a record type ("process_exec", ...), "unknown" otherwise. */
const char *cbpf_type_name(unsigned type);

/* Start-up scan: every process alive now (kernel threads left out) as a
 * process_exec record flagged procFS (binary, cwd and arguments from /proc,
 * the rest from a task iterator), oldest first so parents come before their
 * children, each passed to emit like a ring record. Call after cbpf_open (so
 * no process can fall between the scan and the programs). Returns the number
 * of records emitted, or -1 with a message in err. */
int cbpf_scan(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg,
	      char *err, size_t errlen);

/* Kernel ids of the loaded programs, space-separated. */
void cbpf_prog_ids(const struct cbpf *cb, char *buf, size_t len);

/* Detach and free everything; safe on NULL. */
void cbpf_close(struct cbpf *cb);

#endif /* COLLECTOR_BPF_H */
