/* Unit tests for exporter/exporter_pb.c's fast paths (issue 8): strings copied whole
 * when plain ASCII and checked as UTF-8 otherwise, and the field table by descriptor
 * and name. Each event is serialized with xpb_event, parsed back with protobuf-c and
 * its fields compared with what was sent. Exits 0 only if every check passed. */
#include "../../exporter/exporter_pb.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tetragon/tetragon.pb-c.h"

static int failures, checks;

/* Record one check and print its line. */
static void check(const char *name, int ok)
{
	checks++;
	printf("%s - %s\n", ok ? "ok" : "FAIL", name);
	if (!ok)
		failures++;
}

/* What a string field must read after the trip: valid UTF-8 kept, NUL and each maximal
 * invalid subpart as U+FFFD; written from the rules, byte by byte, into o. */
static size_t ref_str(const unsigned char *p, size_t n, char *o)
{
	size_t w = 0;

	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		unsigned len = c < 0x80			? 1
			       : c >= 0xc2 && c <= 0xdf ? 2
			       : c >= 0xe0 && c <= 0xef ? 3
			       : c >= 0xf0 && c <= 0xf4 ? 4
							: 0;
		unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
		unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf, k = 1;

		if (len > 1)
			for (; k < len && i + k < n; k++)
				if (p[i + k] < (k == 1 ? lo : 0x80) ||
				    p[i + k] > (k == 1 ? hi : 0xbf))
					break;
		if (c && len && k == len) {
			memcpy(o + w, p + i, len);
			w += len;
			i += len;
		} else {
			memcpy(o + w, "\xef\xbf\xbd", 3);
			w += 3;
			i += c && len ? k : 1;
		}
	}
	o[w] = 0;
	return w;
}

static msgpack_sbuffer sb;
static msgpack_packer pk;

/* Pack a string of n bytes. */
static void S(const char *s, size_t n)
{
	msgpack_pack_str(&pk, n);
	msgpack_pack_str_body(&pk, s, n);
}

/* Serialize {"process": {"binary": s, "pid": 7, "ns": {"pid": {"inum": 9}}},
 * "parent": {"pid": 8}} (extra: one more key "extra" in process) as a process_exec and
 * parse it back; NULL if either step fails. */
static Tetragon__GetEventsResponse *roundtrip(const char *s, size_t n, const char *extra,
					      size_t extra_len)
{
	msgpack_unpacked up;
	size_t len, off = 0;
	uint8_t *b;

	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	S("process", 7);
	msgpack_pack_map(&pk, extra ? 4 : 3);
	S("binary", 6);
	S(s, n);
	S("pid", 3);
	msgpack_pack_uint32(&pk, 7);
	S("ns", 2);
	msgpack_pack_map(&pk, 1);
	S("pid", 3);
	msgpack_pack_map(&pk, 1);
	S("inum", 4);
	msgpack_pack_uint32(&pk, 9);
	if (extra) {
		S(extra, extra_len);
		msgpack_pack_uint32(&pk, 5);
	}
	S("parent", 6);
	msgpack_pack_map(&pk, 1);
	S("pid", 3);
	msgpack_pack_uint32(&pk, 8);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&up);
		return NULL;
	}
	b = xpb_event("process_exec", &up.data, &len);
	msgpack_unpacked_destroy(&up);
	if (!b)
		return NULL;
	Tetragon__GetEventsResponse *r = tetragon__get_events_response__unpack(NULL, len, b);
	free(b);
	return r;
}

/* Whether r holds the event roundtrip() built, with binary reading want. */
static int event_ok(const Tetragon__GetEventsResponse *r, const char *want)
{
	const Tetragon__ProcessExec *e = r ? r->process_exec : NULL;
	const Tetragon__Process *p = e ? e->process : NULL;

	return p && p->binary && strcmp(p->binary, want) == 0 && p->pid && p->pid->value == 7 &&
	       p->ns && p->ns->pid && p->ns->pid->inum == 9 && e->parent && e->parent->pid &&
	       e->parent->pid->value == 8;
}

/* Strings of every length up to 40 with a NUL, a high byte or a UTF-8 sequence at each
 * position (the copy scans 8 bytes at a time), and random strings. */
static void test_strings(void)
{
	static const struct {
		const char *s;
		size_t n;
	} ins[] = {{"\0", 1},	    {"\x80", 1},	 {"\xff", 1},
		   {"\xc3\xa9", 2}, {"\xe2\x80\xa8", 3}, {"\xf0\x9f\x98\x80", 4},
		   {"\xe2\x82", 2}, {"\xed\xa0\x80", 3}, {"\x7f", 1},
		   {"\"", 1}};
	static const unsigned char pool[] = {0,	   0x80, 0xbf, 0xc2, 0xc3, 0xe0, 0xe2, 0xed,
					     0xef, 0xf0, 0xf4, 0xf5, 0xff, 'a',	 '/'};
	unsigned char buf[400];
	char want[1300];
	int bad = 0, cases = 0;

	for (size_t len = 0; len <= 40; len++)
		for (size_t pos = 0; pos <= len; pos++)
			for (size_t k = 0; k < sizeof ins / sizeof ins[0]; k++) {
				memset(buf, 'b', sizeof buf);
				memcpy(buf + pos, ins[k].s, ins[k].n);
				ref_str(buf, len + ins[k].n, want);
				Tetragon__GetEventsResponse *r =
				    roundtrip((char *)buf, len + ins[k].n, NULL, 0);
				cases++;
				if (!event_ok(r, want) && bad++ < 3)
					printf("  len %zu pos %zu insert %zu: got \"%s\"\n", len,
					       pos, k,
					       r && r->process_exec && r->process_exec->process
						   ? r->process_exec->process->binary
						   : "(no event)");
				if (r)
					tetragon__get_events_response__free_unpacked(r, NULL);
			}
	srand(3);
	for (int i = 0; i < 5000; i++) {
		size_t n = (size_t)rand() % 400;
		for (size_t j = 0; j < n; j++)
			buf[j] = rand() % 3 ? (unsigned char)('a' + rand() % 26)
					    : pool[(size_t)rand() % sizeof pool];
		ref_str(buf, n, want);
		Tetragon__GetEventsResponse *r = roundtrip((char *)buf, n, NULL, 0);
		cases++;
		bad += !event_ok(r, want);
		if (r)
			tetragon__get_events_response__free_unpacked(r, NULL);
	}
	char name[128];
	snprintf(name, sizeof name, "strings: %d binaries read back as the UTF-8 rules say", cases);
	check(name, bad == 0);
}

/* The same name in two messages (Process.pid, Namespaces.pid) finds each its own field
 * on every call; unknown names stay unknown, also after many events; a key with a NUL
 * inside is treated as it was before the table (its part before the NUL). */
static void test_fields(void)
{
	int ok = 1;
	uint64_t unknown = xpb_counts()->unknown_field;

	for (int i = 0; i < 3; i++) {
		Tetragon__GetEventsResponse *r = roundtrip("/bin/x", 6, "no_such_field", 13);
		ok &= event_ok(r, "/bin/x");
		if (r)
			tetragon__get_events_response__free_unpacked(r, NULL);
	}
	check("fields: pid of Process and of Namespaces kept apart, three times", ok);
	check("fields: an unknown key is counted on every event",
	      xpb_counts()->unknown_field == unknown + 3);
	/* "uid\0x": protobuf-c looks the C string "uid" up. */
	int same = 1;
	for (int i = 0; i < 3; i++) {
		Tetragon__GetEventsResponse *r = roundtrip("/bin/y", 6, "uid\0x", 5);
		const Tetragon__Process *p = r && r->process_exec ? r->process_exec->process : NULL;
		same &= event_ok(r, "/bin/y") && p->uid && p->uid->value == 5;
		if (r)
			tetragon__get_events_response__free_unpacked(r, NULL);
	}
	check("fields: a key with a NUL inside reads as before, every time", same);
}

/* Every field of every message reachable from GetEventsResponse, looked up by name in
 * its own message twice (the first fills the table, the second reads it): always that
 * field, though many names (pid, name, value...) are in several messages. */
static int walk(const ProtobufCMessageDescriptor *d, const ProtobufCMessageDescriptor **seen,
		size_t *nseen, size_t *fields)
{
	int ok = 1;

	for (size_t i = 0; i < *nseen; i++)
		if (seen[i] == d)
			return 1;
	if (*nseen == 512)
		return 1;
	seen[(*nseen)++] = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		for (int twice = 0; twice < 2; twice++)
			ok &= xpb_field_by_name(d, f->name, strlen(f->name)) == f;
		(*fields)++;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			ok &= walk(f->descriptor, seen, nseen, fields);
	}
	return ok;
}

static void test_field_table(void)
{
	static const ProtobufCMessageDescriptor *seen[512];
	size_t nseen = 0, fields = 0;
	int ok = walk(&tetragon__get_events_response__descriptor, seen, &nseen, &fields);

	/* and once more, now that the table is full of them */
	size_t again = 0, n2 = 0;
	static const ProtobufCMessageDescriptor *seen2[512];
	ok &= walk(&tetragon__get_events_response__descriptor, seen2, &n2, &again);
	char name[128];
	snprintf(name, sizeof name, "field table: %zu fields of %zu messages each found as itself",
		 fields, nseen);
	check(name, ok && fields > 100);
}

int main(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	test_strings();
	test_fields();
	test_field_table();
	msgpack_sbuffer_destroy(&sb);
	printf("%d checks, %d passed, %d failed\n", checks, checks - failures, failures);
	return failures ? 1 : 0;
}
