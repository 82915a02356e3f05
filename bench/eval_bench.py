#!/usr/bin/python3
"""The evaluator's bench (issue 6). vigil-evaluator runs alone on a private run directory
(as tests/e2e/test_policy_eval.py does): this script binds where the enricher would push
(ipc://RUNDIR/enricher.out, and .1, .2 for three instances) and where the exporter would
pull (exporter.in). Input: synthetic enriched events in the wire format, the workload mix
(per 100: 1 process_exec + 1 process_exit, 79 security_file_open kprobes, 20 tcp_connect
kprobes; 64 distinct processes, paths and addresses), none of which the rules match
(matching is paid for every policy either way; a match adds a policy event).

Policy sets: none (--no-library, empty directory: the cost of decoding and re-sending),
the default library (policies/), and 1,000 generated policies (one rule each: a third on
exec binaries, a third on file path prefixes, a third on connect ports, every one walked
per event of its kind).

Per set:
  - matching cost per event: evaluator CPU (utime+stime) per event over a saturated run,
    minus the same with no policies, in µs; CPU per 1,000 events (ms) as is;
  - latency through the evaluator at 1,000 events/s (send -> re-sent copy received, so it
    includes two ipc hops): p50/p99 µs, and the same minus the no-policy p50;
  - throughput: events/s of one instance flat out (the pusher is a separate process),
    and of three instances (--name evaluator, evaluator.1, evaluator.2, each on its shard,
    events sharded by pid as the enricher does with --evaluators 3).
Run alone: /usr/bin/python3 bench/eval_bench.py [--count N]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbench as vb  # noqa: E402
import msgpack  # noqa: E402
import zmq  # noqa: E402

EVAL = os.path.join(vb.ROOT, "build/vigil-evaluator")


def proc(i):
    return {"exec_id": f"ZXZhbC1iZW5jaDo{i:06d}", "pid": 300000 + i, "uid": 1000,
            "binary": f"/usr/lib/app/bin/worker{i % 8}", "arguments": f"--id {i} --mode serve",
            "cwd": "/srv", "flags": "execve", "start_time": 1700000000000000000 + i,
            "parent_exec_id": "ZXZhbC1iZW5jaDpwYXJlbnQ", "auid": 1000}


def parent():
    return {"exec_id": "ZXZhbC1iZW5jaDpwYXJlbnQ", "pid": 299999, "uid": 1000,
            "binary": "/usr/bin/bash", "arguments": "-c run", "cwd": "/srv", "flags": "execve"}


def events():
    """100 (type, body) pairs in the mix; bodies carry `time` set at send."""
    out = []
    for n in range(100):
        i = n % 64
        p = proc(i)
        if n == 0:
            out.append(("process_exec", {"process": p, "parent": parent(), "node_name": "b"}))
        elif n == 1:
            out.append(("process_exit", {"process": p, "parent": parent(), "node_name": "b",
                                         "status": 0}))
        elif n < 81:
            out.append(("process_kprobe", {
                "process": p, "parent": parent(), "function_name": "security_file_open",
                "args": [{"file_arg": {"path": f"/srv/data/shard{i}/part-{n}.parquet"}},
                         {"int_arg": 0}], "node_name": "b"}))
        else:
            out.append(("process_kprobe", {
                "process": p, "parent": parent(), "function_name": "tcp_connect",
                "args": [{"sock_arg": {"family": "AF_INET", "saddr": "10.0.0.5",
                                       "daddr": f"10.0.{i}.{n}", "sport": 40000 + n,
                                       "dport": 8080, "protocol": "IPPROTO_TCP"}}],
                "node_name": "b"}))
    return out


def thousand_rules(path):
    docs = []
    for k in range(1000):
        head = (f"name: bench-rule-{k}\ndescription: generated\nseverity: low\nmode: monitor\n"
                f"action: notify\nmessage: \"rule {k}\"\nrules:\n")
        if k % 3 == 0:
            body = (f"  - event: exec\n    process: {{binary: {{suffix: [/bench-tool-{k}]}}}}\n")
        elif k % 3 == 1:
            body = ("  - event: file\n    operation: [open]\n"
                    f"    file: {{path: {{prefix: [/opt/bench-{k}/]}}}}\n")
        else:
            body = ("  - event: network\n"
                    f"    network: {{port: [{20000 + k}], protocol: [tcp]}}\n")
        docs.append(head + body)
    with open(path, "w") as f:
        f.write("---\n".join(docs))


class Eval:
    """n vigil-evaluator instances with a private run dir and one policy set."""

    def __init__(self, polset, n=1):
        self.base = tempfile.mkdtemp(prefix="vigil-evalbench-", dir="/tmp")
        self.rundir = os.path.join(self.base, "run")
        os.makedirs(self.rundir)
        poldir = os.path.join(self.base, "policies.d")
        os.makedirs(poldir)
        args = ["--policy-dir", poldir]
        if polset != "library":
            args.append("--no-library")
        if polset == "1000 rules":
            thousand_rules(os.path.join(poldir, "bench.yaml"))
        self.ctx = zmq.Context()
        self.sink = self.ctx.socket(zmq.PULL)
        self.sink.setsockopt(zmq.RCVHWM, 0)
        self.sink.bind(f"ipc://{self.rundir}/exporter.in")
        self.n = n
        self.eps = [f"ipc://{self.rundir}/enricher.out" + (f".{k}" if k else "")
                    for k in range(n)]
        self.procs = []
        self.log = open(os.path.join(self.base, "eval.log"), "w+")
        for k in range(n):
            name = "evaluator" + (f".{k}" if k else "")
            self.procs.append(subprocess.Popen(
                [EVAL, "--rundir", self.rundir, "--name", name, *args],
                stdout=self.log, stderr=subprocess.STDOUT))
        for k in range(n):
            name = "evaluator" + (f".{k}" if k else "")
            vb.wait_for(lambda: self.status(name), 10, what=f"{name} control socket")
        self.loaded = (self.status("evaluator") or {}).get("counters", {}).get("policy.loaded")

    def status(self, name="evaluator"):
        return vb.ctl_status(f"ipc://{self.rundir}/{name}.ctl", 1.0, self.ctx)

    def cpu(self):
        return sum(vb.cpu_s(p.pid) or 0 for p in self.procs)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.ctx.destroy(linger=0)
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


def push_main(eps, count, rate):
    """The pusher (its own process): count events of the mix, sharded by pid over eps,
    flat out (rate 0) or paced; each event's `time` is CLOCK_REALTIME at send."""
    ctx = zmq.Context()
    socks = []
    for ep in eps:
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.SNDHWM, 100000)
        s.setsockopt(zmq.LINGER, 10000)
        s.bind(ep)
        socks.append(s)
    time.sleep(0.5)  # the evaluators reconnect to the bound endpoints
    evs = events()
    seqs = [0] * len(socks)

    def pack(i):
        ty, b = evs[i % 100]
        k = b["process"]["pid"] % len(socks)
        seqs[k] += 1
        b["time"] = time.time_ns()
        return k, msgpack.packb({"v": 1, "type": ty, "src": "enricher" +
                                 (f"/{k}" if len(socks) > 1 else ""),
                                 "seq": seqs[k], "ev": b}, use_bin_type=True)
    if not rate:
        # flat out: packed beforehand, so the pusher is not what limits the rate
        msgs = [pack(i) for i in range(count)]
        for k, m in msgs:
            socks[k].send(m)
    else:
        t0 = time.monotonic()
        for i in range(count):
            k, m = pack(i)
            socks[k].send(m)
            d = t0 + (i + 1) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
    for s in socks:
        s.close()
    ctx.term()
    return 0


def run_push(e, count, rate, lat=None):
    """Run the pusher, receive every re-sent event at the sink; returns (events received,
    seconds from the first to the last, evaluator CPU seconds)."""
    cpu0 = e.cpu()
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--push", str(count),
                          str(rate), *e.eps])
    got, first, last = 0, None, None
    e.sink.setsockopt(zmq.RCVTIMEO, 5000)
    while got < count:
        try:
            m = e.sink.recv()
        except zmq.error.Again:
            break
        now = time.time_ns()
        if first is None:
            first = time.monotonic()
        last = time.monotonic()
        got += 1
        if lat is not None:
            ev = msgpack.unpackb(m, raw=False)
            if ev.get("type") in ("process_exec", "process_exit", "process_kprobe") and \
                    "policy_name" not in ev["ev"]:
                lat.append((now - ev["ev"]["time"]) / 1e3)
    p.wait(60)
    # the evaluator's CPU is read once the last event is out of it
    return got, (last - first) if first else 0, e.cpu() - cpu0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else None


def measure(count=100000, lat_count=3000, say=print):
    out = {"count": count, "sets": {}}
    for polset in ("none", "library", "1000 rules"):
        e = Eval(polset)
        try:
            r = {"policies": e.loaded}
            run_push(e, 2000, 0)  # warm-up
            got, el, cpu = run_push(e, count, 0)
            # CPU ms per 1,000 events is numerically µs per event
            r.update({"received": got, "throughput_1": got / el if el else None,
                      "cpu_us_per_event": 1e6 * cpu / got if got else None})
            lat = []
            run_push(e, lat_count, 1000, lat)
            r.update({"lat_p50_us": pct(lat, 0.5), "lat_p99_us": pct(lat, 0.99),
                      "lat_n": len(lat)})
            if got < count:
                r["note"] = f"received {got} of {count}"
        finally:
            e.stop()
        e3 = Eval(polset, 3)
        try:
            run_push(e3, 2000, 0)
            got3, el3, cpu3 = run_push(e3, count, 0)
            r["throughput_3"] = got3 / el3 if el3 else None
            r["received_3"] = got3
        finally:
            e3.stop()
        out["sets"][polset] = r
        say(f"  evaluator [{polset}, {r['policies']} policies]: {r['cpu_us_per_event']:.1f} us "
            f"CPU/event, latency p50 {r['lat_p50_us']:.0f} us p99 {r['lat_p99_us']:.0f} us, "
            f"1 instance {r['throughput_1']:.0f} ev/s, 3 instances {r['throughput_3']:.0f} ev/s")
    base = out["sets"]["none"]
    for k, r in out["sets"].items():
        r["match_us_per_event"] = r["cpu_us_per_event"] - base["cpu_us_per_event"]
    return out


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--push":
        return push_main(sys.argv[4:], int(sys.argv[2]), float(sys.argv[3]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100000)
    a = ap.parse_args()
    print(json.dumps(measure(a.count, say=lambda *x: print(*x, file=sys.stderr)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
