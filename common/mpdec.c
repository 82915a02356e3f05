/* mpdec.c — see mpdec.h. A recursive-descent decoder: one switch per object, arrays and
 * maps filled in place (msgpack-c builds each object on its stack, then copies it into
 * its parent), and the commonest elements of an envelope (fixstr, positive fixint, str8,
 * uint 8-64) decoded inline in the container loops without a call. */
#include "mpdec.h"

#include <stdint.h>
#include <string.h>

/* Internal results; the negative ones are msgpack_unpack_return's error codes. */
enum {
	MPD_OK = 0,
	MPD_CONT = 1, /* the buffer ends inside the object; d->p is where msgpack-c stops */
	MPD_PARSE = MSGPACK_UNPACK_PARSE_ERROR,
	MPD_NOMEM = MSGPACK_UNPACK_NOMEM_ERROR,
};

struct mpd {
	const unsigned char *p;  /* the next byte to decode */
	const unsigned char *pe; /* the end of the buffer */
	msgpack_zone *zone;
	/* Element slots that may still be allocated: the input's length at first. A
	 * complete object has fewer elements in all its arrays and maps (a pair counting
	 * two) than bytes, so this never stops a good input; a bad one (claimed counts
	 * nested in incomplete containers) gets at most 24 bytes per input byte. */
	size_t budget;
};

static int mpd_obj(struct mpd *d, msgpack_object *o, unsigned depth);
static int mpd_array(struct mpd *d, msgpack_object *o, uint32_t n, unsigned depth);
static int mpd_map(struct mpd *d, msgpack_object *o, uint32_t n, unsigned depth);

/* A big-endian 16-bit value at p (any alignment). */
static inline uint16_t mpd_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A big-endian 32-bit value at p (any alignment). */
static inline uint32_t mpd_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

/* A big-endian 64-bit value at p (any alignment). */
static inline uint64_t mpd_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

/* The buffer ends inside an object: msgpack-c reports everything before q as consumed
 * (q is the start of the header field or body it was waiting for). */
static inline int mpd_cont(struct mpd *d, const unsigned char *q)
{
	d->p = q;
	return MPD_CONT;
}

/* A signed value: msgpack-c makes non-negative ones positive integers. */
static inline void mpd_int(msgpack_object *o, int64_t v)
{
	if (v >= 0) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = (uint64_t)v;
	} else {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v;
	}
}

/* Decode an element of a container at *pp into e (d->p is not kept up to date in the
 * loops, and pe is d->pe: both stay in registers): the formats an envelope is mostly
 * made of (fixstr, positive fixint, str8, uint 8-64) inline, fixmaps and fixarrays
 * without the switch, everything else by mpd_obj. depth counts the containers around e. */
static inline __attribute__((always_inline)) int mpd_elem(struct mpd *d,
							  const unsigned char **pp,
							  const unsigned char *pe,
							  msgpack_object *e, unsigned depth)
{
	const unsigned char *p = *pp;
	size_t left = (size_t)(pe - p);
	int r;

	if (left) {
		unsigned c = *p;

		if ((c & 0xe0) == 0xa0) {
			if ((c & 0x1f) < left) {
				e->type = MSGPACK_OBJECT_STR;
				e->via.str.size = c & 0x1f;
				e->via.str.ptr = (const char *)p + 1;
				*pp = p + 1 + (c & 0x1f);
				return MPD_OK;
			}
		} else if (c <= 0x7f) {
			e->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			e->via.u64 = c;
			*pp = p + 1;
			return MPD_OK;
		} else if (c == 0xd9) {
			if (left >= 2 && (size_t)p[1] < left - 1) {
				e->type = MSGPACK_OBJECT_STR;
				e->via.str.size = p[1];
				e->via.str.ptr = (const char *)p + 2;
				*pp = p + 2 + p[1];
				return MPD_OK;
			}
		} else if (c >= 0xcc && c <= 0xcf) {
			size_t h = (size_t)1 << (c - 0xcc);

			if (h < left) {
				e->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
				e->via.u64 = h == 8 ? mpd_be64(p + 1) : h == 4 ? mpd_be32(p + 1) :
					     h == 2 ? mpd_be16(p + 1) : p[1];
				*pp = p + 1 + h;
				return MPD_OK;
			}
		} else if ((c & 0xe0) == 0x80) { /* fixmap, fixarray */
			if (depth >= MPDEC_MAX_DEPTH)
				return MPD_NOMEM;
			d->p = p + 1;
			r = c < 0x90 ? mpd_map(d, e, c & 0x0f, depth + 1) :
				       mpd_array(d, e, c & 0x0f, depth + 1);
			*pp = d->p;
			return r;
		}
	}
	d->p = p;
	r = mpd_obj(d, e, depth);
	*pp = d->p;
	return r;
}

/* The elements of a container that cannot complete (see mpd_array): decoded one by one
 * into a scratch object, only for the result, and o made a nil. Each element takes a
 * byte at least, so this ends with the input. */
static int mpd_nostore(struct mpd *d, msgpack_object *o, uint64_t n, unsigned depth)
{
	const unsigned char *p = d->p, *pe = d->pe;
	msgpack_object tmp;
	int r;

	o->type = MSGPACK_OBJECT_NIL;
	while (n--)
		if ((r = mpd_elem(d, &p, pe, &tmp, depth)) != MPD_OK)
			return r;
	/* All there (a count within the bytes but past the budget): some other container
	 * cannot complete, so the whole parse still fails. */
	d->p = p;
	return MPD_OK;
}

/* An array of n elements whose header ends at d->p. Elements that cannot all be in the
 * buffer (more than the bytes left, or than the budget) get no storage: the parse goes
 * on only for its result, which cannot be a success. */
static int mpd_array(struct mpd *d, msgpack_object *o, uint32_t n, unsigned depth)
{
	const unsigned char *p = d->p, *pe = d->pe;
	msgpack_object *a, *end;
	int r;

	if (n > (size_t)(pe - p) || n > d->budget)
		return mpd_nostore(d, o, n, depth);
	d->budget -= n;
	a = msgpack_zone_malloc(d->zone, (size_t)n * sizeof(*a));
	if (!a)
		return MPD_NOMEM;
	o->type = MSGPACK_OBJECT_ARRAY;
	o->via.array.size = n;
	o->via.array.ptr = a;
	for (end = a + n; a < end; a++)
		if ((r = mpd_elem(d, &p, pe, a, depth)) != MPD_OK)
			return r;
	d->p = p;
	return MPD_OK;
}

/* A map of n pairs whose header ends at d->p; storage as for arrays (a pair takes at
 * least two bytes). */
static int mpd_map(struct mpd *d, msgpack_object *o, uint32_t n, unsigned depth)
{
	const unsigned char *p = d->p, *pe = d->pe;
	msgpack_object_kv *kv, *end;
	int r;

	if ((uint64_t)n * 2 > (uint64_t)(pe - p) || (uint64_t)n * 2 > d->budget)
		return mpd_nostore(d, o, (uint64_t)n * 2, depth);
	d->budget -= (size_t)n * 2;
	kv = msgpack_zone_malloc(d->zone, (size_t)n * sizeof(*kv));
	if (!kv)
		return MPD_NOMEM;
	o->type = MSGPACK_OBJECT_MAP;
	o->via.map.size = n;
	o->via.map.ptr = kv;
	for (end = kv + n; kv < end; kv++)
		if ((r = mpd_elem(d, &p, pe, &kv->key, depth)) != MPD_OK ||
		    (r = mpd_elem(d, &p, pe, &kv->val, depth)) != MPD_OK)
			return r;
	d->p = p;
	return MPD_OK;
}

/* Decode the object at d->p into o; depth is the number of containers around it. */
static int mpd_obj(struct mpd *d, msgpack_object *o, unsigned depth)
{
	const unsigned char *p = d->p, *pe = d->pe;
	size_t left;
	uint32_t n;
	unsigned c;

	if (p == pe)
		return mpd_cont(d, p);
	c = *p++;
	left = (size_t)(pe - p); /* bytes after the type byte */
	switch (c) {
	case 0x00 ... 0x7f:
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = c;
		break;
	case 0xe0 ... 0xff:
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = (int8_t)c;
		break;
	case 0xa0 ... 0xbf:
		n = c & 0x1f;
		goto str;
	case 0x80 ... 0x8f:
		n = c & 0x0f;
		goto map;
	case 0x90 ... 0x9f:
		n = c & 0x0f;
		goto array;
	case 0xc0:
		o->type = MSGPACK_OBJECT_NIL;
		break;
	case 0xc2:
	case 0xc3:
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = c == 0xc3;
		break;
	case 0xc4: /* bin 8/16/32 */
	case 0xc5:
	case 0xc6: {
		size_t h = (size_t)1 << (c - 0xc4);

		if (left < h)
			return mpd_cont(d, p);
		n = h == 1 ? p[0] : h == 2 ? mpd_be16(p) : mpd_be32(p);
		p += h;
		if (n > (size_t)(pe - p))
			return mpd_cont(d, p);
		o->type = MSGPACK_OBJECT_BIN;
		o->via.bin.size = n;
		o->via.bin.ptr = (const char *)p;
		p += n;
		break;
	}
	case 0xc7: /* ext 8/16/32: a length, then the type byte and the data */
	case 0xc8:
	case 0xc9: {
		size_t h = (size_t)1 << (c - 0xc7);

		if (left < h)
			return mpd_cont(d, p);
		n = h == 1 ? p[0] : h == 2 ? mpd_be16(p) : mpd_be32(p);
		p += h;
		goto ext;
	}
	case 0xca: { /* float 32: kept as a double, typed FLOAT32 as msgpack-c does */
		uint32_t b;
		float f;

		if (left < 4)
			return mpd_cont(d, p);
		b = mpd_be32(p);
		memcpy(&f, &b, 4);
		o->type = MSGPACK_OBJECT_FLOAT32;
		o->via.f64 = f;
		p += 4;
		break;
	}
	case 0xcb: {
		uint64_t b;

		if (left < 8)
			return mpd_cont(d, p);
		b = mpd_be64(p);
		o->type = MSGPACK_OBJECT_FLOAT64;
		memcpy(&o->via.f64, &b, 8);
		p += 8;
		break;
	}
	case 0xcc: /* uint 8/16/32/64 */
		if (left < 1)
			return mpd_cont(d, p);
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = p[0];
		p += 1;
		break;
	case 0xcd:
		if (left < 2)
			return mpd_cont(d, p);
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = mpd_be16(p);
		p += 2;
		break;
	case 0xce:
		if (left < 4)
			return mpd_cont(d, p);
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = mpd_be32(p);
		p += 4;
		break;
	case 0xcf:
		if (left < 8)
			return mpd_cont(d, p);
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = mpd_be64(p);
		p += 8;
		break;
	case 0xd0: /* int 8/16/32/64 */
		if (left < 1)
			return mpd_cont(d, p);
		mpd_int(o, (int8_t)p[0]);
		p += 1;
		break;
	case 0xd1:
		if (left < 2)
			return mpd_cont(d, p);
		mpd_int(o, (int16_t)mpd_be16(p));
		p += 2;
		break;
	case 0xd2:
		if (left < 4)
			return mpd_cont(d, p);
		mpd_int(o, (int32_t)mpd_be32(p));
		p += 4;
		break;
	case 0xd3:
		if (left < 8)
			return mpd_cont(d, p);
		mpd_int(o, (int64_t)mpd_be64(p));
		p += 8;
		break;
	case 0xd4 ... 0xd8: /* fixext 1/2/4/8/16 */
		n = 1u << (c - 0xd4);
		goto ext;
	case 0xd9: /* str 8/16/32 */
	case 0xda:
	case 0xdb: {
		size_t h = (size_t)1 << (c - 0xd9);

		if (left < h)
			return mpd_cont(d, p);
		n = h == 1 ? p[0] : h == 2 ? mpd_be16(p) : mpd_be32(p);
		p += h;
		goto str;
	}
	case 0xdc: /* array 16/32, map 16/32 */
	case 0xde:
		if (left < 2)
			return mpd_cont(d, p);
		n = mpd_be16(p);
		p += 2;
		goto container;
	case 0xdd:
	case 0xdf:
		if (left < 4)
			return mpd_cont(d, p);
		n = mpd_be32(p);
		p += 4;
		goto container;
	default: /* 0xc1 */
		return MPD_PARSE;
	}
	d->p = p;
	return MPD_OK;

str:
	if (n > (size_t)(pe - p))
		return mpd_cont(d, p);
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.size = n;
	o->via.str.ptr = (const char *)p;
	d->p = p + n;
	return MPD_OK;

ext:
	/* The body is the type byte and n bytes; msgpack-c computes that as a 32-bit n + 1,
	 * which is 0 for ext32 0xffffffff: a parse error whatever follows. */
	if (n == UINT32_MAX)
		return MPD_PARSE;
	if ((size_t)n + 1 > (size_t)(pe - p))
		return mpd_cont(d, p);
	o->type = MSGPACK_OBJECT_EXT;
	o->via.ext.type = (int8_t)p[0];
	o->via.ext.size = n;
	o->via.ext.ptr = (const char *)p + 1;
	d->p = p + 1 + n;
	return MPD_OK;

container:
	/* 0xdc, 0xdd: arrays; 0xde, 0xdf: maps */
	if (depth >= MPDEC_MAX_DEPTH)
		return MPD_NOMEM;
	d->p = p;
	return c <= 0xdd ? mpd_array(d, o, n, depth + 1) : mpd_map(d, o, n, depth + 1);
map:
	if (depth >= MPDEC_MAX_DEPTH)
		return MPD_NOMEM;
	d->p = p;
	return mpd_map(d, o, n, depth + 1);
array:
	if (depth >= MPDEC_MAX_DEPTH)
		return MPD_NOMEM;
	d->p = p;
	return mpd_array(d, o, n, depth + 1);
}

msgpack_unpack_return mpdec_unpack(const char *buf, size_t len, size_t *off, msgpack_zone *zone,
				   msgpack_object *out)
{
	size_t noff = off ? *off : 0;
	msgpack_object root;
	struct mpd d;
	int r;

	if (len <= noff)
		return MSGPACK_UNPACK_CONTINUE; /* as msgpack-c: *off untouched */
	if (!zone)
		return MSGPACK_UNPACK_NOMEM_ERROR;
	d.p = (const unsigned char *)buf + noff;
	d.pe = (const unsigned char *)buf + len;
	d.zone = zone;
	d.budget = len - noff;
	r = mpd_obj(&d, &root, 0);
	if (r < 0)
		return (msgpack_unpack_return)r;
	if (off)
		*off = (size_t)(d.p - (const unsigned char *)buf);
	if (r == MPD_CONT)
		return MSGPACK_UNPACK_CONTINUE;
	*out = root;
	return d.p < d.pe ? MSGPACK_UNPACK_EXTRA_BYTES : MSGPACK_UNPACK_SUCCESS;
}
