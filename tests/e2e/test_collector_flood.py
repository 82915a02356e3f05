"""e2e: exact loss accounting under a flood, and the in-kernel cgroup filter.
The collector runs with a 1 MiB ring, file events on, and `--cgroups DIR` naming a cgroup
v2 directory this test creates. A flooder process moves itself into that cgroup and opens
one file N times while the collector is stopped (SIGSTOP), so the ring overflows. Then:
- kernel.emitted.file + ringbuf_lost.file == N exactly (nothing else is in the cgroup,
  every other open of the machine is filtered in the kernel and counted nowhere);
- ringbuf_lost.file > 0 (the flood was bigger than the ring), and the per-CPU losses
  (ringbuf_lost.cpuN, shown once a CPU has lost something) add up to ringbuf_lost;
- the flooder's security_file_open events in the JSON export == kernel.emitted.file
  (every record the kernel wrote reaches the export);
- this test's own opens (outside the cgroup) are neither sent nor counted as lost."""
import os
import signal
import time

from collectortest import Export, FloodSetup, counters
from vigiltest import check, need_root, run_test, wait_for

N = 30000


def test():
    need_root()
    fx = FloodSetup("vigil-flood-")
    t, cg, target = fx.tree, fx.cg, fx.target
    flooder = None
    try:
        t.start()
        info = (t.status("collector") or {}).get("info", {})
        x = Export(t)
        c0 = counters(t)
        check(c0.get("kernel.emitted.file", 0) == 0 and c0.get("ringbuf_lost.file", 0) == 0,
              f"nothing sent before the flood: {c0} (info {info})")
        # our own opens, outside the cgroup: filtered in the kernel
        for _ in range(100):
            os.close(os.open(target, os.O_RDONLY))
        flooder = fx.start(N)
        x.watch(flooder.pid)
        col = t.pid("collector")
        os.kill(col, signal.SIGSTOP)
        try:
            flooder.stdin.write(b"go\n")
            flooder.stdin.flush()
            flooder.wait(timeout=60)
        finally:
            os.kill(col, signal.SIGCONT)
        check(flooder.returncode == 0, f"flooder exit {flooder.returncode}")

        def settled():
            c = counters(t)
            em, lost = c.get("kernel.emitted.file", 0), c.get("ringbuf_lost.file", 0)
            return c if em + lost == N else None
        try:
            c = wait_for(settled, 10, what="emitted + lost == N")
        except Exception:
            c = counters(t)
            raise AssertionError(f"emitted.file {c.get('kernel.emitted.file')} + lost.file "
                                 f"{c.get('ringbuf_lost.file')} != {N}")
        emitted, lost = c["kernel.emitted.file"], c["ringbuf_lost.file"]
        print(f"info: generated {N}, emitted {emitted}, lost {lost}", flush=True)
        check(lost > 0, f"the flood did not overflow a 1 MiB ring: {c}")
        percpu = {k: v for k, v in c.items() if k.startswith("ringbuf_lost.cpu")}
        check(percpu and sum(percpu.values()) == c["ringbuf_lost"]
              and all(int(k[len("ringbuf_lost.cpu"):]) < os.cpu_count() for k in percpu),
              f"per-CPU losses {percpu} do not add up to ringbuf_lost {c['ringbuf_lost']}")
        check(emitted > 1000, f"emitted {emitted}")

        def seen():
            x._poll()
            return [e for e in x.events
                    if e.get("process_kprobe", {}).get("function_name") == "security_file_open"
                    and "policy_name" not in e["process_kprobe"]
                    and e["process_kprobe"]["process"]["pid"] == flooder.pid]
        end = time.monotonic() + 30
        while len(seen()) < emitted and time.monotonic() < end:
            time.sleep(0.1)
        s = seen()
        if len(s) != emitted:
            drops = {st: {k: v for k, v in (t.status(st) or {}).get("counters", {}).items()
                          if v and ("drop" in k or "lost" in k or "gap" in k or "rot" in k)}
                     for st in ("collector", "enricher", "evaluator", "exporter")}
            check(False, f"export has {len(s)} flood events, kernel emitted {emitted}: {drops}")
        check(all(e["process_kprobe"]["args"][0]["file_arg"]["path"] == target for e in s),
              "flood events carry the flood file's path")
        check(counters(t).get("kernel.emitted.file") == emitted, "no file event after the flood")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        fx.cleanup()


run_test(test)
