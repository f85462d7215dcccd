/* Writing responses: the status line and header block, full responses with Content-Length,
 * chunked streams with backpressure, and the hijack/upgrade switch to a raw duplex stream. */
#include <linux/sockios.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "http-internal.h"

const char *http_status_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Request Entity Too Large"},
        {415, "Unsupported Media Type"},
        {417, "Expectation Failed"},
        {422, "Unprocessable Entity"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(reasons); i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "";
}

void http_format_date(char out[40])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

void http_write_head(http_req *req, dd_buf *out, int status, const char *content_type)
{
    dd_buf_addf(out, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
    http_server *srv = req->conn->srv;
    if (srv && srv->opts.headers)
        srv->opts.headers(srv->opts.data, out);
    if (req->extra.len)
        dd_buf_add(out, req->extra.data, req->extra.len);
    if (content_type)
        dd_buf_addf(out, "Content-Type: %s\r\n", content_type);
}

void http_add_header(http_req *req, const char *name, const char *value)
{
    dd_buf_addf(&req->extra, "%s: %s\r\n", name, value);
}

static bool is_head(const http_req *req)
{
    return strcmp(req->head.method, "HEAD") == 0;
}

static bool must_close(const http_req *req)
{
    return req->close_out || !req->head.keep_alive;
}

/* HTTP/1.0 clients need keep-alive spelled out; HTTP/1.1 ones need close spelled out. */
static void add_connection_header(const http_req *req, dd_buf *h)
{
    if (must_close(req))
        dd_buf_adds(h, "Connection: close\r\n");
    else if (req->head.minor == 0)
        dd_buf_adds(h, "Connection: keep-alive\r\n");
}

int http_reply(http_req *req, int status, const char *content_type, const void *body, size_t len)
{
    http_conn *c = req->conn;
    if (req->finished || req->started)
        return -EINVAL; /* a second answer to one request is a handler bug: ignore it */
    if (http_req_is_gone(req)) {
        http_req_finish(req, true);
        return -EPIPE;
    }
    dd_buf h = DD_BUF_INIT;
    http_write_head(req, &h, status, status_has_body(status) ? content_type : NULL);
    if (status_has_body(status))
        dd_buf_addf(&h, "Content-Length: %zu\r\n", len);
    add_connection_header(req, &h);
    dd_buf_adds(&h, "\r\n");
    if (len && status_has_body(status) && !is_head(req))
        dd_buf_add(&h, body, len);
    http_conn_write(c, h.data, h.len);
    dd_buf_release(&h);
    http_conn_flush(c, false);
    http_req_finish(req, false);
    return 0;
}

int http_reply_json(http_req *req, int status, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, s ? s : "null");
    dd_buf_addc(&b, '\n');
    free(s);
    int r = http_reply(req, status, "application/json", b.data, b.len);
    dd_buf_release(&b);
    return r;
}

int http_reply_error(http_req *req, int status, const char *msg)
{
    if (!status_has_body(status))
        return http_reply(req, status, NULL, NULL, 0);
    json_t *o = json_object();
    json_object_set_new(o, "message", json_string(msg ? msg : ""));
    int r = http_reply_json(req, status, o);
    json_decref(o);
    return r;
}

/* ---- streams ---- */

int http_stream_start(http_req *req, int status, const char *content_type)
{
    if (req->finished || req->started)
        return -EINVAL;
    if (http_req_is_gone(req))
        return -EPIPE;
    dd_buf h = DD_BUF_INIT;
    http_write_head(req, &h, status, content_type);
    req->chunked_out = req->head.minor >= 1 && !is_head(req);
    if (req->chunked_out)
        dd_buf_adds(&h, "Transfer-Encoding: chunked\r\n");
    else if (!is_head(req))
        req->close_out = true;
    add_connection_header(req, &h);
    dd_buf_adds(&h, "\r\n");
    http_conn_write(req->conn, h.data, h.len);
    dd_buf_release(&h);
    req->started = true;
    http_conn_flush(req->conn, false);
    return http_req_is_gone(req) ? -EPIPE : 0;
}

static int queue_result(http_conn *c)
{
    if (c->state == CONN_DEAD)
        return -EPIPE;
    if (http_conn_buffered(c) > HTTP_HIGH_WATER) {
        c->want_drain = true;
        return 1;
    }
    return 0;
}

int http_stream_write(http_req *req, const void *data, size_t len)
{
    http_conn *c = req->conn;
    if (http_req_is_gone(req))
        return -EPIPE;
    if (!req->started || req->finished)
        return -EINVAL;
    if (http_conn_buffered(c) > HTTP_HARD_CAP)
        return -ENOBUFS;
    if (len == 0 || is_head(req))
        return queue_result(c);
    if (req->chunked_out) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%zx\r\n", len);
        http_conn_write(c, line, (size_t)n);
        http_conn_write(c, data, len);
        http_conn_write(c, "\r\n", 2);
    } else {
        http_conn_write(c, data, len);
    }
    http_conn_flush(c, false);
    return queue_result(c);
}

int http_stream_end(http_req *req)
{
    if (req->finished)
        return -EINVAL;
    bool gone = http_req_is_gone(req);
    if (!gone && req->chunked_out)
        http_conn_write(req->conn, "0\r\n\r\n", 5);
    if (!gone)
        http_conn_flush(req->conn, false);
    http_req_finish(req, gone || !req->chunked_out);
    return gone ? -EPIPE : 0;
}

void http_req_abort(http_req *req)
{
    if (req->finished)
        return;
    req->close_out = true;
    http_req_finish(req, true);
}

/* ---- hijack / upgrade ---- */

static void req_free_deferred(void *p)
{
    http_req_free(p);
}

static void raw_gone_deferred(void *p)
{
    http_raw *raw = p;
    if (!raw->released && !raw->gone) {
        raw->gone = true;
        if (raw->ops->on_close)
            raw->ops->on_close(raw, raw->ud);
    }
}

static http_raw *make_raw(http_req *req, const http_raw_ops *ops, void *ud)
{
    http_conn *c = req->conn;
    http_raw *raw = dd_calloc(1, sizeof(*raw));
    raw->conn = c;
    raw->ops = ops;
    raw->ud = ud;
    http_conn_ref(c);
    bool alive = c->state == CONN_HANDLING;
    req->finished = true;
    if (c->req == req)
        c->req = NULL;
    ev_defer(c->loop, req_free_deferred, req);
    if (alive) {
        c->state = CONN_RAW;
        c->raw = raw;
        http_conn_flush(c, false);
        if (c->state != CONN_DEAD)
            http_conn_kick(c); /* deliver pipelined input, or EOF, from the loop */
    } else {
        c->raw = raw;
        ev_defer(c->loop, raw_gone_deferred, raw);
    }
    return raw;
}

http_raw *http_hijack(http_req *req, const http_raw_ops *ops, void *ud)
{
    dd_buf h = DD_BUF_INIT;
    if (http_req_wants_upgrade(req, "tcp")) {
        dd_buf_adds(&h,
                    "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    } else {
        http_write_head(req, &h, 200, "application/vnd.docker.raw-stream");
        dd_buf_adds(&h, "\r\n");
    }
    if (!http_req_is_gone(req))
        http_conn_write(req->conn, h.data, h.len);
    dd_buf_release(&h);
    return make_raw(req, ops, ud);
}

http_raw *http_upgrade(http_req *req, const char *const *headers, const http_raw_ops *ops, void *ud)
{
    dd_buf h = DD_BUF_INIT;
    dd_buf_adds(&h, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; headers && headers[i]; i++)
        dd_buf_addf(&h, "%s\r\n", headers[i]);
    dd_buf_adds(&h, "\r\n");
    if (!http_req_is_gone(req))
        http_conn_write(req->conn, h.data, h.len);
    dd_buf_release(&h);
    return make_raw(req, ops, ud);
}

http_raw *http_takeover(http_req *req, const http_raw_ops *ops, void *ud)
{
    return make_raw(req, ops, ud);
}

void http_raw_input(http_conn *c)
{
    http_raw *raw = c->raw;
    if (!raw || raw->released) {
        dd_buf_reset(&c->in);
        return;
    }
    if (raw->paused)
        return;
    if (c->in.len > 0) {
        /* the callback may pause or close: hand over what we have, then forget it */
        dd_buf chunk = c->in;
        dd_buf_init(&c->in);
        if (raw->ops->on_data)
            raw->ops->on_data(raw, chunk.data, chunk.len, raw->ud);
        dd_buf_release(&chunk);
    }
    if (c->read_eof && !raw->eof_sent && c->in.len == 0 && c->raw == raw && !raw->released) {
        raw->eof_sent = true;
        if (raw->ops->on_eof)
            raw->ops->on_eof(raw, raw->ud);
    }
}

int http_raw_write(http_raw *raw, const void *data, size_t len)
{
    http_conn *c = raw->conn;
    if (raw->gone || c->state == CONN_DEAD || c->shut_after_write)
        return -EPIPE;
    if (http_conn_buffered(c) > HTTP_HARD_CAP)
        return -ENOBUFS;
    http_conn_write(c, data, len);
    http_conn_flush(c, false);
    return queue_result(c);
}

void http_raw_shutdown(http_raw *raw)
{
    http_conn *c = raw->conn;
    if (c->state == CONN_DEAD)
        return;
    c->shut_after_write = true;
    http_conn_flush(c, false);
}

void http_raw_pause(http_raw *raw, bool paused)
{
    http_conn *c = raw->conn;
    raw->paused = paused;
    if (c->state == CONN_DEAD)
        return;
    http_conn_update_interest(c);
    if (!paused && (c->in.len > 0 || (c->read_eof && !raw->eof_sent)))
        http_conn_kick(c);
}

size_t http_raw_buffered(const http_raw *raw)
{
    return raw->conn->state == CONN_DEAD ? 0 : http_conn_buffered(raw->conn);
}

ssize_t http_raw_peer_unread(const http_raw *raw)
{
    const http_conn *c = raw->conn;
    if (c->state == CONN_DEAD)
        return 0;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int queued = 0;
    if (c->ssl || getsockname(c->fd, (struct sockaddr *)&sa, &sl) < 0 || sa.ss_family != AF_UNIX ||
        ioctl(c->fd, SIOCOUTQ, &queued) < 0)
        return -1;
    return (ssize_t)http_conn_buffered(c) + queued;
}

static void raw_free_deferred(void *p)
{
    http_raw *raw = p;
    http_conn_unref(raw->conn);
    free(raw);
}

void http_raw_close(http_raw *raw)
{
    http_conn *c = raw->conn;
    raw->released = true;
    if (c->raw == raw)
        c->raw = NULL;
    if (c->state != CONN_DEAD) {
        c->state = CONN_CLOSING;
        c->close_after_write = true;
        http_conn_flush(c, false);
    }
    ev_defer(c->loop, raw_free_deferred, raw);
}
