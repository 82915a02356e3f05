/* strbuf: a growable byte buffer for building messages and lines.
 *
 * The buffer owns its memory; running out of memory aborts the process, since
 * every daemon in this tree treats OOM as fatal and callers then need no
 * error paths. While buf is non-NULL it is kept NUL-terminated after len, so
 * text built in it can be handed to C string functions. */
#ifndef VIGIL_STRBUF_H
#define VIGIL_STRBUF_H

#include <stddef.h>
#include <string.h>

struct strbuf {
	char *buf;  /* NULL until the first append */
	size_t len; /* bytes in use, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
};

/* Make sb an empty buffer that owns no memory. */
void strbuf_init(struct strbuf *sb);

/* Make room for n more bytes and the NUL (the slow path of the appends below). */
void strbuf_grow(struct strbuf *sb, size_t n);

/* Append n bytes from p (p may be NULL when n is 0). Inline: encoders call it for
 * every token, and the room is nearly always there already. */
static inline void strbuf_append(struct strbuf *sb, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n >= sb->cap - sb->len) /* cap > len whenever buf is allocated */
		strbuf_grow(sb, n);
	memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

/* Append printf-style formatted text. */
void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one byte. */
static inline void strbuf_putc(struct strbuf *sb, int c)
{
	if (sb->cap - sb->len < 2)
		strbuf_grow(sb, 1);
	sb->buf[sb->len++] = (char)c;
	sb->buf[sb->len] = '\0';
}

/* Cut the contents back to len bytes; len beyond the current length is ignored.
 * Lets an encoder undo a partly written item. */
void strbuf_truncate(struct strbuf *sb, size_t len);

/* Empty the buffer but keep its memory for reuse. */
void strbuf_reset(struct strbuf *sb);

/* Release the memory; sb is then as after strbuf_init. */
void strbuf_free(struct strbuf *sb);

#endif
