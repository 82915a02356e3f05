"""e2e: pod deleted, and recreated with the same name — real processes in kubelet-layout
cgroups (kubepods/besteffort/pod<uid>/<id>), the whole tree under s6, the enricher
pointed at our API test server (tests/k8s/apiserver.py).

What users expect (and what Tetragon does: a process keeps its pod until it exits):
a process still running in a deleted pod's container (its grace period, a preStop hook)
keeps the pod's metadata. The enricher keeps a deleted pod as a tombstone for
--deleted-linger (here VIGIL_K8S_DELETED_LINGER_MS=3000; default 5 min, at most 4096
tombstones) and then forgets it: events from that cgroup are then held for
--pod-wait-ms and leave without a pod, flagged noPod.
Asserts, with a shell living in the pod's container cgroup that execs /bin/true TAG:
 - before deletion: pod name/uid/namespace, container name/image/id, workload;
 - right after the DELETED watch event (k8s.pods 0, k8s.pods_deleted 1): the same pod,
   no noPod flag; the enforcer got one pod_meta del and no new set (pod_meta.sent);
 - after the linger: k8s.pods_expired 1, no pod, flag noPod, docker still set;
 - recreated with the same name (new uid, new container): a process in the new cgroup
   carries the new uid and container id; the old cgroup's process does not get the new
   pod (pods are matched by uid, never by name)."""
import os
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from apiserver import ApiServer, make_pod  # noqa: E402
from enrichertest import NODE, CgShell, KubeCgroups, exec_of, hexid, k8s_tree_env  # noqa: E402
from vigiltest import Tree, check, need_root, run_test, skip, unique_tag, wait_for  # noqa: E402

LINGER_MS = 3000


def pod_of(proc):
    return proc.get("pod") or {}


def test():
    need_root()
    cgs = KubeCgroups()
    if not cgs.available():
        skip(f"no cgroup2 mount at {cgs.root}")
    tmp = tempfile.mkdtemp(prefix="vigil-k8s-life-")
    srv = ApiServer(tmp).start()
    shells = []
    t = None
    try:
        uid1, cid1 = str(uuid.uuid4()), hexid()
        pod1 = make_pod("db-0", NODE, ns="data", uid=uid1, labels={"app": "db"},
                        containers=[("postgres", "postgres:16", cid1, False)],
                        owner=("StatefulSet", "db"))
        srv.add_pod(pod1)
        sh1 = CgShell(cgs.make(uid1, cid1))
        shells.append(sh1)
        t = Tree(env=k8s_tree_env(srv, "--pod-wait-ms", "1500", "--k8s-backoff-max-ms", "500",
                                  env={"VIGIL_K8S_DELETED_LINGER_MS": str(LINGER_MS)}),
                 node_name=NODE)
        t.start()
        wait_for(lambda: t.counters("enricher").get("k8s.pods", 0) >= 1, 10, what="pod list")

        tag = unique_tag("k8s-live")
        sh1.run(tag)
        p = exec_of(t, tag)
        pod = pod_of(p)
        check(pod.get("name") == "db-0" and pod.get("uid") == uid1 and
              pod.get("namespace") == "data", f"live pod {pod}")
        c = pod.get("container", {})
        check(c.get("name") == "postgres" and c.get("image", {}).get("name") == "postgres:16"
              and c.get("id") == "containerd://" + cid1, f"container {c}")
        check(pod.get("workload") == "db" and pod.get("workload_kind") == "StatefulSet",
              f"workload {pod}")

        pm0 = t.counters("enricher").get("pod_meta.sent", 0)
        check(pm0 >= 1, "pod_meta set sent for the live pod")
        srv.delete_pod(pod1)
        t_del = time.monotonic()
        wait_for(lambda: t.counters("enricher").get("k8s.pods_deleted", 0) == 1, 5,
                 what="the DELETED watch event")
        c = t.counters("enricher")
        check(c.get("k8s.pods") == 0, "deleted pod no longer live")
        check(c.get("pod_meta.sent", 0) == pm0 + 1, "pod_meta del sent to the enforcer")
        tag = unique_tag("k8s-deleted")
        sh1.run(tag)
        p = exec_of(t, tag)
        check(pod_of(p).get("uid") == uid1 and "noPod" not in p.get("flags", ""),
              f"a running process keeps its deleted pod: {p.get('pod')} {p.get('flags')}")
        check(t.counters("enricher").get("pod_meta.sent", 0) == pm0 + 1,
              "no pod_meta set again for the deleted pod")

        time.sleep(max(0.0, LINGER_MS / 1000 + 0.3 - (time.monotonic() - t_del)))
        tag = unique_tag("k8s-expired")
        sh1.run(tag)
        p = exec_of(t, tag, timeout=6)
        check("pod" not in p and "noPod" in p.get("flags", "").split() and
              p.get("docker") == cid1[:31], f"after the linger: no pod, flagged: {p}")
        check(t.counters("enricher").get("k8s.pods_expired", 0) >= 1, "k8s.pods_expired")

        uid2, cid2 = str(uuid.uuid4()), hexid()
        pod2 = make_pod("db-0", NODE, ns="data", uid=uid2, labels={"app": "db", "gen": "2"},
                        containers=[("postgres", "postgres:17", cid2, False)],
                        owner=("StatefulSet", "db"))
        srv.add_pod(pod2)
        wait_for(lambda: t.counters("enricher").get("k8s.pods", 0) == 1, 5, what="new pod")
        sh2 = CgShell(cgs.make(uid2, cid2))
        shells.append(sh2)
        tag = unique_tag("k8s-recreated")
        sh2.run(tag)
        p = exec_of(t, tag)
        pod = pod_of(p)
        check(pod.get("name") == "db-0" and pod.get("uid") == uid2 and
              pod.get("pod_labels", {}).get("gen") == "2" and
              pod.get("container", {}).get("id") == "containerd://" + cid2 and
              pod.get("container", {}).get("image", {}).get("name") == "postgres:17",
              f"recreated pod {pod}")
        tag = unique_tag("k8s-oldcg")
        sh1.run(tag)
        p = exec_of(t, tag, timeout=6)
        check(pod_of(p).get("uid") != uid2, f"old cgroup got the new pod: {p}")
        check(t.pid("enricher") and t.counters("enricher").get("drop.body", 0) == 0,
              "enricher alive, nothing dropped")
    finally:
        for sh in shells:
            sh.stop()
        if t:
            t.cleanup()
        srv.stop()
        cgs.clean()
        shutil.rmtree(tmp, ignore_errors=True)


run_test(test)
