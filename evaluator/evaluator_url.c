/* evaluator_url.c — the user-space GetUrl action: HTTP GETs to canary URLs, done by one
 * worker thread so a slow or dead server never stalls the event stream. The queue is
 * bounded; what does not fit is counted (url.drops), never waited for. */
#include "evaluator.h"

#include "vcurl.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define URL_QUEUE 64

static pthread_t url_thr;
static pthread_mutex_t url_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t url_cv = PTHREAD_COND_INITIALIZER;
static char *url_q[URL_QUEUE];
static size_t url_head, url_n;
static int url_stop, url_started, url_tried;
static uint64_t *c_sent, *c_failed, *c_drops;

/* Discard the response body: a canary only needs the request to arrive. */
static size_t url_sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

static void *url_main(void *arg)
{
	CURL *h = vcurl.easy_init();

	(void)arg;
	for (;;) {
		char *u;
		long code = 0;
		CURLcode rc;

		pthread_mutex_lock(&url_mu);
		while (!url_n && !url_stop)
			pthread_cond_wait(&url_cv, &url_mu);
		if (url_stop) {
			pthread_mutex_unlock(&url_mu);
			break;
		}
		u = url_q[url_head];
		url_head = (url_head + 1) % URL_QUEUE;
		url_n--;
		pthread_mutex_unlock(&url_mu);
		if (!h) {
			__atomic_fetch_add(c_failed, 1, __ATOMIC_RELAXED);
			free(u);
			continue;
		}
		vcurl.easy_reset(h);
		vcurl.easy_setopt(h, CURLOPT_URL, u);
		vcurl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		vcurl.easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
		vcurl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		vcurl.easy_setopt(h, CURLOPT_WRITEFUNCTION, url_sink);
		vcurl.easy_setopt(h, CURLOPT_USERAGENT, "vigil-evaluator");
		vcurl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		rc = vcurl.easy_perform(h);
		if (rc == CURLE_OK)
			vcurl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_OK && code < 400)
			__atomic_fetch_add(c_sent, 1, __ATOMIC_RELAXED);
		else {
			__atomic_fetch_add(c_failed, 1, __ATOMIC_RELAXED);
			log_warn("GetUrl %s: %s", u, rc != CURLE_OK ? vcurl.easy_strerror(rc) : "HTTP error");
		}
		free(u);
	}
	if (h)
		vcurl.easy_cleanup(h);
	return NULL;
}

void eval_url_init(struct stage *st)
{
	c_sent = stage_counter(st, "url.sent");
	c_failed = stage_counter(st, "url.failed");
	c_drops = stage_counter(st, "url.drops");
}

/* Start the worker at the first GetUrl: most policy sets have none, and libcurl's
 * set-up (TLS libraries, a thread) would cost every evaluator memory for nothing. */
static void url_start(void)
{
	char err[256];

	url_tried = 1;
	if (vcurl_load(err, sizeof(err)) < 0) {
		log_error("GetUrl worker: %s; GetUrl actions will be dropped", err);
		return;
	}
	if (pthread_create(&url_thr, NULL, url_main, NULL) == 0)
		url_started = 1;
	else
		log_error("GetUrl worker: cannot start a thread; GetUrl actions will be dropped");
}

void eval_url_get(const char *url)
{
	if (!url_tried)
		url_start(); /* the main thread: the only caller */
	pthread_mutex_lock(&url_mu);
	if (!url_started || url_n == URL_QUEUE) {
		pthread_mutex_unlock(&url_mu);
		__atomic_fetch_add(c_drops, 1, __ATOMIC_RELAXED);
		return;
	}
	url_q[(url_head + url_n) % URL_QUEUE] = strdup(url);
	url_n++;
	pthread_cond_signal(&url_cv);
	pthread_mutex_unlock(&url_mu);
}

void eval_url_stop(void)
{
	if (!url_started)
		return; /* libcurl stays loaded until exit: nothing to clean up */
	pthread_mutex_lock(&url_mu);
	url_stop = 1;
	pthread_cond_signal(&url_cv);
	pthread_mutex_unlock(&url_mu);
	pthread_join(url_thr, NULL);
	while (url_n) {
		free(url_q[url_head]);
		url_head = (url_head + 1) % URL_QUEUE;
		url_n--;
	}
}
