# collector: the BPF objects it embeds (skeletons) beyond process.skel.h.
COLLECTOR_SKELS := $(B)/file.skel.h
$(B)/collector/collector_bpf.o: $(COLLECTOR_SKELS) collector/collector_path.h
$(B)/tests/test_cbpf: $(COLLECTOR_SKELS) collector/collector_path.h collector/cbpf_selftest.c
