#!/bin/sh
# run-vm.sh — boot a stock Debian kernel under qemu (TCG) with an initramfs holding
# busybox and build/vm/vm_enforce, and print the VM's console (PASS/FAIL lines).
#
#   tests/vm/run-vm.sh [SUITE]      SUITE: bookworm (default; 6.1, BPF LSM on by default)
#
# The kernel package is fetched once with apt-get download and cached under build/vm/.
# Exit: 0 console printed (the caller judges it), 77 kernel unavailable, 1 setup failed.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${1:-bookworm}
VM=$ROOT/build/vm
mkdir -p "$VM"
cd "$VM"

case $SUITE in
bookworm)
	meta=linux-image-cloud-amd64
	pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*cloud-amd64\).*/\1/p' | head -1)
	append="console=ttyS0 quiet panic=-1"
	;;
*)
	echo "unknown suite $SUITE" >&2
	exit 1
	;;
esac
if [ -z "$pkg" ]; then
	echo "skip: no $meta in the apt lists (apt-get update?)"
	exit 77
fi

kdir=$VM/$pkg
if [ ! -d "$kdir/boot" ]; then
	rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
	( cd "$kdir.tmp" && apt-get download -q "$pkg" >/dev/null 2>&1 ) || {
		echo "skip: apt-get download $pkg failed (no network?)"
		rm -rf "$kdir.tmp"
		exit 77
	}
	dpkg -x "$kdir.tmp"/*.deb "$kdir.tmp/x"
	mkdir -p "$kdir"
	mv "$kdir.tmp/x/boot" "$kdir/boot"
	rm -rf "$kdir.tmp"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)

make -C "$ROOT" --no-print-directory build/vm/vm_enforce >/dev/null
[ -x /bin/busybox ] || { echo "busybox-static missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86 missing" >&2; exit 1; }

# The initramfs: busybox, the test binary, an /init that mounts what BPF needs.
ird=$(mktemp -d "$VM/initrd.XXXXXX")
trap 'rm -rf "$ird"' EXIT
mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/tmp"
cp /bin/busybox "$ird/bin/busybox"
for a in sh mount mkdir ifconfig poweroff cat echo; do ln -s busybox "$ird/bin/$a"; done
cp "$VM/vm_enforce" "$ird/bin/vm_enforce"
cat > "$ird/init" <<'EOF'
#!/bin/sh
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev
mount -t securityfs none /sys/kernel/security
mount -t bpf none /sys/fs/bpf
mount -t tracefs none /sys/kernel/tracing
mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs none /tmp
ifconfig lo 127.0.0.1 up
echo "VM-KERNEL $(cat /proc/version)"
echo "VM-LSM $(cat /sys/kernel/security/lsm)"
/bin/vm_enforce
echo "VM-EXIT $?"
poweroff -f
EOF
chmod +x "$ird/init"
( cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 ) > "$VM/initrd-enforce.gz"

exec timeout 120 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$VM/initrd-enforce.gz" -append "$append"
