/* test_enricher_ns — namespace changes against the exec (enricher_ns.c): the exec's
 * namespaces are read from the process's packed extra Process entries, ns_after words
 * that differ become "name:was->now"; hostile ns_after text (bad words, huge numbers,
 * thousands of words) and malformed args give no change and no overflow; events that are
 * not namespace changes, or whose args are of the wrong shape, are left alone. */
#include <stdio.h>
#include <string.h>

#include "enricher_intern.h"
#include "enricher_ns.h"

#include "check.h"

/* Pack a C string. */
static void str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* A process whose exec recorded uts 100 and net 200 (is_host), after a cap entry. */
static void exec_proc(struct proc *p, int with_ns)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	str(&pk, "cap");
	msgpack_pack_map(&pk, 1);
	str(&pk, "effective");
	msgpack_pack_array(&pk, 0);
	if (with_ns) {
		str(&pk, "ns");
		msgpack_pack_map(&pk, 3);
		str(&pk, "uts");
		msgpack_pack_map(&pk, 1);
		str(&pk, "inum");
		msgpack_pack_uint64(&pk, 100);
		str(&pk, "net");
		msgpack_pack_map(&pk, 2);
		str(&pk, "inum");
		msgpack_pack_uint64(&pk, 200);
		str(&pk, "is_host");
		msgpack_pack_true(&pk);
		str(&pk, "bogus");
		msgpack_pack_uint64(&pk, 1);
	}
	memset(p, 0, sizeof(*p));
	p->extra = istr_get(sb.data, sb.size);
	p->extra_n = with_ns ? 2 : 1;
	msgpack_sbuffer_destroy(&sb);
}

/* ns_changes of text for p. */
static int changes(const struct proc *p, const char *text, char *buf)
{
	return ns_changes(p, text, strlen(text), buf);
}

static void t_changes(void)
{
	struct proc p, bare;
	char buf[NS_CHANGES_MAX], big[20000];
	int n;

	exec_proc(&p, 1);
	exec_proc(&bare, 0);
	n = changes(&p, "uts:100 ipc:5 net:201 mnt:7", buf);
	CHECK(n > 0 && !strcmp(buf, "net:200->201"), "one change: %d %s", n, buf);
	n = changes(&p, "uts:101 net:202", buf);
	CHECK(!strcmp(buf, "uts:100->101 net:200->202") && n == (int)strlen(buf), "two: %s", buf);
	n = changes(&p, "uts:100 net:200", buf);
	CHECK(n == 0 && buf[0] == '\0', "no change: %d %s", n, buf);
	CHECK(changes(&bare, "uts:101", buf) == -1, "no exec namespaces: nothing to compare");
	n = changes(&p, "uts: net:x :5 bogus:1 uts:101x net:99999999999999999999999 "
			"uts:-1  net::3 \x01\xff uts:101", buf);
	CHECK(n > 0 && !strcmp(buf, "uts:100->101"), "garbage words skipped: %s", buf);
	n = changes(&p, "", buf);
	CHECK(n == 0, "empty text");
	for (size_t i = 0; i + 8 < sizeof(big); i += 8)
		memcpy(big + i, i % 16 ? "net:201 " : "uts:999 ", 8);
	big[sizeof(big) - 8] = '\0';
	n = changes(&p, big, buf);
	CHECK(n > 0 && n < NS_CHANGES_MAX && strlen(buf) == (size_t)n, "bounded: %d", n);
}

/* A process_kprobe body: function fn, args as given by the callback. */
static void t_args(void)
{
	static const char *const fns[] = { "sys_setns", "sys_mount", "sys_clone3" };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	const char *after = NULL;
	size_t alen = 0, off = 0;

	for (int k = 0; k < 3; k++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		str(&pk, "function_name");
		str(&pk, fns[k]);
		str(&pk, "args");
		msgpack_pack_array(&pk, k == 2 ? 2 : 3);
		msgpack_pack_int(&pk, 7); /* not a map */
		msgpack_pack_map(&pk, 2);
		str(&pk, "string_arg");
		str(&pk, "uts:1");
		str(&pk, "label");
		if (k == 2)
			msgpack_pack_int(&pk, 3); /* a label that is not a string */
		else
			str(&pk, "ns_after");
		if (k != 2) {
			msgpack_pack_map(&pk, 2);
			str(&pk, "string_arg");
			str(&pk, "setns");
			str(&pk, "label");
			str(&pk, "syscall");
		}
		msgpack_unpacked_init(&up);
		off = 0;
		CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS,
		      "unpack");
		after = NULL;
		const msgpack_object *a = ns_change_args(&up.data, &after, &alen);
		if (k == 0) {
			CHECK(a && after && alen == 5 && !memcmp(after, "uts:1", 5), "setns found");
			msgpack_sbuffer out;
			msgpack_packer opk;
			msgpack_unpacked o;
			size_t oo = 0;

			msgpack_sbuffer_init(&out);
			msgpack_packer_init(&opk, &out, msgpack_sbuffer_write);
			ns_pack_args(&opk, a, "uts:0->1", 8);
			msgpack_unpacked_init(&o);
			CHECK(msgpack_unpack_next(&o, out.data, out.size, &oo) ==
				      MSGPACK_UNPACK_SUCCESS && o.data.type == MSGPACK_OBJECT_ARRAY &&
				      o.data.via.array.size == 4, "four args");
			if (o.data.via.array.size == 4) {
				const msgpack_object *c = &o.data.via.array.ptr[2];
				const msgpack_object *l = &c->via.map.ptr[1].val;

				CHECK(c->type == MSGPACK_OBJECT_MAP && l->via.str.size == 10 &&
				      !memcmp(l->via.str.ptr, "ns_changes", 10),
				      "ns_changes right after ns_after, syscall stays last");
			}
			msgpack_unpacked_destroy(&o);
			msgpack_sbuffer_destroy(&out);
		} else {
			CHECK(!a, "%s: not a namespace change with ns_after", fns[k]);
		}
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_destroy(&sb);
	}
}

int main(void)
{
	t_changes();
	t_args();
	if (fails) {
		printf("%d failed\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}
