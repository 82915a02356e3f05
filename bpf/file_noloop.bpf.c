// SPDX-License-Identifier: GPL-2.0
/*
 * file_noloop.bpf.c - bpf/file.bpf.c built for kernels without bpf_loop
 * (before 5.17, e.g. Debian bullseye's 5.10): bounded, unrolled path walks,
 * the task read with helpers, its registers found without bpf_task_pt_regs.
 * Same maps and programs; the collector picks one at load time.
 */
#define VIGIL_FILE_NOLOOP 1
#include "file.bpf.c"
