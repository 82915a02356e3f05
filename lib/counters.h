/* counters.h — named 64-bit counters of one process, e.g. "in", "drop.malformed".
 * Pointers returned stay valid for the life of the set, so hot paths look a name up once. */
#ifndef VIGIL_COUNTERS_H
#define VIGIL_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define COUNTERS_MAX 512
#define COUNTER_NAME_MAX 64

struct counter {
	char name[COUNTER_NAME_MAX];
	uint64_t value;
};

struct counters {
	struct counter c[COUNTERS_MAX];
	size_t n;
	uint64_t overflow;  /* lookups that found no free slot */
};

/* The counter called name, created at 0 if new; never NULL (a full set returns a sink). */
uint64_t *counters_get(struct counters *cs, const char *name);
/* Same, with the name built from a prefix and a suffix: "drop." + "malformed". */
uint64_t *counters_get2(struct counters *cs, const char *prefix, const char *suffix);
/* Set a gauge-like counter to an absolute value. */
void counters_set(struct counters *cs, const char *name, uint64_t v);

#endif
