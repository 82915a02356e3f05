"""enforcer, Override tier in qemu: a stock Debian bookworm kernel (6.1, fetched with
apt-get download and cached under build/vm/) boots an initramfs with busybox and the
enforcer's kernel side (build/vm/vm_enforce: enforcer_bpf.c + bpf/enforce.bpf.c).
Asserts from the VM's console that BPF LSM loads there; open() of the denied file fails
with EACCES and reads no byte while a sibling opens; exec of a denied binary fails with
EPERM while another runs; a denied connect fails with EPERM; every block is an OVERRIDE
report from the LSM hook (or the cgroup hook for connect); a crashed enforcer leaves the
block in force and a new one adopts it; monitor mode lets all three through and reports
them; a clean stop lifts the block."""
import os
import subprocess
import sys

from vigiltest import ROOT, check, need_root, run_test, skip

WANT = ["load", "lsm_tier", "baseline", "install", "file_open_eacces", "file_open_other_ok",
        "exec_eperm", "exec_other_ok", "connect_eperm", "override_reports", "crash_child",
        "block_survives_crash", "adopt_after_crash", "install_monitor", "monitor_open_ok",
        "monitor_exec_ok", "monitor_connect_ok", "monitor_reports", "clean_stop_lifts"]


def test():
    need_root()
    p = subprocess.run(["sh", os.path.join(ROOT, "tests/vm/run-vm.sh"), "bookworm"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = p.stdout.decode("utf-8", "replace").replace("\r", "")
    if p.returncode == 77:
        skip(out.strip().splitlines()[-1] if out.strip() else "VM kernel unavailable")
    lines = out.splitlines()
    passed = {l.split()[1] for l in lines if l.startswith("PASS ")}
    failed = [l for l in lines if l.startswith("FAIL ")]
    kernel = next((l for l in lines if l.startswith("VM-KERNEL")), "VM-KERNEL ?")
    print(kernel[:100])
    tail = "\n".join(lines[-40:])
    check(not failed, "VM checks failed:\n" + "\n".join(failed) + "\n" + tail)
    missing = [w for w in WANT if w not in passed]
    check(not missing, f"VM checks missing: {missing}\n{tail}")
    check(any(l.startswith("VM-RESULT pass=") and l.endswith("fail=0") for l in lines),
          "no VM-RESULT line:\n" + tail)
    print(f"{len(passed)} checks passed in the VM")


run_test(test)
