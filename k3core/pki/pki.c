/* pki.c: creates and loads the cluster CA, the serving certificate and the admin client
 * certificates under <data-dir>/server/tls (k3s's file names), and builds the server's SSL_CTX.
 *
 * Keys are EC P-256; CAs live ten years, leaf certificates one year and are re-issued at start
 * when they expire within 90 days or when the serving certificate lacks a wanted SAN (a new
 * --tls-san or advertise address). It does not rotate CAs and does not watch files at runtime.
 */
#include "k3core/pki/pki.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#define CA_DAYS   3650
#define LEAF_DAYS 365

static int ssl_err(dd_err *e, const char *what)
{
    char buf[256] = "";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    return dd_err_set(e, EIO, "%s: %s", what, buf[0] ? buf : "openssl error");
}

static EVP_PKEY *gen_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EINVAL;
    int r = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return r == 1 ? 0 : -EINVAL;
}

static void set_name(X509_NAME *name, const char *cn, char *const *orgs)
{
    for (size_t i = 0; orgs && orgs[i]; i++)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)orgs[i], -1, -1,
                                   0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
}

static char *san_value(char *const *sans)
{
    dd_buf b = DD_BUF_INIT;
    for (size_t i = 0; sans && sans[i]; i++) {
        unsigned char tmp[16];
        bool ip = inet_pton(AF_INET, sans[i], tmp) == 1 || inet_pton(AF_INET6, sans[i], tmp) == 1;
        dd_buf_addf(&b, "%s%s:%s", b.len ? "," : "", ip ? "IP" : "DNS", sans[i]);
    }
    return dd_buf_detach(&b, NULL);
}

X509 *pki_x509_new(long backdate_s, long valid_s)
{
    X509 *c = X509_new();
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; /* a positive 127-bit serial */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_set_version(c, 2);
    X509_gmtime_adj(X509_getm_notBefore(c), -backdate_s);
    X509_gmtime_adj(X509_getm_notAfter(c), valid_s);
    return c;
}

/* kind: 0 = CA, 1 = server leaf, 2 = client leaf. issuer NULL = self-signed. */
static X509 *make_cert(const char *cn, char *const *orgs, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key, int kind, char *const *sans)
{
    X509 *c = pki_x509_new(3600, 86400L * (kind == 0 ? CA_DAYS : LEAF_DAYS));
    X509_set_pubkey(c, key);
    set_name(X509_get_subject_name(c), cn, orgs);
    X509 *iss = issuer ? issuer : c;
    X509_set_issuer_name(c, X509_get_subject_name(iss));
    int r = 0;
    if (kind == 0) {
        r |= add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
        r |=
            add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign");
        r |= add_ext(c, iss, NID_subject_key_identifier, "hash");
    } else {
        r |= add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
        r |= add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        r |= add_ext(c, iss, NID_ext_key_usage, kind == 1 ? "serverAuth" : "clientAuth");
        r |= add_ext(c, iss, NID_authority_key_identifier, "keyid");
    }
    if (kind == 1) {
        _cleanup_free_ char *v = san_value(sans);
        r |= add_ext(c, iss, NID_subject_alt_name, v);
    }
    if (r || !X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key, dd_err *e)
{
    _cleanup_free_ char *path = dd_asprintf("%s/%s.%s", dir, name, cert ? "crt" : "key");
    _cleanup_free_ char *pem = cert ? pki_cert_pem(cert) : pki_key_pem(key);
    if (!pem)
        return ssl_err(e, "encoding PEM");
    return dd_write_file_atomic(path, pem, strlen(pem), cert ? 0644 : 0600, e);
}

static int read_pem(const char *dir, const char *name, X509 **ret_cert, EVP_PKEY **ret_key)
{
    _cleanup_free_ char *path = dd_asprintf("%s/%s.%s", dir, name, ret_cert ? "crt" : "key");
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    if (ret_cert)
        *ret_cert = PEM_read_X509(f, NULL, NULL, NULL);
    else
        *ret_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    ERR_clear_error();
    return (ret_cert ? (void *)*ret_cert : (void *)*ret_key) ? 0 : -EINVAL;
}

/* Loads name.crt + name.key, or returns -ENOENT when either is missing. */
static int load_pair(const char *dir, const char *name, X509 **ret_cert, EVP_PKEY **ret_key,
                     dd_err *e)
{
    int r = read_pem(dir, name, ret_cert, NULL);
    if (r == 0)
        r = read_pem(dir, name, NULL, ret_key);
    if (r == -ENOENT)
        return r;
    if (r < 0)
        return dd_err_set(e, -r, "reading %s/%s.{crt,key}: %s", dir, name,
                          r == -EINVAL ? "not valid PEM" : strerror(-r));
    if (X509_check_private_key(*ret_cert, *ret_key) != 1) {
        ERR_clear_error();
        return dd_err_set(e, EINVAL, "%s/%s.key does not match %s.crt", dir, name, name);
    }
    return 0;
}

static int load_or_create_ca(const char *dir, const char *name, const char *cn, X509 **ret_cert,
                             EVP_PKEY **ret_key, dd_err *e)
{
    int r = load_pair(dir, name, ret_cert, ret_key, e);
    if (r != -ENOENT)
        return r;
    X509_free(*ret_cert);
    EVP_PKEY_free(*ret_key);
    *ret_cert = NULL;
    *ret_key = gen_key();
    if (!*ret_key)
        return ssl_err(e, "generating key");
    *ret_cert = make_cert(cn, NULL, *ret_key, NULL, NULL, 0, NULL);
    if (!*ret_cert)
        return ssl_err(e, "creating CA certificate");
    r = write_pem(dir, name, NULL, *ret_key, e);
    return r < 0 ? r : write_pem(dir, name, *ret_cert, NULL, e);
}

static bool cert_fresh(X509 *cert, X509 *issuer)
{
    time_t soon = time(NULL) + 90L * 86400;
    if (X509_cmp_time(X509_get0_notAfter(cert), &soon) <= 0)
        return false;
    return X509_check_issued(issuer, cert) == X509_V_OK;
}

static bool cert_has_sans(X509 *cert, char *const *sans)
{
    for (size_t i = 0; sans && sans[i]; i++) {
        unsigned char tmp[16];
        bool ip = inet_pton(AF_INET, sans[i], tmp) == 1 || inet_pton(AF_INET6, sans[i], tmp) == 1;
        int ok = ip ? X509_check_ip_asc(cert, sans[i], 0)
                    : X509_check_host(cert, sans[i], 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL);
        if (ok != 1)
            return false;
    }
    return true;
}

struct leaf_spec {
    const char *name, *cn;
    char *const *orgs;
    int kind;
    char *const *sans;
};

static int load_or_issue_leaf(const char *dir, const struct leaf_spec *s, X509 *ca, EVP_PKEY *cakey,
                              X509 **ret_cert, EVP_PKEY **ret_key, dd_err *e)
{
    int r = load_pair(dir, s->name, ret_cert, ret_key, e);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && cert_fresh(*ret_cert, ca) && (s->kind != 1 || cert_has_sans(*ret_cert, s->sans)))
        return 0;
    X509_free(*ret_cert);
    *ret_cert = NULL;
    if (!*ret_key && !(*ret_key = gen_key()))
        return ssl_err(e, "generating key");
    *ret_cert = make_cert(s->cn, s->orgs, *ret_key, ca, cakey, s->kind, s->sans);
    if (!*ret_cert)
        return ssl_err(e, "issuing certificate");
    r = write_pem(dir, s->name, NULL, *ret_key, e);
    return r < 0 ? r : write_pem(dir, s->name, *ret_cert, NULL, e);
}

static int load_or_create_sa_key(struct pki *pki, dd_err *e)
{
    int r = read_pem(pki->dir, "service", NULL, &pki->sa_key);
    if (r == 0)
        return 0;
    if (r != -ENOENT)
        return dd_err_set(e, EINVAL, "reading %s/service.key: not a valid PEM key", pki->dir);
    if (!(pki->sa_key = gen_key()))
        return ssl_err(e, "generating service account key");
    return write_pem(pki->dir, "service", NULL, pki->sa_key, e);
}

int pki_load_or_create(const char *dir, const struct pki_params *p, struct pki **ret, dd_err *e)
{
    _cleanup_pki_ struct pki *pki = dd_calloc(1, sizeof(*pki));
    pki->dir = dd_strdup(dir);
    int r = dd_mkdir_p(dir, 0700, e);
    if (r < 0)
        return r;
    r = load_or_create_ca(dir, "server-ca", "k3s-server-ca", &pki->server_ca, &pki->server_ca_key,
                          e);
    if (r >= 0)
        r = load_or_create_ca(dir, "client-ca", "k3s-client-ca", &pki->client_ca,
                              &pki->client_ca_key, e);
    if (r < 0)
        return r;
    char *masters[] = {(char *)"system:masters", NULL};
    struct leaf_spec serving = {"serving-kube-apiserver", "kube-apiserver", NULL, 1, p->sans};
    struct leaf_spec admin = {"client-admin", "system:admin", masters, 2, NULL};
    struct leaf_spec kubelet = {"client-kube-apiserver", PKI_KUBELET_CLIENT_CN, masters, 2, NULL};
    r = load_or_issue_leaf(dir, &serving, pki->server_ca, pki->server_ca_key, &pki->serving,
                           &pki->serving_key, e);
    if (r >= 0)
        r = load_or_issue_leaf(dir, &admin, pki->client_ca, pki->client_ca_key, &pki->admin,
                               &pki->admin_key, e);
    if (r >= 0)
        r = load_or_issue_leaf(dir, &kubelet, pki->client_ca, pki->client_ca_key,
                               &pki->kubelet_client, &pki->kubelet_client_key, e);
    if (r >= 0)
        r = load_or_create_sa_key(pki, e);
    if (r < 0)
        return r;
    pki->server_ca_pem = pki_cert_pem(pki->server_ca);
    *ret = TAKE_PTR(pki);
    return 0;
}

void pki_free(struct pki *pki)
{
    if (!pki)
        return;
    X509_free(pki->server_ca);
    EVP_PKEY_free(pki->server_ca_key);
    X509_free(pki->client_ca);
    EVP_PKEY_free(pki->client_ca_key);
    X509_free(pki->serving);
    EVP_PKEY_free(pki->serving_key);
    X509_free(pki->admin);
    EVP_PKEY_free(pki->admin_key);
    X509_free(pki->kubelet_client);
    EVP_PKEY_free(pki->kubelet_client_key);
    EVP_PKEY_free(pki->sa_key);
    free(pki->server_ca_pem);
    free(pki->dir);
    free(pki);
}

void pki_freep(struct pki **p)
{
    pki_free(*p);
}

int pki_issue_client(const struct pki *pki, const char *cn, char *const *orgs, X509 **ret_cert,
                     EVP_PKEY **ret_key, dd_err *e)
{
    EVP_PKEY *key = gen_key();
    if (!key)
        return ssl_err(e, "generating key");
    X509 *c = make_cert(cn, orgs, key, pki->client_ca, pki->client_ca_key, 2, NULL);
    if (!c) {
        EVP_PKEY_free(key);
        return ssl_err(e, "issuing client certificate");
    }
    *ret_cert = c;
    *ret_key = key;
    return 0;
}

int pki_issue_serving(const struct pki *pki, const char *cn, char *const *sans, X509 **ret_cert,
                      EVP_PKEY **ret_key, dd_err *e)
{
    EVP_PKEY *key = gen_key();
    if (!key)
        return ssl_err(e, "generating key");
    X509 *c = make_cert(cn, NULL, key, pki->server_ca, pki->server_ca_key, 1, sans);
    if (!c) {
        EVP_PKEY_free(key);
        return ssl_err(e, "issuing serving certificate");
    }
    *ret_cert = c;
    *ret_key = key;
    return 0;
}

SSL_CTX *pki_server_ctx(const struct pki *pki, dd_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(e, "creating TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(ctx, pki->serving) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, pki->serving_key) != 1 ||
        SSL_CTX_add1_chain_cert(ctx, pki->server_ca) != 1 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), pki->client_ca) != 1) {
        ssl_err(e, "configuring TLS context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(pki->client_ca)));
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

int pki_cert_identity(X509 *cert, char **ret_user, char ***ret_groups)
{
    X509_NAME *name = X509_get_subject_name(cert);
    char **groups = NULL;
    char *user = NULL;
    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        X509_NAME_ENTRY *ent = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ent));
        unsigned char *utf8 = NULL;
        if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent)) < 0)
            continue;
        if (nid == NID_commonName) {
            free(user);
            user = dd_strdup((char *)utf8);
        } else if (nid == NID_organizationName) {
            groups = dd_strv_push(groups, (char *)utf8);
        }
        OPENSSL_free(utf8);
    }
    if (!user) {
        dd_strv_free(groups);
        return -EINVAL;
    }
    *ret_user = user;
    *ret_groups = groups;
    return 0;
}

static char *bio_text(BIO *bio, int ok)
{
    char *data = NULL, *out = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (ok == 1 && n > 0)
        out = dd_strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

char *pki_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio_text(bio, PEM_write_bio_X509(bio, cert));
}

char *pki_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio_text(bio, PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL));
}
