/* pki: the cluster's certificates and keys, in k3s's layout under <data-dir>/server/tls/.
 * Prefix: pki_.
 *
 * First start creates (EC P-256, OpenSSL):
 *   server-ca.{crt,key}                 signs the serving certificate
 *   client-ca.{crt,key}                 signs client certificates (admin, future nodes)
 *   serving-kube-apiserver.{crt,key}    TLS serving cert, SANs from pki_params (re-issued when they
 * change)
 *   client-admin.{crt,key}              CN=system:admin, O=system:masters
 *   client-kube-apiserver.{crt,key}     CN=system:apiserver, O=system:masters: the server's
 *                                       identity toward agents' kubelet ports (logs, exec...)
 *   service.key                         signs ServiceAccount JWTs (ES256)
 * Later starts load the same files. Nothing here listens or knows HTTP; the server builds its
 * SSL_CTX with pki_server_ctx(), tls.c the kubelet port's contexts on both ends.
 */
#ifndef K3CORE_PKI_H
#define K3CORE_PKI_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dind/base.h"

struct pki_params {
    char **sans; /* DNS names and IP literals for the serving certificate */
};

struct pki {
    char *dir; /* <data-dir>/server/tls */
    X509 *server_ca;
    EVP_PKEY *server_ca_key;
    X509 *client_ca;
    EVP_PKEY *client_ca_key;
    X509 *serving;
    EVP_PKEY *serving_key;
    X509 *admin;
    EVP_PKEY *admin_key;
    X509 *kubelet_client; /* client-kube-apiserver */
    EVP_PKEY *kubelet_client_key;
    EVP_PKEY *sa_key;
    char *server_ca_pem; /* PEM text, for kubeconfigs and kube-root-ca.crt */
};

/* Loads or creates everything under dir. Returns 0 or -errno with e filled. */
int pki_load_or_create(const char *dir, const struct pki_params *p, struct pki **ret, dd_err *e);
void pki_free(struct pki *pki);

/* A TLS 1.2+ server context presenting the serving certificate and asking (not requiring) a client
 * certificate signed by the client CA. */
SSL_CTX *pki_server_ctx(const struct pki *pki, dd_err *e);

/* ---- tls.c: the kubelet port (agents' 10250) ---- */

/* The only client identity (certificate CN, signed by the client CA) an agent's kubelet port
 * serves: the server proxying logs, exec, attach and port-forward. */
#define PKI_KUBELET_CLIENT_CN "system:apiserver"

/* The server's side: a TLS 1.2+ client context presenting client-kube-apiserver and verifying
 * the kubelet against the server CA (the caller checks the name or IP per connection). */
SSL_CTX *pki_kubelet_client_ctx(const struct pki *pki, dd_err *e);
/* The agent's side: a TLS 1.2+ server context presenting cert_file (chain) + key_file and asking
 * (not requiring: anonymous requests get 401 from the handler) for a client certificate signed
 * by client_ca_file. */
SSL_CTX *pki_kubelet_server_ctx(const char *cert_file, const char *key_file,
                                const char *client_ca_file, dd_err *e);
/* 0 when cert (the verified peer certificate, may be NULL) is PKI_KUBELET_CLIENT_CN; -EACCES
 * without one (401), -EPERM for another identity (403), with e saying who. */
int pki_kubelet_client_check(X509 *cert, dd_err *e);

/* Issues a client certificate (CN=cn, O=each of orgs) signed by the client CA. */
int pki_issue_client(const struct pki *pki, const char *cn, char *const *orgs, X509 **ret_cert,
                     EVP_PKEY **ret_key, dd_err *e);

/* Issues a serving certificate (CN=cn, SANs: DNS names and IP literals) signed by the server CA,
 * e.g. a kubelet's. */
int pki_issue_serving(const struct pki *pki, const char *cn, char *const *sans, X509 **ret_cert,
                      EVP_PKEY **ret_key, dd_err *e);

/* The user (CN) and groups (O entries) of a verified client certificate. */
int pki_cert_identity(X509 *cert, char **ret_user, char ***ret_groups);

/* Writes a k3s-style admin kubeconfig (cluster/context/user "default") with mode. */
int pki_write_kubeconfig(const struct pki *pki, const char *path, const char *server_url,
                         mode_t mode, dd_err *e);

/* PEM helpers (caller frees). */
char *pki_cert_pem(X509 *cert);
char *pki_key_pem(EVP_PKEY *key);

/* ---- ServiceAccount tokens: compact JWS, ES256 with service.key ---- */

/* Signs claims (a JSON object serialised by the caller) into "<header>.<payload>.<sig>". */
char *pki_jwt_sign(const struct pki *pki, const char *claims_json);
/* Verifies signature; on success returns the decoded claims JSON (caller frees). */
int pki_jwt_verify(const struct pki *pki, const char *token, char **ret_claims, dd_err *e);

/* ---- csr.c: CertificateSigningRequest signing ---- */

/* A PEM "CERTIFICATE REQUEST" whose self-signature verifies; -EINVAL with e otherwise. */
int pki_csr_parse(const char *pem, size_t len, X509_REQ **ret, dd_err *e);
void pki_csr_free(X509_REQ *req);
/* The request's CN ("" when none) and O entries (strv, may be NULL); caller frees. */
void pki_csr_subject(X509_REQ *req, char **ret_cn, char ***ret_orgs);
/* A certificate for req signed by the client CA (client_ca) or the server CA: the request's
 * subject, key and SANs, key_usage / ext_key_usage in OpenSSL's config syntax
 * ("digitalSignature,keyEncipherment", "clientAuth"; NULL or "" = none), valid from 5 minutes
 * ago for seconds, capped at the CA's end. PEM (caller frees) or NULL with e. */
char *pki_csr_sign(const struct pki *pki, X509_REQ *req, bool client_ca, const char *key_usage,
                   const char *ext_key_usage, int64_t seconds, dd_err *e);

void pki_freep(struct pki **p);
#define _cleanup_pki_ _cleanup_(pki_freep)

/* A v3 certificate with a random positive serial, valid from backdate_s ago for valid_s seconds
 * from now; subject, issuer, key, extensions and signature are the caller's. */
X509 *pki_x509_new(long backdate_s, long valid_s);

#endif
