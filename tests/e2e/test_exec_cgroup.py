"""e2e: an exec's cgroup, id and name, in the JSON export and over gRPC. A cgroup v2
directory is made on the cgroup2 mount (nested: vigil-cg-<hex>/inner), a shell moves
itself in and runs /bin/echo with a unique tag. The exported process_exec's process has
cgroup_id = the directory's inode (a string, as protojson writes uint64) and
cgroup_name = its path from the mount ("/vigil-cg-<hex>/inner"); a python3-grpcio client
gets the same two fields (Process fields 1001, 1002); the exit's process and the exec's
parent carry neither (exec facts). A host process's exec names its own cgroup. The
cgroups are removed afterwards."""
import os
import subprocess
import threading
import uuid

import grpctest as g
from vigiltest import Tree, check, need_root, run_test, skip, wait_for


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if " - cgroup2 " in line:
                return line.split()[4]
    return None


def my_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def test():
    need_root()
    mnt = cgroup2_mount()
    if not mnt:
        skip("no cgroup2 mount on this machine")
    outer = os.path.join(mnt, "vigil-cg-" + uuid.uuid4().hex[:12])
    inner = os.path.join(outer, "inner")
    t = Tree()
    stop = threading.Event()
    got = []
    try:
        os.mkdir(outer)
        os.mkdir(inner)
        tls, port = g.serve_tls(t)
        t.start()
        ch = g.channel(port, tls)
        call = g.get_events(ch)
        check(g.wait_subscribed(call), "gRPC stream not open")

        def collect():
            try:
                for r in call:
                    got.append(r)
                    if stop.is_set():
                        break
            except Exception:
                pass
        threading.Thread(target=collect, daemon=True).start()
        wait_for(lambda: t.counter("exporter", "grpc.clients") == 1, what="the gRPC client")
        tag = "vigil-cg-" + uuid.uuid4().hex
        subprocess.run(["/bin/sh", "-c",
                        f"echo $$ > {inner}/cgroup.procs && /bin/echo {tag}; true"],
                       stdout=subprocess.DEVNULL, check=True)
        ino = os.stat(inner).st_ino
        name = inner[len(mnt):]
        ex = t.find("process_exec", lambda e: e["process"].get("arguments") == tag)
        p = ex["process_exec"]["process"]
        check(p.get("cgroup_id") == str(ino), f"cgroup_id {p.get('cgroup_id')!r}, want '{ino}'")
        check(p.get("cgroup_name") == name, f"cgroup_name {p.get('cgroup_name')!r}, want {name!r}")
        parent = ex["process_exec"].get("parent", {})
        check("cgroup_id" not in parent and "cgroup_name" not in parent,
              f"the parent carries exec facts: {parent}")
        xt = t.find("process_exit", lambda e: e["process"]["exec_id"] == p["exec_id"])
        check("cgroup_id" not in xt["process_exit"]["process"], "the exit carries cgroup_id")

        def grpc_exec():
            for r in got:
                if r.WhichOneof("event") == "process_exec" and \
                        r.process_exec.process.arguments == tag:
                    return r.process_exec.process
            return None
        gp = wait_for(grpc_exec, 5, what="the exec over gRPC")
        check(gp.cgroup_id == ino and gp.cgroup_name == name,
              f"gRPC cgroup {gp.cgroup_id} {gp.cgroup_name!r}, want {ino} {name!r}")
        # a host process: its own cgroup, as /proc/PID/cgroup names it
        tag2 = "vigil-cg-host-" + uuid.uuid4().hex
        subprocess.run(["/bin/echo", tag2], stdout=subprocess.DEVNULL, check=True)
        hp = t.find("process_exec", lambda e: e["process"].get("arguments") == tag2)
        hp = hp["process_exec"]["process"]
        mine = my_cgroup()
        check(hp.get("cgroup_name") == mine and
              hp.get("cgroup_id") == str(os.stat(mnt + (mine if mine != "/" else "")).st_ino),
              f"host exec cgroup {hp.get('cgroup_id')} {hp.get('cgroup_name')!r}, want {mine!r}")
        t.stop()
    finally:
        stop.set()
        t.cleanup()
        for d in (inner, outer):
            try:
                os.rmdir(d)
            except OSError:
                pass


run_test(test)
