/* statefile.h — a small mmap'd file in the run directory that outlives a kill -9:
 * the producer's next sequence number and the last number seen from each upstream
 * producer. Writes are plain stores into shared memory: the page cache keeps them. */
#ifndef VIGIL_STATEFILE_H
#define VIGIL_STATEFILE_H

#include <stdint.h>

#define STATE_MAGIC 0x76676c7374617431ull /* "vglstat1" */
#define STATE_SRC_MAX 32
#define STATE_SRC_LEN 56

struct state_src {
	char name[STATE_SRC_LEN];
	uint64_t last;
};

struct state {
	uint64_t magic;
	uint64_t out_seq;  /* last sequence number this producer used */
	uint64_t restarts;
	struct state_src src[STATE_SRC_MAX];
};

/* Map path (created 0600 if missing); returns NULL with errno set on failure. */
struct state *state_open(const char *path);
/* The slot for an upstream producer, created if new; NULL when all slots are taken. */
struct state_src *state_src(struct state *s, const char *name, int *created);

#endif
