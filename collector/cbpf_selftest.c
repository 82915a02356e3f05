/* clang-format off */
/*
 * cbpf_selftest.c - end-to-end self-test of collector_bpf.c on the running
 * kernel: real execs, exits and forks, checked through cbpf_pack's msgpack.
 * Needs root. Included at the end of collector_bpf.c (it calls its static
 * functions); compiles to nothing without CBPF_SELFTEST. Build and run:
 *
 *   cc -DCBPF_SELFTEST -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Ibpf/include -Ibuild collector/collector_bpf.c -o build/cbpf_selftest -lbpf -lelf -lz -lmsgpackc
 *   build/cbpf_selftest
 *
 * Prints one PASS/FAIL line per check and exits 1 when any check failed.
 */
/* clang-format on */
#ifdef CBPF_SELFTEST

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* One record copied out of the ring. */
struct st_rec {
	unsigned type;
	unsigned char *data;
	size_t len;
};

static struct st_rec *st_recs;
static size_t st_nrecs, st_cap;
static int st_failed;

/* emit callback: keep a copy of every record. */
static int st_keep(void *arg, const struct cbpf_rec *r)
{
	struct vigil_ev_hdr h;

	(void)arg;
	if (st_nrecs == st_cap) {
		st_cap = st_cap ? st_cap * 2 : 256;
		st_recs = realloc(st_recs, st_cap * sizeof(*st_recs));
		if (!st_recs)
			abort();
	}
	memcpy(&h, r->data, sizeof(h));
	st_recs[st_nrecs].type = h.type;
	st_recs[st_nrecs].data = malloc(r->len);
	if (!st_recs[st_nrecs].data)
		abort();
	memcpy(st_recs[st_nrecs].data, r->data, r->len);
	st_recs[st_nrecs].len = r->len;
	st_nrecs++;
	return 0;
}

/* Report one check. */
static void st_check(int ok, const char *what, const char *detail)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", what, detail ? ": " : "",
	       detail ? detail : "");
	if (!ok)
		st_failed = 1;
}

/* Find the n-th (0-based) record of a type for a pid; NULL if none. */
static const struct st_rec *st_find(unsigned type, uint32_t pid, int n)
{
	for (size_t i = 0; i < st_nrecs; i++) {
		struct vigil_ev_hdr h;

		memcpy(&h, st_recs[i].data, sizeof(h));
		if (h.type == type && h.pid == pid && n-- == 0)
			return &st_recs[i];
	}
	return NULL;
}

/* Count the records of a type for a pid. */
static int st_count(unsigned type, uint32_t pid)
{
	int n = 0;

	while (st_find(type, pid, n))
		n++;
	return n;
}

/* A record packed by cbpf_pack and unpacked again. */
struct st_body {
	msgpack_sbuffer sb;
	msgpack_unpacked up;
	const msgpack_object *map;
};

/* Pack rec with cbpf_pack and unpack it into b; returns 0 on success. */
static int st_body(const struct cbpf *cb, const struct st_rec *rec, struct st_body *b)
{
	struct cbpf_rec r = {cbpf_type_name(rec->type), rec->data, rec->len};
	msgpack_packer pk;
	size_t off = 0;

	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&pk, &b->sb, msgpack_sbuffer_write);
	cbpf_pack(cb, &r, &pk);
	msgpack_unpacked_init(&b->up);
	if (msgpack_unpack_next(&b->up, b->sb.data, b->sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != b->sb.size || b->up.data.type != MSGPACK_OBJECT_MAP)
		return -1;
	b->map = &b->up.data;
	return 0;
}

/* Free what st_body allocated. */
static void st_body_free(struct st_body *b)
{
	msgpack_unpacked_destroy(&b->up);
	msgpack_sbuffer_destroy(&b->sb);
}

/* Value of key k in the body map, or NULL. */
static const msgpack_object *st_get(const struct st_body *b, const char *k)
{
	const msgpack_object_map *m = &b->map->via.map;

	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *key = &m->ptr[i].key;

		if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(k) &&
		    !memcmp(key->via.str.ptr, k, key->via.str.size))
			return &m->ptr[i].val;
	}
	return NULL;
}

/* Whether key k is an unsigned int equal to v. */
static int st_uint_is(const struct st_body *b, const char *k, uint64_t v)
{
	const msgpack_object *o = st_get(b, k);

	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == v;
}

/* Whether o is a str equal to s. */
static int st_obj_str_is(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       !memcmp(o->via.str.ptr, s, o->via.str.size);
}

/* Copy key k's str value into buf for messages ("<missing>" if absent). */
static const char *st_str(const struct st_body *b, const char *k, char *buf, size_t n)
{
	const msgpack_object *o = st_get(b, k);

	if (!o || o->type != MSGPACK_OBJECT_STR)
		snprintf(buf, n, "<missing>");
	else
		snprintf(buf, n, "%.*s", (int)o->via.str.size, o->via.str.ptr);
	return buf;
}

/* Whether the str array at key k contains s. */
static int st_array_has(const struct st_body *b, const char *k, const char *s)
{
	const msgpack_object *o = st_get(b, k);

	if (!o || o->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (uint32_t i = 0; i < o->via.array.size; i++)
		if (st_obj_str_is(&o->via.array.ptr[i], s))
			return 1;
	return 0;
}

/* Drain the ring into st_recs. */
static void st_drain(struct cbpf *cb)
{
	/* records held by the two rings' time merge come with a later drain */
	for (int i = 0; i < 200; i++) {
		if (cbpf_drain(cb, st_keep, NULL) < 0)
			st_check(0, "cbpf_drain", "returned -1");
		if (!cbpf_pending(cb))
			break;
		usleep(1000);
	}
}

/* Fork; the child chdirs to dir (if set), silences stdout and calls fn. */
static pid_t st_spawn(const char *dir, void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		if (dir && chdir(dir))
			_exit(120);
		fn(arg);
		_exit(121);
	}
	return pid;
}

/* Child body: execv(argv[0], argv). */
static void st_exec(void *arg)
{
	char **argv = arg;

	execv(argv[0], argv);
}

/* Wait for pid; returns its wait status. */
static int st_wait(pid_t pid)
{
	int status = -1;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* Run argv in dir, wait, drain; returns the child's pid. */
static pid_t st_run(struct cbpf *cb, const char *dir, char **argv)
{
	pid_t pid = st_spawn(dir, st_exec, argv);

	st_wait(pid);
	st_drain(cb);
	return pid;
}

/* Check the exec record of pid: binary, and cwd and args unless NULL. */
static void st_check_exec(const struct cbpf *cb, const char *what, pid_t pid, const char *binary,
			  const char *cwd, char **args)
{
	const struct st_rec *rec = st_find(VIGIL_EV_EXEC, pid, 0);
	char got[PATH_MAX + 64], name[128];
	struct st_body b;

	snprintf(name, sizeof(name), "%s: exec record", what);
	st_check(rec != NULL, name, NULL);
	if (!rec)
		return;
	if (st_body(cb, rec, &b)) {
		st_check(0, what, "cbpf_pack output does not unpack to one map");
		return;
	}
	snprintf(name, sizeof(name), "%s: binary", what);
	st_check(st_obj_str_is(st_get(&b, "binary"), binary), name,
		 st_str(&b, "binary", got, sizeof(got)));
	if (cwd) {
		snprintf(name, sizeof(name), "%s: cwd", what);
		st_check(st_obj_str_is(st_get(&b, "cwd"), cwd), name,
			 st_str(&b, "cwd", got, sizeof(got)));
	}
	if (args) {
		const msgpack_object *a = st_get(&b, "args");
		int ok = a && a->type == MSGPACK_OBJECT_ARRAY;
		uint32_t n = 0;

		while (ok && args[n])
			n++;
		ok = ok && a->via.array.size == n;
		for (uint32_t i = 0; ok && i < n; i++)
			ok = st_obj_str_is(&a->via.array.ptr[i], args[i]);
		snprintf(name, sizeof(name), "%s: args", what);
		st_check(ok, name, NULL);
	}
	snprintf(name, sizeof(name), "%s: flags contain execve", what);
	st_check(st_array_has(&b, "flags", "execve"), name, NULL);
	st_body_free(&b);
}

/* Check the single exit record of pid: status, and signal name or none. */
static void st_check_exit(const struct cbpf *cb, const char *what, pid_t pid, unsigned status,
			  const char *signame)
{
	const struct st_rec *rec = st_find(VIGIL_EV_EXIT, pid, 0);
	char name[128], got[64], detail[96];
	struct st_body b;
	int n = st_count(VIGIL_EV_EXIT, pid);

	snprintf(name, sizeof(name), "%s: exactly one exit record", what);
	snprintf(detail, sizeof(detail), "%d", n);
	st_check(n == 1, name, detail);
	if (!rec || st_body(cb, rec, &b))
		return;
	snprintf(name, sizeof(name), "%s: exit status %u", what, status);
	st_check(st_uint_is(&b, "status", status), name, NULL);
	snprintf(name, sizeof(name), "%s: signal %s", what, signame ? signame : "absent");
	if (signame)
		st_check(st_obj_str_is(st_get(&b, "signal"), signame), name,
			 st_str(&b, "signal", got, sizeof(got)));
	else
		st_check(st_get(&b, "signal") == NULL, name, NULL);
	st_body_free(&b);
}

/* This process's loginuid (auid), 4294967295 when unknown. */
static uint64_t st_loginuid(void)
{
	unsigned long v = 4294967295UL;
	FILE *f = fopen("/proc/self/loginuid", "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 4294967295UL;
		fclose(f);
	}
	return v;
}

/* Inode of this process's cgroup v2 directory (= its cgroup id), 0 if unknown. */
static uint64_t st_cgroup_id(void)
{
	static const char *const roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
	char line[PATH_MAX], path[2 * PATH_MAX];
	uint64_t id = 0;
	struct stat sb;
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			for (int i = 0; i < 2 && !id; i++) {
				snprintf(path, sizeof(path), "%s%s", roots[i], line + 3);
				if (!stat(path, &sb) &&
				    !access(strcat(path, "/cgroup.procs"), F_OK))
					id = sb.st_ino;
			}
		}
	if (f)
		fclose(f);
	return id;
}

/* Test: /bin/echo hello-<random>: exec fields, clone, exit 0, wire keys. */
static void st_test_echo(struct cbpf *cb)
{
	char arg[64], cwd[PATH_MAX], echo[PATH_MAX], *argv[] = {"/bin/echo", arg, NULL};
	char *args[] = {arg, NULL};
	const struct st_rec *rec;
	struct st_body b;
	pid_t pid;
	uint64_t exec_pktime = 0;

	snprintf(arg, sizeof(arg), "hello-%08lx", (unsigned long)random());
	if (!getcwd(cwd, sizeof(cwd)) || !realpath("/bin/echo", echo)) {
		st_check(0, "echo: setup", strerror(errno));
		return;
	}
	pid = st_run(cb, NULL, argv);
	st_check_exec(cb, "echo", pid, echo, cwd, args);
	st_check_exit(cb, "echo", pid, 0, NULL);
	rec = st_find(VIGIL_EV_EXEC, pid, 0);
	if (rec && !st_body(cb, rec, &b)) {
		int64_t now = cbpf_now(CLOCK_REALTIME);
		const msgpack_object *t = st_get(&b, "time");
		static const char *const keys[] = {
		    "time",	   "ktime", "pid",  "nspid", "tid",   "ppid",	 "pktime",
		    "start_ktime", "uid",   "euid", "gid",   "egid",	 "auid",
		    "binary",	   "args",  "cwd",  "flags", "cgroup_id", "process"};
		int all = b.map->via.map.size == 19;

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			all = all && st_get(&b, keys[i]);
		st_check(all, "echo: exec body has exactly the 19 keys of wire.md 4.1 + process", NULL);
		st_check(st_uint_is(&b, "pid", pid) && st_uint_is(&b, "tid", pid),
			 "echo: pid and tid", NULL);
		/* the test runs in the host pid namespace: both numberings agree */
		st_check(st_uint_is(&b, "nspid", pid), "echo: nspid = pid (host pid namespace)",
			 NULL);
		st_check(st_uint_is(&b, "ppid", getpid()), "echo: ppid", NULL);
		if (st_get(&b, "pktime"))
			exec_pktime = st_get(&b, "pktime")->via.u64;
		st_check(st_uint_is(&b, "uid", getuid()) && st_uint_is(&b, "euid", geteuid()) &&
			     st_uint_is(&b, "gid", getgid()) && st_uint_is(&b, "egid", getegid()),
			 "echo: uid/euid/gid/egid", NULL);
		st_check(st_uint_is(&b, "auid", st_loginuid()), "echo: auid = /proc/self/loginuid",
			 NULL);
		st_check(st_uint_is(&b, "cgroup_id", st_cgroup_id()),
			 "echo: cgroup_id = inode of the cgroup v2 directory", NULL);
		st_check(t && t->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			     llabs((int64_t)t->via.u64 - now) < 5000000000LL,
			 "echo: time is wall clock (within 5 s)", NULL);
		st_body_free(&b);
	}
	rec = st_find(VIGIL_EV_CLONE, pid, 0);
	st_check(rec != NULL, "echo: clone record", NULL);
	if (rec && !st_body(cb, rec, &b)) {
		st_check(st_uint_is(&b, "ppid", getpid()) && b.map->via.map.size == 7 &&
			     exec_pktime && st_uint_is(&b, "pktime", exec_pktime),
			 "echo: clone ppid, pktime and 7 keys", NULL);
		st_check(st_uint_is(&b, "nspid", pid), "echo: clone nspid = pid (host)", NULL);
		st_body_free(&b);
	}
}

/* Write s to file path; returns 0 on success. */
static int st_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), rc;

	if (fd < 0)
		return -1;
	rc = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return rc;
}

/* Child body: set loginuid 4242, join cgroup dir arg, exec /bin/true. */
static void st_auid_cgroup_exec(void *arg)
{
	char *argv[] = {"/bin/true", NULL}, path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", (char *)arg);
	if (st_write_file("/proc/self/loginuid", "4242") || st_write_file(path, "0"))
		_exit(125);
	execv(argv[0], argv);
}

/* Test: auid set through /proc/self/loginuid, and a non-root v2 cgroup id. */
static void st_test_auid_cgroup(struct cbpf *cb)
{
	const char *dir = "/sys/fs/cgroup/unified/vigil-cbpf-selftest";
	const struct st_rec *rec;
	struct st_body b;
	struct stat sb;
	pid_t pid;
	int status;

	if ((mkdir(dir, 0755) && errno != EEXIST) || stat(dir, &sb)) {
		st_check(0, "auid/cgroup: setup", strerror(errno));
		return;
	}
	pid = st_spawn(NULL, st_auid_cgroup_exec, (void *)dir);
	status = st_wait(pid);
	st_drain(cb);
	st_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "auid/cgroup: child set loginuid, joined the cgroup and ran /bin/true", NULL);
	rec = st_find(VIGIL_EV_EXEC, pid, 0);
	if (rec && !st_body(cb, rec, &b)) {
		st_check(st_uint_is(&b, "auid", 4242), "auid/cgroup: auid 4242", NULL);
		st_check(st_uint_is(&b, "cgroup_id", sb.st_ino),
			 "auid/cgroup: cgroup_id = inode of the new cgroup", NULL);
		st_body_free(&b);
	} else {
		st_check(0, "auid/cgroup: exec record", NULL);
	}
	if (rmdir(dir))
		st_check(0, "auid/cgroup: cleanup", strerror(errno));
}

/* Test: exit(3) through the shell, and a SIGKILLed child. */
static void st_test_exit_codes(struct cbpf *cb)
{
	char *sh[] = {"/bin/sh", "-c", "exit 3", NULL};
	char *sleep_argv[] = {"/bin/sleep", "30", NULL};
	pid_t pid;

	pid = st_run(cb, NULL, sh);
	st_check_exit(cb, "sh exit 3", pid, 3, NULL);

	pid = st_spawn(NULL, st_exec, sleep_argv);
	usleep(100 * 1000);
	kill(pid, SIGKILL);
	st_wait(pid);
	st_drain(cb);
	st_check_exit(cb, "sleep killed", pid, 0, "SIGKILL");
}

/* Thread body: exit the whole group with status 5 from a non-main thread. */
static void *st_thread_exit_group(void *arg)
{
	(void)arg;
	usleep(20 * 1000);
	exit(5);
}

/* Thread body: return at once. */
static void *st_thread_noop(void *arg)
{
	return arg;
}

/* Child body: 4 short-lived threads, then one that calls exit(5). */
static void st_threads(void *arg)
{
	pthread_t t;

	(void)arg;
	for (int i = 0; i < 4; i++)
		if (!pthread_create(&t, NULL, st_thread_noop, NULL))
			pthread_join(t, NULL);
	if (!pthread_create(&t, NULL, st_thread_exit_group, NULL))
		for (;;)
			pause();
}

/* Test: a multi-threaded process gives one clone and one exit. */
static void st_test_threads(struct cbpf *cb)
{
	pid_t pid = st_spawn(NULL, st_threads, NULL);

	st_wait(pid);
	st_drain(cb);
	st_check(st_count(VIGIL_EV_CLONE, pid) == 1, "threads: one clone record (threads ignored)",
		 NULL);
	st_check_exit(cb, "threads: exit(5) from a thread", pid, 5, NULL);
}

/* Copy file src to dst with mode 0755; returns 0 on success. */
static int st_copy(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	int rc = in >= 0 && out >= 0 ? 0 : -1;

	while (!rc && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			rc = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Test: relative path from a chdir'ed dir, a symlink, a bind mount. */
static void st_test_paths(struct cbpf *cb)
{
	char tmpl[] = "/tmp/cbpf-selftest.XXXXXX", dir[PATH_MAX], p[2 * PATH_MAX];
	char bin[PATH_MAX + 64], bind[PATH_MAX + 64], want[2 * PATH_MAX], truebin[PATH_MAX];
	char *rel[] = {"bin/mytrue", "rel-arg", NULL}, *relargs[] = {"rel-arg", NULL};
	char *dot[] = {"./mytrue", NULL}, *argv[] = {p, NULL};
	pid_t pid;

	if (!mkdtemp(tmpl) || !realpath(tmpl, dir) || !realpath("/bin/true", truebin)) {
		st_check(0, "paths: setup", strerror(errno));
		return;
	}
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(bind, sizeof(bind), "%s/bind", dir);
	snprintf(p, sizeof(p), "%s/mytrue", bin);
	if (mkdir(bin, 0755) || mkdir(bind, 0755) || st_copy(truebin, p)) {
		st_check(0, "paths: setup", strerror(errno));
		goto out;
	}

	pid = st_run(cb, dir, rel);
	st_check_exec(cb, "relative exec", pid, p, dir, relargs);

	snprintf(p, sizeof(p), "%s/link", dir);
	if (symlink(truebin, p)) {
		st_check(0, "symlink: setup", strerror(errno));
	} else {
		pid = st_run(cb, NULL, argv);
		st_check_exec(cb, "symlink exec", pid, truebin, NULL, NULL);
	}

	if (mount(bin, bind, NULL, MS_BIND, NULL)) {
		st_check(0, "bind mount: setup", strerror(errno));
		goto out;
	}
	snprintf(p, sizeof(p), "%s/mytrue", bind);
	pid = st_run(cb, NULL, argv);
	st_check_exec(cb, "bind mount exec", pid, p, NULL, NULL);
	pid = st_run(cb, bind, dot);
	snprintf(want, sizeof(want), "%s/mytrue", bind);
	st_check_exec(cb, "bind mount cwd", pid, want, bind, NULL);
	if (umount2(bind, MNT_DETACH))
		st_check(0, "bind mount: cleanup", strerror(errno));
out:
	snprintf(p, sizeof(p), "%s/bin/mytrue", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	rmdir(bind);
	rmdir(bin);
	rmdir(dir);
}

/* Child body: chroot to arg, chdir to its "/", exec /usr/bin/true. */
static void st_chroot_exec(void *arg)
{
	char *argv[] = {"/usr/bin/true", NULL};

	if (chroot(arg) || chdir("/"))
		_exit(124);
	execv(argv[0], argv);
}

/* Test: paths inside a chroot are relative to its root; cwd "/" is rootcwd. */
static void st_test_chroot(struct cbpf *cb)
{
	char tmpl[] = "/tmp/cbpf-chroot.XXXXXX", usr[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX];
	const struct st_rec *rec;
	struct st_body b;
	pid_t pid;

	if (!mkdtemp(tmpl)) {
		st_check(0, "chroot: setup", strerror(errno));
		return;
	}
	snprintf(usr, sizeof(usr), "%s/usr", tmpl);
	snprintf(l1, sizeof(l1), "%s/lib", tmpl);
	snprintf(l2, sizeof(l2), "%s/lib64", tmpl);
	if (mkdir(usr, 0755) || symlink("usr/lib", l1) || symlink("usr/lib64", l2) ||
	    mount("/usr", usr, NULL, MS_BIND | MS_REC, NULL)) {
		st_check(0, "chroot: setup", strerror(errno));
		goto out;
	}
	pid = st_spawn(NULL, st_chroot_exec, tmpl);
	st_check(WIFEXITED(st_wait(pid)), "chroot: child exited", NULL);
	st_drain(cb);
	st_check_exec(cb, "chroot exec", pid, "/usr/bin/true", "/", NULL);
	rec = st_find(VIGIL_EV_EXEC, pid, 0);
	if (rec && !st_body(cb, rec, &b)) {
		st_check(st_array_has(&b, "flags", "rootcwd"), "chroot exec: rootcwd flag", NULL);
		st_body_free(&b);
	}
	if (umount2(usr, MNT_DETACH))
		st_check(0, "chroot: cleanup", strerror(errno));
out:
	unlink(l1);
	unlink(l2);
	rmdir(usr);
	rmdir(tmpl);
}

/* Test: a record that does not fit the ring is counted in lost[type]. */
static void st_test_lost(void)
{
	static char big[4000];
	char *argv[] = {"/bin/true", big, NULL}, err[256];
	struct cbpf_stats st;
	struct cbpf *small;

	memset(big, 'x', sizeof(big) - 1);
	if (cbpf_open(&small, 4096, CBPF_OPS_STDIO, 0, NULL, err, sizeof(err))) {
		st_check(0, "lost: open a second instance with a 4 KiB ring", err);
		return;
	}
	st_wait(st_spawn(NULL, st_exec, argv));
	cbpf_stats(small, &st);
	st_check(st.lost[VIGIL_EV_EXEC] >= 1 && st.lost_total >= st.lost[VIGIL_EV_EXEC],
		 "lost: exec record larger than a 4 KiB ring counted as lost", NULL);
	cbpf_close(small);
}

#define ST_DEEP_LEVELS 22 /* 22 * 201 bytes: deeper than VIGIL_PATH_MAX */

/* Component name of the deep-path test: 200 times 'd'. */
static const char *st_deep_name(void)
{
	static char name[201];

	memset(name, 'd', 200);
	return name;
}

/* Child body: exec ./mytrue in the deepest directory (cwd set by st_spawn). */
static void st_deep_exec(void *arg)
{
	char *argv[] = {"./mytrue", NULL};

	for (int i = 0; i < ST_DEEP_LEVELS; i++)
		if (chdir(st_deep_name()))
			_exit(126);
	(void)arg;
	execv(argv[0], argv);
}

/* Test: a path longer than VIGIL_PATH_MAX keeps its tail and is flagged. */
static void st_test_deep(struct cbpf *cb)
{
	char tmpl[] = "/tmp/cbpf-deep.XXXXXX", cwd[PATH_MAX], truebin[PATH_MAX];
	const struct st_rec *rec;
	struct st_body b;
	int fd, i, ok = 1;
	pid_t pid;

	if (!getcwd(cwd, sizeof(cwd)) || !realpath("/bin/true", truebin) || !mkdtemp(tmpl) ||
	    chdir(tmpl)) {
		st_check(0, "deep path: setup", strerror(errno));
		return;
	}
	for (i = 0; ok && i < ST_DEEP_LEVELS; i++)
		ok = !mkdir(st_deep_name(), 0755) && !chdir(st_deep_name());
	ok = ok && !st_copy(truebin, "mytrue");
	fd = open(".", O_RDONLY | O_DIRECTORY);
	if (chdir(tmpl) || !ok) {
		st_check(0, "deep path: setup", strerror(errno));
	} else {
		pid = st_spawn(tmpl, st_deep_exec, NULL);
		st_wait(pid);
		st_drain(cb);
		rec = st_find(VIGIL_EV_EXEC, pid, 0);
		st_check(rec != NULL, "deep path: exec record", NULL);
		if (rec && !st_body(cb, rec, &b)) {
			const msgpack_object *o = st_get(&b, "binary");
			char got[96] = "<none>";

			if (o && o->type == MSGPACK_OBJECT_STR)
				snprintf(got, sizeof(got), "%u bytes: %.40s...%.20s", o->via.str.size,
					 o->via.str.ptr, o->via.str.size > 20 ?
					 o->via.str.ptr + o->via.str.size - 20 : "");
			st_check(o && o->type == MSGPACK_OBJECT_STR &&
				     o->via.str.size <= VIGIL_PATH_MAX && o->via.str.size > 3000 &&
				     o->via.str.ptr[0] == '/' &&
				     !memcmp(o->via.str.ptr + o->via.str.size - 7, "/mytrue", 7),
				 "deep path: binary keeps its last components", got);
			st_check(st_array_has(&b, "flags", "truncFilename"),
				 "deep path: truncFilename flag", NULL);
			st_check(st_array_has(&b, "flags", "errorPathResolutionCwd"),
				 "deep path: errorPathResolutionCwd flag", NULL);
			st_body_free(&b);
		}
	}
	/* cleanup from the bottom up */
	if (fd >= 0 && !fchdir(fd)) {
		unlink("mytrue");
		for (i = 0; i < ST_DEEP_LEVELS && !chdir(".."); i++)
			rmdir(st_deep_name());
	}
	if (fd >= 0)
		close(fd);
	rmdir(tmpl);
	if (chdir(cwd))
		st_check(0, "deep path: cleanup", strerror(errno));
}

/* Child body: fexecve a memfd copy of /bin/true. */
static void st_memfd_exec(void *arg)
{
	char *argv[] = {"memfd-true", NULL}, *envp[] = {NULL};
	int fd = memfd_create("vigil-test", MFD_CLOEXEC);

	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fd < 0 || st_copy(arg, path))
		_exit(122);
	fexecve(fd, argv, envp);
}

/* Test: fileless exec through a memfd shows as "/memfd:<name>". */
static void st_test_memfd(struct cbpf *cb)
{
	char truebin[PATH_MAX], cwd[PATH_MAX];
	int status;
	pid_t pid;

	if (!realpath("/bin/true", truebin) || !getcwd(cwd, sizeof(cwd)))
		return;
	pid = st_spawn(NULL, st_memfd_exec, truebin);
	status = st_wait(pid);
	st_drain(cb);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 121) {
		/* fexecve returned: no exec happened (5.10 under qemu refuses it) */
		printf("info: memfd exec: fexecve failed here, not checked\n");
		return;
	}
	st_check_exec(cb, "memfd exec", pid, "/memfd:vigil-test", cwd, NULL);
}

/* Test: arguments beyond VIGIL_ARGS_MAX are cut and flagged truncArgs. */
static void st_test_long_args(struct cbpf *cb)
{
	static char big[3][2000];
	char *argv[] = {"/bin/true", big[0], big[1], big[2], NULL};
	const struct st_rec *rec;
	struct st_body b;
	pid_t pid;

	for (int i = 0; i < 3; i++) {
		memset(big[i], 'a' + i, sizeof(big[i]) - 1);
		big[i][sizeof(big[i]) - 1] = '\0';
	}
	pid = st_run(cb, NULL, argv);
	rec = st_find(VIGIL_EV_EXEC, pid, 0);
	st_check(rec != NULL, "long args: exec record", NULL);
	if (rec && !st_body(cb, rec, &b)) {
		const msgpack_object *a = st_get(&b, "args");

		st_check(st_array_has(&b, "flags", "truncArgs"), "long args: truncArgs flag", NULL);
		st_check(a && a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size == 3 &&
			     a->via.array.ptr[2].via.str.size == VIGIL_ARGS_MAX - 2 * 2000,
			 "long args: 2 whole args and a cut third", NULL);
		st_body_free(&b);
	}
}

/* Test: after idle, a single exec wakes the poller (forced wakeup). */
static void st_test_wakeup(struct cbpf *cb)
{
	char *argv[] = {"/bin/true", NULL};
	struct pollfd pfd = {.fd = cbpf_fd(cb), .events = POLLIN};
	pid_t pid;
	int n;

	st_drain(cb);
	usleep(50 * 1000);
	st_drain(cb);
	pid = st_spawn(NULL, st_exec, argv);
	n = poll(&pfd, 1, 2000);
	st_wait(pid);
	st_check(n == 1 && (pfd.revents & POLLIN), "wakeup: idle consumer woken by an event", NULL);
	st_drain(cb);
}

/* Test: malformed records are counted and skipped, never emitted. */
static void st_test_bad_records(struct cbpf *cb)
{
	struct vigil_ev_exec e = {.hdr = {.type = VIGIL_EV_EXEC, .size = sizeof(e)}};
	unsigned char junk[64] = {0};
	uint64_t before = cb->bad_records;
	size_t n = st_nrecs;

	cb->emit = st_keep;
	cbpf_on_sample(cb, junk, 3);		/* shorter than a header */
	cbpf_on_sample(cb, junk, sizeof(junk)); /* type 0, size mismatch */
	e.binary_len = 10;			/* tail beyond the record */
	cbpf_on_sample(cb, &e, sizeof(e));
	e.binary_len = 0;
	e.hdr.type = 99; /* unknown type */
	cbpf_on_sample(cb, &e, sizeof(e));
	cb->emit = NULL;
	st_check(cb->bad_records - before == 4 && st_nrecs == n,
		 "validation: 4 bad records counted and skipped", NULL);
}

/* The last file record of pid with operation op; NULL if none. */
static const struct st_rec *st_find_file(uint32_t pid, unsigned op)
{
	const struct st_rec *last = NULL;

	for (int n = 0;; n++) {
		const struct st_rec *r = st_find(VIGIL_EV_FILE, pid, n);
		struct vigil_ev_file f;

		if (!r)
			return last;
		memcpy(&f, r->data, sizeof(f));
		if (f.op == op)
			last = r;
	}
}

/* The arg at index i of the body's args array whose single key is kind,
 * or NULL; with kind "path"/"file" the path string of a path/file arg. */
static const msgpack_object *st_arg(const struct st_body *b, size_t i, const char *kind)
{
	const msgpack_object *a = st_get(b, "args"), *m;

	if (!a || a->type != MSGPACK_OBJECT_ARRAY || i >= a->via.array.size)
		return NULL;
	m = &a->via.array.ptr[i];
	if (m->type != MSGPACK_OBJECT_MAP || m->via.map.size < 1 ||
	    !st_obj_str_is(&m->via.map.ptr[0].key, kind))
		return NULL;
	return &m->via.map.ptr[0].val;
}

/* The "path" of a file_arg/path_arg map m into buf. */
static const char *st_argpath(const msgpack_object *m, char *buf, size_t n)
{
	snprintf(buf, n, "<none>");
	if (m && m->type == MSGPACK_OBJECT_MAP)
		for (uint32_t i = 0; i < m->via.map.size; i++)
			if (st_obj_str_is(&m->via.map.ptr[i].key, "path") &&
			    m->via.map.ptr[i].val.type == MSGPACK_OBJECT_STR)
				snprintf(buf, n, "%.*s", (int)m->via.map.ptr[i].val.via.str.size,
					 m->via.map.ptr[i].val.via.str.ptr);
	return buf;
}

/* The string_arg labelled label of the body's args into buf ("<none>"). */
static const char *st_labelled(const struct st_body *b, const char *label, char *buf, size_t n)
{
	const msgpack_object *a = st_get(b, "args"), *m;

	snprintf(buf, n, "<none>");
	if (!a || a->type != MSGPACK_OBJECT_ARRAY)
		return buf;
	for (uint32_t i = 0; i < a->via.array.size; i++) {
		m = &a->via.array.ptr[i];
		if (m->type != MSGPACK_OBJECT_MAP || m->via.map.size != 2 ||
		    !st_obj_str_is(&m->via.map.ptr[0].key, "string_arg") ||
		    m->via.map.ptr[0].val.type != MSGPACK_OBJECT_STR ||
		    !st_obj_str_is(&m->via.map.ptr[1].val, label))
			continue;
		snprintf(buf, n, "%.*s", (int)m->via.map.ptr[0].val.via.str.size,
			 m->via.map.ptr[0].val.via.str.ptr);
	}
	return buf;
}

/* Check the mount_path label of pid's last openat record. */
static void st_check_mount_path(struct cbpf *cb, const char *what, pid_t pid, const char *want)
{
	const struct st_rec *rec = st_find_file(pid, VIGIL_OP_OPENAT);
	char got[PATH_MAX + 16], name[160];
	struct st_body b;

	snprintf(name, sizeof(name), "file: %s: mount_path", what);
	if (!rec || st_body(cb, rec, &b)) {
		st_check(0, name, "no record");
		return;
	}
	st_labelled(&b, "mount_path", got, sizeof(got));
	st_check(!strcmp(got, want), name, got);
	st_body_free(&b);
}

/* How a child opens the target in st_test_files. */
struct st_open {
	const char *what;
	const char *cwd;  /* chdir first, or NULL */
	const char *dir;  /* openat dirfd from this directory, or NULL: AT_FDCWD */
	char name[PATH_MAX];
	int flags;
};

/* Child body: one openat as described by arg, then exit. */
static void st_open_child(void *arg)
{
	struct st_open *o = arg;
	int dfd = AT_FDCWD;

	if (o->cwd && chdir(o->cwd))
		_exit(119);
	if (o->dir && (dfd = open(o->dir, O_RDONLY | O_DIRECTORY)) < 0)
		_exit(118);
	_exit(openat(dfd, o->name, o->flags) < 0 ? 1 : 0);
}

/* Check the open of pid: file_arg path want, return ok or errno. */
static void st_check_open(struct cbpf *cb, const char *what, pid_t pid, const char *want,
			  int want_err, int want_flags)
{
	const struct st_rec *rec = st_find_file(pid, VIGIL_OP_OPENAT);
	char got[PATH_MAX + 16], name[160];
	const msgpack_object *ret;
	struct st_body b;

	snprintf(name, sizeof(name), "file: %s: openat record", what);
	st_check(rec != NULL, name, NULL);
	if (!rec || st_body(cb, rec, &b))
		return;
	snprintf(name, sizeof(name), "file: %s: function_name security_file_open", what);
	st_check(st_obj_str_is(st_get(&b, "function_name"), "security_file_open"), name, NULL);
	snprintf(name, sizeof(name), "file: %s: path", what);
	st_argpath(st_arg(&b, 0, "file_arg"), got, sizeof(got));
	st_check(!strcmp(got, want), name, got);
	ret = st_get(&b, "return");
	ret = ret && ret->type == MSGPACK_OBJECT_MAP && ret->via.map.size == 1 ?
		      &ret->via.map.ptr[0].val :
		      NULL;
	snprintf(name, sizeof(name), "file: %s: return %s", what, want_err ? "-errno" : "fd");
	st_check(ret && (want_err ? ret->type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
					    ret->via.i64 == -want_err :
				    ret->type == MSGPACK_OBJECT_POSITIVE_INTEGER),
		 name, NULL);
	st_check(st_uint_is(&b, "start_ktime", 0) == 0 && st_uint_is(&b, "pid", pid),
		 "file: pid and start_ktime set", NULL);
	/* the open's flags, read from the task's saved user registers */
	ret = st_arg(&b, 1, "int_arg");
	snprintf(name, sizeof(name), "file: %s: flags %#o", what, (unsigned)want_flags);
	st_check(ret && (ret->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
			 ret->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) &&
			 ret->via.i64 == want_flags, name, NULL);
	st_body_free(&b);
}

/* Test: opens spelled every evasive way resolve to the real path. */
static void st_test_files(struct cbpf *cb)
{
	char tmpl[] = "/tmp/cbpf-file.XXXXXX", bind[] = "/tmp/cbpf-bind.XXXXXX";
	char real[PATH_MAX], target[PATH_MAX + 16], sub[PATH_MAX + 16], link[PATH_MAX + 16];
	struct st_open o;
	int fd, bound = 0;
	pid_t pid;

	if (!cbpf_has(cb, VIGIL_EV_FILE)) {
		st_check(0, "file: file.bpf.o loaded", cbpf_note(cb));
		return;
	}
	if (!mkdtemp(tmpl) || !realpath(tmpl, real)) {
		st_check(0, "file: setup", strerror(errno));
		return;
	}
	snprintf(target, sizeof(target), "%s/shadow", real);
	snprintf(sub, sizeof(sub), "%s/sub", real);
	snprintf(link, sizeof(link), "%s/link", real);
	fd = open(target, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || mkdir(sub, 0700) || symlink(target, link)) {
		st_check(0, "file: setup", strerror(errno));
		goto out;
	}
	struct {
		const char *what, *cwd, *dir, *name;
	} cases[] = {
		{ "cd dir; open shadow", real, NULL, "shadow" },
		{ "dir//./shadow", NULL, NULL, "%s//./shadow" },
		{ "dir/sub/../shadow", NULL, NULL, "%s/sub/../shadow" },
		{ "symlink", NULL, NULL, "%s/link" },
		{ "openat dirfd", NULL, real, "shadow" },
		{ "openat dirfd ../", NULL, sub, "../shadow" },
		{ "cwd sub, ../link", sub, NULL, "../link" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.cwd = cases[i].cwd;
		o.dir = cases[i].dir;
		snprintf(o.name, sizeof(o.name), cases[i].name, real);
		o.flags = O_RDONLY | O_CLOEXEC | (i % 2 ? O_NOCTTY : O_NONBLOCK);
		pid = st_spawn(NULL, st_open_child, &o);
		st_wait(pid);
		st_drain(cb);
		st_check_open(cb, cases[i].what, pid, target, 0, o.flags);
	}
	/* a failed open: the user's string joined to the dirfd's path, -ENOENT */
	memset(&o, 0, sizeof(o));
	o.dir = sub;
	snprintf(o.name, sizeof(o.name), "..//nothere");
	pid = st_spawn(NULL, st_open_child, &o);
	st_wait(pid);
	st_drain(cb);
	snprintf(link, sizeof(link), "%s/nothere", real);
	st_check_open(cb, "failed open", pid, link, ENOENT, 0);
	/* a bind mount of the directory: the source's path, the mount's path
	 * in mount_path (from /proc/self/mountinfo; the mount is brand new) */
	if (mkdtemp(bind) && !mount(real, bind, NULL, MS_BIND, NULL)) {
		bound = 1;
		memset(&o, 0, sizeof(o));
		snprintf(o.name, sizeof(o.name), "%s/shadow", bind);
		pid = st_spawn(NULL, st_open_child, &o);
		st_wait(pid);
		st_drain(cb);
		snprintf(link, sizeof(link), "%s/shadow", bind);
		st_check_open(cb, "bind mount (source path)", pid, target, 0, 0);
		st_check_mount_path(cb, "bind mount", pid, link);
		/* failed open by dirfd in the mount: the directory is unbound too */
		memset(&o, 0, sizeof(o));
		o.dir = bind;
		snprintf(o.name, sizeof(o.name), "nothere");
		pid = st_spawn(NULL, st_open_child, &o);
		st_wait(pid);
		st_drain(cb);
		snprintf(link, sizeof(link), "%s/nothere", real);
		st_check_open(cb, "bind mount failed open", pid, link, ENOENT, 0);
		snprintf(link, sizeof(link), "%s/nothere", bind);
		st_check_mount_path(cb, "bind mount failed open", pid, link);
		/* a plain open: no mount_path */
		memset(&o, 0, sizeof(o));
		if (strlen(target) < sizeof(o.name))
			memcpy(o.name, target, strlen(target) + 1);
		pid = st_spawn(NULL, st_open_child, &o);
		st_wait(pid);
		st_drain(cb);
		st_check_mount_path(cb, "no bind mount", pid, "<none>");
	} else {
		st_check(0, "file: bind mount setup", strerror(errno));
	}
out:
	if (bound)
		umount2(bind, MNT_DETACH);
	rmdir(bind);
	snprintf(link, sizeof(link), "%s/link", real);
	unlink(link);
	unlink(target);
	rmdir(sub);
	rmdir(real);
}

/* Test: malformed file/net records are counted and skipped. */
static void st_test_bad_file_records(struct cbpf *cb)
{
	struct vigil_ev_file f = {.hdr = {.type = VIGIL_EV_FILE, .size = sizeof(f)},
				  .op = VIGIL_OP_OPENAT};
	struct vigil_ev_net n = {.hdr = {.type = VIGIL_EV_NET, .size = sizeof(n)}};
	uint64_t before = cb->bad_records;
	size_t count = st_nrecs;

	cb->emit = st_keep;
	f.path_len = 5; /* tail beyond the record */
	cbpf_on_sample(cb, &f, sizeof(f));
	f.path_len = 0;
	f.op = 0; /* unknown operation */
	cbpf_on_sample(cb, &f, sizeof(f));
	f.op = VIGIL_OP_FILE_MAX;
	cbpf_on_sample(cb, &f, sizeof(f));
	f.op = VIGIL_OP_OPENAT;
	f.name_len = 0xffff; /* longer than VIGIL_PATH_MAX */
	cbpf_on_sample(cb, &f, sizeof(f));
	cbpf_on_sample(cb, &n, sizeof(n)); /* net op 0 */
	cbpf_on_sample(cb, &f, sizeof(f) - 8); /* short */
	cb->emit = NULL;
	st_check(cb->bad_records - before == 6 && st_nrecs == count,
		 "validation: 6 bad file/net records counted and skipped", NULL);
}

/* Open file descriptors of this process. */
static int st_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/*
 * Test: no descriptor is left behind by an open/close cycle, by a filter
 * change that detaches and attaches programs, or by adopting the pins of a
 * collector that died without cleaning up (a child that _exits with its
 * pins in place: the kill -9 case). A clean close removes the pin directory.
 */
static void st_test_fds(void)
{
	char dir[128], err[256], what[160];
	struct cbpf_opts o = { .ops = CBPF_OPS_STDIO | CBPF_OPS_FILE, .ringbuf_bytes = 1 << 20,
			       .proc_ringbuf_bytes = 1 << 20 };
	char owner[] = "/tmp/cbpf-owner.XXXXXX";
	struct cbpf *c;
	int base, now, adopted = 0;

	/* a run directory of our own: if this test dies, the next collector that
	 * starts after /tmp is cleaned removes the pins */
	if (!mkdtemp(owner)) {
		st_check(0, "fds: mkdtemp", strerror(errno));
		return;
	}
	o.owner = owner;
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/vigil-collector-selftest-%d", (int)getpid());
	o.pin_dir = dir;
	base = st_count_fds();
	for (int round = 0; round < 3; round++) {
		pid_t child = fork();

		if (child == 0) { /* a collector that dies with its pins in place */
			_exit(cbpf_open_opts(&c, &o, NULL, err, sizeof(err)) ? 1 : 0);
		}
		st_wait(child);
		if (cbpf_open_opts(&c, &o, NULL, err, sizeof(err))) {
			st_check(0, "fds: open over a dead collector's pins", err);
			break;
		}
		adopted += cbpf_adopted(c) > 0;
		for (int i = 0; i < 4; i++) /* detach, attach the file programs */
			cbpf_set_filter(c, i % 2 ? CBPF_OPS_STDIO | CBPF_OPS_FILE : CBPF_OPS_STDIO, 0);
		cbpf_close(c);
		now = st_count_fds();
		snprintf(what, sizeof(what), "fds: round %d: %d open, %d before", round, now, base);
		st_check(now == base, what, NULL);
		st_check(access(dir, F_OK) < 0, "fds: a clean close removes the pin directory", dir);
	}
	st_check(adopted == 3, "fds: every round adopted the dead collector's links", NULL);
	if (access(dir, F_OK) == 0) { /* a failed round: leave nothing attached */
		if (cbpf_open_opts(&c, &o, NULL, err, sizeof(err)) == 0)
			cbpf_close(c);
	}
	rmdir(owner);
}

/* Self-test entry point; "--vm" runs the subset that a bare initramfs under qemu
 * can (tests/vm/test_collector_vm*.py: no cgroups, no /usr, no pins, slow CPU). */
int main(int argc, char **argv)
{
	int vm = argc > 1 && !strcmp(argv[1], "--vm");
	char err[256];
	struct cbpf_stats st;
	struct cbpf *cb;

	srandom(getpid() ^ time(NULL));
	if (cbpf_open(&cb, 0, CBPF_OPS_STDIO, 0, NULL, err, sizeof(err))) {
		printf("FAIL: cbpf_open: %s\n", err);
		return 1;
	}
	printf("info: ring %u bytes, exit_has_group_dead=%u, builds %s\n",
	       bpf_map__max_entries(cb->skel->maps.rb), cb->skel->rodata->exit_has_group_dead,
	       cbpf_build_name(cb));
	cbpf_set_filter(cb, CBPF_OPS_STDIO, 0);
	printf("info: note: %s\n", cbpf_note(cb)[0] ? cbpf_note(cb) : "<none>");
	if (vm) {
		st_test_echo(cb);
		st_test_exit_codes(cb);
		st_test_paths(cb);
		st_test_memfd(cb);
		st_test_deep(cb);
		st_test_long_args(cb);
		cbpf_set_filter(cb, CBPF_OPS_FILE, 0);
		st_test_files(cb);
		cbpf_set_filter(cb, CBPF_OPS_STDIO, 0);
		goto done;
	}
	st_test_wakeup(cb);
	st_test_echo(cb);
	st_test_exit_codes(cb);
	st_test_threads(cb);
	st_test_paths(cb);
	st_test_memfd(cb);
	st_test_deep(cb);
	st_test_chroot(cb);
	st_test_auid_cgroup(cb);
	st_test_lost();
	st_test_long_args(cb);
	st_test_bad_records(cb);
	/* file events only while they are tested: other processes' opens on a
	 * busy machine would fill the ring between drains */
	cbpf_set_filter(cb, CBPF_OPS_FILE, 0);
	st_test_files(cb);
	cbpf_set_filter(cb, CBPF_OPS_STDIO, 0);
	st_test_bad_file_records(cb);
	st_test_fds();
done:
	cbpf_stats(cb, &st);
	printf("info: emitted exec=%llu exit=%llu clone=%llu lost=%llu received=%llu bad=%llu\n",
	       (unsigned long long)st.emitted[VIGIL_EV_EXEC],
	       (unsigned long long)st.emitted[VIGIL_EV_EXIT],
	       (unsigned long long)st.emitted[VIGIL_EV_CLONE], (unsigned long long)st.lost_total,
	       (unsigned long long)st.received, (unsigned long long)st.bad_records);
	st_check(st.emitted[VIGIL_EV_EXEC] > 0 && st.lost_total == 0, "stats: emitted, none lost",
		 NULL);
	cbpf_close(cb);
	cbpf_close(NULL);
	printf("%s\n", st_failed ? "FAIL: cbpf selftest" : "PASS: cbpf selftest");
	return st_failed;
}

#endif /* CBPF_SELFTEST */
