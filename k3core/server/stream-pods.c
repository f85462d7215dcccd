/* stream-pods.c: routes the streaming subresources of pods (log, exec, attach, portforward) from
 * the generic resource endpoint to k3core/stream. It checks that the pod exists (404 as
 * upstream); a pod of this server's own node is served by the in-process kubelet
 * (kstream_pod_serve), a pod of a joined agent's node through that node's kubelet port: the
 * request goes to https://<InternalIP>:<daemonEndpoints.kubeletEndpoint.Port> under upstream's
 * kubelet paths (/containerLogs/NS/POD/C, /exec/NS/POD[/C], /attach/NS/POD[/C],
 * /portForward/NS/POD) with the client's query, verified against the server CA and presenting
 * the client-kube-apiserver certificate (kstream_proxy).
 */
#include "k3core/server/server-internal.h"
#include "k3core/stream/stream.h"

/* The kubelet's path: the client's query, and the container it names, or the pod's only one
 * (kubectl always names one; upstream's apiserver defaults it likewise). */
static char *kubelet_target(http_req *req, const kobj_req *kr, enum kstream_kind kind,
                            const json_t *pod)
{
    const char *container = http_req_query(req, "container");
    const json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    if ((!container || !*container) && json_array_size(cs) == 1)
        container = json_string_value(json_object_get(json_array_get(cs, 0), "name"));
    _cleanup_strv_free_ char **q = NULL;
    const char *k, *v;
    for (size_t i = 0; http_req_query_at(req, i, &k, &v); i++) {
        q = dd_strv_push(q, k);
        q = dd_strv_push(q, v ? v : "");
    }
    return kstream_kubelet_target(kind, kr->ns, kr->name, container, q);
}

/* The node's InternalIP and kubelet port. */
static int kubelet_endpoint(struct ksrv *s, const char *node, char **ret_ip, int *ret_port,
                            kobj_status *st)
{
    kobj_req nr = {.res = kres_lookup("", "v1", "nodes"), .name = node};
    json_t *n = NULL;
    if (kobj_get(s->api, &nr, &n, st) < 0)
        return -1;
    const json_t *status = json_object_get(n, "status");
    const char *ip = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(status, "addresses"), i, a)
    {
        const char *type = json_string_value(json_object_get(a, "type"));
        if (type && !strcmp(type, "InternalIP")) {
            ip = json_string_value(json_object_get(a, "address"));
            break;
        }
    }
    json_int_t port = json_integer_value(json_object_get(
        json_object_get(json_object_get(status, "daemonEndpoints"), "kubeletEndpoint"), "Port"));
    int r = 0;
    if (!ip)
        r = kobj_fail(st, 500, "InternalError", "error dialing backend: node %s has no InternalIP",
                      node);
    else if (port <= 0 || port > 65535)
        r = kobj_fail(st, 500, "InternalError",
                      "error dialing backend: node %s publishes no kubelet port", node);
    if (r >= 0) {
        *ret_ip = dd_strdup(ip);
        *ret_port = (int)port;
    }
    json_decref(n);
    return r;
}

static int serve_remote(struct ksrv *s, http_req *req, const kobj_req *kr, enum kstream_kind kind,
                        const json_t *pod, const char *node, kobj_status *st)
{
    _cleanup_free_ char *ip = NULL;
    int port = 0;
    if (kubelet_endpoint(s, node, &ip, &port, st) < 0)
        return -1;
    if (!s->kubelet_tls) {
        dd_err e = {0};
        if (!(s->kubelet_tls = pki_kubelet_client_ctx(s->pki, &e)))
            return kobj_fail(st, 500, "InternalError", "error dialing backend: %s", e.msg);
    }
    _cleanup_free_ char *target = kubelet_target(req, kr, kind, pod);
    struct kstream_proxy_target t = {
        .tls = s->kubelet_tls, .host = ip, .port = port, .target = target};
    return kstream_proxy(s->loop, req, &t, st);
}

bool ksrv_is_pod_stream(const kres_resource *r, const char *sub)
{
    return sub && !r->group[0] && !strcmp(r->resource, "pods") && kstream_kind_of(sub) >= 0;
}

int ksrv_handle_pod_stream(struct ksrv *s, http_req *req, const kobj_req *kr, kobj_status *st)
{
    enum kstream_kind kind = (enum kstream_kind)kstream_kind_of(kr->subresource);
    json_t *pod = NULL;
    if (kobj_get(s->api, kr, &pod, st) < 0)
        return -1;
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    int r;
    if (node && !dd_streq(node, s->cfg->node_name))
        r = serve_remote(s, req, kr, kind, pod, node, st);
    else
        r = kstream_pod_serve(s->loop, s->kubelet, req, kind, kr->ns, kr->name, NULL, st);
    json_decref(pod);
    return r;
}
