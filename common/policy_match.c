/* policy_match.c — value sets, event extraction, matching, message rendering and the
 * enforcer export of the policy model (policy.h). Hot path: no allocation per event. */
#include "byteseq.h"
#include "caps.h"
#include "policy_int.h"
#include "wire.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string sets ------------------------------------------------------- */

/* Equal bytes, without a call (byteseq.h). */
#define bytes_eq(a, b, n) byteseq_eq((a), (b), (n))

/* A string hash, eight bytes per step (multiply and fold), the length mixed in. */
static uint64_t pol_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ n, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (w = 0; i < n; i++)
		w = w << 8 | (uint8_t)p[i];
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

/* Rebuild the hash table at twice the needed size. */
static void sset_rehash(struct pol_sset *s, size_t tcap)
{
	size_t i;

	free(s->tab);
	s->tab = calloc(tcap, sizeof(*s->tab));
	if (!s->tab)
		abort();
	s->tcap = tcap;
	for (i = 0; i < s->n; i++) {
		size_t j = pol_hash(s->v[i], s->len[i]) & (tcap - 1);

		while (s->tab[j])
			j = (j + 1) & (tcap - 1);
		s->tab[j] = (uint32_t)i + 1;
	}
}

int pol_sset_has(const struct pol_sset *s, const char *v, size_t n)
{
	size_t j;

	if (!s->tcap)
		return 0;
	j = pol_hash(v, n) & (s->tcap - 1);
	while (s->tab[j]) {
		uint32_t i = s->tab[j] - 1;

		if (s->len[i] == n && bytes_eq(s->v[i], v, n))
			return 1;
		j = (j + 1) & (s->tcap - 1);
	}
	return 0;
}

/* The literal head and tail of v read as a glob (struct pol_sset), and whether * is its
 * only special character. A string without a special character is all head (lit == n).
 * A NUL inside (fnmatch would stop there) leaves everything to fnmatch. */
static void glob_shape(const char *v, size_t n, uint32_t *lit, uint32_t *tail, uint8_t *star)
{
	size_t i, t;

	*star = 0;
	if (memchr(v, '\0', n)) {
		*lit = 0;
		*tail = UINT32_MAX;
		return;
	}
	for (i = 0; i < n && v[i] != '*' && v[i] != '?' && v[i] != '[' && v[i] != '\\'; i++)
		;
	*lit = (uint32_t)i;
	if (memchr(v, '[', n) || memchr(v, '\\', n)) {
		*tail = UINT32_MAX;
		return;
	}
	for (t = 0; t < n && v[n - 1 - t] != '*' && v[n - 1 - t] != '?'; t++)
		;
	*tail = (uint32_t)t;
	*star = !memchr(v, '?', n);
}

/* fnmatch(p, s, 0) for a pattern whose only special character is *: a * takes any run
 * of bytes ('/' and leading dots included, as without FNM_PATHNAME / FNM_PERIOD); on a
 * mismatch the last * takes one byte more. */
static int star_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else
			return 0;
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

void pol_sset_add(struct pol_sset *s, const char *v, size_t n)
{
	size_t i;

	if (pol_sset_has(s, v, n))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		s->len = realloc(s->len, s->cap * sizeof(*s->len));
		s->glit = realloc(s->glit, s->cap * sizeof(*s->glit));
		s->gtail = realloc(s->gtail, s->cap * sizeof(*s->gtail));
		s->gstar = realloc(s->gstar, s->cap * sizeof(*s->gstar));
		if (!s->v || !s->len || !s->glit || !s->gtail || !s->gstar)
			abort();
	}
	s->v[s->n] = strndup(v, n);
	s->len[s->n] = (uint32_t)n;
	glob_shape(v, n, &s->glit[s->n], &s->gtail[s->n], &s->gstar[s->n]);
	s->n++;
	for (i = 0; i < s->nlens && s->lens[i] != n; i++)
		;
	if (i == s->nlens) {
		s->lens = realloc(s->lens, (s->nlens + 1) * sizeof(*s->lens));
		if (!s->lens)
			abort();
		s->lens[s->nlens++] = (uint32_t)n;
	}
	if (s->n * 2 > s->tcap)
		sset_rehash(s, s->tcap ? s->tcap * 2 : 16);
	else {
		size_t j = pol_hash(v, n) & (s->tcap - 1);

		while (s->tab[j])
			j = (j + 1) & (s->tcap - 1);
		s->tab[j] = (uint32_t)s->n;
	}
}

void pol_sset_free(struct pol_sset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->len);
	free(s->glit);
	free(s->gtail);
	free(s->gstar);
	free(s->tab);
	free(s->lens);
	memset(s, 0, sizeof(*s));
}

void pol_strm_free(struct pol_strm *m)
{
	int i;

	for (i = 0; i < POL_S_N; i++) {
		pol_sset_free(&m->pos[i]);
		pol_sset_free(&m->neg[i]);
	}
}

/* Can glob i of s (fnmatch, no flags) match v? A cheap necessary test: the literal text
 * before the first special character must begin v, and, in a pattern without brackets or
 * escapes, the literal text after the last * or ? must end it. fnmatch decides the rest. */
static int glob_may_match(const struct pol_sset *s, size_t i, const char *v, size_t n)
{
	const char *g = s->v[i];
	size_t gn = s->len[i], lit = s->glit[i], t = s->gtail[i];

	if (lit > n || !bytes_eq(g, v, lit))
		return 0;
	if (lit == gn) /* no special character: fnmatch compares the whole string */
		return n == gn;
	if (t == UINT32_MAX)
		return 1;
	return t <= n && bytes_eq(g + gn - t, v + n - t, t);
}

/* Does v pass one test (op) against the set? */
static int sset_test(const struct pol_sset *s, int op, const char *v, size_t n)
{
	char buf[4096];
	size_t i;

	switch (op) {
	case POL_S_EQ:
		return pol_sset_has(s, v, n);
	case POL_S_PREFIX:
		for (i = 0; i < s->nlens; i++)
			if (s->lens[i] <= n && pol_sset_has(s, v, s->lens[i]))
				return 1;
		return 0;
	case POL_S_SUFFIX:
		for (i = 0; i < s->nlens; i++)
			if (s->lens[i] <= n && pol_sset_has(s, v + n - s->lens[i], s->lens[i]))
				return 1;
		return 0;
	case POL_S_GLOB: {
		int copied = 0;

		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		n = strnlen(v, n); /* fnmatch sees the string up to a NUL */
		for (i = 0; i < s->n; i++) {
			if (!glob_may_match(s, i, v, n))
				continue;
			if (s->gstar[i]) {
				if (star_match(s->v[i], s->len[i], v, n))
					return 1;
				continue;
			}
			if (!copied) {
				memcpy(buf, v, n);
				buf[n] = '\0';
				copied = 1;
			}
			if (fnmatch(s->v[i], buf, 0) == 0)
				return 1;
		}
		return 0;
	}
	case POL_S_CONTAINS:
		for (i = 0; i < s->n; i++)
			if (memmem(v, n, s->v[i], s->len[i]))
				return 1;
		return 0;
	}
	return 0;
}

int pol_strm_match(const struct pol_strm *m, const char *v, size_t n)
{
	int i, ok = !m->npos;

	if (!v) {
		v = "";
		n = 0;
	}
	for (i = 0; i < POL_S_N && !ok; i++)
		if (m->pos[i].n && sset_test(&m->pos[i], i, v, n))
			ok = 1;
	for (i = 0; i < POL_S_N && ok && m->nneg; i++)
		if (m->neg[i].n && sset_test(&m->neg[i], i, v, n))
			ok = 0;
	return ok;
}

/* ---- integer ranges ---------------------------------------------------- */

static int range_cmp(const void *a, const void *b)
{
	const struct pol_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge overlapping ranges so lookups can bisect. */
static size_t ranges_merge(struct pol_range *r, size_t n)
{
	size_t i, o = 0;

	if (!n)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		if (r[i].lo <= r[o].hi + 1) {
			if (r[i].hi > r[o].hi)
				r[o].hi = r[i].hi;
		} else
			r[++o] = r[i];
	}
	return o + 1;
}

void pol_intm_finish(struct pol_intm *m)
{
	m->nin = ranges_merge(m->in, m->nin);
	m->nout = ranges_merge(m->out, m->nout);
}

static int ranges_has(const struct pol_range *r, size_t n, int64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v < r[mid].lo)
			hi = mid;
		else if (v > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int pol_intm_match(const struct pol_intm *m, int64_t v)
{
	if (m->nin && !ranges_has(m->in, m->nin, v))
		return 0;
	return !ranges_has(m->out, m->nout, v);
}

/* ---- addresses --------------------------------------------------------- */

int pol_addr_parse(const char *s, size_t n, uint8_t a[16])
{
	char buf[64];

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, 16);
	if (inet_pton(AF_INET, buf, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, a) == 1) {
		/* v4-mapped v6 addresses match v4 CIDRs */
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			memset(a + 4, 0, 12);
			return 4;
		}
		return 6;
	}
	return 0;
}

int pol_cidr_parse(const char *s, struct pol_cidr *c)
{
	const char *sl = strchr(s, '/');
	size_t n = sl ? (size_t)(sl - s) : strlen(s);
	int fam = pol_addr_parse(s, n, c->a);
	long bits;
	char *end;

	if (!fam)
		return -1;
	c->fam = (uint8_t)fam;
	bits = fam == 4 ? 32 : 128;
	if (sl) {
		long b = strtol(sl + 1, &end, 10);

		if (!sl[1] || *end || b < 0 || b > bits)
			return -1;
		bits = b;
	}
	c->bits = (uint8_t)bits;
	return 0;
}

static int cidr_has(const struct pol_cidr *c, int fam, const uint8_t *a)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->fam != fam)
		return 0;
	if (memcmp(c->a, a, (size_t)full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (c->a[full] & mask) == (a[full] & mask);
	}
	return 1;
}

static int cidrm_match(const struct pol_cidrm *m, int fam, const uint8_t *a)
{
	size_t i;
	int ok = !m->nin;

	for (i = 0; i < m->nin && !ok; i++)
		ok = cidr_has(&m->in[i], fam, a);
	for (i = 0; i < m->nout && ok; i++)
		ok = !cidr_has(&m->out[i], fam, a);
	return ok;
}

/* ---- events ------------------------------------------------------------ */

/* Is key object k the literal lit (n bytes)? */
#define KEY_IS(k, lit) ((k)->via.str.size == sizeof(lit) - 1 && \
			bytes_eq((k)->via.str.ptr, lit, sizeof(lit) - 1))

/* map[key] for a key of kn bytes: the first such entry, as wire_get finds it, but the
 * length is compared first (wire_get runs strlen(key) for every entry). */
static inline const msgpack_object *mget(const msgpack_object *m, const char *key, size_t kn)
{
	const msgpack_object_kv *kv;
	uint32_t i;

	if (!m || m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	kv = m->via.map.ptr;
	for (i = 0; i < m->via.map.size; i++)
		if (kv[i].key.type == MSGPACK_OBJECT_STR && kv[i].key.via.str.size == kn &&
		    bytes_eq(kv[i].key.via.str.ptr, key, kn))
			return &kv[i].val;
	return NULL;
}

/* strlen of a literal key is folded at compile time */
#define MGET(m, key) mget((m), (key), strlen(key))

struct fn_map {
	const char *name;
	size_t len;              /* strlen(name): most names are told apart by length */
	enum pol_kind kind;
	unsigned op;
};

/* Kernel functions, LSM hooks and syscalls that vigil events (and imported Tetragon
 * hooks) may name, and what they mean. */
#define FN(name, kind, op) { name, sizeof(name) - 1, kind, op }
static const struct fn_map fn_maps[] = {
	FN("security_bprm_check", POL_K_EXEC, 0),
	FN("bprm_check_security", POL_K_EXEC, 0),
	FN("security_bprm_creds_from_file", POL_K_EXEC, 0),
	FN("sched_process_exec", POL_K_EXEC, 0),
	FN("sys_execve", POL_K_EXEC, 0),
	FN("sys_execveat", POL_K_EXEC, 0),
	FN("sched_process_exit", POL_K_EXIT, 0),
	FN("security_file_open", POL_K_FILE, POL_OP_OPEN),
	FN("file_open", POL_K_FILE, POL_OP_OPEN),
	FN("security_file_permission", POL_K_FILE, POL_OP_OPEN),
	FN("file_permission", POL_K_FILE, POL_OP_OPEN),
	FN("fd_install", POL_K_FILE, POL_OP_OPEN),
	FN("sys_open", POL_K_FILE, POL_OP_OPEN),
	FN("sys_openat", POL_K_FILE, POL_OP_OPEN),
	FN("sys_openat2", POL_K_FILE, POL_OP_OPEN),
	FN("security_path_unlink", POL_K_FILE, POL_OP_UNLINK),
	FN("path_unlink", POL_K_FILE, POL_OP_UNLINK),
	FN("sys_unlink", POL_K_FILE, POL_OP_UNLINK),
	FN("sys_unlinkat", POL_K_FILE, POL_OP_UNLINK),
	FN("security_path_rename", POL_K_FILE, POL_OP_RENAME),
	FN("path_rename", POL_K_FILE, POL_OP_RENAME),
	FN("sys_rename", POL_K_FILE, POL_OP_RENAME),
	FN("sys_renameat", POL_K_FILE, POL_OP_RENAME),
	FN("sys_renameat2", POL_K_FILE, POL_OP_RENAME),
	FN("security_path_chmod", POL_K_FILE, POL_OP_CHMOD),
	FN("path_chmod", POL_K_FILE, POL_OP_CHMOD),
	FN("sys_chmod", POL_K_FILE, POL_OP_CHMOD),
	FN("sys_fchmodat", POL_K_FILE, POL_OP_CHMOD),
	FN("security_path_truncate", POL_K_FILE, POL_OP_TRUNCATE),
	FN("path_truncate", POL_K_FILE, POL_OP_TRUNCATE),
	FN("sys_truncate", POL_K_FILE, POL_OP_TRUNCATE),
	FN("security_path_mkdir", POL_K_FILE, POL_OP_MKDIR),
	FN("security_inode_mkdir", POL_K_FILE, POL_OP_MKDIR),
	FN("sys_mkdirat", POL_K_FILE, POL_OP_MKDIR),
	FN("security_path_link", POL_K_FILE, POL_OP_LINK),
	FN("security_path_symlink", POL_K_FILE, POL_OP_LINK),
	FN("sys_linkat", POL_K_FILE, POL_OP_LINK),
	FN("sys_symlinkat", POL_K_FILE, POL_OP_LINK),
	FN("security_mmap_file", POL_K_FILE, POL_OP_MMAP),
	FN("mmap_file", POL_K_FILE, POL_OP_MMAP),
	FN("tcp_connect", POL_K_NETWORK, POL_OP_CONNECT),
	FN("security_socket_connect", POL_K_NETWORK, POL_OP_CONNECT),
	FN("socket_connect", POL_K_NETWORK, POL_OP_CONNECT),
	FN("sys_connect", POL_K_NETWORK, POL_OP_CONNECT),
	FN("inet_csk_accept", POL_K_NETWORK, POL_OP_ACCEPT),
	FN("tcp_create_openreq_child", POL_K_NETWORK, POL_OP_ACCEPT),
	FN("sys_accept", POL_K_NETWORK, POL_OP_ACCEPT),
	FN("sys_accept4", POL_K_NETWORK, POL_OP_ACCEPT),
	FN("inet_csk_listen_start", POL_K_NETWORK, POL_OP_LISTEN),
	FN("security_socket_listen", POL_K_NETWORK, POL_OP_LISTEN),
	FN("sys_listen", POL_K_NETWORK, POL_OP_LISTEN),
	FN("security_socket_bind", POL_K_NETWORK, POL_OP_BIND),
	FN("socket_bind", POL_K_NETWORK, POL_OP_BIND),
	FN("sys_bind", POL_K_NETWORK, POL_OP_BIND),
	FN("tcp_sendmsg", POL_K_NETWORK, POL_OP_SEND),
	FN("udp_sendmsg", POL_K_NETWORK, POL_OP_SEND),
	FN("sys_sendto", POL_K_NETWORK, POL_OP_SEND),
	FN("sys_setuid", POL_K_PRIVILEGE, 0),
	FN("__sys_setuid", POL_K_PRIVILEGE, 0),
	FN("sys_setreuid", POL_K_PRIVILEGE, 0),
	FN("__sys_setreuid", POL_K_PRIVILEGE, 0),
	FN("sys_setresuid", POL_K_PRIVILEGE, 0),
	FN("__sys_setresuid", POL_K_PRIVILEGE, 0),
	FN("sys_setfsuid", POL_K_PRIVILEGE, 0),
	FN("sys_setgid", POL_K_PRIVILEGE, 0),
	FN("sys_setresgid", POL_K_PRIVILEGE, 0),
	FN("sys_setregid", POL_K_PRIVILEGE, 0),
	FN("sys_setfsgid", POL_K_PRIVILEGE, 0),
	FN("commit_creds", POL_K_PRIVILEGE, 0),
	FN("sys_capset", POL_K_PRIVILEGE, 0),
	FN("security_capset", POL_K_PRIVILEGE, 0),
	FN("capset", POL_K_PRIVILEGE, 0),
	FN("sys_setns", POL_K_NAMESPACE, 0),
	FN("sys_unshare", POL_K_NAMESPACE, 0),
	FN("sys_clone", POL_K_NAMESPACE, 0),
	FN("sys_clone3", POL_K_NAMESPACE, 0),
	FN("create_user_ns", POL_K_NAMESPACE, 0),
	FN("sys_mount", POL_K_MOUNT, 0),
	FN("security_sb_mount", POL_K_MOUNT, 0),
	FN("sb_mount", POL_K_MOUNT, 0),
	FN("sys_fsmount", POL_K_MOUNT, 0),
	FN("sys_move_mount", POL_K_MOUNT, 0),
	FN("sys_pivot_root", POL_K_MOUNT, 0),
	FN("sys_init_module", POL_K_MODULE, 0),
	FN("sys_finit_module", POL_K_MODULE, 0),
	FN("do_init_module", POL_K_MODULE, 0),
	FN("security_kernel_module_request", POL_K_MODULE, 0),
	FN("kernel_module_request", POL_K_MODULE, 0),
	FN("security_kernel_read_file", POL_K_MODULE, 0),
	FN("kernel_read_file", POL_K_MODULE, 0),
	FN("sys_ptrace", POL_K_PTRACE, 0),
	FN("security_ptrace_access_check", POL_K_PTRACE, 0),
	FN("ptrace_access_check", POL_K_PTRACE, 0),
	FN("sys_process_vm_writev", POL_K_PTRACE, 0),
	FN("sys_bpf", POL_K_BPF, 0),
	FN("bpf_check", POL_K_BPF, 0),
	FN("security_bpf", POL_K_BPF, 0),
	FN("security_bpf_map_alloc", POL_K_BPF, 0),
	FN("security_bpf_prog_alloc", POL_K_BPF, 0),
	FN("bpf", POL_K_BPF, 0),
};

/* The last answers of pol_function_kind, one slot per name length modulo 8: a stream
 * names a handful of functions (per thread: the tables are not shared). */
struct fk_slot {
	char name[48];
	size_t n;                /* 0: empty */
	int rc;
	enum pol_kind kind;
	unsigned op;
};
static __thread struct fk_slot fk_cache[8];

static int function_kind(const char *fn, size_t n, enum pol_kind *kind, unsigned *op);

int pol_function_kind(const char *fn, size_t n, enum pol_kind *kind, unsigned *op)
{
	struct fk_slot *c = &fk_cache[n & 7];

	if (n && c->n == n && bytes_eq(c->name, fn, n)) {
		if (!c->rc) {
			*kind = c->kind;
			*op = c->op;
		}
		return c->rc;
	}
	c->rc = function_kind(fn, n, &c->kind, &c->op);
	if (!c->rc) {
		*kind = c->kind;
		*op = c->op;
	}
	if (n < sizeof(c->name)) {
		memcpy(c->name, fn, n);
		c->n = n;
	} else
		c->n = 0;
	return c->rc;
}

/* Function / hook name → kind and operation, from the table. */
static int function_kind(const char *fn, size_t n, enum pol_kind *kind, unsigned *op)
{
	char buf[96];
	size_t i;

	/* syscall tracepoints: sys_enter_openat / sys_exit_openat → sys_openat;
	 * arch-prefixed kprobes: __x64_sys_openat → sys_openat */
	if (n > 10 && memcmp(fn, "sys_enter_", 10) == 0 && n + 4 - 10 < sizeof(buf)) {
		n = (size_t)snprintf(buf, sizeof(buf), "sys_%.*s", (int)(n - 10), fn + 10);
		fn = buf;
	} else if (n > 9 && memcmp(fn, "sys_exit_", 9) == 0 && n + 4 - 9 < sizeof(buf)) {
		n = (size_t)snprintf(buf, sizeof(buf), "sys_%.*s", (int)(n - 9), fn + 9);
		fn = buf;
	} else if (n > 6 && (memcmp(fn, "__x64_", 6) == 0 || memcmp(fn, "__ia32", 6) == 0)) {
		fn += 6;
		n -= 6;
	} else if (n > 8 && memcmp(fn, "__arm64_", 8) == 0) {
		fn += 8;
		n -= 8;
	}
	for (i = 0; i < sizeof(fn_maps) / sizeof(fn_maps[0]); i++)
		if (fn_maps[i].len == n && memcmp(fn, fn_maps[i].name, n) == 0) {
			*kind = fn_maps[i].kind;
			*op = fn_maps[i].op;
			return 0;
		}
	return -1;
}

/* A string object as a pol_str; empty when o is absent or not a string. */
static struct pol_str obj_s(const msgpack_object *o)
{
	struct pol_str s = { NULL, 0 };

	if (o && o->type == MSGPACK_OBJECT_STR) {
		s.p = o->via.str.ptr;
		s.n = o->via.str.size;
	}
	return s;
}

/* A string field of a map, or an empty pol_str. */
#define get_s(m, key) obj_s(MGET(m, key))

/* An integer object (msgpack int, or a decimal string as in JSON exports). */
static int obj_i(const msgpack_object *o, int64_t *v)
{
	char buf[32], *end;

	if (!o)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_STR && o->via.str.size && o->via.str.size < sizeof(buf)) {
		memcpy(buf, o->via.str.ptr, o->via.str.size);
		buf[o->via.str.size] = '\0';
		*v = strtoll(buf, &end, 0);
		return *end ? -1 : 0;
	}
	return -1;
}

/* An integer field of a map. */
#define get_i(m, key, v) obj_i(MGET(m, key), (v))

/* Access bits from open(2) flags. */
static unsigned open_access(int64_t f)
{
	unsigned a = 0;

	switch (f & 3) {
	case 0: a = POL_A_READ; break;
	case 1: a = POL_A_WRITE; break;
	default: a = POL_A_READ | POL_A_WRITE; break;
	}
	if (f & 0100) /* O_CREAT */
		a |= POL_A_CREATE;
	if (f & 01000) /* O_TRUNC */
		a |= POL_A_WRITE;
	return a;
}

/* Access bits from a flags string such as "O_WRONLY|O_CREAT" or "rw". */
static unsigned str_access(struct pol_str s)
{
	unsigned a = 0;

	if (memmem(s.p, s.n, "O_WRONLY", 8) || memmem(s.p, s.n, "O_TRUNC", 7) ||
	    memmem(s.p, s.n, "O_APPEND", 8))
		a |= POL_A_WRITE;
	if (memmem(s.p, s.n, "O_RDWR", 6))
		a |= POL_A_WRITE | POL_A_READ;
	if (memmem(s.p, s.n, "O_CREAT", 7))
		a |= POL_A_CREATE;
	if (!a && memmem(s.p, s.n, "O_", 2))
		a = POL_A_READ;
	return a;
}

static unsigned proto_bit(const msgpack_object *o)
{
	if (!o)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64 == 6 ? POL_P_TCP : o->via.u64 == 17 ? POL_P_UDP :
		       o->via.u64 == 1 ? POL_P_ICMP : POL_P_RAW;
	if (o->type == MSGPACK_OBJECT_STR) {
		if (memmem(o->via.str.ptr, o->via.str.size, "TCP", 3) ||
		    memmem(o->via.str.ptr, o->via.str.size, "tcp", 3))
			return POL_P_TCP;
		if (memmem(o->via.str.ptr, o->via.str.size, "UDP", 3) ||
		    memmem(o->via.str.ptr, o->via.str.size, "udp", 3))
			return POL_P_UDP;
		if (memmem(o->via.str.ptr, o->via.str.size, "ICMP", 4))
			return POL_P_ICMP;
		return POL_P_RAW;
	}
	return 0;
}

/* Destination (or, for accept/listen/bind, local) address and port of a socket arg. */
static void ev_net(struct pol_ev *e, const msgpack_object *a)
{
	const msgpack_object *sa = MGET(a, "sockaddr_arg"), *sk = MGET(a, "sock_arg");
	int ingress = e->op & (POL_OP_ACCEPT | POL_OP_LISTEN | POL_OP_BIND);
	struct pol_str addr = { NULL, 0 };
	int64_t port;

	if (sa && sa->type == MSGPACK_OBJECT_MAP) {
		addr = get_s(sa, "addr");
		if (get_i(sa, "port", &port) == 0)
			e->port = port;
	} else if (sk && sk->type == MSGPACK_OBJECT_MAP) {
		addr = get_s(sk, ingress ? "saddr" : "daddr");
		if (get_i(sk, ingress ? "sport" : "dport", &port) == 0)
			e->port = port;
		if (!e->proto)
			e->proto = proto_bit(MGET(sk, "protocol"));
		if (!e->proto)
			e->proto = POL_P_TCP * (memmem(e->function.p, e->function.n, "tcp", 3) != NULL);
	} else
		return;
	if (addr.p) {
		int fam = pol_addr_parse(addr.p, addr.n, e->addr);

		if (fam) {
			e->has_addr = 1;
			e->fam = (uint8_t)fam;
			e->addr_text = addr;
		}
	}
}

/* The keys of one Tetragon arg map ev_file_arg reads (first occurrences), in one pass. */
struct arg_keys {
	const msgpack_object *path[3]; /* file_arg, path_arg, linux_binprm_arg */
	const msgpack_object *label, *string_arg, *int_arg, *uint_arg, *size_arg;
};

static void arg_scan(struct arg_keys *k, const msgpack_object *a)
{
	const msgpack_object_kv *kv = a->via.map.ptr;
	uint32_t i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < a->via.map.size; i++) {
		const msgpack_object *key = &kv[i].key, **slot = NULL;

		if (key->type != MSGPACK_OBJECT_STR)
			continue;
		if (KEY_IS(key, "file_arg"))
			slot = &k->path[0];
		else if (KEY_IS(key, "path_arg"))
			slot = &k->path[1];
		else if (KEY_IS(key, "linux_binprm_arg"))
			slot = &k->path[2];
		else if (KEY_IS(key, "label"))
			slot = &k->label;
		else if (KEY_IS(key, "string_arg"))
			slot = &k->string_arg;
		else if (KEY_IS(key, "int_arg"))
			slot = &k->int_arg;
		else if (KEY_IS(key, "uint_arg"))
			slot = &k->uint_arg;
		else if (KEY_IS(key, "size_arg"))
			slot = &k->size_arg;
		if (slot && !*slot)
			*slot = &kv[i].val;
	}
}

/* Is s the literal lit? */
#define STR_IS(s, lit) ((s).n == sizeof(lit) - 1 && bytes_eq((s).p, lit, sizeof(lit) - 1))

/* File path and access from one Tetragon arg; int args are flags or masks. */
static void ev_file_arg(struct pol_ev *e, const msgpack_object *a, int *nth_path)
{
	struct arg_keys k;
	const msgpack_object *o;
	struct pol_str lbl;
	int64_t v;
	size_t i;

	arg_scan(&k, a);
	for (i = 0; i < 3; i++) {
		o = k.path[i];
		if (o && o->type == MSGPACK_OBJECT_MAP) {
			struct pol_str p = get_s(o, "path");
			const msgpack_object *fl = MGET(o, "flags");

			if (p.p && (*nth_path)++ == 0)
				e->path = p;
			else if (p.p)
				e->path2 = p;
			if (fl && fl->type == MSGPACK_OBJECT_STR)
				e->access |= str_access(obj_s(fl));
			else if (obj_i(fl, &v) == 0)
				e->access |= open_access(v);
			return;
		}
	}
	/* vigil's collector labels its extra args (docs/wire.md §8): the mode of
	 * a created file, the syscall's name, the user's unresolved string, xattr names
	 * and new permissions are not the path and not the open flags */
	lbl = obj_s(k.label);
	if (lbl.p && !STR_IS(lbl, "flags") && !STR_IS(lbl, "target"))
		return;
	o = k.string_arg;
	if (o && o->type == MSGPACK_OBJECT_STR) {
		if ((*nth_path)++ == 0) {
			e->path.p = o->via.str.ptr;
			e->path.n = o->via.str.size;
		} else if (!e->path2.p) {
			e->path2.p = o->via.str.ptr;
			e->path2.n = o->via.str.size;
		}
		return;
	}
	if (obj_i(k.int_arg, &v) == 0 || obj_i(k.uint_arg, &v) == 0 ||
	    obj_i(k.size_arg, &v) == 0) {
		if (e->op == POL_OP_OPEN && STR_IS(e->function, "security_file_permission"))
			e->access |= ((v & 2) ? POL_A_WRITE : 0) | ((v & 4) ? POL_A_READ : 0);
		else if (e->op == POL_OP_OPEN)
			e->access |= open_access(v);
	}
}

/* The new uid of a privilege event: int arg of set*uid, or the creds of commit_creds. */
static void ev_priv_arg(struct pol_ev *e, const msgpack_object *a)
{
	const msgpack_object *c = MGET(a, "process_credentials_arg");
	int64_t v;

	if (e->has_uid)
		return;
	if (c && c->type == MSGPACK_OBJECT_MAP) {
		if (get_i(c, "euid", &v) == 0 || get_i(c, "uid", &v) == 0) {
			e->new_uid = v;
			e->has_uid = 1;
		}
	} else if (get_i(a, "int_arg", &v) == 0 || get_i(a, "uint_arg", &v) == 0) {
		e->new_uid = v;
		e->has_uid = 1;
	}
}

/* The fields of a Process map the matcher reads, in one pass (first occurrences). Keys
 * are told apart by length and first bytes: a Process has about 15 keys and this runs
 * for every event a rule looks at the process of. */
static void pfields(struct pol_pfields *f, const msgpack_object *p)
{
	const msgpack_object_kv *kv;
	uint32_t i;

	memset(f, 0, sizeof(*f));
	if (!p || p->type != MSGPACK_OBJECT_MAP)
		return;
	kv = p->via.map.ptr;
	for (i = 0; i < p->via.map.size; i++) {
		const char *k = kv[i].key.via.str.ptr;
		const msgpack_object **slot = NULL;

		if (kv[i].key.type != MSGPACK_OBJECT_STR)
			continue;
		switch (kv[i].key.via.str.size) {
		case 3:
			if (k[0] == 'u' && k[1] == 'i' && k[2] == 'd')
				slot = &f->uid;
			else if (k[0] == 'p' && k[2] == 'd')
				slot = k[1] == 'i' ? &f->pid : k[1] == 'o' ? &f->pod : NULL;
			else if (k[0] == 'c' && k[1] == 'w' && k[2] == 'd')
				slot = &f->cwd;
			else if (k[0] == 'c' && k[1] == 'a' && k[2] == 'p')
				slot = &f->cap;
			break;
		case 6:
			if (k[0] == 'b' && bytes_eq(k, "binary", 6))
				slot = &f->binary;
			else if (k[0] == 'd' && bytes_eq(k, "docker", 6))
				slot = &f->docker;
			break;
		case 9:
			if (k[0] == 'a' && bytes_eq(k, "arguments", 9))
				slot = &f->arguments;
			break;
		}
		if (slot && !*slot)
			*slot = &kv[i].val;
	}
}

/* The fields of e's process (which 0) or parent (1): looked up on first use. */
static const struct pol_pfields *ev_pf(const struct pol_ev *ce, int which)
{
	struct pol_ev *e = (struct pol_ev *)ce; /* policy_event's caller owns a mutable one */

	if (!e->pf_ok)
		return NULL;
	if (!(e->pf_have & (1u << which))) {
		pfields(which ? &e->pf_parent : &e->pf_proc, which ? e->parent : e->proc);
		e->pf_have |= 1u << which;
	}
	return which ? &e->pf_parent : &e->pf_proc;
}

/* The top-level keys policy_event reads, in one pass over the body (first occurrences). */
struct ev_keys {
	const msgpack_object *process, *parent, *ancestors, *function_name, *event, *args,
		*policy_name;
};

static void ev_scan(struct ev_keys *k, const msgpack_object *ev)
{
	const msgpack_object_kv *kv = ev->via.map.ptr;
	uint32_t i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < ev->via.map.size; i++) {
		const msgpack_object **slot = NULL;

		if (kv[i].key.type != MSGPACK_OBJECT_STR)
			continue;
		switch (kv[i].key.via.str.size) {
		case 4: slot = KEY_IS(&kv[i].key, "args") ? &k->args : NULL; break;
		case 5: slot = KEY_IS(&kv[i].key, "event") ? &k->event : NULL; break;
		case 6: slot = KEY_IS(&kv[i].key, "parent") ? &k->parent : NULL; break;
		case 7: slot = KEY_IS(&kv[i].key, "process") ? &k->process : NULL; break;
		case 9: slot = KEY_IS(&kv[i].key, "ancestors") ? &k->ancestors : NULL; break;
		case 11: slot = KEY_IS(&kv[i].key, "policy_name") ? &k->policy_name : NULL; break;
		case 13: slot = KEY_IS(&kv[i].key, "function_name") ? &k->function_name : NULL; break;
		}
		if (slot && !*slot)
			*slot = &kv[i].val;
	}
}

int policy_event(struct pol_ev *e, const char *type, const msgpack_object *ev)
{
	const msgpack_object *args, *anc;
	struct ev_keys k;
	uint32_t i;
	size_t tn;
	int nth = 0;

	memset(e, 0, sizeof(*e));
	if (!ev || ev->type != MSGPACK_OBJECT_MAP)
		return -1;
	tn = strnlen(type, sizeof(e->type) - 1); /* cut to fit, as snprintf would */
	memcpy(e->type, type, tn);
	e->ev = ev;
	ev_scan(&k, ev);
	e->proc = k.process;
	e->parent = k.parent;
	if (e->proc && e->proc->type != MSGPACK_OBJECT_MAP)
		e->proc = NULL;
	if (e->parent && e->parent->type != MSGPACK_OBJECT_MAP)
		e->parent = NULL;
	e->pf_ok = 1;
	anc = k.ancestors;
	e->ancestors = anc && anc->type == MSGPACK_OBJECT_ARRAY ? anc : NULL;
	if (strcmp(type, "process_exec") == 0) {
		e->kind = POL_K_EXEC;
		if (e->proc)
			e->path = get_s(e->proc, "binary");
		return 0;
	}
	if (strcmp(type, "process_exit") == 0) {
		e->kind = POL_K_EXIT;
		return 0;
	}
	if (strcmp(type, "process_kprobe") && strcmp(type, "process_lsm") &&
	    strcmp(type, "process_tracepoint"))
		return -1;
	e->function = obj_s(k.function_name);
	if (!e->function.p)
		e->function = obj_s(k.event); /* process_tracepoint */
	if (!e->function.p || pol_function_kind(e->function.p, e->function.n, &e->kind, &e->op) < 0)
		return -1;
	/* Each exec is judged once, on its process_exec: kprobe views of an exec (the
	 * collector's stdio-socket sys_execve record) would match exec rules a second time.
	 * Reports that already carry a verdict (the enforcer's) are not judged again. */
	if (e->kind == POL_K_EXEC || k.policy_name)
		return -1;
	e->proto = 0;
	args = k.args;
	if (e->kind == POL_K_NETWORK && e->op == POL_OP_CONNECT)
		e->dir = POL_DIR_EGRESS;
	else if (e->kind == POL_K_NETWORK)
		e->dir = e->op == POL_OP_SEND ? POL_DIR_EGRESS : POL_DIR_INGRESS;
	for (i = 0; args && args->type == MSGPACK_OBJECT_ARRAY && i < args->via.array.size; i++) {
		const msgpack_object *a = &args->via.array.ptr[i];

		if (a->type != MSGPACK_OBJECT_MAP)
			continue;
		if (e->kind == POL_K_FILE || e->kind == POL_K_EXEC || e->kind == POL_K_MODULE ||
		    e->kind == POL_K_MOUNT)
			ev_file_arg(e, a, &nth);
		else if (e->kind == POL_K_NETWORK && !e->has_addr)
			ev_net(e, a);
		else if (e->kind == POL_K_PRIVILEGE)
			ev_priv_arg(e, a);
		else if (e->kind == POL_K_NAMESPACE) {
			struct pol_str l = get_s(a, "label");

			if (wire_streq(l.p, l.n, "ns_changes"))
				e->ns_changes = get_s(a, "string_arg");
		}
	}
	if (e->kind == POL_K_EXEC && !e->path.p && e->proc)
		e->path = get_s(e->proc, "binary");
	if (e->kind == POL_K_FILE && e->op == POL_OP_OPEN && !e->access)
		e->access = POL_A_READ;
	return 0;
}

/* ---- matching ---------------------------------------------------------- */

/* Does some capability in p's effective set satisfy m? cap.effective is the pipeline's
 * bit set (docs/wire.md §8.2) or, from other producers, an array of names as Tetragon
 * spells them. */
static int caps_match(const struct pol_strm *m, const msgpack_object *cap)
{
	const msgpack_object *eff = MGET(cap, "effective");
	uint32_t i;

	if (eff && eff->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		char buf[16];

		for (unsigned b = 0; b < 64; b++) {
			const char *n;

			if (!(eff->via.u64 & (1ull << b)))
				continue;
			n = caps_name(b, buf);
			if (pol_strm_match(m, n, strlen(n)))
				return 1;
		}
		return 0;
	}
	if (!eff || eff->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (i = 0; i < eff->via.array.size; i++) {
		const msgpack_object *c = &eff->via.array.ptr[i];

		if (c->type == MSGPACK_OBJECT_STR && pol_strm_match(m, c->via.str.ptr, c->via.str.size))
			return 1;
	}
	return 0;
}

/* Does process map p satisfy m? An absent process matches only an empty matcher. f: p's
 * fields looked up beforehand, or NULL to look them up here. */
static int procm_match(const struct pol_procm *m, const msgpack_object *p,
		       const struct pol_pfields *f)
{
	struct pol_pfields own;
	struct pol_str s;
	int64_t v;

	if (!m->set)
		return 1;
	if (!p)
		return 0;
	if (!f) {
		pfields(&own, p);
		f = &own;
	}
	if (m->binary.npos || m->binary.nneg) {
		s = obj_s(f->binary);
		if (!pol_strm_match(&m->binary, s.p, s.n))
			return 0;
	}
	if (m->arguments.npos || m->arguments.nneg) {
		s = obj_s(f->arguments);
		if (!pol_strm_match(&m->arguments, s.p, s.n))
			return 0;
	}
	if (m->cwd.npos || m->cwd.nneg) {
		s = obj_s(f->cwd);
		if (!pol_strm_match(&m->cwd, s.p, s.n))
			return 0;
	}
	if ((m->uid.nin || m->uid.nout) && (obj_i(f->uid, &v) < 0 || !pol_intm_match(&m->uid, v)))
		return 0;
	if ((m->caps.npos || m->caps.nneg) && !caps_match(&m->caps, f->cap))
		return 0;
	if ((m->pid.nin || m->pid.nout) && (obj_i(f->pid, &v) < 0 || !pol_intm_match(&m->pid, v)))
		return 0;
	return 1;
}

/* Any ancestor (the parent included) satisfies m. */
static int ancestors_match(const struct pol_procm *m, const struct pol_ev *e)
{
	uint32_t i;

	if (!m->set)
		return 1;
	if (procm_match(m, e->parent, ev_pf(e, 1)))
		return 1;
	for (i = 0; e->ancestors && i < e->ancestors->via.array.size; i++) {
		const msgpack_object *a = &e->ancestors->via.array.ptr[i];

		if (a->type == MSGPACK_OBJECT_MAP && procm_match(m, a, NULL))
			return 1;
	}
	return 0;
}

static int in_pod(const struct pol_ev *e, const msgpack_object **pod)
{
	const msgpack_object *docker;

	if (e->pf_ok) {
		const struct pol_pfields *f = ev_pf(e, 0);

		*pod = f->pod;
		docker = f->docker;
	} else {
		*pod = e->proc ? MGET(e->proc, "pod") : NULL;
		docker = e->proc ? MGET(e->proc, "docker") : NULL;
	}
	if (*pod && (*pod)->type != MSGPACK_OBJECT_MAP)
		*pod = NULL;
	return *pod || (e->proc && docker);
}

/* Pod label requirements (matchLabels / matchExpressions). */
static int labels_match(const struct pol_scope *sc, const msgpack_object *pod)
{
	const msgpack_object *lab = pod ? MGET(pod, "pod_labels") : NULL;
	size_t i, j;

	for (i = 0; i < sc->nlabels; i++) {
		const struct pol_labelreq *r = &sc->labels[i];
		struct pol_str v = lab ? get_s(lab, r->key) : (struct pol_str){ NULL, 0 };
		int in = 0;

		if (r->op == 2 || r->op == 3) {
			if ((v.p != NULL) != (r->op == 2))
				return 0;
			continue;
		}
		for (j = 0; v.p && j < r->nvals; j++)
			in |= wire_streq(v.p, v.n, r->vals[j]);
		if (in != (r->op == 0))
			return 0;
	}
	return 1;
}

static int scope_match(const struct pol_scope *sc, const struct pol_ev *e)
{
	const msgpack_object *pod, *ctr, *img;
	struct pol_str s;

	if (!sc->set)
		return 1;
	if (!in_pod(e, &pod))
		return sc->host;
	if (!sc->pods)
		return 0;
	s = pod ? get_s(pod, "namespace") : (struct pol_str){ NULL, 0 };
	if (!pol_strm_match(&sc->namespaces, s.p, s.n))
		return 0;
	s = pod ? get_s(pod, "name") : (struct pol_str){ NULL, 0 };
	if (!pol_strm_match(&sc->pod_names, s.p, s.n))
		return 0;
	ctr = pod ? MGET(pod, "container") : NULL;
	s = ctr ? get_s(ctr, "name") : (struct pol_str){ NULL, 0 };
	if (!pol_strm_match(&sc->containers, s.p, s.n))
		return 0;
	img = ctr ? MGET(ctr, "image") : NULL;
	s = img ? get_s(img, "name") : (struct pol_str){ NULL, 0 };
	if (!pol_strm_match(&sc->images, s.p, s.n))
		return 0;
	return labels_match(sc, pod);
}

static int strm_set(const struct pol_strm *m)
{
	return m->npos || m->nneg;
}

/* Every test is a pure condition on e, so the cheap ones (bit sets, integers) run first
 * and strings, globs and process lookups only for events that pass them. */
static int rule_match(const struct pol_rule *r, const struct pol_ev *e)
{
	const msgpack_object *pod;

	if (r->kind != e->kind)
		return 0;
	if (r->ops && !(r->ops & e->op))
		return 0;
	if (r->access && !(r->access & e->access))
		return 0;
	if (r->protos && !(r->protos & e->proto))
		return 0;
	if (r->dirs && !(r->dirs & e->dir))
		return 0;
	if ((r->port.nin || r->port.nout) && (!e->has_addr || !pol_intm_match(&r->port, e->port)))
		return 0;
	if ((r->new_uid.nin || r->new_uid.nout) &&
	    (!e->has_uid || !pol_intm_match(&r->new_uid, e->new_uid)))
		return 0;
	if (r->address.nin || r->address.nout) {
		if (!e->has_addr || !cidrm_match(&r->address, e->fam, e->addr))
			return 0;
	}
	if (r->in_container && (in_pod(e, &pod) ? 1 : 2) != r->in_container)
		return 0;
	if (strm_set(&r->function) && !pol_strm_match(&r->function, e->function.p, e->function.n))
		return 0;
	if (strm_set(&r->path) && !pol_strm_match(&r->path, e->path.p, e->path.n) &&
	    !(e->path2.p && r->path.npos && pol_strm_match(&r->path, e->path2.p, e->path2.n)))
		return 0;
	if ((r->process.set && !procm_match(&r->process, e->proc, ev_pf(e, 0))) ||
	    (r->parent.set && !procm_match(&r->parent, e->parent, ev_pf(e, 1))))
		return 0;
	return ancestors_match(&r->ancestors, e);
}

int policy_match(const struct policy *p, const struct pol_ev *e)
{
	size_t i;

	/* no rule of this kind: nothing to look at (kinds 0 = not computed) */
	if (p->kinds && !(p->kinds & (1u << e->kind)))
		return -1;
	if (!scope_match(&p->scope, e))
		return -1;
	for (i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], e))
			return (int)i;
	return -1;
}

const struct pol_action *policy_rule_action(const struct policy *p, size_t r)
{
	return r < p->nrules && p->rules[r].act.set ? &p->rules[r].act : &p->act;
}

const char *policy_action_name(const struct policy *p, const struct pol_action *a)
{
	if (p->enforce) {
		switch (a->kind) {
		case POL_ACT_SIGKILL: return "KPROBE_ACTION_SIGKILL";
		case POL_ACT_SIGNAL: return "KPROBE_ACTION_SIGNAL";
		case POL_ACT_OVERRIDE: return "KPROBE_ACTION_OVERRIDE";
		case POL_ACT_NOTIFY: break;
		}
	}
	return a->url ? "KPROBE_ACTION_GETURL" : "KPROBE_ACTION_POST";
}

/* ---- messages ---------------------------------------------------------- */

const char *const pol_template_fields[] = {
	"process.binary", "process.arguments", "process.cwd", "process.uid", "process.pid",
	"process.exec_id", "process.auid", "process.flags", "process.tid",
	"parent.binary", "parent.arguments", "parent.cwd", "parent.uid", "parent.pid",
	"parent.exec_id",
	"file.path", "file.dest", "file.access", "network.address", "network.port",
	"network.protocol", "network.direction", "privilege.uid", "function", "event",
	"policy.name", "policy.severity", "pod.namespace", "pod.name", "container.name",
	"container.image", "container.id", "namespace.changes", NULL,
};

/* Append a msgpack scalar (string or integer) from map[key]. */
static void put_field(struct strbuf *out, const msgpack_object *m, const char *key)
{
	const msgpack_object *o = m ? MGET(m, key) : NULL;

	if (!o)
		return;
	if (o->type == MSGPACK_OBJECT_STR)
		strbuf_append(out, o->via.str.ptr, o->via.str.size);
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		strbuf_appendf(out, "%llu", (unsigned long long)o->via.u64);
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		strbuf_appendf(out, "%lld", (long long)o->via.i64);
}

static const char *const sev_names[] = { "info", "low", "medium", "high", "critical" };

/* Expand one {field}. */
static void put_var(struct strbuf *out, const char *f, size_t n, const struct policy *p,
		    const struct pol_ev *e)
{
	const msgpack_object *pod = e->proc ? MGET(e->proc, "pod") : NULL;
	const msgpack_object *ctr = pod ? MGET(pod, "container") : NULL;

	if (n > 8 && memcmp(f, "process.", 8) == 0) {
		char k[32];
		size_t kn = n - 8 < sizeof(k) - 1 ? n - 8 : sizeof(k) - 1; /* cut as snprintf */

		memcpy(k, f + 8, kn);
		k[kn] = '\0';
		put_field(out, e->proc, k);
	} else if (n > 7 && memcmp(f, "parent.", 7) == 0) {
		char k[32];
		size_t kn = n - 7 < sizeof(k) - 1 ? n - 7 : sizeof(k) - 1;

		memcpy(k, f + 7, kn);
		k[kn] = '\0';
		put_field(out, e->parent, k);
	} else if (wire_streq(f, n, "file.path"))
		strbuf_append(out, e->path.p, e->path.n);
	else if (wire_streq(f, n, "file.dest"))
		strbuf_append(out, e->path2.p, e->path2.n);
	else if (wire_streq(f, n, "file.access"))
		strbuf_appendf(out, "%s%s%s", e->access & POL_A_READ ? "r" : "",
			       e->access & POL_A_WRITE ? "w" : "", e->access & POL_A_CREATE ? "c" : "");
	else if (wire_streq(f, n, "network.address"))
		strbuf_append(out, e->addr_text.p, e->addr_text.n);
	else if (wire_streq(f, n, "network.port") && e->has_addr)
		strbuf_appendf(out, "%lld", (long long)e->port);
	else if (wire_streq(f, n, "network.protocol"))
		strbuf_appendf(out, "%s", e->proto == POL_P_TCP ? "tcp" : e->proto == POL_P_UDP ?
						  "udp" : e->proto ? "other" : "");
	else if (wire_streq(f, n, "network.direction"))
		strbuf_appendf(out, "%s", e->dir == POL_DIR_EGRESS ? "egress" :
						  e->dir == POL_DIR_INGRESS ? "ingress" : "");
	else if (wire_streq(f, n, "privilege.uid") && e->has_uid)
		strbuf_appendf(out, "%lld", (long long)e->new_uid);
	else if (wire_streq(f, n, "function"))
		strbuf_append(out, e->function.p, e->function.n);
	else if (wire_streq(f, n, "namespace.changes"))
		strbuf_append(out, e->ns_changes.p, e->ns_changes.n);
	else if (wire_streq(f, n, "event"))
		strbuf_appendf(out, "%s", e->type);
	else if (wire_streq(f, n, "policy.name"))
		strbuf_appendf(out, "%s", p->name);
	else if (wire_streq(f, n, "policy.severity"))
		strbuf_appendf(out, "%s", sev_names[p->severity]);
	else if (wire_streq(f, n, "pod.namespace"))
		put_field(out, pod, "namespace");
	else if (wire_streq(f, n, "pod.name"))
		put_field(out, pod, "name");
	else if (wire_streq(f, n, "container.name"))
		put_field(out, ctr, "name");
	else if (wire_streq(f, n, "container.id")) /* without a pod: the cgroup's id */
		put_field(out, ctr ? ctr : e->proc, ctr ? "id" : "docker");
	else if (wire_streq(f, n, "container.image"))
		put_field(out, ctr ? MGET(ctr, "image") : NULL, "name");
}

void policy_render(const struct policy *p, size_t r, const struct pol_ev *e, struct strbuf *out)
{
	const char *t = r < p->nrules && p->rules[r].message ? p->rules[r].message : p->message;
	const char *c, *end;

	if (!t) {
		strbuf_appendf(out, "%s", p->description ? p->description : p->name);
		return;
	}
	for (c = t; *c;) {
		if (c[0] == '{' && c[1] == '{') {
			strbuf_putc(out, '{');
			c += 2;
		} else if (c[0] == '}' && c[1] == '}') {
			strbuf_putc(out, '}');
			c += 2;
		} else if (*c == '{' && (end = strchr(c, '}'))) {
			put_var(out, c + 1, (size_t)(end - c - 1), p, e);
			c = end + 1;
		} else
			strbuf_putc(out, *c++);
	}
}

/* ---- the enforcer's view (docs/wire.md §10) --------------------- */

static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pk_sset(msgpack_packer *pk, const char *key, const struct pol_sset *s)
{
	size_t i;

	pk_str(pk, key);
	msgpack_pack_array(pk, s->n);
	for (i = 0; i < s->n; i++)
		msgpack_pack_str_with_body(pk, s->v[i], s->len[i]);
}

/* A string matcher the kernel maps can hold: exact and prefix positives only, plus
 * (when neg_ok) exact negatives. */
static int strm_kernel(const struct pol_strm *m, int neg_ok)
{
	int i;

	for (i = POL_S_SUFFIX; i < POL_S_N; i++)
		if (m->pos[i].n)
			return 0;
	for (i = 0; i < POL_S_N; i++)
		if (m->neg[i].n && !(neg_ok && i == POL_S_EQ))
			return 0;
	return 1;
}

static int intm_exact(const struct pol_intm *m)
{
	size_t i;

	if (m->nout)
		return 0;
	for (i = 0; i < m->nin; i++)
		if (m->in[i].hi - m->in[i].lo > 4096)
			return 0;
	return 1;
}

int policy_rule_kernel(const struct policy *p, size_t ri)
{
	const struct pol_rule *r = &p->rules[ri];
	const struct pol_procm *pr = &r->process;

	if (p->scope.set && (strm_set(&p->scope.containers) || strm_set(&p->scope.images) ||
			     strm_set(&p->scope.pod_names) || !p->scope.labels_simple ||
			     p->scope.namespaces.nneg || !strm_kernel(&p->scope.namespaces, 0) ||
			     p->scope.namespaces.pos[POL_S_PREFIX].n))
		return 0;
	if (r->parent.set && r->kind != POL_K_EXEC)
		return 0;
	if (r->parent.set && (strm_set(&r->parent.arguments) || strm_set(&r->parent.cwd) ||
			      r->parent.uid.nin || r->parent.uid.nout || r->parent.pid.nin ||
			      r->parent.pid.nout || r->parent.binary.pos[POL_S_PREFIX].n ||
			      !strm_kernel(&r->parent.binary, 0)))
		return 0;
	if (r->ancestors.set || r->in_container || strm_set(&r->function) || r->new_uid.nin ||
	    r->new_uid.nout)
		return 0;
	if (strm_set(&pr->caps) || strm_set(&r->parent.caps))
		return 0; /* capabilities are known in user space only */
	if (strm_set(&pr->arguments) || strm_set(&pr->cwd) || pr->pid.nin || pr->pid.nout ||
	    !intm_exact(&pr->uid) || pr->binary.pos[POL_S_PREFIX].n ||
	    !strm_kernel(&pr->binary, 1))
		return 0;
	if (r->path.nneg || !strm_kernel(&r->path, 0))
		return 0;
	switch (r->kind) {
	case POL_K_EXEC:
		/* the exec'd binary is the path; an allow-list is not_binaries */
		return !strm_set(&r->path) || !strm_set(&pr->binary);
	case POL_K_FILE:
		if (r->ops & ~(POL_OP_OPEN | POL_OP_UNLINK | POL_OP_RENAME | POL_OP_CHMOD))
			return 0;
		return !(r->access & POL_A_CREATE) || (r->access & (POL_A_READ | POL_A_WRITE));
	case POL_K_NETWORK:
		if (r->ops & ~POL_OP_CONNECT || (r->dirs & POL_DIR_INGRESS) || r->address.nout)
			return 0;
		return !(r->protos & ~(POL_P_TCP | POL_P_UDP));
	case POL_K_MOUNT:
	case POL_K_MODULE:
		return !strm_set(&r->path);
	default:
		return 0;
	}
}

/* One enforcer Rule map for rule r, with the given kind. */
static void pack_rule(msgpack_packer *pk, const struct pol_rule *r, const char *kind)
{
	const struct pol_procm *pr = &r->process;
	const struct pol_strm *paths = r->kind == POL_K_EXEC && !strm_set(&r->path) ? &pr->binary :
				       &r->path;
	const struct pol_strm *bins = r->kind == POL_K_EXEC ? &r->parent.binary : &pr->binary;
	size_t n = 1, i;
	int64_t u;

	n += paths->pos[POL_S_EQ].n > 0;
	n += paths->pos[POL_S_PREFIX].n > 0;
	n += bins->pos[POL_S_EQ].n > 0;
	n += (r->kind == POL_K_EXEC ? pr->binary.neg[POL_S_EQ].n : bins->neg[POL_S_EQ].n) > 0;
	n += pr->uid.nin > 0;
	n += r->kind == POL_K_FILE && (r->access & (POL_A_READ | POL_A_WRITE)) &&
	     !strcmp(kind, "file_open");
	n += r->address.nin > 0;
	n += r->port.nin > 0;
	n += r->protos > 0;
	msgpack_pack_map(pk, n);
	pk_str(pk, "kind");
	pk_str(pk, kind);
	if (paths->pos[POL_S_EQ].n)
		pk_sset(pk, "paths", &paths->pos[POL_S_EQ]);
	if (paths->pos[POL_S_PREFIX].n)
		pk_sset(pk, "prefixes", &paths->pos[POL_S_PREFIX]);
	if (bins->pos[POL_S_EQ].n)
		pk_sset(pk, "binaries", &bins->pos[POL_S_EQ]);
	if (r->kind == POL_K_EXEC ? pr->binary.neg[POL_S_EQ].n : bins->neg[POL_S_EQ].n)
		pk_sset(pk, "not_binaries",
			r->kind == POL_K_EXEC ? &pr->binary.neg[POL_S_EQ] : &bins->neg[POL_S_EQ]);
	if (pr->uid.nin) {
		size_t cnt = 0;

		for (i = 0; i < pr->uid.nin; i++)
			cnt += (size_t)(pr->uid.in[i].hi - pr->uid.in[i].lo + 1);
		pk_str(pk, "uids");
		msgpack_pack_array(pk, cnt);
		for (i = 0; i < pr->uid.nin; i++)
			for (u = pr->uid.in[i].lo; u <= pr->uid.in[i].hi; u++)
				msgpack_pack_int64(pk, u);
	}
	if (r->kind == POL_K_FILE && (r->access & (POL_A_READ | POL_A_WRITE)) &&
	    !strcmp(kind, "file_open")) {
		int rd = !!(r->access & POL_A_READ), wr = !!(r->access & (POL_A_WRITE | POL_A_CREATE));

		pk_str(pk, "access");
		msgpack_pack_array(pk, (size_t)(rd + wr));
		if (rd)
			pk_str(pk, "read");
		if (wr)
			pk_str(pk, "write");
	}
	if (r->address.nin) {
		pk_str(pk, "cidrs");
		msgpack_pack_array(pk, r->address.nin);
		for (i = 0; i < r->address.nin; i++)
			pk_str(pk, r->address.in[i].text);
	}
	if (r->port.nin) {
		pk_str(pk, "ports");
		msgpack_pack_array(pk, r->port.nin);
		for (i = 0; i < r->port.nin; i++) {
			if (r->port.in[i].lo == r->port.in[i].hi)
				msgpack_pack_int64(pk, r->port.in[i].lo);
			else {
				msgpack_pack_array(pk, 2);
				msgpack_pack_int64(pk, r->port.in[i].lo);
				msgpack_pack_int64(pk, r->port.in[i].hi);
			}
		}
	}
	if (r->protos) {
		int t = !!(r->protos & POL_P_TCP), u2 = !!(r->protos & POL_P_UDP);

		pk_str(pk, "protocols");
		msgpack_pack_array(pk, (size_t)(t + u2));
		if (t)
			pk_str(pk, "tcp");
		if (u2)
			pk_str(pk, "udp");
	}
}

/* Enforcer rule kinds for one of our rules (a file rule with several ops is several). */
static size_t rule_kinds(const struct pol_rule *r, const char **k)
{
	size_t n = 0;
	unsigned ops = r->ops;

	switch (r->kind) {
	case POL_K_EXEC: k[n++] = "exec"; break;
	case POL_K_NETWORK: k[n++] = "connect"; break;
	case POL_K_MOUNT: k[n++] = "mount"; break;
	case POL_K_MODULE: k[n++] = "module_load"; break;
	case POL_K_FILE:
		if (!ops)
			ops = r->access ? POL_OP_OPEN :
			      POL_OP_OPEN | POL_OP_UNLINK | POL_OP_RENAME | POL_OP_CHMOD;
		if (ops & POL_OP_OPEN) k[n++] = "file_open";
		if (ops & POL_OP_UNLINK) k[n++] = "unlink";
		if (ops & POL_OP_RENAME) k[n++] = "rename";
		if (ops & POL_OP_CHMOD) k[n++] = "chmod";
		break;
	default: break;
	}
	return n;
}

static int act_eq(const struct pol_action *a, const struct pol_action *b)
{
	return a->kind == b->kind && a->sig == b->sig && a->err == b->err;
}

/* Pack one enforcer Policy for the rules of p whose action equals a. */
static void pack_policy(msgpack_packer *pk, const struct policy *p, const struct pol_action *a,
			const char *name, size_t nrules)
{
	const struct pol_scope *sc = &p->scope;
	const char *kinds[8];
	size_t i, j, nk, scope_n = 0;

	msgpack_pack_map(pk, 8);
	pk_str(pk, "name");
	pk_str(pk, name);
	pk_str(pk, "mode");
	pk_str(pk, p->enforce ? "enforce" : "monitor");
	pk_str(pk, "action");
	pk_str(pk, a->kind == POL_ACT_OVERRIDE ? "override" : a->kind == POL_ACT_SIGNAL ? "signal" :
										      "sigkill");
	pk_str(pk, "errno");
	msgpack_pack_int(pk, a->kind == POL_ACT_OVERRIDE ? a->err : 0);
	pk_str(pk, "signal");
	msgpack_pack_int(pk, a->kind == POL_ACT_SIGNAL ? a->sig : a->kind == POL_ACT_SIGKILL ? 9 : 0);
	pk_str(pk, "kill_fallback");
	msgpack_pack_true(pk);
	pk_str(pk, "scope");
	if (sc->set)
		scope_n = 1 + (sc->namespaces.npos > 0) + (sc->nlabels > 0);
	msgpack_pack_map(pk, scope_n);
	if (scope_n) {
		pk_str(pk, "host");
		if (sc->host)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		if (sc->namespaces.npos)
			pk_sset(pk, "namespaces", &sc->namespaces.pos[POL_S_EQ]);
		if (sc->nlabels) {
			pk_str(pk, "match_labels");
			msgpack_pack_map(pk, sc->nlabels);
			for (i = 0; i < sc->nlabels; i++) {
				pk_str(pk, sc->labels[i].key);
				pk_str(pk, sc->labels[i].vals[0]);
			}
		}
	}
	pk_str(pk, "rules");
	msgpack_pack_array(pk, nrules);
	for (i = 0; i < p->nrules; i++) {
		if (!policy_rule_kernel(p, i) || !act_eq(policy_rule_action(p, i), a))
			continue;
		nk = rule_kinds(&p->rules[i], kinds);
		for (j = 0; j < nk; j++)
			pack_rule(pk, &p->rules[i], kinds[j]);
	}
}

/* The distinct enforcing actions of p's kernel rules, and the Rule count of each. */
static size_t policy_groups(const struct policy *p, const struct pol_action **acts, size_t *cnt,
			    size_t max)
{
	const char *kinds[8];
	size_t i, j, n = 0;

	for (i = 0; i < p->nrules; i++) {
		const struct pol_action *a = policy_rule_action(p, i);
		size_t nk;

		if (a->kind == POL_ACT_NOTIFY || !policy_rule_kernel(p, i))
			continue;
		nk = rule_kinds(&p->rules[i], kinds);
		if (!nk)
			continue;
		for (j = 0; j < n && !act_eq(acts[j], a); j++)
			;
		if (j == n) {
			if (n == max)
				continue;
			acts[n] = a;
			cnt[n++] = 0;
		}
		cnt[j] += nk;
	}
	return n;
}

void policy_pack_set(const struct policy_set *s, const char *mode, msgpack_packer *pk)
{
	const struct pol_action *acts[8];
	size_t cnt[8], i, j, ng, total = 0;
	char name[256];

	for (i = 0; i < s->n; i++)
		total += policy_groups(s->p[i], acts, cnt, 8);
	msgpack_pack_map(pk, 3);
	pk_str(pk, "generation");
	msgpack_pack_uint64(pk, s->generation);
	pk_str(pk, "mode");
	pk_str(pk, mode);
	pk_str(pk, "policies");
	msgpack_pack_array(pk, total);
	for (i = 0; i < s->n; i++) {
		ng = policy_groups(s->p[i], acts, cnt, 8);
		for (j = 0; j < ng; j++) {
			/* a policy whose rules disagree on the action is sent as several */
			if (j == 0)
				snprintf(name, sizeof(name), "%s", s->p[i]->name);
			else
				snprintf(name, sizeof(name), "%s#%zu", s->p[i]->name, j + 1);
			pack_policy(pk, s->p[i], acts[j], name, cnt[j]);
		}
	}
}
