#!/usr/bin/python3
"""The enforcer's bench (issue 7): added cost of an allowed open and an allowed exec with
10 and 10,000 rule entries loaded, as a ratio to no vigil, and the time from a user-space
verdict to the victim's death.

Open/exec: build/bench/loop (open+close of /etc/hostname; fork+exec+wait of /bin/true).
Conditions, one sample each per round, rounds alternating in the same run:
  none     no enforcer (nothing of vigil's enforcer attached; a clean stop detaches);
  10       vigil-enforcer with one policy: a file_open rule with 10 paths and an exec
           rule with 10 paths, none of them the file or binary the loop uses (allowed);
  10000    the same with 10,000 paths each (20,000 LPM entries).
On a kernel without BPF LSM (this project's host) the rules go to the sigkill tier
(kill_fallback): every open is resolved to a path at sys_exit_openat and looked up;
with BPF LSM they go to lsm/file_open and lsm/bprm_check_security.
Verdict -> death: a victim that makes syscalls in a loop; the time from sending the
verdict (pid + start time) to waitpid() seeing SIGKILL, N victims, p50/p99.
Run: /usr/bin/python3 bench/enforce_bench.py [--rounds N] [--opens N] [--execs N] [--kills N]
Prints a table (and --json FILE writes the numbers)."""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from enforcetest import Enforcer, start_ktime  # noqa: E402

LOOP = os.path.join(ROOT, "build", "bench", "loop")


def policy(n):
    """One policy, file_open and exec rules with n paths each, none hit by the loops."""
    return [{"name": "bench", "mode": "enforce", "action": "override", "errno": 13,
             "kill_fallback": True, "scope": {},
             "rules": [{"kind": "file_open",
                        "paths": [f"/vigil-bench/deny/{i:05d}" for i in range(n)]},
                       {"kind": "exec",
                        "paths": [f"/vigil-bench/bin/{i:05d}" for i in range(n)]}]}]


def loop(kind, n):
    out = subprocess.run([LOOP, kind, str(n)], stdout=subprocess.PIPE, check=True).stdout
    return float(out.decode().strip())


def sample(cond, args, gen):
    """One sample of both loops under cond; returns (open ns, exec ns)."""
    e = None
    if cond != "none":
        e = Enforcer().start()
        e.policy_set(gen, policy(int(cond)))
    try:
        loop("open", 2000)  # warm-up
        o = loop("open", args.opens)
        x = loop("exec", args.execs)
    finally:
        if e:
            e.cleanup()
    return o, x


def verdict_to_death(n):
    """Send n verdicts to a live enforcer, each for a fresh victim; ms to death."""
    e = Enforcer().start()
    out = []
    try:
        for i in range(n):
            v = subprocess.Popen(["/bin/sh", "-c", "while :; do read x < /dev/null; done"])
            st = start_ktime(v.pid)
            t0 = time.monotonic()
            e.send("verdict", {"policy": "bench", "action": "sigkill", "pid": v.pid,
                               "start_ktime": st, "exec_id": f"bench-{i}"})
            try:
                v.wait(timeout=10)
            except subprocess.TimeoutExpired:
                v.kill()
                v.wait()
                continue
            if v.returncode == -signal.SIGKILL:
                out.append((time.monotonic() - t0) * 1000)
    finally:
        e.cleanup()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--opens", type=int, default=100000)
    ap.add_argument("--execs", type=int, default=300)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("enforce_bench: needs root (BPF)")
        return 77
    if not os.access(LOOP, os.X_OK):
        subprocess.run(["make", "-C", ROOT, "build/bench/loop"], check=True,
                       stdout=subprocess.DEVNULL)
    conds = ["none", "10", "10000"]
    res = {c: {"open": [], "exec": []} for c in conds}
    gen = 1
    for r in range(args.rounds):
        order = conds if r % 2 == 0 else list(reversed(conds))
        for c in order:
            o, x = sample(c, args, gen)
            gen += 1
            res[c]["open"].append(o)
            res[c]["exec"].append(x)
    kills = verdict_to_death(args.kills)
    med = {c: {k: statistics.median(v) for k, v in res[c].items()} for c in conds}
    print(f"enforcer bench ({args.rounds} alternating rounds; medians, ratio to no vigil)")
    print("| loaded | open+close ns | ratio | fork+exec+wait us | ratio |")
    print("|---|---|---|---|---|")
    for c in conds:
        label = "no vigil" if c == "none" else f"{int(c):,} paths per rule"
        print(f"| {label} | {med[c]['open']:,.0f} | {med[c]['open'] / med['none']['open']:.2f} | "
              f"{med[c]['exec'] / 1000:,.0f} | {med[c]['exec'] / med['none']['exec']:.2f} |")
    print(f"| verdict -> death ({len(kills)}/{args.kills} killed) | p50 {pct(kills, 50):.2f} ms | "
          f"p99 {pct(kills, 99):.2f} ms | | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": res, "median": med, "verdict_ms": kills,
                       "verdict_p50_ms": pct(kills, 50), "verdict_p99_ms": pct(kills, 99)},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
