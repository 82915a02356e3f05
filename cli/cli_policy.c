/* cli_policy.c — `vigil policy check PATH...` validates policy files or directories
 * (errors as FILE:LINE:COL, exit 1); `vigil policy test POLICY [--events] EVENTS.json`
 * replays a JSON export (Tetragon's JSON lines, as vigil's exporter writes them) through
 * the same matcher the evaluator uses and reports what would have matched and what
 * would have been blocked: the dry run on real traffic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli.h"
#include "policy.h"
#include "strbuf.h"
#include "wire.h"

static void policy_usage(FILE *f)
{
	fprintf(f, "usage: vigil policy check PATH...              validate policy files/dirs\n"
		   "       vigil policy test POLICY [--events] EVENTS.json [--quiet]\n"
		   "                                                  replay a JSON export\n");
}

/* Load every path into one set (names must be unique across them); print errors. */
static struct policy_set *load_all(int argc, char **argv, int *nerr)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs errs = { 0 };
	size_t i;
	int k;

	*nerr = 0;
	for (k = 0; k < argc; k++) {
		FILE *probe = fopen(argv[k], "r");

		if (!probe) {
			fprintf(stderr, "%s: cannot open: %s\n", argv[k], strerror(errno));
			(*nerr)++;
			continue;
		}
		fclose(probe);
		*nerr += policy_load_path(s, argv[k], &errs);
	}
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	policy_errs_free(&errs);
	return s;
}

static const char *const act_words[] = { "notify", "sigkill", "signal", "override" };

static int cmd_check(int argc, char **argv)
{
	struct policy_set *s;
	size_t i, r, nr = 0;
	int nerr;

	if (argc < 1) {
		policy_usage(stderr);
		return 2;
	}
	s = load_all(argc, argv, &nerr);
	for (i = 0; i < s->n; i++) {
		const struct policy *p = s->p[i];

		nr += p->nrules;
		for (r = 0; r < p->nrules; r++) {
			const struct pol_action *a = policy_rule_action(p, r);

			/* loud, never silent: say how an enforcing rule will be enforced */
			if (a->kind != POL_ACT_NOTIFY && !policy_rule_kernel(p, r))
				printf("%s:%d: note: rule %zu of '%s' cannot be compiled into the "
				       "kernel maps: its %s is enforced from user space, as an "
				       "asynchronous %s through the kill map\n", p->file,
				       p->rules[r].line, r + 1, p->name, act_words[a->kind],
				       a->kind == POL_ACT_SIGNAL ? "signal" : "sigkill");
		}
	}
	if (nerr) {
		fprintf(stderr, "vigil policy check: %d error(s)\n", nerr);
		policy_set_free(s);
		return 1;
	}
	printf("ok: %zu policies, %zu rules\n", s->n, nr);
	policy_set_free(s);
	return 0;
}

/* ---- JSON (via libyaml: JSON is valid YAML flow syntax) → msgpack ---------------- */

static int plain_int(const char *s, long long *v)
{
	char *end;

	if (!*s || (!(*s >= '0' && *s <= '9') && *s != '-'))
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !*end && !errno;
}

static int pack_node(yaml_document_t *d, yaml_node_t *n, msgpack_packer *pk, int depth)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *pr;
	long long v;

	if (!n || depth > 64)
		return -1;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;

		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			if (!strcmp(s, "true"))
				return msgpack_pack_true(pk);
			if (!strcmp(s, "false"))
				return msgpack_pack_false(pk);
			if (!strcmp(s, "null"))
				return msgpack_pack_nil(pk);
			if (plain_int(s, &v))
				return msgpack_pack_int64(pk, v);
		}
		return msgpack_pack_str_with_body(pk, s, n->data.scalar.length);
	}
	case YAML_SEQUENCE_NODE:
		msgpack_pack_array(pk, (size_t)(n->data.sequence.items.top -
						n->data.sequence.items.start));
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			if (pack_node(d, yaml_document_get_node(d, *it), pk, depth + 1) < 0)
				return -1;
		return 0;
	case YAML_MAPPING_NODE:
		msgpack_pack_map(pk, (size_t)(n->data.mapping.pairs.top -
					      n->data.mapping.pairs.start));
		for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++)
			if (pack_node(d, yaml_document_get_node(d, pr->key), pk, depth + 1) < 0 ||
			    pack_node(d, yaml_document_get_node(d, pr->value), pk, depth + 1) < 0)
				return -1;
		return 0;
	default:
		return -1;
	}
}

/* One JSON line → msgpack object in up (valid until destroyed). 0 or -1. */
static int json_line(const char *line, size_t len, msgpack_sbuffer *sb, msgpack_unpacked *up)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	msgpack_packer pk;
	int r = -1;
	size_t off = 0;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)line, len);
	if (yaml_parser_load(&ps, &doc)) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);

		if (root && root->type == YAML_MAPPING_NODE && pack_node(&doc, root, &pk, 0) == 0)
			r = 0;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&ps);
	if (r == 0 && msgpack_unpack_next(up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS)
		r = -1;
	return r;
}

static int cmd_test(int argc, char **argv)
{
	const char *pol = NULL, *events = NULL;
	struct policy_set *s;
	msgpack_sbuffer sb;
	msgpack_unpacked up;
	struct strbuf msg;
	char *line = NULL;
	size_t cap = 0, nev = 0, nmatch = 0, nblock = 0, nbad = 0, lineno = 0, i;
	ssize_t n;
	int nerr, quiet = 0, k;
	FILE *f;

	for (k = 0; k < argc; k++) {
		if (!strcmp(argv[k], "--events") && k + 1 < argc)
			events = argv[++k];
		else if (!strcmp(argv[k], "--quiet"))
			quiet = 1;
		else if (!pol)
			pol = argv[k];
		else if (!events)
			events = argv[k];
		else {
			policy_usage(stderr);
			return 2;
		}
	}
	if (!pol || !events) {
		policy_usage(stderr);
		return 2;
	}
	s = load_all(1, (char **)&pol, &nerr);
	if (nerr) {
		fprintf(stderr, "vigil policy test: the policy has errors; nothing replayed\n");
		policy_set_free(s);
		return 1;
	}
	f = strcmp(events, "-") ? fopen(events, "r") : stdin;
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", events, strerror(errno));
		policy_set_free(s);
		return 2;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&up);
	strbuf_init(&msg);
	while ((n = getline(&line, &cap, f)) > 0) {
		const msgpack_object *root;
		const msgpack_object *ev = NULL;
		char type[32] = "";
		struct pol_ev e;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		if (json_line(line, (size_t)n, &sb, &up) < 0) {
			nbad++;
			fprintf(stderr, "%s:%zu: not a JSON object; skipped\n", events, lineno);
			continue;
		}
		root = &up.data;
		/* {"<type>": {...}, "node_name": ..., "time": ...} */
		for (i = 0; root->type == MSGPACK_OBJECT_MAP && i < root->via.map.size; i++) {
			const msgpack_object *kk = &root->via.map.ptr[i].key;

			if (kk->type == MSGPACK_OBJECT_STR && kk->via.str.size < sizeof(type) &&
			    kk->via.str.size > 8 && !memcmp(kk->via.str.ptr, "process_", 8) &&
			    root->via.map.ptr[i].val.type == MSGPACK_OBJECT_MAP) {
				snprintf(type, sizeof(type), "%.*s", (int)kk->via.str.size,
					 kk->via.str.ptr);
				ev = &root->via.map.ptr[i].val;
			}
		}
		if (!ev)
			continue;
		nev++;
		/* policy events already in the export are results, not traffic */
		if (wire_get(ev, "policy_name"))
			continue;
		if (policy_event(&e, type, ev) < 0)
			continue;
		for (i = 0; i < s->n; i++) {
			const struct policy *p = s->p[i];
			const struct pol_action *a;
			int r = policy_match(p, &e);
			const char *verdict;

			if (r < 0)
				continue;
			nmatch++;
			a = policy_rule_action(p, (size_t)r);
			if (a->kind == POL_ACT_NOTIFY)
				verdict = "notify";
			else if (p->enforce) {
				verdict = a->kind == POL_ACT_OVERRIDE ? "WOULD BLOCK" :
					  a->kind == POL_ACT_SIGKILL ? "WOULD KILL" : "WOULD SIGNAL";
				nblock++;
			} else
				verdict = "monitor (would block in enforce mode)";
			strbuf_reset(&msg);
			policy_render(p, (size_t)r, &e, &msg);
			if (!quiet)
				printf("%s:%zu: %s: %s (rule %d, %s:%d): %s\n", events, lineno, p->name,
				       verdict, r + 1, p->file, p->rules[r].line, msg.buf ? msg.buf : "");
		}
	}
	printf("%zu events, %zu matches, %zu would be blocked or killed%s\n", nev, nmatch, nblock,
	       nbad ? " (some lines were not JSON)" : "");
	if (f != stdin)
		fclose(f);
	free(line);
	strbuf_free(&msg);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	policy_set_free(s);
	return 0;
}

int cli_policy(int argc, char **argv)
{
	if (argc < 1) {
		policy_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[0], "test"))
		return cmd_test(argc - 1, argv + 1);
	if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
		policy_usage(stdout);
		return 0;
	}
	fprintf(stderr, "vigil: error: unknown policy command '%s'\n", argv[0]);
	policy_usage(stderr);
	return 2;
}
