"""exporter stage alone, events pushed into exporter.in from Python: the JSON file
sink honours --export-allowlist (exec events, or any *sh binary; camelCase keys
accepted), --export-denylist (arguments 'secret') and --field-filters (INCLUDE
process.exec_id,process.binary for PROCESS_EXEC; EXCLUDE process.binary for every
type but PROCESS_EXEC via invert_event_set); filtered events are counted in
file.filtered. gRPC GetEvents field_filters (INCLUDE process.pid) reach a
python3-grpcio client over a plaintext unix socket; a bad path gets
INVALID_ARGUMENT. Bad flag JSON (trailing comma, unknown field, wrong type, not
an object) → exit 100 with the line and the problem."""
import json
import os
import shutil
import subprocess
import tempfile
import threading

import zmq

import grpctest as g
from vigiltest import check, envelope, need_root, run_test, wait_for

BIN = os.path.join(g.ROOT, "build/vigil-exporter")


def ev(binary, args, pid):
    return {"process": {"binary": binary, "arguments": args, "pid": pid, "exec_id": f"id-{pid}",
                        "uid": 0}, "node_name": "n1", "time": 1700000000000000000}


def test():
    need_root()
    import grpc
    d = tempfile.mkdtemp(prefix="vigil-xfilt-")
    p = None
    try:
        out = os.path.join(d, "ev.json")
        for bad, why in (('{"binary_regex":["a"],}', "offset"), ('{"nope":1}', 'unknown field "nope"'),
                         ('{"pid":"x"}', '"pid"'), ('[1]', "object")):
            r = subprocess.run([BIN, "--rundir", d + "/r0", "--export-file", out, "--grpc-address", "",
                                "--metrics-address", "", "--export-allowlist", '{}\n' + bad],
                               capture_output=True, text=True, timeout=10)
            check(r.returncode == 100 and "line 2" in r.stderr and why in r.stderr,
                  f"{bad}: {r.returncode} {r.stderr}")
        sock = os.path.join(d, "g.sock")
        p = subprocess.Popen([BIN, "--rundir", d + "/run", "--export-file", out, "--grpc-address",
                              "unix:" + sock, "--grpc-plaintext", "--metrics-address", "",
                              "--export-allowlist", '{"event_set":["PROCESS_EXEC"]}\n{"binaryRegex":["sh$"]}',
                              "--export-denylist", '{"arguments_regex":["secret"]}',
                              "--field-filters",
                              '{"fields":"process.exec_id,process.binary","event_set":["PROCESS_EXEC"],"action":"INCLUDE"}\n'
                              '{"fields":"process.binary","event_set":["PROCESS_EXEC"],"invert_event_set":true,"action":"EXCLUDE"}'],
                             stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(sock), 5, what="exporter up")
        evm, _, _ = g.pb()
        ch = grpc.insecure_channel("unix:" + sock)
        badc = g.get_events(ch, evm.GetEventsRequest(field_filters=[evm.FieldFilter(
            fields={"paths": ["process..pid"]})]))
        try:
            next(iter(badc))
            check(False, "bad field path accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"bad path: {e.code()}")
        call = g.get_events(ch, evm.GetEventsRequest(field_filters=[evm.FieldFilter(
            fields={"paths": ["process.pid"]}, action=evm.INCLUDE)]))
        check(g.wait_subscribed(call), "grpc stream")
        got = []
        threading.Thread(target=lambda: [got.append(r) for r in call], daemon=True).start()
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH)
        s.connect(f"ipc://{d}/run/exporter.in")
        msgs = [("process_exec", ev("/bin/true", "a", 1)),       # kept (exec), fields cut
                ("process_exec", ev("/bin/true", "secret", 2)),  # denied
                ("process_exit", ev("/bin/true", "b", 3)),       # not allowed
                ("process_exit", ev("/bin/sh", "c", 4)),         # allowed by binary, binary removed
                ("process_exit", ev("/bin/sh", "secret", 5))]    # denied
        for i, (t_, e) in enumerate(msgs):
            s.send(envelope(t_, e, seq=i + 1))
        lines = wait_for(lambda: (lambda L: L if len(L) >= 2 else None)(
            open(out).read().splitlines() if os.path.exists(out) else []), 5, what="2 lines")
        js = [json.loads(x) for x in lines]
        check(len(js) == 2, f"lines {js}")
        check(js[0] == {"process_exec": {"process": {"exec_id": "id-1", "binary": "/bin/true"}},
                        "node_name": "n1", "time": "2023-11-14T22:13:20Z"}, f"exec line {js[0]}")
        pe = js[1]["process_exit"]["process"]
        check("binary" not in pe and pe["pid"] == 4 and pe["arguments"] == "c", f"exit line {js[1]}")
        wait_for(lambda: len(got) == 5, 5, what="5 events at the gRPC client")
        for r, (_, e) in zip(got, msgs):
            proc = getattr(r, r.WhichOneof("event")).process
            check(proc.pid.value == e["process"]["pid"] and proc.binary == "" and proc.exec_id == "",
                  f"grpc field filter: {proc}")
        st = subprocess.run([os.path.join(g.ROOT, "build/vigil"), "--rundir", d + "/run", "status",
                             "--json"], capture_output=True, text=True).stdout
        c = json.loads(st)["exporter"]["counters"]
        check(c["file.filtered"] == 3 and c["exported"] == 2, f"counters {c}")
        call.cancel()
        ch.close()
        s.close(0)
        ctx.term()
        g.stop_exporter(p)
    finally:
        g.reap(p)
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
