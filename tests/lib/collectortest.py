"""Helpers for the collector's e2e tests: an incremental reader of a tree's JSON export
that parses only the lines of the processes a test watches (the machine may be busy
with other engineers' floods, and re-parsing the whole export on every poll is slow)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from vigiltest import TestFailure, Tree


CG_ROOT = "/sys/fs/cgroup/unified"

# A process that joins cgroup argv[1] on a line on stdin, then opens argv[2] argv[3]
# times as fast as it can: the flood tests' load, alone in its cgroup so the
# collector's cgroup filter can keep the machine's other activity out.
FLOODER = r"""
import os, sys
cg, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdin.readline()                       # wait for the go
with open(os.path.join(cg, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
for _ in range(n):
    os.close(os.open(path, os.O_RDONLY))
os._exit(0)
"""


def counters(t):
    """The collector's counters now ({} when it does not answer)."""
    return (t.status("collector") or {}).get("counters", {})


class FloodSetup:
    """A flood test's fixture: a temp dir with the file to open, a cgroup of its own
    under CG_ROOT, and a tree (collector to exporter) whose collector sends process and
    file events of that cgroup only, through a 1 MiB file ring, with no start-up scan
    and an export that never rotates. start() the flooder; cleanup() undoes it all."""

    def __init__(self, prefix):
        if not os.path.exists(os.path.join(CG_ROOT, "cgroup.procs")):
            from vigiltest import skip
            skip(f"no cgroup v2 hierarchy at {CG_ROOT}")
        self.base = tempfile.mkdtemp(prefix=prefix)
        self.target = os.path.join(self.base, "floodfile")
        open(self.target, "w").close()
        self.cg = os.path.join(CG_ROOT, os.path.basename(self.base))
        os.mkdir(self.cg)
        self.flooder = None
        self.tree = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
                         env={"VIGIL_COLLECTOR_OPTS": "--events process,file --ringbuf-mb 1 "
                                                      f"--cgroups {self.cg} --scan 0"})
        self.tree.env["VIGIL_EXPORTER_OPTS"] += " --export-file-max-size-mb 0"

    def start(self, n):
        """The flooder, waiting for a line on its stdin to join the cgroup and open the
        file n times."""
        self.flooder = subprocess.Popen([sys.executable, "-c", FLOODER, self.cg,
                                         self.target, str(n)], stdin=subprocess.PIPE)
        return self.flooder

    def cleanup(self):
        if self.flooder and self.flooder.poll() is None:
            self.flooder.kill()
            self.flooder.wait()
        self.tree.cleanup()
        for _ in range(50):
            try:
                os.rmdir(self.cg)
                break
            except OSError:
                time.sleep(0.1)
        os.unlink(self.target)
        os.rmdir(self.base)


class Export:
    """Reads t.export incrementally; keeps the parsed events of the watched pids."""

    def __init__(self, tree):
        self.tree = tree
        self.path = tree.export
        self.off = 0
        self.ino = None
        self.events = []
        self.pids = set()

    def watch(self, *pids):
        self.pids.update(pids)

    def _poll(self):
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_ino != self.ino or st.st_size < self.off:
                    # rotated by the exporter (a busy machine fills it fast): the
                    # rotated file's tail was already read up to self.off
                    self.ino, self.off = st.st_ino, 0
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.off += end + 1
        pat = re.compile(rb'"pid":(\d+)')
        for line in data[:end].split(b"\n"):
            m = pat.search(line)   # the first pid is the acting process's
            if not m or int(m.group(1)) not in self.pids:
                continue
            try:
                self.events.append(json.loads(line))
            except ValueError:
                raise TestFailure(f"export line is not JSON: {line[:300]!r}")

    def find(self, kind, pred, timeout=15.0, what=None):
        """The first watched event of kind (process_exec, process_kprobe) with pred(body)."""
        end = time.monotonic() + timeout
        while True:
            self._poll()
            for e in self.events:
                if kind in e and pred(e[kind]):
                    return e[kind]
            if time.monotonic() > end:
                c = self.tree.status("collector") or {}
                lost = c.get("counters", {}).get("ringbuf_lost")
                raise TestFailure(f"timed out after {timeout}s waiting for {what or kind} "
                                  f"(collector ringbuf_lost={lost})")
            time.sleep(0.05)

    def kprobe(self, fn, pid, pred=lambda e: True, timeout=15.0):
        """The first process_kprobe of pid with function_name fn and pred."""
        self.watch(pid)
        return self.find("process_kprobe", lambda e: e.get("function_name") == fn
                         and e["process"]["pid"] == pid and pred(e), timeout,
                         what=f"{fn} of pid {pid}")


def export_opens(t, path):
    """The exported security_file_open bodies of path, of any process (a subshell's pid
    is not known beforehand), policy verdicts left out: from the whole export file."""
    got = []
    try:
        with open(t.export) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return got
    for line in lines:
        if path not in line:
            continue
        e = json.loads(line).get("process_kprobe", {})
        if e.get("function_name") == "security_file_open" and "policy_name" not in e and \
                arg(e, "file_arg")["path"] == path:
            got.append(e)
    return got


def arg(e, key, label=None):
    """The value of the first argument of kprobe body e with key (and label)."""
    for a in e["args"]:
        if key in a and (label is None or a.get("label") == label):
            return a[key]
    return None
