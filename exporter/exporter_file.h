/* exporter_file: the JSON-lines file sink (Tetragon's --export-filename).
 *
 * Lines are buffered in memory and written by xfile_flush (the stage calls it
 * on its timer and when its input queue is empty) or when 64 KiB are pending.
 * With max_bytes > 0 the file is rotated before a line would make it exceed
 * max_bytes: path → path.1 → ... → path.<backups>, the oldest overwritten.
 * A line is never split across two files; a line longer than max_bytes gets a
 * file of its own.
 *
 * Failures never lose data silently: a failed write (ENOSPC, EIO) is counted
 * and its data kept for the next flush, up to 8 MiB pending; beyond that new
 * lines are refused and counted as dropped. If an operator deletes or moves
 * the file (logrotate without copytruncate), it is reopened at path within
 * about a second. */
#ifndef VIGIL_EXPORTER_FILE_H
#define VIGIL_EXPORTER_FILE_H

#include <stddef.h>
#include <stdint.h>

struct xfile;

/* Open (creating it and its parent directories, 0755) the file at path for
 * appending, and force its mode to mode. max_bytes 0 disables rotation;
 * backups is how many rotated files to keep (0: rotation just starts over).
 * Returns NULL with a message in err (errlen bytes) on failure. */
struct xfile *xfile_open(const char *path, unsigned mode, uint64_t max_bytes, int backups,
			 char *err, size_t errlen);

/* gzip rotated files (path.N.gz) from the next rotation on. */
void xfile_set_compress(struct xfile *xf, int on);

/* Queue line (len bytes, no '\n' inside) and a newline. Returns 0, or -1 with
 * errno ENOBUFS when the line was dropped because 8 MiB are already pending. */
int xfile_write(struct xfile *xf, const char *line, size_t len);

/* Write out everything pending, rotating as needed. Returns 0, or -1 with
 * errno set if some data is still pending (it is kept for the next flush). */
int xfile_flush(struct xfile *xf);

/* Flush, close and free. Data that still cannot be written is lost; call
 * xfile_flush first and check it if that matters. */
void xfile_close(struct xfile *xf);

uint64_t xfile_lines(const struct xfile *xf);	  /* complete lines written to files */
uint64_t xfile_bytes(const struct xfile *xf);	  /* bytes written to files */
uint64_t xfile_rotations(const struct xfile *xf); /* rotations done */
uint64_t xfile_errors(const struct xfile *xf);	  /* failed writes, opens, renames */
uint64_t xfile_dropped(const struct xfile *xf);	  /* lines refused while the buffer was full */
uint64_t xfile_reopens(const struct xfile *xf);	  /* reopens after the file was deleted or moved */
size_t xfile_pending(const struct xfile *xf);	  /* bytes buffered, not yet written */

#endif
