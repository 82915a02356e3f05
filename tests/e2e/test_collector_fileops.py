"""e2e: every file syscall the collector hooks, made with real syscalls (ctypes for the
ones Python's os module does not call directly), reaches the JSON export with the
exported function_name, the syscall label, the resolved path(s), the open flags and MODE
argument as passed, the file's permission, and the syscall's return:
- open(2), openat2(2) (struct open_how: flags, mode, resolve), creat(2): security_file_open
  with flags/mode as passed (creat = O_CREAT|O_WRONLY|O_TRUNC), permission after the umask,
  return = the fd; a failing open(2) (ENOENT, relative) and a failing openat as nobody
  (EACCES, in `cat`) carry -errno, the joined path and unresolvedPath;
- link(2) and linkat(2) (dirfds, AT_SYMLINK_FOLLOW): security_path_link, both paths;
- symlink(2), symlinkat(2): security_path_symlink, the new link's path and the target as
  written;
- truncate(2) and ftruncate(2): security_path_truncate, path_arg / file_arg, size_arg
  length;
- chmod(2) setting setgid (02750), fchmodat setting setuid and fchmodat2 both: mode and
  new_permission; renameat2 with RENAME_NOREPLACE: both paths and the flags;
- lsetxattr (of a symlink: the link itself) and fsetxattr of security.capability;
- path operations whose object is reached through a symlink (truncate, chmod, setxattr,
  linkat AT_SYMLINK_FOLLOW), through /proc/self/fd/DIRFD/name, /proc/self/root/... and
  /proc/self/fd/FD, and `/bin/chmod g+s` of a symlink (a command gone before its event is
  read): the path is the object the kernel changed; link(2), rename(2) and unlink(2) of a
  symlink (which do not follow it): the symlink's own path.
Then /etc/shadow read every evasive way: `cat shadow` from cwd /etc, `cat /etc//./shadow`,
`cat ../..(...)/etc/shadow`, `cat` through a symlink to it, through /proc/self/root and
through /proc/self/fd/N of an inherited /etc dirfd, openat with a dirfd of /etc, and
an open through a bind mount of /etc: each reported with path exactly /etc/shadow (the bind
mount's path as string_arg [mount_path]).
File events on, no --file-prefixes: the collector is limited to a cgroup of the test's
own (--cgroups), which this process joins only while it makes the syscalls."""
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import time

from collectortest import CG_ROOT, Export
from vigiltest import Tree, check, need_root, run_test, skip

NOBODY = 65534
SHADOW = "/etc/shadow"
O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC = os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_CLOEXEC
RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x04, 0x08
AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400
SYS_OPEN, SYS_CREAT, SYS_LINK, SYS_SYMLINK, SYS_TRUNCATE, SYS_CHMOD = 2, 85, 86, 88, 76, 90
SYS_RENAME, SYS_UNLINK, SYS_RENAMEAT2, SYS_FCHMODAT2 = 82, 87, 316, 452
RENAME_NOREPLACE = 1
SYS_LINKAT, SYS_SYMLINKAT, SYS_OPENAT2 = 265, 266, 437
CAPV2 = b"\x00\x00\x00\x02" + b"\x00" * 16   # VFS_CAP_REVISION_2, no bits

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def sysc(nr, *args):
    """syscall(nr, args...): the result, or -errno (as the export carries it)."""
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    r = libc.syscall(ctypes.c_long(nr), *conv)
    return -ctypes.get_errno() if r < 0 else r


def labelled(e, label):
    for a in e["args"]:
        if a.get("label") == label:
            return [v for k, v in a.items() if k != "label"][0]
    return None


def operand(e, i=0):
    """The i-th file_arg/path_arg map of e (in order), {} if none."""
    ops = [a.get("file_arg") or a.get("path_arg") for a in e["args"]
           if "file_arg" in a or "path_arg" in a]
    return ops[i] if i < len(ops) else {}


def show(e):
    return json.dumps({"fn": e.get("function_name"), "args": e.get("args"),
                       "return": e.get("return")})


def my_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return os.path.join(CG_ROOT, line[3:].strip().lstrip("/"))
    return CG_ROOT


def join(cg):
    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def as_nobody():
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


class Expect:
    """The checks to make on the export once the syscalls are done."""

    def __init__(self):
        self.items = []

    def add(self, what, pid, fn, sysname, ret, **want):
        self.items.append((what, pid, fn, sysname, ret, want))


def verify(x, item):
    """Find the event of item (its pid, function, syscall label, return) and check the
    wanted fields; fail listing what the pid did send for that function."""
    what, pid, fn, sysname, ret, want = item
    want = dict(want)
    sel = want.pop("sel", {})
    evs = [e["process_kprobe"] for e in x.events if "process_kprobe" in e
           and e["process_kprobe"]["process"]["pid"] == pid
           and "policy_name" not in e["process_kprobe"]
           and e["process_kprobe"].get("function_name") == fn]
    cands = [e for e in evs if labelled(e, "syscall") == sysname
             and e.get("return", {}).get("int_arg") == ret
             and all(labelled(e, k) == v for k, v in sel.items())]
    # several opens of one syscall and fd (cat opens its libraries first): the one
    # whose path is the wanted one, else the last (the file cat was given)
    if want.get("path") is not None:
        exact = [e for e in cands if operand(e).get("path") == want["path"]]
        cands = exact or cands[-1:]
    check(cands, f"{what}: no {fn} [{sysname}] returning {ret} from pid {pid}; "
                 f"its {fn} events: {[show(e) for e in evs][-6:]}")
    e = cands[0]
    o0, o1 = operand(e, 0), operand(e, 1)
    got = {
        "path": o0.get("path"),
        "path2": o1.get("path"),
        "kind": "file_arg" if "file_arg" in e["args"][0] else "path_arg",
        "permission": o0.get("permission"),
        "pflags": set(o0.get("flags", "").split()),
        "flags": labelled(e, "flags"),
        "mode": labelled(e, "mode"),
        "length": labelled(e, "length"),
        "target": labelled(e, "target"),
        "name": labelled(e, "name"),
        "new_permission": labelled(e, "new_permission"),
        "user_path": labelled(e, "user_path"),
        "user_path2": labelled(e, "user_path2"),
        "mount_path": labelled(e, "mount_path"),
        "uid": e["process"].get("uid"),
        "action": e.get("action"),
    }
    for k, v in want.items():
        if k == "pflags_has":
            check(v <= got["pflags"], f"{what}: path flags {got['pflags']} lack {v}: {show(e)}")
        elif k == "new_permission_tail":
            check((got["new_permission"] or "").endswith(v) and
                  len(got["new_permission"]) in (9, 10),
                  f"{what}: new_permission {got['new_permission']!r}, want ..{v}: {show(e)}")
        elif k == "pflags_not":
            check(not (v & got["pflags"]), f"{what}: path flags {got['pflags']} have {v}: "
                                           f"{show(e)}")
        else:
            check(got[k] == v, f"{what}: {k} = {got[k]!r}, want {v!r}: {show(e)}")
    check(got["action"] == "KPROBE_ACTION_POST", f"{what}: action {got['action']}")


def test():
    need_root()
    if not os.path.exists(os.path.join(CG_ROOT, "cgroup.procs")):
        skip(f"no cgroup v2 hierarchy at {CG_ROOT}")
    if not os.path.exists(SHADOW):
        skip("no /etc/shadow")
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-fileops-"))
    os.chmod(base, 0o755)
    sub = os.path.join(base, "sub")
    os.mkdir(sub)
    etcb = os.path.join(base, "etcb")
    os.mkdir(etcb)
    secret = os.path.join(base, "o-secret")
    with open(secret, "w") as f:
        f.write("x")
    os.chmod(secret, 0o600)
    home = my_cgroup()
    cg = os.path.join(CG_ROOT, os.path.basename(base))
    os.mkdir(cg)
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": f"--events process,file --cgroups {cg} --scan 0"})
    old_cwd, old_umask = os.getcwd(), None
    fds, procs, mounted, joined = [], [], False, False
    me = os.getpid()
    ex = Expect()
    try:
        t.start()
        x = Export(t)
        x.watch(me)
        d = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        dsub = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
        detc = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
        fds += [d, dsub, detc]
        P = lambda n: os.path.join(base, n)  # noqa: E731

        join(cg)
        joined = True
        old_umask = os.umask(0o077)
        os.chdir(base)

        # -- opens: flags and mode as passed, permission after the umask ------------
        fl = O_WRONLY | O_CREAT | O_EXCL
        r = sysc(SYS_OPEN, b"o-open", fl, 0o666)
        check(r >= 0, f"open(2) failed: {r}")
        fds.append(r)
        ex.add("open(2)", me, "security_file_open", "open", r, path=P("o-open"),
               kind="file_arg", flags=fl, mode=0o666, permission="-rw-------",
               user_path=None, pflags_not={"unresolvedPath", "truncatedPath"})
        r = sysc(SYS_OPEN, b"sub/../o-missing", O_RDONLY, 0)
        check(r == -2, f"open(2) of a missing file: {r}")
        ex.add("open(2) ENOENT", me, "security_file_open", "open", -2, path=P("o-missing"),
               flags=0, mode=0, user_path="sub/../o-missing", pflags_has={"unresolvedPath"})
        how = OpenHow(flags=O_RDWR | O_CREAT, mode=0o640,
                      resolve=RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)
        r = sysc(SYS_OPENAT2, d, b"o-openat2", ctypes.byref(how), ctypes.sizeof(how))
        check(r >= 0, f"openat2 failed: {r}")
        fds.append(r)
        ex.add("openat2", me, "security_file_open", "openat2", r, path=P("o-openat2"),
               kind="file_arg", flags=O_RDWR | O_CREAT, mode=0o640, permission="-rw-------",
               user_path=None)
        # openat2 refusing a symlink (RESOLVE_NO_SYMLINKS): -ELOOP
        os.symlink("o-openat2", P("o-a2link"))
        r = sysc(SYS_OPENAT2, d, b"o-a2link", ctypes.byref(how), ctypes.sizeof(how))
        check(r == -40, f"openat2 RESOLVE_NO_SYMLINKS of a symlink: {r}")
        ex.add("openat2 ELOOP", me, "security_file_open", "openat2", -40,
               path=P("o-a2link"), flags=O_RDWR | O_CREAT, mode=0o640,
               pflags_has={"unresolvedPath"})
        r = sysc(SYS_CREAT, P("o-creat").encode(), 0o755)
        check(r >= 0, f"creat failed: {r}")
        fds.append(r)
        ex.add("creat", me, "security_file_open", "creat", r, path=P("o-creat"),
               kind="file_arg", flags=O_CREAT | O_WRONLY | O_TRUNC, mode=0o755,
               permission="-rwx------", user_path=None)
        # EACCES: cat as nobody on a 0600 root file
        p = subprocess.Popen(["/bin/cat", secret], preexec_fn=as_nobody,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        x.watch(p.pid)
        procs.append(p)
        check(p.wait(timeout=10) != 0, "cat of a 0600 file as nobody succeeded")
        ex.add("openat EACCES as nobody", p.pid, "security_file_open", "openat", -13,
               path=secret, flags=O_RDONLY, mode=0, uid=NOBODY,
               pflags_has={"unresolvedPath"})

        # -- symlink, link -----------------------------------------------------------
        r = sysc(SYS_SYMLINK, b"o-open", b"o-sym")
        check(r == 0, f"symlink failed: {r}")
        ex.add("symlink(2)", me, "security_path_symlink", "symlink", 0, kind="path_arg",
               path=P("o-sym"), target="o-open")
        r = sysc(SYS_SYMLINKAT, SHADOW.encode(), dsub, b"s-sym")
        check(r == 0, f"symlinkat failed: {r}")
        ex.add("symlinkat", me, "security_path_symlink", "symlinkat", 0, kind="path_arg",
               path=os.path.join(sub, "s-sym"), target=SHADOW)
        r = sysc(SYS_LINK, b"o-open", b"sub/../o-link")
        check(r == 0, f"link failed: {r}")
        ex.add("link(2)", me, "security_path_link", "link", 0, kind="path_arg",
               path=P("o-open"), path2=P("o-link"), flags=None)
        # linkat following a symlink (AT_SYMLINK_FOLLOW): the new name is a hard link
        # of the symlink's target, which is what the existing path must name
        r = sysc(SYS_LINKAT, d, b"o-sym", dsub, b"../o-linkat", AT_SYMLINK_FOLLOW)
        check(r == 0, f"linkat failed: {r}")
        check(os.stat(P("o-linkat")).st_ino == os.stat(P("o-open")).st_ino, "linkat target")
        ex.add("linkat AT_SYMLINK_FOLLOW of a symlink", me, "security_path_link", "linkat",
               0, kind="path_arg", path=P("o-open"), path2=P("o-linkat"),
               flags=AT_SYMLINK_FOLLOW, user_path2="../o-linkat")

        # -- truncate, ftruncate -----------------------------------------------------
        r = sysc(SYS_TRUNCATE, b"o-open", 1234)
        check(r == 0, f"truncate failed: {r}")
        ex.add("truncate(2)", me, "security_path_truncate", "truncate", 0,
               kind="path_arg", path=P("o-open"), length="1234", sel={"length": "1234"})
        fdr = os.open(P("o-open"), os.O_RDWR)
        fds.append(fdr)
        os.ftruncate(fdr, 77)
        ex.add("ftruncate", me, "security_path_truncate", "ftruncate", 0,
               kind="file_arg", path=P("o-open"), length="77", permission="-rw-------")

        # -- chmod setgid / setuid -----------------------------------------------------
        r = sysc(SYS_CHMOD, b"o-creat", 0o2750)
        check(r == 0, f"chmod failed: {r}")
        ex.add("chmod(2) g+s", me, "security_path_chmod", "chmod", 0, kind="path_arg",
               path=P("o-creat"), mode=0o2750, new_permission_tail="rwxr-s---",
               sel={"mode": 0o2750})
        os.chmod("o-openat2", 0o4711, dir_fd=d)
        ex.add("fchmodat u+s", me, "security_path_chmod", "fchmodat", 0, kind="path_arg",
               path=P("o-openat2"), mode=0o4711, new_permission_tail="rws--x--x")

        r = sysc(SYS_FCHMODAT2, dsub, b"../o-creat", 0o6750, 0)
        check(r == 0 or r == -38, f"fchmodat2 failed: {r}")   # ENOSYS before 6.6
        if r == 0:
            ex.add("fchmodat2 ug+s", me, "security_path_chmod", "fchmodat2", 0,
                   kind="path_arg", path=P("o-creat"), mode=0o6750,
                   new_permission_tail="rwsr-s---", user_path="../o-creat")
            os.chmod(P("o-creat"), 0o2750)
        with open(P("o-ren"), "w"):
            pass
        r = sysc(SYS_RENAMEAT2, d, b"o-ren", dsub, b"../o-ren2", RENAME_NOREPLACE)
        check(r == 0, f"renameat2 failed: {r}")
        ex.add("renameat2 RENAME_NOREPLACE", me, "security_path_rename", "renameat2", 0,
               kind="path_arg", path=P("o-ren"), path2=P("o-ren2"), flags=RENAME_NOREPLACE)

        # -- path operations through a symlink: the kernel acts on the target, so the
        # event must name it (else `chmod u+s link` hides which file became setuid)
        r = sysc(SYS_TRUNCATE, b"o-sym", 5)
        check(r == 0 and os.stat(P("o-open")).st_size == 5, f"truncate of a symlink: {r}")
        ex.add("truncate(2) through a symlink", me, "security_path_truncate", "truncate",
               0, kind="path_arg", path=P("o-open"), length="5", sel={"length": "5"})
        r = sysc(SYS_CHMOD, b"o-sym", 0o2700)
        check(r == 0 and os.stat(P("o-open")).st_mode & 0o7777 == 0o2700,
              f"chmod of a symlink: {r}")
        ex.add("chmod(2) g+s through a symlink", me, "security_path_chmod", "chmod", 0,
               kind="path_arg", path=P("o-open"), mode=0o2700, sel={"mode": 0o2700})

        # operations that do not follow a final symlink name the link itself
        r = sysc(SYS_LINK, b"o-sym", b"o-hl")
        check(r == 0 and os.path.islink(P("o-hl")), f"link(2) of a symlink: {r}")
        ex.add("link(2) of a symlink (not followed)", me, "security_path_link", "link", 0,
               kind="path_arg", path=P("o-sym"), path2=P("o-hl"), sel={"user_path": "o-sym"})
        os.symlink("o-open", P("o-sym2"))
        r = sysc(SYS_RENAME, b"o-sym2", b"sub/../o-sym3")
        check(r == 0, f"rename of a symlink: {r}")
        ex.add("rename(2) of a symlink", me, "security_path_rename", "rename", 0,
               kind="path_arg", path=P("o-sym2"), path2=P("o-sym3"))
        r = sysc(SYS_UNLINK, b"o-sym3")
        check(r == 0 and os.path.exists(P("o-open")), f"unlink of a symlink: {r}")
        ex.add("unlink(2) of a symlink", me, "security_path_unlink", "unlink", 0,
               kind="path_arg", path=P("o-sym3"))

        # -- path operations whose string passes /proc magic links (the kernel follows
        # them to the dirfd's directory / the fd's file / the root), and one by a
        # short-lived command (gone before the collector reads its event)
        for f in ("m-dir", "m-root", "m-fd", "m-cmd"):
            with open(P(f), "w") as fo:
                fo.write("0123456789")
        fdm = os.open(P("m-fd"), os.O_RDWR)
        fds.append(fdm)
        r = sysc(SYS_CHMOD, f"/proc/self/fd/{d}/m-dir".encode(), 0o2751)
        check(r == 0 and os.stat(P("m-dir")).st_mode & 0o7777 == 0o2751, f"chmod: {r}")
        ex.add("chmod(2) g+s of /proc/self/fd/DIRFD/file", me, "security_path_chmod",
               "chmod", 0, kind="path_arg", path=P("m-dir"), mode=0o2751,
               sel={"mode": 0o2751})
        r = sysc(SYS_CHMOD, f"/proc/self/root{base}/m-root".encode(), 0o2752)
        check(r == 0 and os.stat(P("m-root")).st_mode & 0o7777 == 0o2752, f"chmod: {r}")
        ex.add("chmod(2) g+s of /proc/self/root/...", me, "security_path_chmod", "chmod",
               0, kind="path_arg", path=P("m-root"), mode=0o2752, sel={"mode": 0o2752})
        r = sysc(SYS_TRUNCATE, f"/proc/self/fd/{fdm}".encode(), 3)
        check(r == 0 and os.stat(P("m-fd")).st_size == 3, f"truncate /proc/self/fd: {r}")
        ex.add("truncate(2) of /proc/self/fd/FD", me, "security_path_truncate", "truncate",
               0, kind="path_arg", path=P("m-fd"), length="3", sel={"length": "3"})
        os.symlink("m-cmd", P("m-cmdlink"))
        p = subprocess.Popen(["/bin/chmod", "2755", P("m-cmdlink")])
        x.watch(p.pid)
        procs.append(p)
        check(p.wait(timeout=10) == 0 and os.stat(P("m-cmd")).st_mode & 0o7777 == 0o2755,
              "/bin/chmod 2755 of a symlink failed")
        ex.add("/bin/chmod g+s of a symlink (short-lived)", p.pid, "security_path_chmod",
               "fchmodat", 0, kind="path_arg", path=P("m-cmd"), mode=0o2755)

        # -- lsetxattr / fsetxattr of security.capability -------------------------------
        def xattr(target, follow):
            try:
                os.setxattr(target, "security.capability", CAPV2, follow_symlinks=follow)
                return 0
            except OSError as err:
                return -err.errno
        r = xattr(P("o-sym"), False)   # the symlink itself, not o-open
        ex.add("lsetxattr of a symlink", me, "security_inode_setxattr", "lsetxattr", r,
               kind="path_arg", path=P("o-sym"), name="security.capability")
        r = xattr(P("o-sym"), True)    # setxattr follows: o-open gets the capability
        check(r == 0, f"setxattr through a symlink failed: {r}")
        ex.add("setxattr through a symlink", me, "security_inode_setxattr", "setxattr", 0,
               kind="path_arg", path=P("o-open"), name="security.capability")
        fdx = os.open(P("o-creat"), os.O_RDONLY)
        fds.append(fdx)
        r = xattr(fdx, True)
        check(r == 0, f"fsetxattr failed: {r}")
        ex.add("fsetxattr", me, "security_inode_setxattr", "fsetxattr", 0,
               kind="file_arg", path=P("o-creat"), name="security.capability",
               permission="-rwxr-s---")

        # -- /etc/shadow, every evasive way ------------------------------------------------
        os.symlink(SHADOW, P("shlink"))
        up = "../" * (base.count("/") + 2) + "etc/shadow"
        for what, argv, cwd in [("cat shadow from cwd /etc", ["shadow"], "/etc"),
                                ("cat /etc//./shadow", ["/etc//./shadow"], base),
                                ("cat " + up, [up], base),
                                ("cat through a symlink", [P("shlink")], base),
                                ("cat /proc/self/root/etc/shadow",
                                 ["/proc/self/root/etc/shadow"], base),
                                ("cat /proc/self/fd/N/shadow (N: /etc)",
                                 [f"/proc/self/fd/{detc}/shadow"], base)]:
            p = subprocess.Popen(["/bin/cat"] + argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                 pass_fds=(detc,))
            x.watch(p.pid)
            procs.append(p)
            check(p.wait(timeout=10) == 0, f"{what}: cat failed")
            ex.add(what, p.pid, "security_file_open", "openat", 3, path=SHADOW,
                   kind="file_arg", permission="-rw-r-----", mount_path=None,
                   pflags_not={"unresolvedPath"})
        r = os.open("shadow", os.O_RDONLY, dir_fd=detc)
        fds.append(r)
        ex.add("openat with a dirfd of /etc", me, "security_file_open", "openat", r,
               path=SHADOW, flags=O_RDONLY | O_CLOEXEC, permission="-rw-r-----",
               user_path=None, mount_path=None)
        subprocess.run(["mount", "--bind", "/etc", etcb], check=True)
        mounted = True
        r = os.open(os.path.join(etcb, "shadow"), os.O_RDONLY)
        fds.append(r)
        # mounted until the event is read: the collector looks the mount up then
        ex.add("open through a bind mount of /etc", me, "security_file_open", "openat", r,
               path=SHADOW, permission="-rw-r-----",
               mount_path=os.path.join(etcb, "shadow"))

        # the last event of this process: once it is exported, so is all the above
        r = os.open(P("zz-sentinel"), os.O_WRONLY | os.O_CREAT, 0o600)
        fds.append(r)
        os.chdir(old_cwd)
        os.umask(old_umask)
        old_umask = None
        join(home)
        joined = False

        x.kprobe("security_file_open", me,
                 lambda e: operand(e).get("path") == P("zz-sentinel"))
        for p in procs:
            x.find("process_exit", lambda e, p=p: e["process"]["pid"] == p.pid,
                   what=f"the exit of {p.args}")
        failures = []
        for item in ex.items:
            try:
                verify(x, item)
            except Exception as err:   # report every gap, not only the first
                failures.append(str(err))
        if os.environ.get("VIGIL_TEST_VERBOSE"):
            for e in x.events:
                if "process_kprobe" in e:
                    print(e["process_kprobe"]["process"]["pid"], show(e["process_kprobe"]))
        print(f"{len(ex.items) - len(failures)} of {len(ex.items)} operations as expected",
              flush=True)
        check(not failures, f"{len(failures)} of {len(ex.items)} checks failed (test pid "
                            f"{me}, collector pid {t.pid('collector')}):\n  " +
              "\n  ".join(failures))
        check(t.counter("collector", "ringbuf_lost.file") == 0, "no file events lost")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        os.chdir(old_cwd)
        if old_umask is not None:
            os.umask(old_umask)
        if joined:
            join(home)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if mounted and subprocess.run(["umount", etcb]).returncode != 0:
            subprocess.run(["umount", "-l", etcb], check=False)
        t.cleanup()
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
