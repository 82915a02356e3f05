/* test_enricher_cache — the process cache and the string interner: interned strings are
 * shared and freed with their last holder; entries live in the slab and free their
 * strings and (iteratively) their parents with their last reference; the hash holds at
 * most its capacity, the CLOCK sweep evicting an idle entry before a recently used one;
 * pid reuse replaces the hashed entry while holders of the old one keep it; exec_ids are
 * Tetragon's base64("node:ktime:pid"). */
#include <stdio.h>
#include <string.h>

#include "enricher_cache.h"
#include "enricher_intern.h"

#include "check.h"

/* Interning: one copy per distinct byte string, counted references. */
static void t_intern(void)
{
	struct intern_stats st;
	const char *a = istr_get("/usr/bin/bash", 13), *b = istr_cstr("/usr/bin/bash");
	const char *c = istr_get("/usr/bin/bashX", 13), *n = istr_get("a\0b", 3);
	char big[2000];

	CHECK(a == b && a == c, "same bytes, same copy");
	CHECK(istr_len(n) == 3 && memcmp(n, "a\0b", 4) == 0, "embedded NUL kept");
	memset(big, 'x', sizeof(big));
	const char *l = istr_get(big, sizeof(big)), *l2 = istr_get(big, sizeof(big));
	CHECK(l == l2 && istr_len(l) == sizeof(big) && l[sizeof(big)] == '\0', "large string");
	istr_get_stats(&st);
	CHECK(st.strings == 3 && st.refs == 6, "strings %llu refs %llu",
	      (unsigned long long)st.strings, (unsigned long long)st.refs);
	istr_put(a);
	istr_put(b);
	CHECK(strcmp(c, "/usr/bin/bash") == 0, "still held once");
	istr_put(c);
	istr_put(n);
	istr_put(l);
	istr_put(l2);
	istr_put(NULL);
	istr_get_stats(&st);
	CHECK(st.strings == 0 && st.refs == 0 && st.bytes == 0, "all freed: %llu",
	      (unsigned long long)st.strings);
	/* many distinct strings: the table grows, each still found */
	static const char *keep[20000];
	char s[32];
	int i, ok = 1;

	for (i = 0; i < 20000; i++) {
		snprintf(s, sizeof(s), "arg %d", i);
		keep[i] = istr_cstr(s);
	}
	for (i = 0; i < 20000; i++) {
		snprintf(s, sizeof(s), "arg %d", i);
		const char *again = istr_cstr(s);

		ok &= again == keep[i];
		istr_put(again);
		istr_put(keep[i]);
	}
	istr_get_stats(&st);
	CHECK(ok && st.strings == 0, "20,000 strings found again and freed");
}

/* Entries: strings shared with a fork child, parents freed with their last child. */
static void t_refs(void)
{
	struct cache_stats cs;
	struct intern_stats is;
	struct proc *pa, *ch;

	pa = cache_put(100, 1000);
	cache_set_strings(pa, "/bin/sh", 7, "-c x", 4, "/", 1, "execve", 6);
	ch = cache_put(101, 2000);
	cache_set_parent(ch, pa);
	cache_share_strings(ch, pa);
	CHECK(cache_str(ch, PB_BINARY) == cache_str(pa, PB_BINARY) &&
	      cache_strlen(ch, PB_ARGS) == 4, "fork child shares the strings");
	cache_set_extra(pa, "\xa1\x61\x01", 3, 1);
	cache_share_strings(ch, pa);
	CHECK(ch->extra == pa->extra && ch->extra_n == 1, "and the extra fields");
	cache_ref(ch);          /* a held event */
	cache_mark_exited(pa);  /* pa: exit ring */
	cache_expire(~0ull);    /* linger over: pa leaves the hash, ch's parent ref keeps it */
	CHECK(cache_peek(100) == NULL && ch->parent == pa && pa->ref == 1, "pa kept by child");
	cache_put(101, 3000);   /* pid 101 execs again (pid reuse): old entry unhashed */
	cache_get_stats(&cs);
	CHECK(cs.size == 1 && cs.objects == 3, "size %llu objects %llu",
	      (unsigned long long)cs.size, (unsigned long long)cs.objects);
	CHECK(strcmp(cache_str(ch, PB_CWD), "/") == 0, "the held entry is intact");
	cache_unref(ch);        /* the held event goes: ch, then pa, freed */
	cache_get_stats(&cs);
	CHECK(cs.objects == 1, "objects %llu", (unsigned long long)cs.objects);
	istr_get_stats(&is);
	CHECK(is.strings == 0, "their strings freed: %llu", (unsigned long long)is.strings);
	cache_mark_exited(cache_peek(101));
	cache_expire(~0ull);
	cache_get_stats(&cs);
	CHECK(cs.size == 0 && cs.objects == 0, "empty");
}

/* Capacity: evictions counted; a recently used entry survives an idle one. */
static void t_evict(void)
{
	struct cache_stats cs;
	uint32_t pid;

	cache_init("n", 100);
	for (pid = 1000; pid < 1100; pid++)
		cache_put(pid, pid);
	cache_put(2000, 1);  /* full: the sweep clears every bit, then evicts one */
	for (pid = 1000; pid < 1100; pid += 2)
		cache_get(pid); /* the even ones are in use */
	for (pid = 3000; pid < 3040; pid++)
		cache_put(pid, pid);
	cache_get_stats(&cs);
	CHECK(cs.size == 100 && cs.evictions == 41, "size %llu evictions %llu",
	      (unsigned long long)cs.size, (unsigned long long)cs.evictions);
	int used_lost = 0, idle_kept = 0;

	for (pid = 1000; pid < 1100; pid++) {
		if (pid % 2 == 0)
			used_lost += cache_peek(pid) == NULL;
		else
			idle_kept += cache_peek(pid) != NULL;
	}
	CHECK(used_lost == 0 && idle_kept <= 50 - 40, "used lost %d, idle kept %d", used_lost,
	      idle_kept);
	CHECK(cache_get(99999) == NULL, "miss");
	cache_get_stats(&cs);
	CHECK(cs.misses == 1, "misses %llu", (unsigned long long)cs.misses);
}

/* exec_id: base64 of "node:ktime:pid", padded. */
static void t_exec_id(void)
{
	char buf[448];

	cache_init("enr-test", 1024);
	/* base64("enr-test:12345:42") */
	CHECK(strcmp(cache_exec_id_buf(12345, 42, buf, sizeof(buf)),
		     "ZW5yLXRlc3Q6MTIzNDU6NDI=") == 0, "got %s", buf);
	CHECK(cache_exec_id(0, 1, buf, sizeof(buf)) == strlen("ZW5yLXRlc3Q6MDox") &&
	      strcmp(buf, "ZW5yLXRlc3Q6MDox") == 0, "got %s", buf);
	CHECK(strcmp(cache_exec_id_buf(18446744073709551615ull, 4294967295u, buf, sizeof(buf)),
		     "ZW5yLXRlc3Q6MTg0NDY3NDQwNzM3MDk1NTE2MTU6NDI5NDk2NzI5NQ==") == 0, "got %s", buf);
}

int main(void)
{
	t_intern();
	cache_init("n", 1024);
	t_refs();
	t_evict();
	t_exec_id();
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
