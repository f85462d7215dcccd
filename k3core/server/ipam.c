/* ipam.c: the node-ipam controller's role. Each Node without spec.podCIDR gets the lowest free
 * /24 of --cluster-cidr (10.42.0.0/16 → 10.42.N.0/24), written to spec.podCIDR and
 * spec.podCIDRs. A watch on Nodes wakes it; a Node keeps its CIDR for as long as it exists, and
 * a deleted Node's CIDR becomes free again. It assigns nothing when the cluster CIDR is full
 * (logged, retried on the next Node change).
 */
#include <stdio.h>

#include "dind/net.h"
#include "k3core/server/server-internal.h"

#define NODE_MASK 24 /* upstream's --node-cidr-mask-size for IPv4 */

static const char *node_cidr(const json_t *node)
{
    return json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
}

/* Index of cidr's /24 inside the cluster CIDR, or -1 when it is not one of them. */
static long subnet_index(const struct net_cidr *cluster, const char *cidr)
{
    struct net_cidr c;
    if (!cidr || net_cidr_parse(cidr, false, &c, NULL) < 0 || c.prefix != NODE_MASK ||
        !net_cidr_contains(cluster, c.addr))
        return -1;
    return (long)((net_cidr_network(&c) - net_cidr_network(cluster)) >> (32 - NODE_MASK));
}

static int assign(struct ksrv *s, json_t *node, const char *cidr)
{
    json_t *spec = json_object_get(node, "spec");
    if (!json_is_object(spec))
        json_object_set_new(node, "spec", spec = json_object());
    jx_set_str(spec, "podCIDR", cidr);
    json_object_set_new(spec, "podCIDRs", json_pack("[s]", cidr));
    kobj_req req = {
        .res = kres_lookup("", "v1", "nodes"),
        .name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name")),
        .field_manager = "k3core-node-ipam"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r = kobj_update(s->api, &req, node, &res, &st);
    if (r < 0)
        dd_warn("node-ipam: node %s: %s", req.name, st.message);
    else
        dd_info("node-ipam: node %s podCIDR %s", req.name, cidr);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return r;
}

static void ipam_pass(struct ksrv *s)
{
    struct net_cidr cluster;
    if (net_cidr_parse(s->cfg->cluster_cidr, false, &cluster, NULL) < 0)
        return;
    size_t n = (size_t)1 << (NODE_MASK - cluster.prefix);
    kobj_req req = {.res = kres_lookup("", "v1", "nodes")};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kobj_list(s->api, &req, &o, &list, &st) < 0) {
        dd_warn("node-ipam: listing nodes: %s", st.message);
        kobj_status_release(&st);
        return;
    }
    kobj_status_release(&st);
    _cleanup_free_ bool *used = dd_calloc(n, sizeof(bool));
    json_t *items = json_object_get(list, "items"), *node;
    size_t i, next = 0;
    json_array_foreach(items, i, node)
    {
        long idx = subnet_index(&cluster, node_cidr(node));
        if (idx >= 0 && (size_t)idx < n)
            used[idx] = true;
    }
    json_array_foreach(items, i, node)
    {
        if (node_cidr(node) ||
            json_object_get(json_object_get(node, "metadata"), "deletionTimestamp"))
            continue;
        while (next < n && used[next])
            next++;
        if (next >= n) {
            dd_warn("node-ipam: no free /%d left in cluster CIDR %s", NODE_MASK,
                    s->cfg->cluster_cidr);
            break;
        }
        char ip[NET_IP_STRLEN];
        net_ip_format(net_cidr_network(&cluster) + ((uint32_t)next << (32 - NODE_MASK)), ip);
        _cleanup_free_ char *cidr = dd_asprintf("%s/%d", ip, NODE_MASK);
        if (assign(s, node, cidr) == 0)
            used[next] = true;
    }
    json_decref(list);
}

static void on_ipam_timer(ev_timer *t, void *data)
{
    (void)t;
    ipam_pass(data);
}

static void on_node_event(void *ud, const char *type, json_t *obj)
{
    struct ksrv *s = ud;
    if ((!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) && !node_cidr(obj))
        ev_timer_reset(s->ipam_timer, 0);
}

int ksrv_ipam_start(struct ksrv *s, dd_err *e)
{
    struct net_cidr c;
    if (net_cidr_parse(s->cfg->cluster_cidr, false, &c, e) < 0 || c.prefix > NODE_MASK ||
        c.prefix < 8)
        return dd_err_set(e, EINVAL, "--cluster-cidr \"%s\": want an IPv4 network /8 to /%d",
                          s->cfg->cluster_cidr, NODE_MASK);
    s->ipam_timer = ev_timer_add(s->loop, 0, 0, on_ipam_timer, s);
    kobj_req req = {.res = kres_lookup("", "v1", "nodes")};
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)kobj_current_rv(s->api));
    kobj_watch_opts o = {.resource_version = rv};
    kobj_status st = {0};
    int r = kobj_watch_start(s->api, &req, &o, on_node_event, s, &s->ipam_watch, &st);
    if (r < 0)
        dd_err_set(e, -r, "node-ipam: watching nodes: %s", st.message);
    kobj_status_release(&st);
    return r;
}

void ksrv_ipam_stop(struct ksrv *s)
{
    kobj_watch_stop(s->ipam_watch);
    s->ipam_watch = NULL;
    ev_timer_del(s->ipam_timer);
    s->ipam_timer = NULL;
}
