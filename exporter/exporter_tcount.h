/* exporter_tcount: the exporter's per-type counters ("events.<type>") found without
 * formatting and searching the counter names for every event. */
#ifndef VIGIL_EXPORTER_TCOUNT_H
#define VIGIL_EXPORTER_TCOUNT_H

#include <stdint.h>

#include "counters.h"

/* The counter "events.<type>" of cs (as counters_get2(cs, "events.", type)). The
 * first few distinct types are remembered; later ones are looked up each time. */
uint64_t *xtc_get(struct counters *cs, const char *type);

#endif
