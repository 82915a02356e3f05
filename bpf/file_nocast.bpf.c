// SPDX-License-Identifier: GPL-2.0
/*
 * file_nocast.bpf.c - bpf/file.bpf.c built for kernels without the
 * bpf_rdonly_cast kfunc (before 6.2, e.g. Debian bookworm's 6.1): the path
 * walk reads the kernel's fields with bpf_probe_read_kernel. Same maps and
 * programs; the collector picks one at load time.
 */
#define VIGIL_FILE_NOCAST 1
#include "file.bpf.c"
