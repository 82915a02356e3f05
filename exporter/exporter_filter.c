/* exporter_filter: GetEvents allow/deny filters; see exporter_filter.h. */
#include "exporter_filter.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct xre_list {
	size_t n;
	regex_t *re;
};

enum { XL_EQ, XL_NE, XL_EXISTS, XL_NOT_EXISTS, XL_IN, XL_NOT_IN };

struct xlabel_req {
	char *key;
	int op;
	char **vals;
	size_t nvals;
};

struct xselector {
	struct xlabel_req *req;
	size_t n;
};

struct xone {
	struct xre_list bin, pod, args, pbin, pargs, cid, nsre, cname, anc;
	char **ns;
	size_t n_ns;
	uint32_t *pid;
	size_t n_pid;
	int *types;
	size_t n_types;
	char **pol;
	size_t n_pol;
	struct xselector *sel;
	size_t n_sel;
	int health_check, in_init_tree; /* -1: not set */
};

struct xfilter {
	struct xone *allow, *deny;
	size_t n_allow, n_deny;
};

/* Refuse RE2 syntax that POSIX ERE would read differently or not at all. */
static const char *xf_re2_only(const char *re)
{
	static const char *const bad[] = {"\\d", "\\D", "(?", "*?", "+?", "}?", "\\A", "\\z",
					  "\\pL", "\\p{", NULL};
	for (int i = 0; bad[i]; i++)
		if (strstr(re, bad[i]))
			return bad[i];
	return NULL;
}

/* Compile a list of regexes. 0, or -1 with err set. */
static int xf_re(struct xre_list *l, char **src, size_t n, const char *field, char *err,
		 size_t errlen)
{
	l->re = calloc(n ? n : 1, sizeof(regex_t));
	if (!l->re)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *bad = xf_re2_only(src[i]);
		int r;
		if (bad) {
			snprintf(err, errlen, "%s %s: RE2-only syntax \"%s\" is not supported "
				 "(vigil uses POSIX extended regexes)", field, src[i], bad);
			return -1;
		}
		r = regcomp(&l->re[i], src[i], REG_EXTENDED | REG_NOSUB);
		if (r) {
			char m[128];
			regerror(r, &l->re[i], m, sizeof(m));
			snprintf(err, errlen, "%s %s: %s", field, src[i], m);
			return -1;
		}
		l->n = i + 1;
	}
	return 0;
}

static void xf_re_free(struct xre_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		regfree(&l->re[i]);
	free(l->re);
}

/* A copy of n strings. */
static char **xf_strs(char **src, size_t n)
{
	char **d = calloc(n ? n : 1, sizeof(char *));
	if (!d)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!(d[i] = strdup(src[i])))
			abort();
	return d;
}

/* Trimmed copy of s[0..n). */
static char *xf_trim(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strndup(s, n);
}

/* Parse one k8s label selector ("a=b,c in (d,e),!f"). 0, or -1 with err. */
static int xf_selector(struct xselector *sel, const char *s, char *err, size_t errlen)
{
	const char *p = s;

	while (*p) {
		const char *end = p;
		int depth = 0;
		while (*end && (depth || *end != ',')) {
			depth += *end == '(';
			depth -= *end == ')';
			end++;
		}
		char *term = xf_trim(p, (size_t)(end - p));
		struct xlabel_req r = {0};
		char *op;
		if (!*term) {
			free(term);
			snprintf(err, errlen, "labels %s: empty requirement", s);
			return -1;
		}
		if ((op = strstr(term, " notin ")) || (op = strstr(term, " in "))) {
			int notin = op[1] == 'n';
			char *lp = strchr(op, '('), *rp = strrchr(op, ')');
			r.key = xf_trim(term, (size_t)(op - term));
			r.op = notin ? XL_NOT_IN : XL_IN;
			if (!lp || !rp || rp < lp) {
				snprintf(err, errlen, "labels %s: expected (values)", s);
				free(term);
				free(r.key);
				return -1;
			}
			for (char *v = lp + 1; v < rp;) {
				char *c = memchr(v, ',', (size_t)(rp - v));
				if (!c)
					c = rp;
				r.vals = realloc(r.vals, (r.nvals + 1) * sizeof(char *));
				r.vals[r.nvals++] = xf_trim(v, (size_t)(c - v));
				v = c + 1;
			}
		} else if ((op = strstr(term, "!="))) {
			r.key = xf_trim(term, (size_t)(op - term));
			r.op = XL_NE;
			r.vals = malloc(sizeof(char *));
			r.vals[0] = xf_trim(op + 2, strlen(op + 2));
			r.nvals = 1;
		} else if ((op = strchr(term, '='))) {
			r.key = xf_trim(term, (size_t)(op - term));
			r.op = XL_EQ;
			op += op[1] == '=' ? 2 : 1;
			r.vals = malloc(sizeof(char *));
			r.vals[0] = xf_trim(op, strlen(op));
			r.nvals = 1;
		} else if (term[0] == '!') {
			r.key = xf_trim(term + 1, strlen(term + 1));
			r.op = XL_NOT_EXISTS;
		} else {
			r.key = strdup(term);
			r.op = XL_EXISTS;
		}
		free(term);
		sel->req = realloc(sel->req, (sel->n + 1) * sizeof(*sel->req));
		sel->req[sel->n++] = r;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Compile one Filter. 0, or -1 with err. */
static int xf_one(struct xone *o, const Tetragon__Filter *f, char *err, size_t errlen)
{
	o->health_check = f->health_check ? f->health_check->value : -1;
	o->in_init_tree = f->in_init_tree ? f->in_init_tree->value : -1;
	if (f->n_pid_set || f->capabilities || f->n_cel_expression) {
		snprintf(err, errlen, "filter field %s is not supported by vigil",
			 f->n_pid_set ? "pid_set" : f->capabilities ? "capabilities" : "cel_expression");
		return -1;
	}
	if (xf_re(&o->bin, f->binary_regex, f->n_binary_regex, "binary_regex", err, errlen) ||
	    xf_re(&o->pod, f->pod_regex, f->n_pod_regex, "pod_regex", err, errlen) ||
	    xf_re(&o->args, f->arguments_regex, f->n_arguments_regex, "arguments_regex", err, errlen) ||
	    xf_re(&o->pbin, f->parent_binary_regex, f->n_parent_binary_regex,
		  "parent_binary_regex", err, errlen) ||
	    xf_re(&o->pargs, f->parent_arguments_regex, f->n_parent_arguments_regex,
		  "parent_arguments_regex", err, errlen) ||
	    xf_re(&o->cid, f->container_id, f->n_container_id, "container_id", err, errlen) ||
	    xf_re(&o->nsre, f->namespace_regex, f->n_namespace_regex, "namespace_regex", err,
		  errlen) ||
	    xf_re(&o->cname, f->container_name_regex, f->n_container_name_regex,
		  "container_name_regex", err, errlen) ||
	    xf_re(&o->anc, f->ancestor_binary_regex, f->n_ancestor_binary_regex,
		  "ancestor_binary_regex", err, errlen))
		return -1;
	o->ns = xf_strs(f->namespace_, f->n_namespace_);
	o->n_ns = f->n_namespace_;
	o->pol = xf_strs(f->policy_names, f->n_policy_names);
	o->n_pol = f->n_policy_names;
	o->pid = malloc((f->n_pid ? f->n_pid : 1) * sizeof(uint32_t));
	memcpy(o->pid, f->pid, f->n_pid * sizeof(uint32_t));
	o->n_pid = f->n_pid;
	o->types = malloc((f->n_event_set ? f->n_event_set : 1) * sizeof(int));
	for (size_t i = 0; i < f->n_event_set; i++)
		o->types[i] = (int)f->event_set[i];
	o->n_types = f->n_event_set;
	o->sel = calloc(f->n_labels ? f->n_labels : 1, sizeof(*o->sel));
	for (size_t i = 0; i < f->n_labels; i++) {
		o->n_sel = i + 1;
		if (xf_selector(&o->sel[i], f->labels[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void xf_one_free(struct xone *o)
{
	struct xre_list *res[] = {&o->bin, &o->pod, &o->args, &o->pbin, &o->pargs,
				  &o->cid, &o->nsre, &o->cname, &o->anc};
	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++)
		xf_re_free(res[i]);
	for (size_t i = 0; i < o->n_ns; i++)
		free(o->ns[i]);
	for (size_t i = 0; i < o->n_pol; i++)
		free(o->pol[i]);
	for (size_t i = 0; i < o->n_sel; i++) {
		for (size_t j = 0; j < o->sel[i].n; j++) {
			struct xlabel_req *r = &o->sel[i].req[j];
			for (size_t k = 0; k < r->nvals; k++)
				free(r->vals[k]);
			free(r->vals);
			free(r->key);
		}
		free(o->sel[i].req);
	}
	free(o->ns);
	free(o->pol);
	free(o->pid);
	free(o->types);
	free(o->sel);
}

struct xfilter *xfilter_compile(const Tetragon__GetEventsRequest *req, char *err, size_t errlen)
{
	struct xfilter *xf = calloc(1, sizeof(*xf));

	if (!xf)
		abort();
	xf->allow = calloc(req->n_allow_list + 1, sizeof(struct xone));
	xf->deny = calloc(req->n_deny_list + 1, sizeof(struct xone));
	for (size_t i = 0; i < req->n_allow_list; i++) {
		xf->n_allow = i + 1;
		if (xf_one(&xf->allow[i], req->allow_list[i], err, errlen) < 0)
			goto bad;
	}
	for (size_t i = 0; i < req->n_deny_list; i++) {
		xf->n_deny = i + 1;
		if (xf_one(&xf->deny[i], req->deny_list[i], err, errlen) < 0)
			goto bad;
	}
	return xf;
bad:
	xfilter_free(xf);
	return NULL;
}

void xfilter_free(struct xfilter *xf)
{
	if (!xf)
		return;
	for (size_t i = 0; i < xf->n_allow; i++)
		xf_one_free(&xf->allow[i]);
	for (size_t i = 0; i < xf->n_deny; i++)
		xf_one_free(&xf->deny[i]);
	free(xf->allow);
	free(xf->deny);
	free(xf);
}

/* A submap, or NULL. */
static const msgpack_object *xf_map(const msgpack_object *m, const char *key)
{
	const msgpack_object *o = m ? wire_get(m, key) : NULL;
	return o && o->type == MSGPACK_OBJECT_MAP ? o : NULL;
}

/* A string member: 1 with p/len set, else 0. */
static int xf_str(const msgpack_object *m, const char *key, const char **p, size_t *len)
{
	return m && wire_get_str(m, key, p, len) == 0;
}

/* Does any regex of l match s[0..n)? (an empty list matches everything) */
static int xf_re_match(const struct xre_list *l, const char *s, size_t n, int present)
{
	if (!l->n)
		return 1;
	if (!present)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		regmatch_t pm = {.rm_so = 0, .rm_eo = (regoff_t)n};
		if (regexec(&l->re[i], s, 1, &pm, REG_STARTEND) == 0)
			return 1;
	}
	return 0;
}

/* Regex list on a string member of map m. */
static int xf_re_field(const struct xre_list *l, const msgpack_object *m, const char *key)
{
	const char *p = "";
	size_t n = 0;
	int have;

	if (!l->n)
		return 1;
	have = xf_str(m, key, &p, &n);
	return xf_re_match(l, p, n, have);
}

/* A bool member as 0/1, -1 when absent. */
static int xf_bool(const msgpack_object *m, const char *key)
{
	const msgpack_object *o = m ? wire_get(m, key) : NULL;
	if (!o)
		return -1;
	if (o->type == MSGPACK_OBJECT_BOOLEAN)
		return o->via.boolean;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64 != 0;
	return -1;
}

/* Does the pod-labels map satisfy one selector? */
static int xf_sel_match(const struct xselector *s, const msgpack_object *labels)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct xlabel_req *r = &s->req[i];
		const char *v = NULL;
		size_t vn = 0;
		int have = xf_str(labels, r->key, &v, &vn), in = 0;
		for (size_t k = 0; have && k < r->nvals; k++)
			in |= strlen(r->vals[k]) == vn && memcmp(r->vals[k], v, vn) == 0;
		switch (r->op) {
		case XL_EQ:
		case XL_IN:
			if (!in)
				return 0;
			break;
		case XL_NE:
		case XL_NOT_IN:
			if (in)
				return 0;
			break;
		case XL_EXISTS:
			if (!have)
				return 0;
			break;
		case XL_NOT_EXISTS:
			if (have)
				return 0;
			break;
		}
	}
	return 1;
}

/* Does the event match one Filter (all set fields)? */
static int xf_one_match(const struct xone *o, int type, const msgpack_object *ev)
{
	const msgpack_object *proc = xf_map(ev, "process"), *parent = xf_map(ev, "parent");
	const msgpack_object *pod = xf_map(proc, "pod");
	const char *p;
	size_t n;

	if (o->n_types) {
		int in = 0;
		for (size_t i = 0; i < o->n_types; i++)
			in |= o->types[i] == type;
		if (!in)
			return 0;
	}
	if (o->n_pid) {
		uint64_t pid;
		int in = 0;
		if (!proc || wire_get_u64(proc, "pid", &pid) < 0)
			return 0;
		for (size_t i = 0; i < o->n_pid; i++)
			in |= o->pid[i] == pid;
		if (!in)
			return 0;
	}
	if (o->n_ns) {
		int in = 0;
		if (!xf_str(pod, "namespace", &p, &n))
			p = "", n = 0;
		for (size_t i = 0; i < o->n_ns; i++)
			in |= strlen(o->ns[i]) == n && memcmp(o->ns[i], p, n) == 0;
		if (!in)
			return 0;
	}
	if (o->n_pol) {
		int in = 0;
		if (!xf_str(ev, "policy_name", &p, &n))
			return 0;
		for (size_t i = 0; i < o->n_pol; i++)
			in |= strlen(o->pol[i]) == n && memcmp(o->pol[i], p, n) == 0;
		if (!in)
			return 0;
	}
	if (!xf_re_field(&o->bin, proc, "binary") || !xf_re_field(&o->pod, pod, "name") ||
	    !xf_re_field(&o->pbin, parent, "binary") || !xf_re_field(&o->cid, proc, "docker") ||
	    !xf_re_field(&o->nsre, pod, "namespace") ||
	    !xf_re_field(&o->cname, xf_map(pod, "container"), "name"))
		return 0;
	/* an absent arguments field is the empty string, as in Tetragon */
	if (o->args.n) {
		if (!xf_str(proc, "arguments", &p, &n))
			p = "", n = 0;
		if (!xf_re_match(&o->args, p, n, 1))
			return 0;
	}
	if (o->pargs.n) {
		if (!parent)
			return 0;
		if (!xf_str(parent, "arguments", &p, &n))
			p = "", n = 0;
		if (!xf_re_match(&o->pargs, p, n, 1))
			return 0;
	}
	if (o->n_sel) {
		const msgpack_object *labels = xf_map(pod, "pod_labels");
		int any = 0;
		if (!pod) /* labels never match host processes */
			return 0;
		for (size_t i = 0; i < o->n_sel && !any; i++)
			any = xf_sel_match(&o->sel[i], labels);
		if (!any)
			return 0;
	}
	if (o->health_check >= 0 &&
	    (xf_bool(xf_map(pod, "container"), "maybe_exec_probe") == 1) != o->health_check)
		return 0;
	if (o->in_init_tree >= 0 && (xf_bool(proc, "in_init_tree") == 1) != o->in_init_tree)
		return 0;
	if (o->anc.n) {
		const msgpack_object *a = ev ? wire_get(ev, "ancestors") : NULL;
		int any = 0;
		if (!a || a->type != MSGPACK_OBJECT_ARRAY)
			return 0;
		for (uint32_t i = 0; i < a->via.array.size && !any; i++)
			if (a->via.array.ptr[i].type == MSGPACK_OBJECT_MAP)
				any = xf_re_field(&o->anc, &a->via.array.ptr[i], "binary");
		if (!any)
			return 0;
	}
	return 1;
}

int xfilter_match(const struct xfilter *xf, int type, const msgpack_object *ev)
{
	int ok = xf->n_allow == 0;

	for (size_t i = 0; i < xf->n_allow && !ok; i++)
		ok = xf_one_match(&xf->allow[i], type, ev);
	for (size_t i = 0; i < xf->n_deny && ok; i++)
		ok = !xf_one_match(&xf->deny[i], type, ev);
	return ok;
}
