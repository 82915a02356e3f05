# enricher: libcurl (loaded at run time, lib/vcurl.c) for the Kubernetes client; unit tests that link enricher modules.
LDLIBS_enricher += -lpthread

$(B)/tests/test_enricher_cgroup: tests/unit/test_enricher_cgroup.c $(B)/enricher/enricher_cgroup.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE)

$(B)/tests/test_enricher_json: tests/unit/test_enricher_json.c $(B)/enricher/enricher_json.o \
		$(B)/enricher/enricher_k8s.o $(B)/enricher/enricher_cgroup.o \
		$(B)/enricher/enricher_intern.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE) -lpthread

$(B)/tests/test_enricher_k8s: tests/unit/test_enricher_k8s.c $(B)/enricher/enricher_json.o \
		$(B)/enricher/enricher_k8s.o $(B)/enricher/enricher_cgroup.o \
		$(B)/enricher/enricher_intern.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE) -lpthread

$(B)/tests/test_enricher_cache: tests/unit/test_enricher_cache.c $(B)/enricher/enricher_cache.o \
		$(B)/enricher/enricher_intern.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE)

$(B)/tests/test_enricher_pack: tests/unit/test_enricher_pack.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE)

$(B)/tests/test_enricher_ns: tests/unit/test_enricher_ns.c $(B)/enricher/enricher_ns.o \
		$(B)/enricher/enricher_intern.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -o $@ $^ $(LDLIBS_BASE)

# The memo test compiles enricher/main.c in (its main renamed): every other enricher module.
ENR_TEST_OBJ := $(patsubst %.c,$(B)/%.o,$(filter-out enricher/main.c,$(wildcard enricher/*.c)))
$(B)/tests/test_enricher_memo: tests/unit/test_enricher_memo.c enricher/main.c $(wildcard enricher/*.h) \
		$(ENR_TEST_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienricher -Itests/unit -o $@ $< $(ENR_TEST_OBJ) $(LIBA) $(LDLIBS_BASE) -lpthread -ldl
