// SPDX-License-Identifier: GPL-2.0
/*
 * enforce_noloop.bpf.c - bpf/enforce.bpf.c built for kernels without bpf_loop
 * (< 5.17) and bpf_get_current_task_btf (< 5.11), e.g. Debian bullseye's 5.10:
 * the loops are bounded ones the verifier walks, paths have at most NOLOOP_DEPTH
 * components. Same maps and programs; the enforcer picks one at load time.
 */
#define ENF_NO_BPF_LOOP 1
#include "enforce.bpf.c"
