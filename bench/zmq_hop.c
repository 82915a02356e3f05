/*
 * zmq_hop — what one hop between two stages costs in CPU, with nothing of vigil in it:
 * a PUSH socket in one process, a PULL socket in another, over ipc://, as the stages
 * connect (docs/wire.md §1). The sender sends MSGS messages a second, each a batch of
 * FRAMES frames of BYTES bytes (the shape of the pipeline's batches, §2), for SECONDS;
 * the receiver takes every frame. Both processes' CPU time is measured (every thread:
 * each has its ZeroMQ I/O thread), and so is a run that paces the same way and sends
 * nothing, because in the pipeline a stage sends while it is awake anyway: the hop's
 * cost is the difference. The first frame of each message carries its send time: the
 * receiver's p50/p99 of send -> receive is the hop's latency. Prints one JSON line.
 *
 *   zmq_hop MSGS FRAMES BYTES SECONDS
 *
 * Exit 0; 2 on bad arguments; 1 when ZeroMQ fails or the receiver lost frames.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* CPU seconds (user + system) of a rusage. */
static double cpu_s(const struct rusage *r)
{
	return r->ru_utime.tv_sec + r->ru_stime.tv_sec +
	       (r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1e6;
}

/* CLOCK_MONOTONIC in ns. */
static long long mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* qsort comparator of long long. */
static int cmpll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Receiver: say "bound" on fd, take total frames of msgs messages, then write this
 * process's CPU seconds and the p50 and p99 latency (ns) to fd. Returns the exit code;
 * the parent kills it when the sender fails. */
static int receive(const char *ep, long total, long msgs, size_t bytes, int fd)
{
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PULL);
	char *buf = malloc(bytes + 8);
	long long *lat = calloc((size_t)msgs, sizeof(*lat)), sent;
	struct rusage ru;
	long got = 0, nlat = 0;
	int more = 0, n;
	size_t ml = sizeof(more);
	double out[3];

	if (!s || !buf || !lat || zmq_bind(s, ep) < 0) {
		fprintf(stderr, "zmq_hop: receiver: %s\n", zmq_strerror(errno));
		return 1;
	}
	if (write(fd, "r", 1) != 1) /* bound: the sender may start */
		return 1;
	while (got < total) {
		if ((n = zmq_recv(s, buf, bytes + 8, 0)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "zmq_hop: recv: %s\n", zmq_strerror(errno));
			return 1;
		}
		/* the first frame of a message: more was 0 after the previous frame */
		if (!more && n >= (int)sizeof(sent) && nlat < msgs) {
			memcpy(&sent, buf, sizeof(sent));
			lat[nlat++] = mono_ns() - sent;
		}
		zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
		got++;
	}
	getrusage(RUSAGE_SELF, &ru);
	qsort(lat, (size_t)nlat, sizeof(*lat), cmpll);
	out[0] = cpu_s(&ru);
	out[1] = nlat ? (double)lat[nlat / 2] : -1;
	out[2] = nlat ? (double)lat[nlat * 99 / 100] : -1;
	if (write(fd, out, sizeof(out)) != sizeof(out))
		return 1;
	zmq_close(s);
	zmq_ctx_term(ctx);
	free(buf);
	free(lat);
	return 0;
}

/* Sender (send = 0: pace only): msgs batches a second for secs; returns the CPU seconds
 * of this process, or -1. */
static double send_paced(const char *ep, long msgs, int frames, size_t bytes, int secs, int send)
{
	void *ctx = zmq_ctx_new(), *s = send ? zmq_socket(ctx, ZMQ_PUSH) : NULL;
	char *buf = calloc(1, bytes ? bytes : 1);
	struct timespec t;
	struct rusage r0, r1;
	int linger = -1;

	if (!buf || (send && (!s || zmq_connect(s, ep) < 0))) {
		fprintf(stderr, "zmq_hop: sender: %s\n", zmq_strerror(errno));
		return -1;
	}
	if (s)
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (long m = 0; m < msgs * secs; m++) {
		long long now = mono_ns();

		if (bytes >= sizeof(now))
			memcpy(buf, &now, sizeof(now));
		for (int f = 0; send && f < frames; f++)
			if (zmq_send(s, buf, bytes, f + 1 < frames ? ZMQ_SNDMORE : 0) < 0) {
				fprintf(stderr, "zmq_hop: send: %s\n", zmq_strerror(errno));
				return -1;
			}
		t.tv_nsec += 1000000000L / msgs;
		while (t.tv_nsec >= 1000000000L) {
			t.tv_nsec -= 1000000000L;
			t.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
			;
	}
	if (s)
		zmq_close(s); /* linger: every frame leaves before the context ends */
	zmq_ctx_term(ctx);
	getrusage(RUSAGE_SELF, &r1);
	free(buf);
	return cpu_s(&r1) - cpu_s(&r0);
}

int main(int argc, char **argv)
{
	long msgs = argc == 5 ? atol(argv[1]) : 0;
	int frames = argc == 5 ? atoi(argv[2]) : 0, secs = argc == 5 ? atoi(argv[4]) : 0;
	long bytes = argc == 5 ? atol(argv[3]) : 0;
	char ep[64];
	int pfd[2], status;
	double pace, snd, rcv[3];
	char c;
	pid_t pid;

	if (msgs < 1 || msgs > 100000 || frames < 1 || frames > 4096 || bytes < 1 ||
	    bytes > (1 << 20) || secs < 1 || secs > 600) {
		fprintf(stderr, "usage: zmq_hop MSGS(1..100000) FRAMES(1..4096) BYTES(1..1M) "
				"SECONDS(1..600)\n");
		return 2;
	}
	snprintf(ep, sizeof(ep), "ipc:///tmp/vigil-zmq-hop-%ld.ipc", (long)getpid());
	pace = send_paced(ep, msgs, frames, (size_t)bytes, secs, 0);
	if (pipe(pfd) < 0 || (pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(pfd[0]);
		_exit(receive(ep, msgs * secs * frames, msgs * secs, (size_t)bytes, pfd[1]));
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		waitpid(pid, NULL, 0);
		return 1;
	}
	snd = send_paced(ep, msgs, frames, (size_t)bytes, secs, 1);
	if (snd < 0 || read(pfd[0], rcv, sizeof(rcv)) != sizeof(rcv)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unlink(ep + strlen("ipc://"));
		return 1;
	}
	waitpid(pid, &status, 0);
	unlink(ep + strlen("ipc://"));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	printf("{\"msgs_per_s\": %ld, \"frames\": %d, \"bytes\": %ld, \"seconds\": %d, "
	       "\"send_cpu_s\": %.4f, \"recv_cpu_s\": %.4f, \"pace_cpu_s\": %.4f, "
	       "\"hop_pct\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
	       msgs, frames, bytes, secs, snd, rcv[0], pace,
	       100.0 * (snd + rcv[0] - pace) / secs, rcv[1] / 1e3, rcv[2] / 1e3);
	return 0;
}
