/* ctlclient.c — see ctlclient.h. */
#include "ctlclient.h"

#include <stdio.h>
#include <zmq.h>

int ctl_status(void *zctx, const char *rundir, const char *name, int timeout_ms, char *buf,
	       size_t len, msgpack_unpacked *up)
{
	static const char q[] = "\x82\xa1v\x01\xa3" "cmd\xa6status"; /* {v:1, cmd:"status"} */
	char ep[600];
	int linger = 0, n = -1;
	size_t off = 0;
	void *req = zmq_socket(zctx, ZMQ_REQ);

	if (!req)
		return -1;
	snprintf(ep, sizeof(ep), "ipc://%s/%s.ctl", rundir, name);
	zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(req, ep) == 0 && zmq_send(req, q, sizeof(q) - 1, 0) >= 0)
		n = zmq_recv(req, buf, len, 0);
	zmq_close(req);
	if (n < 0 || (size_t)n > len)
		return -1;
	msgpack_unpacked_init(up);
	if (msgpack_unpack_next(up, buf, (size_t)n, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up->data.type != MSGPACK_OBJECT_MAP) {
		msgpack_unpacked_destroy(up);
		return -1;
	}
	return 0;
}
