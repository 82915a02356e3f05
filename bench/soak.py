#!/usr/bin/python3
"""make soak: the whole tree (collector with --events process,file,net so every kind of
the workload is an event) for VIGIL_SOAK_S seconds (default 600) under the mix at
VIGIL_SOAK_RATE events/s (default 10000), with stages SIGKILLed (s6 restarts them) at
random times drawn inside the window: every stage at least once, then random ones, at
spread over the window and none in the last 20 s (so the last restart is exercised too).

Checks at the end (exit 0 pass, 1 fail):
  - accounting: found in the export + counted losses (ring drops + gaps, the counters of
    each stage read right before it is killed and at the end, so a restart does not
    reset them away) = generated. Operations made while the collector was down cannot
    be events at all: they are taken from the generator's log (one timestamped line per
    operation) and shown apart ("collector down"), not as loss; a restart window is from
    0.5 s before the kill until the new collector is ready. Unaccounted events are also
    bucketed per second of the kernel timestamp, so a loss that goes with a kill shows
    which kill it was;
  - RSS of each stage does not grow (last quarter vs first quarter: at most +25 % + 4 MB),
    fds do not grow (+2), the tree's BPF programs are the live collector's only (no old
    collector's program left loaded after a restart), and none remain after the stop;
    the enforcer's pin directory is removed by the final clean stop;
  - enforcement never lapses: a connect-deny policy_set (127.0.0.2:PORT, generation above
    any the evaluator uses) is pushed to the enforcer at start, and a prober connects to
    127.0.0.2:PORT (a listener is there) every 20 ms for the whole run: not one connect
    may succeed, through enforcer, evaluator or collector kills alike.
Writes build/bench/soak.json (the figures) for the report."""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbench as vb  # noqa: E402
from vigiltest import LoopbackServer, bpf_prog_ids  # noqa: E402

OUT = os.path.join(vb.ROOT, "build/bench")
DENY_GEN = 9_000_000_000_000_000_000  # above any mtime-based generation of the evaluator


def say(*a):
    print("soak:", *a, flush=True)


def kill_plan(stages, dur, start=10.0, tail=20.0, gap=15.0):
    """Kill times (s from start) and stages: every stage once in a random order, then random
    stages, all inside [start, dur - tail] and at least gap apart."""
    last = dur - tail
    if last <= start:
        return []
    # one kill per ~35 s on average, and every stage at least once
    n = max(len(stages), int((last - start) // 35))
    order = random.sample(stages, len(stages))
    order += [random.choice(stages) for _ in range(max(0, n - len(order)))]
    order = order[:n]
    # n slots of width (last-start)/n, one kill at a random place in each: >= gap apart
    # is approximately kept by placing it in the first part of its slot
    w = (last - start) / len(order)
    times = [start + i * w + random.uniform(0, max(0.0, w - gap)) for i in range(len(order))]
    return list(zip(times, order))


class Prober(threading.Thread):
    """connect() to the denied address every interval; counts outcomes by errno."""

    def __init__(self, port, interval=0.02):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.outcomes = {}
        self.successes = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect(("127.0.0.2", self.port))
                r = "connected"
                self.successes.append(time.time())
            except OSError as e:
                import errno as E
                r = E.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
            finally:
                s.close()
            self.outcomes[r] = self.outcomes.get(r, 0) + 1
            self.halt.wait(self.interval)


def deny_policy(port):
    return {"name": "soak-deny-connect", "mode": "enforce", "action": "override", "errno": 1,
            "kill_fallback": False, "scope": {},
            "rules": [{"kind": "connect", "cidrs": ["127.0.0.2/32"], "ports": [port],
                       "protocols": ["tcp"]}]}


def count_buckets(path, run, port):
    """count_export plus, per second of the event's `time`, how many of this run's events
    were found (the last "time" of a line is the response's own)."""
    mark = f"vigil-bench-{run}-".encode()
    dirm = f"/tmp/vigil-bench-{run}/".encode()
    portm = vb.port_marks(port)
    c = {"exec": 0, "exit": 0, "open": 0, "connect": 0, "lines": 0}
    b = {}
    with open(path, "rb") as f:
        for line in f:
            c["lines"] += 1
            head = line[:24]
            k = None
            if head.startswith(b'{"process_kprobe"'):
                if b"security_file_open" in line and dirm in line:
                    k = "open"
                elif b"tcp_connect" in line and any(m in line for m in portm):
                    k = "connect"
            elif mark in line:
                if head.startswith(b'{"process_exec"'):
                    k = "exec"
                elif head.startswith(b'{"process_exit"'):
                    k = "exit"
            if not k:
                continue
            c[k] += 1
            i = line.rfind(b'"time":"')
            if i >= 0:
                sec = line[i + 8:i + 27].decode()  # 2026-11-25T18:30:12
                b[sec] = b.get(sec, 0) + 1
    return c, b


def gen_log(path, windows, kinds):
    """From the generator's log: events expected per kind outside the collector-down
    windows, inside them, and per second (UTC, same format as count_buckets)."""
    ev_per = {"exec": 2, "open": 1, "connect": 1}
    out = {"outside": 0, "inside": 0, "by_kind_outside": {}, "buckets": {}}
    with open(path, "rb") as f:
        for line in f:
            p = line.split()
            if len(p) < 5 or p[-1] == b"FAIL":
                continue
            k = p[1].decode()
            if k not in kinds:
                continue
            t = int(p[3]) / 1e9
            n = ev_per[k]
            if any(a <= t <= z for a, z in windows):
                out["inside"] += n
                continue
            out["outside"] += n
            out["by_kind_outside"][k] = out["by_kind_outside"].get(k, 0) + n
            sec = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            out["buckets"][sec] = out["buckets"].get(sec, 0) + n
    return out


def main():
    if os.geteuid() != 0:
        print("soak: needs root")
        return 77
    dur = float(os.environ.get("VIGIL_SOAK_S", "600"))
    rate = int(os.environ.get("VIGIL_SOAK_RATE", "10000"))
    os.makedirs(OUT, exist_ok=True)
    t = vb.Tree()
    t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
    t.env["VIGIL_COLLECTOR_OPTS"] = os.environ.get("VIGIL_COLLECTOR_OPTS",
                                                   "--events process,file,net")
    v = vb.Vigil(t)
    fails, notes = [], []
    log = os.path.join(t.base, "gen.log")
    srv = LoopbackServer(4096)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    prober = Prober(port)
    run = vb.run_id()
    res = {"duration_s": dur, "rate": rate, "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                    time.gmtime())}
    pin_dir = None
    try:
        t.start(timeout=40)
        kinds = vb.captured_kinds(t)
        res["kinds"] = kinds
        say(f"captured kinds {kinds}; collector opts {t.env['VIGIL_COLLECTOR_OPTS']}")
        # enforcement: the deny set, then the prober for the whole run
        push = t.push("enforcer.in")
        inst0 = t.counter("enforcer", "policy_set.installed")
        push.send(vb.envelope("policy_set", {"generation": DENY_GEN, "mode": "enforce",
                                             "policies": [deny_policy(port)]},
                              src="soak", seq=1))
        vb.wait_for(lambda: t.counter("enforcer", "policy_set.installed") > inst0, 10,
                    what="the deny policy_set installed")
        st = t.status("enforcer") or {}
        pin_dir = st.get("info", {}).get("pin_dir")
        say(f"enforcer: {st.get('info', {}).get('policy.soak-deny-connect')}, pins {pin_dir}")
        prober.start()
        time.sleep(0.5)
        if prober.successes:
            fails.append("the denied connect succeeded before the soak began")
        vb.truncate_export(t)
        res["background_ev_s"] = v.background(3.0)
        say(f"background (other processes on the machine): {res['background_ev_s']:.0f} events/s")
        acc = {s: {} for s in t.stages}  # counters of killed incarnations, summed
        base = v.counters()              # the first incarnations' counters at start
        plan = kill_plan(list(t.stages), dur)
        say(f"kill plan: " + ", ".join(f"{s}@{x:.0f}s" for x, s in plan))
        g = vb.gen(run, rate, duration=dur, log=log, popen=True)
        start = time.monotonic()
        samples, kills, windows = [], [], []
        progs_bad = []
        while g.poll() is None:
            time.sleep(1)
            now = time.monotonic()
            pids = v.pids()
            samples.append((now - start, {s: (vb.rss_mb(p), vb.fd_count(p))
                                          for s, p in pids.items() if p}))
            if plan and now - start >= plan[0][0]:
                _, s = plan.pop(0)
                c = (t.status(s) or {}).get("counters")
                if c is None:
                    notes.append(f"{s}: no status right before its kill at {now - start:.0f}s"
                                 " (its counters since the last read are not in the sums)")
                    c = {}
                for k, x in c.items():
                    acc[s][k] = acc[s].get(k, 0) + x - base.get(s, {}).get(k, 0)
                base[s] = {}
                t0 = time.time()
                try:
                    old, new = t.kill9(s, timeout=40)
                    t1 = time.time()
                    kills.append({"stage": s, "at_s": round(now - start, 1),
                                  "down_s": round(t1 - t0, 2)})
                    if s == "collector":
                        windows.append((t0 - 0.5, t1))
                    say(f"{now - start:.0f}s killed {s} (pid {old} -> {new}, ready after "
                        f"{t1 - t0:.2f}s)")
                except vb.TestFailure as e:
                    fails.append(f"{s} did not come back: {e}")
                    if s == "collector":
                        windows.append((t0 - 0.5, time.time()))
                if s == "collector":
                    time.sleep(1)  # the kernel frees the old programs shortly after
                    live = t.collector_prog_ids()
                    stale = (t.prog_ids - live) & bpf_prog_ids()
                    if stale:
                        progs_bad.append(sorted(stale))
        gs = json.loads(g.stdout.read())
        say(f"generator done: {gs['events']} events in {gs['elapsed_s']:.0f}s "
            f"({gs['rate_achieved']:.0f}/s)")
        prober.halt.set()
        prober.join(5)
        drained = v.drain(quiet=2, timeout=180)
        end = v.counters()
        tot = {}
        for s in t.stages:
            tot[s] = dict(acc[s])
            for k, x in end.get(s, {}).items():
                tot[s][k] = tot[s].get(k, 0) + x - base.get(s, {}).get(k, 0)
        ring = max(0, tot["collector"].get("ringbuf_lost", 0))
        # late messages (a killed producer's queued tail arriving after its successor's
        # first ones) were first counted in a gap: net them out (docs/wire.md §3)
        gaps = {s: tot[s].get("gap_total", 0) - tot[s].get("late_total", 0)
                for s in t.stages if s != "collector"}
        counted = ring + sum(max(0, x) for x in gaps.values())
        cnt, fb = count_buckets(t.export, run, vb.ports(gs))
        gl = gen_log(log, windows, kinds)
        found = sum(cnt[k] for k in ("exec", "exit", "open", "connect")
                    if k in kinds or (k == "exit" and "exec" in kinds))
        # found events of the collector-down windows are in `found` too: the balance is
        # done on the outside part, the windows reported apart
        found_in_windows = sum(n for sec, n in fb.items()
                               if any(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(a)) <= sec
                                      <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(z))
                                      for a, z in windows))
        gen_out = gl["outside"]
        # counted losses can exceed this run's share: gaps count whatever was in flight,
        # other processes' events too
        unacc = max(0, gl["outside"] + gl["inside"] - found - counted)
        res.update({
            "generated_outside": gen_out, "generated_collector_down": gl["inside"],
            "found": found, "found_by_kind": cnt, "counted": counted, "ring_lost": ring,
            "gaps": gaps, "kills": kills, "drained": drained,
            "unaccounted": unacc, "resets": {s: sum(x for k, x in tot[s].items()
                                                    if k.startswith("reset.")) for s in tot},
            "drops": {s: {k: x for k, x in tot[s].items() if k.startswith("drop.") and x}
                      for s in tot},
            "prober": prober.outcomes, "prober_successes": len(prober.successes),
            "gen": {k: gs[k] for k in ("events", "elapsed_s", "rate_achieved")},
            "found_in_collector_windows_approx": found_in_windows,
            "stale_progs_after_restart": progs_bad, "notes": notes})
        say(f"{dur:.0f}s at {rate}/s (achieved {gs['rate_achieved']:.0f}/s), kinds {kinds}")
        say(f"kills: " + ", ".join(f"{k['stage']}@{k['at_s']}s ({k['down_s']}s)" for k in kills))
        say(f"generated {gen_out + gl['inside']} events: {gen_out} with the collector up, "
            f"{gl['inside']} in collector restart windows; found {found}; counted losses "
            f"{counted} (ring {ring}, gaps {gaps}); unaccounted {unacc}")
        say(f"drops by stage: {res['drops']}; resets: {res['resets']}")
        # unaccounted per second, around the kills
        miss = {sec: gl["buckets"].get(sec, 0) - fb.get(sec, 0) for sec in gl["buckets"]}
        big = sorted((sec for sec, m in miss.items() if m > 0), key=lambda x: -miss[x])[:10]
        res["missing_by_second"] = {sec: miss[sec] for sec in sorted(big)}
        if big:
            say("seconds with the most events missing from the export (collector up): " +
                ", ".join(f"{sec[11:]} {miss[sec]}" for sec in sorted(big)))
        if not drained:
            fails.append("the exporter never went idle after the run")
        if found > gen_out + gl["inside"]:
            fails.append(f"more found ({found}) than generated ({gen_out + gl['inside']})")
        # the whole balance: the collector's rings and links are pinned, so what happens
        # while it restarts is recorded too (collector/README.md, Pins) and nothing is
        # unobservable: found + counted must cover every generated event
        if unacc:
            fails.append(f"unaccounted: generated {gen_out + gl['inside']} > found {found} + "
                         f"counted {counted} (missing {unacc})")
        # the counters must account exactly, not over-count: gaps inflated by a producer's
        # restart hide real loss just as well as missing counters do
        real_missing = max(0, gen_out + gl["inside"] - found)
        if counted > real_missing + max(100, 0.01 * gen_out):
            fails.append(f"counted losses ({counted}) far exceed the events actually missing "
                         f"({real_missing}): the gap counters over-count (resets "
                         f"{res['resets']}); received + counted != generated")
        if prober.successes:
            fails.append(f"enforcement lapsed: {len(prober.successes)} denied connects "
                         f"succeeded (first at {prober.successes[0]:.1f})")
        if sum(prober.outcomes.values()) < 10:
            fails.append(f"the prober barely ran: {prober.outcomes}")
        say(f"prober: {prober.outcomes}")
        if progs_bad:
            fails.append(f"an old collector's programs still loaded after restart: {progs_bad}")
        q = max(1, len(samples) // 4)
        res["rss"], res["fds"] = {}, {}
        for s in t.stages:
            def avg(part, i):
                xs = [x[1][s][i] for x in part if s in x[1] and x[1][s][i] is not None]
                return sum(xs) / len(xs) if xs else None
            r0, r1 = avg(samples[:q], 0), avg(samples[-q:], 0)
            f0, f1 = avg(samples[:q], 1), avg(samples[-q:], 1)
            res["rss"][s], res["fds"][s] = (r0, r1), (f0, f1)
            say(f"{s}: RSS {r0 or 0:.1f} -> {r1 or 0:.1f} MB, fds {f0 or 0:.1f} -> {f1 or 0:.1f}")
            if r0 and r1 and r1 > r0 * 1.25 + 4:
                fails.append(f"{s} RSS grew {r0:.1f} -> {r1:.1f} MB")
            if f0 and f1 and f1 > f0 + 2:
                fails.append(f"{s} fds grew {f0:.0f} -> {f1:.0f}")
        t.stop()
        left = t.leaked_progs()
        if left:
            fails.append(f"BPF programs left loaded after stop: {sorted(left)}")
        if pin_dir and os.path.exists(pin_dir):
            fails.append(f"enforcer pins left after a clean stop: {pin_dir}")
    except vb.TestFailure as e:
        fails.append(str(e))
    finally:
        prober.halt.set()
        t.cleanup()
        srv.close()
        if pin_dir and os.path.isdir(pin_dir):
            from enforcetest import remove_pins
            remove_pins(pin_dir)
        subprocess.run(["rm", "-rf", f"/tmp/vigil-bench-{run}"])
    for f in fails:
        say(f"FAIL: {f}")
    res["fails"] = fails
    with open(os.path.join(OUT, "soak.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    say("ok" if not fails else f"{len(fails)} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
