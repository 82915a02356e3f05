/* enricher_cache.h — the process cache: host tgid → the process's current exec
 * (Tetragon's exec_id scheme), with a parent pointer per entry.
 *
 * Memory model: every entry is reference counted. References are held by the pid hash
 * (the entry is the current one for its pid), by each child whose `parent` points at it,
 * by held (pending) events, and by the exit ring (exited entries stay findable for a
 * short linger so late events still resolve). An entry is freed when the last reference
 * goes, so ancestors of a live process stay as long as it does. The hash holds at most
 * `capacity` entries: beyond that a CLOCK sweep (an approximation of least recently
 * used: an entry looked up since the hand last passed gets a second chance) unhashes
 * one, counted as an eviction.
 *
 * Entries are 128-byte slots in a slab (chunks of 2,048, no per-entry malloc); the pid
 * hash and its chains hold 32-bit slot numbers. Strings (binary, arguments, cwd, flags,
 * the collector's extra Process fields) are interned (enricher_intern.h): processes
 * running the same program in the same directory share one copy of each. */
#ifndef VIGIL_ENRICHER_CACHE_H
#define VIGIL_ENRICHER_CACHE_H

#include <stddef.h>
#include <stdint.h>

enum { PB_BINARY, PB_ARGS, PB_CWD, PB_FLAGS };

struct proc {
	struct proc *parent;         /* a reference is held; NULL when unknown */
	const char *str[4];          /* PB_*: interned, NULL when absent */
	const char *extra;           /* interned packed msgpack map entries merged into Process */
	uint64_t ktime;              /* monotonic ns of the exec/fork/start: part of exec_id */
	uint64_t start_ktime;        /* fork time, monotonic ns: tells pid reuse apart */
	uint64_t start_time;         /* wall ns */
	uint64_t cgroup_id;
	uint64_t pktime;             /* parent's exec_id ktime when parent == NULL */
	uint32_t hnext;              /* next slot in the pid hash chain (0 = end); free list */
	uint32_t slot;               /* own slot number */
	uint32_t pid, tid, ppid, uid, auid;
	uint32_t nspid;              /* tgid in its own pid namespace (Container.pid); 0 = unknown */
	uint32_t ref;
	uint16_t extra_n;            /* map entries in extra */
	uint8_t hashed : 1, exited : 1, clone : 1, procfs : 1, used : 1;
};

struct cache_stats {
	uint64_t size, objects, evictions, misses, procfs, pid_reuse, reparent, slab_bytes;
};

void cache_init(const char *node_name, uint32_t capacity);
/* The current entry for pid, or NULL (counted as a miss). Marks it recently used. */
struct proc *cache_get(uint32_t pid);
/* The current entry for pid without counting or touching the recency bit. */
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
/* Replace the strings with the given ones (NULL = absent), interned. */
void cache_set_strings(struct proc *p, const char *binary, size_t blen, const char *args,
		       size_t alen, const char *cwd, size_t clen, const char *flags, size_t flen);
/* Share src's strings and extra fields (a fork child has its parent's binary, ...). */
void cache_share_strings(struct proc *p, const struct proc *src);
/* Replace the extra Process fields: n packed map entries in buf[0..len) (n = 0: none). */
void cache_set_extra(struct proc *p, const char *buf, size_t len, uint32_t n);
/* A string of the entry, or NULL when absent. */
static inline const char *cache_str(const struct proc *p, int which)
{
	return p->str[which];
}
/* The length of a string of the entry (0 when absent). */
size_t cache_strlen(const struct proc *p, int which);
/* base64("<node>:<ktime>:<pid>") into buf (at least 448 bytes); returns its length. */
size_t cache_exec_id(uint64_t ktime, uint32_t pid, char *buf, size_t len);
/* The length cache_exec_id will write for (ktime, pid). */
size_t cache_exec_id_len(uint64_t ktime, uint32_t pid);
/* The same, returning buf. */
char *cache_exec_id_buf(uint64_t ktime, uint32_t pid, char *buf, size_t len);
void cache_get_stats(struct cache_stats *st);
void cache_set_linger(uint32_t ms);
void cache_count_reparent(void);
void cache_count_pid_reuse(void);

#endif
