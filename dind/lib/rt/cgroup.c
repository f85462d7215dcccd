/* The container's cgroup through the cg_ module: the spec's resources become cg_limits, an
 * unprivileged container gets Docker's device allow-list plus its own devices, a privileged one
 * every device. The handle is reopened by name for every call (cg_open_existing), so nothing is
 * kept in memory between the daemon, the shim and the exec helper. */
#include <sys/stat.h>

#include "dind/cgroup.h"
#include "dind/lib/rt/rt-cgroup.h"

static void limits_from_spec(const struct rt_spec *s, struct cg_limits *l)
{
    const struct rt_resources *r = &s->resources;
    l->memory = r->memory;
    l->memory_swap = r->memory_swap;
    l->pids_max = r->pids_limit;
    l->cpu_quota_us = r->cpu_quota;
    l->cpu_period_us = r->cpu_period;
    l->cpu_shares = r->cpu_shares;
    l->cpuset_cpus = r->cpuset_cpus;
    l->cpuset_mems = r->cpuset_mems;
}

/* Docker's defaults, then one rule per extra device of the spec. Caller frees. */
static struct cg_device_rule *device_rules(const struct rt_spec *s, size_t *ret_n)
{
    if (s->privileged) {
        struct cg_device_rule *all = dd_calloc(1, sizeof(*all));
        *all = (struct cg_device_rule){.allow = true, .type = 'a', .major = -1, .minor = -1};
        memcpy(all->access, "rwm", 4);
        *ret_n = 1;
        return all;
    }
    size_t n = 0;
    const struct cg_device_rule *def = cg_devices_docker_default(&n);
    struct cg_device_rule *v = dd_calloc(n + s->n_devices + 1, sizeof(*v));
    memcpy(v, def, n * sizeof(*v));
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct rt_device *d = &s->devices[i];
        v[n] = (struct cg_device_rule){.allow = true,
                                       .type = d->type == 'b' ? 'b' : 'c',
                                       .major = d->major,
                                       .minor = d->minor};
        memcpy(v[n++].access, "rwm", 4);
    }
    *ret_n = n;
    return v;
}

int rt_cgroup_create(const struct rt_spec *s, dd_err *e)
{
    if (!s->cgroup_parent)
        return 0;
    struct cg_limits l = {0};
    limits_from_spec(s, &l);
    _cleanup_free_ struct cg_device_rule *rules = device_rules(s, &l.n_devices);
    l.devices = rules;
    struct cg *cg = NULL;
    int r = cg_create(s->cgroup_parent, s->id, &l, &cg, e);
    if (r < 0)
        return dd_err_wrap(e, "creating the container's cgroup");
    cg_free(cg);
    return 0;
}

int rt_cgroup_enter(const char *state_dir, const struct rt_spec *s, pid_t pid, dd_err *e)
{
    if (!s->cgroup_parent)
        return 0;
    struct cg *cg = NULL;
    int r = cg_open_existing(s->cgroup_parent, s->id, &cg, e);
    if (r >= 0)
        r = cg_enter(cg, pid, e);
    cg_free(cg);
    return r < 0 ? dd_err_wrap(e, "entering the container's cgroup") : 0;
}

bool rt_cgroup_oom_killed(const char *state_dir, const struct rt_spec *s)
{
    if (!s->cgroup_parent)
        return false;
    struct cg *cg = NULL;
    uint64_t kills = 0;
    if (cg_open_existing(s->cgroup_parent, s->id, &cg, NULL) >= 0)
        (void)cg_oom_kills(cg, &kills, NULL);
    cg_free(cg);
    return kills > 0;
}

int rt_cgroup_destroy(const struct rt_spec *s, dd_err *e)
{
    if (!s->cgroup_parent)
        return 0;
    struct cg *cg = NULL;
    int r = cg_open_existing(s->cgroup_parent, s->id, &cg, e);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    r = cg_destroy(cg, 0, e);
    if (r < 0) {
        cg_free(cg);
        return dd_err_wrap(e, "removing the container's cgroup");
    }
    return 0;
}

int rt_cgroup_pids(const struct rt_spec *s, pid_t **ret_pids, size_t *ret_n, dd_err *e)
{
    if (!s->cgroup_parent)
        return -ENOENT;
    struct cg *cg = NULL;
    int r = cg_open_existing(s->cgroup_parent, s->id, &cg, e);
    if (r >= 0)
        r = cg_pids(cg, ret_pids, ret_n, e);
    cg_free(cg);
    return r;
}
