/* test_enricher_memo — the enricher's remembered Process encodings (enricher/main.c,
 * memo_get) are the bytes a fresh packing gives, after every kind of change to a process:
 * its exec, a fork (clone flag, shared strings), an exec without fork (new exec_id,
 * strings), a re-exec with other credentials and capabilities (a setuid binary: uid,
 * process_credentials), a re-parenting (parent_exec_id), a namespace change, the parent's
 * exit and its pid reused, a process found late (flags "miss", not remembered), a cache
 * slot reused by another process, and two processes whose slots share a memo entry.
 * Besides each process's entries, whole output messages are compared with the ones the
 * enricher writes with its memo emptied. Bad input (a body whose keys cannot be located)
 * still comes out through the walking copy.
 *
 * enricher/main.c is compiled in (main renamed) with the stage skeleton reduced to what the
 * per-event path calls (as bench/enr_bench.c does). */
#define main enricher_main_unused
#include "../../enricher/main.c"
#undef main

#include "check.h"

#include "enricher_stub.h"

static char last[1 << 16]; /* the last message sent */
static size_t last_len;

/* Keep the message the enricher sends. */
int stage_send(struct stage *st, void *sock, const void *buf, size_t len)
{
	(void)st;
	(void)sock;
	if (len > sizeof(last))
		len = sizeof(last);
	memcpy(last, buf, len);
	last_len = len;
	return 0;
}

/* Pids above any pid_max: never found in /proc. */
#define P(x) (5000000u + (x))

static struct stage S;
static struct state sf;
static msgpack_sbuffer SB;
static msgpack_packer PKR, *PK = &PKR;
static uint64_t T0 = 1700000000000000000ull;

static void s(const char *v) { msgpack_pack_str_with_body(PK, v, strlen(v)); }
static void ku(const char *k, uint64_t v) { s(k); msgpack_pack_uint64(PK, v); }

/* Forget everything remembered (as if the memo had never been filled). */
static void memo_reset(void)
{
	size_t i;

	for (i = 0; i < MEMO_N; i++)
		if (memo_tab[i].used) {
			memo_put_strings(&memo_tab[i].k);
			memo_tab[i].used = 0;
		}
}

/* p's remembered entries equal a fresh packing of them. */
static void check_proc(const struct proc *p, const char *what)
{
	static char fresh[16384];
	const struct memo *m;
	uint32_t n;
	size_t len;

	if (!p)
		return;
	len = (size_t)(proc_entries(fresh, p, "", 0, &n) - fresh);
	m = memo_get(p);
	CHECK(m->n == n && m->len == len && memcmp(m->buf, fresh, len) == 0,
	      "%s: pid %u: remembered %u entries / %u bytes, fresh %u / %zu", what, p->pid, m->n,
	      m->len, n, len);
	m = memo_get(p); /* a hit now */
	CHECK(m->n == n && m->len == len && memcmp(m->buf, fresh, len) == 0,
	      "%s: pid %u: second look", what, p->pid);
}

/* Check pid's process and its ancestors. */
static void check_pid(uint32_t pid, const char *what)
{
	const struct proc *p = cache_peek(pid);

	CHECK(p != NULL, "%s: pid %u cached", what, pid);
	for (; p; p = p->parent)
		check_proc(p, what);
}

/* Decode the packed body in SB and give it to fn (a raw event handler). */
static int run(int (*fn)(const msgpack_object *ev))
{
	msgpack_unpacked up;
	size_t off = 0;
	int r;

	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, SB.data, SB.size, &off) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&up);
		return -2;
	}
	r = fn(&up.data);
	msgpack_unpacked_destroy(&up);
	return r;
}

/* The process map of an exec: caps and credentials of uid, the ns of netns. */
static void extra(uint64_t uid, uint64_t netns)
{
	s("process");
	msgpack_pack_map(PK, 3);
	s("cap");
	msgpack_pack_map(PK, 3);
	ku("permitted", uid ? 0 : 0x1ffffffffffull);
	ku("effective", uid ? 0 : 0x1ffffffffffull);
	ku("inheritable", 0);
	s("ns");
	msgpack_pack_map(PK, 2);
	s("uts");
	msgpack_pack_map(PK, 1);
	ku("inum", 4026531838ull);
	s("net");
	msgpack_pack_map(PK, 1);
	ku("inum", netns);
	s("process_credentials");
	msgpack_pack_map(PK, 2);
	ku("uid", uid);
	ku("euid", uid);
}

static int exec_(uint32_t pid, uint64_t kt, uint32_t ppid, uint64_t pkt, uint64_t start,
		 const char *bin, const char *arg, uint64_t uid, uint64_t netns)
{
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 14);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("tid", pid);
	ku("ppid", ppid);
	ku("pktime", pkt);
	ku("start_ktime", start);
	ku("euid", uid);
	ku("auid", 1000);
	s("binary");
	s(bin);
	s("args");
	msgpack_pack_array(PK, 2);
	s(arg);
	s("x y");
	s("cwd");
	s("/work");
	s("flags");
	msgpack_pack_array(PK, 1);
	s("execve");
	extra(uid, netns);
	return run(on_exec);
}

static int clone_(uint32_t pid, uint64_t kt, uint32_t ppid, uint64_t pkt)
{
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 6);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("ppid", ppid);
	ku("start_ktime", kt);
	ku("pktime", pkt);
	return run(on_clone);
}

static int exit_(uint32_t pid, uint64_t kt, uint64_t start)
{
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 6);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("tid", pid);
	ku("start_ktime", start);
	ku("status", 0);
	return run(on_exit_);
}

/* A file open of pid (ppid: 0 = not given; else the parent now, re-parenting). */
static void open_body(uint32_t pid, uint64_t kt, uint64_t start, uint32_t ppid, uint64_t pkt)
{
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 8 + (ppid ? 2 : 0));
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("tid", pid);
	ku("start_ktime", start);
	if (ppid) {
		ku("ppid", ppid);
		ku("pktime", pkt);
	}
	s("function_name");
	s("security_file_open");
	s("args");
	msgpack_pack_array(PK, 1);
	msgpack_pack_map(PK, 1);
	s("file_arg");
	msgpack_pack_map(PK, 1);
	s("path");
	s("/etc/passwd");
	s("action");
	s("KPROBE_ACTION_POST");
}

/* A sys_setns of pid into netns. */
static void setns_body(uint32_t pid, uint64_t kt, uint64_t start, uint64_t netns)
{
	char after[128];

	snprintf(after, sizeof(after), "uts:4026531838 net:%llu", (unsigned long long)netns);
	msgpack_sbuffer_clear(&SB);
	msgpack_pack_map(PK, 7);
	ku("time", T0 + kt);
	ku("ktime", kt);
	ku("pid", pid);
	ku("tid", pid);
	ku("start_ktime", start);
	s("function_name");
	s("sys_setns");
	s("args");
	msgpack_pack_array(PK, 1);
	msgpack_pack_map(PK, 2);
	s("string_arg");
	s(after);
	s("label");
	s("ns_after");
}

/* Give the generic event in SB to the enricher twice: with the memo as it is, then
 * emptied; the two messages must be the same but for the sequence number. Returns the
 * message's length (0: nothing was sent). */
static size_t generic_twice(const char *what)
{
	static char first[sizeof(last)];
	size_t n1;
	uint64_t seq = sf.out_seq;
	msgpack_unpacked up;
	size_t off = 0;

	msgpack_unpacked_init(&up);
	CHECK(msgpack_unpack_next(&up, SB.data, SB.size, &off) == MSGPACK_UNPACK_SUCCESS,
	      "%s: decode", what);
	last_len = 0;
	CHECK(on_generic("process_kprobe", &up.data, SB.data, SB.size) == 0, "%s: handled", what);
	n1 = last_len;
	memcpy(first, last, n1);
	memo_reset();
	sf.out_seq = seq; /* the same sequence number again */
	last_len = 0;
	CHECK(on_generic("process_kprobe", &up.data, SB.data, SB.size) == 0, "%s: again", what);
	CHECK(n1 && n1 == last_len && memcmp(first, last, n1) == 0,
	      "%s: message with the memo (%zu bytes) differs from a fresh one (%zu)", what, n1,
	      last_len);
	msgpack_unpacked_destroy(&up);
	return n1;
}

/* Does the last message contain s? */
static int sent_has(const char *s_)
{
	return memmem(last, last_len, s_, strlen(s_)) != NULL;
}

int main(void)
{
	uint32_t i;

	log_init("test_enricher_memo");
	S.statef = &sf;
	g_st = &S;
	snprintf(node_name, sizeof(node_name), "memo-node");
	hold_ns = 100 * 1000000ull;
	pod_wait_ns = 1000 * 1000000ull;
	pend_max = 100;
	pc_init(pend_max);
	cache_init(node_name, 4096);
	cache_set_linger(2000);
	cgroup_init("/nonexistent");
	event_counters(&S);
	wire_in_init(&in, &S, NULL);
	wire_out_init(&out, &S, &S);
	msgpack_sbuffer_init(&SB);
	msgpack_packer_init(PK, &SB, msgpack_sbuffer_write);

	/* exec of a root process, then a fork and exec of its child */
	CHECK(exec_(P(100), 1000, 0, 0, 900, "/sbin/init", "a", 0, 4026531840ull) == 0, "exec 100");
	check_pid(P(100), "exec");
	open_body(P(100), 1100, 900, 0, 0);
	generic_twice("open by 100");
	CHECK(clone_(P(200), 2000, P(100), 900) == 0, "clone 200");
	check_pid(P(200), "fork");
	open_body(P(200), 2100, 2000, 0, 0);
	generic_twice("open by the forked 200");
	CHECK(sent_has("clone"), "the fork's flags");
	CHECK(exec_(P(200), 2200, P(100), 900, 2000, "/usr/bin/app", "b", 1000, 4026531840ull) == 0,
	      "exec 200");
	check_pid(P(200), "exec after fork");
	generic_twice("open after exec");
	/* exec without fork: new exec_id and strings, same pid */
	CHECK(exec_(P(200), 2300, P(100), 900, 2000, "/usr/bin/other", "c", 1000, 4026531840ull) == 0,
	      "re-exec 200");
	check_pid(P(200), "exec without fork");
	open_body(P(200), 2400, 2000, 0, 0);
	generic_twice("open after re-exec");
	CHECK(sent_has("/usr/bin/other") && !sent_has("/usr/bin/app"), "the new binary");
	/* a setuid binary: same program, other uid, capabilities, credentials */
	CHECK(exec_(P(200), 2500, P(100), 900, 2000, "/usr/bin/other", "c", 0, 4026531840ull) == 0,
	      "setuid exec 200");
	check_pid(P(200), "credential change");
	open_body(P(200), 2600, 2000, 0, 0);
	generic_twice("open after setuid exec");
	/* a namespace change: the exec's ns stays in the Process, ns_changes in the args */
	setns_body(P(200), 2700, 2000, 4026532999ull);
	generic_twice("setns");
	CHECK(sent_has("ns_changes"), "ns_changes added");
	check_pid(P(200), "namespace change");
	/* re-parenting: another real parent named by a raw event */
	CHECK(exec_(P(300), 3000, 0, 0, 2900, "/usr/sbin/reaper", "d", 0, 4026531840ull) == 0,
	      "exec 300");
	open_body(P(200), 3100, 2000, P(300), 2900);
	generic_twice("open with a new parent");
	CHECK(cache_peek(P(200))->ppid == P(300), "re-parented");
	check_pid(P(200), "re-parent");
	/* the parent exits and its pid is reused by another program */
	CHECK(exit_(P(300), 3200, 2900) == 0, "exit 300");
	check_pid(P(200), "parent exited");
	CHECK(exec_(P(300), 3300, 0, 0, 3250, "/usr/bin/new", "e", 0, 4026531840ull) == 0,
	      "pid 300 reused");
	check_pid(P(300), "pid reused");
	check_pid(P(200), "child of the old 300");
	open_body(P(200), 3400, 2000, 0, 0);
	generic_twice("open after the parent's pid was reused");
	/* many processes: slots sharing memo entries, slots freed and reused */
	for (i = 0; i < 3 * MEMO_N; i++) {
		uint32_t pid = P(10000 + i);

		CHECK(clone_(pid, 10000 + i * 10, P(200), 2000) == 0, "clone %u", pid);
		CHECK(exec_(pid, 10001 + i * 10, P(200), 2000, 10000 + i * 10, i & 1 ? "/bin/a" : "/bin/b",
			    "f", i & 2 ? 0 : 1000, 4026531840ull + (i & 4)) == 0,
		      "exec %u", pid);
		check_pid(pid, "many");
		if (i >= MEMO_N) { /* the one that shared this memo entry, re-checked */
			check_pid(pid - MEMO_N, "shared entry");
			CHECK(exit_(pid - MEMO_N, 10002 + i * 10, 10000 + (i - MEMO_N) * 10) == 0,
			      "exit %u", pid - MEMO_N);
		}
	}
	cache_set_linger(0);
	cache_expire(~0ull); /* exited entries leave: their slots are reused below */
	for (i = 0; i < 64; i++) {
		uint32_t pid = P(50000 + i);

		CHECK(exec_(pid, 50000 + i * 10, P(100), 900, 49999 + i * 10, "/bin/c", "g", 1000,
			    4026531840ull) == 0, "exec %u", pid);
		check_pid(pid, "slot reused");
		open_body(pid, 50001 + i * 10, 49999 + i * 10, 0, 0);
		generic_twice("open in a reused slot");
	}
	/* tokens are never remembered: an event that waited for its exec in vain */
	open_body(P(777), 60000, 59000, 0, 0);
	{
		msgpack_unpacked up;
		size_t off = 0;

		msgpack_unpacked_init(&up);
		msgpack_unpack_next(&up, SB.data, SB.size, &off);
		CHECK(on_generic("process_kprobe", &up.data, SB.data, SB.size) == 0, "held");
		msgpack_unpacked_destroy(&up);
	}
	CHECK(*c_held == 1, "held: %llu", (unsigned long long)*c_held);
	last_len = 0;
	{
		struct pend *q = pq_head;

		CHECK(q && pend_try(q, ~0ull, 1) == 1, "released");
		q_remove(q);
		pend_free(q);
	}
	CHECK(last_len && sent_has("miss"), "released with flags miss");
	check_pid(P(777), "late process");

	/* keys in a non-minimal encoding (str8 for a short key): the fast copy cannot place
	 * them and the walking copy takes over, with the same entries */
	msgpack_sbuffer_clear(&SB);
	{
		static const char head[] = "\x86\xa4time\x01\xa5ktime\x02\xa3pid";

		msgpack_sbuffer_write(&SB, head, sizeof(head) - 1);
	}
	msgpack_pack_uint64(PK, P(300));
	{
		static const char rest[] = "\xd9\x03tid\x05\xd9\x0d" "function_name\xa1x"
					   "\xa6" "action\xa1y";

		msgpack_sbuffer_write(&SB, rest, sizeof(rest) - 1);
	}
	generic_twice("non-minimal keys");
	CHECK(sent_has("function_name") && sent_has("action") && !sent_has("\xd9\x03tid"),
	      "passed entries copied, raw keys dropped");

	memo_reset();
	msgpack_sbuffer_destroy(&SB);
	printf("test_enricher_memo: %s (memo: %llu hits, %llu builds)\n", fails ? "FAIL" : "ok",
	       (unsigned long long)memo_hits, (unsigned long long)memo_builds);
	return fails != 0;
}
