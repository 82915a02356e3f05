/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_fd.h - the struct file behind a file descriptor of a task, read
 * through task -> files -> fdt -> fd[n] (no helper does this for tracepoints).
 *
 * task is a typed pointer (bpf_get_current_task_btf, a tp_btf argument): its
 * fields are plain loads the verifier guards (PROBE_MEM), much cheaper than
 * a bpf_probe_read_kernel each. Only the array slot fd[n] needs the helper
 * (the verifier types no pointer-to-pointer array), so the file returned is
 * an untyped pointer: read it with BPF_CORE_READ, or VP_CAST it.
 * VIGIL_TASK_PROBE_READ (kernels without bpf_get_current_task_btf) reads the
 * task with helpers too.
 */
#ifndef VIGIL_BPF_FD_H
#define VIGIL_BPF_FD_H

#ifdef VIGIL_TASK_PROBE_READ
#define VT_RD(p, f)	BPF_CORE_READ(p, f)

#define VIGIL_THREAD_SIZE	16384	/* x86_64 without KASAN: 4 pages */

/* task_pt_regs() of x86_64 for kernels without bpf_task_pt_regs (< 5.15; no
 * stack padding there): the user registers saved at the top of the task's
 * kernel stack. */
static __always_inline struct pt_regs *task_regs(struct task_struct *task)
{
	void *stack = BPF_CORE_READ(task, stack);

	if (!stack)
		return NULL;
	return (struct pt_regs *)(stack + VIGIL_THREAD_SIZE - bpf_core_type_size(struct pt_regs));
}

/* The current task (untyped: its fields are read with helpers). */
#define VIGIL_CUR_TASK()	((struct task_struct *)bpf_get_current_task())
/* bpf_get_current_pid_tgid() of the current task t. */
#define VIGIL_PID_TGID(t)	bpf_get_current_pid_tgid()
/* Its user registers. */
#define VIGIL_TASK_REGS(t)	task_regs(t)
#else
#define VIGIL_CUR_TASK()	bpf_get_current_task_btf()
#define VIGIL_TASK_REGS(t)	((struct pt_regs *)bpf_task_pt_regs(t))
/* bpf_get_current_pid_tgid() of the current task t, from two plain loads: a
 * helper call and its return cost ~20 ns each on CPUs whose returns go through
 * a mitigation thunk (AMD's SRSO "safe RET", this machine's). */
#define VIGIL_PID_TGID(t)	(((__u64)(t)->tgid << 32) | (__u32)(t)->pid)
/* Field f of a typed kernel pointer p (a task and what hangs off it). */
#define VT_RD(p, f)	((p)->f)
#endif

/* The address of slot fd in task's file table (fdt->fd + fd), or NULL when fd is
 * out of the table. */
static __always_inline struct file **fd_slot(struct task_struct *task, int fd)
{
	struct files_struct *files;
	struct fdtable *fdt;

	if (fd < 0)
		return NULL;
	files = VT_RD(task, files);
	if (!files)
		return NULL;
	fdt = VT_RD(files, fdt);
	if (!fdt)
		return NULL;
	if ((unsigned int)fd >= (unsigned int)VT_RD(fdt, max_fds))
		return NULL;
	return VT_RD(fdt, fd) + fd;
}

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct file **slot = fd_slot(task, fd);
	struct file *f = NULL;

	if (!slot || bpf_probe_read_kernel(&f, sizeof(f), slot))
		return NULL;
	return f;
}

#endif /* VIGIL_BPF_FD_H */
