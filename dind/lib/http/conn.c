/* One client connection: reads bytes, drives the request state machine (head → body → handler →
 * next request), queues and flushes output, and turns into a raw stream after a hijack. It owns
 * the request until the handler is called; from then on the handler owns it (request.c). User
 * callbacks that report a disconnect always run from a deferred callback, never from inside a
 * call the user made (http_reply, http_stream_write...), so handlers need not be reentrant. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>

#include "http-internal.h"

#define READ_CHUNK       (64 * 1024)
#define READ_BUDGET      (256 * 1024)
#define PIPELINE_MAX     (1024 * 1024)
#define SPOOL_FLUSH_SIZE (256 * 1024)

static void conn_process(http_conn *c);

void http_conn_ref(http_conn *c)
{
    c->refs++;
}

static void conn_free_now(void *p)
{
    http_conn *c = p;
    dd_buf_release(&c->in);
    dd_buf_release(&c->out);
    if (c->ssl)
        SSL_free(c->ssl);
    free(c);
}

void http_conn_unref(http_conn *c)
{
    if (--c->refs == 0)
        ev_defer(c->loop, conn_free_now, c);
}

size_t http_conn_buffered(const http_conn *c)
{
    return c->out.len - c->out_off;
}

void http_conn_write(http_conn *c, const void *data, size_t len)
{
    if (c->state == CONN_DEAD || c->shut_done)
        return;
    if (c->out_off > 0 && c->out_off == c->out.len) {
        dd_buf_reset(&c->out);
        c->out_off = 0;
    }
    dd_buf_add(&c->out, data, len);
}

void http_conn_update_interest(http_conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    unsigned want = 0;
    bool reading = !c->read_eof;
    if (c->state == CONN_HANDLING && c->in.len > PIPELINE_MAX)
        reading = false;
    if (c->state == CONN_RAW && c->raw && c->raw->paused)
        reading = false;
    if (c->state == CONN_CLOSING && c->in.len > PIPELINE_MAX)
        reading = false;
    if (reading)
        want |= EV_READ;
    if (http_conn_buffered(c) > 0 || c->tls_want_write)
        want |= EV_WRITE;
    ev_io_set(c->io, want);
}

static void run_drain(http_conn *c)
{
    if (!c->want_drain || http_conn_buffered(c) >= HTTP_LOW_WATER)
        return;
    c->want_drain = false;
    if (c->raw && !c->raw->released && c->raw->ops->on_drain)
        c->raw->ops->on_drain(c->raw, c->raw->ud);
    else if (c->req && c->req->started && !c->req->finished && c->req->on_drain)
        c->req->on_drain(c->req, c->req->on_drain_data);
}

void http_conn_flush(http_conn *c, bool from_event)
{
    while (c->state != CONN_DEAD && http_conn_buffered(c) > 0) {
        ssize_t n = c->tp->send(c, c->out.data + c->out_off, http_conn_buffered(c));
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            http_conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
        c->last_active_ms = ev_now_ms(c->loop);
    }
    if (c->state == CONN_DEAD)
        return;
    if (http_conn_buffered(c) == 0) {
        dd_buf_reset(&c->out);
        c->out_off = 0;
        if (c->close_after_write && (c->read_eof || c->state != CONN_CLOSING)) {
            http_conn_close(c);
            return;
        }
        if (c->close_after_write && !c->lingering) {
            /* Lingering close: close() with unread input makes the kernel reset the connection
             * and drop what we just sent (a proxied stream's last frames, an error reply). So
             * half-close and read until the peer closes; the sweep ends it after HTTP_LINGER_MS. */
            c->lingering = true;
            c->linger_since_ms = ev_now_ms(c->loop);
            if (!c->shut_done) {
                c->shut_done = true;
                c->tp->shutdown_wr(c);
            }
        }
        if (c->shut_after_write && !c->shut_done) {
            c->shut_done = true;
            c->tp->shutdown_wr(c);
        }
    } else if (c->out_off > HTTP_HIGH_WATER) {
        dd_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (from_event)
        run_drain(c);
    http_conn_update_interest(c);
}

/* Runs the user-visible side of a disconnect: the request's or raw stream's on_close. */
static void conn_gone_deferred(void *p)
{
    http_conn *c = p;
    http_req *req = c->req;
    if (req && !req->finished && !req->gone) {
        req->gone = true;
        if (req->on_close)
            req->on_close(req, req->on_close_data);
    }
    http_raw *raw = c->raw;
    if (raw && !raw->released && !raw->gone) {
        raw->gone = true;
        if (raw->ops->on_close)
            raw->ops->on_close(raw, raw->ud);
    }
    http_conn_unref(c);
}

void http_conn_close(http_conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    bool handler_owns = c->req && c->state == CONN_HANDLING;
    c->state = CONN_DEAD;
    ev_io_del(c->io);
    c->io = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->req && !handler_owns) {
        http_req_free(c->req); /* never reached a handler */
        c->req = NULL;
    }
    if (c->srv) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        http_server_conn_closed(c->srv);
        c->srv = NULL; /* the server may be freed before requests held by handlers */
    }
    http_conn_ref(c);
    ev_defer(c->loop, conn_gone_deferred, c);
    http_conn_unref(c); /* the socket's reference */
}

static void kick_deferred(void *p)
{
    http_conn *c = p;
    c->kick_pending = false;
    if (c->state != CONN_DEAD) {
        if (c->ssl && SSL_pending(c->ssl) > 0 && !c->read_eof)
            ev_io_set(c->io, ev_io_interest(c->io) | EV_READ);
        conn_process(c);
        if (c->state != CONN_DEAD)
            http_conn_flush(c, true);
    }
    http_conn_unref(c);
}

void http_conn_kick(http_conn *c)
{
    if (c->kick_pending || c->state == CONN_DEAD)
        return;
    c->kick_pending = true;
    http_conn_ref(c);
    ev_defer(c->loop, kick_deferred, c);
}

/* ---- reading ---- */

static void do_read(http_conn *c)
{
    size_t budget = READ_BUDGET;
    while (budget > 0 && !c->read_eof && c->state != CONN_DEAD) {
        if (c->state == CONN_HANDLING && c->in.len > PIPELINE_MAX)
            break;
        dd_buf_grow(&c->in, READ_CHUNK);
        ssize_t n = c->tp->recv(c, c->in.data + c->in.len, READ_CHUNK);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            http_conn_close(c);
            return;
        }
        if (n == 0) {
            c->read_eof = true;
            break;
        }
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = '\0';
        budget -= (size_t)n < budget ? (size_t)n : budget;
        c->last_active_ms = ev_now_ms(c->loop);
    }
    if (budget == 0 || (c->ssl && SSL_pending(c->ssl) > 0))
        http_conn_kick(c); /* more may be waiting (TLS buffers are invisible to epoll) */
}

static void tls_handshake(http_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->tls_want_write = false;
    if (r == 1) {
        c->state = CONN_HEAD;
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_WRITE)
        c->tls_want_write = true;
    else if (err != SSL_ERROR_WANT_READ)
        http_conn_close(c);
}

/* Idle keep-alive connections should not pin 64 KiB read buffers or a past stream's output. */
static void trim_buffers(http_conn *c)
{
    if (c->in.len == 0 && c->in.cap > 16384)
        dd_buf_release(&c->in);
    if (http_conn_buffered(c) == 0 && c->out.cap > 65536) {
        dd_buf_release(&c->out);
        c->out_off = 0;
    }
}

static void on_io(ev_io *w, int fd, unsigned events, void *data)
{
    http_conn *c = data;
    http_conn_ref(c);
    if (c->state == CONN_TLS_HANDSHAKE)
        tls_handshake(c);
    if (c->state != CONN_TLS_HANDSHAKE && c->state != CONN_DEAD) {
        if (events & EV_WRITE)
            http_conn_flush(c, true);
        /* A TLS read that needed to write (key update) is retried when the socket is writable. */
        bool tls_retry = c->ssl && c->tls_want_write && (events & EV_WRITE);
        if ((events & (EV_READ | EV_HUP)) || tls_retry)
            do_read(c);
        conn_process(c);
        if (c->state != CONN_DEAD)
            http_conn_flush(c, true);
    }
    /* Hung up (not a half-close): nothing more can be read or delivered, and epoll would keep
     * reporting it. The disconnect reaches the handler or raw stream as on_close. */
    if ((events & EV_HUP) && c->state != CONN_DEAD)
        http_conn_close(c);
    if (c->state != CONN_DEAD)
        trim_buffers(c);
    http_conn_update_interest(c);
    http_conn_unref(c);
}

/* ---- bodies ---- */

static int spool_open(http_req *req)
{
    const char *dir = req->srv->spool_dir;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        _cleanup_free_ char *tmpl = dd_asprintf("%s/http-body-XXXXXX", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmpl);
    }
    return fd < 0 ? -errno : fd;
}

int http_req_spool_flush(http_req *req)
{
    if (req->body_fd < 0) {
        int fd = spool_open(req);
        if (fd < 0)
            return fd;
        req->body_fd = fd;
    }
    if (dd_write_all(req->body_fd, req->body.data, req->body.len) < 0)
        return -errno;
    dd_buf_reset(&req->body);
    return 0;
}

static void body_error(http_conn *c, int status, const char *msg)
{
    http_req *req = c->req;
    req->route_status = status;
    free(req->route_msg);
    req->route_msg = dd_strdup(msg);
    req->route = NULL;
    req->close_out = true;
    dd_buf_reset(&c->in);
    c->read_eof = true; /* read nothing more: the rest of this body is garbage to us */
}

/* Moves body bytes from c->in into the request; returns true when the body is complete. */
static bool feed_body(http_conn *c)
{
    http_req *req = c->req;
    size_t before = req->body.len;
    if (req->head.chunked) {
        bool done = false;
        ssize_t n = http_chunked_feed(&req->chunk, c->in.data, c->in.len, &req->body, &done);
        if (n < 0) {
            body_error(c, 400, "invalid chunked body");
            return true;
        }
        dd_buf_consume(&c->in, (size_t)n);
        req->body_done = done;
    } else {
        size_t n = c->in.len < req->body_left ? c->in.len : (size_t)req->body_left;
        dd_buf_add(&req->body, c->in.data, n);
        dd_buf_consume(&c->in, n);
        req->body_left -= n;
        req->body_done = req->body_left == 0;
    }
    req->body_len += req->body.len - before;
    if (req->body_len > req->body_limit) {
        body_error(c, 413, "request body too large");
        return true;
    }
    bool big = req->body_len > req->srv->opts.body_mem_max;
    if (req->spool && (req->body.len >= SPOOL_FLUSH_SIZE || (req->body_done && big) ||
                       (req->body_done && req->body_fd >= 0))) {
        int r = http_req_spool_flush(req);
        if (r < 0) {
            body_error(c, 500, "cannot store request body");
            return true;
        }
    }
    if (req->body_done && req->body_fd >= 0)
        lseek(req->body_fd, 0, SEEK_SET);
    return req->body_done;
}

static void start_body(http_conn *c)
{
    http_req *req = c->req;
    const http_route *r = req->route;
    uint64_t mem = req->srv->opts.body_mem_max;
    req->spool = r && (r->flags & HTTP_ROUTE_SPOOL);
    req->body_limit = r && r->max_body ? r->max_body : (req->spool ? UINT64_MAX : mem);
    req->body_left = req->head.has_length ? req->head.content_length : 0;
    req->body_done = !req->head.chunked && req->body_left == 0;
    if (r && (r->flags & HTTP_ROUTE_NO_BODY) && !req->body_done) {
        req->body_done = true;
        req->close_out = true;
        return;
    }
    if (req->head.has_length && req->head.content_length > req->body_limit) {
        body_error(c, 413, "request body too large");
        req->body_done = true;
        return;
    }
    if (!req->body_done && req->head.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        http_conn_write(c, cont, sizeof(cont) - 1);
    }
}

/* ---- the state machine ---- */

static bool step_head(http_conn *c)
{
    if (c->in.len == 0) {
        if (c->read_eof)
            http_conn_close(c);
        return false;
    }
    http_head head;
    int status = 0;
    int r = http_parse_head(c->in.data, c->in.len, c->srv->opts.max_header_bytes, &head, &status);
    if (r == 0) {
        if (c->read_eof)
            http_conn_close(c);
        return false;
    }
    if (r < 0) {
        http_simple_error(c, status);
        return false;
    }
    dd_buf_consume(&c->in, (size_t)r);
    http_req *req = http_req_new(c);
    req->head = head;
    if (http_query_parse(head.query, &req->query) < 0) {
        req->path = req->head.path;
        req->route_status = 400;
        req->route_msg = dd_strdup("invalid URL escape in query");
    } else {
        http_req_route(req);
    }
    start_body(c);
    c->state = CONN_BODY;
    return true;
}

static bool step_body(http_conn *c)
{
    if (!c->req->body_done && !feed_body(c)) {
        if (c->read_eof)
            http_conn_close(c);
        return false;
    }
    c->state = CONN_HANDLING;
    http_req_dispatch(c->req);
    return c->state == CONN_HEAD;
}

static void conn_process(http_conn *c)
{
    for (;;) {
        switch (c->state) {
        case CONN_HEAD:
            if (!step_head(c))
                return;
            break;
        case CONN_BODY:
            if (!step_body(c))
                return;
            break;
        case CONN_HANDLING:
            /* A client that closes its side while we work has gone away (Go's behaviour). */
            if (c->read_eof)
                http_conn_close(c);
            return;
        case CONN_RAW:
            http_raw_input(c);
            return;
        case CONN_CLOSING:
            dd_buf_reset(&c->in);
            if (c->read_eof && http_conn_buffered(c) == 0)
                http_conn_close(c);
            return;
        default:
            return;
        }
    }
}

int http_conn_new(http_server *srv, int fd, SSL_CTX *tls, dd_err *e)
{
    http_conn *c = dd_calloc(1, sizeof(*c));
    c->srv = srv;
    c->loop = srv->loop;
    c->fd = fd;
    c->refs = 1;
    c->tp = &http_plain_transport;
    c->state = CONN_HEAD;
    c->last_active_ms = ev_now_ms(srv->loop);
    if (tls) {
        c->ssl = SSL_new(tls);
        if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
            close(fd);
            conn_free_now(c);
            return dd_err_set(e, ENOMEM, "creating TLS session");
        }
        SSL_set_accept_state(c->ssl);
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        c->tp = &http_tls_transport;
        c->state = CONN_TLS_HANDSHAKE;
    }
    c->io = ev_io_add(srv->loop, fd, EV_READ, on_io, c, e);
    if (!c->io) {
        close(fd);
        conn_free_now(c);
        return e ? -e->code : -EINVAL;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    return 0;
}
