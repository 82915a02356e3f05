#!/bin/sh
# enr_bench.sh — instructions per event of the enricher's per-event path (issue 8):
# build/bench/enr_bench under callgrind, counting only enr_bench_input (the measured
# stream through on_input: receive, decode, cache, pack, send). Prints the JSON line of
# the bench and the instructions per event, total and without ZeroMQ's receive.
#   sh bench/enr_bench.sh [COUNT]        (default 20000 events; ~30 s)
set -e
cd "$(dirname "$0")/.."
n=${1:-20000}
out=$(mktemp -d /tmp/enr_bench_cg.XXXXXX)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --toggle-collect=enr_bench_input \
	--callgrind-out-file="$out/cg.out" build/bench/enr_bench --count "$n" \
	>"$out/json" 2>"$out/log"
cat "$out/json"
callgrind_annotate --inclusive=yes "$out/cg.out" >"$out/ann" 2>/dev/null
total=$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out/ann" | tr -d ,)
zmq=$(grep -E ':zmq_msg_recv ' "$out/ann" | head -1 | awk '{print $1}' | tr -d ,)
zmq=${zmq:-0}
echo "instructions: $total for $n events: $((total / n)) per event; without zmq_msg_recv: $(((total - zmq) / n)) per event"
