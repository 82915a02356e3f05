/* Unit test of cpath_join (collector/collector_path.h): how the collector joins the
 * kernel-resolved directory and the user's string of an unresolved file operand. */
#include <stdio.h>
#include <string.h>

#include "../../collector/collector_path.h"

static int failed;

/* Check one join. */
static void expect(const char *dir, const char *name, const char *want, int want_trunc)
{
	char out[CPATH_MAX + 1];
	int trunc = -1, n = cpath_join(dir, strlen(dir), name, strlen(name), out, sizeof(out),
				       &trunc);

	if (n != (int)strlen(want) || strcmp(out, want) || trunc != want_trunc) {
		printf("FAIL: join(%s, %s) = %d %s trunc %d, want %s trunc %d\n", dir, name, n, out,
		       trunc, want, want_trunc);
		failed = 1;
	}
}

int main(void)
{
	static char longname[7000], want[CPATH_MAX + 1];

	expect("/etc", "shadow", "/etc/shadow", 0);
	expect("/etc/", "..//etc/./shadow", "/etc/shadow", 0);
	expect("/home/x", "/etc//./shadow", "/etc/shadow", 0);  /* absolute ignores dir */
	expect("", "/../../etc/shadow", "/etc/shadow", 0);	  /* ".." stops at the root */
	expect("/", "", "/", 0);
	expect("/a/b", "../..", "/", 0);
	expect("/a/b", "c/./d/../e/", "/a/b/c/e", 0);
	expect("/a", "...", "/a/...", 0); /* "..." is a name */
	/* longer than PATH_MAX: the components that fit are kept, flagged */
	memset(longname, 'a', 3000);
	longname[3000] = '/';
	memset(longname + 3001, 'b', 3000);
	longname[6001] = '\0';
	want[0] = '/';
	memset(want + 1, 'a', 3000);
	want[3001] = '\0';
	expect("/", longname, want, 1);
	/* a tiny output buffer never overflows */
	{
		char small[4];
		int t;

		cpath_join("/etc", 4, "shadow", 6, small, sizeof(small), &t);
		if (strlen(small) >= sizeof(small) || t != 1) {
			printf("FAIL: small buffer: %s trunc %d\n", small, t);
			failed = 1;
		}
	}
	printf("%s\n", failed ? "FAIL" : "ok");
	return failed;
}
