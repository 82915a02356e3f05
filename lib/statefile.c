/* statefile.c — see statefile.h. */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct state *state_open(const char *path)
{
	struct state *s;
	struct stat sb;
	int fd, e;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || (sb.st_size != sizeof(*s) && ftruncate(fd, 0) < 0) ||
	    ftruncate(fd, sizeof(*s)) < 0)
		goto fail;
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		goto fail;
	close(fd);
	if (s->magic != STATE_MAGIC) {
		memset(s, 0, sizeof(*s));
		s->magic = STATE_MAGIC;
	} else {
		s->restarts++;
	}
	return s;
fail:
	e = errno;
	close(fd);
	errno = e;
	return NULL;
}

struct state_src *state_src(struct state *s, const char *name, int *created)
{
	int i;

	*created = 0;
	for (i = 0; i < STATE_SRC_MAX; i++) {
		if (s->src[i].name[0] == '\0') {
			strncpy(s->src[i].name, name, STATE_SRC_LEN - 1);
			s->src[i].last = 0;
			*created = 1;
			return &s->src[i];
		}
		if (strncmp(s->src[i].name, name, STATE_SRC_LEN - 1) == 0)
			return &s->src[i];
	}
	return NULL;
}
