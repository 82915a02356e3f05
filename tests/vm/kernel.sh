# kernel.sh — sourced by the qemu test scripts (run-vm.sh, run-collector-vm.sh) with
# SUITE (bookworm, bullseye, trixie) and VM (build/vm) set and the working directory
# VM: finds the suite's stock cloud kernel, downloads and caches it (only boot/ is
# kept) and sets vmlinuz. Suites other than the host's own get an apt configuration of
# their own (lists and caches under build/vm/apt-SUITE), so the system's apt state is
# never touched. Exits 77 (skip) when the kernel cannot be had, 1 on an unknown suite.
# Also sets what every guest boots with: append (the kernel command line) and accel.

# A soft lockup panics (panic=-1: the VM stops at once, with the stuck CPU's stack on the
# console: panic prints verbosely even under quiet) instead of hanging to the timeout.
append="console=ttyS0 quiet panic=-1 no_timer_check softlockup_panic=1"
# Multi-threaded TCG: a vCPU can spin for ever at a jump label that the other vCPU is
# patching (5.10: tracepoints switched on as the stages attach; the stuck CPU's stack at
# syscall_trace_enter's patched jmp, seen in CI), and a 6.1 guest once hung at boot,
# where the kernel patches itself most. One host thread runs both vCPUs: slower, but the
# guest's code patching is then never concurrent with its execution.
accel=tcg,thread=single
aptdir=$VM/apt-$SUITE
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
