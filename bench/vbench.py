"""Helpers for vigil's benchmark (bench/run.py) and soak (bench/soak.py): the workload
generator (build/bench/gen), the tap latency reader (build/bench/tapstat), per-stage CPU
and RSS from /proc, counter deltas, and exact counting of a run's markers in the JSON
export. Whatever event kinds the running collector produces are measured; a kind it does
not produce is reported as "not captured", never as loss."""
import atexit
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from vigiltest import (ROOT, STAGES, TestFailure, Tree, bpf_prog_ids,  # noqa: E402,F401
                       ctl_status, envelope, wait_for)

GEN = os.path.join(ROOT, "build/bench/gen")
TAPSTAT = os.path.join(ROOT, "build/bench/tapstat")
HZ = os.sysconf("SC_CLK_TCK")
KINDS = ["exec", "open", "connect"]
# Microservice-like: mostly file opens, a fifth connects, a few execs (by operations).
MIX = "exec=1,open=79,connect=20"
# The series of the low-latency mode with every stage on one CPU (bench/run.py, report.py).
LOWLAT_ONE = "mix 1000/s low-latency, one CPU"


def one_cpu():
    """{the CPU} the one-CPU measures use: the highest the bench may run on (the series
    pins the stages there, zmq_hop's one-CPU shape its chain)."""
    return {max(os.sched_getaffinity(0))}
GEN_ONE_WORKER = 20000  # ev/s one generator process reaches with vigil on, with room


def ports(g):
    """The generator's listener ports (one per worker) from its summary."""
    return g.get("ports") or ([g["port"]] if g.get("port") else [])


def port_marks(port):
    """The "dport" byte strings of a port or a list of ports, for matching export lines."""
    ps = port if isinstance(port, (list, tuple)) else ([port] if port else [])
    return tuple(f'"dport":{p}'.encode() for p in ps)


def run_id():
    return "b" + uuid.uuid4().hex[:10]


def cpu_s(pid):
    """utime+stime of a process (all its threads), seconds; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / HZ
    except (OSError, IndexError, ValueError):
        return None


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def resident_pages(pid):
    """Physical frames a process has resident (from /proc/PID/pagemap, root only): a set,
    so pages shared by several processes (libraries, a ring buffer mapped twice) can be
    counted once for a group. None if unreadable."""
    frames = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
            for line in maps:
                if "[vsyscall]" in line:
                    continue
                a, b = (int(x, 16) for x in line.split()[0].split("-"))
                pm.seek((a // 4096) * 8)
                for (v,) in struct.iter_unpack("<Q", pm.read((b - a) // 4096 * 8)):
                    if v >> 63:  # present in RAM
                        frames.add(v & ((1 << 55) - 1))
    except (OSError, ValueError):
        return None
    return frames


def group_rss_mb(pids):
    """Memory the processes hold together: every resident physical page counted once
    (summing RSS counts libc, libzmq... once per stage, and the ring buffer twice)."""
    frames = set()
    for p in pids:
        f = resident_pages(p) if p else None
        if f is None:
            return None
        frames |= f
    return len(frames) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


_gen_dirs = []


def _remove_gen_dirs():
    """The generators' open targets, after the last window (the tree is down by then)."""
    for d in _gen_dirs:
        shutil.rmtree(d, ignore_errors=True)


def gen(run, rate, duration=None, count=None, mix=MIX, burst=None, log=None, popen=False,
        workers=None):
    """Run the generator; returns its JSON summary (or the Popen when popen). Above
    GEN_ONE_WORKER ev/s two worker processes share the rate (gen.c, --workers): one alone
    waits out every exec's child and cannot reach 50k/s once vigil slows each operation."""
    if workers is None:
        workers = 2 if rate > GEN_ONE_WORKER or (burst and burst[0] * 1000 / burst[1] >
                                                  GEN_ONE_WORKER) else 1
    # the open targets stay until this process exits (gen.c, --keep-files): their
    # removal is an unlink event each, a burst inside the window otherwise
    cmd = [GEN, "--run", run, "--rate", str(rate), "--mix", mix, "--workers", str(workers),
           "--keep-files"]
    if not _gen_dirs:
        atexit.register(_remove_gen_dirs)
    _gen_dirs.append(f"/tmp/vigil-bench-{run}")
    if duration is not None:
        cmd += ["--duration", str(duration)]
    if count is not None:
        cmd += ["--count", str(count)]
    if burst:
        cmd += ["--burst", str(burst[0]), "--burst-ms", str(burst[1])]
    if log:
        cmd += ["--log", log]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    if popen:
        return p
    out, _ = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"gen failed ({p.returncode}): {' '.join(cmd)}")
    return json.loads(out)


def expected(g, kinds):
    """Events the export should hold for a generator summary, per captured kind."""
    exp = {}
    for k in kinds:
        ok = g[k]["ops"] - g[k]["fail"]
        if k == "exec":
            exp["exec"] = ok
            exp["exit"] = ok
        else:
            exp[k] = ok
    return exp


def count_export(path, run, port, offset=0):
    """Count this run's events in the export from offset: exec/exit by the argument
    marker, open by the path prefix, connect by the listener port (or ports: one per
    generator worker). Exact, no sampling."""
    mark = f"vigil-bench-{run}-".encode()
    dirm = f"/tmp/vigil-bench-{run}/".encode()
    portm = port_marks(port)
    c = {"exec": 0, "exit": 0, "open": 0, "connect": 0, "lines": 0}
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return c
    with f:
        f.seek(offset)
        for line in f:
            c["lines"] += 1
            head = line[:24]
            if head.startswith(b'{"process_kprobe"'):
                if b"security_file_open" in line and dirm in line:
                    c["open"] += 1
                elif portm and b"tcp_connect" in line and any(m in line for m in portm):
                    c["connect"] += 1
            elif mark in line:
                if head.startswith(b'{"process_exec"'):
                    c["exec"] += 1
                elif head.startswith(b'{"process_exit"'):
                    c["exit"] += 1
    return c


class Tap:
    """build/bench/tapstat on a stage's tap, from now until stop()."""

    def __init__(self, tree, stage="exporter", samples=None):
        cmd = [TAPSTAT, "--endpoint", tree.endpoint(stage, "tap"),
               "--since", str(time.time_ns())]
        if samples:
            cmd += ["--samples", samples]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # the subscription reaches the XPUB asynchronously

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        out, _ = self.p.communicate(timeout=30)
        return json.loads(out)


class Vigil:
    """A benchmark view of a vigil Tree: pids, CPU, RSS and counters of every stage."""

    def __init__(self, tree):
        self.t = tree
        self.cpus = os.sched_getaffinity(0)  # the bench's own: every CPU it may use

    def pids(self):
        return {s: self.t.pid(s) for s in self.t.stages}

    def cpu(self):
        return {s: cpu_s(p) if p else None for s, p in self.pids().items()}

    def rss(self):
        return {s: rss_mb(p) if p else None for s, p in self.pids().items()}

    def threads(self):
        """[(stage, tid)] of every thread of every running stage, as of now."""
        return [(s, int(tid)) for s, p in self.pids().items() if p
                for tid in os.listdir(f"/proc/{p}/task")]

    def pin(self, cpus=None):
        """Every thread of every stage on cpus (a set), as VIGIL_CPUS does at start; None:
        back on every CPU the bench may use. Threads made later inherit their creator's.
        Returns the threads set."""
        n = 0
        for _, tid in self.threads():
            try:
                os.sched_setaffinity(tid, cpus or self.cpus)
                n += 1
            except OSError:
                pass  # a thread that ended meanwhile
        return n

    def group_rss(self):
        return group_rss_mb(list(self.pids().values()))

    def counters(self):
        out = {}
        for s in self.t.stages:
            st = self.t.status(s) or {}
            out[s] = st.get("counters", {})
        return out

    def losses(self, c0, c1):
        """Counted losses between two counter snapshots: kernel ring drops and the gaps
        each stage saw on its input."""
        def d(s, k):
            return c1.get(s, {}).get(k, 0) - c0.get(s, {}).get(k, 0)
        gaps = {s: d(s, "gap_total") for s in self.t.stages if s != "collector"}
        return {"ringbuf_lost": max(0, d("collector", "ringbuf_lost")), "gaps": gaps}

    def background(self, dur=2.0):
        """Events/s the exporter writes with no workload of ours: every tree on this machine
        sees every process's events, and other engineers' tests run here. drain() treats
        that trickle as idle."""
        a = self.t.counter("exporter", "exported")
        time.sleep(dur)
        self.bg = max(0.0, (self.t.counter("exporter", "exported") - a) / dur)
        return self.bg

    def drain(self, quiet=1.0, timeout=30.0):
        """Wait until the exporter has exported no more than the machine's background
        (background(), 2x + 20 events/s) for `quiet` seconds."""
        slack = (2 * getattr(self, "bg", 0.0) + 20) * quiet
        end = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < end:
            n = self.t.counter("exporter", "exported")
            if last is None or n - last > slack:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
            time.sleep(0.1)
        return False


# The stages with BPF programs on hot paths: stopped cleanly (which detaches them) for a
# baseline with nothing of vigil attached.
KERNEL_STAGES = ("collector", "enforcer")


def stages_down(t, stages=KERNEL_STAGES):
    """Stop those of stages the tree runs, through s6, and wait until they are down."""
    stages = [s for s in stages if s in t.stages]
    for s in stages:
        t.svc(s, "-d")
    for s in stages:
        t.svwait(s, "-D", timeout=20)


def stages_up(t, stages=KERNEL_STAGES):
    """Start those of stages the tree runs and wait until they are ready."""
    stages = [s for s in stages if s in t.stages]
    for s in stages:
        t.svc(s, "-u")
    for s in stages:
        t.wait_ready(s, 30)


def captured_kinds(tree):
    """Which workload kinds this build's collector turns into events: run a few of each
    and look in the export."""
    run = run_id()
    off = os.path.getsize(tree.export) if os.path.exists(tree.export) else 0
    g = gen(run, 0, count=30, mix="exec=1,open=1,connect=1")
    kinds = []
    end = time.monotonic() + 15  # a busy machine can put seconds of backlog ahead of us
    while time.monotonic() < end:
        c = count_export(tree.export, run, ports(g), off)
        kinds = [k for k in KINDS if c[k] > 0]
        if len(kinds) == 3:
            break
        time.sleep(0.25)
    return kinds


def truncate_export(tree):
    """The exporter appends (O_APPEND), so emptying the file between windows is safe and
    keeps long runs from filling the disk."""
    try:
        os.truncate(tree.export, 0)
    except OSError:
        pass
