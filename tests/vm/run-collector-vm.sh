#!/bin/sh
# run-collector-vm.sh — boot a stock Debian kernel under qemu (TCG) with an initramfs
# holding busybox and build/vm/vm_cbpf (the collector's self-test, static), run its
# "--vm" subset (exec records with binary, cwd and arguments; exit codes; relative,
# deep and memfd execs; opens resolved through cwd, "//", "..", symlinks, dirfds and
# a bind mount) and print the console (PASS/FAIL lines, then VM-CBPF-RESULT rc=N).
#
#   tests/vm/run-collector-vm.sh SUITE [ENV=VALUE...]
#        SUITE: bookworm (6.1), trixie (6.12), bullseye (5.10)
#        ENV:   put in the self-test's environment (e.g. VIGIL_COLLECTOR_NOCAST=1)
#
# The kernel package is fetched and cached under build/vm/ as tests/vm/run-vm.sh does
# (same directories, so either script reuses the other's download).
# Exit: 0 console printed (the caller judges it), 77 kernel unavailable, 1 setup failed.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${1:-bookworm}
[ $# -gt 0 ] && shift
VM=$ROOT/build/vm
mkdir -p "$VM"
cd "$VM"

. "$ROOT/tests/vm/kernel.sh"

[ -x /bin/busybox ] || { echo "busybox-static missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86 missing" >&2; exit 1; }
make -C "$ROOT" --no-print-directory build/vm/vm_cbpf >/dev/null

ird=$(mktemp -d "$VM/initrd-cbpf.XXXXXX")
trap 'rm -rf "$ird"' EXIT
mkdir -p "$ird/bin" "$ird/usr/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/tmp" "$ird/root"
cp /bin/busybox "$ird/bin/busybox"
for a in sh mount mkdir poweroff cat echo sleep ls; do ln -s busybox "$ird/bin/$a"; done
# a real /bin/true (the self-test copies it and runs the copy under other names)
printf 'int main(void) { return 0; }\n' > "$ird/true.c"
cc -static -O2 -o "$ird/bin/true" "$ird/true.c" && rm "$ird/true.c"
ln -s /bin/true "$ird/usr/bin/true"
cp "$VM/vm_cbpf" "$ird/bin/vm_cbpf"
{
	echo '#!/bin/sh'
	echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
	echo 'mount -t bpf bpf /sys/fs/bpf; mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null'
	echo 'mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; mount -t tmpfs tmp /tmp'
	echo 'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null'
	echo 'echo "VM-CBPF-KERNEL $(cat /proc/sys/kernel/osrelease)"'
	echo 'cd /root'
	printf 'env %s /bin/vm_cbpf --vm 2>&1\n' "$*"
	echo 'echo "VM-CBPF-RESULT rc=$?"'
	echo 'poweroff -f'
} > "$ird/init"
chmod +x "$ird/init"
( cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 ) > "$VM/initrd-cbpf-$SUITE.gz"
rm -rf "$ird"
exec timeout 300 qemu-system-x86_64 -accel "${accel:-tcg}" -cpu max -m 1024 -smp 2 -nographic \
	-no-reboot -kernel "$vmlinuz" -initrd "$VM/initrd-cbpf-$SUITE.gz" -append "$append"
