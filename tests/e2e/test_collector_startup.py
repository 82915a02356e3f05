"""e2e: the in-kernel filter is in place before any program is attached. A collector
started with `--events process` while this process opens files in a tight loop must
never send a file or network record: kernel.emitted.file, kernel.emitted.net and
ringbuf_lost.file stay 0 (before the fix the filter was CBPF_OPS_ALL between attach and
the collector's narrowing, and every open of the machine leaked in that window). The
collector is restarted twice (kill -9) to repeat the start-up window."""
import os
import tempfile
import threading

from vigiltest import Tree, check, need_root, run_test, wait_for


def test():
    need_root()
    base = tempfile.mkdtemp(prefix="vigil-startup-")
    path = os.path.join(base, "f")
    open(path, "w").close()
    stop = threading.Event()

    def opener():
        while not stop.is_set():
            os.close(os.open(path, os.O_RDONLY))

    th = threading.Thread(target=opener, daemon=True)
    th.start()
    t = Tree(stages=["collector"], env={"VIGIL_COLLECTOR_OPTS": "--events process --scan 0"})
    try:
        t.start()
        for round_ in range(3):
            if round_:
                t.kill9("collector")
            st = wait_for(lambda: t.status("collector"), 5, what="collector status")
            c = st.get("counters", {})
            check("kernel.emitted.exec" in c or "kernel.emitted.process_exec" in c,
                  f"counters present: {sorted(c)}")
            for k in ("kernel.emitted.file", "ringbuf_lost.file", "kernel.emitted.net"):
                check(c.get(k, 0) == 0, f"round {round_}: {k} = {c.get(k)} with --events process")
    finally:
        stop.set()
        th.join()
        t.cleanup()
        os.unlink(path)
        os.rmdir(base)


run_test(test)
