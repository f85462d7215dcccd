/* Unit tests of the trimmed copies the node's service view keeps (k3core/kubelet/svcview.c):
 * only the fields the add-ons read survive, with the service-name label of a slice. */
#include "k3core/kubelet/kubelet.h"
#include "tests/unit/unit.h"

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

TEST(svcview_trim_service)
{
    json_t *svc = json_loads(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"ns1\",\"uid\":\"u\",\"labels\":{\"a\":\"b\"},\"managedFields\":[{}]},"
        "\"spec\":{\"clusterIP\":\"10.43.0.5\",\"ports\":[{\"port\":80}]},"
        "\"status\":{\"loadBalancer\":{}}}",
        0, NULL);
    json_t *t = ksvc_trim_service(svc);
    _cleanup_free_ char *s = dump(t);
    CHECK_EQ_STR(s, "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns1\"},"
                    "\"spec\":{\"clusterIP\":\"10.43.0.5\",\"ports\":[{\"port\":80}]}}");
    json_decref(t);
    json_decref(svc);
}

TEST(svcview_trim_slice)
{
    json_t *es = json_loads(
        "{\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"ns1\",\"generateName\":\"web-\","
        "\"labels\":{\"kubernetes.io/service-name\":\"web\",\"x\":\"y\"},\"ownerReferences\":[]},"
        "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,"
        "\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"10.42.0.7\"],"
        "\"conditions\":{\"ready\":true},\"nodeName\":\"n1\",\"zone\":\"z\","
        "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"ns1\",\"uid\":\"u\","
        "\"resourceVersion\":\"5\"}}]}",
        0, NULL);
    json_t *t = ksvc_trim_slice(es);
    _cleanup_free_ char *s = dump(t);
    CHECK_EQ_STR(s, "{\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.42.0.7\"],"
                    "\"conditions\":{\"ready\":true},\"nodeName\":\"n1\",\"targetRef\":{\"kind\":"
                    "\"Pod\",\"name\":\"p\",\"namespace\":\"ns1\"}}],\"metadata\":{\"labels\":{"
                    "\"kubernetes.io/service-name\":\"web\"},\"name\":\"web-abc\",\"namespace\":"
                    "\"ns1\"},\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}");
    json_decref(t);
    json_decref(es);
}
