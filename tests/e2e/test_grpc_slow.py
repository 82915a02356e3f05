"""e2e: per-client bounded queues. The exporter alone (queue 200 events per client)
gets 3000 synthetic process_exec events on its input. A fast TLS client receives all
3000 in order with no rate_limit_info; a client that does not read meanwhile loses
events from its own queue only: when it reads, the events it gets plus the
number_of_dropped_process_events of its rate_limit_info responses add up to 3000,
and the exporter's grpc.client_drops equals that loss. The JSON file has all 3000
lines (the pipeline is not slowed); after both clients leave, grpc.clients is 0."""
import os
import threading
import time

import grpctest as g
from vigiltest import Tree, check, envelope, need_root, run_test, wait_for

N = 3000


def body(i):
    return {"process": {"exec_id": f"slow-{i}", "pid": 100000 + i, "uid": 0,
                        "binary": "/vigil-slow-test", "arguments": "x" * 2000,
                        "start_time": 1700000000000000000 + i},
            "node_name": "slow", "time": 1700000000000000000 + i}


def test():
    need_root()
    t = Tree(stages=["exporter"])
    try:
        tls = g.make_tls(os.path.join(t.base, "tls"))
        port = g.free_port()
        t.env["VIGIL_EXPORTER_OPTS"] = (
            f"--export-file {t.export} --grpc-address 127.0.0.1:{port} --grpc-queue 200 "
            f"--tls-cert {tls['server']} --tls-key {tls['server_key']}")
        t.start()
        ev, _, _ = g.pb()
        req = ev.GetEventsRequest(allow_list=[ev.Filter(binary_regex=["^/vigil-slow-test$"])])
        fast = g.get_events(g.channel(port, tls), req)
        slow = g.get_events(g.channel(port, tls), req)
        check(g.wait_subscribed(fast) and g.wait_subscribed(slow), "streams not open")
        got_fast = []

        def reader():
            for r in fast:
                got_fast.append(r)
                if len(got_fast) >= N:
                    break
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        push = t.push(t.endpoint("exporter", "in"))
        for i in range(N):
            push.send(envelope("process_exec", body(i), src="slowtest", seq=i + 1))
            if i % 50 == 49:
                time.sleep(0.01)
        th.join(30)
        check(len(got_fast) == N, f"fast client got {len(got_fast)} of {N}")
        pids = [r.process_exec.process.pid.value for r in got_fast]
        check(pids == [100000 + i for i in range(N)], "fast client: events missing or reordered")
        wait_for(lambda: len(t.events()) == N, 5, what=f"{N} lines in the JSON file")
        drops = t.counter("exporter", "grpc.client_drops")
        check(drops > 0, "the slow client lost nothing: test did not overload it")
        # now the slow client reads what it has
        events, told = [], 0
        it = iter(slow)
        while len(events) + told < N:
            r = next(it)
            if r.WhichOneof("event") == "rate_limit_info":
                told += r.rate_limit_info.number_of_dropped_process_events
            else:
                events.append(r.process_exec.process.pid.value)
        check(told == drops, f"slow client told {told}, counter says {drops}")
        check(events == sorted(events) and len(set(events)) == len(events),
              "slow client: events reordered or duplicated")
        c = t.counters("exporter")
        check(c["grpc.rate_limit_info"] >= 1 and c["exported"] == N, f"counters {c}")
        print(f"slow client: {len(events)} events, {told} dropped and told", flush=True)
        fast.cancel()
        slow.cancel()
        wait_for(lambda: t.counter("exporter", "grpc.clients") == 0, 5, what="clients cleaned up")
        push.close()
        t.stop()
    finally:
        t.cleanup()


run_test(test)
