"""e2e: process lifecycle records have their own ring, so a file flood cannot lose them.
The collector runs with a 1 MiB file ring, file events on, and `--cgroups DIR` naming a
cgroup v2 directory this test creates. With the collector stopped (SIGSTOP), a flooder
in that cgroup opens one file N times (more than the file ring holds), and then, still
stopped, the test runs M execs of /bin/true TAG-i. Then:
- ringbuf_lost.file > 0 (the file ring did overflow);
- ringbuf_lost.process_exec, .process_exit, .process_clone are all 0;
- every one of the M execs reaches the JSON export with its arguments, and its exit too;
- the flooder's exec comes before its first open and its exit after its last one (the
  two rings are merged in time order: a process's events never pass its exit)."""
import os
import signal
import subprocess

from collectortest import Export, FloodSetup, counters
from vigiltest import TestFailure, check, need_root, run_test, unique_tag, wait_for

N = 30000
M = 40


def test():
    need_root()
    fx = FloodSetup("vigil-procring-")
    t, cg, target = fx.tree, fx.cg, fx.target
    flooder = None
    try:
        t.start()
        info = (t.status("collector") or {}).get("info", {})
        check(info.get("ringbuf_bytes") == str(1 << 20), f"1 MiB file ring: {info}")
        x = Export(t)
        c0 = counters(t)
        flooder = fx.start(N)
        x.watch(flooder.pid)
        tag = unique_tag("vigil-procring")
        pids = []
        col = t.pid("collector")
        os.kill(col, signal.SIGSTOP)
        try:
            flooder.stdin.write(b"go\n")
            flooder.stdin.flush()
            flooder.wait(timeout=60)
            # the file ring is full now: these must still get through
            for i in range(M):
                p = subprocess.Popen(["/bin/true", f"{tag}-{i}"])
                p.wait()
                pids.append(p.pid)
        finally:
            os.kill(col, signal.SIGCONT)
        check(flooder.returncode == 0, f"flooder exit {flooder.returncode}")
        x.watch(*pids)

        last = {}

        def settled():
            c = counters(t)
            last["c"] = c
            return c if (c.get("kernel.emitted.file", 0) + c.get("ringbuf_lost.file", 0)
                         - c0.get("kernel.emitted.file", 0) - c0.get("ringbuf_lost.file", 0)
                         == N) else None
        try:
            c = wait_for(settled, 10, what="emitted + lost file records == N")
        except TestFailure as e:
            lc, n = last.get("c", {}), lambda k: last.get("c", {}).get(k, 0) - c0.get(k, 0)
            raise TestFailure(f"{e}: emitted {n('kernel.emitted.file')} + lost "
                              f"{n('ringbuf_lost.file')} != {N} ({lc})")
        print(f"info: file emitted {c.get('kernel.emitted.file')} lost "
              f"{c.get('ringbuf_lost.file')}; process lost "
              f"{[c.get('ringbuf_lost.' + k, 0) for k in ('process_exec', 'process_exit', 'process_clone')]}",
              flush=True)
        check(c.get("ringbuf_lost.file", 0) > 0, f"the flood overflowed the file ring: {c}")
        for k in ("process_exec", "process_exit", "process_clone"):
            check(c.get(f"ringbuf_lost.{k}", 0) == 0, f"no {k} lost: {c}")
        for i, pid in enumerate(pids):
            e = x.find("process_exec", lambda e, pid=pid: e["process"]["pid"] == pid, 20,
                       what=f"exec {tag}-{i} (pid {pid})")
            check(e["process"]["arguments"] == f"{tag}-{i}", f"arguments {e['process']}")
            x.find("process_exit", lambda e, pid=pid: e["process"]["pid"] == pid, 20,
                   what=f"exit of pid {pid}")
        # per-process order across the two rings: exec < opens < exit for the flooder
        x.find("process_exit", lambda e: e["process"]["pid"] == flooder.pid, 20,
               what="the flooder's exit")
        kinds = []
        for e in x.events:
            for k in ("process_exec", "process_kprobe", "process_exit"):
                if k in e and e[k]["process"]["pid"] == flooder.pid and \
                        "policy_name" not in e[k]:
                    kinds.append(k)
        check(kinds and kinds[-1] == "process_exit" and kinds.count("process_exit") == 1,
              f"the flooder's exit comes last: ... {kinds[-3:]}")
        if "process_exec" in kinds:
            check(kinds.index("process_exec") < kinds.index("process_kprobe"),
                  "the flooder's exec comes before its opens")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        fx.cleanup()


run_test(test)
