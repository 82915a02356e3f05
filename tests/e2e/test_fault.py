"""e2e: faults. With a workload running (/bin/true with a unique argument every 20 ms),
each stage in turn (collector, enricher, evaluator, exporter, enforcer) is killed with
SIGKILL. For each: s6 restarts it (a new pid, ready per s6-svwait -U), and events flow
again: a fresh command's process_exec is in the export within 2 s of the restarted
stage being ready, and so are the workload's later runs. After the collector's restart
the killed collector's vigil BPF programs that the new one did not adopt (pinned links)
are unloaded, and the vigil programs loaded since the tree started are exactly the new
collector's (from /proc/PID/fdinfo).

Then, deterministically, messages lost inside a killed stage show downstream as a gap
(sequence numbers persist across restarts in the run directory): the exporter is taken
down, events queue in the evaluator's output, the evaluator is killed with SIGKILL
(its queue is lost), the exporter comes back, and after the next event its
gap.evaluator (and gap_total) is at least the number of messages the evaluator had sent
while the exporter was down."""
import time

from vigiltest import (STAGES, Tree, Workload, bpf_prog_ids, check, need_root,
                       prog_ids_held, run_tagged, run_test, unique_tag, wait_for)


def flows(t, within=2.0):
    tag = unique_tag("vigil-fault")
    run_tagged(tag)
    t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=within)


def test_kill_each(t, prefix):
    held0 = prog_ids_held(t.pid("collector"))
    want0 = t.collector_prog_ids()
    check(held0 and held0 == want0 and held0 <= bpf_prog_ids(),
          f"the collector holds {held0}, its status says {want0} ({bpf_prog_ids()})")
    for stage in STAGES:
        gaps_before = {s: t.counters(s).get("gap_total", 0)
                       for s in ("evaluator", "exporter") if s != stage}
        old, new = t.kill9(stage)
        t0 = time.monotonic()
        st = t.status(stage)
        check(st and st["pid"] == new and st["state"] == "running",
              f"{stage} after restart: status {st}, s6 pid {new}")
        flows(t, within=max(0.5, 2.0 - (time.monotonic() - t0)))
        print(f"{stage}: pid {old} -> {new}; gap_total now "
              f"{ {s: t.counters(s).get('gap_total', 0) - g for s, g in gaps_before.items()} }",
              flush=True)
        if stage == "collector":
            # Pinned links survive a kill -9: the new collector adopts those programs
            # (collector/README.md, Pins); the rest of the killed one's are freed
            # asynchronously once the last fd is gone.
            held = prog_ids_held(new)
            wait_for(lambda: not (bpf_prog_ids() & (held0 - held)), 3,
                     what=f"the killed collector's programs {held0 - held} to be unloaded")
            check(held and held == t.collector_prog_ids() and held <= bpf_prog_ids()
                  and len(held) == len(held0),
                  f"the new collector holds {held}, want as many vigil programs")
            mine = t.leaked_progs()
            check(mine == held, f"this tree's collector programs still loaded {mine}, "
                                f"want only the new collector's {held}")
    # The workload's own runs keep arriving: one started after the last restart.
    n = max(int(e["process_exec"]["process"]["arguments"].rsplit("-", 1)[1])
            for e in t.events() if "process_exec" in e
            and e["process_exec"]["process"].get("arguments", "").startswith(prefix + "-"))
    t.find("process_exec", lambda e: e["process"].get("arguments") == f"{prefix}-{n + 5}",
           timeout=3)


def test_gap_visible(t):
    t.svc("exporter", "-d")
    t.svwait("exporter", "-D")
    check(t.pid("exporter") is None, f"exporter still up: {t.svstat('exporter')}")
    out0 = t.counters("evaluator")["out"]
    for _ in range(5):
        run_tagged(unique_tag("vigil-fault-queued"))
    wait_for(lambda: t.counters("evaluator")["out"] >= out0 + 10, 3,
             what="the evaluator to send 10 more messages with the exporter down")
    check(t.status("exporter", timeout=0.2) is None, "the exporter answers while down")
    queued = t.counters("evaluator")["out"] - out0
    t.kill9("evaluator")
    t.svc("exporter", "-u")
    t.wait_ready("exporter")
    flows(t)
    c = t.counters("exporter")
    lost = c.get("gap.evaluator", 0)
    print(f"evaluator had {queued} messages queued for the down exporter; the exporter "
          f"counted gap.evaluator {lost}, gap_total {c.get('gap_total')}", flush=True)
    check(lost >= queued, f"exporter gap.evaluator {lost}, want >= {queued}: {c}")
    check(c.get("gap_total", 0) >= lost, f"gap_total {c.get('gap_total')} < {lost}")
    check(c.get("reset.evaluator", 0) == 0,
          "the evaluator's numbering restarted: its state file did not survive kill -9")


def test():
    need_root()
    t = Tree()
    prefix = unique_tag("vigil-fault-load")
    try:
        t.start()
        with Workload(prefix):
            t.find("process_exec", lambda e: e["process"].get("arguments", "")
                   .startswith(prefix + "-"), timeout=3)
            test_kill_each(t, prefix)
            test_gap_visible(t)
        t.stop()
        left = t.leaked_progs()
        check(not left, f"BPF programs left loaded after stop: {left}")
    finally:
        t.cleanup()


run_test(test)
