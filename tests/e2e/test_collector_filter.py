"""e2e: in-kernel path-prefix filtering (collector --events process,file
--file-prefixes DIR/in/): opens under the prefix reach the export (absolute, relative
after chdir, a failed open whose directory is under it), opens elsewhere (DIR/out/, and
DIR/in itself without the slash) are not sent and are counted nowhere: kernel.emitted.file,
less what the collector judged itself (filtered.late_prefix: other processes' path
operations), equals exactly the number of opens under the prefix; ringbuf_lost.file is 0. A bad
prefix (relative) makes the collector refuse to start."""
import os
import shutil
import subprocess
import tempfile
import time

from collectortest import Export, arg
from vigiltest import ROOT, Tree, check, need_root, run_test

N = 50


def test():
    need_root()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-filter-"))
    din, dout = os.path.join(base, "in"), os.path.join(base, "out")
    for d in (din, dout):
        os.mkdir(d)
        open(os.path.join(d, "f"), "w").close()
    old = os.getcwd()
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS":
                  f"--events process,file --file-prefixes {din}/,/nonexistent-vigil/ --scan 0"})
    try:
        t.start()
        info = t.status("collector")["info"]
        check(info.get("file_prefixes", "").startswith(din + "/"), f"info {info}")
        x = Export(t)
        x.watch(os.getpid())
        for _ in range(N):
            os.close(os.open(os.path.join(dout, "f"), os.O_RDONLY))
            os.close(os.open(os.path.join(din, "f"), os.O_RDONLY))
        os.close(os.open(din, os.O_RDONLY | os.O_DIRECTORY))   # "DIR/in": not under "DIR/in/"
        os.chdir(din)
        os.close(os.open("f", os.O_RDONLY))                      # relative, resolved
        os.chdir(old)
        try:
            os.open(os.path.join(din, "missing"), os.O_RDONLY)   # unresolved: dir + name
        except FileNotFoundError:
            pass
        want = N + 2
        e = x.kprobe("security_file_open", os.getpid(),
                     lambda e: arg(e, "file_arg")["path"] == os.path.join(din, "missing"))
        check("unresolvedPath" in arg(e, "file_arg").get("flags", ""), f"failed open {e['args']}")

        def mine():
            x._poll()
            return [ev["process_kprobe"] for ev in x.events
                    if ev.get("process_kprobe", {}).get("function_name") == "security_file_open"
                    and "policy_name" not in ev["process_kprobe"]]
        got = mine()
        paths = [arg(e, "file_arg")["path"] for e in got]
        check(len(got) == want, f"{len(got)} opens exported, want {want}: {set(paths)}")
        check(all(p.startswith(din + "/") for p in paths), f"paths outside the prefix: {set(paths)}")
        # other processes' path operations (unlink, rename, ...) cannot be judged in the
        # kernel: sent, judged by the collector, counted in filtered.late_prefix
        for _ in range(20):
            c = t.status("collector")["counters"]
            sent = c.get("kernel.emitted.file", 0) - c.get("filtered.late_prefix", 0)
            if sent == want:
                break
            time.sleep(0.1)
        check(sent == want and c.get("ringbuf_lost.file", 0) == 0,
              f"emitted.file {c.get('kernel.emitted.file')} less filtered.late_prefix "
              f"{c.get('filtered.late_prefix')} = {sent} (want {want}), "
              f"lost.file {c.get('ringbuf_lost.file')}")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
        # a relative prefix is refused
        r = subprocess.run([os.path.join(ROOT, "build", "vigil-collector"), "--rundir", base,
                            "--events", "process,file", "--file-prefixes", "etc/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        check(r.returncode != 0 and "--file-prefixes" in r.stdout,
              f"relative prefix: exit {r.returncode}: {r.stdout[-300:]}")
    finally:
        os.chdir(old)
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
