/*
 * collector_needs.h - what the policies can match, for the in-kernel filter
 * (--policies): the event kinds and file path prefixes their rules need, read
 * with the evaluator's parser (common/policy.c), and a signature of the
 * policy files that tells when to read them again.
 */
#ifndef COLLECTOR_NEEDS_H
#define COLLECTOR_NEEDS_H

#include <stddef.h>
#include <stdint.h>

/* What a set of policies needs: POL_NEED_* bits (common/policy.h) and, without
 * POL_NEED_ALL_PATHS, the file path prefixes. */
struct cneeds {
	unsigned need;
	char **pre;
	size_t npre;
	size_t npolicies;
};

/* Read the policies of paths (files or directories, comma-separated) into
 * out. 0, or -1 with the first error in err: a file with errors is left out,
 * out holds what the others need. */
int cneeds_load(const char *paths, struct cneeds *out, char *err, size_t errlen);
void cneeds_free(struct cneeds *n);

/* A signature of the policy files under paths (names, sizes, mtimes): it
 * changes when one is added, removed or written. */
uint64_t cneeds_signature(const char *paths);

#endif /* COLLECTOR_NEEDS_H */
