/* tetra_json: msgpack events → Tetragon's JSON export lines.
 *
 * Tetragon writes each GetEventsResponse with protojson (UseProtoNames, no
 * EmitUnpopulated). vigil's enriched events (docs/wire.md §4.4) already use
 * Tetragon's field names, so the encoder works by key name, with a small table
 * of Tetragon's field types where protojson needs them (64-bit integers are
 * strings, Timestamps are RFC 3339, wrapper fields are kept when zero).
 *
 * Both functions accept any msgpack object, including hostile ones: the
 * output is always one line of valid UTF-8 JSON. Invalid UTF-8 in strings
 * becomes U+FFFD; values nested deeper than TJ_MAX_DEPTH become null. */
#ifndef VIGIL_TETRA_JSON_H
#define VIGIL_TETRA_JSON_H

#include <msgpack.h>

#include "strbuf.h"

/* Containers nested deeper than this are written as null. */
#define TJ_MAX_DEPTH 64

/* Append one JSON line (without newline) for an event of the given type:
 * {"<type>":{...ev without node_name and time...},"node_name":…,"time":…}.
 * Returns 0, or -1 with nothing appended if ev is not a map or type is NULL. */
int tj_event_line(const char *type, const msgpack_object *ev, struct strbuf *out);

/* Process fields that are facts of the exec (cap, ns, process_credentials) are written
 * on process_exec's process only; 1: on every Process (process, parent, ancestors). */
void tj_set_process_details(int all);

/* Append o as plain JSON, with no Tetragon rules: nothing is omitted, integers
 * are numbers, bin is base64, non-string map keys are stringified. When key is
 * not NULL, "key": is written first, so callers can build objects member by
 * member. Returns 0, or -1 with nothing appended if o is NULL. */
int tj_value(const msgpack_object *o, const char *key, struct strbuf *out);

#endif
