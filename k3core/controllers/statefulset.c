/* statefulset.c: the StatefulSet controller — pods `<set>-<ordinal>` for ordinals 0..replicas-1
 * with hostname/subdomain and the statefulset.kubernetes.io/pod-name, apps.kubernetes.io/
 * pod-index and controller-revision-hash labels. OrderedReady creates each pod only when the
 * lower ones are Running and Ready and removes surplus pods from the highest ordinal one at a
 * time; Parallel does both at once. RollingUpdate replaces pods of an older revision from the
 * highest ordinal down to spec.updateStrategy.rollingUpdate.partition, one at a time; OnDelete
 * leaves that to the user. Failed or succeeded pods are deleted and recreated. Status carries
 * currentRevision/updateRevision (`<set>-<template hash>`) for `kubectl rollout status`.
 * ControllerRevisions (revisions.c) back `kubectl rollout history/undo`. volumeClaimTemplates
 * give each pod its claims (created before the pod, kept afterwards: the default Retain policy).
 * Not done: persistentVolumeClaimRetentionPolicy Delete, minReadySeconds.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT "statefulset-controller"
#define REV_LABEL "controller-revision-hash"

typedef struct sstate {
    json_t *set;
    json_t **pods; /* by ordinal, 0..n-1 (NULL = missing) */
    int64_t n;     /* max(replicas, highest ordinal + 1) */
    int64_t replicas;
    char rev[300];
    bool parallel;
} sstate;

static int64_t ordinal_of(const json_t *set, const json_t *pod)
{
    const char *name = kctl_name(pod), *base = kctl_name(set);
    size_t bl = strlen(base);
    if (!name || strncmp(name, base, bl) != 0 || name[bl] != '-' || !name[bl + 1])
        return -1;
    char *end = NULL;
    long long v = strtoll(name + bl + 1, &end, 10);
    return *end || v < 0 || v > 100000 ? -1 : v;
}

static const char *pod_rev(const json_t *pod)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(pod, "metadata"), "labels"), REV_LABEL));
}

static bool running_ready(const json_t *pod)
{
    return dd_streq(kctl_str(json_object_get(pod, "status"), "phase", NULL), "Running") &&
           kctl_pod_ready(pod) && !kctl_str(pod, "metadata", "deletionTimestamp");
}

/* The claims of volumeClaimTemplates for pod `name` exist (created as upstream names and labels
 * them: `<template>-<pod>`, the template's labels plus the selector's matchLabels; kept when the
 * set scales down or goes: the default Retain policy), and pspec mounts them: a volume per
 * template, first, replacing a template volume of the same name. < 0 when a claim could not be
 * created. */
static int claims(kctl *c, sstate *s, const char *name, json_t *pspec)
{
    const json_t *spec = json_object_get(s->set, "spec");
    const json_t *tmpls = json_object_get(spec, "volumeClaimTemplates"), *t;
    if (!json_array_size(tmpls))
        return 0;
    const json_t *ml = json_object_get(json_object_get(spec, "selector"), "matchLabels");
    json_t *vols = json_array(), *v;
    size_t i;
    int r = 0;
    json_array_foreach(tmpls, i, t)
    {
        const char *tname = kctl_name(t);
        if (!tname)
            continue;
        _cleanup_free_ char *cname = dd_asprintf("%s-%s", tname, name);
        json_array_append_new(vols, json_pack("{s:s,s:{s:s}}", "name", tname,
                                              "persistentVolumeClaim", "claimName", cname));
        const json_t *have = kctl_cached(c, KC_PVCS, kctl_ns(s->set), cname);
        if (have && kctl_str(have, "metadata", "deletionTimestamp"))
            r = -EAGAIN; /* upstream waits for a claim being deleted to go, then makes it anew */
        if (r < 0 || have)
            continue;
        json_t *meta = json_object();
        jx_set_str(meta, "name", cname);
        jx_set_str(meta, "namespace", kctl_ns(s->set));
        json_t *labels = json_deep_copy(json_object_get(json_object_get(t, "metadata"), "labels"));
        if (!json_is_object(labels)) {
            json_decref(labels);
            labels = json_object();
        }
        if (json_is_object(ml))
            json_object_update(labels, (json_t *)ml);
        if (json_object_size(labels))
            json_object_set(meta, "labels", labels);
        json_decref(labels);
        const json_t *ann = json_object_get(json_object_get(t, "metadata"), "annotations");
        if (json_object_size(ann))
            json_object_set(meta, "annotations", (json_t *)ann);
        json_t *pvc =
            json_pack("{s:s,s:s,s:o,s:O}", "apiVersion", "v1", "kind", "PersistentVolumeClaim",
                      "metadata", meta, "spec", json_object_get(t, "spec"));
        r = kctl_create(c, kctl_res(KC_PVCS), kctl_ns(s->set), pvc, NULL);
        if (r == -EEXIST)
            r = 0;
        kctl_event(c, s->set, r < 0 ? "Warning" : "Normal",
                   r < 0 ? "FailedCreate" : "SuccessfulCreate", COMPONENT,
                   "create Claim %s Pod %s in StatefulSet %s %s", cname, name, kctl_name(s->set),
                   r < 0 ? "failed" : "success");
        json_decref(pvc);
    }
    json_array_foreach(json_object_get(pspec, "volumes"), i, v)
    {
        bool claimed = false;
        size_t j;
        json_array_foreach(tmpls, j, t) claimed |=
            dd_streq(kctl_name(t), kctl_str(v, "name", NULL));
        if (!claimed)
            json_array_append(vols, v);
    }
    json_object_set_new(pspec, "volumes", vols);
    return r;
}

static int create(kctl *c, sstate *s, int64_t ord)
{
    const json_t *spec = json_object_get(s->set, "spec");
    json_t *tmpl = json_deep_copy(json_object_get(spec, "template"));
    _cleanup_free_ char *name = dd_asprintf("%s-%lld", kctl_name(s->set), (long long)ord);
    char idx[24];
    snprintf(idx, sizeof(idx), "%lld", (long long)ord);
    json_t *labels =
        json_pack("{s:s,s:s,s:s}", REV_LABEL, s->rev, "statefulset.kubernetes.io/pod-name", name,
                  "apps.kubernetes.io/pod-index", idx);
    json_t *pspec = json_object_get(tmpl, "spec");
    if (claims(c, s, name, pspec) < 0) {
        json_decref(labels);
        json_decref(tmpl);
        return -EAGAIN;
    }
    jx_set_str(pspec, "hostname", name);
    if (kctl_str(spec, "serviceName", NULL) && *kctl_str(spec, "serviceName", NULL))
        jx_set_str(pspec, "subdomain", kctl_str(spec, "serviceName", NULL));
    json_t *meta = json_object_get(tmpl, "metadata");
    json_t *l = json_deep_copy(json_object_get(meta, "labels"));
    if (!json_is_object(l)) {
        json_decref(l);
        l = json_object();
    }
    json_object_update(l, labels);
    json_t *pod =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:O}", "apiVersion", "v1",
                  "kind", "Pod", "metadata", "name", name, "namespace", kctl_ns(s->set), "labels",
                  l, "ownerReferences", "apiVersion", "apps/v1", "kind", "StatefulSet", "name",
                  kctl_name(s->set), "uid", kctl_uid(s->set) ?: "", "controller", 1,
                  "blockOwnerDeletion", 1, "spec", pspec);
    if (json_object_size(json_object_get(meta, "annotations")))
        json_object_set(json_object_get(pod, "metadata"), "annotations",
                        json_object_get(meta, "annotations"));
    int r = kctl_create(c, kctl_res(KC_PODS), kctl_ns(s->set), pod, NULL);
    if (r == 0)
        kctl_event(c, s->set, "Normal", "SuccessfulCreate", COMPONENT,
                   "create Pod %s in StatefulSet %s successful", name, kctl_name(s->set));
    else
        kctl_event(c, s->set, "Warning", "FailedCreate", COMPONENT,
                   "create Pod %s in StatefulSet %s failed error: %s", name, kctl_name(s->set),
                   strerror(-r));
    json_decref(pod);
    json_decref(labels);
    json_decref(tmpl);
    return r < 0 ? r : 1;
}

static int delete (kctl *c, sstate *s, const json_t *pod)
{
    int r = kctl_delete(c, kctl_res(KC_PODS), kctl_ns(pod), kctl_name(pod), NULL);
    if (r == 0)
        kctl_event(c, s->set, "Normal", "SuccessfulDelete", COMPONENT,
                   "delete Pod %s in StatefulSet %s successful", kctl_name(pod), kctl_name(s->set));
    return r < 0 && r != -ENOENT ? r : 1;
}

/* Ordinals below replicas: create the missing, replace the finished. */
static int fill(kctl *c, sstate *s)
{
    int wrote = 0;
    for (int64_t i = 0; i < s->replicas; i++) {
        json_t *p = s->pods[i];
        int r = 0;
        if (!p)
            r = create(c, s, i);
        else if (kctl_pod_terminal(p) && !kctl_str(p, "metadata", "deletionTimestamp"))
            r = delete (c, s, p);
        if (r < 0)
            return r;
        wrote |= r;
        if (!s->parallel && (r || !running_ready(p)))
            return 1; /* OrderedReady: wait for this one */
    }
    return wrote;
}

static int condemn(kctl *c, sstate *s)
{
    int wrote = 0;
    for (int64_t i = s->n - 1; i >= s->replicas; i--) {
        json_t *p = s->pods[i];
        if (!p)
            continue;
        if (kctl_str(p, "metadata", "deletionTimestamp")) {
            if (!s->parallel)
                return 1;
            continue;
        }
        int r = delete (c, s, p);
        if (r < 0)
            return r;
        wrote = 1;
        if (!s->parallel)
            return 1;
    }
    return wrote;
}

static int roll(kctl *c, sstate *s)
{
    const json_t *strategy = json_object_get(json_object_get(s->set, "spec"), "updateStrategy");
    if (dd_streq(kctl_str(strategy, "type", NULL), "OnDelete"))
        return 0;
    int64_t partition = kctl_int(json_object_get(strategy, "rollingUpdate"), "partition", NULL, 0);
    for (int64_t i = 0; i < s->replicas; i++)
        if (!s->pods[i] || !running_ready(s->pods[i]))
            return 0; /* one at a time, with everything else healthy */
    for (int64_t i = s->replicas - 1; i >= partition && i >= 0; i--)
        if (!dd_streq(pod_rev(s->pods[i]), s->rev))
            return delete (c, s, s->pods[i]);
    return 0;
}

static int update_status(kctl *c, sstate *s)
{
    json_t *old = json_object_get(s->set, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    const char *cur = kctl_str(st, "currentRevision", NULL);
    _cleanup_free_ char *current = dd_strdup(cur ? cur : s->rev);
    int64_t replicas = 0, ready = 0, updated = 0, at_current = 0;
    for (int64_t i = 0; i < s->n; i++) {
        json_t *p = s->pods[i];
        if (!p || kctl_str(p, "metadata", "deletionTimestamp"))
            continue;
        replicas++;
        ready += kctl_pod_ready(p);
        updated += dd_streq(pod_rev(p), s->rev);
        at_current += dd_streq(pod_rev(p), current);
    }
    if (updated == s->replicas && ready == s->replicas && replicas == s->replicas) {
        free(current);
        current = dd_strdup(s->rev);
        at_current = updated;
    }
    jx_set_int(st, "observedGeneration", kctl_int(s->set, "metadata", "generation", 1));
    jx_set_int(st, "replicas", replicas);
    jx_set_int(st, "readyReplicas", ready);
    jx_set_int(st, "availableReplicas", ready);
    jx_set_int(st, "currentReplicas", at_current);
    jx_set_int(st, "updatedReplicas", updated);
    jx_set_str(st, "currentRevision", current);
    jx_set_str(st, "updateRevision", s->rev);
    if (!json_object_get(st, "collisionCount"))
        jx_set_int(st, "collisionCount", 0);
    int r = 0;
    if (!json_equal(st, old)) {
        json_t *upd = json_deep_copy(s->set);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_STS), upd);
        json_decref(upd);
    }
    json_decref(st);
    return r;
}

int kctl_sync_sts(kctl *c, const char *ns, const char *name)
{
    sstate s = {.set = json_incref((json_t *)kctl_cached(c, KC_STS, ns, name))};
    if (!s.set || kctl_str(s.set, "metadata", "deletionTimestamp")) {
        json_decref(s.set);
        return 0;
    }
    const json_t *spec = json_object_get(s.set, "spec");
    s.replicas = kctl_int(spec, "replicas", NULL, 1);
    s.parallel = dd_streq(kctl_str(spec, "podManagementPolicy", NULL), "Parallel");
    char hash[16];
    kctl_template_hash(json_object_get(spec, "template"), 0, hash);
    snprintf(s.rev, sizeof(s.rev), "%s-%s", name, hash);
    ksel *sel = kctl_selector(json_object_get(spec, "selector"));
    json_t *pods = kctl_claim_pods(c, s.set, sel), *p;
    ksel_free(sel);
    s.n = s.replicas;
    size_t i;
    json_array_foreach(pods, i, p) if (ordinal_of(s.set, p) >= s.n) s.n = ordinal_of(s.set, p) + 1;
    s.pods = dd_calloc((size_t)s.n + 1, sizeof(json_t *));
    json_array_foreach(pods, i, p)
    {
        int64_t o = ordinal_of(s.set, p);
        if (o >= 0)
            s.pods[o] = p;
    }
    const char *cur = kctl_str(json_object_get(s.set, "status"), "currentRevision", NULL);
    int r = kctl_ensure_revision(c, s.set, s.rev, hash, cur);
    if (r >= 0)
        r = update_status(c, &s);
    if (r >= 0)
        r = fill(c, &s);
    if (r == 0)
        r = condemn(c, &s);
    if (r == 0)
        r = roll(c, &s);
    free(s.pods);
    json_decref(pods);
    json_decref(s.set);
    return r < 0 ? r : 0;
}
