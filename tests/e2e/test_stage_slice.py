"""e2e: every stage's threads ask the scheduler for a 100 µs slice (--sched-slice-us,
lib/stage.c: EEVDF custom slices, Linux 6.12+), so that a woken stage runs soon rather
than after the workload process that made the event. Under s6, every thread of the
collector, enricher, evaluator and exporter (the ZeroMQ I/O threads, gRPC's) reports
sched_runtime 100000 ns through sched_getattr(2), and each stage's status says
sched_slice_us 100. A stage started with --sched-slice-us 0 keeps the kernel's slice and
says so; 50, 200000 and "x" are refused (exit 100, naming the option)."""
import ctypes
import os
import platform
import shutil
import struct
import subprocess
import tempfile

from vigiltest import ROOT, Tree, check, ctl_status, need_root, run_test, wait_for

STAGES = ["collector", "enricher", "evaluator", "exporter"]
libc = ctypes.CDLL(None, use_errno=True)
SYS_SCHED_GETATTR = 315  # x86_64


def runtime(tid):
    """sched_runtime of thread tid, ns (sched_getattr(2); for SCHED_OTHER the slice)."""
    buf = ctypes.create_string_buffer(56)
    if libc.syscall(SYS_SCHED_GETATTR, tid, buf, 56, 0) != 0:
        return None
    return struct.unpack_from("IIQiIQ", buf.raw)[5]


def custom_slices():
    """Linux 6.12 or later: fair tasks can ask for a slice of their own."""
    v = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    return v >= (6, 12)


def test():
    need_root()
    t = Tree(stages=STAGES)
    try:
        t.start()
        for st in STAGES:
            info = t.status(st)["info"]
            pid = t.pid(st)
            tids = [int(x) for x in os.listdir(f"/proc/{pid}/task")]
            if not custom_slices():
                check(info.get("sched_slice_us") == "not set: this kernel has no custom slices",
                      f"{st}: sched_slice_us {info.get('sched_slice_us')!r} on "
                      f"{platform.release()}")
                continue
            check(info.get("sched_slice_us") == "100", f"{st}: status {info.get('sched_slice_us')!r}")
            got = {tid: runtime(tid) for tid in tids}
            check(len(tids) >= 2 and all(v == 100000 for v in got.values()),
                  f"{st}: sched_runtime of its {len(tids)} threads {got} (want 100000 each, "
                  "the ZeroMQ I/O thread's too)")
    finally:
        t.cleanup()
    # --sched-slice-us 0: the kernel's slice, and said so; bad values refused
    d = tempfile.mkdtemp(prefix="vigil-slice-")
    binary = os.path.join(ROOT, "build/vigil-evaluator")
    p = subprocess.Popen([binary, "--rundir", d, "--sched-slice-us", "0"],
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(f"{d}/evaluator.ctl"), 5, what="evaluator up")
        info = wait_for(lambda: ctl_status(f"ipc://{d}/evaluator.ctl"), 5, what="status")["info"]
        check(info.get("sched_slice_us") == "the kernel's (--sched-slice-us 0)",
              f"--sched-slice-us 0: status {info.get('sched_slice_us')!r}")
        if custom_slices():
            check(runtime(p.pid) != 100000, f"--sched-slice-us 0: runtime {runtime(p.pid)}")
        for bad in ("50", "200000", "x"):
            r = subprocess.run([binary, "--rundir", d, "--name", "bad", "--sched-slice-us", bad],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=20)
            check(r.returncode == 100 and "--sched-slice-us" in r.stdout,
                  f"--sched-slice-us {bad}: exit {r.returncode}: {r.stdout[-300:]}")
    finally:
        p.terminate()
        p.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
