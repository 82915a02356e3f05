"""e2e: supervision.

1. Stages come up in any order, and a missing consumer is backpressure, not loss: the
   tree starts without the exporter; 20 commands with unique arguments run; 2 s later
   the exporter's service is added to the scan directory (s6-svscanctl -a). All 20
   process_exec events, generated before the exporter existed, reach the export; the
   exporter counts no gap, no reset and no drop.
2. A permanent configuration error is not restarted: with VIGIL_EVALUATOR_OPTS="--bogus
   x" the evaluator exits 100, its finish script exits 125, and s6 leaves it down (no
   pid for 2 s, s6-svstat says down, exit code 100, not wanted up); its log says why;
   the other stages are up."""
import subprocess
import time

from vigiltest import (Tree, check, need_root, run_tagged, run_test, unique_tag, wait_for)


def test_late_exporter():
    t = Tree(stages=["collector", "enricher", "evaluator", "enforcer"])
    try:
        t.start()
        tags = [unique_tag("vigil-late") for _ in range(20)]
        for tag in tags:
            run_tagged(tag)
        time.sleep(2)
        check(not t.events(), "something was exported with no exporter")
        t.add_stage("exporter")
        for tag in tags:
            t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=3)
        c = t.counters("exporter")
        bad = {k: v for k, v in c.items()
               if v and (k.startswith(("gap", "reset", "drop.")))}
        check(not bad, f"exporter counted losses: {bad}")
        check(c.get("in", 0) >= 40, f"exporter in {c.get('in')}, want >= 40 (20 exec+exit)")
    finally:
        t.cleanup()


def test_bad_option():
    t = Tree(stages=["evaluator", "enforcer"], env={"VIGIL_EVALUATOR_OPTS": "--bogus x"})
    try:
        t.start(wait=["enforcer"])
        d = f"{t.scandir}/evaluator"
        wait_for(lambda: "exitcode 100" in t.svstat("evaluator"), 5,
                 what="the evaluator to exit 100")
        end = time.monotonic() + 2
        while time.monotonic() < end:
            check(t.pid("evaluator") is None,
                  f"s6 restarted the evaluator: {t.svstat('evaluator')}")
            time.sleep(0.05)
        o = subprocess.run(["s6-svstat", "-o", "up,wantedup,exitcode", d],
                           stdout=subprocess.PIPE, text=True).stdout.split()
        check(o == ["false", "false", "100"], f"s6-svstat up,wantedup,exitcode: {o}")
        check("unknown option --bogus" in t.log("evaluator"),
              f"evaluator log does not say why:\n{t.log('evaluator')}")
        check(t.status("enforcer") is not None, "the enforcer went down too")
    finally:
        t.cleanup()


def test():
    need_root()
    test_late_exporter()
    test_bad_option()


run_test(test)
