/* lifecycle: what happens around writes — namespace admission (missing → 404, terminating →
 * 403), the objects every namespace gets (ServiceAccount `default`, ConfigMap
 * `kube-root-ca.crt`), the cluster's bootstrap objects, CRD (un)registration in the resource
 * table, and deletion: finalizers + deletionTimestamp, graceful pods, propagation policies and
 * deletecollection. The asynchronous halves (namespace finalization, GC) are in controllers.c.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

static const kres_resource *core(const char *resource)
{
    return kres_lookup("", "v1", resource);
}

int kobj_check_namespace(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                         kobj_status *st)
{
    if (!kres_namespaced(r))
        return 0;
    json_t *nso = NULL;
    kobj_status tmp = {0};
    int ret = kobj_get_raw(api, core("namespaces"), ns, ns, &nso, NULL, &tmp);
    if (ret < 0) {
        kobj_status_release(&tmp);
        return kobj_not_found(st, core("namespaces"), ns);
    }
    bool terminating = kobj_meta_str(nso, "deletionTimestamp") != NULL;
    json_decref(nso);
    if (terminating) {
        char qn[300];
        kres_qualified_name(r, qn, sizeof(qn));
        ret = kobj_fail(st, 403, "Forbidden",
                        "%s \"%s\" is forbidden: unable to create new content in namespace %s "
                        "because it is being terminated",
                        qn, name ? name : "", ns);
        kobj_status_details(st, r, name);
        return ret;
    }
    return 0;
}

/* Creates obj unless it exists (bootstrap and per-namespace objects). */
static int ensure(kobj_api *api, const kres_resource *r, const char *ns, json_t *obj_new, dd_err *e)
{
    kobj_req req = {.res = r, .ns = ns, .field_manager = "k3core"};
    kobj_result res = {0};
    kobj_status st = {0};
    json_t *cur = NULL;
    /* look first: creating would fail validation (e.g. the kubernetes Service's IP is taken by
     * itself) before it could answer AlreadyExists */
    if (kobj_get_raw(api, r, ns, kobj_meta_str(obj_new, "name"), &cur, NULL, &st) >= 0) {
        json_decref(cur);
        json_decref(obj_new);
        return 0;
    }
    kobj_status_release(&st);
    memset(&st, 0, sizeof(st));
    int ret = kobj_create(api, &req, obj_new, &res, &st);
    json_decref(obj_new);
    kobj_result_release(&res);
    kobj_status_release(&st);
    if (ret < 0 && st.code != 409 && st.code != 403)
        return dd_err_set(e, EIO, "creating %s in %s: %s", r->resource, ns ? ns : "cluster",
                          st.message);
    return 0;
}

int kobj_namespace_objects(kobj_api *api, const char *ns, dd_err *e)
{
    int r = ensure(api, core("serviceaccounts"), ns,
                   json_pack("{s:{s:s}}", "metadata", "name", "default"), e);
    if (r >= 0 && api->ca_pem)
        r = ensure(api, core("configmaps"), ns,
                   json_pack("{s:{s:s,s:{s:s}},s:{s:s}}", "metadata", "name", "kube-root-ca.crt",
                             "annotations", "kubernetes.io/description",
                             "Contains a CA bundle that can be used to verify the kube-apiserver "
                             "when using internal endpoints such as the internal service IP or "
                             "kubernetes.default.svc. No other usage is guaranteed across "
                             "distributions of Kubernetes clusters.",
                             "data", "ca.crt", api->ca_pem),
                   e);
    return r;
}

/* k3s's kube-dns Service (its coredns manifest) on the cluster DNS address, which every node's
 * kubelet answers. Not fatal when it cannot be created (e.g. a --cluster-dns outside the service
 * CIDR, or an older Service holding the address): DNS still answers, only the object is missing. */
static int kube_dns_service(kobj_api *api)
{
    char ip[32];
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", api->dns_ip >> 24, (api->dns_ip >> 16) & 255,
             (api->dns_ip >> 8) & 255, api->dns_ip & 255);
    json_t *svc =
        json_pack("{s:{s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}},s:{s:{s:s},s:s,s:[s],s:[{s:s,s:i,s:s,s:i},"
                  "{s:s,s:i,s:s,s:i},{s:s,s:i,s:s,s:i}]}}",
                  "metadata", "name", "kube-dns", "annotations", "prometheus.io/port", "9153",
                  "prometheus.io/scrape", "true", "labels", "k8s-app", "kube-dns",
                  "kubernetes.io/cluster-service", "true", "kubernetes.io/name", "CoreDNS", "spec",
                  "selector", "k8s-app", "kube-dns", "clusterIP", ip, "clusterIPs", ip, "ports",
                  "name", "dns", "port", 53, "protocol", "UDP", "targetPort", 53, "name", "dns-tcp",
                  "port", 53, "protocol", "TCP", "targetPort", 53, "name", "metrics", "port", 9153,
                  "protocol", "TCP", "targetPort", 9153);
    dd_err e = {0};
    if (ensure(api, core("services"), "kube-system", svc, &e) < 0)
        dd_warn("bootstrap: kube-dns Service on %s: %s", ip, e.msg);
    return 0;
}

int kobj_bootstrap(kobj_api *api, dd_err *e)
{
    static const char *const namespaces[] = {"default", "kube-system", "kube-public",
                                             "kube-node-lease"};
    int r = 0;
    for (size_t i = 0; i < DD_ARRAY_SIZE(namespaces) && r >= 0; i++)
        r = ensure(api, core("namespaces"), NULL,
                   json_pack("{s:{s:s,s:{s:s}}}", "metadata", "name", namespaces[i], "labels",
                             "kubernetes.io/metadata.name", namespaces[i]),
                   e);
    for (size_t i = 0; i < DD_ARRAY_SIZE(namespaces) && r >= 0; i++)
        r = kobj_namespace_objects(api, namespaces[i], e);
    if (r < 0)
        return r;
    char ip[32];
    uint32_t first = api->svc_base + 1;
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", first >> 24, (first >> 16) & 255, (first >> 8) & 255,
             first & 255);
    r = ensure(api, core("services"), "default",
               json_pack("{s:{s:s,s:{s:s,s:s}},s:{s:s,s:[{s:s,s:s,s:i,s:i}],s:s}}", "metadata",
                         "name", "kubernetes", "labels", "component", "apiserver", "provider",
                         "kubernetes", "spec", "clusterIP", ip, "ports", "name", "https",
                         "protocol", "TCP", "port", 443, "targetPort", 6443, "sessionAffinity",
                         "None"),
               e);
    if (r < 0)
        return r;
    return kube_dns_service(api);
}

void kobj_after_create(kobj_api *api, const kres_resource *r, const json_t *obj)
{
    if (!r->group[0] && strcmp(r->resource, "namespaces") == 0)
        kobj_namespace_objects(api, kobj_meta_str(obj, "name"), NULL);
    if (strcmp(r->group, "apiextensions.k8s.io") == 0 &&
        strcmp(r->resource, "customresourcedefinitions") == 0)
        kres_register_crd(obj, NULL);
}

/* A deleted CRD takes its custom resources with it (upstream's customresourcecleanup). */
static void delete_custom_resources(kobj_api *api, const json_t *crd)
{
    json_t *spec = json_object_get(crd, "spec");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *plural =
        json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
    if (!group || !plural)
        return;
    _cleanup_free_ char *prefix = dd_asprintf("/registry/%s/%s/", group, plural);
    kst_list l;
    if (kst_list_prefix(api->store, prefix, NULL, 0, 0, &l, NULL) < 0)
        return;
    for (size_t i = 0; i < l.n; i++)
        kst_delete(api->store, l.items[i].key, 0, NULL, NULL, NULL);
    kst_list_release(&l);
}

void kobj_after_delete(kobj_api *api, const kres_resource *r, const json_t *obj)
{
    if (strcmp(r->group, "apiextensions.k8s.io") == 0 &&
        strcmp(r->resource, "customresourcedefinitions") == 0) {
        delete_custom_resources(api, obj);
        kres_unregister_crd(kobj_meta_str(obj, "name"));
    }
}

static bool has_finalizers(const json_t *obj)
{
    return json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0;
}

int kobj_do_delete(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                   kobj_status *st)
{
    _cleanup_free_ char *key = kobj_key(r, ns, name);
    kst_kv prev = {0};
    dd_err e = {0};
    int ret = kst_delete(api->store, key, 0, NULL, &prev, &e);
    if (ret == -ENOENT)
        return kobj_not_found(st, r, name);
    if (ret < 0)
        return kobj_internal(st, &e);
    json_t *obj = kobj_parse_value(prev.value, prev.len);
    kst_kv_release(&prev);
    if (obj)
        kobj_after_delete(api, r, obj);
    json_decref(obj);
    return 0;
}

int kobj_after_update(kobj_api *api, const kres_resource *r, json_t *obj, kobj_status *st)
{
    if (strcmp(r->group, "apiextensions.k8s.io") == 0 &&
        strcmp(r->resource, "customresourcedefinitions") == 0 &&
        !kobj_meta_str(obj, "deletionTimestamp"))
        kres_register_crd(obj, NULL);
    /* namespaces end through the namespace controller (spec.finalizers first) */
    if (kobj_meta_str(obj, "deletionTimestamp") && !has_finalizers(obj) &&
        !(!r->group[0] && strcmp(r->resource, "namespaces") == 0) &&
        !(!r->group[0] && strcmp(r->resource, "pods") == 0 &&
          json_object_get(json_object_get(obj, "metadata"), "deletionGracePeriodSeconds") &&
          json_integer_value(
              json_object_get(json_object_get(obj, "metadata"), "deletionGracePeriodSeconds")) > 0))
        return kobj_do_delete(api, r, kobj_meta_str(obj, "namespace"), kobj_meta_str(obj, "name"),
                              st);
    return 0;
}
