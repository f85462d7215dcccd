/* hpa.c: the HorizontalPodAutoscaler controller's part that needs no metrics, as upstream's
 * reconcileAutoscaler runs it on a cluster without a metrics API (no metrics-server): it reads
 * the target's scale (Deployment, StatefulSet or ReplicaSet), reports status.currentReplicas,
 * brings a target outside [minReplicas, maxReplicas] back inside (SuccessfulRescale, condition
 * ScalingLimited), leaves a target scaled to zero alone (ScalingDisabled), and otherwise says
 * that the replica count cannot be computed: ScalingActive False with the reason and message
 * upstream gives when pods.metrics.k8s.io is missing (that API is not served here; kubectl top
 * says so too). It does not scale on metrics.
 */
#include <stdio.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT "horizontal-pod-autoscaler"

static const char *const metrics_missing =
    "unable to fetch metrics from resource metrics API: the server could not find the requested "
    "resource (get pods.metrics.k8s.io)";

/* The target object in the cache and its kind; NULL when not one of ours or absent. */
static const json_t *target_of(kctl *c, const json_t *hpa, enum kctl_kind *ret_kind)
{
    const json_t *ref = json_object_get(json_object_get(hpa, "spec"), "scaleTargetRef");
    const char *kind = kctl_str(ref, "kind", NULL), *name = kctl_str(ref, "name", NULL);
    const char *api = kctl_str(ref, "apiVersion", NULL);
    if (!name || !dd_startswith(api ? api : "", "apps/"))
        return NULL;
    *ret_kind = dd_streq(kind, "Deployment")    ? KC_DEPLOY
                : dd_streq(kind, "StatefulSet") ? KC_STS
                : dd_streq(kind, "ReplicaSet")  ? KC_RS
                                                : KC_N;
    return *ret_kind == KC_N ? NULL : kctl_cached(c, *ret_kind, kctl_ns(hpa), name);
}

static void set_cond(json_t *st, const char *type, const char *status, const char *reason,
                     const char *msg)
{
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    kctl_set_condition(conds, type, status, reason, msg, false);
}

/* Why the replica count cannot be computed, for the first metric (upstream reports the first
 * failure). */
static char *metric_failure(const json_t *spec, const char **ret_reason)
{
    const json_t *m = json_array_get(json_object_get(spec, "metrics"), 0);
    const char *type = kctl_str(m, "type", NULL);
    if (dd_streq(type, "Resource") || dd_streq(type, "ContainerResource")) {
        const json_t *res =
            json_object_get(m, dd_streq(type, "Resource") ? "resource" : "containerResource");
        const char *name = kctl_str(res, "name", NULL) ?: "cpu";
        bool util = dd_streq(kctl_str(json_object_get(res, "target"), "type", NULL), "Utilization");
        *ret_reason = dd_streq(type, "Resource") ? "FailedGetResourceMetric"
                                                 : "FailedGetContainerResourceMetric";
        return dd_asprintf("the HPA was unable to compute the replica count: failed to get %s "
                           "%s: unable to get metrics for resource %s: %s",
                           name, util ? "utilization" : "usage", name, metrics_missing);
    }
    *ret_reason = dd_streq(type, "Pods")     ? "FailedGetPodsMetric"
                  : dd_streq(type, "Object") ? "FailedGetObjectMetric"
                                             : "FailedGetExternalMetric";
    return dd_strdup("the HPA was unable to compute the replica count: unable to get metric: no "
                     "custom or external metrics API is served");
}

static int rescale(kctl *c, const json_t *hpa, enum kctl_kind kind, const json_t *target,
                   int64_t to, const char *why)
{
    json_t *upd = json_deep_copy(target);
    jx_set_int(json_object_get(upd, "spec"), "replicas", to);
    int r = kctl_update(c, kctl_res(kind), upd);
    json_decref(upd);
    if (r == 0)
        kctl_event(c, hpa, "Normal", "SuccessfulRescale", COMPONENT, "New size: %lld; reason: %s",
                   (long long)to, why);
    return r;
}

int kctl_sync_hpa(kctl *c, const char *ns, const char *name)
{
    json_t *hpa = json_incref((json_t *)kctl_cached(c, KC_HPAS, ns, name));
    if (!hpa)
        return 0;
    const json_t *spec = json_object_get(hpa, "spec");
    json_t *old = json_object_get(hpa, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    enum kctl_kind kind = KC_N;
    const json_t *target = target_of(c, hpa, &kind);
    int64_t min = kctl_int(spec, "minReplicas", NULL, 1),
            max = kctl_int(spec, "maxReplicas", NULL, 1);
    int r = 0;
    if (!target) {
        const json_t *ref = json_object_get(spec, "scaleTargetRef");
        _cleanup_free_ char *msg = dd_asprintf(
            "the HPA controller was unable to get the target's current scale: %s \"%s\" not found",
            dd_streq(kctl_str(ref, "kind", NULL), "Deployment") ? "deployments.apps" : "scale",
            kctl_str(ref, "name", NULL) ?: "");
        set_cond(st, "AbleToScale", "False", "FailedGetScale", msg);
    } else {
        int64_t cur = kctl_int(json_object_get(target, "spec"), "replicas", NULL, 1);
        jx_set_int(st, "currentReplicas",
                   kctl_int(json_object_get(target, "status"), "replicas", NULL, 0));
        int64_t want = cur < min ? min : cur > max ? max : cur;
        set_cond(st, "AbleToScale", "True", "SucceededGetScale",
                 "the HPA controller was able to get the target's current scale");
        if (cur == 0 && min != 0) {
            jx_set_int(st, "desiredReplicas", 0);
            set_cond(st, "ScalingActive", "False", "ScalingDisabled",
                     "scaling is disabled since the replica count of the target is zero");
        } else if (want != cur) {
            const char *why = cur > max ? "Current number of replicas above Spec.MaxReplicas"
                                        : "Current number of replicas below Spec.MinReplicas";
            r = rescale(c, hpa, kind, target, want, why);
            if (r == 0) {
                _cleanup_free_ char *msg =
                    dd_asprintf("the HPA controller was able to update the target scale to %lld",
                                (long long)want);
                _cleanup_free_ char *now = kctl_now();
                set_cond(st, "AbleToScale", "True", "SucceededRescale", msg);
                set_cond(st, "ScalingLimited", "True",
                         cur > max ? "TooManyReplicas" : "TooFewReplicas",
                         cur > max ? "the desired replica count is more than the maximum replica "
                                     "count"
                                   : "the desired replica count is less than the minimum replica "
                                     "count");
                jx_set_int(st, "desiredReplicas", want);
                jx_set_str(st, "lastScaleTime", now);
            }
        } else {
            const char *reason = NULL;
            _cleanup_free_ char *msg = metric_failure(spec, &reason);
            set_cond(st, "ScalingActive", "False", reason, msg);
            /* upstream leaves one empty status per metric it could not read */
            json_t *cm = json_array();
            for (size_t i = 0; i < json_array_size(json_object_get(spec, "metrics")); i++)
                json_array_append_new(cm, json_pack("{s:s}", "type", ""));
            json_object_set_new(st, "currentMetrics", cm);
            if (!json_object_get(st, "desiredReplicas"))
                jx_set_int(st, "desiredReplicas", 0);
        }
    }
    if (r == 0 && !json_equal(st, old)) {
        json_t *upd = json_deep_copy(hpa);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_HPAS), upd);
        json_decref(upd);
    }
    json_decref(st);
    json_decref(hpa);
    return r;
}

void kctl_hpa_target_changed(kctl *c, enum kctl_kind kind, const json_t *obj)
{
    const char *k;
    json_t *hpa;
    json_object_foreach(c->cache[KC_HPAS], k, hpa)
    {
        enum kctl_kind tk = KC_N;
        const json_t *ref = json_object_get(json_object_get(hpa, "spec"), "scaleTargetRef");
        if (dd_streq(kctl_ns(hpa), kctl_ns(obj)) &&
            dd_streq(kctl_str(ref, "name", NULL), kctl_name(obj)) && target_of(c, hpa, &tk) &&
            tk == kind)
            kctl_enqueue(c, KC_HPAS, kctl_ns(hpa), kctl_name(hpa));
    }
}
