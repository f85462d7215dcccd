/* The request as a handler sees it: accessors, full and streaming responses, hijack/upgrade and
 * the raw stream that follows. A request is owned by the connection while it is being read and by
 * the handler from dispatch until one finishing call; its memory is freed on the next loop
 * iteration, so code right after the finishing call in the same function cannot crash. */
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http-internal.h"

http_req *http_req_new(http_conn *c)
{
    http_req *req = dd_calloc(1, sizeof(*req));
    req->conn = c;
    req->srv = c->srv;
    req->server_data = c->srv->opts.data;
    req->body_fd = -1;
    http_conn_ref(c);
    c->req = req;
    return req;
}

void http_req_free(http_req *req)
{
    http_head_release(&req->head);
    http_query_release(&req->query);
    http_params_release(&req->params);
    free(req->route_msg);
    dd_buf_release(&req->body);
    dd_buf_release(&req->extra);
    if (req->body_fd >= 0)
        close(req->body_fd);
    http_conn_unref(req->conn);
    free(req);
}

static void req_free_deferred(void *p)
{
    http_req_free(p);
}

void http_req_finish(http_req *req, bool close_conn)
{
    http_conn *c = req->conn;
    req->finished = true;
    if (c->req == req)
        c->req = NULL;
    if (c->state == CONN_HANDLING) {
        if (close_conn || req->close_out || !req->head.keep_alive) {
            c->state = CONN_CLOSING;
            c->close_after_write = true;
            http_conn_flush(c, false);
        } else {
            c->state = CONN_HEAD;
            http_conn_kick(c);
        }
    }
    ev_defer(c->loop, req_free_deferred, req);
}

void http_req_dispatch(http_req *req)
{
    if (req->srv->opts.trace)
        req->srv->opts.trace(req);
    if (req->route_status == 0 && req->route) {
        req->route->handler(req);
        return;
    }
    const char *msg = req->route_msg ? req->route_msg : "page not found";
    int status = req->route_status ? req->route_status : 404;
    if (req->srv->opts.error)
        req->srv->opts.error(req, status, msg);
    else
        http_reply(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* ---- accessors ---- */

const char *http_req_method(const http_req *req)
{
    return req->head.method;
}

const char *http_req_path(const http_req *req)
{
    return req->path ? req->path : req->head.path;
}

const char *http_req_target(const http_req *req)
{
    return req->head.target;
}

int http_req_minor(const http_req *req)
{
    return req->head.minor;
}

const char *http_req_header(const http_req *req, const char *name)
{
    return http_head_get(&req->head, name);
}

bool http_req_header_at(const http_req *req, size_t i, const char **ret_name,
                        const char **ret_value)
{
    if (i >= req->head.nheaders)
        return false;
    *ret_name = req->head.headers[i].name;
    *ret_value = req->head.headers[i].value;
    return true;
}

const char *http_req_query(const http_req *req, const char *key)
{
    for (size_t i = 0; i < req->query.n; i++)
        if (strcmp(req->query.keys[i], key) == 0)
            return req->query.values[i];
    return NULL;
}

char **http_req_query_all(const http_req *req, const char *key)
{
    char **v = dd_calloc(1, sizeof(char *));
    for (size_t i = 0; i < req->query.n; i++)
        if (strcmp(req->query.keys[i], key) == 0)
            v = dd_strv_push(v, req->query.values[i]);
    return v;
}

bool http_req_query_at(const http_req *req, size_t i, const char **ret_key, const char **ret_value)
{
    if (i >= req->query.n)
        return false;
    *ret_key = req->query.keys[i];
    *ret_value = req->query.values[i];
    return true;
}

const char *http_req_body(const http_req *req, size_t *ret_len)
{
    if (req->body_fd >= 0) {
        if (ret_len)
            *ret_len = 0;
        return NULL;
    }
    if (ret_len)
        *ret_len = req->body.len;
    return req->body.data ? req->body.data : "";
}

uint64_t http_req_body_len(const http_req *req)
{
    return req->body_len;
}

int http_req_body_fd(const http_req *req)
{
    return req->body_fd;
}

int http_req_body_to_fd(http_req *req, dd_err *e)
{
    if (req->body_fd < 0 && !req->conn->srv)
        return dd_err_set(e, EPIPE, "the connection is gone");
    if (req->body_fd < 0) {
        int r = http_req_spool_flush(req);
        if (r < 0)
            return dd_err_set(e, -r, "storing the request body in %s: %s", req->srv->spool_dir,
                              strerror(-r));
    }
    if (lseek(req->body_fd, 0, SEEK_SET) < 0)
        return dd_err_sys(e, "rewinding the request body");
    return req->body_fd;
}

X509 *http_req_peer_cert(const http_req *req)
{
    SSL *ssl = req->conn->ssl;
    if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    return SSL_get0_peer_certificate(ssl);
}

int http_req_peer_uid(const http_req *req, uid_t *ret_uid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (req->conn->fd < 0)
        return -ENOTCONN;
    if (getsockopt(req->conn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (cred.pid == 0 && cred.uid == (uid_t)-1)
        return -ENOTSOCK;
    *ret_uid = cred.uid;
    return 0;
}

void *http_req_server_data(const http_req *req)
{
    return req->server_data;
}

void *http_req_route_data(const http_req *req)
{
    return req->route ? req->route->data : NULL;
}

void http_req_set_data(http_req *req, void *data)
{
    req->user = data;
}

void *http_req_data(const http_req *req)
{
    return req->user;
}

bool http_req_wants_upgrade(const http_req *req, const char *proto)
{
    const char *conn = http_req_header(req, "Connection");
    const char *up = http_req_header(req, "Upgrade");
    return conn && up && http_token_list_has(conn, "upgrade") && http_token_list_has(up, proto);
}

bool http_req_is_gone(const http_req *req)
{
    return req->gone || req->conn->state == CONN_DEAD;
}

void http_req_on_drain(http_req *req, http_req_cb fn, void *data)
{
    req->on_drain = fn;
    req->on_drain_data = data;
}

void http_req_on_close(http_req *req, http_req_cb fn, void *data)
{
    req->on_close = fn;
    req->on_close_data = data;
}

size_t http_req_buffered(const http_req *req)
{
    return req->conn->state == CONN_DEAD ? 0 : http_conn_buffered(req->conn);
}
