/* routes.c: the node's share of the pod network (flannel host-gw's role). The server assigns
 * each Node a spec.podCIDR (k3core/server/ipam.c); once this node's Node has one, the pod bridge
 * k3c0 is set up with it, and the routing table of the node's network namespace gets one route
 * per other Node: "<its podCIDR> via <its InternalIP>". The set follows the Nodes (added when a
 * Node appears, replaced when it moves, removed when it goes) and is removed at shutdown. Only
 * routes this kubelet added are ever removed. It does not encapsulate: nodes must share a link,
 * as host-gw requires.
 */
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"

#define ROUTES_PERIOD_NS (2 * 1000000000LL)

static const char *internal_ip(const json_t *node)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, a)
    {
        if (dd_streq(kl_str(a, "type", NULL), "InternalIP"))
            return kl_str(a, "address", NULL);
    }
    return NULL;
}

static int bridge_up(kubelet *k, const char *cidr)
{
    dd_err e = {0};
    free(k->pod_cidr);
    k->pod_cidr = dd_strdup(cidr);
    k->net.cidr = k->pod_cidr;
    if (net_bridge_setup(&k->net, &e) < 0) {
        dd_warn("kubelet: pod network %s: %s", cidr, e.msg);
        return -1;
    }
    k->net_up = true;
    dd_info("kubelet: pod network %s on bridge %s", cidr, k->net.bridge);
    if (kl_dns_start(k, &e) < 0)
        dd_warn("kubelet: %s", e.msg);
    return 0;
}

/* "<cidr> via <ip>" → its parts; -EINVAL when malformed. */
static int route_parse(const char *r, struct net_cidr *dst, uint32_t *gw)
{
    char cidr[64], via[64];
    if (sscanf(r, "%63s via %63s", cidr, via) != 2)
        return -EINVAL;
    if (net_cidr_parse(cidr, false, dst, NULL) < 0 || net_ip_parse(via, gw, NULL) < 0)
        return -EINVAL;
    return 0;
}

static void route_apply(kubelet *k, net_nl *nl, const char *r, bool add)
{
    struct net_cidr dst;
    uint32_t gw;
    dd_err e = {0};
    if (route_parse(r, &dst, &gw) < 0)
        return;
    int rc = add ? net_route_add(nl, net_cidr_network(&dst), dst.prefix, gw, NULL, &e)
                 : net_route_del(nl, net_cidr_network(&dst), dst.prefix, &e);
    if (rc < 0)
        dd_warn("kubelet: pod route %s: %s", r, e.msg);
    else
        dd_info("kubelet: %s pod route %s", add ? "added" : "removed", r);
    if (add && rc >= 0)
        k->routes = dd_strv_push(k->routes, r);
}

/* The routes the Nodes ask for, and this node's podCIDR (caller frees both). */
static char **wanted_routes(kubelet *k, const json_t *items, char **ret_own)
{
    char **want = NULL;
    size_t i;
    json_t *n;
    json_array_foreach(items, i, n)
    {
        const char *name = kl_str(json_object_get(n, "metadata"), "name", NULL);
        const char *cidr = kl_str(json_object_get(n, "spec"), "podCIDR", NULL);
        const char *ip = internal_ip(n);
        if (!cidr)
            continue;
        if (dd_streq(name, k->node_name)) {
            *ret_own = dd_strdup(cidr);
            continue;
        }
        if (!ip || dd_streq(ip, k->node_ip) ||
            json_object_get(json_object_get(n, "metadata"), "deletionTimestamp"))
            continue;
        want = dd_strv_consume(want, dd_asprintf("%s via %s", cidr, ip));
    }
    return want;
}

static void routes_reconcile(kubelet *k, char **want)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    dd_err e = {0};
    if (net_nl_open(-1, &nl, &e) < 0) {
        dd_warn("kubelet: pod routes: %s", e.msg);
        return;
    }
    char **keep = NULL;
    for (size_t i = 0; k->routes && k->routes[i]; i++) {
        if (dd_strv_contains(want, k->routes[i]))
            keep = dd_strv_push(keep, k->routes[i]);
        else
            route_apply(k, nl, k->routes[i], false);
    }
    dd_strv_free(k->routes);
    k->routes = keep;
    for (size_t i = 0; want && want[i]; i++)
        if (!dd_strv_contains(k->routes, want[i]))
            route_apply(k, nl, want[i], true);
}

bool kl_net_sync(kubelet *k, bool force)
{
    int64_t now = dd_now_ns();
    if (!force && k->net_up && now - k->routes_synced_ns < ROUTES_PERIOD_NS)
        return true;
    k->routes_synced_ns = now;
    kobj_req req = {.res = kl_res("", "nodes")};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kl_api_list(k, &req, &o, &list, &st) < 0) {
        dd_warn("kubelet: listing nodes: %s", st.message);
        kobj_status_release(&st);
        return k->net_up;
    }
    kobj_status_release(&st);
    _cleanup_free_ char *own = NULL;
    _cleanup_strv_free_ char **want = wanted_routes(k, json_object_get(list, "items"), &own);
    json_decref(list);
    if (!k->net_up && own)
        bridge_up(k, own);
    else if (k->net_up && own && strcmp(own, k->pod_cidr))
        dd_warn("kubelet: Node %s podCIDR changed to %s; keeping %s until restart", k->node_name,
                own, k->pod_cidr);
    routes_reconcile(k, want);
    return k->net_up;
}

void kl_routes_clear(kubelet *k)
{
    if (k->routes)
        routes_reconcile(k, NULL);
    dd_strv_free(k->routes);
    k->routes = NULL;
}
