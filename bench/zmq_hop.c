/*
 * zmq_hop — what the hops between stages cost in CPU and latency, with nothing of vigil
 * in them: a chain of processes as the stages are chained (docs/wire.md §1), a PUSH
 * socket in each connected to the next one's PULL over ipc://, HOPS hops (a sender,
 * HOPS - 1 relays that pass every frame on as it came, a receiver). The sender sends MSGS
 * messages a second, each a batch of FRAMES frames of BYTES bytes (the shape of the
 * pipeline's batches, §2), for SECONDS. Every process's CPU time is measured (all its
 * threads: each has its ZeroMQ I/O thread), and so is a run that paces the same way and
 * sends nothing, because in the pipeline the first stage sends while it is awake anyway:
 * the chain's cost is the difference. The first frame of each message carries its send
 * time: the receiver's p50/p99 of send -> receive is the chain's latency. Prints one
 * JSON line.
 *
 *   zmq_hop MSGS FRAMES BYTES SECONDS [HOPS]
 *
 * Exit 0; 2 on bad arguments; 1 when ZeroMQ fails.
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

#define HOPS_MAX 8

/* CPU seconds (user + system) of this process, every thread. */
static double cpu_self(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_stime.tv_sec +
	       (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
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

static long chain_id; /* the parent's pid: names the chain's endpoints */

/* Endpoint of hop i's receiving side. */
static void endpoint(char *buf, size_t len, int i)
{
	snprintf(buf, len, "ipc:///tmp/vigil-zmq-hop-%ld-%d.ipc", chain_id, i);
}

/*
 * A child: bind the PULL of hop `in`, say "bound" on fd, then take total frames of msgs
 * messages; a relay (out >= 0) passes each on to hop out's endpoint, the receiver times
 * the first frame of each message. Then it writes its CPU seconds and (receiver) the
 * p50 and p99 latency in ns to fd. Returns the exit code; the parent kills the chain
 * when a member fails.
 */
static int member(int in, int out, long total, long msgs, int fd)
{
	void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL), *push = NULL;
	long long *lat = out < 0 ? calloc((size_t)msgs, sizeof(*lat)) : NULL, sent;
	long got = 0, nlat = 0;
	int more = 0, linger = -1;
	double res[3] = { 0, -1, -1 };
	char ep[96];
	zmq_msg_t m;

	endpoint(ep, sizeof(ep), in);
	if (!pull || zmq_bind(pull, ep) < 0 || (out < 0 && !lat))
		goto fail;
	if (out >= 0) {
		endpoint(ep, sizeof(ep), out);
		if (!(push = zmq_socket(ctx, ZMQ_PUSH)) || zmq_connect(push, ep) < 0)
			goto fail;
		zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
	}
	if (write(fd, "r", 1) != 1)
		return 1;
	zmq_msg_init(&m);
	while (got < total) {
		int first = !more;

		if (zmq_msg_recv(&m, pull, 0) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		more = zmq_msg_more(&m);
		got++;
		if (push) {
			if (zmq_msg_send(&m, push, more ? ZMQ_SNDMORE : 0) < 0)
				goto fail;
		} else if (first && zmq_msg_size(&m) >= sizeof(sent) && nlat < msgs) {
			memcpy(&sent, zmq_msg_data(&m), sizeof(sent));
			lat[nlat++] = mono_ns() - sent;
		}
	}
	zmq_msg_close(&m);
	if (push)
		zmq_close(push); /* linger: every frame leaves before the context ends */
	zmq_close(pull);
	zmq_ctx_term(ctx);
	res[0] = cpu_self();
	if (nlat) {
		qsort(lat, (size_t)nlat, sizeof(*lat), cmpll);
		res[1] = (double)lat[nlat / 2];
		res[2] = (double)lat[nlat * 99 / 100];
	}
	free(lat);
	return write(fd, res, sizeof(res)) == sizeof(res) ? 0 : 1;
fail:
	fprintf(stderr, "zmq_hop: hop %d: %s\n", in, zmq_strerror(errno));
	return 1;
}

/* The sender (send = 0: pace only): msgs batches a second for secs; returns the CPU
 * seconds this took, or -1. */
static double sender(long msgs, int frames, size_t bytes, int secs, int send)
{
	void *ctx = zmq_ctx_new(), *s = send ? zmq_socket(ctx, ZMQ_PUSH) : NULL;
	char *buf = calloc(1, bytes), ep[96];
	int linger = -1;
	struct timespec t;
	double c0;

	endpoint(ep, sizeof(ep), 0);
	if (!buf || (send && (!s || zmq_connect(s, ep) < 0))) {
		fprintf(stderr, "zmq_hop: sender: %s\n", zmq_strerror(errno));
		return -1;
	}
	if (s)
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	c0 = cpu_self();
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (long i = 0; i < msgs * secs; i++) {
		long long now = mono_ns();

		memcpy(buf, &now, sizeof(now)); /* bytes >= 8: main checked */
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
		zmq_close(s);
	zmq_ctx_term(ctx);
	free(buf);
	return cpu_self() - c0;
}

/* Stop and reap the chain's members; remove their endpoints. */
static void reap(pid_t *pid, int n, int kill_them)
{
	char ep[96];

	for (int i = 0; i < n; i++) {
		if (kill_them)
			kill(pid[i], SIGKILL);
		waitpid(pid[i], NULL, 0);
	}
	for (int i = 0; i < n; i++) {
		endpoint(ep, sizeof(ep), i);
		unlink(ep + strlen("ipc://"));
	}
}

int main(int argc, char **argv)
{
	int ok = argc == 5 || argc == 6;
	long msgs = ok ? atol(argv[1]) : 0, bytes = ok ? atol(argv[3]) : 0;
	int frames = ok ? atoi(argv[2]) : 0, secs = ok ? atoi(argv[4]) : 0;
	int hops = argc == 6 ? atoi(argv[5]) : 1;
	double pace, snd, r[3], cpu = 0, p50 = -1, p99 = -1;
	pid_t pid[HOPS_MAX];
	int pfd[HOPS_MAX][2];
	char c;

	if (!ok || msgs < 1 || msgs > 100000 || frames < 1 || frames > 4096 || bytes < 8 ||
	    bytes > (1 << 20) || secs < 1 || secs > 600 || hops < 1 || hops > HOPS_MAX) {
		fprintf(stderr, "usage: zmq_hop MSGS(1..100000) FRAMES(1..4096) BYTES(8..1M) "
				"SECONDS(1..600) [HOPS(1..%d)]\n", HOPS_MAX);
		return 2;
	}
	chain_id = (long)getpid();
	pace = sender(msgs, frames, (size_t)bytes, secs, 0);
	/* members, the receiver first: hop i's member binds i and passes on to i + 1 */
	for (int i = hops - 1; i >= 0; i--) {
		if (pipe(pfd[i]) < 0 || (pid[i] = fork()) < 0) {
			reap(pid + i + 1, hops - 1 - i, 1);
			return 1;
		}
		if (pid[i] == 0) {
			close(pfd[i][0]);
			_exit(member(i, i + 1 < hops ? i + 1 : -1, msgs * secs * frames,
				     msgs * secs, pfd[i][1]));
		}
		close(pfd[i][1]);
		if (read(pfd[i][0], &c, 1) != 1) {
			reap(pid + i, hops - i, 1);
			return 1;
		}
	}
	snd = sender(msgs, frames, (size_t)bytes, secs, 1);
	for (int i = 0; i < hops && snd >= 0; i++) {
		if (read(pfd[i][0], r, sizeof(r)) != sizeof(r)) {
			snd = -1;
			break;
		}
		cpu += r[0];
		if (i == hops - 1) {
			p50 = r[1];
			p99 = r[2];
		}
	}
	reap(pid, hops, snd < 0);
	if (snd < 0)
		return 1;
	printf("{\"msgs_per_s\": %ld, \"frames\": %d, \"bytes\": %ld, \"seconds\": %d, "
	       "\"hops\": %d, \"send_cpu_s\": %.4f, \"members_cpu_s\": %.4f, "
	       "\"pace_cpu_s\": %.4f, \"cpu_pct\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
	       msgs, frames, bytes, secs, hops, snd, cpu, pace,
	       100.0 * (snd + cpu - pace) / secs, p50 / 1e3, p99 / 1e3);
	return 0;
}
