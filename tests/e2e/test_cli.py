"""e2e: the vigil command against a running tree.

- `vigil --rundir R status` exits 0 and shows "<stage>: running (pid N, ...)" for the
  five stages, each with the pid s6 reports, and the exporter's `exported` counter > 0
  once an event went through.
- `status --json` is one JSON object with the same five stages, running, same pids,
  and exporter.counters.exported > 0.
- `vigil tap exporter --count 1`, started before events are generated, prints one
  Tetragon JSON line ({"process_exec": ...} or {"process_exit": ...} with node_name and
  time) and exits 0; the same line is in the export file.
- `vigil tap enricher --envelope --count 1` prints one envelope: v 1, type process_exec
  or process_exit, src "enricher", seq > 0, ev a map with process.
- With the enricher taken down (s6-svc -d), status exits non-zero and says
  "enricher: down"."""
import json
import os
import re
import subprocess
import time

from vigiltest import (ROOT, STAGES, Tree, check, need_root, run_tagged, run_test,
                       unique_tag)

VIGIL = os.path.join(ROOT, "build/vigil")


def vigil(t, *args, timeout=10):
    return subprocess.run([VIGIL, "--rundir", t.rundir, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def tap(t, *args, timeout=8):
    """Run `vigil tap ARGS` while generating events until it exits; return its stdout."""
    p = subprocess.Popen([VIGIL, "--rundir", t.rundir, "tap", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + timeout
        while p.poll() is None and time.monotonic() < end:
            run_tagged(unique_tag("vigil-cli-tap"))
            time.sleep(0.1)
        check(p.poll() is not None, f"vigil tap {' '.join(args)} printed nothing in {timeout}s")
        out, err = p.communicate()
        check(p.returncode == 0, f"vigil tap exit {p.returncode}: {err}")
        return out
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test():
    need_root()
    t = Tree()
    try:
        t.start()
        tag = unique_tag("vigil-cli")
        run_tagged(tag)
        t.find("process_exec", lambda e: e["process"].get("arguments") == tag)
        pids = {s: t.pid(s) for s in STAGES}

        r = vigil(t, "status")
        check(r.returncode == 0, f"vigil status exit {r.returncode}: {r.stderr}\n{r.stdout}")
        for s in STAGES:
            check(re.search(rf"^{re.escape(s)}: running \(pid {pids[s]}\b", r.stdout, re.M),
                  f"status lacks '{s}: running (pid {pids[s]}':\n{r.stdout[:3000]}")
        m = re.search(r"^exporter: .*?^\s+exported\s+(\d+)$", r.stdout, re.M | re.S)
        check(m and int(m.group(1)) > 0, f"exporter 'exported' counter:\n{r.stdout[:3000]}")

        r = vigil(t, "status", "--json")
        check(r.returncode == 0, f"vigil status --json exit {r.returncode}: {r.stderr}")
        try:
            j = json.loads(r.stdout)
        except ValueError as e:
            check(False, f"status --json is not JSON ({e}): {r.stdout[:1000]!r}")
        for s in STAGES:
            check(s in j and j[s].get("state") == "running" and j[s].get("pid") == pids[s]
                  and j[s].get("stage") == s, f"status --json {s}: {str(j.get(s))[:500]}")
        check(j["exporter"]["counters"].get("exported", 0) > 0,
              f"exporter counters {j['exporter']['counters']}")

        out = tap(t, "exporter", "--count", "1")
        lines = out.splitlines()
        check(len(lines) == 1, f"tap exporter --count 1 printed {len(lines)} lines: {out!r}")
        ev = json.loads(lines[0])
        kinds = [k for k in ("process_exec", "process_exit", "process_kprobe",
                             "process_tracepoint", "process_lsm") if k in ev]
        check(len(kinds) == 1, f"tap exporter line is not a Tetragon event: {lines[0][:500]}")
        check(ev[kinds[0]]["process"].get("exec_id") and ev.get("node_name") == "vigil-test"
              and ev.get("time", "").endswith("Z"), f"tap exporter line {lines[0][:500]}")
        t.find(kinds[0], lambda e: e == ev[kinds[0]])

        out = tap(t, "enricher", "--envelope", "--count", "1")
        lines = out.splitlines()
        check(len(lines) == 1, f"tap enricher printed {len(lines)} lines: {out!r}")
        env = json.loads(lines[0])
        check(env.get("v") == 1 and env.get("type") in ("process_exec", "process_exit")
              and env.get("src") == "enricher" and isinstance(env.get("seq"), int)
              and env["seq"] > 0 and isinstance(env.get("ev"), dict)
              and "process" in env["ev"], f"tap enricher --envelope: {lines[0][:500]}")

        t.svc("enricher", "-d")
        t.svwait("enricher", "-D")
        r = vigil(t, "status")
        check(r.returncode != 0, "vigil status exits 0 with the enricher down")
        check(re.search(r"^enricher: down\b", r.stdout, re.M),
              f"status with the enricher down:\n{r.stdout[:2000]}")
    finally:
        t.cleanup()


run_test(test)
