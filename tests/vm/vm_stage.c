/* vm_stage — the real vigil-enforcer (statically linked) inside the qemu initramfs:
 * start it, send it a policy_set over ZeroMQ as the evaluator would, and check that
 * the block holds, is reported, survives SIGKILL of the enforcer (pinned links and
 * maps), is adopted by a restarted enforcer, and is lifted by a clean stop (SIGTERM).
 * Prints "PASS name" / "FAIL name: why" lines like vm_enforce.
 *
 *   vm_stage /bin/vigil-enforcer */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define RUN "/tmp/stage-run"
#define SECRET "/tmp/stage-secret"
#define KEEP "/tmp/stage-keep"

static int npass, nfail;

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

/* Start the enforcer; wait for its readiness line on the notify fd. pid or -1. */
static pid_t start_enforcer(const char *bin)
{
	int pfd[2];
	char buf[64];
	struct pollfd p;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (pfd[1] != 3) {
			dup2(pfd[1], 3);
			close(pfd[1]);
		}
		execl(bin, "vigil-enforcer", "--rundir", RUN, "--notify-fd", "3", "--pin-dir",
		      "/sys/fs/bpf/vigil-stage", "--cgroup-root", "/sys/fs/cgroup", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	if (poll(&p, 1, 120000) <= 0 || read(pfd[0], buf, sizeof(buf)) <= 0) {
		close(pfd[0]);
		return -1;
	}
	close(pfd[0]);
	return pid;
}

/* Pack a string. */
static void ps(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* One override policy with one rule of kind on path. */
static void pack_policy(msgpack_packer *pk, const char *name, int err, const char *kind,
			const char *path)
{
	msgpack_pack_map(pk, 6);
	ps(pk, "name"); ps(pk, name);
	ps(pk, "mode"); ps(pk, "enforce");
	ps(pk, "action"); ps(pk, "override");
	ps(pk, "errno"); msgpack_pack_int(pk, err);
	ps(pk, "scope"); msgpack_pack_map(pk, 0);
	ps(pk, "rules"); msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	ps(pk, "kind"); ps(pk, kind);
	ps(pk, "paths"); msgpack_pack_array(pk, 1); ps(pk, path);
}

/* The policy_set envelope (docs/wire.md, docs/wire.md §10). */
static int send_policy_set(void *push)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	ps(&pk, "v"); msgpack_pack_int(&pk, 1);
	ps(&pk, "type"); ps(&pk, "policy_set");
	ps(&pk, "src"); ps(&pk, "vmstage");
	ps(&pk, "seq"); msgpack_pack_int(&pk, 1);
	ps(&pk, "ev");
	msgpack_pack_map(&pk, 3);
	ps(&pk, "generation"); msgpack_pack_int(&pk, 1);
	ps(&pk, "mode"); ps(&pk, "enforce");
	ps(&pk, "policies"); msgpack_pack_array(&pk, 2);
	pack_policy(&pk, "stage-shadow", EACCES, "file_open", SECRET);
	pack_policy(&pk, "stage-keep", EROFS, "unlink", KEEP);
	r = zmq_send(push, sb.data, sb.size, 0);
	msgpack_sbuffer_destroy(&sb);
	return r < 0 ? -1 : 0;
}

/* open(SECRET): 0 or errno. */
static int try_open(void)
{
	int fd = open(SECRET, O_RDONLY);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* Wait up to ms for try_open() to give want. */
static int wait_open(int want, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (try_open() == want)
			return 1;
		usleep(10000);
	}
	return try_open() == want;
}

/* Is there a process_lsm report of policy on the PULL socket (within ms)? */
static int got_report(void *pull, const char *policy, int ms)
{
	char buf[4096];
	zmq_pollitem_t it = { .socket = pull, .events = ZMQ_POLLIN };
	int n;

	while (zmq_poll(&it, 1, ms) > 0) {
		n = zmq_recv(pull, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		if (n > (int)sizeof(buf) - 1)
			n = sizeof(buf) - 1;
		buf[n] = 0;
		/* msgpack strings are raw bytes: a substring search is enough here. */
		if (memmem(buf, n, "process_lsm", 11) && memmem(buf, n, policy, strlen(policy)))
			return 1;
	}
	return 0;
}

static void write_file(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, "x\n", 2) < 0)
			perror("write");
		close(fd);
	}
}

int main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] : "/bin/vigil-enforcer";
	void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL), *push;
	char why[200];
	int linger = 0, st, r;
	pid_t pid;

	mkdir(RUN, 0700);
	write_file(SECRET);
	write_file(KEEP);
	zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_bind(pull, "ipc://" RUN "/enricher.in");
	pid = start_enforcer(bin);
	result(pid > 0, "stage_start", "vigil-enforcer did not become ready");
	if (pid <= 0)
		goto out;
	push = zmq_socket(ctx, ZMQ_PUSH);
	linger = 10000;  /* close must not drop the policy_set still queued */
	zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_connect(push, "ipc://" RUN "/enforcer.in");
	result(send_policy_set(push) == 0, "stage_send", "zmq_send failed");
	zmq_close(push);
	result(wait_open(EACCES, 30000), "stage_block", "open of the denied file still works");
	result(got_report(pull, "stage-shadow", 5000), "stage_report",
	       "no process_lsm report from the enforcer");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	result(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "stage_killed", "enforcer not killed");
	r = try_open();
	snprintf(why, sizeof(why), "open gave %d with the enforcer dead", r);
	result(r == EACCES, "stage_block_survives_kill", why);
	r = unlink(KEEP) < 0 ? errno : 0;
	snprintf(why, sizeof(why), "unlink gave %d with the enforcer dead", r);
	result(r == EROFS, "stage_unlink_survives_kill", why);
	pid = start_enforcer(bin);
	result(pid > 0 && try_open() == EACCES, "stage_adopted",
	       "a restarted enforcer did not keep the block");
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
	}
	/* The kernel may release a link's program after the last fd closes (a deferred
	 * put): allow it a moment, and print how long it took. */
	{
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = wait_open(0, 10000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("VM-TIME clean_stop_lift %ld ms\n", (t1.tv_sec - t0.tv_sec) * 1000 +
		       (t1.tv_nsec - t0.tv_nsec) / 1000000);
		result(r, "stage_clean_stop_lifts", "still blocked 10 s after SIGTERM");
	}
out:
	zmq_close(pull);
	zmq_ctx_term(ctx);
	printf("VM-STAGE-RESULT pass=%d fail=%d\n", npass, nfail);
	fflush(stdout);
	return nfail ? 1 : 0;
}
