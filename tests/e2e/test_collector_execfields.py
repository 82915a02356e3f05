"""e2e: exec and exit fields no other test asserts, from real processes, through the whole
tree (collector with --events process) to the JSON export, each compared with what the
kernel shows in /proc/PID while the process runs:
- exits: a process killed by SIGKILL and one by SIGTERM: process_exit signal "SIGKILL" /
  "SIGTERM", status 0 (absent); `sh -c 'exit 3'`: status 3, no signal; the exit's
  exec_id is the exec's;
- credentials: a child with distinct real/effective ids (setresuid/setresgid before exec):
  process_credentials uid, euid, suid, fsuid, gid, egid, sgid, fsgid equal /proc/PID/status
  Uid:/Gid:, Process.uid the euid;
- auid: a child that wrote 4242 to /proc/self/loginuid: Process.auid 4242
  (= /proc/PID/loginuid); a process with no loginuid: auid 4294967295;
- capabilities: a child with CAP_NET_RAW added to its inheritable set (capset): cap.
  inheritable exactly [CAP_NET_RAW]; permitted/effective/inheritable equal /proc/PID/status
  CapPrm/CapEff/CapInh;
- a setgid binary (group staff) run as nobody: binary_properties.setgid 50,
  privileges_changed [PRIVILEGES_RAISED_EXEC_FILE_SETGID] (no SETUID), egid 50, gid 65534;
- start_time: between the times taken just before and after Popen, and within one clock
  tick (plus 5 ms) of /proc/PID/stat starttime (boot time → wall clock); for a process
  that execs 300 ms after its fork, the exec's time (the exec_id's ktime, Tetragon's
  meaning), 300 ms after /proc's fork time; a process found by the start-up scan (started
  before the tree with these ids, an inheritable cap and a loginuid): flag procFS, the same
  credentials, capabilities and auid as /proc, start_time within a tick of /proc's."""
import ctypes
import datetime
import grp
import os
import shutil
import signal
import subprocess
import tempfile
import time

from collectortest import Export
from vigiltest import Tree, check, decode_exec_id, need_root, run_test

NOBODY = 65534
AUID = 4242
SLACK = 5 * 10**6   # ns
CAP_NET_RAW = 13
CAPS = ["CAP_CHOWN", "DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]

libc = ctypes.CDLL(None, use_errno=True)


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def add_inheritable(bit):
    """capset: add capability bit to this process's inheritable set (in a preexec_fn)."""
    h = CapHeader(0x20080522, 0)   # _LINUX_CAPABILITY_VERSION_3
    d = (CapData * 2)()
    if libc.capget(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    d[bit // 32].inheritable |= 1 << (bit % 32)
    if libc.capset(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def cap_names(mask):
    return sorted(CAPS[i] if i < len(CAPS) else f"CAP_{i}" for i in range(64)
                  if mask >> i & 1)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def rfc3339_ns(s):
    """ns since the epoch of an RFC 3339 UTC time with up to 9 fractional digits."""
    check(s.endswith("Z"), f"time {s!r} not UTC")
    main, _, frac = s[:-1].partition(".")
    dt = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def proc_start_ns(pid, hz):
    """The process's start (fork) time from /proc/PID/stat (clock ticks since boot) as
    ns since the epoch; it is rounded down to a tick."""
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rpartition(")")[2].split()[19])
    boot = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return boot + ticks * 10**9 // hz


def as_nobody():
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


def mixed_ids():
    os.setgroups([])
    os.setresgid(NOBODY, 50, 8)
    os.setresuid(NOBODY, 1, 2)


def mixed_ids_keep_caps():
    """mixed_ids, keeping the capabilities (for add_inheritable after it)."""
    PR_SET_KEEPCAPS = 8
    libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    mixed_ids()
    h = CapHeader(0x20080522, 0)
    d = (CapData * 2)()
    libc.capget(ctypes.byref(h), d)
    for i in range(2):
        d[i].effective = d[i].permitted
    if libc.capset(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def set_loginuid():
    with open("/proc/self/loginuid", "w") as f:
        f.write(str(AUID))


def note(*a):
    if os.environ.get("VIGIL_TEST_VERBOSE"):
        print(*a, flush=True)


def test():
    need_root()
    base = tempfile.mkdtemp(prefix="vigil-execf-")
    os.chmod(base, 0o755)
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": "--events process --scan 1"})
    procs = []

    def prestart():
        mixed_ids_keep_caps()
        add_inheritable(CAP_NET_RAW)
        if os.path.exists("/proc/self/loginuid"):
            set_loginuid()

    # started before the tree: the start-up scan (task iterator) must give the same
    pre = subprocess.Popen(["/bin/sleep", "30"], preexec_fn=prestart)
    procs.append(pre)

    def spawn(argv, **kw):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, **kw)
        procs.append(p)
        x.watch(p.pid)
        return p

    def exec_of(p):
        return x.find("process_exec", lambda e: e["process"]["pid"] == p.pid,
                      what=f"the exec of {p.args}")["process"]

    def exit_of(p):
        return x.find("process_exit", lambda e: e["process"]["pid"] == p.pid,
                      what=f"the exit of {p.args}")

    try:
        t.start()
        x = Export(t)
        x.watch(pre.pid)   # before the first read: the scan's records come first

        # -- exits by signal and by status --------------------------------------------
        for sig in (signal.SIGKILL, signal.SIGTERM):
            p = spawn(["/bin/sleep", "30"])
            e = exec_of(p)
            p.send_signal(sig)
            check(p.wait(timeout=10) == -sig, f"sleep killed by {sig.name}: {p.returncode}")
            xt = exit_of(p)
            note(sig.name, {k: v for k, v in xt.items() if k not in ("process", "parent")})
            check(xt.get("signal") == sig.name and xt.get("status", 0) == 0,
                  f"exit by {sig.name}: signal {xt.get('signal')!r} status {xt.get('status')!r}")
            check(xt["process"]["exec_id"] == e["exec_id"],
                  f"exit exec_id {xt['process']['exec_id']} != exec's {e['exec_id']}")
        p = spawn(["/bin/sh", "-c", "exit 3"])
        e = exec_of(p)
        check(p.wait(timeout=10) == 3, f"sh exit {p.returncode}")
        xt = exit_of(p)
        check(xt.get("status") == 3 and "signal" not in xt,
              f"exit 3: status {xt.get('status')!r} signal {xt.get('signal')!r}")

        # -- credentials: distinct real / effective / saved ids ----------------------------
        p = spawn(["/bin/sleep", "10"], preexec_fn=mixed_ids)
        e = exec_of(p)
        st = proc_status(p.pid)
        pc = e.get("process_credentials", {})
        want = dict(zip(["uid", "euid", "suid", "fsuid"], map(int, st["Uid"])))
        want.update(zip(["gid", "egid", "sgid", "fsgid"], map(int, st["Gid"])))
        check(want == {"uid": NOBODY, "euid": 1, "suid": 1, "fsuid": 1,
                       "gid": NOBODY, "egid": 50, "sgid": 50, "fsgid": 50},
              f"the child's own ids are not the test's: {want}")
        note("credentials", pc, "uid", e.get("uid"))
        got = {k: pc.get(k, 0) for k in want}   # zero values are left out of the JSON
        check(got == want, f"process_credentials {pc}, /proc says {want}")
        check(e.get("uid") == 1, f"Process.uid {e.get('uid')} (the euid is 1)")

        # -- auid ------------------------------------------------------------------------
        if os.path.exists("/proc/self/loginuid"):
            p = spawn(["/bin/sleep", "10"])
            e = exec_of(p)
            with open(f"/proc/{p.pid}/loginuid") as f:
                unset = int(f.read())
            check(e.get("auid") == unset, f"auid {e.get('auid')}, /proc says {unset}")
            p = spawn(["/bin/sleep", "10"], preexec_fn=set_loginuid)
            e = exec_of(p)
            with open(f"/proc/{p.pid}/loginuid") as f:
                check(int(f.read()) == AUID, "loginuid not set in the child")
            note("auid", e.get("auid"))
            check(e.get("auid") == AUID, f"auid {e.get('auid')}, want {AUID}")
        else:
            print("note: no /proc/self/loginuid (no audit): auid not checked", flush=True)

        # -- inheritable capabilities -------------------------------------------------------
        p = spawn(["/bin/sleep", "10"], preexec_fn=lambda: add_inheritable(CAP_NET_RAW))
        e = exec_of(p)
        st = proc_status(p.pid)
        cap = e.get("cap", {})
        note("cap", cap)
        check(cap.get("inheritable") == ["CAP_NET_RAW"],
              f"cap.inheritable {cap.get('inheritable')}")
        for key, line in (("inheritable", "CapInh"), ("permitted", "CapPrm"),
                          ("effective", "CapEff")):
            want = cap_names(int(st[line][0], 16))
            check(sorted(cap.get(key, [])) == want,
                  f"cap.{key} {cap.get(key)} != /proc {line} {want}")

        # -- a setgid binary run as nobody ----------------------------------------------------
        gid = grp.getgrnam("staff").gr_gid
        sgid = os.path.join(base, "sgid-id")
        shutil.copy("/usr/bin/id", sgid)
        os.chown(sgid, 0, gid)
        os.chmod(sgid, 0o2755)
        p = subprocess.Popen([sgid], preexec_fn=as_nobody, stdout=subprocess.PIPE)
        procs.append(p)
        x.watch(p.pid)
        out = p.communicate(timeout=10)[0].decode()
        check(f"egid={gid}(" in out, f"setgid copy did not raise the egid: {out}")
        e = exec_of(p)
        bp = e.get("binary_properties", {})
        check(bp.get("setgid") == gid and "setuid" not in bp,
              f"binary_properties setgid/setuid {bp}")
        check(bp.get("privileges_changed") == ["PRIVILEGES_RAISED_EXEC_FILE_SETGID"],
              f"privileges_changed {bp.get('privileges_changed')}")
        pc = e.get("process_credentials", {})
        note("setgid", bp, pc)
        check(pc.get("gid") == NOBODY and pc.get("egid") == gid and pc.get("uid") == NOBODY
              and pc.get("euid") == NOBODY, f"setgid process_credentials {pc}")

        # -- start_time --------------------------------------------------------------------
        # Popen returns once the exec has closed the child's CLOEXEC pipe, a little before
        # the exec's tracepoint: SLACK covers that and a busy machine
        hz = os.sysconf("SC_CLK_TCK")
        t0 = time.time_ns()
        p = spawn(["/bin/sleep", "10"])
        t1 = time.time_ns()
        e = exec_of(p)
        start = rfc3339_ns(e["start_time"])
        note("start_time", e["start_time"], "bracket", t0 - start, t1 - start)
        check(t0 - 10**6 <= start <= t1 + SLACK,
              f"start_time {e['start_time']} not within the spawn's bracket "
              f"[{(t0 - start) / 1e6:.3f} ms, {(t1 - start) / 1e6:.3f} ms] from it")
        diff = start - proc_start_ns(p.pid, hz)
        note("start_time - /proc starttime", diff)
        check(-2 * 10**6 <= diff < 10**9 // hz + SLACK,
              f"start_time {e['start_time']} is {diff / 1e6:.3f} ms from /proc starttime")
        # a process that execs 300 ms after its fork: start_time is the exec's time (the
        # exec_id's ktime, as Tetragon's Process.start_time), not /proc's fork time
        code = "import os, time; time.sleep(0.3); os.execv('/bin/sleep', ['sleep', '10'])"
        p = spawn(["/usr/bin/python3", "-c", code])
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid
                   and e["process"]["binary"] == os.path.realpath("/bin/sleep"),
                   what="the delayed exec")["process"]
        start = rfc3339_ns(e["start_time"])
        ktime = int(decode_exec_id(e["exec_id"]).split(":")[1])
        mono_off = time.time_ns() - time.monotonic_ns()
        diff = start - proc_start_ns(p.pid, hz)
        note("delayed exec: start_time - exec ktime", start - (ktime + mono_off),
             "start_time - /proc starttime", diff)
        check(abs(start - (ktime + mono_off)) < SLACK,
              f"delayed exec: start_time {e['start_time']} is "
              f"{(start - ktime - mono_off) / 1e6:.3f} ms from the exec_id's time")
        check(diff >= 3 * 10**8 - 10**9 // hz,
              f"delayed exec: start_time {diff / 1e6:.3f} ms after /proc's fork time, "
              "want >= 300 ms (the exec's time)")

        # -- the start-up scan's record of the process started before the tree ---------
        e = x.find("process_exec", lambda e: e["process"]["pid"] == pre.pid,
                   what="the procFS exec of the process started before the tree")["process"]
        note("procFS", {k: e.get(k) for k in ("flags", "auid", "uid", "start_time", "cap",
                                              "process_credentials")})
        check("procFS" in e.get("flags", "").split(), f"scan flags {e.get('flags')}")
        st = proc_status(pre.pid)
        want = dict(zip(["uid", "euid", "suid", "fsuid"], map(int, st["Uid"])))
        want.update(zip(["gid", "egid", "sgid", "fsgid"], map(int, st["Gid"])))
        pc = e.get("process_credentials", {})
        check({k: pc.get(k, 0) for k in want} == want,
              f"scan process_credentials {pc}, /proc says {want}")
        cap = e.get("cap", {})
        for key, line in (("inheritable", "CapInh"), ("permitted", "CapPrm"),
                          ("effective", "CapEff")):
            want = cap_names(int(st[line][0], 16))
            check(sorted(cap.get(key, [])) == want,
                  f"scan cap.{key} {cap.get(key)} != /proc {line} {want}")
        check("CAP_NET_RAW" in cap.get("inheritable", []), f"scan cap {cap}")
        with open(f"/proc/{pre.pid}/loginuid") as f:
            check(e.get("auid") == int(f.read()), f"scan auid {e.get('auid')}")
        diff = rfc3339_ns(e["start_time"]) - proc_start_ns(pre.pid, hz)
        check(-2 * 10**6 <= diff < 10**9 // hz + 2 * 10**6,
              f"scan start_time {e['start_time']} is {diff / 1e6:.3f} ms from /proc starttime")

        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
