"""e2e: Kubernetes pod metadata from our API test server (tests/k8s/apiserver.py).
1. Fidelity: python3-kubernetes (a real client) lists the node's pods through the
   server (TLS verified with the test CA, bearer token) and watches an ADDED pod.
2. The enricher (--k8s-url/--k8s-token-file/--k8s-ca) against it, fed raw execs whose
   cgroup_id is a real kubelet-like v2 cgroup (kubepods/besteffort/pod<uid>/<id>):
   - the event carries pod.namespace, name, uid, pod_labels, container name/image/id,
     workload "web" of kind Deployment (ReplicaSet web-<hash>), docker = id[:31];
   - pod_meta {op: set, cgroup_id, namespace, pod, container, labels} reaches a PULL
     bound at enforcer.in;
   - an exec from a pod that is not known yet is held and leaves with the pod once the
     server adds it; one whose pod never comes leaves after --pod-wait-ms flagged noPod;
   - garbage JSON in the watch stream: k8s.bad_json counted, no crash, the old pod kept,
     the next pod still arrives;
   - 410 (compacted history): k8s.relist counted and a new pod arrives after re-list;
   - dropped connections and HTTP 500s: k8s.reconnects counted, new pods arrive after.
Cgroup directories, the server and temp files are removed at the end."""
import os
import sys
import tempfile
import threading
import time
import uuid
import shutil

import msgpack
import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from apiserver import ApiServer, make_pod  # noqa: E402
from enrichertest import Enricher, exec_ev  # noqa: E402
from vigiltest import check, need_root, run_test, skip, wait_for  # noqa: E402

CG = "/sys/fs/cgroup/unified"
NODE = "enr-test"
B = 5_100_000


class Cgroups:
    def __init__(self):
        self.made = []

    def make(self, uid, cid):
        path = CG
        for part in ("kubepods", "besteffort", f"pod{uid}", cid):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.made.append(path)
        return os.stat(path).st_ino

    def clean(self):
        for d in reversed(self.made):
            try:
                os.rmdir(d)
            except OSError:
                pass


def hexid():
    return uuid.uuid4().hex + uuid.uuid4().hex


def fidelity(srv, pod):
    try:
        from kubernetes import client, watch
    except ImportError:
        skip("python3-kubernetes is not installed (tests/deps.sh)")
    conf = client.Configuration()
    conf.host = srv.url
    conf.ssl_ca_cert = srv.ca
    conf.api_key = {"authorization": "Bearer " + srv.token()}
    api = client.CoreV1Api(client.ApiClient(conf))
    lst = api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE}")
    check([p.metadata.name for p in lst.items] == [pod["metadata"]["name"]],
          f"python client list: {[p.metadata.name for p in lst.items]}")
    c = lst.items[0].status.container_statuses[0]
    check(c.container_id.startswith("containerd://") and c.image == "nginx:1.25",
          "python client parsed container statuses")
    rv = lst.metadata.resource_version
    extra = make_pod("client-check-0", NODE, ns="kube-system")
    threading.Timer(0.3, srv.add_pod, [extra]).start()
    seen = []
    for ev in watch.Watch().stream(api.list_pod_for_all_namespaces,
                                   field_selector=f"spec.nodeName={NODE}",
                                   resource_version=rv, timeout_seconds=3):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == "client-check-0":
            break
    check(("ADDED", "client-check-0") in seen, f"python client watch saw {seen}")
    return extra


def test():
    need_root()
    if not os.path.exists(os.path.join(CG, "cgroup.procs")):
        skip(f"no cgroup2 at {CG}")
    tmp = tempfile.mkdtemp(prefix="vigil-k8s-")
    cgs = Cgroups()
    srv = ApiServer(tmp).start()
    try:
        uid1, cid1 = str(uuid.uuid4()), hexid()
        pod1 = make_pod("web-7d4b9c8f5-abcde", NODE, ns="prod", uid=uid1,
                        labels={"app": "web", "pod-template-hash": "7d4b9c8f5"},
                        containers=[("nginx", "nginx:1.25", cid1, False)],
                        owner=("ReplicaSet", "web-7d4b9c8f5"))
        srv.add_pod(pod1)
        srv.add_pod(make_pod("elsewhere", "other-node"))
        fidelity(srv, pod1)
        ino1 = cgs.make(uid1, cid1)
        with Enricher("--k8s-url", srv.url, "--k8s-token-file", srv.token_file,
                      "--k8s-ca", srv.ca, "--pod-wait-ms", "1500",
                      "--k8s-backoff-max-ms", "400") as e:
            enf = e.ctx.socket(zmq.PULL)
            enf.setsockopt(zmq.LINGER, 0)
            enf.bind(e.ep("enforcer.in"))
            wait_for(lambda: e.counters().get("k8s.pods", 0) >= 2, 5, what="pods listed")
            e.send("process_exec", exec_ev(B + 1, 1000, 1, 1, "/usr/sbin/nginx",
                                           cgroup_id=ino1))
            t, ev = e.recv(3)
            p = ev["process"]
            pod = p.get("pod") or {}
            check(p.get("docker") == cid1[:31], f"docker {p.get('docker')}")
            check(pod.get("namespace") == "prod" and pod.get("name") == "web-7d4b9c8f5-abcde"
                  and pod.get("uid") == uid1, f"pod identity {pod}")
            check(pod.get("pod_labels", {}).get("app") == "web", f"labels {pod}")
            check(pod.get("workload") == "web" and pod.get("workload_kind") == "Deployment",
                  f"workload {pod.get('workload')} {pod.get('workload_kind')}")
            c = pod.get("container", {})
            check(c.get("name") == "nginx" and c.get("image", {}).get("name") == "nginx:1.25"
                  and c.get("id") == "containerd://" + cid1, f"container {c}")
            check(enf.poll(3000), "no pod_meta at enforcer.in")
            pm = msgpack.unpackb(enf.recv(), raw=False)
            check(pm["type"] == "pod_meta" and pm["ev"]["op"] == "set"
                  and pm["ev"]["cgroup_id"] == ino1 and pm["ev"]["namespace"] == "prod"
                  and pm["ev"]["container"] == "nginx" and pm["ev"]["labels"]["app"] == "web",
                  f"pod_meta {pm}")
            # a pod that arrives after its first event
            uid2, cid2 = str(uuid.uuid4()), hexid()
            ino2 = cgs.make(uid2, cid2)
            e.send("process_exec", exec_ev(B + 2, 2000, 1, 1, "/bin/late", cgroup_id=ino2))
            check(e.nothing(0.3), "the event of an unknown pod is held")
            srv.add_pod(make_pod("late-0", NODE, uid=uid2, owner=("StatefulSet", "late"),
                                 containers=[("app", "busybox:1", cid2, True)]))
            t, ev = e.recv(3)
            pod = ev["process"].get("pod") or {}
            check(pod.get("name") == "late-0" and pod.get("workload_kind") == "StatefulSet"
                  and "noPod" not in ev["process"].get("flags", ""), f"late pod {pod}")
            check(pod["container"].get("security_context", {}).get("privileged") is True,
                  "privileged container")
            # a pod that never comes
            uid3, cid3 = str(uuid.uuid4()), hexid()
            ino3 = cgs.make(uid3, cid3)
            t0 = time.monotonic()
            e.send("process_exec", exec_ev(B + 3, 3000, 1, 1, "/bin/orphan", cgroup_id=ino3))
            t, ev = e.recv(4)
            dt = time.monotonic() - t0
            check("pod" not in ev["process"] and "noPod" in ev["process"]["flags"].split()
                  and ev["process"].get("docker") == cid3[:31],
                  f"flagged without pod: {ev['process']}")
            check(1.3 < dt < 3.5, f"held {dt:.2f}s for --pod-wait-ms 1500")
            # garbage in the watch stream
            srv.garbage(1)
            uid4, cid4 = str(uuid.uuid4()), hexid()
            srv.add_pod(make_pod("after-garbage", NODE, uid=uid4,
                                 containers=[("c", "img:1", cid4, False)]))
            wait_for(lambda: e.counters().get("k8s.bad_json", 0) >= 1, 5, what="bad_json")
            ino4 = cgs.make(uid4, cid4)
            e.send("process_exec", exec_ev(B + 4, 4000, 1, 1, "/bin/g", cgroup_id=ino4))
            t, ev = e.recv(3)
            check(ev["process"].get("pod", {}).get("name") == "after-garbage",
                  f"pod after garbage {ev['process'].get('pod')}")
            e.send("process_exec", exec_ev(B + 1, 4100, 1, 1, "/bin/again", cgroup_id=ino1,
                                           start=1000))
            t, ev = e.recv(3)
            check(ev["process"].get("pod", {}).get("name") == "web-7d4b9c8f5-abcde",
                  "old pod kept after garbage")
            # 410: history compacted, the enricher re-lists
            lists = e.counters().get("k8s.lists", 0)
            srv.expire()
            wait_for(lambda: e.counters().get("k8s.relist", 0) >= 1 and
                     e.counters().get("k8s.lists", 0) > lists, 5, what="re-list after 410")
            uid5, cid5 = str(uuid.uuid4()), hexid()
            srv.add_pod(make_pod("after-410", NODE, uid=uid5,
                                 containers=[("c", "img:1", cid5, False)]))
            ino5 = cgs.make(uid5, cid5)
            e.send("process_exec", exec_ev(B + 5, 5000, 1, 1, "/bin/x", cgroup_id=ino5))
            t, ev = e.recv(3)
            check(ev["process"].get("pod", {}).get("name") == "after-410", "pod after 410")
            # dropped connections and server errors: reconnect with backoff
            srv.fail(3, 500)
            srv.drop_watches()
            wait_for(lambda: e.counters().get("k8s.reconnects", 0) >= 1, 5, what="reconnects")
            # the retries back off (250, 500, 400 ms): wait until a list or watch is live
            # again, so a loaded machine cannot outlast --pod-wait-ms
            wait_for(lambda: e.counters().get("k8s.synced") == 1, 10, what="re-synced")
            uid6, cid6 = str(uuid.uuid4()), hexid()
            srv.add_pod(make_pod("after-drop", NODE, uid=uid6,
                                 containers=[("c", "img:1", cid6, False)]))
            ino6 = cgs.make(uid6, cid6)
            e.send("process_exec", exec_ev(B + 6, 6000, 1, 1, "/bin/y", cgroup_id=ino6))
            t, ev = e.recv(5)
            check(ev["process"].get("pod", {}).get("name") == "after-drop",
                  f"pod after reconnect {ev['process'].get('pod')}")
            c = e.counters()
            check(c.get("drop.body", 0) == 0 and c.get("k8s.errors", 0) >= 1, f"counters {c}")
            check(all(a == "Bearer vigil-test-token" for _, a in srv.state.requests),
                  "every request carried the token")
            check(e.proc.poll() is None, "enricher alive")
            enf.close()
    finally:
        srv.stop()
        cgs.clean()
        shutil.rmtree(tmp, ignore_errors=True)


run_test(test)
