"""collector in qemu on Debian trixie's stock 6.12 kernel (bpf_rdonly_cast: the fast
builds, pointers typed, no helper call per field): the same checks as
test_collector_vm.py (bookworm) pass."""
from collectorvmtest import collector_vm_run
from vigiltest import need_root, run_test


def test():
    need_root()
    collector_vm_run("trixie", "bpf_rdonly_cast")


run_test(test)
