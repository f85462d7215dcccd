/* service: Service defaults and the two allocators — ClusterIPs from the service CIDR
 * (default 10.43.0.0/16 like k3s; the first address belongs to the `kubernetes` Service) and
 * NodePorts from 30000–32767. What is allocated is read from the stored Services, so deleting
 * a Service frees its addresses with no bookkeeping, and restarts need no state.
 * IPv4 single-stack only.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "k3core/api/objects-internal.h"

typedef struct used {
    uint32_t *ips;
    size_t n_ips;
    int *ports;
    size_t n_ports;
} used;

static void used_release(used *u)
{
    free(u->ips);
    free(u->ports);
}

static void collect_one(used *u, const json_t *svc, const char *skip_uid)
{
    if (skip_uid && dd_streq(kobj_meta_str(svc, "uid"), skip_uid))
        return;
    json_t *spec = json_object_get(svc, "spec");
    struct in_addr a;
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    if (ip && inet_pton(AF_INET, ip, &a) == 1) {
        u->ips = dd_realloc(u->ips, (u->n_ips + 1) * sizeof(*u->ips));
        u->ips[u->n_ips++] = ntohl(a.s_addr);
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        if (np > 0) {
            u->ports = dd_realloc(u->ports, (u->n_ports + 1) * sizeof(*u->ports));
            u->ports[u->n_ports++] = (int)np;
        }
    }
}

static int collect(kobj_api *api, used *u, const char *skip_uid, kobj_status *st)
{
    kst_list l;
    dd_err e = {0};
    int r = kst_list_prefix(api->store, "/registry/core/services/", NULL, 0, 0, &l, &e);
    if (r < 0)
        return kobj_internal(st, &e);
    for (size_t i = 0; i < l.n; i++) {
        json_t *svc = kobj_parse_value(l.items[i].value, l.items[i].len);
        if (svc)
            collect_one(u, svc, skip_uid);
        json_decref(svc);
    }
    kst_list_release(&l);
    return 0;
}

static bool ip_used(const used *u, uint32_t ip)
{
    for (size_t i = 0; i < u->n_ips; i++)
        if (u->ips[i] == ip)
            return true;
    return false;
}

static bool port_used(const used *u, int port)
{
    for (size_t i = 0; i < u->n_ports; i++)
        if (u->ports[i] == port)
            return true;
    return false;
}

static void fmt_ip(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static int invalid(kobj_status *st, const json_t *svc, const char *field, const char *fmt, ...)
    DD_PRINTF(4, 5);
static int invalid(kobj_status *st, const json_t *svc, const char *field, const char *fmt, ...)
{
    const char *name = kobj_meta_str(svc, "name");
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int r = kobj_fail(st, 422, "Invalid", "Service \"%s\" is invalid: %s: %s", name ? name : "",
                      field, msg);
    snprintf(st->name, sizeof(st->name), "%s", name ? name : "");
    snprintf(st->kind, sizeof(st->kind), "Service");
    st->causes =
        json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueInvalid", "message", msg, "field", field);
    return r;
}

static int alloc_ip(kobj_api *api, json_t *svc, json_t *spec, const used *u, kobj_status *st)
{
    const char *want = json_string_value(json_object_get(spec, "clusterIP"));
    uint32_t size = ~api->svc_mask + 1;
    char buf[16];
    if (want && *want) {
        struct in_addr a;
        if (inet_pton(AF_INET, want, &a) != 1)
            return invalid(st, svc, "spec.clusterIPs[0]",
                           "Invalid value: \"%s\": must be a valid IP address", want);
        uint32_t ip = ntohl(a.s_addr);
        if ((ip & api->svc_mask) != api->svc_base)
            return invalid(st, svc, "spec.clusterIPs",
                           "Invalid value: []string{\"%s\"}: failed to allocate IP: the provided "
                           "IP is not in the valid range",
                           want);
        if (ip_used(u, ip))
            return invalid(st, svc, "spec.clusterIPs",
                           "Invalid value: []string{\"%s\"}: failed to allocate IP: provided IP "
                           "is already allocated",
                           want);
        return 0;
    }
    /* dynamic allocations start above the lower band kept for static ones (10.43.0.10 for DNS) */
    uint32_t start = size > 256 ? 16 : 2;
    char hex[9];
    dd_random_hex(hex, 4);
    uint32_t off = (uint32_t)strtoul(hex, NULL, 16) % (size - start - 1);
    for (uint32_t i = 0; i < size - start - 1; i++) {
        uint32_t ip = api->svc_base + start + (off + i) % (size - start - 1);
        if (!ip_used(u, ip) && ip != api->dns_ip) {
            fmt_ip(ip, buf);
            jx_set_str(spec, "clusterIP", buf);
            return 0;
        }
    }
    return kobj_fail(st, 500, "InternalError",
                     "Internal error occurred: failed to allocate a serviceIP: range is full");
}

static int alloc_node_ports(kobj_api *api, json_t *svc, json_t *spec, used *u, kobj_status *st)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        if (np > 0)
            continue;
        int span = api->node_port_hi - api->node_port_lo + 1;
        char hex[9];
        dd_random_hex(hex, 4);
        int off = (int)(strtoul(hex, NULL, 16) % (unsigned long)span);
        int chosen = 0;
        for (int k = 0; k < span && !chosen; k++) {
            int port = api->node_port_lo + (off + k) % span;
            if (!port_used(u, port))
                chosen = port;
        }
        if (!chosen)
            return invalid(st, svc, "spec.ports[0].nodePort", "Internal error: %s",
                           "range is full");
        jx_set_int(p, "nodePort", chosen);
        u->ports = dd_realloc(u->ports, (u->n_ports + 1) * sizeof(*u->ports));
        u->ports[u->n_ports++] = chosen;
    }
    return 0;
}

static void port_defaults(json_t *spec)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        if (!json_object_get(p, "protocol"))
            jx_set_str(p, "protocol", "TCP");
        if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
            json_object_set(p, "targetPort", json_object_get(p, "port"));
    }
}

/* PUT without clusterIP/nodePort keeps the allocated ones (upstream does the same). */
static void keep_allocations(json_t *spec, const json_t *old)
{
    json_t *ospec = json_object_get(old, "spec");
    static const char *const keys[] = {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keys); i++)
        if (!json_object_get(spec, keys[i]) && json_object_get(ospec, keys[i]))
            json_object_set(spec, keys[i], json_object_get(ospec, keys[i]));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        if (json_object_get(p, "nodePort"))
            continue;
        size_t j;
        json_t *op;
        json_array_foreach(
            json_object_get(ospec, "ports"), j,
            op) if (json_equal(json_object_get(op, "port"), json_object_get(p, "port")) &&
                    json_object_get(op, "nodePort"))
            json_object_set(p, "nodePort", json_object_get(op, "nodePort"));
    }
}

int kobj_service_defaults(kobj_api *api, json_t *obj, const json_t *old, kobj_status *st)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec))
        json_object_set_new(obj, "spec", spec = json_object());
    if (old)
        keep_allocations(spec, old);
    if (!json_object_get(spec, "type"))
        jx_set_str(spec, "type", "ClusterIP");
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!json_object_get(spec, "sessionAffinity"))
        jx_set_str(spec, "sessionAffinity", "None");
    port_defaults(spec);
    if (dd_streq(type, "ExternalName"))
        return 0;
    if (!json_object_get(spec, "internalTrafficPolicy"))
        jx_set_str(spec, "internalTrafficPolicy", "Cluster");
    used u = {0};
    int r = collect(api, &u, old ? kobj_meta_str(old, "uid") : NULL, st);
    const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
    bool headless = dd_streq(cip, "None");
    if (r >= 0 && !headless && !(old && cip))
        r = alloc_ip(api, obj, spec, &u, st);
    if (r >= 0 && (dd_streq(type, "NodePort") || dd_streq(type, "LoadBalancer"))) {
        r = alloc_node_ports(api, obj, spec, &u, st);
        if (!json_object_get(spec, "externalTrafficPolicy"))
            jx_set_str(spec, "externalTrafficPolicy", "Cluster");
        if (dd_streq(type, "LoadBalancer") &&
            !json_object_get(spec, "allocateLoadBalancerNodePorts"))
            jx_set_bool(spec, "allocateLoadBalancerNodePorts", true);
    }
    used_release(&u);
    if (r < 0)
        return r;
    json_object_set_new(spec, "clusterIPs", json_pack("[O]", json_object_get(spec, "clusterIP")));
    if (!json_object_get(spec, "ipFamilies"))
        json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
    if (!json_object_get(spec, "ipFamilyPolicy"))
        jx_set_str(spec, "ipFamilyPolicy", "SingleStack");
    return 0;
}
