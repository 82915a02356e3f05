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
  old10    with --old PATH: that (earlier) vigil-enforcer with the 10-path policy.
On a kernel without BPF LSM (this project's host) the rules go to the sigkill tier
(kill_fallback): every open is resolved to a path at sys_exit (tp_btf in the typed
build, sys_exit_openat in the others) and looked up;
with BPF LSM they go to lsm/file_open and lsm/bprm_check_security.
Verdict -> death: a victim that makes syscalls in a loop; the time from sending the
verdict (pid + start time) to waitpid() seeing SIGKILL, N victims, p50/p99.
Run: /usr/bin/python3 bench/enforce_bench.py [--rounds N] [--opens N] [--execs N] [--kills N]
Prints a table (and --json FILE writes the numbers).

--runtime [--old PATH]: the kernel's own account of the enforcer's open programs instead
of wall time (robust to the machine's load): BPF_STATS_RUN_TIME is enabled for the run
(bpf_enable_stats; off again when the script exits), one enforcer with a monitor-mode
file_open policy (sigkill tier) is started per binary (this tree's build/vigil-enforcer,
--old, an earlier build, and with --nocast this tree's build without typed loads, each
with its own pins; in each round one at a time has the policy and its programs attached,
the others an empty set), and an
openat+close loop runs on a file under the monitored prefix and on a sibling under none.
Per open: the delta of run_time_ns of the binary's open-family programs (its sys_exit_open*
tracepoints; or, for an --old build that had one, its tp_btf/sys_exit program) over the
number of opens, and over the delta of run_cnt; a getppid loop gives the cost a non-open
syscall pays at tp_btf/sys_exit (0 with the tracepoints).
--library: the shipped library's policy_set as build/vigil-evaluator sends it, and
/etc/shadow (monitored) vs /etc/hostname (no rule) as the files."""
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
    """One sample of both loops under cond; returns (open ns, exec ns). cond "old10":
    --old with 10 paths per rule."""
    import enforcetest
    e = None
    if cond != "none":
        saved = enforcetest.ENFORCER
        if cond == "old10":
            enforcetest.ENFORCER = args.old
        try:
            e = Enforcer().start()
        finally:
            enforcetest.ENFORCER = saved
        e.policy_set(gen, policy(10 if cond == "old10" else int(cond)))
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


def enable_stats():
    """bpf(BPF_ENABLE_STATS, BPF_STATS_RUN_TIME): run-time accounting while the fd lives."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(128)  # union bpf_attr, enable_stats.type = 0
    fd = libc.syscall(321, 32, attr, ctypes.c_uint(128))  # SYS_bpf, BPF_ENABLE_STATS
    if fd < 0:
        raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
    return fd


OPEN_PROGS = ("vigil_enf_open", "vigil_enf_open2", "vigil_enf_open0",
              "vigil_enf_creat", "vigil_enf_openh")


def open_prog_stats(ids):
    """(run_time_ns, run_cnt) summed over the open-family programs among ids."""
    from enforcetest import _bpftool
    t = c = 0
    for i, name in ids.items():
        if name in OPEN_PROGS:
            p = _bpftool("prog", "show", "id", str(i))
            t += p.get("run_time_ns", 0)
            c += p.get("run_cnt", 0)
    return t, c


def open_loop(path, n):
    for _ in range(n):
        os.close(os.open(path, os.O_RDONLY))


def ppid_loop(n):
    for _ in range(n):
        os.getppid()


def library_set():
    """The policy_set the evaluator sends the enforcer for the shipped library (no user
    policies): (mode, policies)."""
    import shutil
    import tempfile
    import msgpack
    import zmq
    d = tempfile.mkdtemp(prefix="vigil-enfbench-lib-")
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.bind(f"ipc://{d}/enforcer.in")
    os.mkdir(os.path.join(d, "pd"))
    p = subprocess.Popen([os.path.join(ROOT, "build", "vigil-evaluator"), "--rundir", d,
                          "--policy-dir", os.path.join(d, "pd")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not pull.poll(10000):
            raise RuntimeError("the evaluator sent no policy_set in 10 s")
        ev = msgpack.unpackb(pull.recv(), raw=False)["ev"]
        return ev["mode"], ev["policies"]
    finally:
        p.terminate()
        p.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(d, ignore_errors=True)


def runtime_bench(args):
    """See --runtime in the module's docstring."""
    import tempfile
    import enforcetest
    from enforcetest import enforcer_prog_ids
    fd = enable_stats()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enfbench-"))
    os.makedirs(os.path.join(base, "watched"))
    os.makedirs(os.path.join(base, "plain"))
    files = {"monitored": os.path.join(base, "watched", "f"),
             "no rule": os.path.join(base, "plain", "f")}
    for f in files.values():
        with open(f, "w") as fh:
            fh.write("x")
    pol = [{"name": "bench-monitor", "mode": "monitor", "action": "override", "errno": 13,
            "kill_fallback": True, "scope": {},
            "rules": [{"kind": "file_open",
                       "prefixes": [base + "/watched/", "/root/.ssh/", "/etc/sudoers.d/"],
                       "paths": ["/etc/shadow", "/etc/sudoers", "/etc/gshadow"]}]}]
    mode = "enforce"
    if args.library:
        # The shipped library as the evaluator hands it over: its file_open rule (monitor
        # mode, exact paths such as /etc/shadow, exempt binaries) is the sigkill tier here.
        mode, pol = library_set()
        files = {"monitored (/etc/shadow)": "/etc/shadow",
                 "no rule (/etc/hostname)": "/etc/hostname"}
    bins = ([("new", enforcetest.ENFORCER)] +
            ([("new-nocast", enforcetest.ENFORCER)] if args.nocast else []) +
            ([("old", args.old)] if args.old else []))
    encs = {}
    saved = enforcetest.ENFORCER
    try:
        for label, path in bins:
            enforcetest.ENFORCER = path
            if label == "new-nocast":
                os.environ["VIGIL_ENF_NOCAST"] = "1"
            try:
                e = enforcetest.Enforcer().start()
            finally:
                os.environ.pop("VIGIL_ENF_NOCAST", None)
            e.policy_set(1, pol, mode=mode)
            encs[label] = (e, enforcer_prog_ids(e), e.info("bpf_build"))
        enforcetest.ENFORCER = saved
        res = {(lbl, c): [] for lbl in encs for c in list(files) + ["getppid"]}
        gen = 1
        for r in range(args.rounds):
            # One enforcer's programs attached at a time (the others get an empty set and
            # detach theirs): programs sharing an open would share its cache misses.
            for lbl in (list(encs) if r % 2 == 0 else list(reversed(encs))):
                for other, v in encs.items():
                    gen += 1
                    v[0].policy_set(gen, pol if other == lbl else [], mode=mode)
                ids = encs[lbl][1]
                for c in list(files) + ["getppid"]:
                    before = open_prog_stats(ids)
                    if c == "getppid":
                        ppid_loop(args.opens)
                    else:
                        open_loop(files[c], args.opens)
                    t, n = open_prog_stats(ids)
                    dt, dn = t - before[0], n - before[1]
                    res[(lbl, c)].append((dt / args.opens, dt / dn if dn else 0.0))
        # Every syscall of the machine passes tp_btf/sys_exit (other processes' too): the
        # getppid loop gives the cost of a run that is not an open (f); in the open loops
        # every run but the N opens is counted at f. A tracepoint build runs on opens only.
        print(f"enforcer open programs, kernel run-time stats ({args.rounds} rounds of "
              f"{args.opens} syscalls; medians)")
        print("| enforcer | build | file | ns per open | ns per other syscall | "
              "added per open+close |")
        print("|---|---|---|---|---|---|")
        out = {}
        for lbl in encs:
            raw = "tp_btf" in encs[lbl][2]
            f = statistics.median(x[1] for x in res[(lbl, "getppid")]) if raw else 0.0
            for c in files:
                per_open = []
                for dt_per_op, per_run in res[(lbl, c)]:
                    dt = dt_per_op * args.opens
                    dn = dt / per_run if per_run else 0
                    per_open.append((dt - (dn - args.opens) * f) / args.opens if raw
                                    else per_run)
                po = statistics.median(per_open)
                out[f"{lbl}/{c}"] = {"build": encs[lbl][2], "per_open_ns": po,
                                     "per_other_syscall_ns": f,
                                     "added_per_open_close_ns": po + f,
                                     "samples": res[(lbl, c)]}
                print(f"| {lbl} | {encs[lbl][2]} | {c} | {po:.0f} | "
                      f"{f:.0f} | {po + f:.0f} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        enforcetest.ENFORCER = saved
        for e, _, _ in encs.values():
            e.cleanup()
        subprocess.run(["rm", "-rf", base])
        os.close(fd)
    return 0


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
    ap.add_argument("--runtime", action="store_true",
                    help="kernel run-time stats of the open programs, not wall time")
    ap.add_argument("--old", help="an earlier vigil-enforcer to compare with")
    ap.add_argument("--library", action="store_true",
                    help="--runtime: the shipped library's set (through the evaluator) and "
                    "/etc/shadow vs /etc/hostname")
    ap.add_argument("--nocast", action="store_true",
                    help="--runtime: also this tree's tracepoint build (VIGIL_ENF_NOCAST=1)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("enforce_bench: needs root (BPF)")
        return 77
    if args.runtime:
        return runtime_bench(args)
    if not os.access(LOOP, os.X_OK):
        subprocess.run(["make", "-C", ROOT, "build/bench/loop"], check=True,
                       stdout=subprocess.DEVNULL)
    conds = ["none", "10", "10000"] + (["old10"] if args.old else [])
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
        label = ("no vigil" if c == "none" else "--old, 10 paths per rule" if c == "old10"
                 else f"{int(c):,} paths per rule")
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
