/* enricher_cache.h — the process cache: host tgid → the process's current exec
 * (Tetragon's exec_id scheme). Entries of exited processes stay until their pid is
 * reused or the cache is full (oldest exited first), so late children still find
 * their parent. */
#ifndef VIGIL_ENRICHER_CACHE_H
#define VIGIL_ENRICHER_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct proc {
	uint32_t pid, tid, ppid, uid, auid;
	uint64_t ktime;        /* monotonic ns of the exec/fork/start: part of exec_id */
	uint64_t start_time;   /* wall ns */
	char *exec_id, *parent_exec_id, *binary, *arguments, *cwd, *flags;
	char *extra;           /* packed msgpack map entries merged into Process (cap, ns, ...) */
	size_t extra_len;
	uint32_t extra_n;
	int exited;
	uint64_t exit_seq;     /* order of exit, for eviction */
	struct proc *next;     /* hash chain */
};

struct cache_stats {
	uint64_t size, evictions, misses, procfs;
};

void cache_init(const char *node_name, uint32_t capacity);
/* The entry for pid, or NULL. */
struct proc *cache_get(uint32_t pid);
/* A new entry for pid replacing any old one (pid reuse, or a new exec); strings copied. */
struct proc *cache_put(uint32_t pid, uint64_t ktime);
/* Fill an entry for a process we never saw start, from /proc/<pid>; NULL if gone. */
struct proc *cache_from_procfs(uint32_t pid, uint64_t ktime);
void cache_mark_exited(struct proc *p);
void cache_set(char **field, const char *s, size_t len);
/* base64("<node>:<ktime>:<pid>") in a new string. */
char *cache_exec_id(uint64_t ktime, uint32_t pid);
void cache_get_stats(struct cache_stats *st);

#endif
