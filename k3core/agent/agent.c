/* agent.c: `k3core agent` start-up and shutdown. Joins the server (join.c), then starts the
 * kubelet with the remote API (client.c) — registering the Node and Lease as
 * system:node:<name> — and its kubelet port (kubelet-port.c: the server's way to the pods' logs,
 * exec, attach and port-forward), and runs the loop until SIGTERM/SIGINT, when the kubelet stops
 * its pods and removes its bridge, rules and pod routes. While the server cannot be reached the
 * join is retried every 2 s; a refused one (token, CA hash, node password) exits 1 before anything
 * is set up on the node.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "dind/ev.h"
#include "dind/net.h"
#include "k3core/agent/agent.h"

static void on_signal(ev_signal *sig, int signo, void *data)
{
    (void)sig;
    dd_info("received %s, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    ev_stop(data);
}

struct agent {
    ev_loop *loop;
    kag_http *http;
    struct kag_join join;
    struct kubelet_remote ops;
    struct kag_client client;
    kubelet *kubelet;
    kag_kport *kport;
    char *node_ip;
};

/* Joins, retrying every 2 s while the server cannot be reached or is not ready (as k3s agents
 * wait for their server); a refused token or node password ends it at once. Returns 1 when
 * SIGTERM/SIGINT arrived while waiting (they are blocked, so they stay pending until here). */
static int join_with_retry(struct agent *a, const struct kcfg *cfg, dd_err *e)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int r = kag_join(cfg, cfg->node_name, a->node_ip, &a->join, e);
        if (r >= 0 || (r != -EHOSTUNREACH && r != -EPROTO))
            return r < 0 ? dd_err_wrap(e, "joining %s", cfg->server_url) : 0;
        dd_warn("waiting to join %s: %s", cfg->server_url, e->msg);
        dd_err_clear(e);
        struct timespec ts = {.tv_sec = 2};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            dd_info("received %s while waiting to join, exiting",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return 1;
        }
    }
}

static int agent_start(struct agent *a, const struct kcfg *cfg, dd_err *e)
{
    a->node_ip = cfg->node_ip ? dd_strdup(cfg->node_ip) : net_first_ipv4();
    int r = join_with_retry(a, cfg, e);
    if (r != 0)
        return r;
    dd_info("joined %s as system:node:%s", cfg->server_url, cfg->node_name);
    struct kag_http_opts o = {
        .ca_file = a->join.ca_file, .cert_file = a->join.cert_file, .key_file = a->join.key_file};
    if ((r = kag_http_new(cfg->server_url, &o, &a->http, e)) < 0)
        return r;
    if (!(a->loop = ev_loop_new(e)))
        return -EIO;
    a->client = (struct kag_client){
        .http = a->http, .loop = a->loop, .base_url = cfg->server_url, .tls = o};
    kag_client_init(&a->ops, &a->client);
    json_t *registries = NULL;
    if ((r = kcfg_load_registries(cfg, &registries, e)) < 0)
        return dd_err_wrap(e, "node agent");
    struct kubelet_config kc = {.data_dir = cfg->data_dir,
                                .node_name = cfg->node_name,
                                .node_ip = a->node_ip,
                                .node_labels = cfg->node_labels,
                                .node_taints = cfg->node_taints,
                                .kubelet_args = cfg->kubelet_args,
                                .mint_token = kag_client_mint,
                                .mint_ud = &a->client,
                                .ca_pem = a->join.ca_pem,
                                .cluster_cidr = a->join.cluster_cidr,
                                .cluster_dns = a->join.cluster_dns,
                                .cluster_domain = a->join.cluster_domain,
                                .registries = registries,
                                .image_store = cfg->image_store,
                                .remote = &a->ops};
    r = kubelet_start(a->loop, NULL, &kc, &a->kubelet, e);
    json_decref(registries);
    if (r < 0)
        return dd_err_wrap(e, "node agent");
    _cleanup_free_ char *agent_dir = dd_path_join(cfg->data_dir, "agent");
    if ((r = kag_kport_start(a->loop, a->kubelet, agent_dir, kubelet_port(&kc), &a->kport, e)) < 0)
        return dd_err_wrap(e, "node agent");
    if (!ev_signal_add(a->loop, SIGTERM, on_signal, a->loop, e) ||
        !ev_signal_add(a->loop, SIGINT, on_signal, a->loop, e))
        return -EIO;
    return 0;
}

static void agent_release(struct agent *a)
{
    kag_kport_stop(a->kport);
    if (a->loop)
        ev_run_deferred(a->loop); /* closed connections go before the kubelet they point into */
    kubelet_stop(a->kubelet);
    kag_http_free(a->http);
    kag_join_release(&a->join);
    ev_loop_free(a->loop);
    free(a->node_ip);
}

int kag_run(const struct kcfg *cfg)
{
    struct agent a = {0};
    dd_err e = {0};
    enum dd_log_level lvl;
    if (dd_log_parse_level(cfg->log_level, &lvl) == 0)
        dd_log_threshold = lvl;
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before libcurl may start resolver threads, so that every thread leaves SIGTERM and
     * SIGINT to the loop's signalfd instead of dying by the default action. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int r = agent_start(&a, cfg, &e);
    if (r != 0) {
        if (r < 0)
            dd_error("k3core agent: %s", e.msg);
        agent_release(&a);
        return r < 0 ? 1 : 0;
    }
    dd_info("k3s agent is up and running");
    ev_run(a.loop);
    agent_release(&a);
    return 0;
}
