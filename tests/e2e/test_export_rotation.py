"""exporter stage alone under load: 50,000 events pushed into exporter.in while
the JSON file rotates every 64 KiB (--export-file-max-size-kb 64): every event
appears exactly once across events.json and events.json.1..N (no loss, no
duplicate, every line whole JSON, every file <= 64 KiB, mode 0600), and
file.rotations matches the files. Then 10,000 events with
--export-file-compress: the rotated files are events.json.N.gz, gunzip to whole
lines, and again no line is lost or duplicated."""
import glob
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time

import zmq

import grpctest as g
from vigiltest import check, ctl_status, envelope, need_root, run_test, wait_for

BIN = os.path.join(g.ROOT, "build/vigil-exporter")


def run(d, n, compress):
    out = os.path.join(d, "events.json")
    args = [BIN, "--rundir", d + "/run", "--export-file", out, "--grpc-address", "",
            "--metrics-address", "", "--export-file-max-size-kb", "64",
            "--export-file-max-backups", "100000"] + (["--export-file-compress"] if compress else [])
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(d + "/run/exporter.in"), 5, what="exporter up")
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.SNDTIMEO, 10000)
        s.connect(f"ipc://{d}/run/exporter.in")
        t0 = time.monotonic()
        for i in range(n):
            s.send(envelope("process_exec", {"process": {"binary": "/bin/load", "arguments": f"n-{i}",
                                                         "pid": i + 1}, "node_name": "n"}, seq=i + 1))
        s.close(linger=10000)
        ctx.term()

        def lines_total():
            st = ctl_status(f"ipc://{d}/run/exporter.ctl")
            return st["counters"] if st else None
        c = wait_for(lambda: (lambda c: c if c and c.get("file.lines") == n else None)(lines_total()),
                     30, what=f"{n} lines written")
        dt = time.monotonic() - t0
        p.terminate()
        p.communicate(timeout=10)
        check(p.returncode == 0, f"exit {p.returncode}")
        seen = {}
        files = [out] + glob.glob(out + ".*")
        for f in files:
            check(os.stat(f).st_mode & 0o777 == 0o600, f"mode of {f}")
            data = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
            if not f.endswith(".gz"):
                check(len(data) <= 64 * 1024, f"{f}: {len(data)} bytes")
            check(compress == f.endswith(".gz") or f == out, f"unexpected file {f}")
            check(data.endswith(b"\n") or not data, f"{f} ends mid-line")
            for line in data.splitlines():
                a = json.loads(line)["process_exec"]["process"]["arguments"]
                seen[a] = seen.get(a, 0) + 1
        missing = [i for i in range(n) if f"n-{i}" not in seen]
        dups = [k for k, v in seen.items() if v > 1]
        check(not missing and not dups, f"missing {missing[:5]} ({len(missing)}), dups {dups[:5]}")
        check(c["file.rotations"] == len(files) - 1, f"rotations {c['file.rotations']} files {len(files)}")
        check(c["file.errors"] == 0, f"file errors {c['file.errors']}")
        print(f"{n} events, {len(files)} files, compress={compress}: {n / dt:.0f} events/s (Python sender included)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test():
    need_root()
    d = tempfile.mkdtemp(prefix="vigil-xrot-")
    try:
        run(os.path.join(d, "plain"), 50000, False)
        run(os.path.join(d, "gz"), 10000, True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
