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
			msgpack_unpacked_destroy(&m.up);
		}
	}
	expect(accepted_bad == 0, "fuzz: 200000 mutated inputs, no invalid one accepted");
	msgpack_sbuffer_destroy(&sb);
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures != 0;
}
