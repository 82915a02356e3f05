/* test_policy_index — the matcher's shortcuts give the verdicts of a plain scan (issue 8).
 * A varied corpus (every event kind, processes in and out of pods, root and not, matching
 * and non-matching paths, addresses, ports, uids; Tetragon and vigil arg shapes) is judged
 * against the shipped library (policies/) plus a few policies using what the library does
 * not (scope, ancestors, cwd, pid, function lists, CIDRs), four ways that must agree:
 *   - the set's kind index (policy_set_candidates), as the evaluator runs it;
 *   - every policy in turn (policy_match on all of them);
 *   - every policy with its kind mask cleared (no per-policy kind shortcut);
 *   - an event whose process fields are looked up each time (pf_ok 0, no field cache).
 * Also: globs (prefiltered by literal prefix and suffix; *-only ones matched without
 * fnmatch) agree with fnmatch on tricky patterns (brackets, escapes, ?, backtracking *,
 * embedded NULs), and the function-name cache with the table. Run from the source root (loads policies/). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy.h"
#include "policy_int.h"
#include "wire.h"

#include "policytest.h"

/* Policies beyond the library: the matcher's other paths. */
static const char *extra_yaml =
	"name: x-scope\nscope: {namespaces: [prod], host: false}\nrules:\n"
	"  - event: file\n    file: {path: {prefix: [/etc/]}}\n"
	"---\nname: x-ancestors\nrules:\n  - event: exec\n    ancestors: {binary: [/usr/sbin/sshd]}\n"
	"---\nname: x-cwd-pid\nrules:\n  - event: file\n    operation: [unlink, rename]\n"
	"    process: {cwd: {prefix: [/srv]}, pid: {notIn: [1]}}\n"
	"---\nname: x-fn\nrules:\n  - event: file\n    function: [security_path_unlink]\n"
	"  - event: network\n    network: {address: [10.0.0.0/8], port: {notIn: [443]}}\n"
	"---\nname: x-parent\nrules:\n  - event: exit\n    parent: {binary: {suffix: [/bash]}}\n"
	"  - event: exec\n    container: false\n    parent: {uid: [1000]}\n";

static const char *const procs[] = {
	"{binary: /usr/bin/cat, uid: 0, pid: 10, cwd: /root, arguments: /etc/shadow,"
	" cap: {effective: 2199023255551}}",
	"{binary: /tmp/build/run, uid: 1000, pid: 11, cwd: /tmp/build, arguments: --fast}",
	"{binary: /usr/bin/bash, uid: 0, pid: 12, cwd: /, arguments: -i, docker: abc123,"
	" pod: {namespace: prod, name: web-1, container: {name: web, image: {name: nginx}},"
	" pod_labels: {app: web}}}",
	"{binary: /usr/bin/nsenter, uid: 1000, pid: 13, arguments: -t 1 -m,"
	" cap: {effective: [CAP_SYS_ADMIN]}}",
	"{binary: /usr/sbin/sshd, uid: 0, pid: 14, cwd: /srv/app, arguments: -D}",
	"{binary: /opt/x/xmrig, uid: 1000, pid: 15, arguments: -o pool.example:3333 --donate-level 1}",
	"{binary: /usr/bin/kmod, uid: 0, pid: 16, cwd: /srv, docker: deadbeef}",
	"{binary: /usr/bin/python3, uid: \"1000\", pid: 1, cwd: /srv/data, arguments: -c 'import pty;"
	" pty.spawn(1)'}",
	"{binary: [not, a, string], uid: -1}",
	"{uid: 0, uid: 1000, binary: /usr/bin/dpkg, binary: /usr/bin/cat}",
};

static const char *const parents[] = {
	"{binary: /usr/bin/bash, uid: 1000, pid: 2}",
	"{binary: /usr/lib/systemd/systemd, uid: 0, pid: 1}",
	"{binary: /usr/sbin/sshd, uid: 0, pid: 3}",
};

/* Event bodies after "process: P, parent: Q," (the type first, then the rest). */
static const struct {
	const char *type, *rest;
} shapes[] = {
	{ "process_exec", "node_name: n" },
	{ "process_exec", "ancestors: [{binary: /usr/sbin/sshd}, 7], node_name: n" },
	{ "process_exit", "status: 0" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path: /etc/shadow}},"
	  " {int_arg: 0, label: flags}, {int_arg: 0, label: mode}, {string_arg: openat, label: syscall}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path: /etc/shadow}},"
	  " {int_arg: 577, label: flags}, {string_arg: openat, label: syscall}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path: /etc/crontab,"
	  " flags: O_WRONLY|O_CREAT}}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /home/alice/.ssh/id_rsa}}, {int_arg: 0}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /home/alice/.ssh/id_rsa.pub}}, {int_arg: 0}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /etc/ssh/ssh_host_ed25519_key}}, {int_arg: 0}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /root/.kube/config}}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path: /proc/42/mem}},"
	  " {int_arg: 2}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /sys/fs/cgroup/x/release_agent}}, {int_arg: 1, label: flags}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /etc/cron.d/job}}, {int_arg: 65, label: flags}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /home/bob/.bashrc}}, {int_arg: 1, label: flags}]" },
	{ "process_kprobe", "function_name: security_file_open, args: [{file_arg: {path:"
	  " /usr/lib/x86_64-linux-gnu/libc.so.6}}, {int_arg: 0, label: flags}]" },
	{ "process_kprobe", "function_name: security_file_permission, args: [{file_arg: {path:"
	  " /etc/shadow}}, {int_arg: 4}]" },
	{ "process_kprobe", "function_name: security_path_unlink, args: [{path_arg: {path:"
	  " /etc/profile}}, {string_arg: unlinkat, label: syscall}]" },
	{ "process_kprobe", "function_name: security_path_rename, args: [{path_arg: {path: /tmp/a}},"
	  " {path_arg: {path: /etc/cron.d/b}}]" },
	{ "process_kprobe", "function_name: security_path_chmod, args: [{path_arg: {path: /usr/bin/x}},"
	  " {int_arg: 2541, label: mode}, {string_arg: rwsr-xr-x, label: new_permission}]" },
	{ "process_kprobe", "function_name: security_path_chmod, args: [{path_arg: {path: /proc/1/x}}]" },
	{ "process_kprobe", "function_name: security_path_symlink, args: [{path_arg: {path: /tmp/l}},"
	  " {string_arg: /etc/shadow, label: target}]" },
	{ "process_kprobe", "function_name: tcp_connect, args: [{sock_arg: {family: AF_INET, protocol:"
	  " IPPROTO_TCP, saddr: 10.0.0.5, daddr: 203.0.113.9, sport: 40000, dport: 4444}}]" },
	{ "process_kprobe", "function_name: tcp_connect, args: [{sock_arg: {family: AF_INET, protocol:"
	  " IPPROTO_TCP, saddr: 10.0.0.5, daddr: 127.0.0.1, dport: 443}},"
	  " {sockaddr_arg: {family: AF_INET, addr: 127.0.0.1, port: 443}, label: address}]" },
	{ "process_kprobe", "function_name: security_socket_connect, args: [{sockaddr_arg: {family:"
	  " AF_INET6, addr: \"::ffff:10.1.2.3\", port: 8080}}]" },
	{ "process_kprobe", "function_name: inet_csk_accept, args: [{sock_arg: {saddr: 10.9.9.9, sport:"
	  " 22, protocol: 6}}]" },
	{ "process_kprobe", "function_name: __x64_sys_setuid, args: [{int_arg: 0}]" },
	{ "process_kprobe", "function_name: commit_creds, args: [{process_credentials_arg: {uid: 0,"
	  " euid: 0}}]" },
	{ "process_kprobe", "function_name: sys_capset, args: []" },
	{ "process_kprobe", "function_name: sys_setns, args: [{string_arg: mnt net, label: ns_changes}]" },
	{ "process_kprobe", "function_name: security_sb_mount, args: [{string_arg: /dev/sda1},"
	  " {string_arg: /mnt}]" },
	{ "process_kprobe", "function_name: security_kernel_module_request, args: [{string_arg: x}]" },
	{ "process_kprobe", "function_name: sys_ptrace, args: [{int_arg: 16}]" },
	{ "process_kprobe", "function_name: security_bpf, args: []" },
	{ "process_kprobe", "function_name: sys_execve, args: [{sock_arg: {daddr: 1.2.3.4}}]" },
	{ "process_kprobe", "function_name: no_such_function, args: []" },
	{ "process_kprobe", "function_name: security_file_open, policy_name: already-judged,"
	  " args: [{file_arg: {path: /etc/shadow}}]" },
	{ "process_lsm", "function_name: file_open, args: [{file_arg: {path: /etc/gshadow}}]" },
	{ "process_tracepoint", "event: sys_enter_openat, args: [{string_arg: /etc/sudoers}]" },
	{ "process_tracepoint", "event: sys_exit_ptrace, args: []" },
	{ "process_uprobe", "function_name: security_file_open" },
};

/* Matches of every policy of s for e as "i:r " pairs, one of three ways. */
static void verdicts(struct policy_set *s, struct pol_ev *e, int how, char *out, size_t n)
{
	const size_t *idx;
	size_t i, j, cnt, o = 0;
	int r;

	out[0] = '\0';
	if (how == 0) { /* the index */
		idx = policy_set_candidates(s, e->kind, &cnt);
		CHECK(idx != NULL, "the set is indexed but has no candidate list");
		for (j = 0; idx && j < cnt; j++)
			if ((r = policy_match(s->p[idx[j]], e)) >= 0)
				o += (size_t)snprintf(out + o, n - o, "%zu:%d ", idx[j], r);
		return;
	}
	for (i = 0; i < s->n; i++) {
		unsigned k = s->p[i]->kinds;

		if (how == 2)
			s->p[i]->kinds = 0;
		r = policy_match(s->p[i], e);
		s->p[i]->kinds = k;
		if (r >= 0)
			o += (size_t)snprintf(out + o, n - o, "%zu:%d ", i, r);
	}
}

/* Every corpus event against the library, four ways. */
static void test_index(void)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs errs = { 0 };
	size_t a, b, c, nev = 0, nmatch = 0, kinds_seen = 0;
	unsigned kinds = 0;
	static char json[4096];

	CHECK(policy_load_path(s, "policies", &errs) == 0, "library errors");
	CHECK(policy_parse_buf(s, "extra.yaml", extra_yaml, strlen(extra_yaml), &errs) == 0,
	      "extra policies: %s", errs.n ? errs.msg[0] : "?");
	policy_errs_free(&errs);
	CHECK(s->n >= 18, "only %zu policies", s->n);
	/* a stale index is not used */
	{
		size_t cnt;

		CHECK(policy_set_candidates(s, POL_K_FILE, &cnt) == NULL && cnt == s->n,
		      "an unindexed set gave a candidate list");
	}
	policy_set_index(s);
	for (a = 0; a < sizeof(procs) / sizeof(procs[0]); a++)
		for (b = 0; b < sizeof(parents) / sizeof(parents[0]); b++)
			for (c = 0; c < sizeof(shapes) / sizeof(shapes[0]); c++) {
				char v_idx[512], v_all[512], v_nokind[512], v_nocache[512];
				struct pol_ev e, e2;
				struct jev j;

				snprintf(json, sizeof(json), "{process: %s, parent: %s, %s}", procs[a],
					 parents[b], shapes[c].rest);
				if (policy_event(&e, shapes[c].type, jev(&j, json)) < 0) {
					jev_free(&j);
					continue;
				}
				nev++;
				e2 = e;
				e2.pf_ok = 0;
				e2.pf_have = 0;
				verdicts(s, &e, 0, v_idx, sizeof(v_idx));
				verdicts(s, &e, 1, v_all, sizeof(v_all));
				verdicts(s, &e, 2, v_nokind, sizeof(v_nokind));
				verdicts(s, &e2, 1, v_nocache, sizeof(v_nocache));
				CHECK(!strcmp(v_idx, v_all), "%s %s: index [%s] vs scan [%s]",
				      shapes[c].type, json, v_idx, v_all);
				CHECK(!strcmp(v_nokind, v_all), "%s %s: no kind mask [%s] vs [%s]",
				      shapes[c].type, json, v_nokind, v_all);
				CHECK(!strcmp(v_nocache, v_all), "%s %s: no field cache [%s] vs [%s]",
				      shapes[c].type, json, v_nocache, v_all);
				nmatch += v_all[0] != '\0';
				if (!(kinds & (1u << e.kind)))
					kinds_seen++;
				kinds |= 1u << e.kind;
				jev_free(&j);
			}
	/* the corpus must exercise the matcher: many events, many matches, every kind */
	CHECK(nev > 800, "only %zu events judged", nev);
	CHECK(nmatch > 150 && nmatch < nev, "%zu of %zu events matched", nmatch, nev);
	CHECK(kinds_seen == POL_K_N, "only %zu event kinds in the corpus", kinds_seen);
	printf("index: %zu events x %zu policies, %zu with matches\n", nev, s->n,
	       nmatch);
	/* a policy added after indexing makes the index stale: every policy is tried */
	{
		size_t cnt;
		const char *y = "name: late\nrules:\n  - event: exit\n";

		CHECK(policy_parse_buf(s, "late.yaml", y, strlen(y), &errs) == 0, "late policy");
		CHECK(policy_set_candidates(s, POL_K_EXIT, &cnt) == NULL && cnt == s->n,
		      "a stale index was used");
		policy_set_index(s);
		CHECK(policy_set_candidates(s, POL_K_EXIT, &cnt) && cnt >= 2 &&
		      s->p[policy_set_candidates(s, POL_K_EXIT, &cnt)[cnt - 1]] == s->p[s->n - 1],
		      "the re-built index misses the late policy");
	}
	policy_set_free(s);
}

/* Globs: the prefix/suffix prefilter never changes fnmatch's answer. */
static void test_glob(void)
{
	static const char *const pats[] = {
		"/home/*/.ssh/id_*", "/etc/ssh/ssh_host_*_key", "/proc/*/mem", "*", "?", "/a/b",
		"/a/[bc]/d", "/a/[!x]*z", "*.pub", "/x\\*y", "/x\\yz", "a*b*c", "[*]x", "*]",
		"/r[", "abc?", "/e/*", "", "x*", "*x", "/tmp/?" "?/q", "*a*a", "/x/*/y*z", "**",
		"*/.ssh/*", "a**b", "*ab*ab",
	};
	static const char *const strs[] = {
		"/home/alice/.ssh/id_rsa", "/home/alice/.ssh/id_rsa.pub", "/etc/ssh/ssh_host_rsa_key",
		"/etc/ssh/ssh_host_rsa_key.pub", "/proc/1/mem", "/proc/mem", "", "a", "/a/b", "/a/b/",
		"/a/c/d", "/a/x/d", "/a/yz", "/a/xz", "k.pub", "/x*y", "/xzy", "/xyz", "abc", "aXbYc",
		"acb", "*x", "]", "a]", "/r[", "/r", "abcd", "abc", "/e/", "/e", "x", "xx", "/tmp/ab/q",
		"/tmp/a/q", "aa", "aXa", "aaa", "ab", "/x/a/y/b/yqz", "/x//yz", "/x/y/z",
		"/h/.ssh/k", "a/.ssh/", "/.ssh/", "abab", "xabab", "abxab", "aabb",
	};
	size_t i, k, bad = 0;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct pol_strm m;

		memset(&m, 0, sizeof(m));
		pol_sset_add(&m.pos[POL_S_GLOB], pats[i], strlen(pats[i]));
		m.npos = 1;
		for (k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			int want = fnmatch(pats[i], strs[k], 0) == 0;

			if (pol_strm_match(&m, strs[k], strlen(strs[k])) != want) {
				bad++;
				CHECK(0, "glob '%s' on '%s': want %d", pats[i], strs[k], want);
			}
		}
		/* a NUL ends the string for fnmatch: "/proc/1/mem\0xyz" is /proc/1/mem */
		{
			static const char withnul[] = "/proc/1/mem\0xyz";
			int want = fnmatch(pats[i], withnul, 0) == 0;

			CHECK(pol_strm_match(&m, withnul, sizeof(withnul) - 1) == want,
			      "glob '%s' on a string with a NUL: want %d", pats[i], want);
		}
		pol_strm_free(&m);
	}
	CHECK(bad == 0, "%zu glob disagreements", bad);
}

/* The function-name cache answers as the table does, also for names that share a slot. */
static void test_function_kind(void)
{
	static const char *const names[] = {
		"security_file_open", "tcp_connect", "security_path_unlink", "security_path_rename",
		"sys_enter_openat", "__x64_sys_setuid", "no_such_fn", "sys_exit_ptrace", "bpf",
		"security_file_opem", "tcp_connect", "security_file_open", "",
	};
	enum pol_kind k1, k2;
	unsigned o1, o2;
	size_t i, r;

	for (r = 0; r < 3; r++)
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			int a, b;

			k1 = k2 = POL_K_N;
			o1 = o2 = 99;
			a = pol_function_kind(names[i], strlen(names[i]), &k1, &o1);
			b = pol_function_kind(names[i], strlen(names[i]), &k2, &o2);
			CHECK(a == b && k1 == k2 && o1 == o2, "%s: %d/%d", names[i], a, b);
		}
	CHECK(pol_function_kind("security_file_open", 18, &k1, &o1) == 0 && k1 == POL_K_FILE &&
	      o1 == POL_OP_OPEN, "security_file_open");
	CHECK(pol_function_kind("security_file_opem", 18, &k1, &o1) < 0, "a near miss matched");
	CHECK(pol_function_kind("tcp_connect", 11, &k1, &o1) == 0 && k1 == POL_K_NETWORK &&
	      o1 == POL_OP_CONNECT, "tcp_connect");
}

/* The harness's one-policy helpers: a path-prefix policy on the shortcuts' path. */
static void test_one(void)
{
	struct policy_set *s = load("name: one\nrules:\n  - event: file\n"
				    "    file: {path: {glob: [\"/etc/*.conf\"]}, access: [read]}\n");

	CHECK(match(s, "process_kprobe", "{function_name: security_file_open, args: [{file_arg:"
		    " {path: /etc/a.conf}}]}") == 0, "a read of /etc/a.conf did not match");
	CHECK(match(s, "process_kprobe", "{function_name: security_file_open, args: [{file_arg:"
		    " {path: /etc/a.conf}}, {int_arg: 1}]}") < 0, "a write matched access: read");
	CHECK(match(s, "process_exit", "{process: {binary: /etc/a.conf}}") < 0,
	      "an exit matched a file rule");
	policy_set_free(s);
}

int main(void)
{
	test_one();
	test_glob();
	test_function_kind();
	test_index();
	if (fails)
		fprintf(stderr, "test_policy_index: %d failure(s)\n", fails);
	else
		printf("test_policy_index: ok\n");
	return fails != 0;
}
