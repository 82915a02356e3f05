"""Helpers for vigil's end-to-end tests: a whole vigil tree under real s6 in a private
temporary directory (scan dir, run dir, logs, export file), its control sockets, and
its JSON export. Tests exit 0 on pass, 77 on a skip (with a reason), else fail."""
import base64
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import msgpack
import zmq

# A SIGTERM (the runner's timeout) becomes SystemExit, so every finally block runs and
# stops the test's s6 trees, mounts and cgroups instead of leaving them behind.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

ROOT = os.environ.get("VIGIL_ROOT") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
STAGES = ["collector", "enricher", "evaluator", "exporter", "enforcer"]


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def skip(why):
    print(f"skip: {why}", flush=True)
    sys.exit(77)


def need_root():
    if os.geteuid() != 0:
        skip("needs root (BPF, s6, cgroups)")


def wait_for(pred, timeout=5.0, interval=0.02, what="condition"):
    """Poll pred() until it returns something truthy; return it, or fail."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def bpf_prog_ids(prefix="vigil_"):
    """IDs of loaded BPF programs whose name starts with prefix."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    try:
        return {p["id"] for p in json.loads(out or b"[]") if p.get("name", "").startswith(prefix)}
    except ValueError:
        return set()


def prog_ids_held(pid):
    """IDs of the BPF programs a process holds (its program and link fds), from
    /proc/PID/fdinfo: bpftool here does not report owner pids."""
    ids = set()
    d = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(d)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            pass
    return ids


def decode_exec_id(e):
    return base64.b64decode(e).decode()


def exec_id(node, ktime, pid):
    """The exec_id vigil computes (docs/wire.md §4.4)."""
    return base64.b64encode(f"{node}:{ktime}:{pid}".encode()).decode()


def unique_tag(prefix="vigil-e2e"):
    return f"{prefix}-{uuid.uuid4().hex}"


def envelope(type_, ev, src="test", seq=1, v=1, **extra):
    """One packed wire message {v, type, src, seq, ev} (docs/wire.md §3)."""
    m = {"v": v, "type": type_, "src": src, "seq": seq, "ev": ev}
    m.update(extra)
    return msgpack.packb(m, use_bin_type=True)


def run_tagged(tag, binary="/bin/true"):
    """Run binary with one unique argument and wait for it; returns its pid."""
    p = subprocess.Popen([binary, tag], stdout=subprocess.DEVNULL)
    p.wait()
    return p.pid


class Workload:
    """A background shell running /bin/true PREFIX-N every interval seconds, in its own
    session so stop() ends the loop and whatever it runs (by process group id)."""

    def __init__(self, prefix, interval=0.02):
        self.prefix = prefix
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f'i=0; while :; do /bin/true "{prefix}-$i"; i=$((i+1)); '
                              f'sleep {interval}; done'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def ctl_status(endpoint, timeout=2.0, ctx=None):
    """A stage's status map from its control socket (e.g. ipc://RUNDIR/NAME.ctl), or None
    when no answer came within timeout."""
    s = (ctx or zmq.Context.instance()).socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
    s.connect(endpoint)
    try:
        s.send(msgpack.packb({"v": 1, "cmd": "status"}))
        return msgpack.unpackb(s.recv(), raw=False)
    except zmq.error.Again:
        return None
    finally:
        s.close()


class Tree:
    """A vigil tree under s6. env: extra VIGIL_* settings (e.g. VIGIL_EVALUATOR_OPTS)."""

    def __init__(self, stages=STAGES, env=None, node_name="vigil-test"):
        self.base = tempfile.mkdtemp(prefix="vigil-test-", dir="/tmp")
        os.chmod(self.base, 0o700)
        self.scandir = os.path.join(self.base, "service")
        self.rundir = os.path.join(self.base, "run")
        self.logdir = os.path.join(self.base, "log")
        self.export = os.path.join(self.base, "events.json")
        self.stages = list(stages)
        self.node_name = node_name
        self.env = dict(os.environ)
        self.env.update({
            "VIGIL_BIN": os.path.join(ROOT, "build"),
            "VIGIL_RUNDIR": self.rundir,
            "VIGIL_LOGDIR": self.logdir,
            "VIGIL_CONFDIR": os.path.join(self.base, "etc"),
            "VIGIL_STAGES": " ".join(self.stages),
            "VIGIL_EXPORTER_OPTS": f"--export-file {self.export}",
            "VIGIL_ENRICHER_OPTS": f"--node-name {node_name}",
        })
        self.env.update(env or {})
        self.svscan = None
        self.zctx = zmq.Context()
        self.prog_ids = set()  # every program any collector of this tree held

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout=20, wait=None):
        """Lay out and start the tree; wait until the stages in wait (default: all of
        them) are up and ready."""
        subprocess.run(["sh", os.path.join(ROOT, "supervise/prepare")], check=True)
        subprocess.run(["sh", os.path.join(ROOT, "supervise/layout"), self.scandir],
                       env=self.env, check=True)
        self.svscan = subprocess.Popen(["s6-svscan", self.scandir], env=self.env,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        for s in (self.stages if wait is None else wait):
            self.wait_ready(s, timeout)
        if "collector" in (self.stages if wait is None else wait):
            self.collector_prog_ids()
        return self

    def add_stage(self, stage, timeout=20, wait=True):
        """Add a stage's service to the running tree (copy it into the scan directory,
        then make s6-svscan rescan); wait until it is ready unless wait is False."""
        dst = os.path.join(self.scandir, stage)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, "supervise", stage), dst, symlinks=True)
        subprocess.run(["s6-svscanctl", "-a", self.scandir], check=True)
        self.stages.append(stage)
        if wait:
            self.wait_ready(stage, timeout)

    def svc(self, stage, *flags):
        """s6-svc FLAGS on a stage's service directory, e.g. svc("exporter", "-d")."""
        subprocess.run(["s6-svc", *flags, os.path.join(self.scandir, stage)], check=True)

    def svwait(self, stage, flag, timeout=10):
        """s6-svwait FLAG (-u, -U, -d, -D) on a stage; fail on timeout."""
        r = subprocess.run(["s6-svwait", flag, "-t", str(int(timeout * 1000)),
                            os.path.join(self.scandir, stage)])
        if r.returncode != 0:
            raise TestFailure(f"s6-svwait {flag} {stage} timed out:\n" + self.svstat(stage))

    def kill9(self, stage, timeout=10):
        """SIGKILL a stage's process; wait until s6 has restarted it and it is ready.
        Returns (old pid, new pid)."""
        old = self.pid(stage)
        check(old, f"{stage} has no pid: {self.svstat(stage)}")
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: (lambda p: p if p and p != old else None)(self.pid(stage)),
                       timeout, what=f"s6 to restart {stage}")
        self.wait_ready(stage, timeout)
        return old, new

    def wait_ready(self, stage, timeout=20):
        d = os.path.join(self.scandir, stage)
        # s6-svwait reads supervise/status, which s6-supervise writes after it creates
        # supervise/control: wait for both.
        wait_for(lambda: all(os.path.exists(os.path.join(d, "supervise", f))
                             for f in ("control", "status")),
                 timeout, what=f"s6-supervise of {stage}")
        r = subprocess.run(["s6-svwait", "-U", "-t", str(int(timeout * 1000)), d])
        if r.returncode != 0:
            raise TestFailure(f"{stage} did not become ready:\n" + self.log(stage))

    def svstat(self, stage):
        return subprocess.run(["s6-svstat", os.path.join(self.scandir, stage)],
                              stdout=subprocess.PIPE, text=True).stdout.strip()

    def pid(self, stage):
        out = subprocess.run(["s6-svstat", "-p", os.path.join(self.scandir, stage)],
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        return int(out) if out.lstrip("-").isdigit() and int(out) > 0 else None

    def stop(self):
        if self.svscan and self.svscan.poll() is None:
            subprocess.run(["s6-svscanctl", "-t", self.scandir], stderr=subprocess.DEVNULL)
            try:
                self.svscan.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.svscan.pid, signal.SIGKILL)
                self.svscan.wait()
            # The kernel frees a program shortly after its last fd is closed, not at
            # the owner's exit: give it a moment so leaked_progs() sees real leaks only.
            end = time.monotonic() + 3
            while self.leaked_progs() and time.monotonic() < end:
                time.sleep(0.02)
        self.zctx.destroy(linger=0)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def collector_prog_ids(self):
        """The running collector's program ids (its status), remembered for leaked_progs."""
        st = self.status("collector") or {}
        ids = {int(x) for x in st.get("info", {}).get("prog_ids", "").split()}
        self.prog_ids |= ids
        return ids

    def leaked_progs(self):
        """Programs loaded by this tree's collectors that are still loaded; other vigil
        instances running on the machine at the same time do not count."""
        if self.svscan and self.svscan.poll() is None and "collector" in self.stages:
            self.collector_prog_ids()
        return self.prog_ids & bpf_prog_ids()

    # -- looking at it -----------------------------------------------------
    def log(self, stage):
        try:
            with open(os.path.join(self.logdir, stage, "current"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return f"(no log for {stage})"

    def endpoint(self, name, suffix):
        return f"ipc://{self.rundir}/{name}.{suffix}"

    def status(self, stage, timeout=2.0):
        return ctl_status(self.endpoint(stage, "ctl"), timeout, self.zctx)

    def counter(self, stage, name):
        st = self.status(stage)
        return (st or {}).get("counters", {}).get(name, 0)

    def counters(self, stage):
        """Every counter of a stage; fails if its control socket does not answer."""
        st = self.status(stage)
        check(st is not None, f"{stage} does not answer on its control socket")
        return st.get("counters", {})

    def ctl_raw(self, stage, frames, timeout=2.0):
        """Send raw frames (bytes, or a list for a multipart request) to a stage's
        control socket; return the unpacked reply, or None if none came."""
        s = self.zctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        s.connect(self.endpoint(stage, "ctl"))
        try:
            if isinstance(frames, (list, tuple)):
                s.send_multipart(frames)
            else:
                s.send(frames)
            return msgpack.unpackb(s.recv(), raw=False)
        except zmq.error.Again:
            return None
        finally:
            s.close()

    def push(self, endpoint, bind=False, timeout=5.0):
        """A PUSH socket bound or connected to endpoint (a name like "exporter.in" is
        taken relative to the run directory). Sends give up after timeout."""
        if "://" not in endpoint:
            endpoint = f"ipc://{self.rundir}/{endpoint}"
        s = self.zctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
        (s.bind if bind else s.connect)(endpoint)
        return s

    def _export_files(self):
        """(path, inode) of the rotated files (export.N ... export.1) and the live one."""
        out = []
        n = 1
        while True:
            try:
                out.insert(0, (f"{self.export}.{n}", os.stat(f"{self.export}.{n}").st_ino))
            except FileNotFoundError:
                break
            n += 1
        try:
            out.append((self.export, os.stat(self.export).st_ino))
        except FileNotFoundError:
            pass
        return out

    def events(self):
        """Every exported line, parsed, oldest first: the rotated files and then the live
        one (a busy machine can rotate mid-test). A rotation while reading is detected
        by the files' inodes, and the read is done again."""
        for _ in range(20):
            before = self._export_files()
            out = []
            for path, _ino in before:
                try:
                    with open(path, "rb") as f:
                        for n, line in enumerate(f, 1):
                            if not line.endswith(b"\n"):
                                break  # being written: not a line yet
                            try:
                                out.append(json.loads(line))
                            except ValueError:
                                raise TestFailure(
                                    f"{path} line {n} is not JSON: {line[:300]!r}")
                except FileNotFoundError:
                    pass
            if self._export_files()[:len(before)] == before:
                return out
        return out

    def find(self, kind, pred, timeout=2.0):
        """Wait until an exported event of kind (e.g. process_exec) satisfies pred."""
        def look():
            for e in self.events():
                if kind in e and pred(e[kind]):
                    return e
            return None
        return wait_for(look, timeout, what=f"a matching {kind} in the export")


def run_test(fn):
    """Run fn(); print the outcome; exit 0/1 (77 from skip())."""
    try:
        fn()
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    print("ok", flush=True)
    sys.exit(0)


class LoopbackServer:
    """A TCP listener on 127.0.0.1 and 127.0.0.2 with one port, for tests that connect
    to either (a rule denies one, the other stays allowed): nothing listens beyond the
    loopback addresses."""

    def __init__(self, backlog=64):
        for _ in range(50):
            a, b = socket.socket(), socket.socket()
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            a.bind(("127.0.0.1", 0))
            self.port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.2", self.port))
            except OSError:  # taken on 127.0.0.2: another port
                a.close()
                b.close()
                continue
            a.listen(backlog)
            b.listen(backlog)
            self.socks = [a, b]
            return
        raise TestFailure("no port free on both 127.0.0.1 and 127.0.0.2")

    def getsockname(self):
        return ("127.0.0.1", self.port)

    def settimeout(self, t):
        self.timeout = t

    def accept(self):
        """The next connection on either address; socket.timeout after settimeout()."""
        r, _, _ = select.select(self.socks, [], [], getattr(self, "timeout", None))
        if not r:
            raise socket.timeout("accept timed out")
        return r[0].accept()

    def close(self):
        for s in self.socks:
            s.close()

