/* master-endpoints.c: the endpoints of the `kubernetes` Service (upstream's API server endpoint
 * reconciler, for one server): Endpoints default/kubernetes and EndpointSlice default/kubernetes
 * name the advertise address and the HTTPS port, written at start and corrected when they
 * differ, so that the node's service proxy routes 10.43.0.1:443 to this API server. A second
 * server of the same cluster is not reconciled here (k3core runs one).
 */
#include "k3core/server/server-internal.h"

/* Creates obj, or replaces the fields `keys` of the existing one when they differ. */
static int put(struct ksrv *s, const char *group, const char *resource, json_t *obj,
               const char *const *keys, dd_err *e)
{
    kobj_req req = {.res = kres_lookup(group, "v1", resource),
                    .ns = "default",
                    .name = "kubernetes",
                    .field_manager = "kube-apiserver"};
    kobj_status st = {0};
    kobj_result res = {0};
    json_t *cur = NULL;
    int r;
    if (kobj_get(s->api, &req, &cur, &st) < 0) {
        kobj_status_release(&st);
        kobj_req creq = {.res = req.res, .ns = "default", .field_manager = "kube-apiserver"};
        r = kobj_create(s->api, &creq, obj, &res, &st);
    } else {
        bool same = true;
        for (size_t i = 0; keys[i]; i++) {
            json_t *want = json_object_get(obj, keys[i]);
            same = same && json_equal(want, json_object_get(cur, keys[i]));
            json_object_set(cur, keys[i], want);
        }
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        json_t *meta = json_object_get(cur, "metadata");
        if (labels && !json_equal(labels, json_object_get(meta, "labels"))) {
            same = false;
            json_object_set(meta, "labels", labels);
        }
        r = same ? 0 : kobj_update(s->api, &req, cur, &res, &st);
    }
    if (r < 0)
        r = dd_err_set(e, EIO, "%s default/kubernetes: %s", resource, st.message);
    json_decref(cur);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return r;
}

int ksrv_master_endpoints(struct ksrv *s, dd_err *e)
{
    static const char *const ep_keys[] = {"subsets", NULL};
    static const char *const es_keys[] = {"addressType", "endpoints", "ports", NULL};
    const char *ip = s->node_ip;
    int port = s->cfg->https_port;
    json_t *ep =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:[{s:[{s:s}],s:[{s:s,s:i,s:s}]}]}", "apiVersion",
                  "v1", "kind", "Endpoints", "metadata", "name", "kubernetes", "namespace",
                  "default", "labels", "endpointslice.kubernetes.io/skip-mirror", "true", "subsets",
                  "addresses", "ip", ip, "ports", "name", "https", "port", port, "protocol", "TCP");
    json_t *es =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:[{s:[s],s:{s:b}}],s:[{s:s,s:i,s:s}]}",
                  "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name",
                  "kubernetes", "namespace", "default", "labels", "kubernetes.io/service-name",
                  "kubernetes", "addressType", "IPv4", "endpoints", "addresses", ip, "conditions",
                  "ready", 1, "ports", "name", "https", "port", port, "protocol", "TCP");
    int r = put(s, "", "endpoints", ep, ep_keys, e);
    if (r >= 0)
        r = put(s, "discovery.k8s.io", "endpointslices", es, es_keys, e);
    json_decref(ep);
    json_decref(es);
    return r < 0 ? dd_err_wrap(e, "endpoints of the kubernetes Service") : 0;
}
