"""enforcer, pod scope in the kernel: a connect-deny policy scoped to namespace "prod" and
label app=web blocks (EPERM) a process in a kubelet-like cgroup v2 only after the pod_meta
for that cgroup arrives, never a process outside it; a label change or a pod_meta del
lifts it without a new policy_set; a policy scoped by cgroup_ids hits only that cgroup; a
host-scoped policy hits the host but not the pod. Bad pod_meta is a counted drop."""
import errno
import os
import subprocess
import uuid

from enforcetest import Enforcer, deny_connect_policy
from vigiltest import LoopbackServer, check, need_root, run_test, skip, wait_for

CG_ROOT = "/sys/fs/cgroup/unified"
PROBE = ("import socket,sys\ns=socket.socket()\ns.settimeout(2)\n"
         "try:\n    s.connect(('127.0.0.2',int(sys.argv[1])));print(0)\n"
         "except OSError as e:\n    print(e.errno)\n")


def connect_from(cg, port):
    """errno of a connect from a new process placed in cgroup cg (None: stay here)."""
    def enter():
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    out = subprocess.run(["/usr/bin/python3", "-c", PROBE, str(port)], preexec_fn=enter,
                         stdout=subprocess.PIPE, text=True, timeout=20).stdout.strip()
    return int(out)


def test():
    need_root()
    if not os.path.isdir(CG_ROOT):
        skip(f"no cgroup v2 at {CG_ROOT}")
    srv = LoopbackServer(64)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    top = os.path.join(CG_ROOT, f"vigil-enf-kubepods-{uuid.uuid4().hex[:8]}")
    pod = os.path.join(top, f"pod{uuid.uuid4()}")
    ctr = os.path.join(pod, uuid.uuid4().hex + uuid.uuid4().hex)
    e = Enforcer()
    try:
        os.makedirs(ctr)
        cgid = os.stat(ctr).st_ino
        e.start()
        e.policy_set(1, [deny_connect_policy("prod-web", port, {"namespaces": ["prod"],
                                                "match_labels": {"app": "web"}})])
        check(connect_from(ctr, port) == 0, "no pod_meta yet: not in scope")
        e.send("pod_meta", {"op": "set", "cgroup_id": cgid, "namespace": "prod", "pod": "web-1",
                            "container": "c", "labels": {"app": "web", "tier": "fe"}})
        wait_for(lambda: e.counter("pod_meta") >= 1, 3, what="pod_meta taken")
        wait_for(lambda: connect_from(ctr, port) == errno.EPERM, 5, what="pod blocked")
        check(connect_from(None, port) == 0, "the host is outside the pod scope")
        e.wait_report(lambda t, ev: ev.get("policy_name") == "prod-web" and
                      ev.get("cgroup_id") == cgid)
        e.send("pod_meta", {"op": "set", "cgroup_id": cgid, "namespace": "prod",
                            "labels": {"app": "db"}})
        wait_for(lambda: connect_from(ctr, port) == 0, 5, what="label change lifts")
        e.send("pod_meta", {"op": "set", "cgroup_id": cgid, "namespace": "prod",
                            "labels": {"app": "web"}})
        wait_for(lambda: connect_from(ctr, port) == errno.EPERM, 5, what="label back")
        e.send("pod_meta", {"op": "del", "cgroup_id": cgid})
        wait_for(lambda: connect_from(ctr, port) == 0, 5, what="del lifts")

        e.policy_set(2, [deny_connect_policy("by-id", port, {"cgroup_ids": [cgid]})])
        check(connect_from(ctr, port) == errno.EPERM, "cgroup_ids scope")
        check(connect_from(None, port) == 0, "cgroup_ids scope: host untouched")
        e.send("pod_meta", {"op": "set", "cgroup_id": cgid, "namespace": "prod",
                            "labels": {"app": "web"}})
        e.policy_set(3, [deny_connect_policy("host-only", port, {"host": True})])
        check(connect_from(None, port) == errno.EPERM, "host scope hits the host")
        check(connect_from(ctr, port) == 0, "host scope spares a pod")

        drops = e.counter("drop.body")
        e.send("pod_meta", {"op": "explode", "cgroup_id": 1})
        e.send("pod_meta", {"op": "set"})
        e.send("pod_meta", {"op": "set", "cgroup_id": 5, "labels": ["a"]})
        wait_for(lambda: e.counter("drop.body") == drops + 3, 3, what="bad pod_meta dropped")
        check(e.proc.poll() is None, "enforcer alive")
    finally:
        e.cleanup()
        srv.close()
        for d in (ctr, pod, top):
            if os.path.isdir(d):
                os.rmdir(d)


run_test(test)
