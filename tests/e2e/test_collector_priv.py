"""e2e: privilege and escape events (collector --events process,priv) through the whole
tree to the JSON export, each syscall performed for real:
- a copy of python with file capabilities cap_setuid,cap_setgid, run as nobody, calls
  setuid(0), setgid(0), setreuid,
  setresuid, setregid, setresgid, setfsuid, setfsgid: sys_* events with the ids asked and
  process_credentials_arg (after the call) euid 0; the library policy privilege-escalation
  fires on its sys_setuid;
- a root python performs capset (caps in process_credentials_arg), ptrace(PTRACE_ATTACH)
  of its child, process_vm_writev, init_module and finit_module (ENOSYS here: the attempt
  is reported), bpf(BPF_MAP_CREATE) of a map named vigil_m, memfd_create, io_uring_setup (entries, flags, the ring's fd), a failing
  pivot_root, and in a child unshare(CLONE_NEWUSER) (policy namespace-change fires);
  a raw clone(CLONE_NEWUTS) and a clone3(CLONE_NEWNET) whose children exit at once:
  sys_clone / sys_clone3 from the child (return 0);
- namespace changes against the exec: every successful unshare, setns and clone above
  carries ns_after (the namespaces after the call) and the enricher's ns_changes, exactly
  the namespace that changed with the exec's inode -> the new one (e.g. uts:A->B, with
  A the test's own UTS namespace and B the target's), also in the policy's message;
- `unshare -U /bin/true`: sys_unshare with CLONE_NEWUSER;
- `nsenter -t H -u` into a UTS namespace the test created: sys_setns with namespace uts
  and the namespace's inode (policy namespace-change fires);
- `unshare -m --propagation private mount -t tmpfs SRC DIR`: sys_unshare CLONE_NEWNS, then
  sys_mount with source, target, fstype tmpfs and return 0."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from collectortest import Export, arg
from vigiltest import Tree, check, need_root, run_test, unique_tag

NOBODY = 65534
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000

ACTOR = r"""
import ctypes
import json
import os
import signal
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
tag = sys.argv[1]
out = {"pid": os.getpid()}

# capset: read our capabilities and set them back unchanged
hdr = struct.pack("Ii", 0x20080522, 0)
data = ctypes.create_string_buffer(24)
libc.syscall(125, hdr, data)                       # capget
out["capset"] = libc.syscall(126, hdr, data)       # capset

# ptrace attach + detach of a child of ours
pid = os.fork()
if pid == 0:
    signal.pause()
    os._exit(0)
libc.ptrace.restype = ctypes.c_long
out["ptrace"] = libc.ptrace(16, pid, None, None)    # PTRACE_ATTACH
os.waitpid(pid, 0)
libc.ptrace(17, pid, None, None)                     # PTRACE_DETACH
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
out["ptrace_pid"] = pid

# process_vm_writev into our own buffer
src = ctypes.create_string_buffer(b"vigil", 8)
dst = ctypes.create_string_buffer(8)
liov = struct.pack("QQ", ctypes.addressof(src), 5)
riov = struct.pack("QQ", ctypes.addressof(dst), 5)
out["vm_writev"] = libc.syscall(311, os.getpid(), liov, 1, riov, 1, 0)

# module loads (ENOSYS without module support; the attempt is the event)
out["init_module"] = libc.syscall(175, None, 0, f"vigil_{tag}=1".encode())
out["finit_module"] = libc.syscall(313, -1, f"vigil_{tag}=2".encode(), 0)

# bpf(BPF_MAP_CREATE): a 1-entry array named vigil_m
attr = struct.pack("IIIIIIi", 2, 4, 4, 1, 0, 0, 0) + b"vigil_m".ljust(16, b"\0")
attr = attr.ljust(128, b"\0")
fd = libc.syscall(321, 0, attr, len(attr))
out["bpf"] = fd
if fd >= 0:
    os.close(fd)

# memfd_create
mfd = os.memfd_create(f"vigil-memfd-{tag}")
os.close(mfd)

# io_uring_setup(4, params with IORING_SETUP_CLAMP): a ring (or -EPERM where disabled)
params = ctypes.create_string_buffer(struct.pack("III", 0, 0, 0x10).ljust(120, b"\0"), 120)
out["io_uring"] = libc.syscall(425, 4, params)
if out["io_uring"] >= 0:
    os.close(out["io_uring"])

# pivot_root attempt (fails: not a mount point in this namespace)
out["pivot_root"] = libc.syscall(155, f"/nonexistent-{tag}".encode(), b"/old")

# unshare(CLONE_NEWUSER) in a child (a user namespace cannot be left again)
pid = os.fork()
if pid == 0:
    os._exit(0 if libc.unshare(0x10000000) == 0 else 1)
_, st = os.waitpid(pid, 0)
out["unshare_pid"] = pid
out["unshare"] = os.waitstatus_to_exitcode(st)

# raw clone(CLONE_NEWUTS | SIGCHLD): the child starts in a new UTS namespace, exits
pid = libc.syscall(56, 0x04000000 | 17, 0, 0, 0, 0)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
out["clone_pid"] = pid

# clone3 with CLONE_NEWNET (struct clone_args, first version: 64 bytes)
cargs = ctypes.create_string_buffer(struct.pack("QQQQQQQQ", 0x40000000, 0, 0, 0, 17, 0, 0, 0))
pid = libc.syscall(435, cargs, 64)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
out["clone3_pid"] = pid
print(json.dumps(out), flush=True)
"""

SUID = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.setuid(0)
os.setgid(0)
os.setreuid(0, 0)
os.setresuid(0, 0, 0)
os.setregid(0, 0)
os.setresgid(0, 0, 0)
libc.setfsuid(0)
libc.setfsgid(0)
"""


def as_nobody():
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


def label(e, lbl):
    for a in e["args"]:
        if a.get("label") == lbl:
            return [v for k, v in a.items() if k != "label"][0]
    return None


def creds(e):
    return arg(e, "process_credentials_arg") or {}


def nschange(e, kind):
    """e's ns_changes is exactly one change of namespace kind, from this test's own
    namespace of that kind (the exec's) to the inode ns_after reports."""
    own = os.stat(f"/proc/self/ns/{kind}").st_ino
    after = dict(w.split(":") for w in (label(e, "ns_after") or "").split())
    check(after.get(kind, str(own)) != str(own) and after.get("mnt"),
          f"{e['function_name']} ns_after {label(e, 'ns_after')!r}")
    want = f"{kind}:{own}->{after[kind]}"
    check(label(e, "ns_changes") == want,
          f"{e['function_name']} ns_changes {label(e, 'ns_changes')!r}, want {want!r}")


def run(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    p.wait(timeout=30)
    return p


def test():
    need_root()
    for b in ("unshare", "nsenter", "mount", "setcap"):
        check(shutil.which(b), f"{b} is needed")
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-priv-"))
    os.chmod(base, 0o755)
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    tag = unique_tag("priv").replace("-", "_")
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": "--events process,priv"})
    holder = None
    try:
        t.start()
        info = t.status("collector")["info"]
        check(" priv" in info.get("programs", ""), f"priv programs loaded: {info}")
        x = Export(t)

        def ev(fn, pid, pred=lambda e: True):
            return x.kprobe(fn, pid, lambda e: "policy_name" not in e and pred(e))

        # set*id from a copy of python with file capabilities cap_setuid,cap_setgid
        # run as nobody: its euid at exec is 65534, then it makes itself root
        py = os.path.realpath(sys.executable)
        suid = os.path.join(base, "fcap-python")
        shutil.copy(py, suid)
        os.chmod(suid, 0o755)
        check(subprocess.run(["setcap", "cap_setuid,cap_setgid+ep", suid]).returncode == 0,
              "setcap on the python copy")
        p = run([suid, "-c", SUID], preexec_fn=as_nobody)
        check(p.returncode == 0, f"file-capability python exit {p.returncode}")
        # (the child's own drop to nobody before the exec is also seen: ask for uid 0)
        e = ev("sys_setuid", p.pid, lambda e: label(e, "uid") == 0)
        check(label(e, "uid") == 0 and e["return"]["int_arg"] == 0, f"setuid args {e['args']}")
        c = creds(e)
        check(c.get("euid") == 0 and c.get("uid") == 0, f"setuid creds after {c}")
        check(e["process"].get("uid") == NOBODY, f"setuid process {e['process']}")
        for fn, lbls in (("sys_setgid", ["gid"]), ("sys_setreuid", ["ruid", "euid"]),
                         ("sys_setresuid", ["ruid", "euid", "suid"]),
                         ("sys_setregid", ["rgid", "egid"]),
                         ("sys_setresgid", ["rgid", "egid", "sgid"]),
                         ("sys_setfsuid", ["uid"]), ("sys_setfsgid", ["gid"])):
            e = ev(fn, p.pid, lambda e, lbls=lbls: label(e, lbls[0]) == 0)
            check(all(label(e, lb) == 0 for lb in lbls), f"{fn} args {e['args']}")
            check(creds(e).get("euid") == 0, f"{fn} creds {creds(e)}")
        e = x.kprobe("sys_setuid", p.pid,
                     lambda e: e.get("policy_name") == "privilege-escalation")
        print(f"policy: {e.get('policy_name')}: {e.get('message')}", flush=True)

        # the root actor
        a = subprocess.Popen([sys.executable, "-c", ACTOR, tag], stdout=subprocess.PIPE)
        res = json.loads(a.communicate(timeout=30)[0])
        ap = a.pid
        check(res["pid"] == ap, f"actor pid {res}")
        e = ev("sys_capset", ap)
        check(e["return"]["int_arg"] == 0 and "CAP_SYS_ADMIN" in
              creds(e).get("caps", {}).get("effective", []), f"capset {e['args']}")
        e = ev("sys_ptrace", ap)
        check(label(e, "request") == 16 and label(e, "request_name") == "PTRACE_ATTACH"
              and label(e, "pid") == res["ptrace_pid"] and e["return"]["int_arg"] == 0,
              f"ptrace {e['args']} {e['return']}")
        e = ev("sys_process_vm_writev", ap)
        check(label(e, "pid") == ap and e["return"]["int_arg"] == 5, f"vm_writev {e['args']}")
        e = ev("sys_init_module", ap)
        check(label(e, "params") == f"vigil_{tag}=1" and
              e["return"]["int_arg"] == e["return"]["int_arg"]
              and e["return"]["int_arg"] < 0, f"init_module {e['args']} {e['return']}")
        e = ev("sys_finit_module", ap)
        check(label(e, "params") == f"vigil_{tag}=2" and label(e, "fd") == -1
              and e["return"]["int_arg"] < 0, f"finit_module {e['args']} {e['return']}")
        e = ev("sys_bpf", ap, lambda e: label(e, "name") == "vigil_m")
        check(label(e, "cmd_name") == "BPF_MAP_CREATE" and label(e, "type") == 2
              and (e["return"]["int_arg"] >= 0) == (res["bpf"] >= 0), f"bpf {e['args']}")
        e = ev("sys_memfd_create", ap)
        check(label(e, "name") == f"vigil-memfd-{tag}" and e["return"]["int_arg"] >= 0,
              f"memfd_create {e['args']}")
        e = ev("sys_io_uring_setup", ap)
        check(label(e, "entries") == 4 and label(e, "flags") == 0x10 and
              e["return"]["int_arg"] == res["io_uring"] and
              next(k for k in e["args"] if k.get("label") == "entries").get("uint_arg") == 4,
              f"io_uring_setup {e['args']} {e['return']} (returned {res['io_uring']})")
        e = ev("sys_pivot_root", ap)
        check(label(e, "new_root") == f"/nonexistent-{tag}" and label(e, "put_old") == "/old"
              and e["return"]["int_arg"] < 0, f"pivot_root {e['args']}")
        up = res["unshare_pid"]
        check(res["unshare"] == 0, f"actor: {res}")
        # the children's lines were passed over while their pids were not watched:
        # read afresh
        x = Export(t)
        x.watch(up, res["clone_pid"], res["clone3_pid"])
        e = ev("sys_unshare", up)
        check(label(e, "flags") == CLONE_NEWUSER and label(e, "namespaces") == "CLONE_NEWUSER"
              and e["return"]["int_arg"] == 0, f"ctypes unshare {e['args']}")
        nschange(e, "user")
        for key, fn, kind in (("clone_pid", "sys_clone", "uts"),
                              ("clone3_pid", "sys_clone3", "net")):
            check(res[key] > 0, f"actor {key}: {res}")
            e = ev(fn, res[key])
            check(e["return"]["int_arg"] == 0 and e["process"]["pid"] == res[key],
                  f"{fn} {e['args']} {e['return']}")
            nschange(e, kind)
        e = x.kprobe("sys_unshare", up, lambda e: e.get("policy_name") == "namespace-change")
        print(f"policy: {e.get('policy_name')}: {e.get('message')}", flush=True)

        # unshare -U
        p = run(["unshare", "-U", "/bin/true"])
        e = ev("sys_unshare", p.pid)
        check(label(e, "flags") == CLONE_NEWUSER and e["return"]["int_arg"] == 0,
              f"unshare -U {e['args']}")

        # setns: nsenter into a UTS namespace this test created
        holder = subprocess.Popen(["unshare", "--uts", "sleep", "30"])
        own = os.stat("/proc/self/ns/uts").st_ino
        ino = None
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                ino = os.stat(f"/proc/{holder.pid}/ns/uts").st_ino
            except OSError:
                ino = None
            if ino and ino != own:
                break
            time.sleep(0.02)
        check(ino and ino != own, "the holder has its own UTS namespace")
        p = run(["nsenter", "-t", str(holder.pid), "-u", "/bin/true"])
        check(p.returncode == 0, f"nsenter exit {p.returncode}")
        e = ev("sys_setns", p.pid)
        check(label(e, "namespace") == "uts" and label(e, "inum") == ino
              and e["return"]["int_arg"] == 0, f"setns {e['args']} (want inum {ino})")
        check(label(e, "ns_changes") == f"uts:{own}->{ino}",
              f"setns ns_changes {label(e, 'ns_changes')!r}, want uts:{own}->{ino}")
        check(f"uts:{ino}" in label(e, "ns_after").split(), f"setns ns_after {e['args']}")
        e = x.kprobe("sys_setns", p.pid, lambda e: e.get("policy_name") == "namespace-change")
        print(f"policy: {e.get('policy_name')}: {e.get('message')}", flush=True)
        check(f"uts:{own}->{ino}" in e.get("message", ""), f"policy message {e.get('message')}")

        # mount of a tmpfs in a private mount namespace
        src = f"vigil-{tag}"
        p = run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", src,
                 mnt])
        check(p.returncode == 0, f"mount exit {p.returncode}")
        e = ev("sys_unshare", p.pid)
        check(label(e, "flags") & CLONE_NEWNS and "CLONE_NEWNS" in label(e, "namespaces"),
              f"unshare -m {e['args']}")
        e = ev("sys_mount", p.pid, lambda e: label(e, "source") == src)
        check(label(e, "target") == mnt and label(e, "fstype") == "tmpfs"
              and e["return"]["int_arg"] == 0, f"mount {e['args']}")
        check(t.counter("collector", "ringbuf_lost.priv") == 0, "no priv event lost")
        check(t.counter("collector", "kernel.emitted.priv") > 0, "priv events counted")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
