/* proxy.c: the server's side of a stream to a pod on another node. The client's request is
 * re-sent over TLS to that node's kubelet port (upstream's apiserver does the same through its
 * UpgradeAwareHandler); once the kubelet's status line arrives the client's connection is taken
 * over and everything the kubelet sends — head, body, or the 101 and the SPDY/WebSocket
 * session after it — is relayed verbatim, as is everything the client sends. Each direction
 * has its own queue with a high-water mark that pauses the reading side (the client's
 * connection through http_raw_pause(), the kubelet's by not reading its socket), and a
 * half-close travels on (client EOF → TLS close_notify to the kubelet; kubelet EOF →
 * http_raw_shutdown()). The relay ends when both directions have ended or either side fails.
 * It neither interprets the session nor retries a failed dial.
 */
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

#include "k3core/stream/stream-internal.h"

#define PX_DIAL_MS     30000
#define PX_READ        (16u * 1024)
#define PX_HEAD_MAX    (64u * 1024)
#define PX_OUT_HIGH    (256u * 1024)
#define PX_OUT_LOW     (64u * 1024)
#define PX_CLIENT_HIGH (256u * 1024)

/* ---- the request head ---- */

static bool token_list_has(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == n && !strncasecmp(p, token, n))
            return true;
        p += len;
    }
    return false;
}

static const char *find_header(char *const *headers, const char *name)
{
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        if (!strcasecmp(headers[i], name))
            return headers[i + 1];
    return NULL;
}

static bool dropped(const char *name, bool upgrade)
{
    static const char *const always[] = {"Host",
                                         "Authorization",
                                         "Proxy-Authorization",
                                         "Proxy-Connection",
                                         "Cookie",
                                         "Content-Length",
                                         "Transfer-Encoding",
                                         "Expect",
                                         "Keep-Alive",
                                         "TE",
                                         "Trailer",
                                         "X-Remote-User",
                                         "X-Remote-Group",
                                         "X-Forwarded-Client-Cert"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(always); i++)
        if (!strcasecmp(name, always[i]))
            return true;
    if (!strncasecmp(name, "Impersonate-", 12) || !strncasecmp(name, "X-Remote-Extra-", 15))
        return true;
    return !upgrade && (!strcasecmp(name, "Connection") || !strcasecmp(name, "Upgrade"));
}

static bool header_safe(const char *s)
{
    return !strpbrk(s, "\r\n");
}

char *kstream_proxy_head(const char *method, const char *target, const char *host,
                         char *const *headers, size_t body_len)
{
    const char *up = find_header(headers, "Upgrade");
    bool upgrade = up && *up && token_list_has(find_header(headers, "Connection"), "upgrade");
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        if (dropped(headers[i], upgrade) || !header_safe(headers[i]) ||
            !header_safe(headers[i + 1]) || !*headers[i])
            continue;
        dd_buf_addf(&b, "%s: %s\r\n", headers[i], headers[i + 1]);
    }
    if (!upgrade)
        dd_buf_adds(&b, "Connection: close\r\n");
    if (body_len > 0)
        dd_buf_addf(&b, "Content-Length: %zu\r\n", body_len);
    dd_buf_adds(&b, "\r\n");
    return dd_buf_detach(&b, NULL);
}

int kstream_proxy_status(const char *data, size_t len)
{
    const char *eol = memchr(data, '\n', len);
    size_t n = eol ? (size_t)(eol - data) : len;
    /* "HTTP/1.x NNN" is 12 bytes: judge as soon as they are in */
    if (n < 12 && !eol) {
        if (memcmp(data, "HTTP/1.", n < 7 ? n : 7))
            return -EPROTO;
        return 0;
    }
    if (n < 12 || memcmp(data, "HTTP/1.", 7) || (data[7] != '0' && data[7] != '1') ||
        data[8] != ' ')
        return -EPROTO;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (data[i] < '0' || data[i] > '9')
            return -EPROTO;
        code = code * 10 + (data[i] - '0');
    }
    if (code < 100 || code > 599 || (n > 12 && data[12] != ' ' && data[12] != '\r'))
        return -EPROTO;
    return eol ? code : 0;
}

/* ---- the kubelet's path ---- */

static void add_escaped(dd_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            dd_buf_addc(b, (char)*p);
        else
            dd_buf_addf(b, "%%%02X", *p);
    }
}

char *kstream_kubelet_target(enum kstream_kind kind, const char *ns, const char *pod,
                             const char *container, char *const *query)
{
    static const char *const prefix[] = {[KSTREAM_LOG] = "/containerLogs",
                                         [KSTREAM_EXEC] = "/exec",
                                         [KSTREAM_ATTACH] = "/attach",
                                         [KSTREAM_PORTFORWARD] = "/portForward"};
    static const char *const renamed[][2] = {
        {"stdin", "input"}, {"stdout", "output"}, {"stderr", "error"}};
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, prefix[kind]);
    const char *segs[] = {ns, pod, kind == KSTREAM_PORTFORWARD ? NULL : container};
    for (size_t i = 0; i < DD_ARRAY_SIZE(segs) && segs[i] && *segs[i]; i++) {
        dd_buf_addc(&b, '/');
        add_escaped(&b, segs[i]);
    }
    char sep = '?';
    for (size_t i = 0; query && query[i] && query[i + 1]; i += 2) {
        const char *k = query[i];
        if (!strcmp(k, "container"))
            continue;
        for (size_t j = 0;
             (kind == KSTREAM_EXEC || kind == KSTREAM_ATTACH) && j < DD_ARRAY_SIZE(renamed); j++)
            if (!strcmp(k, renamed[j][0]))
                k = renamed[j][1];
        dd_buf_addc(&b, sep);
        add_escaped(&b, k);
        dd_buf_addc(&b, '=');
        add_escaped(&b, query[i + 1]);
        sep = '&';
    }
    return dd_buf_detach(&b, NULL);
}

/* ---- the relay ---- */

enum px_state { PX_CONNECT, PX_HANDSHAKE, PX_WAIT, PX_RELAY, PX_DONE };

struct kproxy {
    ev_loop *loop;
    enum px_state state;
    http_req *req; /* until the kubelet's status line: then raw */
    http_raw *raw;
    int fd;
    ev_io *io;
    ev_timer *timer;
    SSL *ssl;
    char *addr; /* "host:port", for messages */
    dd_buf out; /* toward the kubelet */
    size_t out_off;
    dd_buf head; /* the kubelet's first bytes, before the takeover */
    bool kubelet_eof, client_eof, shut_pending, shut_sent;
    bool kubelet_paused; /* the client's queue is full: the kubelet is not read */
    bool client_paused;  /* our queue toward the kubelet is full: the client is not read */
    bool read_wants_write, write_wants_read, hs_wants_write;
};

static void px_free_deferred(void *p)
{
    struct kproxy *px = p;
    dd_buf_release(&px->out);
    dd_buf_release(&px->head);
    free(px->addr);
    free(px);
}

static void px_close_kubelet(struct kproxy *px)
{
    ev_io_del(px->io);
    px->io = NULL;
    ev_timer_del(px->timer);
    px->timer = NULL;
    if (px->ssl) {
        SSL_free(px->ssl);
        px->ssl = NULL;
    }
    if (px->fd >= 0)
        close(px->fd);
    px->fd = -1;
}

/* Ends everything; the struct goes on the next loop iteration. */
static void px_end(struct kproxy *px)
{
    if (px->state == PX_DONE)
        return;
    px->state = PX_DONE;
    px_close_kubelet(px);
    if (px->raw)
        http_raw_close(px->raw);
    else if (px->req)
        http_req_abort(px->req);
    px->raw = NULL;
    px->req = NULL;
    ev_defer(px->loop, px_free_deferred, px);
}

/* Before the takeover: answers the client a Status and ends. */
static void px_fail(struct kproxy *px, int code, const char *reason, const char *fmt, ...)
{
    if (px->state == PX_DONE)
        return;
    kobj_status st = {.code = code, .reason = reason};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.message, sizeof(st.message), fmt, ap);
    va_end(ap);
    dd_warn("proxy to kubelet %s: %s", px->addr, st.message);
    if (px->req) {
        json_t *j = kobj_status_json(&st);
        http_reply_json(px->req, code, j);
        json_decref(j);
        px->req = NULL;
    }
    px_end(px);
}

static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (!code)
        return errno ? strerror(errno) : "connection closed";
    ERR_error_string_n(code, buf, n);
    return buf;
}

static void px_update(struct kproxy *px)
{
    if (px->state == PX_DONE || !px->io)
        return;
    unsigned want = 0;
    if (px->state == PX_CONNECT || px->hs_wants_write)
        want |= EV_WRITE;
    else if (px->state == PX_HANDSHAKE)
        want |= EV_READ;
    else {
        if ((!px->kubelet_eof && !px->kubelet_paused) || px->write_wants_read)
            want |= EV_READ;
        if (px->out.len > px->out_off || px->shut_pending || px->read_wants_write)
            want |= EV_WRITE;
    }
    ev_io_set(px->io, want);
}

/* ---- toward the kubelet ---- */

static void px_flush(struct kproxy *px)
{
    px->write_wants_read = false;
    while (px->state != PX_DONE && px->out.len > px->out_off) {
        ERR_clear_error();
        int n = SSL_write(px->ssl, px->out.data + px->out_off, (int)(px->out.len - px->out_off));
        if (n > 0) {
            px->out_off += (size_t)n;
            continue;
        }
        int err = SSL_get_error(px->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE)
            break;
        if (err == SSL_ERROR_WANT_READ) {
            px->write_wants_read = true;
            break;
        }
        char buf[256];
        if (px->state == PX_WAIT) {
            px_fail(px, 500, "InternalError", "error sending request to backend %s: %s", px->addr,
                    ssl_reason(buf, sizeof(buf)));
        } else {
            dd_warn("proxy to kubelet %s: writing: %s", px->addr, ssl_reason(buf, sizeof(buf)));
            px_end(px);
        }
        return;
    }
    if (px->out.len == px->out_off) {
        dd_buf_reset(&px->out);
        px->out_off = 0;
        if (px->client_eof && !px->shut_sent)
            px->shut_pending = true;
    }
    if (px->shut_pending) {
        ERR_clear_error();
        int r = SSL_shutdown(px->ssl); /* close_notify: the kubelet sees EOF, may still answer */
        if (r >= 0 || SSL_get_error(px->ssl, r) != SSL_ERROR_WANT_WRITE) {
            px->shut_pending = false;
            px->shut_sent = true;
        }
    }
    if (px->raw && px->client_paused && px->out.len - px->out_off < PX_OUT_LOW) {
        px->client_paused = false;
        http_raw_pause(px->raw, false);
    }
    px_update(px);
}

/* ---- toward the client ---- */

static const http_raw_ops px_raw_ops;

/* The kubelet's status line is in: the client's connection becomes ours. */
static int px_takeover(struct kproxy *px)
{
    int code = kstream_proxy_status(px->head.data, px->head.len);
    if (code == 0 && px->head.len < PX_HEAD_MAX)
        return 0;
    if (code <= 0) {
        px_fail(px, 502, "InternalError", "error reading from backend %s: not an HTTP response",
                px->addr);
        return -1;
    }
    ev_timer_del(px->timer);
    px->timer = NULL;
    dd_debug("proxy to kubelet %s: %d", px->addr, code);
    http_req *req = px->req;
    px->req = NULL;
    px->state = PX_RELAY;
    px->raw = http_takeover(req, &px_raw_ops, px);
    int r = http_raw_write(px->raw, px->head.data, px->head.len);
    dd_buf_release(&px->head);
    if (r < 0) {
        px_end(px);
        return -1;
    }
    px->kubelet_paused = r == 1;
    return 0;
}

static void px_kubelet_eof(struct kproxy *px)
{
    px->kubelet_eof = true;
    if (px->state == PX_WAIT) {
        px_fail(px, 502, "InternalError",
                "error reading from backend %s: the connection closed before a response", px->addr);
        return;
    }
    http_raw_shutdown(px->raw);
    if (px->client_eof)
        px_end(px);
}

static void px_read(struct kproxy *px)
{
    px->read_wants_write = false;
    char buf[PX_READ];
    while ((px->state == PX_WAIT || px->state == PX_RELAY) && !px->kubelet_eof &&
           !px->kubelet_paused) {
        ERR_clear_error();
        int n = SSL_read(px->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int err = SSL_get_error(px->ssl, n);
            if (err == SSL_ERROR_WANT_READ)
                break;
            if (err == SSL_ERROR_WANT_WRITE) {
                px->read_wants_write = true;
                break;
            }
            if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && n == 0) ||
                px->state == PX_RELAY) {
                ERR_clear_error();
                px_kubelet_eof(px);
                break;
            }
            char eb[256];
            px_fail(px, 502, "InternalError", "error reading from backend %s: %s", px->addr,
                    ssl_reason(eb, sizeof(eb)));
            return;
        }
        if (px->state == PX_WAIT) {
            dd_buf_add(&px->head, buf, (size_t)n);
            if (px_takeover(px) < 0)
                return;
            continue;
        }
        int r = http_raw_write(px->raw, buf, (size_t)n);
        if (r < 0) {
            px_end(px);
            return;
        }
        px->kubelet_paused = r == 1;
    }
    px_update(px);
}

static void px_raw_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    struct kproxy *px = ud;
    if (px->state != PX_RELAY)
        return;
    dd_buf_add(&px->out, data, len);
    px_flush(px);
    if (px->state == PX_RELAY && px->out.len - px->out_off > PX_OUT_HIGH && !px->client_paused) {
        px->client_paused = true;
        http_raw_pause(raw, true);
    }
}

static void px_raw_eof(http_raw *raw, void *ud)
{
    struct kproxy *px = ud;
    px->client_eof = true;
    if (px->kubelet_eof) {
        px_end(px);
        return;
    }
    px_flush(px);
}

static void px_raw_drain(http_raw *raw, void *ud)
{
    struct kproxy *px = ud;
    if (px->state != PX_RELAY || !px->kubelet_paused)
        return;
    px->kubelet_paused = false;
    px_read(px); /* SSL may hold decrypted bytes that epoll cannot announce */
}

static void px_raw_close(http_raw *raw, void *ud)
{
    px_end(ud);
}

static const http_raw_ops px_raw_ops = {.on_data = px_raw_data,
                                        .on_eof = px_raw_eof,
                                        .on_drain = px_raw_drain,
                                        .on_close = px_raw_close};

/* ---- connecting ---- */

static void px_handshake(struct kproxy *px)
{
    px->hs_wants_write = false;
    ERR_clear_error();
    int r = SSL_do_handshake(px->ssl);
    if (r == 1) {
        px->state = PX_WAIT;
        px_flush(px);
        return;
    }
    int err = SSL_get_error(px->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        px->hs_wants_write = err == SSL_ERROR_WANT_WRITE;
        px_update(px);
        return;
    }
    long v = SSL_get_verify_result(px->ssl);
    char buf[256];
    if (v != X509_V_OK)
        px_fail(px, 500, "InternalError",
                "error dialing backend: tls: the kubelet's certificate at %s is not trusted: %s",
                px->addr, X509_verify_cert_error_string(v));
    else
        px_fail(px, 500, "InternalError", "error dialing backend: tls handshake with %s: %s",
                px->addr, ssl_reason(buf, sizeof(buf)));
}

static void px_on_io(ev_io *w, int fd, unsigned events, void *data)
{
    struct kproxy *px = data;
    if (px->state == PX_CONNECT) {
        int err = 0;
        socklen_t l = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
            err = errno;
        if (err) {
            px_fail(px, 500, "InternalError", "error dialing backend: dial tcp %s: connect: %s",
                    px->addr, strerror(err));
            return;
        }
        px->state = PX_HANDSHAKE;
    }
    if (px->state == PX_HANDSHAKE) {
        px_handshake(px);
        return;
    }
    if (events & (EV_WRITE | EV_HUP) || px->write_wants_read)
        px_flush(px);
    if (px->state != PX_DONE && (events & (EV_READ | EV_HUP) || px->read_wants_write))
        px_read(px);
}

static void px_on_timer(ev_timer *t, void *data)
{
    struct kproxy *px = data;
    if (px->state == PX_CONNECT)
        px_fail(px, 500, "InternalError", "error dialing backend: dial tcp %s: i/o timeout",
                px->addr);
    else if (px->state == PX_HANDSHAKE)
        px_fail(px, 500, "InternalError", "error dialing backend: tls handshake with %s: timeout",
                px->addr);
    else
        px_fail(px, 504, "Timeout", "timeout awaiting response headers from backend %s", px->addr);
}

static void px_on_req_close(http_req *req, void *data)
{
    px_end(data);
}

static int px_connect(struct kproxy *px, const struct kstream_proxy_target *t, dd_err *e)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", t->port);
    if (getaddrinfo(t->host, port, &hints, &ai) != 0 || !ai)
        return dd_err_set(e, EINVAL, "error dialing backend: %s is not an IP address", t->host);
    px->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = px->fd < 0 ? -errno : 0;
    if (r == 0 && connect(px->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
        r = -errno;
    freeaddrinfo(ai);
    if (r < 0)
        return dd_err_set(e, -r, "error dialing backend: dial tcp %s: connect: %s", px->addr,
                          strerror(-r));
    px->ssl = SSL_new(t->tls);
    if (!px->ssl || SSL_set_fd(px->ssl, px->fd) != 1)
        return dd_err_set(e, EIO, "error dialing backend: creating a TLS connection");
    SSL_set_connect_state(px->ssl);
    /* px_flush writes from a queue that px_raw_data may grow (and move) between a WANT_WRITE
     * and its retry: without these a retry fails as "bad write retry" and the relay ends. */
    SSL_set_mode(px->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    X509_VERIFY_PARAM *vp = SSL_get0_param(px->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) != 1)
        return dd_err_set(e, EINVAL, "error dialing backend: %s is not an IP address", t->host);
    px->io = ev_io_add(px->loop, px->fd, EV_WRITE, px_on_io, px, e);
    return px->io ? 0 : -EIO;
}

int kstream_proxy(ev_loop *loop, http_req *req, const struct kstream_proxy_target *t,
                  kobj_status *st)
{
    struct kproxy *px = dd_calloc(1, sizeof(*px));
    px->loop = loop;
    px->fd = -1;
    px->req = req;
    px->addr = strchr(t->host, ':') ? dd_asprintf("[%s]:%d", t->host, t->port)
                                    : dd_asprintf("%s:%d", t->host, t->port);
    dd_err e = {0};
    if (px_connect(px, t, &e) < 0) {
        kobj_fail(st, 500, "InternalError", "%s", e.msg);
        px_close_kubelet(px);
        px->req = NULL;
        px_free_deferred(px);
        return -1;
    }
    _cleanup_strv_free_ char **hdrs = NULL;
    const char *name, *value;
    for (size_t i = 0; http_req_header_at(req, i, &name, &value); i++) {
        hdrs = dd_strv_push(hdrs, name);
        hdrs = dd_strv_push(hdrs, value);
    }
    size_t blen = 0;
    const char *body = http_req_body(req, &blen);
    _cleanup_free_ char *head =
        kstream_proxy_head(http_req_method(req), t->target, px->addr, hdrs, body ? blen : 0);
    dd_buf_adds(&px->out, head);
    if (body && blen)
        dd_buf_add(&px->out, body, blen);
    px->timer = ev_timer_add(loop, PX_DIAL_MS, 0, px_on_timer, px);
    http_req_on_close(req, px_on_req_close, px);
    return 0;
}
