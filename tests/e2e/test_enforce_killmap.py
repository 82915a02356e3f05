"""enforcer, kill map on the host kernel: a verdict naming a live process with a wrong
start time (what a reused pid looks like) kills nothing; with the process's real start
time (task->start_time, read independently with bpftrace) the process dies by SIGKILL
at its next syscall and a process_kprobe report (sys_enter, KPROBE_ACTION_SIGKILL, the
verdict's policy, the victim's pid and start_ktime) comes; a verdict for a whole cgroup
kills every process in it and nothing outside; a verdict for a process that already
exited is a counted drop; a verdict without a fork time (start_ktime 0, as the evaluator
sends it) kills the process holding the pid unless that one started after the verdict's
exec_ktime (a reused pid: counted, nobody killed); malformed verdicts are counted drops. Verdict-to-death time
is printed (p50/p99 over a few victims)."""
import os
import signal
import subprocess
import time
import uuid

from enforcetest import Enforcer, start_ktime
from vigiltest import check, need_root, run_test, wait_for

CG_ROOT = "/sys/fs/cgroup/unified"
VICTIM = "import time\nwhile True:\n    time.sleep(0.002)\n"


def spawn():
    return subprocess.Popen(["/usr/bin/python3", "-c", VICTIM])


def start_ktime_of_dead(m):
    """The report's own start time (the victim is gone; nothing to compare with but
    that it is a real monotonic time in the past)."""
    st = m["ev"]["start_ktime"]
    return st if 0 < st < time.monotonic_ns() else -1


def dead_within(p, timeout):
    try:
        p.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def test():
    need_root()
    if not os.path.isdir(CG_ROOT):
        from vigiltest import skip
        skip(f"no cgroup v2 at {CG_ROOT}")
    e = Enforcer()
    procs = []
    cg = os.path.join(CG_ROOT, f"vigil-enf-test-{uuid.uuid4().hex[:8]}")
    try:
        e.start()
        v = spawn()
        procs.append(v)
        st = start_ktime(v.pid)
        e.send("verdict", {"policy": "killer", "action": "sigkill", "pid": v.pid,
                           "start_ktime": st + 1, "exec_id": "x"})
        wait_for(lambda: e.counter("verdict.pid") >= 1, 3, what="verdict accepted")
        check(not dead_within(v, 0.5), "a wrong start time (reused pid) must not kill")
        e.send("verdict", {"policy": "killer", "action": "sigkill", "pid": v.pid,
                           "start_ktime": st, "exec_id": "x"})
        check(dead_within(v, 3), "victim not killed")
        check(v.returncode == -signal.SIGKILL, f"victim exit {v.returncode}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "killer")
        ev = m["ev"]
        check(ev["pid"] == v.pid and ev["start_ktime"] == st, f"report {ev}")
        check(ev["function_name"] == "sys_enter" and ev["action"] == "KPROBE_ACTION_SIGKILL",
              f"report {ev}")

        # The evaluator's verdict without a fork time (start_ktime 0, exec_ktime): the
        # enforcer reads the holder's start time itself and refuses a reused pid.
        w = spawn()
        procs.append(w)
        time.sleep(0.1)
        reused = e.counter("verdict.reused")
        e.send("verdict", {"policy": "nostart", "action": "sigkill", "pid": w.pid,
                           "start_ktime": 0, "exec_ktime": 1})
        wait_for(lambda: e.counter("verdict.reused") == reused + 1, 3, what="reused counted")
        check(not dead_within(w, 0.3), "a verdict about an exec older than the pid's holder "
              "must not kill")
        e.send("verdict", {"policy": "nostart", "action": "sigkill", "pid": w.pid,
                           "start_ktime": 0, "exec_ktime": time.monotonic_ns()})
        check(dead_within(w, 3) and w.returncode == -signal.SIGKILL, "start_ktime 0 verdict")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "nostart")
        check(m["ev"]["start_ktime"] == start_ktime_of_dead(m), "report start time")

        # Verdict to death, a few victims.
        lat = []
        for _ in range(5):
            p = spawn()
            procs.append(p)
            s = start_ktime(p.pid)
            t0 = time.monotonic()
            e.send("verdict", {"policy": "lat", "action": "sigkill", "pid": p.pid,
                               "start_ktime": s})
            check(dead_within(p, 3), "latency victim not killed")
            lat.append((time.monotonic() - t0) * 1000)
        lat.sort()
        print(f"verdict->death ms: p50 {lat[len(lat) // 2]:.2f} max {lat[-1]:.2f} "
              f"(n={len(lat)}, includes the waitpid wakeup)")

        # Whole cgroup.
        os.mkdir(cg)
        inside = [spawn(), spawn()]
        outside = spawn()
        procs += inside + [outside]
        for p in inside:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(p.pid))
        e.send("verdict", {"policy": "cg-killer", "action": "sigkill",
                           "cgroup_id": os.stat(cg).st_ino})
        for p in inside:
            check(dead_within(p, 3), "cgroup member not killed")
            check(p.returncode == -signal.SIGKILL, f"member exit {p.returncode}")
        check(not dead_within(outside, 0.3), "a process outside the cgroup must live")
        e.wait_report(lambda t, ev: ev.get("policy_name") == "cg-killer")

        # Exited process, garbage.
        gone = subprocess.Popen(["/bin/true"])
        gone.wait()
        ex = e.counter("verdict.exited")
        e.send("verdict", {"policy": "late", "action": "sigkill", "pid": gone.pid,
                           "start_ktime": 12345})
        wait_for(lambda: e.counter("verdict.exited") == ex + 1, 3, what="exited counted")
        drops = e.counter("drop.body")
        e.send("verdict", {"policy": "bad", "action": "explode", "pid": outside.pid,
                           "start_ktime": 1})
        e.send("verdict", {"policy": "bad", "action": "sigkill"})
        e.send("verdict", {"policy": "bad", "action": "sigkill", "pid": "me", "start_ktime": 1})
        wait_for(lambda: e.counter("drop.body") == drops + 3, 3, what="bad verdicts dropped")
        check(outside.poll() is None and e.proc.poll() is None, "nobody died of garbage")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        e.cleanup()
        if os.path.isdir(cg):
            os.rmdir(cg)


run_test(test)
