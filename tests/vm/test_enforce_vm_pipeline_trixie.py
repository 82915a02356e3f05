"""enforcer in qemu, the whole pipeline, on Debian trixie (6.12): the same boot and checks
as tests/vm/test_enforce_vm_pipeline.py (bookworm), on trixie's kernel."""
from enforcetest import vm_pipeline_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_pipeline_run("trixie")


run_test(test)
