"""enforcer in qemu on Debian bullseye (5.10, booted with lsm=...,bpf): 5.10 has no
bpf_loop and no bpf_get_current_task_btf, so the enforcer loads its bounded-loop build
(bpf/enforce_noloop.bpf.c). Today that build is refused by the verifier (E2BIG: the
64-rule decision loop with its port/uid loops, unrolled, exceeds 1M instructions; the
same happens on the host with VIGIL_ENF_NOLOOP=1), so there is no enforcement on 5.10
and this test is skipped unless VIGIL_VM_BULLSEYE=1 (then it boots the kernel, expects
every check of tests/vm/test_enforce_vm.py and fails until the build verifies; a boot
takes minutes under TCG because the verifier runs to its limit)."""
import os

from enforcetest import vm_run
from vigiltest import need_root, run_test, skip


def test():
    need_root()
    if os.environ.get("VIGIL_VM_BULLSEYE") != "1":
        skip("5.10: the bounded-loop build exceeds the verifier's 1M-instruction limit "
             "(enforcer/README.md, Kernel support); VIGIL_VM_BULLSEYE=1 runs it")
    vm_run("bullseye", need_all_hooks=False)


run_test(test)
