/* wire.h — vigil wire protocol v1 (docs/wire.md): one ZeroMQ frame = one msgpack
 * envelope {v, type, src, seq, ev}; a multipart message is a batch of envelopes. Receiving validates, counts drops by reason and
 * sequence gaps per producer; sending numbers messages and publishes on the tap. */
#ifndef VIGIL_WIRE_H
#define VIGIL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include <zmq.h>

#include "stage.h"

#define WIRE_VERSION 1
#define WIRE_MAX_MSG (4u << 20) /* larger frames are dropped as malformed */

/* Default endpoints, relative to the run directory: see docs/wire.md §1. */
#define WIRE_COLLECTOR_OUT "collector.out"
#define WIRE_ENRICHER_OUT "enricher.out"
#define WIRE_EXPORTER_IN "exporter.in"
#define WIRE_ENFORCER_IN "enforcer.in"

/* A decoded message. Strings point into the unpacked zone and live until wire_msg_done. */
struct wire_msg {
	const char *type;
	size_t type_len;
	const char *src;
	size_t src_len;
	uint64_t seq;
	const msgpack_object *ev;  /* always a map */
	const char *ev_raw;        /* ev's msgpack bytes in the frame (forwarding copies them) */
	size_t ev_raw_len;
	msgpack_unpacked up;
	zmq_msg_t *raw;
};

struct wire_in {
	struct stage *st;
	void *sock;
	uint64_t *c_in, *c_gap_total, *c_resets, *c_late_total;
	uint64_t *c_drop[8];
	zmq_msg_t zm;
	int have_zm;
	msgpack_zone zone; /* the received message's objects, cleared per message */
};

/* Drop reasons, in the order checked (docs/wire.md §3). */
enum wire_drop {
	WIRE_DROP_MALFORMED,
	WIRE_DROP_NOT_MAP,
	WIRE_DROP_VERSION,
	WIRE_DROP_ENVELOPE,
	WIRE_DROP_UNKNOWN_TYPE,
	WIRE_DROP_BODY,
	WIRE_DROP_N
};
extern const char *const wire_drop_name[WIRE_DROP_N];

void wire_in_init(struct wire_in *in, struct stage *st, void *sock);
/* Receive one message without blocking. 1: m is valid (call wire_msg_done);
 * 0: nothing to read; -1: a message was dropped (counted) — call again. */
int wire_recv(struct wire_in *in, struct wire_msg *m);
void wire_msg_done(struct wire_in *in, struct wire_msg *m);
/* Count a drop the stage decided on after decoding (unknown_type, body). */
void wire_drop(struct wire_in *in, enum wire_drop why, const struct wire_msg *m);

/* Decode a buffer (no ZeroMQ, no counters): 0, or -1 with *why set. For tests and tools. */
int wire_decode(const void *buf, size_t len, struct wire_msg *m, enum wire_drop *why);

/* Compare a decoded string with a C string. */
int wire_streq(const char *p, size_t len, const char *s);
/* m's type as a C string in buf (n bytes), cut to fit (no printf per message). */
void wire_type_cstr(const struct wire_msg *m, char *buf, size_t n);
/* Look a key up in a map; NULL when absent. */
const msgpack_object *wire_get(const msgpack_object *map, const char *key);

/* The end of the msgpack object that starts at p, or NULL when it does not end by end
 * (or is not msgpack): its bytes, without decoding them. */
const unsigned char *wire_skip(const unsigned char *p, const unsigned char *end);
/* Typed getters: 0 when present with the right type, -1 otherwise. */
int wire_get_u64(const msgpack_object *map, const char *key, uint64_t *v);
int wire_get_str(const msgpack_object *map, const char *key, const char **p, size_t *len);

struct wire_out {
	struct stage *st;
	void *sock;        /* NULL: tap only */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t *c_out;
};

void wire_out_init(struct wire_out *o, struct stage *st, void *sock);
void wire_out_free(struct wire_out *o);
/* Start a message: writes the envelope and the "ev" key; the caller packs one map. */
msgpack_packer *wire_begin(struct wire_out *o, const char *type);
/* Number and send it (blocking at the HWM). 0, or -1 when the stage is stopping. */
int wire_end(struct wire_out *o);
/* Re-send a received message as our own (new src and seq, same type and body). */
int wire_forward(struct wire_out *o, const struct wire_msg *m);

#endif
