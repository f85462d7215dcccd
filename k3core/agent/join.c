/* join.c: the agent's side of k3s's join contract (k3s pkg/clientaccess, pkg/agent/config).
 *  1. The token: "K10<sha256 of the CA bundle>::<user>:<password>" or a bare password.
 *  2. GET /cacerts without verifying the server; with a full token the bundle's sha256 must
 *     equal the token's hash, else the join stops (someone else's server, or a wrong token).
 *  3. From then on the server is verified against that CA. GET /v1-k3s/client-kubelet.crt with
 *     basic auth <user>:<password> and headers k3s-Node-Name / k3s-Node-Password: the answer is
 *     the certificate chain and key of system:node:<name> (group system:nodes); likewise
 *     /v1-k3s/serving-kubelet.crt (header k3s-Node-IP) for the kubelet's serving certificate.
 * The node password is random at first join and kept in <data-dir>/agent/node-password (k3s
 * keeps it in /etc/rancher/node/password; here the data dir keeps several agents on one machine
 * apart). GET /v1-k3s/config then gives the cluster CIDR (pod-to-pod traffic is not
 * masqueraded). Files written: <agent>/server-ca.crt, client-kubelet.{crt,key},
 * serving-kubelet.{crt,key} and client-ca.crt (/v1-k3s/client-ca.crt: the kubelet port checks
 * the server's client certificate against it).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <strings.h>

#include "k3core/agent/agent.h"

int kag_token_parse(const char *s, struct kag_token *ret, dd_err *e)
{
    memset(ret, 0, sizeof(*ret));
    if (!s || !*s)
        return dd_err_set(e, EINVAL, "the token is empty");
    const char *creds = s;
    if (dd_startswith(s, "K10")) {
        const char *sep = strstr(s, "::");
        if (!sep || sep == s + 3)
            return dd_err_set(e, EINVAL, "invalid token format: want K10<hash>::<user>:<password>");
        ret->ca_hash = dd_strndup(s + 3, (size_t)(sep - s - 3));
        creds = sep + 2;
    }
    const char *colon = strchr(creds, ':');
    ret->user = colon ? dd_strndup(creds, (size_t)(colon - creds)) : dd_strdup("node");
    ret->password = dd_strdup(colon ? colon + 1 : creds);
    if (!*ret->user || !*ret->password) {
        kag_token_release(ret);
        return dd_err_set(e, EINVAL, "invalid token format: empty user or password");
    }
    return 0;
}

void kag_token_release(struct kag_token *t)
{
    free(t->ca_hash), free(t->user), free(t->password);
    memset(t, 0, sizeof(*t));
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int node_password(const char *agent_dir, char **ret, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(agent_dir, "node-password");
    char *pw = NULL;
    if (dd_read_file(path, 4096, &pw, NULL, NULL) >= 0 && pw) {
        pw[strcspn(pw, "\r\n")] = 0;
        if (*pw)
            return *ret = pw, 0;
        free(pw);
    }
    char hex[33];
    dd_random_hex(hex, 16);
    if (dd_write_file_atomic(path, hex, strlen(hex), 0600, e) < 0)
        return dd_err_wrap(e, "node password");
    *ret = dd_strdup(hex);
    return 0;
}

static int fetch_cacerts(const struct kcfg *cfg, const struct kag_token *t, char **ret, dd_err *e)
{
    kag_http *h = NULL;
    struct kag_http_opts o = {0};
    int r = kag_http_new(cfg->server_url, &o, &h, e);
    long code = 0;
    size_t len = 0;
    char *body = NULL;
    if (r >= 0)
        r = kag_http_do(h, "GET", "/cacerts", NULL, NULL, &code, &body, &len, e);
    kag_http_free(h);
    if (r < 0)
        return dd_err_wrap(e, "fetching the cluster CA");
    if (code != 200 || !strstr(body, "-----BEGIN CERTIFICATE-----")) {
        free(body);
        return dd_err_set(e, EPROTO, "%s/cacerts answered %ld without a CA bundle", cfg->server_url,
                          code);
    }
    char hash[65] = "";
    sha256_hex(body, len, hash);
    if (t->ca_hash && strcasecmp(hash, t->ca_hash)) {
        free(body);
        return dd_err_set(e, EACCES,
                          "token CA hash does not match the Cluster CA certificate hash: %s != %s",
                          t->ca_hash, hash);
    }
    *ret = body;
    return 0;
}

/* One "-----BEGIN <label>-----" ... "-----END <label>-----" block at k: its label (caller
 * frees) and the end of the block, or NULL when k starts no complete block. */
static const char *pem_block(const char *k, char **ret_label)
{
    const char *lab = k + strlen("-----BEGIN ");
    const char *le = strstr(lab, "-----");
    if (!le || memchr(lab, '\n', (size_t)(le - lab)) ||
        (le[5] != '\n' && !(le[5] == '\r' && le[6] == '\n'))) /* the header is a whole line */
        return NULL;
    _cleanup_free_ char *label = dd_strndup(lab, (size_t)(le - lab));
    _cleanup_free_ char *endm = dd_asprintf("-----END %s-----", label);
    const char *end = strstr(le + 5, endm);
    const char *next = strstr(k + 1, "-----BEGIN ");
    if (!end || (next && next < end)) /* no nesting: a block ends before the next begins */
        return NULL;
    *ret_label = TAKE_PTR(label);
    return end + strlen(endm);
}

int kag_pem_split(const char *pem, char **ret_certs, char **ret_key, dd_err *e)
{
    const char *k = strstr(pem, "-----BEGIN ");
    dd_buf certs = DD_BUF_INIT;
    *ret_key = NULL;
    while (k) {
        _cleanup_free_ char *label = NULL;
        const char *stop = pem_block(k, &label);
        if (!stop) {
            k = strstr(k + 1, "-----BEGIN ");
            continue;
        }
        size_t n = (size_t)(stop - k);
        if (!strcmp(label, "CERTIFICATE")) {
            dd_buf_add(&certs, k, n);
            dd_buf_adds(&certs, "\n");
        } else if (dd_endswith(label, "PRIVATE KEY") && !*ret_key) {
            *ret_key = dd_asprintf("%.*s\n", (int)n, k);
        }
        k = strstr(stop, "-----BEGIN ");
    }
    bool have_certs = certs.len > 0;
    *ret_certs = dd_buf_detach(&certs, NULL);
    if (!have_certs || !*ret_key) {
        free(*ret_certs), free(*ret_key);
        *ret_certs = *ret_key = NULL;
        return dd_err_set(e, EPROTO, "the kubelet certificate answer has no certificate and key");
    }
    return 0;
}

/* The cluster CIDR from /v1-k3s/config (basic auth already set on h). */
static int fetch_config(kag_http *h, struct kag_join *j, dd_err *e)
{
    long code = 0;
    size_t len = 0;
    _cleanup_free_ char *body = NULL;
    int r = kag_http_do(h, "GET", "/v1-k3s/config", NULL, NULL, &code, &body, &len, e);
    if (r < 0)
        return r;
    json_t *c = code == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *cidr = json_string_value(json_object_get(c, "ClusterIPRange"));
    if (cidr)
        j->cluster_cidr = dd_strdup(cidr);
    const char *dns = json_string_value(json_object_get(c, "ClusterDNS"));
    const char *domain = json_string_value(json_object_get(c, "ClusterDomain"));
    j->cluster_dns = dns ? dd_strdup(dns) : NULL;
    j->cluster_domain = domain ? dd_strdup(domain) : NULL;
    json_decref(c);
    if (!cidr)
        return dd_err_set(e, EPROTO, "/v1-k3s/config answered %ld without ClusterIPRange", code);
    return 0;
}

/* GET path (a certificate chain + key answer) and store it in <agent>/<name>.crt and .key. */
static int fetch_pair(kag_http *h, const struct kcfg *cfg, const char *path, char *const *hdrs,
                      const char *node, const char *name, dd_err *e)
{
    long code = 0;
    _cleanup_free_ char *body = NULL;
    int r = kag_http_do(h, "GET", path, NULL, hdrs, &code, &body, NULL, e);
    if (r < 0)
        return dd_err_wrap(e, "requesting %s", path);
    if (code == 401)
        return dd_err_set(e, EACCES,
                          "token is not valid: %s refused it (401 Unauthorized); check --token",
                          cfg->server_url);
    if (code == 403)
        return dd_err_set(e, EPERM, "node %s: %s", node, body);
    if (code != 200)
        return dd_err_set(e, EPROTO, "requesting %s: HTTP %ld: %s", path, code, body);
    _cleanup_free_ char *certs = NULL, *key = NULL;
    _cleanup_free_ char *dir = dd_path_join(cfg->data_dir, "agent");
    _cleanup_free_ char *crt = dd_asprintf("%s/%s.crt", dir, name);
    _cleanup_free_ char *kf = dd_asprintf("%s/%s.key", dir, name);
    if ((r = kag_pem_split(body, &certs, &key, e)) < 0 ||
        (r = dd_write_file_atomic(crt, certs, strlen(certs), 0644, e)) < 0 ||
        (r = dd_write_file_atomic(kf, key, strlen(key), 0600, e)) < 0)
        return dd_err_wrap(e, "%s", path);
    return 0;
}

/* The client CA (basic auth set on h), which the kubelet port verifies the server against. */
static int fetch_client_ca(kag_http *h, const struct kag_join *j, dd_err *e)
{
    long code = 0;
    size_t len = 0;
    _cleanup_free_ char *body = NULL;
    int r = kag_http_do(h, "GET", "/v1-k3s/client-ca.crt", NULL, NULL, &code, &body, &len, e);
    if (r < 0)
        return dd_err_wrap(e, "requesting /v1-k3s/client-ca.crt");
    if (code != 200 || !strstr(body, "-----BEGIN CERTIFICATE-----"))
        return dd_err_set(e, EPROTO, "/v1-k3s/client-ca.crt answered %ld without a certificate",
                          code);
    return dd_write_file_atomic(j->client_ca_file, body, len, 0644, e);
}

/* The kubelet's client and serving certificates, the client CA, then the cluster config. */
static int fetch_node_files(const struct kcfg *cfg, const struct kag_token *t, const char *node,
                            const char *node_ip, const char *pw, struct kag_join *j, dd_err *e)
{
    kag_http *h = NULL;
    struct kag_http_opts o = {.ca_file = j->ca_file, .user = t->user, .password = t->password};
    _cleanup_free_ char *hn = dd_asprintf("k3s-Node-Name: %s", node);
    _cleanup_free_ char *hp = dd_asprintf("k3s-Node-Password: %s", pw);
    _cleanup_free_ char *hi = dd_asprintf("k3s-Node-IP: %s", node_ip);
    char *hdrs[] = {hn, hp, hi, NULL};
    int r = kag_http_new(cfg->server_url, &o, &h, e);
    if (r >= 0)
        r = fetch_pair(h, cfg, "/v1-k3s/client-kubelet.crt", hdrs, node, "client-kubelet", e);
    if (r >= 0)
        r = fetch_pair(h, cfg, "/v1-k3s/serving-kubelet.crt", hdrs, node, "serving-kubelet", e);
    if (r >= 0)
        r = fetch_client_ca(h, j, e);
    if (r >= 0)
        r = fetch_config(h, j, e);
    kag_http_free(h);
    return r;
}

int kag_join(const struct kcfg *cfg, const char *node_name, const char *node_ip,
             struct kag_join *ret, dd_err *e)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *tok = NULL, *pw = NULL;
    _cleanup_free_ char *agent_dir = dd_path_join(cfg->data_dir, "agent");
    struct kag_token t = {0};
    int r = kcfg_token(cfg, &tok, e);
    if (r >= 0 && (r = kag_token_parse(tok, &t, e)) < 0)
        dd_err_wrap(e, "--token");
    if (r >= 0)
        r = dd_mkdir_p(agent_dir, 0700, e);
    if (r >= 0)
        r = node_password(agent_dir, &pw, e);
    if (r >= 0)
        r = fetch_cacerts(cfg, &t, &ret->ca_pem, e);
    if (r >= 0) {
        ret->ca_file = dd_path_join(agent_dir, "server-ca.crt");
        ret->cert_file = dd_path_join(agent_dir, "client-kubelet.crt");
        ret->key_file = dd_path_join(agent_dir, "client-kubelet.key");
        ret->client_ca_file = dd_path_join(agent_dir, "client-ca.crt");
        r = dd_write_file_atomic(ret->ca_file, ret->ca_pem, strlen(ret->ca_pem), 0644, e);
    }
    if (r >= 0)
        r = fetch_node_files(cfg, &t, node_name, node_ip, pw, ret, e);
    kag_token_release(&t);
    if (r < 0)
        kag_join_release(ret);
    return r;
}

void kag_join_release(struct kag_join *j)
{
    free(j->ca_file), free(j->cert_file), free(j->key_file), free(j->ca_pem);
    free(j->client_ca_file);
    free(j->cluster_cidr);
    free(j->cluster_dns);
    free(j->cluster_domain);
    memset(j, 0, sizeof(*j));
}
