"""e2e: every stage with a PULL input survives hostile input (docs/wire.md §3).

Each stage is fed, in order, on one connection: garbage bytes, an empty frame,
truncated msgpack, an envelope with trailing bytes, a msgpack array, maps with v=2 and
without v, maps missing seq / src / ev or with a negative seq or a non-map ev, a
batch (multipart message) whose two frames are both bad (each is dropped for its own
reason), then three valid envelopes in one batch: an unknown type, a raw process_exec
body without pid, and a good event (each frame of a batch is judged on its own). For each stage we assert: same pid before and
after (s6-svstat and the status reply), state "running", every drop.<reason> counter
equal to its exact expected value, `in` equal to the number of valid envelopes, no
gap or reset for our consecutive sequence numbers, and that the good event still
passes:
  - enricher (the test binds collector.out; no collector runs): the raw exec comes out
    of the JSON export enriched (binary, arguments, pid, uid, cwd, flags, exec_id,
    parent from /proc, node_name, time); unknown_type and body are counted.
  - evaluator (second tree, fed on --input ipc://RUNDIR/test.out): forwards all
    three valid messages (it forwards everything: no unknown_type, no body drop); the
    good one reaches the export.
  - exporter (PUSH connected to exporter.in): the good event is in the export file.
  - enforcer (PUSH connected to enforcer.in): v1 defines no verdict type, so every
    valid envelope is an unknown_type drop.
Every stage's control socket answers garbage, a non-map, an unknown command, a wrong
version and a multipart request with {v: 1, error: str}, counts each under ctl.bad,
and still answers status."""
import os
import time

import msgpack

from vigiltest import (Tree, check, envelope, exec_id, need_root, run_test, unique_tag,
                       wait_for)

REASONS = ["malformed", "not_map", "version", "envelope", "unknown_type",
           "body"]


def bad_frames(src):
    """(label, frames, drop reasons) for every malformed message (a reason per frame);
    none of them carries a sequence number the receiver tracks."""
    good = envelope("process_exec", {"x": 1}, src=src, seq=999)

    def pack(d):
        return msgpack.packb(d, use_bin_type=True)
    base = {"v": 1, "type": "process_exec", "src": src, "seq": 999, "ev": {"x": 1}}

    def without(k):
        return pack({a: b for a, b in base.items() if a != k})
    return [
        ("garbage bytes", [b"\xc1\xff\x00 this is not msgpack"], "malformed"),
        ("empty frame", [b""], "malformed"),
        ("truncated msgpack", [good[:-5]], "malformed"),
        ("trailing bytes", [good + b"\x01"], "malformed"),
        ("array", [pack([1, "process_exec", src, 999, {}])], "not_map"),
        ("v=2", [pack(dict(base, v=2))], "version"),
        ("no v", [without("v")], "version"),
        ("v as a string", [pack(dict(base, v="1"))], "version"),
        ("no seq", [without("seq")], "envelope"),
        ("no src", [without("src")], "envelope"),
        ("no ev", [without("ev")], "envelope"),
        ("no type", [without("type")], "envelope"),
        ("negative seq", [pack(dict(base, seq=-3))], "envelope"),
        ("ev not a map", [pack(dict(base, ev=[1, 2]))], "envelope"),
        ("a batch of two bad frames", [good[:-5], pack([1, 2])], ["malformed", "not_map"]),
    ]


def raw_exec(tag, pid, ktime, pktime):
    """A raw process_exec body (docs/wire.md §4.1) whose parent is this process."""
    return {"time": time.time_ns(), "ktime": ktime, "pid": pid, "tid": pid,
            "ppid": os.getpid(), "pktime": pktime, "start_ktime": ktime - 1000,
            "uid": 0, "euid": 0, "gid": 0, "egid": 0, "auid": 4294967295,
            "binary": "/usr/local/bin/vigil-bad-input", "args": [tag, "two words"],
            "cwd": "/tmp/vigil-bad-input-cwd", "flags": ["execve", "procFS"],
            "cgroup_id": 1}


def enriched_exec(tag, node, pid=4123456):
    """An enriched process_exec body (docs/wire.md §4.4)."""
    kt = time.monotonic_ns()
    return {"process": {"exec_id": exec_id(node, kt, pid), "pid": pid, "uid": 0,
                        "cwd": "/", "binary": "/usr/local/bin/vigil-bad-input",
                        "arguments": tag, "flags": "execve", "start_time": time.time_ns(),
                        "auid": 4294967295, "parent_exec_id": exec_id(node, 1, 1),
                        "tid": pid},
            "parent": {"exec_id": exec_id(node, 1, 1), "pid": 1, "uid": 0,
                       "binary": "/sbin/init", "start_time": time.time_ns(), "tid": 1},
            "node_name": node, "time": time.time_ns()}


def feed(sock, src, tail):
    """Send every bad frame, then the valid envelopes in tail: [(type, body)], numbered
    1, 2, ... for src. Returns the expected drop counts of the bad part."""
    want = dict.fromkeys(REASONS, 0)
    for label, frames, reason in bad_frames(src):
        if len(frames) > 1:
            sock.send_multipart(frames)
        else:
            sock.send(frames[0])
        for r in reason if isinstance(reason, list) else [reason]:
            want[r] += 1
    sock.send_multipart([envelope(typ, body, src=src, seq=seq)
                         for seq, (typ, body) in enumerate(tail, 1)])
    return want


def check_stage(t, stage, pid0, want, n_in, extra=None):
    """The stage kept its pid, answers status, and its counters are exactly want."""
    check(t.pid(stage) == pid0, f"{stage} restarted: pid {pid0} -> {t.pid(stage)}")
    st = t.status(stage)
    check(st is not None, f"{stage} does not answer status")
    check(st["pid"] == pid0 and st["state"] == "running",
          f"{stage} status pid {st['pid']} state {st['state']}, want {pid0} running")
    c = st["counters"]
    got = {r: c.get("drop." + r, 0) for r in REASONS}
    for k, v in (extra or {}).items():
        got[k] = c.get(k, 0)
    exp = dict(want, **(extra or {}))
    check(got == exp, f"{stage} drop counters {got}, want {exp}")
    check(c.get("in") == n_in, f"{stage} in = {c.get('in')}, want {n_in}")
    check(c.get("gap_total", 0) == 0 and c.get("reset_total", 0) == 0,
          f"{stage} counted gaps/resets for consecutive numbers: {c}")
    wait_for(lambda: "dropped" in t.log(stage), 3, what=f"a 'dropped' line in {stage}'s log")


def check_ctl(t, stage):
    """Bad control requests get an error reply and are counted under ctl.bad."""
    bad0 = t.counter(stage, "ctl.bad")
    reqs = [
        b"\xc1 not msgpack",
        msgpack.packb([1, "status"]),
        msgpack.packb({"v": 1, "cmd": "bogus"}),
        msgpack.packb({"v": 2, "cmd": "status"}),
        msgpack.packb({"cmd": "status"}),
        [msgpack.packb({"v": 1, "cmd": "status"}), b"second frame"],
    ]
    for r in reqs:
        rep = t.ctl_raw(stage, r)
        check(rep is not None, f"{stage}: no reply to bad control request {r!r}")
        check(rep.get("v") == 1 and isinstance(rep.get("error"), str) and rep["error"]
              and "counters" not in rep, f"{stage}: reply to {r!r} is {rep}")
    bad = t.counter(stage, "ctl.bad")
    check(bad - bad0 == len(reqs), f"{stage} ctl.bad went {bad0} -> {bad}, want +{len(reqs)}")
    check(t.status(stage)["stage"] == stage, f"{stage} status after bad control requests")


def test_enricher_exporter_enforcer():
    node = "vigil-bad-input"
    # The evaluator's own traffic to the enforcer (policy sets) and its policy events
    # would blur the exact counts: no policies here, and its enforcer socket elsewhere.
    t = Tree(stages=["enricher", "evaluator", "exporter", "enforcer"], node_name=node,
             env={"VIGIL_EVALUATOR_OPTS": "--no-library --policy-dir /nonexistent-vigil-test "
                                          "--enforcer ipc:///nonexistent-vigil-test/enforcer.in"})
    try:
        t.start()
        pids = {s: t.pid(s) for s in t.stages}

        # Enricher: we are its collector.
        col = t.push("collector.out", bind=True)
        tag = unique_tag("vigil-bad-enricher")
        kt, pkt, fake = time.monotonic_ns(), 12345678, 4000123
        good = raw_exec(tag, fake, kt, pkt)
        nopid = {k: v for k, v in good.items() if k != "pid"}
        want = feed(col, "collector", [("vigil_no_such_type", {"pid": 1}),
                                       ("process_exec", nopid), ("process_exec", good)])
        want["unknown_type"] += 1
        want["body"] += 1
        ex = t.find("process_exec", lambda e: e.get("process", {}).get("arguments", "")
                    .startswith(tag), timeout=5)
        p = ex["process_exec"]["process"]
        check(p["arguments"] == f"{tag} two words", f"arguments {p['arguments']!r}")
        check(p["binary"] == good["binary"], f"binary {p['binary']!r}")
        check(p["pid"] == fake and p["uid"] == 0, f"pid/uid {p['pid']}/{p['uid']}")
        check(p["cwd"] == good["cwd"], f"cwd {p.get('cwd')!r}")
        check(p["flags"] == "execve procFS", f"flags {p.get('flags')!r}")
        check(p["exec_id"] == exec_id(node, kt, fake), f"exec_id {p['exec_id']}")
        check(p["parent_exec_id"] == exec_id(node, pkt, os.getpid()),
              f"parent_exec_id {p.get('parent_exec_id')}")
        par = ex["process_exec"].get("parent", {})
        check(par.get("pid") == os.getpid(), f"parent {par}")
        check(par.get("binary") == os.path.realpath("/proc/self/exe"),
              f"parent binary {par.get('binary')!r}")
        check(ex["node_name"] == node and ex["time"].endswith("Z"), f"event {ex}")
        check_stage(t, "enricher", pids["enricher"], want, 3)
        c = t.counters("enricher")
        check(c.get("out") == 1 and c.get("events.process_exec") == 1,
              f"enricher out {c.get('out')}, events.process_exec "
              f"{c.get('events.process_exec')}, want 1 and 1")

        # Exporter: we are one more evaluator.
        xin = t.push("exporter.in")
        xtag = unique_tag("vigil-bad-exporter")
        want = feed(xin, "evaluator.test", [("vigil_no_such_type", {"pid": 1}),
                                            ("process_exec", nopid),
                                            ("process_exec", enriched_exec(xtag, node))])
        t.find("process_exec", lambda e: e.get("process", {}).get("arguments") == xtag, timeout=5)
        # The exporter exports whatever it is given: it drops for no type or body.
        wait_for(lambda: t.counter("exporter", "in") == 4, 3,
                 what="exporter in == 4 (3 from us, 1 from the evaluator)")
        check_stage(t, "exporter", pids["exporter"], want, 4, {"drop.unencodable": 0})

        # Enforcer: no v1 message type is meant for it.
        ein = t.push("enforcer.in")
        want = feed(ein, "evaluator.test", [("vigil_no_such_type", {"pid": 1}),
                                            ("process_exec", nopid),
                                            ("process_exec", good)])
        want["unknown_type"] += 3
        wait_for(lambda: t.counter("enforcer", "in") == 3, 3, what="enforcer in == 3")
        check_stage(t, "enforcer", pids["enforcer"], want, 3)

        # The evaluator only saw the enricher's one good event.
        wait_for(lambda: t.counter("evaluator", "out") == 1, 3, what="evaluator out == 1")
        check(t.counter("evaluator", "in") == 1, "evaluator in != 1")

        for s in t.stages:
            check_ctl(t, s)
            check(t.pid(s) == pids[s], f"{s} restarted during the test")
    finally:
        t.cleanup()


def test_evaluator():
    node = "vigil-bad-input"
    t = Tree(stages=["evaluator", "exporter"], node_name=node)
    t.env["VIGIL_EVALUATOR_OPTS"] = f"--input ipc://{t.rundir}/test.out"
    try:
        t.start()
        pid0 = t.pid("evaluator")
        sock = t.push("test.out", bind=True)
        tag = unique_tag("vigil-bad-evaluator")
        want = feed(sock, "enricher", [("vigil_no_such_type", {"pid": 1}),
                                       ("process_exec", {"process": {"binary": "/x"}}),
                                       ("process_exec", enriched_exec(tag, node))])
        ex = t.find("process_exec", lambda e: e.get("process", {}).get("arguments") == tag,
                    timeout=5)
        check(ex["process_exec"]["process"]["pid"] == 4123456, f"event {ex}")
        wait_for(lambda: t.counter("evaluator", "out") == 3, 3,
                 what="evaluator out == 3 (it forwards every valid message)")
        check_stage(t, "evaluator", pid0, want, 3)
        check_ctl(t, "evaluator")
    finally:
        t.cleanup()


def test():
    need_root()
    test_enricher_exporter_enforcer()
    test_evaluator()


run_test(test)
