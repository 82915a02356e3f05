// SPDX-License-Identifier: GPL-2.0
/*
 * priv_noloop.bpf.c - bpf/priv.bpf.c built for the kernels that get the
 * collector's noloop builds (before 5.17, e.g. 5.10: no bpf_get_current_task_btf
 * before 5.11, no bpf_task_pt_regs before 5.15). Same maps and programs.
 */
#define VIGIL_PRIV_NOLOOP 1
#include "priv.bpf.c"
