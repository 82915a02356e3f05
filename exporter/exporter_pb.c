/* exporter_pb: msgpack events → serialized GetEventsResponse; see exporter_pb.h. */
#include "exporter_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "tetragon/events.pb-c.h"

#define XPB_MAX_DEPTH 32
#define XPB_CHUNK (64u << 10)

/* A bump allocator for one event's message tree: everything is released at
 * once after packing, so the tree needs no per-field free. */
struct xpb_chunk {
	struct xpb_chunk *next;
	size_t used, size;
	max_align_t data[];
};

static struct xpb_chunk *arena;
static struct xpb_counts counts;
/* Process fields that are facts of an exec (as in the JSON export, common/tetra_json.c):
 * sent on process_exec's process only unless xpb_set_process_details(1). */
static const char *const xpb_details[] = {"cap", "ns", "process_credentials", NULL};
static int xpb_all_details = 0;
/* While xpb_event fills an event: 0 nothing trimmed, 1 every Process, 2 every Process
 * but the top-level `process` (a process_exec). */
static int xpb_trim;
/* While xpb_from_msgpack runs: where to describe the first unknown key or bad value. */
static char *strict_err;
static size_t strict_errlen;

/* In strict mode, record the first problem (a field name and what is wrong with it). */
static void xpb_strict(const char *what, const char *name)
{
	if (strict_err && !*strict_err)
		snprintf(strict_err, strict_errlen, "%s \"%s\"", what, name);
}

/* Zeroed memory from the arena; aborts on ENOMEM like the rest of the stage. */
static void *xpb_alloc(size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!arena || arena->used + n > arena->size) {
		size_t sz = n > XPB_CHUNK ? n : XPB_CHUNK;
		struct xpb_chunk *c = malloc(sizeof(*c) + sz);
		if (!c)
			abort();
		c->next = arena;
		c->used = 0;
		c->size = sz;
		arena = c;
	}
	void *p = (char *)arena->data + arena->used;
	arena->used += n;
	memset(p, 0, n);
	return p;
}

/* Release every chunk but one, which is kept for the next event. */
static void xpb_reset(void)
{
	while (arena && arena->next) {
		struct xpb_chunk *c = arena;
		arena = c->next;
		free(c);
	}
	if (arena)
		arena->used = 0;
}

/* Length of the valid UTF-8 sequence at p, or 0 (then *bad = bytes to replace). */
static size_t xpb_utf8(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		*bad = 1;
		return 0;
	}
	for (i = 1; i < need && i < n; i++) {
		unsigned char b = p[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			break;
	}
	if (i == need)
		return need;
	*bad = i;
	return 0;
}

/* Length of the run of ASCII bytes other than NUL at p[0..n): 8 bytes at a time (a
 * byte is flagged when its top bit is set or it is 0; a borrow starts only at a 0). */
static size_t xpb_ascii_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	size_t i = 0;
	uint64_t w;

	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		if ((w | (w - ones)) & high)
			break;
	}
	while (i < n && p[i] && p[i] < 0x80)
		i++;
	return i;
}

/* A NUL-terminated arena copy of s[0..n), invalid UTF-8 replaced by U+FFFD. */
static char *xpb_str(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = xpb_ascii_run(p, n);

	if (i == n) { /* the common case: plain ASCII, copied whole */
		char *out = xpb_alloc(n + 1);
		memcpy(out, s, n);
		return out;
	}
	char *out = xpb_alloc(n * 3 + 1), *o = out;
	memcpy(o, s, i);
	o += i;
	while (i < n) {
		size_t bad = 0, len = xpb_utf8(p + i, n - i, &bad);
		if (len && p[i]) {
			memcpy(o, p + i, len);
			o += len;
			i += len;
		} else if (len) { /* NUL: proto strings may hold it, C strings cannot */
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i += bad;
		}
	}
	*o = 0;
	return out;
}

/* The field of d named p[0..n) (a NUL-terminated copy in name), or NULL. Found fields
 * are kept in a table by descriptor and name: protobuf-c's lookup is a binary search
 * by strcmp, and it ran for every key of every event. Only found fields are kept, so
 * the table holds at most the fields of the descriptors in use. */
static const ProtobufCFieldDescriptor *xpb_field_by_name(const ProtobufCMessageDescriptor *d,
							 const char *name, size_t n)
{
#define XPB_FSLOTS 4096 /* a power of 2, more than twice the fields events use */
	static struct {
		const ProtobufCMessageDescriptor *d;
		const ProtobufCFieldDescriptor *f;
		size_t len;
	} tab[XPB_FSLOTS];
	static unsigned used;
	uint64_t h = (uint64_t)(uintptr_t)d * 0x9e3779b97f4a7c15ull ^ n;
	unsigned k;

	/* length and three bytes tell field names apart well enough, for less than every byte */
	if (n)
		h ^= (unsigned char)name[0] * 7u + (unsigned char)name[n / 2] * 31u +
		     (unsigned char)name[n - 1] * 131u;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 32;
	for (k = (unsigned)h & (XPB_FSLOTS - 1); tab[k].d; k = (k + 1) & (XPB_FSLOTS - 1))
		if (tab[k].d == d && tab[k].len == n && memcmp(tab[k].f->name, name, n) == 0)
			return tab[k].f;
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
	/* A key with a NUL inside finds the field named by its part before the NUL (as
	 * before this table); such a match is not kept, so tab[k].len is strlen(f->name). */
	if (f && used < XPB_FSLOTS / 2 && strlen(f->name) == n) {
		tab[k].d = d;
		tab[k].f = f;
		tab[k].len = n;
		used++;
	}
	return f;
}

/* A msgpack int as int64/uint64; 0 if it is no integer. */
static int xpb_int(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*v = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else if (o->type == MSGPACK_OBJECT_BOOLEAN)
		*v = o->via.boolean;
	else
		return 0;
	return 1;
}

static int xpb_fill(ProtobufCMessage *m, const msgpack_object *map, int depth,
		    const char *const *skip);

/* Store one element of field f at p from o. Returns 0, or -1 on a type mismatch. */
static int xpb_elem(const ProtobufCFieldDescriptor *f, void *p, const msgpack_object *o,
		    int depth)
{
	int64_t v = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (!xpb_int(o, &v))
			return -1;
		*(int32_t *)p = (int32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (!xpb_int(o, &v))
			return -1;
		*(int64_t *)p = v;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!xpb_int(o, &v))
			return -1;
		*(protobuf_c_boolean *)p = v != 0;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
			*(float *)p = (float)o->via.f64;
		else if (xpb_int(o, &v))
			*(float *)p = (float)v;
		else
			return -1;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
			*(double *)p = o->via.f64;
		else if (xpb_int(o, &v))
			*(double *)p = (double)v;
		else
			return -1;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (o->type == MSGPACK_OBJECT_STR) {
			char name[128];
			const ProtobufCEnumValue *ev;
			if (o->via.str.size >= sizeof(name))
				return -1;
			memcpy(name, o->via.str.ptr, o->via.str.size);
			name[o->via.str.size] = 0;
			ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, name);
			if (!ev)
				return -1;
			*(int *)p = ev->value;
			return 0;
		}
		if (!xpb_int(o, &v))
			return -1;
		*(int *)p = (int)v;
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		if (o->type != MSGPACK_OBJECT_STR)
			return -1;
		*(char **)p = xpb_str(o->via.str.ptr, o->via.str.size);
		return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		const char *src;
		if (o->type == MSGPACK_OBJECT_BIN || o->type == MSGPACK_OBJECT_STR) {
			b->len = o->via.bin.size;
			src = o->via.bin.ptr;
		} else
			return -1;
		b->data = xpb_alloc(b->len ? b->len : 1);
		memcpy(b->data, src, b->len);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub = xpb_alloc(d->sizeof_message);
		d->message_init(sub);
		*(ProtobufCMessage **)p = sub;
		if (d == &google__protobuf__timestamp__descriptor) {
			/* ns since the epoch, as everywhere on the wire */
			Google__Protobuf__Timestamp *ts = (void *)sub;
			if (!xpb_int(o, &v))
				return -1;
			ts->seconds = v / 1000000000;
			ts->nanos = (int32_t)(v % 1000000000);
			if (ts->nanos < 0) {
				ts->nanos += 1000000000;
				ts->seconds--;
			}
			return 0;
		}
		if (d == &google__protobuf__field_mask__descriptor && o->type == MSGPACK_OBJECT_STR) {
			/* protojson writes a FieldMask as one string of comma-separated paths */
			Google__Protobuf__FieldMask *fm = (void *)sub;
			char *all = xpb_str(o->via.str.ptr, o->via.str.size), *save = NULL;
			fm->paths = xpb_alloc(sizeof(char *) * (o->via.str.size / 2 + 1));
			for (char *t = strtok_r(all, ",", &save); t; t = strtok_r(NULL, ",", &save))
				fm->paths[fm->n_paths++] = t;
			return 0;
		}
		if (o->type == MSGPACK_OBJECT_MAP)
			return xpb_fill(sub, o, depth + 1,
					d == &tetragon__process__descriptor && xpb_trim &&
					!(xpb_trim == 2 && depth == 0 && !strcmp(f->name, "process")) ?
					xpb_details : NULL);
		/* a bare scalar for a wrapper message (google.protobuf.UInt32Value...) */
		if (d->n_fields == 1 && strcmp(d->fields[0].name, "value") == 0 &&
		    strncmp(d->name, "google.protobuf.", 16) == 0)
			return xpb_elem(&d->fields[0], (char *)sub + d->fields[0].offset, o, depth);
		return -1;
	}
	}
	return -1;
}

/* Fill a map field (a repeated entry message with key=1, value=2) from a msgpack map. */
static int xpb_mapfield(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
			const msgpack_object *o, int depth)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n = o->via.map.size, k = 0;
	ProtobufCMessage **arr = xpb_alloc(sizeof(*arr) * (n ? n : 1));

	for (size_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		ProtobufCMessage *e = xpb_alloc(d->sizeof_message);
		d->message_init(e);
		if (xpb_elem(&d->fields[0], (char *)e + d->fields[0].offset, &kv->key, depth) < 0 ||
		    xpb_elem(&d->fields[1], (char *)e + d->fields[1].offset, &kv->val, depth) < 0) {
			counts.bad_value++;
			continue;
		}
		arr[k++] = e;
	}
	*(size_t *)((char *)m + f->quantifier_offset) = k;
	*(void **)((char *)m + f->offset) = arr;
	return 0;
}

/* Size in the C struct of one element of a repeated field. */
static size_t xpb_elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* A repeated CapabilitiesType field from the pipeline's bit set (docs/wire.md §8.2):
 * the enum's values are the capability numbers. */
static int xpb_capset(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m, uint64_t set)
{
	int *arr = xpb_alloc(sizeof(int) * 64);
	size_t k = 0;

	for (int b = 0; b < 64; b++)
		if (set & (1ull << b))
			arr[k++] = b;
	*(size_t *)((char *)m + f->quantifier_offset) = k;
	*(void **)((char *)m + f->offset) = arr;
	return 0;
}

/* Set field f of m from o. Returns 0, or -1 when o has the wrong type. */
static int xpb_field(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
		     const msgpack_object *o, int depth)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && o->type == MSGPACK_OBJECT_MAP &&
		    md->n_fields == 2 && strstr(md->name, "Entry"))
			return xpb_mapfield(f, m, o, depth);
		if (f->type == PROTOBUF_C_TYPE_ENUM && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    f->descriptor == &tetragon__capabilities_type__descriptor)
			return xpb_capset(f, m, o->via.u64);
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return -1;
		size_t n = o->via.array.size, es = xpb_elem_size(f), k = 0;
		char *arr = xpb_alloc(es * (n ? n : 1));
		for (size_t i = 0; i < n; i++) {
			if (xpb_elem(f, arr + k * es, &o->via.array.ptr[i], depth) < 0) {
				counts.bad_value++;
				xpb_strict("bad element in", f->name);
			}
			else
				k++;
		}
		*(size_t *)((char *)m + f->quantifier_offset) = k;
		*(void **)((char *)m + f->offset) = arr;
		return 0;
	}
	if (xpb_elem(f, (char *)m + f->offset, o, depth) < 0) {
		/* leave the field unset: a half-filled message must not be sent */
		if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
			*(void **)((char *)m + f->offset) =
				f->type == PROTOBUF_C_TYPE_STRING ? (void *)protobuf_c_empty_string : NULL;
		return -1;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
		*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
	return 0;
}

/* Fill m from a msgpack map, skipping the keys in skip (NULL-terminated). */
static int xpb_fill(ProtobufCMessage *m, const msgpack_object *map, int depth,
		    const char *const *skip)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (map->type != MSGPACK_OBJECT_MAP || depth > XPB_MAX_DEPTH)
		return -1;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		char name[64];
		int skipped = 0;

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size >= sizeof(name)) {
			counts.unknown_field++;
			xpb_strict("unknown field", "(not a short string)");
			continue;
		}
		memcpy(name, kv->key.via.str.ptr, kv->key.via.str.size);
		name[kv->key.via.str.size] = 0;
		for (int j = 0; skip && skip[j]; j++)
			skipped |= skip[j][0] == name[0] && strcmp(skip[j], name) == 0;
		if (skipped)
			continue;
		const ProtobufCFieldDescriptor *f =
			xpb_field_by_name(d, name, kv->key.via.str.size);
		if (!f) {
			counts.unknown_field++;
			xpb_strict("unknown field", name);
			continue;
		}
		if (kv->val.type == MSGPACK_OBJECT_NIL)
			continue;
		if (xpb_field(f, m, &kv->val, depth) < 0) {
			counts.bad_value++;
			xpb_strict("wrong type of value for", name);
		}
	}
	return 0;
}

/* Pack m into a malloc'd buffer. */
static uint8_t *xpb_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf)
		*len = protobuf_c_message_pack(m, buf);
	return buf;
}

int xpb_event_type(const char *type)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&tetragon__get_events_response__descriptor, type);

	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 0;
	return (int)f->id;
}

uint8_t *xpb_event(const char *type, const msgpack_object *ev, size_t *len)
{
	static const char *const lifted[] = {"node_name", "time", "cluster_name", "node_labels",
					     NULL};
	/* "_vigil" holds pipeline-internal facts (docs/wire.md §4.4): never exported. */
	static const char *const skipped[] = {"node_name", "time", "cluster_name", "node_labels",
					      "_vigil", NULL};
	const ProtobufCMessageDescriptor *rd = &tetragon__get_events_response__descriptor;
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(rd, type);
	Tetragon__GetEventsResponse *r;
	uint8_t *buf;

	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || ev->type != MSGPACK_OBJECT_MAP)
		return NULL;
	r = xpb_alloc(sizeof(*r));
	tetragon__get_events_response__init(r);
	/* the event member: its own fields, minus what goes to the response */
	const ProtobufCMessageDescriptor *d = f->descriptor;
	ProtobufCMessage *sub = xpb_alloc(d->sizeof_message);
	d->message_init(sub);
	xpb_trim = xpb_all_details ? 0 : !strcmp(type, "process_exec") ? 2 : 1;
	xpb_fill(sub, ev, 0, skipped);
	xpb_trim = 0;
	*(ProtobufCMessage **)((char *)r + f->offset) = sub;
	*(uint32_t *)((char *)r + f->quantifier_offset) = f->id;
	for (int i = 0; lifted[i]; i++) {
		const msgpack_object *o = NULL;
		for (uint32_t j = 0; j < ev->via.map.size; j++) {
			const msgpack_object_kv *kv = &ev->via.map.ptr[j];
			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->key.via.str.size == strlen(lifted[i]) &&
			    memcmp(kv->key.via.str.ptr, lifted[i], kv->key.via.str.size) == 0)
				o = &kv->val;
		}
		if (o && xpb_field(protobuf_c_message_descriptor_get_field_by_name(rd, lifted[i]),
				   &r->base, o, 0) < 0)
			counts.bad_value++;
	}
	buf = xpb_pack(&r->base, len);
	xpb_reset();
	return buf;
}

uint8_t *xpb_rate_limit_info(uint64_t dropped, const char *node_name, size_t *len)
{
	Tetragon__GetEventsResponse r = TETRAGON__GET_EVENTS_RESPONSE__INIT;
	Tetragon__RateLimitInfo rl = TETRAGON__RATE_LIMIT_INFO__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	rl.number_of_dropped_process_events = dropped;
	r.event_case = TETRAGON__GET_EVENTS_RESPONSE__EVENT_RATE_LIMIT_INFO;
	r.rate_limit_info = &rl;
	r.time = &ts;
	if (node_name)
		r.node_name = (char *)node_name;
	return xpb_pack(&r.base, len);
}

const struct xpb_counts *xpb_counts(void)
{
	return &counts;
}

uint8_t *xpb_from_msgpack(const ProtobufCMessageDescriptor *d, const msgpack_object *o,
			  size_t *len, char *err, size_t errlen)
{
	ProtobufCMessage *m;
	uint8_t *buf = NULL;

	if (o->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "want an object for %s", d->name);
		return NULL;
	}
	err[0] = 0;
	strict_err = err;
	strict_errlen = errlen;
	m = xpb_alloc(d->sizeof_message);
	d->message_init(m);
	xpb_fill(m, o, 0, NULL);
	strict_err = NULL;
	if (!err[0])
		buf = xpb_pack(m, len);
	xpb_reset();
	return buf;
}

void xpb_set_process_details(int all)
{
	xpb_all_details = all;
}
