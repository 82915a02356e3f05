"""e2e: hostile inputs through the whole tree to the JSON export (collector with
--events process,file --file-prefixes DIR/):
- an exec whose arguments hold newlines, tabs, ESC and other C0 bytes, a quote, a
  backslash and invalid UTF-8 comes out with `arguments` equal to the arguments joined by
  spaces (invalid UTF-8 as U+FFFD, everything else intact), no truncArgs;
- an exec with a 128 KiB argument list: truncArgs set, `arguments` a prefix of the real
  list of at most 4096 bytes;
- a binary run from a directory 22 x 201 bytes deep (> 4096 bytes): truncFilename and
  errorPathResolutionCwd set, `binary` keeps the tail ending in the binary's name;
- an open of a file in that directory: file_arg flags truncatedPath, path keeps the tail;
  another through a relative open from that directory as cwd;
- files named with a newline, C0 controls (\x01, ESC) and invalid UTF-8 (\xff\xfe), opened
  and unlinked: security_file_open and security_path_unlink paths intact (invalid UTF-8 as
  one U+FFFD per byte, as tetra_json documents), the export's text escaping them
  (\n, \u0001, \u001b); the same names exec'd: `binary` likewise;
- the PATH_MAX boundary: an open and an exec of files whose absolute path is exactly 4095
  bytes report it whole (no truncatedPath / truncFilename); one byte more (4096) sets
  truncatedPath / truncFilename and keeps the tail;
- every line of the export is valid JSON."""
import json
import os
import shutil
import subprocess
import tempfile

from collectortest import Export, arg
from vigiltest import Tree, check, need_root, run_test, unique_tag

LEVELS = 22
NAME = "d" * 200
NAME2 = "e" * 200
# file names with a newline, C0 controls and invalid UTF-8, and how the export's text
# spells them (JSON escapes; each invalid byte one U+FFFD)
HOSTILE_NAMES = [b"h-nl\nname", b"h-ct\x01\x1bname", b"h-\xff\xfename"]
HOSTILE_JSON = [b"h-nl\\nname", b"h-ct\\u0001\\u001bname",
                b"h-\xef\xbf\xbd\xef\xbf\xbdname"]


def test():
    need_root()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-hostile-"))
    os.chmod(base, 0o755)
    fds = []
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             # file events of this test's directory only: other opens on a busy machine
             # would overflow the ring (and take exec records with them)
             env={"VIGIL_COLLECTOR_OPTS": f"--events process,file --file-prefixes {base}/"})
    try:
        # the deep directory, built with dirfds (paths that long cannot be passed)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(fd)
        for _ in range(LEVELS):
            os.mkdir(NAME, dir_fd=fd)
            fd = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            fds.append(fd)
        deep = fd
        with open("/bin/true", "rb") as src:
            data = src.read()
        b = os.open("deeptrue", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=deep)
        os.write(b, data)
        os.close(b)
        os.close(os.open("deepfile", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=deep))
        os.close(os.open("deepfile2", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=deep))

        t.start()
        x = Export(t)

        # control bytes, newlines, invalid UTF-8
        tag = unique_tag("hostile")
        hostile = [tag.encode(), b"line1\nline2", b"tab\there\r", b"esc\x1b[31mred\x07",
                   b"quote\"back\\slash", b"bad\xff\xfeutf8", b"trunc\xe2\x82", b"\x01\x7f",
                   "ünïcødé".encode()]
        p = subprocess.Popen([b"/bin/true"] + hostile)
        p.wait(timeout=10)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
        want = b" ".join(hostile).decode("utf-8", "replace")
        check(e.get("arguments") == want, f"hostile arguments {e.get('arguments')!r} != {want!r}")
        check("truncArgs" not in e.get("flags", ""), f"hostile flags {e.get('flags')}")

        # 128 KiB of arguments
        tag2 = unique_tag("bigargs")
        big = [tag2] + [("%04d" % i) + "a" * 1019 for i in range(128)]
        p = subprocess.Popen(["/bin/true"] + big)
        p.wait(timeout=10)
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
        full = " ".join(big)
        got = e.get("arguments", "")
        check("truncArgs" in e.get("flags", "").split(), f"128 KiB flags {e.get('flags')}")
        check(full.startswith(got) and 1000 < len(got.encode()) <= 4096,
              f"128 KiB arguments: {len(got)} bytes, prefix={full.startswith(got)}")

        # a binary 4.4 KiB deep, run from there
        p = subprocess.Popen(["./deeptrue", "deep"], preexec_fn=lambda: os.fchdir(deep))
        p.wait(timeout=10)
        check(p.returncode == 0, f"deep binary exit {p.returncode}")
        x.watch(p.pid)
        e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
        flags = e.get("flags", "").split()
        check("truncFilename" in flags and "errorPathResolutionCwd" in flags,
              f"deep exec flags {flags}")
        check(e["binary"].endswith("/" + NAME + "/deeptrue") and len(e["binary"]) <= 4095,
              f"deep binary {e['binary'][-80:]!r} ({len(e['binary'])} bytes)")

        # an open of a file there
        f = os.open("deepfile", os.O_RDONLY, dir_fd=deep)
        e = x.kprobe("security_file_open", os.getpid(),
                     lambda e: e["return"]["int_arg"] == f
                     and (arg(e, "file_arg") or {}).get("path", "").endswith("/deepfile"))
        fa = arg(e, "file_arg")
        os.close(f)
        check("truncatedPath" in fa.get("flags", "").split(), f"deep open flags {fa.get('flags')}")
        check(fa["path"].endswith("/" + NAME + "/" + NAME + "/deepfile")
              and len(fa["path"]) <= 4095, f"deep open path tail {fa['path'][-80:]!r}")

        # another file there, relative to the deep directory as cwd
        old = os.getcwd()
        os.fchdir(deep)
        try:
            f = os.open("deepfile2", os.O_RDONLY)
        finally:
            os.chdir(old)
        e = x.kprobe("security_file_open", os.getpid(),
                     lambda e: e["return"]["int_arg"] == f
                     and (arg(e, "file_arg") or {}).get("path", "").endswith("/deepfile2"))
        os.close(f)
        fa = arg(e, "file_arg")
        check("truncatedPath" in fa.get("flags", "").split()
              and fa["path"].endswith("/" + NAME + "/deepfile2") and len(fa["path"]) <= 4095,
              f"cwd-relative deep open: flags {fa.get('flags')} tail {fa['path'][-60:]!r} "
              f"({len(fa['path'])} bytes)")

        # hostile file names: opened, then unlinked
        for name in HOSTILE_NAMES:
            full = base.encode() + b"/" + name
            want = full.decode("utf-8", "replace")
            f = os.open(full, os.O_WRONLY | os.O_CREAT, 0o644)
            os.unlink(full)
            htag = base + "/h-" + name[2:4].decode("utf-8", "replace")
            e = x.kprobe("security_file_open", os.getpid(),
                         lambda e: e["return"]["int_arg"] == f
                         and (arg(e, "file_arg") or {}).get("path", "").startswith(htag))
            os.close(f)
            check(arg(e, "file_arg")["path"] == want,
                  f"open of {name!r}: path {arg(e, 'file_arg')['path']!r}, want {want!r}")
            e = x.kprobe("security_path_unlink", os.getpid(),
                         lambda e: (arg(e, "path_arg") or {}).get("path", "").startswith(htag))
            check(arg(e, "path_arg")["path"] == want and e["return"]["int_arg"] == 0,
                  f"unlink of {name!r}: {e['args']} return {e['return']}, want {want!r}")
        # the same names as a binary's: exec'd, the binary reported as the path
        for name in HOSTILE_NAMES:
            full = base.encode() + b"/" + name
            shutil.copy("/bin/true", full)
            os.chmod(full, 0o755)
            p = subprocess.Popen([full])
            check(p.wait(timeout=10) == 0, f"exec of {name!r}: exit {p.returncode}")
            x.watch(p.pid)
            e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
            want = full.decode("utf-8", "replace")
            check(e["binary"] == want and "truncFilename" not in e.get("flags", ""),
                  f"exec of {name!r}: binary {e['binary']!r} flags {e.get('flags')!r}, "
                  f"want {want!r}")
            os.unlink(full)
        with open(t.export, "rb") as ex:
            text = ex.read()
        for raw in HOSTILE_JSON:
            check(text.count(b'"binary":"' + base.encode() + b"/" + raw + b'"') >= 1,
                  f"export text lacks the escaped binary ending {raw!r}")
            check(text.count(b'"path":"' + base.encode() + b"/" + raw + b'"') >= 2,
                  f"export text lacks the escaped path ending {raw!r} (open and unlink)")

        # PATH_MAX: a path of exactly 4095 bytes is whole, 4096 is cut
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(fd)
        n = 0
        while 4095 - len(base) - n * 201 - 1 > 254:   # room for a 4096-byte name too
            n += 1
        for _ in range(n):
            os.mkdir(NAME2, dir_fd=fd)
            fd = os.open(NAME2, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            fds.append(fd)
        edge = fd
        stem = base + ("/" + NAME2) * n + "/"
        for plen in (4095, 4096):
            fname = "x" * (plen - len(stem) - 4) + "true"
            whole = stem + fname
            check(len(whole) == plen and len(fname) <= 255, f"edge path {len(whole)} bytes")
            b = os.open(fname, os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=edge)
            os.write(b, data)
            os.close(b)
            f = os.open(fname, os.O_RDONLY, dir_fd=edge)
            e = x.kprobe("security_file_open", os.getpid(),
                         lambda e: e["return"]["int_arg"] == f
                         and (arg(e, "file_arg") or {}).get("path", "").endswith("/" + fname))
            os.close(f)
            fa = arg(e, "file_arg")
            if plen == 4095:
                check(fa["path"] == whole and "truncatedPath" not in fa.get("flags", ""),
                      f"open of a 4095-byte path: flags {fa.get('flags')!r}, "
                      f"{len(fa['path'])} bytes, whole={fa['path'] == whole}")
            else:
                check("truncatedPath" in fa.get("flags", "").split() and
                      whole.endswith(fa["path"]) and len(fa["path"]) <= 4095,
                      f"open of a 4096-byte path: flags {fa.get('flags')!r}, "
                      f"{len(fa['path'])} bytes, tail={whole.endswith(fa['path'])}")
            p = subprocess.Popen(["./" + fname, "edge"], preexec_fn=lambda: os.fchdir(edge))
            check(p.wait(timeout=10) == 0, f"edge binary exit {p.returncode}")
            x.watch(p.pid)
            e = x.find("process_exec", lambda e: e["process"]["pid"] == p.pid)["process"]
            flags = e.get("flags", "").split()
            if plen == 4095:
                check(e["binary"] == whole and "truncFilename" not in flags,
                      f"exec of a 4095-byte path: flags {flags}, {len(e['binary'])} bytes, "
                      f"whole={e['binary'] == whole}")
                check(e.get("cwd") == stem[:-1], f"exec cwd: {len(e.get('cwd', ''))} bytes")
            else:
                check("truncFilename" in flags and whole.endswith(e["binary"])
                      and len(e["binary"]) <= 4095,
                      f"exec of a 4096-byte path: flags {flags}, {len(e['binary'])} bytes, "
                      f"tail={whole.endswith(e['binary'])}")

        # the whole export parses
        t.stop()
        n = 0
        with open(t.export, "rb") as ex:
            for line in ex:
                n += 1
                try:
                    json.loads(line)
                except ValueError:
                    raise AssertionError(f"export line {n} is not JSON: {line[:200]!r}")
        check(n > 0, "export is empty")
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        t.cleanup()
        for fd in fds:
            os.close(fd)
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
