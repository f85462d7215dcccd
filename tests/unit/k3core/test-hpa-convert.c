/* Unit tests of the HorizontalPodAutoscaler autoscaling/v1 ↔ v2 conversion
 * (k3core/api/convert-hpa.c): every v2 metric source type goes into the v1 annotation in v1's
 * shape and comes back unchanged, the CPU utilization target maps to
 * targetCPUUtilizationPercentage, status and conditions travel the same way, and v2's defaults
 * fill a spec without metrics. */
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "tests/unit/unit.h"

static const char *const v2_full =
    "{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\","
    "\"metadata\":{\"name\":\"h\",\"namespace\":\"default\"},"
    "\"spec\":{\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"web\"},"
    "\"minReplicas\":2,\"maxReplicas\":9,\"metrics\":["
    "{\"type\":\"Object\",\"object\":{\"describedObject\":{\"kind\":\"Ingress\",\"name\":\"i\"},"
    "\"metric\":{\"name\":\"rps\",\"selector\":{\"matchLabels\":{\"a\":\"b\"}}},"
    "\"target\":{\"type\":\"Value\",\"value\":\"10k\"}}},"
    "{\"type\":\"External\",\"external\":{\"metric\":{\"name\":\"queue\"},"
    "\"target\":{\"type\":\"AverageValue\",\"averageValue\":\"30\"}}},"
    "{\"type\":\"ContainerResource\",\"containerResource\":{\"name\":\"memory\","
    "\"container\":\"app\",\"target\":{\"type\":\"Utilization\",\"averageUtilization\":70}}},"
    "{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\","
    "\"target\":{\"type\":\"Utilization\",\"averageUtilization\":55}}}]},"
    "\"status\":{\"currentReplicas\":3,\"desiredReplicas\":4,\"currentMetrics\":["
    "{\"type\":\"External\",\"external\":{\"metric\":{\"name\":\"queue\"},"
    "\"current\":{\"averageValue\":\"12\"}}},"
    "{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\","
    "\"current\":{\"averageUtilization\":41}}}],"
    "\"conditions\":[{\"type\":\"AbleToScale\",\"status\":\"True\",\"reason\":\"R\"}]}}";

static const char *ann(const json_t *o, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"), key));
}

TEST(hpa_v2_to_v1_shapes)
{
    json_t *v2 = json_loads(v2_full, 0, NULL);
    CHECK(v2 != NULL);
    json_t *v1 = kobj_hpa_v2_to_v1(v2);
    json_t *spec = json_object_get(v1, "spec");
    CHECK_EQ_INT(json_integer_value(json_object_get(spec, "targetCPUUtilizationPercentage")), 55);
    CHECK(json_object_get(spec, "metrics") == NULL);
    CHECK_EQ_STR(ann(v1, "autoscaling.alpha.kubernetes.io/metrics"),
                 "[{\"type\":\"Object\",\"object\":{\"target\":{\"kind\":\"Ingress\",\"name\":"
                 "\"i\"},\"metricName\":\"rps\",\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
                 "\"targetValue\":\"10k\"}},{\"type\":\"External\",\"external\":{\"metricName\":"
                 "\"queue\",\"targetAverageValue\":\"30\"}},{\"type\":\"ContainerResource\","
                 "\"containerResource\":{\"name\":\"memory\",\"container\":\"app\","
                 "\"targetAverageUtilization\":70}}]");
    json_t *st = json_object_get(v1, "status");
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "currentCPUUtilizationPercentage")), 41);
    CHECK(json_object_get(st, "conditions") == NULL);
    CHECK_EQ_STR(ann(v1, "autoscaling.alpha.kubernetes.io/current-metrics"),
                 "[{\"type\":\"External\",\"external\":{\"metricName\":\"queue\","
                 "\"currentAverageValue\":\"12\"}}]");
    CHECK(ann(v1, "autoscaling.alpha.kubernetes.io/conditions") != NULL);
    json_decref(v1);
    json_decref(v2);
}

TEST(hpa_round_trip_keeps_everything)
{
    json_t *v2 = json_loads(v2_full, 0, NULL);
    json_t *v1 = kobj_hpa_v2_to_v1(v2);
    json_t *back = kobj_hpa_v1_to_v2(v1);
    /* metrics and status come back equal (annotation metrics first, then cpu, as upstream) */
    CHECK(json_equal(json_object_get(json_object_get(back, "spec"), "metrics"),
                     json_object_get(json_object_get(v2, "spec"), "metrics")));
    CHECK(json_equal(json_object_get(back, "status"), json_object_get(v2, "status")));
    CHECK(json_object_get(json_object_get(back, "metadata"), "annotations") == NULL);
    json_decref(back);
    json_decref(v1);
    json_decref(v2);
}

TEST(hpa_v1_defaults_in_v2)
{
    json_t *v1 = json_loads("{\"spec\":{\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":"
                            "\"w\"},\"maxReplicas\":3},\"metadata\":{\"name\":\"h\"}}",
                            0, NULL);
    json_t *v2 = kobj_hpa_v1_to_v2(v1);
    json_t *spec = json_object_get(v2, "spec");
    CHECK_EQ_INT(json_integer_value(json_object_get(spec, "minReplicas")), 1);
    json_t *m = json_array_get(json_object_get(spec, "metrics"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(m, "resource"), "name")), "cpu");
    CHECK_EQ_INT(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(m, "resource"), "target"), "averageUtilization")),
        80);
    CHECK(json_object_get(spec, "behavior") == NULL);
    json_decref(v2);
    json_decref(v1);
}

TEST(hpa_behavior_defaults)
{
    json_t *o = json_loads("{\"spec\":{\"maxReplicas\":3,\"behavior\":{\"scaleUp\":"
                           "{\"stabilizationWindowSeconds\":5}}}}",
                           0, NULL);
    kobj_hpa_v2_defaults(o);
    json_t *b = json_object_get(json_object_get(o, "spec"), "behavior");
    json_t *up = json_object_get(b, "scaleUp"), *down = json_object_get(b, "scaleDown");
    CHECK_EQ_INT(json_integer_value(json_object_get(up, "stabilizationWindowSeconds")), 5);
    CHECK_EQ_INT(json_array_size(json_object_get(up, "policies")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(down, "stabilizationWindowSeconds")), 300);
    CHECK_EQ_STR(json_string_value(json_object_get(down, "selectPolicy")), "Max");
    json_decref(o);
}
