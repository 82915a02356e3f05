"""e2e: whether an exec's binary has file capabilities (a security.capability xattr) is
a fact of the file, not of the credentials: the exported process_exec's flags carry
`fileCaps` for a copy of /bin/true given cap_net_raw+ep run as root (no privilege is
raised: root has it all) and as nobody (then also PRIVILEGES_RAISED_EXEC_FILE_CAP), for
a long-running copy of /bin/sleep renamed after it started (/proc/PID/exe is asked), and
not for the same binaries without the xattr. A short-lived binary in another mount
namespace is `fileCaps` or, once it is gone, `fileCapsUnknown`, never neither."""
import os
import shutil
import struct
import subprocess
import tempfile

from collectortest import Export
from vigiltest import Tree, check, need_root, run_test

NOBODY = 65534
CAP_NET_RAW = 13


def set_caps(path):
    # struct vfs_cap_data, revision 2, effective bit: permitted = inheritable-less NET_RAW
    os.setxattr(path, "security.capability",
                struct.pack("<IIIII", 0x02000001, 1 << CAP_NET_RAW, 0, 0, 0))


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def flags(e):
    return e.get("flags", "").split()


def test():
    need_root()
    base = tempfile.mkdtemp(prefix="vigil-fcap-")
    os.chmod(base, 0o755)
    plain, fcap = os.path.join(base, "plain-true"), os.path.join(base, "fcap-true")
    slp, moved = os.path.join(base, "fcap-sleep"), os.path.join(base, "fcap-sleep-moved")
    for src, dst in (("/bin/true", plain), ("/bin/true", fcap), ("/bin/sleep", slp)):
        shutil.copy(src, dst)
        os.chmod(dst, 0o755)
    set_caps(fcap)
    set_caps(slp)
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": "--events process --scan 0"})
    sleeper = None
    try:
        t.start()
        x = Export(t)

        def run(argv, **kw):
            p = subprocess.Popen(argv, **kw)
            p.wait(timeout=10)
            x.watch(p.pid)
            return x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]

        e = run([fcap])
        check("fileCaps" in flags(e), f"root exec of a file-cap binary: flags {e.get('flags')}")
        e = run([fcap], preexec_fn=as_nobody)
        check("fileCaps" in flags(e), f"nobody's exec of a file-cap binary: {e.get('flags')}")
        check("PRIVILEGES_RAISED_EXEC_FILE_CAP" in
              e.get("binary_properties", {}).get("privileges_changed", []),
              f"nobody gains the file's caps: {e.get('binary_properties')}")
        for who in ({}, {"preexec_fn": as_nobody}):
            e = run([plain], **who)
            check("fileCaps" not in flags(e) and "fileCapsUnknown" not in flags(e),
                  f"a binary without the xattr: flags {e.get('flags')}")
        # a live process whose binary was renamed: /proc/PID/exe still is the file
        sleeper = subprocess.Popen([slp, "30"])
        x.watch(sleeper.pid)
        os.rename(slp, moved)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == sleeper.pid)["process"]
        check("fileCaps" in flags(e), f"renamed live binary: flags {e.get('flags')}")
        # another mount namespace: told while the process lives, else unknown
        p = subprocess.Popen(["unshare", "-m", fcap])   # unshare execs fcap: same pid
        p.wait(timeout=10)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid
                   and e["process"]["binary"] == fcap)["process"]
        got = [f for f in flags(e) if f in ("fileCaps", "fileCapsUnknown")]
        check(len(got) == 1, f"exec in another mount namespace: flags {e.get('flags')}")
        t.stop()
    finally:
        if sleeper:
            sleeper.kill()
            sleeper.wait()
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
