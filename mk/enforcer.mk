# enforcer: rebuild the users of the enforce skeleton when it changes (it embeds the
# object; the order-only prerequisite of the object rule does not see that).
$(B)/enforcer/enforcer_bpf.o: $(B)/enforce.skel.h bpf/include/enforce.h enforcer/enforcer.h
$(B)/enforcer/main.o $(B)/enforcer/enforcer_policy.o: enforcer/enforcer.h bpf/include/enforce.h

# The qemu test binary: the enforcer's kernel side, statically linked for an initramfs
# (tests/vm/run-vm.sh builds it on demand; not part of `all`).
$(B)/vm/vm_enforce: tests/vm/vm_enforce.c enforcer/enforcer_bpf.c enforcer/enforcer.h lib/log.c \
		bpf/include/enforce.h $(B)/enforce.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ienforcer -static -o $@ tests/vm/vm_enforce.c enforcer/enforcer_bpf.c \
		lib/log.c -lbpf -lelf -lz

# The parser's unit test compiles enforcer_policy.c in.
$(B)/tests/test_enforcer_policy: enforcer/enforcer_policy.c enforcer/enforcer.h bpf/include/enforce.h
