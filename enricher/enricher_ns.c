/* enricher_ns.c — namespace changes compared with the exec; see enricher_ns.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enricher_intern.h"
#include "enricher_ns.h"
#include "mpdec.h"
#include "wire.h"

/* The namespace names of the Process `ns` map and of ns_after. */
static const char *const ns_kinds[] = {
	"uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time",
	"time_for_children", "cgroup", "user",
};
#define NS_KINDS (sizeof(ns_kinds) / sizeof(ns_kinds[0]))

/* Index of name (len bytes) in ns_kinds, or -1. */
static int ns_kind(const char *name, size_t len)
{
	for (size_t i = 0; i < NS_KINDS; i++)
		if (wire_streq(name, len, ns_kinds[i]))
			return (int)i;
	return -1;
}

/* The string value of key in map m (a KprobeArgument), or NULL. */
static const msgpack_object *map_str(const msgpack_object *m, const char *key)
{
	const msgpack_object *v = wire_get(m, key);

	return v && v->type == MSGPACK_OBJECT_STR ? v : NULL;
}

const msgpack_object *ns_change_args(const msgpack_object *ev, const char **after,
				     size_t *alen)
{
	static const char *const fns[] = { "sys_unshare", "sys_setns", "sys_clone",
					   "sys_clone3" };
	const msgpack_object *fn = map_str(ev, "function_name"), *args;
	size_t i;
	int hit = 0;

	if (!fn)
		return NULL;
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]) && !hit; i++)
		hit = wire_streq(fn->via.str.ptr, fn->via.str.size, fns[i]);
	args = hit ? wire_get(ev, "args") : NULL;
	if (!args || args->type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	for (i = 0; i < args->via.array.size; i++) {
		const msgpack_object *a = &args->via.array.ptr[i], *l, *s;

		if (a->type != MSGPACK_OBJECT_MAP || !(l = map_str(a, "label")) ||
		    !wire_streq(l->via.str.ptr, l->via.str.size, "ns_after") ||
		    !(s = map_str(a, "string_arg")))
			continue;
		*after = s->via.str.ptr;
		*alen = s->via.str.size;
		return args;
	}
	return NULL;
}

/* The exec's namespace inodes of p from its packed extra Process entries (the `ns`
 * map: name -> {inum}); 0 when the map is absent. Decoded with mpdec into a zone of our
 * own, cleared after each call: no zone made and freed per entry decoded. */
static int exec_ns(const struct proc *p, uint64_t out[NS_KINDS])
{
	static msgpack_zone zone;
	static int zone_ok;
	msgpack_object o;
	size_t off = 0, len = p->extra ? istr_len(p->extra) : 0;
	int found = 0, key = 1, want = 0;

	memset(out, 0, NS_KINDS * sizeof(out[0]));
	if (!zone_ok) {
		if (!msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE))
			return 0;
		zone_ok = 1;
	}
	for (uint32_t i = 0; i < 2u * p->extra_n && !found; i++, key = !key) {
		msgpack_unpack_return r = mpdec_unpack(p->extra, len, &off, &zone, &o);

		if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
			break;
		if (key) {
			want = o.type == MSGPACK_OBJECT_STR &&
			       wire_streq(o.via.str.ptr, o.via.str.size, "ns");
			continue;
		}
		if (!want || o.type != MSGPACK_OBJECT_MAP)
			continue;
		for (uint32_t j = 0; j < o.via.map.size; j++) {
			const msgpack_object_kv *kv = &o.via.map.ptr[j];
			const msgpack_object *inum;
			int k;

			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    (k = ns_kind(kv->key.via.str.ptr, kv->key.via.str.size)) < 0 ||
			    kv->val.type != MSGPACK_OBJECT_MAP ||
			    !(inum = wire_get(&kv->val, "inum")) ||
			    inum->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				continue;
			out[k] = inum->via.u64;
		}
		found = 1;
	}
	msgpack_zone_clear(&zone);
	return found;
}

int ns_changes(const struct proc *p, const char *after, size_t alen, char *buf)
{
	uint64_t was[NS_KINDS];
	size_t i = 0, off = 0;

	buf[0] = '\0';
	if (!exec_ns(p, was))
		return -1;
	/* "name:inum" words separated by spaces; anything else is skipped */
	while (i < alen) {
		size_t w = i, colon = 0;
		uint64_t now = 0;
		int k, digits = 0;

		while (i < alen && after[i] != ' ')
			i++;
		for (size_t j = w; j < i; j++)
			if (after[j] == ':') {
				colon = j;
				break;
			}
		if (colon > w) {
			for (size_t j = colon + 1; j < i && after[j] >= '0' && after[j] <= '9'; j++) {
				now = now * 10 + (uint64_t)(after[j] - '0');
				digits++;
			}
		}
		k = colon > w ? ns_kind(after + w, colon - w) : -1;
		if (k >= 0 && digits == (int)(i - colon - 1) && digits > 0 && digits < 20 &&
		    was[k] && now != was[k] && off < NS_CHANGES_MAX)
			off += (size_t)snprintf(buf + off, NS_CHANGES_MAX - off, "%s%s:%llu->%llu",
						off ? " " : "", ns_kinds[k],
						(unsigned long long)was[k], (unsigned long long)now);
		i++;
	}
	if (off >= NS_CHANGES_MAX)
		off = strlen(buf);
	return (int)off;
}

void ns_pack_args(msgpack_packer *pk, const msgpack_object *args, const char *changes,
		  size_t clen)
{
	int done = 0;

	msgpack_pack_array(pk, args->via.array.size + 1);
	for (uint32_t i = 0; i < args->via.array.size; i++) {
		const msgpack_object *a = &args->via.array.ptr[i], *l;

		msgpack_pack_object(pk, *a);
		/* right after ns_after (the syscall name stays last) */
		if (done || a->type != MSGPACK_OBJECT_MAP || !(l = map_str(a, "label")) ||
		    !wire_streq(l->via.str.ptr, l->via.str.size, "ns_after"))
			continue;
		msgpack_pack_map(pk, 2);
		msgpack_pack_str_with_body(pk, "string_arg", 10);
		msgpack_pack_str_with_body(pk, changes, clen);
		msgpack_pack_str_with_body(pk, "label", 5);
		msgpack_pack_str_with_body(pk, "ns_changes", 10);
		done = 1;
	}
}
