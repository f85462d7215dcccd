/* daemonset.c: the DaemonSet controller — one pod per node the template's nodeSelector,
 * required node affinity and tolerations admit (with upstream's automatic tolerations for
 * not-ready/unreachable/pressure/unschedulable nodes), pinned to its node by a required
 * matchFields metadata.name affinity so the default scheduler binds it there. Pods on nodes
 * that no longer fit, duplicates and failed pods are deleted; RollingUpdate replaces pods of
 * an older template (controller-revision-hash) while fewer than maxUnavailable are unavailable;
 * OnDelete waits for the user. Nodes are listed at each sync (they change too often to watch
 * for this); the periodic resync picks up nodes that join. ControllerRevisions (revisions.c)
 * back `kubectl rollout history/undo`. Not done: maxSurge.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"
#include "k3core/scheduler/scheduler.h"

#define COMPONENT "daemonset-controller"
#define REV_LABEL "controller-revision-hash"

static json_t *list_nodes(kctl *c)
{
    kobj_req req = {.res = kres_lookup("", "v1", "nodes")};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *l = NULL;
    if (kobj_list(c->api, &req, &o, &l, &st) < 0)
        dd_debug("controllers: listing nodes: %s", st.message);
    kobj_status_release(&st);
    json_t *items = json_incref(json_object_get(l, "items"));
    json_decref(l);
    return items; /* NULL when listing failed: no pod may go for want of its node */
}

static void add_toleration(json_t *tols, const char *key, const char *effect)
{
    size_t i;
    json_t *t;
    json_array_foreach(tols, i, t) if (dd_streq(kctl_str(t, "key", NULL), key) &&
                                       dd_streq(kctl_str(t, "effect", NULL), effect)) return;
    json_array_append_new(
        tols, json_pack("{s:s,s:s,s:s}", "key", key, "operator", "Exists", "effect", effect));
}

static void pin_to_node(json_t *spec, const char *node)
{
    json_t *aff = json_object_get(spec, "affinity");
    if (!json_is_object(aff)) {
        aff = json_object();
        json_object_set_new(spec, "affinity", aff);
    }
    json_t *na = json_object_get(aff, "nodeAffinity");
    if (!json_is_object(na)) {
        na = json_object();
        json_object_set_new(aff, "nodeAffinity", na);
    }
    json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (!json_is_object(req)) {
        req = json_object();
        json_object_set_new(na, "requiredDuringSchedulingIgnoredDuringExecution", req);
    }
    json_t *terms = json_object_get(req, "nodeSelectorTerms");
    if (!json_array_size(terms)) {
        terms = json_pack("[{}]");
        json_object_set_new(req, "nodeSelectorTerms", terms);
    }
    size_t i;
    json_t *t;
    json_array_foreach(terms, i, t) json_object_set_new(
        t, "matchFields",
        json_pack("[{s:s,s:s,s:[s]}]", "key", "metadata.name", "operator", "In", "values", node));
}

/* The pod the set wants on node (its template with the daemon tolerations and the pin). */
static json_t *pod_for(const json_t *ds, const char *rev, const char *node)
{
    const json_t *tmpl = json_object_get(json_object_get(ds, "spec"), "template");
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    json_t *tols = json_object_get(spec, "tolerations");
    if (!json_is_array(tols)) {
        tols = json_array();
        json_object_set_new(spec, "tolerations", tols);
    }
    static const char *const no_exec[] = {"node.kubernetes.io/not-ready",
                                          "node.kubernetes.io/unreachable"};
    static const char *const no_sched[] = {
        "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(no_exec); i++)
        add_toleration(tols, no_exec[i], "NoExecute");
    for (size_t i = 0; i < DD_ARRAY_SIZE(no_sched); i++)
        add_toleration(tols, no_sched[i], "NoSchedule");
    if (json_is_true(json_object_get(spec, "hostNetwork")))
        add_toleration(tols, "node.kubernetes.io/network-unavailable", "NoSchedule");
    pin_to_node(spec, node);
    json_t *labels = json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    jx_set_str(labels, REV_LABEL, rev);
    char gen[24];
    snprintf(gen, sizeof(gen), "%lld", (long long)kctl_int(ds, "metadata", "generation", 1));
    jx_set_str(labels, "pod-template-generation", gen);
    json_t *t = json_pack("{s:{s:o},s:o}", "metadata", "labels", labels, "spec", spec);
    const json_t *ann = json_object_get(json_object_get(tmpl, "metadata"), "annotations");
    if (json_object_size(ann))
        json_object_set(json_object_get(t, "metadata"), "annotations", (json_t *)ann);
    return t;
}

static bool fits(const json_t *tmpl, const json_t *node)
{
    char *why = ksched_check_affinity(tmpl, node);
    if (!why)
        why = ksched_check_taints(tmpl, node);
    free(why);
    return !why;
}

static const char *node_of(const json_t *pod)
{
    const char *n = kctl_str(json_object_get(pod, "spec"), "nodeName", NULL);
    if (n && *n)
        return n;
    const json_t *terms = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(pod, "spec"), "affinity"),
                                        "nodeAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution"),
        "nodeSelectorTerms");
    const json_t *f = json_array_get(json_object_get(json_array_get(terms, 0), "matchFields"), 0);
    return json_string_value(json_array_get(json_object_get(f, "values"), 0));
}

typedef struct dsstate {
    json_t *ds;
    char rev[300];
    int64_t desired, current, misscheduled, ready, available, updated, unavailable;
    int64_t max_unavail;
    json_t *old; /* ready pods of an older revision, candidates for replacement */
} dsstate;

/* One node: create, keep or delete its pods. */
static int sync_node(kctl *c, dsstate *s, const json_t *node, json_t *pods)
{
    const char *name = kctl_name(node);
    json_t *want = pod_for(s->ds, s->rev, name), *mine = json_array(), *p;
    bool should = fits(want, node);
    size_t i;
    int r = 0;
    json_array_foreach(pods, i, p)
    {
        if (!dd_streq(node_of(p), name) || kctl_str(p, "metadata", "deletionTimestamp"))
            continue;
        if (kctl_pod_terminal(p) || !should || json_array_size(mine) > 0)
            r = kctl_delete_pod(c, s->ds, p, COMPONENT); /* failed, misplaced or a duplicate */
        else
            json_array_append(mine, p);
        s->misscheduled += !should;
    }
    if (should) {
        s->desired++;
        if (!json_array_size(mine) && r >= 0)
            r = kctl_create_pod(c, s->ds, want, COMPONENT, NULL);
    }
    json_array_foreach(mine, i, p)
    {
        bool cur =
            dd_streq(json_string_value(json_object_get(
                         json_object_get(json_object_get(p, "metadata"), "labels"), REV_LABEL)),
                     s->rev);
        s->current++;
        s->ready += kctl_pod_ready(p);
        s->available += kctl_pod_ready(p);
        s->unavailable += !kctl_pod_ready(p);
        s->updated += cur;
        if (!cur)
            json_array_append(s->old, p);
    }
    json_decref(mine);
    json_decref(want);
    return r;
}

/* Pods for nodes that no longer exist go (upstream's pod GC would remove them). */
static int drop_nodeless(kctl *c, dsstate *s, const json_t *pods, const json_t *nodes)
{
    size_t i, j;
    json_t *p, *n;
    int r = 0;
    json_array_foreach(pods, i, p)
    {
        const char *at = node_of(p);
        bool found = false;
        json_array_foreach(nodes, j, n) found |= dd_streq(kctl_name(n), at);
        if (!found && !kctl_str(p, "metadata", "deletionTimestamp") && r >= 0)
            r = kctl_delete_pod(c, s->ds, p, COMPONENT);
    }
    return r;
}

static int roll(kctl *c, dsstate *s)
{
    const json_t *strategy = json_object_get(json_object_get(s->ds, "spec"), "updateStrategy");
    if (dd_streq(kctl_str(strategy, "type", NULL), "OnDelete"))
        return 0;
    int64_t budget = s->max_unavail - s->unavailable - (s->desired - s->current);
    size_t i;
    json_t *p;
    int r = 0;
    kctl_sort_pods(s->old);
    json_array_foreach(s->old, i, p)
    {
        if ((int64_t)i >= budget || r < 0)
            break;
        r = kctl_delete_pod(c, s->ds, p, COMPONENT);
    }
    return r;
}

static int update_status(kctl *c, dsstate *s)
{
    json_t *old = json_object_get(s->ds, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    jx_set_int(st, "observedGeneration", kctl_int(s->ds, "metadata", "generation", 1));
    jx_set_int(st, "desiredNumberScheduled", s->desired);
    jx_set_int(st, "currentNumberScheduled", s->current);
    jx_set_int(st, "numberMisscheduled", s->misscheduled);
    jx_set_int(st, "numberReady", s->ready);
    jx_set_int(st, "numberAvailable", s->available);
    int64_t unavail = s->desired - s->available;
    jx_set_int(st, "numberUnavailable", unavail < 0 ? 0 : unavail);
    jx_set_int(st, "updatedNumberScheduled", s->updated);
    int r = 0;
    if (!json_equal(st, old)) {
        json_t *upd = json_deep_copy(s->ds);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_DS), upd);
        json_decref(upd);
    }
    json_decref(st);
    return r;
}

int kctl_sync_ds(kctl *c, const char *ns, const char *name)
{
    dsstate s = {.ds = json_incref((json_t *)kctl_cached(c, KC_DS, ns, name))};
    if (!s.ds || kctl_str(s.ds, "metadata", "deletionTimestamp")) {
        json_decref(s.ds);
        return 0;
    }
    const json_t *spec = json_object_get(s.ds, "spec");
    char hash[16];
    kctl_template_hash(json_object_get(spec, "template"), 0, hash);
    snprintf(s.rev, sizeof(s.rev), "%s", hash);
    ksel *sel = kctl_selector(json_object_get(spec, "selector"));
    json_t *nodes = list_nodes(c), *node;
    if (!nodes) {
        ksel_free(sel);
        json_decref(s.ds);
        return -EIO;
    }
    json_t *pods = kctl_claim_pods(c, s.ds, sel);
    ksel_free(sel);
    s.old = json_array();
    size_t i;
    int r = 0;
    _cleanup_free_ char *cr = dd_asprintf("%s-%s", name, hash);
    r = kctl_ensure_revision(c, s.ds, cr, hash, NULL);
    json_array_foreach(nodes, i, node) if (r >= 0) r = sync_node(c, &s, node, pods);
    if (r >= 0)
        r = drop_nodeless(c, &s, pods, nodes);
    const json_t *ru = json_object_get(json_object_get(spec, "updateStrategy"), "rollingUpdate");
    int mu = 1;
    if (kctl_scaled_value(json_object_get(ru, "maxUnavailable"), (int)s.desired, true, &mu) < 0 ||
        mu < 1)
        mu = 1;
    s.max_unavail = mu;
    if (r >= 0)
        r = roll(c, &s);
    if (r >= 0)
        r = update_status(c, &s);
    json_decref(s.old);
    json_decref(nodes);
    json_decref(pods);
    json_decref(s.ds);
    return r < 0 ? r : 0;
}
