/* enricher_cache.c — see enricher_cache.h. */
#include "enricher_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define RING 16384 /* exited entries kept findable at most (each holds a reference) */

static struct proc **buckets;
static uint32_t nbuckets; /* a power of two */
static struct proc *lru_head, *lru_tail;
static const char *node;
static uint32_t cap, linger_ms = 2000;
static uint64_t nentries, nobjects, evictions, misses, procfs, pid_reuse, reparents;
static struct proc *ring[RING];
static uint32_t ring_head, ring_len;

/* Allocate zeroed memory or abort: the enricher treats OOM as fatal. */
static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		log_panic("out of memory");
	return p;
}

void cache_init(const char *node_name, uint32_t capacity)
{
	node = node_name;
	cap = capacity ? capacity : 1;
	for (nbuckets = 1024; nbuckets < cap / 2 && nbuckets < (1u << 22); nbuckets <<= 1)
		;
	free(buckets);
	buckets = xcalloc(nbuckets, sizeof(*buckets));
}

void cache_set_linger(uint32_t ms)
{
	linger_ms = ms;
}

void cache_count_reparent(void)
{
	reparents++;
}

char *cache_exec_id_buf(uint64_t ktime, uint32_t pid, char *buf, size_t len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char raw[320];
	char *o = buf;
	size_t n, i;

	n = (size_t)snprintf(raw, sizeof(raw), "%s:%llu:%u", node ? node : "",
			     (unsigned long long)ktime, pid);
	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	if (len < (n + 2) / 3 * 4 + 1)
		log_panic("exec_id buffer too small");
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
	return buf;
}

/* Drop one reference to a blob, freeing it with the last. */
static void blob_unref(struct pblob *b)
{
	if (b && --b->ref == 0)
		free(b);
}

void cache_ref(struct proc *p)
{
	p->ref++;
}

/* Drop a reference; the last one frees the entry and, iteratively, its parent's. */
void cache_unref(struct proc *p)
{
	while (p && --p->ref == 0) {
		struct proc *parent = p->parent;

		blob_unref(p->blob);
		free(p->extra);
		free(p);
		nobjects--;
		p = parent;
	}
}

/* Unlink p from the LRU list. */
static void lru_unlink(struct proc *p)
{
	if (p->lprev)
		p->lprev->lnext = p->lnext;
	else
		lru_head = p->lnext;
	if (p->lnext)
		p->lnext->lprev = p->lprev;
	else
		lru_tail = p->lprev;
	p->lprev = p->lnext = NULL;
}

/* Put p at the head of the LRU list. */
static void lru_push(struct proc *p)
{
	p->lprev = NULL;
	p->lnext = lru_head;
	if (lru_head)
		lru_head->lprev = p;
	lru_head = p;
	if (!lru_tail)
		lru_tail = p;
}

/* Take p out of the pid hash and drop the hash's reference. */
static void cache_unhash(struct proc *p)
{
	struct proc **pp;

	if (!p->hashed)
		return;
	for (pp = &buckets[p->pid & (nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	p->hnext = NULL;
	p->hashed = 0;
	lru_unlink(p);
	nentries--;
	cache_unref(p);
}

struct proc *cache_peek(uint32_t pid)
{
	struct proc *p;

	for (p = buckets[pid & (nbuckets - 1)]; p; p = p->hnext)
		if (p->pid == pid)
			return p;
	return NULL;
}

struct proc *cache_get(uint32_t pid)
{
	struct proc *p = cache_peek(pid);

	if (!p) {
		misses++;
		return NULL;
	}
	if (p != lru_head) {
		lru_unlink(p);
		lru_push(p);
	}
	return p;
}

struct proc *cache_put(uint32_t pid, uint64_t ktime)
{
	struct proc *p, *old = cache_peek(pid);

	if (old)
		cache_unhash(old);
	if (nentries >= cap && lru_tail) {
		cache_unhash(lru_tail);
		evictions++;
	}
	p = xcalloc(1, sizeof(*p));
	p->pid = p->tid = pid;
	p->ktime = ktime;
	p->auid = 4294967295u;
	p->ref = 1;
	p->hashed = 1;
	p->hnext = buckets[pid & (nbuckets - 1)];
	buckets[pid & (nbuckets - 1)] = p;
	lru_push(p);
	nentries++;
	nobjects++;
	return p;
}

void cache_set_parent(struct proc *p, struct proc *pp)
{
	struct proc *old = p->parent;

	if (pp == old)
		return;
	if (pp)
		cache_ref(pp);
	p->parent = pp;
	cache_unref(old);
}

void cache_count_pid_reuse(void)
{
	pid_reuse++;
}

void cache_mark_exited(struct proc *p)
{
	if (p->exited)
		return;
	p->exited = 1;
	p->exit_ns = mono_ns();
	if (!p->hashed)
		return;
	if (ring_len == RING) { /* full: the oldest leaves early */
		struct proc *o = ring[ring_head];

		ring_head = (ring_head + 1) % RING;
		ring_len--;
		if (o->hashed && o->exited)
			cache_unhash(o);
		cache_unref(o);
	}
	cache_ref(p);
	ring[(ring_head + ring_len++) % RING] = p;
}

void cache_expire(uint64_t now_ns)
{
	while (ring_len) {
		struct proc *o = ring[ring_head];

		if (now_ns - o->exit_ns < (uint64_t)linger_ms * 1000000ull)
			break;
		ring_head = (ring_head + 1) % RING;
		ring_len--;
		if (o->hashed)
			cache_unhash(o);
		cache_unref(o);
	}
}

uint64_t cache_next_expiry(void)
{
	if (!ring_len)
		return 0;
	return ring[ring_head]->exit_ns + (uint64_t)linger_ms * 1000000ull;
}

void cache_set_strings(struct proc *p, const char *binary, size_t blen, const char *args,
		       size_t alen, const char *cwd, size_t clen, const char *flags, size_t flen)
{
	const char *s[4] = { binary, args, cwd, flags };
	size_t l[4] = { blen, alen, clen, flen }, total = 0, i;
	struct pblob *b;

	for (i = 0; i < 4; i++) {
		if (!s[i])
			l[i] = 0;
		if (l[i] > 16000) /* offsets are 16 bits: the collector caps paths at 4 KiB anyway */
			l[i] = 16000;
		total += l[i] + 1;
	}
	b = malloc(sizeof(*b) + total);
	if (!b)
		log_panic("out of memory");
	b->ref = 1;
	total = 0;
	for (i = 0; i < 4; i++) {
		b->off[i] = (uint16_t)total;
		b->len[i] = (uint16_t)l[i];
		if (l[i])
			memcpy(b->d + total, s[i], l[i]);
		b->d[total + l[i]] = '\0';
		total += l[i] + 1;
	}
	blob_unref(p->blob);
	p->blob = b;
}

void cache_share_strings(struct proc *p, const struct proc *src)
{
	if (src->blob)
		src->blob->ref++;
	blob_unref(p->blob);
	p->blob = src->blob;
}

const char *cache_str(const struct proc *p, int which)
{
	if (!p->blob || !p->blob->len[which])
		return NULL;
	return p->blob->d + p->blob->off[which];
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

/* The last field of the "NSpid:" line of a /proc/<pid>/status text: the pid in the
 * innermost pid namespace, which is the process's own; 0 when the line is missing. */
static uint32_t procfs_nspid(const char *status)
{
	const char *s = strstr(status, "\nNSpid:");
	unsigned long v, last = 0;
	char *end;

	if (!s)
		return 0;
	for (s += 7; *s && *s != '\n'; s = end) {
		v = strtoul(s, &end, 10);
		if (end == s)
			break;
		last = v;
	}
	return last <= UINT32_MAX ? (uint32_t)last : 0;
}

struct proc *cache_from_procfs(uint32_t pid, uint64_t ktime)
{
	char path[64], buf[4096], bin[4096], cwd[4096], *s, *args = NULL;
	ssize_t n, i, blen = -1, clen = -1;
	size_t alen = 0;
	struct proc *p;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return NULL;
	p = cache_put(pid, ktime);
	p->start_ktime = ktime;
	p->procfs = 1;
	procfs++;
	if ((s = strstr(buf, "\nUid:")))
		sscanf(s + 5, "%*u %u", &p->uid);
	if ((s = strstr(buf, "\nPPid:")))
		sscanf(s + 6, "%u", &p->ppid);
	p->nspid = procfs_nspid(buf);
	snprintf(path, sizeof(path), "/proc/%u/loginuid", pid);
	if (read_small(path, buf, sizeof(buf)) > 0)
		p->auid = (uint32_t)strtoul(buf, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	blen = readlink(path, bin, sizeof(bin) - 1);
	snprintf(path, sizeof(path), "/proc/%u/cwd", pid);
	clen = readlink(path, cwd, sizeof(cwd) - 1);
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	if ((n = read_small(path, buf, sizeof(buf))) > 0) {
		s = memchr(buf, '\0', (size_t)n); /* skip argv[0] */
		if (s && s + 1 < buf + n) {
			s++;
			for (i = s - buf; i < n - 1; i++)
				if (buf[i] == '\0')
					buf[i] = ' ';
			args = s;
			alen = strnlen(s, (size_t)(buf + n - s));
		}
	}
	cache_set_strings(p, blen > 0 ? bin : NULL, blen > 0 ? (size_t)blen : 0, args, alen,
			  clen > 0 ? cwd : NULL, clen > 0 ? (size_t)clen : 0, "procFS", 6);
	return p;
}

void cache_get_stats(struct cache_stats *st)
{
	st->size = nentries;
	st->objects = nobjects;
	st->evictions = evictions;
	st->misses = misses;
	st->procfs = procfs;
	st->pid_reuse = pid_reuse;
	st->reparent = reparents;
}
