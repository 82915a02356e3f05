# collector: the BPF objects it embeds (skeletons) beyond process.skel.h.
COLLECTOR_SKELS := $(B)/file.skel.h $(B)/net.skel.h $(B)/priv.skel.h
$(B)/collector/collector_bpf.o: $(COLLECTOR_SKELS) collector/collector_path.h collector/collector_mnt.h
$(B)/tests/test_cbpf: $(COLLECTOR_SKELS) collector/collector_path.h collector/cbpf_selftest.c collector/collector_mnt.h
# --policies reads policies with the evaluator's parser (common/policy.c: libyaml).
LDLIBS_collector += -lyaml
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
# `make cbpf-bench-exec`: the exec path (none / process programs / all), alternating.
.PHONY: cbpf-bench-exec
cbpf-bench-exec: $(B)/bench/cbpf_bench $(B)/bench/loop
	$(B)/bench/cbpf_bench 11 $(B)/bench/loop exec
# `make cbpf-bench-read`: a syscall no program captures (none / file programs), alternating.
.PHONY: cbpf-bench-read
cbpf-bench-read: $(B)/bench/cbpf_bench $(B)/bench/loop
	$(B)/bench/cbpf_bench 11 $(B)/bench/loop read
# The other builds of file.bpf.c, process.bpf.c, net.bpf.c and priv.bpf.c (kernels without
# bpf_rdonly_cast or bpf_loop) include the main sources.
$(B)/bpf/file_nocast.bpf.o $(B)/bpf/file_noloop.bpf.o: bpf/file.bpf.c
$(B)/bpf/process_nocast.bpf.o $(B)/bpf/process_noloop.bpf.o: bpf/process.bpf.c
$(B)/bpf/net_noloop.bpf.o: bpf/net.bpf.c
$(B)/bpf/priv_noloop.bpf.o: bpf/priv.bpf.c
CBPF_ALT_SKELS := $(B)/file_nocast.skel.h $(B)/process_nocast.skel.h $(B)/file_noloop.skel.h \
	$(B)/process_noloop.skel.h $(B)/net_noloop.skel.h $(B)/priv_noloop.skel.h
$(B)/collector/collector_bpf.o $(B)/tests/test_cbpf $(B)/bench/cbpf_bench: $(CBPF_ALT_SKELS)
# The collector's self-test, statically linked for the qemu initramfs
# (tests/vm/run-collector-vm.sh builds it on demand; not part of `all`).
$(B)/vm/vm_cbpf: collector/collector_bpf.c collector/cbpf_selftest.c collector/collector_bpf.h \
		collector/collector_path.h collector/collector_mnt.h $(B)/process.skel.h \
		$(COLLECTOR_SKELS) $(CBPF_ALT_SKELS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCBPF_SELFTEST -static -o $@ collector/collector_bpf.c \
		-lbpf -lelf -lmsgpackc -lz 2>&1 | { grep -v "statically linked applications requires\|: in function" || true; }
	@test -x $@
