/* core.c: the controllers' machinery — watches on pods, replicasets, deployments, jobs and
 * services feed an in-memory cache and a per-kind work queue; a loop timer drains the queue
 * (one sync per queued object) and every RESYNC_MS queues every cached owner object again so
 * time-based transitions happen without a watch event. Watch callbacks only record and queue:
 * they run synchronously inside writes, so no write happens from them.
 */
#include <stdio.h>

#include "k3core/controllers/ctl-internal.h"

#define RESYNC_MS 5000
#define QUIET_MS  1000

static const struct {
    const char *group, *version, *resource;
} kinds[KC_N] = {
    [KC_PODS] = {"", "v1", "pods"},
    [KC_RS] = {"apps", "v1", "replicasets"},
    [KC_DEPLOY] = {"apps", "v1", "deployments"},
    [KC_JOBS] = {"batch", "v1", "jobs"},
    [KC_SERVICES] = {"", "v1", "services"},
    [KC_CRONJOBS] = {"batch", "v1", "cronjobs"},
    [KC_STS] = {"apps", "v1", "statefulsets"},
    [KC_DS] = {"apps", "v1", "daemonsets"},
    [KC_PVCS] = {"", "v1", "persistentvolumeclaims"},
    [KC_PVS] = {"", "v1", "persistentvolumes"},
    [KC_PDBS] = {"policy", "v1", "poddisruptionbudgets"},
    [KC_HPAS] = {"autoscaling", "v2", "horizontalpodautoscalers"},
};

const kres_resource *kctl_res(enum kctl_kind kind)
{
    return kres_lookup(kinds[kind].group, kinds[kind].version, kinds[kind].resource);
}

const char *kctl_str(const json_t *obj, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(obj, k1);
    if (k2)
        v = json_object_get(v, k2);
    return json_string_value(v);
}

int64_t kctl_int(const json_t *obj, const char *k1, const char *k2, int64_t def)
{
    const json_t *v = json_object_get(obj, k1);
    if (k2)
        v = json_object_get(v, k2);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *kctl_name(const json_t *obj)
{
    return kctl_str(obj, "metadata", "name");
}

const char *kctl_ns(const json_t *obj)
{
    return kctl_str(obj, "metadata", "namespace");
}

const char *kctl_uid(const json_t *obj)
{
    return kctl_str(obj, "metadata", "uid");
}

char *kctl_now(void)
{
    char buf[64];
    dd_format_rfc3339nano(dd_now_ns(), buf, sizeof(buf));
    buf[19] = 'Z', buf[20] = 0;
    return dd_strdup(buf);
}

static void arm(kctl *c, uint64_t ms)
{
    if (!c->armed || ms == 0) {
        ev_timer_reset(c->timer, ms);
        c->armed = true;
    }
}

void kctl_enqueue(kctl *c, enum kctl_kind kind, const char *ns, const char *name)
{
    if (!ns || !name)
        return;
    _cleanup_free_ char *key = dd_asprintf("%s/%s", ns, name);
    json_object_set_new(c->queue[kind], key, json_true());
    arm(c, 0);
}

const json_t *kctl_cached(kctl *c, enum kctl_kind kind, const char *ns, const char *name)
{
    _cleanup_free_ char *key = dd_asprintf("%s/%s", ns, name);
    return json_object_get(c->cache[kind], key);
}

json_t *kctl_list_ns(kctl *c, enum kctl_kind kind, const char *ns)
{
    json_t *out = json_array();
    const char *k;
    json_t *o;
    json_object_foreach(c->cache[kind], k, o)
    {
        if (!ns || dd_streq(kctl_ns(o), ns))
            json_array_append(out, o);
    }
    return out;
}

const json_t *kctl_controller_ref(const json_t *obj)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, ref)
    {
        if (json_is_true(json_object_get(ref, "controller")))
            return ref;
    }
    return NULL;
}

json_t *kctl_pods_controlled_by(kctl *c, const char *ns, const char *uid)
{
    json_t *out = json_array();
    const char *k;
    json_t *o;
    json_object_foreach(c->cache[KC_PODS], k, o)
    {
        if (dd_streq(kctl_ns(o), ns) &&
            dd_streq(kctl_str(kctl_controller_ref(o), "uid", NULL), uid))
            json_array_append(out, o);
    }
    return out;
}

ksel *kctl_selector(const json_t *sel)
{
    return ksel_from_label_selector(sel);
}

ksel *kctl_map_selector(const json_t *labels)
{
    json_t *sel = json_pack("{s:O}", "matchLabels", labels);
    ksel *s = kctl_selector(sel);
    json_decref(sel);
    return s;
}

/* ---- writes ---- */

static int done(kobj_status *st, kobj_result *res, int r, const char *what, const char *name)
{
    if (r < 0)
        dd_debug("controllers: %s %s: %s", what, name ? name : "", st->message);
    kobj_result_release(res);
    kobj_status_release(st);
    return r < 0 ? r : 0;
}

int kctl_create(kctl *c, const kres_resource *r, const char *ns, const json_t *obj,
                json_t **ret_created)
{
    kobj_req req = {.res = r, .ns = ns, .field_manager = "k3core-controllers"};
    kobj_result res = {0};
    kobj_status st = {0};
    int rc = kobj_create(c->api, &req, obj, &res, &st);
    if (rc >= 0 && ret_created)
        *ret_created = json_incref(res.object);
    return done(&st, &res, rc, "creating", kctl_name(obj));
}

static int put(kctl *c, const kres_resource *r, const json_t *obj, const char *sub)
{
    kobj_req req = {.res = r,
                    .ns = kctl_ns(obj),
                    .name = kctl_name(obj),
                    .subresource = sub,
                    .field_manager = "k3core-controllers"};
    kobj_result res = {0};
    kobj_status st = {0};
    int rc = kobj_update(c->api, &req, obj, &res, &st);
    return done(&st, &res, rc, "updating", kctl_name(obj));
}

int kctl_update(kctl *c, const kres_resource *r, const json_t *obj)
{
    return put(c, r, obj, NULL);
}

int kctl_update_status(kctl *c, const kres_resource *r, const json_t *obj)
{
    return put(c, r, obj, "status");
}

int kctl_delete(kctl *c, const kres_resource *r, const char *ns, const char *name,
                const char *policy)
{
    kobj_req req = {.res = r, .ns = ns, .name = name, .field_manager = "k3core-controllers"};
    json_t *opts = policy ? json_pack("{s:s}", "propagationPolicy", policy) : NULL;
    kobj_result res = {0};
    kobj_status st = {0};
    int rc = kobj_delete(c->api, &req, opts, &res, &st);
    json_decref(opts);
    return done(&st, &res, rc, "deleting", name);
}

void kctl_event(kctl *c, const json_t *obj, const char *type, const char *reason,
                const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_buf b = DD_BUF_INIT;
    dd_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    _cleanup_free_ char *msg = dd_buf_detach(&b, NULL);
    char hex[17];
    dd_random_hex(hex, 8);
    _cleanup_free_ char *name = dd_asprintf("%s.%s", kctl_name(obj), hex);
    _cleanup_free_ char *now = kctl_now();
    const char *ns = kctl_ns(obj) ? kctl_ns(obj) : "default";
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", ns,
        "involvedObject", "kind", kctl_str(obj, "kind", NULL) ?: "", "apiVersion",
        kctl_str(obj, "apiVersion", NULL) ?: "", "namespace", ns, "name", kctl_name(obj), "uid",
        kctl_uid(obj) ?: "", "resourceVersion", kctl_str(obj, "metadata", "resourceVersion") ?: "",
        "type", type, "reason", reason, "message", msg, "source", "component", component,
        "firstTimestamp", now, "lastTimestamp", now, "count", 1, "reportingComponent", component);
    if (!ev)
        return;
    kobj_req req = {.res = kres_lookup("", "v1", "events"), .ns = ns};
    kobj_result res = {0};
    kobj_status st = {0};
    int rc = kobj_create(c->api, &req, ev, &res, &st);
    done(&st, &res, rc, "event", reason);
    json_decref(ev);
}

const json_t *kctl_condition(const json_t *conds, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (dd_streq(kctl_str(c, "type", NULL), type))
            return c;
    }
    return NULL;
}

void kctl_set_condition(json_t *conds, const char *type, const char *status, const char *reason,
                        const char *message, bool with_update)
{
    json_t *c = (json_t *)kctl_condition(conds, type);
    _cleanup_free_ char *now = kctl_now();
    if (!c) {
        c = json_object();
        json_array_append_new(conds, c);
        jx_set_str(c, "type", type);
    }
    bool same = dd_streq(kctl_str(c, "status", NULL), status);
    bool unchanged = same && dd_streq(kctl_str(c, "reason", NULL), reason) &&
                     dd_streq(kctl_str(c, "message", NULL), message);
    jx_set_str(c, "status", status);
    if (!same || !json_object_get(c, "lastTransitionTime"))
        jx_set_str(c, "lastTransitionTime", now);
    if (with_update && (!unchanged || !json_object_get(c, "lastUpdateTime")))
        jx_set_str(c, "lastUpdateTime", now);
    jx_set_str(c, "reason", reason);
    jx_set_str(c, "message", message);
}

/* ---- watches ---- */

static void owner_changed(kctl *c, const json_t *obj)
{
    const json_t *ref = kctl_controller_ref(obj);
    const char *kind = kctl_str(ref, "kind", NULL), *name = kctl_str(ref, "name", NULL);
    if (dd_streq(kind, "ReplicaSet"))
        kctl_enqueue(c, KC_RS, kctl_ns(obj), name);
    else if (dd_streq(kind, "Deployment"))
        kctl_enqueue(c, KC_DEPLOY, kctl_ns(obj), name);
    else if (dd_streq(kind, "Job"))
        kctl_enqueue(c, KC_JOBS, kctl_ns(obj), name);
    else if (dd_streq(kind, "StatefulSet"))
        kctl_enqueue(c, KC_STS, kctl_ns(obj), name);
    else if (dd_streq(kind, "DaemonSet"))
        kctl_enqueue(c, KC_DS, kctl_ns(obj), name);
    else if (dd_streq(kind, "CronJob"))
        kctl_enqueue(c, KC_CRONJOBS, kctl_ns(obj), name);
}

/* An orphan pod or replicaset may be adopted: the owners of that kind in its namespace whose
 * selector matches it look again. */
static void orphan_changed(kctl *c, enum kctl_kind owner_kind, const json_t *obj)
{
    if (kctl_controller_ref(obj) || kctl_str(obj, "metadata", "deletionTimestamp"))
        return;
    if (!json_object_size(json_object_get(json_object_get(obj, "metadata"), "labels")))
        return;
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    const char *k;
    json_t *o;
    json_object_foreach(c->cache[owner_kind], k, o)
    {
        if (!dd_streq(kctl_ns(o), kctl_ns(obj)))
            continue;
        ksel *sel = kctl_selector(json_object_get(json_object_get(o, "spec"), "selector"));
        if (sel && ksel_match_labels(sel, labels))
            kctl_enqueue(c, owner_kind, kctl_ns(o), kctl_name(o));
        ksel_free(sel);
    }
}

static void on_watch(void *userdata, const char *type, json_t *obj)
{
    struct kctl_watch_ud *ud = userdata;
    kctl *c = ud->c;
    if (!kctl_name(obj) ||
        !(dd_streq(type, "ADDED") || dd_streq(type, "MODIFIED") || dd_streq(type, "DELETED")))
        return;
    _cleanup_free_ char *key = dd_asprintf("%s/%s", kctl_ns(obj) ?: "", kctl_name(obj));
    json_t *old = json_incref(json_object_get(c->cache[ud->kind], key));
    if (dd_streq(type, "DELETED"))
        json_object_del(c->cache[ud->kind], key);
    else /* managedFields are never read here and are a large part of each object */
        json_object_set_new(c->cache[ud->kind], key, kobj_without_managed_fields(obj));
    if (ud->kind == KC_DEPLOY || ud->kind == KC_STS || ud->kind == KC_RS)
        kctl_hpa_target_changed(c, ud->kind, obj);
    switch (ud->kind) {
    case KC_PODS:
        owner_changed(c, obj);
        orphan_changed(c, KC_RS, obj);
        orphan_changed(c, KC_JOBS, obj);
        kctl_endpoints_pod_changed(c, old, dd_streq(type, "DELETED") ? NULL : obj);
        kctl_volumes_pod_changed(c, obj);
        kctl_disruption_pod_changed(c, obj);
        break;
    case KC_PVCS:
        kctl_enqueue(c, KC_PVCS, kctl_ns(obj), kctl_name(obj));
        if (kctl_str(json_object_get(obj, "spec"), "volumeName", NULL))
            kctl_enqueue(c, KC_PVS, "", kctl_str(json_object_get(obj, "spec"), "volumeName", NULL));
        /* a deleted claim releases the volumes that name it */
        if (dd_streq(type, "DELETED")) {
            const char *k2;
            json_t *pv;
            json_object_foreach(c->cache[KC_PVS], k2, pv)
            {
                const json_t *ref = json_object_get(json_object_get(pv, "spec"), "claimRef");
                if (dd_streq(kctl_str(ref, "uid", NULL), kctl_uid(obj)))
                    kctl_enqueue(c, KC_PVS, "", kctl_name(pv));
            }
        }
        break;
    case KC_PVS:
        kctl_enqueue(c, KC_PVS, "", kctl_name(obj));
        if (kctl_str(json_object_get(json_object_get(obj, "spec"), "claimRef"), "name", NULL)) {
            const json_t *ref = json_object_get(json_object_get(obj, "spec"), "claimRef");
            kctl_enqueue(c, KC_PVCS, kctl_str(ref, "namespace", NULL) ?: "",
                         kctl_str(ref, "name", NULL));
        } else { /* a new volume may fit a Pending claim */
            const char *k2;
            json_t *pvc;
            json_object_foreach(c->cache[KC_PVCS], k2, pvc)
            {
                if (!kctl_str(json_object_get(pvc, "spec"), "volumeName", NULL))
                    kctl_enqueue(c, KC_PVCS, kctl_ns(pvc), kctl_name(pvc));
            }
        }
        break;
    case KC_JOBS:
    case KC_RS:
        owner_changed(c, obj);
        if (ud->kind == KC_RS)
            orphan_changed(c, KC_DEPLOY, obj);
        /* fallthrough */
    default:
        kctl_enqueue(c, ud->kind, kctl_ns(obj), kctl_name(obj));
    }
    json_decref(old);
}

typedef int (*sync_fn)(kctl *c, const char *ns, const char *name);
static const sync_fn syncs[KC_N] = {
    [KC_RS] = kctl_sync_rs,
    [KC_DEPLOY] = kctl_sync_deploy,
    [KC_JOBS] = kctl_sync_job,
    [KC_SERVICES] = kctl_sync_service,
    [KC_CRONJOBS] = kctl_sync_cronjob,
    [KC_STS] = kctl_sync_sts,
    [KC_DS] = kctl_sync_ds,
    [KC_PVCS] = kctl_sync_pvc,
    [KC_PVS] = kctl_sync_pv,
    [KC_PDBS] = kctl_sync_pdb,
    [KC_HPAS] = kctl_sync_hpa,
};

/* Services have no time-based transitions and their sync reads Endpoints and slices from the
 * store, so they come back only every SERVICE_RESYNC-th resync (to repair hand-edited
 * Endpoints). */
#define SERVICE_RESYNC 12

static void resync(kctl *c)
{
    c->resyncs++;
    for (int k = 0; k < KC_N; k++) {
        if (!syncs[k] || (k == KC_SERVICES && c->resyncs % SERVICE_RESYNC))
            continue;
        const char *key;
        json_t *o;
        json_object_foreach(c->cache[k], key, o) json_object_set_new(c->queue[k], key, json_true());
    }
}

static void on_timer(ev_timer *t, void *data)
{
    kctl *c = data;
    c->armed = false;
    int64_t now = dd_mono_ns();
    if (now - c->last_resync_ns >= RESYNC_MS * 1000000LL) {
        c->last_resync_ns = now;
        resync(c);
    }
    /* Deployments before ReplicaSets before pods' owners: a deployment's scale change then
     * reaches its pods in the same pass. Syncs queue more work through the watches. */
    static const enum kctl_kind order[] = {KC_CRONJOBS, KC_DEPLOY, KC_RS,  KC_JOBS, KC_STS, KC_DS,
                                           KC_SERVICES, KC_PVCS,   KC_PVS, KC_PDBS, KC_HPAS};
    for (size_t i = 0; i < DD_ARRAY_SIZE(order); i++) {
        enum kctl_kind k = order[i];
        json_t *q = c->queue[k];
        c->queue[k] = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(q, key, v)
        {
            _cleanup_free_ char *ns = dd_strdup(key);
            char *slash = strchr(ns, '/');
            if (!slash)
                continue;
            *slash = 0;
            if (syncs[k](c, ns, slash + 1) < 0) /* retried at the next quiet tick */
                json_object_set_new(c->queue[k], key, json_true());
        }
        json_decref(q);
    }
    if (!c->armed) {
        ev_timer_reset(t, QUIET_MS);
        c->armed = true;
    }
}

int kctl_start(ev_loop *loop, kobj_api *api, kctl **ret, dd_err *e)
{
    kctl *c = dd_calloc(1, sizeof(*c));
    c->loop = loop;
    c->api = api;
    for (int k = 0; k < KC_N; k++) {
        c->cache[k] = json_object();
        c->queue[k] = json_object();
    }
    c->warned = json_object();
    c->timer = ev_timer_add(loop, 100, 0, on_timer, c);
    c->armed = true;
    c->last_resync_ns = dd_mono_ns();
    for (int k = 0; k < KC_N; k++) {
        c->wud[k] = (struct kctl_watch_ud){c, k};
        kobj_req req = {.res = kctl_res(k)};
        kobj_watch_opts o = {0};
        kobj_status st = {0};
        int r = kobj_watch_start(api, &req, &o, on_watch, &c->wud[k], &c->watches[k], &st);
        if (r < 0) {
            dd_err_set(e, -r, "watching %s: %s", kinds[k].resource, st.message);
            kobj_status_release(&st);
            kctl_stop(c);
            return r;
        }
    }
    *ret = c;
    return 0;
}

void kctl_stop(kctl *c)
{
    if (!c)
        return;
    for (int k = 0; k < KC_N; k++) {
        kobj_watch_stop(c->watches[k]);
        json_decref(c->cache[k]);
        json_decref(c->queue[k]);
    }
    json_decref(c->warned);
    free(c->storage_dir);
    free(c->storage_node);
    ev_timer_del(c->timer);
    free(c);
}
