/* enricher_intern.h — interned, reference-counted strings for the process cache and the
 * pod store (main thread only).
 *
 * Most strings the enricher keeps repeat: thousands of processes share a binary, a cwd,
 * exec flags, the collector's extra Process fields; thousands of pods share namespaces,
 * label keys and values, images, container names. Each distinct byte string is stored
 * once, with a count of its holders, and found again through a hash table. A string is
 * handed out as a pointer to its bytes (NUL-terminated; it may contain NULs, its length
 * is istr_len()); the pointer is stable until the last reference goes. */
#ifndef VIGIL_ENRICHER_INTERN_H
#define VIGIL_ENRICHER_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct intern_stats {
	uint64_t strings; /* distinct strings held */
	uint64_t bytes;   /* their bytes (without headers) */
	uint64_t refs;    /* references handed out and not yet released */
	uint64_t block_bytes; /* mmap'd for small strings */
};

/* The interned copy of s[0..len) with a reference the caller owns; NULL when s is NULL. */
const char *istr_get(const char *s, size_t len);
/* istr_get(s, strlen(s)); NULL stays NULL. */
const char *istr_cstr(const char *s);
/* Another reference to an interned string (NULL is fine); returns s. */
const char *istr_ref(const char *s);
/* Drop a reference (NULL is fine); the last one frees the string. */
void istr_put(const char *s);
/* The length of an interned string (0 for NULL). */
size_t istr_len(const char *s);
void istr_get_stats(struct intern_stats *st);

#endif
