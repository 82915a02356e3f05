/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_common.h - what every vigil BPF object shares: the ring buffers, the
 * per-type emitted/lost counters and the wakeup policy.
 *
 * Each object declares these maps; the collector loads process.bpf.o first
 * and makes every other object reuse its maps (bpf_map__reuse_fd), so there
 * is one set of rings, one consumer and one set of counters whatever is loaded.
 *
 * Two rings: rb_proc carries the process lifecycle (exec, exit, fork and the
 * exec-stdio record), rb everything else (file, network, privilege). A flood
 * of file events can fill rb but never takes the space an exec or exit needs,
 * so the process tree stays whole; the collector merges both by time.
 *
 * Wakeups: a consumer wakeup per event costs more than the event itself in
 * our VMs (PLATFORM.md), so records are submitted with BPF_RB_NO_WAKEUP and
 * a wakeup is forced only when more than wake_bytes are waiting or wake_ns
 * have passed since the last forced wakeup (per object: a race costs at most
 * one extra wakeup; on rb the bytes are looked at every WAKE_QUERY_EVERY
 * records). The collector also drains on a timer, so a record submitted
 * without a wakeup is never stranded; while it polls on that timer
 * it moves last_wakeup_ns ahead (collector_bpf.h, cbpf_polling) so that a
 * steady stream forces no wakeup at all.
 */
#ifndef VIGIL_BPF_COMMON_H
#define VIGIL_BPF_COMMON_H

#include "events.h"

/* Resized by the collector before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} rb SEC(".maps");

/* Process lifecycle records only; resized by the collector before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} rb_proc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} emitted SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_filter);
} filter SEC(".maps");

/* cgroup v2 ids whose tasks' events are sent when filter.cgroups is set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_CGROUPS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_allow SEC(".maps");

/* Binaries of filter.binaries (events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_BINARIES_MAX);
	__type(key, struct vigil_bin_key);
	__type(value, __u8);
} bin_match SEC(".maps");

/* Processes running one of them, by tgid (events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_BIN_PROCS_MAX);
	__type(key, __u32);
	__type(value, __u8);
} bin_procs SEC(".maps");

/* The filter value; NULL only if the map is broken (then nothing is sent). */
static __always_inline struct vigil_filter *get_filter(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&filter, &key);
}

/* Whether operation op of the current process passes the filter. */
static __always_inline int op_wanted(struct vigil_filter *f, __u32 op, __u32 tgid)
{
	__u64 cg;

	if (!f || op >= 64 || !(f->ops & (1ULL << op)) || tgid == f->ignore_tgid)
		return 0;
	if (f->cgroups) {
		cg = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&cgroup_allow, &cg))
			return 0;
	}
	if (f->binaries &&
	    (bpf_map_lookup_elem(&bin_procs, &tgid) != NULL) != (f->binaries == VIGIL_BIN_ONLY))
		return 0;
	return 1;
}

/* Set by the collector before load. A wakeup per record (--delivery-ms 0) is wake_ns
 * 1 << 63: as a signed number no "now - last_wakeup_ns" is below it. 0 would not do: a
 * record's now is taken before it is built (an exec's, tens of µs before), and a record
 * of another CPU may have moved last_wakeup_ns past it meanwhile. */
const volatile __u64 wake_bytes = 64 << 10;
const volatile __u64 wake_ns = 200 * 1000;

/* Last forced wakeup; a race between CPUs costs at most one extra wakeup. */
__u64 last_wakeup_ns = 0;

/* Add one to a per-CPU per-type counter. */
static __always_inline void count(void *map, __u32 type)
{
	__u64 *v = bpf_map_lookup_elem(map, &type);

	if (v)
		*v += 1;
}

/* Wakeup flag for a submit to ring at time now, following the policy at the
 * top (one consumer drains both rings on any wakeup: one clock for both). */
static __always_inline __u64 wake_flags_ring(void *ring, __u64 now)
{
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= wake_bytes ||
	    (__s64)(now - last_wakeup_ns) >= (__s64)wake_ns) { /* now may be a bit stale */
		last_wakeup_ns = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/* On rb, the bytes-waiting half of the policy (bpf_ringbuf_query, a helper call)
 * is checked for one record in WAKE_QUERY_EVERY of a type on a CPU; the time half
 * for every record. The wakeup then comes at most that many records past
 * wake_bytes: a few KiB of typical records, 256 KiB at worst, of a 2 MiB ring.
 * (A helper call and its return cost ~20 ns each where returns go through a
 * mitigation thunk, as on this machine's AMD CPUs: this was one in ten of an
 * open's.) A record that did not fit is not counted, so a full ring is queried
 * on each try. emit_rec spells the time half out instead of calling
 * wake_flags_ring with a "look at the bytes" argument: that shape made 5.10's
 * verifier lose the callers' bound on size (priv.bpf.o stopped loading there). */
#define WAKE_QUERY_EVERY	16

/* Copy size bytes of rec (a record: header first) to rb and count the outcome
 * under type. The header's ktime, taken microseconds ago, serves as "now" for
 * the wakeup policy: one helper call less per event. */
static __always_inline void emit_rec(void *rec, __u64 size, __u32 type)
{
	__u64 now = ((struct vigil_ev_hdr *)rec)->ktime, flags = BPF_RB_NO_WAKEUP;
	__u64 *n = bpf_map_lookup_elem(&emitted, &type);

	if ((__s64)(now - last_wakeup_ns) >= (__s64)wake_ns ||
	    ((!n || !(*n & (WAKE_QUERY_EVERY - 1))) &&
	     bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wake_bytes)) {
		last_wakeup_ns = now;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&rb, rec, size, flags))
		count(&lost, type);
	else if (n)
		*n += 1;
}

#endif /* VIGIL_BPF_COMMON_H */
