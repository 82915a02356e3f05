"""Helpers for the exporter's gRPC tests: TLS material, Python stubs generated
from proto/ with protoc --python_out, and a small client over grpc's generic API
(python3-grpcio 1.51 from Debian; python3-grpc-tools there is too old to use)."""
import atexit
import importlib
import os
import socket
import shutil
import subprocess
import sys
import tempfile

from vigiltest import check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SVC = "/tetragon.FineGuidanceSensors/"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_exporter(p):
    """SIGTERM a standalone exporter and require a clean exit (0); its stderr if not."""
    p.terminate()
    _, err = p.communicate(timeout=5)
    check(p.returncode == 0, f"exporter exit {p.returncode}: {err}")


def reap(p):
    """Kill p if it still runs (a test's finally: nothing left behind)."""
    if p and p.poll() is None:
        p.kill()
        p.wait()


def make_tls(directory):
    """CA, server and client certificates in directory (supervise/mktls)."""
    subprocess.run(["sh", os.path.join(ROOT, "supervise/mktls"), directory], check=True,
                   stdout=subprocess.DEVNULL)
    return {k: os.path.join(directory, f) for k, f in
            [("ca", "ca.crt"), ("server", "server.crt"), ("server_key", "server.key"),
             ("client", "client.crt"), ("client_key", "client.key")]}


def serve_tls(t, extra=""):
    """Certificates in the tree's directory and the exporter's options for a mutual-TLS
    gRPC server on a free loopback port (plus extra). Returns (tls, port)."""
    tls = make_tls(os.path.join(t.base, "tls"))
    port = free_port()
    t.env["VIGIL_EXPORTER_OPTS"] = (
        f"--export-file {t.export} --grpc-address 127.0.0.1:{port} "
        f"--tls-cert {tls['server']} --tls-key {tls['server_key']} "
        f"--tls-client-ca {tls['ca']}" + (f" {extra}" if extra else ""))
    return tls, port


_pb = None


def pb():
    """The generated modules: (events_pb2, sensors_pb2, health_pb2)."""
    global _pb
    if _pb:
        return _pb
    out = tempfile.mkdtemp(prefix="vigil-pb-")
    atexit.register(shutil.rmtree, out, True)  # the modules stay loaded; the files go
    protos = ["tetragon/capabilities.proto", "tetragon/tetragon.proto", "tetragon/events.proto",
              "tetragon/sensors.proto", "grpc/health/v1/health.proto"]
    subprocess.run(["protoc", "-I" + os.path.join(ROOT, "proto"), "--python_out=" + out] + protos,
                   check=True)
    for d in ("tetragon", "grpc", "grpc/health", "grpc/health/v1"):
        open(os.path.join(out, d, "__init__.py"), "a").close()
    # our generated "grpc" package must not shadow grpcio: import it under another name
    os.rename(os.path.join(out, "grpc"), os.path.join(out, "vgrpc"))
    hp = os.path.join(out, "vgrpc/health/v1/health_pb2.py")
    sys.path.insert(0, out)
    ev = importlib.import_module("tetragon.events_pb2")
    se = importlib.import_module("tetragon.sensors_pb2")
    he = importlib.import_module("vgrpc.health.v1.health_pb2")
    _pb = (ev, se, he)
    assert os.path.exists(hp)
    return _pb


def channel(port, tls=None, client_cert=True, plaintext=False, host="localhost"):
    """A grpc channel to the exporter on 127.0.0.1:port (TLS with the test CA;
    with client_cert the client presents the test client certificate)."""
    import grpc
    target = f"127.0.0.1:{port}" if isinstance(port, int) else port
    if plaintext:
        return grpc.insecure_channel(target)
    rd = lambda p: open(p, "rb").read()
    creds = grpc.ssl_channel_credentials(
        root_certificates=rd(tls["ca"]),
        private_key=rd(tls["client_key"]) if client_cert else None,
        certificate_chain=rd(tls["client"]) if client_cert else None)
    return grpc.secure_channel(target, creds,
                               options=[("grpc.ssl_target_name_override", host)])


def get_events(ch, req=None, timeout=None):
    """Start a GetEvents stream; returns the call (iterate it for responses)."""
    ev, _, _ = pb()
    m = ch.unary_stream(SVC + "GetEvents", request_serializer=lambda r: r.SerializeToString(),
                        response_deserializer=ev.GetEventsResponse.FromString)
    return m(req or ev.GetEventsRequest(), timeout=timeout)


def unary(ch, method, req, resp_cls, timeout=5):
    m = ch.unary_unary(method, request_serializer=lambda r: r.SerializeToString(),
                       response_deserializer=resp_cls.FromString)
    return m(req, timeout=timeout)


def wait_subscribed(call, timeout=5):
    """Block until the server sent the stream's headers (it is registered)."""
    import threading
    done = threading.Event()
    threading.Thread(target=lambda: (call.initial_metadata(), done.set()), daemon=True).start()
    return done.wait(timeout)
