/* test_enricher_pack — the enricher's direct msgpack writer and skipper
 * (enricher/enricher_pack.h) against msgpack-c: every value written by ep_* decodes to
 * what was written; ep_skip finds the exact end of every kind of object msgpack-c
 * writes (nested maps and arrays, every integer, float, string, bin and ext width) and
 * refuses every truncation of it and the never-used byte 0xc1. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enricher_pack.h"

#include "check.h"

/* ep_skip over one packed object: exact end; every truncation refused. */
static void skip_ok(const msgpack_sbuffer *sb, const char *what)
{
	const char *end = sb->data + sb->size;
	size_t cut;

	CHECK(ep_skip(sb->data, end, 0) == end, "%s: end", what);
	for (cut = 0; cut < sb->size; cut++)
		CHECK(ep_skip(sb->data, sb->data + cut, 0) == NULL, "%s: truncated at %zu", what, cut);
}

/* Integers, floats, strings, bin and ext of each width. */
static void t_skip(void)
{
	static const uint64_t u[] = { 0, 127, 128, 255, 256, 65535, 65536, 4294967295ull,
				      4294967296ull, ~0ull };
	static const int64_t neg[] = { -1, -32, -33, -128, -129, -32768, -32769, -2147483648ll,
				       -2147483649ll };
	static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536 };
	static const size_t extl[] = { 1, 2, 4, 8, 16, 3, 300, 70000 };
	char *big = calloc(1, 70000);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;
	char name[64];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_uint64(&pk, u[i]);
		snprintf(name, sizeof(name), "uint %llu", (unsigned long long)u[i]);
		skip_ok(&sb, name);
	}
	for (i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_int64(&pk, neg[i]);
		snprintf(name, sizeof(name), "int %lld", (long long)neg[i]);
		skip_ok(&sb, name);
	}
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_float(&pk, 1.5f);
	skip_ok(&sb, "float");
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_double(&pk, 2.5);
	skip_ok(&sb, "double");
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_str_with_body(&pk, big, lens[i]);
		snprintf(name, sizeof(name), "str %zu", lens[i]);
		skip_ok(&sb, name);
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_bin_with_body(&pk, big, lens[i]);
		snprintf(name, sizeof(name), "bin %zu", lens[i]);
		skip_ok(&sb, name);
	}
	for (i = 0; i < sizeof(extl) / sizeof(extl[0]); i++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_ext_with_body(&pk, big, extl[i], 5);
		snprintf(name, sizeof(name), "ext %zu", extl[i]);
		skip_ok(&sb, name);
	}
	/* nested: a map of 20 entries holding arrays of maps, nil and booleans */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 20);
	for (i = 0; i < 20; i++) {
		msgpack_pack_str_with_body(&pk, "k", 1);
		msgpack_pack_array(&pk, 3);
		msgpack_pack_nil(&pk);
		msgpack_pack_true(&pk);
		msgpack_pack_map(&pk, 1);
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_false(&pk);
	}
	skip_ok(&sb, "nested");
	{
		uint32_t n = 0;

		CHECK(ep_map_hdr(sb.data, sb.data + sb.size, &n) == sb.data + 3 && n == 20,
		      "map16 header: %u", n);
	}
	CHECK(ep_skip("\xc1", "\xc1" + 1, 0) == NULL, "0xc1 refused");
	msgpack_sbuffer_destroy(&sb);
	free(big);
}

/* ep_map, ep_str, ep_uint, EP_KEY decode to what was written. */
static void t_write(void)
{
	static const uint64_t u[] = { 0, 5, 127, 128, 255, 256, 65535, 65536, 4294967295ull,
				      4294967296ull, ~0ull };
	size_t nu = sizeof(u) / sizeof(u[0]), i, off = 0;
	char *buf = malloc(200000), *o = buf, *s = malloc(70000);
	msgpack_unpacked up;

	memset(s, 'z', 70000);
	o = ep_map(o, (uint32_t)(nu + 4));
	for (i = 0; i < nu; i++) {
		o = ep_str(o, s, i);
		o = ep_uint(o, u[i]);
	}
	o = EP_KEY(o, "exec_id");
	o = ep_str(o, s, 40);
	o = EP_KEY(o, "a");
	o = ep_str(o, s, 300);
	o = EP_KEY(o, "b");
	o = ep_str(o, s, 70000);
	o = EP_KEY(o, "c");
	o = ep_map(o, 0);
	msgpack_unpacked_init(&up);
	CHECK(msgpack_unpack_next(&up, buf, (size_t)(o - buf), &off) == MSGPACK_UNPACK_SUCCESS &&
	      off == (size_t)(o - buf), "decodes");
	CHECK(up.data.type == MSGPACK_OBJECT_MAP && up.data.via.map.size == nu + 4, "map size");
	for (i = 0; i < nu && !fails; i++) {
		const msgpack_object_kv *kv = &up.data.via.map.ptr[i];

		CHECK(kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == i, "key %zu", i);
		CHECK(kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->val.via.u64 == u[i],
		      "uint %llu", (unsigned long long)u[i]);
	}
	CHECK(up.data.via.map.ptr[nu].key.via.str.size == 7 &&
	      memcmp(up.data.via.map.ptr[nu].key.via.str.ptr, "exec_id", 7) == 0, "EP_KEY");
	CHECK(up.data.via.map.ptr[nu + 2].val.via.str.size == 70000, "str32");
	CHECK(up.data.via.map.ptr[nu + 3].val.type == MSGPACK_OBJECT_MAP, "empty map");
	msgpack_unpacked_destroy(&up);
	{ /* a map of 70,000 entries: map32 header */
		char h[8];
		uint32_t n = 0;

		CHECK(ep_map(h, 70000) - h == 5 && ep_map_hdr(h, h + 5, &n) == h + 5 && n == 70000,
		      "map32");
	}
	free(buf);
	free(s);
}

int main(void)
{
	t_skip();
	t_write();
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
