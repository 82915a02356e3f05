/* exporter_metrics: Prometheus text exposition (format 0.0.4) of every stage's
 * counters on an HTTP port, served from its own thread by a small HTTP/1.1 server of
 * ours (one request per connection; an HTTP library would bring a TLS stack's pages).
 *
 * Each scrape of GET /metrics asks every stage for its status over its control
 * socket (REQ to ipc://RUNDIR/<stage>.ctl, {v:1, cmd:"status"}), all stages at
 * once with one deadline, so a stage that is down costs one timeout, not one per
 * stage. Stages are the *.ctl files in the run directory plus the five standard
 * names (as `vigil status` does). A stage that does not answer is
 * vigil_stage_up{stage} 0. Counters with a Tetragon equivalent are also exported
 * under Tetragon's metric name (see README.md, DIAGNOSTICS); every counter is
 * exported as vigil_counter{stage,name}. Other paths answer 404, other methods
 * 405; MHD itself refuses garbage and oversized requests. */
#ifndef VIGIL_EXPORTER_METRICS_H
#define VIGIL_EXPORTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct xmetrics_stats {
	uint64_t scrapes;      /* GET /metrics answered */
	uint64_t bad_requests; /* 404 and 405 answers */
	uint64_t malformed;    /* not HTTP, a head over 16 KiB, or too slow: 400, 431, closed */
};

/* Listen on address ("host:port", "[v6]:port") and serve stages found in rundir.
 * 0, or -1 with err set (bad address, port in use). */
int xmetrics_start(const char *address, const char *rundir, char *err, size_t errlen);
void xmetrics_get_stats(struct xmetrics_stats *s);
/* Stop the server thread. Safe if never started. */
void xmetrics_stop(void);

/* One scrape's body from status replies, exposed for tests: names[i] is a stage
 * and replies[i] its packed status reply (NULL when it did not answer). */
void xmetrics_render(const char *const *names, const char *const *replies,
		     const size_t *lens, size_t n, struct strbuf *out);

#endif
