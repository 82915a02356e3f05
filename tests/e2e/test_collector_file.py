"""e2e: with the whole tree under s6, this process opens one file spelled every evasive
way (relative after chdir, dirfd, "..", "//", ".", a symlink) and each open reaches the
JSON export as a process_kprobe security_file_open whose file_arg path is the real
absolute path, with the fd as return; a failed open carries -ENOENT, the joined path and
the user's string; unlink, rename, chmod u+s and setxattr security.capability come out as
security_path_unlink / _rename / _chmod and security_inode_setxattr with real paths. An open
and an fchmod through a bind mount of a directory report the source's path, with the path
through the mount in string_arg [mount_path]. The prefix filter is not evaded by spelling:
a setgid chmod through /proc/self/fd/DIRFD/name and a short-lived /bin/chmod through a
symlink outside the prefix are sent with the file's path."""
import errno
import os
import shutil
import subprocess
import tempfile

from collectortest import Export
from vigiltest import Tree, check, need_root, run_test


def kprobes(x, fn, pred):
    """The export's process_kprobe events of this process with function fn matching pred
    (read incrementally: the export is large when every open of the machine is sent)."""
    return x.kprobe(fn, os.getpid(), pred)


def arg_path(e, i=0):
    a = e["args"][i]
    v = a.get("file_arg") or a.get("path_arg") or {}
    return v.get("path")


def labelled(e, label):
    for a in e["args"]:
        if a.get("label") == label:
            return [v for k, v in a.items() if k != "label"][0]
    return None


def test():
    need_root()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-file-"))
    outside = os.path.realpath(tempfile.mkdtemp(prefix="vigil-file-out-"))
    target = os.path.join(base, "shadow")
    sub = os.path.join(base, "sub")
    os.mkdir(sub)
    with open(target, "w") as f:
        f.write("x")
    os.symlink(target, os.path.join(base, "link"))
    src = os.path.join(base, "src")
    mnt = os.path.join(base, "mnt")
    os.mkdir(src)
    os.mkdir(mnt)
    with open(os.path.join(src, "secret"), "w") as f:
        f.write("x")
    mounted = False
    old = os.getcwd()
    # the enforcer is not needed to see events
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             # only this test's directory: a machine busy with other opens cannot
             # overflow the ring with events the test does not look at
             env={"VIGIL_COLLECTOR_OPTS": f"--events process,file --file-prefixes {base}/"})
    try:
        t.start()
        x = Export(t)
        fds = []
        os.chdir(base)
        fds.append(("relative after chdir", os.open("shadow", os.O_RDONLY)))
        os.chdir(old)
        fds.append(("dir//./shadow", os.open(base + "//./shadow", os.O_RDONLY)))
        fds.append(("sub/../shadow", os.open(sub + "/../shadow", os.O_RDONLY)))
        fds.append(("symlink", os.open(os.path.join(base, "link"), os.O_RDONLY)))
        d = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(("dirfd ../shadow", os.open("../shadow", os.O_RDONLY, dir_fd=d)))
        for what, fd in fds:
            e = kprobes(x, "security_file_open",
                        lambda e, fd=fd: e.get("return", {}).get("int_arg") == fd
                        and arg_path(e) == target)
            check(labelled(e, "syscall") == "openat", f"{what}: syscall {e['args']}")
            check(e["args"][0]["file_arg"].get("permission") == "-rw-r--r--",
                  f"{what}: permission {e['args'][0]}")
            check(e.get("action") == "KPROBE_ACTION_POST", f"{what}: action")
            check(e["process"]["binary"].endswith("python3") or "python" in
                  e["process"]["binary"], f"{what}: process {e['process'].get('binary')}")
            os.close(fd)
        # every path length on both sides of the kernel's short-path copy (plain loads in
        # blocks of 32, 64 or 128 bytes, a helper past that; the prefix filter's key from
        # one 128-byte block): the exported path is the file's, byte for byte, nothing
        # lost or added at its end
        for n in list(range(119, 139)) + [32, 33, 40, 64, 65, 200]:
            tag = os.path.join(base, f"L{n}-")
            p = tag + "x" * (n - len(tag))
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
            os.unlink(p)
            e = kprobes(x, "security_file_open",
                        lambda e, fd=fd, tag=tag: e.get("return", {}).get("int_arg") == fd
                        and (arg_path(e) or "").startswith(tag))
            check(len(p) == n and arg_path(e) == p,
                  f"path of {n} bytes: {arg_path(e)!r}, want {p!r}")
            os.close(fd)
        # a failed open: -ENOENT, the dirfd-joined path, the user's string
        try:
            os.open("..//nothere", os.O_RDONLY, dir_fd=d)
        except FileNotFoundError:
            pass
        e = kprobes(x, "security_file_open",
                    lambda e: arg_path(e) == os.path.join(base, "nothere"))
        check(e["return"]["int_arg"] == -errno.ENOENT, f"failed open return {e['return']}")
        check("unresolvedPath" in e["args"][0]["file_arg"].get("flags", ""),
              f"failed open flags {e['args'][0]}")
        check(labelled(e, "user_path") == "..//nothere", f"user_path {e['args']}")
        os.close(d)
        # persistence/tampering writes
        os.chmod(target, 0o4755)
        e = kprobes(x, "security_path_chmod", lambda e: arg_path(e) == target)
        check(labelled(e, "mode") == 0o4755 and e["return"]["int_arg"] == 0,
              f"chmod args {e['args']}")
        os.chmod(target, 0o644)   # no setuid bit: not sent by default
        try:
            os.setxattr(target, "security.capability", b"\x01\x00\x00\x02" + b"\x00" * 16)
        except OSError:
            pass
        e = kprobes(x, "security_inode_setxattr", lambda e: arg_path(e) == target)
        check(labelled(e, "name") == "security.capability", f"setxattr args {e['args']}")
        os.chdir(base)
        os.rename("shadow", "sub/../shadow2")
        os.chdir(old)
        e = kprobes(x, "security_path_rename", lambda e: arg_path(e) == target)
        check(arg_path(e, 1) == os.path.join(base, "shadow2"), f"rename args {e['args']}")
        os.unlink(os.path.join(base, "shadow2"))
        e = kprobes(x, "security_path_unlink",
                    lambda e: arg_path(e) == os.path.join(base, "shadow2"))
        check(e["return"]["int_arg"] == 0, f"unlink return {e['return']}")
        # the chmod without setuid/setgid was filtered in the kernel
        n = [ev for ev in x.events if ev.get("process_kprobe", {}).get("function_name") ==
             "security_path_chmod" and ev["process_kprobe"]["process"]["pid"] == os.getpid()
             and "policy_name" not in ev["process_kprobe"]]  # policy matches are copies
        check(len(n) == 1, f"{len(n)} chmod events, want 1 (0644 is filtered): {[{k: v for k, v in ev['process_kprobe'].items() if k not in ('process', 'parent')} for ev in n]}")
        # a bind mount of a subtree: the source path, the mount's path as mount_path
        subprocess.run(["mount", "--bind", src, mnt], check=True)
        mounted = True
        fd = os.open(os.path.join(mnt, "secret"), os.O_RDONLY)
        e = kprobes(x, "security_file_open",
                    lambda e: e.get("return", {}).get("int_arg") == fd
                    and labelled(e, "mount_path") is not None)
        os.close(fd)
        check(arg_path(e) == os.path.join(src, "secret"), f"bind mount open path {e['args']}")
        check(labelled(e, "mount_path") == os.path.join(mnt, "secret"),
              f"bind mount open mount_path {e['args']}")
        # fchmod: the file from the fd (a file_arg), so the mount is known
        fd = os.open(os.path.join(mnt, "secret"), os.O_RDONLY)
        os.fchmod(fd, 0o4644)
        os.close(fd)
        e = kprobes(x, "security_path_chmod",
                    lambda e: labelled(e, "mount_path") == os.path.join(mnt, "secret"))
        check(arg_path(e) == os.path.join(src, "secret") and "file_arg" in e["args"][0],
              f"bind mount fchmod path {e['args']}")
        check(t.counter("collector", "ringbuf_lost.file") == 0, "no file events lost")
        check(t.counter("collector", "kernel.emitted.file") > 0, "file events counted")
        # the prefix filter cannot be passed by spelling the path another way: a
        # setgid chmod of a file under the prefix through /proc/self/fd/DIRFD/name, and
        # by a short-lived /bin/chmod through a symlink outside the prefix, are both
        # sent, with the file's path
        for f in ("pfd", "pcmd"):
            with open(os.path.join(base, f), "w") as fo:
                fo.write("x")
        os.symlink(os.path.join(base, "pcmd"), os.path.join(outside, "plink"))
        d = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.chmod(f"/proc/self/fd/{d}/pfd", 0o2755)
        finally:
            os.close(d)
        p = subprocess.Popen(["/bin/chmod", "2755", os.path.join(outside, "plink")])
        x.watch(p.pid)
        check(p.wait(timeout=10) == 0, "/bin/chmod of a symlink failed")
        x.find("process_exit", lambda e: e["process"]["pid"] == p.pid, what="chmod's exit")
        fd = os.open(os.path.join(base, "psentinel"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        kprobes(x, "security_file_open",
                lambda e: arg_path(e) == os.path.join(base, "psentinel"))
        late = t.counter("collector", "filtered.late_prefix")
        bad = []
        for what, pid, want in [("chmod g+s of /proc/self/fd/DIRFD/pfd", os.getpid(),
                                 os.path.join(base, "pfd")),
                                ("/bin/chmod g+s of a symlink outside the prefix", p.pid,
                                 os.path.join(base, "pcmd"))]:
            got = [ev["process_kprobe"] for ev in x.events
                   if ev.get("process_kprobe", {}).get("function_name") ==
                   "security_path_chmod" and ev["process_kprobe"]["process"]["pid"] == pid
                   and labelled(ev["process_kprobe"], "mode") == 0o2755]
            if not got:
                bad.append(f"{what}: no security_path_chmod sent (collector "
                           f"filtered.late_prefix={late})")
            elif arg_path(got[0]) != want:
                bad.append(f"{what}: path {arg_path(got[0])!r}, want {want!r}: "
                           f"{got[0]['args']}")
        check(not bad, "; ".join(bad))
        t.stop()
        left = t.leaked_progs()
        check(not left, f"BPF programs left loaded after stop: {left}")
    finally:
        os.chdir(old)
        t.cleanup()
        if mounted:
            subprocess.run(["umount", "-l", mnt], check=False)
        for p in ("src/secret",):
            try:
                os.unlink(os.path.join(base, p))
            except OSError:
                pass
        os.rmdir(src)
        os.rmdir(mnt)
        shutil.rmtree(outside, ignore_errors=True)
        for p in ("link", "shadow", "shadow2", "pfd", "pcmd", "psentinel"):
            try:
                os.unlink(os.path.join(base, p))
            except OSError:
                pass
        os.rmdir(sub)
        os.rmdir(base)


run_test(test)
