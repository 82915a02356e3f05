"""e2e: the exporter's Tetragon-compatible gRPC over mutual TLS, with the whole tree
under s6 and two Python clients (python3-grpcio, messages generated from proto/):
client A (no filter) gets the process_exec and process_exit of a tagged /bin/echo
with the same binary, arguments, pid, exec_id and parent_exec_id as the JSON file;
client B (allow binary_regex echo$ + event_set PROCESS_EXEC, deny arguments_regex
'deny-me') gets that exec but no exit and not the denied echo. GetVersion, GetHealth,
ListTracingPolicies (the evaluator's policies and modes) and grpc.health.v1 Check answer; a client without a
certificate, a plaintext client and a bad regex are refused; counters show it."""
import os
import subprocess
import threading
import time
import uuid

import grpctest as g
from vigiltest import Tree, check, need_root, run_test, wait_for


def collect(call, out, stop):
    """Append every response of a stream to out until it ends or is cancelled."""
    try:
        for r in call:
            out.append(r)
            if stop.is_set():
                break
    except Exception as e:  # cancelled at the end of the test
        out.append(e)


def test():
    need_root()
    import grpc
    t = Tree()
    try:
        tls, port = g.serve_tls(t)
        t.start()
        ev, se, he = g.pb()
        ch_a, ch_b = g.channel(port, tls), g.channel(port, tls)
        # unary RPCs
        v = g.unary(ch_a, g.SVC + "GetVersion", se.GetVersionRequest(), se.GetVersionResponse)
        check(v.version.startswith("vigil"), f"version {v.version!r}")
        tp = __import__("tetragon.tetragon_pb2").tetragon_pb2
        h = g.unary(ch_a, g.SVC + "GetHealth", tp.GetHealthStatusRequest(),
                    tp.GetHealthStatusResponse)
        check(h.health_status[0].status == tp.HEALTH_STATUS_RUNNING, f"health {h}")
        pl = g.unary(ch_a, g.SVC + "ListTracingPolicies", se.ListTracingPoliciesRequest(),
                     se.ListTracingPoliciesResponse)
        # the evaluator's policies in force (the shipped library here), with their modes
        info = t.status("evaluator")["info"]["policies"]
        want = dict(x.rsplit(" (", 1) for x in info.split(", "))
        got = {p.name: ("enforce" if p.mode == se.TP_MODE_ENFORCE else "monitor)")
               for p in pl.policies}
        got = {k: v.rstrip(")") for k, v in got.items()}
        want = {k: v.rstrip(")") for k, v in want.items()}
        check(len(want) > 0 and got == want, f"ListTracingPolicies {got}, evaluator has {want}")
        check(all(p.state == se.TP_STATE_ENABLED and p.enabled for p in pl.policies),
              f"policy states {[(p.name, p.state) for p in pl.policies]}")
        hc = g.unary(ch_a, "/grpc.health.v1.Health/Check", he.HealthCheckRequest(),
                     he.HealthCheckResponse)
        check(hc.status == he.HealthCheckResponse.SERVING, f"health check {hc}")
        # a bad regex is refused with INVALID_ARGUMENT and a message naming it
        bad = g.get_events(ch_a, ev.GetEventsRequest(allow_list=[ev.Filter(binary_regex=["("])]))
        try:
            next(iter(bad))
            check(False, "bad regex accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "binary_regex" in e.details(),
                  f"bad regex: {e.code()} {e.details()}")
        # two subscribers
        stop = threading.Event()
        got_a, got_b = [], []
        call_a = g.get_events(ch_a)
        req_b = ev.GetEventsRequest(
            allow_list=[ev.Filter(binary_regex=["echo$"], event_set=[ev.PROCESS_EXEC])],
            deny_list=[ev.Filter(arguments_regex=["deny-me"])])
        call_b = g.get_events(ch_b, req_b)
        check(g.wait_subscribed(call_a) and g.wait_subscribed(call_b), "streams not open")
        for c, out in ((call_a, got_a), (call_b, got_b)):
            threading.Thread(target=collect, args=(c, out, stop), daemon=True).start()
        wait_for(lambda: t.counter("exporter", "grpc.clients") == 2, what="2 gRPC clients")
        tag = "vigil-grpc-" + uuid.uuid4().hex
        subprocess.run(["/bin/sh", "-c", f"/bin/echo {tag}; /bin/echo deny-me-{tag}; true"],
                       stdout=subprocess.DEVNULL, check=True)
        fx = t.find("process_exec", lambda e: e["process"].get("arguments") == tag)["process_exec"]
        t.find("process_exit", lambda e: e["process"]["exec_id"] == fx["process"]["exec_id"])

        def of(got, kind, pred):
            for r in got:
                if not isinstance(r, Exception) and r.WhichOneof("event") == kind and \
                        pred(getattr(r, kind)):
                    return r
            return None
        my = lambda e: e.process.arguments == tag
        ra = wait_for(lambda: of(got_a, "process_exec", my), 5, what="exec at client A")
        p, fp = ra.process_exec.process, fx["process"]
        check(p.binary == fp["binary"] and p.arguments == fp["arguments"], f"binary/args {p}")
        check(p.pid.value == fp["pid"] and p.exec_id == fp["exec_id"], "pid/exec_id")
        check(p.parent_exec_id == fp["parent_exec_id"], "parent_exec_id")
        check(ra.process_exec.parent.exec_id == fp["parent_exec_id"], "parent.exec_id")
        check(p.uid.value == fp["uid"] and p.cwd == fp.get("cwd", ""), "uid/cwd")
        check(ra.node_name == "vigil-test" and ra.time.seconds > 1700000000, "node_name/time")
        check(p.start_time.seconds > 1700000000, "start_time")
        # capabilities travel as bit sets inside the pipeline; the client gets the enum
        # values (CAP_SYS_ADMIN = 21), the export the names: the same set
        names = fp.get("cap", {}).get("effective", [])
        check("CAP_SYS_ADMIN" in names and 21 in list(p.cap.effective)
              and len(p.cap.effective) == len(names),
              f"cap.effective {list(p.cap.effective)} vs export {names}")
        rx = wait_for(lambda: of(got_a, "process_exit", lambda e: e.process.exec_id == p.exec_id),
                      5, what="exit at client A")
        # exec facts (cap, ns, credentials) on process_exec's process only, as in the export
        check(not rx.process_exit.process.HasField("cap") and
              not rx.process_exit.process.HasField("ns") and p.HasField("ns"),
              f"exit process carries exec facts: {rx.process_exit.process.cap}")
        rb = wait_for(lambda: of(got_b, "process_exec", my), 5, what="exec at client B")
        check(rb.process_exec.process.exec_id == p.exec_id, "same event at B")
        time.sleep(0.5)
        kinds_b = {r.WhichOneof("event") for r in got_b if not isinstance(r, Exception)}
        check(kinds_b == {"process_exec"}, f"client B got {kinds_b}")
        check(all(r.process_exec.process.binary.endswith("echo") for r in got_b), "B: only echo")
        check(not of(got_b, "process_exec", lambda e: "deny-me" in e.process.arguments),
              "B got the denied exec")
        check(of(got_a, "process_exec", lambda e: e.process.arguments == "deny-me-" + tag),
              "A missed the second echo")
        # no client certificate: the handshake fails (mutual TLS)
        try:
            g.unary(g.channel(port, tls, client_cert=False), g.SVC + "GetVersion",
                    se.GetVersionRequest(), se.GetVersionResponse, timeout=3)
            check(False, "a client without a certificate was served")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNAVAILABLE, f"no cert: {e.code()}")
        # plaintext on the TLS port
        try:
            g.unary(g.channel(port, plaintext=True), g.SVC + "GetVersion",
                    se.GetVersionRequest(), se.GetVersionResponse, timeout=3)
            check(False, "a plaintext client was served")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNAVAILABLE, f"plaintext: {e.code()}")
        c = t.counters("exporter")
        check(c.get("grpc.sent", 0) >= 4 and c.get("grpc.rejected") == 1, f"counters {c}")
        check(c.get("grpc.client_drops", 0) == 0, "no drops")
        # a client that goes away is cleaned up
        stop.set()
        call_a.cancel()
        call_b.cancel()
        wait_for(lambda: t.counter("exporter", "grpc.clients") == 0, 5, what="clients cleaned up")
        t.stop()
    finally:
        t.cleanup()


run_test(test)
