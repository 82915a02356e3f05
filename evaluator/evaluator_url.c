/* evaluator_url.c — the user-space GetUrl action: HTTP GETs to canary URLs, done by one
 * worker thread so a slow or dead server never stalls the event stream. The queue is
 * bounded; what does not fit is counted (url.drops), never waited for. */
#include "evaluator.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define URL_QUEUE 64

static pthread_t url_thr;
static pthread_mutex_t url_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t url_cv = PTHREAD_COND_INITIALIZER;
static char *url_q[URL_QUEUE];
static size_t url_head, url_n;
static int url_stop, url_started;
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
	CURL *h = curl_easy_init();

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
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, u);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, url_sink);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "vigil-evaluator");
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		rc = curl_easy_perform(h);
		if (rc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_OK && code < 400)
			__atomic_fetch_add(c_sent, 1, __ATOMIC_RELAXED);
		else {
			__atomic_fetch_add(c_failed, 1, __ATOMIC_RELAXED);
			log_warn("GetUrl %s: %s", u, rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
		}
		free(u);
	}
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

void eval_url_init(struct stage *st)
{
	c_sent = stage_counter(st, "url.sent");
	c_failed = stage_counter(st, "url.failed");
	c_drops = stage_counter(st, "url.drops");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_create(&url_thr, NULL, url_main, NULL) == 0)
		url_started = 1;
	else
		log_error("GetUrl worker: cannot start a thread; GetUrl actions will be dropped");
}

void eval_url_get(const char *url)
{
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
		return;
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
	curl_global_cleanup();
}
