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
 * over CPUs; lost_cpu[c] is what CPU c lost, all types together (CPUs past
 * CBPF_STATS_CPUS - 1 are added to the last); received counts records read from
 * the ring, bad_records those among them that failed validation and were skipped. */
#define CBPF_STATS_CPUS 256
struct cbpf_stats {
	uint64_t emitted[8];
	uint64_t lost[8];
	uint64_t lost_cpu[CBPF_STATS_CPUS];
	int ncpus;
	uint64_t lost_total;
	uint64_t received;
	uint64_t bad_records;
	uint64_t late_filtered;	/* judged by the prefix filter here (VIGIL_F_LATE): not sent */
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
	/* nbinaries > 0: file, network, privilege and exec-stdio records only of
	 * processes running one of these binaries (exact paths of at most
	 * VIGIL_BIN_LEN - 1 bytes, each also as its realpath; at most
	 * VIGIL_BINARIES_MAX / 2), or with bin_except of all other processes
	 * (events.h, filter.binaries) */
	const char *const *binaries;
	size_t nbinaries;
	int bin_except;
	unsigned pflags;	/* CBPF_PFX_* */
};

/* How the prefixes apply: the filter is on even with no prefix (then no path
 * passes), opens for writing pass whatever their path, path operations
 * (unlink, rename, chmod, ...) pass whatever their path. */
#define CBPF_PFX_ON 1
#define CBPF_PFX_WRITES 2
#define CBPF_PFX_PATHOPS 4

/* Which builds of the BPF objects this kernel got: "bpf_rdonly_cast" (6.2+),
 * "nocast" (no bpf_rdonly_cast kfunc) or "noloop" (no bpf_loop, before 5.17). */
const char *cbpf_build_name(const struct cbpf *cb);

/* Open, load and attach the programs with a ring of ringbuf_bytes (rounded
 * up to a power of two; 0 = 4 MiB), the in-kernel filter set to ops and
 * chmod_all (see cbpf_set_filter) and to scope (NULL: everything) before
 * anything is attached: no record outside them is produced, even during
 * start-up. Nothing is pinned. Returns 0, or -1 with a message in err. */
int cbpf_open(struct cbpf **out, size_t ringbuf_bytes, uint64_t ops, int chmod_all,
	      const struct cbpf_scope *scope, char *err, size_t errlen);

/* Everything cbpf_open_opts needs. */
struct cbpf_opts {
	size_t ringbuf_bytes;	   /* file/net/priv ring; 0 = 4 MiB */
	size_t proc_ringbuf_bytes; /* process lifecycle ring; 0 = 2 MiB */
	int wake_every;		   /* 1: a consumer wakeup per record (low latency) */
	uint64_t ops;
	int chmod_all;
	const struct cbpf_scope *scope; /* NULL: everything */
	/* bpffs directory for links and maps (NULL or "": no pins). Valid pins of
	 * the same build there are adopted (programs stay attached, the ring keeps
	 * what they wrote meanwhile); others are removed first. */
	const char *pin_dir;
	/* The run directory, recorded with the pins (map "owner"): pins whose run
	 * directory is gone and whose collector is dead (no lock on their
	 * directory) are removed by any collector that starts next to them. */
	const char *owner;
};

/* cbpf_open with the options above. Returns 0, or -1 with a message in err;
 * *busy is set (when busy != NULL) if another collector holds pin_dir. */
int cbpf_open_opts(struct cbpf **out, const struct cbpf_opts *o, int *busy, char *err,
		   size_t errlen);

/* What happened to the pins at open, for the log ("" when not pinned). */
const char *cbpf_pin_note(const struct cbpf *cb);

/* Number of links adopted from the pin directory at open (0: fresh attach). */
int cbpf_adopted(const struct cbpf *cb);

/* File descriptor to poll for POLLIN when records are waiting. Wakeups are
 * rate-limited by the BPF side: also call cbpf_drain on a periodic timer. */
int cbpf_fd(const struct cbpf *cb);

/* Consume every available record, calling emit for each valid one. emit
 * returns 0 to go on, negative to stop (that record counts as consumed).
 * Returns the number of records passed to emit, or -1 when emit failed or
 * the ring could not be read. */
int cbpf_drain(struct cbpf *cb, int (*emit)(void *arg, const struct cbpf_rec *r), void *arg);

/* Whether records are held back by the time merge of the two rings (a record
 * of the file/net/priv ring was reserved but not yet committed): call
 * cbpf_drain again shortly. */
int cbpf_pending(const struct cbpf *cb);

/* Pack the raw body map of r (docs/wire.md 4.1/4.2/4.3, docs/wire.md §8) into pk. An invalid
 * record packs as an empty map. */
void cbpf_pack(const struct cbpf *cb, const struct cbpf_rec *r, msgpack_packer *pk);

/* Re-measure the wall-clock minus monotonic offset used for `time`
 * (call after clock steps; cheap enough for every timer tick). */
void cbpf_refresh_clock(struct cbpf *cb);

/* Read the counters (per-CPU map values summed). */
void cbpf_stats(const struct cbpf *cb, struct cbpf_stats *st);

/* The BPF side forces a consumer wakeup only when this long has passed since
 * the last forced one (or 64 KiB are waiting); records in between are left
 * for the consumer's drain timer, which must be longer (main.c: --delivery-ms,
 * at least 1 ms; 0 sets wake_every: every record wakes the consumer) so that
 * nothing is stranded. A wakeup per record
 * (the exec loop's fork, exec and exit each 200 µs apart or more) cost a
 * whole pipeline turn per record. */
#define CBPF_WAKE_NS 1000000ull
/* The programs' wake_ns for a wakeup per record (--delivery-ms 0): see
 * bpf/lib/vigil_common.h for why it is not 0. */
#define CBPF_WAKE_EVERY (1ull << 63)

/* The consumer promises to drain again by until_ns (CLOCK_MONOTONIC): the
 * programs need not force a wakeup for records submitted before then (less
 * CBPF_WAKE_NS and a 0.5 ms margin), so a busy stream costs one drain per timer
 * tick instead of a wakeup per record. A wakeup after the promise lapses is
 * forced as usual. Programs adopted from a previous run are not told (their
 * global data is not pinned): they keep the plain CBPF_WAKE_NS policy. */
void cbpf_polling(struct cbpf *cb, uint64_t until_ns);

/* Replace the file path prefixes (p[0..n), none and no CBPF_PFX_ON: every
 * path; pflags CBPF_PFX_*) and the operations while running: every path is sent while the prefix trie is
 * rewritten. 0, or -1 with err set. */
int cbpf_set_prefixes(struct cbpf *cb, const char *const *p, size_t n, unsigned pflags,
		      uint64_t ops, int chmod_all, char *err, size_t errlen);

/* Every file, network and privilege operation (bit n = VIGIL_OP n of events.h). */
#define CBPF_OPS_FILE 0x0000000000fffffeull /* VIGIL_OP_OPEN .. VIGIL_OP_FSETXATTR */
#define CBPF_OPS_NET 0x0000007f00000000ull  /* VIGIL_OP_CONNECT .. VIGIL_OP_DUP3 (net.bpf.o) */
#define CBPF_OPS_STDIO 0x0000008000000000ull /* VIGIL_OP_EXEC_STDIO (process.bpf.o) */
#define CBPF_OPS_PRIV 0x3fffff0000000000ull /* VIGIL_OP_SETUID .. VIGIL_OP_IO_URING_SETUP (priv.bpf.o) */
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

/* Detach and free everything, removing the pins and their directory (a clean
 * stop); safe on NULL. */
void cbpf_close(struct cbpf *cb);

#endif /* COLLECTOR_BPF_H */
