# bench: the benchmark tools (bench/gen.c, bench/loop.c build by the generic bench rule;
# tapstat needs ZeroMQ and msgpack-c) and the long-form targets.
#   make bench-report  60 s windows, more rounds; writes docs/BENCHMARKS.md and docs/bench.png
#   make soak          10 minutes at 10k events/s, stages killed at random; checks accounting
$(B)/bench/tapstat: bench/tapstat.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lzmq -lmsgpackc

.PHONY: bench-report soak
bench-report: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 bench/run.py --report

soak: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 bench/soak.py
