/* loop — the workload side of `make bench`: time N operations of one kind and print
 * nanoseconds per operation. Kinds: exec (fork + exec /bin/true + wait), open
 * (openat + close of a cached file) and read (a 1-byte pread of an open file: a syscall
 * no vigil program captures, for the cost of hooks that every syscall passes). */
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

/* One pread of a byte of fd. */
static int do_read(int fd)
{
	char c;

	return pread(fd, &c, 1, 0) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0, i;
	double t0;
	int fd;

	if (n <= 0 || (strcmp(kind, "exec") && strcmp(kind, "open") && strcmp(kind, "read"))) {
		fprintf(stderr, "usage: loop exec|open|read N\n");
		return 2;
	}
	if (kind[0] == 'r') {
		fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror("/etc/hostname");
			return 1;
		}
		t0 = now_ns();
		for (i = 0; i < n; i++)
			if (do_read(fd) < 0) {
				perror("pread");
				return 1;
			}
		printf("%.1f\n", (now_ns() - t0) / (double)n);
		return 0;
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
