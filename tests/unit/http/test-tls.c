/* TLS on TCP: a self-signed certificate made here serves as the server certificate, the trusted
 * CA and the client certificate; the handler sees the verified peer certificate, ALPN selects
 * http/1.1, and the handshake runs non-blocking on the loop. */
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include "dind/http.h"
#include "tests/unit/unit.h"

static EVP_PKEY *g_key;
static X509 *g_cert;

static void make_cert(const char *cn)
{
    g_key = EVP_EC_gen("P-256");
    CHECK(g_key != NULL);
    g_cert = X509_new();
    X509_set_version(g_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(g_cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(g_cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(g_cert), 3600);
    X509_NAME *name = X509_get_subject_name(g_cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(g_cert, name);
    X509_set_pubkey(g_cert, g_key);
    CHECK(X509_sign(g_cert, g_key, EVP_sha256()) > 0);
}

static void h_whoami(http_req *req)
{
    X509 *peer = http_req_peer_cert(req);
    char cn[256] = "anonymous";
    if (peer)
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    http_reply(req, 200, "text/plain", cn, strlen(cn));
}

static const http_route routes[] = {{"GET", "/whoami", h_whoami}};

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    CHECK(SSL_CTX_use_certificate(ctx, g_cert) == 1);
    CHECK(SSL_CTX_use_PrivateKey(ctx, g_key) == 1);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), g_cert);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static SSL *client_connect(ev_loop *loop, int port, bool with_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), g_cert);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (with_cert) {
        SSL_CTX_use_certificate(ctx, g_cert);
        SSL_CTX_use_PrivateKey(ctx, g_key);
    }
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    dd_set_nonblock(fd, true);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    for (int i = 0; i < 100000; i++) {
        int r = SSL_connect(ssl);
        if (r == 1)
            return ssl;
        int err = SSL_get_error(ssl, r);
        CHECK(err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE);
        ev_run_once(loop, 10);
    }
    CHECK(!"handshake did not finish");
    return NULL;
}

static char *roundtrip(ev_loop *loop, SSL *ssl, const char *req)
{
    CHECK(SSL_write(ssl, req, (int)strlen(req)) == (int)strlen(req));
    dd_buf in = DD_BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        char buf[4096];
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n > 0) {
            dd_buf_add(&in, buf, (size_t)n);
            const char *body = strstr(in.data, "\r\n\r\n");
            if (body && strstr(in.data, "Content-Length: ") && strlen(body + 4) > 0)
                break;
            continue;
        }
        ev_run_once(loop, 10);
    }
    return dd_buf_detach(&in, NULL);
}

TEST(tls_with_client_certificate_and_alpn)
{
    make_cert("tester");
    ev_loop *loop = ev_loop_new(NULL);
    http_server *srv = http_server_new(loop, NULL);
    http_server_add_routes(srv, routes, 1);
    SSL_CTX *sctx = server_ctx();
    dd_err e = {0};
    int idx = http_server_listen(srv, "tcp://127.0.0.1:0", sctx, &e);
    CHECK(idx >= 0);
    int port = http_server_port(srv, idx);
    CHECK(port > 0);

    SSL *ssl = client_connect(loop, port, true);
    const unsigned char *proto;
    unsigned int plen;
    SSL_get0_alpn_selected(ssl, &proto, &plen);
    CHECK(plen == 8 && memcmp(proto, "http/1.1", 8) == 0);
    char *resp = roundtrip(loop, ssl, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(dd_endswith(resp, "\r\n\r\ntester"));
    free(resp);
    /* keep-alive over TLS */
    resp = roundtrip(loop, ssl, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(dd_endswith(resp, "\r\n\r\ntester"));
    free(resp);
    close(SSL_get_fd(ssl));
    SSL_free(ssl);

    http_server_free(srv);
    ev_loop_free(loop);
    SSL_CTX_free(sctx);
}

TEST(tls_without_client_certificate_is_anonymous)
{
    make_cert("srv");
    ev_loop *loop = ev_loop_new(NULL);
    http_server *srv = http_server_new(loop, NULL);
    http_server_add_routes(srv, routes, 1);
    SSL_CTX *sctx = server_ctx();
    int idx = http_server_listen(srv, "tcp://127.0.0.1:0", sctx, NULL);
    SSL *ssl = client_connect(loop, http_server_port(srv, idx), false);
    char *resp = roundtrip(loop, ssl, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(dd_endswith(resp, "\r\n\r\nanonymous"));
    free(resp);
    close(SSL_get_fd(ssl));
    SSL_free(ssl);
    http_server_free(srv);
    ev_loop_free(loop);
    SSL_CTX_free(sctx);
}
