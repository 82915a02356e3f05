# enforcer: rebuild the users of the enforce skeleton when it changes (it embeds the
# object; the order-only prerequisite of the object rule does not see that).
$(B)/enforcer/enforcer_bpf.o: $(B)/enforce.skel.h $(B)/enforce_noloop.skel.h $(B)/enforce_nocast.skel.h bpf/include/enforce.h \
		enforcer/enforcer.h
$(B)/enforcer/main.o $(B)/enforcer/enforcer_policy.o: enforcer/enforcer.h bpf/include/enforce.h

# The qemu test binary: the enforcer's kernel side, statically linked for an initramfs
# (tests/vm/run-vm.sh builds it on demand; not part of `all`).
$(B)/vm/vm_enforce: tests/vm/vm_enforce.c enforcer/enforcer_bpf.c enforcer/enforcer.h lib/log.c \
		bpf/include/enforce.h $(B)/enforce.skel.h $(B)/enforce_noloop.skel.h $(B)/enforce_nocast.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienforcer -static -o $@ tests/vm/vm_enforce.c enforcer/enforcer_bpf.c \
		lib/log.c -lbpf -lelf -lz

# The parser's unit test compiles enforcer_policy.c in.
$(B)/tests/test_enforcer_policy: enforcer/enforcer_policy.c enforcer/enforcer.h bpf/include/enforce.h

# The bounded-loop build includes the main source.
$(B)/bpf/enforce_noloop.bpf.o: bpf/enforce.bpf.c

# The real enforcer, statically linked for the qemu initramfs (tests/vm/vm_stage.c drives
# it). Debian's libzmq.a carries a GSSAPI mechanism but Debian ships no static
# libgssapi_krb5: tests/vm/gss_stub.c stands in (vigil never enables GSSAPI).
ENF_STATIC_LIBS := -lbpf -lelf -lmsgpackc -lyaml -lzmq -lsodium -lpgm -lnorm -l:libprotokit.a \
	-lxml2 -licui18n -licuuc -licudata -lz -llzma -lbsd -lmd -lstdc++ -lrt -lpthread -lm
$(B)/vm/vigil-enforcer: $(patsubst %.c,$(B)/%.o,$(wildcard enforcer/*.c)) $(LIBA) tests/vm/gss_stub.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $(filter %.o %.a,$^) tests/vm/gss_stub.c $(ENF_STATIC_LIBS) \
		2>&1 | { grep -v "statically linked applications requires\|: in function" || true; }
	@test -x $@
$(B)/vm/vm_stage: tests/vm/vm_stage.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $< -lmsgpackc -lzmq -lsodium -lpgm -lnorm -l:libprotokit.a \
		-lxml2 -licui18n -licuuc -licudata -lz -llzma -lbsd -lmd -lstdc++ -lrt -lpthread -lm \
		tests/vm/gss_stub.c 2>&1 | { grep -v "statically linked applications requires\|: in function" || true; }
	@test -x $@

# The qemu pipeline test's probe (open / exec / connect, errno printed), static.
$(B)/vm/vm_probe: tests/vm/vm_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

# The build without typed loads (6.1) includes the main source too.
$(B)/bpf/enforce_nocast.bpf.o: bpf/enforce.bpf.c
