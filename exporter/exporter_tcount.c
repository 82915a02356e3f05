/* exporter_tcount: per-type counters by a small cache; see exporter_tcount.h. */
#include "exporter_tcount.h"

#include <string.h>

#define XTC_TYPES 32 /* more event types than Tetragon has */

static struct {
	struct counters *cs;
	char type[COUNTER_NAME_MAX];
	uint64_t *c;
} xtc[XTC_TYPES];
static unsigned xtc_n;

uint64_t *xtc_get(struct counters *cs, const char *type)
{
	unsigned i;

	for (i = 0; i < xtc_n; i++)
		if (xtc[i].cs == cs && xtc[i].type[0] == type[0] && strcmp(xtc[i].type, type) == 0)
			return xtc[i].c;
	uint64_t *c = counters_get2(cs, "events.", type);
	/* Counter pointers stay valid for the set's life (counters.h), so they can be kept. */
	if (xtc_n < XTC_TYPES && strlen(type) < sizeof xtc[0].type) {
		xtc[xtc_n].cs = cs;
		strcpy(xtc[xtc_n].type, type);
		xtc[xtc_n].c = c;
		xtc_n++;
	}
	return c;
}
