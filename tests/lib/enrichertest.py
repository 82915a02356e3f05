"""Helpers for the enricher's stage tests: one vigil-enricher binary on private ipc://
endpoints in a temporary run directory; the test binds the collector side (PUSH), reads
the output (PULL) and asks the control socket for counters."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import msgpack
import zmq

from vigiltest import ROOT, TestFailure, check, ctl_status, wait_for

NODE = "enr-test"


class Enricher:
    def __init__(self, *args, node=NODE, env=None):
        self.base = tempfile.mkdtemp(prefix="vigil-enr-", dir="/tmp")
        self.rundir = os.path.join(self.base, "run")
        os.makedirs(self.rundir, mode=0o700)
        self.args = list(args)
        self.node = node
        self.env = dict(os.environ, **(env or {}))
        self.ctx = zmq.Context()
        self.seq = 0
        self.proc = None
        self.logf = open(os.path.join(self.base, "log"), "w+")

    def ep(self, name):
        return f"ipc://{self.rundir}/{name}"

    def start(self):
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.bind(self.ep("collector.out"))
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "build/vigil-enricher"), "--rundir", self.rundir,
             "--node-name", self.node, *self.args],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        self.pull = self.ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.connect(self.ep("enricher.out"))
        wait_for(lambda: self.status() is not None or self.proc.poll() is not None, 10,
                 what="enricher control socket")
        check(self.proc.poll() is None, "enricher died at start:\n" + self.log())
        return self

    def log(self):
        self.logf.flush()
        self.logf.seek(0)
        return self.logf.read()[-4000:]

    def send(self, type_, ev):
        self.seq += 1
        self.push.send(msgpack.packb({"v": 1, "type": type_, "src": "collector",
                                      "seq": self.seq, "ev": ev}, use_bin_type=True))

    def recv(self, timeout=2.0):
        """The next output envelope's (type, ev), or fail."""
        if not self.pull.poll(int(timeout * 1000)):
            raise TestFailure("no output from the enricher within %.1fs\n%s" %
                              (timeout, self.log()))
        m = msgpack.unpackb(self.pull.recv(), raw=False)
        return m["type"], m["ev"]

    def nothing(self, timeout=0.2):
        return not self.pull.poll(int(timeout * 1000))

    def status(self, timeout=1.0):
        return ctl_status(self.ep("enricher.ctl"), timeout, self.ctx)

    def counters(self):
        st = self.status()
        check(st is not None, "enricher does not answer its control socket")
        return st["counters"]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.ctx.destroy(linger=0)
        self.logf.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


T0 = 1_700_000_000_000_000_000  # wall ns at ktime 0, for synthetic events


def exec_ev(pid, ktime, ppid, pktime, binary, args=(), start=None, tid=None, cgroup_id=0,
            cwd="/"):
    return {"time": T0 + ktime, "ktime": ktime, "pid": pid, "tid": tid or pid, "ppid": ppid,
            "pktime": pktime, "start_ktime": start if start is not None else ktime,
            "uid": 0, "euid": 0, "gid": 0, "egid": 0, "auid": 1000, "binary": binary,
            "args": list(args), "cwd": cwd, "flags": ["execve"], "cgroup_id": cgroup_id}


def clone_ev(pid, ktime, ppid, pktime):
    return {"time": T0 + ktime, "ktime": ktime, "pid": pid, "ppid": ppid,
            "start_ktime": ktime, "pktime": pktime}


def exit_ev(pid, ktime, status=0, **kw):
    d = {"time": T0 + ktime, "ktime": ktime, "pid": pid, "tid": pid, "status": status}
    d.update(kw)
    return d


def kprobe_ev(pid, ktime, fn="security_file_open", **kw):
    d = {"time": T0 + ktime, "ktime": ktime, "pid": pid, "tid": pid,
         "function_name": fn, "args": [{"int_arg": 1}], "policy_name": "p"}
    d.update(kw)
    return d


# ---- Kubernetes: kubelet-layout cgroups with real processes, and a tree pointed at the
# test API server (tests/k8s/apiserver.py) ----

CG_V2 = "/sys/fs/cgroup/unified"


def hexid():
    """A 64-hex container id."""
    import uuid
    return uuid.uuid4().hex + uuid.uuid4().hex


class KubeCgroups:
    """kubepods/besteffort/pod<uid>/<id> directories under the cgroup2 mount; clean()
    removes the ones it made (deepest first) once their processes are gone."""

    def __init__(self, root=CG_V2):
        self.root = root
        self.made = []

    def available(self):
        return os.path.exists(os.path.join(self.root, "cgroup.procs"))

    def make(self, uid, cid, qos="besteffort"):
        path = self.root
        for part in ("kubepods", qos, f"pod{uid}", cid):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.made.append(path)
        return path

    def clean(self):
        for d in reversed(self.made):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.made = []


class CgShell:
    """A real, long-running shell inside a cgroup: it moves itself in, then execs
    `/bin/true TAG` (a fork + exec in the cgroup) for every tag written to it."""

    def __init__(self, cgpath):
        self.p = subprocess.Popen(
            ["/bin/sh", "-c", f"echo $$ > {cgpath}/cgroup.procs && echo in && "
             "while read t; do /bin/true \"$t\"; echo done; done"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        check(self.p.stdout.readline().strip() == "in", f"cannot enter {cgpath}")

    def run(self, tag):
        self.p.stdin.write(tag + "\n")
        self.p.stdin.flush()
        check(self.p.stdout.readline().strip() == "done", "shell in cgroup died")

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def k8s_tree_env(srv, *opts, env=None):
    """Tree env that points the enricher at the test API server."""
    e = {"VIGIL_ENRICHER_OPTS": " ".join(
        ["--node-name", NODE, "--k8s-url", srv.url, "--k8s-token-file", srv.token_file,
         "--k8s-ca", srv.ca, *opts])}
    e.update(env or {})
    return e


def exec_of(tree, tag, timeout=5.0):
    """The exported process_exec's process of `/bin/true TAG`."""
    ev = tree.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout)
    return ev["process_exec"]["process"]
