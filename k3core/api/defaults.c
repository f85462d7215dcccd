/* defaults: the defaulting upstream's SetDefaults_* functions and admission plugins apply to
 * the common kinds — Pod (and every pod template), Deployment, ReplicaSet, StatefulSet,
 * DaemonSet, Job, CronJob, Service (ClusterIP and NodePort allocation from the configured
 * ranges, derived from the stored Services so nothing needs releasing), Namespace, Secret, PVC,
 * HorizontalPodAutoscaler, CSIDriver, PriorityClass, FlowSchema, PriorityLevelConfiguration.
 * Kinds not listed get none (their fields stay as sent). Every write (create, update, patch,
 * server-side apply, dry-run or not) goes through here before validation, so what is stored and
 * returned carries the defaults, as upstream's decoder leaves them.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "k3core/kubelet/podspec.h"

static json_t *obj_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(o, key, v);
    }
    return v;
}

static void def_str(json_t *o, const char *key, const char *v)
{
    if (!json_object_get(o, key))
        jx_set_str(o, key, v);
}

static void def_int(json_t *o, const char *key, int64_t v)
{
    if (!json_object_get(o, key))
        jx_set_int(o, key, v);
}

static void def_bool(json_t *o, const char *key, bool v)
{
    if (!json_object_get(o, key))
        jx_set_bool(o, key, v);
}

/* An int32 upstream does not keep a pointer to: absent and 0 are one value, replaced by v. */
static void def_nonzero(json_t *o, const char *key, int64_t v)
{
    json_t *cur = json_object_get(o, key);
    if (!cur || (json_is_integer(cur) && json_integer_value(cur) == 0))
        jx_set_int(o, key, v);
}

/* Upstream's Probe and LifecycleHandler defaults (timeouts, thresholds, httpGet scheme). */
static void handler_defaults(json_t *h)
{
    json_t *g = json_object_get(h, "httpGet");
    if (json_is_object(g))
        def_str(g, "scheme", "HTTP");
}

static void probe_defaults(json_t *c)
{
    static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(probes); i++) {
        json_t *p = json_object_get(c, probes[i]);
        if (!json_is_object(p))
            continue;
        def_int(p, "timeoutSeconds", 1);
        def_int(p, "periodSeconds", 10);
        def_int(p, "successThreshold", 1);
        def_int(p, "failureThreshold", 3);
        handler_defaults(p);
    }
    json_t *lc = json_object_get(c, "lifecycle");
    handler_defaults(json_object_get(lc, "postStart"));
    handler_defaults(json_object_get(lc, "preStop"));
}

static void container_defaults(json_t *c)
{
    probe_defaults(c);
    def_str(c, "terminationMessagePath", "/dev/termination-log");
    def_str(c, "terminationMessagePolicy", "File");
    if (!json_object_get(c, "resources"))
        json_object_set_new(c, "resources", json_object());
    if (!json_object_get(c, "imagePullPolicy")) {
        const char *image = json_string_value(json_object_get(c, "image"));
        const char *slash = image ? strrchr(image, '/') : NULL;
        const char *last = slash ? slash + 1 : image;
        bool latest = !image || (strchr(image, '@') == NULL &&
                                 (!strchr(last, ':') || dd_endswith(last, ":latest")));
        jx_set_str(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(c, "ports"), i, p) def_str(p, "protocol", "TCP");
}

static void volume_defaults(json_t *v)
{
    static const char *const with_mode[] = {"configMap", "secret", "projected", "downwardAPI"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(with_mode); i++) {
        json_t *src = json_object_get(v, with_mode[i]);
        if (json_is_object(src))
            def_int(src, "defaultMode", 420);
    }
}

static void pod_spec_defaults(json_t *spec)
{
    def_str(spec, "restartPolicy", "Always");
    def_str(spec, "dnsPolicy", "ClusterFirst");
    def_int(spec, "terminationGracePeriodSeconds", 30);
    def_str(spec, "schedulerName", "default-scheduler");
    obj_at(spec, "securityContext");
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c) container_defaults(c);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "volumes"), i, v) volume_defaults(v);
}

static void pod_defaults(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    pod_spec_defaults(spec);
    def_bool(spec, "enableServiceLinks", true);
    def_str(spec, "serviceAccountName", "default");
    def_str(spec, "serviceAccount", json_string_value(json_object_get(spec, "serviceAccountName")));
    def_int(spec, "priority", 0);
    def_str(spec, "preemptionPolicy", "PreemptLowerPriority");
    if (!json_object_get(spec, "tolerations"))
        json_object_set_new(spec, "tolerations",
                            json_pack("[{s:s,s:s,s:s,s:i},{s:s,s:s,s:s,s:i}]", "key",
                                      "node.kubernetes.io/not-ready", "operator", "Exists",
                                      "effect", "NoExecute", "tolerationSeconds", 300, "key",
                                      "node.kubernetes.io/unreachable", "operator", "Exists",
                                      "effect", "NoExecute", "tolerationSeconds", 300));
    json_t *status = obj_at(obj, "status");
    def_str(status, "phase", "Pending");
    def_str(status, "qosClass", kps_qos_class(spec));
}

static void template_defaults(json_t *spec)
{
    json_t *tmpl = obj_at(spec, "template");
    obj_at(tmpl, "metadata");
    pod_spec_defaults(obj_at(tmpl, "spec"));
}

static void workload_defaults(const char *resource, json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (strcmp(resource, "deployments") == 0) {
        def_int(spec, "replicas", 1);
        def_int(spec, "revisionHistoryLimit", 10);
        def_int(spec, "progressDeadlineSeconds", 600);
        json_t *strategy = obj_at(spec, "strategy");
        def_str(strategy, "type", "RollingUpdate");
        if (dd_streq(json_string_value(json_object_get(strategy, "type")), "RollingUpdate")) {
            json_t *ru = obj_at(strategy, "rollingUpdate");
            def_str(ru, "maxUnavailable", "25%");
            def_str(ru, "maxSurge", "25%");
        }
    } else if (strcmp(resource, "replicasets") == 0) {
        def_int(spec, "replicas", 1);
    } else if (strcmp(resource, "statefulsets") == 0) {
        def_int(spec, "replicas", 1);
        def_int(spec, "revisionHistoryLimit", 10);
        def_str(spec, "podManagementPolicy", "OrderedReady");
        json_t *us = obj_at(spec, "updateStrategy");
        def_str(us, "type", "RollingUpdate");
        if (dd_streq(json_string_value(json_object_get(us, "type")), "RollingUpdate"))
            def_int(obj_at(us, "rollingUpdate"), "partition", 0);
        json_t *rp = obj_at(spec, "persistentVolumeClaimRetentionPolicy");
        def_str(rp, "whenDeleted", "Retain");
        def_str(rp, "whenScaled", "Retain");
    } else if (strcmp(resource, "daemonsets") == 0) {
        def_int(spec, "revisionHistoryLimit", 10);
        json_t *us = obj_at(spec, "updateStrategy");
        def_str(us, "type", "RollingUpdate");
        if (dd_streq(json_string_value(json_object_get(us, "type")), "RollingUpdate")) {
            json_t *ru = obj_at(us, "rollingUpdate");
            def_int(ru, "maxUnavailable", 1);
            def_int(ru, "maxSurge", 0);
        }
    }
    template_defaults(spec);
}

static void job_spec_defaults(json_t *spec, const char *uid, const char *name)
{
    def_int(spec, "parallelism", 1);
    if (!json_object_get(spec, "completions"))
        def_int(spec, "completions", 1);
    def_int(spec, "backoffLimit", 6);
    def_str(spec, "completionMode", "NonIndexed");
    def_bool(spec, "suspend", false);
    def_str(spec, "podReplacementPolicy", "TerminatingOrFailed");
    template_defaults(spec);
    if (uid && !json_object_get(spec, "selector") &&
        !json_is_true(json_object_get(spec, "manualSelector"))) {
        json_object_set_new(
            spec, "selector",
            json_pack("{s:{s:s}}", "matchLabels", "batch.kubernetes.io/controller-uid", uid));
        json_t *labels = obj_at(obj_at(json_object_get(spec, "template"), "metadata"), "labels");
        jx_set_str(labels, "batch.kubernetes.io/controller-uid", uid);
        jx_set_str(labels, "controller-uid", uid);
        if (name) { /* as upstream's generateSelector */
            jx_set_str(labels, "batch.kubernetes.io/job-name", name);
            jx_set_str(labels, "job-name", name);
        }
    }
}

static void cronjob_defaults(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    def_str(spec, "concurrencyPolicy", "Allow");
    def_bool(spec, "suspend", false);
    def_int(spec, "successfulJobsHistoryLimit", 3);
    def_int(spec, "failedJobsHistoryLimit", 1);
    json_t *jt = obj_at(spec, "jobTemplate");
    json_t *jspec = obj_at(jt, "spec");
    def_int(jspec, "backoffLimit", 6);
    def_str(jspec, "completionMode", "NonIndexed");
    def_bool(jspec, "suspend", false);
    def_str(jspec, "podReplacementPolicy", "TerminatingOrFailed");
    template_defaults(jspec);
}

/* A CRD is served as soon as it is stored (kres_register_crd runs right after the write), so it
 * reports what upstream's establishing controller would: names accepted, Established, and the
 * storage versions. `kubectl wait --for=condition=Established` and helm's CRD handling read it. */
static void crd_status_defaults(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *status = obj_at(obj, "status");
    json_t *names = json_object_get(spec, "names");
    if (json_is_object(names))
        json_object_set_new(status, "acceptedNames", json_deep_copy(names));
    json_t *stored = json_object_get(status, "storedVersions");
    if (!json_is_array(stored)) {
        stored = json_array();
        json_object_set_new(status, "storedVersions", stored);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "versions"), i, v)
    {
        json_t *name = json_object_get(v, "name");
        bool present = false;
        size_t j;
        json_t *s;
        json_array_foreach(stored, j, s) present = present || json_equal(s, name);
        if (json_is_true(json_object_get(v, "storage")) && json_is_string(name) && !present)
            json_array_append(stored, name);
    }
    json_t *conds = json_object_get(status, "conditions");
    if (json_array_size(conds) > 0)
        return;
    char now[32];
    kobj_now(now);
    json_object_set_new(
        status, "conditions",
        json_pack("[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]", "type", "NamesAccepted",
                  "status", "True", "reason", "NoConflicts", "message", "no conflicts found",
                  "lastTransitionTime", now, "type", "Established", "status", "True", "reason",
                  "InitialNamesAccepted", "message", "the initial names have been accepted",
                  "lastTransitionTime", now));
}

/* Upstream's StorageObjectInUseProtection admission: every new claim and volume carries the
 * protection finalizer its controller lifts once nothing uses it (k3core/controllers/volume.c). */
static void add_finalizer(json_t *obj, const char *name)
{
    json_t *meta = kobj_meta(obj);
    json_t *fins = json_object_get(meta, "finalizers");
    if (!fins)
        json_object_set_new(meta, "finalizers", fins = json_array());
    if (!json_is_array(fins))
        return;
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f)
    {
        if (dd_streq(json_string_value(f), name))
            return;
    }
    json_array_append_new(fins, json_string(name));
}

/* storage.k8s.io/v1 SetDefaults_CSIDriver, with 1.33's default feature gates (CSIInlineVolume,
 * CSIVolumeFSGroupPolicy and SELinuxMountReadWriteOncePod on). */
static void csidriver_defaults(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    def_bool(spec, "attachRequired", true);
    def_bool(spec, "podInfoOnMount", false);
    def_bool(spec, "storageCapacity", false);
    def_str(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType");
    if (json_array_size(json_object_get(spec, "volumeLifecycleModes")) == 0)
        json_object_set_new(spec, "volumeLifecycleModes", json_pack("[s]", "Persistent"));
    def_bool(spec, "requiresRepublish", false);
    def_bool(spec, "seLinuxMount", false);
}

/* flowcontrol.apiserver.k8s.io/v1 (the storage version) SetDefaults_*: matchingPrecedence,
 * queuing parameters are plain int32s (0 means unset); v1's nominalConcurrencyShares is a
 * pointer, so an explicit 0 (a "jail" level) stays, unlike v1beta3's. */
static void flowschema_defaults(json_t *obj)
{
    def_nonzero(obj_at(obj, "spec"), "matchingPrecedence", 1000);
}

static void prioritylevel_defaults(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    json_t *limited = json_object_get(spec, "limited");
    if (json_is_object(limited)) {
        def_int(limited, "nominalConcurrencyShares", 30);
        def_int(limited, "lendablePercent", 0);
        json_t *q = json_object_get(json_object_get(limited, "limitResponse"), "queuing");
        if (json_is_object(q)) {
            def_nonzero(q, "queues", 64);
            def_nonzero(q, "handSize", 8);
            def_nonzero(q, "queueLengthLimit", 50);
        }
    }
    json_t *exempt = json_object_get(spec, "exempt");
    if (json_is_object(exempt)) {
        def_int(exempt, "nominalConcurrencyShares", 0);
        def_int(exempt, "lendablePercent", 0);
    }
}

int kobj_apply_defaults(kobj_api *api, const kres_resource *r, json_t *obj, const json_t *old,
                        kobj_status *st)
{
    const char *g = r->group, *res = r->resource;
    if (!*g && strcmp(res, "pods") == 0 && !old) {
        pod_defaults(obj);
    } else if (!*g && strcmp(res, "pods") == 0) {
        pod_spec_defaults(obj_at(obj, "spec"));
    } else if (strcmp(g, "apps") == 0 && strcmp(res, "controllerrevisions") != 0) {
        workload_defaults(res, obj);
    } else if (!*g && strcmp(res, "replicationcontrollers") == 0) {
        json_t *spec = obj_at(obj, "spec");
        def_int(spec, "replicas", 1);
        template_defaults(spec);
    } else if (strcmp(g, "batch") == 0 && strcmp(res, "jobs") == 0) {
        const char *uid = kobj_meta_str(old ? old : obj, "uid");
        job_spec_defaults(obj_at(obj, "spec"), uid, kobj_meta_str(old ? old : obj, "name"));
    } else if (strcmp(g, "batch") == 0 && strcmp(res, "cronjobs") == 0) {
        cronjob_defaults(obj);
    } else if (!*g && strcmp(res, "services") == 0) {
        return kobj_service_defaults(api, obj, old, st);
    } else if (!*g && strcmp(res, "namespaces") == 0) {
        json_t *spec = obj_at(obj, "spec");
        if (!json_object_get(spec, "finalizers") && !old)
            json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
        def_str(obj_at(obj, "status"), "phase", "Active");
        jx_set_str(obj_at(kobj_meta(obj), "labels"), "kubernetes.io/metadata.name",
                   kobj_meta_str(obj, "name"));
    } else if (!strcmp(g, "autoscaling") && !strcmp(res, "horizontalpodautoscalers")) {
        if (!strcmp(r->version, "v2"))
            kobj_hpa_v2_defaults(obj);
        else
            def_int(obj_at(obj, "spec"), "minReplicas", 1);
    } else if (!*g && strcmp(res, "secrets") == 0) {
        def_str(obj, "type", "Opaque");
    } else if (strcmp(g, "apiextensions.k8s.io") == 0 &&
               strcmp(res, "customresourcedefinitions") == 0) {
        crd_status_defaults(obj);
    } else if (!*g && strcmp(res, "persistentvolumeclaims") == 0) {
        def_str(obj_at(obj, "spec"), "volumeMode", "Filesystem");
        if (!old) {
            def_str(obj_at(obj, "status"), "phase", "Pending");
            add_finalizer(obj, "kubernetes.io/pvc-protection");
        }
    } else if (!*g && strcmp(res, "persistentvolumes") == 0) {
        json_t *spec = obj_at(obj, "spec");
        def_str(spec, "volumeMode", "Filesystem");
        def_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        if (!old) {
            def_str(obj_at(obj, "status"), "phase", "Pending");
            add_finalizer(obj, "kubernetes.io/pv-protection");
        }
    } else if (!strcmp(g, "storage.k8s.io") && !strcmp(res, "csidrivers")) {
        csidriver_defaults(obj);
    } else if (!strcmp(g, "scheduling.k8s.io") && !strcmp(res, "priorityclasses")) {
        def_str(obj, "preemptionPolicy", "PreemptLowerPriority");
    } else if (!strcmp(g, "flowcontrol.apiserver.k8s.io") && !strcmp(res, "flowschemas")) {
        flowschema_defaults(obj);
    } else if (!strcmp(g, "flowcontrol.apiserver.k8s.io") &&
               !strcmp(res, "prioritylevelconfigurations")) {
        prioritylevel_defaults(obj);
    }
    return 0;
}
