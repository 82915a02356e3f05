/* exporter_delay: the kernel → exporter delay histogram; see exporter_delay.h. */
#include "exporter_delay.h"

#include <stdio.h>

#include "wire.h"

/* Fine where the pipeline is (tens of µs to the delivery window's ms: enough for a
 * p50 or p99 read off them to land within a bucket's width of the true one), coarse
 * after. */
const uint64_t xdelay_bounds_us[] = { 25,     50,     75,      100,     150,     200,
				      300,    500,    750,     1000,    1500,    2000,
				      3000,   5000,   7500,    10000,   15000,   25000,
				      50000,  100000, 250000,  500000,  1000000, 2500000,
				      5000000, 10000000 };
const size_t xdelay_nbounds = sizeof(xdelay_bounds_us) / sizeof(xdelay_bounds_us[0]);

static uint64_t *c_bucket[sizeof(xdelay_bounds_us) / sizeof(xdelay_bounds_us[0]) + 1];
static uint64_t *c_sum, *c_count, *c_untimed;

void xdelay_init(struct stage *st)
{
	char name[64];

	for (size_t i = 0; i < xdelay_nbounds; i++) {
		snprintf(name, sizeof(name), XDELAY_BUCKET "%llu",
			 (unsigned long long)xdelay_bounds_us[i]);
		c_bucket[i] = stage_counter(st, name);
	}
	c_bucket[xdelay_nbounds] = stage_counter(st, XDELAY_BUCKET "inf");
	c_sum = stage_counter(st, XDELAY_SUM);
	c_count = stage_counter(st, XDELAY_COUNT);
	c_untimed = stage_counter(st, "delay.untimed");
}

void xdelay_observe(const msgpack_object *ev, int64_t now_ns)
{
	uint64_t t, us;
	size_t i = 0;

	if (!c_count)
		return;
	if (wire_get_u64(ev, "time", &t) < 0 || t == 0) {
		(*c_untimed)++;
		return;
	}
	us = now_ns > 0 && (uint64_t)now_ns > t ? ((uint64_t)now_ns - t) / 1000 : 0;
	while (i < xdelay_nbounds && us > xdelay_bounds_us[i])
		i++;
	(*c_bucket[i])++;
	*c_sum += us;
	(*c_count)++;
}
