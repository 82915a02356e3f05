/* exporter_fields: field filters on msgpack events; see exporter_fields.h. */
#include "exporter_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XFF_MAX 64 /* filters per request or flag */

/* One level of a filter's path tree. */
struct xff_node {
	char *name;
	struct xff_node *kids;
	size_t n;
	int leaf; /* the path ends here: the whole subtree */
};

struct xff {
	int *types;
	size_t n_types;
	int invert, include;
	struct xff_node root;
};

struct xfields {
	struct xff *f;
	size_t n;
};

/* The child of node called s[0..len), created if asked. */
static struct xff_node *xff_child(struct xff_node *node, const char *s, size_t len, int create)
{
	for (size_t i = 0; i < node->n; i++)
		if (strlen(node->kids[i].name) == len && memcmp(node->kids[i].name, s, len) == 0)
			return &node->kids[i];
	if (!create)
		return NULL;
	node->kids = realloc(node->kids, (node->n + 1) * sizeof(*node->kids));
	if (!node->kids)
		abort();
	node->kids[node->n] = (struct xff_node){strndup(s, len), NULL, 0, 0};
	return &node->kids[node->n++];
}

/* Add one dotted path. -1 on an empty component. */
static int xff_add(struct xff_node *root, const char *path)
{
	struct xff_node *n = root;
	const char *p = path;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (!len)
			return -1;
		n = xff_child(n, p, len, 1);
		if (!dot)
			break;
		p = dot + 1;
	}
	n->leaf = 1;
	return 0;
}

static void xff_node_free(struct xff_node *n)
{
	for (size_t i = 0; i < n->n; i++) {
		xff_node_free(&n->kids[i]);
		free(n->kids[i].name);
	}
	free(n->kids);
}

void xfields_free(struct xfields *xf)
{
	if (!xf)
		return;
	for (size_t i = 0; i < xf->n; i++) {
		free(xf->f[i].types);
		xff_node_free(&xf->f[i].root);
	}
	free(xf->f);
	free(xf);
}

struct xfields *xfields_compile(Tetragon__FieldFilter *const *ff, size_t n, char *err,
				size_t errlen)
{
	struct xfields *xf;

	err[0] = 0;
	if (!n)
		return NULL;
	if (n > XFF_MAX) {
		snprintf(err, errlen, "field_filters: at most %d filters", XFF_MAX);
		return NULL;
	}
	xf = calloc(1, sizeof(*xf));
	if (!xf || !(xf->f = calloc(n, sizeof(*xf->f))))
		abort();
	xf->n = n;
	for (size_t i = 0; i < n; i++) {
		struct xff *f = &xf->f[i];
		const Tetragon__FieldFilter *s = ff[i];
		if (s->action != TETRAGON__FIELD_FILTER_ACTION__INCLUDE &&
		    s->action != TETRAGON__FIELD_FILTER_ACTION__EXCLUDE) {
			snprintf(err, errlen, "field_filters[%zu]: unknown action %d", i, (int)s->action);
			goto bad;
		}
		f->include = s->action == TETRAGON__FIELD_FILTER_ACTION__INCLUDE;
		f->invert = s->invert_event_set && s->invert_event_set->value;
		f->types = malloc((s->n_event_set + 1) * sizeof(int));
		if (!f->types)
			abort();
		for (size_t k = 0; k < s->n_event_set; k++)
			f->types[k] = (int)s->event_set[k];
		f->n_types = s->n_event_set;
		for (size_t k = 0; s->fields && k < s->fields->n_paths; k++)
			if (xff_add(&f->root, s->fields->paths[k]) < 0) {
				snprintf(err, errlen, "field_filters[%zu]: bad path \"%s\"", i,
					 s->fields->paths[k]);
				goto bad;
			}
	}
	return xf;
bad:
	xfields_free(xf);
	return NULL;
}

/* Does filter f apply to events of this type? */
static int xff_applies(const struct xff *f, int type)
{
	int in = 0;

	if (!f->n_types)
		return 1;
	for (size_t i = 0; i < f->n_types; i++)
		in |= f->types[i] == type;
	return f->invert ? !in : in;
}

/* Is kv->key a response-level field that filters never touch? */
static int xff_lifted(const msgpack_object *k)
{
	static const char *const names[] = {"node_name", "time", "cluster_name", "node_labels"};

	if (k->type != MSGPACK_OBJECT_STR)
		return 0;
	for (size_t i = 0; i < 4; i++)
		if (k->via.str.size == strlen(names[i]) &&
		    memcmp(k->via.str.ptr, names[i], k->via.str.size) == 0)
			return 1;
	return 0;
}

/* Copy map keeping (include) or dropping (!include) what the nodes name.
 * top: the event level, where lifted keys are always kept. Returns 0 and an
 * empty map when nothing is left (include) . */
static void xff_walk(const msgpack_object *map, struct xff_node *const *nodes, size_t nn,
		     int include, int top, msgpack_zone *z, msgpack_object *out)
{
	uint32_t n = map->via.map.size, k = 0;
	msgpack_object_kv *kv = msgpack_zone_malloc(z, sizeof(*kv) * (n ? n : 1));

	if (!kv)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object_kv *in = &map->via.map.ptr[i];
		struct xff_node *sub[XFF_MAX];
		size_t ns = 0;
		int leaf = 0;
		if (top && xff_lifted(&in->key)) {
			kv[k++] = *in;
			continue;
		}
		if (in->key.type == MSGPACK_OBJECT_STR)
			for (size_t j = 0; j < nn; j++) {
				struct xff_node *c = xff_child(nodes[j], in->key.via.str.ptr,
							       in->key.via.str.size, 0);
				if (c) {
					leaf |= c->leaf;
					sub[ns++] = c;
				}
			}
		if (include) {
			if (leaf) {
				kv[k++] = *in;
			} else if (ns && in->val.type == MSGPACK_OBJECT_MAP) {
				msgpack_object v;
				xff_walk(&in->val, sub, ns, 1, 0, z, &v);
				if (v.via.map.size) { /* an emptied message is left out, like protojson */
					kv[k].key = in->key;
					kv[k++].val = v;
				}
			}
		} else {
			if (leaf)
				continue;
			if (ns && in->val.type == MSGPACK_OBJECT_MAP) {
				kv[k].key = in->key;
				xff_walk(&in->val, sub, ns, 0, 0, z, &kv[k].val);
				k++;
			} else
				kv[k++] = *in;
		}
	}
	out->type = MSGPACK_OBJECT_MAP;
	out->via.map.size = k;
	out->via.map.ptr = kv;
}

const msgpack_object *xfields_apply(const struct xfields *xf, int type, const msgpack_object *ev,
				    msgpack_zone *z)
{
	struct xff_node *inc[XFF_MAX], *exc[XFF_MAX];
	size_t ni = 0, ne = 0;
	const msgpack_object *cur = ev;
	msgpack_object *out;

	if (!xf || ev->type != MSGPACK_OBJECT_MAP)
		return ev;
	for (size_t i = 0; i < xf->n; i++) {
		if (!xff_applies(&xf->f[i], type))
			continue;
		if (xf->f[i].include)
			inc[ni++] = &xf->f[i].root;
		else
			exc[ne++] = &xf->f[i].root;
	}
	if (ni) {
		out = msgpack_zone_malloc(z, sizeof(*out));
		if (!out)
			abort();
		xff_walk(cur, inc, ni, 1, 1, z, out);
		cur = out;
	}
	if (ne) {
		out = msgpack_zone_malloc(z, sizeof(*out));
		if (!out)
			abort();
		xff_walk(cur, exc, ne, 0, 1, z, out);
		cur = out;
	}
	return cur;
}
