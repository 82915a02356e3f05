/* enricher_cache.c — see enricher_cache.h. */
#include "enricher_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define NBUCKETS 65536

static struct proc *buckets[NBUCKETS];
static const char *node;
static uint32_t cap;
static uint64_t nentries, exits, evictions, misses, procfs;

void cache_init(const char *node_name, uint32_t capacity)
{
	node = node_name;
	cap = capacity;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		log_panic("out of memory");
	return p;
}

void cache_set(char **field, const char *s, size_t len)
{
	free(*field);
	*field = NULL;
	if (!s)
		return;
	*field = malloc(len + 1);
	if (!*field)
		log_panic("out of memory");
	memcpy(*field, s, len);
	(*field)[len] = '\0';
}

char *cache_exec_id(uint64_t ktime, uint32_t pid)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char raw[320];
	char *out, *o;
	size_t n, i;

	n = (size_t)snprintf(raw, sizeof(raw), "%s:%llu:%u", node, (unsigned long long)ktime, pid);
	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	o = out = xcalloc(1, (n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)raw[i] << 16 | (uint32_t)(uint8_t)raw[i + 1] << 8 |
			     (uint8_t)raw[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)(uint8_t)raw[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(uint8_t)raw[i + 1] << 8;
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void proc_free(struct proc *p)
{
	free(p->exec_id);
	free(p->parent_exec_id);
	free(p->binary);
	free(p->arguments);
	free(p->cwd);
	free(p->flags);
	free(p->extra);
	free(p);
}

struct proc *cache_get(uint32_t pid)
{
	struct proc *p;

	for (p = buckets[pid % NBUCKETS]; p; p = p->next)
		if (p->pid == pid)
			return p;
	misses++;
	return NULL;
}

static void cache_del(uint32_t pid)
{
	struct proc **pp, *p;

	for (pp = &buckets[pid % NBUCKETS]; (p = *pp); pp = &p->next)
		if (p->pid == pid) {
			*pp = p->next;
			proc_free(p);
			nentries--;
			return;
		}
}

/* Drop the longest-exited entry; a full scan is fine because it is rare. */
static void cache_evict(void)
{
	struct proc *victim = NULL, *p;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		for (p = buckets[b]; p; p = p->next)
			if (p->exited && (!victim || p->exit_seq < victim->exit_seq))
				victim = p;
	if (!victim) /* every entry alive: drop the one in the first non-empty bucket */
		for (b = 0; b < NBUCKETS && !victim; b++)
			victim = buckets[b];
	if (victim) {
		cache_del(victim->pid);
		evictions++;
	}
}

struct proc *cache_put(uint32_t pid, uint64_t ktime)
{
	struct proc *p;

	cache_del(pid);
	if (nentries >= cap)
		cache_evict();
	p = xcalloc(1, sizeof(*p));
	p->pid = p->tid = pid;
	p->ktime = ktime;
	p->exec_id = cache_exec_id(ktime, pid);
	p->next = buckets[pid % NBUCKETS];
	buckets[pid % NBUCKETS] = p;
	nentries++;
	return p;
}

void cache_mark_exited(struct proc *p)
{
	p->exited = 1;
	p->exit_seq = ++exits;
}

/* Read a small /proc file; returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

struct proc *cache_from_procfs(uint32_t pid, uint64_t ktime)
{
	char path[64], buf[4096], *s;
	struct proc *p;
	ssize_t n, i;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return NULL;
	p = cache_put(pid, ktime);
	procfs++;
	if ((s = strstr(buf, "\nUid:")))
		sscanf(s + 5, "%*u %u", &p->uid);
	if ((s = strstr(buf, "\nPPid:")))
		sscanf(s + 6, "%u", &p->ppid);
	p->auid = 4294967295u;
	snprintf(path, sizeof(path), "/proc/%u/loginuid", pid);
	if (read_small(path, buf, sizeof(buf)) > 0)
		p->auid = (uint32_t)strtoul(buf, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) > 0)
		cache_set(&p->binary, buf, (size_t)n);
	snprintf(path, sizeof(path), "/proc/%u/cwd", pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) > 0)
		cache_set(&p->cwd, buf, (size_t)n);
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	if ((n = read_small(path, buf, sizeof(buf))) > 0) {
		s = memchr(buf, '\0', (size_t)n); /* skip argv[0] */
		if (s && s + 1 < buf + n) {
			s++;
			for (i = s - buf; i < n - 1; i++)
				if (buf[i] == '\0')
					buf[i] = ' ';
			cache_set(&p->arguments, s, strnlen(s, (size_t)(buf + n - s)));
		}
	}
	cache_set(&p->flags, "procFS", 6);
	return p;
}

void cache_get_stats(struct cache_stats *st)
{
	st->size = nentries;
	st->evictions = evictions;
	st->misses = misses;
	st->procfs = procfs;
}
