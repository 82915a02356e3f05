"""stage test: memory bound. 100,000 live synthetic processes (a clone then an exec
each, pids above pid_max) pushed through the enricher's input; the output is drained.
Asserts cache.size == 100,000 + the shell parent + its parent (pid 1, from /proc), no eviction at the default capacity,
and the whole enricher's VmRSS 2.5 s after the burst (/proc/PID/status) <= 40 MB; prints the number. Then a
second enricher with --cache-size 1000 gets the same stream: cache.size stays at 1000
and cache.evictions counts the rest."""
import threading
import time

from enrichertest import Enricher, clone_ev, exec_ev
from vigiltest import check, need_root, run_test, wait_for

B = 5_000_000
N = 100_000


def feed(e, n):
    e.send("process_exec", exec_ev(B, 10, 1, 1, "/usr/bin/bash", ["-c", "loop"]))
    for i in range(1, n + 1):
        pid = B + i
        k = 1000 + 10 * i
        e.send("process_clone", clone_ev(pid, k, B, 10))
        e.send("process_exec", exec_ev(pid, k + 5, B, 10, "/usr/bin/sleep",
                                       ["1000", str(i)], start=k, cwd="/home/user/work"))


def drain(e, want, box):
    got = 0
    while got < want:
        if not e.pull.poll(20000):
            break
        e.pull.recv()
        got += 1
    box.append(got)


def test():
    with Enricher() as e:
        base = e.rss_kb()
        box = []
        th = threading.Thread(target=drain, args=(e, N + 1, box))
        th.start()
        feed(e, N)
        th.join(120)
        check(box and box[0] == N + 1, f"outputs {box}")
        c = e.counters()
        check(c["cache.size"] == N + 2 and c["cache.evictions"] == 0, f"cache {c}")
        time.sleep(2.5)  # steady state: the enricher trims after a burst
        rss = e.rss_kb()
        print(f"enricher VmRSS: {rss} kB with {c['cache.size']} cached processes "
              f"(at start {base} kB)")
        check(rss <= 40 * 1024, f"VmRSS {rss} kB > 40 MB")
    with Enricher("--cache-size", "1000") as e:
        box = []
        th = threading.Thread(target=drain, args=(e, 20001, box))
        th.start()
        feed(e, 20000)
        th.join(60)
        c = wait_for(lambda: (lambda c: c if c["events.process_exec"] == 20001 else None)(
            e.counters()), 10, what="all execs")
        check(c["cache.size"] == 1000, f"cache.size {c['cache.size']}")
        check(c["cache.evictions"] >= 20001 - 1000, f"evictions {c['cache.evictions']}")


need_root()
run_test(test)
