/* config.c: parses `k3core server` flags the way k3s's urfave/cli front end does: `--flag value`,
 * `--flag=value`, single-dash short forms, booleans with optional `=true|false`, slice flags
 * that repeat and split on commas, and K3S_* environment variables as fallbacks.
 *
 * The option table is data; adding a k3s flag is one row. It validates values (port range,
 * CIDRs, file mode) but does not touch the filesystem.
 */
#include "k3core/server/config.h"
#include "k3core/server/server-internal.h"

#include "k3core/api/selector.h"
#include "k3core/kubelet/kubelet.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_STRV, OPT_MODE, OPT_LEVEL };

struct opt {
    const char *name;  /* long name without dashes */
    const char *alias; /* short name or NULL */
    const char *env;   /* K3S_* fallback or NULL */
    enum opt_type type;
    size_t off;
    const char *help;
    unsigned cmds; /* KCFG_SERVER | KCFG_AGENT; 0 = both */
};
#define KCFG_SERVER 1u
#define KCFG_AGENT  2u
#define SRV         KCFG_SERVER

#define F(field) offsetof(struct kcfg, field)
static const struct opt opts[] = {
    {"data-dir", "d", "K3S_DATA_DIR", OPT_STR, F(data_dir), "folder to hold state"},
    {"https-listen-port", NULL, NULL, OPT_INT, F(https_port), "HTTPS listen port (6443)", SRV},
    {"bind-address", NULL, NULL, OPT_STR, F(bind_address), "address to listen on (0.0.0.0)", SRV},
    {"advertise-address", NULL, NULL, OPT_STR, F(advertise_addr), "address advertised to clients",
     SRV},
    {"tls-san", NULL, NULL, OPT_STRV, F(tls_sans), "extra hostname or IP in the serving cert", SRV},
    {"token", "t", "K3S_TOKEN", OPT_STR, F(token), "shared secret for joining nodes"},
    {"write-kubeconfig", "o", "K3S_KUBECONFIG_OUTPUT", OPT_STR, F(kubeconfig_out),
     "write the admin kubeconfig to this file", SRV},
    {"write-kubeconfig-mode", NULL, "K3S_KUBECONFIG_MODE", OPT_MODE, F(kubeconfig_mode),
     "kubeconfig file mode (octal, 600)", SRV},
    {"cluster-cidr", NULL, NULL, OPT_STR, F(cluster_cidr), "pod network (10.42.0.0/16)", SRV},
    {"service-cidr", NULL, NULL, OPT_STR, F(service_cidr), "service network (10.43.0.0/16)", SRV},
    {"cluster-dns", NULL, NULL, OPT_STR, F(cluster_dns), "cluster DNS service IP (10.43.0.10)",
     SRV},
    {"cluster-domain", NULL, NULL, OPT_STR, F(cluster_domain), "cluster domain (cluster.local)",
     SRV},
    {"disable-agent", NULL, NULL, OPT_BOOL, F(disable_agent), "do not run a local agent", SRV},
    {"node-name", NULL, "K3S_NODE_NAME", OPT_STR, F(node_name), "node name (hostname)"},
    {"node-label", NULL, NULL, OPT_STRV, F(node_labels), "node label k=v (repeatable)"},
    {"node-taint", NULL, NULL, OPT_STRV, F(node_taints), "node taint key[=value]:Effect"},
    {"kubelet-arg", NULL, NULL, OPT_STRV, F(kubelet_args), "kubelet flag name=value"},
    {"private-registry", NULL, "K3S_PRIVATE_REGISTRY", OPT_STR, F(private_registry),
     "registries.yaml (/etc/rancher/k3s/registries.yaml)"},
    {"disable", NULL, NULL, OPT_STRV, F(disable),
     "k3s components to skip (local-storage; the others are not shipped)", SRV},
    {"image-store", NULL, "K3CORE_IMAGE_STORE", OPT_STR, F(image_store),
     "an engine's image store to use read-only, e.g. dindd's <data-root>/image"},
    {"default-local-storage-path", NULL, NULL, OPT_STR, F(local_storage_path),
     "local-path volumes' directory (<data-dir>/storage)", SRV},
    {"server", "s", "K3S_URL", OPT_STR, F(server_url), "server to join (https://host:6443)",
     KCFG_AGENT},
    {"token-file", NULL, "K3S_TOKEN_FILE", OPT_STR, F(token_file), "file holding the token"},
    {"node-ip", "i", NULL, OPT_STR, F(node_ip), "IPv4 address advertised for the node"},
    {"v", NULL, NULL, OPT_INT, F(verbosity), "log verbosity number"},
    {"log-level", NULL, NULL, OPT_LEVEL, F(log_level), "error|warn|info|debug (info)"},
    {"debug", NULL, "K3S_DEBUG", OPT_BOOL, 0, "debug logging"},
};

static const struct opt *find_opt(const char *name, size_t len, unsigned cmd)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        if (o->cmds && !(o->cmds & cmd))
            continue;
        if ((strlen(o->name) == len && !strncmp(o->name, name, len)) ||
            (o->alias && strlen(o->alias) == len && !strncmp(o->alias, name, len)))
            return o;
    }
    return NULL;
}

static int parse_bool_strict(const char *s, bool *ret)
{
    static const char *t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(t); i++) {
        if (!strcmp(s, t[i]))
            return *ret = true, 0;
        if (!strcmp(s, f[i]))
            return *ret = false, 0;
    }
    return -EINVAL;
}

static int set_value(struct kcfg *c, const struct opt *o, const char *v, dd_err *e)
{
    void *p = (char *)c + o->off;
    int64_t n;
    bool b;
    char *end;
    switch (o->type) {
    case OPT_STR:
        free(*(char **)p);
        *(char **)p = dd_strdup(v);
        return 0;
    case OPT_LEVEL:
        if (dd_log_parse_level(v, &(enum dd_log_level){0}) < 0)
            return dd_err_set(e, EINVAL, "invalid value \"%s\" for flag --%s", v, o->name);
        free(*(char **)p);
        *(char **)p = dd_strdup(v);
        return 0;
    case OPT_INT:
        if (dd_parse_int64(v, &n) < 0 || n < 0 || n > 65535)
            return dd_err_set(e, EINVAL, "invalid value \"%s\" for flag --%s", v, o->name);
        *(int *)p = (int)n;
        return 0;
    case OPT_MODE:
        n = strtol(v, &end, 8);
        if (!*v || *end || n < 0 || n > 07777)
            return dd_err_set(e, EINVAL, "invalid value \"%s\" for flag --%s", v, o->name);
        *(mode_t *)p = (mode_t)n;
        return 0;
    case OPT_BOOL:
        if (parse_bool_strict(v, &b) < 0)
            return dd_err_set(e, EINVAL, "invalid boolean value \"%s\" for flag --%s", v, o->name);
        if (!strcmp(o->name, "debug"))
            return b ? (set_value(c, &opts[DD_ARRAY_SIZE(opts) - 2], "debug", e)) : 0;
        *(bool *)p = b;
        return 0;
    case OPT_STRV: {
        _cleanup_free_ char *copy = dd_strdup(v);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            *(char ***)p = dd_strv_push(*(char ***)p, tok);
        return 0;
    }
    }
    return -EINVAL;
}

static void set_defaults(struct kcfg *c)
{
    c->data_dir = dd_strdup("/var/lib/rancher/k3s");
    c->https_port = 6443;
    c->bind_address = dd_strdup("0.0.0.0");
    c->kubeconfig_out = dd_strdup("/etc/rancher/k3s/k3s.yaml");
    c->kubeconfig_mode = 0600;
    c->cluster_cidr = dd_strdup("10.42.0.0/16");
    c->service_cidr = dd_strdup("10.43.0.0/16");
    c->cluster_dns = dd_strdup("10.43.0.10");
    c->cluster_domain = dd_strdup("cluster.local");
    c->log_level = dd_strdup("info");
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++) /* k3s lower-cases the hostname for the node name */
        *p = (char)tolower((unsigned char)*p);
    c->node_name = dd_strdup(host[0] ? host : "localhost");
}

static int apply_env(struct kcfg *c, unsigned cmd, dd_err *e)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(opts); i++) {
        if (opts[i].cmds && !(opts[i].cmds & cmd))
            continue;
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && *v) {
            int r = set_value(c, &opts[i], v, e);
            if (r < 0)
                return dd_err_wrap(e, "%s", opts[i].env);
        }
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct kcfg *c, unsigned cmd, bool *ret_help,
                      dd_err *e)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return *ret_help = true, 1;
        if (a[0] != '-' || !a[1])
            return dd_err_set(e, EINVAL, "unexpected argument \"%s\" (%s takes only flags)", a,
                              cmd == KCFG_AGENT ? "agent" : "server");
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_opt(name, len, cmd);
        if (!o)
            return dd_err_set(e, EINVAL, "flag provided but not defined: -%.*s", (int)len, name);
        const char *v = eq ? eq + 1 : NULL;
        if (!v && o->type == OPT_BOOL)
            v = "true";
        if (!v && i + 1 >= argc)
            return dd_err_set(e, EINVAL, "flag needs an argument: -%s", o->name);
        if (!v)
            v = argv[++i];
        int r = set_value(c, o, v, e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int validate_agent(struct kcfg *c, dd_err *e)
{
    if (!c->server_url || !*c->server_url)
        return dd_err_set(e, EINVAL, "--server (K3S_URL) is required");
    if (!dd_startswith(c->server_url, "https://"))
        return dd_err_set(e, EINVAL, "--server \"%s\": want https://host:port", c->server_url);
    for (size_t n = strlen(c->server_url); n > 8 && c->server_url[n - 1] == '/'; n--)
        c->server_url[n - 1] = 0;
    if ((!c->token || !*c->token) && (!c->token_file || !*c->token_file))
        return dd_err_set(e, EINVAL,
                          "--token, --token-file, K3S_TOKEN or K3S_TOKEN_FILE is "
                          "required to join a server");
    return 0;
}

static int validate(struct kcfg *c, dd_err *e)
{
    char ip[64];
    struct kubelet_config kc = {.node_labels = c->node_labels,
                                .node_taints = c->node_taints,
                                .kubelet_args = c->kubelet_args};
    if (kubelet_config_check(&kc, e) < 0)
        return -EINVAL;
    unsigned char a4[4];
    if (c->node_ip && inet_pton(AF_INET, c->node_ip, a4) != 1)
        return dd_err_set(e, EINVAL, "invalid --node-ip \"%s\": want an IPv4 address", c->node_ip);
    const char *why = ksel_check_dns1123_subdomain(c->node_name);
    if (why)
        return dd_err_set(e, EINVAL, "invalid node name \"%s\": %s (set --node-name)", c->node_name,
                          why);
    if (c->agent)
        return validate_agent(c, e);
    if (c->https_port <= 0)
        return dd_err_set(e, EINVAL, "invalid --https-listen-port %d", c->https_port);
    if (kcfg_first_service_ip(c, ip, sizeof(ip)) < 0)
        return dd_err_set(e, EINVAL, "invalid --service-cidr \"%s\"", c->service_cidr);
    unsigned char buf[16];
    if (inet_pton(AF_INET, c->cluster_dns, buf) != 1)
        return dd_err_set(e, EINVAL, "invalid --cluster-dns \"%s\"", c->cluster_dns);
    if (!strchr(c->cluster_cidr, '/'))
        return dd_err_set(e, EINVAL, "invalid --cluster-cidr \"%s\"", c->cluster_cidr);
    if (c->verbosity >= 4 && strcmp(c->log_level, "debug")) {
        free(c->log_level);
        c->log_level = dd_strdup("debug");
    }
    return 0;
}

int kcfg_parse(int argc, char **argv, bool agent, struct kcfg *c, bool *ret_help, dd_err *e)
{
    memset(c, 0, sizeof(*c));
    *ret_help = false;
    set_defaults(c);
    c->agent = agent;
    unsigned cmd = agent ? KCFG_AGENT : KCFG_SERVER;
    int r = apply_env(c, cmd, e);
    if (r < 0)
        return r;
    r = parse_args(argc, argv, c, cmd, ret_help, e);
    if (r != 0)
        return r;
    return validate(c, e);
}

void kcfg_release(struct kcfg *c)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(opts); i++) {
        void *p = (char *)c + opts[i].off;
        if (opts[i].type == OPT_STR || opts[i].type == OPT_LEVEL)
            free(*(char **)p), *(char **)p = NULL;
        else if (opts[i].type == OPT_STRV)
            dd_strv_free(*(char ***)p), *(char ***)p = NULL;
    }
}

void kcfg_usage(FILE *out, bool agent)
{
    if (agent)
        fprintf(out, "Usage: k3core agent [flags]\n\nRun a node agent that joins a server "
                     "(k3s-compatible flags).\n\nFlags:\n");
    else
        fprintf(out, "Usage: k3core server [flags]\n\nRun the Kubernetes API server "
                     "(k3s-compatible flags).\n\nFlags:\n");
    for (size_t i = 0; i < DD_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        if (o->cmds && !(o->cmds & (agent ? KCFG_AGENT : KCFG_SERVER)))
            continue;
        char name[64];
        snprintf(name, sizeof(name), "--%s%s%s", o->name, o->alias ? ", -" : "",
                 o->alias ? o->alias : "");
        fprintf(out, "  %-28s %s%s%s%s\n", name, o->help, o->env ? " [$" : "", o->env ? o->env : "",
                o->env ? "]" : "");
    }
}

int kcfg_token(const struct kcfg *c, char **ret, dd_err *e)
{
    *ret = NULL;
    if (c->token && *c->token)
        return *ret = dd_strdup(c->token), 0;
    if (!c->token_file || !*c->token_file)
        return 0;
    char *t = NULL;
    if (dd_read_file(c->token_file, 65536, &t, NULL, e) < 0)
        return dd_err_wrap(e, "--token-file");
    t[strcspn(t, "\r\n")] = 0;
    if (!*t) {
        free(t);
        return dd_err_set(e, EINVAL, "--token-file %s is empty", c->token_file);
    }
    return *ret = t, 0;
}

char *kcfg_server_dir(const struct kcfg *c)
{
    return dd_path_join(c->data_dir, "server");
}

int kcfg_first_service_ip(const struct kcfg *c, char *out, size_t outlen)
{
    _cleanup_free_ char *net = dd_strdup(c->service_cidr);
    char *slash = strchr(net, '/');
    int64_t bits;
    if (!slash || dd_parse_int64(slash + 1, &bits) < 0 || bits < 1 || bits > 30)
        return -EINVAL;
    *slash = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, net, &a) != 1)
        return -EINVAL;
    uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
    a.s_addr = htonl((ntohl(a.s_addr) & mask) + 1);
    return inet_ntop(AF_INET, &a, out, (socklen_t)outlen) ? 0 : -EINVAL;
}

/* k3s's registries.yaml as JSON; a missing file (at the default path) is no configuration. */
int kcfg_load_registries(const struct kcfg *cfg, json_t **ret, dd_err *e)
{
    const char *path = cfg->private_registry && *cfg->private_registry
                           ? cfg->private_registry
                           : "/etc/rancher/k3s/registries.yaml";
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    *ret = NULL;
    int r = dd_read_file(path, 1u << 20, &data, &len, e);
    if (r == -ENOENT)
        return 0;
    if (r >= 0)
        r = len ? ksrv_yaml_to_json(data, len, ret, e) : 0;
    if (r >= 0 && *ret && !json_is_object(*ret))
        r = dd_err_set(e, EINVAL, "not a mapping");
    if (r < 0) {
        json_decref(*ret);
        *ret = NULL;
        dd_err_wrap(e, "private registry configuration %s", path);
    }
    return r;
}
