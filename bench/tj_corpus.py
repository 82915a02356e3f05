"""Capture a corpus of real exporter input for build/bench/tj_bench.

Starts a private tree (tests/lib/vigiltest.py Tree), subscribes to the exporter's tap
(which publishes exactly the envelopes the exporter exported), runs a small mixed
workload (shells, pipelines, short-lived binaries with long and odd arguments, a
failing exec, a refused loopback connect), with file, network and privilege events on and writes every captured frame as <u32 little-endian length><frame>.

  /usr/bin/python3 bench/tj_corpus.py [OUT] [SECONDS]   (default build/bench/tj_corpus.bin, 4)
"""
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import zmq  # noqa: E402

from vigiltest import ROOT, Tree, need_root  # noqa: E402


def workload(deadline):
    """Processes of the kinds a node runs: shells, pipelines, tools with arguments."""
    cwd = tempfile.mkdtemp(prefix="vigil-tjc-")
    cmds = [
        "ls -la /etc >/dev/null",
        "cat /etc/hostname | wc -c >/dev/null",
        "/bin/echo 'quote \" backslash \\\\ tab\t unicode é ✓ 𝄞' >/dev/null",
        "env FOO=bar /usr/bin/env >/dev/null",
        "sh -c 'true; date +%s >/dev/null'",
        "/bin/true " + "x" * 300,
        "find /usr/share/doc -maxdepth 1 -name 'lib*' >/dev/null",
        "/nonexistent-binary 2>/dev/null; true",
        "id -u >/dev/null; uname -a >/dev/null",
        "bash -c 'echo > /dev/tcp/127.0.0.1/9' 2>/dev/null; true",
    ]
    i = 0
    while time.monotonic() < deadline:
        subprocess.run(["/bin/sh", "-c", cmds[i % len(cmds)]], cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        i += 1
        time.sleep(0.01)
    os.rmdir(cwd)


def main():
    need_root()
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench",
                                                             "tj_corpus.bin")
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    # file, network and privilege events too: the bench's mix is mostly opens
    t = Tree(env={"VIGIL_COLLECTOR_OPTS": "--events process,file,net,priv"})
    frames = []
    try:
        t.start()
        sub = t.zctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(t.endpoint("exporter", "tap"))
        time.sleep(0.5)  # let the subscription reach the XPUB
        workload(time.monotonic() + secs)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if sub.poll(100):
                frames.extend(sub.recv_multipart())
        sub.close()
        t.stop()
    finally:
        t.cleanup()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        for fr in frames:
            f.write(struct.pack("<I", len(fr)))
            f.write(fr)
    print(f"{len(frames)} frames, {sum(map(len, frames))} bytes -> {out}")
    return 0 if frames else 1


sys.exit(main())
