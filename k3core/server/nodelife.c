/* nodelife.c: the node lifecycle controller's core. A Node whose kube-node-lease Lease has not
 * been renewed for the grace period (upstream's node-monitor-grace-period, 50 s) gets its
 * conditions set to Unknown ("NodeStatusUnknown", "Kubelet stopped posting node status.") and
 * the taint node.kubernetes.io/unreachable:NoSchedule, so the scheduler stops placing pods on a
 * node whose agent died. When the kubelet posts Ready again with a fresh Lease, the taint goes.
 * Not done: NoExecute eviction of the node's pods.
 */
#include "k3core/server/server-internal.h"

#define UNREACHABLE "node.kubernetes.io/unreachable"

static json_t *get(struct ksrv *s, const char *group, const char *res, const char *ns,
                   const char *name)
{
    kobj_req req = {.res = kres_lookup(group, "v1", res), .ns = ns, .name = name};
    kobj_status st = {0};
    json_t *obj = NULL;
    if (!req.res || kobj_get(s->api, &req, &obj, &st) < 0)
        obj = NULL;
    kobj_status_release(&st);
    return obj;
}

static bool lease_fresh(struct ksrv *s, const char *node, int64_t now_ns, int64_t grace_ns)
{
    json_t *l = get(s, "coordination.k8s.io", "leases", "kube-node-lease", node);
    const char *renew = json_string_value(json_object_get(json_object_get(l, "spec"), "renewTime"));
    int64_t t = 0;
    bool fresh = renew && dd_parse_rfc3339(renew, &t) == 0 && now_ns - t <= grace_ns;
    json_decref(l);
    return fresh;
}

static int put(struct ksrv *s, json_t *node, const char *sub)
{
    kobj_req req = {
        .res = kres_lookup("", "v1", "nodes"),
        .name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name")),
        .subresource = sub,
        .field_manager = "k3core-node-lifecycle"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r = kobj_update(s->api, &req, node, &res, &st);
    if (r < 0)
        dd_warn("node-lifecycle: node %s: %s", req.name, st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return r;
}

static json_t *ready_condition(json_t *node)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        if (dd_streq(json_string_value(json_object_get(c, "type")), "Ready"))
            return c;
    }
    return NULL;
}

/* Index of the unreachable taint in spec.taints, or -1. */
static long taint_index(json_t *node)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(node, "spec"), "taints"), i, t)
    {
        if (dd_streq(json_string_value(json_object_get(t, "key")), UNREACHABLE))
            return (long)i;
    }
    return -1;
}

static void mark_unknown(struct ksrv *s, json_t *node, const char *now)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        jx_set_str(c, "status", "Unknown");
        jx_set_str(c, "reason", "NodeStatusUnknown");
        jx_set_str(c, "message", "Kubelet stopped posting node status.");
        jx_set_str(c, "lastTransitionTime", now);
    }
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
    dd_warn("node-lifecycle: node %s stopped posting status: marked Unknown and %s", name,
            UNREACHABLE);
    if (put(s, node, "status") < 0)
        return;
    json_t *cur = get(s, "", "nodes", NULL, name); /* the status write changed its version */
    if (!cur)
        return;
    json_t *spec = json_object_get(cur, "spec");
    if (!json_is_object(spec))
        json_object_set_new(cur, "spec", spec = json_object());
    json_t *taints = json_object_get(spec, "taints");
    if (!json_is_array(taints))
        json_object_set_new(spec, "taints", taints = json_array());
    json_array_append_new(taints, json_pack("{s:s,s:s,s:s}", "key", UNREACHABLE, "effect",
                                            "NoSchedule", "timeAdded", now));
    put(s, cur, NULL);
    json_decref(cur);
}

static void node_check(struct ksrv *s, json_t *node, int64_t now_ns, int64_t grace_ns)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
    json_t *ready = ready_condition(node);
    bool unknown = dd_streq(json_string_value(json_object_get(ready, "status")), "Unknown");
    long ti = taint_index(node);
    if (!name || !ready)
        return; /* not registered by a kubelet yet */
    if (!lease_fresh(s, name, now_ns, grace_ns)) {
        if (!unknown) {
            char now[64];
            dd_format_rfc3339nano(now_ns, now, sizeof(now));
            now[19] = 0; /* seconds precision, like upstream's metav1.Time */
            _cleanup_free_ char *ts = dd_asprintf("%sZ", now);
            mark_unknown(s, node, ts);
        }
    } else if (ti >= 0 && !unknown) {
        json_array_remove(json_object_get(json_object_get(node, "spec"), "taints"), (size_t)ti);
        dd_info("node-lifecycle: node %s is posting status again: %s removed", name, UNREACHABLE);
        put(s, node, NULL);
    }
}

void ksrv_nodelife_pass(struct ksrv *s, int64_t now_ns, int64_t grace_ns)
{
    kobj_req req = {.res = kres_lookup("", "v1", "nodes")};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kobj_list(s->api, &req, &o, &list, &st) < 0) {
        kobj_status_release(&st);
        return;
    }
    kobj_status_release(&st);
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(list, "items"), i, node)
    {
        node_check(s, node, now_ns, grace_ns);
    }
    json_decref(list);
}
