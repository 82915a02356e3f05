// SPDX-License-Identifier: GPL-2.0
/*
 * enforce_nocast.bpf.c - bpf/enforce.bpf.c built for kernels with bpf_loop but
 * without the bpf_rdonly_cast kfunc (5.17 to 6.1, e.g. Debian bookworm's 6.1): the
 * path walk and the fd table are read with bpf_probe_read_kernel, and the open family
 * keeps one tracepoint per syscall. Same maps and programs; the enforcer picks one
 * build at load time.
 */
#define ENF_NOCAST 1
#include "enforce.bpf.c"
