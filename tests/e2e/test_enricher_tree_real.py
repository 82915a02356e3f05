"""e2e: the enricher's process tree with real processes, the whole tree under s6 (collector
on the real kernel), asserting the exported `process`/`parent` fields (pid, exec_id,
parent_exec_id, binary, arguments, flags):
  1. fork without exec: a python process forks a child that exits 7 without exec'ing;
     the child's exit has its own exec_id (fork time, its pid), flag "clone", the
     parent's binary and arguments, and the forker as parent;
  2. exec without fork, twice: sh execs env which execs true, one pid: three execs with
     three exec_ids of that pid, each its own binary/arguments, the same parent; the
     exit carries the last exec's exec_id;
  3. thread exec: a non-leader thread of a python process calls execve: the exec keeps
     the tgid as pid, tid = pid (the caller became the leader, as Tetragon reports),
     gets a new exec_id, parent unchanged; the exit carries it;
  4. reparenting to a subreaper: S (PR_SET_CHILD_SUBREAPER) forks M, M forks G and
     exits; G, now S's child, execs: parent = S (pid, exec_id), cache.reparent counted;
  5. reparenting to init (no subreaper): G's exec names its real new parent (the pid
     the kernel gave it, read in G), with that process's binary; and inside a new pid
     namespace (unshare --pid --fork, as a container) the namespace's init, by its host
     pid and exec_id;
  6. pid reuse: A runs and exits; B is started on the same pid (ns_last_pid) within A's
     exit linger: B's exec and exit carry B's exec_id, binary and arguments, never A's;
  7. an event that arrives before its process's exec (the collector paused with
     SIGSTOP, a raw event pushed to enricher.in as another producer does): held, and
     after the collector resumes it leaves right after the exec with that exec's
     process, unflagged; one whose exec does not come within --hold-ms leaves flagged
     "miss" with the process from /proc. Nothing is dropped."""
import os
import subprocess
import time

from vigiltest import (Tree, check, decode_exec_id, envelope, need_root, run_test,
                       unique_tag, wait_for)

PY = "/usr/bin/python3"
NODE = "vigil-test"
HOLD_MS = 1500

FORK_NOEXEC = """
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(0.05)
    os._exit(7)
os.waitpid(pid, 0)
print(pid, flush=True)
"""

THREAD_EXEC = """
import os, sys, threading
def go():
    os.execv("/bin/true", ["true", sys.argv[1] + "-thr"])
threading.Thread(target=go).start()
threading.Event().wait(10)
"""

REPARENT = """
import ctypes, os, sys, time
tag, sub = sys.argv[1], sys.argv[2] == "1"
if sub:
    assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
s = os.getpid()
r, w = os.pipe()
m = os.fork()
if m == 0:
    m = os.getpid()
    g = os.fork()
    if g == 0:
        os.close(r)
        os.close(w)
        t0 = time.monotonic()
        while os.getppid() == m and time.monotonic() - t0 < 5:
            time.sleep(0.005)
        os.execv("/bin/true", ["true", f"{tag}-orphan-{os.getppid()}"])
    os.write(w, str(g).encode())
    os._exit(0)
os.close(w)
g = int(os.read(r, 32))
os.waitpid(m, 0)
if sub:
    os.waitpid(g, 0)
else:
    time.sleep(0.3)
print(m, g, flush=True)
"""


def real(path):
    return os.path.realpath(path)


def execs_of(t, pid, pred=lambda p: True):
    return [e["process_exec"] for e in t.events()
            if "process_exec" in e and e["process_exec"]["process"]["pid"] == pid
            and pred(e["process_exec"]["process"])]


def eid_pid(exec_id):
    node, _ktime, pid = decode_exec_id(exec_id).split(":")
    check(node == NODE, f"exec_id node {node}")
    return int(pid)


def exec_with(t, tag, timeout=5):
    """The process_exec whose arguments contain tag."""
    return t.find("process_exec", lambda e: tag in e["process"].get("arguments", ""),
                  timeout)["process_exec"]


def fork_noexec(t):
    tag = unique_tag("fork")
    out = subprocess.run([PY, "-c", FORK_NOEXEC, tag], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    child = int(out.split()[0])
    px = exec_with(t, tag)["process"]
    ex = t.find("process_exit", lambda e: e["process"]["pid"] == child, 5)["process_exit"]
    p = ex["process"]
    check(p["exec_id"] != px["exec_id"] and eid_pid(p["exec_id"]) == child,
          f"fork child's own exec_id: {p['exec_id']}")
    check("clone" in p.get("flags", "").split(), f"fork child flags {p.get('flags')}")
    check(p["binary"] == px["binary"] == real(PY) and p["arguments"] == px["arguments"],
          f"fork child has the parent's binary/arguments: {p['binary']} {p['arguments']!r}")
    check(ex["parent"]["pid"] == px["pid"] and ex["parent"]["exec_id"] == px["exec_id"]
          and p["parent_exec_id"] == px["exec_id"], f"fork child's parent {ex['parent']}")
    check(ex.get("status") == 7, f"status {ex.get('status')}")


def exec_twice(t):
    tag = unique_tag("exec2")
    sh = subprocess.Popen(["/bin/sh", "-c", f"exec /usr/bin/env /bin/true {tag}"])
    sh.wait()
    xs = wait_for(lambda: (lambda v: v if len(v) == 3 else None)(
        execs_of(t, sh.pid, lambda p: tag in p.get("arguments", ""))), 5,
        what="three execs of one pid")
    bins = [x["process"]["binary"] for x in xs]
    check(bins == [real("/bin/sh"), real("/usr/bin/env"), real("/bin/true")],
          f"binaries {bins}")
    check([x["process"]["arguments"] for x in xs] ==
          [f"-c exec /usr/bin/env /bin/true {tag}", f"/bin/true {tag}", tag],
          f"arguments {[x['process']['arguments'] for x in xs]}")
    ids = [x["process"]["exec_id"] for x in xs]
    check(len(set(ids)) == 3 and all(eid_pid(i) == sh.pid for i in ids),
          f"three exec_ids of pid {sh.pid}: {ids}")
    check(all(x["parent"]["pid"] == os.getpid() for x in xs) and
          len({x["process"]["parent_exec_id"] for x in xs}) == 1 and
          xs[0]["process"]["parent_exec_id"] == xs[0]["parent"]["exec_id"],
          "the same parent (this test) for all three")
    ex = t.find("process_exit", lambda e: e["process"]["pid"] == sh.pid, 5)["process_exit"]
    check(ex["process"]["exec_id"] == ids[2] and ex["process"]["binary"] == real("/bin/true"),
          f"exit carries the last exec: {ex['process']}")


def thread_exec(t):
    tag = unique_tag("thr")
    h = subprocess.Popen([PY, "-c", THREAD_EXEC, tag])
    h.wait()
    first = exec_with(t, tag)
    x = exec_with(t, tag + "-thr")
    p = x["process"]
    check(first["process"]["pid"] == h.pid and p["pid"] == h.pid and p["tid"] == h.pid,
          f"thread exec keeps the tgid, the caller becomes the leader: {p}")
    check(p["exec_id"] != first["process"]["exec_id"] and eid_pid(p["exec_id"]) == h.pid,
          "thread exec: a new exec_id")
    check(p["binary"] == real("/bin/true") and p["arguments"] == tag + "-thr",
          f"thread exec binary/arguments {p['binary']} {p['arguments']!r}")
    check(x["parent"]["pid"] == os.getpid() and
          p["parent_exec_id"] == first["process"]["parent_exec_id"], "parent unchanged")
    ex = t.find("process_exit", lambda e: e["process"]["pid"] == h.pid, 5)["process_exit"]
    check(ex["process"]["exec_id"] == p["exec_id"], "the exit carries the thread's exec")


def reparent(t, sub):
    tag = unique_tag("sub" if sub else "init")
    r0 = t.counter("enricher", "cache.reparent") or 0
    s = subprocess.Popen([PY, "-c", REPARENT, tag, "1" if sub else "0"],
                         stdout=subprocess.PIPE, text=True)
    out, _ = s.communicate(15)
    m, g = (int(v) for v in out.split())
    sx = exec_with(t, tag)["process"]
    gx = exec_with(t, tag + "-orphan-")
    newpp = int(gx["process"]["arguments"].rsplit("-", 1)[1])
    check(gx["process"]["pid"] == g and gx["process"]["binary"] == real("/bin/true"),
          f"orphan's exec {gx['process']}")
    if sub:
        check(newpp == s.pid, f"the kernel gave the orphan {newpp}, not the subreaper")
        check(gx["parent"]["pid"] == s.pid and gx["parent"]["exec_id"] == sx["exec_id"] and
              gx["process"]["parent_exec_id"] == sx["exec_id"],
              f"orphan's parent is the subreaper: {gx['parent']}")
    else:
        check(newpp not in (m, s.pid), f"orphan's new parent {newpp}")
        check(gx["parent"]["pid"] == newpp and
              gx["process"]["parent_exec_id"] == gx["parent"]["exec_id"],
              f"orphan's parent is its real one ({newpp}): {gx['parent']}")
        try:
            want = os.readlink(f"/proc/{newpp}/exe")
        except OSError:  # pid 1's exe may be unreadable: the enricher leaves it out
            want = None
        check(gx["parent"].get("binary") == want,
              f"new parent's binary {gx['parent'].get('binary')} != {want}")
    check((t.counter("enricher", "cache.reparent") or 0) > r0, "cache.reparent counted")
    return newpp


def reparent_pidns(t):
    """The orphan inside a new pid namespace goes to the namespace's init (a container's
    init), not the host's: its exec names that process (host pid) as parent."""
    tag = unique_tag("nsinit")
    u = subprocess.Popen(["unshare", "--pid", "--fork", PY, "-c", REPARENT, tag, "0"],
                         stdout=subprocess.PIPE, text=True)
    out, _ = u.communicate(15)
    m, g = (int(v) for v in out.split())  # pids inside the namespace
    check(m > 1 and g > 1, f"namespace pids {m} {g}")
    sx = t.find("process_exec", lambda e: tag in e["process"].get("arguments", "") and
                e["parent"]["pid"] == u.pid if "parent" in e else False, 5)["process_exec"]
    gx = exec_with(t, tag + "-orphan-")
    check(gx["process"]["arguments"].endswith("-orphan-1"),
          f"inside the namespace the orphan's parent is pid 1: {gx['process']['arguments']}")
    check(gx["parent"]["pid"] == sx["process"]["pid"] and
          gx["parent"]["exec_id"] == sx["process"]["exec_id"] and
          gx["process"]["parent_exec_id"] == sx["process"]["exec_id"],
          f"the orphan's parent is the namespace's init {sx['process']['pid']} "
          f"(host pid): {gx['parent']}")
    check(gx["process"]["pid"] != g, "the exported pid is the host's, not the namespace's")


def spawn_at(pid, argv):
    """Start argv on pid (the host's ns_last_pid); None when another process took it."""
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))
    p = subprocess.Popen(argv)
    if p.pid != pid:
        p.wait()
        return None
    return p


def pid_reuse(t):
    for _ in range(20):
        ta, tb = unique_tag("reuseA"), unique_tag("reuseB")
        a = subprocess.Popen(["/bin/true", ta])
        a.wait()
        b = spawn_at(a.pid, ["/bin/echo", tb])
        if b:
            break
    else:
        check(False, "could not start a process on a reused pid in 20 tries")
    b.wait()
    ax, bx = exec_with(t, ta)["process"], exec_with(t, tb)["process"]
    check(ax["pid"] == bx["pid"] == a.pid and ax["exec_id"] != bx["exec_id"],
          f"two processes on pid {a.pid}: {ax['exec_id']} {bx['exec_id']}")
    check(bx["binary"] == real("/bin/echo") and bx["arguments"] == tb, f"B's exec {bx}")
    exits = wait_for(lambda: (lambda v: v if len(v) >= 2 else None)(
        [e["process_exit"] for e in t.events() if "process_exit" in e
         and e["process_exit"]["process"]["pid"] == a.pid
         and e["process_exit"]["process"]["exec_id"] in (ax["exec_id"], bx["exec_id"])]),
        5, what="both exits")
    check([e["process"]["exec_id"] for e in exits[-2:]] == [ax["exec_id"], bx["exec_id"]],
          "each exit carries its own process")
    check(exits[-1]["process"]["arguments"] == tb and
          exits[-1]["parent"]["pid"] == os.getpid(), f"B's exit {exits[-1]['process']}")


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def pause_collector(t):
    """SIGSTOP the collector through s6 and wait until it is stopped (s6-svc returns
    before s6-supervise has sent the signal)."""
    pid = t.pid("collector")
    t.svc("collector", "-p")
    wait_for(lambda: proc_state(pid) == "T", 5, what="the collector to stop")


def raw_kprobe(pid, fn):
    k = time.monotonic_ns()
    return {"time": time.time_ns(), "ktime": k, "pid": pid, "tid": pid,
            "function_name": fn, "args": [], "policy_name": "tree-real"}


def held(t, push):
    # (a) the exec comes: held until it does, then right after it, unflagged
    tag, fn = unique_tag("held"), unique_tag("early")
    h0 = t.counter("enricher", "pending.held") or 0
    pause_collector(t)
    try:
        b = subprocess.Popen(["/bin/true", tag])
        b.wait()
        push.send(envelope("process_kprobe", raw_kprobe(b.pid, fn), src="tree-real", seq=1))
        time.sleep(0.4)
        check(not any("process_kprobe" in e and e["process_kprobe"].get("function_name") == fn
                      for e in t.events()), "the early event is held")
    finally:
        t.svc("collector", "-c")
    ev = t.find("process_kprobe", lambda e: e.get("function_name") == fn, 5)
    bx = exec_with(t, tag)
    p = ev["process_kprobe"]["process"]
    check(p["exec_id"] == bx["process"]["exec_id"] and p["binary"] == real("/bin/true")
          and p["arguments"] == tag, f"held event gets the exec's process: {p}")
    check("miss" not in p.get("flags", "").split(), f"flags {p.get('flags')}")
    check(ev["process_kprobe"]["parent"]["pid"] == os.getpid(), "and its parent")
    order = [i for i, e in enumerate(t.events())
             if ("process_exec" in e and e["process_exec"]["process"]["exec_id"] ==
                 bx["process"]["exec_id"]) or
             ("process_kprobe" in e and e["process_kprobe"].get("function_name") == fn)]
    check(len(order) == 2, f"one exec, one event: {order}")
    check((t.counter("enricher", "pending.held") or 0) > h0, "pending.held counted")
    # (b) the exec does not come within --hold-ms: out flagged miss, from /proc
    fn2 = unique_tag("never")
    m0 = t.counter("enricher", "pending.miss") or 0
    s = None
    pause_collector(t)
    try:
        s = subprocess.Popen(["/bin/sleep", "30"])
        t0 = time.monotonic()
        push.send(envelope("process_kprobe", raw_kprobe(s.pid, fn2), src="tree-real", seq=2))
        ev = t.find("process_kprobe", lambda e: e.get("function_name") == fn2, 5)
        dt = time.monotonic() - t0
    finally:
        t.svc("collector", "-c")
        if s:
            s.kill()
            s.wait()
    p = ev["process_kprobe"]["process"]
    check(dt >= HOLD_MS / 1000 * 0.9, f"left after the hold time: {dt:.2f}s")
    check(p["pid"] == s.pid and "miss" in p.get("flags", "").split() and
          p.get("binary") == real("/bin/sleep") and p.get("arguments") == "30",
          f"flag miss, process from /proc: {p}")
    check((t.counter("enricher", "pending.miss") or 0) > m0, "pending.miss counted")


def test():
    need_root()
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"], node_name=NODE,
             env={"VIGIL_ENRICHER_OPTS": f"--node-name {NODE} --hold-ms {HOLD_MS}"})
    push = None
    try:
        t.start()
        push = t.push("enricher.in")
        fork_noexec(t)
        exec_twice(t)
        thread_exec(t)
        reparent(t, True)
        init = reparent(t, False)
        reparent_pidns(t)
        pid_reuse(t)
        held(t, push)
        check(t.counter("enricher", "drop.body") in (None, 0), "nothing dropped")
        print(f"orphan without subreaper went to pid {init}")
    finally:
        if push:
            push.close()
        t.cleanup()


run_test(test)
