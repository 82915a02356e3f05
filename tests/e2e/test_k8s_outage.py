"""e2e: the Kubernetes API server goes away for 12 s and comes back (scaled down: the
port refuses connections, open watches are cut). Real processes in kubelet-layout
cgroups, the whole tree under s6, --k8s-backoff-max-ms 1000, --pod-wait-ms 1000.
While the server is down:
 - a process of a known pod still gets its pod, without waiting (the store is kept);
 - a host process's exec is exported within 1.5 s (nothing blocks);
 - a process of a pod the enricher has not seen (added while it was down) is exported
   without a pod, flagged noPod, docker set, after about --pod-wait-ms;
 - the enricher keeps answering its control socket; k8s.synced is 0; k8s.backoff_ms
   reaches the cap (1000) and never exceeds it; k8s.errors grows by at least 8 in the
   12 s (a capped backoff keeps retrying about once a second; an uncapped doubling
   would have tried ~5 times) and at most 40 (no hammering).
After the server is back: k8s.synced 1 and k8s.backoff_ms 0 within 3 s (the watch
resumes from its resourceVersion, as client-go does; a 410 would re-list), and the
pod added during the outage reaches the new pod's next process."""
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

DOWN_S = 12
CAP_MS = 1000


def test():
    need_root()
    cgs = KubeCgroups()
    if not cgs.available():
        skip(f"no cgroup2 mount at {cgs.root}")
    tmp = tempfile.mkdtemp(prefix="vigil-k8s-down-")
    srv = ApiServer(tmp).start()
    shells = []
    t = None
    try:
        uid1, cid1 = str(uuid.uuid4()), hexid()
        pod1 = make_pod("web-5c9f7d-x1", NODE, uid=uid1, labels={"app": "web"},
                        containers=[("web", "nginx:1.25", cid1, False)])
        srv.add_pod(pod1)
        sh1 = CgShell(cgs.make(uid1, cid1))
        shells.append(sh1)
        t = Tree(env=k8s_tree_env(srv, "--pod-wait-ms", "1000", "--k8s-backoff-max-ms",
                                  str(CAP_MS)), node_name=NODE)
        t.start()
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 1, 10, what="synced")
        tag = unique_tag("k8s-up")
        sh1.run(tag)
        check(exec_of(t, tag).get("pod", {}).get("uid") == uid1, "pod before the outage")

        c0 = t.counters("enricher")
        srv.down()
        t_down = time.monotonic()
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 0, 5, what="unsynced")
        # a pod the enricher cannot learn about while the server is down
        uid2, cid2 = str(uuid.uuid4()), hexid()
        pod2 = make_pod("job-abc12", NODE, uid=uid2, owner=("Job", "job"),
                        containers=[("work", "busybox:1.36", cid2, False)])
        srv.add_pod(pod2)
        sh2 = CgShell(cgs.make(uid2, cid2))
        shells.append(sh2)

        tag = unique_tag("k8s-down-known")
        t0 = time.monotonic()
        sh1.run(tag)
        p = exec_of(t, tag, timeout=3)
        dt_known = time.monotonic() - t0
        check(p.get("pod", {}).get("uid") == uid1 and "noPod" not in p.get("flags", ""),
              f"known pod during the outage: {p}")
        host = unique_tag("k8s-down-host")
        t0 = time.monotonic()
        os.spawnv(os.P_WAIT, "/bin/true", ["/bin/true", host])
        exec_of(t, host, timeout=1.5)
        dt_host = time.monotonic() - t0
        tag = unique_tag("k8s-down-new")
        t0 = time.monotonic()
        sh2.run(tag)
        p = exec_of(t, tag, timeout=5)
        dt_new = time.monotonic() - t0
        check("pod" not in p and "noPod" in p.get("flags", "").split() and
              p.get("docker") == cid2[:31], f"unknown pod during the outage: {p}")
        check(0.8 < dt_new < 3.5, f"held {dt_new:.2f}s for --pod-wait-ms 1000")

        backoffs = []
        while time.monotonic() - t_down < DOWN_S:
            t0 = time.monotonic()
            c = t.counters("enricher")
            check(time.monotonic() - t0 < 1.0, "control socket slow during the outage")
            backoffs.append(c.get("k8s.backoff_ms", 0))
            time.sleep(0.25)
        c1 = t.counters("enricher")
        errors = c1.get("k8s.errors", 0) - c0.get("k8s.errors", 0)
        print(f"outage {DOWN_S}s: k8s.errors +{errors}, backoff_ms seen {sorted(set(backoffs))}, "
              f"known-pod event {dt_known*1000:.0f} ms, host event {dt_host*1000:.0f} ms, "
              f"unknown-pod event {dt_new*1000:.0f} ms")
        check(max(backoffs) == CAP_MS, f"backoff reaches the cap: {sorted(set(backoffs))}")
        check(8 <= errors <= 40, f"k8s.errors +{errors} in {DOWN_S}s")
        check(c1.get("k8s.synced") == 0, "not synced while down")

        watches = c1.get("k8s.watches", 0) + c1.get("k8s.lists", 0)
        srv.up()
        t_up = time.monotonic()
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 1, 3,
                 what="synced again after the server came back")
        print(f"re-synced {time.monotonic() - t_up:.2f}s after the server came back")
        c2 = t.counters("enricher")
        check(c2.get("k8s.watches", 0) + c2.get("k8s.lists", 0) > watches and
              c2.get("k8s.backoff_ms") == 0, f"reconnected after the outage {c2}")
        tag = unique_tag("k8s-back")
        sh2.run(tag)
        p = exec_of(t, tag)
        check(p.get("pod", {}).get("uid") == uid2 and p["pod"].get("workload_kind") == "Job",
              f"the pod added during the outage: {p.get('pod')}")
        check(t.counters("enricher").get("drop.body", 0) == 0, "nothing dropped")
    finally:
        for sh in shells:
            sh.stop()
        if t:
            t.cleanup()
        srv.stop()
        cgs.clean()
        shutil.rmtree(tmp, ignore_errors=True)


run_test(test)
