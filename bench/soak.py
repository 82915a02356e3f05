#!/usr/bin/python3
"""make soak: the whole tree for VIGIL_SOAK_S seconds (default 600) under the mix at
VIGIL_SOAK_RATE events/s (default 10000), with a random stage SIGKILLed (s6 restarts it)
every 20-60 s. At the end: every generated event of a captured kind is accounted for
(found in the export + counted losses: ring drops + gaps >= generated, and found <=
generated), RSS of each stage did not grow by more than 25 % + 4 MB between the first and
the last quarter, fds of each stage did not grow, and no BPF program of the tree is left
loaded after stop. Exit 0 pass, 1 fail."""
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbench as vb  # noqa: E402


def main():
    if os.geteuid() != 0:
        print("soak: needs root")
        return 77
    dur = float(os.environ.get("VIGIL_SOAK_S", "600"))
    rate = int(os.environ.get("VIGIL_SOAK_RATE", "10000"))
    t = vb.Tree()
    t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
    v = vb.Vigil(t)
    fails = []
    try:
        t.start(timeout=40)
        kinds = vb.captured_kinds(t)
        vb.truncate_export(t)
        c0 = v.counters()
        run = vb.run_id()
        g = vb.gen(run, rate, duration=dur, popen=True)
        start = time.monotonic()
        samples, kills = [], []
        next_kill = start + random.uniform(20, 60)
        while g.poll() is None:
            time.sleep(1)
            now = time.monotonic()
            pids = v.pids()
            samples.append((now - start, {s: (vb.rss_mb(p), vb.fd_count(p))
                                          for s, p in pids.items() if p}))
            if now >= next_kill and now - start < dur - 15:
                s = random.choice(t.stages)
                try:
                    t.kill9(s, timeout=40)
                    kills.append(s)
                    print(f"soak: {now - start:.0f}s killed {s}", flush=True)
                except vb.TestFailure as e:
                    fails.append(f"{s} did not come back: {e}")
                next_kill = now + random.uniform(20, 60)
        import json
        gs = json.loads(g.stdout.read())
        v.drain(quiet=2, timeout=120)
        c1 = v.counters()
        cnt = vb.count_export(t.export, run, gs["port"])
        exp = vb.expected(gs, kinds)
        loss = v.losses(c0, c1)  # ring drops of restarted collectors reset: see below
        counted = loss["ringbuf_lost"] + sum(max(0, x) for x in loss["gaps"].values())
        found = sum(cnt[k] for k in exp)
        gen_n = sum(exp.values())
        print(f"soak: {dur:.0f}s at {rate}/s, kinds {kinds}, killed {kills}; generated "
              f"{gen_n}, found {found}, counted losses {counted} "
              f"(ring {loss['ringbuf_lost']}, gaps {loss['gaps']})", flush=True)
        if found > gen_n:
            fails.append(f"more found ({found}) than generated ({gen_n})")
        if found + counted < gen_n:
            fails.append(f"unaccounted: generated {gen_n} > found {found} + counted {counted}")
        q = max(1, len(samples) // 4)
        for s in t.stages:
            def avg(part, i):
                xs = [x[1][s][i] for x in part if s in x[1] and x[1][s][i] is not None]
                return sum(xs) / len(xs) if xs else None
            r0, r1 = avg(samples[:q], 0), avg(samples[-q:], 0)
            f0, f1 = avg(samples[:q], 1), avg(samples[-q:], 1)
            print(f"soak: {s}: RSS {r0} -> {r1} MB, fds {f0} -> {f1}", flush=True)
            if r0 and r1 and r1 > r0 * 1.25 + 4:
                fails.append(f"{s} RSS grew {r0:.1f} -> {r1:.1f} MB")
            if f0 and f1 and f1 > f0 + 2:
                fails.append(f"{s} fds grew {f0:.0f} -> {f1:.0f}")
        t.stop()
        left = t.leaked_progs()
        if left:
            fails.append(f"BPF programs left loaded: {left}")
    finally:
        t.cleanup()
        subprocess.run(["rm", "-rf", f"/tmp/vigil-bench-{run}"] if 'run' in dir() else ["true"])
    for f in fails:
        print(f"soak: FAIL: {f}")
    print("soak: ok" if not fails else f"soak: {len(fails)} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
