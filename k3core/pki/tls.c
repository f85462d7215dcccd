/* tls.c: the TLS contexts of the kubelet port, the link over which the server reaches a joined
 * agent's pods (logs, exec, attach, port-forward). The agent presents its serving-kubelet
 * certificate (server CA) and accepts only the server's client-kube-apiserver identity (client
 * CA, CN system:apiserver): a node's own system:node:<name> certificate, signed by the same CA,
 * is refused. Nothing here opens sockets.
 */
#include <openssl/err.h>

#include "k3core/pki/pki.h"

static SSL_CTX *ctx_fail(SSL_CTX *ctx, dd_err *e, const char *what)
{
    char buf[256] = "";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    dd_err_set(e, EIO, "%s: %s", what, buf[0] ? buf : "openssl error");
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *pki_kubelet_client_ctx(const struct pki *pki, dd_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return ctx_fail(NULL, e, "creating TLS client context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(ctx, pki->kubelet_client) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, pki->kubelet_client_key) != 1 ||
        SSL_CTX_add1_chain_cert(ctx, pki->client_ca) != 1 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), pki->server_ca) != 1)
        return ctx_fail(ctx, e, "configuring the kubelet client TLS context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

SSL_CTX *pki_kubelet_server_ctx(const char *cert_file, const char *key_file,
                                const char *client_ca_file, dd_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return ctx_fail(NULL, e, "creating TLS server context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(ctx, e, "loading the kubelet serving certificate");
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca_file);
    if (!names || SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return ctx_fail(ctx, e, "loading the client CA");
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

int pki_kubelet_client_check(X509 *cert, dd_err *e)
{
    if (!cert)
        return dd_err_set(e, EACCES, "Unauthorized");
    _cleanup_free_ char *user = NULL;
    _cleanup_strv_free_ char **groups = NULL;
    if (pki_cert_identity(cert, &user, &groups) < 0 || !user)
        return dd_err_set(e, EPERM, "Forbidden: a client certificate without a common name");
    if (strcmp(user, PKI_KUBELET_CLIENT_CN))
        return dd_err_set(e, EPERM,
                          "Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy): "
                          "only the API server may use the kubelet port",
                          user);
    return 0;
}
