/* stream-pods.c: routes the streaming subresources of pods (log, exec, attach, portforward) from
 * the generic resource endpoint to k3core/stream. It checks that the pod exists (404 as
 * upstream); a pod of this server's own node is served by the in-process kubelet
 * (kstream_pod_serve), a pod of a joined agent's node through that node's kubelet port: the
 * request goes to https://<InternalIP>:<daemonEndpoints.kubeletEndpoint.Port> under upstream's
 * kubelet paths (/containerLogs/NS/POD/C, /exec/NS/POD[/C], /attach/NS/POD[/C],
 * /portForward/NS/POD) with the client's query, verified against the server CA and presenting
 * the client-kube-apiserver certificate (kstream_proxy).
 */
#include <arpa/inet.h>

#include "k3core/server/server-internal.h"
#include "k3core/stream/stream.h"

/* A path segment: names are DNS labels, but a container name from the query is anyone's input. */
static void add_segment(dd_buf *b, const char *s)
{
    dd_buf_addc(b, '/');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_')
            dd_buf_addc(b, (char)*p);
        else
            dd_buf_addf(b, "%%%02X", *p);
    }
}

/* The kubelet's path for the request, with the client's query. */
static char *kubelet_target(http_req *req, const kobj_req *kr, enum kstream_kind kind)
{
    static const char *const prefix[] = {[KSTREAM_LOG] = "/containerLogs",
                                         [KSTREAM_EXEC] = "/exec",
                                         [KSTREAM_ATTACH] = "/attach",
                                         [KSTREAM_PORTFORWARD] = "/portForward"};
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, prefix[kind]);
    add_segment(&b, kr->ns);
    add_segment(&b, kr->name);
    const char *container = http_req_query(req, "container");
    if (kind != KSTREAM_PORTFORWARD && container && *container)
        add_segment(&b, container);
    const char *q = strchr(http_req_target(req), '?');
    if (q)
        dd_buf_adds(&b, q);
    return dd_buf_detach(&b, NULL);
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
                        const char *node, kobj_status *st)
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
    _cleanup_free_ char *target = kubelet_target(req, kr, kind);
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
    const char *n = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    _cleanup_free_ char *node = n ? dd_strdup(n) : NULL;
    json_decref(pod);
    if (node && !dd_streq(node, s->cfg->node_name))
        return serve_remote(s, req, kr, kind, node, st);
    return kstream_pod_serve(s->loop, s->kubelet, req, kind, kr->ns, kr->name, NULL, st);
}
