"""stage test: the enricher's process tree, fed synthetic raw events (pids above
pid_max, so /proc never answers) on its input, output read from enricher.out:
  - fork without exec: a kprobe of the child carries the child's own exec_id (fork
    ktime), flags "clone", the parent's binary, and the parent;
  - exec without fork: a new exec_id for the same pid, parent unchanged;
  - thread exec (raw tid != pid): pid is the tgid, tid = pid (the caller became the
    leader, as Tetragon reports), parent unchanged;
  - reparenting: an exec whose ppid names a subreaper gets the subreaper as parent
    (cache.reparent counted); an exit carrying ppid re-parents too;
  - pid reuse: an exec with another start time replaces the old process (pid_reuse);
  - an event before its exec is held, then emitted after the exec with that exec's id
    and no flag; an event whose exec never comes leaves after --hold-ms with "miss"
    (pending.miss; the second resolves to the same stub), two such events keep their order; nothing is dropped;
  - --ancestors exec: an exec three levels deep lists its grandparent and above;
    kprobes (not asked for) have none."""
import time

from enrichertest import (Enricher, clone_ev, exec_ev, exit_ev, kprobe_ev)
from vigiltest import check, exec_id, need_root, run_test

N = "enr-test"
B = 5_000_000


def eid(k, p):
    return exec_id(N, k, p)


def test():
    with Enricher("--ancestors", "exec", "--hold-ms", "150") as e:
        G, P, C, S = B + 1, B + 2, B + 3, B + 9
        e.send("process_exec", exec_ev(G, 1000, B, 500, "/sbin/init-ish"))
        t, ev = e.recv()
        check(t == "process_exec" and ev["process"]["exec_id"] == eid(1000, G), f"G exec {ev}")
        check("parent" not in ev and ev["process"]["parent_exec_id"] == eid(500, B),
              f"unknown parent: parent_exec_id from pktime {ev['process']}")
        e.send("process_exec", exec_ev(P, 2000, G, 1000, "/usr/bin/bash", ["-c", "x"]))
        t, ev = e.recv()
        check(ev["parent"]["exec_id"] == eid(1000, G), "P's parent is G")
        check("ancestors" not in ev, "P has no grandparent in the cache: no ancestors")
        # fork without exec
        e.send("process_clone", clone_ev(C, 3000, P, 2000))
        e.send("process_kprobe", kprobe_ev(C, 3100))
        t, ev = e.recv()
        pr = ev["process"]
        check(t == "process_kprobe" and pr["exec_id"] == eid(3000, C), f"clone child {pr}")
        check(pr["flags"] == "clone" and pr["binary"] == "/usr/bin/bash"
              and pr["arguments"] == "-c x", f"clone inherits binary/args: {pr}")
        check(ev["parent"]["exec_id"] == eid(2000, P) and pr["parent_exec_id"] == eid(2000, P),
              "clone child's parent is P")
        check(ev["function_name"] == "security_file_open" and ev["args"] == [{"int_arg": 1}],
              "kprobe body forwarded")
        check("ancestors" not in ev, "no ancestors on kprobes (not requested)")
        # exec without fork
        e.send("process_exec", exec_ev(C, 4000, P, 2000, "/usr/bin/ls", start=3000))
        t, ev = e.recv()
        check(ev["process"]["exec_id"] == eid(4000, C) and ev["process"]["pid"] == C,
              "exec without fork: new exec_id, same pid")
        check(ev["parent"]["exec_id"] == eid(2000, P), "exec without fork: parent unchanged")
        check([a["exec_id"] for a in ev.get("ancestors", [])] == [eid(1000, G)],
              f"ancestors of C: {ev.get('ancestors')}")
        # thread exec
        e.send("process_exec", exec_ev(C, 5000, P, 2000, "/usr/bin/id", start=3000, tid=C + 5))
        t, ev = e.recv()
        pr = ev["process"]
        check(pr["pid"] == C and pr["tid"] == C and pr["exec_id"] == eid(5000, C),
              f"thread exec: tgid as pid, tid = pid (the caller became the leader): {pr}")
        check(ev["parent"]["exec_id"] == eid(2000, P), "thread exec: parent unchanged")
        # reparenting to a subreaper
        e.send("process_exec", exec_ev(S, 5500, G, 1000, "/usr/bin/subreaper"))
        e.recv()
        e.send("process_exit", exit_ev(P, 6000))
        t, ev = e.recv()
        check(t == "process_exit" and ev["process"]["exec_id"] == eid(2000, P), "P exits")
        e.send("process_exec", exec_ev(C, 7000, S, 5500, "/usr/bin/true", start=3000))
        t, ev = e.recv()
        check(ev["parent"]["exec_id"] == eid(5500, S) and ev["parent"]["pid"] == S,
              f"reparented to the subreaper: {ev['parent']}")
        e.send("process_exit", exit_ev(C, 7500, status=3, ppid=G, pktime=1000))
        t, ev = e.recv()
        check(ev["parent"]["exec_id"] == eid(1000, G) and ev["status"] == 3,
              f"exit with ppid re-parents: {ev.get('parent')}")
        c = e.counters()
        check(c.get("cache.reparent", 0) >= 2, f"cache.reparent {c.get('cache.reparent')}")
        # pid reuse: C exited; the same pid starts again as another process
        e.send("process_exec", exec_ev(C, 9000, S, 5500, "/usr/bin/new", start=8900))
        t, ev = e.recv()
        check(ev["process"]["exec_id"] == eid(9000, C) and ev["process"]["binary"] == "/usr/bin/new"
              and ev["parent"]["pid"] == S, f"pid reuse: {ev['process']}")
        check(e.counters().get("cache.pid_reuse", 0) >= 1, "cache.pid_reuse counted")
        # an event before its exec: held, then emitted after the exec, unflagged
        D = B + 20
        e.send("process_kprobe", kprobe_ev(D, 10000, fn="early"))
        check(e.nothing(0.05), "the early event is held")
        e.send("process_exec", exec_ev(D, 10001, G, 1000, "/usr/bin/late"))
        t1, ev1 = e.recv()
        t2, ev2 = e.recv()
        check(t1 == "process_exec" and t2 == "process_kprobe", f"order {t1}, {t2}")
        check(ev2["process"]["exec_id"] == eid(10001, D) and "miss" not in ev2["process"]["flags"],
              f"held event gets the exec's process: {ev2['process']}")
        # events whose exec never comes: out after --hold-ms, flagged, in order
        E = B + 30
        t0 = time.monotonic()
        e.send("process_kprobe", kprobe_ev(E, 11000, fn="first", start_ktime=10500))
        e.send("process_kprobe", kprobe_ev(E, 11001, fn="second", start_ktime=10500))
        t1, ev1 = e.recv(2)
        dt = time.monotonic() - t0
        t2, ev2 = e.recv(2)
        check(ev1["function_name"] == "first" and ev2["function_name"] == "second",
              "held events keep their order")
        check(0.12 <= dt < 1.5, f"released after the hold time, {dt:.3f}s")
        check("miss" in ev1["process"]["flags"].split() and ev1["process"]["pid"] == E,
              f"flag miss: {ev1['process']}")
        c = e.counters()
        check(ev2["process"]["exec_id"] == ev1["process"]["exec_id"], "one stub process")
        check(c.get("pending.miss") == 1 and c.get("pending.held", 0) >= 3,
              f"pending counters {c}")
        # a deeper chain: ancestors listed from the grandparent up
        K = B + 40
        e.send("process_exec", exec_ev(K, 12000, D, 10001, "/usr/bin/deep"))
        t, ev = e.recv()
        check([a["pid"] for a in ev.get("ancestors", [])] == [G],
              f"ancestors {ev.get('ancestors')}")
        check(e.counters().get("drop.body", 0) == 0, "nothing dropped")


need_root()
run_test(test)
