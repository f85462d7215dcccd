/* The server: listeners (UNIX, TCP, TLS on TCP), accepting within the connection limit, the
 * transports (plain sockets with MSG_NOSIGNAL, OpenSSL), the idle sweep, and the plain-text
 * answers to requests that cannot be parsed (400, 431, 501, 505: Go's net/http answers these the
 * same way, before any handler sees them). */
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "http-internal.h"

#define SWEEP_MS 1000

/* ---- transports ---- */

static ssize_t plain_recv(http_conn *c, void *buf, size_t len)
{
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
    return n;
}

static ssize_t plain_send(http_conn *c, const void *buf, size_t len)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
    return n;
}

static void plain_shutdown(http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
}

const http_transport http_plain_transport = {plain_recv, plain_send, plain_shutdown};

static ssize_t tls_result(http_conn *c, int r)
{
    int err = SSL_get_error(c->ssl, r);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = true;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        return errno ? -errno : 0;
    default:
        return -EPROTO;
    }
}

static ssize_t tls_recv(http_conn *c, void *buf, size_t len)
{
    ERR_clear_error();
    c->tls_want_write = false;
    int r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r > 0)
        return r;
    ssize_t n = tls_result(c, r);
    /* A write-direction EOF from the peer arrives as ZERO_RETURN; errors reading close. */
    return n;
}

static ssize_t tls_send(http_conn *c, const void *buf, size_t len)
{
    ERR_clear_error();
    c->tls_want_write = false;
    int r = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r > 0)
        return r;
    ssize_t n = tls_result(c, r);
    return n == 0 ? -EPIPE : n;
}

static void tls_shutdown(http_conn *c)
{
    ERR_clear_error();
    SSL_shutdown(c->ssl);
}

const http_transport http_tls_transport = {tls_recv, tls_send, tls_shutdown};

int http_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h1[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, h1, sizeof(h1) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- server ---- */

static void sweep(ev_timer *t, void *data)
{
    http_server *srv = data;
    uint64_t now = ev_now_ms(srv->loop);
    http_conn *c = srv->conns;
    while (c) {
        http_conn *next = c->next;
        bool idle_state = c->state == CONN_HEAD || c->state == CONN_TLS_HANDSHAKE ||
                          c->state == CONN_BODY || c->state == CONN_CLOSING;
        if ((idle_state && now - c->last_active_ms > srv->opts.idle_ms) ||
            (c->lingering && now - c->linger_since_ms > HTTP_LINGER_MS))
            http_conn_close(c);
        c = next;
    }
}

http_server *http_server_new(ev_loop *loop, const http_server_opts *opts)
{
    http_server *srv = dd_calloc(1, sizeof(*srv));
    srv->loop = loop;
    if (opts)
        srv->opts = *opts;
    if (!srv->opts.max_header_bytes)
        srv->opts.max_header_bytes = 1024 * 1024;
    if (!srv->opts.body_mem_max)
        srv->opts.body_mem_max = 1024 * 1024;
    if (!srv->opts.max_conns)
        srv->opts.max_conns = 4096;
    if (!srv->opts.idle_ms)
        srv->opts.idle_ms = 120000;
    const char *tmp = getenv("TMPDIR");
    srv->spool_dir = dd_strdup(srv->opts.spool_dir ? srv->opts.spool_dir : tmp ? tmp : "/tmp");
    srv->opts.spool_dir = srv->spool_dir;
    signal(SIGPIPE, SIG_IGN); /* OpenSSL writes with write(2), which MSG_NOSIGNAL cannot cover */
    srv->sweep = ev_timer_add(loop, SWEEP_MS, SWEEP_MS, sweep, srv);
    return srv;
}

void http_server_free(http_server *srv)
{
    if (!srv)
        return;
    srv->paused_accept = false;
    while (srv->conns)
        http_conn_close(srv->conns);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct http_listener *l = srv->listeners[i];
        ev_io_del(l->io);
        close(l->fd);
        if (l->unix_path)
            unlink(l->unix_path);
        free(l->unix_path);
        free(l);
    }
    free(srv->listeners);
    ev_timer_del(srv->sweep);
    free(srv->tables);
    free(srv->spool_dir);
    free(srv);
}

void http_server_add_routes(http_server *srv, const http_route *routes, size_t n)
{
    srv->tables = dd_realloc(srv->tables, (srv->ntables + 1) * sizeof(*srv->tables));
    srv->tables[srv->ntables].rows = routes;
    srv->tables[srv->ntables].n = n;
    srv->ntables++;
}

unsigned http_server_conn_count(const http_server *srv)
{
    return srv->nconns;
}

static void set_accepting(http_server *srv, bool on)
{
    srv->paused_accept = !on;
    for (size_t i = 0; i < srv->nlisteners; i++)
        ev_io_set(srv->listeners[i]->io, on ? EV_READ : 0);
}

void http_server_conn_closed(http_server *srv)
{
    srv->nconns--;
    if (srv->paused_accept && srv->nconns < srv->opts.max_conns)
        set_accepting(srv, true);
}

void http_on_accept(ev_io *w, int fd, unsigned events, void *data)
{
    struct http_listener *l = data;
    http_server *srv = l->srv;
    for (int i = 0; i < 64; i++) {
        if (srv->nconns >= srv->opts.max_conns) {
            set_accepting(srv, false);
            return;
        }
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return; /* EAGAIN, or EMFILE: retried on the next readiness */
        if (l->port) {
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        http_conn_new(srv, cfd, l->tls, NULL);
    }
}

int http_server_adopt(http_server *srv, int fd, dd_err *e)
{
    dd_set_nonblock(fd, true);
    dd_set_cloexec(fd, true);
    return http_conn_new(srv, fd, NULL, e);
}

void http_simple_error(http_conn *c, int status)
{
    dd_buf h = DD_BUF_INIT;
    char line[128];
    snprintf(line, sizeof(line), "%d %s", status, http_status_reason(status));
    dd_buf_addf(&h, "HTTP/1.1 %s\r\n", line);
    if (c->srv && c->srv->opts.headers)
        c->srv->opts.headers(c->srv->opts.data, &h);
    dd_buf_addf(&h,
                "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n%s",
                strlen(line), line);
    http_conn_write(c, h.data, h.len);
    dd_buf_release(&h);
    c->state = CONN_CLOSING;
    c->close_after_write = true;
    dd_buf_reset(&c->in);
    http_conn_flush(c, false);
}
