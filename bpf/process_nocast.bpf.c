// SPDX-License-Identifier: GPL-2.0
/*
 * process_nocast.bpf.c - bpf/process.bpf.c built for kernels without the
 * bpf_rdonly_cast kfunc (before 6.2, e.g. Debian bookworm's 6.1): the path
 * walk and the stdio sockets are read with bpf_probe_read_kernel. Same maps,
 * programs and variables; the collector picks one at load time.
 */
#define VIGIL_PROCESS_NOCAST 1
#include "process.bpf.c"
