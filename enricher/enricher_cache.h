/* enricher_cache.h — the process cache: host tgid → the process's current exec
 * (Tetragon's exec_id scheme), with a parent pointer per entry.
 *
 * Memory model: every entry is reference counted. References are held by the pid hash
 * (the entry is the current one for its pid), by each child whose `parent` points at it,
 * by held (pending) events, and by the exit ring (exited entries stay findable for a
 * short linger so late events still resolve). An entry is freed when the last reference
 * goes, so ancestors of a live process stay as long as it does. The hash holds at most
 * `capacity` entries: beyond that the least recently used one is unhashed (counted as an
 * eviction) in O(1). Strings of an exec (binary, arguments, cwd, flags) live in one
 * shared, reference-counted blob, which a forked child shares with its parent. */
#ifndef VIGIL_ENRICHER_CACHE_H
#define VIGIL_ENRICHER_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* binary, arguments, cwd, flags: NUL-terminated, one after the other in d[]. */
struct pblob {
	uint32_t ref;
	uint16_t off[4];  /* offsets of the four strings; length 0 = absent */
	uint16_t len[4];
	char d[];
};
enum { PB_BINARY, PB_ARGS, PB_CWD, PB_FLAGS };

struct proc {
	struct proc *hnext;          /* pid hash chain */
	struct proc *lprev, *lnext;  /* LRU list of hashed entries (head = most recent) */
	struct proc *parent;         /* a reference is held; NULL when unknown */
	struct pblob *blob;
	char *extra;                 /* packed msgpack map entries merged into Process */
	uint64_t ktime;              /* monotonic ns of the exec/fork/start: part of exec_id */
	uint64_t start_ktime;        /* fork time, monotonic ns: tells pid reuse apart */
	uint64_t start_time;         /* wall ns */
	uint64_t cgroup_id;
	uint64_t pktime;             /* parent's exec_id ktime when parent == NULL */
	uint64_t exit_ns;            /* monotonic ns of the exit, for the linger */
	uint32_t pid, tid, ppid, uid, auid;
	uint32_t nspid;              /* tgid in its own pid namespace (Container.pid); 0 = unknown */
	uint32_t ref;
	uint32_t extra_len, extra_n;
	uint8_t hashed, exited, clone, procfs;
};

struct cache_stats {
	uint64_t size, objects, evictions, misses, procfs, pid_reuse, reparent;
};

void cache_init(const char *node_name, uint32_t capacity);
/* The current entry for pid, or NULL (counted as a miss). Marks it recently used. */
struct proc *cache_get(uint32_t pid);
/* The current entry for pid without counting or touching the LRU order. */
struct proc *cache_peek(uint32_t pid);
/* A new current entry for pid (ref held by the hash), replacing any old one. */
struct proc *cache_put(uint32_t pid, uint64_t ktime);
/* Fill an entry for a process we never saw start, from /proc/<pid>; NULL if gone. */
struct proc *cache_from_procfs(uint32_t pid, uint64_t ktime);
/* Point p at parent pp (may be NULL), moving the reference. */
void cache_set_parent(struct proc *p, struct proc *pp);
/* Record the exit: the entry stays findable for linger_ms, then leaves the hash. */
void cache_mark_exited(struct proc *p);
/* Unhash exited entries whose linger is over (call from a timer). */
void cache_expire(uint64_t now_ns);
/* When cache_expire will next have work (mono ns); 0 when no exited process lingers. */
uint64_t cache_next_expiry(void);
void cache_ref(struct proc *p);
void cache_unref(struct proc *p);
/* Replace the string blob with the given strings (NULL = absent). */
void cache_set_strings(struct proc *p, const char *binary, size_t blen, const char *args,
		       size_t alen, const char *cwd, size_t clen, const char *flags, size_t flen);
/* Share src's blob (a fork child has its parent's binary, arguments and cwd). */
void cache_share_strings(struct proc *p, const struct proc *src);
/* A string of the entry, or NULL when absent. */
const char *cache_str(const struct proc *p, int which);
/* base64("<node>:<ktime>:<pid>") into buf (at least 448 bytes); returns buf. */
char *cache_exec_id_buf(uint64_t ktime, uint32_t pid, char *buf, size_t len);
void cache_get_stats(struct cache_stats *st);
void cache_set_linger(uint32_t ms);
void cache_count_reparent(void);
void cache_count_pid_reuse(void);

#endif
