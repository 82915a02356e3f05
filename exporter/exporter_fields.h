/* exporter_fields: Tetragon's field filters (FieldFilter: event_set, a FieldMask
 * of paths, INCLUDE or EXCLUDE, invert_event_set), applied to the msgpack event
 * before it is encoded, for gRPC clients and the JSON file.
 *
 * A filter applies to an event whose EventType is in event_set (an empty
 * event_set: every type); invert_event_set makes a non-empty set mean "every
 * type but these". Paths are relative to the event member (process_exec...),
 * as in Tetragon: "process.exec_id", "parent". If any INCLUDE filter applies,
 * only the union of their paths is kept; then the paths of every applying
 * EXCLUDE filter are removed (exclusion wins). A path ending at a map keeps or
 * removes the whole subtree; arrays are leaves. Response-level fields
 * (node_name, time, cluster_name, node_labels) are never filtered. */
#ifndef VIGIL_EXPORTER_FIELDS_H
#define VIGIL_EXPORTER_FIELDS_H

#include <stddef.h>
#include <msgpack.h>

#include "tetragon/events.pb-c.h"

struct xfields;

/* Compile n filters. NULL with err set on an empty path or a bad action;
 * n == 0 gives NULL with err[0] == 0 (nothing to do). */
struct xfields *xfields_compile(Tetragon__FieldFilter *const *ff, size_t n, char *err,
				size_t errlen);
/* The event as the filters leave it: ev itself when none applies, else a copy
 * whose new maps live in zone z (strings still point into ev). */
const msgpack_object *xfields_apply(const struct xfields *xf, int type, const msgpack_object *ev,
				    msgpack_zone *z);
void xfields_free(struct xfields *xf);

#endif
