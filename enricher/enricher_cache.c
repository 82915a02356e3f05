/* enricher_cache.c — see enricher_cache.h. */
#include "enricher_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "enricher_intern.h"
#include "log.h"

#define RING 16384      /* exited entries kept findable at most (each holds a reference) */
#define CHUNK_SHIFT 11  /* slab chunks of 2,048 entries (256 KiB) */
#define CHUNK (1u << CHUNK_SHIFT)
#define MAX_CHUNKS (1u << 20)

_Static_assert(sizeof(struct proc) == 128, "struct proc: keep it at two cache lines");

/* An exited entry waiting for its linger to end. */
struct ring_ent {
	struct proc *p;
	uint64_t exit_ns;
};

static uint32_t *buckets;  /* slot numbers, 0 = empty */
static uint32_t nbuckets;  /* a power of two */
static struct proc **chunks;
static uint32_t nchunks, nslots; /* slots handed out so far: 1..nslots-1 (0 = none) */
static uint32_t free_head;       /* free slots, chained through hnext */
static uint32_t hand = 1;        /* the CLOCK hand */
static char node_prefix[300];    /* "<node>:" */
static size_t node_plen;
static uint32_t cap, linger_ms = 2000;
static uint64_t nentries, nobjects, evictions, misses, procfs, pid_reuse, reparents;
static struct ring_ent ring[RING];
static uint32_t ring_head, ring_len;

/* The entry in slot i (i != 0). */
static inline struct proc *slot_p(uint32_t i)
{
	return &chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)];
}

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
	cap = capacity ? capacity : 1;
	for (nbuckets = 1024; nbuckets < cap && nbuckets < (1u << 22); nbuckets <<= 1)
		;
	free(buckets);
	buckets = xcalloc(nbuckets, sizeof(*buckets));
	if (!chunks)
		chunks = xcalloc(MAX_CHUNKS, sizeof(*chunks)); /* 8 MiB virtual, touched as used */
	if (!nslots)
		nslots = 1;
	node_plen = (size_t)snprintf(node_prefix, sizeof(node_prefix), "%s:",
				     node_name ? node_name : "");
	if (node_plen >= sizeof(node_prefix))
		node_plen = sizeof(node_prefix) - 1;
}

void cache_set_linger(uint32_t ms)
{
	linger_ms = ms;
}

void cache_count_reparent(void)
{
	reparents++;
}

/* Decimal digits of v at o; returns the end. */
static char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

size_t cache_exec_id(uint64_t ktime, uint32_t pid, char *buf, size_t len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char raw[340], *r;
	char *o = buf;
	size_t n, i;

	/* by hand, not snprintf: this runs twice or more for every event */
	memcpy(raw, node_prefix, node_plen);
	r = put_u64(raw + node_plen, ktime);
	*r++ = ':';
	r = put_u64(r, pid);
	n = (size_t)(r - raw);
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
	return (size_t)(o - buf);
}

/* Decimal digits of v. */
static size_t ndigits(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t cache_exec_id_len(uint64_t ktime, uint32_t pid)
{
	size_t n = node_plen + ndigits(ktime) + 1 + ndigits(pid);

	return (n + 2) / 3 * 4;
}

char *cache_exec_id_buf(uint64_t ktime, uint32_t pid, char *buf, size_t len)
{
	cache_exec_id(ktime, pid, buf, len);
	return buf;
}

/* A zeroed slot from the free list or the slab's end. */
static struct proc *slot_alloc(void)
{
	struct proc *p;
	uint32_t i = free_head;

	if (i) {
		p = slot_p(i);
		free_head = p->hnext;
	} else {
		i = nslots;
		if ((i >> CHUNK_SHIFT) >= MAX_CHUNKS)
			log_panic("process cache: slab exhausted");
		if (!chunks[i >> CHUNK_SHIFT]) {
			/* mmap, not malloc: long-lived, so kept out of the heap where a burst's
			 * message buffers would interleave; pages fill as slots are used */
			void *c = mmap(NULL, CHUNK * sizeof(struct proc), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (c == MAP_FAILED)
				log_panic("out of memory");
			chunks[i >> CHUNK_SHIFT] = c;
			nchunks++;
		}
		nslots++;
		p = slot_p(i);
	}
	memset(p, 0, sizeof(*p));
	p->slot = i;
	return p;
}

/* Release the strings of an entry. */
static void drop_strings(struct proc *p)
{
	int i;

	for (i = 0; i < 4; i++)
		istr_put(p->str[i]);
	istr_put(p->extra);
	memset(p->str, 0, sizeof(p->str));
	p->extra = NULL;
	p->extra_n = 0;
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

		drop_strings(p);
		p->parent = NULL;
		p->hnext = free_head;
		free_head = p->slot;
		nobjects--;
		p = parent;
	}
}

/* Take p out of the pid hash and drop the hash's reference. */
static void cache_unhash(struct proc *p)
{
	uint32_t *ip;

	if (!p->hashed)
		return;
	for (ip = &buckets[p->pid & (nbuckets - 1)]; *ip; ip = &slot_p(*ip)->hnext)
		if (*ip == p->slot) {
			*ip = p->hnext;
			break;
		}
	p->hnext = 0;
	p->hashed = 0;
	nentries--;
	cache_unref(p);
}

struct proc *cache_peek(uint32_t pid)
{
	uint32_t i;

	for (i = buckets[pid & (nbuckets - 1)]; i; i = slot_p(i)->hnext)
		if (slot_p(i)->pid == pid)
			return slot_p(i);
	return NULL;
}

struct proc *cache_get(uint32_t pid)
{
	struct proc *p = cache_peek(pid);

	if (!p) {
		misses++;
		return NULL;
	}
	p->used = 1;
	return p;
}

/* Unhash one entry the CLOCK hand finds not used since its last pass. */
static void evict_one(void)
{
	uint32_t scanned = 0;

	while (scanned < 2 * nslots + 2) {
		struct proc *p;

		if (hand >= nslots)
			hand = 1;
		p = slot_p(hand++);
		scanned++;
		if (!p->ref || !p->hashed)
			continue;
		if (p->used) {
			p->used = 0;
			continue;
		}
		cache_unhash(p);
		evictions++;
		return;
	}
}

struct proc *cache_put(uint32_t pid, uint64_t ktime)
{
	struct proc *p, *old = cache_peek(pid);
	uint32_t b;

	if (old)
		cache_unhash(old);
	if (nentries >= cap)
		evict_one();
	p = slot_alloc();
	p->pid = p->tid = pid;
	p->ktime = ktime;
	p->auid = 4294967295u;
	p->ref = 1;
	p->hashed = 1;
	p->used = 1;
	b = pid & (nbuckets - 1);
	p->hnext = buckets[b];
	buckets[b] = p->slot;
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
	if (!p->hashed)
		return;
	if (ring_len == RING) { /* full: the oldest leaves early */
		struct proc *o = ring[ring_head].p;

		ring_head = (ring_head + 1) % RING;
		ring_len--;
		if (o->hashed && o->exited)
			cache_unhash(o);
		cache_unref(o);
	}
	cache_ref(p);
	ring[(ring_head + ring_len) % RING].p = p;
	ring[(ring_head + ring_len) % RING].exit_ns = mono_ns();
	ring_len++;
}

void cache_expire(uint64_t now_ns)
{
	while (ring_len) {
		struct proc *o = ring[ring_head].p;

		if (now_ns - ring[ring_head].exit_ns < (uint64_t)linger_ms * 1000000ull)
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
	return ring[ring_head].exit_ns + (uint64_t)linger_ms * 1000000ull;
}

void cache_set_strings(struct proc *p, const char *binary, size_t blen, const char *args,
		       size_t alen, const char *cwd, size_t clen, const char *flags, size_t flen)
{
	const char *s[4] = { binary, args, cwd, flags };
	size_t l[4] = { blen, alen, clen, flen }, i;

	for (i = 0; i < 4; i++) {
		/* an empty string is absent, as before: protojson leaves it out */
		const char *n = s[i] && l[i] ? istr_get(s[i], l[i]) : NULL;

		istr_put(p->str[i]);
		p->str[i] = n;
	}
}

void cache_share_strings(struct proc *p, const struct proc *src)
{
	int i;

	for (i = 0; i < 4; i++) {
		const char *n = istr_ref(src->str[i]);

		istr_put(p->str[i]);
		p->str[i] = n;
	}
	cache_set_extra(p, src->extra, istr_len(src->extra), src->extra_n);
}

void cache_set_extra(struct proc *p, const char *buf, size_t len, uint32_t n)
{
	const char *x = n && n <= UINT16_MAX && buf && len ? istr_get(buf, len) : NULL;

	istr_put(p->extra);
	p->extra = x;
	p->extra_n = x ? (uint16_t)n : 0;
}

size_t cache_strlen(const struct proc *p, int which)
{
	return istr_len(p->str[which]);
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
	st->slab_bytes = (uint64_t)nchunks * CHUNK * sizeof(struct proc);
}
