/* scheduler.c: one scheduling pass over the store (called from the agent's sync timer): lists
 * nodes and pods, and for each pending pod without spec.nodeName (schedulerName
 * default-scheduler) runs the filters of predicates.c against every node. The first fitting
 * node gets the pod through pods/binding, then PodScheduled True and a Scheduled event;
 * otherwise PodScheduled False/Unschedulable with the summary message, and a FailedScheduling
 * event each time that message changes.
 */
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/scheduler/scheduler.h"

static json_t *list(kobj_api *api, const char *resource)
{
    kobj_req req = {.res = kres_lookup("", "v1", resource)};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *l = NULL;
    if (kobj_list(api, &req, &o, &l, &st) < 0)
        dd_warn("scheduler: listing %s: %s", resource, st.message);
    kobj_status_release(&st);
    return l;
}

static json_t *pods_on(const json_t *pods, const char *node)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        if (dd_streq(kl_str(json_object_get(p, "spec"), "nodeName", NULL), node))
            json_array_append(out, p);
    }
    return out;
}

static bool pending(const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *node = kl_str(spec, "nodeName", NULL), *sn = kl_str(spec, "schedulerName", NULL);
    return (!node || !*node) && (!sn || !strcmp(sn, "default-scheduler")) &&
           !kl_str(json_object_get(pod, "metadata"), "deletionTimestamp", NULL);
}

static void set_condition(kobj_api *api, const json_t *pod, bool ok, const char *msg)
{
    json_t *status = json_deep_copy(json_object_get(pod, "status"));
    if (!json_is_object(status))
        status = json_object();
    char now[64];
    dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
    now[19] = 'Z', now[20] = 0;
    json_t *c = json_pack("{s:s,s:s,s:n,s:s}", "type", "PodScheduled", "status",
                          ok ? "True" : "False", "lastProbeTime", "lastTransitionTime", now);
    if (!ok) {
        jx_set_str(c, "reason", "Unschedulable");
        jx_set_str(c, "message", msg);
        jx_set_str(status, "phase", "Pending");
    }
    json_t *conds = json_array();
    json_array_append_new(conds, c);
    json_object_set_new(status, "conditions", conds);
    json_t *obj = json_deep_copy(pod);
    json_object_set_new(obj, "status", status);
    json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
    const json_t *meta = json_object_get(pod, "metadata");
    kobj_req req = {.res = kres_lookup("", "v1", "pods"),
                    .ns = kl_str(meta, "namespace", NULL),
                    .name = kl_str(meta, "name", NULL),
                    .subresource = "status",
                    .field_manager = "default-scheduler"};
    kobj_result res = {0};
    kobj_status st = {0};
    if (kobj_update(api, &req, obj, &res, &st) < 0)
        dd_debug("scheduler: pod status: %s", st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(obj);
}

static int bind(kobj_api *api, kubelet *k, const json_t *pod, const char *node)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const char *ns = kl_str(meta, "namespace", NULL), *name = kl_str(meta, "name", NULL);
    json_t *b = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
                          "Binding", "metadata", "name", name, "namespace", ns, "target",
                          "apiVersion", "v1", "kind", "Node", "name", node);
    kobj_req req = {.res = kres_lookup("", "v1", "pods"),
                    .ns = ns,
                    .name = name,
                    .subresource = "binding",
                    .field_manager = "default-scheduler"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r = kobj_create(api, &req, b, &res, &st);
    json_decref(b);
    kobj_result_release(&res);
    if (r < 0) {
        dd_debug("scheduler: binding %s/%s: %s", ns, name, st.message);
        kobj_status_release(&st);
        return r;
    }
    kobj_status_release(&st);
    json_t *cur = NULL;
    kobj_req g = {.res = req.res, .ns = ns, .name = name};
    if (kobj_get(api, &g, &cur, &st) == 0)
        set_condition(api, cur, true, NULL);
    kobj_status_release(&st);
    if (k)
        kl_event(k, pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s", ns, name,
                 node);
    json_decref(cur);
    return 0;
}

static const char *old_message(const json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        if (dd_streq(kl_str(c, "type", NULL), "PodScheduled"))
            return kl_str(c, "message", NULL);
    }
    return NULL;
}

static json_t *get(kobj_api *api, const char *resource, const char *ns, const char *name)
{
    kobj_req req = {.res = kres_lookup("", "v1", resource), .ns = ns, .name = name};
    kobj_status st = {0};
    json_t *o = NULL;
    if (kobj_get(api, &req, &o, &st) < 0)
        o = NULL;
    kobj_status_release(&st);
    return o;
}

/* The pod's claims for ksched_check_volumes: bound → the PV, unbound → null, missing → why.
 * Unbound claims of an Immediate class are waited for, as upstream does. */
static json_t *pod_volumes(kobj_api *api, const json_t *pod)
{
    json_t *out = json_object();
    const char *ns = kl_str(json_object_get(pod, "metadata"), "namespace", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "volumes"), i, v)
    {
        const char *claim = kl_str(json_object_get(v, "persistentVolumeClaim"), "claimName", NULL);
        if (!claim)
            continue;
        json_t *pvc = get(api, "persistentvolumeclaims", ns, claim);
        const char *pv = kl_str(json_object_get(pvc, "spec"), "volumeName", NULL);
        json_t *val = NULL;
        if (!pvc)
            val = json_sprintf("persistentvolumeclaim \"%s\" not found", claim);
        else if (pv)
            val = get(api, "persistentvolumes", NULL, pv);
        if (!val)
            val = json_null();
        json_object_set_new(out, claim, val);
        json_decref(pvc);
    }
    return out;
}

/* pod is an item of pods (this pass's list): once bound it counts on its node for the pods
 * after it in the same pass (resources, pod count, host ports). */
static void schedule_one(kobj_api *api, kubelet *k, json_t *pod, const json_t *nodes,
                         const json_t *pods)
{
    size_t n = json_array_size(nodes), i;
    json_t *volumes = pod_volumes(api, pod);
    char **why = dd_calloc(n + 1, sizeof(char *));
    const char *chosen = NULL;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        json_t *bound = pods_on(pods, kl_str(json_object_get(node, "metadata"), "name", NULL));
        why[i] = ksched_filter(pod, node, bound);
        if (!why[i])
            why[i] = ksched_check_volumes(volumes, node);
        json_decref(bound);
        if (!why[i] && !chosen)
            chosen = kl_str(json_object_get(node, "metadata"), "name", NULL);
    }
    json_decref(volumes);
    bool bound = chosen && bind(api, k, pod, chosen) == 0;
    if (bound) {
        json_t *spec = json_object_get(pod, "spec");
        if (json_is_object(spec))
            json_object_set_new(spec, "nodeName", json_string(chosen));
    }
    _cleanup_free_ char *msg = chosen ? NULL : ksched_summary(why, n);
    /* not dd_strv_free: nodes that fit leave NULL holes in why */
    for (i = 0; i < n; i++)
        free(why[i]);
    free(why);
    if (bound)
        return;
    if (msg && !dd_streq(old_message(pod), msg)) {
        set_condition(api, pod, false, msg);
        if (k)
            kl_event(k, pod, "Warning", "FailedScheduling", "%s", msg);
    }
}

void ksched_run(kobj_api *api, kubelet *k)
{
    json_t *nodes = list(api, "nodes"), *pods = nodes ? list(api, "pods") : NULL;
    if (pods) {
        const json_t *items = json_object_get(pods, "items");
        size_t i;
        json_t *p;
        json_array_foreach(items, i, p)
        {
            if (pending(p))
                schedule_one(api, k, p, json_object_get(nodes, "items"), items);
        }
    }
    json_decref(nodes);
    json_decref(pods);
}
