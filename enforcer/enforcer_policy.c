/* enforcer_policy.c — policy_set and pod_meta bodies into C structs, strictly: a bad
 * field rejects the whole set with a message naming the policy, rule and field, so a
 * half-understood policy is never enforced weaker than written. Also self-protection. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enforcer.h"
#include "wire.h"

/* Append a copy of p[0..len) to a string list. 0, or -1 (out of memory). */
static int strs_add(struct enfp_strs *s, const char *p, size_t len)
{
	char **v = realloc(s->v, (s->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	s->v = v;
	if (!(v[s->n] = strndup(p, len)))
		return -1;
	s->n++;
	return 0;
}

/* Free a string list and leave it empty. */
static void strs_free(struct enfp_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* An optional array of strings at key. 0, or -1 with err. */
static int get_strs(const msgpack_object *m, const char *key, struct enfp_strs *out,
		    size_t maxlen, char *err, size_t errlen)
{
	const msgpack_object *a = wire_get(m, key);

	if (!a || a->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (a->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "%s: not an array", key);
		return -1;
	}
	for (uint32_t i = 0; i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];

		if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
		    memchr(o->via.str.ptr, 0, o->via.str.size)) {
			snprintf(err, errlen, "%s[%u]: not a non-empty string", key, i);
			return -1;
		}
		if (maxlen && o->via.str.size > maxlen) {
			snprintf(err, errlen, "%s[%u]: longer than %zu bytes", key, i, maxlen);
			return -1;
		}
		if (strs_add(out, o->via.str.ptr, o->via.str.size) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* An optional string at key into buf (empty when absent). 0, or -1 with err. */
static int get_str(const msgpack_object *m, const char *key, char *buf, size_t len,
		   char *err, size_t errlen)
{
	const msgpack_object *o = wire_get(m, key);

	buf[0] = 0;
	if (!o)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len ||
	    memchr(o->via.str.ptr, 0, o->via.str.size)) {
		snprintf(err, errlen, "%s: not a string of at most %zu bytes", key, len - 1);
		return -1;
	}
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = 0;
	return 0;
}

/* An optional int at key (def when absent). 0, or -1 with err. */
static int get_int(const msgpack_object *m, const char *key, int64_t lo, int64_t hi,
		   int64_t def, int64_t *out, char *err, size_t errlen)
{
	const msgpack_object *o = wire_get(m, key);

	*out = def;
	if (!o)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX)
		*out = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = o->via.i64;
	else {
		snprintf(err, errlen, "%s: not an integer", key);
		return -1;
	}
	if (*out < lo || *out > hi) {
		snprintf(err, errlen, "%s: %lld out of range [%lld, %lld]", key,
			 (long long)*out, (long long)lo, (long long)hi);
		return -1;
	}
	return 0;
}

/* "10.0.0.0/8", "::1", "fd00::/8" into c. 0, or -1. */
static int parse_cidr(const char *s, struct enfp_cidr *c)
{
	char buf[64], *slash;
	long len;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = 6;
		max = 128;
	} else {
		return -1;
	}
	len = max;
	if (slash) {
		char *end;

		len = strtol(slash, &end, 10);
		if (!*slash || *end || len < 0 || len > max)
			return -1;
	}
	c->len = (uint8_t)len;
	return 0;
}

static const struct {
	const char *name;
	int kind;
} kinds[] = {
	{ "file_open", ENF_K_FILE }, { "exec", ENF_K_EXEC }, { "connect", ENF_K_NET4 },
	{ "unlink", ENF_K_UNLINK }, { "rename", ENF_K_RENAME }, { "chmod", ENF_K_CHMOD },
	{ "setuid", ENF_K_SETUID }, { "module_load", ENF_K_MODULE }, { "mount", ENF_K_MOUNT },
};

/* One Rule map. 0, or -1 with err. */
static int parse_rule(const msgpack_object *m, struct enfp_rule *r, char *err, size_t errlen)
{
	struct enfp_strs tmp = { 0 };
	const msgpack_object *a;
	size_t i;
	int found = 0;

	if (m->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "not a map");
		return -1;
	}
	if (get_str(m, "kind", r->kind_name, sizeof(r->kind_name), err, errlen) < 0)
		return -1;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, r->kind_name)) {
			r->kind = kinds[i].kind;
			found = 1;
		}
	if (!found) {
		snprintf(err, errlen, "kind: unknown %s%s%s", r->kind_name[0] ? "'" : "(missing)",
			 r->kind_name, r->kind_name[0] ? "'" : "");
		return -1;
	}
	if (get_strs(m, "paths", &r->paths, ENF_PATH_MAX, err, errlen) < 0 ||
	    get_strs(m, "prefixes", &r->prefixes, ENF_PATH_MAX, err, errlen) < 0 ||
	    get_strs(m, "binaries", &r->binaries, ENF_PATH_MAX, err, errlen) < 0 ||
	    get_strs(m, "not_binaries", &r->not_binaries, ENF_PATH_MAX, err, errlen) < 0)
		return -1;
	for (i = 0; i < r->paths.n; i++)
		if (r->paths.v[i][0] != '/') {
			snprintf(err, errlen, "paths[%zu]: '%s' is not absolute", i, r->paths.v[i]);
			return -1;
		}
	/* uids */
	a = wire_get(m, "uids");
	if (a && a->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "uids: not an array");
		return -1;
	}
	for (i = 0; a && i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];

		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX) {
			snprintf(err, errlen, "uids[%zu]: not a uid", i);
			return -1;
		}
		if (r->nuids == ENF_MAX_UIDS) {
			snprintf(err, errlen, "uids: more than %d", ENF_MAX_UIDS);
			return -1;
		}
		r->uids[r->nuids++] = (uint32_t)o->via.u64;
	}
	/* ports: ints or [lo, hi] */
	a = wire_get(m, "ports");
	if (a && a->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "ports: not an array");
		return -1;
	}
	for (i = 0; a && i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		uint64_t lo, hi;

		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			lo = hi = o->via.u64;
		} else if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 2 &&
			   o->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			   o->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			lo = o->via.array.ptr[0].via.u64;
			hi = o->via.array.ptr[1].via.u64;
		} else {
			snprintf(err, errlen, "ports[%zu]: not a port or [lo, hi]", i);
			return -1;
		}
		if (lo > hi || hi > 65535) {
			snprintf(err, errlen, "ports[%zu]: bad range", i);
			return -1;
		}
		if (r->nports == ENF_MAX_PORTS) {
			snprintf(err, errlen, "ports: more than %d entries", ENF_MAX_PORTS);
			return -1;
		}
		r->port_lo[r->nports] = (uint16_t)lo;
		r->port_hi[r->nports++] = (uint16_t)hi;
	}
	if (get_strs(m, "access", &tmp, 16, err, errlen) < 0)
		goto fail;
	for (i = 0; i < tmp.n; i++) {
		if (!strcmp(tmp.v[i], "read"))
			r->flags |= ENF_F_READ;
		else if (!strcmp(tmp.v[i], "write"))
			r->flags |= ENF_F_WRITE;
		else {
			snprintf(err, errlen, "access[%zu]: '%s' (want read or write)", i, tmp.v[i]);
			goto fail;
		}
	}
	strs_free(&tmp);
	if (get_strs(m, "protocols", &tmp, 16, err, errlen) < 0)
		goto fail;
	for (i = 0; i < tmp.n; i++) {
		if (!strcmp(tmp.v[i], "tcp"))
			r->flags |= ENF_F_TCP;
		else if (!strcmp(tmp.v[i], "udp"))
			r->flags |= ENF_F_UDP;
		else {
			snprintf(err, errlen, "protocols[%zu]: '%s' (want tcp or udp)", i, tmp.v[i]);
			goto fail;
		}
	}
	strs_free(&tmp);
	if (get_strs(m, "cidrs", &tmp, 63, err, errlen) < 0)
		goto fail;
	if (tmp.n && !(r->cidrs = calloc(tmp.n, sizeof(*r->cidrs)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < tmp.n; i++) {
		if (parse_cidr(tmp.v[i], &r->cidrs[i]) < 0) {
			snprintf(err, errlen, "cidrs[%zu]: '%s' is not a CIDR", i, tmp.v[i]);
			goto fail;
		}
		r->ncidrs++;
	}
	strs_free(&tmp);
	return 0;
fail:
	strs_free(&tmp);
	return -1;
}

/* The scope map. 0, or -1 with err. */
static int parse_scope(const msgpack_object *m, struct enfp_policy *p, char *err, size_t errlen)
{
	const msgpack_object *sc = wire_get(m, "scope"), *o;
	int64_t v;

	p->scope_all = 1;
	if (!sc || sc->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (sc->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "scope: not a map");
		return -1;
	}
	if (sc->via.map.size == 0)
		return 0;
	p->scope_all = 0;
	o = wire_get(sc, "host");
	if (o && o->type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(err, errlen, "scope.host: not a bool");
		return -1;
	}
	p->host = o && o->via.boolean;
	if (get_strs(sc, "namespaces", &p->namespaces, 63, err, errlen) < 0)
		return -1;
	o = wire_get(sc, "match_labels");
	if (o && o->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "scope.match_labels: not a map");
		return -1;
	}
	for (uint32_t i = 0; o && i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
			snprintf(err, errlen, "scope.match_labels: keys and values must be strings");
			return -1;
		}
		if (strs_add(&p->label_keys, kv->key.via.str.ptr, kv->key.via.str.size) < 0 ||
		    strs_add(&p->label_vals, kv->val.via.str.ptr, kv->val.via.str.size) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	o = wire_get(sc, "cgroup_ids");
	if (o && o->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "scope.cgroup_ids: not an array");
		return -1;
	}
	if (o && o->via.array.size && !(p->cgids = calloc(o->via.array.size, 8))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; o && i < o->via.array.size; i++) {
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			snprintf(err, errlen, "scope.cgroup_ids[%u]: not a cgroup id", i);
			return -1;
		}
		p->cgids[p->ncgids++] = o->via.array.ptr[i].via.u64;
	}
	(void)v;
	return 0;
}

/* One Policy map. 0, or -1 with err. */
static int parse_policy(const msgpack_object *m, struct enfp_policy *p, char *err, size_t errlen)
{
	char mode[16], action[16], e2[ENFP_ERR];
	const msgpack_object *rules, *o;
	int64_t v;

	if (m->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "not a map");
		return -1;
	}
	if (get_str(m, "name", p->name, sizeof(p->name), err, errlen) < 0)
		return -1;
	if (!p->name[0]) {
		snprintf(err, errlen, "name: missing");
		return -1;
	}
	if (get_str(m, "mode", mode, sizeof(mode), err, errlen) < 0 ||
	    get_str(m, "action", action, sizeof(action), err, errlen) < 0)
		return -1;
	if (!strcmp(mode, "monitor"))
		p->monitor = 1;
	else if (strcmp(mode, "enforce")) {
		snprintf(err, errlen, "mode: '%s' (want enforce or monitor)", mode);
		return -1;
	}
	if (!strcmp(action, "override"))
		p->action = ENF_A_OVERRIDE;
	else if (!strcmp(action, "sigkill"))
		p->action = ENF_A_SIGKILL;
	else if (!strcmp(action, "signal"))
		p->action = ENF_A_SIGNAL;
	else {
		snprintf(err, errlen, "action: '%s' (want override, sigkill or signal)", action);
		return -1;
	}
	/* errno / signal only mean something for their action; 0 elsewhere is fine. */
	if (get_int(m, "errno", 0, 4095, 1, &v, err, errlen) < 0)
		return -1;
	if (p->action == ENF_A_OVERRIDE && v == 0) {
		snprintf(err, errlen, "errno: 0 with action override (would allow)");
		return -1;
	}
	p->err = (int)v;
	if (get_int(m, "signal", 0, 64, 9, &v, err, errlen) < 0)
		return -1;
	if (p->action == ENF_A_SIGNAL && v == 0) {
		snprintf(err, errlen, "signal: 0 with action signal");
		return -1;
	}
	p->sig = p->action == ENF_A_SIGKILL ? 9 : (int)v;
	o = wire_get(m, "kill_fallback");
	if (o && o->type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(err, errlen, "kill_fallback: not a bool");
		return -1;
	}
	p->kill_fallback = o && o->via.boolean;
	if (parse_scope(m, p, err, errlen) < 0)
		return -1;
	rules = wire_get(m, "rules");
	if (!rules || rules->type != MSGPACK_OBJECT_ARRAY || rules->via.array.size == 0) {
		snprintf(err, errlen, "rules: missing or not a non-empty array");
		return -1;
	}
	p->rules = calloc(rules->via.array.size, sizeof(*p->rules));
	if (!p->rules) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < rules->via.array.size; i++) {
		p->nrules++;
		if (parse_rule(&rules->via.array.ptr[i], &p->rules[i], e2, sizeof(e2)) < 0) {
			snprintf(err, errlen, "rules[%u]: %.200s", i, e2);
			return -1;
		}
	}
	return 0;
}

int enfp_parse(const msgpack_object *ev, struct enfp_set *out, char *err, size_t errlen)
{
	const msgpack_object *pols;
	char mode[16], e2[ENFP_ERR];
	uint64_t gen;

	memset(out, 0, sizeof(*out));
	if (wire_get_u64(ev, "generation", &gen) < 0 || gen == 0) {
		snprintf(err, errlen, "generation: missing or not a positive integer");
		return -1;
	}
	out->generation = gen;
	if (get_str(ev, "mode", mode, sizeof(mode), err, errlen) < 0)
		return -1;
	if (!strcmp(mode, "monitor"))
		out->monitor_all = 1;
	else if (mode[0] && strcmp(mode, "enforce")) {
		snprintf(err, errlen, "mode: '%s' (want enforce or monitor)", mode);
		return -1;
	}
	pols = wire_get(ev, "policies");
	if (!pols || pols->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "policies: missing or not an array");
		return -1;
	}
	if (pols->via.array.size &&
	    !(out->pols = calloc(pols->via.array.size, sizeof(*out->pols)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < pols->via.array.size; i++) {
		struct enfp_policy *p = &out->pols[i];

		out->n++;
		if (parse_policy(&pols->via.array.ptr[i], p, e2, sizeof(e2)) < 0) {
			snprintf(err, errlen, "policies[%u]%s%.64s%s: %.160s", i, p->name[0] ? " (" : "",
				 p->name, p->name[0] ? ")" : "", e2);
			enfp_free(out);
			return -1;
		}
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(out->pols[j].name, p->name)) {
				snprintf(err, errlen, "policies[%u]: duplicate name '%s'", i, p->name);
				enfp_free(out);
				return -1;
			}
	}
	return 0;
}

void enfp_free(struct enfp_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct enfp_policy *p = &s->pols[i];

		for (size_t j = 0; j < p->nrules; j++) {
			struct enfp_rule *r = &p->rules[j];

			strs_free(&r->paths);
			strs_free(&r->prefixes);
			strs_free(&r->binaries);
			strs_free(&r->not_binaries);
			free(r->cidrs);
		}
		free(p->rules);
		strs_free(&p->namespaces);
		strs_free(&p->label_keys);
		strs_free(&p->label_vals);
		free(p->cgids);
	}
	free(s->pols);
	memset(s, 0, sizeof(*s));
}

const char *enfp_state_name(enum enfp_state s)
{
	static const char *const n[] = { "disarmed", "monitor", "armed" };

	return (unsigned)s < 3 ? n[s] : "?";
}

/* ---- pods ---- */

int enfp_pod_meta(struct enfp_pods *pods, const msgpack_object *ev, char *err, size_t errlen)
{
	char op[8];
	uint64_t cgid;
	struct enfp_pod np = { 0 }, *p = NULL;
	const msgpack_object *lab;

	if (get_str(ev, "op", op, sizeof(op), err, errlen) < 0)
		return -1;
	if (wire_get_u64(ev, "cgroup_id", &cgid) < 0) {
		snprintf(err, errlen, "cgroup_id: missing or not an integer");
		return -1;
	}
	for (size_t i = 0; i < pods->n; i++)
		if (pods->v[i].cgid == cgid)
			p = &pods->v[i];
	if (!strcmp(op, "del")) {
		if (!p)
			return 0;
		strs_free(&p->keys);
		strs_free(&p->vals);
		*p = pods->v[--pods->n];
		return 1;
	}
	if (strcmp(op, "set")) {
		snprintf(err, errlen, "op: '%s' (want set or del)", op);
		return -1;
	}
	np.cgid = cgid;
	if (get_str(ev, "namespace", np.ns, sizeof(np.ns), err, errlen) < 0)
		return -1;
	lab = wire_get(ev, "labels");
	if (lab && lab->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "labels: not a map");
		return -1;
	}
	for (uint32_t i = 0; lab && i < lab->via.map.size; i++) {
		const msgpack_object_kv *kv = &lab->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR ||
		    strs_add(&np.keys, kv->key.via.str.ptr, kv->key.via.str.size) < 0 ||
		    strs_add(&np.vals, kv->val.via.str.ptr, kv->val.via.str.size) < 0) {
			strs_free(&np.keys);
			strs_free(&np.vals);
			snprintf(err, errlen, "labels: keys and values must be strings");
			return -1;
		}
	}
	if (!p) {
		struct enfp_pod *v = realloc(pods->v, (pods->n + 1) * sizeof(*v));

		if (!v) {
			strs_free(&np.keys);
			strs_free(&np.vals);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pods->v = v;
		p = &pods->v[pods->n++];
	} else {
		strs_free(&p->keys);
		strs_free(&p->vals);
	}
	*p = np;
	return 1;
}

void enfp_pods_free(struct enfp_pods *pods)
{
	for (size_t i = 0; i < pods->n; i++) {
		strs_free(&pods->v[i].keys);
		strs_free(&pods->v[i].vals);
	}
	free(pods->v);
	memset(pods, 0, sizeof(*pods));
}

int enfp_pod_matches(const struct enfp_policy *p, const struct enfp_pod *pod)
{
	size_t i, j;
	int ok;

	if (!p->namespaces.n && !p->label_keys.n)
		return 0;
	if (p->namespaces.n) {
		for (ok = 0, i = 0; i < p->namespaces.n; i++)
			ok |= !strcmp(p->namespaces.v[i], pod->ns);
		if (!ok)
			return 0;
	}
	for (i = 0; i < p->label_keys.n; i++) {
		for (ok = 0, j = 0; j < pod->keys.n; j++)
			ok |= !strcmp(pod->keys.v[j], p->label_keys.v[i]) &&
			      !strcmp(pod->vals.v[j], p->label_vals.v[i]);
		if (!ok)
			return 0;
	}
	return 1;
}

/* ---- self-protection ---- */


/* Record the cgroup v2 at rel (e.g. "/a/b") and each of its ancestors up to the root. */
static void protect_cgroup_chain(struct enfp_protect *pr, const char *rel)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char buf[1200];
	struct stat sb;
	size_t len;

	for (size_t r = 0; r < 2; r++) {
		snprintf(buf, sizeof(buf), "%s%s", roots[r], rel);
		if (stat(buf, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		len = strlen(buf);
		while (pr->ncgids < ENFP_PROTECT_CGIDS) {
			if (stat(buf, &sb) == 0)
				pr->cgids[pr->ncgids++] = sb.st_ino;
			if (len <= strlen(roots[r]))
				break;
			while (len > strlen(roots[r]) && buf[len - 1] != '/')
				len--;
			if (len > strlen(roots[r]))
				len--;	/* the slash */
			buf[len] = 0;
		}
		return;
	}
}

/* Add the realpath of p (and p itself) to a list if it exists. */
static void add_real(struct enfp_strs *s, const char *p)
{
	char rp[4096];

	if (realpath(p, rp)) {
		strs_add(s, rp, strlen(rp));
		if (strcmp(rp, p))
			strs_add(s, p, strlen(p));
	}
}

void enfp_protect_init(struct enfp_protect *pr, const char *rundir, const char *pin_dir)
{
	static const char *const s6[] = {
		"s6-svscan", "s6-supervise", "s6-svc", "s6-svok", "s6-log", "s6-svwait",
		"s6-svscanctl", "s6-svstat", "s6-notifyoncheck", "execlineb", "sh",
	};
	char self[4096], buf[4200], *slash;
	ssize_t n;
	struct stat sb;

	memset(pr, 0, sizeof(*pr));
	/* Our own binaries: everything named vigil* next to us. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/'))) {
			static const char *const st[] = { "collector", "enricher", "evaluator",
							   "enforcer", "exporter" };
			*slash = 0;
			for (size_t i = 0; i < 5; i++) {
				snprintf(buf, sizeof(buf), "%s/vigil-%s", self, st[i]);
				add_real(&pr->bins, buf);
			}
			snprintf(buf, sizeof(buf), "%s/vigil", self);
			add_real(&pr->bins, buf);
			snprintf(buf, sizeof(buf), "%s/", self);
			strs_add(&pr->paths, buf, strlen(buf));
		}
	}
	for (size_t i = 0; i < sizeof(s6) / sizeof(s6[0]); i++) {
		snprintf(buf, sizeof(buf), "/usr/bin/%s", s6[i]);
		add_real(&pr->bins, buf);
		snprintf(buf, sizeof(buf), "/bin/%s", s6[i]);
		add_real(&pr->bins, buf);
	}
	n = readlink("/proc/1/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		add_real(&pr->bins, self);
	}
	if (rundir) {
		snprintf(buf, sizeof(buf), "%s/", rundir);
		strs_add(&pr->paths, buf, strlen(buf));
	}
	if (pin_dir) {
		snprintf(buf, sizeof(buf), "%s/", pin_dir);
		strs_add(&pr->paths, buf, strlen(buf));
	}
	strs_add(&pr->paths, "/sys/fs/bpf/", 12);
	for (size_t i = 0; i < pr->bins.n; i++)
		strs_add(&pr->paths, pr->bins.v[i], strlen(pr->bins.v[i]));
	/* Our own cgroup v2 (where s6 and the stages live) and every ancestor of it: a
	 * scope or a cgroup kill covers a cgroup's whole subtree. */
	if (stat("/proc/self", &sb) == 0) {
		FILE *f = fopen("/proc/self/cgroup", "r");
		char line[1024];

		while (f && fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "0::", 3)) {
				line[strcspn(line, "\n")] = 0;
				protect_cgroup_chain(pr, line + 3);
			}
		}
		if (f)
			fclose(f);
	}
}

void enfp_protect_free(struct enfp_protect *pr)
{
	strs_free(&pr->bins);
	strs_free(&pr->paths);
}

/* Does path p fall under the rule's paths or prefixes (no paths at all: yes)? */
static int rule_hits_path(const struct enfp_rule *r, const char *p)
{
	size_t i;

	if (!r->paths.n && !r->prefixes.n)
		return 1;
	for (i = 0; i < r->paths.n; i++)
		if (!strcmp(r->paths.v[i], p))
			return 1;
	for (i = 0; i < r->prefixes.n; i++)
		if (!strncmp(r->prefixes.v[i], p, strlen(r->prefixes.v[i])) ||
		    /* a prefix inside a protected directory hits it too */
		    (p[strlen(p) - 1] == '/' && !strncmp(r->prefixes.v[i], p, strlen(p))))
			return 1;
	return 0;
}

/* Is p one of the strings in s? */
static int in_strs(const struct enfp_strs *s, const char *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], p))
			return 1;
	return 0;
}

int enfp_protect_check(const struct enfp_protect *pr, const struct enfp_policy *p,
		       char *err, size_t errlen)
{
	int covers_us = p->scope_all || p->host;

	for (size_t i = 0; i < p->ncgids; i++)
		for (int j = 0; j < pr->ncgids; j++)
			covers_us |= p->cgids[i] == pr->cgids[j];
	if (!covers_us)
		return 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct enfp_rule *r = &p->rules[i];
		int acting_ok = 1;

		/* A rule limited to other acting binaries cannot hit vigil or s6. */
		if (r->binaries.n) {
			acting_ok = 0;
			for (size_t j = 0; j < pr->bins.n; j++)
				acting_ok |= in_strs(&r->binaries, pr->bins.v[j]);
		}
		if (!acting_ok)
			continue;
		if (r->kind == ENF_K_EXEC) {
			for (size_t j = 0; j < pr->bins.n; j++)
				if (rule_hits_path(r, pr->bins.v[j]) &&
				    !in_strs(&r->not_binaries, pr->bins.v[j])) {
					snprintf(err, errlen, "rules[%zu] (exec) would block %s, "
						 "which vigil or its supervisor needs", i, pr->bins.v[j]);
					return -1;
				}
		} else if (r->kind == ENF_K_FILE) {
			int exempt = 1;

			/* not_binaries exempting every protected binary keeps us safe. */
			for (size_t j = 0; j < pr->bins.n; j++)
				exempt &= in_strs(&r->not_binaries, pr->bins.v[j]);
			if (exempt && r->not_binaries.n)
				continue;
			for (size_t j = 0; j < pr->paths.n; j++)
				if (rule_hits_path(r, pr->paths.v[j])) {
					snprintf(err, errlen, "rules[%zu] (file_open) would block %s, "
						 "which vigil or its supervisor needs", i, pr->paths.v[j]);
					return -1;
				}
		}
	}
	return 0;
}

int enfp_protect_pid(const struct enfp_protect *pr, int pid, char *err, size_t errlen)
{
	char path[64], exe[4096];
	ssize_t n;

	if (pid <= 1 || pid == getpid()) {
		snprintf(err, errlen, "pid %d is %s: never killed", pid,
			 pid == 1 ? "PID 1" : "the enforcer");
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = 0;
	if (in_strs(&pr->bins, exe) && strcmp(exe, "/bin/sh") && strcmp(exe, "/usr/bin/dash") &&
	    strcmp(exe, "/usr/bin/sh")) {
		snprintf(err, errlen, "pid %d runs %s, part of vigil or its supervisor: never killed",
			 pid, exe);
		return 1;
	}
	return 0;
}
