# bench: the benchmark tools (bench/gen.c, bench/loop.c build by the generic bench rule;
# tapstat needs ZeroMQ and msgpack-c, zmq_hop ZeroMQ) and the long-form targets.
#   make bench          (main Makefile) everything, short windows; rewrites docs/BENCHMARKS.md
#                       and docs/bench.png (~10 minutes)
#   make bench-report   60 s windows, more rounds; same outputs
#   make soak           10 minutes at 10k events/s, stages killed at random; checks
#                       accounting, RSS, fds, BPF objects, enforcement; build/bench/soak.json
#   make bench-syscost / bench-grpc / bench-eval   one part alone, JSON on stdout
$(B)/bench/tapstat: bench/tapstat.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lzmq -lmsgpackc

$(B)/bench/zmq_hop: bench/zmq_hop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lzmq

.PHONY: bench-report soak bench-syscost bench-grpc bench-eval
bench-report: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 bench/run.py --report

soak: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 bench/soak.py

bench-syscost: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/syscost.py

bench-grpc: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/grpc_bench.py

bench-eval: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/eval_bench.py
