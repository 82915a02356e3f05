/* enricher_intern.c — see enricher_intern.h. */
#include "enricher_intern.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

struct istr {
	struct istr *next; /* hash chain */
	uint32_t ref;
	uint32_t hash;
	uint32_t len;
	char d[];
};

/* Small strings live in size classes of 8 bytes carved from 64 KiB mmap'd blocks, away
 * from the malloc heap: they are long-lived and would otherwise be strewn among the
 * per-message buffers of a burst, pinning its pages (glibc cannot trim a page that holds
 * one live chunk). Freed slots go to their class's free list; blocks are not returned
 * (the cache's capacity bounds them). Larger strings use malloc. */
#define CLASS_MAX 512
#define BLOCK (64u << 10)
#define NCLASS (CLASS_MAX / 8)

static void *free_list[NCLASS + 1];
static char *blk_cur;
static size_t blk_left;
static uint64_t blk_bytes;

static struct istr **tab;
static uint32_t nb; /* buckets, a power of two; 0 before the first string */
static uint64_t nstr, nbytes, nrefs;

/* The header of an interned string's bytes. */
static struct istr *hdr(const char *s)
{
	return (struct istr *)(void *)(s - offsetof(struct istr, d));
}

/* FNV-1a: strings here are short, and this runs once per exec or pod, not per event. */
static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* Memory for an entry of sz bytes (header included). */
static void *slot_alloc(size_t sz)
{
	size_t c = (sz + 7) / 8;
	void *p;

	if (c > NCLASS) {
		p = malloc(sz);
		if (!p)
			log_panic("out of memory");
		return p;
	}
	if ((p = free_list[c])) {
		free_list[c] = *(void **)p;
		return p;
	}
	if (blk_left < c * 8) {
		void *b = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (b == MAP_FAILED)
			log_panic("out of memory");
		/* the tail of the old block is too small for this class: give it to a
		 * smaller one rather than waste it */
		if (blk_left >= 8) {
			*(void **)blk_cur = free_list[blk_left / 8];
			free_list[blk_left / 8] = blk_cur;
		}
		blk_cur = b;
		blk_left = BLOCK;
		blk_bytes += BLOCK;
	}
	p = blk_cur;
	blk_cur += c * 8;
	blk_left -= c * 8;
	return p;
}

/* Give back the memory of an entry of sz bytes. */
static void slot_free(void *p, size_t sz)
{
	size_t c = (sz + 7) / 8;

	if (c > NCLASS) {
		free(p);
		return;
	}
	*(void **)p = free_list[c];
	free_list[c] = p;
}

/* Double the bucket array (or make the first one) and rehash. */
static void grow(void)
{
	uint32_t n = nb ? nb * 2 : 4096, i;
	struct istr **t = calloc(n, sizeof(*t)), *e, *next;

	if (!t)
		log_panic("out of memory");
	for (i = 0; i < nb; i++)
		for (e = tab[i]; e; e = next) {
			next = e->next;
			e->next = t[e->hash & (n - 1)];
			t[e->hash & (n - 1)] = e;
		}
	free(tab);
	tab = t;
	nb = n;
}

const char *istr_get(const char *s, size_t len)
{
	struct istr *e;
	uint32_t h;

	if (!s)
		return NULL;
	if (len > UINT32_MAX - 1)
		len = UINT32_MAX - 1;
	if (nstr >= 2 * (uint64_t)nb) /* chains of two on average: half the table's memory */
		grow();
	h = hash_bytes(s, len);
	for (e = tab[h & (nb - 1)]; e; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->d, s, len) == 0) {
			e->ref++;
			nrefs++;
			return e->d;
		}
	e = slot_alloc(offsetof(struct istr, d) + len + 1);
	e->ref = 1;
	e->hash = h;
	e->len = (uint32_t)len;
	memcpy(e->d, s, len);
	e->d[len] = '\0';
	e->next = tab[h & (nb - 1)];
	tab[h & (nb - 1)] = e;
	nstr++;
	nbytes += len;
	nrefs++;
	return e->d;
}

const char *istr_cstr(const char *s)
{
	return s ? istr_get(s, strlen(s)) : NULL;
}

const char *istr_ref(const char *s)
{
	if (s) {
		hdr(s)->ref++;
		nrefs++;
	}
	return s;
}

void istr_put(const char *s)
{
	struct istr *e, **pp;

	if (!s)
		return;
	e = hdr(s);
	nrefs--;
	if (--e->ref)
		return;
	for (pp = &tab[e->hash & (nb - 1)]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	nstr--;
	nbytes -= e->len;
	slot_free(e, offsetof(struct istr, d) + e->len + 1);
}

size_t istr_len(const char *s)
{
	return s ? hdr(s)->len : 0;
}

void istr_get_stats(struct intern_stats *st)
{
	st->strings = nstr;
	st->bytes = nbytes;
	st->refs = nrefs;
	st->block_bytes = blk_bytes;
}
