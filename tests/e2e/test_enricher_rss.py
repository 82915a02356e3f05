"""stage test: memory bound (issue 4: 100,000 live processes in <= 40 MB RSS for the whole
enricher, with 5,000 pods).
1. One enricher pointed at the Kubernetes API test server (tests/k8s/apiserver.py, TLS,
   list + watch) serving 5,000 pods of this node (two containers each, labels,
   annotations, ReplicaSet owners), then 100,000 live synthetic processes (a clone then
   an exec each, pids above pid_max) pushed through its input, each exec carrying the
   collector's `process` extra map (capabilities, namespaces, credentials, one of 20
   variants) as the real collector sends it; the output is drained.
   Asserts: k8s.pods == 5,000; every exec came out; cache.size == 100,000 + the shell
   parent + its parent (pid 1, from /proc); no eviction at the default capacity; the
   extra map reached the exported Process; strings are shared (intern.strings well
   below one per string held); and the whole enricher's VmRSS (/proc/PID/status) 2.5 s
   after the burst <= 40 MB. Prints the number.
2. A second enricher with --cache-size 1000 gets 20,000 processes: cache.size stays at
   1,000, cache.evictions counts the rest, and a process looked up just before the
   evictions (recently used) survives them while an idle one does not."""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from apiserver import ApiServer, make_pod  # noqa: E402
from enrichertest import NODE, Enricher, clone_ev, exec_ev, hexid, kprobe_ev  # noqa: E402
from vigiltest import check, need_root, run_test, wait_for  # noqa: E402

B = 5_000_000
N = 100_000
PODS = 5_000
LIMIT_KB = 40 * 1024


def extra(i):
    """The collector's `process` map of an exec (docs/wire.md §8.2), 20 variants."""
    v = i % 20
    caps = ["CAP_CHOWN", "DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID",
            "CAP_NET_BIND_SERVICE"]
    return {"cap": {"permitted": caps, "effective": caps, "inheritable": []},
            "ns": {k: {"inum": 4026531834 + n + (v if k == "mnt" else 0)}
                   for n, k in enumerate(("uts", "ipc", "mnt", "pid", "net", "cgroup",
                                          "user"))},
            "process_credentials": {"uid": 1000 + v, "gid": 1000, "euid": 1000 + v,
                                    "egid": 1000},
            "binary_properties": {"file": {"inode": {"number": 1311 + v, "links": 1},
                                           "path": "/usr/bin/sleep"}}}


def feed(e, n, extras=False):
    e.send("process_exec", exec_ev(B, 10, 1, 1, "/usr/bin/bash", ["-c", "loop"]))
    for i in range(1, n + 1):
        pid = B + i
        k = 1000 + 10 * i
        e.send("process_clone", clone_ev(pid, k, B, 10))
        ev = exec_ev(pid, k + 5, B, 10, "/usr/bin/sleep", ["1000", str(i)], start=k,
                     cwd="/home/user/work")
        if extras:
            ev["process"] = extra(i)
        e.send("process_exec", ev)


def drain(e, want, box, keep=None):
    got = 0
    while got < want:
        if not e.pull.poll(20000):
            break
        m = e.pull.recv()
        if keep is not None and got == want - 1:
            keep.append(m)
        got += 1
    box.append(got)


def add_pods(srv):
    for i in range(PODS):
        srv.add_pod(make_pod(f"app{i % 50}-6d8f9c7b5-{i:05d}", NODE, ns=f"ns{i % 20}",
                             labels={"app": f"app{i % 50}", "tier": "backend",
                                     "pod-template-hash": "6d8f9c7b5"},
                             annotations={"note": "x" * 40},
                             containers=[("main", f"registry.example/app{i % 50}:1.2.3",
                                          hexid(), False),
                                         ("sidecar", "envoy:1.30", hexid(), False)]))


def with_pods(tmp):
    import msgpack
    srv = ApiServer(tmp).start()
    try:
        add_pods(srv)
        with Enricher("--k8s-url", srv.url, "--k8s-token-file", srv.token_file,
                      "--k8s-ca", srv.ca) as e:
            base = e.rss_kb()
            wait_for(lambda: e.counters().get("k8s.pods") == PODS, 60, what="5,000 pods")
            box, last = [], []
            th = threading.Thread(target=drain, args=(e, N + 1, box, last))
            th.start()
            feed(e, N, extras=True)
            th.join(120)
            check(box and box[0] == N + 1, f"outputs {box}")
            pr = msgpack.unpackb(last[0], raw=False)["ev"]["process"]
            check(pr.get("ns", {}).get("mnt", {}).get("inum") == 4026531834 + 2 + N % 20
                  and pr.get("process_credentials", {}).get("uid") == 1000 + N % 20
                  and pr.get("arguments") == f"1000 {N}", f"last exec's Process {pr}")
            c = e.counters()
            check(c["cache.size"] == N + 2 and c["cache.evictions"] == 0, f"cache {c}")
            check(c["k8s.pods"] == PODS, f"k8s.pods {c['k8s.pods']}")
            # 100k args are unique; binaries, cwds, flags, extras and pod strings repeat
            check(c["intern.strings"] < N + 40_000 and c["intern.refs"] > 4 * N,
                  f"interning: {c['intern.strings']} strings, {c['intern.refs']} refs")
            time.sleep(2.5)  # steady state: the enricher trims after a burst
            rss = e.rss_kb()
            print(f"enricher VmRSS: {rss} kB = {rss / 1024:.1f} MB with {c['cache.size']} "
                  f"cached processes and {c['k8s.pods']} pods (at start {base} kB; "
                  f"slab {c['cache.slab_bytes'] >> 10} kB, {c['intern.strings']} strings "
                  f"of {c['intern.bytes'] >> 10} kB)")
            check(rss <= LIMIT_KB, f"VmRSS {rss} kB > 40 MB")
    finally:
        srv.stop()


def eviction():
    with Enricher("--cache-size", "1000") as e:
        box = []
        th = threading.Thread(target=drain, args=(e, 20001, box))
        th.start()
        feed(e, 20000)
        th.join(60)
        c = wait_for(lambda: (lambda c: c if c["events.process_exec"] == 20001 else None)(
            e.counters()), 10, what="all execs")
        check(c["cache.size"] == 1000, f"cache.size {c['cache.size']}")
        check(c["cache.evictions"] >= 20001 - 1000, f"evictions {c['cache.evictions']}")
        # second chance: the hand has passed every entry once (cleared their bit); a
        # kprobe marks HOT used, then 1,500 new processes push the hand around again
        hot, cold = B + 19_500, B + 19_600
        e.send("process_kprobe", kprobe_ev(hot, 10**9, start_ktime=1000 + 10 * 19_500))
        e.recv()
        for i in range(1, 1001):
            pid = B + 100_000 + i
            e.send("process_exec", exec_ev(pid, 2 * 10**9 + i, B, 10, "/bin/x"))
            e.recv()
            if i % 100 == 0:  # keep HOT in use, as a busy process would be
                e.send("process_kprobe", kprobe_ev(hot, 10**9 + i,
                                                   start_ktime=1000 + 10 * 19_500))
                e.recv()
        for pid, want_flag in ((hot, False), (cold, True)):
            e.send("process_kprobe", kprobe_ev(pid, 3 * 10**9, fn="probe"))
            _, ev = e.recv()
            flags = ev["process"].get("flags", "").split()
            check(("miss" in flags) == want_flag,
                  f"pid {pid}: {'evicted' if want_flag else 'kept'} expected: {ev['process']}")


def test():
    tmp = tempfile.mkdtemp(prefix="vigil-enr-rss-")
    try:
        with_pods(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    eviction()


need_root()
run_test(test)
