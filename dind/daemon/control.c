/* control: changes to a running container's cgroup: pause/unpause (the freezer: v1
 * freezer.state, v2 cgroup.freeze) and `docker update` (resource limits through cg_update(),
 * and the restart policy). The new HostConfig values are validated like create's and stored, so
 * inspect and later restarts see them. Nothing here waits on the loop: freezing is confirmed by
 * polling the freezer state for a bounded, short time.
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include "container-internal.h"
#include "create.h"
#include "dind/cgroup.h"
#include "dind/json.h"
#include "events.h"
#include "lifecycle.h"

static int open_cgroup(struct container *c, struct cg **ret, dd_err *e)
{
    const char *parent = json_string_value(json_object_get(c->host_config, "CgroupParent"));
    int r = cg_open_existing(parent && *parent ? parent : "dindd", c->id, ret, e);
    return r < 0 ? dd_err_wrap(e, "container %s", c->id) : 0;
}

static int freezer_write(struct cg *cg, bool frozen, dd_err *e)
{
    bool v2 = cg_mode() == CG_MODE_V2;
    const char *dir = cg_dir(cg, "freezer");
    if (!dir)
        return dd_err_set(e, EOPNOTSUPP,
                          "pausing needs the freezer cgroup controller, which "
                          "is not available here");
    _cleanup_free_ char *path = dd_path_join(dir, v2 ? "cgroup.freeze" : "freezer.state");
    const char *val = v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dd_write_all(fd, val, strlen(val)) < 0)
        return dd_err_sys(e, "writing %s", path);
    if (v2 || !frozen)
        return 0;
    /* v1 reports FREEZING until every task stopped; wait a bounded moment for it. */
    for (int i = 0; i < 200; i++) {
        _cleanup_free_ char *state = NULL;
        if (dd_read_file(path, 64, &state, NULL, NULL) == 0 && dd_startswith(state, "FROZEN"))
            return 0;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return dd_err_set(e, EBUSY, "the container's processes did not freeze");
}

int ctr_pause(struct ctr_store *s, struct container *c, bool pause, dd_err *e)
{
    struct cg *cg = NULL;
    if (pause && c->st.status == CTR_PAUSED)
        return dd_err_set(e, EBUSY, "Container %s is already paused", c->id);
    if (!pause && c->st.status != CTR_PAUSED)
        return dd_err_set(e, EBUSY, "Container %s is not paused", c->id);
    if (pause && c->st.status != CTR_RUNNING)
        return dd_err_set(e, EBUSY, "Container %s is not running", c->id);
    int r = open_cgroup(c, &cg, e);
    if (r < 0)
        return r;
    r = freezer_write(cg, pause, e);
    cg_free(cg);
    if (r < 0)
        return r;
    c->st.status = pause ? CTR_PAUSED : CTR_RUNNING;
    ctr_save(s, c, NULL);
    events_emit_container(c, pause ? "pause" : "unpause", NULL);
    return 0;
}

/* ---- docker update ---- */

static const char *const update_keys[] = {
    "Memory",    "MemorySwap", "MemoryReservation", "NanoCpus",   "CpuShares",
    "CpuPeriod", "CpuQuota",   "CpusetCpus",        "CpusetMems", "PidsLimit",
};

static int collect_update(const json_t *body, json_t *hc, dd_err *e)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(update_keys); i++) {
        json_t *v = jx_get(body, update_keys[i]);
        if (!v)
            continue;
        bool str = dd_startswith(update_keys[i], "Cpuset");
        if (str ? !json_is_string(v) : !json_is_integer(v))
            return dd_err_set(e, EINVAL, "%s: expected %s", update_keys[i],
                              str ? "a string" : "an integer");
        json_object_set(hc, update_keys[i], v);
    }
    json_t *rp = jx_get(body, "RestartPolicy");
    if (rp && json_is_object(rp)) {
        const char *name = NULL;
        int64_t max = 0;
        if (jx_str(rp, "Name", &name, e) < 0 || jx_int(rp, "MaximumRetryCount", &max, e) < 0)
            return -EINVAL;
        json_object_set_new(hc, "RestartPolicy",
                            json_pack("{s:s,s:I}", "Name", name ? name : "no", "MaximumRetryCount",
                                      (json_int_t)max));
    }
    return 0;
}

static void limits_from(const json_t *hc, struct cg_limits *l)
{
    int64_t nano = json_integer_value(json_object_get(hc, "NanoCpus"));
    l->memory = json_integer_value(json_object_get(hc, "Memory"));
    l->memory_swap = json_integer_value(json_object_get(hc, "MemorySwap"));
    l->memory_reservation = json_integer_value(json_object_get(hc, "MemoryReservation"));
    l->pids_max = json_integer_value(json_object_get(hc, "PidsLimit"));
    l->cpu_shares = (uint64_t)json_integer_value(json_object_get(hc, "CpuShares"));
    l->cpu_quota_us = json_integer_value(json_object_get(hc, "CpuQuota"));
    l->cpu_period_us = (uint64_t)json_integer_value(json_object_get(hc, "CpuPeriod"));
    if (nano > 0) {
        l->cpu_period_us = 100000;
        l->cpu_quota_us = nano * 100000 / 1000000000;
    }
    const char *cpus = json_string_value(json_object_get(hc, "CpusetCpus"));
    const char *mems = json_string_value(json_object_get(hc, "CpusetMems"));
    l->cpuset_cpus = cpus && *cpus ? cpus : NULL;
    l->cpuset_mems = mems && *mems ? mems : NULL;
    if (l->memory > 0 && l->memory_swap == 0)
        l->memory_swap = 2 * l->memory;
}

int ctr_update(struct ctr_store *s, struct container *c, const char *body, size_t len,
               json_t **ret_warnings, dd_err *e)
{
    json_t *in = NULL;
    int r = jx_parse(body && len ? body : "{}", body && len ? len : 2, &in, e);
    if (r < 0)
        return r;
    json_t *hc = json_deep_copy(c->host_config);
    if ((r = collect_update(in, hc, e)) < 0 || (r = create_check_update(hc, e)) < 0)
        goto out;
    if (ctr_is_running(c)) {
        struct cg *cg = NULL;
        struct cg_limits l = {0};
        limits_from(hc, &l);
        if ((r = open_cgroup(c, &cg, e)) < 0)
            goto out;
        r = cg_update(cg, &l, e);
        cg_free(cg);
        if (r < 0) {
            dd_err_wrap(e, "Cannot update container %s", c->id);
            goto out;
        }
    }
    json_decref(c->host_config);
    c->host_config = TAKE_PTR(hc);
    if ((r = ctr_save(s, c, e)) < 0)
        goto out;
    events_emit_container(c, "update", NULL);
    *ret_warnings = json_array();
out:
    json_decref(hc);
    json_decref(in);
    return r;
}
