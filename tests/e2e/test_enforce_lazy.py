"""enforcer, lazy attachment on the host kernel (no BPF LSM): with no rule that needs
them, none of this enforcer's sys_exit_open* (sigkill tier), sched_process_exec or
raw_tp/sys_enter (kill map) programs has a link in the kernel (bpftool link show,
filtered to this enforcer's program ids: other vigil instances may run), none is pinned,
and info.attached says "sigkill:0 killmap:0"; only the four cgroup connect/sendmsg hooks
are. A connect-only set attaches nothing more. A sigkill-tier file_open set attaches
exactly the five sys_exit_open* programs (pinned) and a child opening the denied file is
killed before it reads a byte; switching to an exec set detaches them and attaches
sched_process_exec (the denied binary is killed); a SIGKILLed enforcer leaves exactly
the exec link pinned, the exec stays denied while no enforcer runs, and a restarted one
adopts it; an empty set detaches everything lazy (pins gone). Kill map: a pid verdict
attaches raw_tp/sys_enter before its entry is written (a verdict with a wrong start time
keeps it attached while the process lives), a real verdict kills the process, and the
next sweep (1 s) finds the maps empty and detaches it; a cgroup verdict the same, until
its --cgroup-kill-ms window ends. A clean stop leaves no link of these programs."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from enforcetest import Enforcer, attached_programs, enforcer_prog_ids, pinned_links
from vigiltest import check, need_root, run_test, wait_for

CG_ROOT = "/sys/fs/cgroup/unified"
ALWAYS = ["vigil_enf_c4", "vigil_enf_c6", "vigil_enf_s4", "vigil_enf_s6"]
OPENS = ["vigil_enf_creat", "vigil_enf_open", "vigil_enf_open0", "vigil_enf_open2",
         "vigil_enf_openh"]
VICTIM = "import time\nwhile True:\n    time.sleep(0.002)\n"
CHILD_OPEN = ("import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
              "sys.stdout.write('READ:' + os.read(fd, 100).decode())\n")


def open_in_child(path):
    p = subprocess.run(["/usr/bin/python3", "-c", CHILD_OPEN, path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20)
    return p.returncode, p.stdout


def expect(e, progs, killmap, what):
    """Exactly progs (besides the cgroup hooks) attached and pinned, info.attached
    agreeing: sigkill:N killmap:K."""
    want = sorted(ALWAYS + progs)
    # The task iterator's link runs only when the enforcer reads it (a verdict without
    # a start time): no hook.
    got = [p for p in attached_programs(e) if p != "vigil_enf_iter"]
    check(got == want, f"{what}: attached {got}, want {want}")
    check(pinned_links(e.pin_dir) == want, f"{what}: pinned {pinned_links(e.pin_dir)}")
    sig = len([p for p in progs if p != "vigil_enf_kill"])
    info = e.info("attached")
    check(f"cgroup:4 " in info and f"sigkill:{sig} killmap:{killmap} lsm:0" in info,
          f"{what}: info.attached {info!r}")


def wait_killmap(e, n, timeout=4):
    wait_for(lambda: f"killmap:{n}" in e.info("attached"), timeout,
             what=f"killmap:{n} in info.attached ({e.info('attached')})")


def test():
    need_root()
    d = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enf-lazy-"))
    e = Enforcer(extra=("--cgroup-kill-ms", "1500"))
    e2 = None
    procs = []
    cg = os.path.join(CG_ROOT, f"vigil-enf-lazy-{uuid.uuid4().hex[:8]}")
    try:
        with open(os.path.join(d, "shadow"), "w") as f:
            f.write("SHADOW")
        with open(os.path.join(d, "public"), "w") as f:
            f.write("PUBLIC")
        denied = os.path.join(d, "denied-true")
        shutil.copy("/bin/true", denied)
        e.start()
        build = e.info("bpf_build")
        check(build.startswith("typed"), f"this host has bpf_rdonly_cast: build {build!r}")
        ids = enforcer_prog_ids(e)
        names = sorted(ids.values())
        for p in ALWAYS + OPENS + ["vigil_enf_exec", "vigil_enf_kill"]:
            check(p in names, f"program {p} not loaded by this enforcer: {names}")

        # 1. Idle: nothing on the hot paths.
        expect(e, [], 0, "idle")
        e.policy_set(1, [{"name": "net", "mode": "enforce", "action": "override",
                          "errno": 1, "scope": {},
                          "rules": [{"kind": "connect", "cidrs": ["127.0.0.2/32"],
                                     "ports": [9]}]}])
        expect(e, [], 0, "connect-only set")

        # 2. A sigkill-tier file rule: the five open programs, and the kill works.
        e.policy_set(2, [{"name": "files", "mode": "enforce", "action": "override",
                          "errno": 13, "kill_fallback": True, "scope": {},
                          "rules": [{"kind": "file_open",
                                     "paths": [os.path.join(d, "shadow")]}]}])
        check(e.info("policy.files") == "state=armed tier=sigkill", e.info("policy.files"))
        expect(e, OPENS, 0, "file set")
        rc, out = open_in_child(os.path.join(d, "shadow"))
        check(rc == -signal.SIGKILL and out == "", f"denied open: exit {rc} {out!r}")
        rc, out = open_in_child(os.path.join(d, "public"))
        check(rc == 0 and out == "READ:PUBLIC", f"sibling: {rc} {out!r}")

        # 3. An exec rule only: the open programs go, sched_process_exec comes.
        e.policy_set(3, [{"name": "exec-deny", "mode": "enforce", "action": "sigkill",
                          "scope": {}, "rules": [{"kind": "exec", "paths": [denied]}]}])
        expect(e, ["vigil_enf_exec"], 0, "exec set")
        rc, out = open_in_child(os.path.join(d, "shadow"))
        check(rc == 0 and out == "READ:SHADOW", f"file rule gone: {rc} {out!r}")
        check(subprocess.run([denied]).returncode == -signal.SIGKILL, "denied exec")

        # 4. Crash: exactly the exec link stays pinned and enforcing; a restart adopts it.
        e.stop(signal.SIGKILL)
        check(pinned_links(e.pin_dir) == sorted(ALWAYS + ["vigil_enf_exec"]),
              f"pins after a crash: {pinned_links(e.pin_dir)}")
        check(subprocess.run([denied]).returncode == -signal.SIGKILL,
              "denied exec while no enforcer runs")
        e2 = Enforcer(pin_dir=e.pin_dir, extra=("--cgroup-kill-ms", "1500"))
        e2.start()
        check("adopted 5 pinned links" in e2.log(), f"adoption:\n{e2.log()}")
        expect(e2, ["vigil_enf_exec"], 0, "restarted")
        check(subprocess.run([denied]).returncode == -signal.SIGKILL, "denied exec, adopted")
        e2.policy_set(4, [])
        expect(e2, [], 0, "empty set")
        check(subprocess.run([denied]).returncode == 0, "exec allowed with no rule")

        # 5. Kill map, pid: attached while an entry is in the map.
        v = subprocess.Popen(["/usr/bin/python3", "-c", VICTIM])
        procs.append(v)
        time.sleep(0.1)
        e2.send("verdict", {"policy": "wrong", "action": "sigkill", "pid": v.pid,
                            "start_ktime": 1})
        wait_for(lambda: e2.counter("verdict.pid") >= 1, 3, what="verdict accepted")
        wait_killmap(e2, 1)
        expect(e2, ["vigil_enf_kill"], 1, "pid entry (wrong start time)")
        time.sleep(0.3)
        check(v.poll() is None, "a wrong start time must not kill")
        e2.send("verdict", {"policy": "killer", "action": "sigkill", "pid": v.pid,
                            "start_ktime": 0, "exec_ktime": time.monotonic_ns()})
        v.wait(timeout=3)
        check(v.returncode == -signal.SIGKILL, f"victim exit {v.returncode}")
        e2.wait_report(lambda t, ev: ev.get("policy_name") == "killer" and
                       ev.get("function_name") == "sys_enter")
        wait_killmap(e2, 0)
        expect(e2, [], 0, "kill map swept")

        # 6. Kill map, cgroup: attached until the kill window (1.5 s) ends.
        if os.path.isdir(CG_ROOT):
            os.mkdir(cg)
            w = subprocess.Popen(["/usr/bin/python3", "-c", VICTIM])
            procs.append(w)
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(w.pid))
            e2.send("verdict", {"policy": "cg-killer", "action": "sigkill",
                                "cgroup_id": os.stat(cg).st_ino})
            w.wait(timeout=3)
            check(w.returncode == -signal.SIGKILL, f"cgroup member exit {w.returncode}")
            expect(e2, ["vigil_enf_kill"], 1, "cgroup entry")
            wait_killmap(e2, 0, timeout=5)
            expect(e2, [], 0, "cgroup kill ended")

        # 7. A clean stop leaves no link and no pin.
        ids2 = enforcer_prog_ids(e2)
        e2.stop()
        check(not os.path.exists(e2.pin_dir), f"pins after a clean stop: {e2.pin_dir}")
        left = attached_programs(e2, ids2)
        check(not left, f"links left after a clean stop: {left}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if e2:
            e2.cleanup()
        e.cleanup()
        if os.path.isdir(cg):
            os.rmdir(cg)
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
