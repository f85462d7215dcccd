/* kubelet-port.c: the agent's kubelet port (upstream's kubelet server on 10250, --kubelet-arg
 * port=N), over which the server reaches the pods of this node for logs, exec, attach and
 * port-forward. HTTPS with the serving-kubelet certificate from the join; a client must present
 * a certificate of the cluster's client CA, and only the server's (CN system:apiserver) is
 * served: none is 401, any other (a node's, an admin's) 403. Paths are upstream kubelet's:
 *     GET  /containerLogs/{ns}/{pod}/{container}     (also without the container: the query's)
 *     GET|POST /exec/{ns}/{pod}[/{container}]        SPDY or WebSocket upgrade
 *     GET|POST /attach/{ns}/{pod}[/{container}]
 *     GET|POST /portForward/{ns}/{pod}
 * with the API's query (pods/log options, command/stdin/stdout/stderr/tty, ports), served by
 * the same code as the server's own pods (kstream_pod_serve). No /metrics, /stats, /pods or
 * /run here: such paths answer 404.
 */
#include <stdio.h>

#include "k3core/agent/agent.h"
#include "k3core/pki/pki.h"
#include "k3core/stream/stream.h"

struct kag_kport {
    ev_loop *loop;
    kubelet *kubelet;
    http_server *http;
    SSL_CTX *tls;
};

static void reply_text(http_req *req, int code, const char *text)
{
    http_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* True when the client is the server; else answers 401 or 403. */
static bool authorized(http_req *req)
{
    dd_err e = {0};
    int r = pki_kubelet_client_check(http_req_peer_cert(req), &e);
    if (r == 0)
        return true;
    dd_debug("kubelet port: %s %s refused: %s", http_req_method(req), http_req_path(req), e.msg);
    _cleanup_free_ char *msg = dd_asprintf("%s\n", e.msg);
    reply_text(req, r == -EACCES ? 401 : 403, msg);
    return false;
}

static const enum kstream_kind kinds[] = {KSTREAM_LOG, KSTREAM_EXEC, KSTREAM_ATTACH,
                                          KSTREAM_PORTFORWARD};

static void h_stream(http_req *req)
{
    struct kag_kport *kp = http_req_server_data(req);
    if (!authorized(req))
        return;
    const enum kstream_kind *kind = http_req_route_data(req);
    kobj_status st = {0};
    if (kstream_pod_serve(kp->loop, kp->kubelet, req, *kind, http_req_param(req, "ns"),
                          http_req_param(req, "pod"), http_req_param(req, "container"), &st) < 0) {
        json_t *j = kobj_status_json(&st);
        http_reply_json(req, st.code ? st.code : 500, j);
        json_decref(j);
    }
    kobj_status_release(&st);
}

static void on_error(http_req *req, int status, const char *message)
{
    if (!authorized(req))
        return;
    reply_text(req, status, status == 404 ? "404 page not found\n" : message);
}

#define ROUTE(m, p, k)                                                                             \
    {                                                                                              \
        m, p, h_stream, 0, 0, (void *)&kinds[k]                                                    \
    }
static const http_route routes[] = {
    ROUTE("GET", "/containerLogs/{ns}/{pod}/{container}", KSTREAM_LOG),
    ROUTE("GET", "/containerLogs/{ns}/{pod}", KSTREAM_LOG),
    ROUTE(NULL, "/exec/{ns}/{pod}/{container}", KSTREAM_EXEC),
    ROUTE(NULL, "/exec/{ns}/{pod}", KSTREAM_EXEC),
    ROUTE(NULL, "/attach/{ns}/{pod}/{container}", KSTREAM_ATTACH),
    ROUTE(NULL, "/attach/{ns}/{pod}", KSTREAM_ATTACH),
    ROUTE(NULL, "/portForward/{ns}/{pod}", KSTREAM_PORTFORWARD),
};

int kag_kport_start(ev_loop *loop, kubelet *k, const char *agent_dir, int port, kag_kport **ret,
                    dd_err *e)
{
    _cleanup_free_ char *crt = dd_path_join(agent_dir, "serving-kubelet.crt");
    _cleanup_free_ char *key = dd_path_join(agent_dir, "serving-kubelet.key");
    _cleanup_free_ char *ca = dd_path_join(agent_dir, "client-ca.crt");
    struct kag_kport *kp = dd_calloc(1, sizeof(*kp));
    kp->loop = loop;
    kp->kubelet = k;
    kp->tls = pki_kubelet_server_ctx(crt, key, ca, e);
    if (!kp->tls) {
        kag_kport_stop(kp);
        return dd_err_wrap(e, "kubelet port");
    }
    http_server_opts o = {.error = on_error, .data = kp};
    kp->http = http_server_new(loop, &o);
    http_server_add_routes(kp->http, routes, DD_ARRAY_SIZE(routes));
    _cleanup_free_ char *addr = dd_asprintf("tcp://0.0.0.0:%d", port);
    int r = http_server_listen(kp->http, addr, kp->tls, e);
    if (r < 0) {
        kag_kport_stop(kp);
        return dd_err_wrap(e, "kubelet port %d (another port: --kubelet-arg port=N)", port);
    }
    dd_info("kubelet port listening on %s", addr);
    *ret = kp;
    return 0;
}

void kag_kport_stop(kag_kport *kp)
{
    if (!kp)
        return;
    http_server_free(kp->http);
    SSL_CTX_free(kp->tls);
    free(kp);
}
