"""e2e: VIGIL_CPUS, the CPU set of the whole tree (README: cost against latency).

1. With VIGIL_CPUS=1 every stage of a tree under s6 runs with CPU affinity {1}: each
   stage's process and every one of its threads (ZeroMQ's I/O thread, gRPC's, the
   Kubernetes watcher) has Cpus_allowed_list "1"; and the pipeline still works: a
   command run with a unique argument comes out of the exporter as process_exec.
2. Without it a stage may run on every CPU the test itself may run on.
3. A list this machine cannot run on (VIGIL_CPUS=4096, VIGIL_CPUS=bogus) is refused by
   supervise/layout with exit 100 and a message naming the variable, before any stage
   starts (a bad list in a run script would have s6 restart every stage forever)."""
import os
import subprocess

from vigiltest import ROOT, Tree, check, need_root, run_tagged, run_test, skip, unique_tag


def cpus_allowed(pid):
    """{tid: Cpus_allowed_list} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out[tid] = line.split(":", 1)[1].strip()
        except OSError:
            pass  # a thread that ended meanwhile
    return out


def test():
    need_root()
    mine = os.sched_getaffinity(0)
    if 1 not in mine or len(mine) < 2:
        skip(f"needs CPUs 0 and 1 (this process may run on {sorted(mine)})")
    t = Tree(env={"VIGIL_CPUS": "1"})
    try:
        t.start(timeout=40)
        for s in t.stages:
            pid = t.pid(s)
            check(pid, f"{s} has no pid")
            aff = cpus_allowed(pid)
            check(len(aff) >= 2, f"{s}: {len(aff)} threads ({aff}): expected the stage and "
                  "at least ZeroMQ's I/O thread")
            bad = {tid: a for tid, a in aff.items() if a != "1"}
            check(not bad, f"{s} (pid {pid}): threads not on CPU 1 only: {bad}")
        tag = unique_tag("vigil-cpus")
        run_tagged(tag)
        t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=10)
    finally:
        t.cleanup()

    t = Tree(stages=["enricher"])
    try:
        t.start(timeout=20)
        aff = cpus_allowed(t.pid("enricher"))
        want = set(mine)
        for tid, a in aff.items():
            cpus = set()
            for part in a.split(","):
                lo, _, hi = part.partition("-")
                cpus |= set(range(int(lo), int(hi or lo) + 1))
            check(want <= cpus, f"without VIGIL_CPUS, thread {tid} may run on {a} only")
    finally:
        t.cleanup()

    for bad in ("4096", "bogus"):
        env = dict(os.environ, VIGIL_CPUS=bad, VIGIL_STAGES="enricher")
        scandir = f"/tmp/vigil-test-cpus-{os.getpid()}"
        r = subprocess.run(["sh", os.path.join(ROOT, "supervise/layout"), scandir], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        subprocess.run(["rm", "-rf", scandir])
        check(r.returncode == 100 and "VIGIL_CPUS" in r.stderr,
              f"VIGIL_CPUS={bad}: layout exited {r.returncode}, said {r.stderr.strip()!r}")


run_test(test)
