/* test_enricher_json — the strict JSON parser: valid documents parse to the right tree,
 * invalid ones are refused with a position, depth is capped, and 200,000 random
 * mutations of a real pod object never crash (run under ASan in CI to catch leaks);
 * then a pod object gives namespace, workload (ReplicaSet → Deployment), containers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enricher_json.h"
#include "enricher_k8s.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf("\n"); fails++; } } while (0)

/* Parse s; returns 0/-1 and frees. */
static int p(const char *s)
{
	struct json v;
	char err[128];
	int r = json_parse(s, strlen(s), &v, err, sizeof(err));

	if (r == 0)
		json_free(&v);
	return r;
}

static const char pod[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-5d8f7-x1\","
	"\"namespace\":\"prod\",\"uid\":\"9f6a1c2e-1b7d-4a52-8c1e-5d2f3a4b5c6d\","
	"\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"5d8f7\"},"
	"\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-5d8f7\",\"controller\":true}]},"
	"\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"sa1\",\"containers\":[{\"name\":"
	"\"nginx\",\"image\":\"nginx:1\",\"securityContext\":{\"privileged\":true}}]},"
	"\"status\":{\"containerStatuses\":[{\"name\":\"nginx\",\"containerID\":\"containerd://"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"image\":\"nginx:1\","
	"\"imageID\":\"sha256:ab\",\"state\":{\"running\":{\"startedAt\":\"2026-01-02T03:04:05Z\"}}}]}}";

int main(void)
{
	struct json v;
	char err[128], deep[300];
	const char *bad[] = { "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "+1", "1e",
			      "\"\\x\"", "\"a\nb\"", "\"\\ud800\"", "\"\\udc00x\"", "tru", "nul",
			      "{\"a\" 1}", "{1:2}", "[1 2]", "1 2", "\"unterminated", "[]]", "NaN" };
	size_t i;
	const struct k8s_pod *kp;
	struct k8s_pod *pp;

	CHECK(p("{\"a\":[1,-2.5e3,true,false,null,\"x\\u00e9\\ud83d\\ude00\"]}") == 0, "valid doc");
	CHECK(json_parse("{\"k\":\"v\\n\"}", 11, &v, err, sizeof(err)) == 0 &&
		      strcmp(json_str(&v, "k"), "v\n") == 0, "string escape");
	json_free(&v);
	CHECK(json_parse("\"\\u00e9\"", 8, &v, err, sizeof(err)) == 0 &&
		      strcmp(v.u.s, "\xc3\xa9") == 0, "utf-8 from \\u");
	json_free(&v);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(p(bad[i]) < 0, "accepted invalid '%s'", bad[i]);
	CHECK(json_parse("[1,}", 4, &v, err, sizeof(err)) < 0 && strstr(err, "at byte"),
	      "error has a position: %s", err);
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = 0;
	CHECK(p(deep) < 0, "depth 100 refused");
	memset(deep, '[', 60);
	memset(deep + 60, ']', 60);
	deep[120] = 0;
	CHECK(p(deep) == 0, "depth 60 accepted");
	/* fuzz: random byte flips, truncations and insertions of a pod object */
	srand(42);
	for (i = 0; i < 200000; i++) {
		char buf[sizeof(pod) + 8];
		size_t n = sizeof(pod) - 1, k, flips = 1 + (size_t)rand() % 4;

		memcpy(buf, pod, n);
		for (k = 0; k < flips; k++)
			buf[(size_t)rand() % n] = (char)"{}[]\",:\\0e-tfn \x80\xff"[rand() % 18];
		if (rand() % 4 == 0)
			n = (size_t)rand() % n;
		pp = k8s_pod_from_json(buf, n);
		k8s_pod_free(pp);
	}
	pp = k8s_pod_from_json(pod, sizeof(pod) - 1);
	kp = pp;
	CHECK(kp && strcmp(kp->ns, "prod") == 0 && strcmp(kp->name, "web-5d8f7-x1") == 0, "pod id");
	CHECK(kp && strcmp(kp->workload, "web") == 0 && strcmp(kp->kind, "Deployment") == 0,
	      "workload %s %s", kp ? kp->workload : "", kp ? kp->kind : "");
	CHECK(kp && kp->nc == 1 && kp->c[0].privileged && kp->c[0].start_time == 1767323045ull * 1000000000ull &&
		      strcmp(kp->sa, "sa1") == 0 && kp->nlabels == 2, "containers");
	CHECK(kp && k8s_container(kp, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	      "container by id");
	k8s_pod_free(pp);
	CHECK(k8s_pod_from_json("{\"metadata\":{}}", 15) == NULL, "pod without identity refused");
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
