/* server.c: `k3core server` start-up and the route table. It creates or loads the PKI under
 * <data-dir>/server/tls, opens the sqlite store (<data-dir>/server/db/state.db) and the object
 * layer, bootstraps RBAC, writes the admin kubeconfig, listens with TLS on
 * --bind-address:--https-listen-port and runs the event loop until SIGTERM/SIGINT.
 *
 * Every route goes through one entry that authenticates the caller (401 for anonymous requests,
 * health endpoints excepted like upstream's system:public-info-viewer) and then calls the row's
 * handler. Resource semantics live in k3core/api; this file only wires things together.
 */
#include "dind/net.h"
#include "k3core/server/server-internal.h"
#include "k3core/kubelet/kubelet.h"
#include "k3core/server/table-internal.h"

#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>

typedef void (*ksrv_fn)(struct ksrv *s, http_req *req, struct kuser *u);

struct ksrv *ksrv_of(http_req *req)
{
    return http_req_server_data(req);
}

static void h_version(struct ksrv *s, http_req *req, struct kuser *u)
{
    json_t *v =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor", "33",
                  "emulationMajor", "1", "emulationMinor", "33", "gitVersion", K3CORE_VERSION,
                  "gitCommit", "k3core", "gitTreeState", "clean", "buildDate",
                  "2026-11-23T00:00:00Z", "goVersion", "go1.24.2", "compiler", "gc");
    json_object_set_new(v, "platform", json_string("linux/amd64"));
    ksrv_reply_json(req, 200, v, NULL);
    json_decref(v);
}

static const char *const health_checks[] = {"ping", "log", "etcd",
                                            "poststarthook/start-apiextensions-controllers",
                                            "poststarthook/rbac/bootstrap-roles"};

static void h_health(struct ksrv *s, http_req *req, struct kuser *u)
{
    const char *path = http_req_path(req);
    const char *const *checks = health_checks;
    if (!http_req_query(req, "verbose")) {
        http_reply(req, 200, "text/plain; charset=utf-8", "ok", 2);
        return;
    }
    dd_buf b = DD_BUF_INIT;
    for (size_t i = 0; i < DD_ARRAY_SIZE(health_checks); i++)
        dd_buf_addf(&b, "[+]%s ok\n", checks[i]);
    dd_buf_addf(&b, "%s check passed\n", path + 1);
    http_reply(req, 200, "text/plain; charset=utf-8", b.data, b.len);
    dd_buf_release(&b);
}

/* /healthz/<check> (also livez, readyz): one named check, as upstream serves each of them. */
static void h_health_check(struct ksrv *s, http_req *req, struct kuser *u)
{
    const char *path = http_req_path(req);
    const char *check = strchr(path + 1, '/');
    for (size_t i = 0; check && i < DD_ARRAY_SIZE(health_checks); i++) {
        if (!strcmp(check + 1, health_checks[i])) {
            http_reply(req, 200, "text/plain; charset=utf-8", "ok", 2);
            return;
        }
    }
    http_reply(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}

static void h_discovery(struct ksrv *s, http_req *req, struct kuser *u)
{
    ksrv_handle_discovery(req);
}

static void h_openapi(struct ksrv *s, http_req *req, struct kuser *u)
{
    ksrv_handle_openapi(req);
}

static void h_resource(struct ksrv *s, http_req *req, struct kuser *u)
{
    http_req_set_data(req, u);
    ksrv_handle_resource(req);
}

struct kuser *ksrv_user(http_req *req)
{
    return http_req_data(req);
}

bool ksrv_authorize_path(struct ksrv *s, http_req *req, const struct kuser *u)
{
    if (kuser_in_group(u, "system:masters"))
        return true;
    const char *path = http_req_path(req);
    struct kattr a = {.verb = "get", .path = path};
    if (ksrv_authorize(s, u, &a, NULL))
        return true;
    ksrv_fail(req, 403, "Forbidden", "forbidden: User \"%s\" cannot get path \"%s\"", u->name,
              path);
    return false;
}

static bool public_path(const char *path)
{
    return !strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz") ||
           !strcmp(path, "/version") || !strcmp(path, "/version/");
}

static void h_entry(http_req *req)
{
    struct ksrv *s = ksrv_of(req);
    ksrv_fn fn = (ksrv_fn)http_req_route_data(req);
    struct kuser u = {0};
    if (ksrv_authenticate(s, req, &u) < 0) {
        if (public_path(http_req_path(req))) {
            fn(s, req, &u);
            return;
        }
        ksrv_fail(req, 401, "Unauthorized", "Unauthorized");
        return;
    }
    kobj_status st = {0};
    if (ksrv_impersonate(s, req, &u, &st) < 0) {
        ksrv_reply_status(req, &st);
        kobj_status_release(&st);
        kuser_release(&u);
        return;
    }
    if (fn != h_resource && !ksrv_authorize_path(s, req, &u)) {
        kuser_release(&u);
        return;
    }
    fn(s, req, &u);
    kuser_release(&u);
}

#define ROUTE(m, p, fn)                                                                            \
    {                                                                                              \
        m, p, h_entry, 0, KSRV_MAX_BODY, (void *)(fn)                                              \
    }
static const http_route routes[] = {
    ROUTE("GET", "/version", h_version),
    ROUTE("GET", "/version/", h_version),
    ROUTE("GET", "/healthz", h_health),
    ROUTE("GET", "/livez", h_health),
    ROUTE("GET", "/readyz", h_health),
    ROUTE("GET", "/healthz/{check*}", h_health_check),
    ROUTE("GET", "/livez/{check*}", h_health_check),
    ROUTE("GET", "/readyz/{check*}", h_health_check),
    ROUTE("GET", "/api", h_discovery),
    ROUTE("GET", "/api/", h_discovery),
    ROUTE("GET", "/apis", h_discovery),
    ROUTE("GET", "/apis/", h_discovery),
    ROUTE("GET", "/openapi/v2", h_openapi),
    ROUTE("GET", "/openapi/v3", h_openapi),
    ROUTE("GET", "/openapi/v3/{path*}", h_openapi),
    ROUTE(NULL, "/api/{rest*}", h_resource),
    ROUTE(NULL, "/apis/{rest*}", h_resource),
};

static void on_http_error(http_req *req, int status, const char *message)
{
    const char *reason = status == 413   ? "RequestEntityTooLarge"
                         : status == 405 ? "MethodNotAllowed"
                         : status == 404 ? "NotFound"
                                         : "BadRequest";
    if (status == 413)
        ksrv_fail(req, 413, reason, "Request entity too large: limit is %u", KSRV_MAX_BODY);
    else if (status == 404)
        ksrv_fail(req, 404, reason, "the server could not find the requested resource");
    else
        ksrv_fail(req, status, reason, "%s", message ? message : "bad request");
}

static void common_headers(void *data, dd_buf *out)
{
    dd_buf_adds(out, "X-Kubernetes-Pf-Flowschema-Uid: k3core\r\n");
}

static void on_signal(ev_signal *sig, int signo, void *data)
{
    dd_info("received %s, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    ev_stop(data);
}

static void on_controllers(ev_timer *t, void *data)
{
    struct ksrv *s = data;
    dd_err e = {0};
    int n = kobj_run_controllers(s->api, &e);
    if (n < 0)
        dd_warn("controllers: %s", e.msg);
    ev_timer_reset(t, n > 0 ? 50 : 1000);
}

#define NODE_GRACE_NS (50 * 1000000000LL) /* upstream's node-monitor-grace-period */

static void on_nodelife(ev_timer *t, void *data)
{
    (void)t;
    ksrv_nodelife_pass(data, dd_now_ns(), NODE_GRACE_NS);
}

static void on_csr(ev_timer *t, void *data)
{
    (void)t;
    ksrv_csr_pass(data);
}

static char **wanted_sans(const struct kcfg *c, const char *advertise)
{
    char svc_ip[64] = "10.43.0.1";
    kcfg_first_service_ip(c, svc_ip, sizeof(svc_ip));
    const char *fixed[] = {"localhost",      "127.0.0.1",          "::1",
                           "kubernetes",     "kubernetes.default", "kubernetes.default.svc",
                           svc_ip,           c->node_name,         advertise,
                           c->advertise_addr};
    char **sans = NULL;
    for (size_t i = 0; i < DD_ARRAY_SIZE(fixed); i++)
        if (fixed[i] && *fixed[i] && !dd_strv_contains(sans, fixed[i]))
            sans = dd_strv_push(sans, fixed[i]);
    _cleanup_free_ char *fqdn = dd_asprintf("kubernetes.default.svc.%s", c->cluster_domain);
    sans = dd_strv_push(sans, fqdn);
    for (size_t i = 0; c->tls_sans && c->tls_sans[i]; i++)
        if (!dd_strv_contains(sans, c->tls_sans[i]))
            sans = dd_strv_push(sans, c->tls_sans[i]);
    return sans;
}

static int open_state(struct ksrv *s, const char *server_dir, dd_err *e)
{
    _cleanup_free_ char *tls_dir = dd_path_join(server_dir, "tls");
    _cleanup_free_ char *db_dir = dd_path_join(server_dir, "db");
    s->node_ip = s->cfg->node_ip          ? dd_strdup(s->cfg->node_ip)
                 : s->cfg->advertise_addr ? dd_strdup(s->cfg->advertise_addr)
                                          : net_first_ipv4();
    const char *advertise = s->node_ip;
    _cleanup_strv_free_ char **sans = wanted_sans(s->cfg, advertise);
    struct pki_params pp = {.sans = sans};
    int r = pki_load_or_create(tls_dir, &pp, &s->pki, e);
    if (r < 0)
        return dd_err_wrap(e, "certificates in %s", tls_dir);
    if ((r = dd_mkdir_p(db_dir, 0700, e)) < 0)
        return r;
    _cleanup_free_ char *db = dd_path_join(db_dir, "state.db");
    if ((r = kst_open(db, NULL, &s->store, e)) < 0)
        return dd_err_wrap(e, "opening %s", db);
    kobj_config oc = {.service_cidr = s->cfg->service_cidr,
                      .ca_pem = s->pki->server_ca_pem,
                      .cluster_dns = s->cfg->cluster_dns};
    if ((r = kobj_open(s->store, &oc, &s->api, e)) < 0)
        return dd_err_wrap(e, "opening the object layer");
    ksrv_table_set_api(s->api);
    if ((r = ksrv_token_init(s, server_dir, e)) < 0)
        return dd_err_wrap(e, "cluster token");
    if ((r = ksrv_rbac_bootstrap(s, e)) < 0)
        return r;
    return ksrv_master_endpoints(s, e);
}

static int start_listening(struct ksrv *s, dd_err *e)
{
    if (!(s->tls = pki_server_ctx(s->pki, e)))
        return -e->code;
    http_server_opts o = {.error = on_http_error,
                          .headers = common_headers,
                          .data = s,
                          .body_mem_max = KSRV_MAX_BODY,
                          .idle_ms = 600000};
    s->http = http_server_new(s->loop, &o);
    ksrv_join_routes(s);
    http_server_add_routes(s->http, routes, DD_ARRAY_SIZE(routes));
    const char *bind = s->cfg->bind_address;
    _cleanup_free_ char *addr = strchr(bind, ':')
                                    ? dd_asprintf("tcp://[%s]:%d", bind, s->cfg->https_port)
                                    : dd_asprintf("tcp://%s:%d", bind, s->cfg->https_port);
    int r = http_server_listen(s->http, addr, s->tls, e);
    return r < 0 ? dd_err_wrap(e, "listening on %s", addr) : 0;
}

static int write_kubeconfig(struct ksrv *s, dd_err *e)
{
    if (!s->cfg->kubeconfig_out || !*s->cfg->kubeconfig_out)
        return 0;
    _cleanup_free_ char *url = dd_asprintf("https://127.0.0.1:%d", s->cfg->https_port);
    int r = pki_write_kubeconfig(s->pki, s->cfg->kubeconfig_out, url, s->cfg->kubeconfig_mode, e);
    if (r == 0)
        dd_info("Wrote kubeconfig %s", s->cfg->kubeconfig_out);
    return r;
}

static void ksrv_release(struct ksrv *s)
{
    kctl_stop(s->workloads);
    kubelet_stop(s->kubelet);
    ev_timer_del(s->sched_timer);
    ev_timer_del(s->nodelife_timer);
    ev_timer_del(s->csr_timer);
    ksrv_ipam_stop(s);
    free(s->node_ip), free(s->ca_hash), free(s->token_password);
    http_server_free(s->http);
    /* closed connections (watches among them) are freed by deferred callbacks that still reach
     * into the object layer and the store: run them before those go */
    ev_run_deferred(s->loop);
    ev_timer_del(s->ctrl_timer);
    kobj_close(s->api);
    kst_close(s->store);
    SSL_CTX_free(s->tls);
    SSL_CTX_free(s->kubelet_tls);
    pki_free(s->pki);
    ev_loop_free(s->loop);
    free(s->issuer);
}

/* After a burst (a rollout, 100 pods at once) malloc keeps freed memory in its free lists;
 * give it back once the loop has been quiet for a second, as dindd does. */
static void on_idle(void *data)
{
    (void)data;
    malloc_trim(0);
}

int ksrv_run(const struct kcfg *cfg)
{
    struct ksrv s = {.cfg = cfg, .start_ns = dd_now_ns()};
    dd_err e = {0};
    enum dd_log_level lvl;
    if (dd_log_parse_level(cfg->log_level, &lvl) == 0)
        dd_log_threshold = lvl;
    signal(SIGPIPE, SIG_IGN);
    _cleanup_free_ char *server_dir = kcfg_server_dir(cfg);
    s.issuer = dd_asprintf("https://kubernetes.default.svc.%s", cfg->cluster_domain);
    int r = dd_mkdir_p(server_dir, 0700, &e);
    if (r >= 0 && !(s.loop = ev_loop_new(&e)))
        r = -EIO;
    if (r >= 0)
        r = open_state(&s, server_dir, &e);
    if (r >= 0 && (r = kctl_start(s.loop, s.api, &s.workloads, &e)) < 0)
        dd_err_wrap(&e, "starting the controllers");
    if (r >= 0 && !dd_strv_contains(cfg->disable, "local-storage")) {
        _cleanup_free_ char *storage = cfg->local_storage_path && *cfg->local_storage_path
                                           ? dd_strdup(cfg->local_storage_path)
                                           : dd_path_join(cfg->data_dir, "storage");
        r = kctl_local_storage(s.workloads, storage, cfg->disable_agent ? NULL : cfg->node_name,
                               &e);
    }
    if (r >= 0)
        r = start_listening(&s, &e);
    if (r >= 0)
        r = write_kubeconfig(&s, &e);
    if (r >= 0)
        r = ksrv_ipam_start(&s, &e);
    if (r >= 0)
        r = ksrv_agent_start(&s, s.node_ip, &e);
    if (r >= 0 && (!ev_signal_add(s.loop, SIGTERM, on_signal, s.loop, &e) ||
                   !ev_signal_add(s.loop, SIGINT, on_signal, s.loop, &e)))
        r = -EIO;
    if (r < 0) {
        dd_error("k3core server: %s", e.msg);
        ksrv_release(&s);
        return 1;
    }
    s.ctrl_timer = ev_timer_add(s.loop, 200, 0, on_controllers, &s);
    s.nodelife_timer = ev_timer_add(s.loop, 5000, 5000, on_nodelife, &s);
    s.csr_timer = ev_timer_add(s.loop, 1000, 1000, on_csr, &s);
    ev_set_idle(s.loop, 1000, on_idle, NULL);
    dd_info("Running kube-apiserver on https://%s:%d", cfg->bind_address, cfg->https_port);
    dd_info("k3s is up and running");
    ev_run(s.loop);
    ksrv_release(&s);
    return 0;
}
