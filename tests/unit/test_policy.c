/* test_policy — the policy parser and matcher (common/policy*.c): every error message of a
 * set of broken policies (text and FILE:LINE:COL), matching of each event kind, a
 * 1,000-path value set, Tetragon TracingPolicy import (and an unmappable hook), and the
 * enforcer export. Events are written as JSON and converted to msgpack here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "policy.h"
#include "wire.h"

#include "policytest.h"

/* ---- broken policies: each error text, with its position ---------------------- */

static void test_errors(void)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "name: x\nrules:\n  - event: exce\n", "t.yaml:3:12: event: unknown event 'exce'" },
		{ "name: x\nrules:\n  - event: exec\n    proces: {}\n",
		  "t.yaml:4:5: unknown key 'proces' in rule (expected one of: event," },
		{ "name: x\nrulez: []\n", "t.yaml:2:1: unknown key 'rulez' in policy" },
		{ "name: x\n", "t.yaml:1:1: policy: missing 'rules:'" },
		{ "rules:\n  - event: exec\n", "t.yaml:1:1: policy: missing 'name:'" },
		{ "name: x\nrules: []\n", "t.yaml:2:8: rules: expected a non-empty list of rules" },
		{ "name: x\nrules:\n  - process: {binary: /bin/sh}\n",
		  "t.yaml:3:5: rule: missing 'event:'" },
		{ "name: x\nrules:\n  - event: file\n    file: {path: {prefx: [/etc]}}\n",
		  "t.yaml:4:19: unknown key 'prefx' in path (expected one of: in, notIn, prefix" },
		{ "name: x\nrules:\n  - event: file\n    file: {access: [reed]}\n",
		  "t.yaml:4:21: access: unknown value 'reed' (expected one of: read, write, create)" },
		{ "name: x\nrules:\n  - event: file\n    network: {port: 80}\n",
		  "t.yaml:4:14: network: only valid in rules with 'event: network'" },
		{ "name: x\nrules:\n  - event: network\n    network: {port: 70000}\n",
		  "t.yaml:4:21: port: expected an integer or a range LO-HI within 0-65535, got '70000'" },
		{ "name: x\nrules:\n  - event: network\n    network: {address: [10.0.0.0/33]}\n",
		  "t.yaml:4:25: address: expected an IPv4 or IPv6 address or CIDR" },
		{ "name: x\nmessage: \"{process.binry}\"\nrules:\n  - event: exec\n",
		  "t.yaml:2:10: message: unknown field '{process.binry}'" },
		{ "name: x\naction: explode\nrules:\n  - event: exec\n",
		  "t.yaml:2:9: action: unknown action 'explode' (expected one of: notify, sigkill, signal, "
		  "override)" },
		{ "name: x\naction: signal\nrules:\n  - event: exec\n",
		  "t.yaml:1:1: action 'signal' needs 'signal: N'" },
		{ "name: x\nmode: block\nrules:\n  - event: exec\n",
		  "t.yaml:2:7: mode: expected 'enforce' or 'monitor', got 'block'" },
		{ "name: x\nrules:\n  - event: exec\n    process: {binary: [list:nope]}\n",
		  "t.yaml:4:24: binary: no list named 'nope'" },
		{ "name: x\nname: y\nrules:\n  - event: exec\n", "t.yaml:2:1: duplicate key 'name'" },
		{ "name: x\nrules:\n  - event: exec\n   bad: [\n", "t.yaml:4:" /* YAML syntax */ },
		{ "name: bad name\nrules:\n  - event: exec\n",
		  "t.yaml:1:7: name: expected 1-48 characters" },
		{ "name: x\nrules:\n  - event: exec\n    operation: [open]\n",
		  "t.yaml:4:16: operation: only 'event: file' and 'event: network' rules have operations" },
		{ "name: x\nscope: {podSelector: {matchExpressions: [{key: app, operator: Maybe}]}}\n"
		  "rules:\n  - event: exec\n",
		  "t.yaml:2:63: operator: unknown 'Maybe' (expected In, NotIn, Exists, DoesNotExist)" },
		{ "name: x\nrules:\n  - event: exec\n---\nname: x\nrules:\n  - event: exit\n",
		  "t.yaml:5:1: policy name 'x' is used twice in this file" },
		{ "kind: Policy\nname: x\n", "t.yaml:1:7: kind: expected VigilPolicy, TracingPolicy" },
		{ "name: x\nerrno: EACCES\nrules:\n  - event: exec\n",
		  "t.yaml:1:1: 'errno:' is only meaningful with 'action: override'" },
		{ "name: x\nurl: ftp://x\nrules:\n  - event: exec\n",
		  "t.yaml:2:6: url: expected an http:// or https:// URL, got 'ftp://x'" },
		{ "name: x\nlists: {l: [list:l]}\nrules:\n  - event: exec\n    process: {binary: [list:l]}\n",
		  "t.yaml:2:13: list: list 'l' refers to itself" },
		/* Tetragon */
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
		  "  kprobes:\n  - call: security_inode_copy_up_xattr\n    syscall: false\n",
		  "t.yaml:7:11: hook 'security_inode_copy_up_xattr' cannot be mapped onto vigil events" },
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
		  "  uprobes:\n  - path: /bin/bash\n", "t.yaml:6:3: spec.uprobes cannot be mapped" },
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
		  "  kprobes:\n  - call: fd_install\n    args: [{index: 1, type: file}]\n"
		  "    selectors:\n    - matchCapabilities: [{type: Effective, values: [CAP_SYS_ADMIN]}]\n",
		  "t.yaml:10:7: selector filter 'matchCapabilities' cannot be mapped" },
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
		  "  kprobes:\n  - call: fd_install\n    args: [{index: 1, type: file}]\n"
		  "    selectors:\n    - matchArgs: [{index: 1, operator: CelExpr, values: [x]}]\n",
		  "t.yaml:10:40: matchArgs: operator 'CelExpr' cannot be mapped for a file argument" },
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
		  "  kprobes:\n  - call: fd_install\n    selectors:\n"
		  "    - matchActions: [{action: DnsLookup, argFqdn: x}]\n",
		  "t.yaml:9:31: action 'DnsLookup' cannot be mapped onto vigil" },
		{ "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: t\n"
		  "spec:\n  kprobes:\n  - call: fd_install\n",
		  "t.yaml:4:3: TracingPolicyNamespaced: missing 'metadata.namespace'" },
	};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy_set *s = policy_set_new();
		struct policy_errs e = { 0 };
		int n = policy_parse_buf(s, "t.yaml", cases[i].yaml, strlen(cases[i].yaml), &e);
		int found = 0;

		for (j = 0; j < e.n; j++)
			found |= strstr(e.msg[j], cases[i].want) != NULL;
		CHECK(n > 0 && found, "case %zu: want error containing \"%s\"; got %zu error(s)%s%s",
		      i, cases[i].want, e.n, e.n ? ", first: " : "", e.n ? e.msg[0] : "");
		CHECK(s->n == 0, "case %zu: a file with errors added %zu policies", i, s->n);
		policy_errs_free(&e);
		policy_set_free(s);
	}
}

/* ---- matching ------------------------------------------------------------------- */

#define PROC(bin, args, uid) "{\"binary\":\"" bin "\",\"arguments\":\"" args "\",\"uid\":" #uid \
			     ",\"pid\":42,\"exec_id\":\"eA==\",\"cwd\":\"/root\"}"

static void test_exec_and_ancestors(void)
{
	struct policy_set *s = load(
		"name: shell-from-web\n"
		"lists:\n  shells: [/bin/sh, /bin/bash, /usr/bin/dash]\n"
		"rules:\n"
		"  - event: exec\n"
		"    process: {binary: [list:shells], uid: {notIn: [1000-2000]}}\n"
		"    ancestors: {binary: {suffix: [/nginx]}}\n");

	CHECK(match(s, "process_exec", "{\"process\":" PROC("/bin/bash", "-c id", 0) ","
		    "\"parent\":" PROC("/usr/sbin/nginx", "", 33) "}") == 0, "parent is nginx");
	CHECK(match(s, "process_exec", "{\"process\":" PROC("/bin/bash", "-c id", 0) ","
		    "\"parent\":" PROC("/bin/sh", "", 33) ",\"ancestors\":[" PROC("/bin/sh", "", 0) ","
		    PROC("/usr/local/nginx", "", 0) "]}") == 0, "grandparent is nginx");
	CHECK(match(s, "process_exec", "{\"process\":" PROC("/bin/bash", "", 0) ","
		    "\"parent\":" PROC("/usr/sbin/sshd", "", 0) "}") < 0, "sshd is not nginx");
	CHECK(match(s, "process_exec", "{\"process\":" PROC("/bin/bash", "", 1500) ","
		    "\"parent\":" PROC("/usr/sbin/nginx", "", 0) "}") < 0, "uid 1500 excluded");
	CHECK(match(s, "process_exec", "{\"process\":" PROC("/bin/zsh", "", 0) ","
		    "\"parent\":" PROC("/usr/sbin/nginx", "", 0) "}") < 0, "zsh not in the list");
	CHECK(match(s, "process_exit", "{\"process\":" PROC("/bin/bash", "", 0) ","
		    "\"parent\":" PROC("/usr/sbin/nginx", "", 0) "}") < 0, "exit is not exec");
	policy_set_free(s);
}

static void test_file(void)
{
	struct policy_set *s = load(
		"name: sensitive\n"
		"message: \"{process.binary} opened {file.path} ({file.access})\"\n"
		"rules:\n"
		"  - event: file\n"
		"    operation: [open]\n"
		"    file:\n"
		"      path: {in: [/etc/shadow], prefix: [/root/.ssh/], glob: [\"/home/*/.aws/*\"],\n"
		"             notSuffix: [.pub]}\n"
		"      access: [read]\n"
		"    process: {binary: {notIn: [/usr/sbin/sshd]}}\n"
		"  - event: file\n"
		"    operation: [unlink, rename]\n"
		"    file: {path: {prefix: [/var/log/]}}\n");
	const char *open_ro = "{\"process\":" PROC("/bin/cat", "", 0) ",\"function_name\":"
			      "\"security_file_open\",\"args\":[{\"file_arg\":{\"path\":\"%s\"}},"
			      "{\"int_arg\":%d}]}";
	char buf[1024];
	struct jev j;
	struct pol_ev e;
	struct strbuf sb;

	snprintf(buf, sizeof(buf), open_ro, "/etc/shadow", 0);
	CHECK(match(s, "process_kprobe", buf) == 0, "read /etc/shadow");
	snprintf(buf, sizeof(buf), open_ro, "/etc/shadow", 1);
	CHECK(match(s, "process_kprobe", buf) < 0, "write-only open is not a read");
	snprintf(buf, sizeof(buf), open_ro, "/root/.ssh/id_ed25519", 0);
	CHECK(match(s, "process_kprobe", buf) == 0, "prefix");
	snprintf(buf, sizeof(buf), open_ro, "/root/.ssh/id_ed25519.pub", 0);
	CHECK(match(s, "process_kprobe", buf) < 0, "notSuffix .pub");
	snprintf(buf, sizeof(buf), open_ro, "/home/ann/.aws/credentials", 0);
	CHECK(match(s, "process_kprobe", buf) == 0, "glob");
	snprintf(buf, sizeof(buf), open_ro, "/etc/passwd", 0);
	CHECK(match(s, "process_kprobe", buf) < 0, "passwd not listed");
	CHECK(match(s, "process_kprobe", "{\"process\":" PROC("/usr/sbin/sshd", "", 0) ","
		    "\"function_name\":\"security_file_open\",\"args\":[{\"file_arg\":{\"path\":"
		    "\"/etc/shadow\"}},{\"int_arg\":0}]}") < 0, "sshd exempt");
	CHECK(match(s, "process_kprobe", "{\"process\":" PROC("/bin/rm", "", 0) ",\"function_name\":"
		    "\"security_path_unlink\",\"args\":[{\"path_arg\":{\"path\":\"/var/log/auth.log\"}}]}")
	      == 1, "unlink under /var/log: rule 2");
	CHECK(match(s, "process_kprobe", "{\"process\":" PROC("/bin/rm", "", 0) ",\"function_name\":"
		    "\"security_path_chmod\",\"args\":[{\"path_arg\":{\"path\":\"/var/log/auth.log\"}}]}")
	      < 0, "chmod is not unlink/rename");
	/* the message template */
	snprintf(buf, sizeof(buf), open_ro, "/etc/shadow", 0);
	policy_event(&e, "process_kprobe", jev(&j, buf));
	strbuf_init(&sb);
	policy_render(s->p[0], 0, &e, &sb);
	CHECK(sb.buf && !strcmp(sb.buf, "/bin/cat opened /etc/shadow (r)"), "message: %s", sb.buf);
	strbuf_free(&sb);
	jev_free(&j);
	policy_set_free(s);
}

static void test_network_privilege_scope(void)
{
	struct policy_set *s = load(
		"name: egress\n"
		"scope:\n  podSelector:\n    matchLabels: {app: web}\n"
		"    matchExpressions: [{key: tier, operator: NotIn, values: [dev]}]\n"
		"rules:\n"
		"  - event: network\n"
		"    network:\n"
		"      address: {in: [0.0.0.0/0, \"::/0\"], notIn: [10.0.0.0/8, 127.0.0.0/8]}\n"
		"      port: [3333, 5555-5560]\n"
		"      protocol: [tcp]\n"
		"      direction: [egress]\n");
	struct policy_set *p = load(
		"name: to-root\nrules:\n  - event: privilege\n    privilege: {uid: 0}\n"
		"    process: {uid: {notIn: [0]}}\n");
	char buf[1024];

#define NET(addr, port, podj)                                                             \
	(snprintf(buf, sizeof(buf), "{\"process\":{\"binary\":\"/x\",\"pid\":1%s},"       \
		  "\"function_name\":\"tcp_connect\",\"args\":[{\"sock_arg\":{\"family\":"  \
		  "\"AF_INET\",\"daddr\":\"%s\",\"dport\":%d,\"protocol\":\"IPPROTO_TCP\"}}]}", \
		  podj, addr, port), buf)
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 3333, ",\"pod\":{\"namespace\":\"prod\","
		    "\"pod_labels\":{\"app\":\"web\",\"tier\":\"fe\"}}")) == 0, "pool port from web");
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 5557, ",\"pod\":{\"pod_labels\":{\"app\":"
		    "\"web\"}}")) == 0, "range, no tier label");
	CHECK(match(s, "process_kprobe", NET("10.1.2.3", 3333, ",\"pod\":{\"pod_labels\":{\"app\":"
		    "\"web\"}}")) < 0, "notIn 10/8");
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 80, ",\"pod\":{\"pod_labels\":{\"app\":"
		    "\"web\"}}")) < 0, "port 80 not listed");
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 3333, ",\"pod\":{\"pod_labels\":{\"app\":"
		    "\"web\",\"tier\":\"dev\"}}")) < 0, "tier dev excluded");
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 3333, ",\"pod\":{\"pod_labels\":{\"app\":"
		    "\"db\"}}")) < 0, "app db out of scope");
	CHECK(match(s, "process_kprobe", NET("1.2.3.4", 3333, "")) < 0, "host out of scope");
	CHECK(match(s, "process_kprobe", "{\"process\":{\"binary\":\"/x\",\"pod\":{\"pod_labels\":"
		    "{\"app\":\"web\"}}},\"function_name\":\"security_socket_connect\",\"args\":"
		    "[{\"sockaddr_arg\":{\"family\":\"AF_INET6\",\"addr\":\"2001:db8::1\",\"port\":5555}}]}")
	      < 0, "sockaddr_arg, v6 (protocol unknown: tcp rule does not match)");
	CHECK(match(p, "process_kprobe", "{\"process\":{\"binary\":\"/x\",\"uid\":1000},"
		    "\"function_name\":\"sys_setuid\",\"args\":[{\"int_arg\":0}]}") == 0, "setuid(0)");
	CHECK(match(p, "process_kprobe", "{\"process\":{\"binary\":\"/x\",\"uid\":1000},"
		    "\"function_name\":\"commit_creds\",\"args\":[{\"process_credentials_arg\":"
		    "{\"uid\":0,\"euid\":0}}]}") == 0, "commit_creds to root");
	CHECK(match(p, "process_kprobe", "{\"process\":{\"binary\":\"/x\",\"uid\":0},"
		    "\"function_name\":\"sys_setuid\",\"args\":[{\"int_arg\":0}]}") < 0, "already root");
	CHECK(match(p, "process_kprobe", "{\"process\":{\"binary\":\"/x\",\"uid\":1000},"
		    "\"function_name\":\"sys_setuid\",\"args\":[{\"int_arg\":1001}]}") < 0, "to 1001");
	policy_set_free(s);
	policy_set_free(p);
}

/* ---- 1,000 paths ----------------------------------------------------------------- */

static void test_big_set(void)
{
	struct strbuf y;
	struct policy_set *s;
	char buf[512];
	struct timespec t0, t1;
	int i, hits = 0;
	double ns;

	strbuf_init(&y);
	strbuf_appendf(&y, "name: big\nrules:\n  - event: file\n    file:\n      path:\n"
			   "        in:\n");
	for (i = 0; i < 1000; i++)
		strbuf_appendf(&y, "          - /srv/data/file-%04d.db\n", i);
	strbuf_appendf(&y, "        prefix:\n");
	for (i = 0; i < 1000; i++)
		strbuf_appendf(&y, "          - /opt/app%d/secret/\n", i);
	s = load(y.buf);
	strbuf_free(&y);
	CHECK(s->n == 1 && s->p[0]->rules[0].path.pos[POL_S_EQ].n == 1000 &&
	      s->p[0]->rules[0].path.pos[POL_S_PREFIX].n == 1000, "1000+1000 values loaded");
#define OPEN "{\"process\":{\"binary\":\"/x\"},\"function_name\":\"security_file_open\"," \
	     "\"args\":[{\"file_arg\":{\"path\":\"%s\"}}]}"
	snprintf(buf, sizeof(buf), OPEN, "/srv/data/file-0999.db");
	CHECK(match(s, "process_kprobe", buf) == 0, "last exact value");
	snprintf(buf, sizeof(buf), OPEN, "/srv/data/file-1000.db");
	CHECK(match(s, "process_kprobe", buf) < 0, "value 1000 is not in the set");
	snprintf(buf, sizeof(buf), OPEN, "/opt/app777/secret/key.pem");
	CHECK(match(s, "process_kprobe", buf) == 0, "prefix 777");
	snprintf(buf, sizeof(buf), OPEN, "/opt/app777/public/key.pem");
	CHECK(match(s, "process_kprobe", buf) < 0, "not under secret/");
	{
		struct jev j;
		struct pol_ev e;

		snprintf(buf, sizeof(buf), OPEN, "/srv/data/file-0500.db");
		policy_event(&e, "process_kprobe", jev(&j, buf));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 100000; i++)
			hits += policy_match(s->p[0], &e) == 0;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		jev_free(&j);
	}
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 100000;
	CHECK(hits == 100000, "hits %d", hits);
	printf("big set: %.0f ns per match (1,000 exact + 1,000 prefixes)\n", ns);
	CHECK(ns < 20000, "match too slow: %.0f ns", ns);
	policy_set_free(s);
}

/* ---- Tetragon import ------------------------------------------------------------- */

static void test_tetragon(void)
{
	struct policy_set *s = load(
		"apiVersion: cilium.io/v1alpha1\n"
		"kind: TracingPolicy\n"
		"metadata:\n  name: file-monitoring-filtered\n"
		"spec:\n"
		"  options: [{name: policy-mode, value: monitor}]\n"
		"  lsmhooks:\n"
		"  - hook: file_open\n"
		"    args: [{index: 0, type: file}]\n"
		"    selectors:\n"
		"    - matchBinaries: [{operator: NotIn, values: [/usr/sbin/sshd]}]\n"
		"      matchArgs: [{index: 0, operator: Prefix, values: [/etc/shadow, /root/.ssh]}]\n"
		"      matchActions: [{action: Override, argError: -1}]\n"
		"  kprobes:\n"
		"  - call: tcp_connect\n"
		"    syscall: false\n"
		"    args: [{index: 0, type: sock}]\n"
		"    tags: [egress]\n"
		"    selectors:\n"
		"    - matchArgs: [{index: 0, operator: NotDAddr, values: [127.0.0.1, 10.0.0.0/8]},\n"
		"                  {index: 0, operator: DPort, values: [\"4444\"]}]\n"
		"      matchActions: [{action: Sigkill}]\n"
		"  - call: sys_setuid\n"
		"    args: [{index: 0, type: int}]\n"
		"    selectors:\n"
		"    - matchArgs: [{index: 0, operator: Equal, values: [\"0\"]}]\n");
	const struct policy *p;

	if (s->n != 1) {
		policy_set_free(s);
		return;
	}
	p = s->p[0];
	CHECK(!p->enforce, "policy-mode monitor");
	CHECK(p->nrules == 3, "3 rules, got %zu", p->nrules);
	CHECK(p->rules[0].act.kind == POL_ACT_OVERRIDE && p->rules[0].act.err == 1, "override EPERM");
	CHECK(p->rules[1].act.kind == POL_ACT_SIGKILL, "sigkill");
	CHECK(!strcmp(p->rules[0].emit_type, "process_lsm"), "lsm");
	CHECK(match(s, "process_kprobe", "{\"process\":{\"binary\":\"/bin/cat\"},\"function_name\":"
		    "\"security_file_open\",\"args\":[{\"file_arg\":{\"path\":\"/etc/shadow\"}}]}") == 0,
	      "lsm file_open maps onto security_file_open");
	CHECK(match(s, "process_kprobe", "{\"process\":{\"binary\":\"/usr/sbin/sshd\"},"
		    "\"function_name\":\"security_file_open\",\"args\":[{\"file_arg\":{\"path\":"
		    "\"/etc/shadow\"}}]}") < 0, "sshd NotIn");
	CHECK(match(s, "process_kprobe", "{\"process\":{\"binary\":\"/bin/nc\"},\"function_name\":"
		    "\"tcp_connect\",\"args\":[{\"sock_arg\":{\"daddr\":\"8.8.8.8\",\"dport\":4444}}]}")
	      == 1, "tcp_connect DPort 4444");
	CHECK(match(s, "process_kprobe", "{\"process\":{\"binary\":\"/bin/nc\"},\"function_name\":"
		    "\"tcp_connect\",\"args\":[{\"sock_arg\":{\"daddr\":\"10.8.8.8\",\"dport\":4444}}]}")
	      < 0, "NotDAddr 10/8");
	CHECK(match(s, "process_tracepoint", "{\"process\":{\"binary\":\"/x\"},\"subsys\":\"syscalls\","
		    "\"event\":\"sys_enter_setuid\",\"args\":[{\"int_arg\":0}]}") == 2,
	      "syscall tracepoint maps onto sys_setuid");
	CHECK(p->rules[1].ntags == 1 && !strcmp(p->rules[1].tags[0], "egress"), "hook tags");
	policy_set_free(s);
}

/* ---- the enforcer export ---------------------------------------------------------- */

static void test_pack(void)
{
	struct policy_set *s = load(
		"name: no-shadow\nmode: enforce\naction: override\nerrno: EACCES\n"
		"scope: {host: true}\n"
		"rules:\n"
		"  - event: file\n    file: {path: [/etc/shadow], access: [read, write]}\n"
		"    process: {binary: {notIn: [/usr/sbin/sshd]}}\n"
		"  - event: file\n    file: {path: {glob: [\"/home/*/.ssh/id_*\"]}}\n"
		"  - event: network\n    network: {address: [203.0.113.0/24], port: [22, 8000-8100]}\n"
		"---\nname: watch-only\nrules:\n  - event: exec\n");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	const msgpack_object *pols, *p0, *rules, *r0;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	s->generation = 7;
	policy_pack_set(s, "enforce", &pk);
	msgpack_unpacked_init(&up);
	CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
	      off == sb.size, "one msgpack object");
	pols = wire_get(&up.data, "policies");
	CHECK(pols && pols->type == MSGPACK_OBJECT_ARRAY && pols->via.array.size == 1,
	      "only the enforcing policy is exported");
	if (pols && pols->via.array.size == 1) {
		const char *str;
		size_t len;
		uint64_t v;

		p0 = &pols->via.array.ptr[0];
		CHECK(wire_get_str(p0, "action", &str, &len) == 0 && wire_streq(str, len, "override"),
		      "action override");
		CHECK(wire_get_u64(p0, "errno", &v) == 0 && v == 13, "errno 13");
		rules = wire_get(p0, "rules");
		/* the glob rule cannot be compiled: rules 1 (file_open) and 3 (connect) */
		CHECK(rules && rules->via.array.size == 2, "2 kernel rules, got %u",
		      rules ? rules->via.array.size : 0);
		r0 = rules ? &rules->via.array.ptr[0] : NULL;
		CHECK(r0 && wire_get_str(r0, "kind", &str, &len) == 0 &&
		      wire_streq(str, len, "file_open"), "file_open");
		CHECK(r0 && wire_get(r0, "not_binaries") && wire_get(r0, "access"), "exemptions, access");
		CHECK(rules && rules->via.array.size == 2 &&
		      wire_get(&rules->via.array.ptr[1], "cidrs") &&
		      wire_get(&rules->via.array.ptr[1], "ports"), "connect rule");
	}
	CHECK(!policy_rule_kernel(s->p[0], 1), "glob is user-space only");
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	policy_set_free(s);
}

/* ---- what the collector must send for a set (policy_set_needs) ------------------- */

/* Whether the n prefixes of v are exactly the NULL-terminated want (any order). */
static int same_prefixes(char **v, size_t n, const char *const *want)
{
	size_t k = 0, i, j;

	while (want[k])
		k++;
	if (k != n)
		return 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < k && strcmp(v[i], want[j]); j++)
			;
		if (j == k)
			return 0;
	}
	return 1;
}

static void free_prefixes(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_needs(void)
{
	static const char *const want[] = { "/etc/shadow", "/root/.ssh/", "/home/", "/var/log/",
					    NULL };
	struct policy_set *s = load(
		"name: files\n"
		"rules:\n"
		"  - event: file\n"
		"    file:\n"
		"      path: {in: [/etc/shadow, /etc/shadow-], prefix: [/root/.ssh/],\n"
		"             glob: [\"/home/*/.aws/*\", \"/home/x/.kube/*\"], notSuffix: [.pub]}\n"
		"  - event: file\n"
		"    operation: [unlink, rename]\n"
		"    file: {path: {prefix: [/var/log/, /var/log/apt/]}}\n"
		"  - event: exec\n"
		"    process: {binary: {in: [/usr/bin/nc]}}\n");
	char **pre;
	size_t n;
	unsigned need = policy_set_needs(s, &pre, &n);

	CHECK(need == POL_NEED_FILE, "file rules only: need %#x", need);
	CHECK(same_prefixes(pre, n, want), "prefixes: %zu (/etc/shadow- and /var/log/apt/ are "
	      "covered, a glob gives its head)", n);
	free_prefixes(pre, n);
	policy_set_free(s);

	s = load("name: any\n"
		 "rules:\n"
		 "  - event: file\n"
		 "    file: {path: {prefix: [/etc/]}}\n"
		 "  - event: file\n"
		 "    file: {path: {suffix: [.so]}}\n"
		 "  - event: network\n"
		 "    operation: [connect]\n"
		 "---\n"
		 "name: priv\n"
		 "rules:\n"
		 "  - event: ptrace\n");
	need = policy_set_needs(s, &pre, &n);
	CHECK(need == (POL_NEED_FILE | POL_NEED_ALL_PATHS | POL_NEED_NET | POL_NEED_PRIV) &&
	      !pre && n == 0, "a suffix test needs every path; net, priv: %#x, %zu", need, n);
	policy_set_free(s);

	s = load("name: execs\nrules:\n  - event: exec\n");
	need = policy_set_needs(s, &pre, &n);
	CHECK(need == 0 && n == 0, "exec rules need nothing beyond process events: %#x", need);
	policy_set_free(s);
}

int main(void)
{
	test_errors();
	test_exec_and_ancestors();
	test_file();
	test_network_privilege_scope();
	test_big_set();
	test_tetragon();
	test_pack();
	test_needs();
	if (fails) {
		fprintf(stderr, "%d check(s) failed\n", fails);
		return 1;
	}
	printf("test_policy: ok\n");
	return 0;
}
