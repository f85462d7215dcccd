/* cgroup v1 driver: one directory per mounted controller hierarchy (co-mounted controllers such
 * as "cpu,cpuacct" share a directory and are visited once). Limits map to the v1 files Docker
 * uses (memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.shares, cpu.cfs_*, cpuset.*,
 * pids.max, blkio.weight, devices.allow/deny); OOM events come from an eventfd registered through
 * cgroup.event_control. It knows nothing about containers: only directories and files. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "cgroup-internal.h"

/* Calls fn once per distinct hierarchy directory of the handle. */
static int each_dir(struct cg *cg, int (*fn)(const char *dir, void *ud), void *ud)
{
    for (int c = 0; c < CG_NCTL; c++) {
        if (!cg->dir[c])
            continue;
        bool seen = false;
        for (int p = 0; p < c && !seen; p++)
            seen = cg->dir[p] && strcmp(cg->dir[p], cg->dir[c]) == 0;
        if (seen)
            continue;
        int r = fn(cg->dir[c], ud);
        if (r)
            return r;
    }
    return 0;
}

static void fill_dirs(struct cg *cg)
{
    for (int c = 0; c < CG_NCTL; c++) {
        free(cg->dir[c]);
        if (!cg_sys.v1_base[c])
            cg->dir[c] = NULL;
        else
            cg->dir[c] = cg->rel[0] ? dd_path_join(cg_sys.v1_base[c], cg->rel)
                                    : dd_strdup(cg_sys.v1_base[c]);
    }
}

/* A new cpuset cgroup starts with empty cpus/mems; copy the parent's so tasks can join. */
static int cpuset_inherit(const char *dir, dd_err *e)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    _cleanup_free_ char *parent = dd_strdup(dir);
    *strrchr(parent, '/') = '\0';
    for (size_t i = 0; i < DD_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *cur = NULL, *up = NULL;
        int r = cg_read(dir, files[i], &cur, e);
        if (r < 0)
            return r;
        if (*cur)
            continue;
        r = cg_read(parent, files[i], &up, e);
        if (r >= 0 && *up)
            r = cg_write(dir, files[i], up, e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int mkdir_along(const char *base, const char *rel, bool cpuset, bool *ret_created, dd_err *e)
{
    _cleanup_free_ char *path = dd_strdup(base);
    bool created = false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        char *next = dd_asprintf("%s/%.*s", path, (int)n, p);
        free(path);
        path = next;
        int r = cg_mkdir(path, &created, e);
        if (r >= 0 && created && cpuset)
            r = cpuset_inherit(path, e);
        if (r < 0)
            return r;
        p += n;
        if (*p == '/')
            p++;
    }
    *ret_created = *ret_created || created;
    return 0;
}

static int v1_create(struct cg *cg, bool *ret_created, dd_err *e)
{
    fill_dirs(cg);
    *ret_created = false;
    for (int c = 0; c < CG_NCTL; c++) {
        if (!cg_sys.v1_base[c])
            continue;
        int r = mkdir_along(cg_sys.v1_base[c], cg->rel, c == CG_CPUSET, ret_created, e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int v1_exists(struct cg *cg, dd_err *e)
{
    fill_dirs(cg);
    for (int c = 0; c < CG_NCTL; c++) {
        struct stat st;
        if (cg->dir[c] && stat(cg->dir[c], &st) == 0)
            return 0;
    }
    return dd_err_set(e, ENOENT, "cgroup %s does not exist", cg->rel);
}

static int need(struct cg *cg, enum cg_ctl c, dd_err *e)
{
    if (cg->dir[c])
        return 0;
    return dd_err_set(e, EOPNOTSUPP, "the %s cgroup controller is not available", cg_ctl_names[c]);
}

static char *v1_num(int64_t v)
{
    return v < 0 ? dd_strdup("-1") : dd_asprintf("%lld", (long long)v);
}

/* memory and memory+swap must stay ordered (memsw >= memory) after every single write, so the
 * order depends on whether the limits rise or fall: try memory first, else swap first. */
static int apply_memory(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    const char *dir = cg->dir[CG_MEMORY];
    bool swap = l->memory_swap && cg_file_exists(dir, "memory.memsw.limit_in_bytes");
    _cleanup_free_ char *mem = l->memory ? v1_num(l->memory) : NULL;
    _cleanup_free_ char *sw = swap ? v1_num(l->memory_swap) : NULL;
    if (mem && sw && l->memory > 0 && l->memory_swap > 0 && l->memory_swap < l->memory)
        return dd_err_set(e, EINVAL,
                          "memory+swap limit (%lld) is smaller than the memory "
                          "limit (%lld)",
                          (long long)l->memory_swap, (long long)l->memory);
    int r = 0;
    if (mem) {
        r = cg_write(dir, "memory.limit_in_bytes", mem, e);
        if (r == -EINVAL && sw) {
            dd_err_clear(e);
            r = cg_write(dir, "memory.memsw.limit_in_bytes", sw, e);
            return r < 0 ? r : cg_write(dir, "memory.limit_in_bytes", mem, e);
        }
        if (r == -EINVAL && !sw && cg_file_exists(dir, "memory.memsw.limit_in_bytes"))
            return dd_err_set(e, EINVAL,
                              "Memory limit should be smaller than already set "
                              "memoryswap limit, update the memoryswap at the same "
                              "time");
        if (r < 0)
            return r;
    }
    if (sw)
        r = cg_write(dir, "memory.memsw.limit_in_bytes", sw, e);
    return r;
}

static int apply_cpu(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    uint64_t shares = l->cpu_shares ? l->cpu_shares : cg_weight_to_shares(l->cpu_weight);
    int r = 0;
    if (shares)
        r = cg_writef(cg->dir[CG_CPU], "cpu.shares", e, "%llu", (unsigned long long)shares);
    if (r >= 0 && l->cpu_period_us)
        r = cg_writef(cg->dir[CG_CPU], "cpu.cfs_period_us", e, "%llu",
                      (unsigned long long)l->cpu_period_us);
    if (r >= 0 && l->cpu_quota_us)
        r = cg_writef(cg->dir[CG_CPU], "cpu.cfs_quota_us", e, "%lld",
                      (long long)(l->cpu_quota_us < 0 ? -1 : l->cpu_quota_us));
    return r;
}

static int apply_devices(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    for (size_t i = 0; i < l->n_devices; i++) {
        const struct cg_device_rule *d = &l->devices[i];
        if (d->type != 'a' && d->type != 'c' && d->type != 'b')
            return dd_err_set(e, EINVAL, "device rule type must be a, c or b");
        char text[64];
        cg_device_rule_text(d, text, sizeof(text));
        int r = cg_write(cg->dir[CG_DEVICES], d->allow ? "devices.allow" : "devices.deny", text, e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int apply_blkio(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    const char *dir = cg->dir[CG_BLKIO];
    const char *f = cg_file_exists(dir, "blkio.weight")       ? "blkio.weight"
                    : cg_file_exists(dir, "blkio.bfq.weight") ? "blkio.bfq.weight"
                                                              : NULL;
    if (!f)
        return dd_err_set(e, EOPNOTSUPP, "this kernel does not support block I/O weight");
    return cg_writef(dir, f, e, "%u", (unsigned)l->blkio_weight);
}

static int v1_apply(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    int r = 0;
    bool mem = l->memory || l->memory_swap || l->memory_reservation;
    bool cpu = l->cpu_shares || l->cpu_weight || l->cpu_quota_us || l->cpu_period_us;
    bool cpuset = l->cpuset_cpus || l->cpuset_mems;
    /* Check every controller first so a refusal changes nothing. */
    if ((mem && (r = need(cg, CG_MEMORY, e)) < 0) || (cpu && (r = need(cg, CG_CPU, e)) < 0) ||
        (cpuset && (r = need(cg, CG_CPUSET, e)) < 0) ||
        (l->pids_max && (r = need(cg, CG_PIDS, e)) < 0) ||
        (l->blkio_weight && (r = need(cg, CG_BLKIO, e)) < 0) ||
        (l->n_devices && (r = need(cg, CG_DEVICES, e)) < 0))
        return r;
    if (l->memory || l->memory_swap)
        r = apply_memory(cg, l, e);
    if (r >= 0 && l->memory_reservation) {
        _cleanup_free_ char *v = v1_num(l->memory_reservation);
        r = cg_write(cg->dir[CG_MEMORY], "memory.soft_limit_in_bytes", v, e);
    }
    if (r >= 0 && l->pids_max)
        r = l->pids_max < 0
                ? cg_write(cg->dir[CG_PIDS], "pids.max", "max", e)
                : cg_writef(cg->dir[CG_PIDS], "pids.max", e, "%lld", (long long)l->pids_max);
    if (r >= 0 && cpu)
        r = apply_cpu(cg, l, e);
    if (r >= 0 && l->cpuset_cpus)
        r = cg_write(cg->dir[CG_CPUSET], "cpuset.cpus", l->cpuset_cpus, e);
    if (r >= 0 && l->cpuset_mems)
        r = cg_write(cg->dir[CG_CPUSET], "cpuset.mems", l->cpuset_mems, e);
    if (r >= 0 && l->blkio_weight)
        r = apply_blkio(cg, l, e);
    if (r >= 0 && l->n_devices)
        r = apply_devices(cg, l, e);
    return r;
}

struct enter_ctx {
    pid_t pid;
    bool self_thread;
    dd_err *e;
    int r;
};

static int enter_one(const char *dir, void *ud)
{
    struct enter_ctx *c = ud;
    if (c->self_thread)
        c->r = cg_write(dir, "tasks", "0", c->e);
    else
        c->r = cg_writef(dir, "cgroup.procs", c->e, "%d", (int)c->pid);
    return c->r < 0;
}

static bool single_threaded(void)
{
    _cleanup_free_ char *st = NULL;
    if (dd_read_file("/proc/self/status", 0, &st, NULL, NULL) < 0)
        return false;
    const char *t = strstr(st, "\nThreads:");
    return t && strtol(t + strlen("\nThreads:"), NULL, 10) == 1;
}

/* A single-threaded process that moves itself writes "0" to "tasks" (its one thread) instead of
 * its pid to cgroup.procs: the kernel then skips the global threadgroup rwsem, whose write side
 * waits for an RCU grace period (milliseconds, tens of them on a busy machine) on every
 * cgroup.procs write. Same result: the process's only thread is the process. */
static int v1_enter(struct cg *cg, pid_t pid, dd_err *e)
{
    struct enter_ctx c = {pid, pid == getpid() && single_threaded(), e, 0};
    each_dir(cg, enter_one, &c);
    return c.r;
}

/* Any directory that holds our processes: the one to list pids from. */
static const char *procs_dir(struct cg *cg)
{
    static const enum cg_ctl order[] = {CG_PIDS,    CG_MEMORY,  CG_FREEZER, CG_CPU,
                                        CG_CPUACCT, CG_DEVICES, CG_BLKIO,   CG_CPUSET};
    for (size_t i = 0; i < DD_ARRAY_SIZE(order); i++)
        if (cg->dir[order[i]])
            return cg->dir[order[i]];
    return NULL;
}

static int v1_pids(struct cg *cg, pid_t **ret, size_t *ret_n, dd_err *e)
{
    const char *dir = procs_dir(cg);
    if (!dir) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    return cg_tree_pids(dir, ret, ret_n, e);
}

struct sig_ctx {
    int sig;
    int n;
};

static int signal_dir(const char *dir, void *ud)
{
    struct sig_ctx *c = ud;
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, "cgroup.procs", &s, NULL) < 0)
        return 0;
    pid_t *pids = NULL;
    size_t n = 0;
    cg_parse_pids(s, &pids, &n);
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], c->sig) == 0)
            c->n++;
    free(pids);
    return 0;
}

static int signal_tree(const char *dir, void *ud)
{
    cg_walk(dir, signal_dir, ud);
    return 0;
}

/* Writes state until freezer.state reads it back (a freeze can stay FREEZING while a task is in
 * an uninterruptible sleep; writing again retries it), for at most timeout_ms. */
static int freezer_set(const char *dir, const char *state, int timeout_ms)
{
    int64_t deadline = dd_mono_ns() + (int64_t)timeout_ms * 1000000;
    int ms = 1;
    for (;;) {
        _cleanup_free_ char *s = NULL;
        if (cg_write(dir, "freezer.state", state, NULL) < 0 ||
            cg_read(dir, "freezer.state", &s, NULL) < 0)
            return -EIO;
        if (strcmp(s, state) == 0)
            return 0;
        if (dd_mono_ns() >= deadline)
            return -EBUSY;
        cg_backoff(&ms);
    }
}

static bool v1_frozen_now(const char *fz)
{
    _cleanup_free_ char *s = NULL;
    return cg_read(fz, "freezer.state", &s, NULL) >= 0 && strcmp(s, "THAWED") != 0;
}

static int v1_kill_all(struct cg *cg, int sig, dd_err *e)
{
    const char *fz = cg->dir[CG_FREEZER];
    /* A paused container stays paused for any signal but SIGKILL (which it must act on). */
    bool was_frozen = fz && v1_frozen_now(fz);
    bool frozen = fz && freezer_set(fz, "FROZEN", 1000) == 0;
    struct sig_ctx c = {sig, 0};
    each_dir(cg, signal_tree, &c);
    if (fz && (frozen || sig == SIGKILL) && (!was_frozen || sig == SIGKILL))
        return cg_write(fz, "freezer.state", "THAWED", e);
    return 0;
}

static int v1_freeze(struct cg *cg, bool frozen, dd_err *e)
{
    const char *fz = cg->dir[CG_FREEZER];
    if (!fz)
        return dd_err_set(e, EOPNOTSUPP, "the freezer cgroup controller is not available");
    int r = freezer_set(fz, frozen ? "FROZEN" : "THAWED", 5000);
    if (r == -EBUSY && frozen) {
        (void)freezer_set(fz, "THAWED", 1000);
        return dd_err_set(e, EBUSY, "the processes could not be frozen in time");
    }
    if (r < 0)
        return dd_err_sys(e, "writing %s/freezer.state", fz);
    return 0;
}

static int v1_is_frozen(struct cg *cg, bool *ret, dd_err *e)
{
    const char *fz = cg->dir[CG_FREEZER];
    _cleanup_free_ char *s = NULL;
    *ret = false;
    if (!fz)
        return 0;
    int r = cg_read(fz, "freezer.state", &s, e);
    if (r < 0)
        return r;
    *ret = strcmp(s, "FROZEN") == 0;
    return 0;
}

static int has_procs(const char *dir, void *ud)
{
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, "cgroup.procs", &s, NULL) < 0)
        return 0;
    return *s != '\0';
}

static int populated_tree(const char *dir, void *ud)
{
    return cg_walk(dir, has_procs, ud);
}

static int v1_populated(struct cg *cg, bool *ret, dd_err *e)
{
    if (v1_exists(cg, NULL) < 0)
        return dd_err_set(e, ENOENT, "cgroup %s does not exist", cg->rel);
    *ret = each_dir(cg, populated_tree, NULL) != 0;
    return 0;
}

struct rm_ctx {
    dd_err *e;
    int r;
};

static int remove_one(const char *dir, void *ud)
{
    struct rm_ctx *c = ud;
    int r = cg_rmdir_tree(dir, c->e);
    if (r < 0 && c->r >= 0)
        c->r = r;
    return 0;
}

static int v1_remove(struct cg *cg, dd_err *e)
{
    struct rm_ctx c = {e, 0};
    each_dir(cg, remove_one, &c);
    return c.r;
}

static int v1_oom_open(struct cg *cg, dd_err *e)
{
    int r = need(cg, CG_MEMORY, e);
    if (r < 0)
        return r;
    _cleanup_close_ int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return dd_err_sys(e, "eventfd");
    _cleanup_free_ char *p = dd_path_join(cg->dir[CG_MEMORY], "memory.oom_control");
    _cleanup_close_ int cfd = open(p, O_RDONLY | O_CLOEXEC);
    if (cfd < 0)
        return dd_err_sys(e, "opening %s", p);
    r = cg_writef(cg->dir[CG_MEMORY], "cgroup.event_control", e, "%d %d", efd, cfd);
    if (r < 0)
        return r;
    cg->oom_fd = TAKE_FD(efd);
    cg->oom_ctl_fd = TAKE_FD(cfd);
    return 0;
}

static int v1_oom_kills(struct cg *cg, uint64_t *ret, dd_err *e)
{
    int r = need(cg, CG_MEMORY, e);
    _cleanup_free_ char *s = NULL;
    if (r >= 0)
        r = cg_read(cg->dir[CG_MEMORY], "memory.oom_control", &s, e);
    if (r < 0)
        return r;
    if (cg_kv_u64(s, "oom_kill", ret) < 0)
        return dd_err_set(e, EOPNOTSUPP, "memory.oom_control has no oom_kill counter");
    return 0;
}

static int stats_memory(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    const char *d = cg->dir[CG_MEMORY];
    _cleanup_free_ char *ms = NULL;
    uint64_t host = 0;
    int r = cg_read_u64(d, "memory.usage_in_bytes", &st->mem_usage, e);
    if (r >= 0)
        r = cg_read_u64(d, "memory.max_usage_in_bytes", &st->mem_max_usage, e);
    if (r >= 0)
        r = cg_read_u64(d, "memory.limit_in_bytes", &st->mem_limit, e);
    if (r >= 0)
        r = cg_read_u64(d, "memory.failcnt", &st->mem_failcnt, e);
    if (r >= 0)
        r = cg_read(d, "memory.stat", &ms, e);
    if (r < 0)
        return r;
    (void)cg_kv_u64(ms, "total_cache", &st->mem_cache);
    (void)cg_kv_u64(ms, "total_rss", &st->mem_rss);
    (void)cg_kv_u64(ms, "total_inactive_file", &st->mem_inactive_file);
    if (cg_host_memory(&host, NULL) >= 0 && host < st->mem_limit)
        st->mem_limit = host;
    st->has_memory = true;
    return 0;
}

static int stats_cpu(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    const char *d = cg->dir[CG_CPUACCT];
    _cleanup_free_ char *percpu = NULL, *cs = NULL;
    int r = cg_read_u64(d, "cpuacct.usage", &st->cpu_total_ns, e);
    if (r >= 0)
        r = cg_read(d, "cpuacct.usage_percpu", &percpu, e);
    if (r >= 0)
        r = cg_read(d, "cpuacct.stat", &cs, e);
    if (r < 0)
        return r;
    size_t n = 0, cap = 8;
    st->cpu_percpu_ns = dd_malloc(cap * sizeof(uint64_t));
    for (char *p = percpu, *end; *p; p = end) {
        uint64_t v = strtoull(p, &end, 10);
        if (end == p)
            break;
        if (n == cap)
            st->cpu_percpu_ns = dd_realloc(st->cpu_percpu_ns, (cap *= 2) * sizeof(uint64_t));
        st->cpu_percpu_ns[n++] = v;
    }
    st->n_percpu = n;
    uint64_t tick_ns = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK), u = 0, s = 0;
    (void)cg_kv_u64(cs, "user", &u);
    (void)cg_kv_u64(cs, "system", &s);
    st->cpu_user_ns = u * tick_ns;
    st->cpu_system_ns = s * tick_ns;
    _cleanup_free_ char *cstat = NULL;
    if (cg->dir[CG_CPU] && cg_read(cg->dir[CG_CPU], "cpu.stat", &cstat, NULL) >= 0) {
        (void)cg_kv_u64(cstat, "nr_periods", &st->cpu_periods);
        (void)cg_kv_u64(cstat, "nr_throttled", &st->cpu_throttled_periods);
        (void)cg_kv_u64(cstat, "throttled_time", &st->cpu_throttled_ns);
    }
    st->has_cpu = true;
    return 0;
}

/* "8:0 Read 4096" lines; the Total lines and per-device sums are left to callers. */
static void sum_blkio(const char *text, struct cg_stats *st)
{
    for (const char *p = text; p && *p;) {
        char op[16];
        unsigned long long v;
        if (sscanf(p, "%*s %15s %llu", op, &v) == 2) {
            if (strcmp(op, "Read") == 0)
                st->blk_read_bytes += v;
            else if (strcmp(op, "Write") == 0)
                st->blk_write_bytes += v;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

static int v1_stats(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    int r = 0;
    if (cg->dir[CG_MEMORY])
        r = stats_memory(cg, st, e);
    if (r >= 0 && cg->dir[CG_CPUACCT])
        r = stats_cpu(cg, st, e);
    /* the root cgroup (a base at the hierarchy's root) has no pids files */
    if (r >= 0 && cg->dir[CG_PIDS] && cg_file_exists(cg->dir[CG_PIDS], "pids.current")) {
        r = cg_read_u64(cg->dir[CG_PIDS], "pids.current", &st->pids_current, e);
        if (r >= 0)
            r = cg_read_u64(cg->dir[CG_PIDS], "pids.max", &st->pids_limit, e);
        if (st->pids_limit == UINT64_MAX)
            st->pids_limit = 0;
        st->has_pids = r >= 0;
    }
    if (r >= 0 && cg->dir[CG_BLKIO]) {
        _cleanup_free_ char *s = NULL;
        if (cg_read(cg->dir[CG_BLKIO], "blkio.throttle.io_service_bytes_recursive", &s, NULL) >=
                0 ||
            cg_read(cg->dir[CG_BLKIO], "blkio.throttle.io_service_bytes", &s, NULL) >= 0) {
            sum_blkio(s, st);
            st->has_blkio = true;
        }
    }
    return r;
}

static int v1_prune(const char *parent_rel, dd_err *e)
{
    for (int c = 0; c < CG_NCTL; c++) {
        if (!cg_sys.v1_base[c])
            continue;
        int r = cg_prune_path(cg_sys.v1_base[c], parent_rel, e);
        if (r < 0)
            return r;
    }
    return 0;
}

const struct cg_ops cg_v1_ops = {
    .create = v1_create,
    .exists = v1_exists,
    .apply = v1_apply,
    .enter = v1_enter,
    .kill_all = v1_kill_all,
    .pids = v1_pids,
    .populated = v1_populated,
    .remove = v1_remove,
    .freeze = v1_freeze,
    .is_frozen = v1_is_frozen,
    .oom_open = v1_oom_open,
    .oom_kills = v1_oom_kills,
    .stats = v1_stats,
    .prune = v1_prune,
};
