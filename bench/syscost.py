#!/usr/bin/python3
"""Per-syscall cost of the collector (issue 3's bench), ratios to no vigil measured
alternating in the same run, plus auditd and bpftrace on the same loops.

Loops (build/bench/gen flat out, --rate 0): open+close of one of 1,024 pre-made files
(N per sample) and fork+exec+wait of /bin/true. Conditions, one sample each per round,
rounds alternating:
  none       the collector and the enforcer stopped through s6 (nothing of vigil
             attached);
  captured   the collector up (the enforcer still down: issue 3's goals are the
             collector's) with --events process,file: every open is an event sent
             through the ring buffer to the pipeline (the pipeline is drained between
             samples so its catching up does not load the next one; ring drops during a
             sample are shown: a failed reserve is cheaper than a sent event);
  filtered   the same programs attached, but the collector's in-kernel filter map
             (struct vigil_filter, bpf/include/events.h) rewritten with bpftool to want
             no file operation: each open runs the program and is dropped in the kernel,
             no event. The original value is written back after the sample;
  exec       the exec loop with the collector up as in captured (the loader's opens in
             each new process are events too), and again as in filtered (process
             events only, as the collector's default --events process sends);
  all        the whole of vigil as deployed: the captured collector and the enforcer
             with the default policies (the library's file rules in monitor mode attach
             its sigkill-tier open programs on a kernel without BPF LSM): open and exec.
auditd (-a always,exit -S openat / -S execve) and bpftrace (sys_enter_openat /
sys_enter_execve printing to a file) on the same loops, alternating with a baseline of
their own, the collector stopped. Medians with (min..max).
Run alone: /usr/bin/python3 bench/syscost.py [--rounds N] [--opens N]"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbench as vb  # noqa: E402
import compare  # noqa: E402

OPS_FILE = 0x0000000000fffffe  # CBPF_OPS_FILE (collector/collector_bpf.h)


def med(xs):
    xs = [x for x in xs if x is not None]
    return {"med": statistics.median(xs), "min": min(xs), "max": max(xs)} if xs else None


def loop(kind, n):
    """ns per operation of n flat-out operations of one kind."""
    g = vb.gen(vb.run_id(), 0, count=n, mix=kind)
    return g[kind]["ns_per_op"] if g[kind]["ops"] and not g[kind]["fail"] else None


def bpftool(*a):
    r = subprocess.run(["bpftool", "-j", *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bpftool {' '.join(a)}: {r.stderr.strip()}")
    return json.loads(r.stdout) if r.stdout.strip() else None


def filter_map(tree):
    """The id of the live collector's `filter` map (through its programs' map ids)."""
    for pid in tree.collector_prog_ids():
        for mid in bpftool("prog", "show", "id", str(pid)).get("map_ids", []):
            if bpftool("map", "show", "id", str(mid)).get("name") == "filter":
                return mid
    raise RuntimeError("the collector's filter map was not found")


def map_value(mid):
    v = bpftool("map", "lookup", "id", str(mid), "key", "0", "0", "0", "0")
    return [int(x, 16) for x in v["value"]]


def map_write(mid, val):
    subprocess.run(["bpftool", "map", "update", "id", str(mid), "key", "0", "0", "0", "0",
                    "value", *[str(x) for x in val]], check=True)


def measure(rounds=5, opens=20000, execs=200, tools=True, say=print):
    t = vb.Tree()
    t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
    t.env["VIGIL_COLLECTOR_OPTS"] = "--events process,file"
    v = vb.Vigil(t)
    raw = {k: [] for k in ("none_open", "captured_open", "filtered_open", "none_exec",
                           "captured_exec", "filtered_exec", "all_open", "all_exec")}
    ring, notes = [], []
    out = {"rounds": rounds, "opens": opens, "execs": execs}
    try:
        t.start(timeout=40)
        v.background(2.0)
        for r in range(rounds):
            vb.stages_down(t)
            raw["none_open"].append(loop("open", opens))
            raw["none_exec"].append(loop("exec", execs))
            vb.stages_up(t, ["collector"])
            mid = filter_map(t)
            v.drain(quiet=0.5, timeout=20)
            c0 = t.counter("collector", "ringbuf_lost")
            raw["captured_open"].append(loop("open", opens))
            ring.append(t.counter("collector", "ringbuf_lost") - c0)
            v.drain(quiet=0.5, timeout=20)
            raw["captured_exec"].append(loop("exec", execs))
            v.drain(quiet=0.5, timeout=20)
            orig = map_value(mid)
            ops = int.from_bytes(bytes(orig[:8]), "little") & ~OPS_FILE
            map_write(mid, list(ops.to_bytes(8, "little")) + orig[8:])
            try:
                raw["filtered_open"].append(loop("open", opens))
                v.drain(quiet=0.5, timeout=20)
                raw["filtered_exec"].append(loop("exec", execs))
            finally:
                map_write(mid, orig)
            vb.stages_up(t, ["enforcer"])
            v.drain(quiet=0.5, timeout=20)
            raw["all_open"].append(loop("open", opens))
            v.drain(quiet=0.5, timeout=20)
            raw["all_exec"].append(loop("exec", execs))
            v.drain(quiet=0.5, timeout=20)
            vb.truncate_export(t)
            say(f"  syscost round {r + 1}/{rounds}: open ns none {raw['none_open'][-1]:.0f} "
                f"captured {raw['captured_open'][-1]:.0f} (ring lost {ring[-1]}) filtered "
                f"{raw['filtered_open'][-1]:.0f}; exec ns none {raw['none_exec'][-1]:.0f} "
                f"with {raw['captured_exec'][-1]:.0f}, file events filtered "
                f"{raw['filtered_exec'][-1]:.0f}; with the enforcer too: open "
                f"{raw['all_open'][-1]:.0f} exec {raw['all_exec'][-1]:.0f}")
        pairs = lambda a, b: [y / x for x, y in zip(raw[a], raw[b]) if x and y]  # noqa: E731
        out.update({"ns": {k: med(x) for k, x in raw.items()},
                    "ratio_open_captured": med(pairs("none_open", "captured_open")),
                    "ratio_open_filtered": med(pairs("none_open", "filtered_open")),
                    "ratio_exec": med(pairs("none_exec", "captured_exec")),
                    "ratio_exec_process": med(pairs("none_exec", "filtered_exec")),
                    "ratio_open_all": med(pairs("none_open", "all_open")),
                    "ratio_exec_all": med(pairs("none_exec", "all_exec")),
                    "ring_lost_in_captured": ring})
        if any(ring):
            notes.append(f"ring drops during captured open samples: {ring} (a failed reserve "
                         "costs less than a sent event: the captured ratio is a lower bound)")
        out["tools"] = {}
        if tools:
            vb.stages_down(t)
            for tool in ("auditd", "bpftrace"):
                out["tools"][tool] = tool_cost(tool, max(2, rounds // 2), opens, execs, say)
    finally:
        t.cleanup()
    out["notes"] = notes
    return out


def tool_cost(tool, rounds, opens, execs, say):
    """The same loops under auditd or bpftrace, alternating with a baseline."""
    if not shutil.which("auditd" if tool == "auditd" else "bpftrace"):
        return {"error": f"{tool} is not installed (tests/deps.sh)"}
    wo = {"open": [], "exec": []}
    wi = {"open": [], "exec": []}
    try:
        for _ in range(rounds):
            wo["open"].append(loop("open", opens))
            wo["exec"].append(loop("exec", execs))
            d = tempfile.mkdtemp(prefix=f"vigil-bench-{tool}-", dir="/tmp")
            x = compare.Auditd(d) if tool == "auditd" else compare.Bpftrace(d)
            try:
                x.start()
                try:
                    wi["open"].append(loop("open", opens))
                    wi["exec"].append(loop("exec", execs))
                finally:
                    x.stop()
            finally:
                shutil.rmtree(d, ignore_errors=True)
    except Exception as e:  # a comparison must never sink the benchmark
        return {"error": f"{type(e).__name__}: {e}"}
    r = {k: med([b / a for a, b in zip(wo[k], wi[k]) if a and b]) for k in wo}
    say(f"  syscost {tool}: open {r['open']['med']:.2f}x, exec {r['exec']['med']:.2f}x")
    return {"ratio_open": r["open"], "ratio_exec": r["exec"],
            "ns": {"none_open": med(wo["open"]), "with_open": med(wi["open"]),
                   "none_exec": med(wo["exec"]), "with_exec": med(wi["exec"])}}


def kernel_side(rounds=11, say=print):
    """The collector's programs alone (build/bench/cbpf_bench, collector/cbpf_bench.inc):
    the same loops with a drain thread in place of the pipeline, so the ratios are the
    kernel-side cost without the pipeline's CPU on the same 2 vCPUs; and a syscall no
    program captures (a 1-byte pread) with the file programs attached, the cost of
    attaching them to every other syscall. Medians of rounds."""
    out = {}
    subprocess.run(["make", "-C", vb.ROOT, "--no-print-directory", "-s", "build/bench/cbpf_bench",
                    "build/bench/loop"], check=True)
    for kind, args in (("open", []), ("exec", ["exec"]), ("read", ["read"])):
        r = subprocess.run([os.path.join(vb.ROOT, "build/bench/cbpf_bench"), str(rounds),
                            os.path.join(vb.ROOT, "build/bench/loop"), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
        med_line = [ln for ln in r.stdout.splitlines() if ln.startswith("median ")]
        if r.returncode != 0 or not med_line:
            raise RuntimeError(f"cbpf_bench {kind}: exit {r.returncode}: {r.stdout[-500:]}")
        words = med_line[0].replace(";", "").split()
        vals = {words[i]: float(words[i + 1]) for i in range(len(words) - 1)
                if words[i] in ("captured", "filtered", "prefixmiss", "process", "all",
                                "file")}
        vals["none_ns"] = float(words[2])
        build = [ln.split(":", 1)[1].strip() for ln in r.stdout.splitlines()
                 if ln.startswith("builds:")]
        if build:
            out["build"] = build[0]
        out[kind] = vals
        say(f"  kernel side {kind}: {med_line[0]}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--opens", type=int, default=20000)
    ap.add_argument("--no-tools", action="store_true")
    a = ap.parse_args()
    print(json.dumps(measure(a.rounds, a.opens, tools=not a.no_tools,
                                 say=lambda *x: print(*x, file=sys.stderr)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
