/*
 * collector_mnt.h - undo bind mounts in file event paths. The BPF walk gives
 * the path through which a file was reached and the mount id of its
 * innermost mount; a bind mount of a subtree (or of one file) shows there as
 * its mountpoint, which would let /etc/shadow be read as /tmp/x/shadow. This
 * keeps a table of /proc/self/mountinfo (id, device, root within the
 * filesystem, mountpoint) and rewrites "<mountpoint>/rest" of a mount whose
 * root is not "/" to "<mountpoint of a mount of the same device that shows
 * that root><root>/rest". Header-only so that the collector and its
 * self-test share one copy (the self-test is built from collector_bpf.c).
 *
 * The table is re-read when /proc/self/mountinfo reports a change (poll
 * POLLPRI, checked without blocking on each lookup: the kernel flags every
 * mount or unmount of our namespace since the previous poll). Mounts of
 * other mount namespaces are not in our mountinfo: their paths stay as the
 * kernel gave them.
 */
#ifndef COLLECTOR_MNT_H
#define COLLECTOR_MNT_H

#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cmnt_ent {
	unsigned id;
	unsigned dev_major, dev_minor;
	char *root;		/* within the filesystem, unescaped */
	char *mp;		/* mountpoint, unescaped */
	size_t rootlen, mplen;
};

struct cmnt {
	int fd;			/* /proc/self/mountinfo, kept open for POLLPRI; -1 = closed */
	int loaded;
	struct cmnt_ent *e;
	size_t n, cap;
	char *buf;		/* the file's text; root/mp point into it */
	size_t bufcap;
	unsigned long reloads;	/* times the table was read */
};

/* Undo mountinfo's octal escapes (\040 space, \011, \012, \134) in place. */
static inline size_t cmnt_unescape(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* Parse one mountinfo line (NUL-terminated, modified in place) into e; 0 = ok. */
static inline int cmnt_parse_line(char *line, struct cmnt_ent *e)
{
	char *f[5], *save = NULL, *tok;
	int i;

	tok = strtok_r(line, " ", &save);
	for (i = 0; i < 5 && tok; i++) {
		f[i] = tok;
		tok = strtok_r(NULL, " ", &save);
	}
	if (i < 5)
		return -1;
	if (sscanf(f[0], "%u", &e->id) != 1 ||
	    sscanf(f[2], "%u:%u", &e->dev_major, &e->dev_minor) != 2)
		return -1;
	e->root = f[3];
	e->mp = f[4];
	e->rootlen = cmnt_unescape(e->root);
	e->mplen = cmnt_unescape(e->mp);
	return e->root[0] == '/' && e->mp[0] == '/' ? 0 : -1;
}

/* Parse the NUL-terminated mountinfo text in m->buf (modified in place) into
 * the table. */
static inline int cmnt_parse(struct cmnt *m)
{
	size_t n = 0;
	char *line, *next;

	for (line = m->buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (n == m->cap) {
			size_t nc = m->cap ? m->cap * 2 : 64;
			struct cmnt_ent *ne = realloc(m->e, nc * sizeof(*ne));

			if (!ne)
				break;
			m->e = ne;
			m->cap = nc;
		}
		if (cmnt_parse_line(line, &m->e[n]) == 0)
			n++;
	}
	m->n = n;
	m->loaded = 1;
	m->reloads++;
	return 0;
}

/* (Re)read the whole table; a failed read empties it (every path is kept). */
static inline int cmnt_load(struct cmnt *m)
{
	size_t len = 0;
	ssize_t r;

	if (m->fd < 0)
		m->fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (m->fd < 0 || lseek(m->fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		if (len + 4096 + 1 > m->bufcap) {
			size_t nc = m->bufcap ? m->bufcap * 2 : 65536;
			char *nb = realloc(m->buf, nc);

			if (!nb)
				return -1;
			m->buf = nb;
			m->bufcap = nc;
			m->n = 0;	/* entries pointed into the old buffer */
			m->loaded = 0;
		}
		r = read(m->fd, m->buf + len, m->bufcap - len - 1);
		if (r < 0) {
			m->n = 0;	/* the text under the entries is half overwritten */
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	m->buf[len] = '\0';
	return cmnt_parse(m);
}

/* Whether mountinfo changed since the last read (POLLPRI/POLLERR, no wait). */
static inline int cmnt_changed(struct cmnt *m)
{
	struct pollfd p = { .fd = m->fd, .events = POLLPRI };

	if (m->fd < 0)
		return 1;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR));
}

/* The entry of mount id, or NULL. */
static inline const struct cmnt_ent *cmnt_find(const struct cmnt *m, unsigned id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].id == id)
			return &m->e[i];
	return NULL;
}

/* Whether root r is a proper path prefix of root s ("/" is of every other). */
static inline int cmnt_root_under(const char *r, size_t rl, const char *s, size_t sl)
{
	if (rl == 1 && r[0] == '/')
		return sl > 1;
	return sl > rl && !memcmp(r, s, rl) && s[rl] == '/';
}

/*
 * Rewrite path (plen bytes) reached through mount id to its source into out
 * (outsz bytes). Returns the new length, or -1 when the path stays as it is
 * (unknown mount, root "/", no mount showing the source, no room).
 */
static inline int cmnt_resolve(struct cmnt *m, unsigned id, const char *path, size_t plen,
			       char *out, size_t outsz)
{
	const struct cmnt_ent *me, *best = NULL;
	const char *rest, *sub;
	size_t restlen, sublen, mplen, len;

	if (!id)
		return -1;
	if (!m->loaded || cmnt_changed(m))
		cmnt_load(m);
	/* a miss is not re-read: poll just said nothing changed since the last
	 * read, so the mount is in another namespace or gone (re-reading would
	 * cost a whole mountinfo per container event) */
	me = cmnt_find(m, id);
	/* root "/": not a bind of a part; mountpoint "/": our own root (a
	 * subvolume, a container's root), which is the view paths are in */
	if (!me || (me->rootlen == 1 && me->root[0] == '/') || me->mplen == 1)
		return -1;
	/* the path must be the mountpoint or below it (not so for a chrooted
	 * process, whose paths are relative to its own root) */
	mplen = me->mplen;
	if (plen < mplen || memcmp(path, me->mp, mplen) || (plen > mplen && path[mplen] != '/'))
		return -1;
	rest = path + mplen;
	restlen = plen - mplen;
	/* a mount of the same device whose root contains ours; the widest wins */
	for (size_t i = 0; i < m->n; i++) {
		const struct cmnt_ent *c = &m->e[i];

		if (c == me || c->dev_major != me->dev_major || c->dev_minor != me->dev_minor ||
		    !cmnt_root_under(c->root, c->rootlen, me->root, me->rootlen))
			continue;
		if (!best || c->rootlen < best->rootlen ||
		    (c->rootlen == best->rootlen && c->mplen < best->mplen))
			best = c;
	}
	if (!best)
		return -1;
	/* out = best.mp + (me.root minus best.root) + rest */
	sub = me->root + (best->rootlen == 1 ? 0 : best->rootlen);
	sublen = me->rootlen - (size_t)(sub - me->root);
	mplen = best->mplen == 1 ? 0 : best->mplen;
	len = mplen + sublen + restlen;
	if (len + 1 > outsz)
		return -1;
	memcpy(out, best->mp, mplen);
	memcpy(out + mplen, sub, sublen);
	memcpy(out + mplen + sublen, rest, restlen);
	out[len] = '\0';
	return (int)len;
}

/* Release the table and the file. */
static inline void cmnt_free(struct cmnt *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->e);
	free(m->buf);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

#endif /* COLLECTOR_MNT_H */
