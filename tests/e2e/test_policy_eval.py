"""stage test: one vigil-evaluator on private ipc endpoints, fed synthetic enriched events
in the wire format (docs/wire.md §4.4) from Python. Asserts, for exec / file / network /
privilege policies: the original event is forwarded unchanged and followed by a
Tetragon-shaped policy event (type, policy_name, action, message, tags); match counters;
with no enforcer the stream never blocks and enforcer.send_drops counts what was not sent;
with an enforcer, a policy_set (kernel rules) and verdicts (user-space rules) arrive as
docs/wire.md §10 says; a broken file on reload keeps the previous good set in
force and is reported with FILE:LINE:COL; fixing it swaps the new set in without a
restart; garbage input is a counted drop."""
import os
import shutil
import subprocess
import tempfile
import time

import msgpack
import zmq

from vigiltest import ROOT, check, ctl_status, envelope, run_test, wait_for

EXEC_POL = """
name: marker-exec
description: marker binary ran
severity: high
tags: [T1059, test]
action: sigkill
message: "{process.binary} ran {process.arguments} under {parent.binary}"
rules:
  - event: exec
    process: {binary: {suffix: [/marker-bin]}}
"""
FILE_POL = """
name: shadow-read
mode: enforce
action: override
errno: EACCES
message: "{process.binary} opened {file.path} ({file.access})"
rules:
  - event: file
    operation: [open]
    file: {path: [/etc/shadow], access: [read]}
"""
NET_POL = """
name: pool-port
mode: monitor
action: sigkill
message: "{process.binary} -> {network.address}:{network.port}"
rules:
  - event: network
    network: {address: [192.0.2.0/24], port: [3333, 5555-5560], protocol: [tcp]}
"""
PRIV_POL = """
name: to-root
message: "{process.binary} setuid {privilege.uid}"
rules:
  - event: privilege
    privilege: {uid: 0}
    process: {uid: {notIn: [0]}}
"""


def proc(binary, args="", pid=4242, uid=1000):
    return {"exec_id": "dGVzdDoxMjM0NTo0MjQy", "pid": pid, "uid": uid, "binary": binary,
            "arguments": args, "cwd": "/", "flags": "execve"}


class Eval:
    def __init__(self, base, poldir):
        self.rundir = os.path.join(base, "run")
        os.makedirs(self.rundir)
        self.ctx = zmq.Context()
        self.src = self.ctx.socket(zmq.PUSH)
        self.src.bind(f"ipc://{self.rundir}/enricher.out")
        self.sink = self.ctx.socket(zmq.PULL)
        self.sink.bind(f"ipc://{self.rundir}/exporter.in")
        self.sink.RCVTIMEO = 3000
        self.enf = None
        self.seq = 0
        self.log = open(os.path.join(base, "evaluator.log"), "w+")
        self.p = subprocess.Popen([os.path.join(ROOT, "build/vigil-evaluator"), "--rundir",
                                   self.rundir, "--no-library", "--policy-dir", poldir],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.status(), 5, what="the evaluator's control socket")

    def send(self, type_, ev):
        self.seq += 1
        self.src.send(envelope(type_, ev, src="enricher", seq=self.seq))

    def recv(self):
        return msgpack.unpackb(self.sink.recv(), raw=False)

    def status(self):
        return ctl_status(f"ipc://{self.rundir}/evaluator.ctl", 1.0, self.ctx)

    def counter(self, name):
        return (self.status() or {}).get("counters", {}).get(name, 0)

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.ctx.destroy(linger=0)
        self.log.close()


def expect_pair(ev, sent_type, sent_body):
    """The original event first, unchanged; then its policy event. Returns the latter."""
    m = ev.recv()
    check(m["type"] == sent_type and m["ev"] == sent_body,
          f"original not forwarded unchanged first: {m}")
    return ev.recv()


def write(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def test():
    base = tempfile.mkdtemp(prefix="vigil-poleval-")
    poldir = os.path.join(base, "policies.d")
    os.makedirs(poldir)
    for n, t in (("exec", EXEC_POL), ("file", FILE_POL), ("net", NET_POL), ("priv", PRIV_POL)):
        write(os.path.join(poldir, f"{n}.yaml"), t)
    ev = Eval(base, poldir)
    try:
        st = ev.status()
        check("marker-exec (enforce)" in st["info"].get("policies", ""), f"info {st['info']}")
        check("pool-port (monitor)" in st["info"]["policies"], "monitor mode shown")

        # exec → process_kprobe security_bprm_check
        body = {"process": proc("/opt/x/marker-bin", "--go"), "parent": proc("/bin/sh", pid=1),
                "node_name": "n1", "time": 1}
        ev.send("process_exec", body)
        pe = expect_pair(ev, "process_exec", body)
        check(pe["type"] == "process_kprobe", f"type {pe['type']}")
        b = pe["ev"]
        check(b["policy_name"] == "marker-exec", f"policy_name {b.get('policy_name')}")
        check(b["action"] == "KPROBE_ACTION_SIGKILL", f"action {b['action']}")
        check(b["message"] == "/opt/x/marker-bin ran --go under /bin/sh", f"message {b['message']!r}")
        check(b["tags"] == ["T1059", "test"], f"tags {b['tags']}")
        check(b["function_name"] == "security_bprm_check", "function_name")
        check(b["process"] == body["process"] and b["node_name"] == "n1", "process, node kept")
        # a non-matching exec: forwarded alone
        other = {"process": proc("/bin/ls"), "node_name": "n1", "time": 2}
        ev.send("process_exec", other)
        m = ev.recv()
        check(m["ev"] == other, "non-matching event forwarded")

        # file
        fbody = {"process": proc("/bin/cat"), "function_name": "security_file_open",
                 "args": [{"file_arg": {"path": "/etc/shadow"}}, {"int_arg": 0}],
                 "node_name": "n1", "time": 3}
        ev.send("process_kprobe", fbody)
        pe = expect_pair(ev, "process_kprobe", fbody)
        check(pe["ev"]["policy_name"] == "shadow-read", "file policy")
        check(pe["ev"]["action"] == "KPROBE_ACTION_OVERRIDE", f"action {pe['ev']['action']}")
        check(pe["ev"]["message"] == "/bin/cat opened /etc/shadow (r)", pe["ev"]["message"])
        check(pe["ev"]["args"] == fbody["args"], "args kept in the policy event")
        wbody = dict(fbody, args=[{"file_arg": {"path": "/etc/shadow"}}, {"int_arg": 1}])
        ev.send("process_kprobe", wbody)
        check(ev.recv()["ev"] == wbody, "write-only open forwarded, no policy event")

        # network, monitor mode
        nbody = {"process": proc("/usr/bin/xmr"), "function_name": "tcp_connect",
                 "args": [{"sock_arg": {"family": "AF_INET", "daddr": "192.0.2.7", "dport": 5557,
                                        "protocol": "IPPROTO_TCP"}}], "node_name": "n1", "time": 4}
        ev.send("process_kprobe", nbody)
        pe = expect_pair(ev, "process_kprobe", nbody)
        check(pe["ev"]["policy_name"] == "pool-port", "network policy")
        check(pe["ev"]["action"] == "KPROBE_ACTION_POST", "monitor mode posts")
        check(pe["ev"]["message"] == "/usr/bin/xmr -> 192.0.2.7:5557 (monitor: would have killed)",
              pe["ev"]["message"])
        sa = {"process": proc("/usr/bin/xmr"), "function_name": "security_socket_connect",
              "args": [{"sockaddr_arg": {"family": "AF_INET", "addr": "10.1.1.1", "port": 5557}}],
              "node_name": "n1", "time": 5}
        ev.send("process_kprobe", sa)
        check(ev.recv()["ev"] == sa, "10.1.1.1 is not in 192.0.2.0/24")

        # privilege
        pb = {"process": proc("/tmp/exp", uid=1000), "function_name": "sys_setuid",
              "args": [{"int_arg": 0}], "node_name": "n1", "time": 6}
        ev.send("process_kprobe", pb)
        pe = expect_pair(ev, "process_kprobe", pb)
        check(pe["ev"]["policy_name"] == "to-root" and pe["ev"]["action"] == "KPROBE_ACTION_POST",
              f"privilege {pe['ev']}")

        # garbage is a counted drop
        ev.src.send(b"\xc1garbage")
        ev.src.send(msgpack.packb({"v": 1, "type": "process_exec", "src": "x", "seq": 1, "ev": 5}))
        wait_for(lambda: ev.counter("drop.malformed") == 1, 3, what="drop.malformed")

        # no enforcer: 400 user-space sigkill matches must flow without blocking
        t0 = time.monotonic()
        for i in range(400):
            ev.send("process_exec", dict(body, time=100 + i))
        for i in range(800):
            ev.recv()
        dt = time.monotonic() - t0
        check(dt < 5, f"400 matches with no enforcer took {dt:.1f}s")
        drops = ev.counter("enforcer.send_drops")
        check(drops >= 250, f"enforcer.send_drops {drops} (HWM 100, 401 messages)")
        check(ev.counter("policy.marker-exec.matches") == 401,
              f"matches {ev.counter('policy.marker-exec.matches')}")
        check(ev.counter("policy.shadow-read.matches") == 1, "shadow-read matches")

        # a broken file: the good set stays, the error is reported with its position
        write(os.path.join(poldir, "zz-bad.yaml"),
              "name: broken\nrules:\n  - event: file\n    file: {path: {prefx: [/etc]}}\n")
        wait_for(lambda: ev.counter("policy.reload_errors") >= 1, 5, what="a failed reload")
        st = ev.status()
        err = st["info"].get("policy_errors", "")
        check("zz-bad.yaml:4:19: unknown key 'prefx' in path" in err, f"policy_errors {err!r}")
        check("zz-bad.yaml:4:19: unknown key 'prefx'" in ev.logtext(), "error logged")
        check("broken" not in st["info"]["policies"] and "marker-exec" in st["info"]["policies"],
              f"previous set kept: {st['info']['policies']}")
        ev.send("process_exec", body)
        check(expect_pair(ev, "process_exec", body)["ev"]["policy_name"] == "marker-exec",
              "old set still matching after the failed reload")

        # an enforcer appears; the fixed file brings a new set (and a policy_set)
        ev.enf = ev.ctx.socket(zmq.PULL)
        ev.enf.bind(f"ipc://{ev.rundir}/enforcer.in")
        ev.enf.RCVTIMEO = 3000
        time.sleep(0.3)
        write(os.path.join(poldir, "zz-bad.yaml"),
              "name: fixed\nmode: enforce\naction: sigkill\nrules:\n"
              "  - event: exec\n    process: {binary: [/opt/x/fixed-bin]}\n")
        wait_for(lambda: "fixed" in (ev.status() or {}).get("info", {}).get("policies", ""), 5,
                 what="the fixed policy to be loaded")
        check(ev.status()["info"]["policy_errors"] == "none", "errors cleared")
        ps = None
        end = time.monotonic() + 5
        while time.monotonic() < end:
            m = msgpack.unpackb(ev.enf.recv(), raw=False)
            if m["type"] == "policy_set" and any(p["name"] == "fixed" for p in m["ev"]["policies"]):
                ps = m
                break
        check(ps is not None, "policy_set with the new policy")
        pols = {p["name"]: p for p in ps["ev"]["policies"]}
        check(ps["ev"]["mode"] == "enforce" and ps["ev"]["generation"] > 0, f"policy_set {ps['ev']}")
        check(pols["fixed"]["rules"] == [{"kind": "exec", "paths": ["/opt/x/fixed-bin"]}],
              f"fixed rules {pols['fixed']['rules']}")
        check(pols["shadow-read"]["action"] == "override" and pols["shadow-read"]["errno"] == 13,
              f"shadow-read {pols['shadow-read']}")
        check(pols["shadow-read"]["rules"][0]["kind"] == "file_open" and
              pols["shadow-read"]["rules"][0]["paths"] == ["/etc/shadow"] and
              pols["shadow-read"]["rules"][0]["access"] == ["read"], "file_open rule")
        check(pols["pool-port"]["mode"] == "monitor" and pols["pool-port"]["rules"] == [{"kind": "connect", "cidrs": ["192.0.2.0/24"], "ports": [3333, [5555, 5560]], "protocols": ["tcp"]}], f"monitor policy exported with its mode: {pols['pool-port']}")
        check("marker-exec" not in pols, "suffix rule is user-space only (verdicts)")
        # a user-space rule match → a verdict
        while True:
            try:
                ev.enf.recv(zmq.NOBLOCK)
            except zmq.error.Again:
                break
        ev.send("process_exec", body)
        expect_pair(ev, "process_exec", body)
        m = msgpack.unpackb(ev.enf.recv(), raw=False)
        check(m["type"] == "verdict", f"verdict, got {m['type']}")
        v = m["ev"]
        check(v["policy"] == "marker-exec" and v["action"] == "sigkill" and v["pid"] == 4242 and
              v["exec_id"] == body["process"]["exec_id"] and v["exec_ktime"] == 12345,
              f"verdict {v}")
        check(ev.p.poll() is None, "evaluator still running")
    finally:
        ev.stop()
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
