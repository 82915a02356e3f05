/* policytest.h — the harness shared by the policy unit tests: CHECK, JSON-written events
 * converted to msgpack (through libyaml: YAML flow style is a superset of JSON), and
 * loading a policy from a string. Included by one test file each: everything static. */
#ifndef VIGIL_POLICYTEST_H
#define VIGIL_POLICYTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy.h"
#include "wire.h"

#include "check.h"

/* ---- JSON → msgpack (JSON is YAML flow syntax) ---------------------------- */

static void pack(yaml_document_t *d, yaml_node_t *n, msgpack_packer *pk)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *p;
	char *end;
	long long v;

	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;

		v = strtoll(s, &end, 10);
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && *s && !*end)
			msgpack_pack_int64(pk, v);
		else
			msgpack_pack_str_with_body(pk, s, strlen(s));
		break;
	}
	case YAML_SEQUENCE_NODE:
		msgpack_pack_array(pk, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start));
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			pack(d, yaml_document_get_node(d, *it), pk);
		break;
	case YAML_MAPPING_NODE:
		msgpack_pack_map(pk, (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start));
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			pack(d, yaml_document_get_node(d, p->key), pk);
			pack(d, yaml_document_get_node(d, p->value), pk);
		}
		break;
	default:
		break;
	}
}

struct jev {
	msgpack_sbuffer sb;
	msgpack_unpacked up;
};

static const msgpack_object *jev(struct jev *j, const char *json)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	msgpack_packer pk;
	size_t off = 0;

	msgpack_sbuffer_init(&j->sb);
	msgpack_packer_init(&pk, &j->sb, msgpack_sbuffer_write);
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)json, strlen(json));
	if (!yaml_parser_load(&ps, &doc) || !yaml_document_get_root_node(&doc)) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		exit(2);
	}
	pack(&doc, yaml_document_get_root_node(&doc), &pk);
	yaml_document_delete(&doc);
	yaml_parser_delete(&ps);
	msgpack_unpacked_init(&j->up);
	msgpack_unpack_next(&j->up, j->sb.data, j->sb.size, &off);
	return &j->up.data;
}

static void jev_free(struct jev *j)
{
	msgpack_unpacked_destroy(&j->up);
	msgpack_sbuffer_destroy(&j->sb);
}

/* Does policy set s (one policy) match the event? Returns the rule index or -1. */
static int match(struct policy_set *s, const char *type, const char *json)
{
	struct jev j;
	struct pol_ev e;
	int r = -1;

	if (policy_event(&e, type, jev(&j, json)) == 0)
		r = policy_match(s->p[0], &e);
	jev_free(&j);
	return r;
}

static struct policy_set *load(const char *yaml)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs e = { 0 };
	size_t i;

	if (policy_parse_buf(s, "t.yaml", yaml, strlen(yaml), &e)) {
		for (i = 0; i < e.n; i++)
			fprintf(stderr, "  %s\n", e.msg[i]);
		CHECK(0, "policy did not parse");
	}
	policy_errs_free(&e);
	return s;
}

#endif
