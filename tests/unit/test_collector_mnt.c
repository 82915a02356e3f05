/* Unit test of collector/collector_mnt.h: mountinfo parsing (escapes, bad
 * lines) and the bind-mount path rewrite on a fixed table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/collector_mnt.h"

static int failures;

/* Report one check. */
static void expect(int ok, const char *what, const char *got)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", what, got ? ": " : "", got ? got : "");
	if (!ok)
		failures++;
}

/* Rewrite path through mount id and compare with want (NULL: kept). */
static void check(struct cmnt *m, unsigned id, const char *path, const char *want)
{
	char out[4096], what[256];
	int n = cmnt_resolve(m, id, path, strlen(path), out, sizeof(out));

	snprintf(what, sizeof(what), "mount %u %s -> %s", id, path, want ? want : "(kept)");
	if (!want)
		expect(n < 0, what, n < 0 ? NULL : out);
	else
		expect(n == (int)strlen(want) && !strcmp(out, want), what, n < 0 ? "(kept)" : out);
}

int main(void)
{
	static const char text[] =
		"20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"30 20 8:1 /etc /tmp/x rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"31 20 8:1 /etc/shadow /tmp/f rw - ext4 /dev/sda1 rw\n"
		"32 20 8:1 /home/a\\040b /tmp/sp\\040ace rw - ext4 /dev/sda1 rw\n"
		"40 20 0:50 / /mnt/btr rw - btrfs /dev/sdb rw\n"
		"41 20 0:50 /@home /home rw - btrfs /dev/sdb rw\n"
		"50 20 0:60 /sub /data rw - xfs /dev/sdc rw\n"
		"60 20 8:1 /etc /tmp/x/nested rw - ext4 /dev/sda1 rw\n"
		"garbage line\n"
		"70 20 zz /a /b rw - x y rw\n"
		"\n";
	struct cmnt m = { .fd = -1 };

	m.buf = strdup(text);
	m.bufcap = sizeof(text);
	cmnt_parse(&m);
	/* keep cmnt_resolve from reading the real /proc/self/mountinfo */
	m.fd = open("/dev/null", O_RDONLY);
	expect(m.n == 8, "8 valid lines parsed, 2 bad skipped", NULL);
	expect(cmnt_find(&m, 32) && !strcmp(cmnt_find(&m, 32)->mp, "/tmp/sp ace"),
	       "octal escape in mountpoint", NULL);
	check(&m, 30, "/tmp/x/shadow", "/etc/shadow");
	check(&m, 30, "/tmp/x", "/etc");
	check(&m, 30, "/tmp/xy/shadow", NULL);		/* not under the mountpoint */
	check(&m, 31, "/tmp/f", "/etc/shadow");		/* a single-file bind */
	check(&m, 32, "/tmp/sp ace/f", "/home/a b/f");
	check(&m, 20, "/etc/shadow", NULL);		/* root "/" */
	check(&m, 41, "/home/u/.ssh/id", "/mnt/btr/@home/u/.ssh/id");
	check(&m, 50, "/data/f", NULL);			/* source not mounted whole */
	check(&m, 60, "/tmp/x/nested/passwd", "/etc/passwd");
	check(&m, 0, "/tmp/x/shadow", NULL);		/* unknown id */
	check(&m, 99, "/tmp/x/shadow", NULL);		/* not in the table */
	cmnt_free(&m);
	printf("%s\n", failures ? "FAIL" : "PASS: collector_mnt");
	return failures ? 1 : 0;
}
