"""e2e (quick): the evaluator bench. bench/eval_bench.py starts vigil-evaluator with the
1,000 generated policies (all of them load: policy.loaded = 1000) and with the shipped
library; 3,000 events of the mix pushed flat out all come back re-sent (none lost), CPU
per event is positive, and three instances on three shards also get every event back."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import eval_bench as eb  # noqa: E402
from vigiltest import check, need_root, run_test  # noqa: E402


def test():
    need_root()
    for polset, n in (("1000 rules", 1), ("library", 3)):
        e = eb.Eval(polset, n)
        try:
            if polset == "1000 rules":
                check(e.loaded == 1000, f"1000 rules: {e.loaded} loaded")
            else:
                check(e.loaded and e.loaded > 0, f"library: {e.loaded} loaded")
            got, el, cpu = eb.run_push(e, 3000, 0)
            check(got == 3000, f"{polset} x{n}: received {got} of 3000")
            check(el > 0 and cpu >= 0, f"elapsed {el}, cpu {cpu}")
            lat = []
            got, _, _ = eb.run_push(e, 200, 1000, lat)
            check(got == 200 and len(lat) == 200 and 0 < eb.pct(lat, 0.5) < 5e6,
                  f"latency run: {got} received, {len(lat)} timed")
        finally:
            e.stop()


run_test(test)
