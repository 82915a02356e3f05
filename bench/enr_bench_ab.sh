#!/bin/sh
# enr_bench_ab.sh — the enricher's instructions per event, before and after a change
# (issue 8): builds bench/enr_bench.c a second time against another version of the
# enricher's sources (default: the committed enricher/main.c and enricher_ns.c, from
# git HEAD), runs both under callgrind (bench/enr_bench.sh's count), and checks that both
# write the same messages (byte for byte without containers; decoded, cgroup ids
# normalised, with them).
#   sh bench/enr_bench_ab.sh [COUNT] [REV]       (default 20000 events, HEAD; ~1 minute)
set -e
cd "$(dirname "$0")/.."
n=${1:-20000}
rev=${2:-HEAD}
make --no-print-directory build/bench/enr_bench >/dev/null
t=$(mktemp -d /tmp/enr_ab.XXXXXX)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/enricher"
cp enricher/*.h "$t/enricher/"
git show "$rev:enricher/main.c" >"$t/enricher/main.c"
git show "$rev:enricher/enricher_ns.c" >"$t/enricher/enricher_ns.c"
objs=""
for f in enricher/*.c; do
	case $f in enricher/main.c) continue ;; enricher/enricher_ns.c) objs="$objs $t/ns.o"; continue ;; esac
	objs="$objs build/${f%.c}.o"
done
cflags="-O2 -g -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -D_GNU_SOURCE -Ilib -Icommon -Ibpf/include -Ibuild"
cc $cflags -I"$t/enricher" -Ienricher -c -o "$t/ns.o" "$t/enricher/enricher_ns.c"
sed "s#\"../enricher/main.c\"#\"$t/enricher/main.c\"#" bench/enr_bench.c >"$t/bench.c"
cc $cflags -I"$t/enricher" -o "$t/enr_bench_old" "$t/bench.c" $objs build/libvigil.a \
	-lzmq -lmsgpackc -lpthread -ldl
count() { # binary: instructions per event in enr_bench_input
	valgrind --tool=callgrind --toggle-collect=enr_bench_input --callgrind-out-file="$t/cg" \
		"$1" --count "$n" >/dev/null 2>&1
	callgrind_annotate "$t/cg" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
old=$(count "$t/enr_bench_old")
new=$(count build/bench/enr_bench)
echo "before ($rev): $((old / n)) instructions per event; after (working tree): $((new / n)); change $(( (new - old) * 100 / old ))%"
"$t/enr_bench_old" --count 2000 --no-containers --dump "$t/a" >/dev/null 2>&1
build/bench/enr_bench --count 2000 --no-containers --dump "$t/b" >/dev/null 2>&1
cmp -s "$t/a" "$t/b" && echo "output without containers: byte-identical" || { echo "output differs"; exit 1; }
"$t/enr_bench_old" --count 2000 --dump "$t/a" >/dev/null 2>&1
build/bench/enr_bench --count 2000 --dump "$t/b" >/dev/null 2>&1
/usr/bin/python3 bench/enr_bench_cmp.py "$t/a" "$t/b" | sed 's/^/output with containers: /'
