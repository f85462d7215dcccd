/* replicaset.c: the ReplicaSet controller, as upstream's — claims the pods its selector matches
 * (adopting orphans, releasing pods it no longer selects), creates pods from the template or
 * deletes the least valuable ones (kctl_pod_cmp) until spec.replicas are active, and reports
 * replicas/fullyLabeledReplicas/readyReplicas/availableReplicas/observedGeneration. Also the
 * pod helpers the Job controller shares. It does not garbage-collect: pods of a deleted
 * ReplicaSet go through kobj_run_controllers().
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT "replicaset-controller"

static json_t *owner_ref(const json_t *owner)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", kctl_str(owner, "apiVersion", NULL),
                     "kind", kctl_str(owner, "kind", NULL), "name", kctl_name(owner), "uid",
                     kctl_uid(owner), "controller", 1, "blockOwnerDeletion", 1);
}

int kctl_create_pod(kctl *c, const json_t *owner, const json_t *tmpl, const char *component,
                    json_t *extra_labels)
{
    const json_t *tm = json_object_get(tmpl, "metadata");
    json_t *labels = json_deep_copy(json_object_get(tm, "labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    if (extra_labels)
        json_object_update(labels, extra_labels);
    const char *tgen = json_string_value(json_object_get(tm, "generateName"));
    _cleanup_free_ char *gen = tgen ? dd_strdup(tgen) : dd_asprintf("%s-", kctl_name(owner));
    json_t *pod =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:[o]},s:O}", "apiVersion", "v1", "kind", "Pod",
                  "metadata", "generateName", gen, "namespace", kctl_ns(owner), "labels", labels,
                  "ownerReferences", owner_ref(owner), "spec", json_object_get(tmpl, "spec"));
    if (!pod)
        return -EINVAL;
    const json_t *ann = json_object_get(tm, "annotations");
    if (json_object_size(ann))
        json_object_set(json_object_get(pod, "metadata"), "annotations", (json_t *)ann);
    json_t *created = NULL;
    int r = kctl_create(c, kctl_res(KC_PODS), kctl_ns(owner), pod, &created);
    json_decref(pod);
    if (r < 0) {
        kctl_event(c, owner, "Warning", "FailedCreate", component, "Error creating: %s",
                   strerror(-r));
        return r;
    }
    kctl_event(c, owner, "Normal", "SuccessfulCreate", component, "Created pod: %s",
               kctl_name(created));
    json_decref(created);
    return 0;
}

int kctl_delete_pod(kctl *c, const json_t *owner, const json_t *pod, const char *component)
{
    int r = kctl_delete(c, kctl_res(KC_PODS), kctl_ns(pod), kctl_name(pod), NULL);
    if (r < 0 && r != -ENOENT) {
        kctl_event(c, owner, "Warning", "FailedDelete", component, "Error deleting: %s",
                   strerror(-r));
        return r;
    }
    kctl_event(c, owner, "Normal", "SuccessfulDelete", component, "Deleted pod: %s",
               kctl_name(pod));
    return 0;
}

int kctl_set_owner(kctl *c, const kres_resource *res, const json_t *obj, const json_t *owner,
                   const char *uid)
{
    json_t *upd = json_deep_copy(obj);
    json_t *meta = json_object_get(upd, "metadata");
    json_t *refs = json_object_get(meta, "ownerReferences");
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(meta, "ownerReferences", refs);
    }
    if (owner)
        json_array_append_new(refs, owner_ref(owner));
    for (size_t i = json_array_size(refs); !owner && i-- > 0;)
        if (dd_streq(kctl_str(json_array_get(refs, i), "uid", NULL), uid))
            json_array_remove(refs, i);
    if (!json_array_size(refs))
        json_object_del(meta, "ownerReferences");
    int r = kctl_update(c, res, upd);
    json_decref(upd);
    return r;
}

json_t *kctl_claim_pods(kctl *c, const json_t *owner, const ksel *sel)
{
    json_t *all = kctl_list_ns(c, KC_PODS, kctl_ns(owner)), *out = json_array(), *p;
    const char *uid = kctl_uid(owner);
    bool owner_deleting = kctl_str(owner, "metadata", "deletionTimestamp") != NULL;
    size_t i;
    json_array_foreach(all, i, p)
    {
        const json_t *ref = kctl_controller_ref(p);
        bool match = sel && ksel_match_labels(
                                sel, json_object_get(json_object_get(p, "metadata"), "labels"));
        bool deleting = kctl_str(p, "metadata", "deletionTimestamp") != NULL;
        if (ref && dd_streq(kctl_str(ref, "uid", NULL), uid)) {
            if (match || deleting || owner_deleting)
                json_array_append(out, p);
            else
                kctl_set_owner(c, kctl_res(KC_PODS), p, NULL, uid);
        } else if (!ref && match && !deleting && !owner_deleting && !kctl_pod_terminal(p)) {
            if (kctl_set_owner(c, kctl_res(KC_PODS), p, owner, NULL) == 0)
                json_array_append(out, p);
        }
    }
    json_decref(all);
    return out;
}

static int cmp_pods(const void *a, const void *b)
{
    return kctl_pod_cmp(*(json_t *const *)a, *(json_t *const *)b);
}

void kctl_sort_pods(json_t *pods)
{
    size_t n = json_array_size(pods);
    json_t **v = dd_calloc(n + 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(pods, i));
    qsort(v, n, sizeof(json_t *), cmp_pods);
    json_array_clear(pods);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(pods, v[i]);
    free(v);
}

static json_t *active_only(const json_t *pods)
{
    json_t *out = json_array(), *p;
    size_t i;
    json_array_foreach(pods, i, p)
    {
        if (!kctl_pod_terminal(p) && !kctl_str(p, "metadata", "deletionTimestamp"))
            json_array_append(out, p);
    }
    return out;
}

static int manage(kctl *c, const json_t *rs, json_t *active)
{
    int64_t want = kctl_int(json_object_get(rs, "spec"), "replicas", NULL, 1);
    int64_t diff = (int64_t)json_array_size(active) - want;
    const json_t *tmpl = json_object_get(json_object_get(rs, "spec"), "template");
    if (kctl_str(rs, "metadata", "deletionTimestamp"))
        return 0;
    int r = 0;
    for (int64_t i = 0; diff < 0 && i < -diff && i < 500 && r >= 0; i++)
        r = kctl_create_pod(c, rs, tmpl, COMPONENT, NULL);
    if (diff > 0) {
        kctl_sort_pods(active);
        for (int64_t i = 0; i < diff && r >= 0; i++)
            r = kctl_delete_pod(c, rs, json_array_get(active, (size_t)i), COMPONENT);
    }
    return r;
}

static bool labels_cover(const json_t *labels, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        if (!json_equal(json_object_get(labels, k), v))
            return false;
    }
    return true;
}

static int update_status(kctl *c, const json_t *rs, const json_t *active)
{
    const json_t *spec = json_object_get(rs, "spec");
    const json_t *tl =
        json_object_get(json_object_get(json_object_get(spec, "template"), "metadata"), "labels");
    int64_t min_ready = kctl_int(spec, "minReadySeconds", NULL, 0), now = dd_now_ns();
    int64_t full = 0, ready = 0, avail = 0;
    size_t i;
    json_t *p;
    json_array_foreach(active, i, p)
    {
        full += labels_cover(json_object_get(json_object_get(p, "metadata"), "labels"), tl);
        ready += kctl_pod_ready(p);
        avail += kctl_pod_available(p, min_ready, now);
    }
    json_t *old = json_object_get(rs, "status");
    json_t *st = json_deep_copy(json_is_object(old) ? old : NULL);
    if (!st)
        st = json_object();
    jx_set_int(st, "replicas", (int64_t)json_array_size(active));
    jx_set_int(st, "fullyLabeledReplicas", full);
    jx_set_int(st, "readyReplicas", ready);
    jx_set_int(st, "availableReplicas", avail);
    jx_set_int(st, "observedGeneration", kctl_int(rs, "metadata", "generation", 1));
    int r = 0;
    if (!json_equal(st, old)) {
        json_t *upd = json_deep_copy(rs);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_RS), upd);
        json_decref(upd);
    }
    json_decref(st);
    return r;
}

int kctl_sync_rs(kctl *c, const char *ns, const char *name)
{
    json_t *rs = json_incref((json_t *)kctl_cached(c, KC_RS, ns, name));
    if (!rs)
        return 0;
    ksel *sel = kctl_selector(json_object_get(json_object_get(rs, "spec"), "selector"));
    json_t *pods = kctl_claim_pods(c, rs, sel);
    json_t *active = active_only(pods);
    int r = update_status(c, rs, active);
    if (r >= 0)
        r = manage(c, rs, active);
    ksel_free(sel);
    json_decref(active);
    json_decref(pods);
    json_decref(rs);
    return r;
}
