/* jwt.c: the admin kubeconfig writer and ServiceAccount token signing (JWS compact form, ES256
 * with <tls>/service.key), plus the base64 helpers both need.
 *
 * It signs and checks signatures only; what the claims mean (issuer, audience, expiry, bound
 * objects) is decided by the server's authenticator.
 */
#include <openssl/ecdsa.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "k3core/pki/b64.h"
#include "k3core/pki/pki.h"

char *b64_encode(const void *data, size_t len, bool url)
{
    char *out = dd_malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n] = '\0';
    if (!url)
        return out;
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    return out;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int b64_decode(const char *s, size_t len, char **ret, size_t *ret_len)
{
    char *out = dd_malloc(len / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            for (; i < len; i++)
                if (s[i] != '=') {
                    free(out);
                    return -EINVAL;
                }
            break;
        }
        int v = b64val(s[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *ret = out;
    if (ret_len)
        *ret_len = o;
    return 0;
}

int pki_write_kubeconfig(const struct pki *pki, const char *path, const char *server_url,
                         mode_t mode, dd_err *e)
{
    _cleanup_free_ char *ca = b64_encode(pki->server_ca_pem, strlen(pki->server_ca_pem), false);
    _cleanup_free_ char *cert_pem = pki_cert_pem(pki->admin);
    _cleanup_free_ char *key_pem = pki_key_pem(pki->admin_key);
    if (!cert_pem || !key_pem)
        return dd_err_set(e, EIO, "encoding admin credentials");
    _cleanup_free_ char *cert = b64_encode(cert_pem, strlen(cert_pem), false);
    _cleanup_free_ char *key = b64_encode(key_pem, strlen(key_pem), false);
    _cleanup_free_ char *text =
        dd_asprintf("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
                    "    server: %s\n  name: default\ncontexts:\n- context:\n    cluster: default\n"
                    "    user: default\n  name: default\ncurrent-context: default\nkind: Config\n"
                    "preferences: {}\nusers:\n- name: default\n  user:\n"
                    "    client-certificate-data: %s\n    client-key-data: %s\n",
                    ca, server_url, cert, key);
    _cleanup_free_ char *dir = dd_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = dd_mkdir_p(dir, 0755, e);
        if (r < 0)
            return r;
    }
    int r = dd_write_file_atomic(path, text, strlen(text), mode, e);
    if (r < 0)
        return dd_err_wrap(e, "writing kubeconfig");
    return chmod(path, mode) < 0 ? dd_err_sys(e, "chmod %s", path) : 0;
}

/* The key id kube-apiserver uses: base64url(sha256(DER public key)). */
static char *key_id(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)n, md);
    OPENSSL_free(der);
    return b64_encode(md, sizeof(md), true);
}

static int es256(EVP_PKEY *key, const char *input, unsigned char out[64], bool verify)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;
    if (!verify) {
        unsigned char der[80];
        size_t derlen = sizeof(der);
        ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) == 1;
        const unsigned char *p = der;
        ECDSA_SIG *sig = ok ? d2i_ECDSA_SIG(NULL, &p, (long)derlen) : NULL;
        ok = sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32;
        ECDSA_SIG_free(sig);
    } else {
        ECDSA_SIG *sig = ECDSA_SIG_new();
        ECDSA_SIG_set0(sig, BN_bin2bn(out, 32, NULL), BN_bin2bn(out + 32, 32, NULL));
        unsigned char *der = NULL;
        int derlen = i2d_ECDSA_SIG(sig, &der);
        ok = derlen > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)input,
                              strlen(input)) == 1;
        OPENSSL_free(der);
        ECDSA_SIG_free(sig);
    }
    EVP_MD_CTX_free(md);
    return ok ? 0 : -EINVAL;
}

char *pki_jwt_sign(const struct pki *pki, const char *claims_json)
{
    _cleanup_free_ char *kid = key_id(pki->sa_key);
    _cleanup_free_ char *hdr_json = dd_asprintf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    _cleanup_free_ char *hdr = b64_encode(hdr_json, strlen(hdr_json), true);
    _cleanup_free_ char *body = b64_encode(claims_json, strlen(claims_json), true);
    _cleanup_free_ char *input = dd_asprintf("%s.%s", hdr, body);
    unsigned char sig[64];
    if (es256(pki->sa_key, input, sig, false) < 0)
        return NULL;
    _cleanup_free_ char *sig64 = b64_encode(sig, sizeof(sig), true);
    return dd_asprintf("%s.%s", input, sig64);
}

int pki_jwt_verify(const struct pki *pki, const char *token, char **ret_claims, dd_err *e)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        return dd_err_set(e, EINVAL, "not a JWT");
    _cleanup_free_ char *hdr = NULL, *sig = NULL, *claims = NULL;
    size_t siglen = 0;
    if (b64_decode(token, (size_t)(dot1 - token), &hdr, NULL) < 0 ||
        b64_decode(dot2 + 1, strlen(dot2 + 1), &sig, &siglen) < 0 ||
        b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims, NULL) < 0)
        return dd_err_set(e, EINVAL, "malformed JWT encoding");
    if (!strstr(hdr, "\"ES256\"") || siglen != 64)
        return dd_err_set(e, EINVAL, "unsupported JWT algorithm");
    _cleanup_free_ char *input = dd_strndup(token, (size_t)(dot2 - token));
    if (es256(pki->sa_key, input, (unsigned char *)sig, true) < 0)
        return dd_err_set(e, EACCES, "invalid JWT signature");
    *ret_claims = TAKE_PTR(claims);
    return 0;
}
