/* enforcer_bpf.c — the enforcer's kernel side: load bpf/enforce.bpf.c, probe which tiers
 * load here, attach (or adopt the links a crashed predecessor pinned), compile a policy
 * set into the idle rule slot and flip to it, fill the kill maps, read reports. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <stddef.h>

#include "enforce.skel.h"
#include "enforce_noloop.skel.h"
#include "enforce_nocast.skel.h"
#include "enforcer.h"
#include "log.h"

#define CGROUP2_MAGIC 0x63677270

/* Programs that run on hot paths (every open, every syscall entry, every read and
 * write) are attached only while something needs them; these bits say what. A
 * program whose need is 0 (the cgroup connect/sendmsg hooks, which run only on
 * connect and sendmsg) stays attached from start to stop. */
#define NEED_SIGFILE (1U << 0)          /* sys_exit_open*: a file rule of the sigkill tier */
#define NEED_SIGEXEC (1U << 1)          /* sched_process_exec: an exec rule of that tier */
#define NEED_KILL (1U << 2)             /* raw_tp/sys_enter: a kill map holds an entry */
#define NEED_LSM(i) (1U << (3 + (i)))   /* lsm_progs[i]: a rule of the LSM tier it carries */

/* One loaded program and its link (NULL while it is not attached). */
struct enfb_prog {
	struct bpf_program *p;
	struct bpf_link *l;
	uint32_t need;              /* NEED_* bits that call for it; 0: always attached */
	int nopin;                  /* its link cannot be pinned here (perf-event tracepoint) */
};

struct enfb {
	struct enforce_bpf *skel;
	struct enfb_prog progs[32];
	int nprogs;
	uint32_t rule_need;         /* NEED_* of the rule set in force */
	int kill_need;              /* a kill map may hold an entry */
	char cgroot[200];
	char pin_dir[256];
	int lock_fd;
	int keep_pins;
	int lsm;
	uint32_t lsm_kinds;         /* 1 << ENF_K_* whose LSM hook is attached */
	int build;                  /* ENFB_BUILD_*: the build of enforce.bpf.c loaded */
	int retval;                 /* cgroup programs give the policy's errno (bpf_set_retval) */
	char lsm_hooks[200];
	struct ring_buffer *rb;
	void (*cb)(void *, const struct enf_event *);
	void *cb_arg;
	char attached[320];
	char unpinned[200];         /* links the kernel cannot pin (perf-event tracepoints) */
	int adopted;
	struct bpf_link *iter_link;
};

static struct enf_conf get_conf(const struct enfb *b);

/* libbpf's messages: warnings through our log, debug chatter dropped; quiet while
 * probing (a refused LSM load is an expected answer there, not an error). */
static int enfb_quiet;
static int enfb_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char *buf, *line, *save = NULL;

	if (lvl == LIBBPF_DEBUG || (enfb_quiet && !getenv("VIGIL_ENF_PROBE_LOG")))
		return 0;
	if (vasprintf(&buf, fmt, ap) < 0)
		return 0;
	/* Verifier logs come as one multi-line string: one log line each. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_warn("%s", line);
	free(buf);
	return 0;
}

/* The cgroup v2 mount to attach the sock_addr programs to. */
static const char *cgroup_root(const char *want)
{
	static const char *const cands[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	struct statfs sf;

	if (want)
		return want;
	for (size_t i = 0; i < 2; i++)
		if (statfs(cands[i], &sf) == 0 && sf.f_type == CGROUP2_MAGIC)
			return cands[i];
	return NULL;
}

/* The builds of one source have the same maps and programs, so their skeleton structs
 * are interchangeable (the generated __load/__destroy only use ->skeleton). */
_Static_assert(sizeof(struct enforce_bpf) == sizeof(struct enforce_noloop_bpf) &&
	       sizeof(struct enforce_bpf) == sizeof(struct enforce_nocast_bpf),
	       "enforce skeleton variants differ");
_Static_assert(offsetof(struct enforce_bpf, progs) == offsetof(struct enforce_noloop_bpf, progs) &&
	       offsetof(struct enforce_bpf, maps) == offsetof(struct enforce_noloop_bpf, maps) &&
	       offsetof(struct enforce_bpf, progs) == offsetof(struct enforce_nocast_bpf, progs) &&
	       offsetof(struct enforce_bpf, maps) == offsetof(struct enforce_nocast_bpf, maps),
	       "enforce skeleton variants differ");

/* The builds of bpf/enforce.bpf.c, fastest first (enfb_build_name). */
enum { ENFB_BUILD_CAST, ENFB_BUILD_NOCAST, ENFB_BUILD_NOLOOP };
static const char *const enfb_build_names[] = {
	"typed (bpf_rdonly_cast)",
	"bpf_loop (no bpf_rdonly_cast)",
	"bounded loops (no bpf_loop)",
};

/* Which build: typed loads need the bpf_rdonly_cast kfunc (6.2+, looked up in the
 * kernel's BTF); without bpf_loop (before 5.17) bounded loops; else the build that
 * reads fields with helpers. VIGIL_ENF_NOLOOP=1 / VIGIL_ENF_NOCAST=1 force the older
 * builds (to test them on a new kernel). */
static int pick_build(void)
{
	const char *nl = getenv("VIGIL_ENF_NOLOOP"), *nc = getenv("VIGIL_ENF_NOCAST");
	struct btf *btf;
	int cast;

	if (nl && nl[0] == '1')
		return ENFB_BUILD_NOLOOP;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) != 1 &&
	    !(nl && nl[0] == '0'))
		return ENFB_BUILD_NOLOOP;
	if (nc && nc[0] == '1')
		return ENFB_BUILD_NOCAST;
	btf = btf__load_vmlinux_btf();
	cast = btf && btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
	btf__free(btf);
	return cast ? ENFB_BUILD_CAST : ENFB_BUILD_NOCAST;
}

/* Can cgroup sock_addr programs set the syscall's errno (bpf_set_retval, 5.18+)?
 * VIGIL_ENF_NO_SETRETVAL=1 pretends not (to test the EPERM fallback). */
static int want_retval(void)
{
	const char *f = getenv("VIGIL_ENF_NO_SETRETVAL");

	if (f && f[0] == '1')
		return 0;
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval,
				       NULL) == 1;
}

/* The builds list their maps in different orders (bpftool follows the ELF's
 * symbols, which the noloop build's global functions reorder): after opening the
 * noloop or nocast skeleton, point each named field at the map or program of that
 * name, so the rest of this file can use skel->maps.X and skel->progs.X for any build.
 * The skeleton's own bookkeeping only holds the fields' addresses, which stay. */
#define ENF_N_MAPS 12
#define ENF_N_PROGS 23
_Static_assert(sizeof(((struct enforce_bpf *)0)->maps) == ENF_N_MAPS * sizeof(void *),
	       "skel_by_name: a map was added to enforce.bpf.c, list it there");
_Static_assert(sizeof(((struct enforce_bpf *)0)->progs) == ENF_N_PROGS * sizeof(void *),
	       "skel_by_name: a program was added to enforce.bpf.c, list it there");
static int skel_by_name(struct enforce_bpf *s)
{
	struct bpf_map *m;
	int n = 0;

#define ENF_MAP(x) n += !!(s->maps.x = bpf_object__find_map_by_name(s->obj, #x))
#define ENF_PROG(x) n += !!(s->progs.x = bpf_object__find_program_by_name(s->obj, #x))
	ENF_MAP(enf_conf); ENF_MAP(enf_killpid); ENF_MAP(enf_killcg); ENF_MAP(enf_lookup);
	ENF_MAP(enf_slotconf); ENF_MAP(enf_rules); ENF_MAP(enf_lpm); ENF_MAP(enf_scope);
	ENF_MAP(enf_events); ENF_MAP(enf_sync); ENF_MAP(enf_heap);
	s->maps.rodata = NULL;
	bpf_object__for_each_map(m, s->obj)
		if (bpf_map__is_internal(m) && strstr(bpf_map__name(m), ".rodata"))
			s->maps.rodata = m;
	n += !!s->maps.rodata;
	ENF_PROG(vigil_enf_c4); ENF_PROG(vigil_enf_c6); ENF_PROG(vigil_enf_s4);
	ENF_PROG(vigil_enf_s6); ENF_PROG(vigil_enf_open); ENF_PROG(vigil_enf_open2);
	ENF_PROG(vigil_enf_open0); ENF_PROG(vigil_enf_creat); ENF_PROG(vigil_enf_openh);
	ENF_PROG(vigil_enf_exec); ENF_PROG(vigil_enf_kill); ENF_PROG(vigil_enf_iter);
	ENF_PROG(vigil_enf_lfo); ENF_PROG(vigil_enf_lbprm); ENF_PROG(vigil_enf_lfperm);
	ENF_PROG(vigil_enf_lunlink); ENF_PROG(vigil_enf_lrename); ENF_PROG(vigil_enf_lchmod);
	ENF_PROG(vigil_enf_lmount); ENF_PROG(vigil_enf_lsetuid); ENF_PROG(vigil_enf_lkrf);
	ENF_PROG(vigil_enf_lkld); ENF_PROG(vigil_enf_lconnect);
#undef ENF_MAP
#undef ENF_PROG
	return n == ENF_N_MAPS + ENF_N_PROGS ? 0 : -1;
}

/* Open the build chosen for this kernel (ENFB_BUILD_*), with its load-time constants
 * set. */
static struct enforce_bpf *skel_open(int build, int retval)
{
	struct enforce_bpf *s;

	if (build != ENFB_BUILD_CAST) {
		s = build == ENFB_BUILD_NOLOOP ? (struct enforce_bpf *)enforce_noloop_bpf__open() :
			(struct enforce_bpf *)enforce_nocast_bpf__open();
		if (s && skel_by_name(s) < 0) {
			log_error("the %s build lacks a map or program of the main one",
				  enfb_build_names[build]);
			enforce_bpf__destroy(s);
			errno = ENOENT;
			return NULL;
		}
	} else {
		s = enforce_bpf__open();
	}
	if (!s)
		return NULL;
	s->rodata->enf_has_retval = retval ? 1 : 0;
	return s;
}

/* The LSM programs and the rule kinds each one carries. */
static const struct {
	const char *prog;
	const char *hook;
	uint32_t kinds;
} lsm_progs[] = {
	{ "vigil_enf_lfo", "file_open", 1U << ENF_K_FILE },
	{ "vigil_enf_lbprm", "bprm_check_security", 1U << ENF_K_EXEC },
	{ "vigil_enf_lfperm", "file_permission", 1U << ENF_K_FPERM },
	{ "vigil_enf_lunlink", "path_unlink", 1U << ENF_K_UNLINK },
	{ "vigil_enf_lrename", "path_rename", 1U << ENF_K_RENAME },
	{ "vigil_enf_lchmod", "path_chmod", 1U << ENF_K_CHMOD },
	{ "vigil_enf_lsetuid", "task_fix_setuid", 1U << ENF_K_SETUID },
	{ "vigil_enf_lkrf", "kernel_read_file", 1U << ENF_K_MODULE },
	{ "vigil_enf_lkld", "kernel_load_data", 0 },
	{ "vigil_enf_lmount", "sb_mount", 1U << ENF_K_MOUNT },
	{ "vigil_enf_lconnect", "socket_connect", 1U << ENF_K_NET4 },
};
#define N_LSM_PROGS (sizeof(lsm_progs) / sizeof(lsm_progs[0]))

/* Index of p in lsm_progs, or -1. */
static int lsm_index(const struct bpf_program *p)
{
	for (size_t i = 0; i < N_LSM_PROGS; i++)
		if (!strcmp(bpf_program__name(p), lsm_progs[i].prog))
			return (int)i;
	return -1;
}

/* Is p a BPF LSM program (the Override tier)? */
static int is_lsm(const struct bpf_program *p)
{
	return bpf_program__type(p) == BPF_PROG_TYPE_LSM;
}

/* Open the skeleton with map pins set. NULL with err. */
static struct enforce_bpf *open_skel(struct enfb *b, uint32_t lsm_set, char *err,
				      size_t errlen)
{
	struct enforce_bpf *s = skel_open(b->build, b->retval);
	struct bpf_program *p;
	struct bpf_map *m;
	char path[400];

	if (!s) {
		snprintf(err, errlen, "open BPF object: %s", strerror(errno));
		return NULL;
	}
	if (b->pin_dir[0])
		bpf_object__for_each_map(m, s->obj) {
			if (bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY ||
			    bpf_map__type(m) == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
			    bpf_map__is_internal(m))
				continue;  /* scratch, the barrier, load-time constants */
			snprintf(path, sizeof(path), "%s/%s", b->pin_dir, bpf_map__name(m));
			bpf_map__set_pin_path(m, path);
		}
	bpf_object__for_each_program(p, s->obj)
		if (is_lsm(p))
			bpf_program__set_autoload(p, lsm_index(p) >= 0 &&
						  (lsm_set >> lsm_index(p)) & 1);
	return s;
}

/* Does this LSM program (index in lsm_progs) load here? Loads it alone, with
 * unpinned maps. 0 or -errno. */
static int probe_lsm(int build, int which)
{
	struct enforce_bpf *s = skel_open(build, 0);
	struct bpf_program *p;
	int rc;

	if (!s)
		return -errno;
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, lsm_index(p) == which);
	enfb_quiet = 1;
	rc = enforce_bpf__load(s);
	enfb_quiet = 0;
	enforce_bpf__destroy(s);
	return rc;
}

/* Take the pin directory: create it 0700 and hold an exclusive lock on it, so two
 * enforcers never share (and unpin) one set of maps. 0, or -1 with err. */
static int lock_pins(struct enfb *b, char *err, size_t errlen)
{
	if (mkdir(b->pin_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", b->pin_dir, strerror(errno));
		return -1;
	}
	chmod(b->pin_dir, 0700);
	b->lock_fd = open(b->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->lock_fd < 0) {
		snprintf(err, errlen, "open %s: %s", b->pin_dir, strerror(errno));
		return -1;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s is in use by another enforcer", b->pin_dir);
		close(b->lock_fd);
		b->lock_fd = -1;
		return -1;
	}
	return 0;
}

/* The pin path of a program's link. */
static void link_path(const struct enfb *b, const struct enfb_prog *ep, char *path, size_t len)
{
	snprintf(path, len, "%s/link_%s", b->pin_dir, bpf_program__name(ep->p));
}

/* Adopt the link a predecessor pinned for this program: 1 adopted, 0 none pinned. */
static int adopt_prog(struct enfb *b, struct enfb_prog *ep)
{
	char path[400];

	if (!b->pin_dir[0])
		return 0;
	link_path(b, ep, path, sizeof(path));
	if (access(path, F_OK) < 0 || !(ep->l = bpf_link__open(path)))
		return 0;
	b->adopted++;
	return 1;
}

/* Attach one program and pin its link. 0, or -1 with err (nothing attached). */
static int attach_prog(struct enfb *b, struct enfb_prog *ep, int cgfd, char *err,
		       size_t errlen)
{
	struct bpf_program *p = ep->p;
	struct bpf_link *l;
	char path[400];

	if (bpf_program__type(p) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR)
		l = bpf_program__attach_cgroup(p, cgfd);
	else
		l = bpf_program__attach(p);
	if (!l) {
		snprintf(err, errlen, "attach %s: %s", bpf_program__name(p), strerror(errno));
		return -1;
	}
	if (b->pin_dir[0]) {
		link_path(b, ep, path, sizeof(path));
		unlink(path);  /* a stale pin of a program this start did not adopt */
		if (bpf_link__pin(l, path) < 0) {
			/* Before 5.15 a tracepoint is attached through a perf event, which is
			 * no BPF link and cannot be pinned: it works, but only while this
			 * process lives. Said, not hidden (info.unpinned). */
			if (errno == EINVAL && bpf_program__type(p) == BPF_PROG_TYPE_TRACEPOINT) {
				if (!ep->nopin)
					log_warn("%s: a tracepoint link cannot be pinned on this "
						 "kernel: it lapses while the enforcer restarts",
						 bpf_program__name(p));
				ep->nopin = 1;
				ep->l = l;
				return 0;
			}
			snprintf(err, errlen, "pin %s: %s", path, strerror(errno));
			bpf_link__destroy(l);
			return -1;
		}
		chmod(path, 0600);
	}
	ep->l = l;
	return 0;
}

/* Detach one program: unpin first, so a crash in between leaves no pin of a link
 * that is gone (the fd closes with the process). */
static void detach_prog(struct enfb *b, struct enfb_prog *ep)
{
	char path[400];

	if (!ep->l)
		return;
	if (b->pin_dir[0]) {
		bpf_link__unpin(ep->l);
		link_path(b, ep, path, sizeof(path));
		unlink(path);
	}
	bpf_link__destroy(ep->l);
	ep->l = NULL;
}

/* What the rule set in force and the kill maps need attached. */
static uint32_t want_now(const struct enfb *b)
{
	return b->rule_need | (b->kill_need ? NEED_KILL : 0);
}

/* Rebuild info.attached and info.unpinned from the programs' links. */
static void describe(struct enfb *b)
{
	int ncg = 0, ntp = 0, nkill = 0, nlsm = 0;

	b->unpinned[0] = 0;
	for (int i = 0; i < b->nprogs; i++) {
		const struct enfb_prog *ep = &b->progs[i];

		if (ep->nopin)
			snprintf(b->unpinned + strlen(b->unpinned),
				 sizeof(b->unpinned) - strlen(b->unpinned), "%s%s",
				 b->unpinned[0] ? "," : "", bpf_program__name(ep->p));
		if (!ep->l)
			continue;
		switch (bpf_program__type(ep->p)) {
		case BPF_PROG_TYPE_CGROUP_SOCK_ADDR: ncg++; break;
		case BPF_PROG_TYPE_LSM: nlsm++; break;
		case BPF_PROG_TYPE_RAW_TRACEPOINT: nkill++; break;
		default: ntp++; break;
		}
	}
	snprintf(b->attached, sizeof(b->attached), "cgroup:%d (%s) sigkill:%d killmap:%d lsm:%d",
		 ncg, b->cgroot, ntp, nkill, nlsm);
}

/* Bring the lazily attached programs in line with want_now(): attach what it needs
 * (attach), detach what it does not (detach). Callers attach before a rule set or
 * kill entry that needs a program is in force, and detach after the last one is
 * gone. 0, or -1 with err when an attach failed (what this call attached is
 * detached again). */
static int reconcile(struct enfb *b, int attach, int detach, char *err, size_t errlen)
{
	uint32_t want = want_now(b);
	int added[32], nadded = 0;

	for (int i = 0; i < b->nprogs; i++) {
		struct enfb_prog *ep = &b->progs[i];
		int on = (ep->need & want) != 0;

		if (!ep->need)
			continue;
		if (on && !ep->l && attach) {
			if (attach_prog(b, ep, -1, err, errlen) < 0) {
				while (nadded > 0)
					detach_prog(b, &b->progs[added[--nadded]]);
				describe(b);
				return -1;
			}
			added[nadded++] = i;
		} else if (!on && ep->l && detach) {
			detach_prog(b, ep);
		}
	}
	describe(b);
	return 0;
}

/* The NEED_LSM bit of the LSM program named prog (0 when it is not in the table). */
static uint32_t lsm_need(const char *prog)
{
	for (size_t i = 0; i < N_LSM_PROGS; i++)
		if (!strcmp(prog, lsm_progs[i].prog))
			return NEED_LSM(i);
	return 0;
}

/* What calls for program p to be attached (0: always attached). */
static uint32_t prog_need(const struct bpf_program *p)
{
	const char *n = bpf_program__name(p);

	if (is_lsm(p))
		return lsm_need(n);
	if (!strcmp(n, "vigil_enf_exec"))
		return NEED_SIGEXEC;
	if (!strcmp(n, "vigil_enf_kill"))
		return NEED_KILL;
	if (bpf_program__type(p) == BPF_PROG_TYPE_TRACEPOINT)
		return NEED_SIGFILE;  /* sys_exit_openat, openat2, open, creat, open_by_handle_at */
	return 0;
}

/* The programs one compiled rule needs: the kernel programs that consult rules of
 * its kind and tier (bpf/enforce.bpf.c). Network rules of the cgroup tier ride on
 * the always-attached cgroup hooks. */
static uint32_t rule_need(const struct enf_rule *r)
{
	int lsm = r->tier == ENF_T_LSM;

	switch (r->kind) {
	case ENF_K_FILE:
		if (r->tier == ENF_T_SIGKILL)
			return NEED_SIGFILE;
		/* Access rules are checked on every read/write too (slotconf FPERM). */
		return lsm ? lsm_need("vigil_enf_lfo") |
			(r->flags & (ENF_F_READ | ENF_F_WRITE) ? lsm_need("vigil_enf_lfperm") : 0) : 0;
	case ENF_K_EXEC:
		return r->tier == ENF_T_SIGKILL ? NEED_SIGEXEC : lsm ? lsm_need("vigil_enf_lbprm") : 0;
	case ENF_K_NET4:
	case ENF_K_NET6:
		return lsm ? lsm_need("vigil_enf_lconnect") : 0;
	case ENF_K_UNLINK: return lsm_need("vigil_enf_lunlink");
	case ENF_K_RENAME: return lsm_need("vigil_enf_lrename");
	case ENF_K_CHMOD: return lsm_need("vigil_enf_lchmod");
	case ENF_K_SETUID: return lsm_need("vigil_enf_lsetuid");
	case ENF_K_MOUNT: return lsm_need("vigil_enf_lmount");
	case ENF_K_MODULE:
		return lsm_need("vigil_enf_lkrf") | lsm_need("vigil_enf_lkld");
	}
	return 0;
}

/* The programs the rule set in force in the kernel needs (an adopted one after a
 * restart): its slot's rules, read back from the map. */
static uint32_t kernel_rule_need(const struct enfb *b)
{
	struct enf_conf c = get_conf(b);
	struct enf_rule r;
	uint32_t need = 0;
	__u32 idx;

	if (!c.generation)
		return 0;
	for (int i = 0; i < ENF_MAX_RULES; i++) {
		idx = (c.slot & 1) * ENF_MAX_RULES + i;
		if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.enf_rules), &idx, &r) == 0)
			need |= rule_need(&r);
	}
	return need;
}

/* Do the kill maps hold an entry (or did a predecessor mark them active)? */
static int kill_maps_used(const struct enfb *b)
{
	__u32 k;
	__u64 ck;

	return get_conf(b).kill_active ||
	       bpf_map_get_next_key(bpf_map__fd(b->skel->maps.enf_killpid), NULL, &k) == 0 ||
	       bpf_map_get_next_key(bpf_map__fd(b->skel->maps.enf_killcg), NULL, &ck) == 0;
}

/* Ring buffer callback: hand the record to the owner's callback. */
static int on_rb(void *ctx, void *data, size_t len)
{
	struct enfb *b = ctx;

	if (len >= sizeof(struct enf_event) && b->cb)
		b->cb(b->cb_arg, data);
	return 0;
}

struct enfb *enfb_open(const struct enfb_opts *o, char *err, size_t errlen)
{
	struct enfb *b = calloc(1, sizeof(*b));
	struct bpf_program *p;
	struct bpf_map *m;
	const char *cgr;
	int cgfd = -1, rc, lsm_rc = 0;
	uint32_t lsm_set = 0;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->lock_fd = -1;
	b->keep_pins = o->keep_pins;
	libbpf_set_print(enfb_libbpf_print);
	if (o->pin_dir && o->pin_dir[0]) {
		snprintf(b->pin_dir, sizeof(b->pin_dir), "%s", o->pin_dir);
		if (lock_pins(b, err, errlen) < 0)
			goto fail;
	}
	cgr = cgroup_root(o->cgroup_root);
	if (!cgr || (cgfd = open(cgr, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "no cgroup v2 mount for the network hooks (%s)",
			 cgr ? strerror(errno) : "none found");
		goto fail;
	}
	snprintf(b->cgroot, sizeof(b->cgroot), "%s", cgr);
	/* Probe: one LSM program alone (cheap to verify), then the whole object with
	 * every LSM program; if that fails, each LSM program alone, and the object with
	 * those that load; last, without any. */
	b->build = pick_build();
	b->retval = want_retval();
	if (!b->retval)
		log_warn("no bpf_set_retval for cgroup programs on this kernel: a blocked "
			 "connect/sendmsg fails with EPERM whatever the policy's errno");
	log_info("BPF build: %s", enfb_build_names[b->build]);
	if (b->build == ENFB_BUILD_NOLOOP)
		log_info("no bpf_loop on this kernel: loading the bounded-loop build "
			 "(paths of at most 40 components)");
	if (!o->no_lsm) {
		lsm_rc = probe_lsm(b->build, 0);
		lsm_set = lsm_rc == 0 ? (1U << N_LSM_PROGS) - 1 : 0;
		if (lsm_rc)
			log_info("BPF LSM does not load here (%s): Override for files and exec "
				 "unavailable; sigkill tier only", strerror(-lsm_rc));
	}
	if (!(b->skel = open_skel(b, lsm_set, err, errlen)))
		goto fail;
	rc = enforce_bpf__load(b->skel);
	if (rc && lsm_set) {
		log_warn("the LSM programs do not load together (%s): probing each",
			 strerror(-rc));
		enforce_bpf__destroy(b->skel);
		lsm_set = 0;
		for (size_t i = 0; i < N_LSM_PROGS; i++)
			if (probe_lsm(b->build, (int)i) == 0)
				lsm_set |= 1U << i;
			else
				log_info("lsm/%s does not load here", lsm_progs[i].hook);
		if (!(b->skel = open_skel(b, lsm_set, err, errlen)))
			goto fail;
		rc = enforce_bpf__load(b->skel);
		if (rc && lsm_set) {
			log_warn("the LSM programs load alone but not together (%s): without "
				 "them", strerror(-rc));
			enforce_bpf__destroy(b->skel);
			lsm_set = 0;
			if (!(b->skel = open_skel(b, 0, err, errlen)))
				goto fail;
			rc = enforce_bpf__load(b->skel);
		}
	}
	/* file_open and bprm_check carry the file/exec Override tier. */
	b->lsm = (lsm_set & 3) == 3;
	for (size_t i = 0; i < N_LSM_PROGS; i++)
		if ((lsm_set >> i) & 1) {
			b->lsm_kinds |= lsm_progs[i].kinds;
			snprintf(b->lsm_hooks + strlen(b->lsm_hooks),
				 sizeof(b->lsm_hooks) - strlen(b->lsm_hooks), "%s%s",
				 b->lsm_hooks[0] ? "," : "", lsm_progs[i].hook);
		}
	if (rc) {
		snprintf(err, errlen, "load BPF object: %s", strerror(-rc));
		goto fail;
	}
	if (b->pin_dir[0])
		bpf_object__for_each_map(m, b->skel->obj)
			if (bpf_map__pin_path(m))
				chmod(bpf_map__pin_path(m), 0600);
	/* Adopt every link a predecessor pinned (enforcement never lapses), attach the
	 * programs that are always on, then the lazy ones the adopted rule set and kill
	 * maps need, and detach adopted ones nothing needs any more. */
	bpf_object__for_each_program(p, b->skel->obj) {
		struct enfb_prog *ep;

		if (!bpf_program__autoload(p) ||
		    bpf_program__expected_attach_type(p) == BPF_TRACE_ITER)
			continue;  /* the task iterator runs on demand */
		if (b->nprogs >= (int)(sizeof(b->progs) / sizeof(b->progs[0]))) {
			snprintf(err, errlen, "attach %s: too many programs", bpf_program__name(p));
			goto fail;
		}
		ep = &b->progs[b->nprogs++];
		ep->p = p;
		ep->need = prog_need(p);
		if (!adopt_prog(b, ep) && !ep->need && attach_prog(b, ep, cgfd, err, errlen) < 0)
			goto fail;
	}
	b->rule_need = kernel_rule_need(b);
	b->kill_need = kill_maps_used(b);
	if (reconcile(b, 1, 1, err, errlen) < 0)
		goto fail;
	if (b->adopted)
		log_info("adopted %d pinned links from %s: enforcement never lapsed", b->adopted,
			 b->pin_dir);
	log_info("attached: %s", b->attached);
	close(cgfd);
	cgfd = -1;
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.enf_events), on_rb, b, NULL);
	if (!b->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		goto fail;
	}
	return b;
fail:
	if (cgfd >= 0)
		close(cgfd);
	/* Leave whatever is pinned in force: a predecessor's rules must not lapse
	 * because this start failed (s6 will try again). */
	b->keep_pins = 1;
	enfb_close(b);
	return NULL;
}

int enfb_has_lsm(const struct enfb *b)
{
	return b->lsm;
}

const char *enfb_lsm_hooks(const struct enfb *b)
{
	return b->lsm_hooks;
}

int enfb_noloop(const struct enfb *b)
{
	return b->build == ENFB_BUILD_NOLOOP;
}

const char *enfb_build_name(const struct enfb *b)
{
	return enfb_build_names[b->build];
}

int enfb_net_retval(const struct enfb *b)
{
	return b->retval;
}

const char *enfb_attached(const struct enfb *b)
{
	return b->attached;
}

const char *enfb_unpinned(const struct enfb *b)
{
	return b->unpinned;
}

/* The conf entry (zeroed when unreadable). */
static struct enf_conf get_conf(const struct enfb *b)
{
	struct enf_conf c = { 0 };
	__u32 z = 0;

	bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.enf_conf), &z, &c);
	return c;
}

uint64_t enfb_generation(const struct enfb *b)
{
	return get_conf(b).generation;
}

/* ---- compiling a set ---- */

struct lpm_ent {
	struct enf_lpm_key k;
	uint64_t mask;
	int prefixish;  /* may contain longer entries (path prefix, CIDR) */
};

struct build {
	struct lpm_ent *v;
	size_t n, cap;
	struct enf_rule rules[ENF_MAX_RULES];
	int nrules;
	struct enf_slotconf sc;
	struct enf_scope_key *sk;
	struct enf_scope_val *sv;
	size_t nscope, capscope;
};

/* Add an LPM entry of nbytes data (+1 for an exact path's NUL). 0, or -1 (memory). */
static int lpm_add(struct build *bd, int slot, int kind, const void *data, size_t nbytes,
		   unsigned bits, int prefixish, uint64_t mask)
{
	struct lpm_ent *e;

	if (bd->n == bd->cap) {
		size_t nc = bd->cap ? bd->cap * 2 : 256;
		struct lpm_ent *v = realloc(bd->v, nc * sizeof(*v));

		if (!v)
			return -1;
		bd->v = v;
		bd->cap = nc;
	}
	e = &bd->v[bd->n++];
	memset(e, 0, sizeof(*e));
	e->k.data[0] = slot;
	e->k.data[1] = kind;
	memcpy(&e->k.data[ENF_LPM_HDR], data, nbytes);
	e->k.prefixlen = ENF_LPM_HDR * 8 + bits;
	e->prefixish = prefixish;
	e->mask = mask;
	return 0;
}

/* Does entry a (shorter or equal) cover entry b? */
static int covers(const struct lpm_ent *a, const struct lpm_ent *b)
{
	unsigned bits = a->k.prefixlen, full = bits / 8, rest = bits % 8;

	if (a->k.prefixlen > b->k.prefixlen)
		return 0;
	if (memcmp(a->k.data, b->k.data, full))
		return 0;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));

		if ((a->k.data[full] & m) != (b->k.data[full] & m))
			return 0;
	}
	return 1;
}

/* Order entries by length, then bytes: duplicates become neighbours. */
static int lpm_cmp(const void *a, const void *b)
{
	const struct lpm_ent *x = a, *y = b;

	if (x->k.prefixlen != y->k.prefixlen)
		return x->k.prefixlen < y->k.prefixlen ? -1 : 1;
	return memcmp(x->k.data, y->k.data, (x->k.prefixlen + 7) / 8);
}

/* Merge duplicates, then OR every covering entry's mask into each entry: the kernel
 * returns only the longest match, which must carry the rules of all shorter ones.
 * Only prefixes and CIDRs can cover others (an exact path ends in its NUL), so the
 * quadratic part is over those alone. */
static int lpm_close(struct build *bd)
{
	size_t i, j, n = 0, np = 0;
	size_t *pre;
	uint64_t *add;

	if (!bd->n)
		return 0;
	qsort(bd->v, bd->n, sizeof(bd->v[0]), lpm_cmp);
	for (i = 0; i < bd->n; i++) {
		if (n && !lpm_cmp(&bd->v[n - 1], &bd->v[i])) {
			bd->v[n - 1].mask |= bd->v[i].mask;
			bd->v[n - 1].prefixish |= bd->v[i].prefixish;
		} else {
			bd->v[n++] = bd->v[i];
		}
	}
	bd->n = n;
	add = calloc(n, sizeof(*add));
	pre = calloc(n, sizeof(*pre));
	if (!add || !pre) {
		free(add);
		free(pre);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (bd->v[i].prefixish)
			pre[np++] = i;
	for (i = 0; i < n; i++)
		for (j = 0; j < np && bd->v[pre[j]].k.prefixlen <= bd->v[i].k.prefixlen; j++)
			if (pre[j] != i && covers(&bd->v[pre[j]], &bd->v[i]))
				add[i] |= bd->v[pre[j]].mask;
	for (i = 0; i < n; i++)
		bd->v[i].mask |= add[i];
	free(add);
	free(pre);
	return 0;
}

/* Add a scope entry (cgid -> rule mask; pod: a pod's cgroup), merging. 0, or -1. */
static int scope_add(struct build *bd, int slot, uint64_t cgid, uint64_t mask, int pod)
{
	for (size_t i = 0; i < bd->nscope; i++)
		if (bd->sk[i].cgid == cgid) {
			bd->sv[i].rules |= mask;
			bd->sv[i].pod |= pod;
			return 0;
		}
	if (bd->nscope == bd->capscope) {
		size_t nc = bd->capscope ? bd->capscope * 2 : 64;
		struct enf_scope_key *k = realloc(bd->sk, nc * sizeof(*k));
		struct enf_scope_val *v;

		if (!k)
			return -1;
		bd->sk = k;
		v = realloc(bd->sv, nc * sizeof(*v));
		if (!v)
			return -1;
		bd->sv = v;
		bd->capscope = nc;
	}
	memset(&bd->sk[bd->nscope], 0, sizeof(bd->sk[0]));
	bd->sk[bd->nscope].cgid = cgid;
	bd->sk[bd->nscope].slot = slot;
	memset(&bd->sv[bd->nscope], 0, sizeof(bd->sv[0]));
	bd->sv[bd->nscope].rules = mask;
	bd->sv[bd->nscope++].pod = pod;
	return 0;
}

/* Rule kinds carried only by an LSM hook, and the hook's name. */
static const char *lsm_only_hook(int kind)
{
	switch (kind) {
	case ENF_K_UNLINK: return "path_unlink";
	case ENF_K_RENAME: return "path_rename";
	case ENF_K_CHMOD: return "path_chmod";
	case ENF_K_SETUID: return "task_fix_setuid";
	case ENF_K_MODULE: return "kernel_read_file";
	case ENF_K_MOUNT: return "sb_mount";
	}
	return NULL;
}

/* Decide a policy's tier on this node; DISARMED with why when it cannot be enforced. */
static void choose_tier(const struct enfb *b, struct enfp_policy *p)
{
	int net = 0, file = 0, lsmonly = 0, eperm_only;

	p->state = p->monitor ? ENFP_MONITOR : ENFP_ARMED;
	p->why[0] = 0;
	p->tier = ENF_T_NONE;
	/* connect with the policy's errno where lsm/socket_connect loads; sendmsg stays
	 * with the cgroup hooks, which carry these rules too. */
	p->net_tier = (b->lsm_kinds & (1U << ENF_K_NET4)) && p->action == ENF_A_OVERRIDE ?
		ENF_T_LSM : ENF_T_CGROUP;
	for (size_t i = 0; i < p->nrules; i++) {
		struct enfp_rule *r = &p->rules[i];
		const char *hook = lsm_only_hook(r->kind);

		if (r->kind == ENF_K_NONE) {
			snprintf(p->why, sizeof(p->why), "rules[%zu]: kind %s is not supported", i,
				 r->kind_name);
			p->state = ENFP_DISARMED;
			return;
		}
		if (hook) {
			if (!(b->lsm_kinds & (1U << r->kind))) {
				snprintf(p->why, sizeof(p->why), "rules[%zu]: kind %s needs BPF LSM "
					 "(lsm/%s), which this kernel does not allow: not "
					 "enforceable on this node", i, r->kind_name, hook);
				p->state = ENFP_DISARMED;
				return;
			}
			if ((r->kind == ENF_K_SETUID) && (r->paths.n || r->prefixes.n)) {
				snprintf(p->why, sizeof(p->why), "rules[%zu]: setuid rules take uids "
					 "(the uid switched to), not paths", i);
				p->state = ENFP_DISARMED;
				return;
			}
			lsmonly = 1;
			continue;
		}
		if (r->kind == ENF_K_NET4) {
			if (r->binaries.n || r->not_binaries.n) {
				snprintf(p->why, sizeof(p->why), "rules[%zu]: connect rules cannot "
					 "match binaries in the cgroup hooks", i);
				p->state = ENFP_DISARMED;
				return;
			}
			net = 1;
			continue;
		}
		if (r->kind == ENF_K_EXEC && r->binaries.n) {
			snprintf(p->why, sizeof(p->why), "rules[%zu]: exec rules match the new binary "
				 "with paths/prefixes/not_binaries; binaries is not supported", i);
			p->state = ENFP_DISARMED;
			return;
		}
		file = 1;
	}
	if (file) {
		if (p->action == ENF_A_OVERRIDE && b->lsm)
			p->tier = ENF_T_LSM;
		else if (p->action != ENF_A_OVERRIDE || p->kill_fallback || p->monitor)
			/* A monitor policy only reports: the tracepoints can tell. */
			p->tier = ENF_T_SIGKILL;
		else {
			snprintf(p->why, sizeof(p->why), "override of file/exec needs BPF LSM, "
				 "which this kernel does not allow, and kill_fallback is false: "
				 "not enforceable on this node");
			p->state = ENFP_DISARMED;
			return;
		}
	}
	/* Never silently different: a cgroup hook without bpf_set_retval gives EPERM. */
	eperm_only = net && p->net_tier == ENF_T_CGROUP && !b->retval &&
		p->action == ENF_A_OVERRIDE && p->err != 1;
	if (eperm_only)
		log_warn("policy %s: connect/sendmsg blocked with EPERM, not errno %d (no "
			 "bpf_set_retval for cgroup programs on this kernel)", p->name, p->err);
	snprintf(p->tiers, sizeof(p->tiers), "%s%s%s%s%s%s",
		 net ? (p->net_tier == ENF_T_LSM ? "lsm-connect" : "cgroup") : "",
		 net && file ? "+" : "",
		 file ? (p->tier == ENF_T_LSM ? "lsm" : "sigkill") : "",
		 lsmonly && (net || file) ? "+" : "", lsmonly ? "lsm-hooks" : "",
		 eperm_only ? " net_errno=EPERM (no bpf_set_retval)" : "");
}

/* Compile one rule of p as bit `bit` of slot. 0, or -1 with err. */
static int compile_rule(struct build *bd, int slot, const struct enfp_policy *p,
			const struct enfp_rule *r, int bit, char *err, size_t errlen)
{
	struct enf_rule *kr = &bd->rules[bit];
	uint64_t m = 1ULL << bit;
	int lk = r->kind == ENF_K_NET4 ? ENF_K_NET4 : r->kind;

	memset(kr, 0, sizeof(*kr));
	kr->kind = r->kind;
	kr->action = p->action;
	kr->tier = r->kind == ENF_K_NET4 ? p->net_tier :
		   lsm_only_hook(r->kind) ? ENF_T_LSM : p->tier;
	kr->flags = r->flags | (p->monitor ? ENF_F_MONITOR : 0);
	kr->err = p->err;
	kr->sig = p->action == ENF_A_OVERRIDE ? 9 : p->sig;
	kr->nports = r->nports;
	memcpy(kr->port_lo, r->port_lo, sizeof(kr->port_lo));
	memcpy(kr->port_hi, r->port_hi, sizeof(kr->port_hi));
	kr->nuids = r->nuids;
	memcpy(kr->uids, r->uids, sizeof(kr->uids));
	snprintf(kr->policy, sizeof(kr->policy), "%s", p->name);
	if (r->binaries.n)
		kr->flags |= ENF_F_NEED_BIN;
	if (r->not_binaries.n)
		kr->flags |= ENF_F_NOTBIN;
	for (size_t i = 0; i < r->paths.n; i++)
		if (lpm_add(bd, slot, lk, r->paths.v[i], strlen(r->paths.v[i]) + 1,
			    (strlen(r->paths.v[i]) + 1) * 8, 0, m) < 0)
			goto oom;
	for (size_t i = 0; i < r->prefixes.n; i++)
		if (lpm_add(bd, slot, lk, r->prefixes.v[i], strlen(r->prefixes.v[i]),
			    strlen(r->prefixes.v[i]) * 8, 1, m) < 0)
			goto oom;
	for (size_t i = 0; i < r->ncidrs; i++) {
		const struct enfp_cidr *c = &r->cidrs[i];

		/* A host address (/32, /128) covers nothing but itself. */
		if (lpm_add(bd, slot, c->family == 4 ? ENF_K_NET4 : ENF_K_NET6, c->addr,
			    c->family == 4 ? 4 : 16, c->len, c->len < (c->family == 4 ? 32 : 128),
			    m) < 0)
			goto oom;
	}
	for (size_t i = 0; i < r->binaries.n; i++)
		if (lpm_add(bd, slot, ENF_K_BIN, r->binaries.v[i], strlen(r->binaries.v[i]) + 1,
			    (strlen(r->binaries.v[i]) + 1) * 8, 0, m) < 0)
			goto oom;
	for (size_t i = 0; i < r->not_binaries.n; i++)
		if (lpm_add(bd, slot, ENF_K_NOTBIN, r->not_binaries.v[i],
			    strlen(r->not_binaries.v[i]) + 1,
			    (strlen(r->not_binaries.v[i]) + 1) * 8, 0, m) < 0)
			goto oom;
	if (!r->paths.n && !r->prefixes.n && !r->ncidrs)
		bd->sc.any[lk] |= m;
	bd->sc.kind[lk] |= m;
	/* Access rules of the LSM tier are also checked on every read/write. */
	if (r->kind == ENF_K_FILE && kr->tier == ENF_T_LSM && (r->flags & (ENF_F_READ | ENF_F_WRITE)))
		bd->sc.kind[ENF_K_FPERM] |= m;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Remove every entry of slot from the LPM trie and the scope hash; zero its rules.
 * Keys are collected in one walk, then deleted (deleting while walking would make
 * the walk restart). */
static void clear_slot(struct enfb *b, int slot)
{
	int fd = bpf_map__fd(b->skel->maps.enf_lpm);
	struct enf_lpm_key k, *kp = NULL, *dl = NULL;
	struct enf_scope_key sk, *skp = NULL, *sdl = NULL;
	struct enf_rule zr = { 0 };
	struct enf_slotconf zc = { 0 };
	size_t n = 0, cap = 0;
	__u32 idx;

	while (bpf_map_get_next_key(fd, kp, &k) == 0) {
		if (k.data[0] == slot) {
			if (n == cap) {
				struct enf_lpm_key *v = realloc(dl, (cap = cap ? cap * 2 : 256) * sizeof(*v));

				if (!v)
					break;
				dl = v;
			}
			dl[n++] = k;
		}
		kp = &k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &dl[i]);
	free(dl);
	fd = bpf_map__fd(b->skel->maps.enf_scope);
	n = cap = 0;
	while (bpf_map_get_next_key(fd, skp, &sk) == 0) {
		if ((int)sk.slot == slot) {
			if (n == cap) {
				struct enf_scope_key *v = realloc(sdl, (cap = cap ? cap * 2 : 64) * sizeof(*v));

				if (!v)
					break;
				sdl = v;
			}
			sdl[n++] = sk;
		}
		skp = &sk;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &sdl[i]);
	free(sdl);
	for (int i = 0; i < ENF_MAX_RULES; i++) {
		idx = slot * ENF_MAX_RULES + i;
		bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_rules), &idx, &zr, BPF_ANY);
	}
	idx = slot;
	bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_slotconf), &idx, &zc, BPF_ANY);
}

/* Make the kernel wait for every running BPF program (a map-in-map update does
 * synchronize_rcu before returning). 0, or -1 after a plain sleep. */
static int rcu_barrier(struct enfb *b)
{
	__u32 z = 0;
	int inner, rc;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (inner < 0) {
		usleep(50000);
		return -1;
	}
	rc = bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_sync), &z, &inner, BPF_ANY);
	close(inner);
	if (rc < 0) {
		usleep(50000);
		return -1;
	}
	return 0;
}

int enfb_install(struct enfb *b, struct enfp_set *s, const struct enfp_pods *pods,
		 char *err, size_t errlen)
{
	struct enf_conf c = get_conf(b);
	int idle = c.generation ? (int)(c.slot ^ 1) & 1 : 0, old = idle ^ 1, bit = 0, rc = -1;
	struct build bd = { 0 };
	uint32_t need = 0, old_need = b->rule_need;
	__u32 idx, z = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct enfp_policy *p = &s->pols[i];
		uint64_t pm = 0;

		if (p->state == ENFP_DISARMED && p->why[0])
			continue;  /* refused before (self-protection) */
		choose_tier(b, p);
		if (p->state == ENFP_DISARMED)
			continue;
		if (bit + (int)p->nrules > ENF_MAX_RULES) {
			snprintf(err, errlen, "more than %d rules in the set (policy %s)",
				 ENF_MAX_RULES, p->name);
			goto out;
		}
		for (size_t j = 0; j < p->nrules; j++, bit++) {
			if (compile_rule(&bd, idle, p, &p->rules[j], bit, err, errlen) < 0)
				goto out;
			pm |= 1ULL << bit;
		}
		if (p->scope_all)
			bd.sc.scope_all |= pm;
		if (p->host)
			bd.sc.scope_host |= pm;
		for (size_t j = 0; j < p->ncgids; j++)
			if (scope_add(&bd, idle, p->cgids[j], pm, 0) < 0)
				goto oom;
		for (size_t j = 0; pods && j < pods->n; j++)
			if (enfp_pod_matches(p, &pods->v[j]) &&
			    scope_add(&bd, idle, pods->v[j].cgid, pm, 1) < 0)
				goto oom;
	}
	bd.nrules = bit;
	/* Every known pod gets an entry, even an empty one: host-scoped rules must not
	 * reach a pod (or anything below it) through the "nothing listed" default. A
	 * listed cgroup that is not a pod stays a host cgroup: host-scoped rules hold in
	 * it (the kernel side adds them unless the deepest listed ancestor is a pod). */
	for (size_t j = 0; pods && j < pods->n; j++)
		if (scope_add(&bd, idle, pods->v[j].cgid, 0, 1) < 0)
			goto oom;
	bd.sc.scoped = bd.nscope > 0;
	if (bd.n > ENF_LPM_ENTRIES / 2) {
		snprintf(err, errlen, "rule set larger than the map: %zu path/CIDR entries, "
			 "at most %d", bd.n, ENF_LPM_ENTRIES / 2);
		goto out;
	}
	if (lpm_close(&bd) < 0)
		goto oom;
	if (bd.nscope > ENF_SCOPE_ENTRIES / 2) {
		snprintf(err, errlen, "scope larger than the map: %zu cgroups, at most %d",
			 bd.nscope, ENF_SCOPE_ENTRIES / 2);
		goto out;
	}
	/* Build the idle slot completely... */
	clear_slot(b, idle);
	for (size_t i = 0; i < bd.n; i++)
		if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_lpm), &bd.v[i].k,
					&bd.v[i].mask, BPF_ANY) < 0) {
			snprintf(err, errlen, "LPM update: %s", strerror(errno));
			clear_slot(b, idle);
			goto out;
		}
	for (size_t i = 0; i < bd.nscope; i++)
		if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_scope), &bd.sk[i], &bd.sv[i],
					BPF_ANY) < 0) {
			snprintf(err, errlen, "scope update: %s", strerror(errno));
			clear_slot(b, idle);
			goto out;
		}
	for (int i = 0; i < bd.nrules; i++) {
		idx = idle * ENF_MAX_RULES + i;
		bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_rules), &idx, &bd.rules[i], BPF_ANY);
	}
	idx = idle;
	bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_slotconf), &idx, &bd.sc, BPF_ANY);
	/* Attach the programs the new set needs before it is in force (they read the old
	 * slot until the flip, whose rules they carried or did not have)... */
	for (int i = 0; i < bd.nrules; i++)
		need |= rule_need(&bd.rules[i]);
	b->rule_need = old_need | need;
	if (reconcile(b, 1, 0, err, errlen) < 0) {
		b->rule_need = old_need;
		clear_slot(b, idle);
		goto out;
	}
	/* ...then flip with one update, then clear the old slot. */
	c.slot = idle;
	c.monitor_all = s->monitor_all;
	c.generation = s->generation;
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_conf), &z, &c, BPF_ANY) < 0) {
		snprintf(err, errlen, "conf update: %s", strerror(errno));
		b->rule_need = old_need;
		reconcile(b, 0, 1, NULL, 0);
		clear_slot(b, idle);
		goto out;
	}
	/* Wait until no program can still be reading the old slot, then clear it. */
	if (rcu_barrier(b) < 0)
		log_warn("no RCU barrier (%s): clearing the old slot after 50 ms instead",
			 strerror(errno));
	clear_slot(b, old);
	/* Only now can the programs the old set alone needed go. */
	b->rule_need = need;
	reconcile(b, 0, 1, NULL, 0);
	rc = 0;
	log_info("generation %llu in force: %d rules, %zu path/CIDR entries, %zu scoped cgroups",
		 (unsigned long long)s->generation, bd.nrules, bd.n, bd.nscope);
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	free(bd.v);
	free(bd.sk);
	free(bd.sv);
	return rc;
}

/* Tell sys_enter that the kill maps are (on) or are not (off) worth looking at, and
 * attach raw_tp/sys_enter before the first entry is written (on), or detach it once
 * the maps are empty (off): no program runs at every syscall while nobody is to be
 * killed. 0, or -1 with err when the program cannot be attached (write no entry). */
static int set_kill_active(struct enfb *b, int on, char *err, size_t errlen)
{
	struct enf_conf c = get_conf(b);
	__u32 z = 0;

	if (on && !b->kill_need) {
		b->kill_need = 1;
		if (reconcile(b, 1, 0, err, errlen) < 0) {
			b->kill_need = 0;
			return -1;
		}
	}
	if ((int)c.kill_active != on) {
		c.kill_active = on;
		bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_conf), &z, &c, BPF_ANY);
	}
	if (!on && b->kill_need) {
		b->kill_need = 0;
		reconcile(b, 0, 1, NULL, 0);
	}
	return 0;
}

int enfb_kill_pid(struct enfb *b, uint32_t pid, uint64_t start_ktime, int sig,
		  const char *policy, char *err, size_t errlen)
{
	struct enf_kill k = { .start_ktime = start_ktime, .sig = sig };

	snprintf(k.policy, sizeof(k.policy), "%s", policy);
	/* The program first, then the entry: a verdict's kill is never written where
	 * nothing reads it. */
	if (set_kill_active(b, 1, err, errlen) < 0)
		return -1;
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_killpid), &pid, &k, BPF_ANY) < 0) {
		snprintf(err, errlen, "kill map: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int enfb_kill_cgroup(struct enfb *b, uint64_t cgid, int sig, const char *policy,
		     char *err, size_t errlen)
{
	struct enf_kill k = { .sig = sig };

	snprintf(k.policy, sizeof(k.policy), "%s", policy);
	if (set_kill_active(b, 1, err, errlen) < 0)
		return -1;
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_killcg), &cgid, &k, BPF_ANY) < 0) {
		snprintf(err, errlen, "cgroup kill map: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int enfb_unkill_cgroup(struct enfb *b, uint64_t cgid)
{
	return bpf_map_delete_elem(bpf_map__fd(b->skel->maps.enf_killcg), &cgid);
}

int enfb_start_ktime(struct enfb *b, uint32_t pid, uint64_t *start)
{
	struct enf_lookup l = { .tgid = pid };
	char buf[64];
	__u32 z = 0;
	int fd;

	if (!b->iter_link) {
		b->iter_link = bpf_program__attach_iter(b->skel->progs.vigil_enf_iter, NULL);
		if (!b->iter_link)
			return -1;
	}
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.enf_lookup), &z, &l, BPF_ANY) < 0)
		return -1;
	fd = bpf_iter_create(bpf_link__fd(b->iter_link));
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.enf_lookup), &z, &l) < 0 || !l.found)
		return 0;
	*start = l.start;
	return 1;
}

int enfb_kill_sweep(struct enfb *b)
{
	int fd = bpf_map__fd(b->skel->maps.enf_killpid);
	__u32 k, *kp = NULL, dead[256];
	__u64 ck;
	int n = 0, left = 0;

	/* Entries of processes that are gone (killed, or exited first) can go. */
	while (bpf_map_get_next_key(fd, kp, &k) == 0) {
		if (kill((pid_t)k, 0) < 0 && errno == ESRCH && n < 256)
			dead[n++] = k;
		else
			left++;
		kp = &k;
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &dead[i]);
	if (bpf_map_get_next_key(bpf_map__fd(b->skel->maps.enf_killcg), NULL, &ck) == 0)
		left++;
	if (!left)
		set_kill_active(b, 0, NULL, 0);
	return left;
}

int enfb_events_fd(const struct enfb *b)
{
	return ring_buffer__epoll_fd(b->rb);
}

int enfb_drain(struct enfb *b, void (*cb)(void *arg, const struct enf_event *e), void *arg)
{
	b->cb = cb;
	b->cb_arg = arg;
	return ring_buffer__consume(b->rb);
}

void enfb_close(struct enfb *b)
{
	struct bpf_map *m;

	if (!b)
		return;
	if (b->rb)
		ring_buffer__free(b->rb);
	if (b->iter_link)
		bpf_link__destroy(b->iter_link);
	for (int i = 0; i < b->nprogs; i++) {
		if (!b->progs[i].l)
			continue;
		if (!b->keep_pins && b->pin_dir[0])
			bpf_link__unpin(b->progs[i].l);
		bpf_link__destroy(b->progs[i].l);
	}
	if (b->skel) {
		if (!b->keep_pins && b->pin_dir[0]) {
			bpf_object__for_each_map(m, b->skel->obj)
				if (bpf_map__pin_path(m))
					bpf_map__unpin(m, NULL);
		}
		enforce_bpf__destroy(b->skel);
	}
	if (!b->keep_pins && b->pin_dir[0] && b->lock_fd >= 0) {
		/* Whatever link pin is left (a program this start did not load) is stale:
		 * the directory is ours (locked) and a clean stop leaves nothing. */
		DIR *d = opendir(b->pin_dir);
		struct dirent *de;

		while (d && (de = readdir(d)))
			if (!strncmp(de->d_name, "link_vigil_enf_", 15)) {
				unlinkat(dirfd(d), de->d_name, 0);
			}
		if (d)
			closedir(d);
		rmdir(b->pin_dir);
	}
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	free(b);
}
