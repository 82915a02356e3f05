/* gen — vigil's benchmark workload: a steady, paced mix of execs, file opens and
 * loopback connects, every operation logged so that loss can be counted exactly.
 *
 *   gen --run ID [--rate EV_PER_S] [--duration S] [--count N]
 *       [--mix exec=W,open=W,connect=W] [--burst N --burst-ms MS]
 *       [--files K] [--log FILE] [--workers W] [--keep-files]
 *
 * Markers (what the harness looks for in the export):
 *   exec     /bin/true vigil-bench-ID-N          (process_exec and process_exit)
 *   open     /tmp/vigil-bench-ID/<N mod K>        (security_file_open; files are made
 *            with mknod(2), which opens nothing, so only the workload's opens count)
 *   connect  127.0.0.1:PORT, PORT = a listener the generator opens (tcp_connect);
 *            the log records each connection's source port
 * The rate is in *kernel events* per second: an exec yields two (exec and exit), an open
 * or a connect one. --rate 0 runs flat out (saturation: time per operation). --burst N
 * --burst-ms MS issues N operations back to back every MS milliseconds instead.
 *
 * At the end one JSON object goes to stdout: operations and failures per kind, the mean
 * time inside each kind of operation (the workload's own cost, sleeps excluded), the
 * achieved rate, the listener port and the wall-clock window. The log (--log) has one
 * line per operation: "N KIND MARKER T_REALTIME_NS DURATION_NS".
 *
 * The open targets are made with mknod(2) and removed at the end with unlink(2), an
 * event each (security_path_unlink) when vigil captures file events: a burst of K
 * events that is no part of the paced mix. --keep-files leaves them (the harness
 * removes them after its last window: bench/vbench.py).
 *
 * --workers W splits the rate (or the flat-out loop) over W processes forked after the
 * set-up, worker w doing operations w, w+W, w+2W, ... on its own clock: a single
 * process cannot reach 50k/s here once vigil slows each operation, because it waits
 * out every exec's child (fork+exec+wait ~1 ms). Each has a listener of its own
 * ("ports" in the summary; "port" is the first); the summary sums them, the log is
 * their logs joined. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum kind { K_EXEC, K_OPEN, K_CONNECT, K_N };
static const char *const kind_name[K_N] = { "exec", "open", "connect" };
static const int kind_events[K_N] = { 2, 1, 1 };

static volatile sig_atomic_t stop;
static char opt_run[64] = "";
static char dir[256];
static long files = 1024;
static int keep_files;	/* --keep-files: teardown leaves the open targets */
static int lfd = -1;		/* this worker's listener */
static struct sockaddr_in laddr;
static int lfds[64];	/* every worker's (--workers is at most 64); -1 none */
static struct sockaddr_in laddrs[64];
static FILE *logf;

/* What one worker did; in shared memory so that the parent can sum them. */
struct tally {
	long ops[K_N], fails[K_N];
	int64_t op_ns[K_N];
};

/* Nanoseconds on a clock. */
static int64_t now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pid_t *kids;	/* the workers, in the parent (--workers) */
static long nkids;

/* Stop; the parent passes the signal on to its workers. */
static void on_sig(int sig)
{
	long i;

	stop = 1;
	for (i = 0; i < nkids; i++)
		if (kids[i] > 0)
			kill(kids[i], sig);
}

/* fork+exec /bin/true with the per-operation marker, and wait for it. */
static int op_exec(long n, char *marker, size_t mlen)
{
	pid_t pid;
	int status;
	char *argv[3];

	snprintf(marker, mlen, "vigil-bench-%s-%ld", opt_run, n);
	argv[0] = "true";
	argv[1] = marker;
	argv[2] = NULL;
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

/* open + close one of the pre-made files. */
static int op_open(long n, char *marker, size_t mlen)
{
	int fd;

	snprintf(marker, mlen, "%s/%ld", dir, n % files);
	fd = open(marker, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* connect to our own listener, accept, and reset both ends (no TIME_WAIT build-up). */
static int op_connect(long n, char *marker, size_t mlen)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct linger lg = { 1, 0 };
	int s, c, r = -1;

	(void)n;
	snprintf(marker, mlen, "?");
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&laddr, sizeof(laddr)) == 0) {
		if (getsockname(s, (struct sockaddr *)&a, &al) == 0)
			snprintf(marker, mlen, "%u", ntohs(a.sin_port));
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0 && errno == EAGAIN) { /* not queued yet (or, with workers, racing) */
			struct pollfd p = { .fd = lfd, .events = POLLIN };

			if (poll(&p, 1, 100) > 0)
				c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		}
		if (c >= 0) {
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c);
			r = 0;
		}
	}
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
	return r;
}

/* Make the open targets without opening them, and the loopback listener. */
static int setup(int want_open, int want_connect, long nw)
{
	char p[512];
	long i;

	for (i = 0; i < (long)(sizeof(lfds) / sizeof(lfds[0])); i++)
		lfds[i] = -1;
	if (want_open) {
		snprintf(dir, sizeof(dir), "/tmp/vigil-bench-%s", opt_run);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			perror(dir);
			return -1;
		}
		for (i = 0; i < files; i++) {
			snprintf(p, sizeof(p), "%s/%ld", dir, i);
			if (mknod(p, S_IFREG | 0600, 0) < 0 && errno != EEXIST) {
				perror(p);
				return -1;
			}
		}
	}
	/* one listener per worker: a worker accepting (and resetting) another's
	 * connection could reset it before that worker's connect() returned */
	for (i = 0; want_connect && i < nw; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t al = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(fd, 4096) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
			perror("listener");
			return -1;
		}
		lfds[i] = fd;
		laddrs[i] = a;
	}
	lfd = lfds[0];
	laddr = laddrs[0];
	return 0;
}

/* Remove the open targets (unlink and rmdir open nothing, but each unlink is an
 * event: see --keep-files). */
static void teardown(void)
{
	char p[512];
	long i;

	if (!dir[0] || keep_files)
		return;
	for (i = 0; i < files; i++) {
		snprintf(p, sizeof(p), "%s/%ld", dir, i);
		unlink(p);
	}
	rmdir(dir);
}

/* Parse "exec=1,open=8,connect=1" (or a single kind name) into weights. */
static int parse_mix(const char *s, long w[K_N])
{
	char buf[256], *tok, *save = NULL;
	int k;

	memset(w, 0, sizeof(long) * K_N);
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		long v = eq ? atol(eq + 1) : 1;

		if (eq)
			*eq = 0;
		for (k = 0; k < K_N && strcmp(tok, kind_name[k]); k++)
			;
		if (k == K_N || v < 0)
			return -1;
		w[k] = v;
	}
	return w[0] + w[1] + w[2] > 0 ? 0 : -1;
}

/* Smooth weighted round robin: the next kind, interleaved evenly by weight. */
static int next_kind(const long w[K_N], long cur[K_N])
{
	long total = 0;
	int k, best = -1;

	for (k = 0; k < K_N; k++) {
		cur[k] += w[k];
		total += w[k];
		if (w[k] && (best < 0 || cur[k] > cur[best]))
			best = k;
	}
	cur[best] -= total;
	return best;
}

/* Sleep until the monotonic deadline. */
static void sleep_until(int64_t t)
{
	struct timespec ts = { t / 1000000000, t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen --run ID [--rate EV/S] [--duration S] [--count N] "
			"[--mix exec=W,open=W,connect=W] [--burst N --burst-ms MS] [--files K] "
			"[--log FILE] [--workers W] [--keep-files]\n");
}

/* Worker w of nw: operations w, w+nw, ... at rate/nw from t0 until end (or count in
 * all), into t; its log lines go to lf. */
static void work(int w, int nw, double rate, long count, int64_t t0, int64_t end, long burst,
		 long burst_ms, const long wt[K_N], FILE *lf, struct tally *t)
{
	long cur[K_N] = { 0 }, n, i;
	int64_t next = t0;
	char marker[512];
	int k;

	for (i = 0, n = w; !stop && (count < 0 || n < count) &&
			   (count >= 0 || now(CLOCK_MONOTONIC) < end);
	     i++, n += nw) {
		int64_t a, b, ar;
		int r;

		k = next_kind(wt, cur);
		if (burst > 0) {
			/* each worker issues its share of every burst */
			if (i % ((burst + nw - 1) / nw) == 0) {
				if (i)
					next += burst_ms * 1000000;
				sleep_until(next);
			}
		} else if (rate > 0) {
			/* Sleep only when more than 200 µs ahead: timer slack in the VM is tens of
			 * µs, so per-operation sleeps at 50k/s would pace badly. */
			if (next - now(CLOCK_MONOTONIC) > 200000)
				sleep_until(next);
			next += (int64_t)(kind_events[k] * 1e9 * nw / rate);
		}
		ar = lf ? now(CLOCK_REALTIME) : 0;
		a = now(CLOCK_MONOTONIC);
		r = k == K_EXEC ? op_exec(n, marker, sizeof(marker))
		  : k == K_OPEN ? op_open(n, marker, sizeof(marker))
				: op_connect(n, marker, sizeof(marker));
		b = now(CLOCK_MONOTONIC);
		t->ops[k]++;
		t->op_ns[k] += b - a;
		if (r < 0)
			t->fails[k]++;
		if (lf)
			fprintf(lf, "%ld %s %s %lld %lld%s\n", n, kind_name[k], marker, (long long)ar,
				(long long)(b - a), r < 0 ? " FAIL" : "");
	}
}

/* Append the file at path to f and remove it. */
static void join_log(FILE *f, const char *path)
{
	char buf[1 << 16];
	size_t n;
	FILE *in = fopen(path, "r");

	if (!in)
		return;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, f);
	fclose(in);
	unlink(path);
}

int main(int argc, char **argv)
{
	double rate = 1000, duration = 5;
	long count = -1, burst = 0, burst_ms = 100, w[K_N] = { 1, 8, 1 }, i;
	long workers = 1, ops[K_N] = { 0 }, fails[K_N] = { 0 };
	int64_t op_ns[K_N] = { 0 }, t0, t0r, end, t1r, elapsed;
	const char *logpath = NULL;
	struct tally *tl;
	char lp[4096];
	int k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--keep-files")) {
			keep_files = 1;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--run"))
			snprintf(opt_run, sizeof(opt_run), "%s", v);
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--count"))
			count = atol(v);
		else if (!strcmp(a, "--burst"))
			burst = atol(v);
		else if (!strcmp(a, "--burst-ms"))
			burst_ms = atol(v);
		else if (!strcmp(a, "--files"))
			files = atol(v);
		else if (!strcmp(a, "--log"))
			logpath = v;
		else if (!strcmp(a, "--workers"))
			workers = atol(v);
		else if (!strcmp(a, "--mix")) {
			if (parse_mix(v, w) < 0) {
				fprintf(stderr, "gen: bad --mix %s\n", v);
				return 2;
			}
		} else {
			usage();
			return 2;
		}
		i++;
	}
	if (!opt_run[0] || strpbrk(opt_run, "/ -") || files <= 0 || rate < 0 || burst_ms <= 0 ||
	    workers < 1 || workers > 64) {
		usage();
		return 2;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	if (logpath && !(logf = fopen(logpath, "w"))) {
		perror(logpath);
		return 1;
	}
	if (logf)
		setvbuf(logf, NULL, _IOFBF, 1 << 20);
	tl = mmap(NULL, sizeof(*tl) * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	kids = calloc(workers, sizeof(*kids));
	if (tl == MAP_FAILED || !kids) {
		perror("gen");
		return 1;
	}
	if (setup(w[K_OPEN] > 0, w[K_CONNECT] > 0, workers) < 0) {
		teardown();
		return 1;
	}
	t0 = now(CLOCK_MONOTONIC);
	t0r = now(CLOCK_REALTIME);
	end = t0 + (int64_t)(duration * 1e9);
	if (workers == 1) {
		work(0, 1, rate, count, t0, end, burst, burst_ms, w, logf, &tl[0]);
	} else {
		for (i = 0; i < workers; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				FILE *lf = NULL;

				nkids = 0; /* a worker has none */
				lfd = lfds[i];
				laddr = laddrs[i];
				if (logpath) {
					snprintf(lp, sizeof(lp), "%s.%ld", logpath, i);
					if (!(lf = fopen(lp, "w")))
						_exit(1);
					setvbuf(lf, NULL, _IOFBF, 1 << 20);
				}
				work((int)i, (int)workers, rate, count, t0, end, burst, burst_ms, w, lf,
				     &tl[i]);
				if (lf && fclose(lf) != 0)
					_exit(1);
				_exit(0);
			}
			if (kids[i] < 0) {
				perror("fork");
				stop = 1;
				break;
			}
			nkids = i + 1;
		}
		if (stop) /* a signal before the last fork, or a failed fork */
			on_sig(SIGTERM);
		for (i = 0; i < workers && kids[i] > 0; i++) {
			int st;

			while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
				;
		}
		for (i = 0; logf && i < workers; i++) {
			snprintf(lp, sizeof(lp), "%s.%ld", logpath, i);
			join_log(logf, lp);
		}
	}
	elapsed = now(CLOCK_MONOTONIC) - t0;
	t1r = now(CLOCK_REALTIME);
	if (logf)
		fclose(logf);
	teardown();
	for (i = 0; i < workers; i++)
		for (k = 0; k < K_N; k++) {
			ops[k] += tl[i].ops[k];
			fails[k] += tl[i].fails[k];
			op_ns[k] += tl[i].op_ns[k];
		}
	printf("{\"run\":\"%s\",\"elapsed_s\":%.6f,\"t_start_ns\":%lld,\"t_end_ns\":%lld,"
	       "\"port\":%u,\"dir\":\"%s\",\"files\":%ld,\"target_rate\":%.1f,\"burst\":%ld,"
	       "\"workers\":%ld,\"ports\":[",
	       opt_run, elapsed / 1e9, (long long)t0r, (long long)t1r, ntohs(laddr.sin_port), dir,
	       files, rate, burst, workers);
	for (i = 0; i < workers && w[K_CONNECT] > 0; i++)
		printf("%s%u", i ? "," : "", ntohs(laddrs[i].sin_port));
	printf("],");
	long evs = 0;
	for (k = 0; k < K_N; k++)
		evs += (ops[k] - fails[k]) * kind_events[k];
	printf("\"events\":%ld,\"rate_achieved\":%.1f", evs, evs / (elapsed / 1e9));
	for (k = 0; k < K_N; k++)
		printf(",\"%s\":{\"ops\":%ld,\"fail\":%ld,\"ns_per_op\":%.1f}", kind_name[k], ops[k],
		       fails[k], ops[k] ? (double)op_ns[k] / ops[k] : 0.0);
	printf("}\n");
	return 0;
}
