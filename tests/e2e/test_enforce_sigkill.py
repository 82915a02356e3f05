"""enforcer, Sigkill tier on the host kernel (no BPF LSM here): a file_open override
policy without kill_fallback is reported as not enforceable (disarmed, never silently
weaker) and kills nobody; with kill_fallback a child opening the denied file, through a
relative path, a symlink or the legacy open(2) syscall, dies by SIGKILL before it reads a byte (its parent sees
SIGKILL), a sibling file and a path outside the prefix are unaffected, and the report
says process_kprobe sys_openat KPROBE_ACTION_SIGKILL with the resolved path. An exec
deny-list kills the denied binary (the copy's code never runs) and an exec allow-list
(not_binaries) kills everything else in its scope; monitor mode lets both through and
reports. Self-protection: a policy that would block vigil's or s6's binaries is refused
with a clear error; verdicts for PID 1 are refused. A rule with uids kills only an opener
of that uid."""
import os
import shutil
import signal
import subprocess
import tempfile

from enforcetest import Enforcer
from vigiltest import check, need_root, run_test, wait_for

CHILD_OPEN = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
data = os.read(fd, 100)
sys.stdout.write("READ:" + data.decode())
sys.stdout.flush()
"""


def open_in_child(path, cwd=None):
    p = subprocess.run(["/usr/bin/python3", "-c", CHILD_OPEN, path], cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    return p.returncode, p.stdout


def file_policy(name, d, kill_fallback, mode="enforce"):
    return {"name": name, "mode": mode, "action": "override", "errno": 13,
            "kill_fallback": kill_fallback, "scope": {},
            "rules": [{"kind": "file_open", "paths": [os.path.join(d, "shadow")],
                       "prefixes": [os.path.join(d, "secret/")]}]}


def test():
    need_root()
    d = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enf-files-"))
    e = Enforcer()
    try:
        for rel, text in (("shadow", "SHADOW"), ("public", "PUBLIC"),
                          ("secret/key", "KEY"), ("secretive", "NOTSECRET")):
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        os.symlink(os.path.join(d, "shadow"), os.path.join(d, "link"))
        e.start()
        check("override(file,exec)=unavailable" in e.info("tiers"), e.info("tiers"))

        # 1. Override asked, no LSM, no kill_fallback: not enforceable, said so.
        e.policy_set(1, [file_policy("files-strict", d, False)])
        info = e.info("policy.files-strict")
        check(info.startswith("state=disarmed") and "not enforceable on this node" in info,
              f"info {info!r}")
        rc, out = open_in_child(os.path.join(d, "shadow"))
        check(rc == 0 and out == "READ:SHADOW", f"disarmed policy must not kill: {rc} {out!r}")

        # 2. kill_fallback: the Sigkill tier.
        e.policy_set(2, [file_policy("files", d, True)])
        check(e.info("policy.files") == "state=armed tier=sigkill", e.info("policy.files"))
        rc, out = open_in_child("shadow", cwd=d)
        check(rc == -signal.SIGKILL, f"relative open: exit {rc}, want SIGKILL")
        check(out == "", f"no byte read: {out!r}")
        rc, _ = open_in_child(os.path.join(d, "link"))
        check(rc == -signal.SIGKILL, f"open through a symlink: exit {rc}")
        rc, _ = open_in_child(os.path.join(d, "secret", "..", "secret", "key"))
        check(rc == -signal.SIGKILL, f"prefix rule: exit {rc}")
        p = subprocess.run(["/usr/bin/python3", "-c", "import ctypes,sys\n"
                            "libc=ctypes.CDLL(None)\n"
                            "fd=libc.syscall(2, sys.argv[1].encode(), 0)\n"
                            "print('OPENED', fd)", os.path.join(d, "shadow")],
                           stdout=subprocess.PIPE, text=True)
        check(p.returncode == -signal.SIGKILL and "OPENED" not in p.stdout,
              f"legacy open(2) syscall: exit {p.returncode} {p.stdout!r}")
        rc, out = open_in_child(os.path.join(d, "public"))
        check(rc == 0 and out == "READ:PUBLIC", f"sibling unaffected: {rc} {out!r}")
        rc, out = open_in_child(os.path.join(d, "secretive"))
        check(rc == 0 and out == "READ:NOTSECRET", f"outside the prefix: {rc} {out!r}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "files" and
                          ev["args"][0]["file_arg"]["path"] == os.path.join(d, "shadow"))
        ev = m["ev"]
        check(m["type"] == "process_kprobe" and ev["function_name"] == "sys_openat",
              f"report {m}")
        check(ev["action"] == "KPROBE_ACTION_SIGKILL", f"action {ev['action']}")
        check(ev["start_ktime"] > 0, "start_ktime of the killed process")
        e.wait_report(lambda t, ev: ev.get("policy_name") == "files" and
                      ev["args"][0]["file_arg"]["path"] == os.path.join(d, "secret/key"))
        wait_for(lambda: e.counter("enforce.files.killed") >= 3, 3, what="killed counter")

        # 3. Exec deny-list and allow-list; monitor mode.
        denied = os.path.join(d, "denied-true")
        shutil.copy("/bin/true", denied)
        okbin = os.path.join(d, "ok-true")
        shutil.copy("/bin/true", okbin)
        allowdir = os.path.join(d, "jail")
        os.mkdir(allowdir)
        jailed_ok = os.path.join(allowdir, "allowed")
        jailed_bad = os.path.join(allowdir, "other")
        shutil.copy("/bin/echo", jailed_ok)
        shutil.copy("/bin/echo", jailed_bad)
        e.policy_set(3, [
            {"name": "exec-deny", "mode": "enforce", "action": "sigkill", "scope": {},
             "rules": [{"kind": "exec", "paths": [denied]}]},
            {"name": "exec-allow", "mode": "enforce", "action": "sigkill", "scope": {},
             "rules": [{"kind": "exec", "prefixes": [allowdir + "/"],
                        "not_binaries": [jailed_ok]}]}])
        p = subprocess.run([denied])
        check(p.returncode == -signal.SIGKILL, f"denied exec: exit {p.returncode}")
        check(subprocess.run([okbin]).returncode == 0, "other binary runs")
        p = subprocess.run([jailed_bad, "hi"], stdout=subprocess.PIPE)
        check(p.returncode == -signal.SIGKILL and p.stdout == b"",
              f"allow-list: other binary {p.returncode} {p.stdout!r}")
        p = subprocess.run([jailed_ok, "hi"], stdout=subprocess.PIPE)
        check(p.returncode == 0 and p.stdout == b"hi\n", f"allow-listed binary {p}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "exec-deny")
        check(m["ev"]["args"][0]["linux_binprm_arg"]["path"] == denied, f"exec report {m}")
        e.policy_set(4, [
            {"name": "exec-deny", "mode": "monitor", "action": "sigkill", "scope": {},
             "rules": [{"kind": "exec", "paths": [denied]}]},
            file_policy("files", d, True, mode="monitor")])
        check(subprocess.run([denied]).returncode == 0, "monitor: exec runs")
        rc, out = open_in_child(os.path.join(d, "shadow"))
        check(rc == 0 and out == "READ:SHADOW", f"monitor: open works: {rc}")
        e.wait_report(lambda t, ev: ev.get("policy_name") == "exec-deny" and
                      ev["action"] == "KPROBE_ACTION_POST" and
                      ev.get("message") == "would have blocked")
        e.wait_report(lambda t, ev: ev.get("policy_name") == "files" and
                      ev["action"] == "KPROBE_ACTION_POST")

        # 4. Self-protection.
        refused = e.counter("policy.refused")
        e.policy_set(5, [
            {"name": "no-shells", "mode": "enforce", "action": "sigkill", "scope": {},
             "rules": [{"kind": "exec", "prefixes": ["/usr/bin/"]}]},
            {"name": "no-vigil", "mode": "enforce", "action": "sigkill", "scope": {},
             "rules": [{"kind": "file_open", "prefixes": [os.path.dirname(
                 os.path.realpath(e.proc.args[0])) + "/"]}]},
            {"name": "pod-only", "mode": "enforce", "action": "sigkill",
             "scope": {"namespaces": ["prod"]},
             "rules": [{"kind": "exec", "prefixes": ["/usr/bin/"]}]}])
        for n in ("no-shells", "no-vigil"):
            info = e.info(f"policy.{n}")
            check(info.startswith("state=disarmed: refused (self-protection)") and
                  "vigil or its supervisor needs" in info, f"{n}: {info!r}")
        check(e.info("policy.pod-only").startswith("state=armed"),
              "a pod-scoped rule cannot hit vigil on the host")
        check(e.counter("policy.refused") == refused + 2, "refusals counted")
        check(subprocess.run(["/usr/bin/true"]).returncode == 0, "nothing blocked")
        vr = e.counter("verdict.refused")
        e.send("verdict", {"policy": "p", "action": "sigkill", "pid": 1, "start_ktime": 1})
        wait_for(lambda: e.counter("verdict.refused") == vr + 1, 3, what="pid 1 refused")

        # 5. uids: the rule holds for the opener's uid 4242 only (the uid is read once the
        # path has matched a rule): root reads the file, uid 4242 dies opening it.
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "public"), 0o644)
        e.policy_set(6, [{"name": "files-uid", "mode": "enforce", "action": "sigkill",
                          "scope": {}, "rules": [{"kind": "file_open", "uids": [4242],
                                                   "paths": [os.path.join(d, "public")]}]}])
        check(e.info("policy.files-uid") == "state=armed tier=sigkill",
              e.info("policy.files-uid"))
        rc, out = open_in_child(os.path.join(d, "public"))
        check(rc == 0 and out == "READ:PUBLIC", f"uid 0 is not in the rule: {rc} {out!r}")
        p = subprocess.run(["/usr/bin/python3", "-c", CHILD_OPEN, os.path.join(d, "public")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=20, user=4242, group=4242)
        check(p.returncode == -signal.SIGKILL and p.stdout == "",
              f"uid 4242 opening it: exit {p.returncode} {p.stdout!r} {p.stderr[-200:]!r}")
    finally:
        e.cleanup()
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
