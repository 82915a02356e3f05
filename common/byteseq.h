/* byteseq.h — equality of short byte strings (keys, names, path pieces) without a call:
 * eight bytes at a time, then an overlapping last word; most strings compared here are
 * short and most differ early. Shared by the policy matcher and the JSON encoder. */
#ifndef VIGIL_BYTESEQ_H
#define VIGIL_BYTESEQ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Whether a[0..n) and b[0..n) are the same bytes. */
static inline int byteseq_eq(const void *pa, const void *pb, size_t n)
{
	const unsigned char *a = pa, *b = pb;
	uint64_t x, y;
	uint32_t u, v;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 <= n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		if (u != v)
			return 0;
		memcpy(&u, a + n - 4, 4);
		memcpy(&v, b + n - 4, 4);
		return u == v;
	}
	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

#endif
