/* Unit tests of the pure half of probes and hooks (k3core/kubelet/probespec.c): parsing with
 * upstream's defaults and named ports, the success/failure threshold state machine, the HTTP
 * request and status line; and qosClass (k3core/kubelet/podspec.c). */
#include "k3core/kubelet/podspec.h"
#include "k3core/kubelet/probespec.h"
#include "tests/unit/unit.h"

static json_t *js(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        unit_fail(__FILE__, __LINE__, "bad JSON %s", text);
    return v;
}

static const char *ctr_json = "{\"name\":\"web\",\"ports\":[{\"name\":\"http\",\"containerPort\":"
                              "8080},{\"name\":\"admin\",\"containerPort\":9000}]}";

TEST(kubelet_probe_parse_defaults)
{
    json_t *ctr = js(ctr_json);
    json_t *p = js("{\"httpGet\":{\"port\":\"admin\",\"path\":\"healthz\",\"httpHeaders\":"
                   "[{\"name\":\"X-A\",\"value\":\"1\"}]}}");
    struct kpr_probe pr;
    dd_err e = {0};
    CHECK_EQ_INT(kpr_probe_parse(p, ctr, &pr, &e), 0);
    CHECK_EQ_INT(pr.h.action, KPR_HTTP);
    CHECK_EQ_INT(pr.h.port, 9000);
    CHECK_EQ_STR(pr.h.path, "/healthz");
    CHECK_EQ_STR(pr.h.headers[0], "X-A: 1");
    CHECK(!pr.h.https && !pr.h.host);
    CHECK_EQ_INT(pr.initial_delay, 0);
    CHECK_EQ_INT(pr.period, 10);
    CHECK_EQ_INT(pr.timeout, 1);
    CHECK_EQ_INT(pr.success_threshold, 1);
    CHECK_EQ_INT(pr.failure_threshold, 3);
    CHECK_EQ_INT(pr.termination_grace, -1);
    kpr_probe_release(&pr);
    json_decref(p);

    p = js("{\"tcpSocket\":{\"port\":81},\"periodSeconds\":2,\"failureThreshold\":5,"
           "\"initialDelaySeconds\":7,\"terminationGracePeriodSeconds\":4}");
    CHECK_EQ_INT(kpr_probe_parse(p, ctr, &pr, &e), 0);
    CHECK_EQ_INT(pr.h.action, KPR_TCP);
    CHECK_EQ_INT(pr.h.port, 81);
    CHECK_EQ_INT(pr.period, 2);
    CHECK_EQ_INT(pr.failure_threshold, 5);
    CHECK_EQ_INT(pr.initial_delay, 7);
    CHECK_EQ_INT(pr.termination_grace, 4);
    kpr_probe_release(&pr);
    json_decref(p);

    p = js("{\"exec\":{\"command\":[\"cat\",\"/tmp/x\"]}}");
    CHECK_EQ_INT(kpr_probe_parse(p, ctr, &pr, &e), 0);
    CHECK_EQ_INT(pr.h.action, KPR_EXEC);
    CHECK_EQ_STR(pr.h.cmd[1], "/tmp/x");
    kpr_probe_release(&pr);
    json_decref(p);
    json_decref(ctr);
}

TEST(kubelet_probe_parse_errors)
{
    json_t *ctr = js(ctr_json);
    static const char *const bad[][2] = {
        {"{\"httpGet\":{\"port\":\"nope\"}}", "couldn't find port: nope in container web"},
        {"{\"tcpSocket\":{\"port\":70000}}", "invalid port number: 70000"},
        {"{\"tcpSocket\":{}}", "port is required"},
        {"{\"periodSeconds\":3}", "missing probe handler"},
        {"{\"exec\":{\"command\":[]}}", "exec.command is empty"},
        {"{\"httpGet\":{\"port\":80,\"scheme\":\"FTP\"}}", "unsupported scheme FTP"},
        {"{\"httpGet\":{\"port\":80,\"httpHeaders\":[{\"name\":\"A\",\"value\":\"x\\r\\ny\"}]}}",
         "invalid httpHeaders[0]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *p = js(bad[i][0]);
        struct kpr_probe pr;
        dd_err e = {0};
        CHECK(kpr_probe_parse(p, ctr, &pr, &e) == -EINVAL);
        if (!strstr(e.msg, bad[i][1]))
            unit_fail(__FILE__, __LINE__, "%s: %s", bad[i][0], e.msg);
        CHECK(!pr.h.cmd && !pr.h.headers && !pr.h.path);
        json_decref(p);
    }
    json_t *g = js("{\"grpc\":{\"port\":9090}}");
    struct kpr_probe pr;
    CHECK_EQ_INT(kpr_probe_parse(g, ctr, &pr, NULL), 0);
    CHECK_EQ_INT(pr.h.action, KPR_GRPC);
    CHECK_EQ_INT(pr.h.port, 9090);
    json_decref(g);
    json_decref(ctr);
}

TEST(kubelet_probe_thresholds)
{
    struct kpr_probe p = {.success_threshold = 2, .failure_threshold = 3};
    struct kpr_state s = {.result = KPR_FAILURE};
    /* one success is below successThreshold 2: unchanged */
    CHECK(!kpr_record(&s, &p, KPR_SUCCESS));
    CHECK_EQ_INT(s.result, KPR_FAILURE);
    CHECK(kpr_record(&s, &p, KPR_SUCCESS));
    CHECK_EQ_INT(s.result, KPR_SUCCESS);
    /* a failure interrupts a run: two failures, a success, then three failures are needed */
    CHECK(!kpr_record(&s, &p, KPR_FAILURE));
    CHECK(!kpr_record(&s, &p, KPR_FAILURE));
    CHECK(!kpr_record(&s, &p, KPR_SUCCESS));
    CHECK_EQ_INT(s.result, KPR_SUCCESS);
    CHECK(!kpr_record(&s, &p, KPR_FAILURE));
    CHECK(!kpr_record(&s, &p, KPR_FAILURE));
    CHECK(kpr_record(&s, &p, KPR_FAILURE));
    CHECK_EQ_INT(s.result, KPR_FAILURE);
    /* beyond the threshold every further failure sets it again */
    CHECK(kpr_record(&s, &p, KPR_FAILURE));
    CHECK_EQ_INT(s.run, 4);
}

TEST(kubelet_probe_http)
{
    struct kpr_handler h = {.action = KPR_HTTP, .port = 8080};
    char *r = kpr_http_request(&h, "10.42.0.5");
    CHECK_EQ_STR(r, "GET / HTTP/1.1\r\nHost: 10.42.0.5:8080\r\nUser-Agent: kube-probe/1.33\r\n"
                    "Accept: */*\r\nConnection: close\r\n\r\n");
    free(r);
    char h1[] = "host: example.com", h2[] = "X-Y: z";
    char *hdrs[] = {h1, h2, NULL};
    char path[] = "/ready?x=1";
    h.headers = hdrs;
    h.path = path;
    r = kpr_http_request(&h, "10.42.0.5");
    CHECK_EQ_STR(r, "GET /ready?x=1 HTTP/1.1\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\n"
                    "host: example.com\r\nX-Y: z\r\nConnection: close\r\n\r\n");
    free(r);

    const char ok[] = "HTTP/1.1 200 OK\r\n";
    CHECK_EQ_INT(kpr_http_status(ok, strlen(ok)), 200);
    const char err[] = "HTTP/1.0 500 Internal Server Error\r\nX: y\r\n\r\n";
    CHECK_EQ_INT(kpr_http_status(err, strlen(err)), 500);
    CHECK_EQ_INT(kpr_http_status("HTTP/1.1 20", 11), 0);
    CHECK_EQ_INT(kpr_http_status("SSH-2.0-x\r\n", 11), -1);
    CHECK_EQ_INT(kpr_http_status("HTTP/1.1 abc\r\n", 14), -1);
    CHECK_EQ_INT(kpr_http_status("HTTP/1.1  200\r\n", 15), -1);
}

static const char *qos(const char *spec)
{
    json_t *s = js(spec);
    const char *q = kps_qos_class(s);
    json_decref(s);
    return q;
}

TEST(kubelet_qos_class)
{
    CHECK_EQ_STR(qos("{\"containers\":[{\"name\":\"a\"}]}"), "BestEffort");
    CHECK_EQ_STR(qos("{\"containers\":[{\"resources\":{\"requests\":{\"ephemeral-storage\":\"1Gi\","
                     "\"cpu\":\"0\"}}}]}"),
                 "BestEffort");
    CHECK_EQ_STR(qos("{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":"
                     "\"1Gi\"},\"requests\":{\"cpu\":\"1000m\",\"memory\":\"1024Mi\"}}}]}"),
                 "Guaranteed");
    CHECK_EQ_STR(qos("{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":"
                     "\"1Gi\"},\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"}}}]}"),
                 "Burstable");
    /* every container must limit both */
    CHECK_EQ_STR(qos("{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":"
                     "\"1Gi\"}}},{\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]}"),
                 "Burstable");
    /* init containers count */
    CHECK_EQ_STR(qos("{\"initContainers\":[{\"resources\":{\"requests\":{\"memory\":\"1Mi\"}}}],"
                     "\"containers\":[{}]}"),
                 "Burstable");
}
