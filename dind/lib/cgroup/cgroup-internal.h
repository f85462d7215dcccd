/* cgroup internals: the process-wide layout found by cg_setup(), the handle, the driver ops
 * table (one per cgroup version, crun's cgroup-internal.h model) and the small file helpers the
 * drivers share. Not for use outside dind/lib/cgroup. */
#ifndef DIND_CGROUP_INTERNAL_H
#define DIND_CGROUP_INTERNAL_H

#include "dind/cgroup.h"

/* v1 controllers we manage (each may be its own hierarchy or co-mounted with others). */
enum cg_ctl {
    CG_CPU,
    CG_CPUACCT,
    CG_CPUSET,
    CG_MEMORY,
    CG_DEVICES,
    CG_FREEZER,
    CG_BLKIO,
    CG_PIDS,
    CG_NCTL,
};
extern const char *const cg_ctl_names[CG_NCTL];

struct cg_sys {
    bool ready;
    enum cg_mode mode;
    /* v1: the daemon's own cgroup directory per controller (mount point + own path); NULL if
     * the controller is not mounted. */
    char *v1_base[CG_NCTL];
    /* v2 */
    char *v2_mount;
    char *v2_base;     /* mount point + own path */
    bool v2_delegated; /* controllers enabled in the base's subtree_control */
};
extern struct cg_sys cg_sys;

struct cg {
    char *rel;          /* parent_rel/name relative to the base */
    char *dir[CG_NCTL]; /* v1: absolute directory per controller, NULL if absent */
    char *v2_dir;       /* v2: absolute directory */
    int dirfd;          /* v2: O_DIRECTORY fd for CLONE_INTO_CGROUP, lazily opened */
    int oom_fd;         /* eventfd (v1) / inotify (v2), lazily created */
    int oom_ctl_fd;     /* v1: memory.oom_control kept open for the registration */
    bool is_base;       /* the daemon's own cgroup (cg_open_base): read-only use */
};

struct cg_ops {
    /* mkdir along rel in every hierarchy; *ret_created tells whether the leaf is new. */
    int (*create)(struct cg *cg, bool *ret_created, dd_err *e);
    int (*exists)(struct cg *cg, dd_err *e);
    int (*apply)(struct cg *cg, const struct cg_limits *l, dd_err *e);
    int (*enter)(struct cg *cg, pid_t pid, dd_err *e);
    int (*kill_all)(struct cg *cg, int sig, dd_err *e);
    int (*pids)(struct cg *cg, pid_t **ret, size_t *ret_n, dd_err *e);
    int (*populated)(struct cg *cg, bool *ret, dd_err *e);
    int (*remove)(struct cg *cg, dd_err *e); /* rmdir the tree; -EBUSY while not empty */
    int (*freeze)(struct cg *cg, bool frozen, dd_err *e);
    int (*is_frozen)(struct cg *cg, bool *ret, dd_err *e);
    int (*oom_open)(struct cg *cg, dd_err *e);
    int (*oom_kills)(struct cg *cg, uint64_t *ret, dd_err *e);
    int (*stats)(struct cg *cg, struct cg_stats *st, dd_err *e);
    int (*prune)(const char *rel, dd_err *e);
};
extern const struct cg_ops cg_v1_ops;
extern const struct cg_ops cg_v2_ops;

/* Public entry points that wrap errors start with this: dd_err_wrap() needs a real dd_err to
 * keep the code when the caller passed NULL. */
#define CG_ERR_LOCAL(e)                                                                            \
    dd_err e##_local = {0};                                                                        \
    if (!(e))                                                                                      \
    (e) = &e##_local

/* ---- helpers (cgroup-util.c) ---- */

/* Writes s to dir/file (one write(2), as cgroupfs wants). */
int cg_write(const char *dir, const char *file, const char *s, dd_err *e);
int cg_writef(const char *dir, const char *file, dd_err *e, const char *fmt, ...) DD_PRINTF(4, 5);
/* Reads dir/file (trailing newline stripped). */
int cg_read(const char *dir, const char *file, char **ret, dd_err *e);
/* Reads a single number; "max" reads as UINT64_MAX. */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret, dd_err *e);
/* Looks up "key value" in a flat-keyed file's text; -ENOENT if absent. */
int cg_kv_u64(const char *text, const char *key, uint64_t *ret);
bool cg_file_exists(const char *dir, const char *file);
/* Parses a cgroup.procs text into a pid array. */
int cg_parse_pids(const char *text, pid_t **ret, size_t *ret_n);
/* The pids of dir and every cgroup below it (a cgroup's processes first). */
int cg_tree_pids(const char *dir, pid_t **ret, size_t *ret_n, dd_err *e);
/* mkdir; EEXIST is success; *ret_created says whether we made it. */
int cg_mkdir(const char *path, bool *ret_created, dd_err *e);
/* Removes dir and every directory below it, deepest first. ENOENT is success. */
int cg_rmdir_tree(const char *dir, dd_err *e);
/* rmdir base/parent_rel and then its parents up to (not including) base while empty. */
int cg_prune_path(const char *base, const char *parent_rel, dd_err *e);
/* Calls fn for dir and each directory below it (pre-order) until fn returns non-zero. */
int cg_walk(const char *dir, int (*fn)(const char *dir, void *ud), void *ud);
/* Short sleep used by the bounded waits (doubling from 1 ms to 50 ms). */
void cg_backoff(int *ms);
/* Checks parent_rel/name: relative, no "..", no empty or "." components, name one component. */
int cg_check_rel(const char *parent_rel, const char *name, char **ret_rel, dd_err *e);
/* Docker's cpu shares <-> v2 weight formulas and io weight. */
uint64_t cg_blkio_to_io_weight(uint16_t w);
/* Host MemTotal in bytes. */
int cg_host_memory(uint64_t *ret, dd_err *e);
/* Device rule as the v1 text "c 1:3 rwm". */
void cg_device_rule_text(const struct cg_device_rule *r, char *out, size_t n);

/* v2 device filter (cgroup-bpf.c): loads a BPF_PROG_TYPE_CGROUP_DEVICE program for rules and
 * attaches it to the cgroup directory, replacing ours if one is attached. */
int cg_bpf_devices_apply(const char *dir, const struct cg_device_rule *rules, size_t n, dd_err *e);

#endif
