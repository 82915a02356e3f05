# evalbench.mk — the evaluator's instruction-count bench (issue 8): bench/evalcpu_bench.c
# feeds one vigil-evaluator a realistic corpus; bench/evalcpu_bench.py runs the evaluator
# under callgrind and prints instructions per event.
#   make bench-evalcpu   (JSON on stdout; ~1 minute)
$(B)/bench/evalcpu_bench: bench/evalcpu_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lzmq -lmsgpackc

.PHONY: bench-evalcpu
bench-evalcpu:
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/evalcpu_bench.py
# The index-versus-scan unit test loads policies with libyaml.
$(B)/tests/test_policy_index: LDLIBS_BASE += -lyaml
