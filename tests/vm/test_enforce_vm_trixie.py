"""enforcer, Override tier in qemu on Debian trixie (6.12, fetched with apt-get download and
cached under build/vm/): the same boot and checks as tests/vm/test_enforce_vm.py
(bookworm); all 11 LSM hooks must load on this kernel."""
from enforcetest import vm_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_run("trixie", need_all_hooks=True)


run_test(test)
