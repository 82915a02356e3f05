"""exporter gRPC configuration, stage alone: plaintext on TCP is refused (exit 100,
clear message); explicit TLS files that do not exist are refused (exit 100); with no
gRPC option and no default TLS files the exporter warns and runs without gRPC;
plaintext on a unix: socket works when asked for (GetVersion answers, an unknown
method gets UNIMPLEMENTED); a garbage GetEvents request gets INVALID_ARGUMENT and the server lives on."""
import os
import shutil
import subprocess
import tempfile
import time

import grpctest as g
from vigiltest import check, need_root, run_test, wait_for

BIN = os.path.join(g.ROOT, "build/vigil-exporter")


def run(d, *args, timeout=5):
    return subprocess.run([BIN, "--rundir", os.path.join(d, "run"), "--export-file",
                           os.path.join(d, "ev.json"), *args], capture_output=True, text=True,
                          timeout=timeout)


def test():
    need_root()
    import grpc
    d = tempfile.mkdtemp(prefix="vigil-grpccfg-")
    p = None
    try:
        r = run(d, "--grpc-address", f"127.0.0.1:{g.free_port()}", "--grpc-plaintext")
        check(r.returncode == 100 and "only allowed on a unix: address" in r.stderr,
              f"plaintext tcp: {r.returncode} {r.stderr}")
        r = run(d, "--grpc-address", f"127.0.0.1:{g.free_port()}", "--tls-cert", d + "/nope.crt",
                "--tls-key", d + "/nope.key")
        check(r.returncode == 100 and "nope.crt" in r.stderr, f"missing cert: {r.stderr}")
        # no gRPC option at all: defaults; if the default TLS files are absent it must run
        if not os.path.exists("/var/lib/vigil/tls/server.crt"):
            p = subprocess.Popen([BIN, "--rundir", os.path.join(d, "run0"), "--export-file",
                                  os.path.join(d, "ev0.json")], stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            check(p.poll() is None, "exporter without TLS files exited")
            p.terminate()
            err = p.communicate(timeout=5)[1]
            check("grpc: disabled" in err and "mktls" in err, f"no clear warning: {err}")
            check(p.returncode == 0, f"exit {p.returncode}")
        sock = os.path.join(d, "grpc.sock")
        p = subprocess.Popen([BIN, "--rundir", os.path.join(d, "run1"), "--export-file",
                              os.path.join(d, "ev1.json"), "--grpc-address", "unix:" + sock,
                              "--grpc-plaintext"], stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(sock), 5, what="unix socket")
        ch = grpc.insecure_channel("unix:" + sock)
        _, se, _ = g.pb()
        v = g.unary(ch, g.SVC + "GetVersion", se.GetVersionRequest(), se.GetVersionResponse)
        check(v.version.startswith("vigil"), f"version {v}")
        try:
            g.unary(ch, g.SVC + "AddTracingPolicy", se.AddTracingPolicyRequest(yaml="x"),
                    se.AddTracingPolicyResponse)
            check(False, "AddTracingPolicy answered")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNIMPLEMENTED, f"unimplemented: {e.code()}")
        # garbage as a GetEvents request: INVALID_ARGUMENT, the server lives on
        m = ch.unary_stream(g.SVC + "GetEvents", request_serializer=lambda b: b,
                            response_deserializer=lambda b: b)
        try:
            next(iter(m(b"\xff\xff\xff\xff", timeout=3)))
            check(False, "garbage request accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"garbage: {e.code()}")
        v = g.unary(ch, g.SVC + "GetVersion", se.GetVersionRequest(), se.GetVersionResponse)
        ch.close()
        g.stop_exporter(p)
    finally:
        g.reap(p)
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
