/* convert-hpa: HorizontalPodAutoscaler autoscaling/v1 ↔ autoscaling/v2 (the storage version), as
 * upstream's conversion does it, plus v2's defaults.
 *
 * v1 has one target (spec.targetCPUUtilizationPercentage) and one current value
 * (status.currentCPUUtilizationPercentage); v2's other metrics, current metrics, conditions and
 * behavior travel in v1 as JSON annotations (autoscaling.alpha.kubernetes.io/metrics,
 * current-metrics, conditions, behavior) in v1's metric shapes (targetAverageUtilization,
 * metricName, ...). The CPU utilization metric is the first v2 Resource metric on cpu with an
 * averageUtilization target; the annotation's metrics come before it when going back to v2.
 */
#include <string.h>

#include "k3core/api/objects-internal.h"

#define ANN_METRICS    "autoscaling.alpha.kubernetes.io/metrics"
#define ANN_CURRENT    "autoscaling.alpha.kubernetes.io/current-metrics"
#define ANN_CONDITIONS "autoscaling.alpha.kubernetes.io/conditions"
#define ANN_BEHAVIOR   "autoscaling.alpha.kubernetes.io/behavior"

/* Which member of a v2 MetricSpec/MetricStatus holds the source for a metric type. */
static const char *member_of(const char *type)
{
    static const char *const map[][2] = {{"Object", "object"},
                                         {"Pods", "pods"},
                                         {"Resource", "resource"},
                                         {"ContainerResource", "containerResource"},
                                         {"External", "external"}};
    for (size_t i = 0; type && i < DD_ARRAY_SIZE(map); i++)
        if (!strcmp(type, map[i][0]))
            return map[i][1];
    return NULL;
}

static void copy_key(json_t *to, const char *tkey, const json_t *from, const char *fkey)
{
    json_t *v = json_object_get(from, fkey);
    if (v && !json_is_null(v))
        json_object_set(to, tkey, v);
}

/* ---- metrics: v1 (annotation) shape → v2 ---- */

/* v1 targetValue/targetAverageValue/targetAverageUtilization (or current*) → v2 MetricTarget
 * (or MetricValueStatus when status). */
static json_t *v2_value(const json_t *s, bool status, const char *value_key,
                        const char *avg_value_key, const char *util_key)
{
    json_t *t = json_object();
    const json_t *util = util_key ? json_object_get(s, util_key) : NULL;
    const json_t *avg = avg_value_key ? json_object_get(s, avg_value_key) : NULL;
    const json_t *val = value_key ? json_object_get(s, value_key) : NULL;
    if (util && !json_is_null(util)) {
        if (!status)
            json_object_set_new(t, "type", json_string("Utilization"));
        json_object_set(t, "averageUtilization", (json_t *)util);
    }
    if (avg && !json_is_null(avg)) {
        if (!status && !json_object_get(t, "type"))
            json_object_set_new(t, "type", json_string("AverageValue"));
        json_object_set(t, "averageValue", (json_t *)avg);
    }
    if (val && !json_is_null(val)) {
        if (!status && !json_object_get(t, "type"))
            json_object_set_new(t, "type", json_string("Value"));
        json_object_set(t, "value", (json_t *)val);
    }
    return t;
}

static json_t *identifier(const json_t *s, const char *name_key, const char *sel_key)
{
    json_t *m = json_object();
    copy_key(m, "name", s, name_key);
    copy_key(m, "selector", s, sel_key);
    return m;
}

/* One v1 MetricSpec (status: MetricStatus) → v2. */
static json_t *metric_to_v2(const json_t *m, bool status)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *mem = member_of(type);
    const json_t *s = mem ? json_object_get(m, mem) : NULL;
    json_t *out = json_pack("{s:s}", "type", type ? type : "");
    if (!s)
        return out;
    const char *tk = status ? "current" : "target";
    json_t *src = json_object();
    if (!strcmp(mem, "resource") || !strcmp(mem, "containerResource")) {
        copy_key(src, "name", s, "name");
        if (!strcmp(mem, "containerResource"))
            copy_key(src, "container", s, "container");
        json_object_set_new(
            src, tk,
            status ? v2_value(s, true, NULL, "currentAverageValue", "currentAverageUtilization")
                   : v2_value(s, false, NULL, "targetAverageValue", "targetAverageUtilization"));
    } else if (!strcmp(mem, "pods")) {
        json_object_set_new(src, "metric", identifier(s, "metricName", "selector"));
        json_object_set_new(
            src, tk,
            v2_value(s, status, NULL, status ? "currentAverageValue" : "targetAverageValue", NULL));
    } else if (!strcmp(mem, "object")) {
        copy_key(src, "describedObject", s, "target");
        json_object_set_new(src, "metric", identifier(s, "metricName", "selector"));
        json_object_set_new(
            src, tk,
            v2_value(s, status, status ? "currentValue" : "targetValue", "averageValue", NULL));
    } else {
        json_object_set_new(src, "metric", identifier(s, "metricName", "metricSelector"));
        json_object_set_new(src, tk,
                            status ? v2_value(s, true, "currentValue", "currentAverageValue", NULL)
                                   : v2_value(s, false, "targetValue", "targetAverageValue", NULL));
    }
    json_object_set_new(out, mem, src);
    return out;
}

/* ---- metrics: v2 → v1 (annotation) shape ---- */

static void v1_value(json_t *to, const json_t *t, const char *value_key, const char *avg_value_key,
                     const char *util_key)
{
    if (value_key)
        copy_key(to, value_key, t, "value");
    if (avg_value_key)
        copy_key(to, avg_value_key, t, "averageValue");
    if (util_key)
        copy_key(to, util_key, t, "averageUtilization");
}

static json_t *metric_to_v1(const json_t *m, bool status)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *mem = member_of(type);
    const json_t *s = mem ? json_object_get(m, mem) : NULL;
    json_t *out = json_pack("{s:s}", "type", type ? type : "");
    if (!s)
        return out;
    const json_t *t = json_object_get(s, status ? "current" : "target");
    const json_t *id = json_object_get(s, "metric");
    json_t *dst = json_object();
    if (!strcmp(mem, "resource") || !strcmp(mem, "containerResource")) {
        copy_key(dst, "name", s, "name");
        if (!strcmp(mem, "containerResource"))
            copy_key(dst, "container", s, "container");
        v1_value(dst, t, NULL, status ? "currentAverageValue" : "targetAverageValue",
                 status ? "currentAverageUtilization" : "targetAverageUtilization");
    } else if (!strcmp(mem, "pods")) {
        copy_key(dst, "metricName", id, "name");
        copy_key(dst, "selector", id, "selector");
        v1_value(dst, t, NULL, status ? "currentAverageValue" : "targetAverageValue", NULL);
    } else if (!strcmp(mem, "object")) {
        copy_key(dst, "target", s, "describedObject");
        copy_key(dst, "metricName", id, "name");
        copy_key(dst, "selector", id, "selector");
        v1_value(dst, t, status ? "currentValue" : "targetValue", "averageValue", NULL);
    } else {
        copy_key(dst, "metricName", id, "name");
        copy_key(dst, "metricSelector", id, "selector");
        v1_value(dst, t, status ? "currentValue" : "targetValue",
                 status ? "currentAverageValue" : "targetAverageValue", NULL);
    }
    json_object_set_new(out, mem, dst);
    return out;
}

/* The v2 cpu utilization metric (spec) or current value (status). */
static const json_t *cpu_utilization(const json_t *m, bool status)
{
    const json_t *r = json_object_get(m, "resource");
    if (!dd_streq(json_string_value(json_object_get(m, "type")), "Resource") ||
        !dd_streq(json_string_value(json_object_get(r, "name")), "cpu"))
        return NULL;
    const json_t *u =
        json_object_get(json_object_get(r, status ? "current" : "target"), "averageUtilization");
    return json_is_integer(u) ? u : NULL;
}

/* ---- annotations ---- */

static json_t *take_annotation(json_t *meta, const char *key)
{
    json_t *ann = json_object_get(meta, "annotations");
    const char *s = json_string_value(json_object_get(ann, key));
    json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    json_object_del(ann, key);
    if (ann && !json_object_size(ann))
        json_object_del(meta, "annotations");
    return v;
}

static void put_annotation(json_t *meta, const char *key, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_t *ann = json_object_get(meta, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(meta, "annotations", ann);
    }
    json_object_set_new(ann, key, json_string(s ? s : "null"));
    free(s);
}

/* ---- v2 defaults ---- */

static json_t *policy(const char *type, int value, int period)
{
    return json_pack("{s:s,s:i,s:i}", "type", type, "value", value, "periodSeconds", period);
}

void kobj_hpa_v2_defaults(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "minReplicas"))
        json_object_set_new(spec, "minReplicas", json_integer(1));
    if (!json_array_size(json_object_get(spec, "metrics")))
        json_object_set_new(spec, "metrics",
                            json_pack("[{s:s,s:{s:s,s:{s:s,s:i}}}]", "type", "Resource", "resource",
                                      "name", "cpu", "target", "type", "Utilization",
                                      "averageUtilization", 80));
    json_t *b = json_object_get(spec, "behavior");
    if (!json_is_object(b))
        return;
    /* upstream fills an explicit behavior's missing rules */
    static const char *const dirs[] = {"scaleUp", "scaleDown"};
    for (int i = 0; i < 2; i++) {
        json_t *r = json_object_get(b, dirs[i]);
        if (!json_is_object(r)) {
            r = json_object();
            json_object_set_new(b, dirs[i], r);
        }
        if (!json_object_get(r, "selectPolicy"))
            json_object_set_new(r, "selectPolicy", json_string("Max"));
        if (!json_object_get(r, "stabilizationWindowSeconds"))
            json_object_set_new(r, "stabilizationWindowSeconds", json_integer(i ? 300 : 0));
        if (!json_array_size(json_object_get(r, "policies")))
            json_object_set_new(
                r, "policies",
                i ? json_pack("[o]", policy("Percent", 100, 15))
                  : json_pack("[o,o]", policy("Pods", 4, 15), policy("Percent", 100, 15)));
    }
}

/* ---- whole objects ---- */

static json_t *convert_list(const json_t *arr, bool status, bool to_v2)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        json_array_append_new(out, to_v2 ? metric_to_v2(m, status) : metric_to_v1(m, status));
    }
    return out;
}

json_t *kobj_hpa_v1_to_v2(const json_t *obj)
{
    json_t *out = json_deep_copy(obj);
    json_t *meta = kobj_meta(out);
    json_t *spec = json_object_get(out, "spec");
    json_t *ann_metrics = take_annotation(meta, ANN_METRICS);
    json_t *ann_current = take_annotation(meta, ANN_CURRENT);
    json_t *ann_conds = take_annotation(meta, ANN_CONDITIONS);
    json_t *ann_behavior = take_annotation(meta, ANN_BEHAVIOR);
    if (json_is_object(spec)) {
        json_t *metrics = convert_list(ann_metrics, false, true);
        json_t *cpu = json_object_get(spec, "targetCPUUtilizationPercentage");
        if (json_is_integer(cpu))
            json_array_append_new(metrics,
                                  json_pack("{s:s,s:{s:s,s:{s:s,s:O}}}", "type", "Resource",
                                            "resource", "name", "cpu", "target", "type",
                                            "Utilization", "averageUtilization", cpu));
        json_object_del(spec, "targetCPUUtilizationPercentage");
        if (json_array_size(metrics))
            json_object_set(spec, "metrics", metrics);
        json_decref(metrics);
        if (json_is_object(ann_behavior))
            json_object_set(spec, "behavior", ann_behavior);
    }
    json_t *status = json_object_get(out, "status");
    if (json_is_object(status)) {
        json_t *cur = convert_list(ann_current, true, true);
        json_t *cpu = json_object_get(status, "currentCPUUtilizationPercentage");
        if (json_is_integer(cpu))
            json_array_append_new(cur,
                                  json_pack("{s:s,s:{s:s,s:{s:O}}}", "type", "Resource", "resource",
                                            "name", "cpu", "current", "averageUtilization", cpu));
        json_object_del(status, "currentCPUUtilizationPercentage");
        if (json_array_size(cur))
            json_object_set(status, "currentMetrics", cur);
        json_decref(cur);
        if (json_is_array(ann_conds))
            json_object_set(status, "conditions", ann_conds);
    }
    json_decref(ann_metrics), json_decref(ann_current), json_decref(ann_conds);
    json_decref(ann_behavior);
    kobj_hpa_v2_defaults(out);
    return out;
}

/* v2 metrics (status: current metrics) → v1: the first CPU utilization one becomes
 * obj.targetCPUUtilizationPercentage (currentCPUUtilizationPercentage), the others go to the
 * annotation in v1's shape. */
static void split_metrics(json_t *meta, json_t *obj, const json_t *list, bool status)
{
    const char *cpu_key =
        status ? "currentCPUUtilizationPercentage" : "targetCPUUtilizationPercentage";
    json_t *other = json_array(), *m;
    size_t i;
    json_array_foreach(list, i, m)
    {
        const json_t *u = cpu_utilization(m, status);
        if (u && !json_object_get(obj, cpu_key))
            json_object_set(obj, cpu_key, (json_t *)u);
        else
            json_array_append_new(other, metric_to_v1(m, status));
    }
    if (json_array_size(other))
        put_annotation(meta, status ? ANN_CURRENT : ANN_METRICS, other);
    json_decref(other);
}

json_t *kobj_hpa_v2_to_v1(const json_t *obj)
{
    json_t *out = json_deep_copy(obj);
    json_t *meta = kobj_meta(out);
    json_t *spec = json_object_get(out, "spec");
    if (json_is_object(spec)) {
        split_metrics(meta, spec, json_object_get(spec, "metrics"), false);
        json_t *b = json_object_get(spec, "behavior");
        if (b && !json_is_null(b))
            put_annotation(meta, ANN_BEHAVIOR, b);
        json_object_del(spec, "metrics");
        json_object_del(spec, "behavior");
    }
    json_t *status = json_object_get(out, "status");
    if (json_is_object(status)) {
        split_metrics(meta, status, json_object_get(status, "currentMetrics"), true);
        json_t *conds = json_object_get(status, "conditions");
        if (json_array_size(conds))
            put_annotation(meta, ANN_CONDITIONS, conds);
        json_object_del(status, "currentMetrics");
        json_object_del(status, "conditions");
    }
    return out;
}
