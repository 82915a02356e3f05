"""enforcer in qemu on Debian bullseye (5.10, booted with lsm=...,bpf): 5.10 has no
bpf_loop, no bpf_get_current_task_btf, no bpf_set_retval, no ancestor-cgroup helper in
tracing programs and cannot pin a tracepoint's link, so the enforcer loads its
bounded-loop build (bpf/enforce_noloop.bpf.c: the rule decision and the path walk are
global functions the verifier checks once, every loop unrolled, cgroup ancestors read
from the task) and says what it cannot pin (info.unpinned). Asserts every check of
tests/vm/test_enforce_vm.py on this kernel: BPF LSM loads (all 11 hooks); the denied
open fails with EACCES and reads no byte, the denied exec with EPERM, the denied connect
with the policy's errno (lsm/socket_connect); every other hook gives its policy's errno;
a crash keeps the block; monitor mode lets everything through and reports it; a clean
stop lifts the block."""
from enforcetest import vm_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_run("bullseye", need_all_hooks=True)


run_test(test)
