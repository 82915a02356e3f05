/* test_policy_library — the matcher on events as vigil's collector really shapes them
 * (docs/wire.d/collector.md: labelled int and string args after the file) and the
 * process capabilities matcher. Also loads the shipped library (policies/) without
 * error. Events are written as JSON and converted to msgpack here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy.h"
#include "wire.h"

static int fails;

#define CHECK(c, ...)                                                            \
	do {                                                                     \
		if (!(c)) {                                                      \
			fails++;                                                 \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
		}                                                                \
	} while (0)

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

/* A write-only open with a created file's mode 0 is not a read, and the syscall name
 * is not a path. */
static void test_labels(void)
{
	struct policy_set *s = load("name: r\nrules:\n  - event: file\n    operation: [open]\n"
				    "    file: {path: [/etc/shadow], access: [read]}\n");
	struct policy_set *w = load("name: w\nrules:\n  - event: file\n    file:\n"
				    "      path: {in: [openat, /etc/profile]}\n      access: [write]\n");
	const char *wr = "{function_name: security_file_open, process: {binary: /bin/x},"
			 " args: [{file_arg: {path: /etc/shadow}}, {int_arg: 1, label: flags},"
			 " {int_arg: 0, label: mode}, {string_arg: openat, label: syscall}]}";
	const char *rd = "{function_name: security_file_open, process: {binary: /bin/x},"
			 " args: [{file_arg: {path: /etc/shadow}}, {int_arg: 0, label: flags},"
			 " {int_arg: 0, label: mode}, {string_arg: openat, label: syscall}]}";
	const char *other = "{function_name: security_file_open, process: {binary: /bin/x},"
			    " args: [{file_arg: {path: /etc/hosts}}, {int_arg: 1, label: flags},"
			    " {int_arg: 0, label: mode}, {string_arg: openat, label: syscall}]}";

	CHECK(match(s, "process_kprobe", wr) < 0, "a write-only open matched access: read");
	CHECK(match(s, "process_kprobe", rd) == 0, "a read of /etc/shadow did not match");
	CHECK(match(w, "process_kprobe", other) < 0, "the syscall label was taken as a path");
	policy_set_free(s);
	policy_set_free(w);
}

/* capabilities: some effective capability matches. */
static void test_caps(void)
{
	struct policy_set *s = load("name: c\nrules:\n  - event: exec\n    process:\n"
				    "      capabilities: [CAP_SYS_ADMIN]\n    parent: {uid: {notIn: [0]}}\n");
	struct policy_set *bad = policy_set_new();
	struct policy_errs e = { 0 };
	const char *y = "name: b\nrules:\n  - event: exec\n    process: {capabilitiez: [X]}\n";

	CHECK(match(s, "process_exec", "{process: {binary: /usr/bin/mount, uid: 0, cap: {effective:"
				       " [CAP_CHOWN, CAP_SYS_ADMIN]}}, parent: {uid: 65534}}") == 0,
	      "CAP_SYS_ADMIN in the effective set did not match");
	CHECK(match(s, "process_exec", "{process: {binary: /bin/ls, uid: 0, cap: {effective:"
				       " [CAP_CHOWN], permitted: [CAP_SYS_ADMIN]}}, parent: {uid: 65534}}") < 0,
	      "a permitted-only capability matched");
	CHECK(match(s, "process_exec", "{process: {binary: /bin/ls, uid: 0}, parent: {uid: 65534}}") < 0,
	      "a process without cap matched");
	CHECK(policy_rule_kernel(s->p[0], 0) == 0, "a capabilities rule went to the kernel maps");
	CHECK(policy_parse_buf(bad, "b.yaml", y, strlen(y), &e) == 1 && e.n == 1 &&
		      strstr(e.msg[0], "capabilities"),
	      "a misspelt key does not list capabilities: %s", e.n ? e.msg[0] : "(none)");
	policy_errs_free(&e);
	policy_set_free(bad);
	policy_set_free(s);
}

/* The shipped library loads without errors (run from the project root). */
static void test_library_loads(void)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs e = { 0 };
	size_t i;

	CHECK(policy_load_path(s, "policies", &e) == 0, "library errors");
	for (i = 0; i < e.n; i++)
		fprintf(stderr, "  %s\n", e.msg[i]);
	CHECK(s->n >= 13, "only %zu library policies", s->n);
	policy_errs_free(&e);
	policy_set_free(s);
}

int main(void)
{
	test_labels();
	test_caps();
	test_library_loads();
	if (fails)
		fprintf(stderr, "%d failure(s)\n", fails);
	return fails ? 1 : 0;
}
