/* podfiles.c: renders a pod's /etc/hosts and /etc/resolv.conf and its service environment
 * variables the way upstream's kubelet (and containerd, for resolv.conf's layout) does. Pure:
 * the caller lists the Services, reads the node's resolv.conf and writes the files (pod.c,
 * env.c).
 */
#include <ctype.h>
#include <stdio.h>

#include "k3core/kubelet/podfiles.h"

#define MAX_NAMESERVERS 3
#define MAX_SEARCHES    32

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

char *kpf_hostname(const json_t *pod)
{
    const char *hn = str(json_object_get(pod, "spec"), "hostname");
    if (!hn || !*hn)
        hn = str(json_object_get(pod, "metadata"), "name");
    return dd_strndup(hn ? hn : "", 63);
}

static char *add_aliases(const json_t *spec, dd_buf *b);

char *kpf_hosts(const json_t *pod, const char *pod_ip, const char *cluster_domain)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *sub = str(spec, "subdomain");
    const char *ns = str(json_object_get(pod, "metadata"), "namespace");
    _cleanup_free_ char *hn = kpf_hostname(pod);
    dd_buf b;
    dd_buf_init(&b);
    dd_buf_adds(&b, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                    "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
    if (pod_ip && *pod_ip && sub && *sub)
        dd_buf_addf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", pod_ip, hn, sub, ns ? ns : "default",
                    cluster_domain, hn);
    else if (pod_ip && *pod_ip)
        dd_buf_addf(&b, "%s\t%s\n", pod_ip, hn);
    return add_aliases(spec, &b);
}

char *kpf_hosts_host_network(const json_t *pod, const char *node_hosts)
{
    dd_buf b;
    dd_buf_init(&b);
    dd_buf_adds(&b, node_hosts ? node_hosts : "");
    if (b.len && b.data[b.len - 1] != '\n')
        dd_buf_addc(&b, '\n');
    return add_aliases(json_object_get(pod, "spec"), &b);
}

/* Appends upstream's HostAliases section to b and returns its text. */
static char *add_aliases(const json_t *spec, dd_buf *bp)
{
    dd_buf b = *bp;
    const json_t *aliases = json_object_get(spec, "hostAliases");
    if (json_array_size(aliases))
        dd_buf_adds(&b, "\n# Entries added by HostAliases.\n");
    size_t i, j;
    json_t *a, *h;
    json_array_foreach(aliases, i, a)
    {
        dd_buf_adds(&b, str(a, "ip") ?: "");
        json_array_foreach(json_object_get(a, "hostnames"), j, h)
            dd_buf_addf(&b, "\t%s", json_string_value(h) ?: "");
        dd_buf_addc(&b, '\n');
    }
    return dd_buf_detach(&b, NULL);
}

/* Appends s unless already present (upstream's omitDuplicates keeps the first). */
static char **add_unique(char **v, const char *s)
{
    if (!s || !*s || dd_strv_contains(v, s))
        return v;
    return dd_strv_push(v, s);
}

/* Options merge by name: a later "ndots:2" replaces "ndots:5". */
static char **add_option(char **v, const char *opt)
{
    size_t n = strcspn(opt, ":");
    for (size_t i = 0; v && v[i]; i++)
        if (!strncmp(v[i], opt, n) && (v[i][n] == ':' || !v[i][n])) {
            free(v[i]);
            v[i] = dd_strdup(opt);
            return v;
        }
    return dd_strv_push(v, opt);
}

struct resolv {
    char **servers, **searches, **options;
};

static void parse_host(const char *text, struct resolv *r)
{
    _cleanup_free_ char *copy = dd_strdup(text ? text : "");
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *s2 = NULL, *key = strtok_r(line, " \t\r", &s2);
        if (!key || *key == '#' || *key == ';')
            continue;
        bool search = !strcmp(key, "search") || !strcmp(key, "domain");
        if (search) { /* the last search/domain line wins, like the resolver */
            dd_strv_free(r->searches);
            r->searches = NULL;
        }
        for (char *w = strtok_r(NULL, " \t\r", &s2); w; w = strtok_r(NULL, " \t\r", &s2)) {
            if (!strcmp(key, "nameserver")) { /* one address per line; the rest is ignored */
                r->servers = add_unique(r->servers, w);
                break;
            } else if (search)
                r->searches = add_unique(r->searches, w);
            else if (!strcmp(key, "options"))
                r->options = add_option(r->options, w);
        }
    }
}

static void cluster_first(const json_t *pod, const struct kpf_dns *d, struct resolv *r)
{
    const char *ns = str(json_object_get(pod, "metadata"), "namespace") ?: "default";
    struct resolv host = {0};
    parse_host(d->host_resolv, &host);
    r->servers = add_unique(r->servers, d->cluster_dns);
    _cleanup_free_ char *a = dd_asprintf("%s.svc.%s", ns, d->cluster_domain);
    _cleanup_free_ char *b = dd_asprintf("svc.%s", d->cluster_domain);
    r->searches = add_unique(add_unique(add_unique(r->searches, a), b), d->cluster_domain);
    for (size_t i = 0; host.searches && host.searches[i]; i++)
        r->searches = add_unique(r->searches, host.searches[i]);
    r->options = add_option(r->options, "ndots:5");
    dd_strv_free(host.servers), dd_strv_free(host.searches), dd_strv_free(host.options);
}

static void apply_config(const json_t *cfg, struct resolv *r)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cfg, "nameservers"), i, v) r->servers =
        add_unique(r->servers, json_string_value(v));
    json_array_foreach(json_object_get(cfg, "searches"), i, v) r->searches =
        add_unique(r->searches, json_string_value(v));
    json_array_foreach(json_object_get(cfg, "options"), i, v)
    {
        const char *name = str(v, "name"), *val = str(v, "value");
        if (!name || !*name)
            continue;
        _cleanup_free_ char *o = val ? dd_asprintf("%s:%s", name, val) : dd_strdup(name);
        r->options = add_option(r->options, o);
    }
}

static void add_line(dd_buf *b, const char *key, char **v, size_t max, bool one_per_line)
{
    for (size_t i = 0; v && v[i] && i < max; i++) {
        if (one_per_line || i == 0)
            dd_buf_addf(b, "%s%s", i && one_per_line ? "\n" : "", key);
        dd_buf_addf(b, " %s", v[i]);
    }
    if (v && v[0])
        dd_buf_addc(b, '\n');
}

int kpf_resolv(const json_t *pod, const struct kpf_dns *d, char **ret, dd_err *e)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *policy = str(spec, "dnsPolicy") ?: "ClusterFirst";
    bool host_net = json_is_true(json_object_get(spec, "hostNetwork"));
    struct resolv r = {0};
    if (!strcmp(policy, "Default") || (!strcmp(policy, "ClusterFirst") && host_net))
        parse_host(d->host_resolv, &r);
    else if (!strcmp(policy, "ClusterFirst") || !strcmp(policy, "ClusterFirstWithHostNet"))
        cluster_first(pod, d, &r);
    else if (strcmp(policy, "None"))
        return dd_err_set(e, EINVAL, "unsupported dnsPolicy \"%s\"", policy);
    apply_config(json_object_get(spec, "dnsConfig"), &r);
    int rc = 0;
    if (!r.servers && !strcmp(policy, "None"))
        rc = dd_err_set(e, EINVAL, "dnsPolicy None needs dnsConfig.nameservers");
    dd_buf b;
    dd_buf_init(&b);
    add_line(&b, "search", r.searches, MAX_SEARCHES, false);
    add_line(&b, "nameserver", r.servers, MAX_NAMESERVERS, true);
    add_line(&b, "options", r.options, SIZE_MAX, false);
    dd_strv_free(r.servers), dd_strv_free(r.searches), dd_strv_free(r.options);
    if (rc < 0) {
        dd_buf_release(&b);
        return rc;
    }
    *ret = dd_buf_detach(&b, NULL);
    return 0;
}

/* FOO-bar → FOO_BAR */
static char *var_name(const char *s)
{
    char *v = dd_strdup(s);
    for (char *p = v; *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    return v;
}

static char **add_var(char **env, const char *name, const char *value)
{
    return dd_strv_consume(env, dd_asprintf("%s=%s", name, value));
}

static char **link_vars(char **env, const char *prefix, const char *ip, const json_t *ports)
{
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        int port = (int)json_integer_value(json_object_get(p, "port"));
        _cleanup_free_ char *proto = var_name(str(p, "protocol") ?: "TCP");
        _cleanup_free_ char *lower = dd_strdup(proto);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        _cleanup_free_ char *url = dd_asprintf("%s://%s:%d", lower, ip, port);
        _cleanup_free_ char *pp = dd_asprintf("%s_PORT_%d_%s", prefix, port, proto);
        _cleanup_free_ char *first = dd_asprintf("%s_PORT", prefix);
        _cleanup_free_ char *pr = dd_asprintf("%s_PROTO", pp);
        _cleanup_free_ char *po = dd_asprintf("%s_PORT", pp);
        _cleanup_free_ char *ad = dd_asprintf("%s_ADDR", pp);
        char num[16];
        snprintf(num, sizeof(num), "%d", port);
        if (i == 0)
            env = add_var(env, first, url);
        env = add_var(add_var(add_var(add_var(env, pp, url), pr, lower), po, num), ad, ip);
    }
    return env;
}

static char **service_vars(char **env, const json_t *svc)
{
    const json_t *spec = json_object_get(svc, "spec");
    const char *ip = str(spec, "clusterIP");
    const json_t *ports = json_object_get(spec, "ports");
    if (!ip || !*ip || !strcmp(ip, "None") || !json_array_size(ports))
        return env;
    _cleanup_free_ char *prefix = var_name(str(json_object_get(svc, "metadata"), "name") ?: "");
    _cleanup_free_ char *host = dd_asprintf("%s_SERVICE_HOST", prefix);
    _cleanup_free_ char *port = dd_asprintf("%s_SERVICE_PORT", prefix);
    char num[16];
    snprintf(num, sizeof(num), "%lld",
             (long long)json_integer_value(json_object_get(json_array_get(ports, 0), "port")));
    env = add_var(add_var(env, host, ip), port, num);
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        const char *pn = str(p, "name");
        if (!pn || !*pn)
            continue;
        _cleanup_free_ char *up = var_name(pn);
        _cleanup_free_ char *name = dd_asprintf("%s_%s", port, up);
        snprintf(num, sizeof(num), "%lld",
                 (long long)json_integer_value(json_object_get(p, "port")));
        env = add_var(env, name, num);
    }
    return link_vars(env, prefix, ip, ports);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **kpf_service_env(const json_t *pod, const json_t *services, const json_t *master)
{
    const json_t *links = json_object_get(json_object_get(pod, "spec"), "enableServiceLinks");
    char **env = NULL;
    bool master_shadowed = false;
    const char *mname = str(json_object_get(master, "metadata"), "name");
    size_t i;
    json_t *svc;
    json_array_foreach(services, i, svc)
    {
        if (json_is_false(links))
            break;
        env = service_vars(env, svc);
        master_shadowed =
            master_shadowed || dd_streq(str(json_object_get(svc, "metadata"), "name"), mname);
    }
    if (master && !master_shadowed)
        env = service_vars(env, master);
    if (env)
        qsort(env, dd_strv_len(env), sizeof(*env), cmp_str);
    return env;
}
