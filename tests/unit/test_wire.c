/* test_wire — wire protocol v1 decoding (docs/wire.md §3): every drop reason, the
 * accepted forms, and a fuzz loop of random and mutated envelopes that must never
 * crash or be accepted when invalid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static int failures;

static void expect(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "ok" : "FAIL", what);
	if (!cond)
		failures++;
}

/* Pack an envelope; fields can be left out with a NULL/0. */
static void envelope(msgpack_sbuffer *sb, int v, const char *type, const char *src, uint64_t seq,
		     int with_ev)
{
	msgpack_packer pk;
	int n = (v >= 0) + (type != NULL) + (src != NULL) + (seq != 0) + (with_ev != 0);

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, (size_t)n);
	if (v >= 0) {
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_int(&pk, v);
	}
	if (type) {
		msgpack_pack_str_with_body(&pk, "type", 4);
		msgpack_pack_str_with_body(&pk, type, strlen(type));
	}
	if (src) {
		msgpack_pack_str_with_body(&pk, "src", 3);
		msgpack_pack_str_with_body(&pk, src, strlen(src));
	}
	if (seq) {
		msgpack_pack_str_with_body(&pk, "seq", 3);
		msgpack_pack_uint64(&pk, seq);
	}
	if (with_ev == 1) {
		msgpack_pack_str_with_body(&pk, "ev", 2);
		msgpack_pack_map(&pk, 1);
		msgpack_pack_str_with_body(&pk, "pid", 3);
		msgpack_pack_uint32(&pk, 42);
	} else if (with_ev == 2) { /* ev of the wrong type */
		msgpack_pack_str_with_body(&pk, "ev", 2);
		msgpack_pack_array(&pk, 0);
	}
}

/* Whether m's raw "ev" bytes are exactly one msgpack object equal to the decoded ev —
 * what wire_forward copies instead of re-encoding. */
static int ev_raw_ok(const struct wire_msg *m)
{
	msgpack_unpacked up;
	size_t off = 0;
	int ok;

	if (!m->ev_raw)
		return 0;
	msgpack_unpacked_init(&up);
	ok = msgpack_unpack_next(&up, m->ev_raw, m->ev_raw_len, &off) == MSGPACK_UNPACK_SUCCESS &&
	     off == m->ev_raw_len && msgpack_object_equal(up.data, *m->ev);
	msgpack_unpacked_destroy(&up);
	return ok;
}

/* An envelope whose body holds every msgpack format: the raw-body walk must skip each. */
static void rich_envelope(msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	char big[70000];
	int i;

	memset(big, 'x', sizeof(big));
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "ev", 2); /* ev first: keys may come in any order */
	msgpack_pack_map(&pk, 20);
	msgpack_pack_str_with_body(&pk, "nil", 3);
	msgpack_pack_nil(&pk);
	msgpack_pack_str_with_body(&pk, "t", 1);
	msgpack_pack_true(&pk);
	msgpack_pack_str_with_body(&pk, "u8", 2);
	msgpack_pack_uint8(&pk, 200);
	msgpack_pack_str_with_body(&pk, "u16", 3);
	msgpack_pack_uint16(&pk, 60000);
	msgpack_pack_str_with_body(&pk, "u32", 3);
	msgpack_pack_uint32(&pk, 4000000000u);
	msgpack_pack_str_with_body(&pk, "u64", 3);
	msgpack_pack_uint64(&pk, 1ull << 60);
	msgpack_pack_str_with_body(&pk, "i8", 2);
	msgpack_pack_int8(&pk, -100);
	msgpack_pack_str_with_body(&pk, "i16", 3);
	msgpack_pack_int16(&pk, -30000);
	msgpack_pack_str_with_body(&pk, "i32", 3);
	msgpack_pack_int32(&pk, -2000000000);
	msgpack_pack_str_with_body(&pk, "i64", 3);
	msgpack_pack_int64(&pk, -(1ll << 60));
	msgpack_pack_str_with_body(&pk, "f32", 3);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_str_with_body(&pk, "f64", 3);
	msgpack_pack_double(&pk, -2.25);
	msgpack_pack_str_with_body(&pk, "str8", 4);
	msgpack_pack_str_with_body(&pk, big, 100);
	msgpack_pack_str_with_body(&pk, "str16", 5);
	msgpack_pack_str_with_body(&pk, big, 1000);
	msgpack_pack_str_with_body(&pk, "str32", 5);
	msgpack_pack_str_with_body(&pk, big, sizeof(big));
	msgpack_pack_str_with_body(&pk, "bin", 3);
	msgpack_pack_bin_with_body(&pk, big, 300);
	msgpack_pack_str_with_body(&pk, "ext", 3);
	msgpack_pack_ext_with_body(&pk, big, 3, 7);
	msgpack_pack_str_with_body(&pk, "fixext", 6);
	msgpack_pack_ext_with_body(&pk, big, 4, 1);
	msgpack_pack_str_with_body(&pk, "arr16", 5);
	msgpack_pack_array(&pk, 20);
	for (i = 0; i < 20; i++)
		msgpack_pack_int(&pk, -i);
	msgpack_pack_str_with_body(&pk, "map16", 5);
	msgpack_pack_map(&pk, 17);
	for (i = 0; i < 17; i++) {
		msgpack_pack_int(&pk, i);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_map(&pk, 0);
	}
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "type", 4);
	msgpack_pack_str_with_body(&pk, "process_exec", 12);
	msgpack_pack_str_with_body(&pk, "src", 3);
	msgpack_pack_str_with_body(&pk, "collector", 9);
	msgpack_pack_str_with_body(&pk, "seq", 3);
	msgpack_pack_uint64(&pk, 9);
}

static int decode(const msgpack_sbuffer *sb, size_t len, enum wire_drop *why)
{
	struct wire_msg m;
	int r = wire_decode(sb->data, len, &m, why);

	if (r == 0)
		msgpack_unpacked_destroy(&m.up);
	return r;
}

int main(void)
{
	msgpack_sbuffer sb;
	struct wire_msg m;
	enum wire_drop why;
	uint64_t pid = 0;
	int i, accepted_bad = 0;

	msgpack_sbuffer_init(&sb);
	envelope(&sb, 1, "process_exec", "collector", 7, 1);
	expect(wire_decode(sb.data, sb.size, &m, &why) == 0, "a good envelope decodes");
	expect(wire_streq(m.type, m.type_len, "process_exec") &&
		       wire_streq(m.src, m.src_len, "collector") && m.seq == 7,
	       "type, src and seq are read");
	expect(wire_get_u64(m.ev, "pid", &pid) == 0 && pid == 42, "body field read");
	expect(ev_raw_ok(&m), "the body's raw bytes are found (forwarded without re-encoding)");
	msgpack_unpacked_destroy(&m.up);
	rich_envelope(&sb);
	expect(wire_decode(sb.data, sb.size, &m, &why) == 0 && ev_raw_ok(&m),
	       "raw body found for every msgpack format, ev first in the envelope");
	msgpack_unpacked_destroy(&m.up);

	expect(decode(&sb, sb.size - 1, &why) < 0 && why == WIRE_DROP_MALFORMED,
	       "truncated msgpack → malformed");
	memcpy(sb.data, "garbage!", 8);
	expect(decode(&sb, 8, &why) < 0 && why == WIRE_DROP_MALFORMED, "garbage → malformed");
	envelope(&sb, 1, "process_exec", "collector", 7, 1);
	msgpack_sbuffer_write(&sb, "\xc0", 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_MALFORMED,
	       "trailing bytes → malformed");
	msgpack_sbuffer_clear(&sb);
	msgpack_sbuffer_write(&sb, "\x93\x01\x02\x03", 4);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_NOT_MAP, "array → not_map");
	envelope(&sb, 2, "process_exec", "collector", 7, 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_VERSION, "v=2 → version");
	envelope(&sb, -1, "process_exec", "collector", 7, 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_VERSION, "no v → version");
	envelope(&sb, 1, NULL, "collector", 7, 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_ENVELOPE, "no type → envelope");
	envelope(&sb, 1, "process_exec", NULL, 7, 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_ENVELOPE, "no src → envelope");
	envelope(&sb, 1, "process_exec", "collector", 0, 1);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_ENVELOPE, "no seq → envelope");
	envelope(&sb, 1, "process_exec", "collector", 7, 0);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_ENVELOPE, "no ev → envelope");
	envelope(&sb, 1, "process_exec", "collector", 7, 2);
	expect(decode(&sb, sb.size, &why) < 0 && why == WIRE_DROP_ENVELOPE,
	       "ev not a map → envelope");

	/* Fuzz: flip bytes of a good envelope and feed random bytes; nothing may crash, and
	 * whatever is accepted must satisfy the envelope's invariants. */
	srandom(1);
	for (i = 0; i < 200000; i++) {
		char buf[256];
		size_t len, j;

		if (i & 1) {
			envelope(&sb, 1, "process_exec", "collector", 1 + (uint64_t)random(), 1);
			len = sb.size;
			memcpy(buf, sb.data, len);
			for (j = 0; j < 1 + (size_t)(random() % 4); j++)
				buf[random() % len] = (char)random();
			if (random() % 4 == 0)
				len = (size_t)random() % len;
		} else {
			len = (size_t)random() % sizeof(buf);
			for (j = 0; j < len; j++)
				buf[j] = (char)random();
		}
		if (wire_decode(buf, len, &m, &why) == 0) {
			if (!m.type || !m.src || m.seq == 0 || !m.ev ||
			    m.ev->type != MSGPACK_OBJECT_MAP)
				accepted_bad++;
			/* a raw body, when found, is exactly the decoded one */
			if (m.ev_raw && (!ev_raw_ok(&m) || m.ev_raw < buf ||
					 m.ev_raw + m.ev_raw_len > buf + len))
				accepted_bad++;
			msgpack_unpacked_destroy(&m.up);
		}
	}
	expect(accepted_bad == 0, "fuzz: 200000 mutated inputs, no invalid one accepted, every "
	       "raw body found equal to the decoded one");
	msgpack_sbuffer_destroy(&sb);
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures != 0;
}
