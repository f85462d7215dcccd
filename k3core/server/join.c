/* join.c: k3s's node-join contract on the server side. At start the cluster token is written to
 * <data-dir>/server/token and node-token in k3s's full form "K10<sha256 of the CA bundle>::
 * server:<password>" (the password is --token when given, else the one already on disk, else
 * random). Agents use the supervisor endpoints k3s serves on the API port:
 *   GET /cacerts                   the server CA bundle; anonymous (the token's hash pins it)
 *   GET /v1-k3s/client-ca.crt      the client CA
 *   GET /v1-k3s/config             a subset of the control config (CIDRs, DNS, domain)
 *   GET /v1-k3s/client-kubelet.crt the kubelet's client certificate + key, CN=system:node:<name>
 *                                  O=system:nodes, for headers k3s-Node-Name/k3s-Node-Password
 *   GET /v1-k3s/serving-kubelet.crt the kubelet's serving certificate + key (server CA; SANs the
 *                                  node name, localhost and header k3s-Node-IP)
 * All but /cacerts want HTTP basic auth "node:<password>" (or "server:<password>"). The node
 * password is remembered as Secret kube-system/<node>.node-password.k3s (a salted SHA-256): a
 * second agent claiming the same name with another password is refused (403), as in k3s.
 */
#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "k3core/api/selector.h"
#include "k3core/pki/b64.h"
#include "k3core/server/server-internal.h"

static char *sha256_hex(const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    char *out = dd_calloc(2 * n + 1, 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return out;
}

/* The password part of a full ("K10<hash>::<user>:<password>") or short (password) token. */
static char *token_password(const char *tok)
{
    const char *sep = dd_startswith(tok, "K10") ? strstr(tok, "::") : NULL;
    if (!sep)
        return dd_strdup(tok);
    const char *creds = sep + 2, *colon = strchr(creds, ':');
    return dd_strdup(colon ? colon + 1 : creds);
}

static int write_token(const char *dir, const char *name, const char *text, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(dir, name);
    _cleanup_free_ char *tmp = dd_asprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return dd_err_set(e, errno, "writing %s: %s", tmp, strerror(errno));
    fchmod(fileno(f), 0600);
    bool ok = fprintf(f, "%s\n", text) > 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0)
        return dd_err_set(e, EIO, "writing %s", path);
    return 0;
}

int ksrv_token_init(struct ksrv *s, const char *server_dir, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(server_dir, "token");
    _cleanup_free_ char *old = NULL;
    s->ca_hash = sha256_hex(s->pki->server_ca_pem, strlen(s->pki->server_ca_pem));
    _cleanup_free_ char *given = NULL;
    if (kcfg_token(s->cfg, &given, e) < 0)
        return -EINVAL;
    if (given && dd_startswith(given, "K10") && strstr(given, "::") &&
        strncmp(given + 3, s->ca_hash, strlen(s->ca_hash)))
        return dd_err_set(e, EINVAL, "--token: its CA hash does not match this server's CA %s",
                          s->ca_hash);
    if (given) {
        s->token_password = token_password(given);
    } else if (dd_read_file(path, 4096, &old, NULL, NULL) >= 0 && old) {
        old[strcspn(old, "\r\n")] = 0;
        s->token_password = token_password(old);
    } else {
        char hex[33];
        dd_random_hex(hex, 16);
        s->token_password = dd_strdup(hex);
    }
    if (!*s->token_password || strchr(s->token_password, ':'))
        return dd_err_set(e, EINVAL, "--token: the password must be non-empty without ':'");
    _cleanup_free_ char *full = dd_asprintf("K10%s::server:%s", s->ca_hash, s->token_password);
    int r = write_token(server_dir, "token", full, e);
    if (r >= 0)
        r = write_token(server_dir, "node-token", full, e);
    return r;
}

int ksrv_basic_auth_parse(const char *header, char **ret_user, char **ret_password)
{
    *ret_user = *ret_password = NULL;
    if (!header || strncasecmp(header, "Basic ", 6))
        return -EINVAL;
    _cleanup_free_ char *dec = NULL;
    size_t n = 0;
    if (b64_decode(header + 6, strlen(header + 6), &dec, &n) < 0)
        return -EINVAL;
    char *colon = memchr(dec, ':', n);
    if (!colon || memchr(dec, 0, n))
        return -EINVAL;
    *ret_user = dd_strndup(dec, (size_t)(colon - dec));
    *ret_password = dd_strndup(colon + 1, n - (size_t)(colon + 1 - dec));
    return 0;
}

/* Basic "node:<password>" or "server:<password>" equal to the cluster token's password. */
static bool basic_ok(struct ksrv *s, http_req *req)
{
    _cleanup_free_ char *user = NULL, *pw = NULL;
    if (ksrv_basic_auth_parse(http_req_header(req, "Authorization"), &user, &pw) < 0)
        return false;
    size_t want = strlen(s->token_password);
    if (strcmp(user, "node") && strcmp(user, "server"))
        return false;
    return strlen(pw) == want && CRYPTO_memcmp(pw, s->token_password, want) == 0;
}

static void reply_text(http_req *req, int code, const char *text)
{
    http_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

static struct ksrv *authed(http_req *req)
{
    struct ksrv *s = ksrv_of(req);
    if (basic_ok(s, req))
        return s;
    http_add_header(req, "WWW-Authenticate", "Basic realm=\"k3s\"");
    reply_text(req, 401, "Unauthorized\n");
    return NULL;
}

static void h_cacerts(http_req *req)
{
    struct ksrv *s = ksrv_of(req);
    reply_text(req, 200, s->pki->server_ca_pem);
}

static void h_client_ca(http_req *req)
{
    struct ksrv *s = authed(req);
    if (!s)
        return;
    _cleanup_free_ char *pem = pki_cert_pem(s->pki->client_ca);
    reply_text(req, 200, pem);
}

static void h_config(http_req *req)
{
    struct ksrv *s = authed(req);
    if (!s)
        return;
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "ClusterIPRange", s->cfg->cluster_cidr,
                          "ServiceIPRange", s->cfg->service_cidr, "ClusterDNS", s->cfg->cluster_dns,
                          "ClusterDomain", s->cfg->cluster_domain, "FlannelBackend", "host-gw",
                          "HTTPSPort", s->cfg->https_port);
    http_reply_json(req, 200, c);
    json_decref(c);
}

static char *password_hash(const char *salt, const char *pw)
{
    _cleanup_free_ char *in = dd_asprintf("%s:%s", salt, pw);
    _cleanup_free_ char *hex = sha256_hex(in, strlen(in));
    return dd_asprintf("$sha256$%s$%s", salt, hex);
}

static bool hash_matches(const char *stored, const char *pw)
{
    if (!dd_startswith(stored, "$sha256$"))
        return false;
    const char *salt = stored + 8, *end = strchr(salt, '$');
    if (!end)
        return false;
    _cleanup_free_ char *s = dd_strndup(salt, (size_t)(end - salt));
    _cleanup_free_ char *want = password_hash(s, pw);
    return strlen(want) == strlen(stored) && CRYPTO_memcmp(want, stored, strlen(want)) == 0;
}

/* 0 when pw is this node's password (recording it on first use), -EPERM when another one is
 * on record, -EIO when the Secret cannot be read or written. */
static int node_password_check(struct ksrv *s, const char *node, const char *pw)
{
    _cleanup_free_ char *name = dd_asprintf("%s.node-password.k3s", node);
    kobj_req req = {.res = kres_lookup("", "v1", "secrets"),
                    .ns = "kube-system",
                    .name = name,
                    .field_manager = "k3core-supervisor"};
    kobj_status st = {0};
    json_t *cur = NULL;
    if (kobj_get(s->api, &req, &cur, &st) == 0) {
        const char *h64 = json_string_value(json_object_get(json_object_get(cur, "data"), "hash"));
        _cleanup_free_ char *h = NULL;
        size_t n;
        bool ok = h64 && b64_decode(h64, strlen(h64), &h, &n) == 0 && hash_matches(h, pw);
        json_decref(cur);
        kobj_status_release(&st);
        return ok ? 0 : -EPERM;
    }
    kobj_status_release(&st);
    char salt[17];
    dd_random_hex(salt, 8);
    _cleanup_free_ char *hash = password_hash(salt, pw);
    _cleanup_free_ char *h64 = b64_encode(hash, strlen(hash), false);
    json_t *sec = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:{s:s}}", "apiVersion", "v1", "kind",
                            "Secret", "metadata", "name", name, "namespace", "kube-system", "type",
                            "k3s.cattle.io/node-password", "data", "hash", h64);
    req.name = NULL;
    kobj_result res = {0};
    int r = kobj_create(s->api, &req, sec, &res, &st);
    if (r < 0)
        dd_warn("node password for %s: %s", node, st.message);
    json_decref(sec);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return r < 0 ? -EIO : 0;
}

/* The node named by the headers, once its password checks out; NULL after answering. */
static const char *node_of(struct ksrv *s, http_req *req)
{
    const char *node = http_req_header(req, "k3s-Node-Name");
    const char *pw = http_req_header(req, "k3s-Node-Password");
    if (!node || !*node || !pw || !*pw) {
        reply_text(req, 400, "missing k3s-Node-Name or k3s-Node-Password header\n");
        return NULL;
    }
    const char *why = ksel_check_dns1123_subdomain(node);
    if (why) {
        _cleanup_free_ char *msg = dd_asprintf("invalid node name \"%s\": %s\n", node, why);
        reply_text(req, 400, msg);
        return NULL;
    }
    int r = node_password_check(s, node, pw);
    if (r == -EPERM) {
        dd_warn("node %s: node password rejected", node);
        reply_text(req, 403,
                   "Node password rejected, duplicate hostname or contents of the node password "
                   "file may not match server node-passwd entry\n");
        return NULL;
    }
    if (r < 0) {
        reply_text(req, 500, "cannot record the node password\n");
        return NULL;
    }
    return node;
}

/* Answers the certificate chain (cert, then its CA) followed by the key, as k3s does. */
static void reply_cert(http_req *req, X509 *cert, EVP_PKEY *key, X509 *ca)
{
    _cleanup_free_ char *cpem = pki_cert_pem(cert);
    _cleanup_free_ char *capem = pki_cert_pem(ca);
    _cleanup_free_ char *kpem = pki_key_pem(key);
    X509_free(cert);
    EVP_PKEY_free(key);
    _cleanup_free_ char *body = dd_asprintf("%s%s%s", cpem, capem, kpem);
    reply_text(req, 200, body);
}

static void h_client_kubelet(http_req *req)
{
    struct ksrv *s = authed(req);
    const char *node = s ? node_of(s, req) : NULL;
    if (!node)
        return;
    _cleanup_free_ char *cn = dd_asprintf("system:node:%s", node);
    char *orgs[] = {(char *)"system:nodes", NULL};
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    dd_err e = {0};
    if (pki_issue_client(s->pki, cn, orgs, &cert, &key, &e) < 0) {
        reply_text(req, 500, e.msg);
        return;
    }
    dd_info("node %s joined: issued kubelet client certificate %s", node, cn);
    reply_cert(req, cert, key, s->pki->client_ca);
}

/* SANs: the node name, localhost, 127.0.0.1 and the IPs of header k3s-Node-IP (comma list). */
static void h_serving_kubelet(http_req *req)
{
    struct ksrv *s = authed(req);
    const char *node = s ? node_of(s, req) : NULL;
    if (!node)
        return;
    _cleanup_strv_free_ char **sans = NULL;
    sans = dd_strv_push(sans, node);
    sans = dd_strv_push(sans, "localhost");
    sans = dd_strv_push(sans, "127.0.0.1");
    _cleanup_free_ char *ips = dd_strdup(http_req_header(req, "k3s-Node-IP") ?: "");
    char *save = NULL;
    for (char *ip = strtok_r(ips, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
        unsigned char a[16];
        if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1) {
            reply_text(req, 400, "invalid k3s-Node-IP header\n");
            return;
        }
        if (!dd_strv_contains(sans, ip))
            sans = dd_strv_push(sans, ip);
    }
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    dd_err e = {0};
    if (pki_issue_serving(s->pki, node, sans, &cert, &key, &e) < 0) {
        reply_text(req, 500, e.msg);
        return;
    }
    reply_cert(req, cert, key, s->pki->server_ca);
}

#define JOIN_ROUTE(p, fn)                                                                          \
    {                                                                                              \
        "GET", p, fn, 0, 0, NULL                                                                   \
    }
static const http_route join_routes[] = {
    JOIN_ROUTE("/cacerts", h_cacerts),
    JOIN_ROUTE("/v1-k3s/client-ca.crt", h_client_ca),
    JOIN_ROUTE("/v1-k3s/config", h_config),
    JOIN_ROUTE("/v1-k3s/client-kubelet.crt", h_client_kubelet),
    JOIN_ROUTE("/v1-k3s/serving-kubelet.crt", h_serving_kubelet),
};

void ksrv_join_routes(struct ksrv *s)
{
    http_server_add_routes(s->http, join_routes, DD_ARRAY_SIZE(join_routes));
}
