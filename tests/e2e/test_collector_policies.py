"""e2e: the collector sends what the policies can match (--policies DIR), and follows
them when they change. With a policy directory holding one file rule on DIR/watched/
(and the default --events process):
- status info says events process,file and file prefixes DIR/watched/; an open of
  DIR/watched/f is exported, an open of DIR/other/f is not sent;
- a second policy with a network rule and a write-anywhere file rule, added while it
  runs: within seconds (counter policies.reloads) events gain net, a loopback connect is
  exported, an open of DIR/other/g for writing is exported while a read of DIR/other/f
  still is not;
- a broken policy file is left out with a warning, the others stay in force;
- with the policies removed, file events stop (events: process).
The shipped library (policies/) needs file, net and priv events, its paths as prefixes,
writes and path operations anywhere."""
import json
import os
import shutil
import socket
import tempfile
import time

from collectortest import export_opens
from vigiltest import ROOT, Tree, check, need_root, run_test, wait_for


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)   # appears whole: never read half-written


def test():
    need_root()
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-pol-"))
    pdir, watched, other = (os.path.join(base, d) for d in ("policies.d", "watched", "other"))
    for d in (pdir, watched, other):
        os.mkdir(d)
    for d in (watched, other):
        with open(os.path.join(d, "f"), "w") as f:
            f.write("x")
    write(os.path.join(pdir, "files.yaml"),
          "name: watched-files\nrules:\n  - event: file\n    operation: [open]\n"
          f"    file: {{path: {{prefix: [{watched}/]}}}}\n")
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": f"--policies {pdir} --scan 0",
                  "VIGIL_EVALUATOR_OPTS": f"--policy-dir {pdir}"})
    try:
        t.start()
        info = t.status("collector")["info"]
        check(info.get("events") == "process,file" and
              info.get("file_prefixes") == f"{watched}/",
              f"status info: events {info.get('events')!r}, prefixes "
              f"{info.get('file_prefixes')!r}")
        os.close(os.open(os.path.join(other, "f"), os.O_RDONLY))
        os.close(os.open(os.path.join(watched, "f"), os.O_RDONLY))
        wait_for(lambda: export_opens(t, os.path.join(watched, "f")), 10,
                 what="the open under the watched prefix")
        check(not export_opens(t, os.path.join(other, "f")),
              "an open no policy asks for was exported")

        # a network rule and a write-anywhere file rule, added while running
        write(os.path.join(pdir, "more.yaml"),
              "name: any-connect\nrules:\n  - event: network\n    operation: [connect]\n"
              "---\nname: writes\nrules:\n  - event: file\n    operation: [open]\n"
              "    file: {access: [write], path: {suffix: [/g]}}\n")
        wait_for(lambda: t.counter("collector", "policies.reloads") >= 1, 10,
                 what="the collector to read the policies again")
        info = t.status("collector")["info"]
        check(info.get("events") == "process,file,net" and
              "opens for writing: all" in info.get("file_prefixes", ""),
              f"after the change: events {info.get('events')!r}, prefixes "
              f"{info.get('file_prefixes')!r}")
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        c = socket.create_connection(("127.0.0.1", port))
        c.close()
        srv.close()
        g = os.path.join(other, "g")
        os.close(os.open(g, os.O_WRONLY | os.O_CREAT, 0o600))
        os.close(os.open(os.path.join(other, "f"), os.O_RDONLY))
        wait_for(lambda: export_opens(t, g), 10, what="the open for writing of other/g")

        def connects():
            with open(t.export) as f:
                for line in f:
                    e = json.loads(line).get("process_kprobe", {})
                    if e.get("function_name") == "tcp_connect" and any(
                            (a.get("sockaddr_arg") or {}).get("port") == port
                            for a in e.get("args", [])):
                        return True
            return False
        wait_for(connects, 10, what="the loopback connect")
        check(not export_opens(t, os.path.join(other, "f")),
              "a read no policy asks for was exported after the change")

        # a broken file is left out; the rest stays in force
        reloads = t.counter("collector", "policies.reloads")
        write(os.path.join(pdir, "broken.yaml"), "name: [unclosed\n")
        wait_for(lambda: t.counter("collector", "policies.reloads") > reloads, 10,
                 what="the re-read after the broken file")
        info = t.status("collector")["info"]
        check(info.get("events") == "process,file,net",
              f"a broken policy file changed the events: {info.get('events')!r}")
        log = t.log("collector")
        check("--policies" in log and "broken.yaml" in log, "no warning about broken.yaml")

        # everything removed: back to process events only
        reloads = t.counter("collector", "policies.reloads")
        for f in os.listdir(pdir):
            os.unlink(os.path.join(pdir, f))
        wait_for(lambda: t.counter("collector", "policies.reloads") > reloads, 10,
                 what="the re-read after the removal")
        info = t.status("collector")["info"]
        check(info.get("events") == "process", f"no policies left: events {info.get('events')!r}")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")

        # the shipped library
        t2 = Tree(stages=["collector"],
                  env={"VIGIL_COLLECTOR_OPTS": f"--policies {ROOT}/policies --scan 0"})
        try:
            t2.start()
            info = t2.status("collector")["info"]
            pre = info.get("file_prefixes", "")
            check(info.get("events") == "process,file,net,priv", f"library events {info}")
            check("/etc/shadow" in pre.split(";")[0].split(",") and
                  "opens for writing: all" in pre and "path operations: all" in pre,
                  f"library prefixes {pre!r}")
        finally:
            t2.cleanup()
    finally:
        t.cleanup()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
