/* check.h — the unit tests' assertion: CHECK(cond, fmt, ...) prints where and what failed
 * and counts it in `fails`; a test's main returns non-zero when fails > 0. Included by
 * one test file each: everything static. */
#ifndef VIGIL_CHECK_H
#define VIGIL_CHECK_H

#include <stdio.h>

static int fails;

#define CHECK(c, ...)                                                                       \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fails++;                                                            \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);       \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
		}                                                                           \
	} while (0)

#endif
