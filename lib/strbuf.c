/* strbuf: a growable byte buffer; see strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Report and abort: callers are written on the premise that growth succeeds. */
static void strbuf_oom(size_t want)
{
	fprintf(stderr, "strbuf: panic: out of memory growing a buffer to %zu bytes\n", want);
	abort();
}

/* Make room for n more bytes plus the NUL; aborts on overflow or OOM. */
void strbuf_grow(struct strbuf *sb, size_t n)
{
	if (n > SIZE_MAX - sb->len - 1)
		strbuf_oom(SIZE_MAX);
	size_t need = sb->len + n + 1;
	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(sb->buf, cap);
	if (!p)
		strbuf_oom(cap);
	sb->buf = p;
	sb->cap = cap;
}

void strbuf_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	/* Format once into a stack buffer: most calls are short and need no second pass. */
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fprintf(stderr, "strbuf: panic: bad format string \"%s\"\n", fmt);
		abort();
	}
	if ((size_t)n < sizeof small) {
		strbuf_append(sb, small, (size_t)n);
		return;
	}
	strbuf_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void strbuf_truncate(struct strbuf *sb, size_t len)
{
	if (len >= sb->len)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}

void strbuf_reset(struct strbuf *sb)
{
	strbuf_truncate(sb, 0);
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}
