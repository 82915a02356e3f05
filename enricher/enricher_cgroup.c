/* enricher_cgroup.c — see enricher_cgroup.h. */
#include "enricher_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CG_BUCKETS 4096
#define CG_MAX 65536           /* cached ids; beyond this the table is flushed */
#define CG_RETRY_NS 1000000000ull
#define FILEID_KERNFS 0xfe

static char cg_root[512];
static int cg_mount_fd = -1, cg_handles_ok = 1;
static struct cg_entry *cg_tab[CG_BUCKETS];
static uint64_t cg_n, cg_resolved, cg_failed, cg_walks, cg_last_walk;
static struct log_rl cg_rl = LOG_RL_INIT(1, 5);

/* Is s[0..n) all lowercase hex? */
static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A container id in one path component c[0..n), or 0. */
static int parse_id(const char *c, size_t n, char *id)
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-", "libpod-",
						"containerd-", "" };
	size_t i, pl;

	if (n > 6 && memcmp(c + n - 6, ".scope", 6) == 0)
		n -= 6;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		pl = strlen(prefixes[i]);
		if (n == pl + CG_ID_LEN && memcmp(c, prefixes[i], pl) == 0 &&
		    is_hex(c + pl, CG_ID_LEN)) {
			memcpy(id, c + pl, CG_ID_LEN);
			id[CG_ID_LEN] = '\0';
			return 1;
		}
	}
	return 0;
}

/* A pod uid in one component: "pod<uid>" (cgroupfs) or "...-pod<uid_with_underscores>.slice"
 * (systemd); the uid is written with dashes. */
static int parse_pod(const char *c, size_t n, char *uid)
{
	const char *p = NULL;
	size_t i, len;

	if (n > 3 && memcmp(c, "pod", 3) == 0)
		p = c + 3;
	else
		for (i = 0; i + 4 < n; i++)
			if (memcmp(c + i, "-pod", 4) == 0)
				p = c + i + 4;
	if (!p)
		return 0;
	len = (size_t)(c + n - p);
	if (len > 6 && memcmp(p + len - 6, ".slice", 6) == 0)
		len -= 6;
	if (len != 32 && len != 36)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = p[i];

		if (ch == '_' || ch == '-')
			ch = '-';
		else if (!is_hex(&ch, 1))
			return 0;
		uid[i] = ch;
	}
	uid[len] = '\0';
	return 1;
}

int cgroup_parse_path(const char *path, struct cg_info *out)
{
	const char *s = path, *e;
	int found = 0;

	memset(out, 0, sizeof(*out));
	while (*s) {
		size_t n;

		while (*s == '/')
			s++;
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n && parse_id(s, n, out->id)) /* the deepest one wins */
			found = 1;
		else if (n && !found)
			parse_pod(s, n, out->pod_uid);
		s += n;
	}
	if (!found)
		out->id[0] = '\0';
	return found;
}

/* The cgroup2 mount point from /proc/self/mountinfo; 0 or -1. */
static int find_mount(char *buf, size_t len)
{
	char line[1024], mnt[512];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ok = -1;

	if (!f)
		return -1;
	while (ok < 0 && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - cgroup2 ");

		if (sep && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
			snprintf(buf, len, "%s", mnt);
			ok = 0;
		}
	}
	fclose(f);
	return ok;
}

int cgroup_init(const char *root)
{
	if (root)
		snprintf(cg_root, sizeof(cg_root), "%s", root);
	else if (find_mount(cg_root, sizeof(cg_root)) < 0) {
		log_warn("no cgroup2 mount: container ids unavailable");
		cg_root[0] = '\0';
		return -1;
	}
	cg_mount_fd = open(cg_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_mount_fd < 0) {
		log_msg(LOG_SEV_WARN, errno, "open %s", cg_root);
		return -1;
	}
	log_info("cgroup2 at %s", cg_root);
	return 0;
}

/* Insert a new entry for id (flushing the table when it is full). */
static struct cg_entry *cg_insert(uint64_t id)
{
	struct cg_entry *e;
	size_t b;

	if (cg_n >= CG_MAX) {
		for (b = 0; b < CG_BUCKETS; b++)
			while ((e = cg_tab[b])) {
				cg_tab[b] = e->next;
				free(e->path);
				free(e);
			}
		cg_n = 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		log_panic("out of memory");
	e->id = id;
	e->next = cg_tab[id % CG_BUCKETS];
	cg_tab[id % CG_BUCKETS] = e;
	cg_n++;
	return e;
}

/* The cached entry for id or NULL. */
static struct cg_entry *cg_find(uint64_t id)
{
	struct cg_entry *e;

	for (e = cg_tab[id % CG_BUCKETS]; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

/* Keep e's path below the cgroup2 mount (full, as the kernel names the directory). */
static void set_path(struct cg_entry *e, const char *full)
{
	size_t n = strlen(cg_root);
	const char *rel = full;

	if (n > 1 && !strncmp(full, cg_root, n) && (full[n] == '/' || !full[n]))
		rel = full[n] ? full + n : "/";
	free(e->path);
	e->path = strdup(rel);
	if (!e->path)
		log_panic("out of memory");
}

/* nftw callback: cache every directory's parse. */
static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct cg_entry *e;

	(void)ftw;
	if (type != FTW_D)
		return 0;
	e = cg_find(sb->st_ino);
	if (!e)
		e = cg_insert(sb->st_ino);
	if (!e->resolved) {
		cgroup_parse_path(path + strlen(cg_root), &e->info);
		set_path(e, path);
		e->resolved = 1;
		cg_resolved++;
	}
	return 0;
}

/* Resolve e's id through a file handle; 0, or -1 (errno) when the kernel cannot. */
static int resolve_handle(struct cg_entry *e)
{
	uint64_t id = e->id;
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	char link[64], path[4096];
	ssize_t n;
	int fd;

	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(cg_mount_fd, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n < 0)
		return -1;
	path[n] = '\0';
	cgroup_parse_path(path, &e->info);
	set_path(e, path);
	return 0;
}

struct cg_entry *cgroup_lookup(uint64_t id)
{
	struct cg_entry *e;
	uint64_t now;

	if (id == 0 || cg_mount_fd < 0)
		return NULL;
	e = cg_find(id);
	if (e && e->resolved)
		return e;
	now = mono_ns();
	if (e && now < e->retry_ns)
		return e;
	if (!e)
		e = cg_insert(id);
	if (cg_handles_ok && resolve_handle(e) == 0) {
		e->resolved = 1;
		cg_resolved++;
		return e;
	}
	if (cg_handles_ok && (errno == EOPNOTSUPP || errno == EPERM || errno == ENOSYS)) {
		log_warn("open_by_handle_at on %s: %s; walking the mount instead", cg_root,
			 strerror(errno));
		cg_handles_ok = 0;
	}
	if (!cg_handles_ok && now - cg_last_walk > CG_RETRY_NS) {
		cg_last_walk = now;
		cg_walks++;
		nftw(cg_root, walk_one, 16, FTW_PHYS);
		e = cg_find(id);
		if (!e)
			e = cg_insert(id);
		if (e->resolved)
			return e;
	}
	cg_failed++;
	e->retry_ns = now + CG_RETRY_NS;
	log_rl(&cg_rl, LOG_SEV_WARN, "cgroup id %llu: cannot resolve its path",
	       (unsigned long long)id);
	return e;
}

void cgroup_foreach(void (*fn)(struct cg_entry *e, void *arg), void *arg)
{
	struct cg_entry *e;
	size_t b;

	for (b = 0; b < CG_BUCKETS; b++)
		for (e = cg_tab[b]; e; e = e->next)
			if (e->resolved && e->info.id[0])
				fn(e, arg);
}

void cgroup_get_stats(struct cg_stats *st)
{
	st->entries = cg_n;
	st->resolved = cg_resolved;
	st->failed = cg_failed;
	st->walks = cg_walks;
}
