"""e2e: `vigil probe` (standalone, no tree) prints one line per feature; on this host
(PLATFORM.md) lsm, fentry and kprobe are unavailable and tp_btf, raw_tp, ringbuf,
tracepoint, btf are available, the verdict says the collector can run, exit 0. A running
collector puts the same summary in its status info (`features`), and which builds of
its BPF objects it loaded (`bpf_build`: bpf_rdonly_cast on this 6.18 host)."""
import os
import subprocess

from vigiltest import ROOT, Tree, check, need_root, run_test, skip


def test():
    need_root()
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip("no BTF: not the project's host kernel")
    vigil = os.path.join(ROOT, "build", "vigil")
    r = subprocess.run([vigil, "probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    check(r.returncode == 0, f"vigil probe exit {r.returncode}: {r.stdout}{r.stderr}")
    rows = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 2 and f[1] in ("available", "unavailable"):
            rows[f[0]] = f[1]
    for name in ("lsm", "fentry", "kprobe"):
        check(rows.get(name) == "unavailable", f"{name}: {rows.get(name)}\n{r.stdout}")
    for name in ("tp_btf", "raw_tp", "ringbuf", "tracepoint", "btf", "bpf_loop",
                 "send_signal", "cgroup_sock_addr", "iter_task"):
        check(rows.get(name) == "available", f"{name}: {rows.get(name)}\n{r.stdout}")
    check("collector can run" in r.stdout, r.stdout)
    bad = subprocess.run([vigil, "probe", "extra"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    check(bad.returncode == 100 and "no arguments" in bad.stderr, f"bad usage: {bad}")
    with Tree(stages=["collector"]) as t:
        feats = (t.status("collector") or {}).get("info", {}).get("features", "")
        check("lsm=no" in feats and "tp_btf=yes" in feats and "ringbuf=yes" in feats,
              f"collector features {feats!r}")
        check("kernel lacks lsm" in t.log("collector"), "no warning naming lsm")
        # 6.18 has bpf_rdonly_cast: the fast builds of the BPF objects are loaded
        build = (t.status("collector") or {}).get("info", {}).get("bpf_build", "")
        check(build == "bpf_rdonly_cast", f"collector bpf_build {build!r}")
        check("BPF: bpf_rdonly_cast builds" in t.log("collector"), "no log of the build")


run_test(test)
