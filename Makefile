# vigil — one Makefile for every stage, the BPF objects, the vigil command and the tests.
#   make          build everything into build/
#   make deps     install the Debian packages vigil needs (idempotent, quiet when present)
#   make run      deps + build, then the whole s6 tree in the foreground (Ctrl-C stops it)
#   make check    deps + build, then every test; ends with "N passed, N failed"
#   make bench    deps + build, then the cost of vigil as ratios against a same-run baseline

B        := build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
            -D_GNU_SOURCE -Ilib -Icommon -Ibpf/include -I$(B)
LDLIBS_BASE := -lzmq -lmsgpackc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

LIB_SRC  := $(wildcard lib/*.c) $(wildcard common/*.c)
LIB_OBJ  := $(patsubst %.c,$(B)/%.o,$(LIB_SRC))
LIBA     := $(B)/libvigil.a

BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/%.skel.h,$(BPF_SRC))

STAGES   := collector enricher evaluator enforcer exporter
STAGE_BIN := $(patsubst %,$(B)/vigil-%,$(STAGES))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC)) $(B)/tests/test_cbpf
TOOL_SRC := $(wildcard tests/tools/*.c) $(wildcard bench/*.c)
TOOL_BIN := $(patsubst %.c,$(B)/%,$(TOOL_SRC))

# Each area may add its own rules, libraries (LDLIBS_<stage> += ...), extra unit test
# binaries (UNIT_BIN += ...) and tools in mk/<area>.mk.
.DEFAULT_GOAL := all
-include $(sort $(wildcard mk/*.mk))

.PHONY: all deps run check bench clean install
all: $(STAGE_BIN) $(B)/vigil $(UNIT_BIN) $(TOOL_BIN)

deps:
	@sh tests/deps.sh

# ---- library -------------------------------------------------------------
$(B)/%.o: %.c $(wildcard lib/*.h common/*.h bpf/include/*.h) | $(BPF_SKEL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# ---- BPF -----------------------------------------------------------------
$(B)/vmlinux.h:
	@mkdir -p $(B)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(B)/vmlinux.h $(wildcard bpf/include/*.h bpf/lib/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I$(B) -Ibpf/include -Ibpf/lib -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

$(B)/%.skel.h: $(B)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# Keep the objects (make would delete them as intermediates; bpftool prog
# loadall needs them for debugging), and rebuild the skeletons' users when a
# skeleton changes: it embeds the object, and the order-only prerequisite of
# the object rule above does not.
.SECONDARY: $(BPF_OBJ)
$(B)/collector/collector_bpf.o: $(B)/process.skel.h

# ---- stages --------------------------------------------------------------
define stage_rule
$(B)/vigil-$(1): $(patsubst %.c,$(B)/%.o,$(wildcard $(1)/*.c)) $(LIBA)
	$$(CC) $$(CFLAGS) -o $$@ $$^ $$(LDLIBS_BASE) $$(LDLIBS_$(1))
endef
LDLIBS_collector += -lbpf -lelf -lz
LDLIBS_enforcer  := -lbpf -lelf -lz
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

$(B)/vigil: $(patsubst %.c,$(B)/%.o,$(wildcard cli/*.c)) $(LIBA)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BASE) $(LDLIBS_cli)

# ---- tests and bench tools -----------------------------------------------
$(B)/tests/%: tests/unit/%.c $(LIBA) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(LDLIBS_BASE)

# The collector's BPF self-test: the real programs on the running kernel.
$(B)/tests/test_cbpf: collector/collector_bpf.c collector/cbpf_selftest.c collector/collector_bpf.h \
		$(B)/process.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCBPF_SELFTEST -o $@ collector/collector_bpf.c -lbpf -lelf -lz -lmsgpackc

$(B)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(B)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

install: all
	install -d $(PREFIX)/bin
	ln -sf $(CURDIR)/$(B)/vigil $(PREFIX)/bin/vigil

# ---- the two commands ----------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all install
	@exec sh supervise/vigil-run $(CURDIR)

check: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 tests/run.py

bench: deps
	@$(MAKE) --no-print-directory all install
	@/usr/bin/python3 bench/run.py

clean:
	rm -rf $(B)
