/* loop — the workload side of `make bench`: time N operations of one kind and print
 * nanoseconds per operation. Kinds: exec (fork + exec /bin/true + wait) and open
 * (openat + close of a cached file). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int do_exec(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

static int do_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0, i;
	double t0;

	if (n <= 0 || (strcmp(kind, "exec") && strcmp(kind, "open"))) {
		fprintf(stderr, "usage: loop exec|open N\n");
		return 2;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if ((kind[0] == 'e' ? do_exec() : do_open("/etc/hostname")) < 0) {
			perror(kind);
			return 1;
		}
	printf("%.1f\n", (now_ns() - t0) / (double)n);
	return 0;
}
