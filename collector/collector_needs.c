/* collector_needs.c - see collector_needs.h. */
#include "collector_needs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"

int cneeds_load(const char *paths, struct cneeds *out, char *err, size_t errlen)
{
	struct policy_set *s = policy_set_new();
	struct policy_errs errs = { 0 };
	char buf[4096], *tok, *save = NULL;
	int nerr = 0;

	memset(out, 0, sizeof(*out));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", paths);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		nerr += policy_load_path(s, tok, &errs);
	/* a file with errors adds nothing (policy.h): the others count */
	if (nerr)
		snprintf(err, errlen, "%s%s", errs.n ? errs.msg[0] : "policy error",
			 nerr > 1 ? " (and more)" : "");
	out->need = policy_set_needs(s, &out->pre, &out->npre);
	out->npolicies = s->n;
	policy_errs_free(&errs);
	policy_set_free(s);
	return nerr ? -1 : 0;
}

void cneeds_free(struct cneeds *n)
{
	for (size_t i = 0; i < n->npre; i++)
		free(n->pre[i]);
	free(n->pre);
	memset(n, 0, sizeof(*n));
}

/* h plus a hash (FNV-1a) of one file's name, size and mtime: a sum, so that the
 * order readdir gives does not count. */
static uint64_t sig_add(uint64_t h, const char *name, const struct stat *st)
{
	const unsigned char *p = (const unsigned char *)name;
	uint64_t f = 1469598103934665603ull;
	uint64_t v[3] = { (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
			  (uint64_t)st->st_mtim.tv_nsec };

	for (; *p; p++)
		f = (f ^ *p) * 1099511628211ull;
	for (size_t i = 0; i < sizeof(v); i++)
		f = (f ^ ((const unsigned char *)v)[i]) * 1099511628211ull;
	return h + f;
}

/* Whether name is a policy file as policy_load_path reads them. */
static int is_policy(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
				  (n > 4 && !strcmp(name + n - 4, ".yml")));
}

uint64_t cneeds_signature(const char *paths)
{
	char buf[4096], file[4096 + 256], *tok, *save = NULL;
	uint64_t h = 0;
	struct stat st;
	struct dirent *de;
	DIR *d;

	snprintf(buf, sizeof(buf), "%s", paths);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (stat(tok, &st)) {
			h += 0x9e3779b97f4a7c15ull; /* missing: a state of its own */
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			h = sig_add(h, tok, &st);
			continue;
		}
		if (!(d = opendir(tok)))
			continue;
		while ((de = readdir(d))) {
			if (!is_policy(de->d_name))
				continue;
			snprintf(file, sizeof(file), "%s/%s", tok, de->d_name);
			if (stat(file, &st) == 0)
				h = sig_add(h, file, &st);
		}
		closedir(d);
	}
	return h;
}
