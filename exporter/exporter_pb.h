/* exporter_pb: enriched events (msgpack with Tetragon's field names, docs/wire.md
 * §4.4) → serialized tetragon.GetEventsResponse, for the gRPC stream.
 *
 * The conversion walks the msgpack map and looks every key up by name in the
 * protobuf-c descriptors generated from proto/, so every field our .proto files
 * declare is carried without a per-field table. Tetragon's encodings apply:
 * integers of ns since the epoch become google.protobuf.Timestamp, bare scalars
 * become wrapper messages (UInt32Value...), enum names or numbers become enums,
 * msgpack maps become proto maps. `node_name` and `time` are lifted to the
 * response, as in the JSON file. Keys with no field, or whose value has the
 * wrong msgpack type, are skipped and counted; invalid UTF-8 in strings becomes
 * U+FFFD (protobuf clients refuse invalid UTF-8 in string fields). Any msgpack
 * input is safe: depth is bounded and nothing is trusted. Not thread-safe (one
 * internal arena): call from one thread. */
#ifndef VIGIL_EXPORTER_PB_H
#define VIGIL_EXPORTER_PB_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include <protobuf-c/protobuf-c.h>

struct xpb_counts {
	uint64_t unknown_field; /* keys with no field of that name */
	uint64_t bad_value;	/* values of the wrong msgpack type */
};

/* Serialize one event of the given type (the GetEventsResponse oneof member,
 * e.g. "process_exec"). Returns a malloc'd buffer of *len bytes (the caller
 * frees it), or NULL if type is no event member or ev is not a map. */
uint8_t *xpb_event(const char *type, const msgpack_object *ev, size_t *len);

/* A rate_limit_info response telling a client it lost dropped events.
 * Thread-safe. Returns a malloc'd buffer of *len bytes, or NULL on ENOMEM. */
uint8_t *xpb_rate_limit_info(uint64_t dropped, const char *node_name, size_t *len);

/* The EventType number of an event member name, 0 if unknown. */
int xpb_event_type(const char *type);
/* all: cap, ns and process_credentials on every Process; else (the default) on
 * process_exec's process only, like the JSON export (--export-process-details). */
void xpb_set_process_details(int all);

/* Strictly convert a msgpack map to a serialized message of type d: any key
 * without a field or value of the wrong type is an error described in err.
 * Returns a malloc'd buffer of *len bytes, or NULL. */
uint8_t *xpb_from_msgpack(const ProtobufCMessageDescriptor *d, const msgpack_object *o,
			  size_t *len, char *err, size_t errlen);

/* Counts of skipped keys and values since start. */
const struct xpb_counts *xpb_counts(void);

#endif
