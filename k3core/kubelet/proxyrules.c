/* proxyrules.c: kube-proxy's iptables semantics as restore text. Per Service port with a
 * ClusterIP (not headless, not ExternalName, not the skipped DNS address):
 *   - ready endpoints (EndpointSlices labelled with the Service's name, IPv4, the port resolved
 *     by the slice port of the same name and protocol): SERVICES sends ClusterIP:port to the
 *     port's chain S<hash>, which picks an endpoint chain E<hash> at random (statistic, 1/n,
 *     1/(n-1), ...; with sessionAffinity ClientIP first the endpoint this client used within
 *     timeoutSeconds, through `recent`), and E DNATs to ip:targetPort. A nodePort gets a chain
 *     X<hash> from NODEPORTS (entered for local destination addresses) that marks for
 *     masquerade and goes on to S.
 *   - no ready endpoint: FILTER rejects new connections to ClusterIP:port and to the nodePort
 *     on local addresses ("connection refused" at once: a TCP reset, else icmp
 *     port-unreachable).
 * Masquerading (MARK-MASQ sets a mark, POSTROUTING masquerades what carries it): sources outside
 * the cluster CIDR reaching a ClusterIP, every nodePort connection, and an endpoint reaching
 * itself through its Service (hairpin). externalTrafficPolicy Local keeps outside clients'
 * addresses on NodePorts and uses this node's endpoints only. internalTrafficPolicy Local,
 * externalIPs, loadBalancer IPs and the terminating-endpoint fallback are not implemented.
 * No I/O: the caller applies the text (net_chainset_apply).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "k3core/kubelet/proxyrules.h"

#define MASQ_MARK           "0x4000"
#define AFFINITY_DEFAULT_S  10800
#define SVC_NAME_LABEL_PROX "kubernetes.io/service-name"

struct out {
    dd_buf chains, rules;   /* nat */
    dd_buf fchains, frules; /* filter */
    const struct kpx_opts *o;
};

struct ep {
    char ip[64];
    int port;
    bool local; /* on this node (nodeName) */
};

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Every value that reaches the text is checked: one odd string must not break the whole
 * restore (and with it every other Service). */
static bool ipv4(const char *s)
{
    struct in_addr a;
    return s && inet_pton(AF_INET, s, &a) == 1;
}

/* A comment word: characters other than [A-Za-z0-9._/:-] become '_'. */
static char *comment_word(const char *s)
{
    char *w = dd_strdup(s);
    for (char *c = w; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._/:-", *c)))
            *c = '_';
    return w;
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* "<prefix><kind><16 hex of hash(key)>" */
static char *chain_name(const struct kpx_opts *o, char kind, const char *key)
{
    return dd_asprintf("%s%c%016llx", o->prefix, kind, (unsigned long long)fnv(key));
}

static void declare(dd_buf *b, const char *prefix, const char *name)
{
    dd_buf_addf(b, ":%s%s - [0:0]\n", prefix, name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The object's keys, sorted (NULL-terminated; caller frees the array only). */
static const char **sorted_keys(const json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys = dd_calloc(n + 1, sizeof(*keys));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    return keys;
}

static char *lower(const char *proto)
{
    char *p = dd_strdup(proto && *proto ? proto : "TCP");
    for (char *c = p; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    return p;
}

static bool ready(const json_t *ep)
{
    const json_t *r = json_object_get(json_object_get(ep, "conditions"), "ready");
    return !json_is_false(r); /* unset means ready (EndpointConditions) */
}

/* The ready endpoints of service ns/name for its port (name, protocol), deduplicated, in a
 * stable order; returns how many (*ret caller frees). */
static size_t endpoints_of(const json_t *slices, const char *ns, const char *name,
                           const char *pname, const char *proto, const char *node, struct ep **ret)
{
    struct ep *eps = NULL;
    size_t n = 0;
    const char **keys = sorted_keys(slices);
    for (size_t k = 0; keys[k]; k++) {
        const json_t *es = json_object_get(slices, keys[k]);
        const json_t *meta = json_object_get(es, "metadata");
        const char *svc = str(json_object_get(meta, "labels"), SVC_NAME_LABEL_PROX);
        const char *at = str(es, "addressType");
        if (!dd_streq(str(meta, "namespace"), ns) || !dd_streq(svc, name) ||
            (at && strcmp(at, "IPv4")))
            continue;
        int port = 0;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(es, "ports"), i, p)
        {
            const char *n2 = str(p, "name");
            const char *pr = str(p, "protocol");
            if (!strcmp(n2 ? n2 : "", pname) && !strcasecmp(pr ? pr : "TCP", proto))
                port = (int)json_integer_value(json_object_get(p, "port"));
        }
        if (port <= 0 || port > 65535)
            continue;
        json_t *ep;
        json_array_foreach(json_object_get(es, "endpoints"), i, ep)
        {
            const char *ip = json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
            if (!ready(ep) || !ipv4(ip))
                continue;
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = !strcmp(eps[j].ip, ip) && eps[j].port == port;
            if (dup)
                continue;
            eps = dd_realloc(eps, (n + 1) * sizeof(*eps));
            snprintf(eps[n].ip, sizeof(eps[n].ip), "%s", ip);
            eps[n].local = node && dd_streq(str(ep, "nodeName"), node);
            eps[n++].port = port;
        }
    }
    free(keys);
    *ret = eps;
    return n;
}

/* " -p tcp -m tcp --dport N" */
static void match_port(dd_buf *b, const char *proto, int port)
{
    dd_buf_addf(b, " -p %s -m %s --dport %d", proto, proto, port);
}

/* TCP gets a reset: the kernel rate-limits ICMP errors per destination host (on recent kernels
 * a fresh peer starts without tokens, so a first port-unreachable may never leave), and a reset
 * is "connection refused" just as well. Other protocols get icmp-port-unreachable. */
static void reject_one(dd_buf *b, const char *chain, const char *dst, const char *proto, int port,
                       const char *what)
{
    dd_buf_addf(b, "-A %s%s", chain, dst);
    match_port(b, proto, port);
    dd_buf_addf(b, " -m comment --comment %s:no-endpoints -j REJECT --reject-with %s\n", what,
                strcmp(proto, "tcp") ? "icmp-port-unreachable" : "tcp-reset");
}

static void reject(struct out *w, const char *cip, const char *proto, int port, int node_port,
                   const char *what)
{
    _cleanup_free_ char *chain = dd_asprintf("%s" KPX_FILTER, w->o->prefix);
    _cleanup_free_ char *dst = dd_asprintf(" -d %s/32", cip);
    reject_one(&w->frules, chain, dst, proto, port, what);
    if (node_port > 0)
        reject_one(&w->frules, chain, " -m addrtype --dst-type LOCAL", proto, node_port, what);
}

/* Picks one of the chains E[i] with eps[i].local == local_only or any (local_only false). */
static void pick(struct out *w, const char *from, const struct ep *eps, char **E, size_t n,
                 bool local_only)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        m += !local_only || eps[i].local;
    for (size_t i = 0; i < n; i++) {
        if (local_only && !eps[i].local)
            continue;
        if (++k < m)
            dd_buf_addf(&w->rules, "-A %s -m statistic --mode random --probability %.11f -j %s\n",
                        from, 1.0 / (double)(m - k + 1), E[i]);
        else
            dd_buf_addf(&w->rules, "-A %s -j %s\n", from, E[i]);
    }
}

/* The NodePort's chain X: with externalTrafficPolicy Cluster every connection is masqueraded and
 * goes to any endpoint; with Local, connections from outside keep their source and go only to
 * this node's endpoints (none: FILTER drops them), while pods and the node itself are served as
 * cluster traffic (kube-proxy's short-circuit). */
static void node_port_rules(struct out *w, const json_t *spec, const char *what, const char *key,
                            const char *proto, int node_port, const char *S, const struct ep *eps,
                            char **E, size_t n)
{
    const char *P = w->o->prefix;
    _cleanup_free_ char *X = chain_name(w->o, 'X', key);
    dd_buf_addf(&w->chains, ":%s - [0:0]\n", X);
    dd_buf_addf(&w->rules, "-A %sNODEPORTS", P);
    match_port(&w->rules, proto, node_port);
    dd_buf_addf(&w->rules, " -m comment --comment %s -j %s\n", what, X);
    if (!dd_streq(str(spec, "externalTrafficPolicy"), "Local") || !w->o->node_name) {
        dd_buf_addf(&w->rules, "-A %s -j %sMARK-MASQ\n-A %s -j %s\n", X, P, X, S);
        return;
    }
    if (w->o->cluster_cidr)
        dd_buf_addf(&w->rules, "-A %s -s %s -j %s\n", X, w->o->cluster_cidr, S);
    dd_buf_addf(&w->rules,
                "-A %s -m addrtype --src-type LOCAL -j %sMARK-MASQ\n"
                "-A %s -m addrtype --src-type LOCAL -j %s\n",
                X, P, X, S);
    size_t local = 0;
    for (size_t i = 0; i < n; i++)
        local += eps[i].local;
    if (local) {
        pick(w, X, eps, E, n, true);
        return;
    }
    dd_buf_addf(&w->frules, "-A %s" KPX_FILTER " -m addrtype --dst-type LOCAL", P);
    if (w->o->cluster_cidr)
        dd_buf_addf(&w->frules, " ! -s %s", w->o->cluster_cidr);
    dd_buf_addf(&w->frules, " -m addrtype ! --src-type LOCAL");
    match_port(&w->frules, proto, node_port);
    dd_buf_addf(&w->frules, " -m comment --comment %s:no-local-endpoints -j DROP\n", what);
}

static void service_port(struct out *w, const json_t *spec, const char *ns, const char *name,
                         const json_t *port, const json_t *slices)
{
    const char *P = w->o->prefix, *cip = str(spec, "clusterIP");
    const char *pname = str(port, "name") ? str(port, "name") : "";
    _cleanup_free_ char *proto = lower(str(port, "protocol"));
    int sport = (int)json_integer_value(json_object_get(port, "port"));
    int node_port = (int)json_integer_value(json_object_get(port, "nodePort"));
    if (sport <= 0 || sport > 65535 ||
        (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
        return;
    if (node_port < 0 || node_port > 65535)
        node_port = 0;
    _cleanup_free_ char *raw = dd_asprintf("%s/%s:%s", ns, name, pname);
    _cleanup_free_ char *what = comment_word(raw);
    struct ep *eps = NULL;
    size_t n = endpoints_of(slices, ns, name, pname, proto, w->o->node_name, &eps);
    if (!n) {
        reject(w, cip, proto, sport, node_port, what);
        free(eps);
        return;
    }
    _cleanup_free_ char *key = dd_asprintf("%s/%s:%s/%s", ns, name, pname, proto);
    _cleanup_free_ char *S = chain_name(w->o, 'S', key);
    bool affinity = dd_streq(str(spec, "sessionAffinity"), "ClientIP");
    json_int_t timeout = json_integer_value(
        json_object_get(json_object_get(json_object_get(spec, "sessionAffinityConfig"), "clientIP"),
                        "timeoutSeconds"));
    if (timeout <= 0)
        timeout = AFFINITY_DEFAULT_S;
    dd_buf_addf(&w->chains, ":%s - [0:0]\n", S);
    dd_buf_addf(&w->rules, "-A %s" KPX_SERVICES " -d %s/32", P, cip);
    match_port(&w->rules, proto, sport);
    dd_buf_addf(&w->rules, " -m comment --comment %s -j %s\n", what, S);
    if (w->o->cluster_cidr) {
        dd_buf_addf(&w->rules, "-A %s ! -s %s -d %s/32", S, w->o->cluster_cidr, cip);
        match_port(&w->rules, proto, sport);
        dd_buf_addf(&w->rules, " -j %sMARK-MASQ\n", P);
    }
    char **E = dd_calloc(n + 1, sizeof(*E));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *ekey = dd_asprintf("%s>%s:%d", key, eps[i].ip, eps[i].port);
        E[i] = chain_name(w->o, 'E', ekey);
        dd_buf_addf(&w->chains, ":%s - [0:0]\n", E[i]);
        dd_buf_addf(&w->rules, "-A %s -s %s/32 -j %sMARK-MASQ\n", E[i], eps[i].ip, P);
        if (affinity)
            dd_buf_addf(&w->rules, "-A %s -p %s -m recent --name %s --set --rsource", E[i], proto,
                        E[i]);
        else
            dd_buf_addf(&w->rules, "-A %s -p %s", E[i], proto);
        dd_buf_addf(&w->rules, " -j DNAT --to-destination %s:%d\n", eps[i].ip, eps[i].port);
    }
    for (size_t i = 0; affinity && i < n; i++)
        dd_buf_addf(&w->rules, "-A %s -m recent --name %s --rcheck --seconds %lld --reap -j %s\n",
                    S, E[i], (long long)timeout, E[i]);
    pick(w, S, eps, E, n, false);
    if (node_port > 0)
        node_port_rules(w, spec, what, key, proto, node_port, S, eps, E, n);
    dd_strv_free(E);
    free(eps);
}

static bool proxied(const json_t *spec, const struct kpx_opts *o)
{
    const char *cip = str(spec, "clusterIP");
    if (dd_streq(str(spec, "type"), "ExternalName") || !cip || !*cip || !strcmp(cip, "None"))
        return false;
    if (o->skip_ip && !strcmp(cip, o->skip_ip))
        return false;
    return ipv4(cip); /* IPv4 only */
}

char *kpx_rules(const json_t *services, const json_t *slices, const struct kpx_opts *o)
{
    struct out w = {.o = o};
    dd_buf_init(&w.chains), dd_buf_init(&w.rules), dd_buf_init(&w.fchains), dd_buf_init(&w.frules);
    const char *P = o->prefix;
    const char **keys = sorted_keys(services);
    for (size_t k = 0; keys[k]; k++) {
        const json_t *svc = json_object_get(services, keys[k]);
        const json_t *meta = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
        const char *ns = str(meta, "namespace"), *name = str(meta, "name");
        if (!ns || !name || !proxied(spec, o))
            continue;
        size_t i;
        json_t *port;
        json_array_foreach(json_object_get(spec, "ports"), i, port)
            service_port(&w, spec, ns, name, port, slices);
    }
    free(keys);
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "*nat\n");
    declare(&b, P, KPX_SERVICES);
    declare(&b, P, "NODEPORTS");
    declare(&b, P, KPX_POSTROUTING);
    declare(&b, P, "MARK-MASQ");
    if (w.chains.len)
        dd_buf_add(&b, w.chains.data, w.chains.len);
    dd_buf_addf(&b, "-A %sMARK-MASQ -j MARK --or-mark " MASQ_MARK "\n", P);
    dd_buf_addf(&b,
                "-A %s" KPX_POSTROUTING " -m mark ! --mark " MASQ_MARK "/" MASQ_MARK " -j RETURN\n"
                "-A %s" KPX_POSTROUTING " -j MARK --xor-mark " MASQ_MARK "\n"
                "-A %s" KPX_POSTROUTING " -j MASQUERADE\n",
                P, P, P);
    if (w.rules.len)
        dd_buf_add(&b, w.rules.data, w.rules.len);
    dd_buf_addf(&b, "-A %s" KPX_SERVICES " -m addrtype --dst-type LOCAL -j %sNODEPORTS\n", P, P);
    dd_buf_addf(&b, "COMMIT\n*filter\n");
    declare(&b, P, KPX_FILTER);
    if (w.frules.len)
        dd_buf_add(&b, w.frules.data, w.frules.len);
    dd_buf_addf(&b, "COMMIT\n");
    dd_buf_release(&w.chains), dd_buf_release(&w.rules), dd_buf_release(&w.fchains),
        dd_buf_release(&w.frules);
    return dd_buf_detach(&b, NULL);
}
