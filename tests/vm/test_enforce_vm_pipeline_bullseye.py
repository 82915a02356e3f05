"""enforcer in qemu, the whole pipeline, on Debian bullseye (5.10, lsm=...,bpf): the same
boot and checks as tests/vm/test_enforce_vm_pipeline.py (the real stages under s6, a
YAML policy through the evaluator; the forbidden open fails with EACCES and reads no
byte, the denied exec never runs, the denied connect fails with EACCES; kill -9 of the
enforcer keeps all three blocked; monitor mode lets them through; the enforcer's
reports reach the exporter's JSON file) with the enforcer's bounded-loop build and the
collector's noloop build (no bpf_loop, bpf_get_current_task_btf or bpf_task_pt_regs on
5.10): every stage must be up."""
from enforcetest import vm_pipeline_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_pipeline_run("bullseye")


run_test(test)
