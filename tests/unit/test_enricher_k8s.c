/* test_enricher_k8s — container facts of a pod object: exec probe commands are parsed
 * from liveness/readiness/startup probes and matched as Tetragon's maybe_exec_probe
 * (binary or its basename = command[0], arguments = the rest joined by spaces, nothing
 * more or less); the packed container carries `pid` and `maybe_exec_probe` only when
 * given; garbage probe shapes are ignored, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enricher_k8s.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf("\n"); fails++; } } while (0)

static const char pod[] =
	"{\"metadata\":{\"name\":\"api-0\",\"namespace\":\"prod\",\"uid\":\"u-1\"},"
	"\"spec\":{\"containers\":[{\"name\":\"api\",\"image\":\"api:1\","
	"\"livenessProbe\":{\"exec\":{\"command\":[\"/bin/sh\",\"-c\",\"test -f /tmp/ok\"]}},"
	"\"readinessProbe\":{\"exec\":{\"command\":[\"cat\",\"/tmp/ready\"]}},"
	"\"startupProbe\":{\"exec\":{\"command\":[1,{\"x\":2}]}}},"
	"{\"name\":\"side\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/\"}}}]},"
	"\"status\":{\"containerStatuses\":[{\"name\":\"api\",\"containerID\":\"containerd://aa\"},"
	"{\"name\":\"side\",\"containerID\":\"containerd://bb\"}]}}";

/* Does the packed buffer contain key s? */
static int has(const msgpack_sbuffer *sb, const char *s)
{
	return memmem(sb->data, sb->size, s, strlen(s)) != NULL;
}

int main(void)
{
	struct k8s_pod *p = k8s_pod_from_json(pod, sizeof(pod) - 1);
	const struct k8s_container *api, *side;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	CHECK(p && p->nc == 2, "pod parsed");
	if (!p)
		return 1;
	api = &p->c[0];
	side = &p->c[1];
	CHECK(api->nprobes == 2, "two exec probes (the non-string command ignored): %zu",
	      api->nprobes);
	CHECK(side->nprobes == 0, "httpGet is not an exec probe");
	CHECK(k8s_maybe_exec_probe(api, "/bin/sh", "-c test -f /tmp/ok"), "liveness exact");
	CHECK(k8s_maybe_exec_probe(api, "/usr/bin/sh", "-c test -f /tmp/ok"), "basename match");
	CHECK(k8s_maybe_exec_probe(api, "/bin/cat", "/tmp/ready"), "readiness by basename");
	CHECK(!k8s_maybe_exec_probe(api, "/bin/cat", "/tmp/ready x"), "extra argument");
	CHECK(!k8s_maybe_exec_probe(api, "/bin/cat", "/tmp/read"), "shorter argument");
	CHECK(!k8s_maybe_exec_probe(api, "/bin/cat", ""), "missing argument");
	CHECK(!k8s_maybe_exec_probe(api, "/bin/bash", "-c test -f /tmp/ok"), "other binary");
	CHECK(!k8s_maybe_exec_probe(api, "/bin/sh", NULL), "no arguments");
	CHECK(!k8s_maybe_exec_probe(side, "/bin/cat", "/tmp/ready"), "no probe on side");
	CHECK(!k8s_maybe_exec_probe(NULL, "/bin/cat", "/tmp/ready"), "no container");

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	k8s_pack_pod_ex(&pk, p, api, 0, 7, 1);
	CHECK(has(&sb, "maybe_exec_probe") && has(&sb, "\xa3pid\x07"), "pid and probe packed");
	msgpack_sbuffer_clear(&sb);
	k8s_pack_pod(&pk, p, api, 0);
	CHECK(!has(&sb, "maybe_exec_probe") && !has(&sb, "\xa3pid"), "left out when unknown");
	{ /* the map sizes add up: the packed pod unpacks to exactly one object */
		msgpack_unpacked up;
		size_t off = 0;

		msgpack_sbuffer_clear(&sb);
		k8s_pack_pod_ex(&pk, p, api, 1, 4242, 1);
		msgpack_unpacked_init(&up);
		CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
			      off == sb.size, "well-formed pack");
		msgpack_unpacked_destroy(&up);
	}
	msgpack_sbuffer_destroy(&sb);
	k8s_pod_free(p);
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
