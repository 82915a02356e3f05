/* exporter_delay: how long events took from the kernel to the exporter, as a histogram
 * of counters that /metrics shows as vigil_event_delay_seconds. */
#ifndef VIGIL_EXPORTER_DELAY_H
#define VIGIL_EXPORTER_DELAY_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "stage.h"

/* Upper bounds of the buckets, µs (a last bucket, "inf", takes the rest). */
extern const uint64_t xdelay_bounds_us[];
extern const size_t xdelay_nbounds;

/* Counter names: "delay.le_<µs>" and "delay.le_inf" (one bucket each, not
 * cumulative), "delay.sum_us", "delay.count"; "delay.untimed" counts events with no
 * usable `time`. */
#define XDELAY_BUCKET "delay.le_"
#define XDELAY_SUM "delay.sum_us"
#define XDELAY_COUNT "delay.count"

/* Create the counters of st. */
void xdelay_init(struct stage *st);

/* One event ev (a wire body: its top-level `time`, ns since the epoch) handled at
 * now_ns (CLOCK_REALTIME). A time in the future counts as no delay. */
void xdelay_observe(const msgpack_object *ev, int64_t now_ns);

#endif
