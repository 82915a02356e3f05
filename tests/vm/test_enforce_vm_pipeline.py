"""enforcer in qemu, the whole pipeline, on Debian bookworm (6.1): the initramfs holds the real stages
as built (collector, enricher, evaluator, exporter, enforcer, with the shared libraries
ldd names), s6 and supervise/ as shipped; /init (tests/vm/pipeline-init.sh) lays out the
tree, starts s6-svscan and writes a YAML policy (override, errno EACCES: open of
/tmp/secret, exec of /tmp/denied.sh, TCP connect to 127.0.0.2:4711) into the evaluator's
policy directory. Asserts from the console: every stage becomes ready; the evaluator's
policy_set arms the enforcer; the open fails with EACCES and reads no byte while another
file reads; the denied exec fails with EACCES and its script never runs while another
runs; the connect fails with EACCES while 127.0.0.1 connects; after kill -9 of the
enforcer (s6 told not to restart it) all three stay blocked, and again once s6 restarts
it (it adopts the pins); the policy switched to monitor in the YAML lets all three
through; the exporter's JSON file holds the enforcer's reports (process_lsm, OVERRIDE
with return -13, and KPROBE_ACTION_POST "would have blocked") for each of the three."""
from enforcetest import vm_pipeline_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_pipeline_run("bookworm")


run_test(test)
