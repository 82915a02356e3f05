"""e2e: a custom stage in Python (pyzmq + msgpack, docs/wire.md §1 and §7) inserted
between the enricher and the evaluator by configuration only: the evaluator runs with
--input ipc://RUNDIR/custom.out, and this file, run as a subprocess with "stage",
PULLs from enricher.out, marks each event body (process.vigil_custom, an unknown field
that later stages must forward and the exporter must export as-is), renumbers it as
src "custom" and PUSHes it on custom.out. It answers status on RUNDIR/custom.ctl like
any stage.

Asserts: a command run with a unique argument reaches the JSON export with the mark
(so it went through the custom stage); the custom stage saw it (its own record of
arguments) and reports in == out with no gap from the enricher; the evaluator counted
no gap and no reset (gap_total, reset_total 0), no gap.custom, and nothing from the
enricher directly (no gap./reset.enricher counter); every exported process event
carries the mark; `vigil status` lists the custom stage next to the others."""
import os
import signal
import subprocess
import sys

MARK = "seen-by-custom"


def stage(rundir, seen_path):
    """The custom stage: forward everything from enricher.out to custom.out, marked."""
    import msgpack
    import zmq

    ctx = zmq.Context()
    inp = ctx.socket(zmq.PULL)
    inp.connect(f"ipc://{rundir}/enricher.out")
    out = ctx.socket(zmq.PUSH)
    out.bind(f"ipc://{rundir}/custom.out")
    ctl = ctx.socket(zmq.REP)
    ctl.bind(f"ipc://{rundir}/custom.ctl")
    counters = {"in": 0, "out": 0, "drop.malformed": 0, "gap_total": 0, "ctl.bad": 0}
    last = {}
    seq = 0
    seen = open(seen_path, "a", buffering=1)
    poller = zmq.Poller()
    poller.register(inp, zmq.POLLIN)
    poller.register(ctl, zmq.POLLIN)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        for sock, _ in poller.poll():
            if sock is ctl:
                req = ctl.recv()
                try:
                    r = msgpack.unpackb(req, raw=False)
                    ok = isinstance(r, dict) and r.get("v") == 1 and r.get("cmd") == "status"
                except Exception:
                    ok = False
                if ok:
                    ctl.send(msgpack.packb({"v": 1, "stage": "custom", "state": "running",
                                            "pid": os.getpid(), "uptime_ns": 0,
                                            "counters": counters, "info": {}}))
                else:
                    counters["ctl.bad"] += 1
                    ctl.send(msgpack.packb({"v": 1, "error": "bad request"}))
                continue
            try:
                m = msgpack.unpackb(inp.recv(), raw=False)
            except Exception:
                counters["drop.malformed"] += 1
                continue
            if not isinstance(m, dict) or m.get("v") != 1 or not isinstance(m.get("ev"), dict):
                counters["drop.malformed"] += 1
                continue
            counters["in"] += 1
            src, s = m.get("src"), m.get("seq")
            if src in last and s > last[src] + 1:
                counters["gap_total"] += s - last[src] - 1
            last[src] = s
            proc = m["ev"].get("process")
            if isinstance(proc, dict):
                proc["vigil_custom"] = MARK
                seen.write(f"{m['type']} {proc.get('arguments', '')}\n")
            seq += 1
            m["src"], m["seq"] = "custom", seq
            out.send(msgpack.packb(m))
            counters["out"] += 1


if len(sys.argv) == 4 and sys.argv[1] == "stage":
    stage(sys.argv[2], sys.argv[3])
    sys.exit(0)

import json  # noqa: E402

from vigiltest import (ROOT, Tree, check, need_root, run_tagged, run_test,  # noqa: E402
                       unique_tag, wait_for)


def test():
    need_root()
    t = Tree()
    t.env["VIGIL_EVALUATOR_OPTS"] = f"--input ipc://{t.rundir}/custom.out"
    custom = None
    seen_path = os.path.join(t.base, "custom.seen")
    try:
        t.start()
        custom = subprocess.Popen(["/usr/bin/python3", os.path.abspath(__file__), "stage",
                                   t.rundir, seen_path], stdin=subprocess.DEVNULL)
        wait_for(lambda: t.status("custom", timeout=0.5), 5, what="the custom stage's status")
        tag = unique_tag("vigil-custom")
        run_tagged(tag)
        ex = t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=5)
        p = ex["process_exec"]["process"]
        check(p.get("vigil_custom") == MARK,
              f"exported process has no custom mark: {json.dumps(p)[:500]}")
        check(p["binary"] == os.path.realpath("/bin/true"), f"binary {p['binary']}")

        with open(seen_path) as f:
            seen = f.read().split("\n")
        check(f"process_exec {tag}" in seen, "the custom stage's record lacks the event")
        cs = t.status("custom")["counters"]
        check(cs["in"] > 0 and cs["gap_total"] == 0 and cs["drop.malformed"] == 0,
              f"custom stage counters {cs}")

        ev = t.status("evaluator")
        check(ev["info"].get("input") == f"ipc://{t.rundir}/custom.out",
              f"evaluator input {ev['info'].get('input')}")
        c = ev["counters"]
        check(c.get("in", 0) > 0, f"evaluator in {c.get('in')}")
        check(c.get("gap_total") == 0 and c.get("reset_total") == 0,
              f"evaluator gap_total {c.get('gap_total')} reset_total {c.get('reset_total')}")
        strays = [k for k in c if k.startswith(("gap.", "reset."))]
        check(not strays, f"evaluator counted gaps/resets: {strays} in {c}")
        # Nothing bypassed the custom stage: every exported process event is marked.
        unmarked = [e for e in t.events()
                    for k in ("process_exec", "process_exit") if k in e
                    and e[k]["process"].get("vigil_custom") != MARK]
        check(not unmarked, f"{len(unmarked)} exported events without the mark, e.g. "
                            f"{json.dumps(unmarked[:1])[:400]}")

        st = subprocess.run([os.path.join(ROOT, "build/vigil"), "--rundir", t.rundir,
                             "status"], stdout=subprocess.PIPE, text=True, timeout=10)
        check("custom: running" in st.stdout, f"vigil status does not list custom:\n"
                                               f"{st.stdout[:1500]}")
    finally:
        if custom:
            custom.kill()
            custom.wait()
        t.cleanup()


run_test(test)
