/* vm_enforce — the enforcer's kernel side (enforcer/enforcer_bpf.c + bpf/enforce.bpf.c,
 * the same object and map layout the stage uses), run as a static binary inside a
 * stock Debian kernel under qemu, where BPF LSM loads. Prints one "PASS name" or
 * "FAIL name: why" line per check and "VM-RESULT pass=N fail=M" at the end.
 *
 * Checks: the LSM tier loads; open() of a denied file fails with EACCES and reads no
 * byte; a sibling opens; exec of a denied binary fails with EPERM and never runs; a
 * denied connect fails with EPERM; each block is an OVERRIDE report from the LSM hook;
 * a crashed enforcer (exit without cleanup) leaves the block in force and a new one
 * adopts it; monitor mode lets all three through and reports them.
 *
 * Then the other LSM hooks, one policy each with its own errno: unlink, rename,
 * chmod, setuid, module_load (finit_module), mount, connect (lsm/socket_connect,
 * the policy's errno), and reads of a file opened before the rule (file_permission).
 * Each: the denied operation fails with that errno, an allowed sibling works, monitor
 * mode lets it through and reports it. A hook the kernel refuses gives "SKIP name"
 * lines and the policy must be disarmed (never silently weaker). */
#include <sys/mount.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enforcer.h"
#include "log.h"

#define PIN "/sys/fs/bpf/vigil"
#define SECRET "/tmp/shadow-like"
#define OTHER "/tmp/public"
#define DENIED_BIN "/tmp/denied-bin"

static int npass, nfail;
static int ev_override_file, ev_override_exec, ev_override_net, ev_monitor;
static int ev_hook_override[64], ev_hook_monitor[64];
static int ev_sigkill_open;

static void result(int ok, const char *name, const char *why)
{
	if (ok) {
		npass++;
		printf("PASS %s\n", name);
	} else {
		nfail++;
		printf("FAIL %s: %s\n", name, why);
	}
	fflush(stdout);
}

/* Lazy attachment: does info.attached say no sigkill/kill-map program and nlsm LSM
 * programs are attached? Prints the check. */
static void lazy_check(const struct enfb *b, int nlsm, const char *name)
{
	char want[64], why[400];

	snprintf(want, sizeof(want), "sigkill:0 killmap:0 lsm:%d", nlsm);
	snprintf(why, sizeof(why), "attached \"%s\", want \"%s\"", enfb_attached(b), want);
	result(strstr(enfb_attached(b), want) != NULL, name, why);
}

/* enforcer_bpf.c only needs this from the policy module (no pods in the VM). */
int enfp_pod_matches(const struct enfp_policy *p, const struct enfp_pod *pod)
{
	(void)p;
	(void)pod;
	return 0;
}

const char *enfp_state_name(enum enfp_state s)
{
	return s == ENFP_ARMED ? "armed" : s == ENFP_MONITOR ? "monitor" : "disarmed";
}

static void on_ev(void *arg, const struct enf_event *e)
{
	(void)arg;
	printf("report: hook=%u done=%u policy=%s pid=%u err=%d path=%s\n", e->hook, e->done,
	       e->policy, e->pid, e->err, e->path);
	if (e->hook < 64) {
		if (e->done == ENF_D_MONITOR)
			ev_hook_monitor[e->hook]++;
		else if (e->done == ENF_D_OVERRIDE)
			ev_hook_override[e->hook]++;
	}
	if (e->done == ENF_D_SIGKILL && e->hook == ENF_H_SYS_OPENAT)
		ev_sigkill_open++;
	if (e->done == ENF_D_MONITOR)
		ev_monitor++;
	else if (e->done == ENF_D_OVERRIDE && e->hook == ENF_H_LSM_FILE_OPEN)
		ev_override_file++;
	else if (e->done == ENF_D_OVERRIDE && e->hook == ENF_H_LSM_BPRM)
		ev_override_exec++;
	else if (e->done == ENF_D_OVERRIDE &&
		 (e->hook == ENF_H_CONNECT4 || e->hook == ENF_H_LSM_CONNECT))
		ev_override_net++;
}

static char *s_paths_file[] = { SECRET };
static char *s_paths_exec[] = { DENIED_BIN };
static struct enfp_cidr net_cidr = { .family = 4, .len = 32, .addr = { 127, 0, 0, 2 } };

/* The three-policy set the checks use, in mode monitor or enforce. */
static void make_set(struct enfp_set *s, struct enfp_policy *p, struct enfp_rule *r,
		     uint64_t gen, int monitor)
{
	memset(s, 0, sizeof(*s));
	memset(p, 0, 3 * sizeof(*p));
	memset(r, 0, 3 * sizeof(*r));
	r[0].kind = ENF_K_FILE;
	r[0].paths.v = s_paths_file;
	r[0].paths.n = 1;
	r[1].kind = ENF_K_EXEC;
	r[1].paths.v = s_paths_exec;
	r[1].paths.n = 1;
	r[2].kind = ENF_K_NET4;
	r[2].cidrs = &net_cidr;
	r[2].ncidrs = 1;
	const char *names[] = { "deny-shadow", "deny-exec", "deny-net" };
	const int errs[] = { EACCES, EPERM, ENETUNREACH };
	for (int i = 0; i < 3; i++) {
		snprintf(p[i].name, sizeof(p[i].name), "%s", names[i]);
		p[i].monitor = monitor;
		p[i].action = ENF_A_OVERRIDE;
		p[i].err = errs[i];
		p[i].sig = 9;
		p[i].scope_all = 1;
		p[i].rules = &r[i];
		p[i].nrules = 1;
		p[i].state = ENFP_ARMED;
	}
	s->generation = gen;
	s->pols = p;
	s->n = 3;
}

/* open + read: 0 and the bytes read, or -errno. */
static int try_open(const char *path, int *nread)
{
	char buf[64];
	int fd = open(path, O_RDONLY);

	*nread = 0;
	if (fd < 0)
		return -errno;
	*nread = (int)read(fd, buf, sizeof(buf));
	close(fd);
	return 0;
}

/* Exec path in a child: 0 when it ran (exit 0), else the errno execve gave. */
static int try_exec(const char *path)
{
	int st, pfd[2], e = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
		execl(path, "true", (char *)NULL);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (e)
		return e;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1000 + st;
}

/* connect to 127.0.0.2:port: 0 or errno. */
static int try_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_STREAM, 0), r;

	inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
	r = connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 ? errno : 0;
	close(s);
	return r;
}

static void write_file(const char *p, const char *text)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		close(fd);
	}
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

/* enfb_open, and how long the kernel took to verify and attach (TCG is slow). */
static struct enfb *timed_open(const struct enfb_opts *o, char *err, size_t errlen)
{
	struct timespec a, z;
	struct enfb *b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	b = enfb_open(o, err, errlen);
	clock_gettime(CLOCK_MONOTONIC, &z);
	printf("VM-TIME load %ld ms\n", (z.tv_sec - a.tv_sec) * 1000 + (z.tv_nsec - a.tv_nsec) / 1000000);
	fflush(stdout);
	return b;
}

/* ---- the other LSM hooks ---- */

enum { HK_UNLINK, HK_RENAME, HK_CHMOD, HK_SETUID, HK_MODULE, HK_MOUNT, HK_CONNECT, HK_READ,
       HK_N };
static const struct {
	const char *name, *hook;
	int kind, err, ev_hook;
} hk[HK_N] = {
	{ "unlink", "path_unlink", ENF_K_UNLINK, EACCES, ENF_H_LSM_UNLINK },
	{ "rename", "path_rename", ENF_K_RENAME, ETXTBSY, ENF_H_LSM_RENAME },
	{ "chmod", "path_chmod", ENF_K_CHMOD, EROFS, ENF_H_LSM_CHMOD },
	{ "setuid", "task_fix_setuid", ENF_K_SETUID, EDQUOT, ENF_H_LSM_SETUID },
	{ "module_load", "kernel_read_file", ENF_K_MODULE, ENOKEY, ENF_H_LSM_READ_FILE },
	{ "mount", "sb_mount", ENF_K_MOUNT, ENOLINK, ENF_H_LSM_MOUNT },
	{ "connect", "socket_connect", ENF_K_NET4, ENETUNREACH, ENF_H_LSM_CONNECT },
	{ "read", "file_permission", ENF_K_FILE, EIO, ENF_H_LSM_FPERM },
};
static char *hk_unlink[] = { "/tmp/hk-unlink" };
static char *hk_rename[] = { "/tmp/hk-rename" };
static char *hk_chmod[] = { "/tmp/hk-chmod" };
static char *hk_module[] = { "/tmp/hk-denied.ko" };
static char *hk_mount[] = { "/tmp/hk-mnt" };
static char *hk_read[] = { "/tmp/hk-read" };
static struct enfp_cidr hk_cidr = { .family = 4, .len = 32, .addr = { 127, 0, 0, 2 } };

/* One policy per hook. */
static void make_hook_set(struct enfp_set *s, struct enfp_policy *p, struct enfp_rule *r,
			  uint64_t gen, int monitor, int port)
{
	char **paths[HK_N] = { hk_unlink, hk_rename, hk_chmod, NULL, hk_module, hk_mount, NULL,
			       hk_read };

	memset(s, 0, sizeof(*s));
	memset(p, 0, HK_N * sizeof(*p));
	memset(r, 0, HK_N * sizeof(*r));
	for (int i = 0; i < HK_N; i++) {
		r[i].kind = hk[i].kind;
		snprintf(r[i].kind_name, sizeof(r[i].kind_name), "%s", hk[i].name);
		if (paths[i]) {
			r[i].paths.v = paths[i];
			r[i].paths.n = 1;
		}
		snprintf(p[i].name, sizeof(p[i].name), "deny-%s", hk[i].name);
		p[i].monitor = monitor;
		p[i].action = ENF_A_OVERRIDE;
		p[i].err = hk[i].err;
		p[i].sig = 9;
		p[i].scope_all = 1;
		p[i].rules = &r[i];
		p[i].nrules = 1;
	}
	r[HK_SETUID].uids[0] = 4242;
	r[HK_SETUID].nuids = 1;
	r[HK_CONNECT].cidrs = &hk_cidr;
	r[HK_CONNECT].ncidrs = 1;
	r[HK_CONNECT].nports = 1;   /* only this port: another one on the host works */
	r[HK_CONNECT].port_lo[0] = r[HK_CONNECT].port_hi[0] = port;
	r[HK_READ].flags = ENF_F_READ;
	s->generation = gen;
	s->pols = p;
	s->n = HK_N;
}

/* setuid(uid) in a child: 0 or the errno. */
static int try_setuid(uid_t uid)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(setuid(uid) < 0 ? errno : 0);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* finit_module of path: the errno (a garbage module never loads). */
static int try_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return 1000 + errno;
	r = syscall(SYS_finit_module, fd, "", 0) < 0 ? errno : 0;
	close(fd);
	return r;
}

/* Fresh files and directories for one round. */
static void hook_files(void)
{
	write_file("/tmp/hk-unlink", "x");
	write_file("/tmp/hk-unlink-ok", "x");
	write_file("/tmp/hk-rename", "x");
	write_file("/tmp/hk-rename-ok", "x");
	write_file("/tmp/hk-chmod", "x");
	write_file("/tmp/hk-chmod-ok", "x");
	write_file("/tmp/hk-denied.ko", "not an ELF module");
	write_file("/tmp/hk-other.ko", "not an ELF module");
	write_file("/tmp/hk-read", "secret-data");
	mkdir("/tmp/hk-mnt", 0755);
	mkdir("/tmp/hk-mnt-ok", 0755);
}

/* Run every hook's operation; r[i] = errno of the denied one, ok[i] = the allowed one
 * worked. */
static void hook_ops(int port, int port2, int rfd, int *r, int *ok)
{
	char buf[16];

	r[HK_UNLINK] = unlink("/tmp/hk-unlink") < 0 ? errno : 0;
	ok[HK_UNLINK] = unlink("/tmp/hk-unlink-ok") == 0;
	r[HK_RENAME] = rename("/tmp/hk-rename", "/tmp/hk-renamed") < 0 ? errno : 0;
	ok[HK_RENAME] = rename("/tmp/hk-rename-ok", "/tmp/hk-renamed-ok") == 0;
	r[HK_CHMOD] = chmod("/tmp/hk-chmod", 0600) < 0 ? errno : 0;
	ok[HK_CHMOD] = chmod("/tmp/hk-chmod-ok", 0600) == 0;
	r[HK_SETUID] = try_setuid(4242);
	ok[HK_SETUID] = try_setuid(1000) == 0;
	r[HK_MODULE] = try_module("/tmp/hk-denied.ko");
	/* Allowed: it gets to the ELF check and fails there. */
	ok[HK_MODULE] = try_module("/tmp/hk-other.ko") == ENOEXEC;
	r[HK_MOUNT] = mount("none", "/tmp/hk-mnt", "tmpfs", 0, NULL) < 0 ? errno : 0;
	if (!r[HK_MOUNT])
		umount("/tmp/hk-mnt");
	ok[HK_MOUNT] = mount("none", "/tmp/hk-mnt-ok", "tmpfs", 0, NULL) == 0;
	if (ok[HK_MOUNT])
		umount("/tmp/hk-mnt-ok");
	r[HK_CONNECT] = try_connect(port);
	ok[HK_CONNECT] = try_connect(port2) == 0;
	r[HK_READ] = pread(rfd, buf, sizeof(buf), 0) < 0 ? errno : 0;
	/* The rule is for reads: a write to the same file goes through. */
	ok[HK_READ] = pwrite(rfd, "S", 1, 0) == 1;
}

/* Enforce, then monitor, every hook; a hook that did not load must leave its policy
 * disarmed. */
static void hooks_phase(struct enfb *b, int port)
{
	struct enfp_set set;
	struct enfp_policy pol[HK_N];
	struct enfp_rule rules[HK_N];
	char err[ENFP_ERR], why[300], name[80];
	int r[HK_N], ok[HK_N], loaded[HK_N], rfd, port2, l2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = { .sin_family = AF_INET };
	socklen_t ll = sizeof(la);

	/* A second listener: connect rule for the first port only. */
	inet_pton(AF_INET, "127.0.0.2", &la.sin_addr);
	bind(l2, (struct sockaddr *)&la, sizeof(la));
	listen(l2, 16);
	getsockname(l2, (struct sockaddr *)&la, &ll);
	port2 = ntohs(la.sin_port);

	printf("VM-HOOKS %s\n", enfb_lsm_hooks(b));
	printf("VM-NOLOOP %d\n", enfb_noloop(b));
	hook_files();
	rfd = open("/tmp/hk-read", O_RDWR);  /* before the rule: file_open never sees it */
	make_hook_set(&set, pol, rules, 10, 0, port);
	result(enfb_install(b, &set, NULL, err, sizeof(err)) == 0, "hooks_install", err);
	{
		/* Every loaded hook but bprm_check_security carries one of these rules. */
		const char *h = enfb_lsm_hooks(b);
		int n = *h ? 1 : 0;

		for (; *h; h++)
			n += *h == ',';
		lazy_check(b, n - (strstr(enfb_lsm_hooks(b), "bprm_check_security") != NULL),
			   "lazy_hooks");
	}
	for (int i = 0; i < HK_N; i++) {
		loaded[i] = strstr(enfb_lsm_hooks(b), hk[i].hook) != NULL;
		printf("policy %s: state=%s tiers=%s %s\n", pol[i].name,
		       enfp_state_name(pol[i].state), pol[i].tiers, pol[i].why);
		if (!loaded[i] && i != HK_CONNECT && i != HK_READ) {
			snprintf(name, sizeof(name), "%s_disarmed_without_hook", hk[i].name);
			result(pol[i].state == ENFP_DISARMED, name, "armed without its hook");
		}
	}
	memset(ev_hook_override, 0, sizeof(ev_hook_override));
	memset(ev_hook_monitor, 0, sizeof(ev_hook_monitor));
	hook_ops(port, port2, rfd, r, ok);
	enfb_drain(b, on_ev, NULL);
	for (int i = 0; i < HK_N; i++) {
		if (!loaded[i]) {
			printf("SKIP %s: lsm/%s does not load on this kernel\n", hk[i].name,
			       hk[i].hook);
			continue;
		}
		snprintf(name, sizeof(name), "%s_denied_errno", hk[i].name);
		snprintf(why, sizeof(why), "gave %d (%s), policy errno %d", r[i], strerror(r[i]),
			 hk[i].err);
		result(r[i] == hk[i].err, name, why);
		snprintf(name, sizeof(name), "%s_allowed_ok", hk[i].name);
		result(ok[i], name, "the allowed sibling operation failed");
		snprintf(name, sizeof(name), "%s_override_report", hk[i].name);
		snprintf(why, sizeof(why), "%d reports from hook %d", ev_hook_override[hk[i].ev_hook],
			 hk[i].ev_hook);
		result(ev_hook_override[hk[i].ev_hook] >= 1, name, why);
	}
	/* Monitor: every operation goes through and is reported. */
	hook_files();
	make_hook_set(&set, pol, rules, 11, 1, port);
	result(enfb_install(b, &set, NULL, err, sizeof(err)) == 0, "hooks_install_monitor", err);
	hook_ops(port, port2, rfd, r, ok);
	enfb_drain(b, on_ev, NULL);
	for (int i = 0; i < HK_N; i++) {
		if (!loaded[i])
			continue;
		snprintf(name, sizeof(name), "%s_monitor_ok", hk[i].name);
		snprintf(why, sizeof(why), "gave %d (%s) in monitor mode", r[i], strerror(r[i]));
		/* Monitor: the denied one behaves like the allowed one. */
		result(i == HK_MODULE ? r[i] == ENOEXEC : r[i] == 0, name, why);
		snprintf(name, sizeof(name), "%s_monitor_report", hk[i].name);
		result(ev_hook_monitor[hk[i].ev_hook] >= 1, name, "no would-block report");
	}
	close(rfd);
	close(l2);
}

/* The build enforcer_bpf.c picked must be the fastest this kernel runs: typed loads
 * from 6.2 (bpf_rdonly_cast), bpf_loop from 5.17, else bounded
 * loops. */
static void build_check(const struct enfb *b)
{
	struct utsname u;
	int maj = 0, min = 0;
	const char *want;
	char why[300];

	uname(&u);
	sscanf(u.release, "%d.%d", &maj, &min);
	want = maj > 6 || (maj == 6 && min >= 2) ? "typed" :
	       maj > 5 || (maj == 5 && min >= 17) ? "bpf_loop" : "bounded loops";
	printf("VM-BUILD %s\n", enfb_build_name(b));
	snprintf(why, sizeof(why), "kernel %s: build \"%s\", want \"%s...\"", u.release,
		 enfb_build_name(b), want);
	result(!strncmp(enfb_build_name(b), want, strlen(want)), "bpf_build", why);
}

/* openat(dirfd of /tmp/sk-dir, "../" name) and a read in a child: its wait status. */
static int open_dotdot_child(const char *name)
{
	char rel[128], buf[16];
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		int dfd = open("/tmp/sk-dir", O_RDONLY | O_DIRECTORY), fd;

		snprintf(rel, sizeof(rel), "../%s", name);
		fd = openat(dfd, rel, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) < 0)
			_exit(2);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return st;
}

/* Sigkill tier (the open family: a sys_exit_open* tracepoint each, in every build):
 * a child opening SECRET through a dirfd and ".." dies
 * by SIGKILL and is reported; a sibling opens; the program is attached only then. */
static void sigkill_phase(struct enfb *b)
{
	static char *paths[] = { SECRET };
	struct enfp_set set = { 0 };
	struct enfp_policy p = { 0 };
	struct enfp_rule r = { 0 };
	char err[ENFP_ERR], why[300];
	int st;

	mkdir("/tmp/sk-dir", 0755);
	r.kind = ENF_K_FILE;
	r.paths.v = paths;
	r.paths.n = 1;
	snprintf(p.name, sizeof(p.name), "kill-shadow");
	p.action = ENF_A_SIGKILL;
	p.sig = 9;
	p.scope_all = 1;
	p.rules = &r;
	p.nrules = 1;
	p.state = ENFP_ARMED;
	set.generation = 20;
	set.pols = &p;
	set.n = 1;
	result(enfb_install(b, &set, NULL, err, sizeof(err)) == 0, "sigkill_install", err);
	snprintf(why, sizeof(why), "attached \"%s\"", enfb_attached(b));
	result(strstr(enfb_attached(b), "sigkill:0") == NULL, "sigkill_attached", why);
	ev_sigkill_open = 0;
	st = open_dotdot_child("shadow-like");
	snprintf(why, sizeof(why), "wait status 0x%x", st);
	result(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "sigkill_open_killed", why);
	st = open_dotdot_child("public");
	snprintf(why, sizeof(why), "wait status 0x%x", st);
	result(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sigkill_other_ok", why);
	enfb_drain(b, on_ev, NULL);
	snprintf(why, sizeof(why), "%d sigkill reports from sys_openat", ev_sigkill_open);
	result(ev_sigkill_open == 1, "sigkill_report", why);
	set.generation = 21;
	set.n = 0;
	result(enfb_install(b, &set, NULL, err, sizeof(err)) == 0, "sigkill_lift", err);
}

int main(void)
{
	/* Overridable for a run on the host (debugging): never the user's pins. */
	struct enfb_opts o = { .pin_dir = getenv("VM_PIN") ? getenv("VM_PIN") : PIN,
			       .cgroup_root = getenv("VM_CGROUP") ? getenv("VM_CGROUP") :
					      "/sys/fs/cgroup" };
	struct enfp_set set;
	struct enfp_policy pol[3];
	struct enfp_rule rules[3];
	char err[ENFP_ERR], why[300];
	struct enfb *b;
	int r, n, port, lsock;
	struct sockaddr_in la = { .sin_family = AF_INET };
	socklen_t ll = sizeof(la);

	log_init("vm_enforce");
	write_file(SECRET, "root:SECRET\n");
	write_file(OTHER, "public\n");
	copy_file("/bin/busybox", DENIED_BIN);
	lsock = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.2", &la.sin_addr);
	bind(lsock, (struct sockaddr *)&la, sizeof(la));
	listen(lsock, 16);
	getsockname(lsock, (struct sockaddr *)&la, &ll);
	port = ntohs(la.sin_port);

	b = timed_open(&o, err, sizeof(err));
	result(b != NULL, "load", err);
	if (!b)
		goto out;
	printf("attached: %s\n", enfb_attached(b));
	build_check(b);
	result(enfb_has_lsm(b), "lsm_tier", "BPF LSM did not load");
	/* Nothing on the hot paths (opens, reads, writes, syscalls) before a rule needs it. */
	lazy_check(b, 0, "lazy_idle");
	result(try_exec(DENIED_BIN) == 0 && try_connect(port) == 0, "baseline",
	       "exec/connect fail before any policy");

	/* Enforce. */
	make_set(&set, pol, rules, 1, 0);
	r = enfb_install(b, &set, NULL, err, sizeof(err));
	result(r == 0, "install", err);
	/* file_open, bprm_check_security, and socket_connect where it loaded. */
	lazy_check(b, 2 + (strstr(enfb_lsm_hooks(b), "socket_connect") != NULL), "lazy_attach");
	for (int i = 0; i < 3; i++)
		printf("policy %s: state=%s tiers=%s %s\n", pol[i].name, enfp_state_name(pol[i].state),
		       pol[i].tiers, pol[i].why);
	r = try_open(SECRET, &n);
	snprintf(why, sizeof(why), "open gave %d (%s), read %d bytes", r, strerror(-r), n);
	result(r == -EACCES && n == 0, "file_open_eacces", why);
	r = try_open(OTHER, &n);
	result(r == 0 && n == 7, "file_open_other_ok", "sibling file did not open");
	r = try_exec(DENIED_BIN);
	snprintf(why, sizeof(why), "exec gave %d", r);
	result(r == EPERM, "exec_eperm", why);
	result(try_exec("/bin/busybox") == 0, "exec_other_ok", "busybox itself did not run");
	r = try_connect(port);
	snprintf(why, sizeof(why), "connect gave %d (%s)", r, strerror(r));
	/* lsm/socket_connect gives the policy's errno; the cgroup hook only EPERM. */
	result(r == (strstr(enfb_lsm_hooks(b), "socket_connect") ? ENETUNREACH : EPERM),
	       "connect_eperm", why);
	enfb_drain(b, on_ev, NULL);
	snprintf(why, sizeof(why), "file=%d exec=%d net=%d", ev_override_file, ev_override_exec,
		 ev_override_net);
	result(ev_override_file >= 1 && ev_override_exec >= 1 && ev_override_net >= 1,
	       "override_reports", why);

	/* Crash: a second process adopts the pins... after this one "dies" without
	 * cleanup. Simulated by a child that opens, installs, and _exit()s. */
	enfb_close(b);  /* clean: removes pins; start over with a crash */
	{
		pid_t pid = fork();

		if (pid == 0) {
			struct enfb *c = timed_open(&o, err, sizeof(err));

			if (!c || enfb_install(c, &set, NULL, err, sizeof(err)) < 0)
				_exit(1);
			_exit(0);  /* no enfb_close: links and maps stay pinned */
		}
		waitpid(pid, &r, 0);
		result(WIFEXITED(r) && WEXITSTATUS(r) == 0, "crash_child", "child failed to install");
	}
	r = try_open(SECRET, &n);
	result(r == -EACCES, "block_survives_crash", "open succeeded with no enforcer running");
	b = timed_open(&o, err, sizeof(err));
	result(b && enfb_generation(b) == 1, "adopt_after_crash", "generation not adopted");
	if (!b)
		goto out;
	lazy_check(b, 2 + (strstr(enfb_lsm_hooks(b), "socket_connect") != NULL), "lazy_adopt");

	/* Monitor: everything goes through and is reported. */
	ev_monitor = 0;
	make_set(&set, pol, rules, 2, 1);
	r = enfb_install(b, &set, NULL, err, sizeof(err));
	result(r == 0, "install_monitor", err);
	r = try_open(SECRET, &n);
	result(r == 0 && n > 0, "monitor_open_ok", "open blocked in monitor mode");
	result(try_exec(DENIED_BIN) == 0, "monitor_exec_ok", "exec blocked in monitor mode");
	result(try_connect(port) == 0, "monitor_connect_ok", "connect blocked in monitor mode");
	enfb_drain(b, on_ev, NULL);
	snprintf(why, sizeof(why), "%d monitor reports", ev_monitor);
	result(ev_monitor >= 3, "monitor_reports", why);
	hooks_phase(b, port);
	sigkill_phase(b);
	enfb_close(b);
	r = try_open(SECRET, &n);
	result(r == 0, "clean_stop_lifts", "still blocked after a clean stop");
out:
	printf("VM-RESULT pass=%d fail=%d\n", npass, nfail);
	fflush(stdout);
	return nfail ? 1 : 0;
}
