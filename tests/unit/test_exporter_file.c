/* Unit tests for exporter/exporter_file.c: rotation without loss or
 * duplication, bounded backups, file mode, reopen after unlink/move, and
 * keeping data across write errors.
 *
 * The Makefile's test rule links only build/libvigil.a (lib/ and common/),
 * not the stage objects, so the sink is compiled into this test directly;
 * that also lets the tests reach into struct xfile (swap its fd for
 * /dev/full, shorten the reopen check interval).
 * Prints one line per check; exits 0 only if every check passed. */
#include "../../exporter/exporter_file.c"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures, checks;
static char dir[64];

/* Record one check and print its line. */
static void check(const char *name, int ok, const char *detail)
{
	checks++;
	if (ok) {
		printf("ok - %s\n", name);
		return;
	}
	failures++;
	printf("FAIL - %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
}

/* Build the test's line number i (varying lengths, no newline). */
static void make_line(struct strbuf *sb, int i)
{
	strbuf_reset(sb);
	strbuf_appendf(sb, "{\"seq\":%d,\"pad\":\"", i);
	for (int k = 0; k < (i * 37) % 80; k++)
		strbuf_putc(sb, 'a' + k % 26);
	strbuf_append(sb, "\"}", 2);
}

/* Append the whole file at path to sb; returns -1 if it cannot be read. */
static int slurp(const char *path, struct strbuf *sb)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		strbuf_append(sb, buf, n);
	fclose(f);
	return 0;
}

/* Concatenate path.K ... path.1, path (oldest first) into all; returns the
 * number of files found and sets *bad if one is over max_bytes (while holding
 * more than one line), does not end in '\n', or does not have mode 0600. */
static int collect(const char *path, uint64_t max_bytes, struct strbuf *all, int *bad)
{
	char name[256];
	struct strbuf one;
	int k = 1, files = 0;
	struct stat st;

	strbuf_init(&one);
	*bad = 0;
	for (;;) {
		snprintf(name, sizeof name, "%s.%d", path, k);
		if (access(name, F_OK) < 0)
			break;
		k++;
	}
	for (k--; k >= 0; k--) {
		if (k)
			snprintf(name, sizeof name, "%s.%d", path, k);
		else
			snprintf(name, sizeof name, "%s", path);
		strbuf_reset(&one);
		if (slurp(name, &one) < 0 || stat(name, &st) < 0) {
			*bad = 1;
			continue;
		}
		files++;
		char *nl = one.len ? memchr(one.buf, '\n', one.len) : NULL;
		int single = nl && (size_t)(nl - one.buf) + 1 == one.len;
		if ((max_bytes && one.len > max_bytes && !single) ||
		    (one.len && one.buf[one.len - 1] != '\n') || (st.st_mode & 07777) != 0600)
			*bad = 1;
		strbuf_append(all, one.buf, one.len);
	}
	strbuf_free(&one);
	return files;
}

/* Remove every file in the test directory tree made by one test. */
static void cleanup(const char *path)
{
	char name[256];
	for (int k = 0; k < 100000; k++) {
		if (k)
			snprintf(name, sizeof name, "%s.%d", path, k);
		else
			snprintf(name, sizeof name, "%s", path);
		if (unlink(name) < 0 && k > 0)
			break;
	}
}

/* Many lines, small max size, enough backups to keep all: exact replay. */
static void test_rotation_no_loss(void)
{
	char path[128], err[256] = "", msg[128];
	struct strbuf line, want, got;
	enum { N = 3000 };

	snprintf(path, sizeof path, "%s/a/b/vigil.log", dir);
	strbuf_init(&line);
	strbuf_init(&want);
	strbuf_init(&got);
	struct xfile *xf = xfile_open(path, 0600, 1000, 400, err, sizeof err);
	check("open creates parent directories", xf != NULL, err);
	if (!xf)
		return;
	int rc = 0;
	for (int i = 0; i < N; i++) {
		make_line(&line, i);
		rc |= xfile_write(xf, line.buf, line.len);
		strbuf_append(&want, line.buf, line.len);
		strbuf_putc(&want, '\n');
		if (i % 7 == 6)
			rc |= xfile_flush(xf);
	}
	rc |= xfile_flush(xf);
	uint64_t rotations = xfile_rotations(xf), lines = xfile_lines(xf), bytes = xfile_bytes(xf);
	xfile_close(xf);

	int bad, files = collect(path, 1000, &got, &bad);
	snprintf(msg, sizeof msg, "%d files, %zu bytes read, %zu written, %" PRIu64 " rotations",
		 files, got.len, want.len, rotations);
	check("every write and flush succeeded", rc == 0, NULL);
	check("path.K..path.1,path replays exactly the lines written, in order",
	      got.len == want.len && memcmp(got.buf, want.buf, want.len) == 0, msg);
	check("each file ends at a line end, holds <= max_bytes, has mode 0600", !bad, msg);
	check("rotation counter matches the files", files > 10 && rotations == (uint64_t)files - 1,
	      msg);
	check("line and byte counters", lines == N && bytes == want.len, msg);
	struct stat st;
	snprintf(msg, sizeof msg, "%s/a/b", dir);
	check("parent directory mode 0755", stat(msg, &st) == 0 && (st.st_mode & 07777) == 0755,
	      NULL);
	cleanup(path);
	strbuf_free(&line);
	strbuf_free(&want);
	strbuf_free(&got);
}

/* With 3 backups, at most 4 files remain and they hold the newest lines. */
static void test_bounded_backups(int backups)
{
	char path[128], err[256], msg[160], name[160];
	struct strbuf line, want, got;
	enum { N = 2000 };

	snprintf(path, sizeof path, "%s/bounded%d.log", dir, backups);
	strbuf_init(&line);
	strbuf_init(&want);
	strbuf_init(&got);
	struct xfile *xf = xfile_open(path, 0600, 2000, backups, err, sizeof err);
	if (!xf) {
		check("open for bounded backups", 0, err);
		return;
	}
	for (int i = 0; i < N; i++) {
		make_line(&line, i);
		xfile_write(xf, line.buf, line.len);
		strbuf_append(&want, line.buf, line.len);
		strbuf_putc(&want, '\n');
		if (i % 5 == 4)
			xfile_flush(xf);
	}
	xfile_close(xf);
	int bad, files = collect(path, 2000, &got, &bad);
	snprintf(name, sizeof name, "%s.%d", path, backups + 1);
	int extra = access(name, F_OK) == 0;
	/* What is left must be the tail of the stream, starting at a line start. */
	int suffix = got.len > 0 && got.len < want.len &&
		     memcmp(want.buf + want.len - got.len, got.buf, got.len) == 0 &&
		     want.buf[want.len - got.len - 1] == '\n';
	snprintf(msg, sizeof msg, "backups=%d: %d files, %zu of %zu bytes kept", backups, files,
		 got.len, want.len);
	snprintf(name, sizeof name,
		 "backups=%d: number of files bounded, they hold the newest lines whole", backups);
	check(name, files == backups + 1 && !extra && !bad && suffix, msg);
	cleanup(path);
	strbuf_free(&line);
	strbuf_free(&want);
	strbuf_free(&got);
}

/* An existing file's mode is forced; a line over max_bytes gets a file of its own. */
static void test_mode_and_big_line(void)
{
	char path[128], err[256], msg[160];
	struct strbuf big, got;
	struct stat st;

	snprintf(path, sizeof path, "%s/mode.log", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) {
		fchmod(fd, 0644);
		if (write(fd, "old\n", 4) != 4)
			check("prepare old file", 0, strerror(errno));
		close(fd);
	}
	struct xfile *xf = xfile_open(path, 0600, 100, 5, err, sizeof err);
	if (!xf) {
		check("open existing file", 0, err);
		return;
	}
	check("existing 0644 file is forced to 0600",
	      stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, NULL);
	strbuf_init(&big);
	strbuf_init(&got);
	for (int i = 0; i < 300; i++)
		strbuf_putc(&big, 'x');
	xfile_write(xf, "small", 5);
	xfile_write(xf, big.buf, big.len);
	xfile_write(xf, "after", 5);
	xfile_close(xf);
	strbuf_reset(&big);
	slurp(path, &got);
	snprintf(msg, sizeof msg, "%s.1", path);
	slurp(msg, &big);
	int ok = strcmp(got.buf ? got.buf : "", "after\n") == 0 && big.len == 301 &&
		 big.buf[300] == '\n';
	strbuf_reset(&got);
	snprintf(msg, sizeof msg, "%s.2", path);
	slurp(msg, &got);
	ok = ok && got.buf && strcmp(got.buf, "old\nsmall\n") == 0;
	check("300-byte line with max 100 sits alone in path.1; appends went after the old content",
	      ok, NULL);
	cleanup(path);
	strbuf_free(&big);
	strbuf_free(&got);
}

/* The operator deletes the file, then moves it away (logrotate): we follow the path. */
static void test_reopen(void)
{
	char path[128], moved[160], err[256], msg[160];
	struct strbuf got, old;

	snprintf(path, sizeof path, "%s/reopen.log", dir);
	snprintf(moved, sizeof moved, "%s/reopen.log.moved", dir);
	strbuf_init(&got);
	strbuf_init(&old);
	struct xfile *xf = xfile_open(path, 0600, 0, 0, err, sizeof err);
	if (!xf) {
		check("open for reopen", 0, err);
		return;
	}
	xfile_write(xf, "one", 3);
	xfile_flush(xf);
	unlink(path);
	usleep(1100 * 1000); /* the default check interval, for real once */
	xfile_write(xf, "two", 3);
	int rc = xfile_flush(xf);
	slurp(path, &got);
	snprintf(msg, sizeof msg, "rc %d, reopens %" PRIu64 ", file \"%s\"", rc, xfile_reopens(xf),
		 got.buf ? got.buf : "(missing)");
	check("after an external unlink the next flush recreates the file",
	      rc == 0 && xfile_reopens(xf) == 1 && got.buf && strcmp(got.buf, "two\n") == 0, msg);

	rename(path, moved);
	xf->check_ns = 0; /* check at once instead of sleeping again */
	xfile_write(xf, "three", 5);
	rc = xfile_flush(xf);
	strbuf_reset(&got);
	slurp(path, &got);
	slurp(moved, &old);
	check("after an external rename the next flush writes to a new file at path",
	      rc == 0 && xfile_reopens(xf) == 2 && got.buf && strcmp(got.buf, "three\n") == 0 &&
		  old.buf && strcmp(old.buf, "two\n") == 0,
	      got.buf);
	struct stat st;
	check("recreated file has mode 0600", stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	      NULL);
	xfile_close(xf);
	unlink(path);
	unlink(moved);
	strbuf_free(&got);
	strbuf_free(&old);
}

/* ENOSPC: data is kept and retried; past the cap lines are refused and counted. */
static void test_write_errors(void)
{
	char path[128], err[256], msg[200];
	struct strbuf line, want, got;
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);

	if (full < 0) {
		printf("SKIP - write errors: /dev/full unavailable: %s\n", strerror(errno));
		failures++; /* a skipped check must not pass silently */
		checks++;
		return;
	}
	snprintf(path, sizeof path, "%s/full.log", dir);
	strbuf_init(&line);
	strbuf_init(&want);
	strbuf_init(&got);
	struct xfile *xf = xfile_open(path, 0600, 0, 0, err, sizeof err);
	if (!xf) {
		check("open for write errors", 0, err);
		return;
	}
	xf->check_ns = UINT64_MAX; /* the identity check would notice the swapped fd */
	int real = dup(xf->fd);
	dup2(full, xf->fd);
	xfile_write(xf, "first", 5);
	strbuf_append(&want, "first\n", 6);
	int rc = xfile_flush(xf);
	int e = errno;
	snprintf(msg, sizeof msg, "rc %d errno %s errors %" PRIu64 " pending %zu", rc, strerror(e),
		 xfile_errors(xf), xfile_pending(xf));
	check("flush on a full disk fails with ENOSPC, counts it, keeps the line",
	      rc == -1 && e == ENOSPC && xfile_errors(xf) == 1 && xfile_pending(xf) == 6, msg);

	int refused = 0, refused_errno_ok = 1;
	for (int i = 0; i < 200000; i++) {
		make_line(&line, i);
		if (xfile_write(xf, line.buf, line.len) < 0) {
			refused++;
			refused_errno_ok &= errno == ENOBUFS;
			continue;
		}
		strbuf_append(&want, line.buf, line.len);
		strbuf_putc(&want, '\n');
	}
	snprintf(msg, sizeof msg, "refused %d, dropped %" PRIu64 ", pending %zu, errors %" PRIu64,
		 refused, xfile_dropped(xf), xfile_pending(xf), xfile_errors(xf));
	check("past 8 MiB pending, lines are refused with ENOBUFS and counted as dropped",
	      refused > 0 && refused_errno_ok && xfile_dropped(xf) == (uint64_t)refused &&
		  xfile_pending(xf) <= XF_BUF_CAP && xfile_pending(xf) == want.len,
	      msg);
	check("retries while failing are spaced by 64 KiB, not one per line",
	      xfile_errors(xf) > 1 && xfile_errors(xf) <= 1 + XF_BUF_CAP / XF_FLUSH_AT + 1, msg);

	dup2(real, xf->fd); /* the disk has room again */
	close(real);
	close(full);
	rc = xfile_flush(xf);
	xfile_close(xf);
	slurp(path, &got);
	snprintf(msg, sizeof msg, "rc %d, file %zu bytes, accepted %zu bytes", rc, got.len,
		 want.len);
	check("after the disk recovers, every accepted line is in the file once, in order",
	      rc == 0 && got.len == want.len && memcmp(got.buf, want.buf, want.len) == 0, msg);
	unlink(path);
	strbuf_free(&line);
	strbuf_free(&want);
	strbuf_free(&got);
}

/* Without explicit flushes, the buffer is written once it passes 64 KiB. */
static void test_autoflush(void)
{
	char path[128], err[256], msg[128];
	struct strbuf line;
	struct stat st;

	snprintf(path, sizeof path, "%s/auto.log", dir);
	strbuf_init(&line);
	struct xfile *xf = xfile_open(path, 0600, 0, 0, err, sizeof err);
	if (!xf) {
		check("open for autoflush", 0, err);
		return;
	}
	size_t total = 0;
	for (int i = 0; total < 200 * 1024; i++) {
		make_line(&line, i);
		xfile_write(xf, line.buf, line.len);
		total += line.len + 1;
	}
	stat(path, &st);
	snprintf(msg, sizeof msg, "pending %zu, file %lld of %zu", xfile_pending(xf),
		 (long long)st.st_size, total);
	check("writes past 64 KiB reach the file without xfile_flush",
	      xfile_pending(xf) < XF_FLUSH_AT && (size_t)st.st_size + xfile_pending(xf) == total,
	      msg);
	xfile_close(xf);
	unlink(path);
	strbuf_free(&line);
}

/* Bad arguments and unopenable paths fail with a message. */
static void test_open_errors(void)
{
	char err[256] = "";
	char path[128];

	struct xfile *a = xfile_open("", 0600, 0, 0, err, sizeof err);
	int ok = !a && err[0];
	err[0] = 0;
	snprintf(path, sizeof path, "%s/plainfile", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/plainfile/sub/y.log", dir); /* a component is a file */
	struct xfile *b = xfile_open(path, 0600, 0, 0, err, sizeof err);
	ok = ok && !b && strstr(err, "plainfile");
	check("open refuses an empty path and a path through a plain file, with a message", ok,
	      err);
	snprintf(path, sizeof path, "%s/plainfile", dir);
	unlink(path);
}

int main(void)
{
	umask(022);
	snprintf(dir, sizeof dir, "/tmp/vigil-test-xfile-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("test_exporter_file: fatal: mkdtemp");
		return 1;
	}
	test_rotation_no_loss();
	test_bounded_backups(3);
	test_bounded_backups(0);
	test_mode_and_big_line();
	test_autoflush();
	test_write_errors();
	test_reopen();
	test_open_errors();

	char sub[128];
	snprintf(sub, sizeof sub, "%s/a/b", dir);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/a", dir);
	rmdir(sub);
	if (rmdir(dir) < 0)
		printf("note: %s left behind: %s\n", dir, strerror(errno));
	printf("%d checks, %d passed, %d failed\n", checks, checks - failures, failures);
	return failures ? 1 : 0;
}
