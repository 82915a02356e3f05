"""e2e: the exporter's kernel -> exporter delay histogram (vigil_event_delay_seconds on
/metrics). A standalone exporter gets events whose `time` is 3 s old, 20 s old, in the
future, missing, and not a number; a scrape through prometheus_client's parser puts
each in its bucket (the buckets cumulative, +Inf = _count, _sum the delays), and the
untimed ones are counted in delay.untimed, not in the histogram."""
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import grpctest as g
import zmq
from vigiltest import check, envelope, need_root, run_test, skip, wait_for

BIN = os.path.join(g.ROOT, "build/vigil-exporter")


def ev(pid, t):
    e = {"process": {"binary": "/bin/true", "arguments": str(pid), "pid": pid,
                     "exec_id": f"id-{pid}", "uid": 0}, "node_name": "n1"}
    if t is not None:
        e["time"] = t
    return e


def test():
    need_root()
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        skip("python3-prometheus-client is not installed (tests/deps.sh)")
    d = tempfile.mkdtemp(prefix="vigil-xdelay-")
    port = g.free_port()
    p = None
    try:
        out = os.path.join(d, "ev.json")
        p = subprocess.Popen([BIN, "--rundir", d + "/run", "--export-file", out,
                              "--grpc-address", "", "--metrics-address", f"127.0.0.1:{port}"],
                             stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(d + "/run/exporter.ctl"), 5, what="exporter up")
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH)
        s.connect(f"ipc://{d}/run/exporter.in")
        now = time.time_ns()
        times = [now - 3 * 10**9] * 3 + [now - 20 * 10**9] * 2 + [now + 60 * 10**9, None, "x"]
        for i, t in enumerate(times):
            s.send(envelope("process_exec", ev(i + 1, t), seq=i + 1))
        wait_for(lambda: os.path.exists(out) and len(open(out).read().splitlines()) >= 7, 5,
                 what="events exported")
        sent_at = time.time_ns()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        fams = {f.name: f for f in text_string_to_metric_families(body)}
        f = fams.get("vigil_event_delay_seconds")
        check(f is not None and f.type == "histogram", f"no delay histogram in {body[:2000]}")
        bk = {float(x.labels["le"]): x.value for x in f.samples if x.name.endswith("_bucket")}
        one = {x.name: x.value for x in f.samples if not x.name.endswith("_bucket")}
        # the future one: no delay, first bucket; the 3 s ones from le=5; the 20 s ones +Inf
        check(bk[0.00005] == 1 and bk[2.5] == 1 and bk[5.0] == 4 and bk[10.0] == 4,
              f"buckets {bk}")
        check(bk[float("inf")] == 6 and one["vigil_event_delay_seconds_count"] == 6,
              f"+Inf/count {bk} {one}")
        want = (3 * 3 + 2 * 20) + 3 * (sent_at - now) / 1e9
        check(49 <= one["vigil_event_delay_seconds_sum"] <= want + 1,
              f"sum {one['vigil_event_delay_seconds_sum']} (want 49..{want + 1:.1f})")
        untimed = [x.value for x in fams["vigil_counter"].samples
                   if x.labels.get("stage") == "exporter" and x.labels.get("name") == "delay.untimed"]
        check(untimed == [2], f"delay.untimed {untimed}")
        s.close(0)
        ctx.term()
        g.stop_exporter(p)
    finally:
        g.reap(p)
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
