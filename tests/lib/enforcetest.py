"""Helpers for the enforcer's tests: one vigil-enforcer on a private run directory and a
private bpffs pin directory, a PULL bound where the enricher would be (to read its
reports), policy_set / verdict messages, status, and clean-up that leaves no pins."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import msgpack
import zmq

from vigiltest import ROOT, TestFailure, check, ctl_status, envelope, wait_for

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
        st = ctl_status(f"ipc://{self.rundir}/enforcer.ctl", timeout, self.ctx)
        if st is None:
            raise TestFailure("enforcer does not answer on its control socket:\n" + self.log())
        return st

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


def deny_connect_policy(name, port, scope):
    """An enforcing Override policy (EPERM) on TCP connects to 127.0.0.2:port, in scope."""
    return {"name": name, "mode": "enforce", "action": "override", "errno": 1, "scope": scope,
            "rules": [{"kind": "connect", "cidrs": ["127.0.0.2/32"], "ports": [port]}]}


def try_connect(addr, port, family=socket.AF_INET):
    """connect() to addr:port: 0, or the errno it failed with."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((addr, port))
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


def try_sendto(addr, port):
    """One UDP datagram to addr:port: 0, or the errno sendto() failed with."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", (addr, port))
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


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


# ---- qemu: stock Debian kernels (tests/vm) ----

VM_CORE = ["load", "lsm_tier", "baseline", "install", "file_open_eacces", "file_open_other_ok",
           "exec_eperm", "exec_other_ok", "connect_eperm", "override_reports", "crash_child",
           "block_survives_crash", "adopt_after_crash", "install_monitor", "monitor_open_ok",
           "monitor_exec_ok", "monitor_connect_ok", "monitor_reports", "clean_stop_lifts",
           "hooks_install", "hooks_install_monitor",
           # lazy attachment: no LSM program before a rule needs it, exactly those after
           "lazy_idle", "lazy_attach", "lazy_adopt", "lazy_hooks",
           # the real vigil-enforcer (static) driven over ZeroMQ by vm_stage
           "stage_start", "stage_send", "stage_block", "stage_report", "stage_killed",
           "stage_block_survives_kill", "stage_unlink_survives_kill", "stage_adopted",
           "stage_clean_stop_lifts"]
# rule kind in the VM binary -> the LSM hook that carries it
VM_HOOKS = {"unlink": "path_unlink", "rename": "path_rename", "chmod": "path_chmod",
            "setuid": "task_fix_setuid", "module_load": "kernel_read_file",
            "mount": "sb_mount", "connect": "socket_connect", "read": "file_permission"}
VM_PER_HOOK = ["denied_errno", "allowed_ok", "override_report", "monitor_ok", "monitor_report"]


def support_table(name, row, header):
    """Keep this suite's row in build/vm/NAME.txt and print the table of every suite's
    row kept so far (the kernel support table of README.md)."""
    d = os.path.join(ROOT, "build", "vm")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".txt"), "w") as f:
        f.write(row + "\n")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    prefix = name.rsplit("-", 1)[0]
    for s in ("bullseye", "bookworm", "trixie"):
        fn = os.path.join(d, f"{prefix}-{s}.txt")
        if os.path.exists(fn):
            print(open(fn).read().strip())


def vm_run(suite, need_all_hooks):
    """Boot SUITE's cloud kernel with tests/vm/run-vm.sh and judge its console: the core
    checks pass; every hook that loaded passes its five checks; a hook that did not load
    leaves its policy disarmed (and fails the test when need_all_hooks). Writes this
    kernel's row of the support table to build/vm/support-SUITE.txt and prints the
    table of every kernel run so far."""
    from vigiltest import skip
    t0 = time.time()
    p = subprocess.run(["sh", os.path.join(ROOT, "tests/vm/run-vm.sh"), suite],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=400)
    out = p.stdout.decode("utf-8", "replace").replace("\r", "")
    if p.returncode == 77:
        skip(out.strip().splitlines()[-1] if out.strip() else "VM kernel unavailable")
    lines = out.splitlines()
    passed = {l.split()[1] for l in lines if l.startswith("PASS ")}
    failed = [l for l in lines if l.startswith("FAIL ")]
    kernel = next((l[l.index("VM-KERNEL"):] for l in lines if "VM-KERNEL" in l),
                  "VM-KERNEL ? ? ?")
    hooks_line = next((l for l in lines if l.startswith("VM-HOOKS")), "VM-HOOKS")
    loaded = set(hooks_line[len("VM-HOOKS"):].strip().split(",")) - {""}
    noloop = any(l.strip() == "VM-NOLOOP 1" for l in lines)
    tail = "\n".join(l for l in lines[-60:] if not l.startswith("report:"))
    want = list(VM_CORE)
    missing_hooks = []
    for kind, hook in VM_HOOKS.items():
        if hook in loaded:
            want += [f"{kind}_{c}" for c in VM_PER_HOOK]
        else:
            missing_hooks.append(hook)
            if kind not in ("connect", "read"):
                want.append(f"{kind}_disarmed_without_hook")
    missing = [w for w in want if w not in passed]
    ver = kernel.split()[3] if len(kernel.split()) > 3 else "?"
    row = (f"| {suite} | {ver} | {'bounded loops' if noloop else 'bpf_loop'} | "
           f"{len(loaded)}/11: {', '.join(sorted(loaded)) or '-'} | "
           f"{len(passed)} pass, {len(failed)} fail | {time.time() - t0:.0f} s |")
    support_table(f"support-{suite}", row,
                  "| suite | kernel | build | LSM hooks loaded | VM checks | boot+test |")
    check(not failed, "VM checks failed:\n" + "\n".join(failed) + "\n" + tail)
    check(not missing, f"VM checks missing: {missing}\n{tail}")
    check(not need_all_hooks or not missing_hooks, f"LSM hooks did not load: {missing_hooks}")
    check(any(l.startswith("VM-RESULT pass=") and l.endswith("fail=0") for l in lines),
          "no VM-RESULT line:\n" + tail)
    check(any(l.startswith("VM-STAGE-RESULT pass=") and l.endswith("fail=0") for l in lines),
          "no VM-STAGE-RESULT line:\n" + tail)


# ---- qemu: the whole pipeline (tests/vm/pipeline-init.sh) ----

VM_PIPE = (["base_open", "policy_in_force", "enforcer_killed", "enforcer_restarted",
            "monitor_in_force", "monitor_open_ok", "monitor_exec_ok", "monitor_exec_ran",
            "monitor_connect_ok"] +
           [f"up_{s}" for s in ("collector", "enricher", "evaluator", "exporter", "enforcer")] +
           [f"{phase}_{c}" for phase in ("enforce", "killed", "restarted")
            for c in ("open_eacces", "other_open_ok", "exec_denied", "exec_never_ran",
                      "other_exec_ok", "connect_denied", "other_connect_ok")] +
           [f"report_{op}_{how}" for op in ("open", "exec", "connect")
            for how in ("override", "monitor")])


def vm_pipeline_run(suite, known_down=()):
    """Boot SUITE's cloud kernel with the whole vigil tree under s6 in the initramfs
    (tests/vm/run-vm.sh SUITE pipeline) and judge the console: every check of VM_PIPE
    passes, none fails, VM-PIPE-RESULT says fail=0. known_down: stages that are known
    not to run on this kernel (their up_STAGE check may fail, and is printed as such;
    every enforcement check must still pass). Writes the kernel's row to
    build/vm/support-pipeline-SUITE.txt and prints the rows of every kernel run."""
    from vigiltest import skip
    t0 = time.time()
    p = subprocess.run(["sh", os.path.join(ROOT, "tests/vm/run-vm.sh"), suite, "pipeline"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = p.stdout.decode("utf-8", "replace").replace("\r", "")
    if p.returncode == 77:
        skip(out.strip().splitlines()[-1] if out.strip() else "VM kernel unavailable")
    lines = out.splitlines()
    passed = {l.split()[1] for l in lines if l.startswith("PASS ")}
    failed = [l for l in lines if l.startswith("FAIL ")]
    known = [l for l in failed if l.split()[1].rstrip(":") in {f"up_{k}" for k in known_down}]
    failed = [l for l in failed if l not in known]
    for l in known:
        print(f"KNOWN (not an enforcer check; this kernel): {l}")
    kernel = next((l[l.index("VM-KERNEL"):] for l in lines if "VM-KERNEL" in l), "VM-KERNEL ? ? ?")
    up = next((l.split()[1] for l in lines if l.startswith("VM-PIPE-UP ")), "?")
    armed = next((l.split()[1] for l in lines if l.startswith("VM-PIPE-ARMED ")), "?")
    missing = [w for w in VM_PIPE if w not in passed and w not in {f"up_{k}" for k in known_down}]
    ver = kernel.split()[3] if len(kernel.split()) > 3 else "?"
    down = f" ({', '.join(known_down)} not running)" if known else ""
    row = (f"| {suite} | {ver} | {len(passed)} pass, {len(failed)} fail{down} | "
           f"tree ready at {up} s, policy armed at {armed} s (VM uptime) | "
           f"{time.time() - t0:.0f} s |")
    support_table(f"support-pipeline-{suite}", row,
                  "| suite | kernel | pipeline checks | timings | boot+test |")
    tail = "\n".join(lines[-80:])
    check(not failed, "VM pipeline checks failed:\n" + "\n".join(failed) + "\n" + tail)
    check(not missing, f"VM pipeline checks missing: {missing}\n{tail}")
    check(any(l.startswith("VM-PIPE-RESULT pass=") and l.endswith(f"fail={len(known)}")
              for l in lines), "no VM-PIPE-RESULT line:\n" + tail)


# ---- which of one enforcer's programs are attached (lazy attachment) ----

def _fdinfo_ids(pid):
    """Program ids one process holds: its program fds, and the programs of its link fds
    (an adopted link may run a predecessor's program)."""
    ids = set()
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        if "prog_id" in info:
            ids.add(int(info["prog_id"]))
    return ids


def _bpftool(*args):
    import json
    p = subprocess.run(["bpftool", "-j", *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20)
    if p.returncode != 0:
        raise TestFailure(f"bpftool {' '.join(args)}: {p.stderr.strip()}")
    return json.loads(p.stdout) if p.stdout.strip() else []


def enforcer_prog_ids(e):
    """id -> name of the programs this enforcer process holds (its own, and those of the
    links it adopted): other vigil instances on the machine are never counted."""
    ids = _fdinfo_ids(e.proc.pid)
    return {p["id"]: p.get("name", "?") for p in _bpftool("prog", "show") if p["id"] in ids}


def attached_programs(e, ids=None):
    """Names of this enforcer's programs that have a link in the kernel (bpftool link
    show, every link of the machine, filtered to this enforcer's program ids)."""
    ids = ids if ids is not None else enforcer_prog_ids(e)
    return sorted(ids[l["prog_id"]] for l in _bpftool("link", "show") if l.get("prog_id") in ids)


def pinned_links(pin_dir):
    """Programs whose link is pinned in pin_dir (link_<program>)."""
    try:
        return sorted(f[len("link_"):] for f in os.listdir(pin_dir) if f.startswith("link_"))
    except FileNotFoundError:
        return []
