"""e2e: the shipped policy library (policies/*.yaml) on real behaviour, in one tree with
file events on (collector --events process,file). Each check performs the behaviour for
real and asserts the exported policy event: policy_name, the acting pid, action
(KPROBE_ACTION_POST: the library runs in monitor mode), the rendered message (with
"(monitor: would have ...)" for blocking actions), function_name and tags.

Behaviours: cat /etc/shadow (sensitive-file-read); open /etc/profile for append without
writing (persistence-write); write a file named release_agent (cgroup-release-agent);
open /proc/self/mem (ptrace-and-proc-mem); exec a copy of true from /tmp
and one from a memfd (exec-from-temp); unshare --uts (namespace-change); bash with /dev/tcp/ in its arguments
(reverse-shell); stratum+tcp:// in arguments (crypto-miner); chmod u+s (setuid-binary-
created); exec of a binary named insmod (kernel-module-load); a uid-65534 shell starting
setuid-root mount, whose effective capabilities hold CAP_SYS_ADMIN (privilege-escalation,
the capabilities matcher); in a kubelet-layout container cgroup, bash
(shell-in-container) running mount (host-mount).

The same tree also checks, with a user policy directory: the `url:` action — a canary
GET reaches a local HTTP server on 127.0.0.1 with the expected path and query; and the
verdict of an enforcing rule the kernel maps cannot hold, caught on a PULL socket that
stands in for the enforcer: it carries start_ktime (the process's fork time, from the
enricher's `_vigil`) non-zero and not after exec_ktime, and exec_ktime equal to the
ktime inside the exec_id."""
import base64
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import msgpack
import zmq

from vigiltest import Tree, check, need_root, run_test

CG_ROOT = "/sys/fs/cgroup/unified"
LIBRARY = ["sensitive-file-read", "persistence-write", "cgroup-release-agent",
           "ptrace-and-proc-mem", "exec-from-temp", "namespace-change", "reverse-shell",
           "crypto-miner", "setuid-binary-created", "kernel-module-load",
           "privilege-escalation", "shell-in-container", "host-mount"]

USER_POLICIES = """
name: canary-{tag}
description: the canary marker ran
mode: monitor
url: http://127.0.0.1:{port}/canary/{tag}?host=vigil&n=1
rules:
  - event: exec
    process: {{binary: [{canary}]}}
---
name: verdict-{tag}
description: the verdict marker ran with its argument
action: sigkill
rules:
  - event: exec
    process: {{binary: [{marker}], arguments: {{contains: [kill-me-{tag}]}}}}
"""


class Canary(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        Canary.hits.append((self.path, self.headers.get("User-Agent")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def make_container_cgroup():
    """A kubelet-layout v2 cgroup (pod<uid>/<64 hex>); returns (path, id, made dirs)."""
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    path, made = CG_ROOT, []
    for part in ("kubepods", "besteffort", f"pod{uuid.uuid4()}", cid):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    return path, cid, made


def test():
    need_root()
    tag = uuid.uuid4().hex[:12]
    work = tempfile.mkdtemp(prefix=f"vigil-lib-{tag}-", dir="/tmp")
    os.chmod(work, 0o755)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    canary = os.path.join(work, f"canary-{tag}")
    marker = os.path.join(work, f"marker-{tag}")
    poldir = os.path.join(work, "policies.d")
    os.makedirs(poldir)
    for b in (canary, marker):
        shutil.copy("/bin/true", b)
    with open(os.path.join(poldir, "user.yaml"), "w") as f:
        f.write(USER_POLICIES.format(tag=tag, port=srv.server_address[1], canary=canary,
                                     marker=marker))
    names = LIBRARY + [f"canary-{tag}", f"verdict-{tag}"]
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": "--events process,file"})
    enf_ep = f"ipc://{t.base}/enforcer-standin"
    t.env["VIGIL_EVALUATOR_OPTS"] = f"--policy-dir {poldir} --enforcer {enf_ep}"
    # Only policy events reach the file: other work on the machine may open files by
    # the hundred thousand.
    t.env["VIGIL_EXPORTER_OPTS"] += (" --export-file-max-size-mb 0 --export-allowlist "
                                     + json.dumps({"policy_names": names}, separators=(",", ":")))
    zctx = zmq.Context()
    enf = zctx.socket(zmq.PULL)
    enf.setsockopt(zmq.LINGER, 0)
    enf.bind(enf_ep)
    made = []
    try:
        t.start()
        loaded = t.status("evaluator")["info"].get("policies", "")
        for n in names:
            check(f"{n} (" in loaded, f"policy {n} not loaded: {loaded}\n{t.log('evaluator')}")
        py = os.path.realpath("/usr/bin/python3")
        cat = os.path.realpath("/bin/cat")
        bash = os.path.realpath("/bin/bash")
        mount = "/usr/bin/mount"
        killed = " (monitor: would have killed)"
        blocked = " (monitor: would have blocked)"

        def run(argv, **kw):
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 **kw)
            p.wait()
            return p.pid

        def pyrun(code):
            return run([py, "-c", code])

        expect = []  # (policy, pid or None, message, function_name)
        pid = run([cat, "/etc/shadow"])
        expect.append(("sensitive-file-read", pid, f"{cat} read /etc/shadow{blocked}",
                       "security_file_open"))
        pid = pyrun("import os; os.close(os.open('/etc/profile', os.O_WRONLY | os.O_APPEND))")
        expect.append(("persistence-write", pid, f"{py} wrote /etc/profile (w){blocked}",
                       "security_file_open"))
        ra = os.path.join(work, "release_agent")
        pid = pyrun(f"open({ra!r}, 'w').close()")
        expect.append(("cgroup-release-agent", pid, f"{py} wrote {ra}{blocked}",
                       "security_file_open"))
        pid = pyrun("import os; os.close(os.open('/proc/self/mem', os.O_RDONLY))")
        expect.append(("ptrace-and-proc-mem", pid,
                       f"{py} security_file_open /proc/{pid}/mem", "security_file_open"))
        tmpbin = os.path.join(work, f"dropped-{tag}")
        shutil.copy("/bin/true", tmpbin)
        pid = run([tmpbin])
        expect.append(("exec-from-temp", pid, f"{tmpbin} executed from a temporary location "
                       f"(parent {py}){killed}", "security_bprm_check"))
        # fileless: a copy of true executed from a memfd (the kernel names it /memfd:NAME)
        pid = pyrun("import os; fd = os.memfd_create('vigil-fileless'); "
                    "os.write(fd, open('/bin/true', 'rb').read()); os.execve(fd, ['x'], {})")
        expect.append(("exec-from-temp", pid, "/memfd:vigil-fileless executed from a temporary "
                       f"location (parent {py}){killed}", "security_bprm_check"))
        pid = run(["/usr/bin/unshare", "--uts", "/bin/true"])
        expect.append(("namespace-change", pid, "/usr/bin/unshare ran (--uts /bin/true)",
                       "security_bprm_check"))
        cmd = ": </dev/tcp/127.0.0.1/9 2>/dev/null; true"
        pid = run([bash, "-c", cmd])
        expect.append(("reverse-shell", pid, f"{bash} ran with a reverse-shell argument "
                       f"(-c {cmd}){killed}", "security_bprm_check"))
        true = os.path.realpath("/bin/true")
        pid = run([true, "-o", "stratum+tcp://pool.invalid:3333", tag])
        expect.append(("crypto-miner", pid, f"{true} looks like a miner (-o "
                       f"stratum+tcp://pool.invalid:3333 {tag}){killed}", "security_bprm_check"))
        suid = os.path.join(work, f"suid-{tag}")
        pid = pyrun(f"import os; open({suid!r}, 'w').close(); os.chmod({suid!r}, 0o4755)")
        expect.append(("setuid-binary-created", pid, f"{py} changed the mode of {suid}",
                       "security_path_chmod"))
        insmod = os.path.join(work, "insmod")
        shutil.copy("/bin/true", insmod)
        pid = run([insmod, f"vigil-{tag}.ko"])
        expect.append(("kernel-module-load", pid, f"{insmod} ran (vigil-{tag}.ko): a kernel "
                       f"module tool{killed}", "security_bprm_check"))
        # A non-root shell starts setuid-root mount: the exec runs with CAP_SYS_ADMIN.
        subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/bin/sh", "-c", f"{mount} --version >/dev/null; true"], cwd="/",
                       check=True)
        expect.append(("privilege-escalation", None, f"{mount} runs with CAP_SYS_ADMIN, started "
                       f"by uid 65534 ({os.path.realpath('/bin/sh')})", "security_bprm_check"))
        if os.path.exists(os.path.join(CG_ROOT, "cgroup.procs")):
            path, cid, made = make_container_cgroup()
            subprocess.run(["/bin/sh", "-c", f"echo $$ > {path}/cgroup.procs && exec {bash} "
                            f"-c '{mount} --version >/dev/null; true'"], check=True)
            expect.append(("shell-in-container", None,
                           f"{bash} (-c {mount} --version >/dev/null; true) in container "
                           f"{cid[:31]} of pod /",
                           "security_bprm_check"))
            expect.append(("host-mount", None, f"{mount} ran in container {cid[:31]} "
                           f"(--version){killed}", "security_bprm_check"))
        else:
            print(f"note: no cgroup2 at {CG_ROOT}: container policies not exercised")
        run([canary])
        vpid = run([marker, f"kill-me-{tag}"])

        def by_policy():
            out = {}
            for e in t.events():
                k = e.get("process_kprobe")
                if k and k.get("policy_name"):
                    out.setdefault(k["policy_name"], []).append(k)
            return out

        end = time.monotonic() + 15
        while True:
            got = by_policy()
            missing = [x for x in expect
                       if not any((x[1] is None or k["process"]["pid"] == x[1])
                                  and k["message"] == x[2] for k in got.get(x[0], []))]
            if not missing or time.monotonic() > end:
                break
            time.sleep(0.3)
        report = []
        for name, pid, msg, fn in missing:
            seen = [(k["process"].get("pid"), k["message"]) for k in got.get(name, [])][-3:]
            report.append(f"{name}: want pid {pid} {msg!r}; seen {seen}")
        check(not missing, "policy events missing:\n  " + "\n  ".join(report))
        for name, pid, msg, fn in expect:
            k = next(k for k in got[name] if k["message"] == msg)
            check(k["action"] == "KPROBE_ACTION_POST", f"{name}: action {k['action']}")
            check(k.get("function_name") == fn, f"{name}: function_name {k.get('function_name')}")
            check(k.get("tags"), f"{name}: no tags")
        print(f"{len(expect)} library policies fired on real behaviour")

        # url: the canary GET arrives with its path and query
        def hit():
            return [h for h in Canary.hits if h[0] == f"/canary/{tag}?host=vigil&n=1"]
        end = time.monotonic() + 5
        while not hit() and time.monotonic() < end:
            time.sleep(0.1)
        check(hit(), f"no canary GET; hits {Canary.hits}, counters "
                     f"{ {k: v for k, v in t.counters('evaluator').items() if k.startswith('url')} }")
        check(hit()[0][1] == "vigil-evaluator", f"user agent {hit()[0][1]}")
        check(t.counter("evaluator", "url.sent") >= 1, "url.sent not counted")
        gk = next(k for k in by_policy()[f"canary-{tag}"])
        check(gk["action"] == "KPROBE_ACTION_GETURL", f"canary action {gk['action']}")

        # verdict: pid-reuse-safe (start_ktime from the enricher's _vigil)
        enf.setsockopt(zmq.RCVTIMEO, 200)
        verdict, end = None, time.monotonic() + 5
        while verdict is None and time.monotonic() < end:
            try:
                m = msgpack.unpackb(enf.recv(), raw=False)
            except zmq.error.Again:
                continue
            if m.get("type") == "verdict" and m["ev"].get("policy") == f"verdict-{tag}":
                verdict = m["ev"]
        check(verdict, "no verdict for the enforcing marker policy")
        check(verdict["pid"] == vpid, f"verdict pid {verdict['pid']} != {vpid}")
        kt = int(base64.b64decode(verdict["exec_id"]).decode().split(":")[-2])
        check(verdict["exec_ktime"] == kt, f"exec_ktime {verdict['exec_ktime']} != {kt}")
        check(0 < verdict["start_ktime"] <= kt,
              f"start_ktime {verdict['start_ktime']} (exec_ktime {kt})")
    finally:
        t.cleanup()
        srv.shutdown()
        enf.close()
        zctx.term()
        shutil.rmtree(work, ignore_errors=True)
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass


run_test(test)
