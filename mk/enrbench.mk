# enrbench.mk — the enricher's instruction-count bench (issue 8): bench/enr_bench.c compiles
# enricher/main.c in (its main renamed, a reduced stage skeleton) and feeds a realistic raw
# stream through on_input in-process; bench/enr_bench.sh runs it under callgrind.
#   make bench-enrcpu   (instructions per event on stdout; ~30 s)
#   sh bench/enr_bench_ab.sh [COUNT] [REV]   the same before (git REV, default HEAD) and
#                       after, and a check that both write the same messages (~1 minute)
ENR_BENCH_OBJ := $(patsubst %.c,$(B)/%.o,$(filter-out enricher/main.c,$(wildcard enricher/*.c)))

$(B)/bench/enr_bench: bench/enr_bench.c enricher/main.c $(wildcard enricher/*.h) $(ENR_BENCH_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $< $(ENR_BENCH_OBJ) $(LIBA) $(LDLIBS_BASE) -lpthread -ldl

.PHONY: bench-enrcpu
bench-enrcpu: $(B)/bench/enr_bench
	@sh bench/enr_bench.sh
