"""e2e (quick): the per-syscall bench's "filtered in the kernel" condition is what it says.
With the collector on --events process,file, opens of a marked directory are exported;
with the collector's filter map rewritten by bench/syscost.py (no file operation wanted)
the file programs stay attached (same program ids) but opens produce no event; the
original value written back brings them back (the batch after arrives whole, the
filtered one before it is absent). The loops report ns per operation > 0."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import syscost  # noqa: E402
import vbench as vb  # noqa: E402
from vigiltest import check, need_root, run_test  # noqa: E402


def opens(t, n=200):
    """n flat-out opens of a fresh run; returns (run, port, ns per op)."""
    run = vb.run_id()
    g = vb.gen(run, 0, count=n, mix="open")
    return run, g["port"], g["open"]["ns_per_op"]


def seen(t, run, port, want, timeout=20):
    """Open events of run in the export, once want arrived (or the timeout passed)."""
    end = time.monotonic() + timeout
    while True:
        n = vb.count_export(t.export, run, port)["open"]
        if n >= want or time.monotonic() > end:
            return n
        time.sleep(0.2)


def test():
    need_root()
    t = vb.Tree(stages=["collector", "enricher", "evaluator", "exporter"])
    t.env["VIGIL_COLLECTOR_OPTS"] = "--events process,file"
    t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
    try:
        t.start(timeout=40)
        # other tests' opens machine-wide can fill the ring: our events lost there are
        # counted (ringbuf_lost), and then only "all arrived or counted" can be asked
        lost0 = t.counter("collector", "ringbuf_lost")
        run, port, ns = opens(t)
        n = seen(t, run, port, 200)
        lost = t.counter("collector", "ringbuf_lost") - lost0
        check(ns > 0 and n > 0 and (n == 200 or lost >= 200 - n),
              f"captured: {n} open events of 200, ring lost {lost}, {ns} ns/op")
        mid = syscost.filter_map(t)
        orig = syscost.map_value(mid)
        progs = t.collector_prog_ids()
        ops = int.from_bytes(bytes(orig[:8]), "little") & ~syscost.OPS_FILE
        syscost.map_write(mid, list(ops.to_bytes(8, "little")) + orig[8:])
        try:
            frun, fport, _ = opens(t)
            check(t.collector_prog_ids() == progs, "programs changed while filtered")
        finally:
            syscost.map_write(mid, orig)
        check(syscost.map_value(mid) == orig, "filter not restored")
        # the batch after it arrives whole: the filtered one, before it, had its chance
        lost0 = t.counter("collector", "ringbuf_lost")
        run, port, _ = opens(t)
        n = seen(t, run, port, 200)
        lost = t.counter("collector", "ringbuf_lost") - lost0
        check(n > 0 and (n == 200 or lost >= 200 - n),
              f"restored: {n} open events of 200, ring lost {lost}")
        n = vb.count_export(t.export, frun, fport)["open"]
        check(n == 0, f"filtered: {n} open events exported")
    finally:
        t.cleanup()


run_test(test)
