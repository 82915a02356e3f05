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

#include "policytest.h"

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

	/* names (Tetragon's, other producers) and the pipeline's bit sets (CAP_CHOWN = bit
	 * 0, CAP_SYS_ADMIN = bit 21) */
	static const struct {
		const char *ev, *why;
		int want;
	} cases[] = {
		{ "{process: {binary: /usr/bin/mount, uid: 0, cap: {effective: [CAP_CHOWN,"
		  " CAP_SYS_ADMIN]}}, parent: {uid: 65534}}", "CAP_SYS_ADMIN in the effective set", 0 },
		{ "{process: {binary: /bin/ls, uid: 0, cap: {effective: [CAP_CHOWN], permitted:"
		  " [CAP_SYS_ADMIN]}}, parent: {uid: 65534}}", "a permitted-only capability", -1 },
		{ "{process: {binary: /bin/ls, uid: 0}, parent: {uid: 65534}}",
		  "a process without cap", -1 },
		{ "{process: {binary: /usr/bin/mount, uid: 0, cap: {effective: 2097153}},"
		  " parent: {uid: 65534}}", "bit 21 of an effective bit set", 0 },
		{ "{process: {binary: /bin/ls, uid: 0, cap: {effective: 1, permitted: 2097152}},"
		  " parent: {uid: 65534}}", "a permitted-only capability (bit set)", -1 },
		{ "{process: {binary: /bin/ls, uid: 0, cap: {effective: 18446744073709551615}},"
		  " parent: {uid: 0}}", "every bit set, but the parent rule fails", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK((match(s, "process_exec", cases[i].ev) < 0 ? -1 : 0) == cases[i].want,
		      "%s: want %s", cases[i].why, cases[i].want ? "no match" : "a match");
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
