/* Unit tests of a pod's /etc/hosts, /etc/resolv.conf and service environment variables
 * (k3core/kubelet/podfiles.c), against what upstream's kubelet and containerd write. */
#include "k3core/kubelet/podfiles.h"
#include "tests/unit/unit.h"

static json_t *js(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        unit_fail(__FILE__, __LINE__, "bad JSON %s", text);
    return v;
}

#define HOSTS_HEAD                                                                                 \
    "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"                                     \
    "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"                           \
    "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"

TEST(kubelet_hosts)
{
    json_t *pod = js("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns1\"},\"spec\":{}}");
    char *h = kpf_hosts(pod, "10.42.0.7", "cluster.local");
    CHECK_EQ_STR(h, HOSTS_HEAD "10.42.0.7\tweb\n");
    free(h);
    json_decref(pod);
    pod = js("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns1\"},\"spec\":{\"hostname\":\"h\","
             "\"subdomain\":\"sub\",\"hostAliases\":[{\"ip\":\"1.2.3.4\",\"hostnames\":[\"a\","
             "\"b\"]},{\"ip\":\"5.6.7.8\",\"hostnames\":[\"c\"]}]}}");
    h = kpf_hosts(pod, "10.42.0.7", "cluster.local");
    CHECK_EQ_STR(h, HOSTS_HEAD "10.42.0.7\th.sub.ns1.svc.cluster.local\th\n\n"
                               "# Entries added by HostAliases.\n1.2.3.4\ta\tb\n5.6.7.8\tc\n");
    free(h);
    h = kpf_hostname(pod);
    CHECK_EQ_STR(h, "h");
    free(h);
    /* hostNetwork: the node's file (a missing final newline added) plus the aliases */
    h = kpf_hosts_host_network(pod, "127.0.0.1 localhost\n10.0.0.5 node1");
    CHECK_EQ_STR(h, "127.0.0.1 localhost\n10.0.0.5 node1\n\n"
                    "# Entries added by HostAliases.\n1.2.3.4\ta\tb\n5.6.7.8\tc\n");
    free(h);
    json_decref(pod);
}

static char *resolv(const char *spec, const char *host)
{
    _cleanup_free_ char *text =
        dd_asprintf("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns1\"},\"spec\":%s}", spec);
    json_t *pod = js(text);
    struct kpf_dns d = {
        .cluster_dns = "10.43.0.10", .cluster_domain = "cluster.local", .host_resolv = host};
    char *out = NULL;
    dd_err e = {0};
    if (kpf_resolv(pod, &d, &out, &e) < 0)
        out = dd_asprintf("error: %s", e.msg);
    json_decref(pod);
    return out;
}

TEST(kubelet_resolv)
{
    const char *host = "# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\n"
                       "search corp.example\noptions timeout:2\n";
    char *r = resolv("{}", host);
    CHECK_EQ_STR(r, "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
                    "nameserver 10.43.0.10\noptions ndots:5\n");
    free(r);
    r = resolv("{\"dnsPolicy\":\"Default\"}", host);
    CHECK_EQ_STR(r, "search corp.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\n"
                    "options timeout:2\n");
    free(r);
    r = resolv("{\"dnsPolicy\":\"ClusterFirst\",\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\"],"
               "\"searches\":[\"svc.cluster.local\",\"x.example\"],\"options\":[{\"name\":"
               "\"ndots\",\"value\":\"2\"},{\"name\":\"edns0\"}]}}",
               NULL);
    CHECK_EQ_STR(r, "search ns1.svc.cluster.local svc.cluster.local cluster.local x.example\n"
                    "nameserver 10.43.0.10\nnameserver 1.1.1.1\noptions ndots:2 edns0\n");
    free(r);
    r = resolv("{\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\",\"2.2.2.2\","
               "\"3.3.3.3\",\"4.4.4.4\"]}}",
               host);
    CHECK_EQ_STR(r, "nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\n");
    free(r);
    r = resolv("{\"dnsPolicy\":\"None\"}", host);
    CHECK_EQ_STR(r, "error: dnsPolicy None needs dnsConfig.nameservers");
    free(r);
    r = resolv("{\"dnsPolicy\":\"Bogus\"}", host);
    CHECK_EQ_STR(r, "error: unsupported dnsPolicy \"Bogus\"");
    free(r);
}

static char *joined(char **v)
{
    dd_buf b;
    dd_buf_init(&b);
    for (size_t i = 0; v && v[i]; i++)
        dd_buf_addf(&b, "%s\n", v[i]);
    return dd_buf_detach(&b, NULL);
}

TEST(kubelet_service_env)
{
    json_t *svcs = js("[{\"metadata\":{\"name\":\"my-svc\"},\"spec\":{\"clusterIP\":\"10.43.0.20\","
                      "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"},{\"name\":\"dns-udp\","
                      "\"port\":53,\"protocol\":\"UDP\"}]}},"
                      "{\"metadata\":{\"name\":\"headless\"},\"spec\":{\"clusterIP\":\"None\","
                      "\"ports\":[{\"port\":80}]}}]");
    json_t *master = js("{\"metadata\":{\"name\":\"kubernetes\"},\"spec\":{\"clusterIP\":"
                        "\"10.43.0.1\",\"ports\":[{\"name\":\"https\",\"port\":443,"
                        "\"protocol\":\"TCP\"}]}}");
    json_t *pod = js("{\"spec\":{}}");
    char **env = kpf_service_env(pod, svcs, master);
    char *all = joined(env);
    CHECK_EQ_STR(all, "KUBERNETES_PORT=tcp://10.43.0.1:443\n"
                      "KUBERNETES_PORT_443_TCP=tcp://10.43.0.1:443\n"
                      "KUBERNETES_PORT_443_TCP_ADDR=10.43.0.1\n"
                      "KUBERNETES_PORT_443_TCP_PORT=443\n"
                      "KUBERNETES_PORT_443_TCP_PROTO=tcp\n"
                      "KUBERNETES_SERVICE_HOST=10.43.0.1\n"
                      "KUBERNETES_SERVICE_PORT=443\n"
                      "KUBERNETES_SERVICE_PORT_HTTPS=443\n"
                      "MY_SVC_PORT=tcp://10.43.0.20:80\n"
                      "MY_SVC_PORT_53_UDP=udp://10.43.0.20:53\n"
                      "MY_SVC_PORT_53_UDP_ADDR=10.43.0.20\n"
                      "MY_SVC_PORT_53_UDP_PORT=53\n"
                      "MY_SVC_PORT_53_UDP_PROTO=udp\n"
                      "MY_SVC_PORT_80_TCP=tcp://10.43.0.20:80\n"
                      "MY_SVC_PORT_80_TCP_ADDR=10.43.0.20\n"
                      "MY_SVC_PORT_80_TCP_PORT=80\n"
                      "MY_SVC_PORT_80_TCP_PROTO=tcp\n"
                      "MY_SVC_SERVICE_HOST=10.43.0.20\n"
                      "MY_SVC_SERVICE_PORT=80\n"
                      "MY_SVC_SERVICE_PORT_DNS_UDP=53\n");
    free(all);
    dd_strv_free(env);
    json_decref(pod);
    /* enableServiceLinks: false keeps only the master service */
    pod = js("{\"spec\":{\"enableServiceLinks\":false}}");
    env = kpf_service_env(pod, svcs, master);
    CHECK_EQ_INT(dd_strv_len(env), 8);
    CHECK_EQ_STR(env[0], "KUBERNETES_PORT=tcp://10.43.0.1:443");
    dd_strv_free(env);
    json_decref(pod);
    json_decref(svcs);
    json_decref(master);
}
