/*
 * collector_path.h - lexical path joining for file events whose object the
 * kernel could not give us (failed opens, unlink, rename, ...): the BPF side
 * sends the kernel-resolved directory (dirfd or cwd) and the user's string;
 * this joins them and removes "", "." and ".." components the way the
 * kernel's lookup would for a path without symlinks. Header-only so that the
 * collector, its self-test and the unit test share one copy.
 */
#ifndef COLLECTOR_PATH_H
#define COLLECTOR_PATH_H

#include <stddef.h>
#include <string.h>

#define CPATH_MAX 4095

/*
 * Join dir (absolute, may be empty when name is absolute) and name into out
 * (outsz bytes, NUL-terminated), normalized. Returns the length; when the
 * result does not fit, components that do not fit are left out and *trunc = 1.
 */
static inline int cpath_join(const char *dir, size_t dlen, const char *name, size_t nlen,
			     char *out, size_t outsz, int *trunc)
{
	/* component stack: offsets into out; the path is rebuilt left to right */
	size_t starts[CPATH_MAX / 2 + 2];
	size_t depth = 0, len = 0, i, j, pass;
	const char *src[2] = { dir, name };
	size_t srclen[2] = { dlen, nlen };
	int cut = 0;

	*trunc = 0;
	if (outsz < 2)
		return -1;
	if (nlen && name[0] == '/')
		srclen[0] = 0; /* an absolute name ignores the directory */
	for (pass = 0; pass < 2; pass++) {
		const char *s = src[pass];

		for (i = 0; i < srclen[pass]; i = j) {
			size_t c;

			while (i < srclen[pass] && s[i] == '/')
				i++;
			for (j = i; j < srclen[pass] && s[j] != '/'; j++)
				;
			c = j - i;
			if (c == 0 || (c == 1 && s[i] == '.'))
				continue;
			if (c == 2 && s[i] == '.' && s[i + 1] == '.') {
				if (depth) /* ".." at the root stays at the root */
					len = starts[--depth];
				continue;
			}
			if (len + 1 + c >= outsz || depth >= sizeof(starts) / sizeof(starts[0])) {
				cut = 1; /* too long: keep the leading part, flag it */
				continue;
			}
			starts[depth++] = len;
			out[len++] = '/';
			memcpy(out + len, s + i, c);
			len += c;
		}
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	*trunc = cut;
	return (int)len;
}

#endif /* COLLECTOR_PATH_H */
