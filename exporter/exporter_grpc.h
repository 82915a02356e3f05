/* exporter_grpc: the Tetragon-compatible gRPC server (tetragon.FineGuidanceSensors
 * GetEvents/GetHealth/GetVersion/ListTracingPolicies and grpc.health.v1.Health/
 * Check) on the gRPC C core, TLS by default.
 *
 * Threads: one thread of ours runs the completion queue; the stage's zmq loop
 * calls xgrpc_publish. They share one mutex that guards the client list and the
 * per-client queues. Each GetEvents client has a bounded queue of serialized
 * responses and at most one send in flight; when its queue is full the new
 * event is dropped for that client only, counted, and the client gets a
 * rate_limit_info response (number_of_dropped_process_events) before its next
 * event. The pipeline never waits for a client. A client that goes away (RST,
 * cancel, TCP reset) is removed when the core reports its call closed. */
#ifndef VIGIL_EXPORTER_GRPC_H
#define VIGIL_EXPORTER_GRPC_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

struct xgrpc_opts {
	const char *address;   /* host:port, or unix:PATH */
	const char *cert, *key; /* server certificate chain and key (PEM) */
	const char *client_ca; /* mutual TLS: clients must present a cert signed by it */
	int plaintext;	       /* no TLS; refused unless address is unix: */
	size_t queue_len;      /* per-client queue, events */
	const char *version;
	const char *node_name; /* for rate_limit_info; may be NULL */
	const char *rundir;    /* ListTracingPolicies asks the evaluators here; may be NULL */
};

struct xgrpc_stats {
	uint64_t clients;	/* GetEvents streams open now */
	uint64_t clients_total; /* GetEvents streams accepted since start */
	uint64_t sent;		/* responses sent on GetEvents streams */
	uint64_t client_drops;	/* events dropped from full client queues */
	uint64_t rate_limit_info; /* rate_limit_info responses sent */
	uint64_t rejected;	/* GetEvents requests refused (bad filters) */
	uint64_t unary;		/* unary calls answered */
	uint64_t unimplemented; /* calls to methods we do not serve */
	uint64_t queued;	/* events waiting in client queues now */
};

/* Start listening and the completion-queue thread. 0, or -1 with err set
 * (unreadable TLS files, address in use, plaintext on TCP). */
int xgrpc_start(const struct xgrpc_opts *o, char *err, size_t errlen);
/* Nonzero when at least one GetEvents stream is open (cheap, lock-free). */
int xgrpc_active(void);
/* Offer one event to every client whose filters pass it. From one thread only. */
void xgrpc_publish(const char *type, const msgpack_object *ev);
void xgrpc_get_stats(struct xgrpc_stats *s);
/* Cancel every call, stop the thread, release the server. Safe if never started. */
void xgrpc_stop(void);

#endif
