/* Unit tests for the server's relay to a kubelet port (k3core/stream/proxy.c): the request head
 * it sends (which client headers pass, upgrade or not), the status-line parser of the kubelet's
 * answer, and the kubelet port's client identity check (k3core/pki/tls.c). */
#include <stdlib.h>
#include <unistd.h>

#include "k3core/pki/pki.h"
#include "k3core/stream/stream.h"
#include "tests/unit/unit.h"

TEST(proxy_head_upgrade)
{
    const char *h[] = {"Host",
                       "127.0.0.1:6443",
                       "Authorization",
                       "Bearer secret",
                       "User-Agent",
                       "kubectl/v1.27.0",
                       "Connection",
                       "Upgrade",
                       "Upgrade",
                       "SPDY/3.1",
                       "X-Stream-Protocol-Version",
                       "v4.channel.k8s.io",
                       "X-Stream-Protocol-Version",
                       "v3.channel.k8s.io",
                       "Impersonate-User",
                       "admin",
                       "Content-Length",
                       "0",
                       "Cookie",
                       "a=b",
                       NULL};
    char *s = kstream_proxy_head("POST", "/exec/default/web/web?command=ls&stdout=true",
                                 "10.0.0.2:10250", (char *const *)h, 0);
    CHECK_EQ_STR(s, "POST /exec/default/web/web?command=ls&stdout=true HTTP/1.1\r\n"
                    "Host: 10.0.0.2:10250\r\n"
                    "User-Agent: kubectl/v1.27.0\r\n"
                    "Connection: Upgrade\r\n"
                    "Upgrade: SPDY/3.1\r\n"
                    "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                    "X-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
                    "\r\n");
    free(s);
    /* a token list naming upgrade among others, any case */
    const char *ws[] = {"connection", "keep-alive, UPGRADE", "upgrade", "websocket", NULL};
    s = kstream_proxy_head("GET", "/portForward/ns/p", "[fd00::2]:10250", (char *const *)ws, 0);
    CHECK_EQ_STR(s, "GET /portForward/ns/p HTTP/1.1\r\nHost: [fd00::2]:10250\r\n"
                    "connection: keep-alive, UPGRADE\r\nupgrade: websocket\r\n\r\n");
    free(s);
}

TEST(proxy_head_plain)
{
    /* Upgrade without Connection: upgrade is no upgrade; hop-by-hop headers go, close is asked */
    const char *h[] = {
        "Accept", "*/*", "Connection", "keep-alive",     "Upgrade",        "SPDY/3.1", "Keep-Alive",
        "300",    "TE",  "trailers",   "X-Remote-Group", "system:masters", NULL};
    char *s =
        kstream_proxy_head("GET", "/containerLogs/a/b/c?follow=true", "h:1", (char *const *)h, 0);
    CHECK_EQ_STR(s, "GET /containerLogs/a/b/c?follow=true HTTP/1.1\r\nHost: h:1\r\n"
                    "Accept: */*\r\nConnection: close\r\n\r\n");
    free(s);
    /* no injection through names or values; a body gets its length */
    const char *bad[] = {"X-A", "1\r\nX-Evil: 1", "X-B\r\nX-Evil", "2", "", "empty-name", "X-C", "",
                         NULL};
    s = kstream_proxy_head("POST", "/exec/a/b", "h:1", (char *const *)bad, 5);
    CHECK_EQ_STR(s, "POST /exec/a/b HTTP/1.1\r\nHost: h:1\r\nX-C: \r\nConnection: close\r\n"
                    "Content-Length: 5\r\n\r\n");
    free(s);
    s = kstream_proxy_head("GET", "/x", "h:1", NULL, 0);
    CHECK_EQ_STR(s, "GET /x HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n\r\n");
    free(s);
}

TEST(kubelet_target)
{
    const char *exec[] = {"command", "sh",    "command",   "-c",      "command", "echo a&b=c",
                          "stdin",   "true",  "stdout",    "true",    "stderr",  "true",
                          "tty",     "false", "container", "ignored", NULL};
    char *s = kstream_kubelet_target(KSTREAM_EXEC, "default", "web", "web", (char *const *)exec);
    CHECK_EQ_STR(s, "/exec/default/web/web?command=sh&command=-c&command=echo%20a%26b%3Dc"
                    "&input=true&output=true&error=true&tty=false");
    free(s);
    s = kstream_kubelet_target(KSTREAM_ATTACH, "ns", "p", NULL, (char *const *)exec + 6);
    CHECK_EQ_STR(s, "/attach/ns/p?input=true&output=true&error=true&tty=false");
    free(s);
    /* log options keep their names; the container goes in the path */
    const char *log[] = {"container", "c1", "follow", "true", "tailLines", "10", NULL};
    s = kstream_kubelet_target(KSTREAM_LOG, "ns", "p", "c1", (char *const *)log);
    CHECK_EQ_STR(s, "/containerLogs/ns/p/c1?follow=true&tailLines=10");
    free(s);
    s = kstream_kubelet_target(KSTREAM_LOG, "ns", "p", "", NULL);
    CHECK_EQ_STR(s, "/containerLogs/ns/p");
    free(s);
    /* port-forward has no container; stdin is no exec flag there */
    const char *pf[] = {"ports", "80", "ports", "8080", "stdin", "x", NULL};
    s = kstream_kubelet_target(KSTREAM_PORTFORWARD, "ns", "p", "c", (char *const *)pf);
    CHECK_EQ_STR(s, "/portForward/ns/p?ports=80&ports=8080&stdin=x");
    free(s);
    /* a container name from the query cannot leave its segment */
    s = kstream_kubelet_target(KSTREAM_EXEC, "ns", "p", "../x?y", NULL);
    CHECK_EQ_STR(s, "/exec/ns/p/..%2Fx%3Fy");
    free(s);
}

TEST(proxy_status_line)
{
#define ST(s) kstream_proxy_status(s, strlen(s))
    CHECK_EQ_INT(ST("HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\n"), 101);
    CHECK_EQ_INT(ST("HTTP/1.1 200 OK\r\n"), 200);
    CHECK_EQ_INT(ST("HTTP/1.0 404\r\n"), 404);
    CHECK_EQ_INT(ST("HTTP/1.1 500 \n"), 500);
    /* incomplete: wait for more */
    CHECK_EQ_INT(ST(""), 0);
    CHECK_EQ_INT(ST("HTTP/1"), 0);
    CHECK_EQ_INT(ST("HTTP/1.1 40"), 0);
    CHECK_EQ_INT(ST("HTTP/1.1 401 Unauthor"), 0);
    /* not a status line */
    CHECK_EQ_INT(ST("SSH-2.0"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/2 200 OK\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 20 OK\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 2000 OK\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 099 X\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 600 X\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 2x0 OK\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1  200 OK\r\n"), -EPROTO);
    CHECK_EQ_INT(ST("HTTP/1.1 200\n"), 200);
    CHECK_EQ_INT(ST("GET / HTTP/1.1\r\n"), -EPROTO);
#undef ST
}

TEST(kubelet_client_identity)
{
    char dir[] = "/tmp/k3core-pki-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct pki *pki = NULL;
    const char *sans[] = {"localhost", "127.0.0.1", NULL};
    struct pki_params p = {.sans = (char **)sans};
    dd_err e = {0};
    CHECK_EQ_INT(pki_load_or_create(dir, &p, &pki, &e), 0);
    CHECK_EQ_INT(pki_kubelet_client_check(pki->kubelet_client, &e), 0);
    CHECK_EQ_INT(pki_kubelet_client_check(NULL, &e), -EACCES);
    CHECK_EQ_INT(pki_kubelet_client_check(pki->admin, &e), -EPERM);
    CHECK(strstr(e.msg, "system:admin") != NULL);
    const char *orgs[] = {"system:nodes", NULL};
    X509 *c = NULL;
    EVP_PKEY *k = NULL;
    CHECK_EQ_INT(pki_issue_client(pki, "system:node:b", (char *const *)orgs, &c, &k, &e), 0);
    CHECK_EQ_INT(pki_kubelet_client_check(c, &e), -EPERM);
    X509_free(c);
    EVP_PKEY_free(k);
    SSL_CTX *ctx = pki_kubelet_client_ctx(pki, &e);
    CHECK(ctx != NULL);
    SSL_CTX_free(ctx);
    pki_free(pki);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(kubelet_port_arg)
{
    const char *none[] = {NULL};
    struct kubelet_config c = {.kubelet_args = (char *const *)none};
    dd_err e = {0};
    CHECK_EQ_INT(kubelet_port(&c), KUBELET_DEFAULT_PORT);
    const char *ok[] = {"max-pods=20", "port=10251", NULL};
    c.kubelet_args = (char *const *)ok;
    CHECK_EQ_INT(kubelet_config_check(&c, &e), 0);
    CHECK_EQ_INT(kubelet_port(&c), 10251);
    const char *bad[][2] = {
        {"port=0", NULL}, {"port=65536", NULL}, {"port=x", NULL}, {"port", NULL}};
    for (size_t i = 0; i < DD_ARRAY_SIZE(bad); i++) {
        c.kubelet_args = (char *const *)bad[i];
        CHECK_EQ_INT(kubelet_config_check(&c, &e), -EINVAL);
        CHECK(strstr(e.msg, "want port=N") != NULL);
    }
}
