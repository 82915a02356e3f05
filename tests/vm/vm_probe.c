/* vm_probe.c — the operations the qemu pipeline test (tests/vm/pipeline-init.sh) tries,
 * each printing one line the init script can judge (busybox tools do not say errnos):
 *
 *   vm_probe open PATH          "errno=N bytes=M" (M: bytes read, 0 when the open failed)
 *   vm_probe exec PATH          "errno=N status=S" (N: execve's errno in the child, 0 when
 *                               it ran; S: the child's exit status, or 128+signal)
 *   vm_probe connect IP PORT    "errno=N" of a TCP connect to IP:PORT, with a listener on
 *                               0.0.0.0:PORT in this process (so 0 means it connected)
 *
 * Static, for the initramfs. Exit 0 whatever the operation gave; 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Open and read up to 4 KiB. */
static int probe_open(const char *path)
{
	char buf[4096];
	ssize_t n = 0;
	int fd = open(path, O_RDONLY), err = 0;

	if (fd < 0) {
		err = errno;
	} else {
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			err = errno;
			n = 0;
		}
		close(fd);
	}
	printf("errno=%d bytes=%zd\n", err, n);
	return 0;
}

/* Fork and exec path; the child reports execve's errno through a close-on-exec pipe. */
static int probe_exec(const char *path)
{
	int p[2], st = 0, err = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 2;
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };

		close(p[0]);
		execv(path, argv);
		err = errno;
		if (write(p[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	printf("errno=%d status=%d\n", err,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/* Listen on 0.0.0.0:port, then connect to ip:port. */
static int probe_connect(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), c, err = 0;

	if (l < 0)
		return 2;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 8) < 0) {
		printf("errno=-1 listen: %s\n", strerror(errno));
		return 0;
	}
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return 2;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		err = errno;
	printf("errno=%d\n", err);
	close(c);
	close(l);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "open"))
		return probe_open(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "exec"))
		return probe_exec(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return probe_connect(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: vm_probe open PATH | exec PATH | connect IP PORT\n");
	return 2;
}
