"""enforcer, Override tier in qemu (trixie): a stock Debian trixie kernel (6.12, fetched with
apt-get download and cached under build/vm/) boots an initramfs with busybox and the
enforcer's kernel side (build/vm/vm_enforce: enforcer_bpf.c + bpf/enforce.bpf.c).
Asserts from the VM's console that BPF LSM loads there; open() of the denied file fails
with EACCES and reads no byte while a sibling opens; exec of a denied binary fails with
EPERM while another runs; a denied connect fails with the policy's errno (lsm/
socket_connect); every block is an OVERRIDE report from the LSM hook; a crashed enforcer
leaves the block in force and a new one adopts it; monitor mode lets all three through
and reports them; a clean stop lifts the block. Then every other LSM hook (unlink,
rename, chmod, setuid, module_load, mount, connect, reads of an already open file):
the denied operation fails with its policy's errno, an allowed one works, monitor mode
lets it through and reports it. All 11 LSM hooks must load on this kernel."""
from enforcetest import vm_run
from vigiltest import need_root, run_test


def test():
    need_root()
    vm_run("trixie", need_all_hooks=True)


run_test(test)
