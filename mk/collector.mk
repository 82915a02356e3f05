# collector: the BPF objects it embeds (skeletons) beyond process.skel.h.
COLLECTOR_SKELS := $(B)/file.skel.h $(B)/net.skel.h $(B)/priv.skel.h
$(B)/collector/collector_bpf.o: $(COLLECTOR_SKELS) collector/collector_path.h collector/collector_mnt.h
$(B)/tests/test_cbpf: $(COLLECTOR_SKELS) collector/collector_path.h collector/cbpf_selftest.c collector/collector_mnt.h
# `vigil probe` shares the collector's feature probing (collector/collector_probe.c).
$(B)/vigil: $(B)/collector/collector_probe.o
LDLIBS_cli += -lbpf -lelf -lz
# `make cbpf-bench`: per-open cost of the file programs (none / captured / filtered /
# prefix miss, alternating in one run); see collector/cbpf_bench.inc.
$(B)/bench/cbpf_bench: collector/cbpf_bench.inc collector/collector_bpf.c $(B)/process.skel.h \
		$(COLLECTOR_SKELS) collector/collector_path.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icollector -x c -o $@ $< -lbpf -lelf -lz -lmsgpackc -lpthread
.PHONY: cbpf-bench
cbpf-bench: $(B)/bench/cbpf_bench $(B)/bench/loop
	$(B)/bench/cbpf_bench 11 $(B)/bench/loop
