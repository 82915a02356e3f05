/* ctlclient.h — the client side of a stage's control socket (docs/wire.md §6), for the
 * vigil command and for stages that report on others (the exporter's gRPC service). */
#ifndef VIGIL_CTLCLIENT_H
#define VIGIL_CTLCLIENT_H

#include <stddef.h>
#include <msgpack.h>

/* Ask stage `name` under rundir for its status, waiting at most timeout_ms. On success
 * (0) up holds the reply map, unpacked from buf, and must be destroyed by the caller;
 * -1 when the stage does not answer or answers something that is not a map. */
int ctl_status(void *zctx, const char *rundir, const char *name, int timeout_ms, char *buf,
	       size_t len, msgpack_unpacked *up);

#endif
