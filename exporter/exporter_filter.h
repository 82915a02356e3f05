/* exporter_filter: Tetragon's GetEvents allow/deny filters, compiled once per
 * client and evaluated on the msgpack event (docs/wire.md §4.4).
 *
 * Semantics (Tetragon's): an event passes if it matches some allow_list filter
 * (or the allow_list is empty) and no deny_list filter. Inside one Filter the
 * set fields are ANDed; the values of one field are ORed. Regexes are POSIX
 * extended regexes searched anywhere in the string (Tetragon uses RE2: the
 * common syntax is the same, but RE2-only constructs such as \d, (?i) or
 * non-greedy quantifiers are refused at compile time with a clear message).
 * Supported fields: binary_regex, namespace, health_check, pid, event_set,
 * pod_regex, arguments_regex, labels (k8s selector: k=v, k==v, k!=v, k, !k,
 * k in (a,b), k notin (a,b)), policy_names, parent_binary_regex,
 * parent_arguments_regex, container_id, in_init_tree, namespace_regex,
 * container_name_regex, ancestor_binary_regex. The others (pid_set,
 * capabilities, cel_expression) are refused, never silently ignored. */
#ifndef VIGIL_EXPORTER_FILTER_H
#define VIGIL_EXPORTER_FILTER_H

#include <stddef.h>
#include <msgpack.h>

#include "tetragon/events.pb-c.h"

struct xfilter;

/* Compile a request's lists. NULL with a message in err on a bad or unsupported filter. */
struct xfilter *xfilter_compile(const Tetragon__GetEventsRequest *req, char *err, size_t errlen);
/* 1 if an event of EventType type with body ev passes, else 0. */
int xfilter_match(const struct xfilter *xf, int type, const msgpack_object *ev);
void xfilter_free(struct xfilter *xf);

#endif
