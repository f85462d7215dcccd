/* csr.c: signing the PKCS#10 requests of CertificateSigningRequests, as kube-controller-manager's
 * csrsigning controller does with the cluster CAs: the certificate gets the request's subject,
 * public key (its self-signature checked) and subject alternative names, the key usages and
 * extended key usages the CSR asks for, validity from 5 minutes ago (clock skew) for the asked
 * duration, never past the CA's own end. Which signer may sign what is the caller's business.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#include "k3core/pki/pki.h"

#define BACKDATE_S 300

void pki_csr_free(X509_REQ *req)
{
    X509_REQ_free(req);
}

int pki_csr_parse(const char *pem, size_t len, X509_REQ **ret, dd_err *e)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!req)
        return dd_err_set(e, EINVAL, "PEM block type must be CERTIFICATE REQUEST");
    EVP_PKEY *key = X509_REQ_get0_pubkey(req);
    if (!key || X509_REQ_verify(req, key) != 1) {
        ERR_clear_error();
        X509_REQ_free(req);
        return dd_err_set(e, EINVAL, "x509: invalid signature on the certificate request");
    }
    *ret = req;
    return 0;
}

static char *entry_text(X509_NAME *name, int i)
{
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    char *out = n >= 0 ? dd_strndup((const char *)utf8, (size_t)n) : dd_strdup("");
    OPENSSL_free(utf8);
    return out;
}

void pki_csr_subject(X509_REQ *req, char **ret_cn, char ***ret_orgs)
{
    X509_NAME *name = X509_REQ_get_subject_name(req);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    *ret_cn = i >= 0 ? entry_text(name, i) : dd_strdup("");
    char **orgs = NULL;
    for (i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;)
        orgs = dd_strv_consume(orgs, entry_text(name, i));
    *ret_orgs = orgs;
}

/* Copies the request's subjectAltName extension, if any. */
static int copy_sans(X509 *cert, X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    int r = 0;
    for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) == NID_subject_alt_name &&
            !X509_add_ext(cert, x, -1))
            r = -1;
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return r;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *x = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!x)
        return -1;
    int ok = X509_add_ext(cert, x, -1);
    X509_EXTENSION_free(x);
    return ok ? 0 : -1;
}

char *pki_csr_sign(const struct pki *pki, X509_REQ *req, bool client_ca, const char *key_usage,
                   const char *ext_key_usage, int64_t seconds, dd_err *e)
{
    X509 *ca = client_ca ? pki->client_ca : pki->server_ca;
    EVP_PKEY *ca_key = client_ca ? pki->client_ca_key : pki->server_ca_key;
    X509 *c = pki_x509_new(BACKDATE_S, (long)seconds);
    if (X509_cmp_time(X509_get0_notAfter(ca), NULL) > 0 &&
        ASN1_TIME_compare(X509_get0_notAfter(c), X509_get0_notAfter(ca)) > 0)
        X509_set1_notAfter(c, X509_get0_notAfter(ca));
    X509_set_pubkey(c, X509_REQ_get0_pubkey(req));
    X509_set_subject_name(c, X509_REQ_get_subject_name(req));
    X509_set_issuer_name(c, X509_get_subject_name(ca));
    int r = add_ext(c, ca, NID_basic_constraints, "critical,CA:FALSE");
    if (key_usage && *key_usage) {
        _cleanup_free_ char *v = dd_asprintf("critical,%s", key_usage);
        r |= add_ext(c, ca, NID_key_usage, v);
    }
    if (ext_key_usage && *ext_key_usage)
        r |= add_ext(c, ca, NID_ext_key_usage, ext_key_usage);
    r |= add_ext(c, ca, NID_authority_key_identifier, "keyid");
    r |= copy_sans(c, req);
    char *pem = NULL;
    if (r || !X509_sign(c, ca_key, EVP_sha256()))
        dd_err_set(e, EIO, "signing the certificate failed");
    else
        pem = pki_cert_pem(c);
    ERR_clear_error();
    X509_free(c);
    return pem;
}
