"""e2e: `vigil probe` (standalone, no tree) prints one line per feature; on this host
(PLATFORM.md) lsm, fentry and kprobe are unavailable and tp_btf, raw_tp, ringbuf,
tracepoint, btf are available, the verdict says the collector can run, exit 0. A running
collector puts the same summary in its status info (`features`), and which builds of
its BPF objects it loaded (`bpf_build`: bpf_rdonly_cast on this 6.18 host).

A missing minimum, made for real in a private mount namespace (unshare -m
--propagation private; the mounts die with it), without touching the collector:
- BTF hidden (/dev/null bound over /sys/kernel/btf/vmlinux): `vigil probe` marks btf
  (and tp_btf, which needs it) unavailable [required], its verdict says the collector
  cannot run, exit 100; vigil-collector exits 100 at once with an error naming btf and
  /sys/kernel/btf/vmlinux, and "setup failed";
- tracepoints unavailable (a tmpfs over /sys/kernel with only btf/ moved back in, so
  tracefs is neither mounted nor mountable): probe marks tracepoint unavailable, exit
  100; the collector exits 100 naming tracepoint;
- tracefs merely not mounted (an empty tmpfs over /sys/kernel/tracing): not a missing
  minimum: probe says tracepoint available and the collector mounts tracefs itself,
  starts with file events, and stops cleanly on SIGTERM;
- tracefs not mounted and not mountable (an empty tmpfs over /sys/kernel/tracing, and
  mount(2)/fsopen(2) refused with EPERM by a seccomp filter, as a container's profile
  does): tracepoints are missing, so probe must mark tracepoint unavailable (exit 100)
  and the collector exit 100 naming tracepoint, not start without its syscall
  tracepoints.
In every case the collector's pin directory (the default one for its run directory)
is gone afterwards and no vigil_ BPF program it loaded stays loaded."""
import os
import shutil
import subprocess
import tempfile
import time

from vigiltest import (ROOT, Tree, bpf_prog_ids, check, need_root, prog_ids_held, run_test,
                       skip)

# Run "$@" in this (private) mount namespace with /sys/kernel replaced by an empty tmpfs
# that holds only the real btf/ directory: no tracefs there, nowhere to mount one.
NO_TRACEFS = r"""
set -e
keep=$1; shift
mkdir -p "$keep"
mount --bind /sys/kernel/btf "$keep"
mount -t tmpfs vigil-test-nokernel /sys/kernel
mkdir /sys/kernel/btf
mount --move "$keep" /sys/kernel/btf
exec "$@"
"""
# argv[1:] exec'ed with mount(2) and fsopen(2) refused (EPERM) by a seccomp filter
# (x86_64; other architectures' calls pass).
NO_MOUNT = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
ins = lambda code, jt, jf, k: struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    ins(0x20, 0, 0, 4),                     # ld arch
    ins(0x15, 1, 0, 0xC000003E),            # x86_64?
    ins(0x06, 0, 0, 0x7FFF0000),            # no: allow
    ins(0x20, 0, 0, 0),                     # ld nr
    ins(0x15, 2, 0, 165),                   # mount
    ins(0x15, 1, 0, 430),                   # fsopen
    ins(0x06, 0, 0, 0x7FFF0000),            # allow
    ins(0x06, 0, 0, 0x00050000 | 1)])       # SECCOMP_RET_ERRNO | EPERM
buf = ctypes.create_string_buffer(prog)
fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxQ", len(prog) // 8,
                                                ctypes.addressof(buf)))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, fprog, 0, 0):   # NO_NEW_PRIVS, SECCOMP
    sys.exit("seccomp: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
"""
HIDE_BTF = 'set -e; mount --bind /dev/null /sys/kernel/btf/vmlinux; exec "$@"'
EMPTY_TRACING = 'set -e; mount -t tmpfs vigil-test-notracing /sys/kernel/tracing; exec "$@"'


def default_pin_dir(rundir, name="collector"):
    """The collector's default pin directory for a run directory (FNV-1a 64 of
    RUNDIR/NAME, docs/wire.md §8.8)."""
    h = 1469598103934665603
    for b in (rundir + "/" + name).encode():
        h = ((h ^ b) * 1099511628211) & (2**64 - 1)
    return f"/sys/fs/bpf/vigil-collector-{h:016x}"


def held_prog_ids():
    """Program ids some live process holds a fd of (its own or another test's)."""
    return set().union(*(prog_ids_held(pid) for pid in os.listdir("/proc") if pid.isdigit()))


def left_behind(before, pin):
    """What a collector that exited left: its pin directory, and new vigil_ programs
    nobody holds a fd of (only pins or attached links would keep them loaded). Other
    engineers' collectors load vigil_ programs too; they hold theirs."""
    end = time.monotonic() + 3
    while True:
        stray = (bpf_prog_ids() - before) - held_prog_ids()
        if (not stray and not os.path.exists(pin)) or time.monotonic() > end:
            return stray, os.path.exists(pin)
        time.sleep(0.05)


def in_ns(script, argv):
    """argv run by sh -c script inside a new private mount namespace."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "vigil-ns"] + \
        list(argv)


def reap(p):
    """Kill collector p if it still runs."""
    if p.poll() is None:
        p.kill()
        p.wait()


def no_leftovers(before, pin, what):
    """Nothing of an exited collector may stay loaded or pinned."""
    stray, pinned = left_behind(before, pin)
    check(not stray and not pinned,
          f"{what}: left behind programs {stray}, pin dir {pin}: {pinned}")


def start_log(p, timeout=30):
    """The stderr lines of collector p until it is ready or its stderr ends."""
    lines = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = p.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "info: ready" in line:
            break
    return lines


def tracefs_unmountable(base):
    """An empty tmpfs over /sys/kernel/tracing and no way to mount tracefs on it."""
    vigil = os.path.join(ROOT, "build", "vigil")
    coll = os.path.join(ROOT, "build", "vigil-collector")
    nomount = ["/usr/bin/python3", "-c", NO_MOUNT]
    # the stand-in works: mount(2) is refused under the filter
    r = subprocess.run(in_ns(EMPTY_TRACING, nomount + ["/bin/mount", "-t", "tmpfs", "x",
                                                         base]),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0, f"mount under the seccomp filter worked: {r.stderr}")
    r = subprocess.run(in_ns(EMPTY_TRACING, nomount + [vigil, "probe"]),
                       capture_output=True, text=True, timeout=30)
    probe = (r.returncode, probe_rows(r.stdout).get("tracepoint", ("?", ""))[1].strip())
    rundir = os.path.join(base, "run-nomount")
    os.mkdir(rundir)
    pin = default_pin_dir(rundir)
    before = bpf_prog_ids()
    p = subprocess.Popen(in_ns(EMPTY_TRACING, nomount + [coll, "--rundir", rundir, "--events",
                                                         "process,file,net,priv"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = start_log(p)
        if p.poll() is None:
            p.terminate()   # it went on: stop it cleanly (pins removed), then report
            lines += start_log(p)
        p.wait(timeout=20)
    finally:
        reap(p)
    no_leftovers(before, pin, "tracefs unmountable")
    log = "\n".join(x[:300] for x in lines)
    ready = any("info: ready" in x for x in lines)
    named = any("error: kernel lacks tracepoint" in x for x in lines)
    bad = []
    if probe[0] != 100 or "unavailable" not in probe[1]:
        bad.append(f"vigil probe exit {probe[0]}, row {probe[1]!r} (want exit 100, "
                   "tracepoint unavailable)")
    if p.returncode != 100 or not named or ready:
        bad.append(f"collector exit {p.returncode}, "
                   f"{'started (ready) without its tracepoints (stopped by the test)' if ready else 'did not start'}"
                   f"{'' if named else ', no error naming tracepoint'} (want exit 100 "
                   f"naming tracepoint). Log:\n{log}")
    check(not bad, "tracefs unmountable: " + "\n".join(bad))


def probe_rows(out):
    """{feature: (status, the whole row)} of `vigil probe` output."""
    rows = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 2 and f[1] in ("available", "unavailable"):
            rows[f[0]] = (f[1], line)
    return rows


def missing_minimum(base):
    """The collector and `vigil probe` with BTF, then tracepoints, made unavailable."""
    vigil = os.path.join(ROOT, "build", "vigil")
    coll = os.path.join(ROOT, "build", "vigil-collector")
    for what, script, pre, gone, words in (
            ("btf", HIDE_BTF, [], ("btf", "tp_btf"), ("btf", "/sys/kernel/btf/vmlinux")),
            ("tracepoint", NO_TRACEFS, [os.path.join(base, "keep")], ("tracepoint",),
             ("tracepoint", "syscalls/sys_exit_"))):
        r = subprocess.run(in_ns(script, pre + [vigil, "probe"]), capture_output=True,
                           text=True, timeout=30)
        rows = probe_rows(r.stdout)
        check(r.returncode == 100, f"{what} hidden: vigil probe exit {r.returncode}\n"
              f"{r.stdout}{r.stderr}")
        for name in gone:
            st, line = rows.get(name, (None, ""))
            check(st == "unavailable" and "[required]" in line,
                  f"{what} hidden: probe row {name}: {line!r}\n{r.stdout}")
        others = [n for n, (st, line) in rows.items()
                  if st == "unavailable" and "[required]" in line and n not in gone]
        check(not others, f"{what} hidden: other required rows unavailable {others}")
        check(f"cannot run here ({len(gone)} required feature" in r.stdout,
              f"{what} hidden: probe verdict\n{r.stdout}")
        rundir = os.path.join(base, "run-" + what)
        os.mkdir(rundir)
        pin = default_pin_dir(rundir)
        before = bpf_prog_ids()
        t0 = time.monotonic()
        r = subprocess.run(in_ns(script, pre + [coll, "--rundir", rundir, "--events",
                                                "process,file,net,priv"]),
                           capture_output=True, text=True, timeout=30)
        log = r.stdout + r.stderr
        print(f"{what} hidden: collector exit {r.returncode} after "
              f"{time.monotonic() - t0:.2f}s:\n  " + "\n  ".join(
                  x for x in log.splitlines() if "error" in x or "fatal" in x), flush=True)
        check(r.returncode == 100, f"{what} hidden: collector exit {r.returncode}\n{log}")
        err = [x for x in log.splitlines() if "error: kernel lacks" in x]
        check(any(all(w in x for w in words) and "needed for" in x for x in err),
              f"{what} hidden: no error naming {words}: {err}\n{log}")
        check("fatal: setup failed" in log, f"{what} hidden: no fatal line\n{log}")
        check("pins:" not in log and "ready" not in log,
              f"{what} hidden: the collector went on\n{log}")
        stray, pinned = left_behind(before, pin)
        check(not stray and not pinned,
              f"{what} hidden: left behind programs {stray}, pin dir {pin}: {pinned}")


def tracefs_unmounted(base):
    """An empty tmpfs over /sys/kernel/tracing: the collector mounts tracefs itself."""
    vigil = os.path.join(ROOT, "build", "vigil")
    coll = os.path.join(ROOT, "build", "vigil-collector")
    r = subprocess.run(in_ns(EMPTY_TRACING, [vigil, "probe"]), capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0 and probe_rows(r.stdout).get("tracepoint", ("",))[0] ==
          "available", f"empty tracing dir: probe exit {r.returncode}\n{r.stdout}")
    rundir = os.path.join(base, "run-tracing")
    os.mkdir(rundir)
    pin = default_pin_dir(rundir)
    before = bpf_prog_ids()
    p = subprocess.Popen(in_ns(EMPTY_TRACING, [coll, "--rundir", rundir, "--events",
                                               "process,file"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = start_log(p)
        log = "\n".join(lines)
        check(any("info: ready" in x for x in lines), f"empty tracing dir: not ready\n{log}")
        check(f"pinned in {pin}" in log, f"empty tracing dir: pin dir is not {pin}\n{log}")
        check("error" not in log and "syscalls/sys_exit_openat" not in log,
              f"empty tracing dir: errors or file tracepoints missing\n{log}")
        p.terminate()
        rest = p.communicate(timeout=20)[1]
        check(p.returncode == 0, f"empty tracing dir: exit {p.returncode} on SIGTERM\n{rest}")
    finally:
        reap(p)
    no_leftovers(before, pin, "empty tracing dir")


def test():
    need_root()
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip("no BTF: not the project's host kernel")
    vigil = os.path.join(ROOT, "build", "vigil")
    r = subprocess.run([vigil, "probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    check(r.returncode == 0, f"vigil probe exit {r.returncode}: {r.stdout}{r.stderr}")
    rows = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 2 and f[1] in ("available", "unavailable"):
            rows[f[0]] = f[1]
    for name in ("lsm", "fentry", "kprobe"):
        check(rows.get(name) == "unavailable", f"{name}: {rows.get(name)}\n{r.stdout}")
    for name in ("tp_btf", "raw_tp", "ringbuf", "tracepoint", "btf", "bpf_loop",
                 "send_signal", "cgroup_sock_addr", "iter_task"):
        check(rows.get(name) == "available", f"{name}: {rows.get(name)}\n{r.stdout}")
    check("collector can run" in r.stdout, r.stdout)
    bad = subprocess.run([vigil, "probe", "extra"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    check(bad.returncode == 100 and "no arguments" in bad.stderr, f"bad usage: {bad}")
    with Tree(stages=["collector"]) as t:
        feats = (t.status("collector") or {}).get("info", {}).get("features", "")
        check("lsm=no" in feats and "tp_btf=yes" in feats and "ringbuf=yes" in feats,
              f"collector features {feats!r}")
        check("kernel lacks lsm" in t.log("collector"), "no warning naming lsm")
        # 6.18 has bpf_rdonly_cast: the fast builds of the BPF objects are loaded
        build = (t.status("collector") or {}).get("info", {}).get("bpf_build", "")
        check(build == "bpf_rdonly_cast", f"collector bpf_build {build!r}")
        check("BPF: bpf_rdonly_cast builds" in t.log("collector"), "no log of the build")
    for b in ("unshare", "mount"):
        check(shutil.which(b), f"{b} is needed")
    base = tempfile.mkdtemp(prefix="vigil-probe-")
    try:
        missing_minimum(base)
        tracefs_unmounted(base)
        tracefs_unmountable(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
