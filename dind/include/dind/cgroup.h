/* cgroup: one interface over cgroup v1 (also "hybrid": v1 controllers plus a controller-less v2
 * mount) and cgroup v2 (unified), detected once per process. Prefix: cg_.
 *
 * Layout. Every cgroup we create lives below the daemon's *base*: the cgroup the daemon itself
 * was started in (read from /proc/self/cgroup, relative to the mount root as seen from the
 * mountinfo, so a daemon inside a container with a cgroup namespace or a bind-mounted subtree
 * works unchanged). A cgroup is named by a parent path relative to the base ("docker",
 * "kubepods/burstable/pod1234") and a leaf name (the container id). Intermediate directories are
 * created on demand; on v2 the controllers are enabled in cgroup.subtree_control along the path,
 * and if the base itself holds processes (the "no internal processes" rule) every process of the
 * base is moved into "<base>/init" first (and a daemon that finds itself in a cgroup named "init"
 * takes the parent as its base, so a restarted daemon finds its containers again). On v1 the same
 * relative path is created in every mounted controller hierarchy (cpuset children get their
 * parent's cpus/mems copied in).
 *
 * Ownership. `struct cg` is an opaque handle from cg_create()/cg_open_existing(); cg_free()
 * releases the handle only (the kernel cgroup stays), cg_destroy() kills what is left inside,
 * waits until it is empty and removes the directories in every hierarchy (including any cgroups
 * a nested engine created below it), then frees the handle. Both accept NULL.
 *
 * Errors follow base.h: negative errno + dd_err. A limit whose controller is not available
 * (not mounted on v1, not enabled/delegated on v2) fails with -EOPNOTSUPP naming the controller
 * and changes nothing that was not already written; with mode CG_MODE_NONE every cg_create fails
 * with -EOPNOTSUPP unless the limits are all unset, in which case a handle with no directories is
 * returned and the other calls are no-ops (stats read as zero).
 *
 * Device rules on v2 are enforced with an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program attached to
 * the cgroup (see cg_create); on v1 through devices.allow / devices.deny.
 *
 * Not thread-safe: the daemon uses it from its event loop thread (and forked children).
 */
#ifndef DIND_CGROUP_H
#define DIND_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dind/base.h"

enum cg_mode {
    CG_MODE_NONE = 0, /* no cgroup filesystem mounted */
    CG_MODE_V1 = 1,   /* v1 controller hierarchies (hybrid counts as v1) */
    CG_MODE_V2 = 2,   /* unified hierarchy only */
};

/* ---- process-wide setup ---- */

struct cg_setup_opts {
    enum cg_mode mode; /* 0: auto-detect from /proc/self/mountinfo; V1/V2: fail unless so */
    bool disable;      /* behave as CG_MODE_NONE (no cgroups at all) */
    /* v2 only (tests, unusual layouts): the mount point of the unified hierarchy and the
     * daemon's own cgroup path inside it ("/" = the mount's root). NULL = detect. */
    const char *v2_root;
    const char *v2_own;
};

/* Detects the cgroup layout and the daemon's own cgroup. Called implicitly (with auto-detection)
 * by the first function that needs it; call it explicitly to fail early or to override. Calling
 * it again re-detects (used by forked tests). */
int cg_setup(const struct cg_setup_opts *opts, dd_err *e);
/* The detected layout as text, for a helper process the caller starts (NULL if none, or not
 * expressible); cg_import() in that process takes it over instead of detecting. Free it. */
char *cg_export(void);
int cg_import(const char *text, dd_err *e);
enum cg_mode cg_mode(void); /* detects on first use; CG_MODE_NONE if detection failed */
const char *
cg_mode_name(enum cg_mode m); /* "none" | "v1" | "v2" (Docker's CgroupVersion: "1"/"2") */
/* Whether a controller ("memory", "pids", "cpu", "cpuset", "blkio"/"io", "devices", "freezer")
 * can be used for limits below the base. */
bool cg_has_controller(const char *name);
/* Names of the controllers usable below the base (v1: the mounted hierarchies we manage, e.g. for
 * mounting them into a privileged container; v2: the base's cgroup.controllers). Never NULL;
 * free with dd_strv_free(). */
char **cg_controllers(void);

/* ---- limits ---- */

struct cg_device_rule {
    bool allow;     /* allow or deny */
    char type;      /* 'a' (all), 'c' (char) or 'b' (block) */
    int64_t major;  /* -1 = any ("*") */
    int64_t minor;  /* -1 = any */
    char access[4]; /* subset of "rwm", NUL-terminated; "" = "rwm" */
};

/* Zero means "not set / leave as is" for every field, so `struct cg_limits l = {0}` is valid.
 * Values are Docker's HostConfig units; v2 gets the usual runc conversions. */
struct cg_limits {
    int64_t memory;             /* bytes (memory.limit_in_bytes | memory.max); -1 = unlimited */
    int64_t memory_swap;        /* bytes of memory+swap (Docker's MemorySwap); -1 = unlimited swap.
                                   v1: memory.memsw.limit_in_bytes (when swap accounting exists);
                                   v2: memory.swap.max = memory_swap - memory. Docker's default of
                                   2*memory is the caller's job (the API layer). */
    int64_t memory_reservation; /* bytes (memory.soft_limit_in_bytes | memory.low); -1 = none */
    int64_t pids_max;           /* pids.max; -1 = unlimited ("max") */
    uint64_t cpu_shares;        /* v1 cpu.shares (2..262144); v2: converted to cpu.weight */
    uint64_t cpu_weight;        /* v2 cpu.weight (1..10000); wins over cpu_shares on v2; on v1
                                   converted back to shares when cpu_shares is 0 */
    int64_t cpu_quota_us;       /* cfs quota per period; -1 = unlimited */
    uint64_t cpu_period_us;     /* cfs period; 0 = kernel default (100000) */
    const char *cpuset_cpus;    /* "0-1,3"; NULL = inherit */
    const char *cpuset_mems;
    uint16_t blkio_weight; /* 10..1000 (blkio.weight | io.weight converted); 0 = unset */
    const struct cg_device_rule *devices; /* applied in order; typically "deny a" first */
    size_t n_devices;
};

/* Converts Docker cpu shares to a v2 weight and back (runc's formula). */
uint64_t cg_shares_to_weight(uint64_t shares);
uint64_t cg_weight_to_shares(uint64_t weight);

/* Docker's default device allow-list for non-privileged containers (deny all, then null, zero,
 * full, random, urandom, tty, console, ptmx, pts, and mknod of any char/block device). */
const struct cg_device_rule *cg_devices_docker_default(size_t *ret_n);

/* ---- lifecycle ---- */

struct cg;

/* Creates (or reuses, if it already exists and is empty) parent_rel/name below the base and
 * applies the limits. parent_rel may be NULL or "" (directly below the base); it must be a
 * relative path without ".." components, name a single component. On failure nothing new is
 * left behind. */
int cg_create(const char *parent_rel, const char *name, const struct cg_limits *lim,
              struct cg **ret, dd_err *e);
/* Re-adopts a cgroup created by an earlier daemon (after a restart). -ENOENT if it is gone. */
int cg_open_existing(const char *parent_rel, const char *name, struct cg **ret, dd_err *e);
/* A handle of the daemon's own cgroup (the base), for node-level stats (kubelet Summary API) and
 * cg_pids/cg_oom_*: cg_update, cg_enter, cg_kill_all, cg_freeze and cg_destroy refuse it with
 * -EPERM (cg_free releases it). On v2, if the base is the hierarchy's real root, memory.* files
 * do not exist there and cg_stats_read leaves has_memory false: use /proc/meminfo instead. */
int cg_open_base(struct cg **ret, dd_err *e);
/* Applies the set fields of lim (docker update); unset fields keep their current values. */
int cg_update(struct cg *cg, const struct cg_limits *lim, dd_err *e);
/* Moves pid (all its threads) into the cgroup in every hierarchy. Moving oneself is much cheaper
 * on v1 when single-threaded (cgroup-v1.c): prefer that to moving a child. */
int cg_enter(struct cg *cg, pid_t pid, dd_err *e);
/* v2 only: an O_PATH|O_DIRECTORY fd of the cgroup for clone3(CLONE_INTO_CGROUP), owned by cg.
 * -EOPNOTSUPP on v1/none (use cg_enter from the parent before the child execs). */
int cg_dirfd(struct cg *cg);
/* "parent_rel/name" relative to the base, as the handle was opened. */
const char *cg_path(const struct cg *cg);
/* Absolute path of the cgroup in one controller's hierarchy (v1) or the unified one (v2), for
 * bind-mounting into a privileged container; NULL if that controller is absent. */
const char *cg_dir(const struct cg *cg, const char *controller);

/* Sends sig to every process in the cgroup and its descendants (v2 SIGKILL: cgroup.kill; else
 * freeze, signal, thaw so forks cannot escape; a paused cgroup is thawed only for SIGKILL). */
int cg_kill_all(struct cg *cg, int sig, dd_err *e);
/* docker pause / unpause: freezes or thaws every process of the cgroup and its descendants and
 * waits until the kernel reports the new state; a freeze that does not settle within 5 s is
 * undone and fails with -EBUSY. cg_kill_all() keeps a frozen cgroup frozen unless the signal is
 * SIGKILL. */
int cg_freeze(struct cg *cg, bool frozen, dd_err *e);
int cg_is_frozen(struct cg *cg, bool *ret, dd_err *e);
/* Lists the pids in the cgroup and in every cgroup below it (what `docker top` shows for a
 * container that runs containers of its own), the cgroup's own processes first, as seen from our
 * pid namespace. The caller frees *ret_pids. */
int cg_pids(struct cg *cg, pid_t **ret_pids, size_t *ret_n, dd_err *e);
/* Whether any process is left in the cgroup or its descendants. */
int cg_is_populated(struct cg *cg, bool *ret, dd_err *e);
/* SIGKILLs what is left, waits up to timeout_ms (0 = 5000) for the cgroup to empty, removes it
 * and every cgroup below it in all hierarchies, frees the handle. On failure (-EBUSY) the handle
 * stays valid so the caller may retry. */
int cg_destroy(struct cg *cg, int timeout_ms, dd_err *e);
void cg_free(struct cg *cg);
/* Removes the empty directories of parent_rel below the base, deepest first (stops at the first
 * one that is not empty). For tests and the kubelet's pod-level cgroups. */
int cg_prune(const char *parent_rel, dd_err *e);

/* ---- OOM ---- */

/* An fd that becomes readable (EPOLLIN) when the cgroup sees an OOM event (v1: an eventfd
 * registered through cgroup.event_control on memory.oom_control; v2: an inotify fd on
 * memory.events). Owned by cg: remove it from the event loop before cg_destroy/cg_free. After it
 * polls readable call cg_oom_ack() to drain it. -EOPNOTSUPP without a memory controller. */
int cg_oom_fd(struct cg *cg, dd_err *e);
void cg_oom_ack(struct cg *cg);
/* Number of processes the OOM killer killed in this cgroup since it was created (v1:
 * memory.oom_control "oom_kill"; v2: memory.events "oom_kill"). > 0 means State.OOMKilled. */
int cg_oom_kills(struct cg *cg, uint64_t *ret, dd_err *e);

/* ---- stats ---- */

struct cg_stats {
    /* memory, bytes */
    uint64_t mem_usage;         /* memory.usage_in_bytes | memory.current */
    uint64_t mem_max_usage;     /* v1 memory.max_usage_in_bytes; v2 memory.peak if present */
    uint64_t mem_limit;         /* effective limit; the host memory if unlimited */
    uint64_t mem_cache;         /* v1 total_cache | v2 file */
    uint64_t mem_rss;           /* v1 total_rss | v2 anon */
    uint64_t mem_inactive_file; /* v1 total_inactive_file | v2 inactive_file */
    uint64_t mem_failcnt;       /* v1 memory.failcnt; v2 memory.events "max" */
    /* cpu, nanoseconds */
    uint64_t cpu_total_ns;
    uint64_t cpu_user_ns;
    uint64_t cpu_system_ns;
    uint64_t *cpu_percpu_ns; /* v1 cpuacct.usage_percpu (malloc'ed, n entries); NULL on v2 */
    size_t n_percpu;
    uint64_t cpu_throttled_periods;
    uint64_t cpu_throttled_ns;
    uint64_t cpu_periods;
    /* pids */
    uint64_t pids_current;
    uint64_t pids_limit; /* 0 = unlimited */
    /* block io, bytes summed over devices */
    uint64_t blk_read_bytes;
    uint64_t blk_write_bytes;
    /* which groups above were read (a controller may be missing) */
    bool has_memory, has_cpu, has_pids, has_blkio;
};

/* Fills st (zeroed first). Missing controllers leave their has_* false. */
int cg_stats_read(struct cg *cg, struct cg_stats *st, dd_err *e);
void cg_stats_release(struct cg_stats *st);

/* Docker's system_cpu_usage: the sum of the first "cpu" line of /proc/stat in nanoseconds. */
int cg_host_cpu_ns(uint64_t *ret, dd_err *e);

/* ---- capacity (kubelet Node capacity, dindd /info) ---- */

struct cg_capacity {
    uint64_t memory_bytes; /* min(MemTotal, every memory limit from our cgroup up to the root) */
    uint64_t cpu_milli;    /* min(online cpus in our affinity/cpuset, cfs quota/period of our
                              cgroup and its ancestors) * 1000, rounded up to whole millicores */
    uint64_t ncpu;         /* cpus usable by us (affinity), Docker's NCPU */
    uint64_t pids_max;     /* our pids limit, or /proc/sys/kernel/pid_max */
};
int cg_capacity_read(struct cg_capacity *ret, dd_err *e);

#endif
