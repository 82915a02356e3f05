/* enricher_pack.h — msgpack written straight into a buffer, for the per-event path.
 *
 * msgpack-c's packer calls its write callback once per header and once per body, some
 * forty calls for one Process map; these inline writers fill a scratch buffer the
 * caller sized (enricher_pack_bound) and the packer then receives it in one write.
 * Integers take the smallest encoding, as msgpack-c's do. */
#ifndef VIGIL_ENRICHER_PACK_H
#define VIGIL_ENRICHER_PACK_H

#include <stdint.h>
#include <string.h>

/* A constant key: its fixstr header and bytes (keys here are under 32 characters). */
#define EP_KEY(o, lit) ((o)[0] = (char)(0xa0 | (sizeof(lit) - 1)), \
			memcpy((o) + 1, lit, sizeof(lit) - 1), (o) + sizeof(lit))

/* Store v big-endian in n bytes at o; returns o + n. */
static inline char *ep_be(char *o, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		o[i] = (char)(v & 0xff);
		v >>= 8;
	}
	return o + n;
}

/* A map header of n entries. */
static inline char *ep_map(char *o, uint32_t n)
{
	if (n < 16) {
		*o++ = (char)(0x80 | n);
		return o;
	}
	if (n < 65536) {
		*o++ = (char)0xde;
		return ep_be(o, n, 2);
	}
	*o++ = (char)0xdf;
	return ep_be(o, n, 4);
}

/* A string header of n bytes. */
static inline char *ep_strhdr(char *o, size_t n)
{
	if (n < 32) {
		*o++ = (char)(0xa0 | n);
		return o;
	}
	if (n < 256) {
		*o++ = (char)0xd9;
		*o++ = (char)n;
		return o;
	}
	if (n < 65536) {
		*o++ = (char)0xda;
		return ep_be(o, n, 2);
	}
	*o++ = (char)0xdb;
	return ep_be(o, n, 4);
}

/* A string. */
static inline char *ep_str(char *o, const char *s, size_t n)
{
	o = ep_strhdr(o, n);
	memcpy(o, s, n);
	return o + n;
}

/* An unsigned integer, smallest encoding. */
static inline char *ep_uint(char *o, uint64_t v)
{
	if (v < 128) {
		*o++ = (char)v;
		return o;
	}
	if (v < 256) {
		*o++ = (char)0xcc;
		*o++ = (char)v;
		return o;
	}
	if (v < 65536) {
		*o++ = (char)0xcd;
		return ep_be(o, v, 2);
	}
	if (v <= UINT32_MAX) {
		*o++ = (char)0xce;
		return ep_be(o, v, 4);
	}
	*o++ = (char)0xcf;
	return ep_be(o, v, 8);
}

/* The most bytes ep_str needs for a string of n bytes. */
#define EP_STR_MAX(n) ((n) + 5)
#define EP_UINT_MAX 9

/* ---- reading: just enough to copy a map's entries without decoding them ---- */

/* A big-endian number of n bytes at p. */
static inline uint64_t ep_rd(const char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

/* The end of the msgpack object at p (bounded by end), or NULL when it is malformed or
 * nested deeper than 32. */
static inline const char *ep_skip(const char *p, const char *end, int depth)
{
	uint8_t c;
	uint64_t n = 0, i;
	int hdr = 0, kids = 0;

	if (p >= end || depth > 32)
		return NULL;
	c = (uint8_t)*p;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return p + 1;
	if (c >= 0x80 && c <= 0x8f)
		n = (uint64_t)(c & 15) * 2, hdr = 1, kids = 1;
	else if (c >= 0x90 && c <= 0x9f)
		n = c & 15, hdr = 1, kids = 1;
	else if (c >= 0xa0 && c <= 0xbf)
		n = c & 31, hdr = 1;
	else
		switch (c) {
		case 0xc4: case 0xd9: hdr = 2; break;
		case 0xc5: case 0xda: hdr = 3; break;
		case 0xc6: case 0xdb: hdr = 5; break;
		case 0xc7: hdr = 3; break;  /* ext8: len, type */
		case 0xc8: hdr = 4; break;
		case 0xc9: hdr = 6; break;
		case 0xca: return p + 5 <= end ? p + 5 : NULL;
		case 0xcb: return p + 9 <= end ? p + 9 : NULL;
		case 0xcc: case 0xd0: return p + 2 <= end ? p + 2 : NULL;
		case 0xcd: case 0xd1: return p + 3 <= end ? p + 3 : NULL;
		case 0xce: case 0xd2: return p + 5 <= end ? p + 5 : NULL;
		case 0xcf: case 0xd3: return p + 9 <= end ? p + 9 : NULL;
		case 0xd4: return p + 3 <= end ? p + 3 : NULL;
		case 0xd5: return p + 4 <= end ? p + 4 : NULL;
		case 0xd6: return p + 6 <= end ? p + 6 : NULL;
		case 0xd7: return p + 10 <= end ? p + 10 : NULL;
		case 0xd8: return p + 18 <= end ? p + 18 : NULL;
		case 0xdc: hdr = 3, kids = 1; break;
		case 0xdd: hdr = 5, kids = 1; break;
		case 0xde: hdr = 3, kids = 2; break;
		case 0xdf: hdr = 5, kids = 2; break;
		default: return NULL; /* 0xc1: never used */
		}
	if (p + hdr > end)
		return NULL;
	if (c >= 0xc4) { /* the length follows the type byte */
		int w = (c == 0xc7 || c == 0xc8 || c == 0xc9) ? hdr - 2 : hdr - 1;

		n = ep_rd(p + 1, w);
		if (kids == 2)
			n *= 2;
	}
	p += hdr;
	if (!kids)
		return n <= (uint64_t)(end - p) ? p + n : NULL;
	for (i = 0; i < n; i++)
		if (!(p = ep_skip(p, end, depth + 1)))
			return NULL;
	return p;
}

/* The entry count of the map at p; returns where its first key starts, or NULL. */
static inline const char *ep_map_hdr(const char *p, const char *end, uint32_t *n)
{
	uint8_t c;

	if (p >= end)
		return NULL;
	c = (uint8_t)*p;
	if (c >= 0x80 && c <= 0x8f) {
		*n = c & 15;
		return p + 1;
	}
	if (c == 0xde && p + 3 <= end) {
		*n = (uint32_t)ep_rd(p + 1, 2);
		return p + 3;
	}
	if (c == 0xdf && p + 5 <= end) {
		*n = (uint32_t)ep_rd(p + 1, 4);
		return p + 5;
	}
	return NULL;
}

/* The bytes of the string at p (its length in *n), or NULL when p is not a string. */
static inline const char *ep_str_view(const char *p, const char *end, size_t *n)
{
	uint8_t c;
	int h;

	if (p >= end)
		return NULL;
	c = (uint8_t)*p;
	if (c >= 0xa0 && c <= 0xbf)
		h = 1, *n = c & 31;
	else if (c == 0xd9)
		h = 2;
	else if (c == 0xda)
		h = 3;
	else if (c == 0xdb)
		h = 5;
	else
		return NULL;
	if (p + h > end)
		return NULL;
	if (h > 1)
		*n = (size_t)ep_rd(p + 1, h - 1);
	if (*n > (size_t)(end - p - h))
		return NULL;
	return p + h;
}

#endif
