# exporter: protobuf-c code generated from proto/ into build/pb, and the gRPC C core.
PB_PROTO := $(sort $(shell cd proto && find . -name '*.proto' | sed 's|^\./||'))
PB_C     := $(patsubst %.proto,$(B)/pb/%.pb-c.c,$(PB_PROTO))
PB_H     := $(PB_C:.c=.h)
PB_OBJ   := $(PB_C:.c=.o)
GRPC_LIBS := $(shell pkg-config --libs grpc 2>/dev/null || echo -lgrpc -lgpr)

# One protoc-c run generates every file; the stamp keeps make from running it per file.
$(B)/pb/.stamp: $(addprefix proto/,$(PB_PROTO))
	@mkdir -p $(B)/pb
	protoc-c -Iproto --c_out=$(B)/pb $(PB_PROTO)
	@touch $@
$(PB_C) $(PB_H): $(B)/pb/.stamp

# Generated code is not ours to warn about.
$(B)/pb/%.pb-c.o: $(B)/pb/%.pb-c.c $(B)/pb/.stamp
	$(CC) -O2 -g -std=gnu11 -I$(B)/pb -c -o $@ $<

EXPORTER_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard exporter/*.c))
$(EXPORTER_OBJ): $(B)/pb/.stamp
$(EXPORTER_OBJ): CFLAGS += -I$(B)/pb -Iexporter
$(B)/vigil-exporter: $(PB_OBJ)
LDLIBS_exporter += -lprotobuf-c $(GRPC_LIBS) -lz -lpthread

# vigil getevents: a gRPC client in the same C core.
CLI_GE_OBJ := $(B)/cli/cli_getevents.o
$(CLI_GE_OBJ): $(B)/pb/.stamp
$(CLI_GE_OBJ): CFLAGS += -I$(B)/pb -Iexporter
$(B)/vigil: $(PB_OBJ)
LDLIBS_cli += -lprotobuf-c $(GRPC_LIBS) -lpthread
# The file sink's unit test compiles exporter_file.c in, which gzips rotated files.
$(B)/tests/test_exporter_file: LDLIBS_BASE += -lz
