/* wire.c — see wire.h and docs/wire.md. */
#include "wire.h"
#include "mpdec.h"
#include "statefile.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

const char *const wire_drop_name[WIRE_DROP_N] = {
	"malformed", "not_map", "version", "envelope", "unknown_type", "body",
};

static struct log_rl wire_rl = LOG_RL_INIT(2, 10);

int wire_streq(const char *p, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(p, s, len) == 0;
}

const msgpack_object *wire_get(const msgpack_object *map, const char *key)
{
	uint32_t i;

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && wire_streq(k->via.str.ptr, k->via.str.size, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int wire_get_u64(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = wire_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*v = o->via.u64;
	return 0;
}

int wire_get_str(const msgpack_object *map, const char *key, const char **p, size_t *len)
{
	const msgpack_object *o = wire_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_STR)
		return -1;
	*p = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

/* Read a msgpack length of n big-endian bytes at p. */
static uint64_t mp_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* See wire.h: a walk over headers only (the envelope's body when it is not the last
 * value; a body's entries, for stages that copy them as they came). */
const unsigned char *wire_skip(const unsigned char *p, const unsigned char *end)
{
	uint64_t todo = 1;

	while (todo) {
		unsigned c;
		uint64_t len = 0, kids = 0;
		int hdr = 1;

		if (p >= end)
			return NULL;
		todo--;
		c = *p;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			;
		else if (c >= 0x80 && c <= 0x8f)
			kids = 2 * (uint64_t)(c & 0x0f);
		else if (c >= 0x90 && c <= 0x9f)
			kids = c & 0x0f;
		else if (c >= 0xa0 && c <= 0xbf)
			len = c & 0x1f;
		else if (c >= 0xc4 && c <= 0xc6) { /* bin 8/16/32 */
			hdr = 1 + (1 << (c - 0xc4));
			if (p + hdr > end)
				return NULL;
			len = mp_be(p + 1, hdr - 1);
		} else if (c >= 0xc7 && c <= 0xc9) { /* ext 8/16/32 */
			hdr = 2 + (1 << (c - 0xc7));
			if (p + hdr > end)
				return NULL;
			len = mp_be(p + 1, hdr - 2);
		} else if (c == 0xca || c == 0xcb) /* float 32/64 */
			len = c == 0xca ? 4 : 8;
		else if (c >= 0xcc && c <= 0xd3) /* uint/int 8..64 */
			len = 1u << ((c - 0xcc) & 3);
		else if (c >= 0xd4 && c <= 0xd8) /* fixext 1..16 */
			len = 1 + (1u << (c - 0xd4));
		else if (c >= 0xd9 && c <= 0xdb) { /* str 8/16/32 */
			hdr = 1 + (1 << (c - 0xd9));
			if (p + hdr > end)
				return NULL;
			len = mp_be(p + 1, hdr - 1);
		} else if (c >= 0xdc && c <= 0xdf) { /* array/map 16/32 */
			hdr = 1 + (c & 1 ? 4 : 2);
			if (p + hdr > end)
				return NULL;
			kids = mp_be(p + 1, hdr - 1) * (c >= 0xde ? 2 : 1);
		} else
			return NULL; /* 0xc1: never used */
		if (len > (uint64_t)(end - p) - (uint64_t)hdr)
			return NULL;
		p += hdr + len;
		todo += kids;
	}
	return p;
}

/* The envelope's own keys: the first of each name, as wire_get would find them. */
struct wire_keys {
	const msgpack_object *v, *type, *src, *seq, *ev;
	const msgpack_object *ev_key;
	int ev_last; /* ev is the map's last value */
};

/* Find the envelope's keys in one pass over the map (rather than one wire_get each,
 * every one comparing every key with strlen and memcmp). */
static void wire_keys(const msgpack_object *o, struct wire_keys *k)
{
	const msgpack_object_kv *kv = o->via.map.ptr, *end = kv + o->via.map.size;

	memset(k, 0, sizeof(*k));
	for (; kv < end; kv++) {
		const char *s = kv->key.via.str.ptr;

		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		switch (kv->key.via.str.size) {
		case 1:
			if (s[0] == 'v' && !k->v)
				k->v = &kv->val;
			break;
		case 2:
			if (s[0] == 'e' && s[1] == 'v' && !k->ev) {
				k->ev = &kv->val;
				k->ev_key = &kv->key;
				k->ev_last = kv + 1 == end;
			}
			break;
		case 3:
			if (memcmp(s, "src", 3) == 0) {
				if (!k->src)
					k->src = &kv->val;
			} else if (memcmp(s, "seq", 3) == 0 && !k->seq) {
				k->seq = &kv->val;
			}
			break;
		case 4:
			if (memcmp(s, "type", 4) == 0 && !k->type)
				k->type = &kv->val;
			break;
		}
	}
}

/* Find the bytes of the envelope's "ev" value, so forwarding copies them instead of
 * re-encoding its objects: they start right after its key's bytes (whatever the key's
 * encoding) and, when it is the last value (as wire_begin packs it), end with the frame,
 * which is exactly one object (checked): the body is walked only when ev is not last. */
static void wire_find_ev(struct wire_msg *m, const struct wire_keys *k, const void *buf,
			 size_t len)
{
	const unsigned char *p = (const unsigned char *)k->ev_key->via.str.ptr + 2;
	const unsigned char *end = (const unsigned char *)buf + len;
	const unsigned char *v = k->ev_last ? end : wire_skip(p, end);

	if (!v)
		return;
	m->ev_raw = (const char *)p;
	m->ev_raw_len = (size_t)(v - p);
}

/* Validate the envelope (docs/wire.md §3). On failure m->up is still to be destroyed. */
static int wire_check(struct wire_msg *m, const void *buf, size_t len, enum wire_drop *why,
		      msgpack_zone *zone)
{
	const msgpack_object *o;
	struct wire_keys k;
	size_t off = 0;
	int r;

	/* With a zone of the receiver's own (cleared per message) rather than a new one
	 * per message: a malloc and free of 8 KiB saved per envelope. Without one (tools and
	 * tests), m->up owns a new zone, freed by msgpack_unpacked_destroy. The decoder is
	 * ours (mpdec.h): the same objects as msgpack_unpack, for fewer instructions. */
	if (len > WIRE_MAX_MSG)
		r = -1;
	else if (!zone && !(zone = m->up.zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)))
		r = MSGPACK_UNPACK_NOMEM_ERROR;
	else
		r = mpdec_unpack(buf, len, &off, zone, &m->up.data);
	if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
		*why = WIRE_DROP_MALFORMED;
		return -1;
	}
	o = &m->up.data;
	if (o->type != MSGPACK_OBJECT_MAP) {
		*why = WIRE_DROP_NOT_MAP;
		return -1;
	}
	wire_keys(o, &k);
	if (!k.v || k.v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || k.v->via.u64 != WIRE_VERSION) {
		*why = WIRE_DROP_VERSION;
		return -1;
	}
	if (!k.type || k.type->type != MSGPACK_OBJECT_STR || !k.src ||
	    k.src->type != MSGPACK_OBJECT_STR || k.src->via.str.size == 0 ||
	    k.src->via.str.size >= STATE_SRC_LEN || !k.seq ||
	    k.seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER || k.seq->via.u64 == 0 || !k.ev ||
	    k.ev->type != MSGPACK_OBJECT_MAP) {
		*why = WIRE_DROP_ENVELOPE;
		return -1;
	}
	m->type = k.type->via.str.ptr;
	m->type_len = k.type->via.str.size;
	m->src = k.src->via.str.ptr;
	m->src_len = k.src->via.str.size;
	m->seq = k.seq->via.u64;
	m->ev = k.ev;
	wire_find_ev(m, &k, buf, len);
	return 0;
}

int wire_decode(const void *buf, size_t len, struct wire_msg *m, enum wire_drop *why)
{
	memset(m, 0, sizeof(*m));
	msgpack_unpacked_init(&m->up);
	if (wire_check(m, buf, len, why, NULL) < 0) {
		msgpack_unpacked_destroy(&m->up);
		return -1;
	}
	return 0;
}

void wire_in_init(struct wire_in *in, struct stage *st, void *sock)
{
	int i;

	memset(in, 0, sizeof(*in));
	in->st = st;
	in->sock = sock;
	if (!msgpack_zone_init(&in->zone, MSGPACK_ZONE_CHUNK_SIZE))
		log_panic("out of memory");
	in->c_in = stage_counter(st, "in");
	in->c_gap_total = stage_counter(st, "gap_total");
	in->c_resets = stage_counter(st, "reset_total");
	in->c_late_total = stage_counter(st, "late_total");
	for (i = 0; i < WIRE_DROP_N; i++)
		in->c_drop[i] = counters_get2(stage_counters(st), "drop.", wire_drop_name[i]);
}

void wire_drop(struct wire_in *in, enum wire_drop why, const struct wire_msg *m)
{
	(*in->c_drop[why])++;
	if (m && m->src)
		log_rl(&wire_rl, LOG_SEV_WARN, "%.*s#%llu: dropped: %s", (int)m->src_len, m->src,
		       (unsigned long long)m->seq, wire_drop_name[why]);
	else
		log_rl(&wire_rl, LOG_SEV_WARN, "dropped a message: %s", wire_drop_name[why]);
}

/* Account for the producer's sequence number: gaps and restarts. */
static void wire_track(struct wire_in *in, const struct wire_msg *m)
{
	struct state *s = stage_state(in->st);
	struct state_src *ss;
	char name[STATE_SRC_LEN];
	int created;

	memcpy(name, m->src, m->src_len);
	name[m->src_len] = '\0';
	ss = state_src(s, name, &created);
	if (!ss)
		return; /* more producers than slots: still delivered, not tracked */
	if (created || ss->last == 0) {
		ss->last = m->seq;
		return;
	}
	if (m->seq > ss->last + 1) {
		uint64_t gap = m->seq - ss->last - 1;

		*in->c_gap_total += gap;
		*counters_get2(stage_counters(in->st), "gap.", name) += gap;
		log_rl(&wire_rl, LOG_SEV_WARN, "%s#%llu: %llu messages missing from %s", name,
		       (unsigned long long)m->seq, (unsigned long long)gap, name);
	} else if (m->seq <= ss->last && m->seq != 1) {
		/* A message numbered before one we already have: typically the tail a killed
		 * producer left queued, arriving after its successor's first messages. It was
		 * counted in a gap when that successor's message came: count it as late, so
		 * gap_total - late_total is what is really missing. */
		(*in->c_late_total)++;
		(*counters_get2(stage_counters(in->st), "late.", name))++;
		return;
	} else if (m->seq <= ss->last) {
		/* Numbering restarted at 1: the producer lost its state file. */
		(*in->c_resets)++;
		(*counters_get2(stage_counters(in->st), "reset.", name))++;
	}
	ss->last = m->seq;
}

int wire_recv(struct wire_in *in, struct wire_msg *m)
{
	enum wire_drop why;

	/* Every frame is one envelope, whether it came alone or in a batch (docs/wire.md
	 * §2): ZeroMQ delivers a multipart message whole, so frames are read one by one. */
	memset(m, 0, sizeof(*m));
	zmq_msg_init(&in->zm);
	if (zmq_msg_recv(&in->zm, in->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&in->zm);
		return 0;
	}
	msgpack_unpacked_init(&m->up); /* zone stays NULL: the data lives in in->zone */
	if (wire_check(m, zmq_msg_data(&in->zm), zmq_msg_size(&in->zm), &why, &in->zone) < 0) {
		msgpack_zone_clear(&in->zone);
		zmq_msg_close(&in->zm);
		wire_drop(in, why, NULL);
		return -1;
	}
	m->raw = &in->zm;
	(*in->c_in)++;
	wire_track(in, m);
	return 1;
}

void wire_msg_done(struct wire_in *in, struct wire_msg *m)
{
	msgpack_unpacked_destroy(&m->up); /* nothing when the data is in in->zone */
	msgpack_zone_clear(&in->zone);
	if (m->raw)
		zmq_msg_close(&in->zm);
	m->raw = NULL;
}

void wire_out_init(struct wire_out *o, struct stage *st, void *sock)
{
	o->st = st;
	o->sock = sock;
	msgpack_sbuffer_init(&o->sb);
	msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
	o->c_out = stage_counter(st, "out");
}

void wire_out_free(struct wire_out *o)
{
	msgpack_sbuffer_destroy(&o->sb);
}

/* wire_begin with a type of tlen bytes (not NUL-terminated). */
static msgpack_packer *wire_begin_len(struct wire_out *o, const char *type, size_t tlen)
{
	struct state *s = stage_state(o->st);
	const char *src = stage_name(o->st);

	msgpack_sbuffer_clear(&o->sb);
	msgpack_pack_map(&o->pk, 5);
	msgpack_pack_str_with_body(&o->pk, "v", 1);
	msgpack_pack_uint8(&o->pk, WIRE_VERSION);
	msgpack_pack_str_with_body(&o->pk, "type", 4);
	msgpack_pack_str_with_body(&o->pk, type, tlen);
	msgpack_pack_str_with_body(&o->pk, "src", 3);
	msgpack_pack_str_with_body(&o->pk, src, strlen(src));
	msgpack_pack_str_with_body(&o->pk, "seq", 3);
	/* Numbered before sending: a message lost in our hands shows as a gap downstream. */
	msgpack_pack_uint64(&o->pk, ++s->out_seq);
	msgpack_pack_str_with_body(&o->pk, "ev", 2);
	return &o->pk;
}

msgpack_packer *wire_begin(struct wire_out *o, const char *type)
{
	return wire_begin_len(o, type, strlen(type));
}

int wire_end(struct wire_out *o)
{
	if (o->sock) {
		if (stage_send(o->st, o->sock, o->sb.data, o->sb.size) < 0)
			return -1;
	} else {
		stage_tap(o->st, o->sb.data, o->sb.size);
	}
	(*o->c_out)++;
	return 0;
}

int wire_forward(struct wire_out *o, const struct wire_msg *m)
{
	msgpack_packer *pk = wire_begin_len(o, m->type, m->type_len);

	if (m->ev_raw) /* the body's bytes as they came: no re-encoding */
		msgpack_sbuffer_write(&o->sb, m->ev_raw, m->ev_raw_len);
	else
		msgpack_pack_object(pk, *m->ev);
	return wire_end(o);
}

void wire_type_cstr(const struct wire_msg *m, char *buf, size_t n)
{
	size_t l = m->type_len < n ? m->type_len : n - 1;

	memcpy(buf, m->type, l);
	buf[l] = '\0';
}
