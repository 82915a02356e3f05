"""e2e: a slow API server and token rotation — real processes in kubelet-layout cgroups,
the whole tree under s6, the enricher pointed at our API test server.
Slow: every response waits 4 s and the watch history is compacted (410 → re-list), so
the re-list takes ~8 s. Meanwhile a known pod's process gets its pod within 1 s and a
host process's exec is exported within 1 s (the Kubernetes thread never blocks the event
path); the control socket answers within 1 s; the pod added during the slow phase
reaches its process once the slow re-list completes (k8s.lists +1, k8s.relist +1).
Token rotation: the token file changes → the server refuses the old token (401, checked
with a plain HTTPS request) and every enricher request after the reconnect carries the
new token (k8s.token_reloads +1, k8s.unauthorized unchanged, a new pod arrives).
Server rotates first (the file still holds the old token): requests are refused
(k8s.unauthorized, k8s.synced 0, the log says the token was refused), no crash; once the
file is updated the next retry uses it and the enricher syncs again."""
import os
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from apiserver import ApiServer, make_pod  # noqa: E402
from enrichertest import NODE, CgShell, KubeCgroups, exec_of, hexid, k8s_tree_env  # noqa: E402
from vigiltest import Tree, check, need_root, run_test, skip, unique_tag, wait_for  # noqa: E402

SLOW_S = 4


def http_status(srv, token):
    ctx = ssl.create_default_context(cafile=srv.ca)
    req = urllib.request.Request(srv.url + "/api/v1/pods",
                                 headers={"Authorization": "Bearer " + token})
    try:
        return urllib.request.urlopen(req, context=ctx, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code


def new_pod(srv, cgs, name):
    uid, cid = str(uuid.uuid4()), hexid()
    srv.add_pod(make_pod(name, NODE, uid=uid, containers=[("c", "busybox:1.36", cid, False)]))
    return uid, CgShell(cgs.make(uid, cid))


def test():
    need_root()
    cgs = KubeCgroups()
    if not cgs.available():
        skip(f"no cgroup2 mount at {cgs.root}")
    tmp = tempfile.mkdtemp(prefix="vigil-k8s-faults-")
    srv = ApiServer(tmp, token="tok-1").start()
    shells = []
    t = None
    try:
        uid1, sh1 = new_pod(srv, cgs, "known-7f8d9-a1")
        shells.append(sh1)
        t = Tree(env=k8s_tree_env(srv, "--pod-wait-ms", "1000", "--k8s-backoff-max-ms", "500"),
                 node_name=NODE)
        t.start()
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 1, 10, what="synced")

        # ---- slow responses ----
        c0 = t.counters("enricher")
        srv.slow(SLOW_S)
        srv.expire()
        uid2, sh2 = new_pod(srv, cgs, "slow-7f8d9-b2")
        shells.append(sh2)
        t_slow = time.monotonic()
        time.sleep(0.5)
        worst = 0.0
        for i in range(2):
            tag = unique_tag("k8s-slow-known")
            t0 = time.monotonic()
            sh1.run(tag)
            p = exec_of(t, tag, timeout=1.0)
            worst = max(worst, time.monotonic() - t0)
            check(p.get("pod", {}).get("uid") == uid1, f"known pod while slow: {p}")
            host = unique_tag("k8s-slow-host")
            t0 = time.monotonic()
            os.spawnv(os.P_WAIT, "/bin/true", ["/bin/true", host])
            exec_of(t, host, timeout=1.0)
            worst = max(worst, time.monotonic() - t0)
            t0 = time.monotonic()
            t.counters("enricher")
            check(time.monotonic() - t0 < 1.0, "control socket slow")
            time.sleep(0.5)
        # the proof that all this happened while the Kubernetes thread was stuck:
        check(t.counters("enricher").get("k8s.lists") == c0.get("k8s.lists"),
              f"the slow re-list was still running ({time.monotonic() - t_slow:.1f}s)")
        print(f"slow server ({SLOW_S}s per response): worst event latency {worst*1000:.0f} ms")
        wait_for(lambda: t.counters("enricher").get("k8s.lists", 0) > c0.get("k8s.lists", 0),
                 3 * SLOW_S, what="the slow re-list")
        print(f"re-list done {time.monotonic() - t_slow:.1f}s after the slowdown")
        srv.slow(0)
        c1 = t.counters("enricher")
        check(c1.get("k8s.relist", 0) > c0.get("k8s.relist", 0), f"relist counted {c1}")
        tag = unique_tag("k8s-slow-new")
        sh2.run(tag)
        check(exec_of(t, tag).get("pod", {}).get("uid") == uid2, "pod of the slow re-list")

        # ---- the token file rotates ----
        # the watch that followed the slow list was itself delayed: wait until it streams
        b0 = t.counters("enricher").get("k8s.bookmarks", 0)
        wait_for(lambda: t.counters("enricher").get("k8s.bookmarks", 0) > b0, SLOW_S + 3,
                 what="a live watch (a bookmark)")
        c1 = t.counters("enricher")
        srv.set_token("tok-2")
        check(http_status(srv, "tok-1") == 401 and http_status(srv, "tok-2") == 200,
              "the server refuses the old token and takes the new one")
        nreq = len(srv.state.requests)
        srv.drop_watches()
        uid3, sh3 = new_pod(srv, cgs, "rotated-7f8d9-c3")
        shells.append(sh3)
        wait_for(lambda: t.counters("enricher").get("k8s.token_reloads", 0) >
                 c1.get("k8s.token_reloads", 0), 5, what="k8s.token_reloads")
        tag = unique_tag("k8s-rotated")
        sh3.run(tag)
        check(exec_of(t, tag).get("pod", {}).get("uid") == uid3, "pod after the rotation")
        auths = [a for _path, a in srv.requests_since(nreq)]
        check(auths and all(a == "Bearer tok-2" for a in auths),
              f"requests after the rotation: {auths}")
        check(t.counters("enricher").get("k8s.unauthorized", 0) ==
              c1.get("k8s.unauthorized", 0),
              f"no 401 after a file rotation: {t.log('enricher')[-1500:]}")

        # ---- the server rotates first: refused until the file follows ----
        srv.accept_only("tok-3")
        srv.drop_watches()
        wait_for(lambda: t.counters("enricher").get("k8s.unauthorized", 0) >
                 c1.get("k8s.unauthorized", 0), 5, what="k8s.unauthorized")
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 0, 3, what="unsynced")
        check("was refused" in t.log("enricher"), "the log names the refused token")
        srv.set_token("tok-3")
        wait_for(lambda: t.counters("enricher").get("k8s.synced") == 1, 3,
                 what="synced with the new token file")
        check(srv.requests_since(len(srv.state.requests) - 1)[0][1] == "Bearer tok-3",
              "the retry used the new file")
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
