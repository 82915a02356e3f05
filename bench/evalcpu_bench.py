#!/usr/bin/python3
"""The evaluator's instructions per event (issue 8), counted by callgrind: one
vigil-evaluator under `valgrind --tool=callgrind` with the shipped library (policies/) on a
private run directory, fed COUNT envelopes of a realistic corpus by build/bench/evalcpu_bench
(see bench/evalcpu_bench.c for the mix). Instructions are read from the callgrind output,
inclusive per function, divided by the number of events:
  on_input  everything the evaluator does per received message (decode, match, emit, send)
  judge     the evaluator proper: forwarding, extraction, matching, policy events
  wire_recv the msgpack decode and envelope checks (common/wire.c)
  evaluator_own  on_input - wire_recv - wire_msg_done: what issue 8's evaluator part owns
plus policy_event / policy_match / emit_policy_event / wire_forward.
Run: /usr/bin/python3 bench/evalcpu_bench.py [--count N] [--eval BINARY] [--keep]
(JSON on stdout; `make bench-evalcpu`). --eval measures another build of the evaluator
(e.g. one of an older commit) against the same corpus; --keep keeps callgrind.out."""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL = os.path.join(ROOT, "build/vigil-evaluator")
FEED = os.path.join(ROOT, "build/bench/evalcpu_bench")
FUNCS = ("on_input", "judge", "wire_recv", "wire_forward", "policy_event", "policy_match",
         "emit_policy_event", "wire_end", "wire_msg_done")


def inclusive(out):
    """{function: inclusive Ir} from callgrind_annotate."""
    txt = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                         capture_output=True, text=True, check=True).stdout
    got = {}
    for line in txt.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*?:?([A-Za-z_][\w]*)\s", line + " ")
        if not m:
            m = re.match(r"\s*([\d,]+)\s+\S*?:([A-Za-z_]\w*)", line)
        if m and m.group(2) in FUNCS and m.group(2) not in got:
            got[m.group(2)] = int(m.group(1).replace(",", ""))
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--eval", default=EVAL, help="the evaluator binary (default build/)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (callgrind.out)")
    a = ap.parse_args()
    for f in (a.eval, FEED):
        if not os.path.exists(f):
            print(f"{f} is missing: run make", file=sys.stderr)
            return 1
    if not shutil.which("valgrind"):
        print("valgrind is not installed", file=sys.stderr)
        return 77
    base = tempfile.mkdtemp(prefix="vigil-evalcpu-", dir="/tmp")
    rundir, poldir = os.path.join(base, "run"), os.path.join(base, "policies.d")
    os.makedirs(rundir)
    os.makedirs(poldir)
    out = os.path.join(base, "callgrind.out")
    log = open(os.path.join(base, "eval.log"), "w+")
    ev = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                           a.eval, "--rundir", rundir, "--name", "evaluator", "--policy-dir",
                           poldir, "--library", os.path.join(ROOT, "policies")],
                          stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(rundir, "evaluator.ctl")):
            if time.monotonic() > deadline or ev.poll() is not None:
                raise RuntimeError("the evaluator did not start (see eval.log)")
            time.sleep(0.2)
        time.sleep(1)
        feed = subprocess.run([FEED, "--rundir", rundir, "--count", str(a.count)],
                              capture_output=True, text=True, timeout=600)
        res = json.loads(feed.stdout) if feed.stdout.strip() else {"error": feed.stderr}
        ev.send_signal(signal.SIGTERM)
        ev.wait(120)
        inc = inclusive(out)
        res["count"] = a.count
        res["ir_per_event"] = {k: round(v / a.count, 1) for k, v in inc.items()}
        res["ir_total"] = inc
        # the evaluator's own work: everything per message but the msgpack decode
        own = inc.get("on_input", 0) - inc.get("wire_recv", 0) - inc.get("wire_msg_done", 0)
        res["ir_per_event"]["evaluator_own"] = round(own / a.count, 1)
        if a.keep:
            res["callgrind_out"] = out
        print(json.dumps(res, indent=1))
        return 0 if res.get("forwarded") == a.count else 1
    finally:
        if ev.poll() is None:
            ev.kill()
            ev.wait()
        log.close()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
