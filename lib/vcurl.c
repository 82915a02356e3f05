/* vcurl.c — see vcurl.h. */
#include "vcurl.h"

#include <dlfcn.h>
#include <stdio.h>

struct vcurl vcurl;

int vcurl_load(char *err, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define VC(f) { "curl_" #f, offsetof(struct vcurl, f) }
		VC(global_init), VC(global_cleanup), VC(easy_init), VC(easy_cleanup),
		VC(easy_reset), VC(easy_setopt), VC(easy_perform), VC(easy_getinfo),
		VC(easy_strerror), VC(easy_escape), VC(free), VC(slist_append),
		VC(slist_free_all),
#undef VC
	};
	static int state; /* 0 not tried, 1 loaded, -1 failed */
	static char why[256];
	void *h;
	size_t i;

	if (state == 0) {
		state = -1;
		h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			snprintf(why, sizeof(why), "cannot load libcurl: %s", dlerror());
			goto out;
		}
		for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
			void *f = dlsym(h, syms[i].name);

			if (!f) {
				snprintf(why, sizeof(why), "libcurl lacks %s", syms[i].name);
				goto out;
			}
			*(void **)((char *)&vcurl + syms[i].off) = f;
		}
		if (vcurl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(why, sizeof(why), "curl_global_init failed");
			goto out;
		}
		state = 1;
	}
out:
	if (state < 0 && err && len)
		snprintf(err, len, "%s", why);
	return state > 0 ? 0 : -1;
}
