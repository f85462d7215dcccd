/* agent.c: starts the in-process node agent (k3core/kubelet) for `k3core server` unless
 * --disable-agent, with the server's node flags, and gives it the server's ServiceAccount token
 * signer for projected token volumes (tokens bound to the pod, audience the API server). With
 * --disable-agent the scheduler runs on a 1 s timer of its own instead (without events), so pods
 * still land on joined agents.
 */
#include "k3core/kubelet/kubelet.h"
#include "k3core/scheduler/scheduler.h"
#include "k3core/server/server-internal.h"

static char *mint(void *ud, const char *ns, const char *sa, const char *pod, const char *pod_uid,
                  int64_t ttl, int64_t *ret_exp)
{
    struct ksrv *s = ud;
    kobj_req req = {.res = kres_lookup("", "v1", "serviceaccounts"), .ns = ns, .name = sa};
    kobj_status st = {0};
    json_t *obj = NULL;
    if (kobj_get(s->api, &req, &obj, &st) < 0) {
        dd_warn("token for %s/%s: %s", ns, sa, st.message);
        kobj_status_release(&st);
        return NULL;
    }
    const char *uid =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid")) ?: "";
    json_t *aud = json_pack("[s]", s->issuer);
    char *tok = ksrv_mint_token(s, ns, sa, uid, aud, ttl, "Pod", pod, pod_uid, ret_exp);
    json_decref(aud);
    json_decref(obj);
    return tok;
}

static void on_schedule(ev_timer *t, void *data)
{
    (void)t;
    struct ksrv *s = data;
    ksched_run(s->api, NULL);
}

int ksrv_agent_start(struct ksrv *s, const char *node_ip, dd_err *e)
{
    if (s->cfg->disable_agent) {
        /* No local kubelet to drive the scheduler: joined agents still need their pods bound. */
        s->sched_timer = ev_timer_add(s->loop, 1000, 1000, on_schedule, s);
        return 0;
    }
    json_t *registries = NULL;
    int rr = kcfg_load_registries(s->cfg, &registries, e);
    if (rr < 0)
        return dd_err_wrap(e, "node agent");
    struct kubelet_config kc = {.data_dir = s->cfg->data_dir,
                                .node_name = s->cfg->node_name,
                                .node_ip = node_ip,
                                .node_labels = s->cfg->node_labels,
                                .node_taints = s->cfg->node_taints,
                                .kubelet_args = s->cfg->kubelet_args,
                                .control_plane = true,
                                .mint_token = mint,
                                .mint_ud = s,
                                .ca_pem = s->pki->server_ca_pem,
                                .cluster_dns = s->cfg->cluster_dns,
                                .cluster_domain = s->cfg->cluster_domain,
                                .cluster_cidr = s->cfg->cluster_cidr,
                                .registries = registries,
                                .image_store = s->cfg->image_store};
    int r = kubelet_start(s->loop, s->api, &kc, &s->kubelet, e);
    json_decref(registries);
    return r < 0 ? dd_err_wrap(e, "node agent") : 0;
}
