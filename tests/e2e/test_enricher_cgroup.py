"""e2e: containers from the cgroup. A kubelet-like cgroup v2 directory
(/sys/fs/cgroup/unified/kubepods/besteffort/pod<uid>/<64-hex id>) is created, a shell
moves itself in (writes its pid to cgroup.procs) and execs /bin/true with a unique tag.
With the whole tree running, the exported process_exec has `docker` = the first 31
characters of the id, and the enricher counts the resolution (cgroup.resolved) and the
event (events.container); a host process's exec has no `docker`. The cgroup
directories are removed afterwards."""
import os
import subprocess
import uuid

from vigiltest import Tree, check, need_root, run_test, skip, unique_tag

ROOT_CG = "/sys/fs/cgroup/unified"


def make_cgroup():
    uid = str(uuid.uuid4())
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    made = []
    path = ROOT_CG
    for part in ("kubepods", "besteffort", f"pod{uid}", cid):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    return path, uid, cid, made


def remove(made):
    for d in reversed(made):
        try:
            os.rmdir(d)
        except OSError:
            pass


def test():
    need_root()
    if not os.path.exists(os.path.join(ROOT_CG, "cgroup.procs")):
        skip(f"no cgroup2 mount at {ROOT_CG}")
    path, uid, cid, made = make_cgroup()
    t = Tree()
    try:
        t.start()
        tag = unique_tag("vigil-cg")
        sh = subprocess.run(["/bin/sh", "-c", f"echo $$ > {path}/cgroup.procs && "
                             f"exec /bin/true {tag}"])
        check(sh.returncode == 0, "moving into the cgroup failed")
        ex = t.find("process_exec", lambda e: e["process"].get("arguments") == tag, timeout=5)
        p = ex["process_exec"]["process"]
        check(p.get("docker") == cid[:31], f"docker {p.get('docker')!r}, want {cid[:31]!r}")
        host_tag = unique_tag("vigil-host")
        subprocess.run(["/bin/true", host_tag])
        hx = t.find("process_exec", lambda e: e["process"].get("arguments") == host_tag,
                    timeout=5)
        check("docker" not in hx["process_exec"]["process"], "host process has no docker")
        c = t.counters("enricher")
        check(c.get("cgroup.resolved", 0) >= 1 and c.get("events.container", 0) >= 1,
              f"cgroup counters {c}")
    finally:
        t.cleanup()
        remove(made)


run_test(test)
