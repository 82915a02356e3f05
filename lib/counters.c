/* counters.c — see counters.h. Linear search: sets are small and lookups are cached. */
#include "counters.h"

#include <stdio.h>
#include <string.h>

static uint64_t counters_sink;

uint64_t *counters_get(struct counters *cs, const char *name)
{
	size_t i;

	for (i = 0; i < cs->n; i++)
		if (strcmp(cs->c[i].name, name) == 0)
			return &cs->c[i].value;
	if (cs->n == COUNTERS_MAX) {
		cs->overflow++;
		return &counters_sink;
	}
	snprintf(cs->c[cs->n].name, COUNTER_NAME_MAX, "%s", name);
	cs->c[cs->n].value = 0;
	return &cs->c[cs->n++].value;
}

uint64_t *counters_get2(struct counters *cs, const char *prefix, const char *suffix)
{
	char name[COUNTER_NAME_MAX];

	snprintf(name, sizeof(name), "%s%s", prefix, suffix);
	return counters_get(cs, name);
}

void counters_set(struct counters *cs, const char *name, uint64_t v)
{
	*counters_get(cs, name) = v;
}
