#!/usr/bin/python3
"""Enricher CPU per event, p50/p99 (issue 4's bench): one vigil-enricher on private ipc://
endpoints (tests/lib/enrichertest.Enricher), N cached processes (clone + exec each), then
a burst of kprobe events of random cached processes, packed before the burst so the
stream is as dense as python can send it. Reports, for N = 10,000 and 100,000:
  - CPU µs/event: the enricher's utime+stime (/proc/PID/stat, all its threads, ZeroMQ's
    included) over the burst / events;
  - p50/p99 µs: the enricher's own sampled per-event CPU (control socket counters
    event_cpu_ns.p50/p99: thread CPU time from receive to sent, one message in 16, the
    last 4,096 samples, i.e. the end of the burst);
  - with --held H (default 9,000): the same burst while H events of unknown pids are
    held waiting for their exec (what an API outage or late execs look like).
Usage: bench/enricher_cpu.py [--burst N] [--held H] [--perf DIR] [--json FILE]
--perf DIR: also `perf record -g` the enricher during each burst (DIR/perf-N.data)."""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
os.environ.setdefault("VIGIL_ROOT", ROOT)
import msgpack  # noqa: E402
from enrichertest import Enricher, clone_ev, exec_ev, kprobe_ev  # noqa: E402

B = 6_000_000
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def drain(e, n, out):
    got = 0
    while got < n and e.pull.poll(20000):
        e.pull.recv()
        got += 1
    out.append(got)


def envelope(e, type_, ev):
    e.seq += 1
    return msgpack.packb({"v": 1, "type": type_, "src": "collector", "seq": e.seq, "ev": ev},
                         use_bin_type=True)


def run(n, burst, held, perf):
    with Enricher("--hold-ms", "60000", "--pending-max", str(max(held + 10, 10000))) as e:
        box = []
        th = threading.Thread(target=drain, args=(e, n + 1, box))
        th.start()
        e.send("process_exec", exec_ev(B, 10, 1, 1, "/usr/bin/bash", ["-c", "bench"]))
        for i in range(1, n + 1):
            k = 1000 + 10 * i
            e.send("process_clone", clone_ev(B + i, k, B, 10))
            e.send("process_exec", exec_ev(B + i, k + 5, B, 10, "/usr/bin/python3",
                                           ["worker.py", str(i)], start=k, cwd="/srv/app"))
        th.join(300)
        if not box or box[0] != n + 1:
            raise SystemExit(f"load stalled: {box}")
        for i in range(held):
            e.send("process_kprobe", kprobe_ev(B + 10_000_000 + i, 5000 + i, fn="held"))
        rnd = random.Random(n)
        msgs = []
        k = 10_000_000_000
        for _ in range(burst):
            pid = B + rnd.randint(1, n)
            k += 1000
            msgs.append(envelope(e, "process_kprobe",
                                 kprobe_ev(pid, k, start_ktime=1000 + 10 * (pid - B))))
        time.sleep(0.5)
        box = []
        th = threading.Thread(target=drain, args=(e, burst, box))
        th.start()
        pp = None
        if perf:
            pp = subprocess.Popen(["perf", "record", "-g", "-o",
                                   os.path.join(perf, f"perf-{n}-{held}.data"),
                                   "-p", str(e.proc.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0, t0 = cpu_s(e.proc.pid), time.monotonic()
        for m in msgs:
            e.push.send(m)
        th.join(300)
        dt, c1 = time.monotonic() - t0, cpu_s(e.proc.pid)
        if pp:
            pp.send_signal(2)
            pp.wait()
        c = e.counters()
        if not box or box[0] != burst:
            raise SystemExit(f"burst incomplete: {box}")
        return {"procs": n, "held": c.get("pending.size"), "burst": burst,
                "cpu_us_per_event": (c1 - c0) * 1e6 / burst, "events_per_s": burst / dt,
                "p50_us": c.get("event_cpu_ns.p50", 0) / 1000,
                "p99_us": c.get("event_cpu_ns.p99", 0) / 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=200_000)
    ap.add_argument("--held", type=int, default=9_000)
    ap.add_argument("--perf", help="directory for perf record output")
    ap.add_argument("--json", help="also write the numbers to this file")
    a = ap.parse_args()
    res = []
    for n in (10_000, 100_000):
        res.append(run(n, a.burst, 0, a.perf))
    if a.held:
        res.append(run(10_000, a.burst // 4, a.held, a.perf))
    print(f"{'cached':>8} {'held':>6} {'CPU µs/event':>13} {'p50 µs':>7} {'p99 µs':>7} "
          f"{'events/s':>9}")
    for r in res:
        print(f"{r['procs']:>8,} {r['held']:>6,} {r['cpu_us_per_event']:>13.2f} "
              f"{r['p50_us']:>7.2f} {r['p99_us']:>7.2f} {r['events_per_s']:>9,.0f}")
    print("CPU µs/event: all the enricher's threads over the burst; p50/p99: its own "
          "sampled per-event thread CPU (event_cpu_ns)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
