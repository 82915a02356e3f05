"""e2e (quick): the exporter gRPC bench counts exactly. bench/grpc_bench.py's throughput()
runs the exporter alone with TLS gRPC and pushes 2,000 synthetic enriched events/s for
1 s from a separate process: the step passes with every pushed event received by the
counting client, no client drop, no input drop, and the push rate near the target;
a pusher that cannot reach its target is a failed step that says so, not a pass.
The soak's kill plan puts every stage in, all kills inside the window."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import grpc_bench  # noqa: E402
import soak  # noqa: E402
from vigiltest import check, need_root, run_test  # noqa: E402


def test():
    need_root()
    stages = ["collector", "enricher", "evaluator", "exporter", "enforcer"]
    for dur in (70, 600):
        plan = soak.kill_plan(stages, dur)
        check(set(s for _, s in plan) == set(stages), f"plan {plan} misses a stage")
        check(all(10 <= x <= dur - 20 for x, _ in plan), f"kill outside the window: {plan}")
        check([x for x, _ in plan] == sorted(x for x, _ in plan), "plan not in time order")
    r = grpc_bench.throughput(window=1.0, rates=[2000, 2 * 10**6], say=print)
    st = r["steps"][0]
    check(st["ok"], f"2000/s step failed: {st}")
    check(st["pushed"] == 2000 and st["received"] == 2000, f"counts {st}")
    check(st["client_drops"] == 0 and st["other_drops"] == 0, f"drops {st}")
    check(r["max_rate_target"] == 2000, f"max {r['max_rate_target']}")
    bad = r["steps"][1]
    check(not bad["ok"] and bad["why"], f"an unreachable target passed: {bad}")


run_test(test)
