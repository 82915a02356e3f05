/* vcurl.h — libcurl, loaded with dlopen when a stage first needs it.
 *
 * Linking libcurl runs the constructors of its TLS, Kerberos and PKCS#11 libraries in
 * every process that links it, and their pages stay resident: megabytes for stages
 * that never make a request (the enricher without Kubernetes, an evaluator with no
 * GetUrl action). Callers use vcurl.<function> where they would call curl_<function>
 * after vcurl_load() succeeded. */
#ifndef VIGIL_VCURL_H
#define VIGIL_VCURL_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK /* the typecheck macros wrap the names we replace */
#include <curl/curl.h>

struct vcurl {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode rc);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

extern struct vcurl vcurl;

/* Load libcurl and curl_global_init it, once per process (later calls return the
 * first result). 0, or -1 with the reason in err. Not thread-safe: call it from the
 * thread that starts the others. */
int vcurl_load(char *err, size_t len);

#endif
