/* Unit tests of the scheduler's filters and summary message (k3core/scheduler/predicates.c). */
#include "k3core/scheduler/scheduler.h"
#include "tests/unit/unit.h"

static json_t *js(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        unit_fail(__FILE__, __LINE__, "bad JSON %s", text);
    return v;
}

static json_t *node(void)
{
    return js("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"disk\":\"ssd\",\"zone\":\"a\","
              "\"gen\":\"5\"}},\"spec\":{\"taints\":[{\"key\":\"k\",\"value\":\"v\","
              "\"effect\":\"NoSchedule\"},{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"}]},"
              "\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":\"1Gi\",\"pods\":\"3\"}}}");
}

/* The filter's verdict for a pod spec on node(), with the given bound pods. */
static char *verdict(const char *spec, const char *bound)
{
    _cleanup_free_ char *text = dd_asprintf("{\"spec\":%s}", spec);
    json_t *pod = js(text), *n = node(), *b = js(bound ? bound : "[]");
    char *why = ksched_filter(pod, n, b);
    json_decref(pod), json_decref(n), json_decref(b);
    return why;
}

#define TOL "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Equal\",\"value\":\"v\"}]"

TEST(scheduler_taints)
{
    char *w = verdict("{}", NULL);
    CHECK_EQ_STR(w, "node(s) had untolerated taint {k: v}");
    free(w);
    CHECK(verdict("{" TOL "}", NULL) == NULL);
    CHECK(verdict("{\"tolerations\":[{\"operator\":\"Exists\"}]}", NULL) == NULL);
    w = verdict("{\"tolerations\":[{\"key\":\"k\",\"value\":\"x\"}]}", NULL);
    CHECK(w != NULL);
    free(w);
}

TEST(scheduler_selector_affinity)
{
    CHECK(verdict("{" TOL ",\"nodeSelector\":{\"disk\":\"ssd\"}}", NULL) == NULL);
    char *w = verdict("{" TOL ",\"nodeSelector\":{\"disk\":\"hdd\"}}", NULL);
    CHECK_EQ_STR(w, "node(s) didn't match Pod's node affinity/selector");
    free(w);
#define AFF(e)                                                                                     \
    "{" TOL ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":" \
    "{\"nodeSelectorTerms\":[{\"matchExpressions\":[" e "]}]}}}}"
    CHECK(verdict(AFF("{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]}"), NULL) ==
          NULL);
    CHECK(verdict(AFF("{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"b\"]}"), NULL) ==
          NULL);
    CHECK(verdict(AFF("{\"key\":\"disk\",\"operator\":\"Exists\"}"), NULL) == NULL);
    CHECK(verdict(AFF("{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}"), NULL) == NULL);
    CHECK(verdict(AFF("{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"4\"]}"), NULL) == NULL);
    w = verdict(AFF("{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\"]}"), NULL);
    CHECK(w != NULL);
    free(w);
    w = verdict(AFF("{\"key\":\"disk\",\"operator\":\"DoesNotExist\"}"), NULL);
    CHECK(w != NULL);
    free(w);
}

TEST(scheduler_resources)
{
    const char *big =
        "{" TOL ",\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1500m\"}}}]}";
    CHECK(verdict(big, NULL) == NULL);
    _cleanup_free_ char *bound = dd_asprintf("[{\"spec\":%s}]", big);
    char *w = verdict(big, bound);
    CHECK_EQ_STR(w, "Insufficient cpu");
    free(w);
    const char *mem =
        "{" TOL ",\"containers\":[{\"resources\":{\"requests\":{\"memory\":\"2Gi\"}}}]}";
    w = verdict(mem, NULL);
    CHECK_EQ_STR(w, "Insufficient memory");
    free(w);
    w = verdict("{" TOL "}", "[{},{},{}]");
    CHECK_EQ_STR(w, "Too many pods");
    free(w);
    /* finished pods do not count */
    CHECK(verdict("{" TOL "}", "[{\"status\":{\"phase\":\"Succeeded\"}},{},{}]") == NULL);
    /* a sidecar (init container with restartPolicy Always) runs beside the containers: 1200m +
     * 900m does not fit 2 CPUs; a plain init container of 900m only needs the max */
#define REQ(cpu) "\"resources\":{\"requests\":{\"cpu\":\"" cpu "\"}}"
    w = verdict("{" TOL ",\"initContainers\":[{\"restartPolicy\":\"Always\"," REQ(
                    "900m") "}],"
                            "\"containers\":[{" REQ("1200m") "}]}",
                NULL);
    CHECK_EQ_STR(w, "Insufficient cpu");
    free(w);
    CHECK(verdict("{" TOL
                  ",\"initContainers\":[{" REQ("900m") "}],\"containers\":[{" REQ("1200m") "}]}",
                  NULL) == NULL);
    /* an init container after a sidecar runs beside it: 1100m + 1000m */
    w = verdict("{" TOL ",\"initContainers\":[{\"restartPolicy\":\"Always\"," REQ(
                    "1100m") "},{" REQ("1000m") "}],\"containers\":[{" REQ("100m") "}]}",
                NULL);
    CHECK_EQ_STR(w, "Insufficient cpu");
    free(w);
#undef REQ
}

TEST(scheduler_unschedulable_and_summary)
{
    json_t *pod = js("{\"spec\":{}}");
    json_t *n = js("{\"spec\":{\"unschedulable\":true}}");
    char *w = ksched_check_unschedulable(pod, n);
    CHECK_EQ_STR(w, "node(s) were unschedulable");
    free(w);
    json_decref(pod), json_decref(n);
    char aff[] = "node(s) didn't match Pod's node affinity/selector", cpu[] = "Insufficient cpu";
    char *r1[] = {aff};
    char *s = ksched_summary(r1, 1);
    CHECK_EQ_STR(s, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
                    "preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
                    "scheduling.");
    free(s);
    char *r3[] = {cpu, NULL, cpu};
    s = ksched_summary(r3, 3);
    CHECK(strstr(s, "1/3 nodes are available: 2 Insufficient cpu.") == s);
    free(s);
}

TEST(scheduler_volume_node_affinity)
{
    json_t *n = node();
    json_t *vols =
        js("{\"unbound\":null,\"here\":{\"spec\":{\"nodeAffinity\":{\"required\":{"
           "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
           "\"values\":[\"a\"]}]}]}}}}}");
    CHECK(ksched_check_volumes(vols, n) == NULL);
    json_object_set_new(vols, "elsewhere",
                        js("{\"spec\":{\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":"
                           "[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
                           "\"values\":[\"z\"]}]}]}}}}"));
    char *w = ksched_check_volumes(vols, n);
    CHECK_EQ_STR(w, "node(s) had volume node affinity conflict");
    free(w);
    json_object_clear(vols);
    json_object_set_new(vols, "gone", json_string("persistentvolumeclaim \"gone\" not found"));
    w = ksched_check_volumes(vols, n);
    CHECK_EQ_STR(w, "persistentvolumeclaim \"gone\" not found");
    free(w);
    json_decref(vols);
    json_decref(n);
}

#define PORTS(p) "{" TOL ",\"containers\":[{\"name\":\"c\",\"ports\":[" p "]}]}"
#define BOUND(p) "[{\"spec\":{\"containers\":[{\"ports\":[" p "]}]}}]"

TEST(scheduler_host_ports)
{
    const char *want = "node(s) didn't have free ports for the requested pod ports";
    char *w = verdict(PORTS("{\"containerPort\":80,\"hostPort\":8080}"),
                      BOUND("{\"containerPort\":81,\"hostPort\":8080}"));
    CHECK_EQ_STR(w, want);
    free(w);
    /* another protocol, another port, or distinct host IPs do not conflict */
    CHECK(verdict(PORTS("{\"containerPort\":80,\"hostPort\":8080,\"protocol\":\"UDP\"}"),
                  BOUND("{\"containerPort\":81,\"hostPort\":8080}")) == NULL);
    CHECK(verdict(PORTS("{\"containerPort\":80,\"hostPort\":8081}"),
                  BOUND("{\"containerPort\":81,\"hostPort\":8080}")) == NULL);
    CHECK(verdict(PORTS("{\"containerPort\":80,\"hostPort\":8080,\"hostIP\":\"10.0.0.1\"}"),
                  BOUND("{\"hostPort\":8080,\"hostIP\":\"10.0.0.2\"}")) == NULL);
    /* a wildcard address overlaps every address; container ports alone never conflict */
    w = verdict(PORTS("{\"containerPort\":80,\"hostPort\":8080,\"hostIP\":\"10.0.0.1\"}"),
                BOUND("{\"hostPort\":8080,\"hostIP\":\"0.0.0.0\"}"));
    CHECK_EQ_STR(w, want);
    free(w);
    CHECK(verdict(PORTS("{\"containerPort\":80}"), BOUND("{\"containerPort\":80}")) == NULL);
    /* a finished pod frees its ports */
    CHECK(verdict(PORTS("{\"hostPort\":8080}"),
                  "[{\"spec\":{\"containers\":[{\"ports\":[{\"hostPort\":8080}]}]},"
                  "\"status\":{\"phase\":\"Succeeded\"}}]") == NULL);
}
