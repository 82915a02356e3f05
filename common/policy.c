/* policy.c — the policy YAML parser: vigil's own format and Tetragon TracingPolicy /
 * TracingPolicyNamespaced import (docs/policy.md). libyaml's document API gives every
 * node its position, so every error names FILE:LINE:COL and what was expected. Unknown
 * keys are errors: a typo must never silently widen or narrow a policy. */
#include "policy_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct plist {
	char *name;
	yaml_node_t *node;
};

struct pctx {
	const char *file;
	yaml_document_t *doc;
	struct policy_errs *errs;
	int nerr;
	struct policy *pol;
	struct plist *lists;
	size_t nlists;
	yaml_node_t *tp_args; /* Tetragon: the hook's args, for matchArgs */
	enum pol_kind tp_kind;
	unsigned tp_op;
};

struct item {
	const char *s;
	yaml_node_t *n;
};

/* ---- errors and node helpers ------------------------------------------- */

static void errs_add(struct policy_errs *e, char *msg)
{
	e->msg = realloc(e->msg, (e->n + 1) * sizeof(*e->msg));
	if (!e->msg)
		abort();
	e->msg[e->n++] = msg;
}

/* Record "FILE:LINE:COL: message" for node n (or the file alone when n is NULL). */
static void __attribute__((format(printf, 3, 4)))
perr(struct pctx *c, yaml_node_t *n, const char *fmt, ...)
{
	char *m = NULL, *l = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (n) {
		if (asprintf(&l, "%s:%zu:%zu: %s", c->file, n->start_mark.line + 1,
			     n->start_mark.column + 1, m) < 0)
			abort();
	} else if (asprintf(&l, "%s: %s", c->file, m) < 0)
		abort();
	free(m);
	errs_add(c->errs, l);
	c->nerr++;
}

static yaml_node_t *nd(struct pctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static const char *sval(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_null(yaml_node_t *n)
{
	const char *s = sval(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

/* A scalar's text, or an error saying what was expected. */
static const char *want_str(struct pctx *c, yaml_node_t *n, const char *what)
{
	const char *s = sval(n);

	if (!s)
		perr(c, n, "%s: expected a string, got a %s", what,
		     n->type == YAML_MAPPING_NODE ? "mapping" : "list");
	return s;
}

static int want_map(struct pctx *c, yaml_node_t *n, const char *what)
{
	if (n->type == YAML_MAPPING_NODE)
		return 0;
	perr(c, n, "%s: expected a mapping (key: value), got a %s", what,
	     n->type == YAML_SCALAR_NODE ? "scalar" : "list");
	return -1;
}

static int want_int(struct pctx *c, yaml_node_t *n, const char *what, long long lo, long long hi,
		    long long *v)
{
	const char *s = want_str(c, n, what);
	char *end;

	if (!s)
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 0);
	if (!*s || *end || errno || *v < lo || *v > hi) {
		perr(c, n, "%s: expected an integer from %lld to %lld, got '%s'", what, lo, hi, s);
		return -1;
	}
	return 0;
}

static int want_bool(struct pctx *c, yaml_node_t *n, const char *what, int *v)
{
	const char *s = want_str(c, n, what);

	if (!s)
		return -1;
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
		*v = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
		*v = 0;
	else {
		perr(c, n, "%s: expected true or false, got '%s'", what, s);
		return -1;
	}
	return 0;
}

/* "unknown key 'x' in WHAT (expected one of: ...)". */
static void unknown_key(struct pctx *c, yaml_node_t *k, const char *what, const char *keys)
{
	perr(c, k, "unknown key '%s' in %s (expected one of: %s)", sval(k) ? sval(k) : "?", what,
	     keys);
}

/* Iterate over a mapping's pairs: for (p = pairs(n); p < end; p++) with key text. */
#define MAP_EACH(c, n, kn, vn, kt)                                                          \
	for (yaml_node_pair_t *p_ = (n)->data.mapping.pairs.start;                           \
	     p_ < (n)->data.mapping.pairs.top &&                                             \
	     ((kn) = nd(c, p_->key), (vn) = nd(c, p_->value), (kt) = sval(kn) ? sval(kn) : "", 1); \
	     p_++)

/* Reject duplicate keys: YAML says they are an error, libyaml keeps both. */
static int check_dups(struct pctx *c, yaml_node_t *n)
{
	yaml_node_pair_t *a, *b;
	int bad = 0;

	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++)
		for (b = n->data.mapping.pairs.start; b < a; b++)
			if (sval(nd(c, a->key)) && sval(nd(c, b->key)) &&
			    !strcmp(sval(nd(c, a->key)), sval(nd(c, b->key)))) {
				perr(c, nd(c, a->key), "duplicate key '%s' (first at line %zu)",
				     sval(nd(c, a->key)), nd(c, b->key)->start_mark.line + 1);
				bad = 1;
			}
	return bad ? -1 : 0;
}

static const struct plist *find_list(struct pctx *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nlists; i++)
		if (!strcmp(c->lists[i].name, name))
			return &c->lists[i];
	return NULL;
}

/* Collect the scalars of a scalar or a list, expanding "list:NAME". Returns the count
 * (items in *out, to free), or -1 after reporting an error. */
static long scalars(struct pctx *c, yaml_node_t *n, const char *what, struct item **out)
{
	yaml_node_item_t *it;
	size_t cap = 8, k = 0;
	int bad = 0;

	*out = malloc(cap * sizeof(**out));
	if (!*out)
		abort();
	for (it = n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
	     n->type == YAML_SCALAR_NODE || (it && it < n->data.sequence.items.top);
	     it = it ? it + 1 : NULL) {
		yaml_node_t *v = it ? nd(c, *it) : n;
		const char *s = sval(v);

		if (n->type == YAML_MAPPING_NODE)
			break;
		if (!s) {
			perr(c, v, "%s: expected a string or a list of strings, got a %s", what,
			     v->type == YAML_MAPPING_NODE ? "mapping" : "list");
			bad = 1;
		} else if (!strncmp(s, "list:", 5)) {
			const struct plist *l = find_list(c, s + 5);
			struct item *sub = NULL;
			long m, j;

			static int depth; /* lists may name lists, but not in a cycle */

			if (!l) {
				perr(c, v, "%s: no list named '%s' (define it under 'lists:')", what,
				     s + 5);
				bad = 1;
			} else if (depth >= 8) {
				perr(c, v, "%s: list '%s' refers to itself (or lists nest deeper than 8)",
				     what, s + 5);
				bad = 1;
			} else if (depth++, m = scalars(c, l->node, "list", &sub), depth--, m < 0)
				bad = 1;
			else
				for (j = 0; j < m; j++) {
					if (k == cap && !(*out = realloc(*out, (cap *= 2) * sizeof(**out))))
						abort();
					(*out)[k++] = sub[j];
				}
			free(sub);
		} else {
			if (k == cap && !(*out = realloc(*out, (cap *= 2) * sizeof(**out))))
				abort();
			(*out)[k++] = (struct item){ s, v };
		}
		if (n->type == YAML_SCALAR_NODE)
			break;
	}
	if (n->type == YAML_MAPPING_NODE) {
		perr(c, n, "%s: expected a string or a list of strings, got a mapping", what);
		bad = 1;
	}
	if (bad) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return (long)k;
}

static char **strv_add(char **v, size_t *n, const char *s)
{
	v = realloc(v, (*n + 2) * sizeof(*v));
	if (!v)
		abort();
	v[(*n)++] = strdup(s);
	v[*n] = NULL;
	return v;
}

/* ---- typed matchers ----------------------------------------------------- */

static const char *const strm_keys[2][POL_S_N] = {
	{ "in", "prefix", "suffix", "glob", "contains" },
	{ "notIn", "notPrefix", "notSuffix", "notGlob", "notContains" },
};

/* Add values to one test of a string matcher. */
static int strm_add(struct pctx *c, struct pol_strm *m, int neg, int op, yaml_node_t *n,
		    const char *what)
{
	struct item *it;
	long k, i;

	if ((k = scalars(c, n, what, &it)) < 0)
		return -1;
	for (i = 0; i < k; i++)
		pol_sset_add(neg ? &m->neg[op] : &m->pos[op], it[i].s, strlen(it[i].s));
	if (neg)
		m->nneg += (int)k;
	else
		m->npos += (int)k;
	free(it);
	return 0;
}

/* A string matcher: a value, a list (exact), or {in, notIn, prefix, ..., notContains}. */
static int parse_strm(struct pctx *c, yaml_node_t *n, struct pol_strm *m, const char *what)
{
	yaml_node_t *k, *v;
	const char *key;
	int i, j, found, bad = 0;

	if (n->type != YAML_MAPPING_NODE)
		return strm_add(c, m, 0, POL_S_EQ, n, what);
	if (check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		found = 0;
		for (i = 0; i < 2 && !found; i++)
			for (j = 0; j < POL_S_N && !found; j++)
				if (!strcmp(key, strm_keys[i][j])) {
					found = 1;
					bad |= strm_add(c, m, i, j, v, what) < 0;
				}
		if (!found) {
			unknown_key(c, k, what, "in, notIn, prefix, notPrefix, suffix, notSuffix, "
						"glob, notGlob, contains, notContains");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static void range_push(struct pol_range **r, size_t *n, int64_t lo, int64_t hi)
{
	*r = realloc(*r, (*n + 1) * sizeof(**r));
	if (!*r)
		abort();
	(*r)[(*n)++] = (struct pol_range){ lo, hi };
}

/* "80", "1000-2000" or "1000:2000" within [lo, hi]. */
static int parse_range(const char *s, long long lo, long long hi, int64_t *a, int64_t *b)
{
	char *end;
	long long x, y;

	errno = 0;
	x = strtoll(s, &end, 0);
	if (end == s || errno)
		return -1;
	y = x;
	if (*end == '-' || *end == ':') {
		const char *t = end + 1;

		y = strtoll(t, &end, 0);
		if (end == t || errno)
			return -1;
	}
	if (*end || x < lo || y > hi || x > y)
		return -1;
	*a = x;
	*b = y;
	return 0;
}

static int intm_add(struct pctx *c, struct pol_intm *m, int neg, yaml_node_t *n, const char *what,
		    long long lo, long long hi)
{
	struct item *it;
	long k, i;
	int bad = 0;
	int64_t a, b;

	if ((k = scalars(c, n, what, &it)) < 0)
		return -1;
	for (i = 0; i < k; i++) {
		if (parse_range(it[i].s, lo, hi, &a, &b) < 0) {
			perr(c, it[i].n, "%s: expected an integer or a range LO-HI within %lld-%lld, "
					 "got '%s'", what, lo, hi, it[i].s);
			bad = 1;
		} else if (neg)
			range_push(&m->out, &m->nout, a, b);
		else
			range_push(&m->in, &m->nin, a, b);
	}
	free(it);
	return bad ? -1 : 0;
}

/* An integer matcher: a value, a list of values and ranges, or {in, notIn}. */
static int parse_intm(struct pctx *c, yaml_node_t *n, struct pol_intm *m, const char *what,
		      long long lo, long long hi)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (n->type != YAML_MAPPING_NODE)
		bad = intm_add(c, m, 0, n, what, lo, hi) < 0;
	else if (check_dups(c, n) < 0)
		return -1;
	else
		MAP_EACH(c, n, k, v, key) {
			if (!strcmp(key, "in") || !strcmp(key, "notIn"))
				bad |= intm_add(c, m, key[0] == 'n', v, what, lo, hi) < 0;
			else {
				unknown_key(c, k, what, "in, notIn");
				bad = 1;
			}
		}
	pol_intm_finish(m);
	return bad ? -1 : 0;
}

static int cidrm_add(struct pctx *c, struct pol_cidrm *m, int neg, yaml_node_t *n)
{
	struct item *it;
	long k, i;
	int bad = 0;

	if ((k = scalars(c, n, "address", &it)) < 0)
		return -1;
	for (i = 0; i < k; i++) {
		struct pol_cidr cd;

		memset(&cd, 0, sizeof(cd));
		if (pol_cidr_parse(it[i].s, &cd) < 0) {
			perr(c, it[i].n, "address: expected an IPv4 or IPv6 address or CIDR "
					 "(10.0.0.0/8, fd00::/8), got '%s'", it[i].s);
			bad = 1;
			continue;
		}
		cd.text = strdup(it[i].s);
		if (neg) {
			m->out = realloc(m->out, (m->nout + 1) * sizeof(*m->out));
			m->out[m->nout++] = cd;
		} else {
			m->in = realloc(m->in, (m->nin + 1) * sizeof(*m->in));
			m->in[m->nin++] = cd;
		}
	}
	free(it);
	return bad ? -1 : 0;
}

static int parse_cidrm(struct pctx *c, yaml_node_t *n, struct pol_cidrm *m)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (n->type != YAML_MAPPING_NODE)
		return cidrm_add(c, m, 0, n);
	if (check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "in") || !strcmp(key, "notIn"))
			bad |= cidrm_add(c, m, key[0] == 'n', v) < 0;
		else {
			unknown_key(c, k, "address", "in, notIn");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* A list of words from a fixed vocabulary, ORed into a bit set. */
static int parse_words(struct pctx *c, yaml_node_t *n, const char *what,
		       const char *const *names, const unsigned *bits, unsigned *out)
{
	struct item *it;
	long k, i;
	int j, bad = 0;
	char expect[256] = "";

	if ((k = scalars(c, n, what, &it)) < 0)
		return -1;
	for (j = 0; names[j]; j++)
		snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "%s%s",
			 j ? ", " : "", names[j]);
	for (i = 0; i < k; i++) {
		for (j = 0; names[j] && strcmp(names[j], it[i].s); j++)
			;
		if (!names[j]) {
			perr(c, it[i].n, "%s: unknown value '%s' (expected one of: %s)", what, it[i].s,
			     expect);
			bad = 1;
		} else
			*out |= bits[j];
	}
	free(it);
	return bad ? -1 : 0;
}

static int parse_procm(struct pctx *c, yaml_node_t *n, struct pol_procm *m, const char *what)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (want_map(c, n, what) < 0 || check_dups(c, n) < 0)
		return -1;
	m->set = 1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "binary"))
			bad |= parse_strm(c, v, &m->binary, "binary") < 0;
		else if (!strcmp(key, "arguments"))
			bad |= parse_strm(c, v, &m->arguments, "arguments") < 0;
		else if (!strcmp(key, "cwd"))
			bad |= parse_strm(c, v, &m->cwd, "cwd") < 0;
		else if (!strcmp(key, "uid"))
			bad |= parse_intm(c, v, &m->uid, "uid", 0, 4294967295ll) < 0;
		else if (!strcmp(key, "pid"))
			bad |= parse_intm(c, v, &m->pid, "pid", 0, 4294967295ll) < 0;
		else if (!strcmp(key, "capabilities"))
			bad |= parse_strm(c, v, &m->caps, "capabilities") < 0;
		else {
			unknown_key(c, k, what, "binary, arguments, cwd, uid, pid, capabilities");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* ---- actions ------------------------------------------------------------ */

static const struct {
	const char *name;
	int num;
} errnos[] = {
	{ "EPERM", 1 }, { "ENOENT", 2 }, { "EIO", 5 }, { "EACCES", 13 }, { "EBUSY", 16 },
	{ "EEXIST", 17 }, { "EINVAL", 22 }, { "ENOSYS", 38 }, { "ECONNREFUSED", 111 },
	{ "ENETUNREACH", 101 }, { "EHOSTUNREACH", 113 }, { "EROFS", 30 },
};

static int parse_errno(struct pctx *c, yaml_node_t *n, int *err)
{
	const char *s = want_str(c, n, "errno");
	size_t i;
	long long v;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(s, errnos[i].name)) {
			*err = errnos[i].num;
			return 0;
		}
	if (want_int(c, n, "errno (a name such as EPERM or EACCES, or a number)", -4095, 4095,
		     &v) < 0)
		return -1;
	if (v == 0) {
		perr(c, n, "errno: 0 would allow the operation; expected a non-zero errno");
		return -1;
	}
	*err = (int)(v < 0 ? -v : v);
	return 0;
}

static const struct {
	const char *name;
	int num;
} signames[] = {
	{ "SIGHUP", 1 }, { "SIGINT", 2 }, { "SIGQUIT", 3 }, { "SIGABRT", 6 }, { "SIGKILL", 9 },
	{ "SIGUSR1", 10 }, { "SIGSEGV", 11 }, { "SIGUSR2", 12 }, { "SIGTERM", 15 },
	{ "SIGSTOP", 19 },
};

static int parse_signal(struct pctx *c, yaml_node_t *n, int *sig)
{
	const char *s = want_str(c, n, "signal");
	size_t i;
	long long v;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (!strcmp(s, signames[i].name) || !strcmp(s, signames[i].name + 3)) {
			*sig = signames[i].num;
			return 0;
		}
	if (want_int(c, n, "signal (a name such as SIGTERM, or a number)", 1, 64, &v) < 0)
		return -1;
	*sig = (int)v;
	return 0;
}

/* One of the action keys of a policy or a rule: action, signal, errno, url. 1 when key is
 * not an action key. */
static int parse_action_key(struct pctx *c, const char *key, yaml_node_t *v, struct pol_action *a)
{
	static const char *const names[] = { "notify", "sigkill", "signal", "override", NULL };
	const char *s;
	int i;

	if (!strcmp(key, "action")) {
		if (!(s = want_str(c, v, "action")))
			return -1;
		for (i = 0; names[i] && strcmp(names[i], s); i++)
			;
		if (!names[i]) {
			perr(c, v, "action: unknown action '%s' (expected one of: notify, sigkill, "
				   "signal, override)", s);
			return -1;
		}
		a->kind = (enum pol_act)i;
		a->set = 1;
		return 0;
	}
	if (!strcmp(key, "signal"))
		return parse_signal(c, v, &a->sig) < 0 ? -1 : 0;
	if (!strcmp(key, "errno"))
		return parse_errno(c, v, &a->err) < 0 ? -1 : 0;
	if (!strcmp(key, "url")) {
		if (!(s = want_str(c, v, "url")))
			return -1;
		if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) {
			perr(c, v, "url: expected an http:// or https:// URL, got '%s'", s);
			return -1;
		}
		free(a->url);
		a->url = strdup(s);
		a->set = 1;
		return 0;
	}
	return 1;
}

/* Defaults and consistency of an action after its keys are read. */
static int finish_action(struct pctx *c, yaml_node_t *at, struct pol_action *a)
{
	if (a->kind == POL_ACT_SIGNAL && !a->sig) {
		perr(c, at, "action 'signal' needs 'signal: N' (a number or a name such as SIGTERM)");
		return -1;
	}
	if (a->kind == POL_ACT_OVERRIDE && !a->err)
		a->err = 1; /* EPERM */
	if (a->sig && a->kind != POL_ACT_SIGNAL) {
		perr(c, at, "'signal:' is only meaningful with 'action: signal'");
		return -1;
	}
	if (a->err && a->kind != POL_ACT_OVERRIDE) {
		perr(c, at, "'errno:' is only meaningful with 'action: override'");
		return -1;
	}
	return 0;
}

/* {field} placeholders must be known: a typo would print nothing. */
static int check_template(struct pctx *c, yaml_node_t *n, const char *t)
{
	const char *p = t, *e;
	int i, bad = 0;

	while ((p = strchr(p, '{'))) {
		if (p[1] == '{') {
			p += 2;
			continue;
		}
		if (!(e = strchr(p, '}'))) {
			perr(c, n, "message: '{' at offset %zu is not closed by '}'", (size_t)(p - t));
			return -1;
		}
		for (i = 0; pol_template_fields[i]; i++)
			if (strlen(pol_template_fields[i]) == (size_t)(e - p - 1) &&
			    !strncmp(pol_template_fields[i], p + 1, (size_t)(e - p - 1)))
				break;
		if (!pol_template_fields[i]) {
			perr(c, n, "message: unknown field '{%.*s}' (expected e.g. {process.binary}, "
				   "{parent.binary}, {file.path}, {network.address}, {network.port}, "
				   "{pod.name}; see docs/policy.md)", (int)(e - p - 1), p + 1);
			bad = 1;
		}
		p = e + 1;
	}
	return bad ? -1 : 0;
}

/* ---- vigil format -------------------------------------------------------- */

static const char *const kind_names[] = {
	"exec", "exit", "file", "network", "privilege", "namespace", "mount", "module", "ptrace",
	"bpf", NULL,
};

static int parse_file_block(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	static const char *const acc[] = { "read", "write", "create", NULL };
	static const unsigned accb[] = { POL_A_READ, POL_A_WRITE, POL_A_CREATE };
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (want_map(c, n, "file") < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "path"))
			bad |= parse_strm(c, v, &r->path, "path") < 0;
		else if (!strcmp(key, "access"))
			bad |= parse_words(c, v, "access", acc, accb, &r->access) < 0;
		else {
			unknown_key(c, k, "file", "path, access");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int parse_net_block(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	static const char *const pr[] = { "tcp", "udp", "icmp", "raw", NULL };
	static const unsigned prb[] = { POL_P_TCP, POL_P_UDP, POL_P_ICMP, POL_P_RAW };
	static const char *const dir[] = { "egress", "ingress", NULL };
	static const unsigned dirb[] = { POL_DIR_EGRESS, POL_DIR_INGRESS };
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (want_map(c, n, "network") < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "address"))
			bad |= parse_cidrm(c, v, &r->address) < 0;
		else if (!strcmp(key, "port"))
			bad |= parse_intm(c, v, &r->port, "port", 0, 65535) < 0;
		else if (!strcmp(key, "protocol"))
			bad |= parse_words(c, v, "protocol", pr, prb, &r->protos) < 0;
		else if (!strcmp(key, "direction"))
			bad |= parse_words(c, v, "direction", dir, dirb, &r->dirs) < 0;
		else {
			unknown_key(c, k, "network", "address, port, protocol, direction");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int parse_priv_block(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (want_map(c, n, "privilege") < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "uid"))
			bad |= parse_intm(c, v, &r->new_uid, "privilege uid", 0, 4294967295ll) < 0;
		else {
			unknown_key(c, k, "privilege", "uid");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int parse_tags(struct pctx *c, yaml_node_t *n, char ***tags, size_t *ntags)
{
	struct item *it;
	long k, i;

	if ((k = scalars(c, n, "tags", &it)) < 0)
		return -1;
	for (i = 0; i < k; i++)
		*tags = strv_add(*tags, ntags, it[i].s);
	free(it);
	return 0;
}

static int parse_rule(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	static const char *const fops[] = { "open", "unlink", "rename", "chmod", "truncate",
					    "mkdir", "link", "mmap", NULL };
	static const unsigned fopb[] = { POL_OP_OPEN, POL_OP_UNLINK, POL_OP_RENAME, POL_OP_CHMOD,
					 POL_OP_TRUNCATE, POL_OP_MKDIR, POL_OP_LINK, POL_OP_MMAP };
	static const char *const nops[] = { "connect", "accept", "listen", "bind", "send", NULL };
	static const unsigned nopb[] = { POL_OP_CONNECT, POL_OP_ACCEPT, POL_OP_LISTEN, POL_OP_BIND,
					 POL_OP_SEND };
	yaml_node_t *k, *v, *kind_n = NULL, *ops_n = NULL, *file_n = NULL, *net_n = NULL,
		    *priv_n = NULL;
	const char *key, *s;
	int bad = 0, i, r_;

	if (want_map(c, n, "rule") < 0 || check_dups(c, n) < 0)
		return -1;
	r->line = (int)n->start_mark.line + 1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "event"))
			kind_n = v;
		else if (!strcmp(key, "operation"))
			ops_n = v;
		else if (!strcmp(key, "file"))
			file_n = v;
		else if (!strcmp(key, "network"))
			net_n = v;
		else if (!strcmp(key, "privilege"))
			priv_n = v;
		else if (!strcmp(key, "function"))
			bad |= parse_strm(c, v, &r->function, "function") < 0;
		else if (!strcmp(key, "process"))
			bad |= parse_procm(c, v, &r->process, "process") < 0;
		else if (!strcmp(key, "parent"))
			bad |= parse_procm(c, v, &r->parent, "parent") < 0;
		else if (!strcmp(key, "ancestors"))
			bad |= parse_procm(c, v, &r->ancestors, "ancestors") < 0;
		else if (!strcmp(key, "container")) {
			int b;

			if (want_bool(c, v, "container", &b) < 0)
				bad = 1;
			else
				r->in_container = b ? 1 : 2;
		} else if (!strcmp(key, "message")) {
			if (!(s = want_str(c, v, "message")) || check_template(c, v, s) < 0)
				bad = 1;
			else
				r->message = strdup(s);
		} else if (!strcmp(key, "tags"))
			bad |= parse_tags(c, v, &r->tags, &r->ntags) < 0;
		else if ((r_ = parse_action_key(c, key, v, &r->act)) <= 0)
			bad |= r_ < 0;
		else {
			unknown_key(c, k, "rule", "event, operation, process, parent, ancestors, "
						  "container, file, network, privilege, function, "
						  "action, signal, errno, url, message, tags");
			bad = 1;
		}
	}
	if (!kind_n) {
		perr(c, n, "rule: missing 'event:' (one of: exec, exit, file, network, privilege, "
			   "namespace, mount, module, ptrace, bpf)");
		return -1;
	}
	if (!(s = want_str(c, kind_n, "event")))
		return -1;
	for (i = 0; kind_names[i] && strcmp(kind_names[i], s); i++)
		;
	if (!kind_names[i]) {
		perr(c, kind_n, "event: unknown event '%s' (expected one of: exec, exit, file, "
				"network, privilege, namespace, mount, module, ptrace, bpf)", s);
		return -1;
	}
	r->kind = (enum pol_kind)i;
	if (ops_n) {
		if (r->kind == POL_K_FILE)
			bad |= parse_words(c, ops_n, "operation", fops, fopb, &r->ops) < 0;
		else if (r->kind == POL_K_NETWORK)
			bad |= parse_words(c, ops_n, "operation", nops, nopb, &r->ops) < 0;
		else {
			perr(c, ops_n, "operation: only 'event: file' and 'event: network' rules have "
				       "operations");
			bad = 1;
		}
	}
	if (file_n && r->kind != POL_K_FILE && r->kind != POL_K_MOUNT && r->kind != POL_K_MODULE) {
		perr(c, file_n, "file: only valid in rules with 'event: file' (or mount, module); "
				"this rule has 'event: %s'", s);
		bad = 1;
	} else if (file_n)
		bad |= parse_file_block(c, file_n, r) < 0;
	if (net_n && r->kind != POL_K_NETWORK) {
		perr(c, net_n, "network: only valid in rules with 'event: network'; this rule has "
			       "'event: %s'", s);
		bad = 1;
	} else if (net_n)
		bad |= parse_net_block(c, net_n, r) < 0;
	if (priv_n && r->kind != POL_K_PRIVILEGE) {
		perr(c, priv_n, "privilege: only valid in rules with 'event: privilege'; this rule "
				"has 'event: %s'", s);
		bad = 1;
	} else if (priv_n)
		bad |= parse_priv_block(c, priv_n, r) < 0;
	if (r->act.set && !bad)
		bad |= finish_action(c, n, &r->act) < 0;
	return bad ? -1 : 0;
}

/* matchLabels / matchExpressions of a Kubernetes label selector. */
static int parse_selector(struct pctx *c, yaml_node_t *n, struct pol_scope *sc, const char *what)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist", NULL };
	yaml_node_t *k, *v, *k2, *v2;
	const char *key, *key2;
	yaml_node_item_t *it;
	int bad = 0;

	if (is_null(n))
		return 0;
	if (want_map(c, n, what) < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "matchLabels")) {
			if (want_map(c, v, "matchLabels") < 0) {
				bad = 1;
				continue;
			}
			MAP_EACH(c, v, k2, v2, key2) {
				const char *val = want_str(c, v2, "label value");
				struct pol_labelreq *r;

				if (!val) {
					bad = 1;
					continue;
				}
				sc->labels = realloc(sc->labels, (sc->nlabels + 1) * sizeof(*sc->labels));
				r = &sc->labels[sc->nlabels++];
				memset(r, 0, sizeof(*r));
				r->key = strdup(key2);
				r->vals = strv_add(NULL, &r->nvals, val);
			}
		} else if (!strcmp(key, "matchExpressions")) {
			if (v->type != YAML_SEQUENCE_NODE) {
				perr(c, v, "matchExpressions: expected a list of {key, operator, values}");
				bad = 1;
				continue;
			}
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *e = nd(c, *it), *kk = NULL, *op = NULL, *vals = NULL;
				struct pol_labelreq r;
				struct item *vi;
				long nv, j;
				int o;

				if (want_map(c, e, "matchExpressions entry") < 0) {
					bad = 1;
					continue;
				}
				MAP_EACH(c, e, k2, v2, key2) {
					if (!strcmp(key2, "key"))
						kk = v2;
					else if (!strcmp(key2, "operator"))
						op = v2;
					else if (!strcmp(key2, "values"))
						vals = v2;
					else {
						unknown_key(c, k2, "matchExpressions entry",
							    "key, operator, values");
						bad = 1;
					}
				}
				if (!kk || !op || !want_str(c, kk, "key") || !want_str(c, op, "operator")) {
					if (!kk || !op)
						perr(c, e, "matchExpressions entry: needs 'key' and "
							   "'operator'");
					bad = 1;
					continue;
				}
				for (o = 0; ops[o] && strcmp(ops[o], sval(op)); o++)
					;
				if (!ops[o]) {
					perr(c, op, "operator: unknown '%s' (expected In, NotIn, Exists, "
						    "DoesNotExist)", sval(op));
					bad = 1;
					continue;
				}
				memset(&r, 0, sizeof(r));
				r.key = strdup(sval(kk));
				r.op = o;
				if (vals && (nv = scalars(c, vals, "values", &vi)) >= 0) {
					for (j = 0; j < nv; j++)
						r.vals = strv_add(r.vals, &r.nvals, vi[j].s);
					free(vi);
				}
				if (o < 2 && !r.nvals) {
					perr(c, e, "matchExpressions: operator %s needs 'values'", ops[o]);
					bad = 1;
				}
				sc->labels = realloc(sc->labels, (sc->nlabels + 1) * sizeof(*sc->labels));
				sc->labels[sc->nlabels++] = r;
				sc->labels_simple = 0;
			}
		} else {
			unknown_key(c, k, what, "matchLabels, matchExpressions");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int parse_scope(struct pctx *c, yaml_node_t *n, struct pol_scope *sc)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0, host = -1, podsel = 0;

	if (want_map(c, n, "scope") < 0 || check_dups(c, n) < 0)
		return -1;
	sc->set = 1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "host"))
			bad |= want_bool(c, v, "host", &host) < 0;
		else if (!strcmp(key, "namespaces"))
			podsel = 1, bad |= parse_strm(c, v, &sc->namespaces, "namespaces") < 0;
		else if (!strcmp(key, "pods"))
			podsel = 1, bad |= parse_strm(c, v, &sc->pod_names, "pods") < 0;
		else if (!strcmp(key, "containers"))
			podsel = 1, bad |= parse_strm(c, v, &sc->containers, "containers") < 0;
		else if (!strcmp(key, "images"))
			podsel = 1, bad |= parse_strm(c, v, &sc->images, "images") < 0;
		else if (!strcmp(key, "podSelector"))
			podsel = 1, bad |= parse_selector(c, v, sc, "podSelector") < 0;
		else {
			unknown_key(c, k, "scope", "host, namespaces, pods, containers, images, "
						   "podSelector");
			bad = 1;
		}
	}
	/* Naming pods narrows the scope to them; host processes stay in only on request. */
	sc->pods = 1;
	sc->host = host >= 0 ? host : !podsel;
	if (!sc->host && !podsel && host == 0)
		sc->pods = 1;
	return bad ? -1 : 0;
}

static int parse_lists(struct pctx *c, yaml_node_t *n)
{
	yaml_node_t *k, *v;
	const char *key;
	int bad = 0;

	if (want_map(c, n, "lists") < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (v->type != YAML_SEQUENCE_NODE) {
			perr(c, v, "lists: '%s' must be a list of values", key);
			bad = 1;
			continue;
		}
		c->lists = realloc(c->lists, (c->nlists + 1) * sizeof(*c->lists));
		c->lists[c->nlists++] = (struct plist){ strdup(key), v };
	}
	return bad ? -1 : 0;
}

static int valid_name(const char *s)
{
	size_t i;

	if (!*s || strlen(s) > 48)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

static int parse_mode(struct pctx *c, yaml_node_t *v, int *enforce)
{
	const char *s = want_str(c, v, "mode");

	if (!s)
		return -1;
	if (!strcmp(s, "enforce"))
		*enforce = 1;
	else if (!strcmp(s, "monitor") || !strcmp(s, "monitor_only"))
		*enforce = 0;
	else {
		perr(c, v, "mode: expected 'enforce' or 'monitor', got '%s'", s);
		return -1;
	}
	return 0;
}

static int parse_vigil(struct pctx *c, yaml_node_t *root, struct policy *p)
{
	static const char *const sev[] = { "info", "low", "medium", "high", "critical", NULL };
	yaml_node_t *k, *v, *rules = NULL;
	const char *key, *s;
	yaml_node_item_t *it;
	int bad = 0, i, r_;

	p->enforce = 1; /* like Tetragon: the action written is the action taken */
	/* lists first: rules refer to them wherever they are written */
	MAP_EACH(c, root, k, v, key)
		if (!strcmp(key, "lists"))
			bad |= parse_lists(c, v) < 0;
	MAP_EACH(c, root, k, v, key) {
		if (!strcmp(key, "lists") || !strcmp(key, "apiVersion") || !strcmp(key, "kind"))
			continue;
		if (!strcmp(key, "name")) {
			if (!(s = want_str(c, v, "name")))
				bad = 1;
			else if (!valid_name(s)) {
				perr(c, v, "name: expected 1-48 characters of [A-Za-z0-9._-], got '%s'",
				     s);
				bad = 1;
			} else
				p->name = strdup(s);
		} else if (!strcmp(key, "description")) {
			if (!(s = want_str(c, v, "description")))
				bad = 1;
			else
				p->description = strdup(s);
		} else if (!strcmp(key, "severity")) {
			if (!(s = want_str(c, v, "severity")))
				bad = 1;
			else {
				for (i = 0; sev[i] && strcmp(sev[i], s); i++)
					;
				if (!sev[i]) {
					perr(c, v, "severity: expected one of info, low, medium, high, "
						   "critical, got '%s'", s);
					bad = 1;
				} else
					p->severity = (enum pol_sev)i;
			}
		} else if (!strcmp(key, "tags"))
			bad |= parse_tags(c, v, &p->tags, &p->ntags) < 0;
		else if (!strcmp(key, "mode"))
			bad |= parse_mode(c, v, &p->enforce) < 0;
		else if (!strcmp(key, "scope"))
			bad |= parse_scope(c, v, &p->scope) < 0;
		else if (!strcmp(key, "message")) {
			if (!(s = want_str(c, v, "message")) || check_template(c, v, s) < 0)
				bad = 1;
			else
				p->message = strdup(s);
		} else if (!strcmp(key, "rules"))
			rules = v;
		else if ((r_ = parse_action_key(c, key, v, &p->act)) <= 0)
			bad |= r_ < 0;
		else {
			unknown_key(c, k, "policy", "apiVersion, kind, name, description, severity, "
						    "tags, mode, scope, lists, rules, action, signal, "
						    "errno, url, message");
			bad = 1;
		}
	}
	if (!p->name && !bad) {
		perr(c, root, "policy: missing 'name:'");
		bad = 1;
	}
	if (!rules) {
		perr(c, root, "policy: missing 'rules:' (a list of rules, each with 'event:')");
		return -1;
	}
	if (rules->type != YAML_SEQUENCE_NODE || rules->data.sequence.items.top ==
						    rules->data.sequence.items.start) {
		perr(c, rules, "rules: expected a non-empty list of rules");
		return -1;
	}
	for (it = rules->data.sequence.items.start; it < rules->data.sequence.items.top; it++) {
		p->rules = realloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
		memset(&p->rules[p->nrules], 0, sizeof(*p->rules));
		bad |= parse_rule(c, nd(c, *it), &p->rules[p->nrules++]) < 0;
	}
	if (!bad)
		bad |= finish_action(c, root, &p->act) < 0;
	p->scope.labels_simple = 1;
	for (i = 0; (size_t)i < p->scope.nlabels; i++)
		if (p->scope.labels[i].op != 0 || p->scope.labels[i].nvals != 1)
			p->scope.labels_simple = 0;
	return bad ? -1 : 0;
}

/* ---- Tetragon TracingPolicy import ------------------------------------------ */

/* The type of the hook argument a matchArgs entry refers to. */
static const char *tp_arg_type(struct pctx *c, long long index, int by_pos)
{
	yaml_node_item_t *it;
	long long pos = 0;

	if (!c->tp_args || c->tp_args->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (it = c->tp_args->data.sequence.items.start; it < c->tp_args->data.sequence.items.top;
	     it++, pos++) {
		yaml_node_t *a = nd(c, *it), *k, *v;
		const char *key, *type = "auto";
		long long idx = -1;

		if (a->type != YAML_MAPPING_NODE)
			continue;
		MAP_EACH(c, a, k, v, key) {
			if (!strcmp(key, "index") && sval(v))
				idx = strtoll(sval(v), NULL, 0);
			else if (!strcmp(key, "type") && sval(v))
				type = sval(v);
		}
		if ((by_pos && pos == index) || (!by_pos && idx == index))
			return type;
	}
	return NULL;
}

static int type_in(const char *t, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(t, *set))
			return 1;
	return 0;
}

/* Open flags in a Mask value → access bits. */
static unsigned mask_access(long long m, int permission)
{
	if (permission)
		return ((m & 2) ? POL_A_WRITE : 0) | ((m & 4) ? POL_A_READ : 0);
	return ((m & 3) ? POL_A_WRITE : 0) | ((m & 0100) ? POL_A_CREATE : 0) |
	       ((m & 01000) ? POL_A_WRITE : 0) | (m == 0 ? POL_A_READ : 0);
}

static int tp_match_arg(struct pctx *c, yaml_node_t *n, struct pol_rule *r, const char *fn)
{
	static const char *const str_t[] = { "file", "path", "filename", "string", "char_buf",
					     "dentry", "linux_binprm", "fd", "char_iovec",
					     "data_loc", NULL };
	static const char *const sock_t[] = { "sock", "sockaddr", "skb", "socket", NULL };
	yaml_node_t *k, *v, *op_n = NULL, *vals = NULL, *idx_n = NULL, *args_n = NULL;
	const char *key, *op, *type;
	long long idx;
	int neg, bad = 0;

	if (want_map(c, n, "matchArgs entry") < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "index"))
			idx_n = v;
		else if (!strcmp(key, "args"))
			args_n = v;
		else if (!strcmp(key, "operator"))
			op_n = v;
		else if (!strcmp(key, "values"))
			vals = v;
		else {
			unknown_key(c, k, "matchArgs entry", "index, args, operator, values");
			bad = 1;
		}
	}
	if (bad)
		return -1;
	if (!op_n || !vals || (!idx_n && !args_n)) {
		perr(c, n, "matchArgs entry: needs 'index' (or 'args'), 'operator' and 'values'");
		return -1;
	}
	if (!(op = want_str(c, op_n, "operator")))
		return -1;
	if (args_n) {
		yaml_node_t *a0 = args_n->type == YAML_SEQUENCE_NODE &&
				  args_n->data.sequence.items.top > args_n->data.sequence.items.start ?
				  nd(c, *args_n->data.sequence.items.start) : args_n;

		if (want_int(c, a0, "args", 0, 5, &idx) < 0)
			return -1;
		type = tp_arg_type(c, idx, 1);
	} else {
		if (want_int(c, idx_n, "index", 0, 5, &idx) < 0)
			return -1;
		type = tp_arg_type(c, idx, 0);
	}
	if (!type) {
		perr(c, args_n ? args_n : idx_n, "matchArgs: no argument with index %lld in the "
						 "hook's 'args:'", idx);
		return -1;
	}
	neg = !strncmp(op, "Not", 3);
	if (type_in(type, str_t) || (!strcmp(type, "auto") && (r->kind == POL_K_FILE ||
								r->kind == POL_K_EXEC))) {
		int sop = -1;
		const char *o = neg ? op + 3 : op;

		if (!strcmp(o, "Equal") || !strcmp(o, "InMap"))
			sop = POL_S_EQ;
		else if (!strcmp(o, "Prefix"))
			sop = POL_S_PREFIX;
		else if (!strcmp(o, "Postfix"))
			sop = POL_S_SUFFIX;
		else if (!strcmp(op, "SubString"))
			sop = POL_S_CONTAINS;
		if (sop < 0 || !strcmp(op, "NotSubString")) {
			perr(c, op_n, "matchArgs: operator '%s' cannot be mapped for a %s argument "
				      "(supported: Equal, NotEqual, Prefix, NotPrefix, Postfix, "
				      "NotPostfix, SubString, InMap, NotInMap)", op, type);
			return -1;
		}
		if (r->kind == POL_K_EXEC) {
			/* the binary being executed is the process's binary after exec */
			r->process.set = 1;
			return strm_add(c, &r->process.binary, neg, sop, vals, "values");
		}
		return strm_add(c, &r->path, neg, sop, vals, "values");
	}
	if (type_in(type, sock_t)) {
		if (!strcmp(op, "DAddr") || !strcmp(op, "NotDAddr"))
			return cidrm_add(c, &r->address, neg, vals);
		if (!strcmp(op, "DPort") || !strcmp(op, "NotDPort"))
			return intm_add(c, &r->port, neg, vals, "values", 0, 65535) < 0 ? -1 :
			       (pol_intm_finish(&r->port), 0);
		if (!strcmp(op, "DPortPriv") || !strcmp(op, "NotDPortPriv")) {
			if (neg)
				range_push(&r->port.out, &r->port.nout, 0, 1023);
			else
				range_push(&r->port.in, &r->port.nin, 0, 1023);
			pol_intm_finish(&r->port);
			return 0;
		}
		if (!strcmp(op, "Protocol")) {
			struct item *it;
			long m, i;

			if ((m = scalars(c, vals, "values", &it)) < 0)
				return -1;
			for (i = 0; i < m; i++) {
				if (!strcmp(it[i].s, "IPPROTO_TCP") || !strcmp(it[i].s, "6"))
					r->protos |= POL_P_TCP;
				else if (!strcmp(it[i].s, "IPPROTO_UDP") || !strcmp(it[i].s, "17"))
					r->protos |= POL_P_UDP;
				else {
					perr(c, it[i].n, "Protocol: expected IPPROTO_TCP, IPPROTO_UDP, 6 "
							 "or 17, got '%s'", it[i].s);
					bad = 1;
				}
			}
			free(it);
			return bad ? -1 : 0;
		}
		perr(c, op_n, "matchArgs: operator '%s' cannot be mapped for a %s argument "
			      "(supported: DAddr, NotDAddr, DPort, NotDPort, DPortPriv, NotDPortPriv, "
			      "Protocol)", op, type);
		return -1;
	}
	/* integers */
	if (!strcmp(op, "Mask") && r->kind == POL_K_FILE) {
		struct item *it;
		long m, i;
		long long x;

		if ((m = scalars(c, vals, "values", &it)) < 0)
			return -1;
		for (i = 0; i < m; i++) {
			if (want_int(c, it[i].n, "Mask value", 0, 0xffffffffll, &x) < 0)
				bad = 1;
			else
				r->access |= mask_access(x, strstr(fn, "permission") != NULL);
		}
		free(it);
		return bad ? -1 : 0;
	}
	if (r->kind == POL_K_PRIVILEGE) {
		if (!strcmp(op, "Equal") || !strcmp(op, "NotEqual") || !strcmp(op, "InMap") ||
		    !strcmp(op, "NotInMap") || !strcmp(op, "InRange") || !strcmp(op, "NotInRange"))
			return intm_add(c, &r->new_uid, neg, vals, "values", 0, 4294967295ll) < 0 ?
			       -1 : (pol_intm_finish(&r->new_uid), 0);
		if (!strcmp(op, "GT") || !strcmp(op, "GreaterThan") || !strcmp(op, "LT") ||
		    !strcmp(op, "LessThan")) {
			long long x;
			yaml_node_t *v0 = vals->type == YAML_SEQUENCE_NODE &&
					  vals->data.sequence.items.top > vals->data.sequence.items.start ?
					  nd(c, *vals->data.sequence.items.start) : vals;

			if (want_int(c, v0, "values", 0, 4294967295ll, &x) < 0)
				return -1;
			if (op[0] == 'G')
				range_push(&r->new_uid.in, &r->new_uid.nin, x + 1, 4294967295ll);
			else
				range_push(&r->new_uid.in, &r->new_uid.nin, 0, x - 1);
			pol_intm_finish(&r->new_uid);
			return 0;
		}
	}
	perr(c, op_n, "matchArgs: operator '%s' on a %s argument of '%s' cannot be mapped onto "
		      "vigil events", op, type, fn);
	return -1;
}

/* matchBinaries / matchParentBinaries entries → a process matcher's binary. */
static int tp_match_bin(struct pctx *c, yaml_node_t *n, struct pol_procm *m, const char *what)
{
	static const char *const ops[] = { "In", "NotIn", "Prefix", "NotPrefix", "Postfix",
					   "NotPostfix", NULL };
	static const int sop[] = { POL_S_EQ, POL_S_EQ, POL_S_PREFIX, POL_S_PREFIX, POL_S_SUFFIX,
				   POL_S_SUFFIX };
	yaml_node_t *k, *v, *op_n = NULL, *vals = NULL;
	const char *key;
	int i, fc = 0, bad = 0;

	if (want_map(c, n, what) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "operator"))
			op_n = v;
		else if (!strcmp(key, "values"))
			vals = v;
		else if (!strcmp(key, "followChildren")) {
			if (want_bool(c, v, "followChildren", &fc) < 0)
				bad = 1;
			else if (fc) {
				perr(c, v, "followChildren: true cannot be mapped (vigil's evaluator is "
					   "stateless); use 'ancestors:' in a vigil policy instead");
				bad = 1;
			}
		} else {
			unknown_key(c, k, what, "operator, values, followChildren");
			bad = 1;
		}
	}
	if (bad)
		return -1;
	if (!op_n || !vals || !want_str(c, op_n, "operator")) {
		perr(c, n, "%s: needs 'operator' and 'values'", what);
		return -1;
	}
	for (i = 0; ops[i] && strcmp(ops[i], sval(op_n)); i++)
		;
	if (!ops[i]) {
		perr(c, op_n, "%s: unknown operator '%s' (expected In, NotIn, Prefix, NotPrefix, "
			      "Postfix, NotPostfix)", what, sval(op_n));
		return -1;
	}
	m->set = 1;
	return strm_add(c, &m->binary, i & 1, sop[i], vals, "values");
}

static int tp_match_pids(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	yaml_node_t *k, *v, *op_n = NULL, *vals = NULL;
	const char *key;
	int b, bad = 0;

	if (want_map(c, n, "matchPIDs entry") < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "operator"))
			op_n = v;
		else if (!strcmp(key, "values"))
			vals = v;
		else if (!strcmp(key, "isNamespacePID") || !strcmp(key, "followForks")) {
			if (want_bool(c, v, key, &b) < 0)
				bad = 1;
			else if (b) {
				perr(c, v, "matchPIDs: %s: true cannot be mapped onto vigil events "
					   "(host pids only, no fork tracking in the evaluator)", key);
				bad = 1;
			}
		} else {
			unknown_key(c, k, "matchPIDs entry", "operator, values, isNamespacePID, "
							     "followForks");
			bad = 1;
		}
	}
	if (bad)
		return -1;
	if (!op_n || !vals || !want_str(c, op_n, "operator") ||
	    (strcmp(sval(op_n), "In") && strcmp(sval(op_n), "NotIn"))) {
		perr(c, op_n ? op_n : n, "matchPIDs: needs 'operator: In|NotIn' and 'values'");
		return -1;
	}
	r->process.set = 1;
	if (intm_add(c, &r->process.pid, sval(op_n)[0] == 'N', vals, "values", 0, 4294967295ll) < 0)
		return -1;
	pol_intm_finish(&r->process.pid);
	return 0;
}

/* matchNamespaces: only "host_ns" maps (host vs. container). */
static int tp_match_ns(struct pctx *c, yaml_node_t *n, struct pol_rule *r)
{
	yaml_node_t *k, *v, *op_n = NULL, *vals = NULL;
	const char *key;
	struct item *it;
	long m, i;
	int bad = 0, in;

	if (want_map(c, n, "matchNamespaces entry") < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "operator"))
			op_n = v;
		else if (!strcmp(key, "values"))
			vals = v;
		else if (strcmp(key, "namespace")) {
			unknown_key(c, k, "matchNamespaces entry", "namespace, operator, values");
			bad = 1;
		}
	}
	if (bad || !op_n || !vals || !want_str(c, op_n, "operator")) {
		if (!bad)
			perr(c, n, "matchNamespaces: needs 'namespace', 'operator' and 'values'");
		return -1;
	}
	in = !strcmp(sval(op_n), "In");
	if ((m = scalars(c, vals, "values", &it)) < 0)
		return -1;
	for (i = 0; i < m; i++)
		if (strcmp(it[i].s, "host_ns")) {
			perr(c, it[i].n, "matchNamespaces: value '%s' cannot be mapped (vigil events "
					 "carry no namespace inodes; only 'host_ns' is supported)",
			     it[i].s);
			bad = 1;
		}
	free(it);
	r->in_container = in ? 2 : 1;
	return bad ? -1 : 0;
}

static int tp_actions(struct pctx *c, yaml_node_t *n, struct pol_action *a)
{
	yaml_node_item_t *it;
	int bad = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		perr(c, n, "matchActions: expected a list of {action: ...}");
		return -1;
	}
	a->set = 1;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = nd(c, *it), *k, *v, *an = NULL, *url = NULL, *sig = NULL, *err = NULL;
		const char *key, *s;

		if (want_map(c, e, "matchActions entry") < 0) {
			bad = 1;
			continue;
		}
		MAP_EACH(c, e, k, v, key) {
			if (!strcmp(key, "action"))
				an = v;
			else if (!strcmp(key, "argUrl"))
				url = v;
			else if (!strcmp(key, "argSig"))
				sig = v;
			else if (!strcmp(key, "argError"))
				err = v;
			else if (strcmp(key, "rateLimit") && strcmp(key, "rateLimitScope") &&
				 strcmp(key, "kernelStackTrace") && strcmp(key, "userStackTrace") &&
				 strcmp(key, "imaHash")) {
				unknown_key(c, k, "matchActions entry", "action, argUrl, argSig, argError, "
					    "rateLimit, rateLimitScope, kernelStackTrace, userStackTrace, "
					    "imaHash");
				bad = 1;
			}
		}
		if (!an || !(s = want_str(c, an, "action"))) {
			if (!an)
				perr(c, e, "matchActions entry: missing 'action:'");
			bad = 1;
			continue;
		}
		if (!strcasecmp(s, "Post"))
			;
		else if (!strcasecmp(s, "NoPost"))
			a->nopost = 1;
		else if (!strcasecmp(s, "Sigkill")) {
			if (a->kind != POL_ACT_OVERRIDE)
				a->kind = POL_ACT_SIGKILL;
		} else if (!strcasecmp(s, "Signal") ||
			   (!strcasecmp(s, "NotifyEnforcer") && sig && !err)) {
			if (!sig) {
				perr(c, e, "Signal: needs 'argSig'");
				bad = 1;
			} else if (parse_signal(c, sig, &a->sig) < 0)
				bad = 1;
			else if (a->kind == POL_ACT_NOTIFY)
				a->kind = a->sig == 9 ? POL_ACT_SIGKILL : POL_ACT_SIGNAL;
			if (a->kind == POL_ACT_SIGKILL)
				a->sig = 0;
		} else if (!strcasecmp(s, "Override") || !strcasecmp(s, "NotifyEnforcer")) {
			if (!err) {
				perr(c, e, "%s: needs 'argError' (a negative errno such as -1)", s);
				bad = 1;
			} else if (parse_errno(c, err, &a->err) < 0)
				bad = 1;
			a->kind = POL_ACT_OVERRIDE;
			a->sig = 0;
		} else if (!strcasecmp(s, "GetUrl")) {
			if (!url || !sval(url)) {
				perr(c, e, "GetUrl: needs 'argUrl'");
				bad = 1;
			} else
				a->url = strdup(sval(url));
		} else {
			perr(c, an, "action '%s' cannot be mapped onto vigil (supported: Post, NoPost, "
				    "Sigkill, Signal, Override, NotifyEnforcer, GetUrl)", s);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int tp_selector(struct pctx *c, yaml_node_t *n, struct pol_rule *r, const char *fn)
{
	yaml_node_t *k, *v;
	const char *key;
	yaml_node_item_t *it;
	int bad = 0;

	if (want_map(c, n, "selector") < 0 || check_dups(c, n) < 0)
		return -1;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "label"))
			continue;
		if (!strcmp(key, "matchActions")) {
			bad |= tp_actions(c, v, &r->act) < 0;
			continue;
		}
		if (strcmp(key, "matchArgs") && strcmp(key, "matchBinaries") &&
		    strcmp(key, "matchParentBinaries") && strcmp(key, "matchPIDs") &&
		    strcmp(key, "matchNamespaces")) {
			if (!strcmp(key, "matchData") || !strcmp(key, "matchReturnArgs") ||
			    !strcmp(key, "matchCapabilities") || !strcmp(key, "matchCapabilityChanges") ||
			    !strcmp(key, "matchNamespaceChanges") || !strcmp(key, "matchReturnActions") ||
			    !strcmp(key, "matchWorkloads") || !strcmp(key, "macros"))
				perr(c, k, "selector filter '%s' cannot be mapped onto vigil events", key);
			else
				unknown_key(c, k, "selector", "matchArgs, matchBinaries, "
					    "matchParentBinaries, matchPIDs, matchNamespaces, "
					    "matchActions, label");
			bad = 1;
			continue;
		}
		if (v->type != YAML_SEQUENCE_NODE) {
			perr(c, v, "%s: expected a list", key);
			bad = 1;
			continue;
		}
		for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
			yaml_node_t *e = nd(c, *it);

			if (!strcmp(key, "matchArgs"))
				bad |= tp_match_arg(c, e, r, fn) < 0;
			else if (!strcmp(key, "matchBinaries"))
				bad |= tp_match_bin(c, e, &r->process, "matchBinaries") < 0;
			else if (!strcmp(key, "matchParentBinaries"))
				bad |= tp_match_bin(c, e, &r->parent, "matchParentBinaries") < 0;
			else if (!strcmp(key, "matchPIDs"))
				bad |= tp_match_pids(c, e, r) < 0;
			else
				bad |= tp_match_ns(c, e, r) < 0;
		}
	}
	return bad ? -1 : 0;
}

static void rule_add(struct policy *p, const struct pol_rule *r)
{
	p->rules = realloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
	if (!p->rules)
		abort();
	p->rules[p->nrules++] = *r;
}

/* One kprobe / lsmhook / tracepoint: a rule per selector. */
static int tp_hook(struct pctx *c, yaml_node_t *n, const char *section, struct policy *p,
		   struct pctx *lists)
{
	const char *type = !strcmp(section, "lsmhooks") ? "process_lsm" :
			   !strcmp(section, "tracepoints") ? "process_tracepoint" : "process_kprobe";
	yaml_node_t *k, *v, *call_n = NULL, *sel_n = NULL, *sub_n = NULL;
	const char *key, *call = NULL, *msg = NULL;
	char **tags = NULL, fnbuf[160];
	size_t ntags = 0;
	yaml_node_item_t *it;
	enum pol_kind kind;
	unsigned op;
	int bad = 0, b;

	(void)lists;
	if (want_map(c, n, section) < 0 || check_dups(c, n) < 0)
		return -1;
	c->tp_args = NULL;
	MAP_EACH(c, n, k, v, key) {
		if (!strcmp(key, "call") || !strcmp(key, "hook") || !strcmp(key, "event"))
			call_n = v;
		else if (!strcmp(key, "subsystem"))
			sub_n = v;
		else if (!strcmp(key, "selectors"))
			sel_n = v;
		else if (!strcmp(key, "args"))
			c->tp_args = v;
		else if (!strcmp(key, "message"))
			msg = want_str(c, v, "message");
		else if (!strcmp(key, "tags"))
			bad |= parse_tags(c, v, &tags, &ntags) < 0;
		else if (!strcmp(key, "syscall") || !strcmp(key, "return") || !strcmp(key, "raw")) {
			bad |= want_bool(c, v, key, &b) < 0;
		} else if (!strcmp(key, "returnArg") || !strcmp(key, "ignore"))
			;
		else if (!strcmp(key, "data") || !strcmp(key, "returnArgAction")) {
			perr(c, k, "'%s' cannot be mapped onto vigil events", key);
			bad = 1;
		} else {
			unknown_key(c, k, section, "call/hook/event, subsystem, args, selectors, "
						   "message, tags, syscall, return, returnArg, ignore");
			bad = 1;
		}
	}
	if (!call_n || !(call = want_str(c, call_n, "call"))) {
		if (!call_n)
			perr(c, n, "%s entry: missing '%s'", section,
			     !strcmp(section, "lsmhooks") ? "hook" :
			     !strcmp(section, "tracepoints") ? "event" : "call");
		return -1;
	}
	if (!strncmp(call, "list:", 5)) {
		perr(c, call_n, "call: 'list:' hooks cannot be mapped onto vigil events; write one "
				"entry per function");
		return -1;
	}
	if (pol_function_kind(call, strlen(call), &kind, &op) < 0) {
		perr(c, call_n, "hook '%s' cannot be mapped onto vigil events (mappable: LSM "
				"file_open, file_permission, bprm_check_security, socket_connect; "
				"kprobes security_file_open, security_file_permission, fd_install, "
				"tcp_connect, security_socket_connect, sys_setuid, commit_creds, "
				"sys_mount, ...; syscall tracepoints sys_enter_*)", call);
		return -1;
	}
	if (sub_n && sval(sub_n))
		snprintf(fnbuf, sizeof(fnbuf), "%s:%s", sval(sub_n), call);
	else
		snprintf(fnbuf, sizeof(fnbuf), "%s", call);
	if (!sel_n || (sel_n->type == YAML_SEQUENCE_NODE &&
		       sel_n->data.sequence.items.top == sel_n->data.sequence.items.start)) {
		struct pol_rule r;

		memset(&r, 0, sizeof(r));
		r.kind = kind;
		r.ops = op;
		r.line = (int)n->start_mark.line + 1;
		r.emit_type = type;
		r.emit_fn = strdup(fnbuf);
		r.message = msg ? strdup(msg) : NULL;
		rule_add(p, &r);
	} else if (sel_n->type != YAML_SEQUENCE_NODE) {
		perr(c, sel_n, "selectors: expected a list");
		bad = 1;
	} else
		for (it = sel_n->data.sequence.items.start; it < sel_n->data.sequence.items.top; it++) {
			struct pol_rule r;

			memset(&r, 0, sizeof(r));
			r.kind = kind;
			r.ops = op;
			r.line = (int)nd(c, *it)->start_mark.line + 1;
			r.emit_type = type;
			r.emit_fn = strdup(fnbuf);
			r.message = msg ? strdup(msg) : NULL;
			bad |= tp_selector(c, nd(c, *it), &r, call) < 0;
			if (r.act.set && r.act.kind == POL_ACT_NOTIFY && !r.act.url && !r.act.nopost)
				r.act.set = 0;
			rule_add(p, &r);
		}
	if (ntags) {
		size_t i, j;

		for (i = 0; i < p->nrules; i++)
			if (!p->rules[i].tags)
				for (j = 0; j < ntags; j++)
					p->rules[i].tags = strv_add(p->rules[i].tags, &p->rules[i].ntags,
								    tags[j]);
		for (j = 0; j < ntags; j++)
			free(tags[j]);
		free(tags);
	}
	return bad ? -1 : 0;
}

static int tp_options(struct pctx *c, yaml_node_t *n, struct policy *p)
{
	yaml_node_item_t *it;
	int bad = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		perr(c, n, "options: expected a list of {name, value}");
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = nd(c, *it), *k, *v, *name = NULL, *val = NULL;
		const char *key;

		if (want_map(c, e, "option") < 0) {
			bad = 1;
			continue;
		}
		MAP_EACH(c, e, k, v, key) {
			if (!strcmp(key, "name"))
				name = v;
			else if (!strcmp(key, "value"))
				val = v;
			else {
				unknown_key(c, k, "option", "name, value");
				bad = 1;
			}
		}
		if (name && sval(name) && !strcmp(sval(name), "policy-mode") && val)
			bad |= parse_mode(c, val, &p->enforce) < 0;
	}
	return bad ? -1 : 0;
}

static int parse_tetragon(struct pctx *c, yaml_node_t *root, struct policy *p, int namespaced)
{
	yaml_node_t *k, *v, *k2, *v2, *meta = NULL, *spec = NULL, *host_sel = NULL;
	const char *key, *key2, *ns = NULL;
	yaml_node_item_t *it;
	int bad = 0;

	MAP_EACH(c, root, k, v, key) {
		if (!strcmp(key, "metadata"))
			meta = v;
		else if (!strcmp(key, "spec"))
			spec = v;
		else if (strcmp(key, "apiVersion") && strcmp(key, "kind")) {
			unknown_key(c, k, p->origin, "apiVersion, kind, metadata, spec");
			bad = 1;
		}
	}
	if (!meta || want_map(c, meta, "metadata") < 0) {
		if (!meta)
			perr(c, root, "%s: missing 'metadata:'", p->origin);
		return -1;
	}
	MAP_EACH(c, meta, k, v, key) {
		if (!strcmp(key, "name")) {
			const char *s = want_str(c, v, "metadata.name");

			if (s && !valid_name(s)) {
				perr(c, v, "name: expected 1-48 characters of [A-Za-z0-9._-], got '%s'",
				     s);
				bad = 1;
			} else if (s)
				p->name = strdup(s);
			else
				bad = 1;
		} else if (!strcmp(key, "namespace"))
			ns = want_str(c, v, "metadata.namespace");
		else if (strcmp(key, "labels") && strcmp(key, "annotations")) {
			unknown_key(c, k, "metadata", "name, namespace, labels, annotations");
			bad = 1;
		}
	}
	if (!p->name) {
		if (!bad)
			perr(c, meta, "metadata: missing 'name:'");
		return -1;
	}
	if (!spec || want_map(c, spec, "spec") < 0) {
		if (!spec)
			perr(c, root, "%s: missing 'spec:'", p->origin);
		return -1;
	}
	if (check_dups(c, spec) < 0)
		return -1;
	p->enforce = 1;
	MAP_EACH(c, spec, k, v, key)
		if (!strcmp(key, "options"))
			bad |= tp_options(c, v, p) < 0;
	MAP_EACH(c, spec, k, v, key) {
		if (!strcmp(key, "kprobes") || !strcmp(key, "fentries") || !strcmp(key, "lsmhooks") ||
		    !strcmp(key, "tracepoints")) {
			if (v->type != YAML_SEQUENCE_NODE) {
				perr(c, v, "%s: expected a list", key);
				bad = 1;
				continue;
			}
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
				bad |= tp_hook(c, nd(c, *it), key, p, c) < 0;
		} else if (!strcmp(key, "podSelector")) {
			p->scope.set = 1;
			p->scope.pods = 1;
			bad |= parse_selector(c, v, &p->scope, "podSelector") < 0;
		} else if (!strcmp(key, "containerSelector")) {
			struct pol_scope tmp;
			size_t i, j;

			memset(&tmp, 0, sizeof(tmp));
			p->scope.set = 1;
			p->scope.pods = 1;
			if (parse_selector(c, v, &tmp, "containerSelector") < 0)
				bad = 1;
			for (i = 0; i < tmp.nlabels; i++) {
				if (strcmp(tmp.labels[i].key, "name") || tmp.labels[i].op > 1) {
					perr(c, v, "containerSelector: only the key 'name' with In/NotIn "
						   "(or matchLabels name) can be mapped");
					bad = 1;
				} else
					for (j = 0; j < tmp.labels[i].nvals; j++) {
						pol_sset_add(tmp.labels[i].op ?
							     &p->scope.containers.neg[POL_S_EQ] :
							     &p->scope.containers.pos[POL_S_EQ],
							     tmp.labels[i].vals[j], strlen(tmp.labels[i].vals[j]));
						if (tmp.labels[i].op)
							p->scope.containers.nneg++;
						else
							p->scope.containers.npos++;
					}
				free(tmp.labels[i].key);
				for (j = 0; j < tmp.labels[i].nvals; j++)
					free(tmp.labels[i].vals[j]);
				free(tmp.labels[i].vals);
			}
			free(tmp.labels);
		} else if (!strcmp(key, "hostSelector"))
			host_sel = v;
		else if (!strcmp(key, "nodeSelector") || !strcmp(key, "options"))
			;
		else if (!strcmp(key, "lists")) {
			if (v->type == YAML_SEQUENCE_NODE)
				for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
				     it++) {
					yaml_node_t *l = nd(c, *it), *vals = NULL;
					const char *lname = NULL;

					if (l->type != YAML_MAPPING_NODE)
						continue;
					MAP_EACH(c, l, k2, v2, key2) {
						if (!strcmp(key2, "name"))
							lname = sval(v2);
						else if (!strcmp(key2, "values"))
							vals = v2;
					}
					if (lname && vals) {
						c->lists = realloc(c->lists,
								   (c->nlists + 1) * sizeof(*c->lists));
						c->lists[c->nlists++] = (struct plist){ strdup(lname), vals };
					}
				}
		} else if (!strcmp(key, "uprobes") || !strcmp(key, "usdts") ||
			   !strcmp(key, "enforcers") || !strcmp(key, "selectorsMacros") ||
			   !strcmp(key, "loader")) {
			perr(c, k, "spec.%s cannot be mapped onto vigil events", key);
			bad = 1;
		} else {
			unknown_key(c, k, "spec", "kprobes, fentries, tracepoints, lsmhooks, podSelector, "
						  "containerSelector, hostSelector, nodeSelector, lists, "
						  "options");
			bad = 1;
		}
	}
	if (host_sel && !is_null(host_sel)) {
		if (namespaced) {
			perr(c, host_sel, "hostSelector must be null in a TracingPolicyNamespaced");
			bad = 1;
		} else {
			p->scope.set = 1;
			p->scope.host = 1;
		}
	} else if (p->scope.set)
		p->scope.host = 0;
	if (namespaced) {
		if (!ns) {
			perr(c, meta, "TracingPolicyNamespaced: missing 'metadata.namespace'");
			bad = 1;
		} else {
			p->scope.set = 1;
			p->scope.pods = 1;
			p->scope.host = 0;
			pol_sset_add(&p->scope.namespaces.pos[POL_S_EQ], ns, strlen(ns));
			p->scope.namespaces.npos++;
		}
	}
	p->scope.labels_simple = 1;
	for (size_t i = 0; i < p->scope.nlabels; i++)
		if (p->scope.labels[i].op != 0 || p->scope.labels[i].nvals != 1)
			p->scope.labels_simple = 0;
	if (!p->nrules && !bad) {
		perr(c, spec, "spec: no kprobes, lsmhooks or tracepoints");
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* ---- documents, files, directories --------------------------------------------- */

static void rule_free(struct pol_rule *r)
{
	size_t i;

	pol_strm_free(&r->function);
	pol_strm_free(&r->path);
	pol_strm_free(&r->process.binary);
	pol_strm_free(&r->process.arguments);
	pol_strm_free(&r->process.cwd);
	pol_strm_free(&r->parent.binary);
	pol_strm_free(&r->parent.arguments);
	pol_strm_free(&r->parent.cwd);
	pol_strm_free(&r->ancestors.binary);
	pol_strm_free(&r->ancestors.arguments);
	pol_strm_free(&r->ancestors.cwd);
	pol_strm_free(&r->process.caps);
	pol_strm_free(&r->parent.caps);
	pol_strm_free(&r->ancestors.caps);
	free(r->process.uid.in), free(r->process.uid.out), free(r->process.pid.in);
	free(r->process.pid.out), free(r->parent.uid.in), free(r->parent.uid.out);
	free(r->parent.pid.in), free(r->parent.pid.out), free(r->ancestors.uid.in);
	free(r->ancestors.uid.out), free(r->ancestors.pid.in), free(r->ancestors.pid.out);
	for (i = 0; i < r->address.nin; i++)
		free(r->address.in[i].text);
	for (i = 0; i < r->address.nout; i++)
		free(r->address.out[i].text);
	free(r->address.in), free(r->address.out);
	free(r->port.in), free(r->port.out), free(r->new_uid.in), free(r->new_uid.out);
	free(r->act.url), free(r->emit_fn), free(r->message);
	for (i = 0; i < r->ntags; i++)
		free(r->tags[i]);
	free(r->tags);
}

static void policy_free(struct policy *p)
{
	size_t i, j;

	if (!p)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	for (i = 0; i < p->ntags; i++)
		free(p->tags[i]);
	free(p->tags);
	pol_strm_free(&p->scope.namespaces);
	pol_strm_free(&p->scope.containers);
	pol_strm_free(&p->scope.images);
	pol_strm_free(&p->scope.pod_names);
	for (i = 0; i < p->scope.nlabels; i++) {
		free(p->scope.labels[i].key);
		for (j = 0; j < p->scope.labels[i].nvals; j++)
			free(p->scope.labels[i].vals[j]);
		free(p->scope.labels[i].vals);
	}
	free(p->scope.labels);
	free(p->name), free(p->description), free(p->file), free(p->message), free(p->act.url);
	free(p);
}

/* The kinds of p's rules, as a bit set, so a matcher skips a policy in one test. */
static unsigned policy_kinds(const struct policy *p)
{
	unsigned k = 0;
	size_t i;

	for (i = 0; i < p->nrules; i++)
		k |= 1u << p->rules[i].kind;
	return k;
}

struct policy_set *policy_set_new(void)
{
	struct policy_set *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	return s;
}

void policy_set_free(struct policy_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		policy_free(s->p[i]);
	free(s->p);
	for (i = 0; i < POL_K_N; i++)
		free(s->by_kind[i]);
	free(s);
}

void policy_set_index(struct policy_set *s)
{
	size_t k, i;

	for (k = 0; k < POL_K_N; k++) {
		free(s->by_kind[k]);
		s->by_kind[k] = calloc(s->n + 1, sizeof(*s->by_kind[k]));
		if (!s->by_kind[k])
			abort();
		s->n_by_kind[k] = 0;
		for (i = 0; i < s->n; i++) {
			/* computed here too: a policy may have been added without set_add */
			s->p[i]->kinds = policy_kinds(s->p[i]);
			if (s->p[i]->kinds & (1u << k))
				s->by_kind[k][s->n_by_kind[k]++] = i;
		}
	}
	s->indexed = s->n;
}

/* Add the path prefix p[0..n) to *pre (a set kept free of entries that contain one
 * another: the shorter covers the longer); 0, or -1 when it cannot serve as one. */
static int needs_prefix(const char *p, size_t n, char ***pre, size_t *npre)
{
	size_t i, j;
	char **v;

	if (n == 0 || p[0] != '/')
		return -1;
	if (n > POL_NEED_PREFIX_MAX)
		n = POL_NEED_PREFIX_MAX; /* a shorter prefix only sends more */
	for (i = 0; i < *npre; i++)
		if (strlen((*pre)[i]) <= n && !memcmp((*pre)[i], p, strlen((*pre)[i])))
			return 0;
	for (i = j = 0; i < *npre; i++) /* drop those the new one covers */
		if (strlen((*pre)[i]) > n && !memcmp((*pre)[i], p, n))
			free((*pre)[i]);
		else
			(*pre)[j++] = (*pre)[i];
	*npre = j;
	v = realloc(*pre, (*npre + 1) * sizeof(*v));
	if (!v || !(v[*npre] = strndup(p, n)))
		abort();
	*pre = v;
	(*npre)++;
	return 0;
}

/* The prefixes a file rule's path test limits it to; -1 when it may match any path. */
static int needs_rule_paths(const struct pol_rule *r, char ***pre, size_t *npre)
{
	const struct pol_strm *m = &r->path;
	size_t i;

	if (!m->npos || m->pos[POL_S_SUFFIX].n || m->pos[POL_S_CONTAINS].n)
		return -1;
	for (i = 0; i < m->pos[POL_S_EQ].n; i++)
		if (needs_prefix(m->pos[POL_S_EQ].v[i], m->pos[POL_S_EQ].len[i], pre, npre) < 0)
			return -1;
	for (i = 0; i < m->pos[POL_S_PREFIX].n; i++)
		if (needs_prefix(m->pos[POL_S_PREFIX].v[i], m->pos[POL_S_PREFIX].len[i], pre,
				 npre) < 0)
			return -1;
	for (i = 0; i < m->pos[POL_S_GLOB].n; i++) /* up to its first special character */
		if (needs_prefix(m->pos[POL_S_GLOB].v[i], m->pos[POL_S_GLOB].glit[i], pre, npre) <
		    0)
			return -1;
	return 0;
}

unsigned policy_set_needs(const struct policy_set *s, char ***pre, size_t *npre)
{
	unsigned need = 0;
	size_t i, r;

	*pre = NULL;
	*npre = 0;
	for (i = 0; i < s->n; i++)
		for (r = 0; r < s->p[i]->nrules; r++) {
			const struct pol_rule *rule = &s->p[i]->rules[r];

			switch (rule->kind) {
			case POL_K_EXEC:
			case POL_K_EXIT:
				break;
			case POL_K_FILE:
				need |= POL_NEED_FILE;
				if (needs_rule_paths(rule, pre, npre) == 0)
					break;
				/* any path: for which operations (opens are the many) */
				if (rule->ops && !(rule->ops & POL_OP_OPEN)) {
					need |= POL_NEED_ALL_PATHOPS;
				} else if (rule->access && !(rule->access & POL_A_READ)) {
					need |= POL_NEED_ALL_WRITES; /* opens for writing only */
					if (rule->ops != POL_OP_OPEN)
						need |= POL_NEED_ALL_PATHOPS;
				} else {
					need |= POL_NEED_ALL_PATHS;
				}
				break;
			case POL_K_NETWORK:
				need |= POL_NEED_NET;
				break;
			default:
				need |= POL_NEED_PRIV;
			}
		}
	if ((need & POL_NEED_ALL_PATHS) || *npre > POL_NEED_PREFIXES_MAX) {
		need |= POL_NEED_ALL_PATHS;
		for (i = 0; i < *npre; i++)
			free((*pre)[i]);
		free(*pre);
		*pre = NULL;
		*npre = 0;
	}
	return need;
}

const size_t *policy_set_candidates(const struct policy_set *s, enum pol_kind k, size_t *n)
{
	if (s->indexed == s->n && s->n && (unsigned)k < POL_K_N) {
		*n = s->n_by_kind[k];
		return s->by_kind[k];
	}
	*n = s->n;
	return NULL;
}

void policy_errs_free(struct policy_errs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

static const struct policy *set_find(const struct policy_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->p[i]->name, name))
			return s->p[i];
	return NULL;
}

/* One YAML document → one policy (NULL on error, errors recorded). */
static struct policy *parse_doc(struct pctx *c, yaml_node_t *root)
{
	struct policy *p = calloc(1, sizeof(*p));
	yaml_node_t *k, *v, *kind_n = NULL;
	const char *key, *kind = "VigilPolicy";
	int r;
	size_t i;

	if (!p)
		abort();
	p->file = strdup(c->file);
	p->line = (int)root->start_mark.line + 1;
	p->origin = "VigilPolicy";
	if (want_map(c, root, "policy") < 0 || check_dups(c, root) < 0) {
		policy_free(p);
		return NULL;
	}
	MAP_EACH(c, root, k, v, key)
		if (!strcmp(key, "kind"))
			kind_n = v;
	if (kind_n && !(kind = want_str(c, kind_n, "kind"))) {
		policy_free(p);
		return NULL;
	}
	if (!strcmp(kind, "VigilPolicy")) {
		r = parse_vigil(c, root, p);
	} else if (!strcmp(kind, "TracingPolicy") || !strcmp(kind, "TracingPolicyNamespaced")) {
		p->origin = !strcmp(kind, "TracingPolicy") ? "TracingPolicy" : "TracingPolicyNamespaced";
		r = parse_tetragon(c, root, p, kind[13] == 'N');
	} else {
		perr(c, kind_n, "kind: expected VigilPolicy, TracingPolicy or TracingPolicyNamespaced, "
				"got '%s'", kind);
		r = -1;
	}
	for (i = 0; i < c->nlists; i++)
		free(c->lists[i].name);
	free(c->lists);
	c->lists = NULL;
	c->nlists = 0;
	if (r < 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

static void set_add(struct policy_set *s, struct policy *p)
{
	p->kinds = policy_kinds(p);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->p = realloc(s->p, s->cap * sizeof(*s->p));
		if (!s->p)
			abort();
	}
	s->p[s->n++] = p;
}

int policy_parse_buf(struct policy_set *s, const char *name, const char *buf, size_t len,
		     struct policy_errs *errs)
{
	struct pctx c = { .file = name, .errs = errs };
	struct policy **got = NULL;
	size_t ngot = 0, i;
	yaml_parser_t ps;
	yaml_document_t doc;
	int done = 0;

	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
	while (!done) {
		yaml_node_t *root;

		if (!yaml_parser_load(&ps, &doc)) {
			char *m = NULL;

			if (asprintf(&m, "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
				     ps.problem_mark.line + 1, ps.problem_mark.column + 1,
				     ps.problem ? ps.problem : "unknown", ps.context ? " " : "",
				     ps.context ? ps.context : "") < 0)
				abort();
			errs_add(errs, m);
			c.nerr++;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root)
			done = 1;
		else if (!(root->type == YAML_SCALAR_NODE && is_null(root))) {
			struct policy *p;

			c.doc = &doc;
			p = parse_doc(&c, root);
			if (p) {
				if (set_find(s, p->name)) {
					perr(&c, root, "policy name '%s' is already used by %s:%d", p->name,
					     set_find(s, p->name)->file, set_find(s, p->name)->line);
					policy_free(p);
				} else {
					for (i = 0; i < ngot && strcmp(got[i]->name, p->name); i++)
						;
					if (i < ngot) {
						perr(&c, root, "policy name '%s' is used twice in this file",
						     p->name);
						policy_free(p);
					} else {
						got = realloc(got, (ngot + 1) * sizeof(*got));
						got[ngot++] = p;
					}
				}
			}
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&ps);
	for (i = 0; i < ngot; i++) {
		if (c.nerr)
			policy_free(got[i]);
		else
			set_add(s, got[i]);
	}
	free(got);
	return c.nerr;
}

int policy_parse_file(struct policy_set *s, const char *path, struct policy_errs *errs)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *m = NULL;
	size_t len = 0, cap = 0, n;
	int r;

	if (!f) {
		if (asprintf(&m, "%s: cannot open: %s", path, strerror(errno)) < 0)
			abort();
		errs_add(errs, m);
		return 1;
	}
	do {
		if (len + 65536 > cap && !(buf = realloc(buf, cap = cap * 2 + 65536)))
			abort();
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0 && len < (64u << 20));
	fclose(f);
	r = policy_parse_buf(s, path, buf ? buf : "", len, errs);
	free(buf);
	return r;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
}

int policy_load_path(struct policy_set *s, const char *path, struct policy_errs *errs)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	int nerr = 0;
	DIR *d;

	if (stat(path, &st) < 0) {
		char *m = NULL;

		if (errno == ENOENT)
			return 0;
		if (asprintf(&m, "%s: %s", path, strerror(errno)) < 0)
			abort();
		errs_add(errs, m);
		return 1;
	}
	if (mtime_ns(&st) > s->generation)
		s->generation = mtime_ns(&st);
	if (!S_ISDIR(st.st_mode))
		return policy_parse_file(s, path, errs);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue; /* editors' temporaries and our own atomic renames */
		if ((l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
		    (l > 4 && !strcmp(de->d_name + l - 4, ".yml"))) {
			names = realloc(names, (n + 1) * sizeof(*names));
			if (asprintf(&names[n++], "%s/%s", path, de->d_name) < 0)
				abort();
		}
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_strp);
	for (i = 0; i < n; i++) {
		if (stat(names[i], &st) == 0 && mtime_ns(&st) > s->generation)
			s->generation = mtime_ns(&st);
		nerr += policy_parse_file(s, names[i], errs);
		free(names[i]);
	}
	free(names);
	return nerr;
}
