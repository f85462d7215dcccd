/* cgroup v2 driver: one unified hierarchy. Before the first cgroup is created the daemon's own
 * cgroup (the base) delegates its controllers to children through cgroup.subtree_control; if the
 * kernel refuses because the base holds processes ("no internal processes"), every process of the
 * base is moved into "<base>/init" first, as docker's dind entrypoint does. Intermediate
 * directories enable the controllers they have for their children. Limits map to memory.max,
 * memory.swap.max, memory.low, pids.max, cpu.weight, cpu.max, cpuset.*, io.weight; devices go
 * through an eBPF program (cgroup-bpf.c); OOM events are inotify on memory.events. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "cgroup-internal.h"

static bool word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, " \n");
        if (k == n && strncmp(p, w, n) == 0)
            return true;
        p += k;
        while (*p == ' ' || *p == '\n')
            p++;
    }
    return false;
}

/* Enables each controller dir has in its own cgroup.controllers for its children. One write per
 * controller so one refusal does not hide the others. Returns -EBUSY if the kernel refused
 * because dir holds processes. */
static int enable_children(const char *dir)
{
    _cleanup_free_ char *avail = NULL, *on = NULL;
    if (cg_read(dir, "cgroup.controllers", &avail, NULL) < 0)
        return 0;
    (void)cg_read(dir, "cgroup.subtree_control", &on, NULL);
    int busy = 0;
    for (char *save = NULL, *c = strtok_r(avail, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        if (on && word_in(on, c))
            continue;
        if (cg_writef(dir, "cgroup.subtree_control", NULL, "+%s", c) == -EBUSY)
            busy = -EBUSY;
    }
    return busy;
}

/* Moves every process of the base into base/init so the base may delegate controllers. */
static int evacuate_base(dd_err *e)
{
    _cleanup_free_ char *init = dd_path_join(cg_sys.v2_base, "init");
    int r = cg_mkdir(init, NULL, e);
    if (r < 0)
        return r;
    for (int round = 0; round < 10; round++) {
        _cleanup_free_ char *s = NULL;
        pid_t *pids = NULL;
        size_t n = 0;
        r = cg_read(cg_sys.v2_base, "cgroup.procs", &s, e);
        if (r < 0)
            return r;
        cg_parse_pids(s, &pids, &n);
        for (size_t i = 0; i < n; i++)
            (void)cg_writef(init, "cgroup.procs", NULL, "%d", (int)pids[i]);
        free(pids);
        if (n == 0)
            return 0;
    }
    return dd_err_set(e, EBUSY, "processes keep appearing in %s", cg_sys.v2_base);
}

static int delegate_base(dd_err *e)
{
    if (cg_sys.v2_delegated)
        return 0;
    if (enable_children(cg_sys.v2_base) == -EBUSY) {
        int r = evacuate_base(e);
        if (r < 0)
            return dd_err_wrap(e, "moving our processes out of %s", cg_sys.v2_base);
        if (enable_children(cg_sys.v2_base) == -EBUSY)
            return dd_err_set(e, EBUSY, "cannot delegate controllers from %s", cg_sys.v2_base);
    }
    cg_sys.v2_delegated = true;
    return 0;
}

static void fill_dir(struct cg *cg)
{
    free(cg->v2_dir);
    cg->v2_dir = cg->rel[0] ? dd_path_join(cg_sys.v2_base, cg->rel) : dd_strdup(cg_sys.v2_base);
}

static int v2_create(struct cg *cg, bool *ret_created, dd_err *e)
{
    fill_dir(cg);
    int r = delegate_base(e);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = dd_strdup(cg_sys.v2_base);
    bool created = false;
    for (const char *p = cg->rel; *p;) {
        size_t n = strcspn(p, "/");
        if (strcmp(path, cg_sys.v2_base) != 0)
            (void)enable_children(path); /* an intermediate with processes keeps its own */
        char *next = dd_asprintf("%s/%.*s", path, (int)n, p);
        free(path);
        path = next;
        r = cg_mkdir(path, &created, e);
        if (r < 0)
            return r;
        p += n;
        if (*p == '/')
            p++;
    }
    *ret_created = created;
    return 0;
}

static int v2_exists(struct cg *cg, dd_err *e)
{
    fill_dir(cg);
    struct stat st;
    if (stat(cg->v2_dir, &st) < 0)
        return dd_err_set(e, ENOENT, "cgroup %s does not exist", cg->rel);
    return 0;
}

static int need(struct cg *cg, const char *ctl, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    if (cg_read(cg->v2_dir, "cgroup.controllers", &s, NULL) >= 0 && word_in(s, ctl))
        return 0;
    return dd_err_set(e, EOPNOTSUPP,
                      "the %s cgroup controller is not available (not delegated to %s)", ctl,
                      cg_sys.v2_base);
}

static char *v2_num(int64_t v)
{
    return v < 0 ? dd_strdup("max") : dd_asprintf("%lld", (long long)v);
}

static int apply_memory(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    const char *d = cg->v2_dir;
    int r = 0;
    if (l->memory) {
        _cleanup_free_ char *v = v2_num(l->memory);
        r = cg_write(d, "memory.max", v, e);
    }
    if (r >= 0 && l->memory_swap && cg_file_exists(d, "memory.swap.max")) {
        uint64_t mem = 0;
        if (l->memory > 0)
            mem = (uint64_t)l->memory;
        else if ((r = cg_read_u64(d, "memory.max", &mem, e)) < 0)
            return r;
        if (l->memory_swap > 0 && (mem == UINT64_MAX || (uint64_t)l->memory_swap < mem))
            return dd_err_set(e, EINVAL,
                              "memory+swap limit (%lld) is smaller than the memory "
                              "limit",
                              (long long)l->memory_swap);
        _cleanup_free_ char *v =
            l->memory_swap < 0 ? dd_strdup("max")
                               : dd_asprintf("%llu", (unsigned long long)l->memory_swap - mem);
        r = cg_write(d, "memory.swap.max", v, e);
    }
    if (r >= 0 && l->memory_reservation) {
        _cleanup_free_ char *v =
            l->memory_reservation < 0 ? dd_strdup("0") : v2_num(l->memory_reservation);
        r = cg_write(d, "memory.low", v, e);
    }
    return r;
}

static int apply_cpu(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    const char *d = cg->v2_dir;
    uint64_t w = l->cpu_weight ? l->cpu_weight : cg_shares_to_weight(l->cpu_shares);
    int r = 0;
    if (w)
        r = cg_writef(d, "cpu.weight", e, "%llu", (unsigned long long)w);
    if (r < 0 || (!l->cpu_quota_us && !l->cpu_period_us))
        return r;
    _cleanup_free_ char *quota = NULL;
    if (l->cpu_quota_us) {
        quota = v2_num(l->cpu_quota_us);
    } else {
        r = cg_read(d, "cpu.max", &quota, e);
        if (r < 0)
            return r;
        quota[strcspn(quota, " ")] = '\0';
    }
    if (l->cpu_period_us)
        return cg_writef(d, "cpu.max", e, "%s %llu", quota, (unsigned long long)l->cpu_period_us);
    return cg_write(d, "cpu.max", quota, e);
}

static int apply_io(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    if (cg_file_exists(cg->v2_dir, "io.bfq.weight"))
        return cg_writef(cg->v2_dir, "io.bfq.weight", e, "%u", (unsigned)l->blkio_weight);
    if (cg_file_exists(cg->v2_dir, "io.weight"))
        return cg_writef(cg->v2_dir, "io.weight", e, "default %llu",
                         (unsigned long long)cg_blkio_to_io_weight(l->blkio_weight));
    return dd_err_set(e, EOPNOTSUPP, "this kernel does not support block I/O weight");
}

static int v2_apply(struct cg *cg, const struct cg_limits *l, dd_err *e)
{
    int r = 0;
    bool mem = l->memory || l->memory_swap || l->memory_reservation;
    bool cpu = l->cpu_shares || l->cpu_weight || l->cpu_quota_us || l->cpu_period_us;
    bool cpuset = l->cpuset_cpus || l->cpuset_mems;
    if ((mem && (r = need(cg, "memory", e)) < 0) || (cpu && (r = need(cg, "cpu", e)) < 0) ||
        (cpuset && (r = need(cg, "cpuset", e)) < 0) ||
        (l->pids_max && (r = need(cg, "pids", e)) < 0) ||
        (l->blkio_weight && (r = need(cg, "io", e)) < 0))
        return r;
    if (mem)
        r = apply_memory(cg, l, e);
    if (r >= 0 && l->pids_max) {
        _cleanup_free_ char *v = v2_num(l->pids_max);
        r = cg_write(cg->v2_dir, "pids.max", v, e);
    }
    if (r >= 0 && cpu)
        r = apply_cpu(cg, l, e);
    if (r >= 0 && l->cpuset_cpus)
        r = cg_write(cg->v2_dir, "cpuset.cpus", l->cpuset_cpus, e);
    if (r >= 0 && l->cpuset_mems)
        r = cg_write(cg->v2_dir, "cpuset.mems", l->cpuset_mems, e);
    if (r >= 0 && l->blkio_weight)
        r = apply_io(cg, l, e);
    if (r >= 0 && l->n_devices)
        r = cg_bpf_devices_apply(cg->v2_dir, l->devices, l->n_devices, e);
    return r;
}

static int v2_enter(struct cg *cg, pid_t pid, dd_err *e)
{
    return cg_writef(cg->v2_dir, "cgroup.procs", e, "%d", (int)pid);
}

static int v2_pids(struct cg *cg, pid_t **ret, size_t *ret_n, dd_err *e)
{
    return cg_tree_pids(cg->v2_dir, ret, ret_n, e);
}

static int signal_dir(const char *dir, void *ud)
{
    int sig = *(int *)ud;
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, "cgroup.procs", &s, NULL) < 0)
        return 0;
    pid_t *pids = NULL;
    size_t n = 0;
    cg_parse_pids(s, &pids, &n);
    for (size_t i = 0; i < n; i++)
        (void)kill(pids[i], sig);
    free(pids);
    return 0;
}

static bool events_frozen(const char *dir)
{
    _cleanup_free_ char *s = NULL;
    uint64_t v = 0;
    return cg_read(dir, "cgroup.events", &s, NULL) >= 0 && cg_kv_u64(s, "frozen", &v) >= 0 &&
           v != 0;
}

/* Sets cgroup.freeze and waits for cgroup.events to agree, for at most timeout_ms. */
static int freeze_set(const char *dir, bool frozen, int timeout_ms, dd_err *e)
{
    int r = cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", e);
    if (r < 0)
        return r;
    int64_t deadline = dd_mono_ns() + (int64_t)timeout_ms * 1000000;
    int ms = 1;
    while (events_frozen(dir) != frozen) {
        if (dd_mono_ns() >= deadline)
            return dd_err_set(e, EBUSY, "%s did not %s in time", dir, frozen ? "freeze" : "thaw");
        cg_backoff(&ms);
    }
    return 0;
}

static int v2_kill_all(struct cg *cg, int sig, dd_err *e)
{
    if (sig == SIGKILL && cg_file_exists(cg->v2_dir, "cgroup.kill"))
        return cg_write(cg->v2_dir, "cgroup.kill", "1", e);
    if (!cg_file_exists(cg->v2_dir, "cgroup.freeze")) {
        cg_walk(cg->v2_dir, signal_dir, &sig);
        return 0;
    }
    /* A paused container stays paused for any signal but SIGKILL. */
    bool was_frozen = events_frozen(cg->v2_dir);
    (void)freeze_set(cg->v2_dir, true, 1000, NULL);
    cg_walk(cg->v2_dir, signal_dir, &sig);
    if (was_frozen && sig != SIGKILL)
        return 0;
    return cg_write(cg->v2_dir, "cgroup.freeze", "0", e);
}

static int v2_freeze(struct cg *cg, bool frozen, dd_err *e)
{
    if (!cg_file_exists(cg->v2_dir, "cgroup.freeze"))
        return dd_err_set(e, EOPNOTSUPP, "this kernel has no cgroup.freeze");
    int r = freeze_set(cg->v2_dir, frozen, 5000, e);
    if (r == -EBUSY && frozen)
        (void)freeze_set(cg->v2_dir, false, 1000, NULL);
    return r;
}

static int v2_is_frozen(struct cg *cg, bool *ret, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    *ret = cg_read(cg->v2_dir, "cgroup.freeze", &s, NULL) >= 0 && s[0] == '1';
    return 0;
}

static int v2_populated(struct cg *cg, bool *ret, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    uint64_t v = 0;
    if (cg_read(cg->v2_dir, "cgroup.events", &s, NULL) < 0) {
        struct stat st;
        if (stat(cg->v2_dir, &st) < 0)
            return dd_err_set(e, ENOENT, "cgroup %s does not exist", cg->rel);
        return dd_err_sys(e, "reading %s/cgroup.events", cg->v2_dir);
    }
    if (cg_kv_u64(s, "populated", &v) < 0)
        return dd_err_set(e, EINVAL, "%s/cgroup.events has no populated key", cg->v2_dir);
    *ret = v != 0;
    return 0;
}

static int v2_remove(struct cg *cg, dd_err *e)
{
    return cg_rmdir_tree(cg->v2_dir, e);
}

static int v2_oom_open(struct cg *cg, dd_err *e)
{
    int r = need(cg, "memory", e);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "inotify_init1");
    _cleanup_free_ char *p = dd_path_join(cg->v2_dir, "memory.events");
    if (inotify_add_watch(fd, p, IN_MODIFY) < 0)
        return dd_err_sys(e, "watching %s", p);
    cg->oom_fd = TAKE_FD(fd);
    return 0;
}

static int v2_oom_kills(struct cg *cg, uint64_t *ret, dd_err *e)
{
    int r = need(cg, "memory", e);
    _cleanup_free_ char *s = NULL;
    if (r >= 0)
        r = cg_read(cg->v2_dir, "memory.events", &s, e);
    if (r < 0)
        return r;
    if (cg_kv_u64(s, "oom_kill", ret) < 0)
        *ret = 0;
    return 0;
}

static int stats_memory(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    const char *d = cg->v2_dir;
    _cleanup_free_ char *ms = NULL, *ev = NULL;
    uint64_t host = 0;
    int r = cg_read_u64(d, "memory.current", &st->mem_usage, e);
    if (r >= 0)
        r = cg_read_u64(d, "memory.max", &st->mem_limit, e);
    if (r >= 0)
        r = cg_read(d, "memory.stat", &ms, e);
    if (r < 0)
        return r;
    if (cg_read_u64(d, "memory.peak", &st->mem_max_usage, NULL) < 0)
        st->mem_max_usage = 0;
    (void)cg_kv_u64(ms, "file", &st->mem_cache);
    (void)cg_kv_u64(ms, "anon", &st->mem_rss);
    (void)cg_kv_u64(ms, "inactive_file", &st->mem_inactive_file);
    if (cg_read(d, "memory.events", &ev, NULL) >= 0)
        (void)cg_kv_u64(ev, "max", &st->mem_failcnt);
    if (cg_host_memory(&host, NULL) >= 0 && host < st->mem_limit)
        st->mem_limit = host;
    st->has_memory = true;
    return 0;
}

/* cpu.stat exists in every v2 cgroup (usage even without the cpu controller). */
static int stats_cpu(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    int r = cg_read(cg->v2_dir, "cpu.stat", &s, e);
    if (r < 0)
        return r;
    uint64_t v = 0;
    if (cg_kv_u64(s, "usage_usec", &v) >= 0)
        st->cpu_total_ns = v * 1000;
    if (cg_kv_u64(s, "user_usec", &v) >= 0)
        st->cpu_user_ns = v * 1000;
    if (cg_kv_u64(s, "system_usec", &v) >= 0)
        st->cpu_system_ns = v * 1000;
    (void)cg_kv_u64(s, "nr_periods", &st->cpu_periods);
    (void)cg_kv_u64(s, "nr_throttled", &st->cpu_throttled_periods);
    if (cg_kv_u64(s, "throttled_usec", &v) >= 0)
        st->cpu_throttled_ns = v * 1000;
    st->has_cpu = true;
    return 0;
}

/* io.stat: "8:0 rbytes=1 wbytes=2 rios=3 ..." per device. */
static void sum_io(const char *text, struct cg_stats *st)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *rb = strstr(p, "rbytes="), *wb = strstr(p, "wbytes=");
        if (rb && (!nl || rb < nl))
            st->blk_read_bytes += strtoull(rb + 7, NULL, 10);
        if (wb && (!nl || wb < nl))
            st->blk_write_bytes += strtoull(wb + 7, NULL, 10);
        p = nl ? nl + 1 : NULL;
    }
}

static int v2_stats(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    int r = 0;
    if (cg_file_exists(cg->v2_dir, "memory.current"))
        r = stats_memory(cg, st, e);
    if (r >= 0)
        r = stats_cpu(cg, st, e);
    if (r >= 0 && cg_file_exists(cg->v2_dir, "pids.current")) {
        r = cg_read_u64(cg->v2_dir, "pids.current", &st->pids_current, e);
        if (r >= 0)
            r = cg_read_u64(cg->v2_dir, "pids.max", &st->pids_limit, e);
        if (st->pids_limit == UINT64_MAX)
            st->pids_limit = 0;
        st->has_pids = r >= 0;
    }
    _cleanup_free_ char *io = NULL;
    if (r >= 0 && cg_read(cg->v2_dir, "io.stat", &io, NULL) >= 0) {
        sum_io(io, st);
        st->has_blkio = true;
    }
    return r;
}

static int v2_prune(const char *parent_rel, dd_err *e)
{
    return cg_prune_path(cg_sys.v2_base, parent_rel, e);
}

const struct cg_ops cg_v2_ops = {
    .create = v2_create,
    .exists = v2_exists,
    .apply = v2_apply,
    .enter = v2_enter,
    .kill_all = v2_kill_all,
    .pids = v2_pids,
    .populated = v2_populated,
    .remove = v2_remove,
    .freeze = v2_freeze,
    .is_frozen = v2_is_frozen,
    .oom_open = v2_oom_open,
    .oom_kills = v2_oom_kills,
    .stats = v2_stats,
    .prune = v2_prune,
};
