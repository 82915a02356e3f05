"""e2e: the in-kernel binaries filter. With --binaries <a copy of /bin/sh> (and
--file-prefixes on the test's directory): opens by that shell are exported, and so are
those of its forked subshell (a fork runs its parent's binary), of a copy started before
the collector (found in /proc at start), while the same opens by /bin/cat, and by a
command the listed shell execs, are not sent at all (kernel.emitted.file counts exactly
the listed ones). With --ignore-binaries the same shell is the one left out and /bin/cat's
opens come through. Both options together, or a relative path, are refused."""
import os
import shutil
import subprocess
import tempfile
import time

from collectortest import export_opens
from vigiltest import ROOT, Tree, check, need_root, run_test


def opens(t, path):
    """pids of the processes whose opens of path were exported."""
    return [e["process"]["pid"] for e in export_opens(t, path)]


def test():
    need_root()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-bins-"))
    os.chmod(base, 0o755)
    vsh = os.path.join(base, "vsh")
    shutil.copy("/bin/sh", vsh)
    os.chmod(vsh, 0o755)
    target, go = os.path.join(base, "target"), os.path.join(base, "go")
    with open(target, "w") as f:
        f.write("x\n")
    early = None
    try:
        # listed: only the copy of sh
        early = subprocess.Popen([vsh, "-c", f"while [ ! -e {go} ]; do sleep 0.05; done; "
                                  f"exec 3< {target}; true"])
        t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
                 env={"VIGIL_COLLECTOR_OPTS":
                      f"--events process,file --file-prefixes {base}/ --binaries {vsh} "
                      "--scan 0"})
        try:
            t.start()
            info = t.status("collector")["info"]
            check(info.get("binaries") == vsh, f"status info binaries {info.get('binaries')!r}")
            open(go, "w").close()            # the early shell opens target now
            early.wait(timeout=10)
            a = subprocess.Popen([vsh, "-c", f"exec 3< {target}; ( exec 4< {target}; true ); "
                                  f"/bin/cat {target} >/dev/null; true"])
            a.wait(timeout=10)
            c = subprocess.run(["/bin/cat", target], stdout=subprocess.DEVNULL)
            check(c.returncode == 0, "cat ran")
            # the early shell, the shell and its subshell: three opens of target
            deadline = time.time() + 10
            while len(opens(t, target)) < 3 and time.time() < deadline:
                time.sleep(0.1)
            got = opens(t, target)
            check(early.pid in got and a.pid in got and len(got) == 3,
                  f"opens of target by {got}: want the early shell {early.pid}, the shell "
                  f"{a.pid} and its subshell")
            time.sleep(0.5)
            got = opens(t, target)
            check(len(got) == 3, f"opens by unlisted binaries were exported: {got}")
            cnt = t.status("collector")["counters"]
            # the go file's creation is the test's own (python, unlisted): nothing else
            check(cnt.get("kernel.emitted.file") == 3,
                  f"kernel.emitted.file {cnt.get('kernel.emitted.file')}, want 3: the kernel "
                  "sent opens of unlisted binaries")
            t.stop()
            check(not t.leaked_progs(), "BPF programs left loaded after stop")
        finally:
            t.cleanup()

        # ignored: the copy of sh is the one left out
        t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
                 env={"VIGIL_COLLECTOR_OPTS":
                      f"--events process,file --file-prefixes {base}/ "
                      f"--ignore-binaries {vsh} --scan 0"})
        try:
            t.start()
            a = subprocess.Popen([vsh, "-c", f"exec 3< {target}; /bin/cat {target} >/dev/null"])
            a.wait(timeout=10)
            deadline = time.time() + 10
            while not opens(t, target) and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            got = opens(t, target)
            check(len(got) == 1 and got[0] != a.pid,
                  f"with the shell ignored, opens of target by {got}: want only cat's "
                  f"(the shell is {a.pid})")
            t.stop()
        finally:
            t.cleanup()

        # refused configurations
        for opts in (["--binaries", vsh, "--ignore-binaries", vsh], ["--binaries", "bin/sh"]):
            r = subprocess.run([os.path.join(ROOT, "build", "vigil-collector"), "--rundir", base,
                                "--events", "process,file"] + opts,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=20)
            check(r.returncode != 0 and "binaries" in r.stdout,
                  f"{opts}: exit {r.returncode}: {r.stdout[-300:]}")
    finally:
        if early and early.poll() is None:
            early.kill()
            early.wait()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
