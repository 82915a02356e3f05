/* enricher_ns.h — namespace changes compared with the exec (docs/wire.md §8.4).
 *
 * The collector's record of a namespace change (sys_unshare, sys_setns, the new
 * process of a sys_clone/sys_clone3 with CLONE_NEW*) carries the task's namespaces
 * after the call: string_arg [ns_after], "uts:4026531838 ipc:4026531839 ...". The
 * process's cache entry holds the ones recorded at its exec (the Process `ns` map).
 * The difference is added to the event as string_arg [ns_changes],
 * "net:4026531840->4026532301 ..." ("" when the call left every namespace as the exec
 * had it). */
#ifndef VIGIL_ENRICHER_NS_H
#define VIGIL_ENRICHER_NS_H

#include <msgpack.h>
#include <stddef.h>

#include "enricher_cache.h"

/* Room ns_changes needs at most. */
#define NS_CHANGES_MAX 640

/* When ev (a process_kprobe body) is a namespace change with an ns_after arg: its
 * `args` array, and the ns_after text in *after (alen bytes). NULL otherwise. */
const msgpack_object *ns_change_args(const msgpack_object *ev, const char **after,
				     size_t *alen);

/* Write the namespaces of the ns_after text that differ from p's exec record into buf
 * (NS_CHANGES_MAX bytes), NUL-terminated; returns its length, or -1 when p's exec
 * namespaces are unknown (nothing to compare with). */
int ns_changes(const struct proc *p, const char *after, size_t alen, char *buf);

/* Pack args (from ns_change_args) with string_arg [ns_changes] = changes inserted
 * after ns_after. */
void ns_pack_args(msgpack_packer *pk, const msgpack_object *args, const char *changes,
		  size_t clen);

#endif
