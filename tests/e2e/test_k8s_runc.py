"""e2e: a real container. runc (Debian) runs a busybox-static rootfs with a kubelet-like
cgroupsPath (/kubepods/besteffort/pod<uid>/<64-hex id>, cgroupfs driver: runc puts it in
every v1 hierarchy and in the cgroup2 one), in its own pid/mount/ipc/uts/net namespaces.
The pod (Deployment "shop" through ReplicaSet shop-6b7c8d9f4, container "cart", image
busybox:1.36, containerID containerd://<id>) is served by our API test server; the whole
tree runs under s6 with the enricher pointed at it.
Asserts on the exported process_exec of `/bin/busybox true TAG` run inside the
container (by its init shell) and of one started with `runc exec` (parent outside the
container, as a Kubernetes exec probe is): pod namespace/name/uid, container name, image
name, container id, workload Deployment "shop", docker = id[:31], the pid namespace
is not the host's, pod.container.pid (the pid inside the container) is 1 for the init
shell and a small pid > 1 for the others, and maybe_exec_probe is absent (no probes). Skips (exit 77, the reason on the last line) when runc or
busybox-static is missing or runc cannot start a container here.
Cleans up: runc delete --force, the cgroup directories in every hierarchy, temp dirs."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from apiserver import ApiServer, make_pod  # noqa: E402
from enrichertest import NODE, hexid, k8s_tree_env  # noqa: E402
from vigiltest import Tree, check, need_root, run_test, skip, unique_tag, wait_for  # noqa: E402

BUSYBOX = "/bin/busybox"


def bundle(d, args, cgpath):
    root = os.path.join(d, "rootfs")
    for sub in ("bin", "proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, "bin/busybox"))
    for a in ("sh", "sleep", "true", "cat"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    subprocess.run(["runc", "spec"], cwd=d, check=True)
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    c["linux"]["cgroupsPath"] = cgpath
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f)


def remove_cgroups(rel):
    """rmdir rel (and its empty parents up to kubepods) in every hierarchy."""
    for h in glob.glob("/sys/fs/cgroup/*"):
        parts = rel.strip("/").split("/")
        while parts:
            d = os.path.join(h, *parts)
            try:
                os.rmdir(d)
            except OSError:
                if os.path.isdir(d):
                    break
            parts.pop()


def test():
    need_root()
    if not shutil.which("runc"):
        skip("runc is not installed (tests/deps.sh installs the Debian package)")
    if not os.path.exists(BUSYBOX):
        skip(f"{BUSYBOX} is missing (Debian busybox-static, tests/deps.sh)")
    tmp = tempfile.mkdtemp(prefix="vigil-runc-")
    srv = ApiServer(tmp).start()
    uid, cid = str(uuid.uuid4()), hexid()
    cgrel = f"/kubepods/besteffort/pod{uid}/{cid}"
    state = os.path.join(tmp, "runc-state")
    t = None
    ctr = None
    try:
        srv.add_pod(make_pod("shop-6b7c8d9f4-q2w3e", NODE, ns="shop", uid=uid,
                             labels={"app": "shop", "pod-template-hash": "6b7c8d9f4"},
                             containers=[("cart", "busybox:1.36", cid, False)],
                             owner=("ReplicaSet", "shop-6b7c8d9f4"), sa="shop-sa"))
        tag_init, tag_exec = unique_tag("runc-init"), unique_tag("runc-exec")
        b = os.path.join(tmp, "bundle")
        os.makedirs(b)
        bundle(b, ["/bin/sh", "-c", f"/bin/busybox true {tag_init}; sleep 3"], cgrel)
        t = Tree(env=k8s_tree_env(srv, "--pod-wait-ms", "2000"), node_name=NODE)
        t.start()
        wait_for(lambda: t.counters("enricher").get("k8s.pods", 0) >= 1, 10, what="pod list")
        ctr = subprocess.Popen(["runc", "--root", state, "run", "--bundle", b, cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: ctr.poll() is not None or subprocess.run(
                ["runc", "--root", state, "state", cid], capture_output=True).returncode == 0,
                5, what="runc container running")
        except Exception:
            pass
        if ctr.poll() not in (None, 0):
            skip(f"runc cannot run a container here: {ctr.stderr.read().strip()[-300:]}")
        ex = subprocess.run(["runc", "--root", state, "exec", cid, "/bin/busybox", "true",
                             tag_exec], capture_output=True, text=True, timeout=10)
        check(ex.returncode == 0, f"runc exec failed: {ex.stderr}")
        nspids = {}
        for tag in (tag_init, tag_exec):
            p = t.find("process_exec",
                       lambda e: e["process"].get("arguments") == f"true {tag}",
                       timeout=6)["process_exec"]["process"]
            check(p.get("binary") == "/bin/busybox", f"binary {p.get('binary')}")
            pod = p.get("pod") or {}
            c = pod.get("container") or {}
            check(pod.get("namespace") == "shop" and pod.get("name") == "shop-6b7c8d9f4-q2w3e"
                  and pod.get("uid") == uid, f"{tag}: pod {pod}")
            check(c.get("name") == "cart" and c.get("image", {}).get("name") == "busybox:1.36"
                  and c.get("id") == "containerd://" + cid, f"{tag}: container {c}")
            check(pod.get("workload") == "shop" and pod.get("workload_kind") == "Deployment"
                  and pod.get("service_account") == "shop-sa", f"{tag}: workload {pod}")
            check(p.get("docker") == cid[:31], f"{tag}: docker {p.get('docker')}")
            check(not p.get("ns", {}).get("pid", {}).get("is_host", False),
                  f"{tag}: runs in the container's pid namespace: {p.get('ns')}")
            check("noPod" not in p.get("flags", ""), f"{tag}: flags {p.get('flags')}")
            check(not c.get("maybe_exec_probe"), f"{tag}: no probes, yet {c}")
            nspids[tag] = c.get("pid")
        # Container.pid: the pid inside the container's pid namespace. The init shell is
        # pid 1 there; its child and the runc exec process get small pids after it.
        init = t.find("process_exec",
                      lambda e: e["process"].get("arguments", "").startswith("-c ")
                      and tag_init in e["process"].get("arguments", ""),
                      timeout=6)["process_exec"]["process"]
        ipod = (init.get("pod") or {}).get("container") or {}
        check(ipod.get("pid") == 1, f"init shell: pod.container.pid {ipod.get('pid')} "
              f"(host pid {init.get('pid')})")
        check(init.get("pid", 0) > 1, f"init shell: host pid {init.get('pid')}")
        for tag in (tag_init, tag_exec):
            n = nspids[tag]
            check(isinstance(n, int) and 1 < n < 1000,
                  f"{tag}: pod.container.pid {n} is a small pid > 1")
        check(nspids[tag_init] != nspids[tag_exec], f"distinct container pids {nspids}")
        out, err = ctr.communicate(timeout=10)
        check(ctr.returncode == 0, f"container exit {ctr.returncode}: {err}")
        print(f"runc container {cid[:12]} in {cgrel[:40]}...: init and exec events enriched, "
              f"container pids init=1 {nspids}")
    finally:
        if ctr and ctr.poll() is None:
            ctr.kill()
            ctr.wait()
        subprocess.run(["runc", "--root", state, "delete", "--force", cid],
                       capture_output=True)
        if t:
            t.cleanup()
        srv.stop()
        time.sleep(0.1)
        remove_cgroups(cgrel)
        shutil.rmtree(tmp, ignore_errors=True)


run_test(test)
