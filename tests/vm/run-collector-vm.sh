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

aptdir=$VM/apt-$SUITE
append="console=ttyS0 quiet panic=-1 no_timer_check"
case $SUITE in
bookworm)
	aptopts=""
	;;
bullseye|trixie)
	aptopts="-o Dir::Etc::sourcelist=$aptdir/sources.list -o Dir::Etc::sourceparts=- \
-o Dir::State::Lists=$aptdir/lists -o Dir::Cache=$aptdir/cache -o Dir::State::status=/dev/null"
	if [ ! -f "$aptdir/updated" ]; then
		mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
			> "$aptdir/sources.list"
		# shellcheck disable=SC2086
		apt-get $aptopts -q update >/dev/null 2>&1 || {
			echo "skip: apt-get update for $SUITE failed (no network?)"
			exit 77
		}
		touch "$aptdir/updated"
	fi
	;;
*)
	echo "unknown suite $SUITE" >&2
	exit 1
	;;
esac
meta=linux-image-cloud-amd64
# shellcheck disable=SC2086
pkg=$(apt-cache $aptopts depends "$meta" 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*cloud-amd64\(-unsigned\)\{0,1\}\).*/\1/p' | head -1)
if [ -z "$pkg" ]; then
	# apt's lists may be busy (another VM test updating them): a cached kernel will do
	case $SUITE in
	bookworm) series=6.1.; ;;
	bullseye) series=5.10.; ;;
	trixie) series=6.12.; ;;
	esac
	pkg=$(cd "$VM" && ls -d linux-image-"$series"*-cloud-amd64* 2>/dev/null | tail -1)
	pkg=${pkg%/}
fi
if [ -z "$pkg" ]; then
	echo "skip: no $meta in the apt lists for $SUITE (apt-get update?)"
	exit 77
fi
kdir=$VM/$pkg
if [ ! -d "$kdir/boot" ]; then
	rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
	# shellcheck disable=SC2086
	( cd "$kdir.tmp" && apt-get $aptopts download -q "$pkg" >/dev/null 2>&1 ) || {
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
exec timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic \
	-no-reboot -kernel "$vmlinuz" -initrd "$VM/initrd-cbpf-$SUITE.gz" -append "$append"
