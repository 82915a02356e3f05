#!/usr/bin/python3
"""The exporter's gRPC bench (issue 5), two figures:

throughput(): the exporter alone under s6 (TLS gRPC on 127.0.0.1, default per-client queue),
  one python3-grpcio client over TLS with a GetEvents stream that only counts what arrives
  (responses are not parsed). Synthetic enriched process_exec events (wire format,
  docs/wire.md: {v, type, src, seq, ev}, ~600 bytes of msgpack each) are pushed into
  ipc://RUNDIR/exporter.in from Python, paced in 1 ms slices, at rising rates for a window
  each. A rate passes when the client received every event pushed, the exporter counted no
  client drop (grpc.client_drops) and no input drop/gap, and the last event arrived within
  1 s of the last push (sustained, not absorbed by the queue). The highest passing rate is
  the figure; the first failing one is shown with why. The client is Python: at high
  rates it, not the exporter, is the bottleneck (its CPU is shown next to the exporter's).

latency(): the whole tree (collector --events process,file,net), gRPC over TLS, the same
  kind of client parsing each response: receive time (CLOCK_REALTIME) minus the event's
  `time` (the kernel timestamp), under the workload mix at 1,000 events/s.

Run alone: /usr/bin/python3 bench/grpc_bench.py [--window S] [--rates a,b,c]"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import vbench as vb  # noqa: E402
import grpctest as g  # noqa: E402
import msgpack  # noqa: E402

RATES = [5000, 10000, 20000, 40000, 80000]


def body(i, t_ns):
    """A process_exec as the evaluator sends it (fields of docs/wire.md §4)."""
    return {"process": {"exec_id": f"Z3JwYy1iZW5jaDo{i:012d}", "pid": 200000 + (i % 100000),
                        "uid": 1000, "cwd": "/srv/app", "binary": "/usr/bin/python3",
                        "arguments": f"/srv/app/worker.py --job {i} --queue default",
                        "flags": "execve clone", "start_time": t_ns, "auid": 1000,
                        "parent_exec_id": "Z3JwYy1iZW5jaDpwYXJlbnQ", "tid": 200000,
                        "docker": "4f1c3e2a9b7d",
                        "pod": {"namespace": "default", "name": "worker-7d9f",
                                "container": {"id": "containerd://4f1c3e2a9b7d",
                                              "name": "worker",
                                              "image": {"name": "registry/app:1.2"}}}},
            "parent": {"exec_id": "Z3JwYy1iZW5jaDpwYXJlbnQ", "pid": 199999, "uid": 1000,
                       "binary": "/bin/sh", "arguments": "-c /srv/app/run.sh",
                       "start_time": t_ns - 10**9},
            "node_name": "bench", "time": t_ns}


class Counter(threading.Thread):
    """A GetEvents stream whose responses are counted, not parsed."""

    def __init__(self, ch):
        super().__init__(daemon=True)
        m = ch.unary_stream(g.SVC + "GetEvents", request_serializer=lambda r: r,
                            response_deserializer=lambda b: b)
        self.call = m(b"")
        self.n = 0
        self.last = 0.0

    def run(self):
        try:
            for _ in self.call:
                self.n += 1
                self.last = time.monotonic()
        except Exception:  # cancelled at the end
            pass


def push_window(sock, rate, dur, seq0):
    """Push rate events/s for dur seconds in 1 ms slices; returns (sent, elapsed, seq, err).
    Each envelope is spliced from pre-packed parts (only seq changes) so that Python can
    push faster than the exporter and the client can take."""
    import zmq
    head = b"\x85" + msgpack.packb("v") + msgpack.packb(1) + msgpack.packb("type") + \
        msgpack.packb("process_exec") + msgpack.packb("src") + msgpack.packb("grpcbench") + \
        msgpack.packb("seq")
    t_ns = time.time_ns()
    tails = [msgpack.packb("ev") + msgpack.packb(body(i, t_ns), use_bin_type=True)
             for i in range(64)]
    start = time.monotonic()
    sent, seq = 0, seq0
    total = int(rate * dur)
    while sent < total:
        el = time.monotonic() - start
        if el > dur + 0.5:  # behind schedule: stop at the window's end, the step fails
            break
        owed = min(total, int(el * rate) + 1) - sent
        if owed <= 0:
            time.sleep(0.0005)
            continue
        for _ in range(owed):
            seq += 1
            try:
                sock.send(head + msgpack.packb(seq) + tails[seq & 63])
            except zmq.error.Again:
                return sent, time.monotonic() - start, seq, "input full (exporter HWM)"
            sent += 1
    return sent, time.monotonic() - start, seq, None


def pusher(ep, rate, dur, seq0):
    """push_window in a process of its own (the client's thread must not share its GIL)."""
    import subprocess
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--push", ep, str(rate),
                        str(dur), str(seq0)], stdout=subprocess.PIPE, text=True, check=True)
    x = json.loads(r.stdout)
    return x["sent"], x["elapsed"], x["seq"], x["err"]


def push_main(ep, rate, dur, seq0):
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 5000)
    s.setsockopt(zmq.SNDTIMEO, 2000)
    s.connect(ep)
    time.sleep(0.1)
    sent, el, seq, err = push_window(s, rate, dur, seq0)
    s.close()
    ctx.term()
    print(json.dumps({"sent": sent, "elapsed": el, "seq": seq, "err": err}))
    return 0


def throughput(window=4.0, rates=None, say=print):
    rates = rates or RATES
    t = vb.Tree(stages=["exporter"])
    out = {"window_s": window, "steps": []}
    try:
        tls = g.make_tls(os.path.join(t.base, "tls"))
        port = g.free_port()
        t.env["VIGIL_EXPORTER_OPTS"] = (
            f"--export-file {t.export} --export-file-max-size-mb 0 "
            f"--grpc-address 127.0.0.1:{port} "
            f"--tls-cert {tls['server']} --tls-key {tls['server_key']}")
        t.start(timeout=30)
        out["queue"] = 10000
        ch = g.channel(port, tls)
        c = Counter(ch)
        c.start()
        vb.wait_for(lambda: t.counter("exporter", "grpc.clients") >= 1, 10,
                    what="the gRPC client subscribed")
        seq = 0
        pid = t.pid("exporter")
        for rate in rates:
            vb.truncate_export(t)
            c0 = t.counters("exporter")
            n0 = c.n
            cpu0, ccpu0 = vb.cpu_s(pid), time.process_time()
            sent, el, seq, err = pusher(t.endpoint("exporter", "in"), rate, window, seq)
            pushed_at = time.monotonic()
            end = time.monotonic() + 15
            while not err and c.n - n0 < sent and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.3)
            got = c.n - n0
            c1 = t.counters("exporter")
            cpu1, ccpu1 = vb.cpu_s(pid), time.process_time()

            def d(k):
                return c1.get(k, 0) - c0.get(k, 0)
            drops = d("grpc.client_drops")
            rli = d("grpc.rate_limit_info")
            other = sum(c1.get(k, 0) - c0.get(k, 0) for k in c1
                        if k.startswith("drop.") or k == "gap_total")
            lag = max(0.0, c.last - pushed_at)
            slow = sent / el < 0.95 * rate
            ok = not err and not slow and got - rli == sent and drops == 0 and other == 0 and lag <= 1.0
            whys = [err] if err else []
            if slow:
                whys.append(f"the Python pusher reached only {sent / el:.0f}/s")
            if drops:
                whys.append(f"{drops} client drops")
            if other:
                whys.append("input drops/gaps")
            if got - rli != sent and not drops:
                whys.append(f"missing {sent - (got - rli)}")
            if lag > 1.0:
                whys.append(f"last event {lag:.1f}s after the last push")
            why = "; ".join(whys)
            st = {"rate": rate, "pushed": sent, "push_rate": sent / el, "received": got - rli,
                  "client_drops": drops, "other_drops": other, "lag_s": round(lag, 3),
                  "exporter_cpu_pct": 100 * (cpu1 - cpu0) / el if cpu0 is not None else None,
                  "bench_process_cpu_pct": 100 * (ccpu1 - ccpu0) / el, "ok": ok, "why": why}
            out["steps"].append(st)
            say(f"  grpc throughput {rate}/s: pushed {sent} ({sent / el:.0f}/s), received "
                f"{got - rli}, client drops {drops}, lag {lag:.2f}s, exporter CPU "
                f"{st['exporter_cpu_pct']:.0f}%, {'ok' if ok else 'FAIL: ' + why}")
            if not ok:
                break
        good = [s for s in out["steps"] if s["ok"]]
        out["max_zero_loss"] = max((s["push_rate"] for s in good), default=None)
        out["max_rate_target"] = max((s["rate"] for s in good), default=None)
        out["first_fail"] = next((s for s in out["steps"] if not s["ok"]), None)
        c.call.cancel()
    finally:
        t.cleanup()
    return out


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else None


def latency(rate=1000, window=10.0, say=print):
    t = vb.Tree()
    out = {"rate": rate, "window_s": window}
    try:
        tls = g.make_tls(os.path.join(t.base, "tls"))
        port = g.free_port()
        t.env["VIGIL_EXPORTER_OPTS"] = (
            f"--export-file {t.export} --export-file-max-size-mb 0 "
            f"--grpc-address 127.0.0.1:{port} "
            f"--tls-cert {tls['server']} --tls-key {tls['server_key']}")
        t.env["VIGIL_COLLECTOR_OPTS"] = "--events process,file,net"
        t.start(timeout=40)
        ev, _, _ = g.pb()
        call = g.get_events(g.channel(port, tls))
        g.wait_subscribed(call, 10)
        lat, since = [], time.time_ns()
        stop = threading.Event()

        def reader():
            try:
                for r in call:
                    rx = time.time_ns()
                    ts = r.time.seconds * 10**9 + r.time.nanos
                    if ts >= since:
                        lat.append(rx - ts)
                    if stop.is_set():
                        break
            except Exception:
                pass
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        gs = vb.gen(vb.run_id(), rate, duration=window)
        time.sleep(1.0)
        stop.set()
        call.cancel()
        th.join(5)
        xs = sorted(x / 1e3 for x in lat)
        out.update({"achieved": gs["rate_achieved"], "timed": len(xs),
                    "p50_us": pct(xs, 0.5), "p99_us": pct(xs, 0.99),
                    "p999_us": pct(xs, 0.999), "max_us": xs[-1] if xs else None,
                    "samples_us": xs[::max(1, len(xs) // 5000)]})
        say(f"  grpc latency at {rate}/s: {len(xs)} events, p50 {out['p50_us']:.0f} us, "
            f"p99 {out['p99_us']:.0f} us, p99.9 {out['p999_us']:.0f} us")
    finally:
        t.cleanup()
    return out


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--push":
        return push_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=4.0)
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    a = ap.parse_args()
    err = lambda *x: print(*x, file=sys.stderr)  # noqa: E731 (stdout is the JSON)
    res = {"throughput": throughput(a.window, [int(x) for x in a.rates.split(",")], say=err),
           "latency": latency(say=err)}
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
