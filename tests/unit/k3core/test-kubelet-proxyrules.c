/* Unit tests of the service proxy's rule rendering (k3core/kubelet/proxyrules.c): the restore
 * text for ClusterIP/NodePort services with endpoints (random choice, named target ports,
 * masquerade, hairpin, session affinity), REJECT without endpoints, and no rules for headless,
 * ExternalName, IPv6 and the skipped DNS address. */
#include <stdio.h>

#include "k3core/kubelet/proxyrules.h"
#include "tests/unit/unit.h"

static const struct kpx_opts opts = {
    .prefix = "K3D-t-", .cluster_cidr = "10.42.0.0/16", .skip_ip = "10.43.0.10"};

static json_t *svc(const char *ns, const char *name, const char *spec)
{
    json_t *s = json_loads(spec, 0, NULL);
    return json_pack("{s:{s:s,s:s},s:o}", "metadata", "namespace", ns, "name", name, "spec", s);
}

static json_t *slice(const char *ns, const char *svcname, const char *ports, const char *eps)
{
    return json_pack("{s:{s:s,s:s,s:{s:s}},s:s,s:o,s:o}", "metadata", "namespace", ns, "name",
                     svcname, "labels", "kubernetes.io/service-name", svcname, "addressType",
                     "IPv4", "ports", json_loads(ports, 0, NULL), "endpoints",
                     json_loads(eps, 0, NULL));
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The one line of text containing both a and b ("" when none). */
static char *line_with(const char *text, const char *a, const char *b)
{
    _cleanup_free_ char *copy = dd_strdup(text);
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strstr(l, a) && (!b || strstr(l, b)))
            return dd_strdup(l);
    return dd_strdup("");
}

TEST(proxyrules_clusterip_nodeport_endpoints)
{
    json_t *svcs = json_object(), *slices = json_object();
    json_object_set_new(svcs, "default/web",
                        svc("default", "web",
                            "{\"type\":\"NodePort\",\"clusterIP\":\"10.43.0.20\",\"ports\":["
                            "{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\","
                            "\"nodePort\":30080,\"protocol\":\"TCP\"}]}"));
    json_object_set_new(slices, "default/web-1",
                        slice("default", "web",
                              "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
                              "[{\"addresses\":[\"10.42.0.5\"],\"conditions\":{\"ready\":true}},"
                              "{\"addresses\":[\"10.42.1.6\"]},"
                              "{\"addresses\":[\"10.42.0.7\"],\"conditions\":{\"ready\":false}}]"));
    _cleanup_free_ char *t = kpx_rules(svcs, slices, &opts);
    CHECK(dd_startswith(t, "*nat\n:K3D-t-SERVICES - [0:0]\n"));
    CHECK(strstr(t, "COMMIT\n*filter\n:K3D-t-FILTER - [0:0]\nCOMMIT\n") != NULL);
    _cleanup_free_ char *entry = line_with(t, "-A K3D-t-SERVICES -d 10.43.0.20/32", NULL);
    CHECK(
        strstr(entry, "-p tcp -m tcp --dport 80 -m comment --comment default/web:http -j K3D-t-S"));
    /* the two ready endpoints (unset ready counts as ready), on the slice's port 8080 */
    CHECK_EQ_INT((int)count(t, "-j DNAT --to-destination 10.42.0.5:8080\n"), 1);
    CHECK_EQ_INT((int)count(t, "-j DNAT --to-destination 10.42.1.6:8080\n"), 1);
    CHECK_EQ_INT((int)count(t, "10.42.0.7"), 0);
    CHECK_EQ_INT((int)count(t, "-m statistic --mode random --probability 0.50000000000 -j "), 1);
    /* off-cluster sources and hairpin are marked; marked packets are masqueraded once */
    CHECK(strstr(t, "! -s 10.42.0.0/16 -d 10.43.0.20/32 -p tcp -m tcp --dport 80 -j "
                    "K3D-t-MARK-MASQ\n") != NULL);
    CHECK(strstr(t, " -s 10.42.0.5/32 -j K3D-t-MARK-MASQ\n") != NULL);
    CHECK(strstr(t, "-A K3D-t-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
                    "-A K3D-t-POSTROUTING -j MARK --xor-mark 0x4000\n"
                    "-A K3D-t-POSTROUTING -j MASQUERADE\n") != NULL);
    /* the NodePort: marked, then the service chain; NODEPORTS is entered last, for local
     * destinations */
    _cleanup_free_ char *np = line_with(t, "-A K3D-t-NODEPORTS", NULL);
    CHECK(
        strstr(np, "-p tcp -m tcp --dport 30080 -m comment --comment default/web:http -j K3D-t-X"));
    CHECK(strstr(t, "-A K3D-t-SERVICES -m addrtype --dst-type LOCAL -j K3D-t-NODEPORTS\nCOMMIT\n"));
    CHECK_EQ_INT((int)count(t, "REJECT"), 0);
    /* the same view renders the same text */
    _cleanup_free_ char *again = kpx_rules(svcs, slices, &opts);
    CHECK_EQ_STR(t, again);
    json_decref(svcs);
    json_decref(slices);
}

TEST(proxyrules_affinity_and_probabilities)
{
    json_t *svcs = json_object(), *slices = json_object();
    json_object_set_new(svcs, "ns/a",
                        svc("ns", "a",
                            "{\"clusterIP\":\"10.43.1.1\",\"sessionAffinity\":\"ClientIP\","
                            "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
                            "\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]}"));
    json_object_set_new(slices, "ns/a-x",
                        slice("ns", "a", "[{\"port\":5353,\"protocol\":\"UDP\"}]",
                              "[{\"addresses\":[\"10.42.0.1\"]},{\"addresses\":[\"10.42.0.2\"]},"
                              "{\"addresses\":[\"10.42.0.3\"]}]"));
    _cleanup_free_ char *t = kpx_rules(svcs, slices, &opts);
    CHECK(strstr(t, "-p udp -m udp --dport 53 -m comment --comment ns/a: -j ") != NULL);
    CHECK_EQ_INT((int)count(t, "--probability 0.33333333333 -j "), 1);
    CHECK_EQ_INT((int)count(t, "--probability 0.50000000000 -j "), 1);
    CHECK_EQ_INT((int)count(t, " --rcheck --seconds 60 --reap -j "), 3);
    CHECK_EQ_INT((int)count(t, "-m recent --name K3D-t-E"), 6);
    CHECK_EQ_INT((int)count(t, " --set --rsource -j DNAT --to-destination 10.42.0."), 3);
    CHECK(strstr(t, "--to-destination 10.42.0.3:5353\n") != NULL);
    json_decref(svcs);
    json_decref(slices);
}

TEST(proxyrules_reject_and_skipped)
{
    json_t *svcs = json_object(), *slices = json_object();
    json_object_set_new(svcs, "d/empty",
                        svc("d", "empty",
                            "{\"type\":\"NodePort\",\"clusterIP\":\"10.43.2.2\",\"ports\":["
                            "{\"port\":80,\"nodePort\":30001},{\"name\":\"u\",\"port\":81,"
                            "\"protocol\":\"UDP\"}]}"));
    json_object_set_new(svcs, "d/headless",
                        svc("d", "headless", "{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}"));
    json_object_set_new(svcs, "d/ext",
                        svc("d", "ext",
                            "{\"type\":\"ExternalName\",\"externalName\":\"example.com\","
                            "\"ports\":[{\"port\":80}]}"));
    json_object_set_new(
        svcs, "kube-system/kube-dns",
        svc("kube-system", "kube-dns",
            "{\"clusterIP\":\"10.43.0.10\",\"ports\":[{\"name\":\"dns\",\"port\":53,"
            "\"protocol\":\"UDP\"}]}"));
    json_object_set_new(svcs, "d/v6",
                        svc("d", "v6", "{\"clusterIP\":\"fd00::1\",\"ports\":[{\"port\":80}]}"));
    /* an endpoint whose slice port does not match the service port's name counts for nothing */
    json_object_set_new(slices, "d/empty-1",
                        slice("d", "empty", "[{\"name\":\"other\",\"port\":80}]",
                              "[{\"addresses\":[\"10.42.0.9\"]}]"));
    /* hostile strings never reach the text as such */
    json_object_set_new(svcs, "d/odd",
                        svc("d", "odd",
                            "{\"clusterIP\":\"10.43.3.3\",\"ports\":[{\"name\":\"a b\\\"\\nc\","
                            "\"port\":80}]}"));
    json_object_set_new(slices, "d/odd-1",
                        slice("d", "odd", "[{\"name\":\"a b\\\"\\nc\",\"port\":80}]",
                              "[{\"addresses\":[\"10.42.0.9 -j ACCEPT\"]}]"));
    _cleanup_free_ char *t = kpx_rules(svcs, slices, &opts);
    CHECK(strstr(t, "--comment d/odd:a_b__c:no-endpoints -j REJECT") != NULL);
    CHECK_EQ_INT((int)count(t, "ACCEPT"), 0);
    CHECK(strstr(t, "-A K3D-t-FILTER -d 10.43.2.2/32 -p tcp -m tcp --dport 80 -m comment "
                    "--comment d/empty::no-endpoints -j REJECT --reject-with tcp-reset\n") != NULL);
    CHECK(strstr(t, "-A K3D-t-FILTER -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30001 "
                    "-m comment --comment d/empty::no-endpoints -j REJECT --reject-with "
                    "tcp-reset\n") != NULL);
    CHECK(strstr(t, "-A K3D-t-FILTER -d 10.43.2.2/32 -p udp -m udp --dport 81 -m comment "
                    "--comment d/empty:u:no-endpoints -j REJECT --reject-with "
                    "icmp-port-unreachable\n") != NULL);
    CHECK_EQ_INT((int)count(t, "DNAT"), 0);
    CHECK_EQ_INT((int)count(t, "headless"), 0);
    CHECK_EQ_INT((int)count(t, "d/ext"), 0);
    CHECK_EQ_INT((int)count(t, "10.43.0.10"), 0);
    CHECK_EQ_INT((int)count(t, "fd00"), 0);
    CHECK_EQ_INT((int)count(t, "-A K3D-t-SERVICES"), 1); /* only the NODEPORTS jump */
    json_decref(svcs);
    json_decref(slices);
}

TEST(proxyrules_external_traffic_policy_local)
{
    struct kpx_opts o = opts;
    o.node_name = "n1";
    json_t *svcs = json_object(), *slices = json_object();
    json_object_set_new(svcs, "d/loc",
                        svc("d", "loc",
                            "{\"type\":\"NodePort\",\"clusterIP\":\"10.43.4.4\","
                            "\"externalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80,"
                            "\"nodePort\":30004}]}"));
    json_object_set_new(svcs, "d/far",
                        svc("d", "far",
                            "{\"type\":\"NodePort\",\"clusterIP\":\"10.43.5.5\","
                            "\"externalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80,"
                            "\"nodePort\":30005}]}"));
    json_object_set_new(slices, "d/loc-1",
                        slice("d", "loc", "[{\"port\":80}]",
                              "[{\"addresses\":[\"10.42.0.4\"],\"nodeName\":\"n1\"},"
                              "{\"addresses\":[\"10.42.1.4\"],\"nodeName\":\"n2\"}]"));
    json_object_set_new(slices, "d/far-1",
                        slice("d", "far", "[{\"port\":80}]",
                              "[{\"addresses\":[\"10.42.1.5\"],\"nodeName\":\"n2\"}]"));
    _cleanup_free_ char *t = kpx_rules(svcs, slices, &o);
    /* X chains: pods and the node itself as cluster traffic; outsiders unmasqueraded to the
     * local endpoint only */
    _cleanup_free_ char *np = line_with(t, "--dport 30004", "NODEPORTS");
    const char *x = strstr(np, "-j ");
    CHECK(x != NULL);
    _cleanup_free_ char *X = dd_strdup(x ? x + 3 : "");
    _cleanup_free_ char *pods = dd_asprintf("-A %s -s 10.42.0.0/16 -j K3D-t-S", X);
    _cleanup_free_ char *masq =
        dd_asprintf("-A %s -m addrtype --src-type LOCAL -j K3D-t-MARK-MASQ", X);
    _cleanup_free_ char *last = dd_asprintf("-A %s -j K3D-t-E", X);
    CHECK(strstr(t, pods) != NULL);
    CHECK(strstr(t, masq) != NULL);
    CHECK_EQ_INT((int)count(t, last), 1); /* one local endpoint: no statistic */
    _cleanup_free_ char *xm = dd_asprintf("-A %s -j K3D-t-MARK-MASQ", X);
    CHECK_EQ_INT((int)count(t, xm), 0);
    /* no local endpoint: outsiders are dropped in filter */
    CHECK(strstr(t, "-A K3D-t-FILTER -m addrtype --dst-type LOCAL ! -s 10.42.0.0/16 -m addrtype ! "
                    "--src-type LOCAL -p tcp -m tcp --dport 30005 -m comment --comment "
                    "d/far::no-local-endpoints -j DROP\n") != NULL);
    json_decref(svcs);
    json_decref(slices);
}
