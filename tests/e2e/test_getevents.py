"""e2e: `vigil getevents` (gRPC C core client) against the whole tree under s6 with
mutual TLS. -o json --binary 'echo$' prints the tagged /bin/echo's process_exec
as a JSON line equal to the exporter's JSON file line for it (same encoder, round
trip through protobuf) and never prints a non-echo binary; -o compact with
--event-types PROCESS_EXEC,PROCESS_EXIT prints "🚀 process <node> <binary> <args>"
and "💥 exit ... 0"; --pid keeps only that pid; --namespace nosuch prints nothing.
Errors: wrong CA → exit 1 with a message; --unix on TCP, an unknown event type,
-o xml → exit 2."""
import json
import os
import subprocess
import uuid

import grpctest as g
from vigiltest import ROOT, Tree, check, need_root, run_test, wait_for

VIGIL = os.path.join(ROOT, "build/vigil")


def test():
    need_root()
    t = Tree()
    procs = []
    try:
        tls, port = g.serve_tls(t, f"--metrics-address 127.0.0.1:{g.free_port()}")
        t.start()
        base = [VIGIL, "getevents", "--server-address", f"localhost:{port}", "--tls-ca",
                tls["ca"], "--tls-cert", tls["client"], "--tls-key", tls["client_key"]]

        def start(*args):
            p = subprocess.Popen(base + list(args), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            procs.append(p)
            return p
        n0 = t.counter("exporter", "grpc.clients")
        pj = start("-o", "json", "--binary", "echo$", "--timeout", "15")
        pc = start("-o", "compact", "--binary", "echo$", "--event-types",
                   "PROCESS_EXEC,process_exit", "--count", "2", "--timeout", "15")
        pn = start("--namespace", "nosuch", "--timeout", "4")
        wait_for(lambda: t.counter("exporter", "grpc.clients") == n0 + 3, 5,
                 what="three getevents streams")
        tag = "vigil-ge-" + uuid.uuid4().hex
        sh = subprocess.Popen(["/bin/sh", "-c", f"sleep 0.3; /bin/true {tag}; /bin/echo {tag}"],
                              stdout=subprocess.DEVNULL)
        pp = start("--pid", str(sh.pid), "--count", "1", "--timeout", "10")
        sh.wait()
        fx = t.find("process_exec", lambda e: e["process"].get("arguments") == tag and
                    e["process"]["binary"].endswith("echo"), timeout=5)
        # compact: exec and exit of the echo, then it exits by itself (--count 2)
        out, err = pc.communicate(timeout=12)
        lines = out.splitlines()
        p = fx["process_exec"]["process"]
        check(len(lines) == 2, f"compact lines {lines} {err}")
        check(lines[0] == f"\U0001F680 process vigil-test {p['binary']} {tag}", f"exec: {lines[0]!r}")
        check(lines[1] == f"\U0001F4A5 exit    vigil-test {p['binary']} {tag} 0", f"exit: {lines[1]!r}")
        check(pc.returncode == 0, f"compact rc {pc.returncode}: {err}")
        # json: the same line as the file, and only echo
        pj.send_signal(2)
        out, err = pj.communicate(timeout=5)
        evs = [json.loads(x) for x in out.splitlines()]
        mine = [e for e in evs if "process_exec" in e and
                e["process_exec"]["process"].get("arguments") == tag]
        check(len(mine) == 1, f"json: {len(mine)} tagged execs of {len(evs)}: {err}")
        check(mine[0] == fx, f"json line differs from the file:\n{mine[0]}\n{fx}")
        check(all(list(e.values())[0]["process"]["binary"].endswith("echo") for e in evs),
              "a non-echo event passed --binary")
        check(any("process_exit" in e for e in evs), "json: no exit")
        # --pid: one event, of that pid
        out, err = pp.communicate(timeout=12)
        ev = [json.loads(x) for x in out.splitlines()]
        check(len(ev) == 1 and list(ev[0].values())[0]["process"]["pid"] == sh.pid,
              f"--pid {sh.pid}: {out} {err}")
        out, err = pn.communicate(timeout=10)
        check(out == "" and pn.returncode == 0, f"--namespace nosuch printed {out!r} {err}")
        # errors
        r = subprocess.run(base[:2] + ["--server-address", f"localhost:{port}", "--tls-ca",
                                       tls["server"], "--timeout", "3"],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 1 and "vigil: error" in r.stderr, f"wrong CA: {r.returncode} {r.stderr}")
        for bad in (["--unix"], ["--event-types", "NOPE"], ["-o", "xml"]):
            r = subprocess.run(base + bad, capture_output=True, text=True, timeout=10)
            check(r.returncode == 2 and "error" in r.stderr, f"{bad}: {r.returncode} {r.stderr}")
        t.stop()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        t.cleanup()


run_test(test)
