"""e2e: exec extras and the start-up scan, through the whole tree to the JSON export.
- A shell started before the tree appears as a process_exec flagged procFS; a later exec
  from it has parent_exec_id = that procFS exec's exec_id.
- A setuid-root copy of `id` run as nobody: binary_properties.setuid 0,
  privileges_changed PRIVILEGES_RAISED_EXEC_FILE_SETUID, process_credentials euid 0, uid 65534.
- A copy with a file capability (setcap cap_net_raw+ep) run as nobody:
  PRIVILEGES_RAISED_EXEC_FILE_CAP and CAP_NET_RAW in cap.permitted.
- A memfd exec: binary /memfd:..., flag memfdExec; a deleted binary: flag deletedBinary,
  links 0.
- Namespace inodes equal stat -L /proc/PID/ns/*, is_host on the host; a root process has
  CAP_SYS_ADMIN and DAC_OVERRIDE (Tetragon's spelling) in cap.effective."""
import os
import shutil
import subprocess
import tempfile

from collectortest import Export
from vigiltest import Tree, check, need_root, run_test, unique_tag

NOBODY = 65534
NS = ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children",
      "cgroup", "user"]


def as_nobody():
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


def test():
    need_root()
    base = tempfile.mkdtemp(prefix="vigil-exec-")
    os.chmod(base, 0o755)
    # started before the tree: waits for a line, then runs /bin/true TAG
    tag = unique_tag("pre")
    pre = subprocess.Popen(["/bin/sh", "-c", f"read x; /bin/true {tag}"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"])
    procs = []
    try:
        t.start()
        x = Export(t)
        x.watch(pre.pid)
        scanned = x.find("process_exec", lambda e: e["process"]["pid"] == pre.pid,
                         what="the procFS exec of the shell started before the tree")
        check("procFS" in scanned["process"].get("flags", "").split(),
              f"pre-existing process flags {scanned['process'].get('flags')}")
        check(scanned["process"].get("arguments") == f"-c read x; /bin/true {tag}",
              f"procFS arguments {scanned['process'].get('arguments')}")
        pre.stdin.write(b"go\n")
        pre.stdin.close()
        pre.wait(timeout=10)
        # the /bin/true child's pid is unknown here: look for it by its argument
        child = t.find("process_exec", lambda e: e["process"].get("arguments") == tag,
                       timeout=15)["process_exec"]
        check(child["process"].get("parent_exec_id") == scanned["process"]["exec_id"],
              f"parent_exec_id {child['process'].get('parent_exec_id')} != procFS exec_id "
              f"{scanned['process']['exec_id']}")

        # setuid-root copy of id, run as nobody
        suid = os.path.join(base, "suid-id")
        shutil.copy("/usr/bin/id", suid)
        os.chmod(suid, 0o4755)
        p = subprocess.Popen([suid], preexec_fn=as_nobody, stdout=subprocess.PIPE)
        out = p.communicate(timeout=10)[0].decode()
        check("euid=0" in out, f"setuid copy did not raise: {out}")
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
        bp = e.get("binary_properties", {})
        check(bp.get("setuid") == 0, f"binary_properties {bp}")
        check("PRIVILEGES_RAISED_EXEC_FILE_SETUID" in bp.get("privileges_changed", []),
              f"privileges_changed {bp}")
        pc = e.get("process_credentials", {})
        check(pc.get("uid") == NOBODY and pc.get("euid") == 0 and pc.get("gid") == NOBODY,
              f"process_credentials {pc}")
        check(bp.get("file", {}).get("path") == suid
              and bp["file"]["inode"]["number"] == str(os.stat(suid).st_ino),
              f"binary file {bp.get('file')}")

        # file capability
        fcap = os.path.join(base, "fcap-true")
        shutil.copy("/bin/true", fcap)
        if shutil.which("setcap") and subprocess.run(["setcap", "cap_net_raw+ep", fcap]).returncode == 0:
            p = subprocess.Popen([fcap], preexec_fn=as_nobody)
            p.wait(timeout=10)
            x.watch(p.pid)
            e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
            check("PRIVILEGES_RAISED_EXEC_FILE_CAP" in
                  e.get("binary_properties", {}).get("privileges_changed", []),
                  f"file cap privileges_changed {e.get('binary_properties')}")
            check("CAP_NET_RAW" in e.get("cap", {}).get("permitted", []),
                  f"file cap permitted {e.get('cap')}")
            check("CAP_SYS_ADMIN" not in e.get("cap", {}).get("permitted", []),
                  f"nobody has only the file's caps {e.get('cap')}")
        else:
            print("note: setcap unavailable, file capability case not run", flush=True)

        # memfd exec
        code = ("import os; src=open('/bin/true','rb').read(); fd=os.memfd_create('vigilmem');"
                "os.write(fd, src); os.execve(fd, ['true'], {})")
        p = subprocess.Popen(["/usr/bin/python3", "-c", code])
        p.wait(timeout=10)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid
                   and e["process"]["binary"].startswith("/memfd:"))["process"]
        check(e["binary"] == "/memfd:vigilmem", f"memfd binary {e['binary']}")
        check("memfdExec" in e.get("flags", "").split(), f"memfd flags {e.get('flags')}")

        # deleted binary: opened, unlinked, then executed through its fd
        gone = os.path.join(base, "gone-true")
        shutil.copy("/bin/true", gone)
        code = (f"import os; fd=os.open({gone!r}, os.O_RDONLY); os.unlink({gone!r});"
                "os.execve(fd, ['true'], {})")
        p = subprocess.Popen(["/usr/bin/python3", "-c", code])
        p.wait(timeout=10)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid
                   and e["process"]["binary"] == gone)["process"]
        check("deletedBinary" in e.get("flags", "").split(), f"deleted flags {e.get('flags')}")
        check(e["binary_properties"]["file"]["inode"].get("links", 0) == 0,
              f"deleted links {e['binary_properties']}")

        # namespaces and capabilities of a running root process
        p = subprocess.Popen(["/bin/sleep", "5"])
        procs.append(p)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
        ns = e.get("ns", {})
        for n in NS:
            try:
                want = os.stat(f"/proc/{p.pid}/ns/{n}").st_ino
            except FileNotFoundError:
                continue
            check(ns.get(n, {}).get("inum") == want, f"ns {n}: {ns.get(n)} != {want}")
            # is_host: the initial namespace (kernel threads'; /proc/1/ns may be
            # closed here); this test runs in the initial ones
            check(ns[n].get("is_host") is True, f"ns {n} is_host {ns[n]}")
        eff = e.get("cap", {}).get("effective", [])
        check("CAP_SYS_ADMIN" in eff and "DAC_OVERRIDE" in eff and "CAP_DAC_OVERRIDE" not in eff,
              f"root caps {eff}")
        t.stop()
        left = t.leaked_progs()
        check(not left, f"BPF programs left loaded after stop: {left}")
    finally:
        if pre.poll() is None:
            pre.kill()
            pre.wait()
        for p in procs:
            p.kill()
            p.wait()
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
