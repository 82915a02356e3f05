#!/usr/bin/python3
"""Enricher benchmark: what enrichment costs per event, how much memory the enricher
needs, and how fast pod metadata reaches events. One vigil-enricher binary on private
ipc:// endpoints (tests/lib/enrichertest.Enricher); synthetic raw events pushed over the
wire as the collector would send them (clone + exec per process, pids above pid_max).

  1. cost per event at 10,000 and 100,000 cached processes: a kprobe event of a random
     cached process (cache lookup + Process/parent packing + send):
       - round trip p50/p99 µs: one event in flight, python PUSH -> enricher -> python
         PULL (includes two ipc hops and python; an upper bound of the enricher's part);
       - CPU µs per event: the enricher's utime+stime (/proc/PID/stat) over a burst of
         200,000 events, divided by the events (includes ZeroMQ receive and send);
       - throughput of that burst (events/s; bound by the python sender here).
  2. RSS (VmRSS) of the enricher with 100,000 cached processes and 5,000 pods served by
     the Kubernetes API test server (tests/k8s/apiserver.py: TLS, list + watch).
  3. pod watch event -> first event carrying its metadata: an exec from a real
     kubelet-layout cgroup (kubepods/besteffort/pod<uid>/<id>) whose pod is not known is
     held; the pod is then added on the server; the time from the add to the enriched
     event (includes the server's watch delivery, TLS, JSON parse, the inproc hand-off).

Usage: bench/enricher_bench.py [--quick] [--json FILE]   (root: cgroups, /proc)
Prints a table; --json also writes the numbers."""
import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
sys.path.insert(0, os.path.join(ROOT, "tests/k8s"))
os.environ.setdefault("VIGIL_ROOT", ROOT)
from enrichertest import (Enricher, KubeCgroups, clone_ev, exec_ev, hexid,  # noqa: E402
                          kprobe_ev)
from apiserver import ApiServer, make_pod  # noqa: E402

B = 6_000_000
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


class Drain(threading.Thread):
    """Receives and counts output until told to stop (a second PULL would steal)."""

    def __init__(self, e):
        super().__init__(daemon=True)
        self.e, self.n, self.stop_ = e, 0, False

    def run(self):
        while not self.stop_:
            if self.e.pull.poll(100):
                self.e.pull.recv()
                self.n += 1

    def wait(self, n, timeout):
        t0 = time.monotonic()
        while self.n < n and time.monotonic() - t0 < timeout:
            time.sleep(0.01)
        return self.n >= n

    def halt(self):
        self.stop_ = True
        self.join()


def load(e, n, dr, base_out=0):
    """n live processes: a parent shell, then clone + exec each."""
    e.send("process_exec", exec_ev(B, 10, 1, 1, "/usr/bin/bash", ["-c", "bench"]))
    for i in range(1, n + 1):
        k = 1000 + 10 * i
        e.send("process_clone", clone_ev(B + i, k, B, 10))
        e.send("process_exec", exec_ev(B + i, k + 5, B, 10, "/usr/bin/python3",
                                       ["worker.py", str(i)], start=k, cwd="/srv/app"))
    if not dr.wait(base_out + n + 1, 300):
        raise SystemExit(f"enricher output stalled at {dr.n} of {base_out + n + 1}")


def cost(n, quick):
    """Round trip and CPU per kprobe event with n cached processes."""
    rtt_n, burst_n = (1000, 20000) if quick else (5000, 200000)
    with Enricher() as e:
        dr = Drain(e)
        dr.start()
        load(e, n, dr)
        dr.halt()
        rnd = random.Random(n)
        k = 10_000_000_000
        rtt = []
        gc.disable()  # python's collector would show up as enricher latency
        for _ in range(rtt_n):
            k += 1000
            pid = B + rnd.randint(1, n)
            t0 = time.perf_counter()
            e.send("process_kprobe", kprobe_ev(pid, k, start_ktime=1000 + 10 * (pid - B)))
            e.recv(5)
            rtt.append((time.perf_counter() - t0) * 1e6)
        gc.enable()
        dr = Drain(e)
        dr.start()
        pids = [B + rnd.randint(1, n) for _ in range(burst_n)]
        c0, t0 = cpu_s(e.proc.pid), time.monotonic()
        for pid in pids:
            k += 1000
            e.send("process_kprobe", kprobe_ev(pid, k, start_ktime=1000 + 10 * (pid - B)))
        ok = dr.wait(burst_n, 120)
        dt, c1 = time.monotonic() - t0, cpu_s(e.proc.pid)
        dr.halt()
        c = e.counters()
        if not ok or c.get("cache.size", 0) < n:
            raise SystemExit(f"burst incomplete ({dr.n}/{burst_n}) or cache {c.get('cache.size')}")
        return {"procs": n, "rtt_p50_us": pct(rtt, 50), "rtt_p99_us": pct(rtt, 99),
                "cpu_us_per_event": (c1 - c0) * 1e6 / burst_n, "events_per_s": burst_n / dt,
                "burst": burst_n, "misses": c.get("cache.misses", 0)}


def pods_rss(nprocs, npods, tmp):
    srv = ApiServer(tmp).start()
    try:
        for i in range(npods):
            srv.add_pod(make_pod(f"app{i % 50}-6d8f9c7b5-{i:05d}", "enr-test",
                                 ns=f"ns{i % 20}",
                                 labels={"app": f"app{i % 50}", "tier": "backend",
                                         "pod-template-hash": "6d8f9c7b5"},
                                 annotations={"note": "x" * 40},
                                 containers=[("main", f"registry.example/app{i % 50}:1.2.3",
                                              hexid(), False),
                                             ("sidecar", "envoy:1.30", hexid(), False)]))
        t0 = time.monotonic()
        with Enricher("--k8s-url", srv.url, "--k8s-token-file", srv.token_file,
                      "--k8s-ca", srv.ca) as e:
            base = e.rss_kb()
            while e.counters().get("k8s.pods", 0) < npods:
                if time.monotonic() - t0 > 120:
                    raise SystemExit(f"only {e.counters().get('k8s.pods')} pods listed")
                time.sleep(0.1)
            t_list = time.monotonic() - t0
            rss_pods = e.rss_kb()
            dr = Drain(e)
            dr.start()
            load(e, nprocs, dr)
            dr.halt()
            time.sleep(2.5)  # the enricher trims after a burst
            c = e.counters()
            return {"procs": c.get("cache.size"), "pods": c.get("k8s.pods"),
                    "rss_start_kb": base, "rss_pods_kb": rss_pods, "rss_kb": e.rss_kb(),
                    "list_s": t_list}
    finally:
        srv.stop()


def pod_latency(tmp, rounds):
    cgs = KubeCgroups()
    if not cgs.available():
        return None
    srv = ApiServer(tmp).start()
    out = []
    try:
        with Enricher("--k8s-url", srv.url, "--k8s-token-file", srv.token_file,
                      "--k8s-ca", srv.ca, "--pod-wait-ms", "5000") as e:
            t0 = time.monotonic()
            while e.counters().get("k8s.synced") != 1 and time.monotonic() - t0 < 10:
                time.sleep(0.05)
            for i in range(rounds):
                uid, cid = str(uuid.uuid4()), hexid()
                ino = os.stat(cgs.make(uid, cid)).st_ino
                e.send("process_exec", exec_ev(B + i, 1000 + i, 1, 1, "/bin/app",
                                               cgroup_id=ino))
                if not e.nothing(0.05):
                    raise SystemExit("the exec of an unknown pod was not held")
                pod = make_pod(f"lat-{i}", "enr-test", uid=uid,
                               containers=[("c", "img:1", cid, False)])
                t0 = time.perf_counter()
                srv.add_pod(pod)
                _, ev = e.recv(5)
                dt = (time.perf_counter() - t0) * 1e3
                if ev["process"].get("pod", {}).get("uid") != uid:
                    raise SystemExit(f"round {i}: event without its pod")
                out.append(dt)
    finally:
        srv.stop()
        cgs.clean()
    return {"rounds": rounds, "p50_ms": pct(out, 50), "p99_ms": pct(out, 99),
            "max_ms": max(out)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    ap.add_argument("--json", help="also write the numbers to this file")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("enricher_bench: needs root (cgroups, /proc)")
    tmp = tempfile.mkdtemp(prefix="vigil-enr-bench-")
    res = {}
    try:
        res["cost"] = [cost(n, a.quick) for n in ((1000, 10000) if a.quick
                                                  else (10000, 100000))]
        res["rss"] = pods_rss(10000 if a.quick else 100000, 500 if a.quick else 5000, tmp)
        res["pod_latency"] = pod_latency(tmp, 5 if a.quick else 30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("enricher: cost per kprobe event (synthetic wire input)")
    print(f"{'cached procs':>12} {'rtt p50 µs':>11} {'rtt p99 µs':>11} "
          f"{'CPU µs/event':>13} {'events/s*':>10}")
    for r in res["cost"]:
        print(f"{r['procs']:>12,} {r['rtt_p50_us']:>11.1f} {r['rtt_p99_us']:>11.1f} "
              f"{r['cpu_us_per_event']:>13.2f} {r['events_per_s']:>10,.0f}")
    print("  rtt: one event in flight, python -> enricher -> python over ipc:// (an upper "
          "bound); CPU: the enricher's utime+stime over the burst / events;\n"
          "  * events/s of the burst is bound by the python sender, not the enricher")
    r = res["rss"]
    print(f"enricher VmRSS: {r['rss_kb'] / 1024:.1f} MB with {r['procs']:,} processes and "
          f"{r['pods']:,} pods (at start {r['rss_start_kb'] / 1024:.1f} MB, after the pod list "
          f"{r['rss_pods_kb'] / 1024:.1f} MB; {r['pods']:,} pods listed "
          f"{r['list_s']:.1f} s after the enricher started)")
    r = res["pod_latency"]
    if r:
        print(f"pod watch event -> first event with its metadata: p50 {r['p50_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms ({r['rounds']} pods)")
    else:
        print("pod watch event -> first event: skipped (no cgroup2 mount)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
