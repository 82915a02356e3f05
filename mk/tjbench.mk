# tjbench: the exporter's per-event encoding replayed from a captured corpus, for
# instruction counts (issue 8). Corpus: /usr/bin/python3 bench/tj_corpus.py; then
#   valgrind --tool=callgrind --toggle-collect=tjb_json_one build/bench/tj_bench \
#       build/bench/tj_corpus.bin
# It links the exporter's file sink and protobuf encoder, so it has its own rule.
TJB_OBJ := $(B)/exporter/exporter_file.o $(B)/exporter/exporter_pb.o \
	   $(B)/exporter/exporter_tcount.o $(PB_OBJ)
$(B)/bench/tj_bench: bench/tj_bench.c $(TJB_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iexporter -o $@ $< $(TJB_OBJ) $(LIBA) $(LDLIBS_BASE) -lprotobuf-c -lz

# The protobuf encoder's unit test compiles exporter_pb.c in and needs the generated code.
$(B)/tests/test_exporter_pb: CFLAGS += -I$(B)/pb -Iexporter
$(B)/tests/test_exporter_pb: LDLIBS_BASE += $(PB_OBJ) -lprotobuf-c
$(B)/tests/test_exporter_pb: $(B)/pb/.stamp $(PB_OBJ) exporter/exporter_pb.c
