/* dns.c: the node's cluster DNS (CoreDNS's role in k3s, with its Corefile's `kubernetes
 * cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa }`,
 * `forward . /etc/resolv.conf` and TTL 5). Once the pod bridge is up, the cluster DNS address
 * (--cluster-dns, the kube-dns Service's ClusterIP) is added to the bridge as a /32 and libdind's
 * DNS server answers on it, UDP and TCP port 53, on the kubelet's loop: pods reach it through
 * their default route, and no packet leaves the node for a cluster name.
 *
 * Records follow the Kubernetes DNS specification (kubernetes/dns docs/specification.md):
 *     <svc>.<ns>.svc.<zone>            A: ClusterIP, or the ready endpoints of a headless Service;
 *                                      CNAME: an ExternalName Service's name
 *     _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV per named port (headless: per endpoint)
 *     <host>.<svc>.<ns>.svc.<zone>     A: an endpoint by its hostname (StatefulSet pods via their
 *                                      headless Service) or by its dashed IP
 *     <a-b-c-d>.<ns>.pod.<zone>        A: a.b.c.d (CoreDNS's `pods insecure`)
 *     <d>.<c>.<b>.<a>.in-addr.arpa     PTR: a ClusterIP or an endpoint address; others forwarded
 *     dns-version.<zone>               TXT: the spec's schema version, "1.1.0"
 * Names in the zone that match nothing are NXDOMAIN; names that exist without records of the
 * asked type are NODATA (AAAA of every name here: the cluster is IPv4-only), both with the zone's
 * SOA, as CoreDNS answers. Everything else is forwarded to the node's resolvers.
 *
 * The data is the service proxy's cluster-wide view of Services and EndpointSlices (svcview.c);
 * this file keeps only an index rebuilt lazily after the view says it changed: it never watches
 * the API itself. There are no metrics on :9153 (the kube-dns Service lists the port as k3s's
 * does).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>

#include "dind/dns.h"
#include "k3core/kubelet/kubelet-internal.h"

#define DNS_TTL 5

struct kl_dns {
    net_dns_server *srv;
    uint32_t ip;
    ksvc_view *view;
    bool dirty;
    json_t *slices; /* "ns/svc" -> [EndpointSlice] (references) */
    json_t *ptr;    /* "a.b.c.d" -> PTR target */
};

/* ---- the index ---- */

static bool endpoint_ready(const json_t *svc, const json_t *ep)
{
    if (json_is_true(json_object_get(json_object_get(svc, "spec"), "publishNotReadyAddresses")))
        return true;
    const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
    return !json_is_false(ready); /* unset means ready (discovery/v1) */
}

/* The endpoint's DNS label: its hostname, else its address with dashes. */
static void endpoint_label(const json_t *ep, const char *ip, char *out, size_t cap)
{
    const char *host = json_string_value(json_object_get(ep, "hostname"));
    if (host && *host) {
        snprintf(out, cap, "%s", host);
        return;
    }
    snprintf(out, cap, "%s", ip);
    for (char *p = out; *p; p++)
        if (*p == '.')
            *p = '-';
}

static bool cluster_ip(const json_t *svc, const char **ret)
{
    const char *ip = kl_str(json_object_get(svc, "spec"), "clusterIP", NULL);
    if (!ip || !*ip || strcmp(ip, "None") == 0)
        return false;
    *ret = ip;
    return true;
}

static void index_rebuild(kubelet *k, struct kl_dns *d)
{
    json_decref(d->slices);
    json_decref(d->ptr);
    d->slices = json_object();
    d->ptr = json_object();
    d->dirty = false;
    const json_t *svcs = ksvc_services(d->view), *slices = ksvc_slices(d->view);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)slices, key, v)
    {
        const char *ns = kl_str(v, "metadata", "namespace");
        const char *svc = kl_str(json_object_get(v, "metadata"), "labels", SVC_NAME_LABEL);
        if (!ns || !svc || !dd_streq(kl_str(v, "addressType", NULL), "IPv4"))
            continue;
        _cleanup_free_ char *sk = dd_asprintf("%s/%s", ns, svc);
        json_t *arr = json_object_get(d->slices, sk);
        if (!arr)
            json_object_set_new(d->slices, sk, arr = json_array());
        json_array_append(arr, v);
    }
    json_object_foreach((json_t *)svcs, key, v)
    {
        const char *ns = kl_str(v, "metadata", "namespace"), *name = kl_str(v, "metadata", "name");
        const char *ip;
        if (!ns || !name)
            continue;
        if (cluster_ip(v, &ip)) {
            json_object_set_new(d->ptr, ip,
                                json_sprintf("%s.%s.svc.%s", name, ns, k->cluster_domain));
        }
        size_t i, j;
        json_t *sl, *ep;
        json_array_foreach(json_object_get(d->slices, key), i, sl)
        {
            json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
            {
                const char *eip =
                    json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
                char label[256];
                if (!eip || json_object_get(d->ptr, eip))
                    continue;
                endpoint_label(ep, eip, label, sizeof(label));
                json_object_set_new(
                    d->ptr, eip,
                    json_sprintf("%s.%s.%s.svc.%s", label, name, ns, k->cluster_domain));
            }
        }
    }
}

static void on_view_changed(void *ud)
{
    kubelet *k = ud;
    if (k->dns)
        k->dns->dirty = true;
}

/* ---- answers ---- */

/* The zone's SOA in the authority section of NXDOMAIN and NODATA answers. */
static void add_soa(kubelet *k, struct net_dns_reply *r, enum net_dns_section s)
{
    _cleanup_free_ char *mname = dd_asprintf("ns.dns.%s", k->cluster_domain);
    _cleanup_free_ char *rname = dd_asprintf("hostmaster.%s", k->cluster_domain);
    const uint32_t v[5] = {(uint32_t)(dd_now_ns() / 1000000000), 7200, 1800, 86400, DNS_TTL};
    net_dns_reply_add_soa(r, s, k->cluster_domain, DNS_TTL, mname, rname, v);
}

static enum net_dns_verdict negative(kubelet *k, struct net_dns_reply *r, int rcode)
{
    r->rcode = rcode;
    add_soa(k, r, NET_DNS_AUTHORITY);
    return NET_DNS_REPLY;
}

static uint32_t parse_ip(const char *s)
{
    uint32_t ip = 0;
    return net_ip_parse(s, &ip, NULL) == 0 ? ip : 0;
}

/* One SRV (and its A in the additional section) per port matching port/proto (NULL: any) of a
 * ClusterIP Service. */
static size_t srv_cluster(kubelet *k, const json_t *svc, const char *qname, const char *target,
                          const char *port, const char *proto, uint32_t ip, struct net_dns_reply *r)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, p)
    {
        const char *pn = kl_str(p, "name", NULL), *pp = kl_str(p, "protocol", NULL);
        if (port && (!pn || strcasecmp(pn, port) != 0 || strcasecmp(pp ? pp : "TCP", proto)))
            continue;
        json_int_t num = json_integer_value(json_object_get(p, "port"));
        net_dns_reply_add_srv(r, NET_DNS_ANSWER, qname, DNS_TTL, 0, 100, (uint16_t)num, target);
        n++;
    }
    if (n)
        net_dns_reply_add_a(r, NET_DNS_ADDITIONAL, target, DNS_TTL, ip);
    return n;
}

/* The records of a headless Service's ready endpoints: A (want_a) or SRV for port/proto (NULL:
 * every port), only the endpoint labelled `only` when set. Returns how many endpoints matched. */
static size_t headless(kubelet *k, struct kl_dns *d, const json_t *svc, const char *key,
                       const char *qname, const char *only, uint16_t qtype, const char *port,
                       const char *proto, struct net_dns_reply *r)
{
    const char *ns = kl_str(svc, "metadata", "namespace"), *name = kl_str(svc, "metadata", "name");
    size_t i, j, n = 0;
    json_t *sl, *ep;
    json_array_foreach(json_object_get(d->slices, key), i, sl)
    {
        json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
        {
            const char *ip = json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
            char label[256];
            if (!ip || !endpoint_ready(svc, ep))
                continue;
            endpoint_label(ep, ip, label, sizeof(label));
            if (only && strcasecmp(only, label) != 0)
                continue;
            n++;
            if (qtype == NET_DNS_A) {
                net_dns_reply_add_a(r, NET_DNS_ANSWER, qname, DNS_TTL, parse_ip(ip));
                continue;
            }
            if (qtype != NET_DNS_SRV)
                continue;
            _cleanup_free_ char *target =
                dd_asprintf("%s.%s.%s.svc.%s", label, name, ns, k->cluster_domain);
            size_t pi;
            json_t *p;
            bool any = false;
            json_array_foreach(json_object_get(sl, "ports"), pi, p)
            {
                const char *pn = kl_str(p, "name", NULL), *pp = kl_str(p, "protocol", NULL);
                if (port &&
                    (!pn || strcasecmp(pn, port) != 0 || strcasecmp(pp ? pp : "TCP", proto) != 0))
                    continue;
                net_dns_reply_add_srv(r, NET_DNS_ANSWER, qname, DNS_TTL, 0, 100,
                                      (uint16_t)json_integer_value(json_object_get(p, "port")),
                                      target);
                any = true;
            }
            if (any)
                net_dns_reply_add_a(r, NET_DNS_ADDITIONAL, target, DNS_TTL, parse_ip(ip));
        }
    }
    return n;
}

/* <svc>.<ns>.svc, optionally under <endpoint> or _<port>._<proto>. */
static enum net_dns_verdict service(kubelet *k, struct kl_dns *d, const struct net_dns_msg *q,
                                    const char *ns, const char *name, const char *sub1,
                                    const char *sub2, struct net_dns_reply *r)
{
    _cleanup_free_ char *key = dd_asprintf("%s/%s", ns, name);
    const json_t *svc = json_object_get(ksvc_services(d->view), key);
    if (!svc)
        return negative(k, r, NET_DNS_NXDOMAIN);
    _cleanup_free_ char *svc_name = dd_asprintf("%s.%s.svc.%s", name, ns, k->cluster_domain);
    const char *type = kl_str(json_object_get(svc, "spec"), "type", NULL);
    const char *ext = kl_str(json_object_get(svc, "spec"), "externalName", NULL);
    if (dd_streq(type, "ExternalName") && ext && !sub1) {
        net_dns_reply_add_name(r, NET_DNS_ANSWER, NET_DNS_CNAME, q->qname, DNS_TTL, ext);
        return NET_DNS_REPLY;
    }
    if (dd_streq(type, "ExternalName"))
        return negative(k, r, NET_DNS_NXDOMAIN);
    const char *ip;
    bool has_ip = cluster_ip(svc, &ip);
    /* _<port>._<proto>.<svc>: SRV of the named port */
    if (sub1 && sub2) {
        if (sub1[0] != '_' || sub2[0] != '_')
            return negative(k, r, NET_DNS_NXDOMAIN);
        size_t n = 0;
        if (has_ip)
            n = q->qtype == NET_DNS_SRV
                    ? srv_cluster(k, svc, q->qname, svc_name, sub2 + 1, sub1 + 1, parse_ip(ip), r)
                    : 1;
        else
            n = headless(k, d, svc, key, q->qname, NULL, q->qtype == NET_DNS_SRV ? NET_DNS_SRV : 0,
                         sub2 + 1, sub1 + 1, r);
        if (!n)
            return negative(k, r, NET_DNS_NXDOMAIN);
        if (!r->n)
            add_soa(k, r, NET_DNS_AUTHORITY);
        return NET_DNS_REPLY;
    }
    /* <endpoint>.<svc>: one endpoint by hostname or dashed address */
    if (sub1) {
        size_t n = headless(k, d, svc, key, q->qname, sub1, q->qtype, NULL, NULL, r);
        if (!n)
            return negative(k, r, NET_DNS_NXDOMAIN);
        if (!r->n)
            add_soa(k, r, NET_DNS_AUTHORITY);
        return NET_DNS_REPLY;
    }
    if (has_ip) {
        if (q->qtype == NET_DNS_A)
            net_dns_reply_add_a(r, NET_DNS_ANSWER, q->qname, DNS_TTL, parse_ip(ip));
        else if (q->qtype == NET_DNS_SRV)
            srv_cluster(k, svc, q->qname, svc_name, NULL, NULL, parse_ip(ip), r);
    } else if (!headless(k, d, svc, key, q->qname, NULL, q->qtype, NULL, NULL, r)) {
        return negative(k, r, NET_DNS_NXDOMAIN); /* as CoreDNS: no ready endpoint, no name */
    }
    if (!r->n)
        add_soa(k, r, NET_DNS_AUTHORITY);
    return NET_DNS_REPLY;
}

static bool ns_has_services(struct kl_dns *d, const char *ns)
{
    const char *key;
    json_t *v;
    size_t l = strlen(ns);
    json_object_foreach((json_t *)ksvc_services(d->view), key, v)
    {
        if (strncmp(key, ns, l) == 0 && key[l] == '/')
            return true;
    }
    return false;
}

/* <a-b-c-d>.<ns>.pod */
static enum net_dns_verdict pod(kubelet *k, const struct net_dns_msg *q, const char *label,
                                struct net_dns_reply *r)
{
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", label);
    for (char *p = ip; *p; p++)
        if (*p == '-')
            *p = '.';
    uint32_t a;
    if (net_ip_parse(ip, &a, NULL) < 0)
        return negative(k, r, NET_DNS_NXDOMAIN);
    if (q->qtype == NET_DNS_A)
        net_dns_reply_add_a(r, NET_DNS_ANSWER, q->qname, DNS_TTL, a);
    else
        add_soa(k, r, NET_DNS_AUTHORITY);
    return NET_DNS_REPLY;
}

#define LABELS_MAX 8

/* Splits the part of the name before the zone into labels, rightmost first. */
static size_t split(char *rel, char **labels)
{
    size_t n = 0;
    while (*rel && n < LABELS_MAX) {
        char *dot = strrchr(rel, '.');
        labels[n++] = dot ? dot + 1 : rel;
        if (!dot)
            break;
        *dot = '\0';
    }
    return *rel && n == LABELS_MAX ? LABELS_MAX + 1 : n;
}

static enum net_dns_verdict in_zone(kubelet *k, struct kl_dns *d, const struct net_dns_msg *q,
                                    char *rel, struct net_dns_reply *r)
{
    char *l[LABELS_MAX];
    size_t n = split(rel, l);
    if (n == 0) { /* the zone apex */
        if (q->qtype == NET_DNS_SOA)
            add_soa(k, r, NET_DNS_ANSWER);
        else
            add_soa(k, r, NET_DNS_AUTHORITY);
        return NET_DNS_REPLY;
    }
    if (n > LABELS_MAX || strchr(q->qname, '\\'))
        return negative(k, r, NET_DNS_NXDOMAIN);
    if (n == 1 && strcmp(l[0], "dns-version") == 0) { /* the spec's schema version */
        if (q->qtype == NET_DNS_TXT)
            net_dns_reply_add_txt(r, NET_DNS_ANSWER, q->qname, DNS_TTL, "1.1.0");
        else
            add_soa(k, r, NET_DNS_AUTHORITY);
        return NET_DNS_REPLY;
    }
    if (strcmp(l[0], "svc") == 0) {
        if (n == 1 || (n == 2 && ns_has_services(d, l[1])))
            return negative(k, r, NET_DNS_NOERROR);
        if (n == 2)
            return negative(k, r, NET_DNS_NXDOMAIN);
        if (n > 5)
            return negative(k, r, NET_DNS_NXDOMAIN);
        return service(k, d, q, l[1], l[2], n >= 4 ? l[3] : NULL, n == 5 ? l[4] : NULL, r);
    }
    if (strcmp(l[0], "pod") == 0) {
        if (n == 1 || n == 2)
            return negative(k, r, NET_DNS_NOERROR);
        if (n == 3)
            return pod(k, q, l[2], r);
    }
    return negative(k, r, NET_DNS_NXDOMAIN);
}

/* <d>.<c>.<b>.<a>.in-addr.arpa of a cluster address, else forwarded (CoreDNS's fallthrough). */
static enum net_dns_verdict reverse(kubelet *k, struct kl_dns *d, const struct net_dns_msg *q,
                                    const char *name, struct net_dns_reply *r)
{
    unsigned o[4];
    char tail[32];
    if (sscanf(name, "%u.%u.%u.%u.%31s", &o[0], &o[1], &o[2], &o[3], tail) != 5 ||
        strcmp(tail, "in-addr.arpa") != 0 || o[0] > 255 || o[1] > 255 || o[2] > 255 || o[3] > 255)
        return NET_DNS_FORWARD;
    char ip[NET_IP_STRLEN];
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", o[3], o[2], o[1], o[0]);
    const char *target = json_string_value(json_object_get(d->ptr, ip));
    if (!target)
        return NET_DNS_FORWARD;
    if (q->qtype == NET_DNS_PTR)
        net_dns_reply_add_name(r, NET_DNS_ANSWER, NET_DNS_PTR, q->qname, DNS_TTL, target);
    return NET_DNS_REPLY;
}

static enum net_dns_verdict lookup(void *ud, const struct net_dns_msg *q, struct net_dns_reply *r)
{
    kubelet *k = ud;
    struct kl_dns *d = k->dns;
    if (d->dirty)
        index_rebuild(k, d);
    char name[NET_DNS_TEXT_MAX];
    size_t len = strlen(q->qname);
    for (size_t i = 0; i <= len; i++)
        name[i] = (char)tolower((unsigned char)q->qname[i]);
    size_t zl = strlen(k->cluster_domain);
    r->authoritative = true;
    if (strcmp(name, k->cluster_domain) == 0)
        return in_zone(k, d, q, name + len, r);
    if (len > zl && name[len - zl - 1] == '.' && strcmp(name + len - zl, k->cluster_domain) == 0) {
        name[len - zl - 1] = '\0';
        return in_zone(k, d, q, name, r);
    }
    if (dd_endswith(name, ".in-addr.arpa"))
        return reverse(k, d, q, name, r);
    r->authoritative = false;
    return NET_DNS_FORWARD;
}

/* ---- lifecycle ---- */

int kl_dns_start(kubelet *k, dd_err *e)
{
    if (k->dns)
        return 0;
    uint32_t ip;
    if (net_ip_parse(k->cluster_dns, &ip, e) < 0)
        return dd_err_wrap(e, "cluster DNS");
    _cleanup_net_nl_ net_nl *nl = NULL;
    int r = net_nl_open(-1, &nl, e);
    if (r >= 0)
        r = net_addr_add(nl, k->net.bridge, ip, 32, e);
    if (r < 0)
        return dd_err_wrap(e, "adding %s/32 to %s", k->cluster_dns, k->net.bridge);
    _cleanup_free_ char *resolv = NULL;
    uint32_t ups[3];
    size_t n_ups = 0;
    if (dd_read_file("/etc/resolv.conf", 65536, &resolv, NULL, NULL) >= 0)
        n_ups = net_dns_resolv_nameservers(resolv, ip, ups, DD_ARRAY_SIZE(ups));
    struct kl_dns *d = dd_calloc(1, sizeof(*d));
    d->ip = ip;
    d->view = kl_service_view(k);
    d->dirty = true;
    struct net_dns_server_cfg cfg = {
        .addr = ip, .port = 53, .upstreams = ups, .n_upstreams = n_ups, .lookup = lookup, .ud = k};
    if (!d->view) {
        free(d);
        return dd_err_set(e, ENOENT, "cluster DNS: no service view");
    }
    if ((r = net_dns_server_start(k->loop, &cfg, &d->srv, e)) < 0) {
        free(d);
        return r;
    }
    k->dns = d;
    ksvc_subscribe(d->view, on_view_changed, k);
    dd_info("kubelet: cluster DNS on %s:53 (%s), %zu upstream resolver(s)", k->cluster_dns,
            k->cluster_domain, n_ups);
    return 0;
}

void kl_dns_stop(kubelet *k)
{
    struct kl_dns *d = k->dns;
    if (!d)
        return;
    ksvc_unsubscribe(d->view, on_view_changed, k);
    net_dns_server_free(d->srv);
    _cleanup_net_nl_ net_nl *nl = NULL;
    dd_err e = {0};
    if (net_nl_open(-1, &nl, &e) < 0 || net_addr_del(nl, k->net.bridge, d->ip, 32, &e) < 0)
        dd_warn("kubelet: cluster DNS address: %s", e.msg);
    json_decref(d->slices);
    json_decref(d->ptr);
    k->dns = NULL;
    free(d);
}
