"""e2e: the exporter's Prometheus /metrics with the whole tree under s6. A tagged
/bin/echo runs; a scrape parses with prometheus_client's strict text parser (a real
client) and shows every stage up, tetragon_events_total{type="process_exec"},
tetragon_events_exported_total, ring-buffer and process-cache metrics under
Tetragon's names, and every counter as vigil_counter{stage,name} with the value
the control socket reports, and the kernel -> exporter delay as the histogram
vigil_event_delay_seconds. A stray ghost.ctl and a stopped enforcer show as
vigil_stage_up 0 and the scrape still answers in time. Wrong path → 404, POST →
405 (also with a 256 KiB body the server does not read: the client reads the whole
answer, no reset), garbage → 400 and a 200 KB header → 431, each answer read whole, and the
server keeps serving, also while a client holds a silent connection open; HEAD gets
the head only; those are counted (bad_requests: 404/405; malformed: the other two). An explicit address in use → exit 100."""
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import grpctest as g
from vigiltest import ROOT, Tree, check, need_root, run_test


def scrape(port, path="/metrics", method="GET", data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", e.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value} through prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families
    out, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            check(key not in out, f"duplicate sample {key}")
            out[key] = s.value
    return out, types


def raw(port, data):
    """Send raw bytes; return what came back before the server closed (or b'')."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    buf = b""
    try:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have closed on us (an oversized request)
        while True:
            b = s.recv(65536)
            if not b:
                return buf
            buf += b
    except (ConnectionResetError, BrokenPipeError):
        return buf
    finally:
        s.close()


def post_body(port, size=262144):
    """A POST with a body larger than what the server reads with the head: what the
    client reads after a pause (a reset, had the server closed with the body unread,
    shows as its repr)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
                  + b"x" * size)
        time.sleep(0.2)  # answered, and a reset would be here by now
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                return buf
            buf += b
    except (ConnectionResetError, BrokenPipeError) as e:
        return repr(e).encode()
    finally:
        s.close()


def test():
    need_root()
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError:
        from vigiltest import skip
        skip("python3-prometheus-client is not installed (tests/deps.sh)")
    port = g.free_port()
    t = Tree(env={"VIGIL_EXPORTER_OPTS": ""})
    try:
        t.env["VIGIL_EXPORTER_OPTS"] = (f"--export-file {t.export} --grpc-address unix:{t.base}/g.sock "
                                        "--grpc-plaintext "
                                        f"--metrics-address 127.0.0.1:{port}")
        t.start()
        tag = "vigil-metrics-" + uuid.uuid4().hex
        subprocess.run(["/bin/echo", tag], stdout=subprocess.DEVNULL, check=True)
        t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=5)
        code, ctype, body = scrape(port)
        check(code == 200 and ctype.startswith("text/plain; version=0.0.4"), f"{code} {ctype}")
        m, types = parse(body)
        v = lambda metric_, **lab: m.get((metric_, frozenset(lab.items())))
        for s in ("collector", "enricher", "evaluator", "exporter", "enforcer"):
            check(v("vigil_stage_up", stage=s) == 1, f"{s} not up: {v('vigil_stage_up', stage=s)}")
        check(types.get("vigil_stage_up") == "gauge", f"types {types.get('vigil_stage_up')}")
        check((v("tetragon_events_total", type="process_exec") or 0) >= 1, "events_total exec")
        check(types.get("tetragon_events") == "counter", f"events type {types.get('tetragon_events')}")
        check((v("tetragon_events_exported_total") or 0) >= 1, "exported_total")
        check((v("tetragon_events_exported_bytes_total") or 0) > 100, "exported bytes")
        check((v("tetragon_observer_ringbuf_events_received_total") or 0) >= 1, "ringbuf received")
        check(v("tetragon_observer_ringbuf_events_lost_total") is not None, "ringbuf lost")
        # kernel -> exporter delay: a histogram with the tagged echo in it, well under 5 s
        check(types.get("vigil_event_delay_seconds") == "histogram",
              f"delay type {types.get('vigil_event_delay_seconds')}")
        buckets = sorted((float(dict(k[1])["le"]), val) for k, val in m.items()
                         if k[0] == "vigil_event_delay_seconds_bucket")
        cnt = v("vigil_event_delay_seconds_count") or 0
        check(len(buckets) == 27 and buckets[-1] == (float("inf"), cnt) and cnt >= 1,
              f"delay buckets {buckets} count {cnt}")
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"not cumulative {buckets}")
        check(dict(buckets)[5.0] >= 1, f"no event within 5 s: {buckets}")
        check((v("vigil_event_delay_seconds_sum") or 0) >= 0, "delay sum")
        check((v("tetragon_process_cache_size") or 0) >= 1, "process cache size")
        check(types.get("tetragon_process_cache_size") == "gauge", "cache size is a gauge")
        check(v("tetragon_process_cache_misses_total") is not None, "cache misses")
        # the generic family carries each stage's counters as the control socket has them
        st = t.counters("enricher")
        stable = [k for k in st if k.startswith("drop.")]
        check(stable, f"enricher has no drop.* counters: {st}")
        for k in stable:
            check(v("vigil_counter", stage="enricher", name=k) == st[k], f"vigil_counter {k}")
            check(v("vigil_drops_total", stage="enricher", reason=k[5:]) == st[k], f"drops {k}")
        for s in ("collector", "evaluator", "enforcer"):
            check(any(k[0] == "vigil_counter" and ("stage", s) in k[1] for k in m),
                  f"no vigil_counter of {s}")
        # a ghost stage and a stopped one are down; the scrape answers within ~1 s
        open(os.path.join(t.rundir, "ghost.ctl"), "w").close()
        t.svc("enforcer", "-d")
        t.svwait("enforcer", "-D")
        t0 = time.monotonic()
        code, _, body = scrape(port)
        dt = time.monotonic() - t0
        m, _ = parse(body)
        check(code == 200 and dt < 3, f"scrape with down stages: {code} in {dt:.2f}s")
        check(v("vigil_stage_up", stage="ghost") == 0, "ghost up")
        check(v("vigil_stage_up", stage="enforcer") == 0, "stopped enforcer up")
        check(v("vigil_stage_up", stage="exporter") == 1, "exporter down")
        # bad requests
        check(scrape(port, "/nope")[0] == 404, "wrong path")
        check(scrape(port, "/metrics", "POST", b"x" * 1000)[0] == 405, "POST")
        # the answer reaches the client whole even when the request goes on past the
        # head the server read (it closed with those bytes unread: a reset, which once
        # lost CI a 405)
        r = post_body(port)
        check(r.startswith(b"HTTP/1.1 405") and r.endswith(b"method not allowed\n"),
              f"POST with a 256 KiB body: {r[:200]!r}")
        r = raw(port, b"\x00\xffGARBAGE\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 400") and r.endswith(b"bad request\n"),
              f"garbage: {r[:80]!r}")
        r = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 431") and r.endswith(b"request head too large\n"),
              f"huge header: {r[:80]!r}")
        # a client that opens a connection and says nothing does not block the others
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        code, _, body = scrape(port)
        check(code == 200 and "vigil_stage_up" in body, "server still serves")
        r = raw(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 200") and r.endswith(b"\r\n\r\n"),
              f"HEAD: {r[:200]!r}")
        idle.close()
        c = t.counters("exporter")
        check(c.get("metrics.scrapes", 0) >= 4 and c.get("metrics.bad_requests") == 3,
              f"metrics counters {c.get('metrics.scrapes')} {c.get('metrics.bad_requests')}")
        check(c.get("metrics.malformed") == 2,
              f"metrics.malformed {c.get('metrics.malformed')}, want 2 (garbage, huge head)")
        # an explicit address in use is a configuration error
        r = subprocess.run([os.path.join(ROOT, "build/vigil-exporter"), "--rundir",
                            os.path.join(t.base, "run2"), "--export-file",
                            os.path.join(t.base, "e2.json"), "--grpc-address", "",
                            "--metrics-address", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 100 and "metrics" in r.stderr, f"busy port: {r.returncode} {r.stderr}")
        t.stop()
    finally:
        t.cleanup()


run_test(test)
