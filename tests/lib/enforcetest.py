"""Helpers for the enforcer's tests: one vigil-enforcer on a private run directory and a
private bpffs pin directory, a PULL bound where the enricher would be (to read its
reports), policy_set / verdict messages, status, and clean-up that leaves no pins."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import msgpack
import zmq

from vigiltest import ROOT, TestFailure, check, envelope, wait_for

ENFORCER = os.path.join(ROOT, "build", "vigil-enforcer")


class Enforcer:
    """vigil-enforcer in the foreground of this test, with its own run and pin dirs."""

    def __init__(self, pin_dir=None, extra=()):
        self.base = tempfile.mkdtemp(prefix="vigil-enf-", dir="/tmp")
        os.chmod(self.base, 0o700)
        self.rundir = os.path.join(self.base, "run")
        os.mkdir(self.rundir, 0o700)
        self.pin_dir = pin_dir or f"/sys/fs/bpf/vigil-test-{uuid.uuid4().hex[:12]}"
        self.extra = list(extra)
        self.ctx = zmq.Context()
        self.reports = self.ctx.socket(zmq.PULL)
        self.reports.setsockopt(zmq.LINGER, 0)
        self.reports.bind(f"ipc://{self.rundir}/enricher.in")
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.setsockopt(zmq.SNDTIMEO, 5000)
        self.push.connect(f"ipc://{self.rundir}/enforcer.in")
        self.seq = 0
        self.proc = None
        self.logf = os.path.join(self.base, "enforcer.log")
        self.got = []

    def start(self, timeout=30):
        """Start the enforcer and wait until it is ready (readiness on fd 3)."""
        r, w = os.pipe()
        log = open(self.logf, "ab")
        self.proc = subprocess.Popen(
            [ENFORCER, "--rundir", self.rundir, "--notify-fd", str(w), "--pin-dir", self.pin_dir,
             *self.extra],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, pass_fds=(w,))
        os.close(w)
        log.close()
        end = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            if self.proc.poll() is not None or time.monotonic() > end:
                os.close(r)
                raise TestFailure("enforcer did not become ready:\n" + self.log())
            import select
            if select.select([r], [], [], 0.1)[0]:
                chunk = os.read(r, 64)
                if not chunk:
                    os.close(r)
                    raise TestFailure("enforcer closed its readiness fd:\n" + self.log())
                buf += chunk
        os.close(r)
        return self

    def log(self):
        try:
            with open(self.logf, errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return "(no log)"

    def send(self, type_, ev):
        self.seq += 1
        self.push.send(envelope(type_, ev, src="enftest", seq=self.seq))

    def status(self, timeout=3.0):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        s.connect(f"ipc://{self.rundir}/enforcer.ctl")
        try:
            s.send(msgpack.packb({"v": 1, "cmd": "status"}))
            return msgpack.unpackb(s.recv(), raw=False)
        except zmq.error.Again:
            raise TestFailure("enforcer does not answer on its control socket:\n" + self.log())
        finally:
            s.close()

    def counter(self, name):
        return self.status()["counters"].get(name, 0)

    def info(self, key):
        return self.status()["info"].get(key)

    def policy_set(self, gen, policies, mode="enforce", wait=True):
        """Send a policy_set; wait until the enforcer installed it (counter moved)."""
        before = self.counter("policy_set.installed")
        self.send("policy_set", {"generation": gen, "mode": mode, "policies": policies})
        if wait:
            wait_for(lambda: self.counter("policy_set.installed") > before, 5,
                     what=f"policy_set {gen} installed:\n{self.log()}")

    def wait_report(self, pred, timeout=3.0):
        """A report (decoded envelope) satisfying pred(type, ev)."""
        for m in self.got:
            if pred(m["type"], m["ev"]):
                return m
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.reports.poll(50):
                m = msgpack.unpackb(self.reports.recv(), raw=False)
                self.got.append(m)
                if pred(m["type"], m["ev"]):
                    return m
        raise TestFailure(f"no matching report in {timeout}s; got {self.got[-5:]}")

    def stop(self, sig=signal.SIGTERM):
        """Stop the enforcer with sig (SIGKILL simulates a crash: pins stay)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        self.ctx.destroy(linger=0)
        remove_pins(self.pin_dir)
        shutil.rmtree(self.base, ignore_errors=True)


def remove_pins(d):
    """Remove a pin directory and what is pinned in it (detaches pinned links)."""
    if os.path.isdir(d):
        for f in os.listdir(d):
            try:
                os.unlink(os.path.join(d, f))
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass


def start_ktime(pid, timeout=20):
    """The process's start time as the kernel keeps it (task->group_leader->start_time,
    monotonic ns), read by bpftrace at the process's next syscall."""
    prog = ("tracepoint:raw_syscalls:sys_enter /pid == %d/ { printf(\"ST %%llu\\n\", "
            "curtask->group_leader->start_time); exit(); }" % pid)
    out = subprocess.run(["bpftrace", "-e", prog], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("ST "):
            return int(line.split()[1])
    raise TestFailure(f"bpftrace gave no start time: {out.stdout} {out.stderr}")


def cgroup_id(path):
    return os.stat(path).st_ino
