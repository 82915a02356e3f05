/* exporter_json: a small strict JSON parser (RFC 8259) that writes msgpack, for
 * the configuration flags that take Tetragon's JSON objects (--export-allowlist,
 * --export-denylist, --field-filters), and their conversion to protobuf-c
 * messages through exporter_pb.
 *
 * Strict: one value, no trailing garbage, no comments, no trailing commas, no
 * leading zeros, valid \u escapes (surrogate pairs joined), nesting at most 32
 * deep, control characters refused inside strings. Object keys in lowerCamelCase
 * (protojson's json_name) are turned into snake_case. Integers become msgpack
 * ints, other numbers doubles. */
#ifndef VIGIL_EXPORTER_JSON_H
#define VIGIL_EXPORTER_JSON_H

#include <stddef.h>
#include <msgpack.h>
#include <protobuf-c/protobuf-c.h>

/* Parse s[0..n) into packed msgpack appended to out. 0, or -1 with a message
 * (with the byte offset) in err. */
int xjson_to_msgpack(const char *s, size_t n, msgpack_sbuffer *out, char *err, size_t errlen);

/* Parse newline-separated JSON objects of message type d (blank lines are
 * skipped). Returns the number parsed with *msgs a malloc'd array of unpacked
 * messages (free each with protobuf_c_message_free_unpacked, then the array),
 * or -1 with err naming the line and the problem (unknown field, wrong type). */
int xjson_messages(const char *text, const ProtobufCMessageDescriptor *d,
		   ProtobufCMessage ***msgs, char *err, size_t errlen);

#endif
