"""enforcer, scope by cgroup subtree on the host kernel: a policy scoped (cgroup_ids) to a
cgroup X covers X's descendants too. A connect from X/child and X/child/grandchild fails
with EPERM (cgroup connect4 hook), one from a sibling cgroup Y or the host connects; a
file_open policy (sigkill tier, tracepoints) scoped to X kills a process opening the file
from X/child (SIGKILL, no byte read, the report names the child's cgroup) and spares the
same open from Y. Pod scope: a namespace policy for a pod's cgroup P blocks in P/ctr/sub
(a container's sub-cgroup), and a host-scoped policy stops at the pod (P/ctr/sub is not
host). A cgroup kill verdict for X kills a process in X/child and spares Y. A verdict for
the root cgroup (an ancestor of vigil's own) is refused. Every cgroup is removed."""
import errno
import os
import signal
import subprocess
import tempfile
import time
import uuid

from enforcetest import Enforcer, deny_connect_policy
from vigiltest import LoopbackServer, check, need_root, run_test, skip, wait_for

CG_ROOT = "/sys/fs/cgroup/unified"
PROBE = ("import socket,sys\ns=socket.socket()\ns.settimeout(2)\n"
         "try:\n    s.connect(('127.0.0.2',int(sys.argv[1])));print(0)\n"
         "except OSError as e:\n    print(e.errno)\n")
OPEN = ("import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\n"
        "sys.stdout.write('READ:'+os.read(fd,100).decode())\n")


def enter(cg):
    """preexec_fn placing the child in cgroup cg (None: stay)."""
    def f():
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
    return f


def connect_from(cg, port):
    out = subprocess.run(["/usr/bin/python3", "-c", PROBE, str(port)], preexec_fn=enter(cg),
                         stdout=subprocess.PIPE, text=True, timeout=20).stdout.strip()
    return int(out)


def open_from(cg, path):
    p = subprocess.run(["/usr/bin/python3", "-c", OPEN, path], preexec_fn=enter(cg),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    return p.returncode, p.stdout


def test():
    need_root()
    if not os.path.isdir(CG_ROOT):
        skip(f"no cgroup v2 at {CG_ROOT}")
    srv = LoopbackServer(64)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    top = os.path.join(CG_ROOT, f"vigil-enf-subtree-{uuid.uuid4().hex[:8]}")
    x = os.path.join(top, "x")
    xc = os.path.join(x, "child")
    xcg = os.path.join(xc, "grandchild")
    y = os.path.join(top, "y")
    pod = os.path.join(top, f"pod{uuid.uuid4()}")
    ctr = os.path.join(pod, uuid.uuid4().hex)
    sub = os.path.join(ctr, "sub")
    made = [top, x, xc, xcg, y, pod, ctr, sub]
    d = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enf-subtree-"))
    secret = os.path.join(d, "secret")
    with open(secret, "w") as f:
        f.write("SECRET")
    e = Enforcer()
    victims = []
    try:
        for c in made:
            os.mkdir(c)
        xid, podid = os.stat(x).st_ino, os.stat(pod).st_ino
        e.start()

        # Network (cgroup sock_addr hooks).
        e.policy_set(1, [deny_connect_policy("subtree-net", port, {"cgroup_ids": [xid]})])
        check(connect_from(x, port) == errno.EPERM, "the scoped cgroup itself")
        rc = connect_from(xc, port)
        check(rc == errno.EPERM, f"child of the scoped cgroup: errno {rc}, want EPERM")
        rc = connect_from(xcg, port)
        check(rc == errno.EPERM, f"grandchild of the scoped cgroup: errno {rc}, want EPERM")
        check(connect_from(y, port) == 0, "a sibling cgroup is outside the scope")
        check(connect_from(None, port) == 0, "the host is outside the scope")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "subtree-net" and
                          ev.get("cgroup_id") == os.stat(xcg).st_ino)
        check(m["ev"]["action"] == "KPROBE_ACTION_OVERRIDE", f"report {m['ev']}")

        # Files (sigkill tier: tracepoint programs).
        e.policy_set(2, [{"name": "subtree-file", "mode": "enforce", "action": "override",
                          "errno": 13, "kill_fallback": True, "scope": {"cgroup_ids": [xid]},
                          "rules": [{"kind": "file_open", "paths": [secret]}]}])
        rc, out = open_from(xc, secret)
        check(rc == -signal.SIGKILL and out == "",
              f"open from a child of the scoped cgroup: exit {rc} {out!r}, want SIGKILL")
        rc, out = open_from(y, secret)
        check(rc == 0 and out == "READ:SECRET", f"open from a sibling: exit {rc} {out!r}")
        rc, out = open_from(None, secret)
        check(rc == 0 and out == "READ:SECRET", f"open from the host: exit {rc} {out!r}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "subtree-file")
        check(m["ev"]["action"] == "KPROBE_ACTION_SIGKILL" and
              m["ev"]["cgroup_id"] == os.stat(xc).st_ino, f"report {m['ev']}")

        # Pods: selectors reach the containers' sub-cgroups; host scope stops at a pod.
        e.send("pod_meta", {"op": "set", "cgroup_id": podid, "namespace": "prod",
                            "pod": "web-1", "labels": {"app": "web"}})
        wait_for(lambda: e.counter("pod_meta") >= 1, 3, what="pod_meta taken")
        e.policy_set(3, [deny_connect_policy("subtree-pod", port, {"namespaces": ["prod"]})])
        rc = connect_from(sub, port)
        check(rc == errno.EPERM, f"a container's sub-cgroup in the pod: errno {rc}")
        check(connect_from(y, port) == 0, "the pod scope spares other cgroups")
        e.policy_set(4, [deny_connect_policy("subtree-host", port, {"host": True})])
        check(connect_from(None, port) == errno.EPERM, "host scope hits the host")
        check(connect_from(y, port) == errno.EPERM, "host scope hits a host cgroup")
        rc = connect_from(sub, port)
        check(rc == 0, f"host scope stops at a pod (sub-cgroup of a container): errno {rc}")

        # Kill map by cgroup: the subtree dies, the sibling lives.
        e.policy_set(5, [])
        sleeper = ["/usr/bin/python3", "-c", "import time\nwhile True: time.sleep(0.05)"]
        inside = subprocess.Popen(sleeper, preexec_fn=enter(xcg))
        outside = subprocess.Popen(sleeper, preexec_fn=enter(y))
        victims += [inside, outside]
        time.sleep(0.2)
        e.send("verdict", {"policy": "subtree-kill", "action": "sigkill", "cgroup_id": xid})
        try:
            inside.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        check(inside.returncode == -signal.SIGKILL,
              f"process in a descendant of the killed cgroup: {inside.returncode}")
        time.sleep(0.3)
        check(outside.poll() is None, "a process in a sibling cgroup must live")
        refused = e.counter("verdict.refused")
        e.send("verdict", {"policy": "everyone", "action": "sigkill", "cgroup_id": 1})
        wait_for(lambda: e.counter("verdict.refused") == refused + 1, 3,
                 what="root-cgroup verdict refused")
        check(e.proc.poll() is None and outside.poll() is None, "nobody died of it")
    finally:
        for p in victims:
            if p.poll() is None:
                p.kill()
                p.wait()
        e.cleanup()
        srv.close()
        for c in reversed(made):
            for _ in range(50):
                try:
                    if os.path.isdir(c):
                        os.rmdir(c)
                    break
                except OSError:
                    time.sleep(0.1)
        os.unlink(secret)
        os.rmdir(d)


run_test(test)
