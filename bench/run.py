#!/usr/bin/python3
"""make bench / make bench-report: what vigil costs and loses, measured on this machine.

One vigil tree under s6 (tests/lib/vigiltest.Tree) with a private export file. For each
target rate of the workload (bench/gen.c: execs, file opens, loopback connects, every
operation marked), rounds alternate a window *without* vigil (the collector stopped, so
no program is attached) and a window *with* it, and measure:
  - the workload's time per operation (added cost = with / without, same run);
  - CPU (utime+stime from /proc/PID/stat) of each stage, per 1,000 exported events and as
    % of one core; RSS of each stage;
  - loss: kernel ring drops (collector ringbuf_lost), pipeline gaps (gap_total of each
    stage), and events missing from the JSON export, counted exactly by marker;
  - latency kernel -> exporter: receipt time on the exporter's tap minus the event's
    kernel timestamp (build/bench/tapstat), p50/p99/p99.9.
Then each kind alone, a burst, the same workload under auditd and bpftrace, and the
per-stage benches (bench/syscost.py, bench/grpc_bench.py, bench/eval_bench.py, and the
enforcer's and enricher's when they exist). Medians of the rounds with (min..max). `--report` uses 60 s windows,
writes docs/BENCHMARKS.md and docs/bench.png."""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbench as vb  # noqa: E402
import compare  # noqa: E402

OUT = os.path.join(vb.ROOT, "build/bench")
COLLECTOR_OPTS = "--events process,file,net"
EXTERNAL = ("enforce_bench.py", "enricher_bench.py")  # other engineers' standalone benches


def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"med": statistics.median(xs), "min": min(xs), "max": max(xs)}


def fmt(m, f="{:.2f}"):
    if not m:
        return "n/a"
    return f"{f.format(m['med'])} ({f.format(m['min'])}..{f.format(m['max'])})"


def say(*a):
    print(*a, flush=True)


def loud(msg):
    bar = "!" * 78
    say(f"\n{bar}\n!! {msg}\n{bar}\n")


# ---- the two kinds of window --------------------------------------------------
def without_window(v, rate, dur, mix, burst=None):
    """The collector and the enforcer down (their links go with them: nothing of vigil
    attached), same load."""
    vb.stages_down(v.t)
    try:
        return vb.gen(vb.run_id(), rate, duration=dur, mix=mix, burst=burst)
    finally:
        vb.stages_up(v.t)


def with_window(v, rate, dur, mix, kinds, burst=None, samples=None, tap=False, pin=None):
    """vigil up, the load on. With tap, a latency reader subscribes to the exporter's tap
    (bench/tapstat.c): that costs the exporter a publish per batch and its I/O thread a
    send (about 0.4 % of a core at 1k/s, measured), so CPU figures come from the windows
    without it and latency from a window of its own (rate_series). With pin (a set of
    CPUs), every stage's threads run there for the window (VIGIL_CPUS); the generator
    stays free."""
    t = v.t
    # steady state: the restarted collector's start-up scan (an exec event per process,
    # after every without-window) is through the pipeline before the window opens
    v.drain(quiet=0.5, timeout=10)
    vb.truncate_export(t)
    if pin:
        v.pin(pin)
    try:
        c0, cpu0 = v.counters(), v.cpu()
        tap = vb.Tap(t, samples=samples) if tap else None
        run = vb.run_id()
        g = vb.gen(run, rate, duration=dur, mix=mix, burst=burst)
        drained = v.drain()
        cpu1, c1, rss, grss = v.cpu(), v.counters(), v.rss(), v.group_rss()
        lat = tap.stop() if tap else None
    finally:
        if pin:
            v.pin(None)
    cnt = vb.count_export(t.export, run, vb.ports(g))
    exp = vb.expected(g, kinds)
    missing = {k: exp[k] - cnt[k] for k in exp}
    cpu = {s: (cpu1[s] - cpu0[s]) if cpu1.get(s) is not None and cpu0.get(s) is not None
           else None for s in cpu0}
    exported = c1["exporter"].get("exported", 0) - c0["exporter"].get("exported", 0)
    total_cpu = sum(x for x in cpu.values() if x is not None)
    loss = v.losses(c0, c1)
    return {"gen": g, "drained": drained, "cpu_s": cpu, "cpu_total_s": total_cpu,
            "cpu_pct": 100 * total_cpu / g["elapsed_s"],
            "cpu_per_1k": 1000 * total_cpu / exported if exported else None,
            "exported": exported, "expected": exp, "found": cnt, "missing": missing,
            "missing_total": sum(max(0, m) for m in missing.values()),
            "generated_total": sum(exp.values()), "loss": loss,
            "gap_total": event_gaps(loss), "gap_enforcer": loss["gaps"].get("enforcer", 0),
            "rss_mb": rss,
            "rss_total_mb": sum(x for x in rss.values() if x), "rss_group_mb": grss,
            "lat": lat, "xlat": delay_hist(c0, c1)}


def delay_hist(c0, c1):
    """The exporter's kernel -> exporter delay histogram (exporter/exporter_delay.h)
    between two counter snapshots: its count and p50/p99/p99.9 in µs, read off the
    buckets the way Prometheus's histogram_quantile does (linear inside the bucket that
    holds the rank; the top finite bound when the rank is in +Inf), and the share of
    events within 100 µs and within 1 ms (exact: those are bucket bounds)."""
    def d(k):
        return c1.get("exporter", {}).get(k, 0) - c0.get("exporter", {}).get(k, 0)
    b = sorted((int(k[len("delay.le_"):]), d(k)) for k in c1.get("exporter", {})
               if k.startswith("delay.le_") and k != "delay.le_inf")
    inf = d("delay.le_inf")
    n = sum(x for _, x in b) + inf
    if not b or n <= 0:
        return None
    out = {"count": n}
    for q, name in ((0.5, "p50"), (0.99, "p99"), (0.999, "p999")):
        rank, cum, lo, v = q * n, 0, 0, b[-1][0]
        for hi, x in b:
            if cum + x >= rank and x:
                v = lo + (hi - lo) * (rank - cum) / x
                break
            cum, lo = cum + x, hi
        out[name] = v
    out["le_100us"] = sum(x for h, x in b if h <= 100) / n
    out["le_1ms"] = sum(x for h, x in b if h <= 1000) / n
    return out


def event_gaps(loss):
    """Sequence gaps on the event path (enricher, evaluator, exporter inputs). The
    enforcer's input carries the evaluator's policy sets (re-sent every 10 s) and
    verdicts, not events: the bench stops and restarts the enforcer around every
    *without* window; those gaps are shown apart (gap_enforcer)."""
    return sum(n for st, n in loss["gaps"].items() if st != "enforcer")


def ratio(wo, wi, k):
    a, b = wo[k]["ns_per_op"], wi[k]["ns_per_op"]
    return b / a if a and b and wo[k]["ops"] and wi[k]["ops"] else None


def rate_series(v, rate, dur, rounds, mix, kinds, tag, samples_dir=None, burst=None,
                pin=None):
    """Alternating rounds at one rate; per-round raw results plus summaries."""
    rs = []
    for r in range(rounds):
        wo = without_window(v, rate, dur, mix, burst)
        wi = with_window(v, rate, dur, mix, kinds, burst, pin=pin)
        wi["without"] = wo
        rs.append(wi)
        say(f"  {tag} round {r + 1}/{rounds}: {wi['gen']['rate_achieved']:.0f} ev/s, "
            f"vigil CPU {wi['cpu_pct']:.2f}% of a core, exported {wi['exported']}, "
            f"missing {wi['missing_total']}, ring lost {wi['loss']['ringbuf_lost']}, "
            f"gaps {wi['gap_total']}")
    # latency: one more window, the tap reader on (its CPU is not in the figures above)
    sp = os.path.join(samples_dir, tag.replace("/", "~") + ".lat") if samples_dir else None
    wl = with_window(v, rate, dur, mix, kinds, burst, sp, tap=True, pin=pin)
    say(f"  {tag} latency window: {wl['gen']['rate_achieved']:.0f} ev/s, missing "
        f"{wl['missing_total']}, ring lost {wl['loss']['ringbuf_lost']}, gaps "
        f"{wl['gap_total']}, p50 {wl['lat']['lat_us']['p50']} us, vigil CPU "
        f"{wl['cpu_pct']:.2f}% of a core with the tap reader")
    return summarize(rs, rate, mix, kinds, tag, [wl])


def summarize(rs, rate, mix, kinds, tag, lat_rs=None):
    """Medians over the rounds rs; latency from lat_rs (the tap windows), or from rs
    (results of runs before the two were apart)."""
    lr = lat_rs if lat_rs else rs
    s = {"tag": tag, "rate": rate, "mix": mix, "rounds": rs, "lat_rounds": lat_rs or [],
         "achieved": med([r["gen"]["rate_achieved"] for r in rs]),
         "cpu_pct": med([r["cpu_pct"] for r in rs]),
         "cpu_per_1k_ms": med([1000 * r["cpu_per_1k"] if r["cpu_per_1k"] else None
                               for r in rs]),
         "rss_total_mb": med([r["rss_total_mb"] for r in rs]),
         "rss_group_mb": med([r.get("rss_group_mb") for r in rs]),
         "ring_lost": med([r["loss"]["ringbuf_lost"] for r in rs]),
         "gaps": med([r["gap_total"] for r in rs]),
         "gaps_enforcer": sum(r.get("gap_enforcer", 0) for r in rs),
         "missing": med([r["missing_total"] for r in rs]),
         "generated": med([r["generated_total"] for r in rs]),
         "zero_loss": all(r["missing_total"] == 0 and r["loss"]["ringbuf_lost"] == 0
                          and r["gap_total"] == 0 and r["drained"] for r in rs + (lat_rs or [])),
         "cpu_pct_tap": med([r["cpu_pct"] for r in lat_rs]) if lat_rs else None,
         "stage_cpu_pct": {st: med([100 * r["cpu_s"][st] / r["gen"]["elapsed_s"]
                                    if r["cpu_s"].get(st) is not None else None for r in rs])
                           for st in rs[0]["cpu_s"]},
         "stage_rss_mb": {st: med([r["rss_mb"].get(st) for r in rs]) for st in rs[0]["rss_mb"]},
         "lat": {q: med([r["lat"]["lat_us"][q] if r["lat"] and r["lat"]["timed"] else None
                         for r in lr])
                 for q in ("p50", "p99", "p999", "max")},
         # the exporter's own histogram, in the CPU windows (no tap reader)
         "xlat": {q: med([(r.get("xlat") or {}).get(q) for r in rs])
                  for q in ("p50", "p99", "p999", "le_100us", "le_1ms", "count")},
         "tap_gaps": sum(r["lat"]["tap_gaps"] for r in lr if r["lat"]),
         "ratio": {k: med([ratio(r["without"], r["gen"], k) for r in rs]) for k in vb.KINDS}}
    return s


def max_zero_loss(series):
    # A rate counts only if the generator reached 90 % of it in every round.
    ok = [s for s in series if s["zero_loss"] and s["achieved"]["min"] >= 0.9 * s["rate"]]
    if not ok:
        return None
    best = max(ok, key=lambda s: s["rate"])
    return {"target": best["rate"], "achieved": best["achieved"]["med"]}


# ---- output -------------------------------------------------------------------
def mq(m):
    return f"{m['med']:.0f}" if m else "n/a"


def idle_window(v, dur):
    """CPU of the tree with no workload: timers, polling and whatever else runs here."""
    cpu0 = v.cpu()
    time.sleep(dur)
    cpu1 = v.cpu()
    tot = sum(cpu1[s] - cpu0[s] for s in cpu0 if cpu0[s] is not None and cpu1[s] is not None)
    return {"cpu_pct": 100 * tot / dur, "rss_total_mb": sum(x for x in v.rss().values() if x),
            "rss_group_mb": v.group_rss(),
            "stage_cpu_pct": {s: 100 * (cpu1[s] - cpu0[s]) / dur for s in cpu0
                              if cpu0[s] is not None and cpu1[s] is not None}}


def gmb(m):
    """Group memory: a median dict, a plain number, or not measured."""
    if isinstance(m, dict):
        m = m.get("med")
    return f"{m:.1f}" if m is not None else "n/a"


def table(res):
    L = []
    w = res["window_s"]
    L.append(f"vigil benchmark — {res['date']} — {res['machine']}")
    L.append(f"captured kinds: {', '.join(res['kinds']) or 'none'}; not captured by this "
             f"build: {', '.join(k for k in vb.KINDS if k not in res['kinds']) or 'none'}")
    if res.get("missing_stages"):
        L.append(f"!! stages that did not start and were left out: {res['missing_stages']}")
    L.append(f"windows {w} s, {res['rounds']} rounds alternating without/with; "
             "median (min..max)")
    L.append("mem MB: resident memory of all stages together, each physical page once "
             "(shared libraries and the\nring buffer's double mapping are not counted once "
             "per stage); RSS MB: the sum of the stages' VmRSS\n")
    tw = max([22] + [len(s["tag"]) + 1 for s in res["series"]])  # the load column
    hdr = (f"{'load':<{tw}}{'achieved ev/s':>15}{'CPU % core':>22}{'CPU ms/1k ev':>23}"
           f"{'mem MB':>8}{'RSS MB':>9}{'generated':>11}{'missing':>9}{'ring':>6}{'gaps':>6}"
           f"{'p50 us':>9}{'p99 us':>9}{'p99.9 us':>10}")
    L.append(hdr)
    for s in res["series"]:
        L.append(f"{s['tag']:<{tw}}{s['achieved']['med']:>15.0f}{fmt(s['cpu_pct']):>22}"
                 f"{fmt(s['cpu_per_1k_ms']):>23}{gmb(s.get('rss_group_mb')):>8}"
                 f"{s['rss_total_mb']['med']:>9.1f}"
                 f"{s['generated']['med']:>11.0f}{s['missing']['med']:>9.0f}"
                 f"{s['ring_lost']['med']:>6.0f}{s['gaps']['med']:>6.0f}"
                 f"{mq(s['lat']['p50']):>9}{mq(s['lat']['p99']):>9}{mq(s['lat']['p999']):>10}")
    L.append("p50/p99/p99.9 us above: kernel -> a tap subscriber, in a window of its own. "
             "Kernel -> exporter, the exporter's own histogram\n(vigil_event_delay_seconds) "
             "in the CPU windows, read off its buckets:")
    for s in res["series"]:
        x = s.get("xlat") or {}
        if (x.get("p50") or {}).get("med") is None:
            continue
        L.append(f"  {s['tag']:<20} p50 {x['p50']['med']:.0f} us, p99 {x['p99']['med']:.0f} us, "
                 f"p99.9 {x['p999']['med']:.0f} us; within 100 us "
                 f"{100 * x['le_100us']['med']:.1f} %, within 1 ms {100 * x['le_1ms']['med']:.1f} %")
    L.append("Kernel -> a tap subscriber by event type (the latency window; where a type's "
             "time goes shows here, not in the overall percentiles):")
    for s in res["series"]:
        bt = ((s.get("lat_rounds") or [{}])[0].get("lat") or {}).get("by_type") or {}
        if bt:
            L.append(f"  {s['tag']:<20} " + ", ".join(
                f"{k.replace('process_', '')} p50 {x['p50']:.0f} p99 {x['p99']:.0f} us (n {x['n']})"
                for k, x in sorted(bt.items())))
    eg = [f"{x['tag']} {x['gaps_enforcer']}" for x in res["series"] if x.get("gaps_enforcer")]
    if eg:
        L.append("gaps: on the event path (enricher, evaluator, exporter inputs). Gaps at the "
                 "enforcer's input, which carries the evaluator's policy sets (re-sent every "
                 "10 s) and verdicts, not events: " + ", ".join(eg) + " (the bench stops and "
                 "restarts the enforcer around every without-window; a set in flight then is "
                 "the likely loss)")
    if res.get("idle"):
        i = res["idle"]
        L.append(f"{'idle (no workload)':<{tw}}{'':>15}{i['cpu_pct']:>22.2f}{'':>23}"
                 f"{gmb(i.get('rss_group_mb')):>8}"
                 f"{i['rss_total_mb']:>9.1f}   per stage: " + ", ".join(
                     f"{k} {x:.2f}%" for k, x in i["stage_cpu_pct"].items()))
    L.append("\nadded cost to the workload, time per operation with / without vigil:")
    for s in res["series"]:
        L.append(f"  {s['tag']:<20} " + "  ".join(
            f"{k} {fmt(s['ratio'][k])}" for k in vb.KINDS if s["ratio"][k]))
    L.append("\nper stage at the first load (CPU % of a core, RSS MB):")
    s0 = res["series"][0]
    for st in s0["stage_cpu_pct"]:
        L.append(f"  {st:<10} CPU {fmt(s0['stage_cpu_pct'][st], '{:.3f}'):>26}   "
                 f"RSS {fmt(s0['stage_rss_mb'][st], '{:.1f}')}")
    z = res["max_zero_loss"]
    L.append("\nhighest tested rate reached by the generator with zero loss (of the captured "
             "kinds) over every window: " +
             (f"{z['target']} ev/s (achieved {z['achieved']:.0f})" if z else "none"))
    L.append("\nother tools, same workload, same run:")
    for c in res["compare"]:
        if c.get("error"):
            L.append(f"  {c['tool']:<9} {c['rate']:>6} ev/s: NOT RUN — {c['error']}")
            continue
        L.append(f"  {c['tool']:<9} {c['rate']:>6} ev/s: CPU {c['cpu_pct']:.2f}% of a core, "
                 f"RSS {c['rss_mb']:.1f} MB, seen {c['seen']}/{c['generated']}, lost "
                 f"{c['lost']}; added cost " + "  ".join(
                     f"{k} {c['ratio'][k]:.2f}x" for k in vb.KINDS if c["ratio"].get(k)))
    L += stage_tables(res)
    return "\n".join(L)


def stage_tables(res):
    """The per-stage benches as text: syscall cost, exporter gRPC, evaluator, others."""
    L = []
    sc = res.get("syscost") or {}
    L.append("\ncollector per-syscall cost (flat-out loops, ns per operation; ratio to no vigil "
             "in the same round; median (min..max)):")
    if sc.get("error") or not sc:
        L.append(f"  NOT MEASURED: {sc.get('error', 'not run')}")
    else:
        ns = sc["ns"]
        L.append(f"  open+close, every open captured   {ns['none_open']['med']:>8.0f} -> "
                 f"{ns['captured_open']['med']:>8.0f}  ratio {fmt(sc['ratio_open_captured'])}"
                 f"  (ring drops per sample {sc['ring_lost_in_captured']})")
        L.append(f"  open+close, filtered in the kernel {ns['none_open']['med']:>8.0f} -> "
                 f"{ns['filtered_open']['med']:>8.0f}  ratio {fmt(sc['ratio_open_filtered'])}")
        L.append(f"  fork+exec+wait /bin/true           {ns['none_exec']['med']:>8.0f} -> "
                 f"{ns['captured_exec']['med']:>8.0f}  ratio {fmt(sc['ratio_exec'])}")
        if sc.get("ratio_exec_process"):
            L.append(f"  fork+exec+wait, process events only {ns['none_exec']['med']:>7.0f} -> "
                     f"{ns['filtered_exec']['med']:>8.0f}  ratio {fmt(sc['ratio_exec_process'])}")
        ks = res.get("kernel_side") or {}
        if ks.get("open"):
            L.append(f"  kernel side only ({ks.get('build', '?')} build; collector/cbpf_bench.inc: "
                     f"a drain thread instead of the pipeline, medians of 11 rounds): open+close "
                     f"captured {ks['open']['captured']:.2f}x, filtered "
                     f"{ks['open']['filtered']:.2f}x, resolved but outside --file-prefixes "
                     f"{ks['open']['prefixmiss']:.2f}x; fork+exec+wait "
                     f"{ks['exec']['process']:.3f}x (process programs), "
                     f"{ks['exec']['all']:.3f}x (and every open captured)"
                     + (f"; a syscall no program captures (1-byte pread) with the file "
                        f"programs attached {ks['read']['file']:.3f}x"
                        if ks.get("read") else ""))
        if sc.get("ratio_open_all"):
            L.append(f"  with the enforcer too (default policies): open+close "
                     f"{ns['all_open']['med']:.0f} ratio {fmt(sc['ratio_open_all'])}, "
                     f"fork+exec+wait {ns['all_exec']['med']:.0f} ratio "
                     f"{fmt(sc['ratio_exec_all'])}")
        for tool, x in (sc.get("tools") or {}).items():
            if x.get("error"):
                L.append(f"  {tool:<9} NOT RUN — {x['error']}")
            else:
                L.append(f"  {tool:<9} open+close ratio {fmt(x['ratio_open'])}   exec ratio "
                         f"{fmt(x['ratio_exec'])}")
        for n in sc.get("notes", []):
            L.append(f"  note: {n}")
    g = res.get("grpc_throughput") or {}
    L.append("\nexporter -> gRPC client over TLS (exporter alone, synthetic enriched events "
             "pushed into exporter.in, one python3-grpcio client counting):")
    if g.get("error") or not g:
        L.append(f"  NOT MEASURED: {g.get('error', 'not run')}")
    else:
        for st in g["steps"]:
            L.append(f"  target {st['rate']:>6}/s: pushed {st['push_rate']:>8.0f}/s, received "
                     f"{st['received']}/{st['pushed']}, client drops {st['client_drops']}, "
                     f"exporter CPU {st['exporter_cpu_pct'] or 0:.0f}%, bench process (pusher "
                     f"excluded: client) CPU {st['bench_process_cpu_pct']:.0f}% — "
                     f"{'ok' if st['ok'] else 'FAIL: ' + st['why']}")
        L.append("  highest rate with zero loss, sustained: " +
                 (f"{g['max_zero_loss']:.0f} events/s" if g.get("max_zero_loss") else "none"))
    gl = res.get("grpc_latency") or {}
    if gl.get("error") or not gl:
        L.append(f"  latency kernel -> gRPC client: NOT MEASURED: {gl.get('error', 'not run')}")
    elif gl.get("timed"):
        L.append(f"  latency kernel -> gRPC client at {gl['rate']}/s (whole tree, file and "
                 f"network events on; {gl['timed']} events): p50 {gl['p50_us']:.0f} us, "
                 f"p99 {gl['p99_us']:.0f} us, p99.9 {gl['p999_us']:.0f} us")
    e = res.get("evaluator") or {}
    L.append("\nevaluator (alone, synthetic enriched events of the mix, none matching):")
    if e.get("error") or not e:
        L.append(f"  NOT MEASURED: {e.get('error', 'not run')}")
    else:
        L.append(f"  {'policy set':<12}{'policies':>9}{'CPU us/ev':>11}{'matching us/ev':>16}"
                 f"{'p50 us':>8}{'p99 us':>8}{'1 inst ev/s':>13}{'3 inst ev/s':>13}")
        for k, r in e["sets"].items():
            L.append(f"  {k:<12}{r['policies'] or 0:>9}{r['cpu_us_per_event']:>11.1f}"
                     f"{r['match_us_per_event']:>16.1f}{r['lat_p50_us']:>8.0f}"
                     f"{r['lat_p99_us']:>8.0f}{r['throughput_1']:>13.0f}{r['throughput_3']:>13.0f}")
        L.append("  (CPU us per event = CPU ms per 1,000 events; matching = minus the no-policy "
                 "run; latency includes two ipc hops and Python at both ends)")
    for sc_name, x in (res.get("external") or {}).items():
        L.append(f"\nbench/{sc_name}:")
        if x.get("missing"):
            L.append("  !! NOT RUN: the script does not exist yet")
        else:
            if x.get("rc"):
                L.append(f"  !! exited {x['rc']}")
            if x.get("error"):
                L.append(f"  !! {x['error']}")
            L += ["  " + ln for ln in (x.get("output") or "").rstrip().splitlines()[-25:]]
    return L


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} vCPU {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


class collector_conf:
    """Run the collector with extra configuration lines (its --config file) inside the
    with-block, restarting it on the way in and out."""

    def __init__(self, tree, text):
        self.t, self.text = tree, text
        self.path = os.path.join(tree.env["VIGIL_CONFDIR"], "collector.conf")

    def restart(self):
        self.t.svc("collector", "-d")
        self.t.svwait("collector", "-D", timeout=20)
        self.t.svc("collector", "-u")
        self.t.wait_ready("collector", 30)

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w") as f:
            f.write(self.text)
        self.restart()

    def __exit__(self, *exc):
        os.unlink(self.path)
        self.restart()


def start_tree(res):
    """The whole tree; a stage that does not become ready is reported loudly and the
    benchmark goes on without it (other engineers' work in progress must not sink it)."""
    stages = list(vb.STAGES)
    res["missing_stages"] = []
    while True:
        t = vb.Tree(stages=stages)
        t.env["VIGIL_EXPORTER_OPTS"] = f"--export-file {t.export} --export-file-max-size-mb 0"
        # every kind of the workload is an event: file and network events on
        t.env["VIGIL_COLLECTOR_OPTS"] = COLLECTOR_OPTS
        try:
            t.start(timeout=40)
            return t
        except vb.TestFailure as e:
            bad = [s for s in stages if subprocess.run(
                ["s6-svwait", "-U", "-t", "1", os.path.join(t.scandir, s)]).returncode != 0]
            t.cleanup()
            if not bad or any(s in bad for s in ("collector", "exporter")):
                raise
            loud(f"stage(s) {bad} did not become ready; benchmarking without them: {e}")
            res["missing_stages"] += bad
            stages = [s for s in stages if s not in bad]


def guarded(name, fn, res, say):
    """One part of the bench; a failure is reported loudly and the rest goes on."""
    t0 = time.monotonic()
    try:
        res[name] = fn()
    except Exception as e:  # noqa: BLE001 — one broken part must not sink the rest
        loud(f"{name} failed: {type(e).__name__}: {e}")
        res[name] = {"error": f"{type(e).__name__}: {e}"}
    res.setdefault("durations_s", {})[name] = round(time.monotonic() - t0)


# (mode, messages/s, frames each, on one CPU): the pipeline's batches as measured here at
# 1,000 events/s (the mix) in the bench's series: the default mode sends about 100
# messages a second of ~15 envelopes, the low-latency mode about 1,400 of one; and 100 ms
# batches (ten times the default's window) for where batching alone would take it. An
# enriched envelope is ~1.9 KB (the collector's ~375 B: its hop is a little cheaper).
HOP_SHAPES = (("default", 100, 15, False), ("low-latency", 1500, 1, False),
              ("low-latency, one CPU", 1500, 1, True), ("100 ms batches", 10, 150, False))
HOP_BYTES, HOPS = 1900, 3


def zmq_hop(say, rounds=3, secs=4):
    """The transport alone: a chain of three ZeroMQ hops, as collector -> enricher ->
    evaluator -> exporter, with nothing of vigil in it (bench/zmq_hop.c), in each delivery
    mode's shape: what any pipeline of these stages costs before it does any work. The
    one-CPU shape runs the chain on the CPU the bench's one-CPU series uses."""
    out = {}
    for mode, msgs, frames, pin in HOP_SHAPES:
        runs = []
        pre = ["taskset", "-c", str(min(vb.one_cpu()))] if pin else []
        for _ in range(rounds):
            r = subprocess.run(pre + [os.path.join(OUT, "zmq_hop"), str(msgs), str(frames),
                                      str(HOP_BYTES), str(secs), str(HOPS)],
                               stdout=subprocess.PIPE, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"zmq_hop exited {r.returncode}")
            runs.append(json.loads(r.stdout))
        out[mode] = {"msgs_per_s": msgs, "frames": frames, "bytes": HOP_BYTES, "hops": HOPS,
                     "rounds": runs}
        for k in ("cpu_pct", "p50_us", "p99_us"):
            out[mode][k] = med([x[k] for x in runs])
        say(f"  zmq_hop {mode}: {msgs} messages/s of {frames} frame(s) of {HOP_BYTES} B "
            f"through {HOPS} hops: CPU {out[mode]['cpu_pct']['med']:.2f} % of a core "
            f"({out[mode]['cpu_pct']['min']:.2f}..{out[mode]['cpu_pct']['max']:.2f}), "
            f"latency p50 {out[mode]['p50_us']['med']:.0f} µs, p99 "
            f"{out[mode]['p99_us']['med']:.0f} µs")
    return out


def external(script, timeout=150):
    """Another engineer's standalone bench (bench/<script>): its output, or why not."""
    path = os.path.join(vb.ROOT, "bench", script)
    if not os.path.exists(path):
        loud(f"bench/{script} does not exist yet: skipped (its figures are missing from "
             "this report)")
        return {"missing": True}
    # a short form when the script has one: make bench stays within ~10 minutes
    args = ["--quick"] if "--quick" in open(path, errors="replace").read() else []
    try:
        r = subprocess.run(["/usr/bin/python3", path, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        loud(f"bench/{script} did not finish in {timeout} s: cut off")
        return {"rc": None, "output": (e.stdout or b"").decode(errors="replace")[-4000:]
                if isinstance(e.stdout, bytes) else (e.stdout or "")[-4000:],
                "error": f"timed out after {timeout} s"}
    if r.returncode != 0:
        loud(f"bench/{script} exited {r.returncode}")
    say(r.stdout[-3000:])
    return {"rc": r.returncode, "output": r.stdout[-4000:]}


def extra(res, a, say):
    """The per-stage benches: collector per-syscall cost, exporter gRPC, evaluator, and
    the other engineers' enforcer and enricher benches."""
    import syscost
    import grpc_bench
    import eval_bench
    say("bench: collector per-syscall cost (open+close captured / filtered in the kernel, "
        "exec; auditd, bpftrace)")
    guarded("syscost", lambda: syscost.measure(rounds=res["rounds"] + 3, tools=not a.no_compare,
                                               say=say), res, say)
    say("bench: the collector's programs alone, a drain thread in place of the pipeline")
    guarded("kernel_side", lambda: syscost.kernel_side(say=say), res, say)
    say("bench: the transport alone: three ZeroMQ hops (bench/zmq_hop.c), in each delivery "
        "mode's shape")
    guarded("zmq_hop", lambda: zmq_hop(say), res, say)
    say("bench: exporter gRPC over TLS: highest rate with zero client loss")
    guarded("grpc_throughput", lambda: grpc_bench.throughput(window=4.0, say=say), res, say)
    say("bench: kernel -> gRPC client latency at 1000 ev/s")
    guarded("grpc_latency", lambda: grpc_bench.latency(1000, 10.0, say=say), res, say)
    say("bench: evaluator matching cost and throughput")
    guarded("evaluator", lambda: eval_bench.measure(say=say), res, say)
    res["external"] = {}
    for sc in EXTERNAL:
        say(f"bench: bench/{sc}")
        res["external"][sc] = external(sc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", action="store_true", help="long form, writes docs/")
    ap.add_argument("--window", type=float)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--rates", default="1000,10000,50000")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    ap.add_argument("--merge", metavar="PART=FILE",
                    help="put FILE (JSON of one part) into build/bench/results.json, render")
    ap.add_argument("--render", action="store_true",
                    help="rewrite docs/ from build/bench/results.json (no measuring)")
    a = ap.parse_args()
    if a.merge:
        # one part measured again on its own (e.g. bench/syscost.py > x.json) into the results
        name, path = a.merge.split("=", 1)
        with open(os.path.join(OUT, "results.json")) as f:
            res = json.load(f)
        with open(path) as f:
            res[name] = json.load(f)
        res.setdefault("merged", []).append(f"{name} measured separately at "
                                            f"{time.strftime('%H:%M UTC', time.gmtime())}")
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)
        a.render = True
    if a.render:
        import report
        with open(os.path.join(OUT, "results.json")) as f:
            res = json.load(f)
        with open(os.path.join(OUT, "samples.json")) as f:
            samp = json.load(f)
        for i, sr in enumerate(res["series"]):
            for r in sr["rounds"]:
                r["gap_total"] = event_gaps(r["loss"])
                r["gap_enforcer"] = r["loss"]["gaps"].get("enforcer", 0)
            lat = sr["lat"]
            for r in sr.get("lat_rounds") or []:
                r["gap_total"] = event_gaps(r["loss"])
                r["gap_enforcer"] = r["loss"]["gaps"].get("enforcer", 0)
            res["series"][i] = summarize(sr["rounds"], sr["rate"], sr["mix"], res["kinds"],
                                         sr["tag"], sr.get("lat_rounds"))
            res["series"][i].setdefault("lat", lat)
        res["max_zero_loss"] = max_zero_loss([x for x in res["series"]
                                              if x["tag"].startswith("mix") and x["rate"]
                                              and "latency" not in x["tag"]])
        report.write(res, samp, table(res))
        say("bench: rewrote docs/BENCHMARKS.md and docs/bench.png from build/bench/results.json")
        return 0
    if os.geteuid() != 0:
        say("bench: needs root")
        return 1
    win = a.window or (60 if a.report else 5)
    rounds = a.rounds or (3 if a.report else 2)  # make bench stays within ~10 minutes
    rates = [int(x) for x in a.rates.split(",")]
    os.makedirs(OUT, exist_ok=True)
    samples = tempfile.mkdtemp(prefix="vigil-bench-lat-", dir="/tmp")
    # the code measured: HEAD and what differs from it (the docs this run rewrites aside)
    rev = subprocess.run(["git", "-C", vb.ROOT, "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    st = subprocess.run(["git", "-C", vb.ROOT, "status", "--porcelain"], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True).stdout.splitlines()
    dirty = [ln[3:] for ln in st if ln[3:] not in ("docs/BENCHMARKS.md", "docs/bench.png")]
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "git": {"rev": rev, "dirty": dirty},
           "load_start": os.getloadavg(), "t0": time.time(),
           "machine": machine(), "window_s": win, "rounds": rounds, "series": [],
           "argv": sys.argv[1:]}
    # vigil programs loaded before our tree starts (other trees', leftovers): they fire
    # in both windows
    res["foreign_progs"] = len(vb.bpf_prog_ids())
    t = start_tree(res)
    v = vb.Vigil(t)
    try:
        kinds = vb.captured_kinds(t)
        res["kinds"] = kinds
        res["background_ev_s"] = v.background(3.0)
        say(f"bench: captured kinds {kinds}; vigil_* programs of other trees loaded: "
            f"{res['foreign_progs']}")
        for k in vb.KINDS:
            if k not in kinds:
                loud(f"{k}: this build's collector emits no events for it: shown as "
                     "'not captured', not as loss")
        say("bench: idle tree")
        res["idle"] = idle_window(v, win)
        for rate in rates:
            say(f"bench: mix {vb.MIX} at {rate} ev/s")
            res["series"].append(rate_series(v, rate, win, rounds, vb.MIX, kinds,
                                             f"mix {rate}/s", samples))
        say("bench: mix at 1000 ev/s in low-latency mode (collector --delivery-ms 0)")
        one = vb.one_cpu()
        with collector_conf(t, "delivery-ms 0\n"):
            res["series"].append(rate_series(v, 1000, win, rounds, vb.MIX, kinds,
                                             "mix 1000/s low-latency", samples))
            # the same with every stage on one CPU (VIGIL_CPUS): a woken stage then runs
            # on a CPU that is already awake, right after the one that woke it
            say(f"bench: the same with every stage on CPU {min(one)} (VIGIL_CPUS)")
            res["series"].append(rate_series(v, 1000, win, rounds, vb.MIX, kinds,
                                             vb.LOWLAT_ONE, samples, pin=one))
        for k in vb.KINDS:
            say(f"bench: {k} alone at 1000 ev/s")
            res["series"].append(rate_series(v, 1000, win, max(1, rounds - 2) if not a.report
                                             else rounds, k, kinds, f"{k} alone 1000/s"))
        say("bench: burst, 5000 ops every 500 ms")
        res["series"].append(rate_series(v, 0, win, 1 if not a.report else rounds, vb.MIX,
                                         kinds, "mix burst 5000/0.5s", burst=(5000, 500)))
        res["max_zero_loss"] = max_zero_loss([s for s in res["series"]
                                              if s["tag"].startswith("mix") and s["rate"]
                                              and "latency" not in s["tag"]])
        res["compare"] = []
        if not a.no_compare:
            # vigil's kernel stages down: the tools are measured alone, against the same
            # without-baseline taken in this run.
            vb.stages_down(t)
            cw = min(win, 8) if a.report else min(win, 5)
            for tool in ("auditd", "bpftrace"):
                for rate in (1000, 10000):
                    say(f"bench: {tool} at {rate} ev/s")
                    c = compare.measure(tool, rate, cw, vb.MIX)
                    if c.get("error"):
                        loud(f"{tool} could not run here: {c['error']}")
                    res["compare"].append(c)
    finally:
        t.cleanup()
    extra(res, a, say)
    res["load_end"] = os.getloadavg()
    res["t_end"] = time.time()
    res["samples"] = {}
    for fn in sorted(os.listdir(samples)):
        with open(os.path.join(samples, fn)) as f:
            res["samples"][fn[:-4]] = [int(x) for x in f.read().split()]
    shutil.rmtree(samples, ignore_errors=True)
    with open(os.path.join(OUT, "samples.json"), "w") as f:
        json.dump(res["samples"], f)
    txt = table(res)
    say("\n" + txt)
    samp = res.pop("samples")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    if a.report or a.write_docs or not a.no_docs:
        import report
        report.write(res, samp, txt)
        say("\nbench: wrote docs/BENCHMARKS.md and docs/bench.png")
    say(f"bench: raw results in {os.path.relpath(OUT, vb.ROOT)}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
