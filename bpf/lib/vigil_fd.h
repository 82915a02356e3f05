/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_fd.h - the struct file behind a file descriptor of a task, read
 * through task -> files -> fdt -> fd[n] (no helper does this for tracepoints).
 */
#ifndef VIGIL_BPF_FD_H
#define VIGIL_BPF_FD_H

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

#endif /* VIGIL_BPF_FD_H */
