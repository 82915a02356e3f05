"""e2e: wakeup batching with a bounded delivery delay (collector/README.md, "Delivery
delay"). A collector alone, its output read by this test (PULL on collector.out), every
record's delay measured as receive time minus the record's `ktime` (both
CLOCK_MONOTONIC). Then:
- after a quiet second, a single exec (and its exit) arrives within 50 ms: an isolated
  record wakes the collector at once;
- a flat-out stream of 300 fork+exec+wait of /bin/true TAG-i: every exec and exit of
  it arrives, none later than 500 ms (a record left without a wakeup would wait for
  the 1 s idle timer), 95% within 50 ms; the last exit of the burst, after which
  nothing else wakes the collector, within 500 ms too;
- the stream costs fewer collector wakeups than execs (`drain.wakeups`): one drain per
  timer tick while records flow, not a wakeup per record (3 records per exec);
- the status says delivery_ms 10 (the default), and `--delivery-ms 5ms` exits 100
  naming the option."""
import os
import subprocess
import threading
import time

import msgpack
import zmq

from vigiltest import ROOT, Tree, check, need_root, run_test, unique_tag

N = 300


class Reader(threading.Thread):
    """Receives the collector's output; keeps (receive ns, type, body) of every event."""

    def __init__(self, t):
        super().__init__(daemon=True)
        self.sock = t.zctx.socket(zmq.PULL)
        self.sock.setsockopt(zmq.RCVTIMEO, 100)
        self.sock.connect(t.endpoint("collector", "out"))
        self.got = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                parts = self.sock.recv_multipart()
            except zmq.error.Again:
                continue
            now = time.monotonic_ns()
            for p in parts:
                m = msgpack.unpackb(p, raw=False)
                self.got.append((now, m.get("type"), m.get("ev") or {}))


def find(r, typ, pred):
    for now, t, ev in list(r.got):
        if t == typ and pred(ev):
            return now - ev["ktime"]
    return None


def wait_find(r, typ, pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        d = find(r, typ, pred)
        if d is not None:
            return d
        time.sleep(0.01)
    return None


def test():
    need_root()
    t = Tree(stages=["collector"], env={"VIGIL_COLLECTOR_OPTS": "--events process --scan 0"})
    r = None
    try:
        t.start()
        r = Reader(t)
        r.start()
        # isolated execs: woken at once
        for i in range(3):
            time.sleep(1.0)
            tag = unique_tag("vigil-wake-single")
            p = subprocess.Popen(["/bin/true", tag])
            p.wait()
            d = wait_find(r, "process_exec", lambda e: e.get("args") == [tag])
            check(d is not None, f"the single exec {tag} arrived")
            check(d < 50e6, f"single exec delivered after {d / 1e6:.1f} ms (want < 50 ms)")
            d = wait_find(r, "process_exit", lambda e, pid=p.pid: e.get("pid") == pid)
            check(d is not None and d < 50e6, f"its exit delivered after {d} ns")
        time.sleep(0.5)
        w0 = t.counter("collector", "drain.wakeups")
        tag = unique_tag("vigil-wake-stream")
        pids = []
        for i in range(N):
            p = subprocess.Popen(["/bin/true", f"{tag}-{i}"])
            p.wait()
            pids.append(p.pid)
        time.sleep(1.5)
        wakeups = t.counter("collector", "drain.wakeups") - w0
        want = set(pids)
        delays = []
        for now, typ, ev in list(r.got):
            if typ in ("process_exec", "process_exit") and ev.get("pid") in want:
                delays.append((now - ev["ktime"], typ, ev["pid"]))
        check(len(delays) == 2 * N, f"{len(delays)} of {2 * N} execs and exits arrived")
        ds = sorted(d for d, _, _ in delays)
        p95 = ds[int(0.95 * len(ds))]
        print(f"info: {N} execs: delay median {ds[len(ds) // 2] / 1e6:.2f} ms, p95 "
              f"{p95 / 1e6:.2f} ms, max {ds[-1] / 1e6:.2f} ms; {wakeups} wakeups", flush=True)
        check(ds[-1] < 5e8, f"max delay {ds[-1] / 1e6:.0f} ms: a record was stranded")
        check(p95 < 50e6, f"p95 delay {p95 / 1e6:.1f} ms")
        last = [d for d, typ, pid in delays if pid == pids[-1] and typ == "process_exit"]
        check(last and last[0] < 5e8, f"the burst's last exit delivered after {last}")
        check(wakeups < N, f"{wakeups} wakeups for {N} execs ({3 * N} records): not batched")
        info = t.status("collector")["info"]
        check(info.get("delivery_ms") == "10", f"delivery_ms {info.get('delivery_ms')}")
        # a bad --delivery-ms is a configuration error, said as such
        bad = subprocess.run([os.path.join(ROOT, "build/vigil-collector"), "--rundir",
                              os.path.join(t.base, "bad"), "--delivery-ms", "5ms"],
                             capture_output=True, text=True, timeout=20)
        check(bad.returncode == 100 and "--delivery-ms" in bad.stderr,
              f"--delivery-ms 5ms: exit {bad.returncode}, {bad.stderr.strip()[-200:]}")
    finally:
        if r:
            r.stop = True
            r.join(2)
            r.sock.close(0)
        t.cleanup()


run_test(test)
