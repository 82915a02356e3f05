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
