# collector: the BPF objects it embeds (skeletons) beyond process.skel.h.
COLLECTOR_SKELS := $(B)/file.skel.h $(B)/net.skel.h
$(B)/collector/collector_bpf.o: $(COLLECTOR_SKELS) collector/collector_path.h
$(B)/tests/test_cbpf: $(COLLECTOR_SKELS) collector/collector_path.h collector/cbpf_selftest.c
# `vigil probe` shares the collector's feature probing (collector/collector_probe.c).
$(B)/vigil: $(B)/collector/collector_probe.o
LDLIBS_cli += -lbpf -lelf -lz
