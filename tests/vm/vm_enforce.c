/* vm_enforce — the enforcer's kernel side (enforcer/enforcer_bpf.c + bpf/enforce.bpf.c,
 * the same object and map layout the stage uses), run as a static binary inside a
 * stock Debian kernel under qemu, where BPF LSM loads. Prints one "PASS name" or
 * "FAIL name: why" line per check and "VM-RESULT pass=N fail=M" at the end.
 *
 * Checks: the LSM tier loads; open() of a denied file fails with EACCES and reads no
 * byte; a sibling opens; exec of a denied binary fails with EPERM and never runs; a
 * denied connect fails with EPERM; each block is an OVERRIDE report from the LSM hook;
 * a crashed enforcer (exit without cleanup) leaves the block in force and a new one
 * adopts it; monitor mode lets all three through and reports them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enforcer.h"
#include "log.h"

#define PIN "/sys/fs/bpf/vigil"
#define SECRET "/tmp/shadow-like"
#define OTHER "/tmp/public"
#define DENIED_BIN "/tmp/denied-bin"

static int npass, nfail;
static int ev_override_file, ev_override_exec, ev_override_net, ev_monitor;

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
	if (e->done == ENF_D_MONITOR)
		ev_monitor++;
	else if (e->done == ENF_D_OVERRIDE && e->hook == ENF_H_LSM_FILE_OPEN)
		ev_override_file++;
	else if (e->done == ENF_D_OVERRIDE && e->hook == ENF_H_LSM_BPRM)
		ev_override_exec++;
	else if (e->done == ENF_D_OVERRIDE && e->hook == ENF_H_CONNECT4)
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
	const int errs[] = { EACCES, EPERM, EPERM };
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

int main(void)
{
	struct enfb_opts o = { .pin_dir = PIN, .cgroup_root = "/sys/fs/cgroup" };
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

	b = enfb_open(&o, err, sizeof(err));
	result(b != NULL, "load", err);
	if (!b)
		goto out;
	printf("attached: %s\n", enfb_attached(b));
	result(enfb_has_lsm(b), "lsm_tier", "BPF LSM did not load");
	result(try_exec(DENIED_BIN) == 0 && try_connect(port) == 0, "baseline",
	       "exec/connect fail before any policy");

	/* Enforce. */
	make_set(&set, pol, rules, 1, 0);
	r = enfb_install(b, &set, NULL, err, sizeof(err));
	result(r == 0, "install", err);
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
	snprintf(why, sizeof(why), "connect gave %d", r);
	result(r == EPERM, "connect_eperm", why);
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
			struct enfb *c = enfb_open(&o, err, sizeof(err));

			if (!c || enfb_install(c, &set, NULL, err, sizeof(err)) < 0)
				_exit(1);
			_exit(0);  /* no enfb_close: links and maps stay pinned */
		}
		waitpid(pid, &r, 0);
		result(WIFEXITED(r) && WEXITSTATUS(r) == 0, "crash_child", "child failed to install");
	}
	r = try_open(SECRET, &n);
	result(r == -EACCES, "block_survives_crash", "open succeeded with no enforcer running");
	b = enfb_open(&o, err, sizeof(err));
	result(b && enfb_generation(b) == 1, "adopt_after_crash", "generation not adopted");
	if (!b)
		goto out;

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
	enfb_close(b);
	r = try_open(SECRET, &n);
	result(r == 0, "clean_stop_lifts", "still blocked after a clean stop");
out:
	printf("VM-RESULT pass=%d fail=%d\n", npass, nfail);
	fflush(stdout);
	return nfail ? 1 : 0;
}
