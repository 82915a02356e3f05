/* policy_int.h — helpers shared by the policy parser and matcher (not for stages). */
#ifndef VIGIL_POLICY_INT_H
#define VIGIL_POLICY_INT_H

#include "policy.h"

/* Add a string (copied); duplicates are ignored. */
void pol_sset_add(struct pol_sset *s, const char *v, size_t n);
int pol_sset_has(const struct pol_sset *s, const char *v, size_t n);
void pol_sset_free(struct pol_sset *s);
void pol_strm_free(struct pol_strm *m);
int pol_strm_match(const struct pol_strm *m, const char *v, size_t n);
/* Sort and merge the ranges of an integer matcher. */
void pol_intm_finish(struct pol_intm *m);
int pol_intm_match(const struct pol_intm *m, int64_t v);
/* Parse "10.0.0.0/8", "::1", "192.168.1.1" (no slash: a host). 0 or -1. */
int pol_cidr_parse(const char *s, struct pol_cidr *c);
/* Parse an address (no prefix). 4, 6, or 0 when it is not one. */
int pol_addr_parse(const char *s, size_t n, uint8_t a[16]);
/* Placeholders a message template may use; NULL-terminated. */
extern const char *const pol_template_fields[];
/* Function / hook name → kind and operation; 0, or -1 when unknown. */
int pol_function_kind(const char *fn, size_t n, enum pol_kind *kind, unsigned *op);

#endif
