"""e2e (quick): the benchmark harness counts exactly. With the whole tree under s6, the
generator (bench/gen.c) runs the mix at 500 events/s for 2 s with a log; the log has one
line per operation with unique exec markers; every exec of the run is found in the export
as process_exec and process_exit (exact count, zero missing) and whatever open/connect
kinds the collector captures match too; the tap reader times the events (p50 > 0 and
below 5 s); per-stage CPU and RSS are read; bad generator options exit 2; Vigil.pin puts every
thread of every stage on one CPU and back (the low-latency series on one CPU); zmq_hop
(the transport alone) carries every frame through three hops and reports. Then the same
with --workers 2 (how the bench reaches 50k/s): two listener ports, one log line per
operation with every operation number once, and every kind found exactly, the connects
to either worker's port included."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import vbench as vb  # noqa: E402
import run as run_py  # noqa: E402
from vigiltest import check, need_root, run_test, wait_for  # noqa: E402


def workers(t, kinds, log):
    """--workers 2: the log and the export account for every operation of both."""
    run = vb.run_id()
    g = vb.gen(run, 600, duration=1.5, mix="exec=1,open=20,connect=5", log=log, workers=2)
    check(g["workers"] == 2 and len(g["ports"]) == 2 and len(set(g["ports"])) == 2,
          f"workers {g['workers']}, ports {g['ports']}")
    with open(log) as f:
        lines = [ln.split() for ln in f.read().splitlines()]
    nops = sum(g[k]["ops"] for k in vb.KINDS)
    nums = sorted(int(ln[0]) for ln in lines)
    check(nums == list(range(nops)), f"operation numbers of the two workers: {len(nums)} "
          f"lines for {nops} operations, not each of 0..{nops - 1} once")
    check(not [ln for ln in lines if "FAIL" in ln], "an operation failed")
    check(g["connect"]["ops"] > 0, f"no connects: {g}")
    exp = vb.expected(g, kinds)
    cnt = wait_for(lambda: (lambda c: c if all(c[k] >= exp[k] for k in exp) else None)(
        vb.count_export(t.export, run, vb.ports(g))), 10, what=f"{exp} in the export")
    for k in exp:
        check(cnt[k] == exp[k], f"--workers 2, {k}: found {cnt[k]}, generated {exp[k]}")
    if "connect" in exp:
        one = vb.count_export(t.export, run, g["ports"][:1])["connect"]
        check(0 < one < exp["connect"], f"connects to the first worker's port: {one} of "
              f"{exp['connect']} (each worker has its own listener)")


def allowed(v):
    """{(stage, tid): set of CPUs} of every thread of every stage."""
    out = {}
    for st, tid in v.threads():
        try:
            out[(st, tid)] = os.sched_getaffinity(tid)
        except OSError:
            pass  # a thread that ended meanwhile
    return out


def pinning(v):
    """Vigil.pin, as the bench's low-latency series uses it: every thread of every stage
    on the one CPU, then back on every CPU the bench may use."""
    one = vb.one_cpu()
    n = v.pin(one)
    a = allowed(v)
    # (gRPC may start or end a thread meanwhile: a new one inherits its creator's set)
    check(n >= 2 * len(v.pids()), f"pinned {n} threads: each stage has two or more")
    check(all(c == one for c in a.values()), f"not all on {one}: {a}")
    v.pin(None)

    def back():
        if all(c == v.cpus for c in allowed(v).values()):
            return True
        v.pin(None)  # a thread made by a pinned one while the first call ran
        return False
    wait_for(back, 3, what=f"every thread of every stage back on {v.cpus}")


def transport():
    """bench/zmq_hop.c, the transport alone: a chain of three hops carries every frame
    (it exits 0 only then) and reports CPU and latency; bad arguments exit 2."""
    hop = os.path.join(vb.ROOT, "build/bench/zmq_hop")
    r = subprocess.run([hop, "200", "3", "100", "1", "3"], stdout=subprocess.PIPE, text=True,
                       timeout=30)
    check(r.returncode == 0, f"zmq_hop exited {r.returncode}")
    j = json.loads(r.stdout)
    check(j["hops"] == 3 and j["cpu_pct"] > 0 and 0 < j["p50_us"] <= j["p99_us"] < 1e6,
          f"zmq_hop: {j}")
    for bad in (["0", "1", "100", "1"], ["10", "1", "4", "1"], ["10", "1", "100", "1", "9"]):
        check(subprocess.run([hop] + bad, stderr=subprocess.DEVNULL).returncode == 2,
              f"zmq_hop {bad} accepted")
    check(not [f for f in os.listdir("/tmp") if f.startswith("vigil-zmq-hop-")],
          "zmq_hop left endpoints in /tmp")


def test():
    need_root()
    for b in (vb.GEN, vb.TAPSTAT):
        check(os.access(b, os.X_OK), f"{b} not built (make)")
    check(subprocess.run([vb.GEN, "--run", "x", "--mix", "bogus=1"],
                         stderr=subprocess.DEVNULL).returncode == 2, "bad --mix accepted")
    check(subprocess.run([vb.GEN, "--run", "a/b"], stderr=subprocess.DEVNULL).returncode == 2,
          "run id with a slash accepted")
    check(subprocess.run([vb.GEN, "--run", "x", "--workers", "0"],
                         stderr=subprocess.DEVNULL).returncode == 2, "--workers 0 accepted")
    t = vb.Tree()
    t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
    v = vb.Vigil(t)
    log = tempfile.NamedTemporaryFile(prefix="vigil-bench-log-", delete=False).name
    try:
        t.start(timeout=40, wait=["collector", "enricher", "evaluator", "exporter"])
        kinds = vb.captured_kinds(t)
        check("exec" in kinds, f"exec not captured: kinds {kinds}")
        vb.truncate_export(t)
        c0, cpu0 = v.counters(), v.cpu()
        tap = vb.Tap(t)
        run = vb.run_id()
        g = vb.gen(run, 500, duration=2, mix="exec=1,open=20,connect=5", log=log)
        with open(log) as f:
            lines = f.read().splitlines()
        nops = sum(g[k]["ops"] for k in vb.KINDS)
        check(len(lines) == nops, f"log has {len(lines)} lines for {nops} operations")
        ex = [ln.split()[2] for ln in lines if ln.split()[1] == "exec"]
        check(len(ex) == len(set(ex)) == g["exec"]["ops"] > 0, "exec markers not unique")
        exp = vb.expected(g, kinds)
        cnt = wait_for(lambda: (lambda c: c if all(c[k] >= exp[k] for k in exp) else None)(
            vb.count_export(t.export, run, g["port"])), 10, what=f"{exp} in the export")
        for k in exp:
            check(cnt[k] == exp[k], f"{k}: found {cnt[k]}, generated {exp[k]}")
        check(v.drain(quiet=0.5, timeout=10), "exporter did not go idle")
        lat = tap.stop()
        check(lat["timed"] >= exp["exec"], f"tap timed {lat['timed']} events")
        check(0 < lat["lat_us"]["p50"] < 5e6, f"p50 {lat['lat_us']['p50']} us")
        cpu1, c1 = v.cpu(), v.counters()
        check(all(cpu1[s] is not None and cpu1[s] >= cpu0[s] for s in cpu0), f"cpu {cpu1}")
        check(all(x and x > 0 for x in v.rss().values()), f"rss {v.rss()}")
        loss = v.losses(c0, c1)
        check(loss["ringbuf_lost"] == 0, f"ring lost {loss}")
        # the exporter's delay histogram over the same window, as the bench reads it
        x = run_py.delay_hist(c0, c1)
        check(x and x["count"] >= lat["timed"] * 0.9 and 0 < x["p50"] <= x["p99"] < 5e6
              and 0 <= x["le_100us"] <= x["le_1ms"] <= 1, f"exporter delay histogram {x}")
        # the open targets outlive the run (their unlinks would be a burst of events in
        # the next window); the harness removes them at exit
        d = f"/tmp/vigil-bench-{run}"
        check(len(os.listdir(d)) == 1024, f"{d}: {len(os.listdir(d))} files, want 1024 kept")
        pinning(v)
        transport()
        workers(t, kinds, log)
    finally:
        os.unlink(log)
        t.cleanup()
    vb._remove_gen_dirs()
    check(not os.path.exists(d), f"{d} left after the harness's clean-up")


run_test(test)
