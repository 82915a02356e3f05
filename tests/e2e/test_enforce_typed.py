"""enforcer, the typed build on the host kernel (6.18: bpf_rdonly_cast, no BPF LSM): it is
the build picked (info.bpf_build), and a sigkill-tier file_open rule then rides on the five
sys_exit_open* tracepoints, whose path walk is plain typed loads. A child is killed by
SIGKILL before it reads a byte, and the report names the syscall and the resolved path,
when it opens the denied file through its cwd, a dirfd, "..", a symlink, the legacy
open(2), openat2(2), creat(2) (a new file under a denied prefix) and open_by_handle_at(2),
and a denied file on a tmpfs mounted below the directory (the walk crosses the mount);
a sibling file opens through each of them. Monitor mode lets the same opens through and
reports each once, with the resolved path. Restarts across builds: a SIGKILLed typed
enforcer, then one of the helper-read build (VIGIL_ENF_NOCAST=1) on the same pin dir, then
a typed one again: each adopts the rules and the same five links (one set of programs in
the kernel) and reports a monitored open exactly once (not doubled)."""
import os
import signal
import subprocess
import tempfile
import time

from enforcetest import Enforcer, attached_programs, enforcer_prog_ids, pinned_links
from vigiltest import TestFailure, check, need_root, run_test

ALWAYS = ["vigil_enf_c4", "vigil_enf_c6", "vigil_enf_s4", "vigil_enf_s6"]
OPENS_TP = ["vigil_enf_creat", "vigil_enf_open", "vigil_enf_open0", "vigil_enf_open2",
            "vigil_enf_openh"]

# argv: how, directory, name. Opens d/name (or creates it, for creat) the way "how" says,
# then reads it; prints READ:<bytes> (creat: CREATED).
CHILD = r"""
import ctypes, os, struct, sys
how, d, name = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
def sc(*a):
    r = libc.syscall(*a)
    if r < 0:
        raise OSError(ctypes.get_errno(), "syscall %d" % a[0])
    return r
if how == "cwd":
    os.chdir(d)
    fd = os.open(name, os.O_RDONLY)
elif how == "dirfd":
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
elif how == "dotdot":
    dfd = os.open(os.path.join(d, "sub"), os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("../" + name, os.O_RDONLY, dir_fd=dfd)
elif how == "symlink":
    fd = os.open(os.path.join(d, "link-" + name), os.O_RDONLY)
elif how == "open":
    fd = sc(2, os.path.join(d, name).encode(), os.O_RDONLY)
elif how == "openat2":
    h = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0), 24)
    fd = sc(437, AT_FDCWD, os.path.join(d, name).encode(), h, 24)
elif how == "creat":
    fd = sc(85, os.path.join(d, name).encode(), 0o644)
    os.write(1, b"CREATED")
    sys.exit(0)
elif how == "handle":
    buf = ctypes.create_string_buffer(struct.pack("Ii", 128, 0) + bytes(128))
    mnt = ctypes.c_int()
    sc(303, AT_FDCWD, os.path.join(d, name).encode(), buf, ctypes.byref(mnt), 0)
    mfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fd = sc(304, mfd, buf, os.O_RDONLY)
os.write(1, b"READ:" + os.read(fd, 100))
"""

HOWS = {"cwd": "sys_openat", "dirfd": "sys_openat", "dotdot": "sys_openat",
        "symlink": "sys_openat", "open": "sys_open", "openat2": "sys_openat2",
        "handle": "sys_open_by_handle_at"}


def child(how, d, name):
    p = subprocess.run(["/usr/bin/python3", "-c", CHILD, how, d, name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def policy(d, mode):
    return [{"name": "typed", "mode": mode, "action": "override", "errno": 13,
             "kill_fallback": True, "scope": {},
             "rules": [{"kind": "file_open", "paths": [os.path.join(d, "shadow"),
                                                       os.path.join(d, "mnt/shadow")],
                        "prefixes": [os.path.join(d, "secret/")]}]}]


def reports(e, pred, settle=0.6):
    """Every report matching pred that arrives within settle seconds (and before)."""
    end = time.monotonic() + settle
    while time.monotonic() < end:
        try:
            e.wait_report(lambda t, ev: False, timeout=0.1)
        except TestFailure:
            pass
    return [m for m in e.got if pred(m["type"], m["ev"])]


def path_of(ev):
    try:
        return ev["args"][0]["file_arg"]["path"]
    except (KeyError, IndexError, TypeError):
        return None


def expect_links(e, opens, what):
    want = sorted(ALWAYS + opens)
    got = [p for p in attached_programs(e) if p != "vigil_enf_iter"]
    check(got == want, f"{what}: attached {got}, want {want}")
    check(pinned_links(e.pin_dir) == want, f"{what}: pinned {pinned_links(e.pin_dir)}")


def monitored_once(e, d, what):
    """One open of the monitored file gives exactly one report."""
    e.got.clear()
    rc, out, err = child("dirfd", d, "shadow")
    check(rc == 0 and out == "READ:SHADOW", f"{what}: monitor open: {rc} {out!r} {err}")
    got = reports(e, lambda t, ev: ev.get("policy_name") == "typed" and
                  path_of(ev) == os.path.join(d, "shadow"), settle=1.0)
    check(len(got) == 1, f"{what}: {len(got)} reports for one monitored open: {got}")


def test():
    need_root()
    d = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enf-typed-"))
    e = Enforcer()
    e2 = e3 = None
    saved = os.environ.pop("VIGIL_ENF_NOCAST", None)
    mounted = None
    try:
        os.makedirs(os.path.join(d, "sub"))
        os.makedirs(os.path.join(d, "secret"))
        for n, text in (("shadow", "SHADOW"), ("public", "PUBLIC")):
            with open(os.path.join(d, n), "w") as f:
                f.write(text)
            os.symlink(os.path.join(d, n), os.path.join(d, "link-" + n))
        mnt = os.path.join(d, "mnt")
        os.makedirs(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "vigil-enf-typed", mnt], check=True)
        mounted = mnt
        os.makedirs(os.path.join(mnt, "sub"))
        for n, text in (("shadow", "MSHADOW"), ("public", "MPUBLIC")):
            with open(os.path.join(mnt, n), "w") as f:
                f.write(text)
        e.start()
        build = e.info("bpf_build")
        check(build.startswith("typed (bpf_rdonly_cast)"),
              f"the typed build must be picked on this host: {build!r}")
        names = sorted(enforcer_prog_ids(e).values())
        check(set(OPENS_TP) <= set(names),
              f"typed build: the five open tracepoint programs loaded: {names}")

        # 1. Enforce: every way of opening the denied file is killed and reported.
        e.policy_set(1, policy(d, "enforce"))
        check(e.info("policy.typed") == "state=armed tier=sigkill", e.info("policy.typed"))
        expect_links(e, OPENS_TP, "enforce set")
        for how, fn in HOWS.items():
            rc, out, err = child(how, d, "shadow")
            if how == "handle" and "Operation not supported" in err:
                print("open_by_handle_at: not supported on this file system, skipped")
                continue
            check(rc == -signal.SIGKILL and out == "",
                  f"{how}: denied open not killed: exit {rc} {out!r} {err[-300:]}")
            e.wait_report(lambda t, ev, fn=fn: ev.get("policy_name") == "typed" and
                          ev.get("function_name") == fn and
                          path_of(ev) == os.path.join(d, "shadow") and
                          ev.get("action") == "KPROBE_ACTION_SIGKILL")
            rc, out, err = child(how, d, "public")
            check(rc == 0 and out == "READ:PUBLIC", f"{how}: sibling: {rc} {out!r} {err[-300:]}")
        for how in ("dirfd", "dotdot"):
            rc, out, err = child(how, mnt, "shadow")
            check(rc == -signal.SIGKILL and out == "",
                  f"{how} on a mount: denied open not killed: {rc} {out!r} {err[-300:]}")
            e.wait_report(lambda t, ev: path_of(ev) == os.path.join(mnt, "shadow"))
            rc, out, err = child(how, mnt, "public")
            check(rc == 0 and out == "READ:MPUBLIC", f"{how} on a mount: sibling {rc} {out!r}")
        rc, out, err = child("creat", os.path.join(d, "secret"), "new")
        check(rc == -signal.SIGKILL and out == "", f"creat under the prefix: {rc} {out!r} {err}")
        e.wait_report(lambda t, ev: ev.get("function_name") == "sys_creat" and
                      path_of(ev) == os.path.join(d, "secret/new"))
        rc, out, err = child("creat", d, "other")
        check(rc == 0 and out == "CREATED", f"creat outside the prefix: {rc} {out!r} {err}")

        # 2. Monitor: let through, one report each, path resolved.
        e.policy_set(2, policy(d, "monitor"))
        e.got.clear()
        for how, fn in HOWS.items():
            rc, out, err = child(how, d, "shadow")
            if how == "handle" and "Operation not supported" in err:
                continue
            check(rc == 0 and out == "READ:SHADOW", f"monitor {how}: {rc} {out!r} {err[-300:]}")
            e.wait_report(lambda t, ev, fn=fn: ev.get("function_name") == fn and
                          path_of(ev) == os.path.join(d, "shadow") and
                          ev.get("action") == "KPROBE_ACTION_POST")
        monitored_once(e, d, "typed build")
        # A burst: only some reports wake the enforcer (one per ms per CPU); the rest
        # are drained by its timer, every 10 ms while reports flow (was once a second).
        e.got.clear()
        burst = subprocess.run(["/usr/bin/python3", "-c",
                                "import os, sys\nfor i in range(50):\n"
                                "    os.close(os.open(sys.argv[1], os.O_RDONLY))\n",
                                os.path.join(d, "shadow")], capture_output=True, text=True)
        check(burst.returncode == 0, f"monitor burst: {burst.returncode} {burst.stderr[-300:]}")
        got = reports(e, lambda t, ev: ev.get("policy_name") == "typed" and
                      path_of(ev) == os.path.join(d, "shadow"), settle=0.9)
        check(len(got) == 50, f"a burst of 50 monitored opens: {len(got)} reports within "
              "0.9 s")

        # 3. Across builds: typed -> helper-read build -> typed on one pin dir; never doubled.
        e.stop(signal.SIGKILL)
        os.environ["VIGIL_ENF_NOCAST"] = "1"
        e2 = Enforcer(pin_dir=e.pin_dir).start()
        os.environ.pop("VIGIL_ENF_NOCAST")
        check(e2.info("bpf_build").startswith("bpf_loop"), e2.info("bpf_build"))
        expect_links(e2, OPENS_TP, "helper-read build after the typed one")
        monitored_once(e2, d, "helper-read build after the typed one")
        e2.stop(signal.SIGKILL)
        e3 = Enforcer(pin_dir=e.pin_dir).start()
        check(e3.info("bpf_build").startswith("typed"), e3.info("bpf_build"))
        check(e3.info("generation") == "2", f"generation adopted: {e3.info('generation')}")
        expect_links(e3, OPENS_TP, "typed build after the helper-read one")
        monitored_once(e3, d, "typed build after the helper-read one")
        check(e3.stop() == 0, "clean stop")
        check(not os.path.exists(e.pin_dir), "a clean stop removes the pins")
    finally:
        if saved is not None:
            os.environ["VIGIL_ENF_NOCAST"] = saved
        else:
            os.environ.pop("VIGIL_ENF_NOCAST", None)
        for x in (e, e2, e3):
            if x:
                x.cleanup()
        if mounted:
            subprocess.run(["umount", mounted])
        subprocess.run(["rm", "-rf", d])


run_test(test)
