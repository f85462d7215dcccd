/* table-cells.c: per-kind Table columns with the same names, order and priorities as upstream's
 * printers (pkg/printers/internalversion) for pods and workloads (the rest: table-core.c), and
 * the functions that compute each cell from the
 * object JSON: pod READY/STATUS/RESTARTS, deployment READY/UP-TO-DATE/AVAILABLE, service
 * TYPE/CLUSTER-IP/EXTERNAL-IP/PORT(S), node STATUS/ROLES, and so on. Cells never fail: a missing
 * field prints as upstream prints it ("<none>", 0, "").
 */
#include <stdio.h>

#include "dind/base.h"
#include "k3core/server/table-internal.h"

static json_t *str_or(const char *s, const char *def)
{
    return json_string(s && *s ? s : def);
}

static int64_t ival(const json_t *o, const char *path)
{
    return json_integer_value(tpath(o, path));
}

static json_t *ratio(int64_t a, int64_t b)
{
    char buf[48];
    snprintf(buf, sizeof(buf), "%lld/%lld", (long long)a, (long long)b);
    return json_string(buf);
}

/* Joins a string field of every element of an array: "web,sidecar". */
json_t *join_field(const json_t *arr, const char *field, const char *sep, const char *none)
{
    dd_buf b = DD_BUF_INIT;
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        const char *s = json_is_string(el) ? json_string_value(el) : tstr(el, field);
        if (s)
            dd_buf_addf(&b, "%s%s", b.len ? sep : "", s);
    }
    json_t *j = json_string(b.len ? b.data : none);
    dd_buf_release(&b);
    return j;
}

/* ---- pods ---- */

/* The status of the pod condition `type` ("True"...), or NULL. */
static const char *pod_condition(const json_t *o, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        if (tstr(c, "type") && !strcmp(tstr(c, "type"), type))
            return tstr(c, "status");
    }
    return NULL;
}

/* What upstream's printPod derives from a pod's statuses: READY, STATUS and RESTARTS. */
struct pod_summary {
    int64_t ready, total, restarts;
    const char *last_restart; /* newest lastState.terminated.finishedAt counted, or NULL */
    char reason[96];
};

static void newer(const char **last, const json_t *cs)
{
    const char *f = tstr(cs, "lastState.terminated.finishedAt");
    if (f && (!*last || strcmp(f, *last) > 0))
        *last = f;
}

/* a terminated state's reason, else Signal:N / ExitCode:N, with prefix ("Init:" or "") */
static void terminated_reason(const json_t *t, const char *prefix, char *buf, size_t n)
{
    const char *r = tstr(t, "reason");
    if (r && *r)
        snprintf(buf, n, "%s%s", prefix, r);
    else if (ival(t, "signal"))
        snprintf(buf, n, "%sSignal:%lld", prefix, (long long)ival(t, "signal"));
    else
        snprintf(buf, n, "%sExitCode:%lld", prefix, (long long)ival(t, "exitCode"));
}

/* restartPolicy Always: a sidecar, counted with the containers */
static bool restartable_init(const json_t *o, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "spec.initContainers"), i, c)
    {
        if (dd_streq(tstr(c, "name"), name))
            return dd_streq(tstr(c, "restartPolicy"), "Always");
    }
    return false;
}

/* Walks the init container statuses; true while the pod is still initializing. */
static bool init_summary(const json_t *o, struct pod_summary *p, int64_t *side_restarts,
                         const char **side_last)
{
    size_t i;
    json_t *cs;
    size_t ninit = json_array_size(tpath(o, "spec.initContainers"));
    json_array_foreach(tpath(o, "status.initContainerStatuses"), i, cs)
    {
        const json_t *st = json_object_get(cs, "state");
        const json_t *term = json_object_get(st, "terminated");
        const char *waiting = tstr(st, "waiting.reason");
        bool sidecar = restartable_init(o, tstr(cs, "name"));
        p->restarts += ival(cs, "restartCount");
        newer(&p->last_restart, cs);
        if (sidecar) {
            *side_restarts += ival(cs, "restartCount");
            newer(side_last, cs);
        }
        if (term && !ival(term, "exitCode"))
            continue;
        if (sidecar && json_is_true(json_object_get(cs, "started"))) {
            p->ready += json_is_true(json_object_get(cs, "ready"));
            continue;
        }
        if (term)
            terminated_reason(term, "Init:", p->reason, sizeof(p->reason));
        else if (waiting && *waiting && strcmp(waiting, "PodInitializing"))
            snprintf(p->reason, sizeof(p->reason), "Init:%s", waiting);
        else
            snprintf(p->reason, sizeof(p->reason), "Init:%zu/%zu", i, ninit);
        return true;
    }
    return false;
}

static void pod_summary(const json_t *o, struct pod_summary *p)
{
    memset(p, 0, sizeof(*p));
    const char *phase = tstr(o, "status.phase") ?: "", *sreason = tstr(o, "status.reason");
    snprintf(p->reason, sizeof(p->reason), "%s", sreason && *sreason ? sreason : phase);
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        if (dd_streq(tstr(c, "type"), "PodScheduled") &&
            dd_streq(tstr(c, "reason"), "SchedulingGated"))
            snprintf(p->reason, sizeof(p->reason), "SchedulingGated");
    }
    p->total = (int64_t)json_array_size(tpath(o, "spec.containers"));
    json_array_foreach(tpath(o, "spec.initContainers"), i, c) p->total +=
        dd_streq(tstr(c, "restartPolicy"), "Always");
    int64_t side_restarts = 0;
    const char *side_last = NULL;
    bool initializing = init_summary(o, p, &side_restarts, &side_last);
    if (!initializing || dd_streq(pod_condition(o, "Initialized"), "True")) {
        p->restarts = side_restarts;
        p->last_restart = side_last;
        bool running = false;
        const json_t *statuses = tpath(o, "status.containerStatuses");
        for (i = json_array_size(statuses); i-- > 0;) {
            const json_t *cs = json_array_get(statuses, i), *st = json_object_get(cs, "state");
            const char *waiting = tstr(st, "waiting.reason");
            p->restarts += ival(cs, "restartCount");
            newer(&p->last_restart, cs);
            if (waiting && *waiting)
                snprintf(p->reason, sizeof(p->reason), "%s", waiting);
            else if (json_object_get(st, "terminated"))
                terminated_reason(json_object_get(st, "terminated"), "", p->reason,
                                  sizeof(p->reason));
            else if (json_is_true(json_object_get(cs, "ready")) && json_object_get(st, "running")) {
                running = true;
                p->ready++;
            }
        }
        if (!strcmp(p->reason, "Completed") && running)
            snprintf(p->reason, sizeof(p->reason), "%s",
                     dd_streq(pod_condition(o, "Ready"), "True") ? "Running" : "NotReady");
    }
    if (tpath(o, "metadata.deletionTimestamp")) {
        if (dd_streq(sreason, "NodeLost"))
            snprintf(p->reason, sizeof(p->reason), "Unknown");
        else if (strcmp(phase, "Succeeded") && strcmp(phase, "Failed"))
            snprintf(p->reason, sizeof(p->reason), "Terminating");
    }
}

static json_t *pod_ready(const json_t *o)
{
    struct pod_summary p;
    pod_summary(o, &p);
    return ratio(p.ready, p.total);
}

static json_t *pod_status(const json_t *o)
{
    struct pod_summary p;
    pod_summary(o, &p);
    return json_string(p.reason);
}

static json_t *pod_restarts(const json_t *o)
{
    struct pod_summary p;
    pod_summary(o, &p);
    if (!p.restarts || !p.last_restart)
        return json_sprintf("%lld", (long long)p.restarts);
    json_t *age = age_of(p.last_restart);
    json_t *j = json_sprintf("%lld (%s ago)", (long long)p.restarts, json_string_value(age));
    json_decref(age);
    return j;
}

static json_t *pod_ip(const json_t *o)
{
    return str_or(tstr(o, "status.podIP"), "<none>");
}

static json_t *pod_node(const json_t *o)
{
    return str_or(tstr(o, "spec.nodeName"), "<none>");
}

static json_t *pod_nominated(const json_t *o)
{
    return str_or(tstr(o, "status.nominatedNodeName"), "<none>");
}

static json_t *pod_gates(const json_t *o)
{
    size_t n = json_array_size(tpath(o, "spec.readinessGates")), i, ok = 0;
    if (!n)
        return json_string("<none>");
    json_t *g;
    json_array_foreach(tpath(o, "spec.readinessGates"), i, g)
    {
        const char *st =
            tstr(g, "conditionType") ? pod_condition(o, tstr(g, "conditionType")) : NULL;
        ok += st && !strcmp(st, "True");
    }
    return ratio((int64_t)ok, (int64_t)n);
}

static const struct tcol pod_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Ready", "string", "", 0, pod_ready,
     "The aggregate readiness state of this pod for accepting traffic."},
    {"Status", "string", "", 0, pod_status, "The aggregate status of the containers in this pod."},
    {"Restarts", "string", "", 0, pod_restarts,
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"IP", "string", "", 1, pod_ip, TD_POD_IP},
    {"Node", "string", "", 1, pod_node, TD_POD_NODE},
    {"Nominated Node", "string", "", 1, pod_nominated, TD_POD_NOMINATED},
    {"Readiness Gates", "string", "", 1, pod_gates, TD_POD_GATES},
};

/* ---- workloads ---- */

static json_t *containers_of(const json_t *o)
{
    return join_field(tpath(o, "spec.template.spec.containers"), "name", ",", "<none>");
}

static json_t *images_of(const json_t *o)
{
    return join_field(tpath(o, "spec.template.spec.containers"), "image", ",", "<none>");
}

static json_t *selector_of(const json_t *o)
{
    return format_label_selector(tpath(o, "spec.selector"));
}

static json_t *spec_replicas_default1(const json_t *o)
{
    const json_t *r = tpath(o, "spec.replicas");
    return json_integer(r ? json_integer_value(r) : 1);
}

static json_t *deploy_ready(const json_t *o)
{
    const json_t *r = tpath(o, "spec.replicas");
    return ratio(ival(o, "status.readyReplicas"), r ? json_integer_value(r) : 1);
}

#define INT_CELL(fn, path)                                                                         \
    static json_t *fn(const json_t *o)                                                             \
    {                                                                                              \
        return json_integer(ival(o, path));                                                        \
    }
INT_CELL(st_updated, "status.updatedReplicas")
INT_CELL(st_available, "status.availableReplicas")
INT_CELL(st_current, "status.replicas")
INT_CELL(st_ready, "status.readyReplicas")
INT_CELL(ds_desired, "status.desiredNumberScheduled")
INT_CELL(ds_current, "status.currentNumberScheduled")
INT_CELL(ds_ready, "status.numberReady")
INT_CELL(ds_updated, "status.updatedNumberScheduled")
INT_CELL(ds_available, "status.numberAvailable")

static json_t *ds_nodesel(const json_t *o)
{
    return format_labels(tpath(o, "spec.template.spec.nodeSelector"));
}

#define WIDE_WORKLOAD(selector_desc)                                                               \
    {"Containers", "string", "", 1, containers_of, DESC_CONTAINERS},                               \
        {"Images", "string", "", 1, images_of, DESC_IMAGES},                                       \
    {                                                                                              \
        "Selector", "string", "", 1, selector_of, selector_desc                                    \
    }

static const struct tcol deploy_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Ready", "string", "", 0, deploy_ready, "Number of the pod with ready state"},
    {"Up-to-date", "string", "", 0, st_updated, TD_DEPLOY_UPDATED},
    {"Available", "string", "", 0, st_available, TD_DEPLOY_AVAILABLE},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    WIDE_WORKLOAD(TD_DEPLOY_SELECTOR),
};

static const struct tcol rs_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Desired", "integer", "", 0, spec_replicas_default1, TD_RS_REPLICAS},
    {"Current", "integer", "", 0, st_current, TD_RS_CURRENT},
    {"Ready", "integer", "", 0, st_ready, TD_RS_READY},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    WIDE_WORKLOAD(TD_RS_SELECTOR),
};

static const struct tcol sts_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Ready", "string", "", 0, deploy_ready, "Number of the pod with ready state"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Containers", "string", "", 1, containers_of, DESC_CONTAINERS},
    {"Images", "string", "", 1, images_of, DESC_IMAGES},
};

static const struct tcol ds_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Desired", "integer", "", 0, ds_desired, TD_DS_DESIRED},
    {"Current", "integer", "", 0, ds_current, TD_DS_CURRENT},
    {"Ready", "integer", "", 0, ds_ready, TD_DS_READY},
    {"Up-to-date", "integer", "", 0, ds_updated, TD_DS_UPDATED},
    {"Available", "integer", "", 0, ds_available, TD_DS_AVAILABLE},
    {"Node Selector", "string", "", 0, ds_nodesel, TD_DS_NODESELECTOR},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    WIDE_WORKLOAD(TD_DS_SELECTOR),
};

/* the status of the first condition of a type is what counts (upstream's hasJobCondition) */
static bool job_condition(const json_t *o, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        if (dd_streq(tstr(c, "type"), type))
            return dd_streq(tstr(c, "status"), "True");
    }
    return false;
}

static json_t *job_status(const json_t *o)
{
    const char *st = job_condition(o, "Complete")             ? "Complete"
                     : job_condition(o, "Failed")             ? "Failed"
                     : tpath(o, "metadata.deletionTimestamp") ? "Terminating"
                     : job_condition(o, "Suspended")          ? "Suspended"
                     : job_condition(o, "FailureTarget")      ? "FailureTarget"
                                                              : "Running";
    return json_string(st);
}

/* "succeeded/completions", or without completions "n/1", "n/1 of <parallelism>" */
static json_t *job_completions(const json_t *o)
{
    const json_t *c = tpath(o, "spec.completions");
    int64_t done = ival(o, "status.succeeded"), par = ival(o, "spec.parallelism");
    if (c)
        return ratio(done, json_integer_value(c));
    if (par > 1)
        return json_sprintf("%lld/1 of %lld", (long long)done, (long long)par);
    return ratio(done, 1);
}

static json_t *job_duration(const json_t *o)
{
    int64_t s, e;
    const char *st = tstr(o, "status.startTime"), *ct = tstr(o, "status.completionTime");
    if (!st || dd_parse_rfc3339(st, &s) < 0)
        return json_string("");
    if (!ct || dd_parse_rfc3339(ct, &e) < 0)
        e = dd_now_ns();
    char buf[32];
    human_duration((e - s) / 1000000000LL, buf, sizeof(buf));
    return json_string(buf);
}

static const struct tcol job_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Status", "string", "", 0, job_status, "Status of the job."},
    {"Completions", "string", "", 0, job_completions, TD_JOB_SUCCEEDED},
    {"Duration", "string", "", 0, job_duration, "Time required to complete the job."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    WIDE_WORKLOAD(TD_JOB_SELECTOR),
};

static json_t *cj_schedule(const json_t *o)
{
    return str_or(tstr(o, "spec.schedule"), "");
}

static json_t *cj_tz(const json_t *o)
{
    return str_or(tstr(o, "spec.timeZone"), "<none>");
}

static json_t *cj_suspend(const json_t *o)
{
    return json_string(json_is_true(tpath(o, "spec.suspend")) ? "True" : "False");
}

static json_t *cj_active(const json_t *o)
{
    return json_integer((json_int_t)json_array_size(tpath(o, "status.active")));
}

static json_t *cj_last(const json_t *o)
{
    const char *t = tstr(o, "status.lastScheduleTime");
    return t ? age_of(t) : json_string("<none>");
}

static json_t *cj_containers(const json_t *o)
{
    return join_field(tpath(o, "spec.jobTemplate.spec.template.spec.containers"), "name", ",",
                      "<none>");
}

static json_t *cj_images(const json_t *o)
{
    return join_field(tpath(o, "spec.jobTemplate.spec.template.spec.containers"), "image", ",",
                      "<none>");
}

static json_t *cj_selector(const json_t *o)
{
    return format_label_selector(tpath(o, "spec.jobTemplate.spec.selector"));
}

static const struct tcol cj_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Schedule", "string", "", 0, cj_schedule, TD_CJ_SCHEDULE},
    {"Timezone", "string", "", 0, cj_tz, TD_CJ_TIMEZONE},
    {"Suspend", "boolean", "", 0, cj_suspend, TD_CJ_SUSPEND},
    {"Active", "integer", "", 0, cj_active, TD_CJ_ACTIVE},
    {"Last Schedule", "string", "", 0, cj_last, TD_CJ_LAST},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Containers", "string", "", 1, cj_containers, DESC_CONTAINERS},
    {"Images", "string", "", 1, cj_images, DESC_IMAGES},
    {"Selector", "string", "", 1, cj_selector, TD_JOB_SELECTOR},
};

const struct tkind ktable_apps[] = {
    KIND("", "pods", pod_cols),           KIND("apps", "deployments", deploy_cols),
    KIND("apps", "replicasets", rs_cols), KIND("apps", "statefulsets", sts_cols),
    KIND("apps", "daemonsets", ds_cols),  KIND("batch", "jobs", job_cols),
    KIND("batch", "cronjobs", cj_cols),
};
const size_t ktable_napps = DD_ARRAY_SIZE(ktable_apps);
