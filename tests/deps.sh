#!/bin/sh
# deps.sh — install the Debian packages vigil builds and tests with. Idempotent and
# quiet when everything is already installed (one dpkg-query, no apt run).
PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
libzmq3-dev libmsgpack-dev libyaml-dev libcurl4-openssl-dev s6 execline
python3-zmq python3-msgpack python3-yaml iproute2 procps util-linux python3-kubernetes
qemu-system-x86 busybox-static runc
libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler python3-grpcio python3-protobuf openssl
auditd bpftrace python3-matplotlib
python3-prometheus-client libcap2-bin valgrind"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get install failed" >&2; exit 1; }
echo "deps: done"
