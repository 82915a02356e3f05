/* test_enforcer_policy — the enforcer's policy_set / pod_meta parser and its
 * self-protection: good sets parse into the right fields, every kind of bad input is
 * rejected with a message naming the policy, rule and field, pod selectors match, and
 * rules that would block vigil, s6 or PID 1 are refused while pod-scoped ones are not. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../enforcer/enforcer_policy.c"

static int failures;

#define CHECK(c, ...)                                                                  \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, "\n");                                         \
			failures++;                                                    \
		}                                                                      \
	} while (0)

/* A tiny JSON-like writer for test input: {k:v,...} [a,b] 123 true false 'str' word. */
static const char *pack_val(msgpack_packer *pk, const char *s);

static const char *skip_ws(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

static const char *pack_word(msgpack_packer *pk, const char *s)
{
	const char *e;

	if (*s == '\'') {
		e = strchr(s + 1, '\'');
		msgpack_pack_str(pk, e - s - 1);
		msgpack_pack_str_body(pk, s + 1, e - s - 1);
		return e + 1;
	}
	for (e = s; *e && !strchr(",:]} ", *e); e++)
		;
	if (isdigit((unsigned char)*s) || *s == '-') {
		long long v = strtoll(s, NULL, 10);

		if (v < 0)
			msgpack_pack_int64(pk, v);
		else
			msgpack_pack_uint64(pk, (unsigned long long)v);
	} else if (e - s == 4 && !strncmp(s, "true", 4)) {
		msgpack_pack_true(pk);
	} else if (e - s == 5 && !strncmp(s, "false", 5)) {
		msgpack_pack_false(pk);
	} else {
		msgpack_pack_str(pk, e - s);
		msgpack_pack_str_body(pk, s, e - s);
	}
	return e;
}

/* Count the items of the container starting after s (at depth 0). */
static int count_items(const char *s, char close)
{
	int depth = 0, n = 0, any = 0;

	for (; *s; s++) {
		if (*s == '\'') {
			s = strchr(s + 1, '\'');
			any = 1;
			continue;
		}
		if (*s == '{' || *s == '[')
			depth++;
		else if ((*s == '}' || *s == ']') && depth-- == 0)
			break;
		else if (*s == ',' && depth == 0)
			n++;
		if (*s != ' ' && *s != close)
			any = 1;
	}
	return any ? n + 1 : 0;
}

static const char *pack_val(msgpack_packer *pk, const char *s)
{
	s = skip_ws(s);
	if (*s == '{' || *s == '[') {
		int map = *s == '{', n = count_items(s + 1, map ? '}' : ']');

		if (map)
			msgpack_pack_map(pk, n);
		else
			msgpack_pack_array(pk, n);
		s = skip_ws(s + 1);
		for (int i = 0; i < n; i++) {
			if (map) {
				s = pack_word(pk, skip_ws(s));
				s = skip_ws(s) + 1; /* ':' */
			}
			s = skip_ws(pack_val(pk, s));
			if (*s == ',')
				s++;
		}
		return skip_ws(s) + 1;
	}
	return pack_word(pk, s);
}

static msgpack_sbuffer sb;
static msgpack_unpacked up;

/* Parse text into a msgpack object (valid until the next call). */
static const msgpack_object *obj(const char *text)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_val(&pk, text);
	msgpack_unpacked_destroy(&up);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, sb.data, sb.size, NULL) != MSGPACK_UNPACK_SUCCESS) {
		fprintf(stderr, "bad test input %s\n", text);
		exit(2);
	}
	return &up.data;
}

/* Expect text to be rejected with an error containing want. */
static void bad(const char *text, const char *want)
{
	struct enfp_set s;
	char err[ENFP_ERR] = "";

	CHECK(enfp_parse(obj(text), &s, err, sizeof(err)) < 0, "accepted: %s", text);
	CHECK(strstr(err, want), "error for %s: '%s', want '%s'", text, err, want);
}

static void test_good(void)
{
	struct enfp_set s;
	char err[ENFP_ERR] = "";
	struct enfp_rule *r;

	int rc = enfp_parse(obj("{generation:7,mode:monitor,policies:[{name:p1,mode:enforce,"
				"action:override,errno:13,kill_fallback:true,scope:{},rules:["
				"{kind:file_open,paths:['/etc/shadow'],prefixes:['/root/'],access:[read]},"
				"{kind:connect,cidrs:['10.0.0.0/8','fd00::/8','1.2.3.4'],ports:[22,[8000,8080]],"
				"protocols:[tcp,udp],uids:[0,1000]}]},"
				"{name:p2,mode:monitor,action:sigkill,scope:{host:true,namespaces:[prod],"
				"match_labels:{app:web},cgroup_ids:[42]},rules:[{kind:exec,not_binaries:['/bin/ls']}]}]}"),
			    &s, err, sizeof(err));
	CHECK(rc == 0, "good set rejected: %s", err);
	if (rc)
		return;
	CHECK(s.generation == 7 && s.monitor_all == 1 && s.n == 2, "set header");
	CHECK(!strcmp(s.pols[0].name, "p1") && s.pols[0].action == ENF_A_OVERRIDE &&
	      s.pols[0].err == 13 && s.pols[0].kill_fallback && s.pols[0].scope_all, "p1 fields");
	r = &s.pols[0].rules[0];
	CHECK(r->kind == ENF_K_FILE && r->paths.n == 1 && r->prefixes.n == 1 &&
	      r->flags == ENF_F_READ, "file rule");
	r = &s.pols[0].rules[1];
	CHECK(r->kind == ENF_K_NET4 && r->ncidrs == 3 && r->cidrs[0].len == 8 &&
	      r->cidrs[1].family == 6 && r->cidrs[1].len == 8 && r->cidrs[2].len == 32, "cidrs");
	CHECK(r->nports == 2 && r->port_lo[1] == 8000 && r->port_hi[1] == 8080, "ports");
	CHECK(r->flags == (ENF_F_TCP | ENF_F_UDP) && r->nuids == 2 && r->uids[1] == 1000, "proto/uids");
	CHECK(!s.pols[1].scope_all && s.pols[1].host && s.pols[1].namespaces.n == 1 &&
	      s.pols[1].label_keys.n == 1 && s.pols[1].ncgids == 1 && s.pols[1].cgids[0] == 42,
	      "scope");
	CHECK(s.pols[1].monitor && s.pols[1].action == ENF_A_SIGKILL && s.pols[1].sig == 9, "p2");

	/* Pods: selector matching. */
	struct enfp_pods pods = { 0 };
	CHECK(enfp_pod_meta(&pods, obj("{op:set,cgroup_id:99,namespace:prod,labels:{app:web,x:y}}"),
			    err, sizeof(err)) == 1, "pod set: %s", err);
	CHECK(enfp_pod_matches(&s.pols[1], &pods.v[0]), "pod matches ns + label");
	CHECK(enfp_pod_meta(&pods, obj("{op:set,cgroup_id:99,namespace:dev,labels:{app:web}}"),
			    err, sizeof(err)) == 1 && pods.n == 1, "pod replaced");
	CHECK(!enfp_pod_matches(&s.pols[1], &pods.v[0]), "other namespace does not match");
	CHECK(!enfp_pod_matches(&s.pols[0], &pods.v[0]), "no selector: not via pods");
	CHECK(enfp_pod_meta(&pods, obj("{op:del,cgroup_id:99}"), err, sizeof(err)) == 1 &&
	      pods.n == 0, "pod del");
	CHECK(enfp_pod_meta(&pods, obj("{op:frob,cgroup_id:1}"), err, sizeof(err)) < 0 &&
	      strstr(err, "op"), "bad op: %s", err);
	CHECK(enfp_pod_meta(&pods, obj("{op:set,cgroup_id:x}"), err, sizeof(err)) < 0, "bad cgid");
	CHECK(enfp_pod_meta(&pods, obj("{op:set,cgroup_id:3,labels:[a]}"), err, sizeof(err)) < 0,
	      "bad labels");
	enfp_pods_free(&pods);
	enfp_free(&s);
}

static void test_bad(void)
{
	bad("{policies:[]}", "generation");
	bad("{generation:0,policies:[]}", "generation");
	bad("{generation:1}", "policies");
	bad("{generation:1,mode:loud,policies:[]}", "mode");
	bad("{generation:1,policies:[7]}", "policies[0]: not a map");
	bad("{generation:1,policies:[{mode:enforce,action:override,rules:[{kind:exec}]}]}",
	    "name: missing");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:explode,rules:[{kind:exec}]}]}",
	    "policies[0] (a): action");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[]}]}", "rules");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:teleport}]}]}",
	    "rules[0]: kind: unknown 'teleport'");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:file_open,"
	    "paths:['etc/shadow']}]}]}", "not absolute");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:connect,"
	    "cidrs:['10.0.0.0/33']}]}]}", "cidrs[0]");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:connect,"
	    "ports:[[90,80]]}]}]}", "ports[0]: bad range");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:connect,"
	    "ports:[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]}]}", "more than 16");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:connect,"
	    "protocols:[sctp]}]}]}", "protocols[0]");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,errno:0,rules:[{kind:exec}]}]}",
	    "errno: 0 with action override");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,errno:5000,rules:[{kind:exec}]}]}",
	    "errno: 5000 out of range");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:signal,signal:0,rules:[{kind:exec}]}]}",
	    "signal: 0 with action signal");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,scope:{cgroup_ids:[x]},"
	    "rules:[{kind:exec}]}]}", "scope.cgroup_ids[0]");
	bad("{generation:1,policies:[{name:a,mode:enforce,action:override,rules:[{kind:exec}]},"
	    "{name:a,mode:enforce,action:override,rules:[{kind:exec}]}]}", "duplicate name 'a'");
}

static void test_protect(void)
{
	struct enfp_protect pr;
	struct enfp_set s;
	char err[ENFP_ERR] = "";

	enfp_protect_init(&pr, "/run/vigil-unit", "/sys/fs/bpf/vigil-unit");
	CHECK(pr.bins.n > 0, "some protected binaries");
	CHECK(enfp_parse(obj("{generation:1,policies:["
			     "{name:sh,mode:enforce,action:sigkill,rules:[{kind:exec,paths:['/bin/sh']}]},"
			     "{name:pins,mode:enforce,action:sigkill,rules:[{kind:file_open,prefixes:['/sys/fs/bpf/']}]},"
			     "{name:pod,mode:enforce,action:sigkill,scope:{namespaces:[prod]},"
			     "rules:[{kind:exec,paths:['/bin/sh']}]},"
			     "{name:other,mode:enforce,action:sigkill,rules:[{kind:exec,paths:['/opt/miner']}]},"
			     "{name:allow,mode:enforce,action:sigkill,rules:[{kind:exec,not_binaries:['/bin/ls']}]}]}"),
			 &s, err, sizeof(err)) == 0, "protect set: %s", err);
	CHECK(enfp_protect_check(&pr, &s.pols[0], err, sizeof(err)) < 0 &&
	      strstr(err, "vigil or its supervisor needs"), "exec /bin/sh refused: %s", err);
	CHECK(enfp_protect_check(&pr, &s.pols[1], err, sizeof(err)) < 0, "bpffs refused");
	CHECK(enfp_protect_check(&pr, &s.pols[2], err, sizeof(err)) == 0, "pod scope allowed");
	CHECK(enfp_protect_check(&pr, &s.pols[3], err, sizeof(err)) == 0, "unrelated allowed");
	CHECK(enfp_protect_check(&pr, &s.pols[4], err, sizeof(err)) < 0,
	      "an allow-list without vigil's binaries refused");
	CHECK(enfp_protect_pid(&pr, 1, err, sizeof(err)) == 1 && strstr(err, "PID 1"), "pid 1");
	CHECK(enfp_protect_pid(&pr, getpid(), err, sizeof(err)) == 1, "self");
	enfp_free(&s);
	enfp_protect_free(&pr);
}

int main(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&up);
	test_good();
	test_bad();
	test_protect();
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
