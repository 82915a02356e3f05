// SPDX-License-Identifier: GPL-2.0
/*
 * process_noloop.bpf.c - bpf/process.bpf.c built for kernels without bpf_loop
 * (before 5.17, e.g. Debian bullseye's 5.10): bounded, unrolled path walks.
 * Same maps and programs; the collector picks one at load time.
 */
#define VIGIL_PROCESS_NOLOOP 1
#include "process.bpf.c"
