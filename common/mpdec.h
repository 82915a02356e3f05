/* mpdec.h — vigil's own msgpack decoder: builds the same msgpack_object tree as msgpack-c's
 * msgpack_unpack (strings, bin and ext pointing into the buffer, arrays and maps allocated
 * from a msgpack_zone) with fewer instructions per object (issue 8).
 *
 * Every msgpack type msgpack-c 4.0 decodes is decoded the same way: nil, bool, fixint,
 * uint/int 8-64, float32 (MSGPACK_OBJECT_FLOAT32) / float64, fixstr/str8/16/32,
 * bin8/16/32, fixarray/array16/32, fixmap/map16/32, fixext/ext8/16/32. 0xc1 and an
 * ext32 whose length is 0xffffffff are parse errors, as in msgpack-c. */
#ifndef VIGIL_MPDEC_H
#define VIGIL_MPDEC_H

#include <stddef.h>
#include <msgpack.h>

/* Containers nested deeper than this fail with MSGPACK_UNPACK_NOMEM_ERROR, like msgpack-c
 * (its MSGPACK_EMBED_STACK_SIZE): the recursion depth is bounded. */
#define MPDEC_MAX_DEPTH 32

/* Decode one object from buf[*off, len) into *out, like msgpack_unpack(buf, len, off, zone,
 * out), with the same return codes and the same *off:
 *   MSGPACK_UNPACK_SUCCESS / _EXTRA_BYTES: *out is set, *off is just past the object;
 *   MSGPACK_UNPACK_CONTINUE: the buffer ends inside the object; *off is where msgpack-c
 *     stops (the start of the incomplete part); *out untouched;
 *   MSGPACK_UNPACK_PARSE_ERROR: a byte no msgpack object starts with (0xc1), or an ext32 of
 *     length 0xffffffff; MSGPACK_UNPACK_NOMEM_ERROR: nesting past MPDEC_MAX_DEPTH, or the
 *     zone could not grow; *off and *out untouched.
 * Differences, deliberate:
 * - An array or map header claiming more elements than can still fit (more than the bytes
 *   left, e.g. array32 0xffffffff in a 5-byte frame, or than the allocation budget below)
 *   can never complete, so nothing is allocated for it; the rest is still parsed to give
 *   msgpack-c's answer as if its allocation had succeeded (CONTINUE, or an error found in
 *   the bytes that follow), where msgpack-c allocates count * 24 (or 48) bytes first and
 *   may return NOMEM_ERROR instead.
 * - Allocation budget: all the arrays and maps of a good object hold fewer elements (a
 *   pair counting two) than it has bytes, so slots are allocated for at most len - *off
 *   elements; the zone grows by at most 24 bytes (sizeof(msgpack_object)) per input byte
 *   plus alignment, whatever the input (msgpack-c: nested headers claiming many elements
 *   can make it allocate far more).
 * - An empty str or bin points just past its header, in the buffer (msgpack-c leaves
 *   whatever pointer it last had, possibly NULL); its size is 0 either way.
 * - zone must not be NULL (NOMEM_ERROR; msgpack-c would make a zone and lose it). */
msgpack_unpack_return mpdec_unpack(const char *buf, size_t len, size_t *off, msgpack_zone *zone,
				   msgpack_object *out);

#endif
