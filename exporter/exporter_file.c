/* exporter_file: the JSON-lines file sink; see exporter_file.h for the contract.
 *
 * The buffer is one strbuf of complete lines, except that its head may be the
 * rest of a line whose start a short write already put in the file
 * (`midline`). Rotation and reopening only happen at line boundaries, which
 * is what keeps every line whole inside one file. */
#include "exporter_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "strbuf.h"

#define XF_FLUSH_AT (64u * 1024)      /* pending bytes that trigger a flush from xfile_write */
#define XF_BUF_CAP (8u * 1024 * 1024) /* pending bytes beyond which new lines are dropped */
#define XF_CHECK_NS 1000000000ull     /* how often to look for a deleted or moved file */

struct xfile {
	char *path;
	char *name_a, *name_b; /* room for "<path>.<n>" while rotating */
	int fd;		       /* -1 while the file could not be (re)opened */
	unsigned mode;
	uint64_t max_bytes;
	int backups;
	uint64_t size; /* bytes in the current file */
	dev_t dev;     /* identity of the open file, to notice it being replaced */
	ino_t ino;
	uint64_t checked_ns; /* monotonic time of the last identity check */
	uint64_t check_ns;   /* interval between identity checks (tests change it) */
	int midline;	     /* the file ends inside a line: its rest must follow there */
	size_t flush_at;     /* pending size at which xfile_write flushes */
	struct strbuf buf;
	int compress; /* gzip rotated files to <path>.<n>.gz */
	uint64_t lines, bytes, rotations, errors, dropped, reopens;
};

/* Monotonic clock in ns. */
static uint64_t xf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Create the directories leading to path (mode 0755); returns -1 with errno on failure. */
static int xf_mkdirs(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -1;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			rc = -1;
			*s = '/';
			break;
		}
		*s = '/';
	}
	int saved = errno;
	free(p);
	errno = saved;
	return rc;
}

/* Open path for appending with the configured mode; on failure returns -1 and
 * describes it in err when err is not NULL. */
static int xf_openfd(struct xfile *xf, char *err, size_t errlen)
{
	struct stat st;
	const char *what = "create directories for";
	int fd = -1;

	if (xf_mkdirs(xf->path) < 0)
		goto fail;
	what = "open";
	fd = open(xf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, xf->mode);
	if (fd < 0)
		goto fail;
	/* open() applies the umask to a new file and leaves an old one's mode alone. */
	what = "set the mode of";
	if (fchmod(fd, xf->mode) < 0)
		goto fail;
	what = "stat";
	if (fstat(fd, &st) < 0)
		goto fail;
	xf->fd = fd;
	xf->size = (uint64_t)st.st_size;
	xf->dev = st.st_dev;
	xf->ino = st.st_ino;
	xf->midline = 0;
	xf->checked_ns = xf_now_ns();
	return 0;
fail:
	if (err)
		snprintf(err, errlen, "cannot %s %s: %s", what, xf->path, strerror(errno));
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* Reopen the file if, about once a second, it turns out deleted or moved away;
 * also retry an open that failed earlier. */
static void xf_check(struct xfile *xf)
{
	struct stat fs, ps;

	if (xf->midline)
		return;
	uint64_t now = xf_now_ns();
	if (xf->fd >= 0 && now - xf->checked_ns < xf->check_ns)
		return;
	xf->checked_ns = now;
	if (xf->fd >= 0) {
		if (fstat(xf->fd, &fs) == 0 && fs.st_nlink > 0) {
			if (stat(xf->path, &ps) == 0) {
				if (ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino)
					return;
			} else if (errno != ENOENT) {
				return; /* cannot tell; keep writing where we are */
			}
		}
		close(xf->fd);
		xf->fd = -1;
		xf->reopens++;
	}
	if (xf_openfd(xf, NULL, 0) < 0)
		xf->errors++;
}

/* gzip src into dst (through dst.tmp, mode as the file) and remove src.
 * Returns -1 on failure, leaving src in place. */
static int xf_gzip(const struct xfile *xf, const char *src, const char *dst)
{
	char tmp[4096 + 8], buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out, ok = 1;
	gzFile gz;
	ssize_t n;

	if (in < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, xf->mode);
	if (out < 0 || fchmod(out, xf->mode) < 0 || !(gz = gzdopen(out, "wb"))) {
		if (out >= 0)
			close(out);
		close(in);
		unlink(tmp);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (gzwrite(gz, buf, (unsigned)n) != (int)n) {
			ok = 0;
			break;
		}
	if (n < 0)
		ok = 0;
	close(in);
	if (gzclose(gz) != Z_OK)
		ok = 0;
	if (!ok || rename(tmp, dst) < 0) {
		unlink(tmp);
		return -1;
	}
	unlink(src);
	return 0;
}

/* Shift path.K to path.K+1 (the oldest is overwritten), path to path.1, and
 * open a fresh path; with compression the backups are path.K.gz and path.1 is
 * compressed after the new file is open. Returns -1 if the file could not be
 * moved (the old one stays open) or the new one not opened (fd is then -1). */
static int xf_rotate(struct xfile *xf)
{
	size_t room = strlen(xf->path) + 24;
	const char *gz = xf->compress ? ".gz" : "";

	if (xf->backups > 0) {
		for (int k = xf->backups - 1; k >= 1; k--) {
			snprintf(xf->name_a, room, "%s.%d%s", xf->path, k, gz);
			snprintf(xf->name_b, room, "%s.%d%s", xf->path, k + 1, gz);
			if (rename(xf->name_a, xf->name_b) < 0 && errno != ENOENT)
				xf->errors++;
		}
		snprintf(xf->name_b, room, "%s.1", xf->path);
		if (rename(xf->path, xf->name_b) < 0 && errno != ENOENT) {
			xf->errors++;
			return -1;
		}
	} else if (unlink(xf->path) < 0 && errno != ENOENT) {
		xf->errors++;
		return -1;
	}
	close(xf->fd);
	xf->fd = -1;
	xf->rotations++;
	if (xf_openfd(xf, NULL, 0) < 0) {
		xf->errors++;
		return -1;
	}
	if (xf->compress && xf->backups > 0) {
		snprintf(xf->name_a, room, "%s.1.gz", xf->path);
		if (xf_gzip(xf, xf->name_b, xf->name_a) < 0)
			xf->errors++; /* path.1 stays, uncompressed */
	}
	return 0;
}

/* How many of the n pending bytes at p go into the current file now; 0 means
 * rotate first. Only whole lines are taken, except the rest of a started line
 * and a single line longer than max_bytes, which gets an empty file. */
static size_t xf_chunk(const struct xfile *xf, const char *p, size_t n)
{
	const char *nl;

	if (xf->midline) {
		nl = memchr(p, '\n', n);
		return nl ? (size_t)(nl - p) + 1 : n;
	}
	if (xf->max_bytes == 0)
		return n;
	uint64_t room = xf->size < xf->max_bytes ? xf->max_bytes - xf->size : 0;
	if (n <= room)
		return n;
	nl = room ? memrchr(p, '\n', (size_t)room) : NULL;
	if (nl)
		return (size_t)(nl - p) + 1;
	if (xf->size > 0)
		return 0;
	nl = memchr(p, '\n', n);
	return nl ? (size_t)(nl - p) + 1 : n;
}

/* Count n bytes from p as written to the current file. */
static void xf_written(struct xfile *xf, const char *p, size_t n)
{
	xf->bytes += n;
	xf->size += n;
	for (const char *q = p, *e = p + n; (q = memchr(q, '\n', (size_t)(e - q))); q++)
		xf->lines++;
	xf->midline = p[n - 1] != '\n';
}

struct xfile *xfile_open(const char *path, unsigned mode, uint64_t max_bytes, int backups,
			 char *err, size_t errlen)
{
	struct xfile *xf;

	if (!path || !*path || (mode & ~07777u) || backups < 0) {
		if (err)
			snprintf(err, errlen,
				 "bad file sink arguments (path \"%s\", mode %#o, backups %d)",
				 path ? path : "", mode, backups);
		return NULL;
	}
	xf = calloc(1, sizeof *xf);
	if (!xf || !(xf->path = strdup(path)) || !(xf->name_a = malloc(strlen(path) + 24)) ||
	    !(xf->name_b = malloc(strlen(path) + 24))) {
		if (err)
			snprintf(err, errlen, "out of memory opening %s", path);
		goto fail;
	}
	xf->fd = -1;
	xf->mode = mode;
	xf->max_bytes = max_bytes;
	xf->backups = backups;
	xf->flush_at = XF_FLUSH_AT;
	xf->check_ns = XF_CHECK_NS;
	strbuf_init(&xf->buf);
	if (xf_openfd(xf, err, errlen) < 0)
		goto fail;
	return xf;
fail:
	if (xf) {
		free(xf->path);
		free(xf->name_a);
		free(xf->name_b);
		free(xf);
	}
	return NULL;
}

int xfile_write(struct xfile *xf, const char *line, size_t len)
{
	/* An oversized line is still taken into an empty buffer: refusing it
	 * would drop it forever, not just while the disk is failing. */
	if (xf->buf.len > 0 && (len >= XF_BUF_CAP || xf->buf.len + len + 1 > XF_BUF_CAP)) {
		xf->dropped++;
		errno = ENOBUFS;
		return -1;
	}
	strbuf_append(&xf->buf, line, len);
	strbuf_putc(&xf->buf, '\n');
	if (xf->buf.len >= xf->flush_at)
		xfile_flush(xf); /* a failure is counted and the data kept */
	return 0;
}

int xfile_flush(struct xfile *xf)
{
	size_t off = 0;
	int rc = 0, saved = 0, may_rotate = 1;

	xf_check(xf);
	while (off < xf->buf.len) {
		if (xf->fd < 0) {
			rc = -1;
			saved = EBADF;
			break;
		}
		const char *p = xf->buf.buf + off;
		size_t n = may_rotate ? xf_chunk(xf, p, xf->buf.len - off) : xf->buf.len - off;
		if (n == 0) {
			/* If the file cannot be moved aside, keep appending to it
			 * rather than hold data back. */
			if (xf_rotate(xf) < 0)
				may_rotate = 0;
			continue;
		}
		ssize_t w = write(xf->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			saved = w < 0 ? errno : EIO;
			xf->errors++;
			rc = -1;
			break;
		}
		xf_written(xf, p, (size_t)w);
		off += (size_t)w;
	}
	if (off) {
		memmove(xf->buf.buf, xf->buf.buf + off, xf->buf.len - off);
		strbuf_truncate(&xf->buf, xf->buf.len - off);
	}
	/* After a failure, let xfile_write retry only every further 64 KiB, not on every line. */
	xf->flush_at = rc ? xf->buf.len + XF_FLUSH_AT : XF_FLUSH_AT;
	if (rc)
		errno = saved;
	return rc;
}

void xfile_close(struct xfile *xf)
{
	if (!xf)
		return;
	xfile_flush(xf);
	if (xf->fd >= 0)
		close(xf->fd);
	strbuf_free(&xf->buf);
	free(xf->path);
	free(xf->name_a);
	free(xf->name_b);
	free(xf);
}

void xfile_set_compress(struct xfile *xf, int on)
{
	xf->compress = on;
}

uint64_t xfile_lines(const struct xfile *xf)
{
	return xf->lines;
}
uint64_t xfile_bytes(const struct xfile *xf)
{
	return xf->bytes;
}
uint64_t xfile_rotations(const struct xfile *xf)
{
	return xf->rotations;
}
uint64_t xfile_errors(const struct xfile *xf)
{
	return xf->errors;
}
uint64_t xfile_dropped(const struct xfile *xf)
{
	return xf->dropped;
}
uint64_t xfile_reopens(const struct xfile *xf)
{
	return xf->reopens;
}
size_t xfile_pending(const struct xfile *xf)
{
	return xf->buf.len;
}
