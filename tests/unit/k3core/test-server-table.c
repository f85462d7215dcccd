/* Unit tests of the Table cells (k3core/server/table*.c) for kinds whose text upstream composes
 * from several fields: HPA targets (formatHPAMetrics, v1 objects), label selectors, resource
 * quotas, endpoints and endpoint slices, jobs, pod READY/STATUS/RESTARTS with init containers and
 * sidecars, CSI drivers, IP addresses, flow schema order and the default NAME / CREATED AT table of
 * built-in kinds without a printer. */
#include "k3core/server/server-internal.h"
#include "tests/unit/unit.h"

/* The cell under column `col` of the first row of obj's table as (group, version, resource). */
static char *cell(const char *g, const char *v, const char *res, const char *json, const char *col)
{
    const kres_resource *r = kres_lookup(g, v, res);
    json_t *obj = json_loads(json, 0, NULL);
    if (!r || !obj)
        return dd_strdup("<bad test input>");
    json_t *t = ksrv_table(r, obj, "v1", NULL, false);
    json_t *defs = json_object_get(t, "columnDefinitions"), *d;
    json_t *cells = json_object_get(json_array_get(json_object_get(t, "rows"), 0), "cells");
    size_t i;
    char *out = dd_strdup("<no such column>");
    json_array_foreach(defs, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "name")), col))
            continue;
        json_t *c = json_array_get(cells, i);
        free(out);
        out = json_is_string(c) ? dd_strdup(json_string_value(c))
                                : json_dumps(c, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    json_decref(t);
    json_decref(obj);
    return out;
}

#define CHECK_CELL(g, v, res, json, col, want)                                                     \
    do {                                                                                           \
        char *got_ = cell(g, v, res, json, col);                                                   \
        CHECK_EQ_STR(got_, want);                                                                  \
        free(got_);                                                                                \
    } while (0)

#define HPA(metrics, current)                                                                      \
    "{\"apiVersion\":\"autoscaling/"                                                               \
    "v2\",\"metadata\":{\"name\":\"h\"},\"spec\":{\"maxReplicas\":3,"                              \
    "\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"web\"},\"metrics\":" metrics           \
    "},\"status\":{\"currentMetrics\":" current "}}"

TEST(table_hpa_targets)
{
    CHECK_CELL("autoscaling", "v2", "horizontalpodautoscalers", HPA("[]", "[]"), "Targets",
               "<none>");
    /* resource utilization with and without a current value, an average value, <auto> */
    CHECK_CELL("autoscaling", "v2", "horizontalpodautoscalers",
               HPA("[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"target\":{"
                   "\"averageUtilization\":50}}}]",
                   "[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"current\":{"
                   "\"averageUtilization\":12}}}]"),
               "Targets", "cpu: 12%/50%");
    CHECK_CELL("autoscaling", "v2", "horizontalpodautoscalers",
               HPA("[{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"target\":{}}},"
                   "{\"type\":\"ContainerResource\",\"containerResource\":{\"name\":\"cpu\","
                   "\"container\":\"app\",\"target\":{\"averageValue\":\"500m\"}}}]",
                   "[]"),
               "Targets", "memory: <unknown>/<auto>, cpu: <unknown>/500m");
    /* external and object: (avg) targets, plain values; a status without the value is <nil> */
    CHECK_CELL("autoscaling", "v2", "horizontalpodautoscalers",
               HPA("[{\"type\":\"External\",\"external\":{\"target\":{\"averageValue\":\"30\"}}},"
                   "{\"type\":\"Object\",\"object\":{\"target\":{\"value\":\"2k\"}}}]",
                   "[{\"type\":\"External\",\"external\":{\"current\":{\"averageValue\":\"7\"}}},"
                   "{\"type\":\"Object\",\"object\":{\"current\":{}}}]"),
               "Targets", "7/30 (avg), <nil>/2k");
    /* more than two metrics, an unknown type */
    CHECK_CELL("autoscaling", "v2", "horizontalpodautoscalers",
               HPA("[{\"type\":\"Pods\",\"pods\":{\"target\":{\"averageValue\":\"1\"}}},"
                   "{\"type\":\"Odd\"},{\"type\":\"Odd\"},{\"type\":\"Odd\"}]",
                   "[]"),
               "Targets", "<unknown>/1, <unknown type> + 2 more...");
    /* autoscaling/v1, converted to v2 with its defaults: the CPU target, 80% when unset;
     * minReplicas 1 */
    const char *v1 = "{\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"h\"},\"spec\":{"
                     "\"maxReplicas\":4,\"scaleTargetRef\":{\"kind\":\"Deployment\","
                     "\"name\":\"web\"}},\"status\":{\"currentCPUUtilizationPercentage\":7,"
                     "\"currentReplicas\":2}}";
    CHECK_CELL("autoscaling", "v1", "horizontalpodautoscalers", v1, "Targets", "cpu: 7%/80%");
    CHECK_CELL("autoscaling", "v1", "horizontalpodautoscalers", v1, "MinPods", "1");
    CHECK_CELL("autoscaling", "v1", "horizontalpodautoscalers", v1, "Replicas", "2");
    CHECK_CELL("autoscaling", "v1", "horizontalpodautoscalers", v1, "Reference", "Deployment/web");
}

TEST(table_selectors_and_lists)
{
    CHECK_CELL("networking.k8s.io", "v1", "networkpolicies",
               "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"podSelector\":{\"matchLabels\":{"
               "\"b\":\"2\",\"a\":\"1\"},\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
               "\"NotIn\",\"values\":[\"z\",\"y\"]},{\"key\":\"0\",\"operator\":\"Exists\"}]}}}",
               "Pod-Selector", "0,a=1,a notin (y,z),b=2");
    CHECK_CELL("networking.k8s.io", "v1", "networkpolicies",
               "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"podSelector\":{\"matchExpressions\":[{"
               "\"key\":\"a\",\"operator\":\"Near\"}]}}}",
               "Pod-Selector", "<error>");
    CHECK_CELL("", "v1", "resourcequotas",
               "{\"metadata\":{\"name\":\"q\"},\"status\":{\"hard\":{\"limits.memory\":\"1Gi\","
               "\"cpu\":\"2\",\"limits.cpu\":\"1\"},\"used\":{\"cpu\":\"100m\"}}}",
               "Limit", "limits.cpu: 0/1, limits.memory: 0/1Gi");
    CHECK_CELL("", "v1", "resourcequotas", "{\"metadata\":{\"name\":\"q\"}}", "Request", "");
    CHECK_CELL("discovery.k8s.io", "v1", "endpointslices",
               "{\"metadata\":{\"name\":\"e\"},\"ports\":[{\"port\":80},{\"name\":\"x\"},{}]}",
               "Ports", "80,x,*");
    CHECK_CELL("discovery.k8s.io", "v1", "endpointslices", "{\"metadata\":{\"name\":\"e\"}}",
               "Endpoints", "<unset>");
    CHECK_CELL("storage.k8s.io", "v1", "csidrivers",
               "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"tokenRequests\":[{\"audience\":"
               "\"a\"},{\"audience\":\"b\"}],\"volumeLifecycleModes\":[\"Persistent\","
               "\"Ephemeral\"]}}",
               "TokenRequests", "a,b");
    /* label maps sorted (labels.FormatLabels), workload selectors with expressions */
    CHECK_CELL("", "v1", "services",
               "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"selector\":{\"z\":\"1\","
               "\"a\":\"2\"}}}",
               "Selector", "a=2,z=1");
    CHECK_CELL("apps", "v1", "replicasets",
               "{\"metadata\":{\"name\":\"r\"},\"spec\":{\"selector\":{\"matchLabels\":{"
               "\"app\":\"w\"},\"matchExpressions\":[{\"key\":\"env\",\"operator\":"
               "\"In\",\"values\":[\"prod\"]}]}}}",
               "Selector", "app=w,env in (prod)");
    CHECK_CELL("batch", "v1", "cronjobs", "{\"metadata\":{\"name\":\"c\"}}", "Selector", "<none>");
    /* endpoints: every port of every subset, IPv6 in brackets, bare IPs without ports */
    CHECK_CELL("", "v1", "endpoints",
               "{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":"
               "\"10.0.0.1\"},{\"ip\":\"fd00::1\"}],\"ports\":[{\"port\":80},{\"port\":"
               "443}]},{\"addresses\":[{\"ip\":\"10.0.0.9\"}]}]}",
               "Endpoints", "10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 2 more...");
    CHECK_CELL("", "v1", "endpoints",
               "{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":"
               "\"10.0.0.9\"}]}]}",
               "Endpoints", "10.0.0.9");
    CHECK_CELL("", "v1", "endpoints", "{\"metadata\":{\"name\":\"e\"}}", "Endpoints", "<none>");
    /* jobs: parallel without completions, the first condition of a type counts */
    CHECK_CELL("batch", "v1", "jobs",
               "{\"metadata\":{\"name\":\"j\"},\"spec\":{\"parallelism\":3},"
               "\"status\":{\"succeeded\":1}}",
               "Completions", "1/1 of 3");
    CHECK_CELL("batch", "v1", "jobs",
               "{\"metadata\":{\"name\":\"j\"},\"status\":{\"conditions\":[{\"type\":"
               "\"FailureTarget\",\"status\":\"True\"},{\"type\":\"Failed\",\"status\":"
               "\"True\"}]}}",
               "Status", "Failed");
    CHECK_CELL("networking.k8s.io", "v1", "ipaddresses",
               "{\"metadata\":{\"name\":\"10.43.0.1\"},\"spec\":{\"parentRef\":{\"group\":\"\","
               "\"resource\":\"Services\",\"namespace\":\"default\",\"name\":\"kubernetes\"}}}",
               "ParentRef", "services/default/kubernetes");
}

TEST(table_default_and_order)
{
    /* roles have no printer upstream: the generic table */
    const char *role = "{\"metadata\":{\"name\":\"r\",\"creationTimestamp\":"
                       "\"2026-01-02T03:04:05Z\"}}";
    CHECK_CELL("rbac.authorization.k8s.io", "v1", "roles", role, "Created At",
               "2026-01-02T03:04:05Z");
    /* flow schemas list by matching precedence (stored defaulted to 1000), then name */
    const kres_resource *r = kres_lookup("flowcontrol.apiserver.k8s.io", "v1", "flowschemas");
    CHECK(r != NULL);
    json_t *list =
        json_loads("{\"items\":[{\"metadata\":{\"name\":\"c\"},\"spec\":{"
                   "\"matchingPrecedence\":1000}},"
                   "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"matchingPrecedence\":1000}},"
                   "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"matchingPrecedence\":2000}},"
                   "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"matchingPrecedence\":10}}]}",
                   0, NULL);
    json_t *t = ksrv_table(r, list, "v1", "None", true);
    json_t *rows = json_object_get(t, "rows");
    const char *want[] = {"d", "b", "c", "a"};
    CHECK_EQ_INT(json_array_size(rows), 4);
    for (size_t i = 0; i < 4 && i < json_array_size(rows); i++)
        CHECK_EQ_STR(
            json_string_value(json_array_get(json_object_get(json_array_get(rows, i), "cells"), 0)),
            want[i]);
    json_decref(t);
    json_decref(list);
}

#define POD(init_specs, init_statuses, statuses, extra)                                            \
    "{\"metadata\":{\"name\":\"p\"" extra "},\"spec\":{\"containers\":[{\"name\":\"app\"}],"       \
    "\"initContainers\":" init_specs "},\"status\":{\"phase\":\"Pending\","                        \
    "\"initContainerStatuses\":" init_statuses ",\"containerStatuses\":" statuses "}}"

TEST(table_pod_init_and_sidecars)
{
    char *got;
#define STATUS(json, want)                                                                         \
    got = cell("", "v1", "pods", json, "Status");                                                  \
    CHECK_EQ_STR(got, want);                                                                       \
    free(got)
    STATUS(POD("[{\"name\":\"i1\"},{\"name\":\"i2\"}]",
               "[{\"name\":\"i1\",\"state\":{\"terminated\":{\"exitCode\":0}}},"
               "{\"name\":\"i2\",\"state\":{\"waiting\":{\"reason\":\"PodInitializing\"}}}]",
               "[]", ""),
           "Init:1/2");
    STATUS(POD("[{\"name\":\"i1\"}]",
               "[{\"name\":\"i1\",\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]", "[]",
               ""),
           "Init:ErrImagePull");
    STATUS(POD("[{\"name\":\"i1\"}]",
               "[{\"name\":\"i1\",\"restartCount\":3,\"state\":{\"terminated\":{\"exitCode\":2}}}]",
               "[]", ""),
           "Init:ExitCode:2");
    /* a started sidecar counts as a container; a deleted pod is Terminating */
    const char *side =
        POD("[{\"name\":\"s\",\"restartPolicy\":\"Always\"}]",
            "[{\"name\":\"s\",\"started\":true,\"ready\":true,\"restartCount\":1,"
            "\"state\":{\"running\":{}}}]",
            "[{\"name\":\"app\",\"ready\":true,\"restartCount\":2,\"state\":{\"running\":{}}}]",
            ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"");
    CHECK_CELL("", "v1", "pods", side, "Ready", "2/2");
    CHECK_CELL("", "v1", "pods", side, "Restarts", "3");
    STATUS(side, "Terminating");
    /* scheduling gates */
    STATUS("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]},"
           "\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
           "\"status\":\"False\",\"reason\":\"SchedulingGated\"}]}}",
           "SchedulingGated");
#undef STATUS
}
