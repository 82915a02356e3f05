#!/usr/bin/python3
"""make bench: the cost of vigil to the workload, as ratios against a baseline taken in
the same run. Each round times an exec-heavy and an open-heavy loop without vigil,
then with the whole tree running under s6; rounds alternate so machine noise hits
both sides alike. Prints medians (min..max) and the with/without ratio, plus the
events vigil exported and what its counters say it lost."""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from vigiltest import ROOT, Tree  # noqa: E402

LOOP = os.path.join(ROOT, "build/bench/loop")
ROUNDS = int(os.environ.get("VIGIL_BENCH_ROUNDS", "3"))
WORK = {"exec": int(os.environ.get("VIGIL_BENCH_EXECS", "1000")),
        "open": int(os.environ.get("VIGIL_BENCH_OPENS", "200000"))}


def timed(kind):
    out = subprocess.run([LOOP, kind, str(WORK[kind])], stdout=subprocess.PIPE, check=True)
    return float(out.stdout)


def main():
    if os.geteuid() != 0:
        print("bench: needs root")
        return 1
    res = {k: {"without": [], "with": []} for k in WORK}
    exported = lost = 0
    for r in range(ROUNDS):
        for kind in WORK:
            res[kind]["without"].append(timed(kind))
        t = Tree()
        try:
            t.start()
            for kind in WORK:
                res[kind]["with"].append(timed(kind))
            exported += t.counter("exporter", "exported")
            lost += t.counter("collector", "ringbuf_lost")
        finally:
            t.cleanup()
        print(f"round {r + 1}/{ROUNDS} done", flush=True)
    print()
    print(f"{'workload':<10} {'without vigil ns/op':>26} {'with vigil ns/op':>26} {'ratio':>7}")
    for kind, v in res.items():
        wo, wi = statistics.median(v["without"]), statistics.median(v["with"])
        print(f"{kind:<10} {wo:>10.0f} ({min(v['without']):.0f}..{max(v['without']):.0f})"
              f" {wi:>10.0f} ({min(v['with']):.0f}..{max(v['with']):.0f}) {wi / wo:>7.2f}")
    print(f"\nexec loop: {WORK['exec']} execs/round; open loop: {WORK['open']} opens/round "
          f"(opens are not captured yet: issue 3); {ROUNDS} rounds, medians (min..max)")
    print(f"events exported with vigil running: {exported}; kernel ring-buffer losses: {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
