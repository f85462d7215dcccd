/* Unit tests for the server's pure parts: k3s-style flag parsing, resource path splitting,
 * YAML bodies, and Table columns. */
#include "k3core/server/config.h"
#include "k3core/server/server-internal.h"
#include "k3core/server/table-internal.h"
#include "tests/unit/unit.h"

TEST(config_defaults_flags_env)
{
    struct kcfg c;
    bool help;
    dd_err e = {0};
    setenv("K3S_TOKEN", "from-env", 1);
    char *argv[] = {(char *)"--https-listen-port=7443",
                    (char *)"--tls-san",
                    (char *)"a.example,b.example",
                    (char *)"--tls-san=c",
                    (char *)"-o",
                    (char *)"/tmp/kc.yaml",
                    (char *)"--disable",
                    (char *)"traefik",
                    (char *)"--disable-agent",
                    (char *)"--write-kubeconfig-mode",
                    (char *)"644",
                    NULL};
    CHECK_EQ_INT(kcfg_parse(11, argv, false, &c, &help, &e), 0);
    CHECK_EQ_INT(c.https_port, 7443);
    CHECK_EQ_STR(c.token, "from-env");
    CHECK_EQ_STR(c.tls_sans[1], "b.example");
    CHECK_EQ_STR(c.tls_sans[2], "c");
    CHECK_EQ_STR(c.kubeconfig_out, "/tmp/kc.yaml");
    CHECK_EQ_INT(c.kubeconfig_mode, 0644);
    CHECK(c.disable_agent);
    CHECK_EQ_STR(c.data_dir, "/var/lib/rancher/k3s");
    char ip[64];
    CHECK_EQ_INT(kcfg_first_service_ip(&c, ip, sizeof(ip)), 0);
    CHECK_EQ_STR(ip, "10.43.0.1");
    kcfg_release(&c);

    char *bad[] = {(char *)"--no-such-flag", NULL};
    CHECK(kcfg_parse(1, bad, false, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "no-such-flag") != NULL);
    kcfg_release(&c);
    char *badport[] = {(char *)"--https-listen-port", (char *)"x", NULL};
    CHECK(kcfg_parse(2, badport, false, &c, &help, &e) < 0);
    kcfg_release(&c);
}

TEST(paths_split)
{
    struct kpath p;
    CHECK_EQ_INT(kpath_parse("/api/v1/namespaces/default/pods/web/log", &p), 0);
    CHECK_EQ_STR(p.group, "");
    CHECK_EQ_STR(p.ns, "default");
    CHECK_EQ_STR(p.resource, "pods");
    CHECK_EQ_STR(p.name, "web");
    CHECK_EQ_STR(p.sub, "log");
    kpath_release(&p);
    CHECK_EQ_INT(kpath_parse("/apis/apps/v1/deployments", &p), 0);
    CHECK_EQ_STR(p.group, "apps");
    CHECK(p.ns == NULL && p.name == NULL);
    kpath_release(&p);
    CHECK_EQ_INT(kpath_parse("/api/v1/namespaces/kube-system/finalize", &p), 0);
    CHECK_EQ_STR(p.resource, "namespaces");
    CHECK_EQ_STR(p.name, "kube-system");
    CHECK_EQ_STR(p.sub, "finalize");
    kpath_release(&p);
    CHECK_EQ_INT(kpath_parse("/api/v1/namespaces", &p), 0);
    CHECK_EQ_STR(p.resource, "namespaces");
    kpath_release(&p);
    CHECK_EQ_INT(kpath_parse("/apis/apps", &p), 1);
    kpath_release(&p);
    CHECK_EQ_INT(kpath_parse("/apis/apps/v1", &p), 2);
    kpath_release(&p);
    /* the proxy subresource keeps going with its path; any other long path is no resource */
    CHECK_EQ_INT(kpath_parse("/api/v1/namespaces/x/services/web:80/proxy/a/b", &p), 0);
    CHECK_EQ_STR(p.resource, "services");
    CHECK_EQ_STR(p.name, "web:80");
    CHECK_EQ_STR(p.sub, "proxy");
    kpath_release(&p);
    CHECK(kpath_parse("/api/v1/namespaces/x/pods/y/log/a/b", &p) < 0);
    kpath_release(&p);
}

TEST(yaml_bodies)
{
    json_t *v = NULL;
    dd_err e = {0};
    const char *y = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
                    "  n: \"1\"\n  b: 'true'\nreplicas: 3\nflag: true\nnone: ~\nlist: [a, 2]\n";
    CHECK_EQ_INT(ksrv_yaml_to_json(y, strlen(y), &v, &e), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(v, "data"), "n")), "1");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(v, "data"), "b")), "true");
    CHECK_EQ_INT(json_integer_value(json_object_get(v, "replicas")), 3);
    CHECK(json_is_true(json_object_get(v, "flag")));
    CHECK(json_is_null(json_object_get(v, "none")));
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(v, "list"), 1)), 2);
    json_decref(v);
    CHECK(ksrv_yaml_to_json("a: [b", 5, &v, &e) < 0);
    CHECK(ksrv_yaml_to_json("{a: 1}: 2", 9, &v, &e) < 0);
}

TEST(table_pods_and_default)
{
    char buf[32];
    human_duration(90, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "90s");
    human_duration(5 * 60 + 3, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "5m3s");
    human_duration(3 * 86400 + 3600, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "3d1h");
    kres_resource pods = {.group = "", .version = "v1", .kind = "Pod", .resource = "pods"};
    const char *pj =
        "{\"metadata\":{\"name\":\"web\",\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":"
        "[{\"name\":\"c\"},{\"name\":\"d\"}]},\"status\":{\"phase\":\"Running\","
        "\"containerStatuses\":[{\"ready\":true,\"restartCount\":2,\"state\":{\"running\":{}}},"
        "{\"ready\":false,\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":"
        "\"CrashLoopBackOff\"}}}]}}";
    json_t *pod = json_loads(pj, 0, NULL);
    json_t *t = ksrv_table(&pods, pod, "v1", NULL, false);
    CHECK_EQ_STR(json_string_value(json_object_get(t, "kind")), "Table");
    CHECK_EQ_INT(json_array_size(json_object_get(t, "columnDefinitions")), 9);
    json_t *cells = json_object_get(json_array_get(json_object_get(t, "rows"), 0), "cells");
    CHECK_EQ_STR(json_string_value(json_array_get(cells, 0)), "web");
    CHECK_EQ_STR(json_string_value(json_array_get(cells, 1)), "1/2");
    CHECK_EQ_STR(json_string_value(json_array_get(cells, 2)), "CrashLoopBackOff");
    CHECK_EQ_STR(json_string_value(json_array_get(cells, 3)), "2");
    json_t *ro = json_object_get(json_array_get(json_object_get(t, "rows"), 0), "object");
    CHECK_EQ_STR(json_string_value(json_object_get(ro, "kind")), "PartialObjectMetadata");
    json_decref(t);
    kres_resource other = {.group = "x.io", .version = "v1", .kind = "Thing", .resource = "things"};
    json_t *list = json_pack("{s:{s:s}, s:[O]}", "metadata", "resourceVersion", "7", "items", pod);
    t = ksrv_table(&other, list, "v1", "None", true);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "columnDefinitions")), 2);
    CHECK(!json_object_get(json_array_get(json_object_get(t, "rows"), 0), "object"));
    CHECK_EQ_STR(
        json_string_value(json_object_get(json_object_get(t, "metadata"), "resourceVersion")), "7");
    json_decref(t);
    json_decref(list);
    json_decref(pod);
}
